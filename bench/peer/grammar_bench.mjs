#!/usr/bin/env node
// grammar_bench.mjs - what llama.cpp's GBNF grammar costs per generated token, through
// node-llama-cpp's prebuilt CPU library: the side figure beside Ember's grammar table.
//
//   node bench/peer/grammar_bench.mjs MODEL.gguf N REPS GRAMMAR.gbnf...
//
// MODEL: any model with weights; use a tiny random one over the vocabulary of interest
// (e.g. `mkmodel --vocab ggml-vocab-gpt-2.gguf --layers 1 --dim 64 --heads 2 --ffn 128
// --ctx 2048`) so the forward pass is small beside the grammar. For each grammar, and once
// without one, it samples up to N tokens (temperature 1, top-k/top-p/min-p off, seed 1,
// 1 thread) after a one-token prompt ("{"), REPS times after one untimed warm-up run, the
// configurations interleaved (so a load change on a shared machine hits all alike), and prints
// the median over the runs of the mean wall time per token. The grammar's cost per token is the difference to the run without.
//
// Why `confidence: true`: node-llama-cpp's sampler (AddonSampler::sampleAndReleaseLock) first
// samples without the grammar and asks the grammar about the chosen token alone, applying the
// grammar to the whole vocabulary only when that token is rejected; asking for the
// confidence (or probabilities) makes it apply the grammar to the full candidate list every
// step (forceGrammar), i.e. one full token mask per token: the figure MaskBench reports.
// Both runs ask for it, so the difference is the mask (llama_sampler_apply of the grammar
// over n_vocab candidates) plus llama_sampler_accept. Generation may end early at EOS
// (allowed once the grammar is complete); the per-token figure divides by the tokens made.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, basename } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const [modelPath, nArg, repsArg, ...grammarPaths] = process.argv.slice(2);
const n = Number(nArg), reps = Number(repsArg);
if (!modelPath || !(n > 0) || !(reps > 0)) {
    process.stderr.write("usage: node grammar_bench.mjs MODEL.gguf N REPS GRAMMAR.gbnf...\n");
    process.exit(2);
}
const nlc = await import(join(here, "node_modules", "node-llama-cpp", "dist", "index.js"));
const llama = await nlc.getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true,
                                   skipDownload: true, logLevel: "error", maxThreads: 0 });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: n + 8, threads: 1, sequences: 1 });
const seq = context.getSequence();
const prompt = model.tokenize("{", false);

async function run(grammar) {
    await seq.clearHistory();
    const state = grammar ? new nlc.LlamaGrammarEvaluationState({ model, grammar }) : undefined;
    const gen = seq.evaluateWithMetadata(prompt, { confidence: true },
        { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1, grammarEvaluationState: state });
    let made = 0;
    const t0 = process.hrtime.bigint();
    for await (const _ of gen) {
        if (++made >= n) break;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { made, ms };
}

const rows = [["(none)", null]];
for (const p of grammarPaths) rows.push([basename(p), await llama.createGrammar({ grammar: readFileSync(p, "utf8") })]);
const per = rows.map(() => []);
let made = rows.map(() => 0);
for (const [, g] of rows) await run(g); // warm-up
for (let r = 0; r < reps; r++) {
    for (let i = 0; i < rows.length; i++) {
        const res = await run(rows[i][1]);
        per[i].push(res.ms / res.made);
        made[i] = res.made;
    }
}
const median = (a) => { const b = [...a].sort((x, y) => x - y); const m = b.length >> 1;
                        return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2; };
const base = median(per[0]);
rows.forEach(([name, g], i) => {
    const med = median(per[i]);
    const extra = g ? ` grammar_ms_per_token=${(med - base).toFixed(3)}` : "";
    console.log(`grammar_bench: grammar=${name} tokens=${made[i]} reps=${reps} ms_per_token=${med.toFixed(3)} ` +
                `(min ${Math.min(...per[i]).toFixed(3)}, max ${Math.max(...per[i]).toFixed(3)})${extra}`);
});
await context.dispose();
await model.dispose();
