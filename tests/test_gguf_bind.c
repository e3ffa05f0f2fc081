/* test_gguf_bind.c - the key reader and weight binder (core/gguf_bind.h) on
 * a small GGUF made here: values, defaults, every refusal with its message
 * (file, key or tensor, found, expected), the 2-D views, and the f16 -> f32
 * conversion the binder owns (released by em_binder_free: ASan checks). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/gguf.h"
#include "core/gguf_bind.h"

static float f32s[2 * 3 * 4 * 5];
static em_fp16 f16s[4 * 2], f16x[4 * 2];

static ember_status write_file(const char *path, char *err) {
    gguf_writer *w = gguf_writer_create(err);
    if (!w) return EM_ERR_NOMEM;
    for (int i = 0; i < 120; i++) f32s[i] = (float)i;
    for (int i = 0; i < 8; i++) f16s[i] = em_fp32_to_fp16((float)i * 0.5f);
    /* values bf16's 8-bit mantissa cannot hold (1 + 2^-10, -3 - 2^-8, 1000.5), and one it can
     * that is subnormal in f16 (2^-24) */
    const float xv[8] = {1.0f + 0x1p-10f, -3.0f - 0x1p-8f, 1000.5f, 0x1p-24f, 0.25f, -2.0f, 0.0f, 7.0f};
    for (int i = 0; i < 8; i++) f16x[i] = em_fp32_to_fp16(xv[i]);
    const float mean[3] = {0.25f, 0.5f, 0.75f};
    const int64_t ne_vec[1] = {4}, ne_mat[2] = {4, 2}, ne_4d[4] = {2, 3, 4, 5};
    ember_status st;
    if ((st = gguf_writer_set_u32(w, "t.width", 64)) || (st = gguf_writer_set_u32(w, "t.huge", 5000)) ||
        (st = gguf_writer_set_str(w, "t.name", "tiny")) || (st = gguf_writer_set_f32(w, "t.eps", 1e-6f)) ||
        (st = gguf_writer_set_f32(w, "t.neg", -1.0f)) || (st = gguf_writer_set_str(w, "t.notint", "x")) ||
        (st = gguf_writer_set_arr(w, "t.mean", GGUF_TYPE_FLOAT32, mean, 3)) ||
        (st = gguf_writer_set_arr(w, "t.short", GGUF_TYPE_FLOAT32, mean, 2)) ||
        (st = gguf_writer_add_tensor(w, "vec", EM_TYPE_F32, 1, ne_vec, f32s)) ||
        (st = gguf_writer_add_tensor(w, "mat", EM_TYPE_F32, 2, ne_mat, f32s)) ||
        (st = gguf_writer_add_tensor(w, "mat16", EM_TYPE_F16, 2, ne_mat, f16s)) ||
        (st = gguf_writer_add_tensor(w, "mat16x", EM_TYPE_F16, 2, ne_mat, f16x)) ||
        (st = gguf_writer_add_tensor(w, "conv", EM_TYPE_F32, 4, ne_4d, f32s)) ||
        (st = gguf_writer_write(w, path))) {
        em_err(err, st, "writing %s: %s", path, gguf_writer_errmsg(w));
    }
    gguf_writer_free(w);
    return st;
}

static void expect_msg(ember_status st, const char *err, const char *want, const char *what) {
    CHECK(st != EM_OK && strstr(err, want), "%s: status %d, message '%s', expected '%s'", what, st, err, want);
}

int main(void) {
    char err[EM_ERR_LEN], path[256];
    snprintf(path, sizeof path, "%s/ember-bind-%d.gguf", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    CHECK(write_file(path, err) == EM_OK, "%s", err);
    gguf_ctx *g = gguf_open(path, err);
    em_backend *be = cpu_backend_create(1, err);
    em_binder *b = g && be ? em_binder_create(g, be, path, "test_load", "test file", err) : NULL;
    CHECK(b != NULL, "create: %s", err);
    if (!b) return CHECK_DONE();

    /* keys: values, defaults, refusals */
    int v = 0;
    float f = 0;
    const char *s = NULL;
    CHECK(em_bind_key_int(b, "t.width", true, 1, 1024, 0, &v, err) == EM_OK && v == 64, "int: %s", err);
    CHECK(em_bind_key_int(b, "t.absent", false, 1, 1024, 7, &v, err) == EM_OK && v == 7, "int default");
    expect_msg(em_bind_key_int(b, "t.absent", true, 1, 1024, 0, &v, err), err,
               "test_load: ", "missing key names the loader");
    expect_msg(em_bind_key_int(b, "t.absent", true, 1, 1024, 0, &v, err), err,
               "key t.absent missing: not a complete test file", "missing key");
    CHECK(strstr(err, path) != NULL, "message names the file: %s", err);
    expect_msg(em_bind_key_int(b, "t.huge", true, 1, 1024, 0, &v, err), err, "t.huge = 5000, expected 1..1024", "range");
    expect_msg(em_bind_key_int(b, "t.notint", true, 1, 1024, 0, &v, err), err, "t.notint", "mistyped");
    CHECK(em_bind_key_f32(b, "t.eps", true, 0, 1, 0, &f, err) == EM_OK && f == 1e-6f, "f32: %s", err);
    CHECK(em_bind_key_f32(b, "t.absent", false, 0, 1, 0.5f, &f, err) == EM_OK && f == 0.5f, "f32 default");
    expect_msg(em_bind_key_f32(b, "t.neg", false, 0, 1e30, 1, &f, err), err, "t.neg = -1, expected a number between 0 and",
               "f32 range");
    CHECK(em_bind_key_str(b, "t.name", true, NULL, &s, err) == EM_OK && !strcmp(s, "tiny"), "str");
    CHECK(em_bind_key_str(b, "t.absent", false, "dflt", &s, err) == EM_OK && !strcmp(s, "dflt"), "str default");
    float mean[3];
    CHECK(em_bind_key_f32_array(b, "t.mean", 3, mean, err) == EM_OK && mean[0] == 0.25f && mean[2] == 0.75f, "array");
    expect_msg(em_bind_key_f32_array(b, "t.short", 3, mean, err), err, "t.short: expected 3 floats, found 2 of type",
               "short array");

    /* tensors: views, shapes, types */
    em_tensor t;
    CHECK(em_bind_vec(b, "vec", 4, &t, err) == EM_OK && t.ne[0] == 4 && t.ne[1] == 1 && t.data, "vec: %s", err);
    CHECK(em_bind_mat(b, "mat", 4, 2, &t, err) == EM_OK && t.ne[0] == 4 && t.ne[1] == 2, "mat: %s", err);
    const int64_t ne4[4] = {2, 3, 4, 5};
    CHECK(em_bind_tensor(b, "conv", EM_BIND_WEIGHT, 4, ne4, &t, err) == EM_OK && t.ne[0] == 24 && t.ne[1] == 5 &&
              t.ne[2] == 1, "4-D as 5 rows of 24: %s", err);
    expect_msg(em_bind_vec(b, "nope", 4, &t, err), err, "tensor nope missing: not a complete test file", "missing");
    expect_msg(em_bind_mat(b, "mat", 4, 3, &t, err), err, "mat has shape [4, 2], expected [4, 3]", "shape");
    expect_msg(em_bind_vec(b, "mat", 4, &t, err), err, "mat has shape [4, 2], expected [4]", "rank");
    expect_msg(em_bind_mat(b, "conv", 2, 3, &t, err), err, "conv has shape [2, 3, 4, 5], expected [2, 3]", "extra dims");
    expect_msg(em_bind_tensor(b, "mat16", EM_BIND_F32_ONLY, 2, (const int64_t[]){4, 2}, &t, err), err,
               "mat16 is f16; Ember expects f32 here", "f32 only");
    CHECK(em_bind_find(b, "mat", err) != NULL && em_bind_find(b, "nope", err) == NULL && strstr(err, "tensor nope missing"),
          "find");

    /* f16 converted to f32, owned by the binder */
    const int64_t ne2[2] = {4, 2};
    em_tensor c;
    CHECK(em_bind_tensor_f32(b, "mat16", 2, ne2, &c, err) == EM_OK && c.type == EM_TYPE_F32 && c.ne[0] == 4 &&
              c.ne[1] == 2, "convert: %s", err);
    float back[8] = {0};
    CHECK(be->ops->download(be, &c, back, 0, sizeof back, err) == EM_OK && back[0] == 0.0f && back[7] == 3.5f,
          "converted values %g %g", back[0], back[7]);
    CHECK(em_bind_tensor_f32(b, "mat", 2, ne2, &c, err) == EM_OK && c.data, "f32 wrapped");

    /* f16 matrices as bf16: exact values kept, the others rounded and counted */
    size_t inexact = 0;
    em_bf16 hb[8] = {0};
    CHECK(em_bind_mat_bf16(b, "mat16", 4, 2, &c, &inexact, err) == EM_OK && c.type == EM_TYPE_BF16 && c.ne[0] == 4 &&
              c.ne[1] == 2 && inexact == 0, "bf16: %s (inexact %zu)", err, inexact);
    CHECK(be->ops->download(be, &c, hb, 0, sizeof hb, err) == EM_OK && em_bf16_to_fp32(hb[7]) == 3.5f &&
              em_bf16_to_fp32(hb[1]) == 0.5f, "bf16 values %g %g", em_bf16_to_fp32(hb[1]), em_bf16_to_fp32(hb[7]));
    CHECK(em_bind_mat_bf16(b, "mat16x", 4, 2, &c, &inexact, err) == EM_OK && inexact == 3, "bf16 inexact: %zu of 8, "
          "expected 3 (%s)", inexact, err);
    CHECK(be->ops->download(be, &c, hb, 0, sizeof hb, err) == EM_OK && em_bf16_to_fp32(hb[0]) == 1.0f &&
              em_bf16_to_fp32(hb[1]) == -3.0f && em_bf16_to_fp32(hb[2]) == 1000.0f &&
              em_bf16_to_fp32(hb[3]) == 0x1p-24f && em_bf16_to_fp32(hb[7]) == 7.0f,
          "bf16 rounding: %g %g %g %g", em_bf16_to_fp32(hb[0]), em_bf16_to_fp32(hb[1]), em_bf16_to_fp32(hb[2]),
          em_bf16_to_fp32(hb[3]));
    CHECK(em_bind_mat_bf16(b, "mat", 4, 2, &c, NULL, err) == EM_OK && c.type == EM_TYPE_F32, "f32 bound as stored");
    expect_msg(em_bind_mat_bf16(b, "mat16", 2, 4, &c, NULL, err), err, "mat16 has shape [4, 2], expected [2, 4]",
               "bf16 shape");

    em_binder_free(b);
    em_binder_free(NULL);
    em_backend_free(be);
    gguf_close(g);
    unlink(path);
    return CHECK_DONE();
}
