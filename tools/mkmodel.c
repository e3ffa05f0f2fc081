/* mkmodel.c - write a random-weight LLaMA model as a GGUF file laid out the way
 * llama.cpp writes one, with the tokenizer of a vocabulary-only GGUF.
 *
 * Such files let the conformance tests and benchmarks run Ember and llama.cpp
 * on the same weights, of any shape and tensor type, without a real checkpoint.
 * The weights are N(0, std) from a small seeded generator; each tensor is drawn
 * from its own stream, seeded by --seed and the tensor's name, so a model keeps
 * the same underlying values whatever --type is chosen (F32 and Q4_0 files of one
 * seed differ only by quantization). Norm weights are F32, 1 plus small noise,
 * so that a wrong norm (or a missing one) shows in the output.
 *
 *   mkmodel --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --type q8_0 --layers 2 \
 *           --dim 256 --heads 8 --kv-heads 2 --ffn 512 -o tiny.gguf
 *   mkmodel --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --preset smollm2-135m -o s.gguf */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_kernels.h"
#include "core/gguf.h"
#include "core/types.h"

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
    double rope_base;
    double eps;
    double logit_scale;
} mk_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: mkmodel --vocab VOCAB.gguf -o OUT.gguf [options]\n"
            "  --vocab PATH      vocabulary GGUF whose tokenizer.* keys are copied (n_vocab = its token count)\n"
            "  -o PATH           output file\n"
            "  --preset NAME     smollm2-135m: dim 576, 30 layers, 9 heads, 3 kv heads, ffn 1536,\n"
            "                    ctx 2048, rope base 100000, eps 1e-5, tied (later options override)\n"
            "  --type T          f32 | f16 | bf16 | q8_0 | q4_0 for matrices and token_embd (default f32)\n"
            "  --layers L        blocks (default 2)\n"
            "  --dim D           embedding length (default 256)\n"
            "  --heads H         attention heads (default 8)\n"
            "  --kv-heads K      key/value heads, GQA when < H (default H)\n"
            "  --ffn F           feed-forward length (default 512)\n"
            "  --ctx C           llama.context_length (default 512)\n"
            "  --std S           weight standard deviation (default 0.04)\n"
            "  --seed N          generator seed (default 1)\n"
            "  --tied            no output.weight: llama.cpp then uses token_embd as the output matrix\n"
            "  --rope-base B     llama.rope.freq_base (default 10000)\n"
            "  --eps E           llama.attention.layer_norm_rms_epsilon (default 1e-5)\n"
            "  --logit-scale S   multiply output_norm.weight by S (default 1): sharper next-token\n"
            "                    distributions without larger weights inside the blocks\n"
            "  --name S          general.name (default \"ember-random\")\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mkmodel: %s '%s': expected an integer in %ld..%ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "mkmodel: %s '%s': expected a number in %g..%g\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_type(const char *s, enum em_type *out) {
    static const struct { const char *name; enum em_type t; } types[] = {
        {"f32", EM_TYPE_F32}, {"f16", EM_TYPE_F16}, {"bf16", EM_TYPE_BF16},
        {"q8_0", EM_TYPE_Q8_0}, {"q4_0", EM_TYPE_Q4_0},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(s, types[i].name)) { *out = types[i].t; return 0; }
    fprintf(stderr, "mkmodel: --type '%s': expected f32, f16, bf16, q8_0 or q4_0\n", s);
    return -1;
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

/* 0 on success, 1 after printing usage (-h), -1 on a usage error. */
static int parse_args(int argc, char **argv, mk_opts *o) {
    *o = (mk_opts){.name = "ember-random", .type = EM_TYPE_F32, .n_layer = 2, .dim = 256, .n_head = 8,
                   .n_head_kv = 0, .ffn = 512, .ctx = 512, .std = 0.04, .seed = 1, .rope_base = 10000,
                   .eps = 1e-5, .logit_scale = 1};
    /* A preset sets defaults, wherever it appears; explicit options win. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--preset")) {
            if (i + 1 >= argc) { fprintf(stderr, "mkmodel: --preset needs a value\n"); return -1; }
            if (!strcmp(argv[i + 1], "smollm2-135m")) preset_smollm2_135m(o);
            else { fprintf(stderr, "mkmodel: --preset '%s': known presets: smollm2-135m\n", argv[i + 1]); return -1; }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long l;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
        if (!strcmp(a, "--tied")) { o->tied = true; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "mkmodel: %s: unknown option or missing value\n", a); return -1; }
        const char *v = argv[++i];
        if (!strcmp(a, "--preset")) continue;
        else if (!strcmp(a, "--vocab")) o->vocab_path = v;
        else if (!strcmp(a, "-o")) o->out_path = v;
        else if (!strcmp(a, "--name")) o->name = v;
        else if (!strcmp(a, "--type")) { if (parse_type(v, &o->type)) return -1; }
        else if (!strcmp(a, "--layers")) { if (parse_int(a, v, 1, 1024, &l)) return -1; o->n_layer = (int)l; }
        else if (!strcmp(a, "--dim")) { if (parse_int(a, v, 2, 1 << 16, &l)) return -1; o->dim = (int)l; }
        else if (!strcmp(a, "--heads")) { if (parse_int(a, v, 1, 4096, &l)) return -1; o->n_head = (int)l; }
        else if (!strcmp(a, "--kv-heads")) { if (parse_int(a, v, 1, 4096, &l)) return -1; o->n_head_kv = (int)l; }
        else if (!strcmp(a, "--ffn")) { if (parse_int(a, v, 1, 1 << 18, &l)) return -1; o->ffn = (int)l; }
        else if (!strcmp(a, "--ctx")) { if (parse_int(a, v, 1, 1 << 24, &l)) return -1; o->ctx = (int)l; }
        else if (!strcmp(a, "--seed")) { if (parse_int(a, v, 0, 0x7fffffffL, &l)) return -1; o->seed = (uint64_t)l; }
        else if (!strcmp(a, "--std")) { if (parse_double(a, v, 1e-6, 10, &o->std)) return -1; }
        else if (!strcmp(a, "--rope-base")) { if (parse_double(a, v, 1, 1e9, &o->rope_base)) return -1; }
        else if (!strcmp(a, "--eps")) { if (parse_double(a, v, 1e-12, 1e-1, &o->eps)) return -1; }
        else if (!strcmp(a, "--logit-scale")) { if (parse_double(a, v, 1e-3, 1e3, &o->logit_scale)) return -1; }
        else { fprintf(stderr, "mkmodel: unknown option '%s' (see mkmodel --help)\n", a); return -1; }
    }
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
    int blk = em_type_block(o->type);
    if (o->dim % blk || o->ffn % blk) {
        fprintf(stderr, "mkmodel: --type %s needs --dim and --ffn to be multiples of %d (got %d, %d)\n",
                em_type_name(o->type), blk, o->dim, o->ffn);
        return -1;
    }
    return 0;
}

/* ---- random numbers: splitmix64, and Box-Muller for normals */

typedef struct mk_rng {
    uint64_t s;
    bool have_spare;
    double spare;
} mk_rng;

static uint64_t mk_rng_next(mk_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1): 53 random bits, never 0 so log() below is finite. */
static double mk_rng_uniform(mk_rng *r) { return ((mk_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static double mk_rng_normal(mk_rng *r) {
    if (r->have_spare) { r->have_spare = false; return r->spare; }
    double u = mk_rng_uniform(r), v = mk_rng_uniform(r);
    double m = sqrt(-2.0 * log(u));
    r->spare = m * sin(2.0 * M_PI * v);
    r->have_spare = true;
    return m * cos(2.0 * M_PI * v);
}

/* One stream per tensor: the seed mixed with an FNV-1a hash of the name. */
static mk_rng mk_rng_for(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    mk_rng r = {.s = seed * 0x9e3779b97f4a7c15ull ^ h};
    mk_rng_next(&r);
    return r;
}

/* ---- the model */

/* llama.cpp's llama_ftype for a file whose matrices are all of one type. */
static uint32_t mk_file_type(enum em_type t) {
    switch (t) {
    case EM_TYPE_F32: return 0;
    case EM_TYPE_F16: return 1;
    case EM_TYPE_Q4_0: return 2;
    case EM_TYPE_Q8_0: return 7;
    case EM_TYPE_BF16: return 32;
    default: return 0;
    }
}

typedef struct mk_model {
    gguf_writer *w;
    void **bufs; /* tensor data, kept until the file is written */
    size_t n_bufs, cap_bufs;
} mk_model;

static int mk_keep(mk_model *m, void *p) {
    if (m->n_bufs == m->cap_bufs) {
        size_t cap = m->cap_bufs ? m->cap_bufs * 2 : 64;
        void **nb = realloc(m->bufs, cap * sizeof *nb);
        if (!nb) return -1;
        m->bufs = nb;
        m->cap_bufs = cap;
    }
    m->bufs[m->n_bufs++] = p;
    return 0;
}

static int mk_writer_fail(mk_model *m, const char *what) {
    fprintf(stderr, "mkmodel: %s: %s\n", what, gguf_writer_errmsg(m->w));
    return -1;
}

/* Add an F32 vector of n values, scale * (1 + N(0, 0.05)). */
static int mk_add_norm(mk_model *m, const mk_opts *o, const char *name, int64_t n, double scale) {
    float *x = malloc((size_t)n * sizeof *x);
    if (!x || mk_keep(m, x)) {
        free(x);
        fprintf(stderr, "mkmodel: %s: out of memory (%lld floats)\n", name, (long long)n);
        return -1;
    }
    mk_rng r = mk_rng_for(o->seed, name);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * (1.0 + 0.05 * mk_rng_normal(&r)));
    int64_t ne[1] = {n};
    if (gguf_writer_add_tensor(m->w, name, EM_TYPE_F32, 1, ne, x)) return mk_writer_fail(m, name);
    return 0;
}

/* Add a matrix of `rows` rows of `cols` values (GGUF ne = {cols, rows}), N(0, std),
 * stored in o->type. */
static int mk_add_matrix(mk_model *m, const mk_opts *o, const char *name, int64_t cols, int64_t rows) {
    size_t n = (size_t)cols * (size_t)rows;
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "mkmodel: %s: out of memory (%zu floats)\n", name, n);
        return -1;
    }
    mk_rng r = mk_rng_for(o->seed, name);
    for (size_t i = 0; i < n; i++) x[i] = (float)(o->std * mk_rng_normal(&r));

    void *data = x;
    if (o->type != EM_TYPE_F32) {
        size_t nbytes = em_row_bytes(o->type, cols) * (size_t)rows;
        data = malloc(nbytes);
        if (!data) {
            free(x);
            fprintf(stderr, "mkmodel: %s: out of memory (%zu bytes)\n", name, nbytes);
            return -1;
        }
        size_t got = cpu_quantize(o->type, x, data, rows, cols);
        free(x);
        if (got != nbytes) {
            free(data);
            fprintf(stderr, "mkmodel: %s: cpu_quantize(%s, %lld x %lld) wrote %zu bytes, expected %zu\n", name,
                    em_type_name(o->type), (long long)rows, (long long)cols, got, nbytes);
            return -1;
        }
    }
    if (mk_keep(m, data)) {
        free(data);
        fprintf(stderr, "mkmodel: %s: out of memory\n", name);
        return -1;
    }
    int64_t ne[2] = {cols, rows};
    if (gguf_writer_add_tensor(m->w, name, o->type, 2, ne, data)) return mk_writer_fail(m, name);
    return 0;
}

static int mk_set_keys(mk_model *m, const mk_opts *o, const gguf_ctx *vocab, uint32_t n_vocab) {
    gguf_writer *w = m->w;
    /* The vocabulary file's keys first (its tokenizer.*, plus its own general.* and
     * architecture keys, which llama.cpp ignores for another architecture); the
     * general.* keys set below replace its ones. */
    if (gguf_writer_copy_kv(w, vocab)) return mk_writer_fail(m, "copying the vocabulary's keys");
    int head_dim = o->dim / o->n_head;
    ember_status st = EM_OK;
    if (!st) st = gguf_writer_set_str(w, "general.architecture", "llama");
    if (!st) st = gguf_writer_set_str(w, "general.name", o->name);
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", mk_file_type(o->type));
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
    if (st) return mk_writer_fail(m, "setting keys");
    return 0;
}

static int mk_add_tensors(mk_model *m, const mk_opts *o, int64_t n_vocab) {
    const int64_t dim = o->dim, ffn = o->ffn;
    const int64_t kv_dim = (int64_t)o->n_head_kv * (o->dim / o->n_head);
    char name[96];
    /* llama.cpp's order: embeddings, the blocks, the final norm, the output. */
    if (mk_add_matrix(m, o, "token_embd.weight", dim, n_vocab)) return -1;
    for (int l = 0; l < o->n_layer; l++) {
        static const struct { const char *suffix; int kind; } parts[] = {
            {"attn_norm", 0}, {"attn_q", 1}, {"attn_k", 2}, {"attn_v", 2}, {"attn_output", 1},
            {"ffn_norm", 0}, {"ffn_gate", 3}, {"ffn_up", 3}, {"ffn_down", 4},
        };
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p].suffix);
            int rc;
            switch (parts[p].kind) {
            case 0: rc = mk_add_norm(m, o, name, dim, 1.0); break;
            case 1: rc = mk_add_matrix(m, o, name, dim, dim); break;    /* ne {dim, dim} */
            case 2: rc = mk_add_matrix(m, o, name, dim, kv_dim); break; /* ne {dim, kv_dim} */
            case 3: rc = mk_add_matrix(m, o, name, dim, ffn); break;    /* ne {dim, ffn} */
            default: rc = mk_add_matrix(m, o, name, ffn, dim); break;   /* ne {ffn, dim} */
            }
            if (rc) return -1;
        }
    }
    /* The final norm's scale multiplies every logit: the one knob that sharpens
     * the output without making the blocks amplify rounding differences. */
    if (mk_add_norm(m, o, "output_norm.weight", dim, o->logit_scale)) return -1;
    if (!o->tied && mk_add_matrix(m, o, "output.weight", dim, n_vocab)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    mk_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc > 0 ? 0 : 2;

    int rc = 1;
    char err[EM_ERR_LEN] = "";
    mk_model m = {0};
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
    if (!(m.w = gguf_writer_create(err))) {
        fprintf(stderr, "mkmodel: %s\n", err);
        goto done;
    }
    if (mk_set_keys(&m, &o, vocab, (uint32_t)n_vocab)) goto done;
    if (mk_add_tensors(&m, &o, (int64_t)n_vocab)) goto done;
    if (gguf_writer_write(m.w, o.out_path)) {
        fprintf(stderr, "mkmodel: writing %s: %s\n", o.out_path, gguf_writer_errmsg(m.w));
        goto done;
    }
    fprintf(stderr, "mkmodel: wrote %s: %s, %d layers, dim %d, heads %d/%d, ffn %d, vocab %llu%s\n", o.out_path,
            em_type_name(o.type), o.n_layer, o.dim, o.n_head, o.n_head_kv, o.ffn, (unsigned long long)n_vocab,
            o.tied ? ", tied" : "");
    rc = 0;
done:
    for (size_t i = 0; i < m.n_bufs; i++) free(m.bufs[i]);
    free(m.bufs);
    gguf_writer_free(m.w);
    gguf_close(vocab);
    return rc;
}
