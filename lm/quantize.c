/* quantize.c - llama.cpp's quantization mixes over a GGUF file (see quantize.h).
 *
 * Two passes, as llama.cpp's quantizer makes them: the first counts what
 * the rules index by (attn_v and ffn_down tensors, whether output.weight
 * exists), the second walks the tensors in file order, choosing each
 * one's type with per-category counters, so "the first eighth of the
 * layers" means the same tensors as there. */
#include "quantize.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_kernels.h"

/* llama_ftype values (llama.h) of the mixes written here */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15,
    FT_Q5_K_S = 16, FT_Q5_K_M = 17, FT_Q6_K = 18, FT_Q2_K_S = 21, FT_IQ4_NL = 25, FT_BF16 = 32,
};

static const struct mix {
    const char *name;
    int ftype;
    enum em_type base;
} mixes[] = {
    {"F32", FT_F32, EM_TYPE_F32},          {"F16", FT_F16, EM_TYPE_F16},
    {"BF16", FT_BF16, EM_TYPE_BF16},       {"Q8_0", FT_Q8_0, EM_TYPE_Q8_0},
    {"Q6_K", FT_Q6_K, EM_TYPE_Q6_K},       {"Q5_K_M", FT_Q5_K_M, EM_TYPE_Q5_K},
    {"Q5_K_S", FT_Q5_K_S, EM_TYPE_Q5_K},   {"Q5_1", FT_Q5_1, EM_TYPE_Q5_1},
    {"Q5_0", FT_Q5_0, EM_TYPE_Q5_0},       {"Q4_K_M", FT_Q4_K_M, EM_TYPE_Q4_K},
    {"Q4_K_S", FT_Q4_K_S, EM_TYPE_Q4_K},   {"Q4_1", FT_Q4_1, EM_TYPE_Q4_1},
    {"Q4_0", FT_Q4_0, EM_TYPE_Q4_0},       {"IQ4_NL", FT_IQ4_NL, EM_TYPE_IQ4_NL},
    {"Q3_K_L", FT_Q3_K_L, EM_TYPE_Q3_K},   {"Q3_K_M", FT_Q3_K_M, EM_TYPE_Q3_K},
    {"Q3_K_S", FT_Q3_K_S, EM_TYPE_Q3_K},   {"Q2_K", FT_Q2_K, EM_TYPE_Q2_K},
    {"Q2_K_S", FT_Q2_K_S, EM_TYPE_Q2_K},
};
#define N_MIXES (int)(sizeof mixes / sizeof mixes[0])

static const struct mix *mix_of(int ftype) {
    for (int i = 0; i < N_MIXES; i++)
        if (mixes[i].ftype == ftype) return &mixes[i];
    return NULL;
}

int lm_quant_mix_parse(const char *name) {
    for (int i = 0; name && i < N_MIXES; i++) {
        const char *a = mixes[i].name, *b = name;
        while (*a && toupper((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) return mixes[i].ftype;
    }
    return -1;
}

const char *lm_quant_mix_list(void) {
    return "F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL Q3_K_L Q3_K_M Q3_K_S "
           "Q2_K Q2_K_S";
}

static bool is_quantized(enum em_type t) { return em_type_block(t) > 1; }

static bool has(const char *s, const char *part) { return strstr(s, part) != NULL; }

/* llama.cpp's tensor_allows_quantization, for the names a llama or a
 * vision tower's file holds. */
static bool allows_quantization(const gguf_tensor_info *t) {
    const char *n = t->name;
    const size_t len = strlen(n);
    if (t->n_dims < 2 || len < 6 || strcmp(n + len - 6, "weight") != 0) return false;
    return !has(n, "_norm.weight") && !has(n, "ffn_gate_inp.weight") && strcmp(n, "position_embd.weight") != 0 &&
           strcmp(n, "token_types.weight") != 0 && !has(n, ".position_embd") && !has(n, ".patch_embd") &&
           !has(n, ".rel_pos") && !has(n, "attn_rel_b.weight");
}

enum category { CAT_OTHER, CAT_TOKEN_EMBD, CAT_OUTPUT, CAT_ATTN_V, CAT_ATTN_OUTPUT, CAT_FFN_DOWN };

static enum category category_of(const char *n) {
    if (!strcmp(n, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(n, "token_embd.weight")) return CAT_TOKEN_EMBD;
    /* attn_qkv and attn_kv_b count as attn_v in llama.cpp's rules */
    if (has(n, "attn_qkv.weight") || has(n, "attn_kv_b.weight") || has(n, "attn_v.weight")) return CAT_ATTN_V;
    if (has(n, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (has(n, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

typedef struct qstate {
    int n_attn_v, n_ffn_down, i_attn_v, i_ffn_down;
    bool tied;   /* no output.weight: the token embeddings are the output matrix */
    int n_gqa;   /* query heads per key/value head */
} qstate;

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama_tensor_get_type_impl's rules for the mixes above. */
static enum em_type mix_rule(qstate *q, int ft, enum em_type ty, const gguf_tensor_info *t, enum category c) {
    if (c == CAT_OUTPUT || (q->tied && c == CAT_TOKEN_EMBD)) {
        if (t->ne[0] % em_type_block(ty) != 0) return EM_TYPE_Q8_0;
        return ty == EM_TYPE_Q8_0 ? ty : EM_TYPE_Q6_K;
    }
    if (c == CAT_ATTN_V) {
        if (ft == FT_Q2_K) ty = q->n_gqa >= 4 ? EM_TYPE_Q4_K : EM_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S && q->n_gqa >= 4) ty = EM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_M) ty = q->i_attn_v < 2 ? EM_TYPE_Q5_K : EM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = EM_TYPE_Q5_K;
        else if (ft == FT_IQ4_NL && q->n_gqa >= 4) ty = EM_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && more_bits(q->i_attn_v, q->n_attn_v)) ty = EM_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && q->i_attn_v < 4) ty = EM_TYPE_Q5_K;
        q->i_attn_v++;
    } else if (c == CAT_FFN_DOWN) {
        const int i = q->i_ffn_down, n = q->n_ffn_down;
        if (ft == FT_Q2_K) ty = EM_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S) { if (i < n / 8) ty = EM_TYPE_Q4_K; }
        else if (ft == FT_Q3_K_M) ty = i < n / 16 ? EM_TYPE_Q5_K : EM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = EM_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) { if (more_bits(i, n)) ty = EM_TYPE_Q6_K; }
        else if (i < n / 8 && ft == FT_IQ4_NL) ty = EM_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && more_bits(i, n)) ty = EM_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && i < n / 8) ty = EM_TYPE_Q5_K;
        q->i_ffn_down++;
    } else if (c == CAT_ATTN_OUTPUT) {
        if (ft == FT_Q2_K) ty = EM_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) ty = EM_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = EM_TYPE_Q5_K;
    }
    return ty;
}

/* llama.cpp's tensor_type_fallback: rows that do not fit the type's blocks. */
static enum em_type fallback(enum em_type ty, int64_t ncols, const char *name, char *err, ember_status *st) {
    if (ncols % em_type_block(ty) == 0) return ty;
    enum em_type f;
    switch (ty) {
    case EM_TYPE_Q2_K: case EM_TYPE_Q3_K: f = EM_TYPE_Q4_0; break;
    case EM_TYPE_Q4_K: f = EM_TYPE_Q5_0; break;
    case EM_TYPE_Q5_K: f = EM_TYPE_Q5_1; break;
    case EM_TYPE_Q6_K: f = EM_TYPE_Q8_0; break;
    default:
        *st = em_err(err, EM_ERR_UNSUPPORTED, "lm_quantize: %s: rows of %" PRId64 " values do not fit %s blocks of %d",
                     name, ncols, em_type_name(ty), em_type_block(ty));
        return ty;
    }
    return ncols % em_type_block(f) == 0 ? f : EM_TYPE_F16;
}

static int head_ratio(const gguf_ctx *g) {
    int64_t h = 0, kv = 0;
    char e[EM_ERR_LEN];
    if (gguf_get_int(g, "llama.attention.head_count", &h, e) != EM_OK || h <= 0) return 1;
    if (gguf_get_int(g, "llama.attention.head_count_kv", &kv, e) != EM_OK || kv <= 0) kv = h;
    return (int)(h / kv);
}

ember_status lm_quant_plan(const gguf_ctx *src, const lm_quant_params *p, enum em_type *types, char *err) {
    const struct mix *mx = mix_of(p->ftype);
    if (!mx) return em_err(err, EM_ERR_ARG, "lm_quantize: mix %d unknown (known: %s)", p->ftype, lm_quant_mix_list());
    const int64_t n = gguf_n_tensors(src);
    qstate q = {0, 0, 0, 0, true, head_ratio(src)};
    for (int64_t i = 0; i < n; i++) {
        const char *name = gguf_tensor(src, i)->name;
        enum category c = category_of(name);
        q.n_attn_v += c == CAT_ATTN_V;
        q.n_ffn_down += c == CAT_FFN_DOWN;
        if (c == CAT_OUTPUT) q.tied = false;
    }
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor_info *t = gguf_tensor(src, i);
        enum em_type ty = t->type;
        if (allows_quantization(t)) {
            ty = mx->base;
            if (is_quantized(ty)) {
                if (!p->pure) ty = mix_rule(&q, p->ftype, ty, t, category_of(t->name));
                ember_status st = EM_OK;
                ty = fallback(ty, t->ne[0], t->name, err, &st);
                if (st) return st;
            }
            if (ty != t->type && is_quantized(t->type) && !p->allow_requantize)
                return em_err(err, EM_ERR_UNSUPPORTED,
                              "lm_quantize: %s is already %s: requantizing loses quality twice (allow it "
                              "explicitly, or start from an F32/F16/BF16 file)", t->name, em_type_name(t->type));
        }
        types[i] = ty;
    }
    return EM_OK;
}

/* Whether every conversion of the plan is one Ember can make. */
static ember_status plan_writable(const gguf_ctx *src, const enum em_type *types, char *err) {
    for (int64_t i = 0; i < gguf_n_tensors(src); i++) {
        const gguf_tensor_info *t = gguf_tensor(src, i);
        if (types[i] == t->type) continue;
        if (!em_type_supported(types[i]))
            return em_err(err, EM_ERR_UNSUPPORTED, "lm_quantize: %s would be %s, which Ember cannot write yet", t->name,
                          em_type_name(types[i]));
        if (!em_type_supported(t->type))
            return em_err(err, EM_ERR_UNSUPPORTED, "lm_quantize: %s is %s, which Ember cannot read yet", t->name,
                          em_type_name(t->type));
    }
    return EM_OK;
}

/* What the writer's fill callback needs: each tensor is made when the
 * writer reaches it, so a file is written holding one output tensor (and
 * a slice of rows as float) at a time, not the whole quantized model; and
 * each input tensor's pages are let go once read. */
typedef struct qfill {
    const gguf_ctx *src;
    const enum em_type *types;
    const lm_quant_params *p;
    const char *out;
    float *rows; /* QFILL_VALUES floats, or one row where a row is longer */
    int64_t cap;
} qfill;

#define QFILL_VALUES (1 << 20) /* rows converted at once: 4 MiB of float */

static ember_status fill_tensor(void *user, size_t index, void *buf, size_t nbytes, char *err) {
    qfill *q = user;
    const int64_t i = (int64_t)index, n = gguf_n_tensors(q->src);
    const gguf_tensor_info *t = gguf_tensor(q->src, i);
    const enum em_type to = q->types[i];
    if (q->p->progress && q->p->progress(q->p->user, i, n, t, to))
        return em_err(err, EM_ERR_RANGE, "stopped at tensor %" PRId64 " of %" PRId64 "; %s not written", i + 1, n,
                      q->out);
    if (to == t->type) {
        memcpy(buf, t->data, nbytes);
        gguf_drop_pages(q->src, t->data, t->nbytes); /* read once: a big input need not stay resident */
        return EM_OK;
    }
    /* through float, a slice of rows at a time */
    const int64_t cols = t->ne[0], rows = (int64_t)(t->nbytes / em_row_bytes(t->type, cols));
    const int64_t slice = cols >= QFILL_VALUES ? 1 : QFILL_VALUES / cols;
    if (slice * cols > q->cap) {
        float *r = realloc(q->rows, sizeof *r * (size_t)(slice * cols));
        if (!r) return em_err(err, EM_ERR_NOMEM, "%s: out of memory for %" PRId64 " values of scratch", t->name, slice * cols);
        q->rows = r, q->cap = slice * cols;
    }
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    const size_t in_rb = em_row_bytes(t->type, cols), out_rb = em_row_bytes(to, cols);
    for (int64_t r0 = 0; r0 < rows; r0 += slice) {
        const int64_t nr = rows - r0 < slice ? rows - r0 : slice;
        const char *in = (const char *)t->data + (size_t)r0 * in_rb;
        if (t->type == EM_TYPE_F32) memcpy(q->rows, in, in_rb * (size_t)nr);
        else ref.to_float[t->type](in, q->rows, cols * nr); /* rows of whole blocks: one run */
        if (cpu_quantize(to, q->rows, (char *)buf + (size_t)r0 * out_rb, nr, cols) != out_rb * (size_t)nr)
            return em_err(err, EM_ERR_INTERNAL, "%s: quantizing to %s failed", t->name, em_type_name(to));
    }
    gguf_drop_pages(q->src, t->data, t->nbytes);
    return EM_OK;
}

ember_status lm_quantize(const gguf_ctx *src, const char *out, const lm_quant_params *p, char *err) {
    const int64_t n = gguf_n_tensors(src);
    enum em_type *types = malloc(sizeof *types * (size_t)(n > 0 ? n : 1));
    qfill q = {.src = src, .types = types, .p = p, .out = out};
    gguf_writer *w = NULL;
    ember_status st;
    if (!types) {
        st = em_err(err, EM_ERR_NOMEM, "lm_quantize: out of memory for %" PRId64 " tensors", n);
        goto done;
    }
    if ((st = lm_quant_plan(src, p, types, err)) || (st = plan_writable(src, types, err))) goto done;
    if (!(w = gguf_writer_create(err))) { st = EM_ERR_NOMEM; goto done; }
    if ((st = gguf_writer_copy_kv(w, src)) || (st = gguf_writer_set_u32(w, "general.file_type", (uint32_t)p->ftype)) ||
        (st = gguf_writer_set_u32(w, "general.quantization_version", 2))) {
        em_err(err, st, "lm_quantize: %s", gguf_writer_errmsg(w));
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor_info *t = gguf_tensor(src, i);
        if ((st = gguf_writer_add_tensor_fill(w, t->name, types[i], t->n_dims, t->ne, fill_tensor, &q))) {
            em_err(err, st, "lm_quantize: %s", gguf_writer_errmsg(w));
            goto done;
        }
    }
    if ((st = gguf_writer_write(w, out))) em_err(err, st, "lm_quantize: %s", gguf_writer_errmsg(w));
done:
    gguf_writer_free(w);
    free(types);
    free(q.rows);
    return st;
}
