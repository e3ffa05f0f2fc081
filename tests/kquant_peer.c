/* kquant_peer.c - the K-quants (Q2_K..Q6_K) held to llama.cpp's own code, bit
 * for bit, on the same floats:
 *   - the quantizers against ggml_quantize_chunk without an importance
 *     matrix (what llama-quantize runs: quantize_row_q*_K_ref);
 *   - the dequantizers against dequantize_row_q*_K;
 *   - the Q8_K activation quantizer against the CPU backend's
 *     quantize_row_q8_K;
 *   - the reference dots against ggml_vec_dot_q*_K_q8_K_generic, ggml's
 *     scalar code, from its baseline x86-64 build (no FMA to fuse products,
 *     as cpu_quant_k.c is compiled).
 * And, for the record, how far the peer's dots for this CPU (its SIMD
 * build, e.g. zen4) lie from Ember's reference: printed, with a loose bound.
 *
 * Usage: kquant_peer [VARIANT], run from the source root. The peer is the
 * libggml-base.so / libggml-cpu-x64.so that node-llama-cpp ships
 * (bench/peer, installed by scripts/setup.sh), or those in EMBER_GGML_DIR;
 * VARIANT (e.g. zen4, haswell) names the SIMD build to measure. No peer:
 * exit 77 (skipped). x86-64 only (the peer's binaries are). */
#include <dlfcn.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/cpu/cpu_kernels.h"

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start, int64_t nrows,
                                    int64_t n_per_row, const float *imatrix);
typedef void (*to_float_fn)(const void *x, float *y, int64_t k);
typedef void (*from_float_fn)(const float *x, void *y, int64_t k);
typedef void (*vec_dot_fn)(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy, size_t by, int nrc);


static void *open_lib(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static const char *peer_dir(char *buf, size_t cap) {
    const char *env = getenv("EMBER_GGML_DIR");
    if (env && *env) return env;
    glob_t g;
    const char *dir = NULL;
    if (glob("bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so", 0, NULL, &g) == 0) {
        if (g.gl_pathc) {
            snprintf(buf, cap, "%s", g.gl_pathv[0]);
            char *slash = strrchr(buf, '/');
            if (slash) *slash = 0, dir = buf;
        }
        globfree(&g);
    }
    return dir;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}
static float nrand(void) { /* N(0, 1), Box-Muller */
    double u = urand(), v = urand();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* Rows that reach every path of the searches: Gaussian weights at several
 * scales, one-signed rows (the min clamps to 0), spikes, sparse rows, zero
 * and constant sub-blocks, ties. Each case is nb super-blocks. */
enum { N_CASES = 10 };
static void make_case(int c, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = nrand();
        switch (c) {
        case 0: x[i] = 0.04f * v; break;                            /* mkmodel's weights */
        case 1: x[i] = v * (0.25f + (float)((i / 32) % 7)); break;   /* sub-block scales vary */
        case 2: x[i] = 1e-4f * v; break;
        case 3: x[i] = 3e3f * v; break;
        case 4: x[i] = fabsf(v) + 0.1f; break;                       /* all positive */
        case 5: x[i] = -fabsf(v) - 0.5f; break;                      /* all negative */
        case 6: x[i] = urand() < 0.05 ? 10.0f * v : 0.0f; break;     /* sparse, zero sub-blocks */
        case 7: x[i] = (i % 16 == 3) ? 50.0f * v : v; break;         /* one spike per 16 */
        case 8: x[i] = (float)((int)(8 * v)) / 8.0f; break;          /* few levels, ties */
        default: x[i] = (i / 256) % 2 ? 0.0f : ((i / 16) % 3 ? v : 0.5f); break; /* zero and constant blocks */
        }
    }
}

int main(int argc, char **argv) {
#if !defined(__x86_64__)
    printf("skip: the peer's binaries are x86-64\n");
    return 77;
#endif
    char buf[1024];
    const char *dir = peer_dir(buf, sizeof buf);
    void *base = dir ? open_lib(dir, "libggml-base.so") : NULL;
    void *cpu = dir ? open_lib(dir, "libggml-cpu-x64.so") : NULL;
    if (!base || !cpu) {
        printf("skip: llama.cpp's ggml libraries not found (run scripts/setup.sh, or set EMBER_GGML_DIR): %s\n",
               dlerror());
        return 77;
    }
    quantize_chunk_fn quantize_chunk = (quantize_chunk_fn)dlsym(base, "ggml_quantize_chunk");
    void (*cpu_init)(void) = (void (*)(void))dlsym(cpu, "ggml_cpu_init");
    from_float_fn peer_q8_K = (from_float_fn)dlsym(cpu, "quantize_row_q8_K");
    if (!quantize_chunk || !cpu_init || !peer_q8_K) {
        printf("skip: the peer lacks ggml_quantize_chunk / ggml_cpu_init / quantize_row_q8_K\n");
        return 77;
    }
    cpu_init();
    void *native = NULL;
    if (argc > 1 && argv[1][0]) {
        char name[128];
        snprintf(name, sizeof name, "libggml-cpu-%s.so", argv[1]);
        native = open_lib(dir, name);
        if (!native) printf("note: %s not loaded (%s): no SIMD comparison\n", name, dlerror());
        else {
            void (*native_init)(void) = (void (*)(void))dlsym(native, "ggml_cpu_init");
            if (native_init) native_init();
        }
    }

    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    static const enum em_type kts[] = {EM_TYPE_Q2_K, EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    static const char *const knames[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K"};
    enum { NB = 64, N = NB * 256 };
    float *x = malloc(N * sizeof(float)), *act = malloc(N * sizeof(float));
    float *ya = malloc(N * sizeof(float)), *yb = malloc(N * sizeof(float));
    unsigned char *qa = malloc(N * 2), *qb = malloc(N * 2); /* any K-quant row of N fits */
    em_block_q8_K *ka = malloc(NB * sizeof *ka), *kb = malloc(NB * sizeof *kb);
    if (!x || !act || !ya || !yb || !qa || !qb || !ka || !kb) { printf("FAIL out of memory\n"); return 1; }

    /* Q8_K activations: the CPU backend's quantizer */
    for (int c = 0; c < N_CASES; c++) {
        make_case(c, x, N);
        memset(ka, 0, NB * sizeof *ka); /* ggml leaves an all-zero block's sums as they were */
        peer_q8_K(x, ka, N);
        cpu_quantize_row_q8_K(x, kb, N);
        CHECK(memcmp(ka, kb, NB * sizeof *ka) == 0, "q8_K case %d: blocks differ from llama.cpp's", c);
        /* the build for this CPU quantizes activations with the same function */
        from_float_fn native_q8_K = native ? (from_float_fn)dlsym(native, "quantize_row_q8_K") : NULL;
        if (native_q8_K) {
            memset(ka, 0, NB * sizeof *ka);
            native_q8_K(x, ka, N);
            CHECK(memcmp(ka, kb, NB * sizeof *ka) == 0, "q8_K case %d: blocks differ from llama.cpp %s's", c, argv[1]);
        }
    }

    for (int t = 0; t < 5; t++) {
        const enum em_type ty = kts[t];
        char sym[64];
        snprintf(sym, sizeof sym, "dequantize_row_%s", knames[t]);
        to_float_fn peer_to_float = (to_float_fn)dlsym(base, sym);
        snprintf(sym, sizeof sym, "ggml_vec_dot_%s_q8_K_generic", knames[t]);
        vec_dot_fn peer_dot = (vec_dot_fn)dlsym(cpu, sym);
        snprintf(sym, sizeof sym, "ggml_vec_dot_%s_q8_K", knames[t]);
        vec_dot_fn native_dot = native ? (vec_dot_fn)dlsym(native, sym) : NULL;
        if (!peer_to_float || !peer_dot) {
            CHECK(0, "%s: the peer lacks dequantize_row_%s or its generic dot", knames[t], knames[t]);
            continue;
        }
        const size_t rb = em_row_bytes(ty, N);
        int bad_q = 0, bad_deq = 0, bad_dot = 0, first_q = -1;
        double worst_native = 0;
        for (int c = 0; c < N_CASES; c++) {
            make_case(c, x, N);
            /* one row of N and 8 rows of N / 8: the same blocks either way */
            memset(qa, 0, rb);
            quantize_chunk((int)ty, x, qa, 0, 8, N / 8, NULL);
            if (c == 0) { /* the peer wrote something: not a comparison of two untouched buffers */
                size_t nz = 0;
                for (size_t i = 0; i < rb; i++) nz += qa[i] != 0;
                CHECK(nz > rb / 2, "%s: llama.cpp's blocks are mostly zero (%zu of %zu bytes set)", knames[t], nz, rb);
            }
            if (cpu_quantize(ty, x, qb, 1, N) != rb) { CHECK(0, "%s: cpu_quantize refused", knames[t]); break; }
            if (memcmp(qa, qb, rb) != 0) {
                size_t bs = em_type_block_bytes(ty), i = 0;
                while (i < rb && qa[i] == qb[i]) i++;
                if (!bad_q++) first_q = (int)(i / bs);
                printf("  %s case %d: first differing block %d (byte %zu of it)\n", knames[t], c, (int)(i / bs), i % bs);
            }
            peer_to_float(qa, ya, N);
            ref.to_float[ty](qa, yb, N);
            bad_deq += memcmp(ya, yb, N * sizeof(float)) != 0;

            /* dots over 1, 3 and 64 super-blocks against activations of another case */
            make_case((c + 3) % N_CASES, act, N);
            cpu_quantize_row_q8_K(act, kb, N);
            static const int lens[] = {256, 768, N};
            for (int l = 0; l < 3; l++) {
                float s_peer = 0, s_mine = ref.vec_dot[ty](lens[l], qa, kb);
                peer_dot(lens[l], &s_peer, 0, qa, 0, kb, 0, 1);
                if (memcmp(&s_peer, &s_mine, sizeof s_peer) != 0) {
                    if (!bad_dot) printf("  %s case %d len %d: dot %.9g, llama.cpp's generic %.9g\n", knames[t], c, lens[l],
                                         s_mine, s_peer);
                    bad_dot++;
                }
                if (native_dot) {
                    float s_nat = 0;
                    native_dot(lens[l], &s_nat, 0, qa, 0, kb, 0, 1);
                    double mag = 0;
                    ref.to_float[ty](qa, ya, lens[l]);
                    ref.to_float[EM_TYPE_Q8_K](kb, yb, lens[l]);
                    for (int i = 0; i < lens[l]; i++) mag += fabs((double)ya[i] * yb[i]);
                    const double e = mag > 0 ? fabs((double)s_nat - s_mine) / mag : 0;
                    if (e > worst_native) worst_native = e;
                }
            }
        }
        CHECK(!bad_q, "%s: %d of %d cases quantize differently from llama.cpp (first block %d)", knames[t], bad_q,
              N_CASES, first_q);
        CHECK(!bad_deq, "%s: %d of %d cases dequantize differently", knames[t], bad_deq, N_CASES);
        CHECK(!bad_dot, "%s: %d of %d dots differ from ggml's generic dot", knames[t], bad_dot, N_CASES * 3);
        if (native) {
            printf("%s: llama.cpp %s dot vs Ember's reference: worst |diff| / sum|w x| = %.3g\n", knames[t], argv[1],
                   worst_native);
            CHECK(worst_native < 1e-5, "%s: llama.cpp's %s dot is %.3g (relative) from Ember's", knames[t], argv[1],
                  worst_native);
        }
    }
    free(x); free(act); free(ya); free(yb); free(qa); free(qb); free(ka); free(kb);
    return CHECK_DONE();
}
