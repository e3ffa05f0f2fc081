/* bench_peak.c - the ceilings the CPU kernels run against, measured on the
 * machine at hand: what one core issues of the instructions the products are
 * built from, and what a decode step's short parallel sections cost the
 * memory stream.
 *
 * 1. Issue rates, one thread, registers only (inline assembly, so no
 *    compiler can fold or spill the chains; x86-64; each instruction set
 *    only where the CPU reports it):
 *    - FMA, 8 and 16 floats: GFLOP/s;
 *    - the F16 tiles' mix: AVX2's 4 x 3 (7 widenings, vcvtph2ps, to 12 FMAs)
 *      and AVX-512's 6 x 4 (10 to 24), GFLOP/s, and the same with the
 *      activations already floats (4 and 6 widenings);
 *    - the AVX2 Q8_0 tile's int16 route: vpmaddwd + vpaddd against 2
 *      weight vectors and 4 broadcast activation pairs, GOP/s (2 an int
 *      multiply-add), and AVX512-VNNI's vpdpbusd (4 byte products a lane).
 *    Set beside `bench_matmul`'s GFLOP/s, they say how far a kernel is from
 *    what its instructions allow.
 * 2. Sections: 128 MiB read by THREADS threads in one parallel section per
 *    SIZE bytes (em_pool_run, each thread a contiguous share, as a decode
 *    step's products are split), from 4 MiB down to 128 KiB sections: GB/s,
 *    and each section's cost beyond the long stream's rate. A decode step of
 *    SmolLM2-135M is ~120 sections of 0.35-1.9 MB.
 *
 * usage: bench_peak [THREADS]   (default 2) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_read.h"
#include "cli/opt.h"
#include "core/threadpool.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
#define PEAK_ITERS 40000000L /* ~0.1-0.3 s a test */
/* 64 bytes of F16 values and floats for the widening loads, in L1 */
static uint16_t peak_buf[1024] __attribute__((aligned(64)));

#define CLOB12 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"
#define CLOB16 CLOB12, "xmm12", "xmm13", "xmm14", "xmm15"
#define CLOB29 CLOB16, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", \
               "xmm26", "xmm27", "xmm28"

/* (the AVX-512 tests name zmm16-31 among their clobbers, which only
 * functions built for AVX-512 may) */
/* Each test runs PEAK_ITERS steps of one asm block; best of 5. Returns
 * steps per second. */
#define TIME_ASM(BODY, CLOBBERS)                                                                 \
    do {                                                                                        \
        double best = 1e9;                                                                      \
        for (int rep = 0; rep < 5; rep++) {                                                     \
            const double t0 = now();                                                            \
            for (long i = 0; i < PEAK_ITERS; i++) __asm__ volatile(BODY : : "r"(peak_buf) : CLOBBERS); \
            const double t = now() - t0;                                                        \
            if (t < best) best = t;                                                             \
        }                                                                                       \
        return PEAK_ITERS / best;                                                               \
    } while (0)

/* 12 independent accumulators: FMA latency 4, two FMA pipes */
#define FMA12(R)                                                                                             \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "0\n vfmadd231ps %%" R "12,%%" R "13,%%" R "1\n"               \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "2\n vfmadd231ps %%" R "12,%%" R "13,%%" R "3\n"               \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "4\n vfmadd231ps %%" R "12,%%" R "13,%%" R "5\n"               \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "6\n vfmadd231ps %%" R "12,%%" R "13,%%" R "7\n"               \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "8\n vfmadd231ps %%" R "12,%%" R "13,%%" R "9\n"               \
    "vfmadd231ps %%" R "12,%%" R "13,%%" R "10\n vfmadd231ps %%" R "12,%%" R "13,%%" R "11\n"

static double fma_ymm(void) { TIME_ASM(FMA12("ymm"), CLOB16); }
__attribute__((target("avx512f"))) static double fma_zmm(void) { TIME_ASM(FMA12("zmm"), CLOB16); }

/* AVX2 F16 tile: 3 activation vectors (ymm12-14), 4 weight rows widened
 * into ymm15, 12 accumulators */
#define Y_ROW(r, a0, a1, a2)                                                                              \
    "vcvtph2ps " #r "*16(%0),%%ymm15\n vfmadd231ps %%ymm15,%%ymm12,%%ymm" #a0 "\n"                      \
    "vfmadd231ps %%ymm15,%%ymm13,%%ymm" #a1 "\n vfmadd231ps %%ymm15,%%ymm14,%%ymm" #a2 "\n"
#define Y_ROWS Y_ROW(0, 0, 1, 2) Y_ROW(1, 3, 4, 5) Y_ROW(2, 6, 7, 8) Y_ROW(3, 9, 10, 11)
#define Y_XH "vcvtph2ps 256(%0),%%ymm12\n vcvtph2ps 272(%0),%%ymm13\n vcvtph2ps 288(%0),%%ymm14\n"
#define Y_XF "vmovups 512(%0),%%ymm12\n vmovups 544(%0),%%ymm13\n vmovups 576(%0),%%ymm14\n"
static double tile_f16_avx2(void) { TIME_ASM(Y_XH Y_ROWS, CLOB16); }
static double tile_f16_avx2_xf(void) { TIME_ASM(Y_XF Y_ROWS, CLOB16); }

/* AVX-512 F16 tile: 4 activation vectors (zmm24-27), 6 weight rows widened
 * into zmm28, 24 accumulators */
#define Z_ROW(r, a0, a1, a2, a3)                                                                          \
    "vcvtph2ps " #r "*32(%0),%%zmm28\n vfmadd231ps %%zmm28,%%zmm24,%%zmm" #a0 "\n"                      \
    "vfmadd231ps %%zmm28,%%zmm25,%%zmm" #a1 "\n vfmadd231ps %%zmm28,%%zmm26,%%zmm" #a2 "\n"             \
    "vfmadd231ps %%zmm28,%%zmm27,%%zmm" #a3 "\n"
#define Z_ROWS                                                                                            \
    Z_ROW(0, 0, 1, 2, 3) Z_ROW(1, 4, 5, 6, 7) Z_ROW(2, 8, 9, 10, 11) Z_ROW(3, 12, 13, 14, 15)           \
    Z_ROW(4, 16, 17, 18, 19) Z_ROW(5, 20, 21, 22, 23)
#define Z_XH "vcvtph2ps 512(%0),%%zmm24\n vcvtph2ps 544(%0),%%zmm25\n vcvtph2ps 576(%0),%%zmm26\n vcvtph2ps 608(%0),%%zmm27\n"
#define Z_XF "vmovups 1024(%0),%%zmm24\n vmovups 1088(%0),%%zmm25\n vmovups 1152(%0),%%zmm26\n vmovups 1216(%0),%%zmm27\n"
__attribute__((target("avx512f"))) static double tile_f16_avx512(void) { TIME_ASM(Z_XH Z_ROWS, CLOB29); }
__attribute__((target("avx512f"))) static double tile_f16_avx512_xf(void) { TIME_ASM(Z_XF Z_ROWS, CLOB29); }

/* AVX2 Q8_0 tile's step: 2 weight vectors of int16 pairs (ymm6, ymm7), 4
 * activation pairs broadcast from memory, 8 vpmaddwd into temporaries and
 * 8 vpaddd into 8 int32 accumulators */
#define MADD_PAIR(x, t0, t1, a0, a1)                                                                      \
    "vpmaddwd %%ymm" #x ",%%ymm6,%%ymm" #t0 "\n vpmaddwd %%ymm" #x ",%%ymm7,%%ymm" #t1 "\n"             \
    "vpaddd %%ymm" #t0 ",%%ymm" #a0 ",%%ymm" #a0 "\n vpaddd %%ymm" #t1 ",%%ymm" #a1 ",%%ymm" #a1 "\n"
#define MADD_STEP                                                                                         \
    "vmovdqa 0(%0),%%ymm6\n vmovdqa 32(%0),%%ymm7\n"                                                      \
    "vpbroadcastd 64(%0),%%ymm12\n vpbroadcastd 68(%0),%%ymm13\n"                                         \
    "vpbroadcastd 72(%0),%%ymm14\n vpbroadcastd 76(%0),%%ymm15\n"                                         \
    MADD_PAIR(12, 8, 9, 0, 1) MADD_PAIR(13, 10, 11, 2, 3) MADD_PAIR(14, 8, 9, 4, 5) MADD_PAIR(15, 10, 11, 6, 7)
static double madd_avx2(void) { TIME_ASM(MADD_STEP, CLOB16); }

/* AVX512-VNNI: 12 independent vpdpbusd, 64 byte products each */
#define DPB(a) "vpdpbusd %%zmm12,%%zmm13,%%zmm" #a "\n"
#define DPB12 DPB(0) DPB(1) DPB(2) DPB(3) DPB(4) DPB(5) DPB(6) DPB(7) DPB(8) DPB(9) DPB(10) DPB(11)
__attribute__((target("avx512f"))) static double dpbusd_avx512(void) { TIME_ASM(DPB12, CLOB16); }

/* One line: a rate (ops a second), and its share of the FMA rate if given. */
static void issue_line(const char *isa, const char *what, double rate, const char *unit, double fma) {
    printf("issue   %-8s %-34s %7.1f %s", isa, what, rate / 1e9, unit);
    if (fma > 0) printf("  (%3.0f%% of FMA)", 100 * rate / fma);
    printf("\n");
}

static void issue_rates(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        const double fma = fma_ymm() * 12 * 16; /* FMAs a step, flops an FMA */
        issue_line("AVX2", "FMA (8 floats)", fma, "GFLOP/s", 0);
        issue_line("AVX2", "F16 tile 4x3, 7 widenings/12 FMA", tile_f16_avx2() * 12 * 16, "GFLOP/s", fma);
        issue_line("AVX2", "the same, activations as floats", tile_f16_avx2_xf() * 12 * 16, "GFLOP/s", fma);
        issue_line("AVX2", "Q8_0 step, vpmaddwd + vpaddd", madd_avx2() * 8 * 16 * 2, "GOP/s", 0);
    } else {
        printf("issue   AVX2     not on this CPU\n");
    }
    if (__builtin_cpu_supports("avx512f")) {
        const double fma = fma_zmm() * 12 * 32;
        issue_line("AVX-512", "FMA (16 floats)", fma, "GFLOP/s", 0);
        issue_line("AVX-512", "F16 tile 6x4, 10 widenings/24 FMA", tile_f16_avx512() * 24 * 32, "GFLOP/s", fma);
        issue_line("AVX-512", "the same, activations as floats", tile_f16_avx512_xf() * 24 * 32, "GFLOP/s", fma);
        if (__builtin_cpu_supports("avx512vnni"))
            issue_line("AVX-512", "VNNI vpdpbusd", dpbusd_avx512() * 12 * 64 * 2, "GOP/s", 0);
    } else {
        printf("issue   AVX-512  not on this CPU\n");
    }
}
#else
static void issue_rates(void) { printf("issue   no issue-rate tests for this architecture (x86-64 only)\n"); }
#endif

/* ---- sections ---------------------------------------------------------------- */

#define SEC_BYTES ((size_t)128 << 20)

/* The buffer read in sections of sec bytes, best of 5 passes: seconds. */
static double sec_pass(em_pool *pool, struct bench_read *a, const uint64_t *buf, size_t sec) {
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = now();
        for (size_t o = 0; o < SEC_BYTES; o += sec) {
            a->p = buf + o / 8;
            a->n = (SEC_BYTES - o < sec ? SEC_BYTES - o : sec) / 8;
            em_pool_run(pool, bench_read_body, a);
        }
        const double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static int sections(int nth) {
    char err[256];
    em_pool *pool = em_pool_create(nth, err);
    struct bench_read *a = malloc(sizeof *a);
    uint64_t *buf = aligned_alloc(64, SEC_BYTES);
    if (!pool || !a || !buf) {
        fprintf(stderr, "bench_peak: %s\n", pool ? "out of memory" : err);
        em_pool_free(pool);
        free(a);
        free(buf);
        return 1;
    }
    for (size_t i = 0; i < SEC_BYTES / 8; i++) buf[i] = i;
    const double whole = sec_pass(pool, a, buf, SEC_BYTES); /* one section: the long stream */
    printf("section threads=%d  %6zu KiB: %6.1f GB/s\n", nth, SEC_BYTES >> 10, SEC_BYTES / whole / 1e9);
    static const size_t sizes[] = {(size_t)4 << 20, (size_t)1 << 20, (size_t)512 << 10, (size_t)256 << 10,
                                   (size_t)128 << 10};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const size_t n_sec = SEC_BYTES / sizes[i];
        const double t = sec_pass(pool, a, buf, sizes[i]);
        printf("section threads=%d  %6zu KiB: %6.1f GB/s  %5.1f%% of one section, %5.2f us a section beyond the stream\n",
               nth, sizes[i] >> 10, SEC_BYTES / t / 1e9, 100 * whole / t, (t - whole) / n_sec * 1e6);
    }
    em_pool_free(pool);
    free(a);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    const char *pos[1];
    int npos = 0;
    const opt_spec specs[] = {OPT_END};
    char err[OPT_ERR_LEN];
    int rc = opt_parse("bench_peak", specs, argc, argv, pos, 1, &npos, err);
    if (rc == OPT_HELP) {
        printf("usage: bench_peak [THREADS]   (default 2): issue rates of the kernels' instructions, one thread;\n"
               "       a 128 MiB read in parallel sections of 4 MiB..128 KiB on 1 and THREADS threads\n");
        return 0;
    }
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    int64_t nth = 2;
    if (npos && opt_i64("bench_peak", "THREADS", pos[0], 1, 64, &nth, err)) { fprintf(stderr, "%s\n", err); return 2; }
    issue_rates();
    if (sections(1)) return 1;
    if (nth > 1 && sections((int)nth)) return 1;
    return 0;
}
