#!/usr/bin/env node
// grammar_check.mjs - llama.cpp's own verdict on texts under a GBNF grammar, through
// node-llama-cpp's prebuilt library (the peer Ember's grammar engine is checked against).
//
//   node bench/peer/grammar_check.mjs MODEL.gguf GRAMMAR.gbnf TEXTS.txt
//
// TEXTS: one text per line, with the escapes \n \t \r \\ and \xHH (any byte); a backslash
// before anything else is itself (the same form as tools/gbnf_check reads). An empty line
// is the empty text. Output: one line per text, "accept" or "reject".
//
// How the verdict is obtained (node-llama-cpp 3.22.1, llama/addon/AddonGrammar.cpp,
// AddonSampler.cpp, AddonGrammarEvaluationState.cpp). Two paths into llama.cpp's grammar code:
//
// 1. Code points (the verdict, for texts that are valid UTF-8): AddonGrammar.isTextCompatible
//    parses the grammar with llama_grammar_init_impl, feeds the text's code points one by one
//    to llama_grammar_accept (rejecting as soon as no stack is left), and accepts when some
//    stack is empty at the end: exactly the condition under which llama.cpp's grammar sampler
//    lets an end-of-generation token through, i.e. "the text can be produced and generation
//    may end after it". No tokenizer is involved, so this tests the grammar, not a vocabulary.
//
// 2. Byte tokens (the verdict for texts that are not valid UTF-8; a cross-check for the rest):
//    an AddonGrammarEvaluationState wraps llama_sampler_init_grammar over MODEL's vocabulary;
//    AddonSampler.canBeNextTokenForGrammarEvaluationState runs llama_sampler_apply on a
//    one-token candidate list (allowed unless its logit becomes -inf) and
//    acceptGrammarEvaluationStateToken runs llama_sampler_accept. The text is fed ONE BYTE-TOKEN
//    PER BYTE (MODEL must be a GPT-2-style byte-level BPE vocabulary, e.g.
//    ggml-vocab-gpt-2.gguf, which loads with vocabOnly and has a token for each of the 256
//    bytes), then the EOS token must be allowed. A multi-byte character thus reaches llama.cpp
//    in pieces, through its partial-UTF-8 code (llama_grammar_match_partial_char).
//
// Where the two paths differ the code-point verdict is printed and the difference is reported on
// stderr ("note: ..."); --strict makes it exit status 3. Known difference: under a NEGATED class
// a partial character is rejected when the range of characters it could still become overlaps
// any excluded character (list.gbnf's [^...\u2028\u2029] rejects the lone byte E2, the first
// byte of U+2028 but also of "€" and "✓"), although the whole character is allowed. That is a
// masking imprecision of llama.cpp's partial-UTF-8 path, not the grammar's language; Ember's
// engine is to match the language (path 1).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));

function die(msg, code = 1) {
    process.stderr.write(`grammar_check.mjs: ${msg}\n`);
    process.exit(code);
}

// The TEXTS line form, to bytes.
function unescape(line) {
    const out = [];
    const enc = new TextEncoder();
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (c !== "\\" || i + 1 >= line.length) {
            // a whole code point (a surrogate pair stays together)
            const cp = line.codePointAt(i);
            const s = String.fromCodePoint(cp);
            out.push(...enc.encode(s));
            i += s.length - 1;
            continue;
        }
        const d = line[++i];
        if (d === "n") out.push(10);
        else if (d === "t") out.push(9);
        else if (d === "r") out.push(13);
        else if (d === "\\") out.push(92);
        else if (d === "x" && i + 2 < line.length + 0 && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 1, i + 3))) {
            out.push(parseInt(line.slice(i + 1, i + 3), 16));
            i += 2;
        } else {
            out.push(92, ...enc.encode(d));
        }
    }
    return Uint8Array.from(out);
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.
function byteChars() {
    const keep = [];
    for (let b = 33; b <= 126; b++) keep.push(b);
    for (let b = 161; b <= 172; b++) keep.push(b);
    for (let b = 174; b <= 255; b++) keep.push(b);
    const map = new Array(256);
    for (const b of keep) map[b] = String.fromCodePoint(b);
    let n = 0;
    for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
    return map;
}

const args = process.argv.slice(2);
const strict = args[0] === "--strict";
if (strict) args.shift();
const [modelPath, grammarPath, textsPath] = args;
if (!modelPath || !grammarPath || !textsPath || args.length !== 3)
    die("usage: node grammar_check.mjs [--strict] MODEL.gguf GRAMMAR.gbnf TEXTS.txt", 2);

const nlc = await import(join(here, "node_modules", "node-llama-cpp", "dist", "index.js"));
const llama = await nlc.getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true,
                                   skipDownload: true, logLevel: "error", logger: () => {} });
// A vocabulary-only file: llama.cpp logs a missing tensor, and node-llama-cpp loads the vocab.
const model = await llama.loadModel({ modelPath, vocabOnly: true });

const info = await nlc.readGgufFileInfo(modelPath, { readTensorInfo: false });
const vocab = info.metadata?.tokenizer?.ggml?.tokens;
if (!Array.isArray(vocab)) die(`${modelPath}: no tokenizer.ggml.tokens`);
const idOf = new Map();
vocab.forEach((t, i) => { if (!idOf.has(t)) idOf.set(t, i); });
const byteToken = byteChars().map((ch, b) => {
    const id = idOf.get(ch);
    if (id === undefined) die(`${modelPath}: no token for byte ${b} (not a byte-level BPE vocabulary)`);
    return id;
});
const eog = model.tokens.eos;
if (eog == null) die(`${modelPath}: no EOS token`);

let grammar;
try {
    grammar = await llama.createGrammar({ grammar: readFileSync(grammarPath, "utf8") });
} catch (e) {
    die(`${grammarPath}: llama.cpp does not parse it: ${e.message}`);
}
const b = llama._bindings;

function byTokens(bytes) {
    const st = new b.AddonGrammarEvaluationState(model._model, grammar._grammar);
    for (const x of bytes) {
        const t = byteToken[x];
        if (!b.AddonSampler.canBeNextTokenForGrammarEvaluationState(st, t)) return false;
        b.AddonSampler.acceptGrammarEvaluationStateToken(st, t);
    }
    return b.AddonSampler.canBeNextTokenForGrammarEvaluationState(st, eog);
}

const dec = new TextDecoder("utf-8", { fatal: true });
let lines = readFileSync(textsPath, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
let disagree = 0;
const out = [];
lines.forEach((line, i) => {
    const bytes = unescape(line);
    const v = byTokens(bytes);
    let text = null;
    try { text = dec.decode(bytes); } catch { /* invalid UTF-8: the byte path alone */ }
    let verdict = v;
    if (text !== null) {
        verdict = grammar._testText(text);
        if (verdict !== v) {
            disagree++;
            process.stderr.write(`grammar_check.mjs: note: line ${i + 1}: code points ${verdict ? "accept" : "reject"}, ` +
                                 `byte tokens ${v ? "accept" : "reject"}: ${line}\n`);
        }
    }
    out.push(verdict ? "accept" : "reject");
});
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
process.exit(strict && disagree ? 3 : 0);
