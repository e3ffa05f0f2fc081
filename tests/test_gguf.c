/* test_gguf.c - the GGUF reader and writer: round trips, the shared
 * vocabularies, truncation, bit flips and hand-made hostile files. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/gguf.h"

static int n_pass, n_fail;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            n_pass++;                                                      \
        } else {                                                           \
            n_fail++;                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* The shared vocabularies sit beside the checkout (../shared) or, from a
 * worktree under wt/, two levels up. */
static gguf_ctx *open_vocab(const char *name, char *path, size_t cap) {
    static const char *dirs[] = {"../shared/vocab", "../../shared/vocab"};
    char err[EM_ERR_LEN];
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, cap, "%s/%s", dirs[i], name);
        gguf_ctx *g = gguf_open(path, err);
        if (g) return g;
    }
    /* a missing vocabulary is a failure: the README's setup puts ../shared beside the checkout */
    CHECK(0, "%s: not found beside the checkout (%s)", name, err);
    return NULL;
}

static void test_vocab(void) {
    char path[512], err[EM_ERR_LEN] = "";
    gguf_ctx *g = open_vocab("ggml-vocab-gpt-2.gguf", path, sizeof path);
    if (g) {
        enum gguf_vtype et;
        uint64_t n = 0;
        const void *d = (const void *)1;
        CHECK(gguf_version(g) == 3, "version %u", gguf_version(g));
        CHECK(gguf_n_tensors(g) == 0, "%" PRId64, gguf_n_tensors(g));
        CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &d, err) == EM_OK, "%s", err);
        CHECK(et == GGUF_TYPE_STRING && n == 50257 && d == NULL, "etype %d n %" PRIu64, et, n);
        const char *s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", 50256, NULL);
        CHECK(s && !strcmp(s, "<|endoftext|>"), "last token %s", s ? s : "(null)");
        CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 50257, NULL) == NULL, "index past the end");
        CHECK(gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n, &d, err) == EM_OK && n == 50000, "merges %" PRIu64, n);
        const char *model = NULL;
        CHECK(gguf_get_str(g, "tokenizer.ggml.model", &model, err) == EM_OK && !strcmp(model, "gpt2"), "%s", err);
        int64_t bos = -1;
        CHECK(gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos, err) == EM_OK && bos == 50256, "bos %" PRId64, bos);
        CHECK(gguf_get_int(g, "no.such.key", &bos, err) == EM_ERR_NOT_FOUND, "absent key");
        CHECK(gguf_get_int(g, "tokenizer.ggml.model", &bos, err) == EM_ERR_FORMAT, "string as int");
        gguf_close(g);
    }
    g = open_vocab("ggml-vocab-llama-spm.gguf", path, sizeof path);
    if (g) {
        enum gguf_vtype et;
        uint64_t n = 0;
        const void *d = NULL;
        CHECK(gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &d, err) == EM_OK, "%s", err);
        CHECK(et == GGUF_TYPE_FLOAT32 && n == 32000 && d && ((uintptr_t)d % 4) == 0, "scores %d %" PRIu64, et, n);
        CHECK(gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &d, err) == EM_OK && et == GGUF_TYPE_INT32 &&
                  n == 32000 && ((const int32_t *)d)[0] == 2, "token_type");
        bool b = false;
        CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, err) == EM_OK && b, "add_bos");
        gguf_close(g);
    }
}


static char tmpdir[64];

static void tmp_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", tmpdir, name); }

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Parse an exact-size heap copy, so AddressSanitizer sees any read past the end. */
static ember_status load_copy(const unsigned char *p, size_t n, gguf_ctx **g, unsigned char **keep, char *err) {
    unsigned char *c = malloc(n ? n : 1);
    if (!c) return EM_ERR_NOMEM;
    memcpy(c, p, n);
    ember_status st = gguf_load_mem(c, n, g, err);
    if (st) { free(c); c = NULL; }
    *keep = c;
    return st;
}

/* Touch everything an opened file offers; returns a checksum so nothing is optimized away. */
static uint64_t walk(const gguf_ctx *g, const unsigned char *base, size_t size) {
    uint64_t sum = gguf_version(g) + gguf_alignment(g);
    char err[EM_ERR_LEN];
    for (int64_t i = 0; i < gguf_n_kv(g); i++) {
        const char *k = gguf_kv_key(g, i);
        if (!k) { n_fail++; printf("FAIL walk: key %" PRId64 " NULL\n", i); continue; }
        sum += strlen(k) + (uint64_t)gguf_kv_type(g, i);
        if (gguf_find_key(g, k) != i) { n_fail++; printf("FAIL walk: find_key(%s)\n", k); }
        int64_t iv; uint64_t uv; double fv; bool bv; const char *sv;
        if (!gguf_get_int(g, k, &iv, err)) sum += (uint64_t)iv;
        if (!gguf_get_u64(g, k, &uv, err)) sum += uv;
        if (!gguf_get_float(g, k, &fv, err)) sum += (uint64_t)(fv == fv);
        if (!gguf_get_bool(g, k, &bv, err)) sum += bv;
        if (!gguf_get_str(g, k, &sv, err)) sum += strlen(sv);
        enum gguf_vtype et; uint64_t n; const void *d;
        if (!gguf_get_arr(g, k, &et, &n, &d, err)) {
            if (et == GGUF_TYPE_STRING) {
                for (uint64_t j = 0; j < n; j++) {
                    size_t len = 0;
                    const char *e = gguf_get_arr_str(g, k, j, &len);
                    if (!e) { n_fail++; printf("FAIL walk: %s[%" PRIu64 "] NULL\n", k, j); break; }
                    sum += len + (unsigned char)e[len];
                }
            } else {
                size_t es = et == GGUF_TYPE_UINT8 || et == GGUF_TYPE_INT8 || et == GGUF_TYPE_BOOL ? 1
                          : et == GGUF_TYPE_UINT16 || et == GGUF_TYPE_INT16 ? 2
                          : et == GGUF_TYPE_UINT32 || et == GGUF_TYPE_INT32 || et == GGUF_TYPE_FLOAT32 ? 4 : 8;
                for (uint64_t j = 0; j < n * es; j++) sum += ((const unsigned char *)d)[j];
            }
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_info *t = gguf_tensor(g, i);
        const unsigned char *d = t->data;
        if (gguf_find_tensor(g, t->name) != t || d < base || t->nbytes > size || (size_t)(d - base) > size - t->nbytes ||
            (uintptr_t)(d - base) % gguf_alignment(g)) {
            n_fail++;
            printf("FAIL walk: tensor %s out of bounds or misplaced\n", t->name);
            continue;
        }
        for (size_t j = 0; j < t->nbytes; j++) sum += d[j];
    }
    return sum;
}

/* ---- round trip */

static const int64_t ne_f32[2] = {8, 3}, ne_q8[2] = {64, 2}, ne_q4k[1] = {256}, ne_4d[4] = {2, 3, 2, 2};

static ember_status write_model(const char *path, const void *vocab_src, char *err) {
    static float f32[24];
    static em_fp16 f16[24];
    static em_bf16 bf16[24];
    static unsigned char q8[2 * 2 * 34], q4[2 * 2 * 18], q4k[144];
    for (int i = 0; i < 24; i++) {
        f32[i] = (float)i * 0.5f - 3.0f;
        f16[i] = em_fp32_to_fp16(f32[i]);
        bf16[i] = em_fp32_to_bf16(f32[i]);
    }
    for (size_t i = 0; i < sizeof q8; i++) q8[i] = (unsigned char)(i * 7 + 1);
    for (size_t i = 0; i < sizeof q4; i++) q4[i] = (unsigned char)(i * 5 + 2);
    for (size_t i = 0; i < sizeof q4k; i++) q4k[i] = (unsigned char)(i * 3 + 3);

    gguf_writer *w = gguf_writer_create(err);
    if (!w) return EM_ERR_NOMEM;
    ember_status st = EM_OK;
    static const uint8_t a_u8[3] = {1, 2, 255};
    static const int8_t a_i8[3] = {-128, 0, 127};
    static const uint16_t a_u16[2] = {0, 65535};
    static const int16_t a_i16[2] = {-32768, 32767};
    static const uint32_t a_u32[3] = {0, 1, 4294967295u};
    static const int32_t a_i32[2] = {INT32_MIN, INT32_MAX};
    static const float a_f32[3] = {1.5f, -0.0f, 3.25e10f};
    static const uint8_t a_bool[3] = {7, 0, 1}; /* the writer stores nonzero as 1 */
    static const uint64_t a_u64[2] = {0, UINT64_MAX};
    static const int64_t a_i64[2] = {INT64_MIN, INT64_MAX};
    static const double a_f64[2] = {3.141592653589793, -1e300};
    const char *strs[4] = {"alpha", "", "with\0nul", "\xe2\x96\x81the"};
    size_t lens[4] = {5, 0, 8, 6};
    st = st ? st : gguf_writer_set_str(w, "general.architecture", "llama");
    st = st ? st : gguf_writer_set_u8(w, "t.u8", 200);
    st = st ? st : gguf_writer_set_i8(w, "t.i8", -100);
    st = st ? st : gguf_writer_set_u16(w, "t.u16", 60000);
    st = st ? st : gguf_writer_set_i16(w, "t.i16", -30000);
    st = st ? st : gguf_writer_set_u32(w, "t.u32", 4000000000u);
    st = st ? st : gguf_writer_set_i32(w, "t.i32", -2000000000);
    st = st ? st : gguf_writer_set_u64(w, "t.u64", UINT64_MAX);
    st = st ? st : gguf_writer_set_i64(w, "t.i64", INT64_MIN);
    st = st ? st : gguf_writer_set_f32(w, "t.f32", 0.125f);
    st = st ? st : gguf_writer_set_f64(w, "t.f64", -2.5e-300);
    st = st ? st : gguf_writer_set_bool(w, "t.bool", true);
    st = st ? st : gguf_writer_set_str(w, "t.str", "replaced");
    st = st ? st : gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo \"q\"\n");
    st = st ? st : gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 3);
    st = st ? st : gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, a_i8, 3);
    st = st ? st : gguf_writer_set_arr(w, "a.u16", GGUF_TYPE_UINT16, a_u16, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, a_i16, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, a_u32, 3);
    st = st ? st : gguf_writer_set_arr(w, "a.i32", GGUF_TYPE_INT32, a_i32, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.f32", GGUF_TYPE_FLOAT32, a_f32, 3);
    st = st ? st : gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3);
    st = st ? st : gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.i64", GGUF_TYPE_INT64, a_i64, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2);
    st = st ? st : gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_INT32, NULL, 0);
    st = st ? st : gguf_writer_set_arr_str(w, "a.str", strs, lens, 4);
    st = st ? st : gguf_writer_set_arr_str(w, "a.str0", NULL, NULL, 0);
    if (vocab_src && !st) st = gguf_writer_copy_kv(w, vocab_src);
    st = st ? st : gguf_writer_add_tensor(w, "t.f32", EM_TYPE_F32, 2, ne_f32, f32);
    st = st ? st : gguf_writer_add_tensor(w, "t.f16", EM_TYPE_F16, 2, ne_f32, f16);
    st = st ? st : gguf_writer_add_tensor(w, "t.bf16", EM_TYPE_BF16, 2, ne_f32, bf16);
    st = st ? st : gguf_writer_add_tensor(w, "t.q8_0", EM_TYPE_Q8_0, 2, ne_q8, q8);
    st = st ? st : gguf_writer_add_tensor(w, "t.q4_0", EM_TYPE_Q4_0, 2, ne_q8, q4);
    st = st ? st : gguf_writer_add_tensor(w, "t.q4_k", EM_TYPE_Q4_K, 1, ne_q4k, q4k);
    st = st ? st : gguf_writer_add_tensor(w, "t.4d", EM_TYPE_F32, 4, ne_4d, f32);
    st = st ? st : gguf_writer_write(w, path);
    if (st) snprintf(err, EM_ERR_LEN, "%s", gguf_writer_errmsg(w));
    gguf_writer_free(w);
    return st;
}

static void check_model(const gguf_ctx *g) {
    char err[EM_ERR_LEN] = "";
    int64_t iv = 0; uint64_t uv = 0; double fv = 0; bool bv = false; const char *sv = NULL;
    CHECK(gguf_version(g) == 3 && gguf_alignment(g) == 32, "version %u alignment %zu", gguf_version(g), gguf_alignment(g));
    CHECK(!gguf_get_int(g, "t.u8", &iv, err) && iv == 200, "u8 %" PRId64, iv);
    CHECK(!gguf_get_int(g, "t.i8", &iv, err) && iv == -100, "i8 %" PRId64, iv);
    CHECK(!gguf_get_int(g, "t.u16", &iv, err) && iv == 60000, "u16 %" PRId64, iv);
    CHECK(!gguf_get_int(g, "t.i16", &iv, err) && iv == -30000, "i16 %" PRId64, iv);
    CHECK(!gguf_get_int(g, "t.u32", &iv, err) && iv == 4000000000, "u32 %" PRId64, iv);
    CHECK(!gguf_get_int(g, "t.i32", &iv, err) && iv == -2000000000, "i32 %" PRId64, iv);
    CHECK(gguf_get_int(g, "t.u64", &iv, err) == EM_ERR_FORMAT && strstr(err, "t.u64"), "u64 max as int64: %s", err);
    CHECK(!gguf_get_u64(g, "t.u64", &uv, err) && uv == UINT64_MAX, "u64 %" PRIu64, uv);
    CHECK(gguf_get_u64(g, "t.i64", &uv, err) == EM_ERR_FORMAT, "negative as u64");
    CHECK(!gguf_get_int(g, "t.i64", &iv, err) && iv == INT64_MIN, "i64 %" PRId64, iv);
    CHECK(!gguf_get_float(g, "t.f32", &fv, err) && fv == 0.125, "f32 %g", fv);
    CHECK(!gguf_get_float(g, "t.f64", &fv, err) && fv == -2.5e-300, "f64 %g", fv);
    CHECK(!gguf_get_float(g, "t.i16", &fv, err) && fv == -30000, "int as float %g", fv);
    CHECK(gguf_get_float(g, "t.str", &fv, err) == EM_ERR_FORMAT, "string as float");
    CHECK(!gguf_get_bool(g, "t.bool", &bv, err) && bv, "bool");
    CHECK(!gguf_get_int(g, "t.bool", &iv, err) && iv == 1, "bool as int");
    CHECK(gguf_get_bool(g, "t.u8", &bv, err) == EM_ERR_FORMAT && strstr(err, "u8"), "%s", err);
    CHECK(!gguf_get_str(g, "t.str", &sv, err) && !strcmp(sv, "h\xc3\xa9llo \"q\"\n"), "str %s", sv);
    CHECK(gguf_get_str(g, "t.u8", &sv, err) == EM_ERR_FORMAT, "u8 as str");
    CHECK(gguf_get_str(g, "absent", &sv, err) == EM_ERR_NOT_FOUND, "absent");
    int64_t n_str = 0;
    for (int64_t i = 0; i < gguf_n_kv(g); i++) n_str += !strcmp(gguf_kv_key(g, i), "t.str");
    CHECK(n_str == 1, "replaced key appears %" PRId64 " times", n_str);
    CHECK(gguf_kv_key(g, -1) == NULL && gguf_kv_key(g, gguf_n_kv(g)) == NULL && gguf_kv_type(g, -1) == GGUF_TYPE_COUNT, "kv index bounds");

    struct { const char *key; enum gguf_vtype et; uint64_t n; size_t es; const void *want; } arrs[] = {
        {"a.u8", GGUF_TYPE_UINT8, 3, 1, (const uint8_t[]){1, 2, 255}},
        {"a.i8", GGUF_TYPE_INT8, 3, 1, (const int8_t[]){-128, 0, 127}},
        {"a.u16", GGUF_TYPE_UINT16, 2, 2, (const uint16_t[]){0, 65535}},
        {"a.i16", GGUF_TYPE_INT16, 2, 2, (const int16_t[]){-32768, 32767}},
        {"a.u32", GGUF_TYPE_UINT32, 3, 4, (const uint32_t[]){0, 1, 4294967295u}},
        {"a.i32", GGUF_TYPE_INT32, 2, 4, (const int32_t[]){INT32_MIN, INT32_MAX}},
        {"a.f32", GGUF_TYPE_FLOAT32, 3, 4, (const float[]){1.5f, -0.0f, 3.25e10f}},
        {"a.bool", GGUF_TYPE_BOOL, 3, 1, (const uint8_t[]){1, 0, 1}},
        {"a.u64", GGUF_TYPE_UINT64, 2, 8, (const uint64_t[]){0, UINT64_MAX}},
        {"a.i64", GGUF_TYPE_INT64, 2, 8, (const int64_t[]){INT64_MIN, INT64_MAX}},
        {"a.f64", GGUF_TYPE_FLOAT64, 2, 8, (const double[]){3.141592653589793, -1e300}},
        {"a.empty", GGUF_TYPE_INT32, 0, 4, NULL},
    };
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) {
        enum gguf_vtype et = GGUF_TYPE_COUNT; uint64_t n = 99; const void *d = NULL;
        ember_status st = gguf_get_arr(g, arrs[i].key, &et, &n, &d, err);
        CHECK(!st && et == arrs[i].et && n == arrs[i].n && d && (uintptr_t)d % arrs[i].es == 0 &&
                  (!n || !memcmp(d, arrs[i].want, n * arrs[i].es)),
              "%s: st %d etype %d n %" PRIu64, arrs[i].key, st, et, n);
    }
    enum gguf_vtype et; uint64_t n; const void *d;
    CHECK(gguf_get_arr(g, "t.u8", &et, &n, &d, err) == EM_ERR_FORMAT, "scalar as array");
    CHECK(!gguf_get_arr(g, "a.str", &et, &n, &d, err) && et == GGUF_TYPE_STRING && n == 4 && !d, "string array");
    size_t len = 99;
    const char *e = gguf_get_arr_str(g, "a.str", 2, &len);
    CHECK(e && len == 8 && !memcmp(e, "with\0nul", 9), "string with NUL, len %zu", len);
    e = gguf_get_arr_str(g, "a.str", 1, &len);
    CHECK(e && len == 0 && !e[0], "empty string");
    CHECK(gguf_get_arr_str(g, "a.str", 4, NULL) == NULL && gguf_get_arr_str(g, "a.u8", 0, NULL) == NULL, "arr_str bounds/type");
    CHECK(!gguf_get_arr(g, "a.str0", &et, &n, &d, err) && n == 0, "empty string array");

    struct { const char *name; enum em_type type; int n_dims; const int64_t *ne; size_t nbytes; } ts[] = {
        {"t.f32", EM_TYPE_F32, 2, ne_f32, 96}, {"t.f16", EM_TYPE_F16, 2, ne_f32, 48},
        {"t.bf16", EM_TYPE_BF16, 2, ne_f32, 48}, {"t.q8_0", EM_TYPE_Q8_0, 2, ne_q8, 136},
        {"t.q4_0", EM_TYPE_Q4_0, 2, ne_q8, 72}, {"t.q4_k", EM_TYPE_Q4_K, 1, ne_q4k, 144},
        {"t.4d", EM_TYPE_F32, 4, ne_4d, 96},
    };
    CHECK(gguf_n_tensors(g) == 7, "%" PRId64 " tensors", gguf_n_tensors(g));
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        const gguf_tensor_info *t = gguf_find_tensor(g, ts[i].name);
        int ok = t && t->type == ts[i].type && t->n_dims == ts[i].n_dims && t->nbytes == ts[i].nbytes &&
                 t->offset % 32 == 0 && gguf_tensor(g, (int64_t)i) == t;
        for (int dd = 0; ok && dd < 4; dd++) ok = t->ne[dd] == (dd < ts[i].n_dims ? ts[i].ne[dd] : 1);
        CHECK(ok, "tensor %s", ts[i].name);
    }
    const gguf_tensor_info *t = gguf_find_tensor(g, "t.f32");
    CHECK(t && ((const float *)t->data)[5] == -0.5f && ((const float *)t->data)[23] == 8.5f, "f32 data");
    t = gguf_find_tensor(g, "t.bf16");
    CHECK(t && em_bf16_to_fp32(((const em_bf16 *)t->data)[23]) == 8.5f, "bf16 data");
    t = gguf_find_tensor(g, "t.q4_k");
    CHECK(t && ((const unsigned char *)t->data)[143] == (unsigned char)(143 * 3 + 3), "q4_k data");
    CHECK(gguf_find_tensor(g, "nope") == NULL && gguf_tensor(g, 7) == NULL && gguf_tensor(g, -1) == NULL, "tensor lookups");
}

static void test_roundtrip(char *model_path, size_t cap) {
    char err[EM_ERR_LEN] = "";
    tmp_path(model_path, cap, "model.gguf");
    ember_status st = write_model(model_path, NULL, err);
    CHECK(st == EM_OK, "write: %s", err);
    gguf_ctx *g = gguf_open(model_path, err);
    CHECK(g != NULL, "open: %s", err);
    if (g) check_model(g);
    gguf_close(g);

    /* Alignment 64 via general.alignment; the writer pads to it. */
    char p2[256];
    tmp_path(p2, sizeof p2, "align64.gguf");
    gguf_writer *w = gguf_writer_create(err);
    static const float x[16] = {1};
    const int64_t ne[1] = {16};
    CHECK(w && !gguf_writer_set_u32(w, "general.alignment", 64) && !gguf_writer_add_tensor(w, "a", EM_TYPE_F32, 1, ne, x) &&
              !gguf_writer_add_tensor(w, "b", EM_TYPE_F32, 1, ne, x) && !gguf_writer_write(w, p2),
          "%s", gguf_writer_errmsg(w));
    gguf_writer_free(w);
    g = gguf_open(p2, err);
    CHECK(g && gguf_alignment(g) == 64 && gguf_tensor(g, 1)->offset == 64 &&
              (uintptr_t)gguf_tensor(g, 0)->data % 64 == 0 && gguf_file_size(g) % 64 == 0, "alignment 64: %s", err);
    gguf_close(g);

    /* Writer argument errors. */
    w = gguf_writer_create(err);
    const int64_t bad_ne[1] = {31};
    CHECK(gguf_writer_add_tensor(w, "q", EM_TYPE_Q8_0, 1, bad_ne, x) == EM_ERR_ARG && strstr(gguf_writer_errmsg(w), "block"),
          "%s", gguf_writer_errmsg(w));
    CHECK(gguf_writer_add_tensor(w, "q", (enum em_type)4, 1, ne, x) == EM_ERR_ARG, "unknown type");
    CHECK(gguf_writer_add_tensor(w, "q", EM_TYPE_F32, 5, ne, x) == EM_ERR_ARG, "n_dims 5");
    CHECK(!gguf_writer_add_tensor(w, "q", EM_TYPE_F32, 1, ne, x) && gguf_writer_add_tensor(w, "q", EM_TYPE_F32, 1, ne, x) == EM_ERR_ARG,
          "duplicate tensor");
    CHECK(gguf_writer_set_arr(w, "k", GGUF_TYPE_STRING, x, 1) == EM_ERR_ARG, "string via set_arr");
    CHECK(!gguf_writer_set_u32(w, "general.alignment", 3) && gguf_writer_write(w, p2) == EM_ERR_ARG, "bad alignment");
    CHECK(!gguf_writer_set_u32(w, "general.alignment", 32) && gguf_writer_write(w, "/nonexistent/dir/x.gguf") == EM_ERR_IO &&
              strstr(gguf_writer_errmsg(w), "/nonexistent/dir"), "%s", gguf_writer_errmsg(w));
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    gguf_close(NULL);
}

static void test_copy_vocab(void) {
    char path[512], out[256], err[EM_ERR_LEN] = "";
    gguf_ctx *v = open_vocab("ggml-vocab-llama-spm.gguf", path, sizeof path);
    if (!v) return;
    tmp_path(out, sizeof out, "with_vocab.gguf");
    CHECK(write_model(out, v, err) == EM_OK, "%s", err);
    gguf_ctx *g = gguf_open(out, err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        check_model(g);
        CHECK(gguf_n_kv(g) == 27 + gguf_n_kv(v) - 1, "n_kv %" PRId64 " (general.architecture is shared)", gguf_n_kv(g));
        int same = 1;
        for (uint64_t i = 0; i < 32000 && same; i++) {
            size_t l1, l2;
            const char *a = gguf_get_arr_str(v, "tokenizer.ggml.tokens", i, &l1);
            const char *b = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &l2);
            same = a && b && l1 == l2 && !memcmp(a, b, l1);
        }
        CHECK(same, "copied tokens differ");
        const void *d1, *d2; enum gguf_vtype et; uint64_t n;
        CHECK(!gguf_get_arr(v, "tokenizer.ggml.scores", &et, &n, &d1, err) &&
                  !gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &d2, err) && !memcmp(d1, d2, n * 4), "scores");
        bool b1, b2;
        CHECK(!gguf_get_bool(v, "tokenizer.ggml.add_eos_token", &b1, err) &&
                  !gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b2, err) && b1 == b2, "bool copied");
    }
    gguf_close(g);
    gguf_close(v);
}

/* ---- truncation and bit flips */

static size_t tensors_end(const gguf_ctx *g) {
    size_t end = 0;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor_info *t = gguf_tensor(g, i);
        size_t e = (size_t)((const unsigned char *)t->data - (const unsigned char *)gguf_tensor(g, 0)->data) + t->nbytes;
        if (e > end) end = e;
    }
    return end;
}

static void test_truncation(const char *model_path) {
    char err[EM_ERR_LEN];
    size_t size;
    unsigned char *img = read_all(model_path, &size);
    CHECK(img != NULL, "read %s", model_path);
    if (!img) return;
    gguf_ctx *g = NULL;
    unsigned char *keep = NULL;
    load_copy(img, size, &g, &keep, err);
    /* Cutting into the last tensor's padding still leaves a valid file. */
    size_t need = g ? (size_t)((const unsigned char *)gguf_tensor(g, 0)->data - keep) + tensors_end(g) : size;
    gguf_close(g);
    free(keep);
    int bad = 0;
    for (size_t len = 0; len < size; len++) {
        ember_status st = load_copy(img, len, &g, &keep, err);
        ember_status want = len < need ? EM_ERR_FORMAT : EM_OK;
        if (st != want || (st && !strstr(err, "gguf_open"))) {
            if (bad++ < 5) printf("FAIL truncate at %zu: status %d, want %d: %s\n", len, st, want, st ? err : "");
        }
        if (g) walk(g, keep, len);
        gguf_close(g);
        free(keep);
    }
    CHECK(bad == 0, "%d of %zu truncations misbehaved", bad, size);

    /* The same through files and mmap, at every 7th length. */
    char p[256];
    tmp_path(p, sizeof p, "trunc.gguf");
    bad = 0;
    for (size_t len = 0; len < need; len += 7) {
        if (write_all(p, img, len)) { bad++; continue; }
        gguf_ctx *f = NULL;
        if (gguf_load(p, &f, err) != EM_ERR_FORMAT) bad++;
        gguf_close(f);
    }
    CHECK(bad == 0, "%d file truncations did not give EM_ERR_FORMAT", bad);
    free(img);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_bitflips(const char *model_path) {
    char err[EM_ERR_LEN];
    size_t size;
    unsigned char *img = read_all(model_path, &size);
    if (!img) { CHECK(0, "read"); return; }
    gguf_ctx *g = NULL;
    unsigned char *keep = NULL;
    load_copy(img, size, &g, &keep, err);
    size_t hdr = g ? (size_t)((const unsigned char *)gguf_tensor(g, 0)->data - keep) : size;
    gguf_close(g);
    free(keep);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int n_ok = 0, n_err = 0, bad = 0;
    unsigned char *buf = malloc(size);
    for (int trial = 0; trial < 6000 && buf; trial++) {
        memcpy(buf, img, size);
        int flips = 1 + (int)(rng_next(&seed) % 3);
        for (int k = 0; k < flips; k++) {
            uint64_t r = rng_next(&seed);
            buf[(r >> 3) % hdr] ^= (unsigned char)(1u << (r & 7));
        }
        ember_status st = gguf_load_mem(buf, size, &g, err);
        if (st == EM_OK) {
            n_ok++;
            walk(g, buf, size);
            gguf_close(g);
        } else if ((st == EM_ERR_FORMAT || st == EM_ERR_UNSUPPORTED) && strstr(err, "gguf_open")) {
            n_err++;
        } else if (bad++ < 5) {
            printf("FAIL bit flip trial %d: status %d: %s\n", trial, st, err);
        }
    }
    free(buf);
    free(img);
    CHECK(bad == 0 && n_ok > 0 && n_err > 0, "bit flips: %d opened, %d rejected, %d bad", n_ok, n_err, bad);
}

static void test_vocab_damage(void) {
    char path[512], err[EM_ERR_LEN];
    gguf_ctx *v = open_vocab("ggml-vocab-gpt-2.gguf", path, sizeof path);
    if (!v) return;
    gguf_close(v);
    size_t size;
    unsigned char *img = read_all(path, &size);
    if (!img) { CHECK(0, "read %s", path); return; }
    int bad = 0;
    gguf_ctx *g;
    unsigned char *keep;
    /* 400 cut points spread over the file, plus the last 40 bytes. */
    for (size_t k = 0; k < 440; k++) {
        size_t len = k < 400 ? size * k / 400 + k % 13 : size - (440 - k);
        ember_status st = load_copy(img, len, &g, &keep, err);
        if (st == EM_OK) { walk(g, keep, len); gguf_close(g); free(keep); }
        if (!(st == EM_ERR_FORMAT || (st == EM_OK && len + 32 > size))) bad++;
    }
    CHECK(bad == 0, "vocab truncation: %d bad", bad);
    uint64_t seed = 12345;
    int n_ok = 0;
    bad = 0;
    unsigned char *buf = malloc(size);
    for (int trial = 0; trial < 300 && buf; trial++) {
        memcpy(buf, img, size);
        /* Half the flips near the start (header, counts, first keys). */
        uint64_t r = rng_next(&seed);
        size_t at = trial % 2 ? (size_t)((r >> 3) % 2048) : (size_t)((r >> 3) % size);
        buf[at] ^= (unsigned char)(1u << (r & 7));
        ember_status st = gguf_load_mem(buf, size, &g, err);
        if (st == EM_OK) { n_ok++; walk(g, buf, size); gguf_close(g); }
        else if (st != EM_ERR_FORMAT && st != EM_ERR_UNSUPPORTED) bad++;
    }
    free(buf);
    free(img);
    CHECK(bad == 0 && n_ok > 0, "vocab bit flips: %d opened, %d bad", n_ok, bad);
}

/* ---- hand-made hostile files */

struct b {
    unsigned char p[4096];
    size_t n;
};

static void b_raw(struct b *b, const void *p, size_t n) { if (b->n + n <= sizeof b->p) { memcpy(b->p + b->n, p, n); b->n += n; } }
static void b_u32(struct b *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(struct b *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(struct b *b, const char *s) { b_u64(b, strlen(s)); b_raw(b, s, strlen(s)); }
static void b_hdr(struct b *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->n = 0;
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(struct b *b, const char *k, uint32_t v) { b_str(b, k); b_u32(b, GGUF_TYPE_UINT32); b_u32(b, v); }
/* A tensor info; n_dims values from ne. */
static void b_tensor(struct b *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) b_u64(b, ne[i]);
    b_u32(b, type);
    b_u64(b, off);
}
static void b_pad(struct b *b, size_t a) { while (b->n % a) b_raw(b, "", 1); }
static void b_zeros(struct b *b, size_t n) { while (n--) b_raw(b, "", 1); }

static void expect(const struct b *b, ember_status want, const char *msg, const char *what) {
    char err[EM_ERR_LEN] = "";
    gguf_ctx *g = NULL;
    unsigned char *keep = NULL;
    ember_status st = load_copy(b->p, b->n, &g, &keep, err);
    CHECK(st == want && (!msg || strstr(err, msg)), "%s: status %d (want %d), message '%s' (want '%s')", what, st, want,
          err, msg ? msg : "");
    if (g) walk(g, keep, b->n);
    gguf_close(g);
    free(keep);
}

static void test_hostile(void) {
    struct b b;
    const uint64_t ne4[1] = {4};
    /* A valid file first, so the failures below are due to the one change each makes. */
    b_hdr(&b, 3, 1, 1); b_kv_u32(&b, "k", 7); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 0); b_pad(&b, 32); b_zeros(&b, 16);
    expect(&b, EM_OK, NULL, "valid");
    b_hdr(&b, 2, 0, 1); b_kv_u32(&b, "k", 7);
    expect(&b, EM_OK, NULL, "version 2");

    b_hdr(&b, 3, 0, (uint64_t)1 << 62); b_kv_u32(&b, "k", 7);
    expect(&b, EM_ERR_FORMAT, "keys cannot fit", "n_kv 2^62");
    b_hdr(&b, 3, UINT64_MAX, 0);
    expect(&b, EM_ERR_FORMAT, "tensors cannot fit", "n_tensors 2^64-1");
    b_hdr(&b, 3, 0, 1); b_u64(&b, (uint64_t)1 << 63); b_raw(&b, "k", 1); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "has length", "key length 2^63");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_STRING); b_u64(&b, UINT64_MAX - 3); b_zeros(&b, 8);
    expect(&b, EM_ERR_FORMAT, "has length", "string length huge");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY); b_u32(&b, GGUF_TYPE_UINT32); b_u64(&b, (uint64_t)1 << 62); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "exceeds", "u32 array count 2^62 (x4 overflows)");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY); b_u32(&b, GGUF_TYPE_STRING); b_u64(&b, (uint64_t)1 << 61); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "cannot fit", "string array count 2^61");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY); b_u32(&b, GGUF_TYPE_ARRAY); b_u64(&b, 1); b_u32(&b, GGUF_TYPE_UINT8); b_u64(&b, 1); b_zeros(&b, 1);
    expect(&b, EM_ERR_FORMAT, "array of arrays", "nested array");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, 13); b_u32(&b, 0);
    expect(&b, EM_ERR_FORMAT, "value type 13 unknown", "value type 13");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_ARRAY); b_u32(&b, 77); b_u64(&b, 0);
    expect(&b, EM_ERR_FORMAT, "element type 77", "array element type 77");
    b_hdr(&b, 3, 0, 1); b_str(&b, "k"); b_u32(&b, GGUF_TYPE_BOOL); b_raw(&b, "\x02", 1);
    expect(&b, EM_ERR_FORMAT, "bool value 2", "bool 2");
    b_hdr(&b, 3, 0, 2); b_kv_u32(&b, "k", 1); b_kv_u32(&b, "k", 2);
    expect(&b, EM_ERR_FORMAT, "duplicate key k", "duplicate key");
    b_hdr(&b, 3, 0, 1); b_u64(&b, 0); b_u32(&b, GGUF_TYPE_UINT32); b_u32(&b, 1);
    expect(&b, EM_ERR_FORMAT, "empty", "empty key");

    const uint32_t aligns[3] = {0, 3, 1u << 31};
    for (int i = 0; i < 3; i++) {
        b_hdr(&b, 3, 0, 1); b_kv_u32(&b, "general.alignment", aligns[i]);
        char what[64]; snprintf(what, sizeof what, "alignment %u", aligns[i]);
        expect(&b, EM_ERR_FORMAT, "general.alignment is", what);
    }
    b_hdr(&b, 3, 0, 1); b_str(&b, "general.alignment"); b_u32(&b, GGUF_TYPE_UINT64); b_u64(&b, 32);
    expect(&b, EM_ERR_FORMAT, "expected u32", "alignment as u64");

    const uint64_t ovf[4] = {(uint64_t)1 << 20, (uint64_t)1 << 20, (uint64_t)1 << 20, (uint64_t)1 << 20};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 4, ovf, EM_TYPE_F32, 0); b_pad(&b, 32);
    expect(&b, EM_ERR_FORMAT, "overflows", "ne product 2^80");
    const uint64_t big[2] = {(uint64_t)1 << 40, (uint64_t)1 << 20};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 2, big, EM_TYPE_Q8_0, 0); b_pad(&b, 32);
    expect(&b, EM_ERR_FORMAT, "exceeds the file size", "byte size past the file");
    const uint64_t zero[2] = {4, 0};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 2, zero, EM_TYPE_F32, 0); b_pad(&b, 32); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "ne[1] = 0", "ne 0");
    const uint64_t neg[1] = {UINT64_MAX};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, neg, EM_TYPE_F32, 0); b_pad(&b, 32);
    expect(&b, EM_ERR_FORMAT, "ne[0]", "ne -1");
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 0, ne4, EM_TYPE_F32, 0); b_pad(&b, 32);
    expect(&b, EM_ERR_FORMAT, "n_dims 0", "n_dims 0");
    const uint64_t ne5[5] = {4, 1, 1, 1, 1};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 5, ne5, EM_TYPE_F32, 0); b_pad(&b, 32);
    expect(&b, EM_ERR_FORMAT, "n_dims 5", "n_dims 5");
    const uint32_t types[3] = {4, 99, 1u << 31};
    for (int i = 0; i < 3; i++) {
        b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne4, types[i], 0); b_pad(&b, 32); b_zeros(&b, 16);
        char what[64]; snprintf(what, sizeof what, "tensor type %u", types[i]);
        expect(&b, EM_ERR_FORMAT, "unknown", what);
    }
    const uint64_t ne31[1] = {31};
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne31, EM_TYPE_Q8_0, 0); b_pad(&b, 32); b_zeros(&b, 64);
    expect(&b, EM_ERR_FORMAT, "block size", "ne[0] 31 for q8_0");
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 32); b_pad(&b, 32); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "past the end", "offset past EOF");
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, UINT64_MAX - 31); b_pad(&b, 32); b_zeros(&b, 16);
    expect(&b, EM_ERR_FORMAT, "past the end", "offset near 2^64");
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 4); b_pad(&b, 32); b_zeros(&b, 32);
    expect(&b, EM_ERR_FORMAT, "not a multiple of the alignment", "misaligned offset");
    b_hdr(&b, 3, 2, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 32); b_pad(&b, 32); b_zeros(&b, 64);
    expect(&b, EM_ERR_FORMAT, "duplicate tensor name w", "duplicate tensor");
    b_hdr(&b, 3, 1, 0); b_tensor(&b, "w", 1, ne4, EM_TYPE_F32, 0);
    expect(&b, EM_ERR_FORMAT, "data section", "tensor but no data section");

    b_hdr(&b, 1, 0, 0);
    expect(&b, EM_ERR_FORMAT, "version 1", "version 1");
    b_hdr(&b, 99, 0, 0);
    expect(&b, EM_ERR_FORMAT, "version 99", "version 99");
    b_hdr(&b, 0x03000000u, 0, 0);
    expect(&b, EM_ERR_UNSUPPORTED, "big-endian", "big-endian");
    b_hdr(&b, 3, 0, 0); b.p[0] = 'g';
    expect(&b, EM_ERR_FORMAT, "bad magic", "bad magic");
    b.n = 0;
    expect(&b, EM_ERR_FORMAT, "empty", "empty buffer");
    b_raw(&b, "GGU", 3);
    expect(&b, EM_ERR_FORMAT, "truncated", "3 bytes: the start of the magic");
    b_raw(&b, "PK", 2);
    expect(&b, EM_ERR_FORMAT, "bad magic", "2 bytes of another file");

    char p[256], err[EM_ERR_LEN] = "";
    gguf_ctx *g = NULL;
    tmp_path(p, sizeof p, "empty.gguf");
    CHECK(!write_all(p, "", 0) && gguf_load(p, &g, err) == EM_ERR_FORMAT && strstr(err, "empty"), "empty file: %s", err);
    CHECK(gguf_load(tmpdir, &g, err) == EM_ERR_IO && strstr(err, "directory"), "directory: %s", err);
    tmp_path(p, sizeof p, "missing.gguf");
    CHECK(gguf_load(p, &g, err) == EM_ERR_IO && strstr(err, "missing.gguf") && !g, "missing: %s", err);
    CHECK(gguf_open(p, err) == NULL, "gguf_open on a missing file");
}

/* ---- through the CLI */

static int run_cli(const char *args, const char *out) {
    const char *bin = getenv("EMBER_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", bin, args, out);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(const char *model_path) {
    if (!getenv("EMBER_BIN")) { printf("SKIP cli: EMBER_BIN not set\n"); return; }
    char out[256], args[600], trunc[256];
    size_t n, size;
    tmp_path(out, sizeof out, "cli.txt");
    snprintf(args, sizeof args, "info '%s'", model_path);
    int rc = run_cli(args, out);
    char *text = (char *)read_all(out, &n);
    CHECK(rc == 0 && text && n > 0, "ember info rc %d", rc);
    if (text) {
        text = realloc(text, n + 1);
        text[n] = 0;
        CHECK(strstr(text, "t.q4_k") && strstr(text, "q4_K") && strstr(text, "a.str") && strstr(text, "\"alpha\""),
              "info output lacks expected lines:\n%s", text);
        free(text);
    }
    unsigned char *img = read_all(model_path, &size);
    tmp_path(trunc, sizeof trunc, "cli_trunc.gguf");
    CHECK(img && !write_all(trunc, img, size / 3), "write truncated");
    free(img);
    snprintf(args, sizeof args, "info '%s'", trunc);
    rc = run_cli(args, out);
    text = (char *)read_all(out, &n);
    if (text) { text = realloc(text, n + 1); text[n] = 0; }
    CHECK(rc == 1 && text && strstr(text, "gguf_open") && strstr(text, "cli_trunc.gguf"), "rc %d: %s", rc, text ? text : "");
    free(text);
    /* The type mix of a file with types Ember does not compute with (as a
     * downloaded IQ or ternary file): it opens, and info names each type,
     * its bits per weight and the file type. */
    char mix[256];
    tmp_path(mix, sizeof mix, "mix.gguf");
    static unsigned char blocks[256 * 4];
    const int64_t ne256[1] = {256}, ne64[1] = {64};
    gguf_writer *w = gguf_writer_create(args);
    CHECK(w && !gguf_writer_set_u32(w, "general.file_type", 15) &&
              !gguf_writer_add_tensor(w, "a", EM_TYPE_IQ2_XXS, 1, ne256, blocks) &&
              !gguf_writer_add_tensor(w, "b", EM_TYPE_IQ4_XS, 1, ne256, blocks) &&
              !gguf_writer_add_tensor(w, "c", EM_TYPE_TQ1_0, 1, ne256, blocks) &&
              !gguf_writer_add_tensor(w, "d", EM_TYPE_MXFP4, 1, ne64, blocks) && !gguf_writer_write(w, mix),
          "write mix.gguf: %s", w ? gguf_writer_errmsg(w) : args);
    gguf_writer_free(w);
    snprintf(args, sizeof args, "info '%s'", mix);
    rc = run_cli(args, out);
    text = (char *)read_all(out, &n);
    if (text) { text = realloc(text, n + 1); text[n] = 0; }
    /* 66, 136, 54 bytes per 256 and 2 x 17 per 64: 2.06, 4.25, 1.69 and 4.25 bits */
    CHECK(rc == 0 && text && strstr(text, "file type: 15 (Q4_K_M)") && strstr(text, "4 tensors, 290 bytes") &&
              strstr(text, "iq2_xxs         1             66") && strstr(text, "  2.06  (not supported for compute)") &&
              strstr(text, "iq4_xs") && strstr(text, "tq1_0") && strstr(text, "  1.69  (not") &&
              strstr(text, "mxfp4           1             34"),
          "info on mix.gguf (rc %d):\n%s", rc, text ? text : "");
    free(text);
    CHECK(run_cli("info", out) == 2, "no file: usage error");
    CHECK(run_cli("info --help", out) == 0, "--help");
}

static void rm_tmpdir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
}

/* Tensors made at write time (gguf_writer_add_tensor_fill): the bytes a
 * fill makes land where data would; a fill that fails stops the write,
 * with its message, and leaves neither the file nor a temporary. */
struct fill_user { int calls; int fail_at; };

static ember_status fill_pattern(void *user, size_t index, void *buf, size_t nbytes, char *err) {
    struct fill_user *u = user;
    u->calls++;
    if ((int)index == u->fail_at) return em_err(err, EM_ERR_RANGE, "fill %zu refused", index);
    for (size_t i = 0; i < nbytes; i++) ((unsigned char *)buf)[i] = (unsigned char)(index * 31 + i);
    return EM_OK;
}

static int dir_entries(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_writer_fill(void) {
    char err[EM_ERR_LEN] = "", p[512];
    tmp_path(p, sizeof p, "fill.gguf");
    static const float data[64] = {1.5f, 2.5f};
    const int64_t ne_a[1] = {64}, ne_b[2] = {32, 3}, ne_c[1] = {100};
    for (int fail = 0; fail < 2; fail++) {
        const int before = dir_entries();
        struct fill_user u = {0, fail ? 2 : -1};
        gguf_writer *w = gguf_writer_create(err);
        ember_status st = w ? EM_OK : EM_ERR_NOMEM;
        st = st ? st : gguf_writer_add_tensor_fill(w, "f.q8", EM_TYPE_Q8_0, 2, ne_b, fill_pattern, &u);
        st = st ? st : gguf_writer_add_tensor(w, "d.f32", EM_TYPE_F32, 1, ne_a, data);
        st = st ? st : gguf_writer_add_tensor_fill(w, "f.u8", EM_TYPE_F16, 1, ne_c, fill_pattern, &u);
        CHECK(st == EM_OK && gguf_writer_add_tensor_fill(w, "f.null", EM_TYPE_F32, 1, ne_a, NULL, NULL) == EM_ERR_ARG,
              "adding: %s", w ? gguf_writer_errmsg(w) : err);
        st = gguf_writer_write(w, p);
        if (!fail) {
            CHECK(st == EM_OK && u.calls == 2, "write with fills: %s (%d calls)", gguf_writer_errmsg(w), u.calls);
            gguf_ctx *g = gguf_open(p, err);
            CHECK(g != NULL, "open: %s", err);
            const gguf_tensor_info *a = g ? gguf_find_tensor(g, "f.q8") : NULL, *b = g ? gguf_find_tensor(g, "d.f32") : NULL,
                                   *c = g ? gguf_find_tensor(g, "f.u8") : NULL;
            int ok = a && b && c && a->nbytes == 3 * 34 && c->nbytes == 200 && !memcmp(b->data, data, sizeof data);
            for (size_t i = 0; ok && i < a->nbytes; i++) ok = ((const unsigned char *)a->data)[i] == (unsigned char)i;
            for (size_t i = 0; ok && i < c->nbytes; i++) ok = ((const unsigned char *)c->data)[i] == (unsigned char)(62 + i);
            CHECK(ok, "the fills' bytes, in place");
            gguf_close(g);
            unlink(p);
        } else {
            CHECK(st == EM_ERR_RANGE && strstr(gguf_writer_errmsg(w), "fill 2 refused") && u.calls == 2,
                  "failing fill: %d %s", st, gguf_writer_errmsg(w));
            CHECK(access(p, F_OK) != 0 && dir_entries() == before, "a failed fill left a file behind");
        }
        gguf_writer_free(w);
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_gguf.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    char model[256];
    test_vocab();
    test_roundtrip(model, sizeof model);
    test_writer_fill();
    test_copy_vocab();
    test_truncation(model);
    test_bitflips(model);
    test_vocab_damage();
    test_hostile();
    test_cli(model);
    rm_tmpdir();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
