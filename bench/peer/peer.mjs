#!/usr/bin/env node
// peer.mjs - llama.cpp, through node-llama-cpp's prebuilt CPU library, as the
// peer Ember is checked against (conformance) and timed against (benchmarks).
//
//   node bench/peer/peer.mjs probs --model M --tokens "1 2 3" --n 64 --threads T --ctx C --out FILE
//       Evaluates the token ids as given (no BOS added), then generates n tokens
//       greedily and writes each step's next-token distribution in the format of
//       `ember generate --probs-out` (see bench/README.md):
//           uint32 n_vocab, then per step: int32 token, float32 probs[n_vocab]
//       all little-endian.
//   node bench/peer/peer.mjs variant
//       Prints the name of the CPU build of ggml that llama.cpp loads on this
//       machine (the NAME of bins/linux-x64/libggml-cpu-NAME.so: "haswell" for
//       AVX2 + FMA + F16C, "zen4", "icelake", "sapphirerapids" ... for AVX-512).
//   Every mode takes --cpu-variant NAME: llama.cpp then sees only that CPU build
//   (e.g. "haswell" on an AVX-512 machine plays an AVX2-only one). The package's
//   binaries are shown to node-llama-cpp through a temporary folder of links
//   that leaves the other libggml-cpu-*.so out, and a module resolution hook.
//   node bench/peer/peer.mjs bench --model M --prompt-len P --gen N --threads T --reps R
//       Times a P-token prefill and N single-token decode steps, R times (after
//       one untimed warm-up), and prints one line with the medians:
//           peer: threads=T prompt=P gen=N reps=R prefill_tps=.. decode_tps=.. prefill_ms=.. decode_ms=.. rss_base_mb=.. rss_model_mb=.. rss_peak_mb=..
//
// What the numbers mean, from node-llama-cpp 3.22.1's sources (llama/addon/AddonContext.cpp,
// AddonSampler.cpp, dist/evaluator/LlamaContext/LlamaContext.js):
// - `probabilities` is a softmax over the candidates left after the sampler chain.
//   With temperature 0 the chain is only llama.cpp's greedy sampler (top-k/top-p/
//   min-p are not added; no repeat penalty, token bias or grammar is set here), which
//   picks the argmax and leaves every logit as it is; so the map holds all n_vocab
//   tokens with softmax(raw logits) at temperature 1, computed in float.
// - evaluateWithMetadata stops at an end-of-generation token unless yieldEogToken is
//   set; generation here ignores EOS, as `ember generate --ignore-eos` does.
// - getLlama({build: "never", skipDownload: true, usePrebuiltBinaries: true}) loads the
//   prebuilt @node-llama-cpp/linux-x64 binary and never builds or downloads; gpu: false
//   keeps it on the CPU. maxThreads: 0 makes `threads` the exact count instead of a hint
//   capped by the instance.
// - The KV cache is F16 for keys and values (node-llama-cpp's default, as llama.cpp's);
//   --kv-type f32 changes both. Flash attention is off (--flash-attn on to enable).

import { readFileSync, writeSync, openSync, closeSync, statSync, mkdtempSync, mkdirSync, readdirSync,
         symlinkSync, writeFileSync, rmSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { register } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));

function die(msg, code = 1) {
    process.stderr.write(`peer.mjs: ${msg}\n`);
    process.exit(code);
}

function usage(code) {
    process.stderr.write(
        "usage:\n" +
        "  node bench/peer/peer.mjs probs --model M --tokens \"1 2 3\" --n 64 --threads T --ctx C --out FILE\n" +
        "        [--kv-type f16|f32] [--flash-attn off|on] [--batch B] [--follow OTHER.bin] [--gpu off|vulkan]\n" +
        "  node bench/peer/peer.mjs bench --model M --prompt-len P --gen N --threads T --reps R\n" +
        "        [--ctx C] [--kv-type f16|f32] [--flash-attn off|on] [--batch B] [--gpu off|vulkan]\n" +
        "  node bench/peer/peer.mjs variant\n" +
        "  node bench/peer/peer.mjs tokenize --model M --text-file F   (llama.cpp's token ids of F, specials parsed)\n" +
        "  every mode: [--cpu-variant NAME]   only llama.cpp's libggml-cpu-NAME.so (e.g. haswell)\n");
    process.exit(code);
}

// ---- arguments

function parseArgs(argv) {
    if (argv.length < 1 || argv[0] === "-h" || argv[0] === "--help") usage(argv.length < 1 ? 2 : 0);
    const mode = argv[0];
    if (mode !== "probs" && mode !== "bench" && mode !== "variant" && mode !== "tokenize")
        die(`unknown mode '${mode}' (known: probs, bench, variant, tokenize)`, 2);
    const known = new Set(["--model", "--tokens", "--n", "--threads", "--ctx", "--out", "--follow", "--prompt-len",
                           "--gen", "--reps", "--kv-type", "--flash-attn", "--batch", "--gpu", "--cpu-variant",
                           "--text-file"]);
    const o = {};
    for (let i = 1; i < argv.length; i++) {
        const a = argv[i];
        if (a === "-h" || a === "--help") usage(0);
        if (!known.has(a)) die(`unknown option '${a}'`, 2);
        if (i + 1 >= argv.length) die(`option ${a} needs a value`, 2);
        o[a.slice(2)] = argv[++i];
    }
    return { mode, o };
}

function intOpt(o, name, { def, min = 1, max = 1 << 30 } = {}) {
    const v = o[name];
    if (v === undefined) {
        if (def === undefined) die(`missing --${name}`, 2);
        return def;
    }
    if (!/^\d+$/.test(v)) die(`--${name}: '${v}' is not a non-negative integer`, 2);
    const n = Number(v);
    if (n < min || n > max) die(`--${name}: ${n} is outside [${min}, ${max}]`, 2);
    return n;
}

function parseTokens(s) {
    const parts = s.trim().split(/[\s,]+/).filter((x) => x.length > 0);
    if (parts.length === 0) die("--tokens: no token ids given", 2);
    return parts.map((p) => {
        if (!/^\d+$/.test(p)) die(`--tokens: '${p}' is not a token id`, 2);
        return Number(p);
    });
}

// ---- loading llama.cpp

// --cpu-variant: a folder that looks like the @node-llama-cpp/linux-x64 package
// (its own two-line index.js, links to every file of the real bins/linux-x64 but
// the other CPU builds), and a hook that resolves the package name to it. ggml
// picks the best-scoring libggml-cpu-*.so it finds beside the addon, so with one
// there it loads that one (or none, if this CPU cannot run it).
const CPU_PACKAGE = "@node-llama-cpp/linux-x64";

function restrictCpuVariant(variant) {
    if (!/^[a-z0-9_]+$/.test(variant)) die(`--cpu-variant: '${variant}' is not a build name (e.g. haswell)`, 2);
    const real = join(here, "node_modules", CPU_PACKAGE);
    const realBins = join(real, "bins", "linux-x64");
    let files;
    try { files = readdirSync(realBins); } catch (e) { die(`--cpu-variant: ${realBins}: ${e.message} (run scripts/setup.sh)`); }
    const want = `libggml-cpu-${variant}.so`;
    if (!files.includes(want)) {
        const have = files.filter((f) => /^libggml-cpu-.*\.so$/.test(f)).map((f) => f.slice(12, -3));
        die(`--cpu-variant: no ${want} in ${realBins} (builds: ${have.join(", ")})`, 2);
    }
    const dir = mkdtempSync(join(tmpdir(), "ember-peer-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const bins = join(dir, "bins", "linux-x64");
    mkdirSync(bins, { recursive: true });
    mkdirSync(join(dir, "dist"));
    for (const f of files)
        if (!f.startsWith("libggml-cpu-") || f === want) symlinkSync(join(realBins, f), join(bins, f));
    writeFileSync(join(dir, "package.json"), readFileSync(join(real, "package.json")));
    const version = JSON.parse(readFileSync(join(real, "package.json"), "utf8")).version;
    writeFileSync(join(dir, "dist", "index.js"),
        `export function getBinsDir() { return { binsDir: ${JSON.stringify(join(dir, "bins"))}, ` +
        `packageVersion: ${JSON.stringify(version)} }; }\n`);
    const target = pathToFileURL(join(dir, "dist", "index.js")).href;
    const hook = `export async function resolve(s, c, next) {
        return s === ${JSON.stringify(CPU_PACKAGE)} ? { url: ${JSON.stringify(target)}, shortCircuit: true } : next(s, c);
    }`;
    register("data:text/javascript," + encodeURIComponent(hook));
}

// The CPU build loaded into this process, from its memory map.
function loadedCpuVariant() {
    const m = /libggml-cpu-([a-z0-9_]+)\.so/.exec(readFileSync("/proc/self/maps", "utf8"));
    return m ? m[1] : null;
}

async function cmdVariant(nlc) {
    await nlc.getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
                         progressLogs: false, logLevel: nlc.LlamaLogLevel.error });
    const v = loadedCpuVariant();
    if (!v) die("llama.cpp loaded no CPU build of ggml");
    console.log(v);
}

async function loadPeer() {
    try {
        return await import(join(here, "node_modules", "node-llama-cpp", "dist", "index.js"));
    } catch (e) {
        if (e && (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "MODULE_NOT_FOUND"))
            die(`node-llama-cpp is not installed in ${join(here, "node_modules")}: run scripts/setup.sh`);
        throw e;
    }
}

function rssMiB() { return process.memoryUsage().rss / (1024 * 1024); }

function peakRssMiB() {
    // VmHWM: the high-water mark of this process's resident set, in kB.
    try {
        const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"));
        return m ? Number(m[1]) / 1024 : NaN;
    } catch { return NaN; }
}

async function openModel(nlc, o, threads, ctxSize, batch) {
    const modelPath = o.model;
    if (!modelPath) die("missing --model", 2);
    let st;
    try { st = statSync(modelPath); } catch (e) { die(`--model ${modelPath}: ${e.code === "ENOENT" ? "no such file" : e.message}`); }
    if (!st.isFile()) die(`--model ${modelPath}: not a regular file`);
    const kv = o["kv-type"] ?? "f16";
    if (kv !== "f16" && kv !== "f32") die(`--kv-type: '${kv}' (known: f16, f32)`, 2);
    const fa = o["flash-attn"] ?? "off";
    if (fa !== "off" && fa !== "on") die(`--flash-attn: '${fa}' (known: off, on)`, 2);

    // --gpu vulkan: the prebuilt @node-llama-cpp/linux-x64-vulkan library, every
    // layer offloaded (llama.cpp's Vulkan backend), for the Vulkan benchmarks.
    const gpu = o.gpu ?? "off";
    if (gpu !== "off" && gpu !== "vulkan") die(`--gpu: '${gpu}' (known: off, vulkan)`, 2);
    let llama;
    try {
        llama = await nlc.getLlama({
            gpu: gpu === "vulkan" ? "vulkan" : false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
            progressLogs: false, logLevel: nlc.LlamaLogLevel.error, maxThreads: 0,
        });
    } catch (e) {
        die(`llama.cpp (${gpu === "vulkan" ? "Vulkan" : "CPU"} build) could not start: ${e.message}`);
    }
    if (gpu === "vulkan" && llama.gpu !== "vulkan") die(`llama.cpp's Vulkan build did not load (gpu: ${llama.gpu})`);
    const rssBase = rssMiB();
    let model;
    try {
        model = await llama.loadModel({ modelPath, gpuLayers: gpu === "vulkan" ? "max" : 0 });
    } catch (e) {
        die(`llama.cpp could not load ${modelPath}: ${e.message}`);
    }
    let context;
    try {
        context = await model.createContext({
            contextSize: ctxSize, threads: threads, flashAttention: fa === "on", batchSize: batch,
            sequences: 1, experimentalKvCacheKeyType: kv.toUpperCase(),
            experimentalKvCacheValueType: kv.toUpperCase(),
        });
    } catch (e) {
        die(`llama.cpp could not create a ${ctxSize}-token context for ${modelPath}: ${e.message}`);
    }
    const rssModel = rssMiB();
    return { llama, model, context, rssBase, rssModel };
}

// ---- probs

function writeAll(fd, buf) {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

async function cmdProbs(nlc, o) {
    const tokens = parseTokens(o.tokens ?? die("missing --tokens", 2));
    const n = intOpt(o, "n", { def: 64 });
    const threads = intOpt(o, "threads", { def: 1 });
    const ctx = intOpt(o, "ctx", { def: tokens.length + n, min: 8 });
    if (tokens.length + n > ctx)
        die(`--ctx ${ctx} is too small for ${tokens.length} prompt tokens + ${n} generated`, 2);
    const batch = intOpt(o, "batch", { def: Math.max(tokens.length, 1) });
    const out = o.out ?? die("missing --out", 2);
    // --follow: feed another run's chosen tokens (Ember's) instead of our own, so
    // both runs see the same context at every step and all steps compare, even
    // after a near-tie that the two would break differently. The file records our
    // own argmax, as always.
    let follow = null;
    if (o.follow !== undefined) {
        let buf;
        try { buf = readFileSync(o.follow); } catch (e) { die(`--follow ${o.follow}: ${e.message}`); }
        if (buf.length < 4) die(`--follow ${o.follow}: too short for a probs file`);
        const nv = buf.readUInt32LE(0), rec = 4 + 4 * nv;
        if (nv === 0 || (buf.length - 4) % rec !== 0) die(`--follow ${o.follow}: not a whole number of steps (n_vocab ${nv})`);
        const steps = (buf.length - 4) / rec;
        if (steps < n) die(`--follow ${o.follow}: ${steps} steps, fewer than --n ${n}`);
        follow = { nVocab: nv, tokens: Array.from({ length: n }, (_, i) => buf.readInt32LE(4 + i * rec)) };
    }

    const { model, context } = await openModel(nlc, o, threads, ctx, batch);
    let fd;
    try { fd = openSync(out, "w"); } catch (e) { die(`--out ${out}: ${e.message}`); }

    const seq = context.getSequence();
    const gen = seq.evaluateWithMetadata(tokens, { probabilities: true },
        { temperature: 0, yieldEogToken: true });
    let nVocab = -1, feed;
    for (let step = 0; step < n; step++) {
        const { value, done } = await gen.next(feed);
        if (done) die(`llama.cpp stopped generating after ${step} of ${n} steps`);
        const pm = value.probabilities;
        if (nVocab < 0) {
            nVocab = pm.size;
            if (follow && follow.nVocab !== nVocab) die(`--follow ${o.follow}: n_vocab ${follow.nVocab}, the model has ${nVocab}`);
            const hdr = Buffer.alloc(4);
            hdr.writeUInt32LE(nVocab, 0);
            writeAll(fd, hdr);
        } else if (pm.size !== nVocab) {
            die(`step ${step}: ${pm.size} probabilities, expected ${nVocab}`);
        }
        // The addon normalises in float, summing the candidates largest first, so
        // its sum drifts from 1 by up to ~1e-4 over 50k tokens; dividing by the sum
        // taken in double restores softmax(logits) to float precision.
        const probs = new Float32Array(nVocab);
        let sum = 0;
        for (const [tok, p] of pm) {
            if (tok < 0 || tok >= nVocab) die(`step ${step}: token id ${tok} outside the vocabulary`);
            probs[tok] = p;
            sum += p;
        }
        if (!(sum > 0.5 && sum < 1.5)) die(`step ${step}: probabilities sum to ${sum}, not 1`);
        for (let i = 0; i < nVocab; i++) probs[i] = probs[i] / sum;
        // Greedy by our own argmax (lowest id wins a tie), so the choice is made from
        // exactly the numbers written, as Ember's file does.
        let best = 0;
        for (let i = 1; i < nVocab; i++) if (probs[i] > probs[best]) best = i;
        const rec = Buffer.alloc(4 + 4 * nVocab);
        rec.writeInt32LE(best, 0);
        Buffer.from(probs.buffer).copy(rec, 4);
        writeAll(fd, rec);
        feed = follow ? follow.tokens[step] : best;
        if (feed < 0 || feed >= nVocab) die(`--follow ${o.follow}: step ${step}: token ${feed} outside the vocabulary`);
    }
    await gen.return();
    closeSync(fd);
    await context.dispose();
    await model.dispose();
}

// ---- bench

function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function cmdBench(nlc, o) {
    const P = intOpt(o, "prompt-len", { def: 128 });
    const N = intOpt(o, "gen", { def: 128 });
    const threads = intOpt(o, "threads", { def: 1 });
    const reps = intOpt(o, "reps", { def: 3 });
    const ctx = intOpt(o, "ctx", { def: P + N + 8, min: 8 });
    if (P + N > ctx) die(`--ctx ${ctx} is too small for ${P} + ${N} tokens`, 2);
    const batch = intOpt(o, "batch", { def: Math.max(P, 1) });

    const { model, context, rssBase, rssModel } = await openModel(nlc, o, threads, ctx, batch);
    const seq = context.getSequence();
    // Any ids will do for timing; ids below 1000 exist in every vocabulary, and
    // bench/bench.sh gives Ember the same ones.
    const prompt = Array.from({ length: P }, (_, i) => 1 + ((i * 7919) % 997));

    const pre = [], dec = [];
    for (let r = 0; r <= reps; r++) {
        await seq.clearHistory();
        // Greedy with no probabilities asked for: sampling is one argmax over the logits.
        const gen = seq.evaluateWithMetadata(prompt, {}, { temperature: 0, yieldEogToken: true });
        const t0 = process.hrtime.bigint();
        let { value } = await gen.next();
        const t1 = process.hrtime.bigint();
        for (let i = 0; i < N; i++) ({ value } = await gen.next(value.token));
        const t2 = process.hrtime.bigint();
        await gen.return();
        if (r === 0) continue; // warm-up: page in the weights, size the buffers
        pre.push(Number(t1 - t0) / 1e6);
        dec.push(Number(t2 - t1) / 1e6);
    }
    const pm = median(pre), dm = median(dec);
    console.log(`peer: threads=${threads} prompt=${P} gen=${N} reps=${reps}` +
        ` prefill_tps=${(P / pm * 1000).toFixed(2)} decode_tps=${(N / dm * 1000).toFixed(2)}` +
        ` prefill_ms=${pm.toFixed(3)} decode_ms=${dm.toFixed(3)}` +
        ` rss_base_mb=${rssBase.toFixed(1)} rss_model_mb=${rssModel.toFixed(1)} rss_peak_mb=${peakRssMiB().toFixed(1)}`);
    await context.dispose();
    await model.dispose();
}

// ---- tokenize: llama.cpp's tokenizer on a text, special tokens parsed, no BOS added

async function cmdTokenize(nlc, o) {
    const file = o["text-file"] ?? die("missing --text-file", 2);
    const text = readFileSync(file, "utf8");
    const { model } = await openModel(nlc, o, 1, 64, 64);
    const ids = model.tokenize(text, true);
    process.stdout.write(Array.from(ids).join(" ") + "\n");
    await model.dispose();
}

// ---- main

const { mode, o } = parseArgs(process.argv.slice(2));
if (o["cpu-variant"] !== undefined) restrictCpuVariant(o["cpu-variant"]);
const nlc = await loadPeer();
try {
    if (mode === "probs") await cmdProbs(nlc, o);
    else if (mode === "variant") await cmdVariant(nlc);
    else if (mode === "tokenize") await cmdTokenize(nlc, o);
    else await cmdBench(nlc, o);
} catch (e) {
    die(`${mode}: ${e && e.stack ? e.stack : e}`);
}
