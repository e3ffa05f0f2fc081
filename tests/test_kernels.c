/* test_kernels.c - every CPU kernel variant against the scalar reference and
 * against naive double-precision products.
 *
 * For each variant this CPU runs (scalar, avx2, avx512, neon): to/from_float
 * against the reference (bit-exact for quantizers), vec_dot, and cpu_matmul on
 * shapes chosen to hit every tile remainder, with pools of 1, 2 and 3 threads.
 * The matmul reference uses the activations as the kernel sees them (rounded to
 * the dot type and back), so only summation order differs and the bound is
 * tight; a second, per-type NMSE bound checks against unrounded activations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_kernels.h"
#include "core/cpu/cpu_ops.h"

static int n_pass, n_fail;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond) n_pass++;                               \
        else {                                            \
            n_fail++;                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
            printf(__VA_ARGS__);                          \
            printf("\n");                                 \
        }                                                 \
    } while (0)

// ---- data -------------------------------------------------------------------

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float frand(void) { return (rnd() >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }

/* Values with a spread of magnitudes per block, like real weights. */
static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) {
        float blk = 0.25f + (float)((i / 32 * 7) % 13) / 4.0f;
        x[i] = scale * blk * (frand() + 0.3f * frand() * frand());
    }
}

static const enum em_type types[] = {EM_TYPE_F32,  EM_TYPE_F16,  EM_TYPE_BF16, EM_TYPE_Q8_0,   EM_TYPE_Q4_0,
                                     EM_TYPE_Q4_1, EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL, EM_TYPE_Q2_K,
                                     EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

/* The K-quants' rows are whole 256-value super-blocks. */
static int is_kquant(enum em_type t) { return em_type_block(t) == EM_QK_K; }

/* Weights with an offset (Q4_1, Q5_1) meet Q8_1 activations, whose s is
 * d * sum(q) rounded to fp16, and the kernels use that s for the offset's
 * share of each block (as llama.cpp's do), where a product of the
 * dequantized values has d * sum(q) itself. This is the difference, in
 * double: what a reference built from dequantized values must add. */
static double q8_1_s_rounding(enum em_type ty, const void *w, const void *xq, int64_t k) {
    if (ty != EM_TYPE_Q4_1 && ty != EM_TYPE_Q5_1) return 0;
    const em_block_q8_1 *y = xq;
    double e = 0;
    for (int64_t b = 0; b < k / 32; b++) {
        const em_fp16 m = ty == EM_TYPE_Q4_1 ? ((const em_block_q4_1 *)w)[b].m : ((const em_block_q5_1 *)w)[b].m;
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += y[b].qs[j];
        e += (double)em_fp16_to_fp32(m) * ((double)em_fp16_to_fp32(y[b].s) - (double)em_fp16_to_fp32(y[b].d) * sum);
    }
    return e;
}

// ---- fp16 / bf16 --------------------------------------------------------------

static void test_half_conversions(void) {
    /* every half survives fp16 -> fp32 -> fp16, NaNs stay NaN */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = em_fp16_to_fp32((em_fp16)h);
        int is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan ? !isnan(f) : em_fp32_to_fp16(f) != h) bad++;
    }
    CHECK(bad == 0, "fp16 round trip: %d of 65536 values wrong", bad);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = em_bf16_to_fp32((em_bf16)h);
        int is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        if (is_nan ? !isnan(f) : em_fp32_to_bf16(f) != h) bad++;
    }
    CHECK(bad == 0, "bf16 round trip: %d of 65536 values wrong", bad);

    static const struct { float f; em_fp16 h; } hc[] = {
        {1.0f, 0x3C00}, {-2.0f, 0xC000}, {65504.0f, 0x7BFF}, {65520.0f, 0x7C00}, /* rounds up to inf */
        {65519.0f, 0x7BFF}, {1e10f, 0x7C00}, {-INFINITY, 0xFC00}, {0x1p-24f, 0x0001}, /* smallest subnormal */
        {0x1p-25f, 0x0000}, {0x3p-25f, 0x0002}, /* subnormal ties to even */
        {0x1p-14f, 0x0400}, {0x1.ff8p-15f, 0x03FF}, {0x1.ffcp-15f, 0x0400}, /* largest subnormal; tie rounds up to min normal */
        {1.0f + 0x1p-11f, 0x3C00}, {1.0f + 0x3p-11f, 0x3C02}, /* ties to even */
        {1.0f + 0x1.01p-11f, 0x3C01}, {-0.0f, 0x8000},
    };
    for (size_t i = 0; i < sizeof hc / sizeof hc[0]; i++)
        CHECK(em_fp32_to_fp16(hc[i].f) == hc[i].h, "fp16(%a) = 0x%04x, want 0x%04x", hc[i].f,
              em_fp32_to_fp16(hc[i].f), hc[i].h);
    CHECK(isnan(em_fp16_to_fp32(em_fp32_to_fp16(NAN))), "fp16(nan) is not nan");
    CHECK(em_fp16_to_fp32(0x0001) == 0x1p-24f, "fp16 0x0001 -> %a", em_fp16_to_fp32(0x0001));
    CHECK(isinf(em_fp16_to_fp32(0x7C00)), "fp16 0x7c00 is not inf");

    static const struct { uint32_t f; em_bf16 h; } bc[] = {
        {0x3F800000, 0x3F80}, {0x3F808000, 0x3F80}, {0x3F818000, 0x3F82}, /* ties to even */
        {0x3F808001, 0x3F81}, {0x7F7FFFFF, 0x7F80}, /* max float rounds to inf */
        {0x7F800000, 0x7F80}, {0x00000001, 0x0000}, {0x00018000, 0x0002}, /* subnormals */
    };
    for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++)
        CHECK(em_fp32_to_bf16(em_fp32_from_bits(bc[i].f)) == bc[i].h, "bf16(0x%08x) = 0x%04x, want 0x%04x",
              bc[i].f, em_fp32_to_bf16(em_fp32_from_bits(bc[i].f)), bc[i].h);
    CHECK(isnan(em_bf16_to_fp32(em_fp32_to_bf16(NAN))), "bf16(nan) is not nan");
}

// ---- quantizer golden values ---------------------------------------------------

static void test_quantizer_semantics(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) / 4.0f; /* max |x| = 4 at j = 0: -4 */
    em_block_q4_0 b4;
    cpu_quantize_row_q4_0_ref(x, &b4, 32);
    CHECK(em_fp16_to_fp32(b4.d) == 0.5f, "q4_0 d = %g, want 0.5 (max -4 / -8)", em_fp16_to_fp32(b4.d));
    CHECK((b4.qs[0] & 15) == 0, "q4_0 q[0] = %d, want 0 (-8)", b4.qs[0] & 15);
    CHECK((b4.qs[15] >> 4) == 15, "q4_0 q[31] = %d, want 15 (clamped)", b4.qs[15] >> 4);
    em_block_q8_0 b8;
    for (int j = 0; j < 32; j++) x[j] = j == 5 ? 127.0f : (float)j + 0.5f;
    cpu_quantize_row_q8_0_ref(x, &b8, 32);
    CHECK(em_fp16_to_fp32(b8.d) == 1.0f && b8.qs[5] == 127, "q8_0 d = %g", em_fp16_to_fp32(b8.d));
    CHECK(b8.qs[0] == 1 && b8.qs[2] == 3, "q8_0 rounds half away from zero: %d %d", b8.qs[0], b8.qs[2]);
    /* activations: llama.cpp's runtime rounding, ties to even */
    for (int j = 0; j < 32; j++) x[j] = j == 5 ? 127.0f : (float)j + 0.5f;
    cpu_quantize_row_q8_0_act(x, &b8, 32);
    CHECK(b8.qs[0] == 0 && b8.qs[2] == 2 && b8.qs[3] == 4, "q8_0 activations round ties to even: %d %d %d",
          b8.qs[0], b8.qs[2], b8.qs[3]);
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    cpu_quantize_row_q8_0_ref(x, &b8, 32);
    CHECK(b8.d == 0 && b8.qs[7] == 0, "q8_0 of zeros");

    /* Q8_K (the K-quants' activations): the scale carries the sign of the
     * value of largest magnitude (-127 / max), ties round to even, and bsums
     * are the sums of each 16 values. With max = -127 the scale is 1. */
    float xk[256];
    em_block_q8_K bk;
    for (int j = 0; j < 256; j++) xk[j] = (float)(j % 7) - 2.5f; /* -2.5 .. 3.5 */
    xk[40] = -127.0f;
    cpu_quantize_row_q8_K(xk, &bk, 256);
    int sum0 = 0;
    for (int j = 0; j < 16; j++) sum0 += bk.qs[j];
    CHECK(bk.d == 1.0f && bk.qs[40] == -127, "q8_K d = %g, q[40] = %d", bk.d, bk.qs[40]);
    CHECK(bk.qs[0] == -2 && bk.qs[1] == -2 && bk.qs[2] == 0 && bk.qs[3] == 0 && bk.qs[6] == 4,
          "q8_K rounds ties to even: %d %d %d %d %d", bk.qs[0], bk.qs[1], bk.qs[2], bk.qs[3], bk.qs[6]);
    CHECK(bk.bsums[0] == sum0, "q8_K bsums[0] = %d, want %d", bk.bsums[0], sum0);
    xk[40] = 127.0f; /* largest positive: the scale flips sign, the values do not */
    cpu_quantize_row_q8_K(xk, &bk, 256);
    CHECK(bk.d == -1.0f && bk.qs[40] == -127 && bk.qs[6] == -4, "q8_K with a positive max: d = %g, q[40] = %d",
          bk.d, bk.qs[40]);
    memset(xk, 0, sizeof xk);
    cpu_quantize_row_q8_K(xk, &bk, 256);
    CHECK(bk.d == 0 && bk.qs[9] == 0 && bk.bsums[3] == 0, "q8_K of zeros");

    /* The K-quants of an all-zero super-block decode to zeros; a row of one
     * repeated positive value decodes to it within its format's step. */
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    static const enum em_type kts[] = {EM_TYPE_Q2_K, EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    for (int t = 0; t < 5; t++) {
        unsigned char blk[256];
        float back[256];
        memset(xk, 0, sizeof xk);
        ref.from_float[kts[t]](xk, blk, 256);
        ref.to_float[kts[t]](blk, back, 256);
        int bad = 0;
        for (int j = 0; j < 256; j++) bad += back[j] != 0.0f;
        CHECK(!bad, "%s of zeros: %d values decode nonzero", em_type_name(kts[t]), bad);
        for (int j = 0; j < 256; j++) xk[j] = 0.75f;
        ref.from_float[kts[t]](xk, blk, 256);
        ref.to_float[kts[t]](blk, back, 256);
        bad = 0;
        for (int j = 0; j < 256; j++) bad += fabsf(back[j] - 0.75f) > 0.75f / 8;
        CHECK(!bad, "%s of 0.75s: %d values decode off (first %g)", em_type_name(kts[t]), bad, back[0]);
    }
    /* the 32-value types on blocks they represent exactly: the scale, the
     * offset and every level known */
    float y[32];
    em_block_q4_1 b41;
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 16) - 4.0f; /* [-4, 11]: m = -4, d = 1 */
    cpu_quantize_row_q4_1_ref(x, &b41, 32);
    CHECK(em_fp16_to_fp32(b41.d) == 1.0f && em_fp16_to_fp32(b41.m) == -4.0f && b41.qs[3] == 0x33 && b41.qs[15] == 0xFF,
          "q4_1 d %g m %g qs[3] %02x qs[15] %02x", em_fp16_to_fp32(b41.d), em_fp16_to_fp32(b41.m), b41.qs[3], b41.qs[15]);
    ref.to_float[EM_TYPE_Q4_1](&b41, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0, "q4_1 of an exact block does not round trip");

    em_block_q5_0 b50;
    for (int j = 0; j < 32; j++) x[j] = (float)j - 16.0f; /* max |x| = 16 at j = 0: -16 -> d = 1, q = j */
    cpu_quantize_row_q5_0_ref(x, &b50, 32);
    CHECK(em_fp16_to_fp32(b50.d) == 1.0f && b50.qh[0] == 0 && b50.qh[1] == 0 && b50.qh[2] == 0xFF && b50.qh[3] == 0xFF &&
          b50.qs[1] == 0x11, "q5_0 d %g qh %02x%02x%02x%02x qs[1] %02x: want 1, ffff0000 (values 16-31 have the 5th bit), 11",
          em_fp16_to_fp32(b50.d), b50.qh[3], b50.qh[2], b50.qh[1], b50.qh[0], b50.qs[1]);
    ref.to_float[EM_TYPE_Q5_0](&b50, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0, "q5_0 of an exact block does not round trip");
    for (int j = 0; j < 32; j++) x[j] = 16.0f - (float)j; /* the largest positive: d = -1 */
    cpu_quantize_row_q5_0_ref(x, &b50, 32);
    ref.to_float[EM_TYPE_Q5_0](&b50, y, 32);
    CHECK(em_fp16_to_fp32(b50.d) == -1.0f && y[0] == 16.0f && y[31] == -15.0f, "q5_0 negative scale: d %g, %g .. %g",
          em_fp16_to_fp32(b50.d), y[0], y[31]);

    em_block_q5_1 b51;
    for (int j = 0; j < 32; j++) x[j] = 0.5f * (float)j + 1.0f; /* m = 1, d = 0.5 */
    cpu_quantize_row_q5_1_ref(x, &b51, 32);
    CHECK(em_fp16_to_fp32(b51.d) == 0.5f && em_fp16_to_fp32(b51.m) == 1.0f, "q5_1 d %g m %g", em_fp16_to_fp32(b51.d),
          em_fp16_to_fp32(b51.m));
    ref.to_float[EM_TYPE_Q5_1](&b51, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0, "q5_1 of an exact block does not round trip");

    /* IQ4_NL: a block on the table's levels times 1/4, every level present;
     * both the _ref and the file quantizer find the scale and the levels */
    static const int8_t lv[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    for (int j = 0; j < 32; j++) x[j] = 0.25f * lv[(j * 7) % 16];
    em_block_iq4_nl bnl;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) cpu_quantize_row_iq4_nl_ref(x, &bnl, 32);
        else cpu_quantize_row_iq4_nl(x, &bnl, 32);
        ref.to_float[EM_TYPE_IQ4_NL](&bnl, y, 32);
        CHECK(em_fp16_to_fp32(bnl.d) == 0.25f && memcmp(x, y, sizeof x) == 0, "iq4_nl %s: d %g, values %sexact",
              pass ? "file quantizer" : "_ref", em_fp16_to_fp32(bnl.d), memcmp(x, y, sizeof x) ? "not " : "");
    }
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    cpu_quantize_row_iq4_nl(x, &bnl, 32);
    CHECK(bnl.d == 0 && bnl.qs[0] == 0x88 && bnl.qs[15] == 0x88, "iq4_nl of zeros: d %04x qs %02x (want level 8, 1)",
          bnl.d, bnl.qs[0]);

    /* Q8_1 activations: the Q8_0 activation rounding, and s = d * sum(q) */
    for (int j = 0; j < 32; j++) x[j] = j == 5 ? 127.0f : (float)j + 0.5f;
    em_block_q8_1 b81;
    cpu_quantize_row_q8_1_act(x, &b81, 32);
    cpu_quantize_row_q8_0_act(x, &b8, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b81.qs[j];
    CHECK(memcmp(b81.qs, b8.qs, 32) == 0 && b81.d == b8.d && em_fp16_to_fp32(b81.s) == em_fp16_to_fp32(em_fp32_to_fp16((float)sum)),
          "q8_1 activations: qs as q8_0's, d %04x (q8_0 %04x), s %g for sum %d", b81.d, b8.d, em_fp16_to_fp32(b81.s), sum);
}

/* Known answers without the peer: the blocks cpu_quantize writes for a fixed
 * row (64 blocks, 7 magnitudes, zero blocks), by their FNV-1a hash, which
 * are llama.cpp's own: tests/kernels_peer.c hashes what llama.cpp's
 * ggml_quantize_chunk (llama-quantize's quantizer) writes for the same row
 * and holds it to these numbers. */
static void kat_row(float *x, int n) {
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        const float v = (float)((int32_t)(s >> 8) - (1 << 23)) / (float)(1 << 23);
        x[i] = (i / 32) % 9 == 5 ? 0.0f : v * (float)(1 << ((i / 32) % 7)) / 64.0f;
    }
}

static void test_known_blocks(void) {
    enum { KN = 64 * 32 };
    static float x[KN];
    static char q[64 * 36];
    kat_row(x, KN);
    static const struct { enum em_type ty; uint32_t hash; } want[] = {
        {EM_TYPE_Q4_0, 0x848eab81}, {EM_TYPE_Q4_1, 0x5ed78214}, {EM_TYPE_Q5_0, 0xa5137538},
        {EM_TYPE_Q5_1, 0xbe752831}, {EM_TYPE_IQ4_NL, 0x1da08a17}};
    for (int t = 0; t < 5; t++) {
        const size_t nbytes = cpu_quantize(want[t].ty, x, q, 1, KN);
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < nbytes; i++) h = (h ^ (uint8_t)q[i]) * 16777619u;
        CHECK(nbytes == em_row_bytes(want[t].ty, KN) && h == want[t].hash,
              "%s: blocks of the known-answer row hash to 0x%08x, llama.cpp's to 0x%08x", em_type_name(want[t].ty), h,
              want[t].hash);
    }
}

/* Quantize, dequantize: every value within its block's bound (how far
 * rounding to a level can move it, plus the fp16 rounding of the scale and
 * offset), over blocks of all kinds: wide and narrow ranges, one sign only,
 * constant, zero, a single outlier. */
static void test_round_trip(void) {
    static const enum em_type tys[] = {EM_TYPE_Q8_0, EM_TYPE_Q4_0, EM_TYPE_Q4_1, EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL};
    enum { NB = 600 };
    float *x = malloc(NB * 32 * 4), *y = malloc(NB * 32 * 4);
    void *q = malloc(NB * 36);
    for (int b = 0; b < NB; b++) {
        float *xb = x + b * 32;
        const float scale = powf(10.0f, (float)(b % 9) - 4.0f);
        for (int j = 0; j < 32; j++) {
            switch (b % 6) {
            case 0: xb[j] = scale * frand(); break;
            case 1: xb[j] = scale * (1.0f + 0.5f * frand()); break;          /* one sign */
            case 2: xb[j] = -scale * (2.0f + frand()); break;
            case 3: xb[j] = b % 12 == 3 ? scale : 0.0f; break;               /* constant or zero */
            case 4: xb[j] = j == b % 32 ? 40.0f * scale : scale * frand(); break; /* an outlier */
            default: xb[j] = scale * frand() * frand() * frand(); break;    /* most near zero */
            }
        }
    }
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    for (int t = 0; t < 6; t++) {
        const enum em_type ty = tys[t];
        const size_t bb = em_type_block_bytes(ty);
        cpu_quantize(ty, x, q, 1, NB * 32);
        ref.to_float[ty](q, y, NB * 32);
        int bad = 0;
        char first[160] = "";
        for (int b = 0; b < NB; b++) {
            const char *blk = (const char *)q + b * bb;
            const float d = fabsf(em_fp16_to_fp32(*(const em_fp16 *)blk));
            float amax = 0, m = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            if (ty == EM_TYPE_Q4_1 || ty == EM_TYPE_Q5_1) m = fabsf(em_fp16_to_fp32(((const em_fp16 *)blk)[1]));
            /* levels: half a step (a whole one where the far end clamps);
             * scale and offset: fp16 rounding (2^-11 relative) times the
             * largest level, plus fp16's smallest step */
            const double dd = fmax(d * 0x1p-11, 0x1p-25), dm = fmax(m * 0x1p-11, 0x1p-25);
            double lim;
            switch (ty) {
            case EM_TYPE_Q8_0: lim = 0.5 * d + 127 * dd; break;
            case EM_TYPE_Q4_0: lim = 1.0 * d + 8 * dd; break;
            case EM_TYPE_Q5_0: lim = 1.0 * d + 16 * dd; break;
            case EM_TYPE_Q4_1: lim = 0.5 * d + 15 * dd + dm; break;
            case EM_TYPE_Q5_1: lim = 0.5 * d + 31 * dd + dm; break;
            /* the widest gap between levels is 24 (89 to 113), and the fitted
             * scale may leave the largest value a little past the end */
            default: lim = 12.0 * d + 127 * dd + 0.03 * amax; break;
            }
            lim = lim * 1.0001 + 1e-6 * amax;
            for (int j = 0; j < 32; j++) {
                const float e = fabsf(y[b * 32 + j] - x[b * 32 + j]);
                if (!(e <= lim) && !bad++)
                    snprintf(first, sizeof first, "block %d value %d: %g -> %g (d %g, bound %g)", b, j, x[b * 32 + j],
                             y[b * 32 + j], d, lim);
            }
        }
        CHECK(!bad, "%s round trip: %d values past their bound, first %s", em_type_name(ty), bad, first);
    }
    free(x); free(y); free(q);
}

// ---- one variant: conversions and dots -------------------------------------------

static void test_rows(const cpu_kernels *ref, const cpu_kernels *v) {
    const int64_t n_max = 256 * 5; /* 37 blocks of 32 (an odd count), 5 super-blocks of 256 */
    float *x = malloc(n_max * 4), *y = malloc(n_max * 4), *z = malloc(n_max * 4);
    void *a = malloc(n_max * 4), *b = malloc(n_max * 4), *c = malloc(n_max * 4);
    fill(x, n_max, 3.0f);
    /* specials for the float formats: subnormals, overflow, ties, zeros */
    float specials[] = {0x1p-24f, 0x3p-25f, -0x1p-20f, 65520.0f, -1e9f, 1.0f + 0x1p-11f, 0.0f, -0.0f,
                        0x1p-130f, 1.0f + 0x1p-8f, 3.0e38f, -7.5f};
    float *xs = malloc(n_max * 4);
    memcpy(xs, x, n_max * 4);
    for (int i = 0; i < 12; i++) xs[i * 97] = specials[i];
    for (int i = 64; i < 96; i++) x[i] = 0.0f; /* a zero block: d = 0 */
    for (int i = 768; i < 1024; i++) x[i] = 0.0f; /* a zero super-block */
    for (int i = 1024 + 32; i < 1024 + 64; i++) x[i] = 0.0f; /* a zero sub-block */
    for (int i = 1024 + 96; i < 1024 + 112; i++) x[i] = 0.5f; /* a constant one */

    /* Q8_1, the activations of Q4_1 and Q5_1, as the reference makes it
     * (a zero block, the specials, every tail length) */
    int bad81 = 0, cases81 = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t len = 32; len <= 32 * 37; len += 32 * 4, cases81++) {
            ref->from_float[EM_TYPE_Q8_1](pass ? xs : x, a, len);
            v->from_float[EM_TYPE_Q8_1](pass ? xs : x, b, len);
            bad81 += memcmp(a, b, em_row_bytes(EM_TYPE_Q8_1, len)) != 0;
        }
    CHECK(!bad81, "%s q8_1 from_float: %d of %d rows differ from the reference", v->isa, bad81, cases81);
    /* Q8_K, the K-quants' activations, likewise: a zero super-block, the
     * specials, infinities and NaNs, and maxima of both signs (the first
     * sets the sign of the scale) */
    float *xk = malloc(n_max * 4);
    memcpy(xk, xs, n_max * 4);
    xk[3] = -100.0f, xk[5] = xk[40] = 100.0f;               /* -max first */
    xk[512 + 1] = 100.0f, xk[512 + 6] = xk[512 + 200] = -100.0f; /* +max first */
    xk[1024 + 5] = INFINITY, xk[1024 + 9] = NAN;   /* an infinity */
    xk[256 + 100] = NAN;                           /* a NaN among finite values */
    int bad8k = 0, cases8k = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int64_t len = 256; len <= n_max; len += 256, cases8k++) {
            const float *src = pass == 0 ? x : pass == 1 ? xs : xk;
            ref->from_float[EM_TYPE_Q8_K](src, a, len);
            v->from_float[EM_TYPE_Q8_K](src, b, len);
            bad8k += memcmp(a, b, em_row_bytes(EM_TYPE_Q8_K, len)) != 0;
        }
    CHECK(!bad8k, "%s q8_K from_float: %d of %d rows differ from the reference", v->isa, bad8k, cases8k);
    free(xk);
    for (int t = 0; t < N_TYPES; t++) {
        enum em_type ty = types[t];
        const char *tn = em_type_name(ty);
        const int64_t n = is_kquant(ty) ? 256 * 5 : 32 * 37;
        const float *src = (ty == EM_TYPE_F16 || ty == EM_TYPE_BF16) ? xs : x;
        size_t rb = em_row_bytes(ty, n);
        ref->from_float[ty](src, a, n);
        v->from_float[ty](src, b, n);
        int same = memcmp(a, b, rb) == 0;
        CHECK(same, "%s %s from_float differs from reference", v->isa, tn);
        /* odd lengths (whole blocks) through the variant's tails */
        for (int64_t len = em_type_block(ty); len <= 256; len += em_type_block(ty) * 3) {
            ref->from_float[ty](src + 5 * 32, a, len);
            v->from_float[ty](src + 5 * 32, b, len);
            if (memcmp(a, b, em_row_bytes(ty, len)) != 0) {
                CHECK(0, "%s %s from_float(len %lld) differs", v->isa, tn, (long long)len);
                break;
            }
        }
        ref->from_float[ty](x, a, n);
        ref->to_float[ty](a, y, n);
        v->to_float[ty](a, z, n);
        CHECK(memcmp(y, z, n * 4) == 0, "%s %s to_float differs from reference", v->isa, tn);
        /* round trip error within the format's resolution */
        double e = 0, s = 0;
        for (int64_t i = 0; i < n; i++) { e += (y[i] - x[i]) * (double)(y[i] - x[i]); s += x[i] * (double)x[i]; }
        double lim = ty == EM_TYPE_F32 ? 0 : ty == EM_TYPE_F16 ? 1e-7 : ty == EM_TYPE_BF16 ? 1e-5
                   : ty == EM_TYPE_Q8_0 ? 1e-4 : ty == EM_TYPE_Q6_K ? 4e-4 : ty == EM_TYPE_Q5_K ? 1.5e-3
                   : ty == EM_TYPE_Q4_K ? 6e-3 : ty == EM_TYPE_Q3_K ? 3e-2 : ty == EM_TYPE_Q2_K ? 0.1
                   : ty == EM_TYPE_Q5_0 || ty == EM_TYPE_Q5_1 ? 3e-3 : 1e-2;
        CHECK(e / s <= lim, "%s %s round trip NMSE %g > %g", v->isa, tn, e / s, lim);

        /* vec_dot on a few lengths, against the reference dot */
        enum em_type dt = ref->dot_type[ty];
        fill(z, n, 1.0f);
        ref->from_float[dt](z, c, n);
        const int64_t blk = em_type_block(ty) > 32 ? em_type_block(ty) : 32;
        for (int64_t len = blk; len <= n; len = len * 2 + blk) {
            float r = ref->vec_dot[ty](len, a, c), q = v->vec_dot[ty](len, a, c);
            double mag = 0;
            float *wa = malloc(len * 4), *wb = malloc(len * 4);
            ref->to_float[ty](a, wa, len);
            ref->to_float[dt](c, wb, len);
            for (int64_t i = 0; i < len; i++) mag += fabs((double)wa[i] * wb[i]);
            free(wa);
            free(wb);
            CHECK(fabs(r - q) <= 1e-5 * mag + 1e-30, "%s %s vec_dot(%lld) = %.9g, reference %.9g", v->isa, tn,
                  (long long)len, q, r);
            /* and the reference against the dequantized values' product in double */
            double want = q8_1_s_rounding(ty, a, c, len);
            float *da = malloc(len * 4), *db = malloc(len * 4);
            ref->to_float[ty](a, da, len);
            ref->to_float[dt](c, db, len);
            for (int64_t i = 0; i < len; i++) want += (double)da[i] * db[i];
            free(da);
            free(db);
            CHECK(fabs(r - want) <= 1e-5 * mag + 1e-30, "%s reference vec_dot(%lld) = %.9g, dequantized values give %.9g",
                  tn, (long long)len, r, want);
        }
    }
    free(x); free(y); free(z); free(a); free(b); free(c); free(xs);
}

/* vec_dot_rows: every row's score bit for bit the variant's own vec_dot
 * (a decode step's scores and products must round as the single-row dots
 * do), over lengths with and without leftovers past n & ~63, longer than
 * the widened query, and row counts around the batch of 16. */
static void test_dot_rows(const cpu_kernels *v) {
    static const enum em_type tys[] = {EM_TYPE_F32, EM_TYPE_F16, EM_TYPE_Q8_0, EM_TYPE_Q4_0, EM_TYPE_IQ4_NL};
    static const int64_t ns[] = {32, 64, 80, 128, 200, 256, 320};
    /* 32-value blocks: an odd block count (a block past the pairs), a
     * decode step's 576 and 1536, and more blocks than the kernels prepare
     * the activations of (Q8_0 64 pairs, Q4_0 and IQ4_NL 128) */
    static const int64_t ns_q[] = {32, 96, 576, 1536, 4160, 8224, 8256};
    static const int64_t rs[] = {1, 15, 16, 17, 40};
    for (int a = 0; a < 5; a++) {
        const enum em_type ty = tys[a], dt = v->dot_type[ty];
        const int blocks = em_type_block(ty) == 32;
        if (!v->vec_dot_rows[ty]) continue;
        for (int b = 0; b < 7; b++)
            for (int c = 0; c < 5; c++) {
                const int64_t n = blocks ? ns_q[b] : ns[b], nrows = rs[c];
                const int64_t pad = blocks ? 32 : 8; /* rows longer than n, whole blocks */
                const size_t stride = em_row_bytes(ty, n + pad);
                char *rows = malloc(stride * (size_t)nrows), *x = malloc(em_row_bytes(dt, n));
                float *f = malloc((size_t)(n + pad) * sizeof(float)), *out = malloc((size_t)nrows * sizeof(float));
                for (int64_t r = 0; r < nrows; r++) {
                    fill(f, n + pad, 1.0f);
                    v->from_float[ty](f, rows + (size_t)r * stride, n + pad);
                }
                fill(f, n, 1.0f);
                for (int64_t i = 0; i < n; i += 97) f[i] *= 40.0f; /* spikes: blocks of small bytes beside 127 */
                v->from_float[dt](f, x, n);
                v->vec_dot_rows[ty](n, rows, stride, nrows, x, out);
                int bad = 0;
                for (int64_t r = 0; r < nrows; r++) bad += out[r] != v->vec_dot[ty](n, rows + (size_t)r * stride, x);
                CHECK(!bad, "%s %s vec_dot_rows n=%lld rows=%lld: %d rows not vec_dot's", v->isa, em_type_name(ty),
                      (long long)n, (long long)nrows, bad);
                free(rows); free(x); free(f); free(out);
            }
    }
}

// ---- attention and activation rows --------------------------------------------------

/* Relative distance in units of the float's last place. */
static double ulps(float got, double want) {
    if (want == 0) return got == 0 ? 0 : 1e30;
    int e;
    frexp(want, &e);
    return fabs(got - want) / ldexp(1.0, e - 24);
}

/* softmax_exp against exp in double: llama.cpp's SIMD exp is within ~2 ulp
 * (1.45 ulp by its authors' bound, plus the result's rounding), and it must give exactly 0 for -inf
 * (the padding of the attention's scores) and for arguments below -104; the
 * sum is the double sum of the values returned. swiglu likewise, and
 * attn_pv within float summation error of a double reference. */
static void test_attention_rows(const cpu_kernels *v) {
    enum { N = 4096 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *u = malloc(N * 4);
    for (int i = 0; i < N; i++) x[i] = -120.0f * (float)i / N + 0.01f * frand(); /* [-120, 0], all exp paths */
    x[0] = 0.0f;
    for (int i = N - 64; i < N; i++) x[i] = -INFINITY;
    double sum = v->softmax_exp(N, y, x, 0.0f), sum_y = 0, worst = 0;
    int bad = 0;
    for (int i = 0; i < N; i++) {
        sum_y += y[i];
        const double want = exp((double)x[i]);
        if (x[i] < -104.0f) { bad += y[i] != 0.0f && y[i] > 1e-44f; continue; }
        if (want < 0x1p-126) { bad += fabs(y[i] - want) > 0x1p-149 * 2; continue; } /* subnormal results */
        const double e = ulps(y[i], want);
        if (e > worst) worst = e;
    }
    CHECK(!bad && worst <= 2.5, "%s softmax_exp: %d bad values, worst %.2f ulp", v->isa, bad, worst);
    /* the sum is of float partial sums (per vector, as ggml's): float-close */
    CHECK(fabs(sum - sum_y) <= 1e-6 * sum_y, "%s softmax_exp sum %.17g, values sum to %.17g", v->isa, sum, sum_y);
    v->softmax_exp(N - 64, y, x, -3.0f);
    CHECK(fabs(y[0] - exp(3.0)) <= 3e-7 * exp(3.0), "%s softmax_exp with max -3: y[0] = %g", v->isa, y[0]);

    /* scale_max: the reference's bits and max for every length up to 70
     * (vector bodies and tails), the max placed anywhere, NaNs skipped */
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    for (int n = 0; n <= 70; n++) {
        for (int pos = 0; pos < (n ? n : 1); pos += 5) {
            float a[70], b[70];
            for (int i = 0; i < n; i++) a[i] = b[i] = -50.0f + 10.0f * frand();
            if (n) a[pos] = b[pos] = 1e3f + (float)pos;
            if (n > 3 && pos != n - 2) a[n - 2] = b[n - 2] = NAN;
            const float ma = v->scale_max(n, a, 0.125f), mb = ref.scale_max(n, b, 0.125f);
            const float want = n ? 0.125f * (1e3f + (float)pos) : -INFINITY;
            CHECK(memcmp(a, b, (size_t)n * sizeof(float)) == 0 && ma == want && mb == want,
                  "%s scale_max n=%d max at %d: %g, reference %g, want %g", v->isa, n, pos, ma, mb, want);
        }
    }

    /* softmax_row: every length up to 70 and a ViT row's 1024 and 1031
     * (vector bodies, tails), the max anywhere; each value within the exp's
     * 2.5 ulp of exp of the float argument fmaf(x, scale, -(scale * max))
     * (which the kernel must form: a max taken wrongly moves every value),
     * the sum within float summation's bound of the values'. */
    for (int n = 1; n <= 1031; n = n < 70 ? n + 1 : n < 1024 ? 1024 : n + 7) {
        for (int pos = 0; pos < n; pos += n < 70 ? 3 : 97) {
            for (int i = 0; i < n; i++) x[i] = y[i] = -60.0f + 50.0f * frand();
            x[pos] = y[pos] = 20.0f + 0.001f * (float)pos;
            const float scale = 0.125f, nb = -(scale * x[pos]);
            const float s = v->softmax_row(n, y, scale);
            double worst_r = 0, sum_r = 0;
            for (int i = 0; i < n; i++) {
                const double e = ulps(y[i], exp((double)fmaf(x[i], scale, nb)));
                if (e > worst_r) worst_r = e;
                sum_r += y[i];
            }
            CHECK(worst_r <= 2.5 && fabs(s - sum_r) <= n * 0x1p-24 * sum_r, /* positive terms: (n - 1) u */
                  "%s softmax_row n=%d max at %d: worst %.2f ulp, sum %g, values sum to %g", v->isa, n, pos, worst_r,
                  s, sum_r);
        }
    }

    for (int i = 0; i < N; i++) { x[i] = 100.0f * frand(); u[i] = frand(); }
    v->swiglu(N, y, x, u);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const double want = (double)x[i] / (1.0 + exp(-(double)x[i])) * u[i];
        const double e = fabs(want) < 1e-30 ? fabs(y[i]) * 1e30 : ulps(y[i], want);
        if (e > worst) worst = e;
    }
    CHECK(worst <= 4.0, "%s swiglu: worst %.2f ulp", v->isa, worst);

    /* gelu over [-20, 20] (both tails, the exp paths) and around 0. In the
     * negative tail the result is ~x e^z, and z's own float rounding (|z| ulp
     * of it) moves e^z by |z| ulp, in the reference's float formula too: the
     * error is counted in units of (1 + |z|) ulp. */
    for (int i = 0; i < N; i++) x[i] = i < N / 2 ? 40.0f * (float)i / (N / 2) - 20.0f : 0.5f * frand();
    v->gelu(N, y, x);
    worst = 0;
    for (int i = 0; i < N; i++) {
        const double xv = x[i], z = 2.0 * 0.7978845608028654 * (xv + 0.044715 * xv * xv * xv);
        const double want = xv / (1.0 + exp(-z));
        const double e = fabs(want) < 1e-30 ? fabs(y[i]) * 1e30 : ulps(y[i], want) / (1.0 + fabs(z));
        if (e > worst) worst = e;
    }
    CHECK(worst <= 4.0, "%s gelu: worst %.2f ulp per (1 + |z|)", v->isa, worst);
    free(x); free(y); free(u);
}

/* attn_pv(tiled = 0) is vec_dot over t of the transposed values, and
 * attn_pv(tiled = 1) the gemm tile's, both over the rows zero-padded to a
 * multiple of 256 (llama.cpp's padded cache): bit for bit, for every head
 * width and row count. Against a double reference for every variant. */
static void test_attn_pv(const cpu_kernels *v) {
    static const enum em_type vts[] = {EM_TYPE_F16, EM_TYPE_F32};
    /* 20: a tail past the vectors (AVX2's 8 columns, AVX-512's 16), which
     * AVX2 sums in place in its slots */
    static const int cols[] = {8, 20, 32, 64, 80};
    static const int64_t ns[] = {1, 7, 31, 64, 100, 257};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 5; b++)
            for (int c = 0; c < 6; c++) {
                const enum em_type vt = vts[a], dt = v->dot_type[vt];
                const int ncols = cols[b];
                const int64_t n = ns[c], npad = (n + 255) / 256 * 256;
                const size_t es = em_type_block_bytes(vt), stride = (size_t)(ncols + 3) * es;
                float *vf = malloc(n * (ncols + 3) * 4), *pf = malloc(npad * 4), *vt_f = calloc(npad, 4);
                void *vv = malloc(n * stride), *p = calloc(npad, 4), *vtr = calloc(npad, 4);
                float *out = malloc(ncols * 4), *work = malloc((size_t)v->pv_work * ncols * 4), tile_y;
                fill(vf, n * (ncols + 3), 1.0f);
                for (int64_t t = 0; t < n; t++) v->from_float[vt](vf + t * (ncols + 3), (char *)vv + t * stride, ncols + 3);
                for (int64_t t = 0; t < n; t++) pf[t] = (frand() + 1.0f) / (float)n;
                v->from_float[dt](pf, p, n);
                int bad_ref = 0, bad_dot = 0, bad_tile = 0;
                for (int tiled = 0; tiled < 2; tiled++) {
                    v->attn_pv(n, vv, stride, vt, p, ncols, out, work, tiled);
                    for (int d = 0; d < ncols; d++) {
                        double want = 0, mag = 0;
                        for (int64_t t = 0; t < n; t++) {
                            float vd, pd;
                            v->to_float[vt]((char *)vv + t * stride + d * es, &vd, 1);
                            v->to_float[dt]((char *)p + t * em_type_block_bytes(dt), &pd, 1);
                            want += (double)vd * pd;
                            mag += fabs((double)vd * pd);
                            vt_f[t] = vd;
                        }
                        bad_ref += !(fabs(out[d] - want) <= 2e-6 * mag + 1e-30);
                        if (v->pv_work == 1) continue; /* the reference sums in plain t order */
                        v->from_float[vt](vt_f, vtr, npad); /* column d, zeros past n */
                        if (!tiled) {
                            bad_dot += out[d] != v->vec_dot[vt](npad, vtr, p);
                        } else if (v->gemm[vt]) {
                            v->gemm[vt](npad, vtr, 0, 1, p, 0, 1, &tile_y, 1);
                            bad_tile += out[d] != tile_y;
                        }
                    }
                }
                CHECK(!bad_ref && !bad_dot && !bad_tile,
                      "%s attn_pv %s ncols=%d n=%lld: %d off the reference, %d not vec_dot's sum, %d not the tile's",
                      v->isa, em_type_name(vt), ncols, (long long)n, bad_ref, bad_dot, bad_tile);
                free(vf); free(pf); free(vt_f); free(vv); free(p); free(vtr); free(out); free(work);
            }
}

// ---- matmul -------------------------------------------------------------------------

struct mm_case {
    enum em_type ty;
    int64_t m, k, n;
    void *w;       /* m rows in type ty */
    float *x;      /* n x k */
    double *want;  /* n x m, activations rounded through the dot type */
    double *wabs;  /* n x m, sum of |w x| (error scale) */
    double *exact; /* n x m, unrounded activations */
};

static void mm_case_make(struct mm_case *c, const cpu_kernels *ref, enum em_type ty, int64_t m, int64_t k, int64_t n) {
    c->ty = ty; c->m = m; c->k = k; c->n = n;
    size_t rb = em_row_bytes(ty, k);
    float *wf = malloc(m * k * 4), *wq = malloc(m * k * 4), *xq = malloc(n * k * 4);
    c->w = malloc(rb * m);
    c->x = malloc(n * k * 4);
    c->want = malloc(n * m * 8);
    c->wabs = malloc(n * m * 8);
    c->exact = malloc(n * m * 8);
    fill(wf, m * k, 0.1f);
    fill(c->x, n * k, 1.0f);
    cpu_quantize(ty, wf, c->w, m, k);
    for (int64_t r = 0; r < m; r++) ref->to_float[ty]((char *)c->w + r * rb, wq + r * k, k);
    enum em_type dt = ref->dot_type[ty];
    const size_t xrb = em_row_bytes(dt, k);
    char *xb = malloc(xrb * n);
    for (int64_t i = 0; i < n; i++) {
        ref->from_float[dt](c->x + i * k, xb + i * xrb, k);
        ref->to_float[dt](xb + i * xrb, xq + i * k, k);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < m; r++) {
            double s = q8_1_s_rounding(ty, (char *)c->w + r * rb, xb + i * xrb, k), sa = 0, se = 0;
            for (int64_t j = 0; j < k; j++) {
                s += (double)wq[r * k + j] * xq[i * k + j];
                sa += fabs((double)wq[r * k + j] * xq[i * k + j]);
                se += (double)wq[r * k + j] * c->x[i * k + j];
            }
            c->want[i * m + r] = s;
            c->wabs[i * m + r] = sa;
            c->exact[i * m + r] = se;
        }
    free(wf); free(wq); free(xq); free(xb);
}

static void mm_case_free(struct mm_case *c) {
    free(c->w); free(c->x); free(c->want); free(c->wabs); free(c->exact);
}

static void mm_check(const struct mm_case *c, const cpu_kernels *v, em_pool *pool) {
    const int64_t ldy = c->m + 3;
    float *y = malloc((c->n * ldy) * 4);
    for (int64_t i = 0; i < c->n * ldy; i++) y[i] = 12345.0f;
    void *scratch = malloc(cpu_matmul_scratch(v, c->ty, c->k, c->n, pool ? em_pool_size(pool) : 1));
    cpu_matmul(v, pool, c->ty, c->w, em_row_bytes(c->ty, c->k), c->m, c->k, c->x, c->n, y, ldy, scratch);
    int bad = 0;
    double e = 0, s = 0;
    char first[200] = "";
    for (int64_t i = 0; i < c->n; i++) {
        for (int64_t r = 0; r < c->m; r++) {
            double got = y[i * ldy + r], want = c->want[i * c->m + r];
            if (!(fabs(got - want) <= 1e-5 * c->wabs[i * c->m + r] + 1e-30)) {
                if (!bad++) snprintf(first, sizeof first, "y[%lld][%lld] = %.9g, want %.9g", (long long)i, (long long)r, got, want);
            }
            double ex = c->exact[i * c->m + r];
            e += (got - ex) * (got - ex);
            /* scale: the output itself, or for outputs near zero by
             * cancellation, a typical sum of k such terms */
            s += ex * ex + c->wabs[i * c->m + r] * c->wabs[i * c->m + r] / (double)c->k;
        }
        for (int64_t r = c->m; r < ldy; r++)
            if (y[i * ldy + r] != 12345.0f && !bad++) snprintf(first, sizeof first, "wrote past m in row %lld", (long long)i);
    }
    const enum em_type ty = c->ty;
    /* F32: float sums of k products, whose rounding grows as k eps^2
     * against a cancelled output's scale (a single output of k = 1568 has
     * shown 1.5e-12); the others' limits are their types' own rounding */
    double lim = ty == EM_TYPE_F32 ? fmax(1e-12, 4.0 * (double)c->k * 0x1p-48)
               : ty == EM_TYPE_F16 ? 1e-6 : ty == EM_TYPE_BF16 ? 1e-4 : 1e-3;
    CHECK(!bad && e / s <= lim, "%s %s matmul m=%lld k=%lld n=%lld threads=%d: %d wrong (%s), NMSE %.3g (limit %g)",
          v->isa, em_type_name(ty), (long long)c->m, (long long)c->k, (long long)c->n, pool ? em_pool_size(pool) : 1,
          bad, first, e / s, lim);
    free(y);
    free(scratch);
}

/* A short prompt's products (2-7 activation rows) take tiles of several
 * shapes (AVX2: 4 x 2, 4 x 1, and 2 x 4 for each 4 rows), each output the
 * same steps in any of them: every output's bits must not depend on how
 * many rows came with it, or a prompt would round by its length. */
static void test_short_tiles(const cpu_kernels *v, em_pool *pool) {
    static const enum em_type tys[] = {EM_TYPE_Q8_0, EM_TYPE_Q4_0};
    const int64_t m = 13, k = 96, nmax = 7;
    float *w = malloc(sizeof(float) * (size_t)(m * k)), *x = malloc(sizeof(float) * (size_t)(nmax * k));
    float *y = malloc(sizeof(float) * (size_t)(nmax * m)), *r = malloc(sizeof(float) * (size_t)(nmax * m));
    char *q = malloc(em_row_bytes(EM_TYPE_Q8_0, k) * (size_t)m);
    if (!w || !x || !y || !r || !q) { CHECK(0, "short tiles: out of memory"); free(w); free(x); free(y); free(r); free(q); return; }
    fill(w, m * k, 1.0f);
    fill(x, nmax * k, 1.0f);
    for (int t = 0; t < 2; t++) {
        const enum em_type ty = tys[t];
        void *scratch = malloc(cpu_matmul_scratch(v, ty, k, nmax, pool ? em_pool_size(pool) : 1));
        if (!scratch) { CHECK(0, "short tiles: out of memory"); break; }
        v->from_float[ty](w, q, m * k);
        cpu_matmul(v, pool, ty, q, em_row_bytes(ty, k), m, k, x, nmax, r, m, scratch);
        int bad = 0;
        for (int64_t n = 2; n < nmax; n++) {
            cpu_matmul(v, pool, ty, q, em_row_bytes(ty, k), m, k, x, n, y, m, scratch);
            bad += memcmp(y, r, sizeof(float) * (size_t)(n * m)) != 0;
        }
        CHECK(!bad, "%s %s: the products of 2-6 activation rows differ from the same rows' among 7 in %d of 5 counts",
              v->isa, em_type_name(ty), bad);
        free(scratch);
    }
    free(w); free(x); free(y); free(r); free(q);
}

/* cpu_matmul_multi with 1..3 jobs of different m (the pattern of Q/K/V and
 * gate/up) must give exactly what one cpu_matmul per job gives: work items
 * span jobs, but each output is still one vec_dot or one gemm tile. */
static void test_matmul_multi(const cpu_kernels *v, enum em_type ty, em_pool *pool) {
    static const int64_t ms[3] = {13, 192, 64 + 5};
    static const int64_t ns[] = {1, 2, 5, 17};
    /* n = 17: n * k above OWN_CONVERT_MAX, the shared conversion */
    const int64_t k = is_kquant(ty) ? 512 : 288, ldy_pad = 3;
    const int nth = pool ? em_pool_size(pool) : 1;
    const size_t rb = em_row_bytes(ty, k);
    for (int nj = 1; nj <= 3; nj++)
        for (int ni = 0; ni < 4; ni++) {
            const int64_t n = ns[ni];
            float *x = malloc(n * k * 4);
            fill(x, n * k, 1.0f);
            void *scratch = malloc(cpu_matmul_scratch(v, ty, k, n, nth));
            cpu_matmul_job jobs[3];
            float *want[3];
            int bad = 0;
            for (int j = 0; j < nj; j++) {
                const int64_t m = ms[(j + ni) % 3], ldy = m + ldy_pad;
                float *wf = malloc(m * k * 4);
                fill(wf, m * k, 0.1f);
                void *w = malloc(rb * m);
                cpu_quantize(ty, wf, w, m, k);
                free(wf);
                want[j] = malloc(n * ldy * 4);
                float *y = malloc(n * ldy * 4);
                for (int64_t i = 0; i < n * ldy; i++) want[j][i] = y[i] = 12345.0f;
                cpu_matmul(v, pool, ty, w, rb, m, k, x, n, want[j], ldy, scratch);
                jobs[j] = (cpu_matmul_job){w, rb, m, y, ldy};
            }
            cpu_matmul_multi(v, pool, ty, jobs, nj, k, x, n, scratch);
            for (int j = 0; j < nj; j++) {
                if (memcmp(jobs[j].y, want[j], n * jobs[j].ldy * 4) != 0) bad++;
                free((void *)jobs[j].w);
                free(jobs[j].y);
                free(want[j]);
            }
            CHECK(!bad, "%s %s matmul_multi jobs=%d n=%lld threads=%d: %d jobs differ from cpu_matmul", v->isa,
                  em_type_name(ty), nj, (long long)n, nth, bad);
            free(x);
            free(scratch);
        }
}

/* cpu_attend_block (a prefill's queries of one key/value head at once) must
 * give exactly what cpu_attend_head gives query by query: causal lengths
 * that differ within the block, GQA groups, both cache types, caches whose
 * length is not a multiple of the tile, and queries at the end of the cache
 * or at its start (a prefill's first block, whose value product stops
 * long before the view's end). Only where the block form applies
 * (cpu_attend_block_fits): elsewhere the backend keeps cpu_attend_head. */
static void test_attend_block(const cpu_kernels *v) {
    static const enum em_type kts[2] = {EM_TYPE_F16, EM_TYPE_F32};
    static const int64_t n_kvs[] = {1, 17, 100, 300};
    const int head_dim = 64, n_head_kv = 2;
    for (int ti = 0; ti < 2; ti++)
        for (int gi = 0; gi < 2; gi++)
            for (int ni = 0; ni < 8; ni++) {
                const int at_start = ni >= 4;
                const enum em_type kt = kts[ti];
                const int group = gi ? 3 : 1, n_kv = (int)n_kvs[ni % 4];
                const int64_t n_q = n_kv < 7 ? n_kv + 1 : 7; /* the last n_q rows of the cache are the queries */
                if (!cpu_attend_block_fits(v, kt, head_dim, n_kv, n_q)) {
                    CHECK(!v->gemm[kt] || n_q == 1, "%s attend_block: refused a tiled shape", v->isa);
                    continue;
                }
                const size_t esz = kt == EM_TYPE_F16 ? 2 : 4, row = (size_t)n_head_kv * head_dim * esz;
                const int64_t gk = v->gemm_k[kt], n_pv = (n_kv + gk - 1) / gk * gk;
                char *kc = malloc(row * n_kv), *vc = malloc(row * n_kv), *vt = calloc(row * n_pv, 1);
                float *tmp = malloc(sizeof(float) * n_head_kv * head_dim);
                const int nq_max = (int)n_q * group;
                float *q = malloc(sizeof(float) * nq_max * head_dim), *want = malloc(sizeof(float) * nq_max * head_dim),
                      *got = malloc(sizeof(float) * nq_max * head_dim);
                float *work = aligned_alloc(64, ((cpu_attend_work(v, head_dim, n_kv) +
                                                  cpu_attend_block_work(v, head_dim, n_pv, nq_max)) * 4 + 63) & ~(size_t)63);
                for (int64_t t = 0; t < n_kv; t++) {
                    fill(tmp, n_head_kv * head_dim, 1.0f);
                    v->from_float[kt](tmp, kc + t * row, n_head_kv * head_dim);
                    fill(tmp, n_head_kv * head_dim, 1.0f);
                    v->from_float[kt](tmp, vc + t * row, n_head_kv * head_dim);
                }
                fill(q, nq_max * head_dim, 1.0f);
                int bad = 0;
                for (int hk = 0; hk < n_head_kv; hk++) {
                    for (int64_t t = 0; t < n_kv; t++)
                        for (int d = 0; d < head_dim; d++)
                            memcpy(vt + ((size_t)(hk * head_dim + d) * n_pv + t) * esz,
                                   vc + t * row + (size_t)(hk * head_dim + d) * esz, esz);
                    float *outs[64];
                    const float *qs[64];
                    int64_t nkv[64];
                    const size_t off = (size_t)hk * head_dim * esz;
                    for (int j = 0; j < nq_max; j++) {
                        /* query row i sees n_kv - n_q + i + 1 rows, or at the start i + 1 (at most all) */
                        const int64_t i = j / group;
                        nkv[j] = at_start ? (i + 1 < n_kv ? i + 1 : n_kv) : n_kv - n_q + i + 1;
                        qs[j] = q + (size_t)j * head_dim;
                        outs[j] = got + (size_t)j * head_dim;
                        cpu_attend_head(v, want + (size_t)j * head_dim, qs[j], kc + off, vc + off, kt, row, head_dim,
                                        nkv[j], 0.125f, n_q, work);
                    }
                    cpu_attend_block(v, outs, qs, nkv, nq_max, kc + off, vt + (size_t)hk * head_dim * n_pv * esz,
                                     n_pv * esz, kt, row, head_dim, n_pv, 0.125f, n_q, work);
                    if (memcmp(want, got, sizeof(float) * nq_max * head_dim) != 0) bad++;
                }
                CHECK(!bad, "%s attend_block %s group %d n_kv %d%s: %d of %d heads differ from cpu_attend_head", v->isa,
                      em_type_name(kt), group, n_kv, at_start ? " (queries at the start)" : "", bad, n_head_kv);
                free(kc); free(vc); free(vt); free(tmp); free(q); free(want); free(got); free(work);
            }
}

/* The F32 NN product: bit-identical to the reference (one fma chain per
 * output, over p in order), the reference within rounding of a double
 * product, and nothing written outside the m x n block of c (strides wider
 * than the rows, guard values around). Shapes hit every row and column
 * remainder of the tiles (6 rows; 16 or 32 columns). */
static void test_sgemm(const cpu_kernels *ref, const cpu_kernels *v) {
    static const int64_t ms[] = {1, 2, 5, 6, 7, 13, 24};
    static const int64_t ns[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100};
    static const int64_t ks[] = {1, 3, 64, 100};
    int bad_ref = 0, bad_exact = 0, bad_guard = 0, cases = 0;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 12; b++)
            for (int d = 0; d < 4; d++) {
                const int64_t m = ms[a], n = ns[b], k = ks[d], lda = k + 3, ldb = n + 5, ldc = n + 7;
                float *A = malloc(sizeof(float) * (size_t)(m * lda)), *B = malloc(sizeof(float) * (size_t)(k * ldb));
                float *C = malloc(sizeof(float) * (size_t)((m + 1) * ldc)), *R = malloc(sizeof(float) * (size_t)(m * ldc));
                if (!A || !B || !C || !R) { CHECK(0, "sgemm: out of memory"); return; }
                fill(A, m * lda, 1.0f);
                fill(B, k * ldb, 1.0f);
                for (int64_t i = 0; i < (m + 1) * ldc; i++) C[i] = 1234.5f;
                ref->sgemm(m, n, k, A, lda, B, ldb, R, ldc);
                v->sgemm(m, n, k, A, lda, B, ldb, C, ldc);
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < ldc; j++) {
                        if (j >= n) { bad_guard += C[i * ldc + j] != 1234.5f; continue; }
                        double want = 0, mag = 0;
                        for (int64_t p = 0; p < k; p++) {
                            want += (double)A[i * lda + p] * B[p * ldb + j];
                            mag += fabs((double)A[i * lda + p] * B[p * ldb + j]);
                        }
                        bad_ref += fabs(R[i * ldc + j] - want) > 1e-6 * mag + 1e-30;
                        bad_exact += memcmp(&C[i * ldc + j], &R[i * ldc + j], sizeof(float)) != 0;
                    }
                for (int64_t j = 0; j < ldc; j++) bad_guard += C[m * ldc + j] != 1234.5f;
                cases++;
                free(A), free(B), free(C), free(R);
            }
    CHECK(!bad_ref && !bad_exact && !bad_guard,
          "%s sgemm over %d shapes: %d outputs off the double product, %d not bit-identical to the reference, "
          "%d written outside the block", v->isa, cases, bad_ref, bad_exact, bad_guard);
}

/* The outer-product tile (gemm_fx): every output bit-identical to
 * cpu_gemm_fx_ref (one fma chain over k in order), that within rounding of a
 * double product, nothing written past nr columns or nc rows of y (guards
 * around a wider ldy), over row counts around the panel's width (32) and
 * 8-row transposes, activation counts around the 12-row tile, and lengths
 * with every tail of the 8-column transposes and more than one panel block
 * (1,024 columns). Then cpu_matmul, which rounds the
 * activations to F16 and splits the rows over threads, must give the same
 * bits at every n > 1, also in a cpu_matmul_multi. */
static void test_gemm_fx(const cpu_kernels *v, em_pool *pool) {
    static const int nrs[] = {1, 3, 8, 9, 15, 16, 17, 31, 32};
    static const int64_t ncs[] = {1, 2, 5, 6, 7, 11, 12, 13, 25};
    static const int64_t ks[] = {1, 7, 8, 13, 64, 576, 1031, 2100};
    const enum em_type ty = EM_TYPE_F16;
    if (!v->gemm_fx[ty]) return;
    CHECK(v->gemm_fx_rows[ty] >= 1 && v->gemm_fx_rows[ty] <= 32, "%s gemm_fx_rows %d", v->isa, v->gemm_fx_rows[ty]);
    int bad_ref = 0, bad_exact = 0, bad_guard = 0, cases = 0;
    for (size_t a = 0; a < sizeof nrs / sizeof nrs[0]; a++)
        for (size_t b = 0; b < sizeof ncs / sizeof ncs[0]; b++)
            for (size_t d = 0; d < sizeof ks / sizeof ks[0]; d++) {
                const int nr = nrs[a] < v->gemm_fx_rows[ty] ? nrs[a] : v->gemm_fx_rows[ty];
                const int64_t nc = ncs[b], k = ks[d], wst = k + 5, xst = k + 3, ldy = nr + 4;
                em_fp16 *w = malloc(sizeof(em_fp16) * (size_t)(nr * wst));
                float *x = malloc(sizeof(float) * (size_t)(nc * xst)), *f = malloc(sizeof(float) * (size_t)(nr * wst));
                float *y = malloc(sizeof(float) * (size_t)((nc + 1) * ldy)), *r = malloc(sizeof(float) * (size_t)(nc * ldy));
                if (!w || !x || !f || !y || !r) { CHECK(0, "gemm_fx: out of memory"); return; }
                fill(f, nr * wst, 0.1f);
                for (int64_t i = 0; i < nr * wst; i++) w[i] = em_fp32_to_fp16(f[i] - 0.05f);
                fill(x, nc * xst, 1.0f);
                for (int64_t i = 0; i < nc * xst; i++) x[i] -= 0.5f;
                for (int64_t i = 0; i < (nc + 1) * ldy; i++) y[i] = 1234.5f;
                cpu_gemm_fx_ref(k, w, wst * 2, nr, x, xst * 4, nc, r, ldy);
                v->gemm_fx[ty](k, w, wst * 2, nr, x, xst * 4, nc, y, ldy);
                for (int64_t c = 0; c < nc; c++)
                    for (int64_t j = 0; j < ldy; j++) {
                        if (j >= nr) { bad_guard += y[c * ldy + j] != 1234.5f; continue; }
                        double want = 0, mag = 0;
                        for (int64_t p = 0; p < k; p++) {
                            const double t = (double)em_fp16_to_fp32(w[j * wst + p]) * x[c * xst + p];
                            want += t, mag += fabs(t);
                        }
                        bad_ref += fabs(r[c * ldy + j] - want) > 1e-6 * mag + 1e-30;
                        bad_exact += memcmp(&y[c * ldy + j], &r[c * ldy + j], sizeof(float)) != 0;
                    }
                for (int64_t j = 0; j < ldy; j++) bad_guard += y[nc * ldy + j] != 1234.5f;
                cases++;
                free(w), free(x), free(f), free(y), free(r);
            }
    CHECK(!bad_ref && !bad_exact && !bad_guard,
          "%s f16 gemm_fx over %d shapes: %d outputs off the double product, %d not bit-identical to "
          "cpu_gemm_fx_ref, %d written outside the block", v->isa, cases, bad_ref, bad_exact, bad_guard);

    /* through cpu_matmul: rows 2 .. 70 of a 100 x 600 matrix, on the pool */
    const int64_t m = 100, k = 600, nmax = 70;
    em_fp16 *w = malloc(sizeof(em_fp16) * (size_t)(m * k));
    float *wf = malloc(sizeof(float) * (size_t)(m * k)), *x = malloc(sizeof(float) * (size_t)(nmax * k));
    float *xh = malloc(sizeof(float) * (size_t)(nmax * k));
    float *y = malloc(sizeof(float) * (size_t)(nmax * m)), *r = malloc(sizeof(float) * (size_t)(nmax * m));
    float *y2 = malloc(sizeof(float) * (size_t)(nmax * m));
    void *scratch = malloc(cpu_matmul_scratch(v, ty, k, nmax, pool ? em_pool_size(pool) : 1));
    if (!w || !xh || !wf || !x || !y || !r || !y2 || !scratch) { CHECK(0, "gemm_fx: out of memory"); return; }
    fill(wf, m * k, 0.1f);
    for (int64_t i = 0; i < m * k; i++) w[i] = em_fp32_to_fp16(wf[i] - 0.05f);
    fill(x, nmax * k, 1.0f);
    for (int64_t i = 0; i < nmax * k; i++) xh[i] = em_fp16_to_fp32(em_fp32_to_fp16(x[i]));
    cpu_gemm_fx_ref(k, w, k * 2, (int)m, xh, k * 4, nmax, r, m);
    int bad = 0, bad_multi = 0;
    static const int64_t ns[] = {2, 3, 12, 13, 70};
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
        cpu_matmul(v, pool, ty, w, k * 2, m, k, x, ns[t], y, m, scratch);
        bad += memcmp(y, r, sizeof(float) * (size_t)(ns[t] * m)) != 0;
        /* rows 0..39 and 40..99 as two jobs */
        const cpu_matmul_job jobs[2] = {{w, k * 2, 40, y2, m}, {w + 40 * k, k * 2, m - 40, y2 + 40, m}};
        cpu_matmul_multi(v, pool, ty, jobs, 2, k, x, ns[t], scratch);
        bad_multi += memcmp(y2, r, sizeof(float) * (size_t)(ns[t] * m)) != 0;
    }
    CHECK(!bad && !bad_multi, "%s f16 matmul through gemm_fx (threads=%d): %d of 5 row counts not cpu_gemm_fx_ref's "
          "bits, %d in two jobs", v->isa, pool ? em_pool_size(pool) : 1, bad, bad_multi);
    free(w), free(xh), free(wf), free(x), free(y), free(r), free(y2), free(scratch);
}

/* RoPE's rotation: the reference's bits for 1..70 pairs (every tail of the
 * SIMD steps), over angles across the circle. A swapped fma operand order
 * (x1's product fused instead of x0's) differs from it in some low bits. */
static void test_rope(const cpu_kernels *ref, const cpu_kernels *v) {
    int bad = 0;
    for (int n = 1; n <= 70; n++) {
        float x[140], y[140], cs[140];
        fill(x, 2 * n, 4.0f);
        memcpy(y, x, sizeof x);
        for (int i = 0; i < n; i++) {
            const float t = frand() * 3.14159265f * 4.0f;
            cs[2 * i] = cosf(t), cs[2 * i + 1] = sinf(t);
        }
        v->rope(n, x, cs);
        ref->rope(n, y, cs);
        bad += memcmp(x, y, sizeof(float) * 2 * (size_t)n) != 0;
    }
    CHECK(!bad, "%s rope: %d of 70 lengths differ from the reference", v->isa, bad);
}

/* The image resampler's row kernel (vision/resample.c): exact integer sums,
 * so every variant must give the reference's bytes, over lengths around the
 * 32-byte step and strided taps. Weights with absolute values summing to
 * just under 2.0 in the fixed point (the int32 bound the kernel states), of
 * random signs, so sums clamp at 0 and at 255 as well as fall between.
 * Nothing past n is written. */
static void test_resample_u8(const cpu_kernels *ref, const cpu_kernels *v) {
    enum { MAXN = 200, MAXT = 25, STRIDE = 211 };
    static uint8_t src[MAXT * STRIDE + 8];
    uint8_t a[MAXN + 8], b[MAXN + 8];
    int32_t k[MAXT];
    float r[MAXT];
    int bad = 0, cases = 0, clamped = 0;
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(frand() * 127.9f + 128.0f);
    for (int n = 1; n <= MAXN; n += (n < 70 ? 1 : 13))
        for (int taps = 1; taps <= MAXT; taps += 3) {
            float l1 = 0.0f;
            for (int t = 0; t < taps; t++) l1 += fabsf(r[t] = frand() + (cases % 3 ? 0.3f : 0.0f));
            for (int t = 0; t < taps; t++) k[t] = (int32_t)(r[t] / l1 * 0.999f * (float)(2 << CPU_RESAMPLE_BITS));
            memset(a, 0xAB, sizeof a);
            memset(b, 0xAB, sizeof b);
            v->resample_u8(n, a, src + (cases % 7), STRIDE, k, taps);
            ref->resample_u8(n, b, src + (cases % 7), STRIDE, k, taps);
            bad += memcmp(a, b, sizeof a) != 0;
            for (int i = 0; i < n; i++) clamped += b[i] == 0 || b[i] == 255;
            cases++;
        }
    CHECK(!bad, "%s resample_u8: %d of %d cases differ from the reference", v->isa, bad, cases);
    CHECK(clamped > 100, "%s resample_u8: the cases reach the clamp (%d outputs at 0 or 255)", v->isa, clamped);
}

/* The K-quants' gemm tiles promise each output the bits of vec_dot on its
 * row and column (so a prompt and the decode steps after it see one
 * product): checked over chunk remainders (1, 3 and 5 super-blocks), row
 * counts up to a tile (each of its vectors part full), and column counts
 * around the tile's cut-overs; and
 * that nothing is written past the nr rows of y. */
static void test_kquant_gemm(const cpu_kernels *v) {
    static const int64_t ks[] = {256, 768, 1280};
    static const int nrs[] = {1, 5, 16, 17, 32};
    static const int64_t ncs[] = {1, 2, 3, 4, 5, 8, 9};
    for (int t = 0; t < N_TYPES; t++) {
        const enum em_type ty = types[t];
        if (!is_kquant(ty) || !v->gemm[ty]) continue;
        const int R = v->gemm_rows[ty];
        int bad = 0, cases = 0;
        for (int a = 0; a < 3; a++) {
            const int64_t k = ks[a];
            const size_t rb = em_row_bytes(ty, k), xrb = em_row_bytes(v->dot_type[ty], k);
            float *f = malloc(sizeof(float) * (size_t)(k * 32));
            char *w = malloc(rb * 32), *x = malloc(xrb * 9);
            float *y = malloc(sizeof(float) * 9 * 36);
            if (!f || !w || !x || !y) { CHECK(0, "kquant gemm: out of memory"); return; }
            fill(f, k * 32, 0.1f);
            cpu_quantize(ty, f, w, 32, k);
            fill(f, k * 9, 1.0f);
            for (int c = 0; c < 9; c++) v->from_float[v->dot_type[ty]](f + c * k, x + c * xrb, k);
            for (int b = 0; b < 5; b++)
                for (int e = 0; e < (int)(sizeof ncs / sizeof ncs[0]); e++) {
                    const int nr = nrs[b] < R ? nrs[b] : R;
                    const int64_t nc = ncs[e], ldy = nr + 3;
                    for (int64_t i = 0; i < nc * ldy; i++) y[i] = 12345.0f;
                    v->gemm[ty](k, w, rb, nr, x, xrb, nc, y, ldy);
                    for (int64_t c = 0; c < nc; c++) {
                        for (int r = 0; r < nr; r++) {
                            const float want = v->vec_dot[ty](k, w + r * rb, x + c * xrb);
                            if (memcmp(&want, &y[c * ldy + r], sizeof want) != 0 && !bad++)
                                printf("  %s %s k=%lld nr=%d nc=%lld: y[%lld][%d] = %.9g, vec_dot %.9g\n", v->isa,
                                       em_type_name(ty), (long long)k, nr, (long long)nc, (long long)c, r,
                                       y[c * ldy + r], want);
                        }
                        for (int64_t r = nr; r < ldy; r++) bad += y[c * ldy + r] != 12345.0f;
                    }
                    cases++;
                }
            free(f); free(w); free(x); free(y);
        }
        CHECK(!bad, "%s %s gemm: %d outputs of %d cases not vec_dot's bits (or written past nr)", v->isa,
              em_type_name(ty), bad, cases);
    }
}

/* The NEON tiles of the newer block types take their dots' integers and
 * float steps (cpu_quant_neon.c), so a product of n > 1 activation rows
 * (cpu_matmul: the tiles, the 32-value types through the panel layout) must
 * give each output vec_dot's bits on the same quantized row: over row
 * counts around the tile's 4, activation counts around its 4, and lengths of
 * 1 to 5 blocks (K-quants: 1 and 3 super-blocks). */
static void test_neon_gemm_bits(const cpu_kernels *v) {
    static const enum em_type tys[] = {EM_TYPE_Q4_1, EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL, EM_TYPE_Q2_K,
                                       EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    static const int64_t ms[] = {1, 3, 4, 5, 9};
    static const int64_t ns[] = {2, 3, 4, 5, 9};
    if (strncmp(v->isa, "neon", 4) != 0) return;
    for (size_t t = 0; t < sizeof tys / sizeof tys[0]; t++) {
        const enum em_type ty = tys[t], dt = v->dot_type[ty];
        int bad = 0, cases = 0;
        CHECK(v->gemm[ty] != NULL, "%s %s: no gemm tile", v->isa, em_type_name(ty));
        for (int64_t k = is_kquant(ty) ? 256 : 32; k <= (is_kquant(ty) ? 768 : 160); k += is_kquant(ty) ? 512 : 32)
            for (int a = 0; a < 5; a++)
                for (int b = 0; b < 5; b++) {
                    const int64_t m = ms[a], n = ns[b];
                    const size_t rb = em_row_bytes(ty, k), xb = em_row_bytes(dt, k);
                    float *f = malloc(sizeof(float) * (size_t)(k * m));
                    char *w = malloc(rb * m), *xq = malloc(xb);
                    float *x = malloc(sizeof(float) * (size_t)(k * n)), *y = malloc(sizeof(float) * (size_t)(m * n));
                    void *scratch = malloc(cpu_matmul_scratch(v, ty, k, n, 1));
                    if (!f || !w || !xq || !x || !y || !scratch) { CHECK(0, "neon gemm bits: out of memory"); return; }
                    fill(f, k * m, 0.1f);
                    cpu_quantize(ty, f, w, m, k);
                    fill(x, k * n, 1.0f);
                    cpu_matmul(v, NULL, ty, w, rb, m, k, x, n, y, m, scratch);
                    for (int64_t c = 0; c < n; c++) {
                        v->from_float[dt](x + c * k, xq, k);
                        for (int64_t r = 0; r < m; r++) {
                            const float want = v->vec_dot[ty](k, w + r * rb, xq);
                            if (memcmp(&want, &y[c * m + r], sizeof want) != 0 && !bad++)
                                printf("  %s %s k=%lld m=%lld n=%lld: y[%lld][%lld] = %.9g, vec_dot %.9g\n", v->isa,
                                       em_type_name(ty), (long long)k, (long long)m, (long long)n, (long long)c,
                                       (long long)r, y[c * m + r], want);
                        }
                    }
                    cases++;
                    free(f); free(w); free(xq); free(x); free(y); free(scratch);
                }
        CHECK(!bad, "%s %s gemm: %d outputs of %d cases not vec_dot's bits", v->isa, em_type_name(ty), bad, cases);
    }
}

/* The x86 dots of Q4_1, Q5_0, Q5_1 and IQ4_NL promise llama.cpp's bits
 * (kernels_peer checks that against its library where installed), and
 * the K-quants' the K tiles' bits, so the AVX-512 ones, which make the integers
 * another way, must give the AVX2 ones' bits: over random blocks (with zero
 * and constant blocks, activations with spikes, so -128 among the Q8
 * bytes) and every length up to 40 blocks (K-quants: 12), odd ones through
 * IQ4_NL's tail. */
static void test_x86_dots_agree(const cpu_kernels *vars, int nv) {
    const cpu_kernels *a2 = NULL, *a5 = NULL;
    for (int i = 0; i < nv; i++) {
        if (strcmp(vars[i].isa, "avx2") == 0) a2 = &vars[i];
        if (strcmp(vars[i].isa, "avx512") == 0) a5 = &vars[i];
    }
    if (!a2 || !a5) return;
    static const enum em_type ts[] = {EM_TYPE_Q4_1, EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL,
                                      EM_TYPE_Q2_K, EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    const int64_t n = 256 * 12;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    char *a = malloc(n * 4), *b = malloc(n * 4);
    if (!x || !y || !a || !b) { CHECK(0, "x86 dots: out of memory"); free(x); free(y); free(a); free(b); return; }
    fill(x, n, 2.0f);
    fill(y, n, 1.0f);
    for (int i = 0; i < n; i++) y[i] = y[(i * 7919) % n] * (i % 97 == 0 ? 40.0f : 1.0f);
    for (int i = 96; i < 128; i++) x[i] = 0.0f;
    for (int i = 160; i < 192; i++) x[i] = -0.25f;
    for (int i = 512; i < 768; i++) x[i] = 0.0f; /* a whole K block */
    for (size_t t = 0; t < sizeof ts / sizeof ts[0]; t++) {
        const enum em_type ty = ts[t], dt = a2->dot_type[ty];
        const int64_t bs = em_type_block(ty), nmax = is_kquant(ty) ? n : 32 * 40;
        a2->from_float[ty](x, a, nmax);
        a2->from_float[dt](y, b, nmax);
        int bad = 0, cases = 0;
        for (int64_t len = bs; len <= nmax; len += bs)
            for (int off = 0; off < 3; off++, cases++) { /* rows starting at other blocks */
                const char *w = a + off * em_row_bytes(ty, bs), *v = b + off * em_row_bytes(dt, bs);
                const int64_t l = len - off * bs > 0 ? len - off * bs : bs;
                const float p = a2->vec_dot[ty](l, w, v), q = a5->vec_dot[ty](l, w, v);
                bad += memcmp(&p, &q, 4) != 0;
            }
        CHECK(!bad, "%s dot: avx512 differs from avx2 in %d of %d cases", em_type_name(ty), bad, cases);
    }
    free(x); free(y); free(a); free(b);
}

/* vdpbf16ps as Intel's manual defines it, one lane: the odd pair's product
 * added first, then the even one's, each step one fused rounding, inputs
 * and results below FLT_MIN read and written as zeros. */
static float daz(float v) { return fabsf(v) < 0x1p-126f ? copysignf(0.0f, v) : v; }
static float dp_lane(float acc, const em_bf16 *a, const em_bf16 *b) {
    acc = daz(fmaf(daz(em_bf16_to_fp32(a[1])), daz(em_bf16_to_fp32(b[1])), daz(acc)));
    return daz(fmaf(daz(em_bf16_to_fp32(a[0])), daz(em_bf16_to_fp32(b[0])), acc));
}
/* hsum16's tree: l_i + l_(i+8), + 4 on, then ((q0 + q2) + (q1 + q3)) */
static float hsum16_ref(const float *l) {
    float h[8], q[4];
    for (int i = 0; i < 8; i++) h[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++) q[i] = h[i] + h[i + 4];
    return (q[0] + q[2]) + (q[1] + q[3]);
}
/* The AVX512_BF16 variant promises llama.cpp's bits on such CPUs
 * (cpu_kernels_avx512.c): its dot is ggml_vec_dot_bf16's (two accumulators
 * over steps of 64, their sums added in double, the rest one by one in
 * double) and its tile tinyBLAS's (one accumulator per output over steps of
 * 32). Both against a scalar model of the instruction over lengths with
 * every kind of remainder, values from subnormal (which the instruction
 * reads as zero) to large; cpu_matmul's tiled products against the model
 * of the tile, over row and activation counts around the tile's 6 x 4.
 * (kernels_peer checks the dot against llama.cpp's own where installed.) */
static void test_bf16_dp(const cpu_kernels *v) {
    if (strcmp(v->isa, "avx512-bf16") != 0) return;
    const int64_t n_max = 28 * 768; /* the dots use the first 1600, the tiles up to 28 rows of 768 */
    float *f = malloc(sizeof(float) * n_max * 2);
    em_bf16 *a = malloc(sizeof(em_bf16) * n_max), *b = malloc(sizeof(em_bf16) * n_max);
    if (!f || !a || !b) { CHECK(0, "bf16 dp: out of memory"); return; }
    fill(f, n_max * 2, 2.0f);
    for (int64_t i = 0; i < n_max; i++) {
        a[i] = em_fp32_to_bf16(f[i] * (i % 11 == 0 ? 1e3f : 1.0f));
        b[i] = em_fp32_to_bf16(f[n_max + i]);
    }
    for (int64_t i = 5; i < n_max; i += 37) b[i] = em_fp32_to_bf16(0x1p-130f); /* a subnormal */
    for (int64_t i = 9; i < n_max; i += 41) a[i] = em_fp32_to_bf16(-0x1p-127f);
    int bad = 0, cases = 0;
    float l[16];
    for (int64_t n = 1; n <= 1600; n += n < 200 ? 1 : 97, cases++) {
        /* ggml_vec_dot_bf16: c1 over the first 32 of each 64, c2 over the second */
        const int64_t np = n & ~(int64_t)63;
        float l2[16];
        for (int j = 0; j < 16; j++) l[j] = l2[j] = 0.0f;
        for (int64_t i = 0; i < np; i += 64)
            for (int j = 0; j < 16; j++) {
                l[j] = dp_lane(l[j], a + i + 2 * j, b + i + 2 * j);
                l2[j] = dp_lane(l2[j], a + i + 32 + 2 * j, b + i + 32 + 2 * j);
            }
        double s = hsum16_ref(l);
        s += hsum16_ref(l2);
        for (int64_t i = np; i < n; i++) s += (double)(em_bf16_to_fp32(a[i]) * em_bf16_to_fp32(b[i]));
        const float want = (float)s, got = v->vec_dot[EM_TYPE_BF16](n, a, b);
        if (memcmp(&want, &got, 4) != 0 && !bad++)
            printf("  bf16 dot n=%lld: %.9g, the instruction's model %.9g\n", (long long)n, got, want);
    }
    CHECK(!bad, "avx512-bf16 dot: %d of %d lengths differ from the model of vdpbf16ps", bad, cases);
    CHECK(v->gemm_k[EM_TYPE_BF16] == 32, "avx512-bf16 gemm_k %d, tinyBLAS steps 32", v->gemm_k[EM_TYPE_BF16]);
    /* the tile, through cpu_matmul (which converts the float activations) */
    static const int64_t ms[] = {4, 8, 12, 24, 28}, ns[] = {2, 3, 4, 5, 9};
    static const int64_t ks[] = {32, 96, 768};
    bad = cases = 0;
    for (int ia = 0; ia < 5; ia++)
        for (int ib = 0; ib < 5; ib++)
            for (int ic = 0; ic < 3; ic++, cases++) {
                const int64_t m = ms[ia], n = ns[ib], k = ks[ic];
                float *x = malloc(sizeof(float) * n * k), *y = malloc(sizeof(float) * m * n);
                em_bf16 *xb = malloc(sizeof(em_bf16) * k);
                void *scratch = malloc(cpu_matmul_scratch(v, EM_TYPE_BF16, k, n, 1));
                if (!x || !y || !xb || !scratch) { CHECK(0, "bf16 dp: out of memory"); return; }
                fill(x, n * k, 1.0f);
                CHECK(cpu_gemm_fits(v, EM_TYPE_BF16, m, k, n), "bf16 %lld x %lld x %lld: not tiled", (long long)m,
                      (long long)k, (long long)n);
                cpu_matmul(v, NULL, EM_TYPE_BF16, a, (size_t)k * 2, m, k, x, n, y, m, scratch);
                for (int64_t c = 0; c < n; c++) {
                    for (int64_t i = 0; i < k; i++) xb[i] = em_fp32_to_bf16(x[c * k + i]);
                    for (int64_t r = 0; r < m; r++) {
                        float lt[16];
                        for (int j = 0; j < 16; j++) lt[j] = 0.0f;
                        for (int64_t i = 0; i < k; i += 32)
                            for (int j = 0; j < 16; j++) lt[j] = dp_lane(lt[j], a + r * k + i + 2 * j, xb + i + 2 * j);
                        const float want = hsum16_ref(lt);
                        if (memcmp(&want, &y[c * m + r], 4) != 0 && !bad++)
                            printf("  bf16 tile m=%lld k=%lld n=%lld: y[%lld][%lld] = %.9g, model %.9g\n", (long long)m,
                                   (long long)k, (long long)n, (long long)c, (long long)r, y[c * m + r], want);
                    }
                }
                free(x); free(y); free(xb); free(scratch);
            }
    CHECK(!bad, "avx512-bf16 gemm: %d outputs of %d cases differ from the model of tinyBLAS's tile", bad, cases);
    free(f); free(a); free(b);
}

/* Every SIMD variant has its own dot and gemm tile for the float types
 * and Q8_0 / Q4_0 (none falls back to the scalar loops), and converts to
 * bf16 as em_fp32_to_bf16 does, bit for bit, over the values a vector
 * rounding gets wrong first: ties both ways, carries into the exponent,
 * overflow to infinity, infinities, and NaNs (kept quiet NaNs). */
static void test_float_forms(const cpu_kernels *ref, const cpu_kernels *v) {
    static const enum em_type tys[] = {EM_TYPE_F32, EM_TYPE_F16, EM_TYPE_BF16, EM_TYPE_Q8_0, EM_TYPE_Q4_0};
    if (strcmp(v->isa, "scalar") != 0)
        for (size_t t = 0; t < sizeof tys / sizeof tys[0]; t++) {
            CHECK(v->vec_dot[tys[t]] != ref->vec_dot[tys[t]], "%s %s: vec_dot is the scalar one", v->isa,
                  em_type_name(tys[t]));
            CHECK(v->gemm[tys[t]] != NULL, "%s %s: no gemm tile", v->isa, em_type_name(tys[t]));
        }
    static const uint32_t bits[] = {0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0x3fffffffu, 0x7f7fffffu,
                                    0x7f7f8000u, 0xff7f8000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                                    0xffbfffffu, 0x00008000u, 0x80018000u, 0x00000000u, 0x80000000u, 0x3f800000u};
    enum { NB = sizeof bits / sizeof bits[0] };
    float x[NB];
    em_bf16 got[NB];
    for (int i = 0; i < NB; i++) x[i] = em_fp32_from_bits(bits[i]);
    v->from_float[EM_TYPE_BF16](x, got, NB);
    int bad = 0;
    for (int i = 0; i < NB; i++)
        if (got[i] != em_fp32_to_bf16(x[i]) && !bad++)
            printf("  %s bf16 of 0x%08x: 0x%04x, want 0x%04x\n", v->isa, (unsigned)bits[i], (unsigned)got[i],
                   (unsigned)em_fp32_to_bf16(x[i]));
    CHECK(!bad, "%s bf16 from_float: %d of %d special values differ from em_fp32_to_bf16", v->isa, bad, NB);
}

int main(void) {
    cpu_kernels ref, vars[6];
    int nv = 0;
    const char *isas[] = {"scalar", "avx2", "avx512", "avx512-bf16", "neon", "neon-dotprod"};
    cpu_kernels_init_ref(&ref);
    for (int i = 0; i < 6; i++) {
        if (cpu_kernels_init_isa(&vars[nv], isas[i]) == 0) nv++;
        else printf("skip %s (not available here)\n", isas[i]);
    }
    cpu_kernels dflt;
    cpu_kernels_init(&dflt);
    printf("default variant: %s\n", dflt.isa);

    test_half_conversions();
    test_quantizer_semantics();
    test_round_trip();
    test_known_blocks();
    for (int i = 0; i < nv; i++) test_rows(&ref, &vars[i]);
    for (int i = 0; i < nv; i++) test_float_forms(&ref, &vars[i]);
    for (int i = 0; i < nv; i++) test_attention_rows(&vars[i]);
    for (int i = 0; i < nv; i++) test_dot_rows(&vars[i]);
    for (int i = 0; i < nv; i++) test_attn_pv(&vars[i]);
    for (int i = 0; i < nv; i++) test_sgemm(&ref, &vars[i]);
    for (int i = 0; i < nv; i++) test_gemm_fx(&vars[i], NULL);
    for (int i = 0; i < nv; i++) test_attend_block(&vars[i]);
    for (int i = 0; i < nv; i++) test_rope(&ref, &vars[i]);
    for (int i = 0; i < nv; i++) test_resample_u8(&ref, &vars[i]);
    for (int i = 0; i < nv; i++) test_kquant_gemm(&vars[i]);
    for (int i = 0; i < nv; i++) test_neon_gemm_bits(&vars[i]);
    for (int i = 0; i < nv; i++) test_bf16_dp(&vars[i]);
    test_x86_dots_agree(vars, nv);

    char err[512];
    em_pool *pools[3];
    for (int t = 0; t < 3; t++) {
        pools[t] = em_pool_create(t + 1, err);
        if (!pools[t]) { printf("FAIL %s\n", err); return 1; }
    }
    static const int64_t ks[] = {32, 64, 96, 576, 1536 + 32};
    static const int64_t ks_k[] = {256, 768}; /* K-quants: one and three super-blocks */
    static const int64_t ms[] = {1, 3, 13, 24, 192, 577};
    /* the AVX2 signed tile (Q8_0 from 8 rows, IQ4_NL) takes 4 activation
     * rows: 17 and 33 end in 1, 26 in 2, 11 and 35 in 3; AVX-512's packed
     * tile (from 8 rows) 6: 8 and 26 end in 2, 33 in 3, 11, 17 and 35 in 5;
     * below 8 rows Q8_0 and Q4_0 take 2 (AVX2) or 4 (AVX-512) a tile */
    static const int64_t ns[] = {1, 2, 5, 8, 11, 17, 26, 33, 35};
    enum { NNS = sizeof ns / sizeof ns[0] };
    for (int t = 0; t < N_TYPES; t++)
        for (int a = 0; a < (is_kquant(types[t]) ? 2 : 5); a++)
            for (int b = 0; b < 6; b++)
                for (int c = 0; c < NNS; c++) {
                    const int64_t k = is_kquant(types[t]) ? ks_k[a] : ks[a];
                    struct mm_case mc;
                    mm_case_make(&mc, &ref, types[t], ms[b], k, ns[c]);
                    for (int i = 0; i < nv; i++)
                        for (int p = 0; p < 3; p++) {
                            /* the scalar variant is slow: one pool size for big shapes */
                            if (i == 0 && p != 1 && k * ms[b] * ns[c] > 1000000) continue;
                            mm_check(&mc, &vars[i], pools[p]);
                        }
                    mm_case_free(&mc);
                }
    /* Calls of several tiles (gemm_group) whose last tile is short: with
     * one thread, 10 tiles make work items of 2, the second cut. 56 rows:
     * the AVX-512 float tiles of 6; 149: the AVX2 block tiles of 16. */
    static const int64_t ms_group[] = {56, 149};
    for (int t = 0; t < N_TYPES; t++)
        for (int b = 0; b < 2 && !is_kquant(types[t]); b++) {
            struct mm_case mc;
            mm_case_make(&mc, &ref, types[t], ms_group[b], 96, 11);
            for (int i = 0; i < nv; i++) mm_check(&mc, &vars[i], pools[0]);
            mm_case_free(&mc);
        }
    for (int t = 0; t < N_TYPES; t++)
        for (int i = 0; i < nv; i++)
            for (int p = 0; p < 3; p++) test_matmul_multi(&vars[i], types[t], pools[p]);
    for (int i = 0; i < nv; i++) test_short_tiles(&vars[i], pools[1]);
    for (int t = 0; t < N_TYPES; t++) test_matmul_multi(&dflt, types[t], NULL);
    for (int i = 0; i < nv; i++)
        for (int p = 1; p < 3; p++) test_gemm_fx(&vars[i], pools[p]);
    for (int t = 0; t < 3; t++) em_pool_free(pools[t]);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
