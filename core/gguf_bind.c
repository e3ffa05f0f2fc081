/* gguf_bind.c - see gguf_bind.h. */
#include "gguf_bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A loader owns at most a few converted tables (position embeddings); the
 * array grows by doubling from this. */
#define BIND_OWNED_MIN 4

struct em_binder {
    const gguf_ctx *g;  /* borrowed */
    em_backend *be;     /* borrowed */
    char *path;         /* owned copy, for messages */
    const char *who;    /* "lm_model_load" or NULL */
    const char *kind;   /* "vision projector" or NULL */
    em_tensor *owned;   /* tensors allocated here: released by em_binder_free */
    int n_owned, cap_owned;
    uint16_t *f16_to_bf16; /* em_bind_mat_bf16's table: each f16 pattern's bf16, then a bitmap of the inexact ones */
};

em_binder *em_binder_create(const gguf_ctx *g, em_backend *be, const char *path, const char *who, const char *kind,
                            char *err) {
    em_binder *b = calloc(1, sizeof *b);
    char *p = strdup(path ? path : "");
    if (!b || !p) {
        free(b);
        free(p);
        em_err(err, EM_ERR_NOMEM, "%s%s%s: out of memory", who ? who : "", who ? ": " : "", path ? path : "");
        return NULL;
    }
    b->g = g;
    b->be = be;
    b->path = p;
    b->who = who;
    b->kind = kind;
    return b;
}

void em_binder_free(em_binder *b) {
    if (!b) return;
    for (int i = 0; i < b->n_owned; i++) em_backend_release(b->be, &b->owned[i]);
    free(b->owned);
    free(b->f16_to_bf16);
    free(b->path);
    free(b);
}

/* Every message: "[who: ]path: " then the rest, so they all name the file. */
__attribute__((format(printf, 4, 5)))
static ember_status fail(const em_binder *b, char *err, ember_status st, const char *fmt, ...) {
    char msg[EM_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return em_err(err, st, "%s%s%s: %s", b->who ? b->who : "", b->who ? ": " : "", b->path, msg);
}

static ember_status missing(const em_binder *b, char *err, const char *what, const char *name) {
    return fail(b, err, EM_ERR_FORMAT, "%s %s missing%s%s", what, name, b->kind ? ": not a complete " : "",
                b->kind ? b->kind : "");
}

/* ---- keys */

ember_status em_bind_key_int(em_binder *b, const char *key, bool required, int lo, int hi, int dflt, int *out,
                             char *err) {
    int64_t v;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_int(b->g, key, &v, e);
    if (st == EM_ERR_NOT_FOUND) {
        if (required) return missing(b, err, "key", key);
        *out = dflt;
        return EM_OK;
    }
    if (st != EM_OK) return fail(b, err, st, "%s", e);
    if (v < lo || v > hi)
        return fail(b, err, EM_ERR_FORMAT, "%s = %lld, expected %d..%d", key, (long long)v, lo, hi);
    *out = (int)v;
    return EM_OK;
}

ember_status em_bind_key_f32(em_binder *b, const char *key, bool required, double lo, double hi, float dflt,
                             float *out, char *err) {
    double v;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_float(b->g, key, &v, e);
    if (st == EM_ERR_NOT_FOUND) {
        if (required) return missing(b, err, "key", key);
        *out = dflt;
        return EM_OK;
    }
    if (st != EM_OK) return fail(b, err, st, "%s", e);
    if (!(v > lo && v < hi)) /* NaN fails too */
        return fail(b, err, EM_ERR_FORMAT, "%s = %g, expected a number between %g and %g", key, v, lo, hi);
    *out = (float)v;
    return EM_OK;
}

ember_status em_bind_key_str(em_binder *b, const char *key, bool required, const char *dflt, const char **out,
                             char *err) {
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_str(b->g, key, out, e);
    if (st == EM_ERR_NOT_FOUND) {
        if (required) return missing(b, err, "key", key);
        *out = dflt;
        return EM_OK;
    }
    return st == EM_OK ? EM_OK : fail(b, err, st, "%s", e);
}

ember_status em_bind_key_f32_array(em_binder *b, const char *key, int n, float *out, char *err) {
    enum gguf_vtype et;
    uint64_t have;
    const void *data;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_arr(b->g, key, &et, &have, &data, e);
    if (st == EM_ERR_NOT_FOUND) return missing(b, err, "key", key);
    if (st != EM_OK) return fail(b, err, st, "%s", e);
    if (have < (uint64_t)n || (et != GGUF_TYPE_FLOAT32 && et != GGUF_TYPE_FLOAT64))
        return fail(b, err, EM_ERR_FORMAT, "%s: expected %d floats, found %llu of type %s", key, n,
                    (unsigned long long)have, gguf_vtype_name(et));
    for (int i = 0; i < n; i++)
        out[i] = et == GGUF_TYPE_FLOAT32 ? ((const float *)data)[i] : (float)((const double *)data)[i];
    return EM_OK;
}

/* ---- tensors */

const gguf_tensor_info *em_bind_find(em_binder *b, const char *name, char *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(b->g, name);
    if (!ti) missing(b, err, "tensor", name);
    return ti;
}

static void shape_str(char *s, size_t cap, int n, const int64_t *ne) {
    size_t k = (size_t)snprintf(s, cap, "[");
    for (int d = 0; d < n && k < cap; d++) k += (size_t)snprintf(s + k, cap - k, d ? ", %lld" : "%lld", (long long)ne[d]);
    if (k < cap) snprintf(s + k, cap - k, "]");
}

/* Present, with exactly the dims asked for? */
static ember_status find_shaped(em_binder *b, const char *name, int n_dims, const int64_t *ne,
                                const gguf_tensor_info **out, char *err) {
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return em_err(err, EM_ERR_INTERNAL, "em_bind_tensor: %s: %d dims asked for", name, n_dims);
    const gguf_tensor_info *ti = em_bind_find(b, name, err);
    if (!ti) return EM_ERR_FORMAT;
    bool same = true;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) same = same && ti->ne[d] == (d < n_dims ? ne[d] : 1);
    if (!same) {
        char have[128], want[128];
        shape_str(have, sizeof have, ti->n_dims > n_dims ? ti->n_dims : n_dims, ti->ne);
        shape_str(want, sizeof want, n_dims, ne);
        return fail(b, err, EM_ERR_FORMAT, "%s has shape %s, expected %s", name, have, want);
    }
    *out = ti;
    return EM_OK;
}

/* The 2-D view of gguf_bind.h: the last dim asked for is the rows. */
static em_tensor view_2d(enum em_type type, int n_dims, const int64_t *ne) {
    int64_t cols = ne[0], rows = 1;
    if (n_dims > 1) {
        for (int d = 1; d < n_dims - 1; d++) cols *= ne[d];
        rows = ne[n_dims - 1];
    }
    return em_tensor_make(type, cols, rows, 1, 1);
}

static bool type_in(uint32_t types, enum em_type t) {
    return types == EM_BIND_WEIGHT || ((unsigned)t < 32 && (types >> t) & 1u);
}

/* "f32" or "f32 or f16": the types of a mask, for messages. */
static void mask_types(uint32_t types, char *s, size_t cap) {
    size_t k = 0;
    s[0] = 0;
    for (int t = 0; t < 32 && k < cap; t++)
        if ((types >> t) & 1u && em_type_name((enum em_type)t))
            k += (size_t)snprintf(s + k, cap - k, k ? " or %s" : "%s", em_type_name((enum em_type)t));
}

static bool computes_with(em_backend *be, enum em_type t) {
    return em_type_supported(t) && be->ops->supports(be, EM_OP_MATMUL, t);
}

/* "f32, f16, bf16, q8_0, q4_0": what this backend multiplies with, for
 * messages, so the list never goes stale. */
static void computed_types(em_backend *be, char *s, size_t cap) {
    size_t k = 0;
    s[0] = 0;
    for (int t = 0; t < EM_TYPE_COUNT && k < cap; t++)
        if (computes_with(be, (enum em_type)t))
            k += (size_t)snprintf(s + k, cap - k, k ? ", %s" : "%s", em_type_name((enum em_type)t));
}

/* dense: every product reads the whole tensor, so its pages are mapped now
 * where the backend reads the file in place; a table read by rows (dense
 * false) keeps only the rows it is asked for resident. */
static ember_status wrap(em_binder *b, const gguf_tensor_info *ti, em_tensor *t, bool dense, char *err) {
    t->name = ti->name;
    ember_status st = em_backend_wrap(b->be, t, ti->data, err);
    if (st != EM_OK) return st;
    /* the backend has its own copy: the mapping's pages need not stay resident */
    if (b->be->ops->copies_weights) gguf_drop_pages(b->g, ti->data, ti->nbytes);
    else if (dense) gguf_populate_pages(b->g, ti->data, ti->nbytes);
    return st;
}

static ember_status bind_tensor(em_binder *b, const char *name, uint32_t types, int n_dims, const int64_t *ne,
                                bool dense, em_tensor *out, char *err) {
    const gguf_tensor_info *ti;
    ember_status st = find_shaped(b, name, n_dims, ne, &ti, err);
    if (st) return st;
    const char *tn = em_type_name(ti->type);
    if (!type_in(types, ti->type)) {
        char want[128];
        mask_types(types, want, sizeof want);
        return fail(b, err, EM_ERR_UNSUPPORTED, "%s is %s; Ember expects %s here (as llama.cpp's converter writes it)",
                    name, tn ? tn : "?", want);
    }
    if (!computes_with(b->be, ti->type)) {
        char list[128];
        computed_types(b->be, list, sizeof list);
        if (em_type_supported(ti->type)) /* the CPU reference has it, this backend not yet */
            return fail(b, err, EM_ERR_UNSUPPORTED,
                        "%s has type %s, which the %s backend does not compute with yet (it does: %s; the cpu "
                        "backend computes with %s)", name, tn, b->be->ops->name, list, tn);
        return fail(b, err, EM_ERR_UNSUPPORTED, "%s has type %s, which Ember does not compute with yet (supported: %s)",
                    name, tn ? tn : "unknown", list);
    }
    *out = view_2d(ti->type, n_dims, ne);
    return wrap(b, ti, out, dense, err);
}

ember_status em_bind_tensor(em_binder *b, const char *name, uint32_t types, int n_dims, const int64_t *ne,
                            em_tensor *out, char *err) {
    return bind_tensor(b, name, types, n_dims, ne, true, out, err);
}

ember_status em_bind_vec(em_binder *b, const char *name, int64_t n, em_tensor *out, char *err) {
    return em_bind_tensor(b, name, EM_BIND_F32_ONLY, 1, &n, out, err);
}

ember_status em_bind_mat(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out, char *err) {
    const int64_t ne[2] = {cols, rows};
    return em_bind_tensor(b, name, EM_BIND_WEIGHT, 2, ne, out, err);
}

ember_status em_bind_table(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out, char *err) {
    const int64_t ne[2] = {cols, rows};
    return bind_tensor(b, name, EM_BIND_WEIGHT, 2, ne, false, out, err);
}

/* A tensor for a converted copy of a file tensor, allocated on the backend
 * and owned by the binder (released by em_binder_free, even if the caller's
 * upload fails). */
static ember_status alloc_owned(em_binder *b, const char *name, em_tensor *t, char *err) {
    if (b->n_owned == b->cap_owned) {
        int cap = b->cap_owned ? 2 * b->cap_owned : BIND_OWNED_MIN;
        em_tensor *p = realloc(b->owned, (size_t)cap * sizeof *p);
        if (!p) return fail(b, err, EM_ERR_NOMEM, "%s: out of memory", name);
        b->owned = p;
        b->cap_owned = cap;
    }
    ember_status st = em_backend_alloc(b->be, t, err);
    if (st == EM_OK) b->owned[b->n_owned++] = *t;
    return st;
}

ember_status em_bind_tensor_f32(em_binder *b, const char *name, int n_dims, const int64_t *ne, em_tensor *out,
                                char *err) {
    const gguf_tensor_info *ti;
    ember_status st = find_shaped(b, name, n_dims, ne, &ti, err);
    if (st) return st;
    if (ti->type == EM_TYPE_F32) {
        *out = view_2d(EM_TYPE_F32, n_dims, ne);
        return wrap(b, ti, out, true, err);
    }
    if (ti->type != EM_TYPE_F16 && ti->type != EM_TYPE_BF16) {
        const char *tn = em_type_name(ti->type);
        return fail(b, err, EM_ERR_UNSUPPORTED, "%s is %s; Ember expects f32, f16 or bf16 here", name, tn ? tn : "?");
    }
    em_tensor t = view_2d(EM_TYPE_F32, n_dims, ne);
    t.name = ti->name;
    const size_t n = (size_t)em_tensor_nelements(&t);
    float *f = malloc(n * sizeof(float));
    if (!f) return fail(b, err, EM_ERR_NOMEM, "%s: out of memory for %zu floats", name, n);
    const uint16_t *h = ti->data;
    for (size_t i = 0; i < n; i++)
        f[i] = ti->type == EM_TYPE_F16 ? em_fp16_to_fp32(h[i]) : em_fp32_from_bits((uint32_t)h[i] << 16);
    st = alloc_owned(b, name, &t, err);
    if (st == EM_OK) st = b->be->ops->upload(b->be, &t, f, 0, n * sizeof(float), err);
    free(f);
    if (st == EM_OK) *out = t;
    return st;
}

ember_status em_bind_mat_bf16(em_binder *b, const char *name, int64_t cols, int64_t rows, em_tensor *out,
                              size_t *inexact, char *err) {
    const int64_t ne[2] = {cols, rows};
    const gguf_tensor_info *ti;
    ember_status st = find_shaped(b, name, 2, ne, &ti, err);
    if (st) return st;
    if (ti->type != EM_TYPE_F16) return em_bind_mat(b, name, cols, rows, out, err);
    if (!computes_with(b->be, EM_TYPE_BF16))
        return fail(b, err, EM_ERR_UNSUPPORTED, "%s: the %s backend does not compute with bf16, so f16 weights "
                    "cannot be converted to it", name, b->be->ops->name);
    /* A table of all 65536 f16 patterns (built once per binder) makes the
     * conversion one load a value: a ViT's 90M values in ~0.1 s. Its bf16
     * has 16 bits; whether it is exact goes in a bitmap beside it. */
    if (!b->f16_to_bf16) {
        uint16_t *tab = malloc(65536 * sizeof *tab + 65536 / 8);
        if (!tab) return fail(b, err, EM_ERR_NOMEM, "%s: out of memory", name);
        uint8_t *inex = (uint8_t *)(tab + 65536);
        memset(inex, 0, 65536 / 8);
        for (uint32_t u = 0; u < 65536; u++) {
            const float v = em_fp16_to_fp32((em_fp16)u);
            tab[u] = em_fp32_to_bf16(v);
            if (em_fp32_from_bits((uint32_t)tab[u] << 16) != v && v == v) inex[u / 8] |= (uint8_t)(1u << (u % 8));
        }
        b->f16_to_bf16 = tab;
    }
    const uint16_t *tab = b->f16_to_bf16;
    const uint8_t *inex = (const uint8_t *)(tab + 65536);
    em_tensor t = view_2d(EM_TYPE_BF16, 2, ne);
    t.name = ti->name;
    if ((st = alloc_owned(b, name, &t, err))) return st;
    /* through a small buffer, so no second copy of the matrix is ever whole */
    enum { CHUNK = 1 << 18 };
    em_bf16 *d = malloc(CHUNK * sizeof *d);
    if (!d) return fail(b, err, EM_ERR_NOMEM, "%s: out of memory", name);
    gguf_populate_pages(b->g, ti->data, ti->nbytes);
    const em_fp16 *h = ti->data;
    const size_t n = (size_t)em_tensor_nelements(&t);
    size_t changed = 0;
    for (size_t i0 = 0; i0 < n && st == EM_OK; i0 += CHUNK) {
        const size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < m; i++) {
            const em_fp16 v = h[i0 + i];
            d[i] = tab[v];
            changed += (inex[v / 8] >> (v % 8)) & 1u;
        }
        st = b->be->ops->upload(b->be, &t, d, i0 * sizeof *d, m * sizeof *d, err);
    }
    free(d);
    gguf_drop_pages(b->g, ti->data, ti->nbytes); /* read once: the copy is what stays */
    if (st == EM_OK) *out = t;
    if (st == EM_OK && inexact) *inexact += changed;
    return st;
}
