/* kernels_peer.c - the 32-value block kernels against llama.cpp's own
 * library: known answers from the peer itself rather than from a copy of
 * its arithmetic.
 *
 * The peer is the ggml that node-llama-cpp ships (bench/peer, installed by
 * scripts/setup.sh), or the folder EMBER_GGML_DIR: libggml-base.so (the
 * file quantizers, dequantization) and its CPU builds libggml-cpu-haswell.so
 * (AVX2) and, where this CPU runs it, libggml-cpu-zen4.so (AVX-512): the
 * runtime activation quantizers and the dot products. All are C functions
 * that ggml exports by name, called through dlsym.
 *
 * Checked, over rows of blocks of every kind (wide, narrow, one-signed,
 * constant, zero, outliers, tiny and large scales):
 *   - cpu_quantize (what mkmodel writes) against ggml_quantize_chunk without
 *     an importance matrix (what llama-quantize writes): byte for byte, for
 *     Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL;
 *   - Ember's cpu_quantize_row_*_ref against quantize_row_*_ref: byte for
 *     byte (IQ4_NL's _ref leaves an all-zero block's levels as they were in
 *     the previous block, so zero blocks are compared by their scale);
 *   - to_float against dequantize_row_*: bit for bit;
 *   - the Q8_0 and Q8_1 activation quantizers against the CPU builds'
 *     quantize_row_q8_0 / _q8_1: byte for byte;
 *   - vec_dot: Ember's scalar kernel against ggml's _generic dot, and each
 *     Ember variant against the CPU build's dot, within 1e-5 of the sum of
 *     |products| (the order of the float sums may differ), with the number
 *     of bit-identical results printed; for Q4_1, Q5_0, Q5_1 and IQ4_NL,
 *     whose SIMD dots sum in the CPU build's order, bit for bit.
 * No peer: exit 77 (skipped). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/cpu/cpu_kernels.h"


typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                                    int64_t n_per_row, const float *imatrix);
typedef void (*row_fn)(const float *x, void *y, int64_t k);
typedef void (*dequant_fn)(const void *x, float *y, int64_t k);
typedef void (*vec_dot_fn)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);

static const char *peer_dir(void) {
    const char *env = getenv("EMBER_GGML_DIR");
    return env && *env ? env : "bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64";
}

static void *open_lib(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", peer_dir(), name);
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void *sym(void *h, const char *name) {
    void *p = h ? dlsym(h, name) : NULL;
    CHECK(p != NULL, "the peer has no %s", name);
    return p;
}

// ---- data -------------------------------------------------------------------

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 16777216.0) * 2.0 - 1.0);
}

enum { NROWS = 6, K = 32 * 96 };

/* Rows whose blocks cycle through kinds and magnitudes; row 0 starts with a
 * non-zero block (see IQ4_NL's _ref above). */
static void fill(float *x) {
    for (int b = 0; b < NROWS * K / 32; b++) {
        float *xb = x + b * 32;
        const float scale = powf(10.0f, (float)(b % 7) - 3.0f);
        for (int j = 0; j < 32; j++) {
            switch (b % 8) {
            case 0: xb[j] = scale * frand(); break;
            case 1: xb[j] = scale * (1.5f + frand()); break;
            case 2: xb[j] = -scale * (0.1f + 0.05f * frand()); break;
            case 3: xb[j] = b % 16 == 3 ? scale : 0.0f; break;
            case 4: xb[j] = j == b % 32 ? -30.0f * scale : scale * frand(); break;
            case 5: xb[j] = scale * frand() * frand() * frand(); break;
            case 6: xb[j] = scale * (float)((int)(8 * frand())) / 8.0f; break; /* many ties */
            default: xb[j] = scale * (frand() + 0.3f * frand() * frand()); break;
            }
        }
    }
}

// ---- file quantizers and dequantization ---------------------------------------

struct qtype {
    enum em_type ty;
    const char *ref_name, *dequant_name;
    void (*ember_ref)(const float *, void *, int64_t);
};

static void ember_q4_1_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_q4_1_ref(x, y, k); }
static void ember_q5_0_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_q5_0_ref(x, y, k); }
static void ember_q5_1_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_q5_1_ref(x, y, k); }
static void ember_iq4_nl_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_iq4_nl_ref(x, y, k); }
static void ember_q4_0_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_q4_0_ref(x, y, k); }
static void ember_q8_0_ref(const float *x, void *y, int64_t k) { cpu_quantize_row_q8_0_ref(x, y, k); }

static const struct qtype qtypes[] = {
    {EM_TYPE_Q4_0, "quantize_row_q4_0_ref", "dequantize_row_q4_0", ember_q4_0_ref},
    {EM_TYPE_Q8_0, "quantize_row_q8_0_ref", "dequantize_row_q8_0", ember_q8_0_ref},
    {EM_TYPE_Q4_1, "quantize_row_q4_1_ref", "dequantize_row_q4_1", ember_q4_1_ref},
    {EM_TYPE_Q5_0, "quantize_row_q5_0_ref", "dequantize_row_q5_0", ember_q5_0_ref},
    {EM_TYPE_Q5_1, "quantize_row_q5_1_ref", "dequantize_row_q5_1", ember_q5_1_ref},
    {EM_TYPE_IQ4_NL, "quantize_row_iq4_nl_ref", "dequantize_row_iq4_nl", ember_iq4_nl_ref},
};

/* Blocks that differ, comparing only the leading fp16 scale of blocks whose
 * floats are all zero where zero_scale_only. */
static int blocks_differ(enum em_type ty, const float *x, const void *a, const void *b, int64_t nblocks,
                         int zero_scale_only, int *first) {
    const size_t bb = em_type_block_bytes(ty);
    int bad = 0;
    for (int64_t i = 0; i < nblocks; i++) {
        size_t cmp = bb;
        if (zero_scale_only) {
            int zero = 1;
            for (int j = 0; j < 32; j++) zero &= x[i * 32 + j] == 0.0f;
            if (zero) cmp = 2;
        }
        if (memcmp((const char *)a + i * bb, (const char *)b + i * bb, cmp) != 0 && !bad++) *first = (int)i;
    }
    return bad;
}

static void test_file_quantizers(void *base, const float *x) {
    quantize_chunk_fn chunk = (quantize_chunk_fn)sym(base, "ggml_quantize_chunk");
    if (!chunk) return;
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    const int64_t nb = (int64_t)NROWS * K / 32;
    char *mine = malloc(nb * 36), *theirs = malloc(nb * 36);
    float *fm = malloc(sizeof(float) * NROWS * K), *ft = malloc(sizeof(float) * NROWS * K);
    for (size_t t = 0; t < sizeof qtypes / sizeof qtypes[0]; t++) {
        const struct qtype *q = &qtypes[t];
        const char *tn = em_type_name(q->ty);
        int first = -1;
        /* what llama-quantize writes */
        memset(theirs, 0x5A, nb * 36);
        size_t nt = chunk((int)q->ty, x, theirs, 0, NROWS, K, NULL);
        size_t nm = cpu_quantize(q->ty, x, mine, NROWS, K);
        int bad = nt == nm ? blocks_differ(q->ty, x, mine, theirs, nb, 0, &first) : -1;
        CHECK(bad == 0, "%s: cpu_quantize and ggml_quantize_chunk: %zu and %zu bytes, %d of %lld blocks differ (first %d)",
              tn, nm, nt, bad, (long long)nb, first);
        /* quantize_row_*_ref */
        row_fn their_ref = (row_fn)sym(base, q->ref_name);
        if (their_ref) {
            their_ref(x, theirs, NROWS * K);
            q->ember_ref(x, mine, NROWS * K);
            bad = blocks_differ(q->ty, x, mine, theirs, nb, q->ty == EM_TYPE_IQ4_NL, &first);
            CHECK(bad == 0, "%s: Ember's _ref and %s: %d of %lld blocks differ (first %d)", tn, q->ref_name, bad,
                  (long long)nb, first);
        }
        /* dequantization, of the file quantizer's blocks */
        dequant_fn their_deq = (dequant_fn)sym(base, q->dequant_name);
        if (their_deq) {
            cpu_quantize(q->ty, x, mine, NROWS, K);
            ref.to_float[q->ty](mine, fm, NROWS * K);
            their_deq(mine, ft, NROWS * K);
            int diff = 0;
            for (int64_t i = 0; i < (int64_t)NROWS * K; i++) diff += memcmp(&fm[i], &ft[i], 4) != 0;
            CHECK(diff == 0, "%s: to_float and %s: %d of %d values differ", tn, q->dequant_name, diff, NROWS * K);
        }
        printf("ok %s: file quantizer, _ref and dequantization as llama.cpp's (%lld blocks)\n", tn, (long long)nb);
    }
    free(mine); free(theirs); free(fm); free(ft);
}

// ---- the CPU builds: activation quantizers, dots -------------------------------

struct dtype {
    enum em_type ty;
    const char *dot_name;
    int exact; /* the SIMD variants promise the CPU build's bits (cpu_quant_32_avx2.c) */
};

static const struct dtype dtypes[] = {
    {EM_TYPE_Q4_0, "ggml_vec_dot_q4_0_q8_0", 0}, {EM_TYPE_Q8_0, "ggml_vec_dot_q8_0_q8_0", 0},
    {EM_TYPE_Q4_1, "ggml_vec_dot_q4_1_q8_1", 1}, {EM_TYPE_Q5_0, "ggml_vec_dot_q5_0_q8_0", 1},
    {EM_TYPE_Q5_1, "ggml_vec_dot_q5_1_q8_1", 1}, {EM_TYPE_IQ4_NL, "ggml_vec_dot_iq4_nl_q8_0", 1},
    /* AVX2 sums as haswell's; AVX512_BF16's vdpbf16ps steps as zen4's */
    {EM_TYPE_BF16, "ggml_vec_dot_bf16", 1},
};

/* Ember's kernel table that pairs with a CPU build: the scalar reference
 * with the _generic dots, AVX2 with haswell, AVX-512 with AVX512_BF16 with
 * zen4 (whose build needs that extension). */
static void test_cpu_build(const char *variant, const char *isa, const float *x) {
    char lib[64];
    snprintf(lib, sizeof lib, "libggml-cpu-%s.so", variant);
    void *h = open_lib(lib);
    CHECK(h != NULL, "%s: %s", lib, dlerror());
    if (!h) return;
    void (*cpu_init)(void) = (void (*)(void))dlsym(h, "ggml_cpu_init");
    if (cpu_init) cpu_init();
    cpu_kernels ref, var;
    cpu_kernels_init_ref(&ref);
    if (cpu_kernels_init_isa(&var, isa) != 0) { printf("skip %s: Ember has no %s here\n", variant, isa); return; }

    const int64_t n = (int64_t)NROWS * K, nb = n / 32;
    char *a = malloc(n * 2), *b = malloc(n * 2); /* BF16 rows; the 32-value blocks take at most 36 bytes */
    /* activation quantizers */
    static const struct { enum em_type ty; const char *name; } acts[] = {
        {EM_TYPE_Q8_0, "quantize_row_q8_0"}, {EM_TYPE_Q8_1, "quantize_row_q8_1"}};
    for (int i = 0; i < 2; i++) {
        row_fn theirs = (row_fn)sym(h, acts[i].name);
        if (!theirs) continue;
        int first = -1;
        theirs(x, a, n);
        var.from_float[acts[i].ty](x, b, n);
        int bad = blocks_differ(acts[i].ty, x, a, b, nb, 0, &first);
        CHECK(bad == 0, "%s %s: from_float and %s's %s: %d of %lld blocks differ (first %d)", isa,
              em_type_name(acts[i].ty), variant, acts[i].name, bad, (long long)nb, first);
    }

    /* dots: each weight row against each activation row, several lengths */
    float *y = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) y[i] = x[(i * 7919) % n]; /* another order of the same kinds of blocks */
    for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++) {
        const struct dtype *d = &dtypes[t];
        char gname[64];
        snprintf(gname, sizeof gname, "%s_generic", d->dot_name);
        vec_dot_fn theirs = (vec_dot_fn)sym(h, d->dot_name), generic = (vec_dot_fn)dlsym(h, gname);
        if (!theirs) continue;
        const enum em_type dt = ref.dot_type[d->ty];
        cpu_quantize(d->ty, x, a, NROWS, K);
        ref.from_float[dt](y, b, n);
        const size_t wrb = em_row_bytes(d->ty, K), xrb = em_row_bytes(dt, K);
        int cases = 0, bad_var = 0, bad_gen = 0, same_var = 0, same_gen = 0;
        double worst_var = 0, worst_gen = 0;
        float *wf = malloc(sizeof(float) * K), *xf = malloc(sizeof(float) * K);
        for (int r = 0; r < NROWS; r++)
            for (int c = 0; c < NROWS; c++)
                for (int len = 32; len <= K; len = len * 3 + 32) {
                    const char *w = a + r * wrb, *xq = b + c * xrb;
                    ref.to_float[d->ty](w, wf, len);
                    ref.to_float[dt](xq, xf, len);
                    double mag = 0;
                    for (int i = 0; i < len; i++) mag += fabs((double)wf[i] * xf[i]);
                    const double tol = 1e-5 * mag + 1e-30;
                    float s_t = 0, s_g = 0;
                    theirs(len, &s_t, 0, w, 0, xq, 0, 1);
                    const float s_v = var.vec_dot[d->ty](len, w, xq), s_r = ref.vec_dot[d->ty](len, w, xq);
                    cases++;
                    same_var += memcmp(&s_t, &s_v, 4) == 0;
                    bad_var += !(fabs(s_t - s_v) <= tol);
                    if (fabs(s_t - s_v) / (mag + 1e-30) > worst_var) worst_var = fabs(s_t - s_v) / (mag + 1e-30);
                    if (generic) {
                        generic(len, &s_g, 0, w, 0, xq, 0, 1);
                        same_gen += memcmp(&s_g, &s_r, 4) == 0;
                        bad_gen += !(fabs(s_g - s_r) <= tol);
                        if (fabs(s_g - s_r) / (mag + 1e-30) > worst_gen) worst_gen = fabs(s_g - s_r) / (mag + 1e-30);
                    }
                }
        free(wf);
        free(xf);
        CHECK(bad_var == 0 && bad_gen == 0, "%s %s dot: %d of %d off %s's, %d off its generic dot", isa,
              em_type_name(d->ty), bad_var, cases, variant, bad_gen);
        CHECK(!d->exact || strcmp(isa, "scalar") == 0 || same_var == cases,
              "%s %s dot: only %d of %d bit-identical to %s's, which it promises", isa, em_type_name(d->ty), same_var,
              cases, variant);
        printf("%s %s dot: %d of %d bit-identical to %s's %s (worst %.2g of the |products|); scalar: %d of %d to "
               "%s (worst %.2g)\n",
               isa, em_type_name(d->ty), same_var, cases, variant, d->dot_name, worst_var, same_gen, cases,
               generic ? gname : "(none)", worst_gen);
    }
    free(y); free(a); free(b);
}

/* The known-answer row of tests/test_kernels.c (test_known_blocks): the
 * same generator, and the FNV-1a hash of llama.cpp's blocks for it, which
 * that test holds cpu_quantize to where the peer is absent. */
static void kat_row(float *x, int n) {
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        const float v = (float)((int32_t)(s >> 8) - (1 << 23)) / (float)(1 << 23);
        x[i] = (i / 32) % 9 == 5 ? 0.0f : v * (float)(1 << ((i / 32) % 7)) / 64.0f;
    }
}

static uint32_t fnv1a(const void *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
    return h;
}

static void test_known_blocks(void *base) {
    quantize_chunk_fn chunk = (quantize_chunk_fn)sym(base, "ggml_quantize_chunk");
    if (!chunk) return;
    enum { KN = 64 * 32 };
    static float x[KN];
    static char q[64 * 36];
    kat_row(x, KN);
    static const struct { enum em_type ty; uint32_t hash; } want[] = {
        {EM_TYPE_Q4_0, 0x848eab81}, {EM_TYPE_Q4_1, 0x5ed78214}, {EM_TYPE_Q5_0, 0xa5137538},
        {EM_TYPE_Q5_1, 0xbe752831}, {EM_TYPE_IQ4_NL, 0x1da08a17}};
    for (int t = 0; t < 5; t++) {
        const size_t nbytes = chunk((int)want[t].ty, x, q, 0, 1, KN, NULL);
        const uint32_t h = fnv1a(q, nbytes);
        printf("known blocks %s: llama.cpp's hash 0x%08x\n", em_type_name(want[t].ty), h);
        CHECK(h == want[t].hash, "%s: llama.cpp's blocks of the known-answer row hash to 0x%08x, test_kernels has 0x%08x",
              em_type_name(want[t].ty), h, want[t].hash);
    }
}

int main(void) {
    void *base = open_lib("libggml-base.so");
    if (!base) {
        printf("skip: llama.cpp's ggml not found in %s (run scripts/setup.sh, or set EMBER_GGML_DIR): %s\n", peer_dir(),
               dlerror());
        return 77;
    }
    float *x = malloc(sizeof(float) * NROWS * K);
    fill(x);
    test_file_quantizers(base, x);
    test_known_blocks(base);
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        test_cpu_build("haswell", "scalar", x);
        test_cpu_build("haswell", "avx2", x);
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
        __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi"))
        test_cpu_build("zen4", "avx512-bf16", x);
#endif
    free(x);
    return CHECK_DONE();
}
