/* mkmodel.c - write a random-weight LLaMA model as a GGUF file laid out the way
 * llama.cpp writes one, with the tokenizer of a vocabulary-only GGUF.
 *
 * Such files let the conformance tests and benchmarks run Ember and llama.cpp
 * on the same weights, of any shape and tensor type, without a real checkpoint.
 * The weights are N(0, std) from a small seeded generator; each tensor is drawn
 * from its own stream, seeded by --seed and the tensor's name (tools/mk_gguf.h), so a model keeps
 * the same underlying values whatever --type is chosen (F32 and Q4_0 files of one
 * seed differ only by quantization). Norm weights are F32, 1 plus small noise,
 * so that a wrong norm (or a missing one) shows in the output.
 *
 *   mkmodel --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --type q8_0 --layers 2 \
 *           --dim 256 --heads 8 --kv-heads 2 --ffn 512 -o tiny.gguf
 *   mkmodel --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --preset smollm2-135m -o s.gguf
 *
 * --smolvlm makes the text half of a SmolVLM (Idefics3) pair, to go with an
 * mmproj from mkmmproj: SmolVLM's special tokens are added to the vocabulary as
 * CONTROL tokens (or made CONTROL where the vocabulary has them already), the
 * end of generation is <end_of_utterance>, and the chat template is SmolVLM's. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"
#include "cli/opt.h"
#include "core/types.h"
#include "mk_gguf.h"

/* ---- options */

typedef struct mk_opts {
    const char *vocab_path;
    const char *out_path;
    const char *name;
    enum em_type type;
    int n_layer;
    int dim;
    int n_head;
    int n_head_kv;
    int ffn;
    int ctx;
    double std;
    uint64_t seed;
    bool tied;
    bool smolvlm;
    double rope_base;
    double eps;
    double logit_scale;
    int type_i;   /* --type, an index into mk_type_names */
    int preset;   /* --preset, an index into mk_presets; -1: none */
} mk_opts;

static const char *const mk_type_names[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                            "iq4_nl", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", NULL};
static const enum em_type mk_type_ids[] = {EM_TYPE_F32,    EM_TYPE_F16,  EM_TYPE_BF16, EM_TYPE_Q8_0, EM_TYPE_Q4_0,
                                           EM_TYPE_Q4_1,   EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL, EM_TYPE_Q2_K,
                                           EM_TYPE_Q3_K,   EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
static const char *const mk_presets[] = {"smollm2-135m", NULL};

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f, "usage: mkmodel --vocab VOCAB.gguf -o OUT.gguf [options]\n");
    opt_usage(f, specs);
}

static void preset_smollm2_135m(mk_opts *o) {
    o->dim = 576;
    o->n_layer = 30;
    o->n_head = 9;
    o->n_head_kv = 3;
    o->ffn = 1536;
    o->ctx = 2048;
    o->rope_base = 100000;
    o->eps = 1e-5;
    o->tied = true;
    o->name = "smollm2-135m-random";
}

/* opt_parse_preset's reset: the defaults, then preset p's values. */
static void mk_reset(void *user, int preset) {
    mk_opts *o = user;
    *o = (mk_opts){.name = "ember-random", .type_i = 0, .n_layer = 2, .dim = 256, .n_head = 8, .n_head_kv = 0,
                   .ffn = 512, .ctx = 512, .std = 0.04, .seed = 1, .rope_base = 10000, .eps = 1e-5,
                   .logit_scale = 1, .preset = -1};
    if (preset == 0) preset_smollm2_135m(o);
}

/* 0 on success, 1 after printing usage (-h), -1 on a usage error. The
 * preset sets defaults wherever it appears and explicit options win
 * (opt_parse_preset). */
static int parse_args(int argc, char **argv, mk_opts *o) {
    const opt_spec specs[] = {
        OPT_STR(NULL, "--vocab", "PATH", &o->vocab_path,
                "vocabulary GGUF whose tokenizer.* keys are copied (n_vocab = its token count)"),
        OPT_STR("-o", NULL, "PATH", &o->out_path, "output file"),
        OPT_CHOICE(NULL, "--preset", "NAME", &o->preset, mk_presets,
                   "smollm2-135m: dim 576, 30 layers, 9 heads, 3 kv heads, ffn 1536,\n"
                   "ctx 2048, rope base 100000, eps 1e-5, tied (later options override)"),
        OPT_CHOICE(NULL, "--type", "T", &o->type_i, mk_type_names,
                   "f32 | f16 | bf16 | q8_0 | q4_0 | q4_1 | q5_0 | q5_1 | iq4_nl |\n"
                   "q2_K .. q6_K (any case) for matrices and token_embd; the\n"
                   "K-quants need --dim and --ffn multiples of 256"),
        OPT_INT(NULL, "--layers", "L", &o->n_layer, 1, 1024, "blocks"),
        OPT_INT(NULL, "--dim", "D", &o->dim, 2, 1 << 16, "embedding length"),
        OPT_INT(NULL, "--heads", "H", &o->n_head, 1, 4096, "attention heads"),
        {.kind = OPT_KIND_INT, .lng = "--kv-heads", .meta = "K", .dest = OPT_DEST_(&o->n_head_kv, int), .lo = 1,
         .hi = 4096, .flags = OPT_NO_DEFAULT, .help = "key/value heads, GQA when < H (default H)"},
        OPT_INT(NULL, "--ffn", "F", &o->ffn, 1, 1 << 18, "feed-forward length"),
        OPT_INT(NULL, "--ctx", "C", &o->ctx, 1, 1 << 24, "llama.context_length"),
        OPT_DOUBLE(NULL, "--std", "S", &o->std, 1e-6, 10, "weight standard deviation"),
        OPT_U64(NULL, "--seed", "N", &o->seed, 0, UINT64_MAX, "generator seed"),
        OPT_FLAG(NULL, "--tied", &o->tied, "no output.weight: llama.cpp then uses token_embd as the output matrix"),
        OPT_FLAG(NULL, "--smolvlm", &o->smolvlm,
                 "add SmolVLM's special tokens (<|im_start|>, <|im_end|>,\n"
                 "<fake_token_around_image>, <image>, <end_of_utterance>, <global-img>,\n"
                 "<row_R_col_C> for R, C in 1..6) as CONTROL tokens, EOS <end_of_utterance>,\n"
                 "and SmolVLM's chat template: the text model of a SmolVLM pair"),
        OPT_DOUBLE(NULL, "--rope-base", "B", &o->rope_base, 1, 1e9, "llama.rope.freq_base"),
        OPT_DOUBLE(NULL, "--eps", "E", &o->eps, 1e-12, 1e-1, "llama.attention.layer_norm_rms_epsilon"),
        OPT_DOUBLE(NULL, "--logit-scale", "S", &o->logit_scale, 1e-3, 1e3,
                   "multiply output_norm.weight by S: sharper next-token\n"
                   "distributions without larger weights inside the blocks"),
        OPT_STR(NULL, "--name", "S", &o->name, "general.name"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int rc = opt_parse_preset("mkmodel", specs, &o->preset, mk_reset, o, argc, argv, err);
    if (rc == OPT_HELP) { usage(stdout, specs); return 1; }
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return -1; }
    o->type = mk_type_ids[o->type_i];
    if (!o->vocab_path || !o->out_path) {
        fprintf(stderr, "mkmodel: --vocab and -o are required (see mkmodel --help)\n");
        return -1;
    }
    if (o->n_head_kv == 0) o->n_head_kv = o->n_head;
    if (o->dim % o->n_head) {
        fprintf(stderr, "mkmodel: --dim %d is not a multiple of --heads %d\n", o->dim, o->n_head);
        return -1;
    }
    if ((o->dim / o->n_head) % 2) {
        fprintf(stderr, "mkmodel: head size %d (dim/heads) must be even for RoPE\n", o->dim / o->n_head);
        return -1;
    }
    if (o->n_head % o->n_head_kv) {
        fprintf(stderr, "mkmodel: --heads %d is not a multiple of --kv-heads %d\n", o->n_head, o->n_head_kv);
        return -1;
    }
    /* Every matrix row has dim or ffn values, and the head size times kv heads
     * is a row count, so only dim and ffn meet the block size. */
    if (mk_gguf_check_rows("mkmodel", o->type, o->dim, o->ffn)) return -1;
    return 0;
}

/* ---- SmolVLM's vocabulary additions */

/* SmolVLM-Instruct's chat template (its tokenizer_config.json), which
 * llama.cpp's template detection and Ember's chat formatting key on. */
static const char mk_smolvlm_template[] =
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

#define MK_TOKEN_CONTROL 3 /* tokenizer.ggml.token_type of a control token */
#define MK_SMOLVLM_GRID 6  /* <row_R_col_C> for R, C in 1..6 */

/* The vocabulary of the output file: the source's tokens plus the additions.
 * strs[i] point into the source file or into owned[]. */
typedef struct mk_vocab {
    uint64_t n;
    const char **strs;
    size_t *lens;
    int32_t *types;
    float *scores;      /* NULL when the source has no tokenizer.ggml.scores */
    char (*owned)[32];  /* the added tokens' text */
    int32_t eos;        /* <end_of_utterance> */
} mk_vocab;

static void mk_vocab_free(mk_vocab *v) {
    free(v->strs);
    free(v->lens);
    free(v->types);
    free(v->scores);
    free(v->owned);
    *v = (mk_vocab){0};
}

/* Build the SmolVLM vocabulary from the source's n0 tokens. A special token the
 * source already has keeps its id and becomes CONTROL; the others are appended
 * in SmolVLM's order, with score 0. */
static int mk_vocab_smolvlm(const gguf_ctx *src, const char *path, uint64_t n0, mk_vocab *v) {
    enum { N_FIXED = 6, N_ADD = N_FIXED + MK_SMOLVLM_GRID * MK_SMOLVLM_GRID };
    static const char *const fixed[N_FIXED] = {"<|im_start|>", "<|im_end|>", "<fake_token_around_image>",
                                               "<image>", "<end_of_utterance>", "<global-img>"};
    char err[EM_ERR_LEN] = "";
    *v = (mk_vocab){.eos = -1};
    uint64_t cap = n0 + N_ADD;
    v->strs = malloc(cap * sizeof *v->strs);
    v->lens = malloc(cap * sizeof *v->lens);
    v->types = malloc(cap * sizeof *v->types);
    v->owned = malloc(N_ADD * sizeof *v->owned);
    if (!v->strs || !v->lens || !v->types || !v->owned) goto nomem;

    for (uint64_t i = 0; i < n0; i++) {
        v->strs[i] = gguf_get_arr_str(src, "tokenizer.ggml.tokens", i, &v->lens[i]);
        if (!v->strs[i]) {
            fprintf(stderr, "mkmodel: --vocab %s: tokenizer.ggml.tokens[%llu] unreadable\n", path, (unsigned long long)i);
            goto fail;
        }
    }
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    ember_status st = gguf_get_arr(src, "tokenizer.ggml.token_type", &et, &n, &data, err);
    if (st == EM_OK && (et != GGUF_TYPE_INT32 || n != n0)) {
        fprintf(stderr, "mkmodel: --vocab %s: tokenizer.ggml.token_type: %llu values of %s, expected %llu of i32\n", path,
                (unsigned long long)n, gguf_vtype_name(et), (unsigned long long)n0);
        goto fail;
    }
    if (st && st != EM_ERR_NOT_FOUND) {
        fprintf(stderr, "mkmodel: --vocab %s: %s\n", path, err);
        goto fail;
    }
    for (uint64_t i = 0; i < n0; i++) v->types[i] = st == EM_OK ? ((const int32_t *)data)[i] : 1 /* NORMAL */;
    st = gguf_get_arr(src, "tokenizer.ggml.scores", &et, &n, &data, err);
    if (st == EM_OK) {
        if (et != GGUF_TYPE_FLOAT32 || n != n0) {
            fprintf(stderr, "mkmodel: --vocab %s: tokenizer.ggml.scores: %llu values of %s, expected %llu of f32\n", path,
                    (unsigned long long)n, gguf_vtype_name(et), (unsigned long long)n0);
            goto fail;
        }
        if (!(v->scores = malloc(cap * sizeof *v->scores))) goto nomem;
        memcpy(v->scores, data, n0 * sizeof *v->scores);
    } else if (st != EM_ERR_NOT_FOUND) {
        fprintf(stderr, "mkmodel: --vocab %s: %s\n", path, err);
        goto fail;
    }

    v->n = n0;
    for (int k = 0; k < N_ADD; k++) {
        if (k < N_FIXED) snprintf(v->owned[k], sizeof v->owned[k], "%s", fixed[k]);
        else snprintf(v->owned[k], sizeof v->owned[k], "<row_%d_col_%d>", (k - N_FIXED) / MK_SMOLVLM_GRID + 1,
                      (k - N_FIXED) % MK_SMOLVLM_GRID + 1);
        size_t len = strlen(v->owned[k]);
        uint64_t id = 0;
        while (id < n0 && !(v->lens[id] == len && !memcmp(v->strs[id], v->owned[k], len))) id++;
        if (id == n0) {
            id = v->n++;
            v->strs[id] = v->owned[k];
            v->lens[id] = len;
            if (v->scores) v->scores[id] = 0;
        }
        v->types[id] = MK_TOKEN_CONTROL;
        if (!strcmp(v->owned[k], "<end_of_utterance>")) v->eos = (int32_t)id;
    }
    if (v->n > INT32_MAX) {
        fprintf(stderr, "mkmodel: --vocab %s: %llu tokens with SmolVLM's, more than %d\n", path,
                (unsigned long long)v->n, INT32_MAX);
        goto fail;
    }
    return 0;
nomem:
    fprintf(stderr, "mkmodel: --smolvlm: out of memory for %llu tokens\n", (unsigned long long)cap);
fail:
    mk_vocab_free(v);
    return -1;
}

/* Replace the copied tokenizer keys with the extended vocabulary's. */
static ember_status mk_vocab_set_keys(gguf_writer *w, const mk_vocab *v) {
    ember_status st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->strs, v->lens, v->n);
    if (!st) st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, v->n);
    if (!st && v->scores) st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->scores, v->n);
    if (!st) st = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    if (!st) st = gguf_writer_set_str(w, "tokenizer.chat_template", mk_smolvlm_template);
    return st;
}

/* ---- the model */

static int mk_set_keys(mk_gguf *g, const mk_opts *o, const gguf_ctx *vocab, const mk_vocab *ext, uint32_t n_vocab) {
    gguf_writer *w = g->w;
    /* The vocabulary file's keys first (its tokenizer.*, plus its own general.* and
     * architecture keys, which llama.cpp ignores for another architecture); the
     * general.* keys set below replace its ones. */
    if (gguf_writer_copy_kv(w, vocab)) return mk_gguf_fail(g, "copying the vocabulary's keys");
    if (ext && mk_vocab_set_keys(w, ext)) return mk_gguf_fail(g, "setting SmolVLM's vocabulary");
    int head_dim = o->dim / o->n_head;
    ember_status st = EM_OK;
    if (!st) st = gguf_writer_set_str(w, "general.architecture", "llama");
    if (!st) st = gguf_writer_set_str(w, "general.name", o->name);
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", mk_gguf_file_type(o->type));
    if (!st) st = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)o->ctx);
    if (!st) st = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)o->dim);
    if (!st) st = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)o->n_layer);
    if (!st) st = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)o->ffn);
    if (!st) st = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)o->n_head);
    if (!st) st = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)o->n_head_kv);
    if (!st) st = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)o->eps);
    if (!st) st = gguf_writer_set_f32(w, "llama.rope.freq_base", (float)o->rope_base);
    if (!st) st = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)head_dim);
    if (!st) st = gguf_writer_set_u32(w, "llama.vocab_size", n_vocab);
    if (st) return mk_gguf_fail(g, "setting keys");
    return 0;
}

static int mk_add_tensors(mk_gguf *g, const mk_opts *o, int64_t n_vocab) {
    const int64_t dim = o->dim, ffn = o->ffn;
    const double std = o->std;
    const int64_t kv_dim = (int64_t)o->n_head_kv * (o->dim / o->n_head);
    char name[96];
    /* llama.cpp's order: embeddings, the blocks, the final norm, the output. */
    if (mk_gguf_add_matrix(g, "token_embd.weight", dim, n_vocab, std)) return -1;
    for (int l = 0; l < o->n_layer; l++) {
        static const struct { const char *suffix; int kind; } parts[] = {
            {"attn_norm", 0}, {"attn_q", 1}, {"attn_k", 2}, {"attn_v", 2}, {"attn_output", 1},
            {"ffn_norm", 0}, {"ffn_gate", 3}, {"ffn_up", 3}, {"ffn_down", 4},
        };
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p].suffix);
            int rc;
            switch (parts[p].kind) {
            case 0: rc = mk_gguf_add_norm(g, name, dim, 1.0); break;
            case 1: rc = mk_gguf_add_matrix(g, name, dim, dim, std); break;    /* ne {dim, dim} */
            case 2: rc = mk_gguf_add_matrix(g, name, dim, kv_dim, std); break; /* ne {dim, kv_dim} */
            case 3: rc = mk_gguf_add_matrix(g, name, dim, ffn, std); break;    /* ne {dim, ffn} */
            default: rc = mk_gguf_add_matrix(g, name, ffn, dim, std); break;   /* ne {ffn, dim} */
            }
            if (rc) return -1;
        }
    }
    /* The final norm's scale multiplies every logit: the one knob that sharpens
     * the output without making the blocks amplify rounding differences. */
    if (mk_gguf_add_norm(g, "output_norm.weight", dim, o->logit_scale)) return -1;
    if (!o->tied && mk_gguf_add_matrix(g, "output.weight", dim, n_vocab, std)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    mk_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc > 0 ? 0 : 2;

    int rc = 1;
    char err[EM_ERR_LEN] = "";
    mk_gguf *g = NULL;
    mk_vocab ext = {0};
    gguf_ctx *vocab = gguf_open(o.vocab_path, err);
    if (!vocab) {
        fprintf(stderr, "mkmodel: --vocab: %s\n", err);
        goto done;
    }
    enum gguf_vtype et;
    uint64_t n_vocab = 0;
    const void *unused;
    if (gguf_get_arr(vocab, "tokenizer.ggml.tokens", &et, &n_vocab, &unused, err) || et != GGUF_TYPE_STRING ||
        n_vocab == 0 || n_vocab > INT32_MAX) {
        fprintf(stderr, "mkmodel: --vocab %s: no usable tokenizer.ggml.tokens string array%s%s\n", o.vocab_path,
                err[0] ? ": " : "", err);
        goto done;
    }
    if (!(g = mk_gguf_create("mkmodel", o.seed, o.type))) goto done;
    if (o.smolvlm) {
        if (mk_vocab_smolvlm(vocab, o.vocab_path, n_vocab, &ext)) goto done;
        n_vocab = ext.n;
    }
    if (mk_set_keys(g, &o, vocab, o.smolvlm ? &ext : NULL, (uint32_t)n_vocab)) goto done;
    if (mk_add_tensors(g, &o, (int64_t)n_vocab)) goto done;
    if (mk_gguf_write(g, o.out_path)) goto done;
    fprintf(stderr, "mkmodel: wrote %s: %s, %d layers, dim %d, heads %d/%d, ffn %d, vocab %llu%s%s\n", o.out_path,
            em_type_name(o.type), o.n_layer, o.dim, o.n_head, o.n_head_kv, o.ffn, (unsigned long long)n_vocab,
            o.tied ? ", tied" : "", o.smolvlm ? ", SmolVLM tokens" : "");
    rc = 0;
done:
    mk_vocab_free(&ext);
    mk_gguf_free(g);
    gguf_close(vocab);
    return rc;
}
