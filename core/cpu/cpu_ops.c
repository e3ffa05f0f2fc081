/* cpu_ops.c - row operators of the CPU backend.
 *
 * Agreement with llama.cpp: its non-flash attention multiplies the F16 key
 * cache with the query converted to F16, and the F16 value cache with the
 * softmax weights converted to F16 (ggml's mul_mat converts the right-hand
 * side to the left-hand side's dot type). We round the same values the same
 * way, and sum them in the lanes and order ggml's kernels do on this CPU (the
 * kernel table's vec_dot / gemm / attn_pv / softmax_exp), so with F16 and F32
 * weights the two agree to the last bit rather than to ~1e-3 in a
 * probability. ggml's attention runs over its padded view of the cache (a
 * multiple of 256 positions, the masked ones -inf in the scores and 0 in the
 * weights): the softmax here pads its scores with -inf to the kernel's chunk,
 * and attn_pv sums as if the weights past n_kv were zeros, which gives the
 * same sums. RMSNorm sums squares in double as ggml does, and RoPE steps the
 * angle by repeated multiplication as ggml's cache does and rotates with the
 * two fused multiply-adds its compiler makes of the rotation (see
 * cpu_rope_row). LayerNorm is ggml_norm's two passes (the mean, then the
 * variance of x - mean, both summed in double) rather than one pass over x
 * and x^2, which loses digits when |mean| is large next to the spread. GELU
 * (the kernel table's gelu) is computed in float, with the variant's SIMD
 * exp; ggml's CPU path may instead round x to fp16 and look it up in a
 * table (GGML_GELU_FP16), which we do not copy: its error (x's rounding,
 * ~5e-4 relative) is larger than the model's. */
#include "cpu_ops.h"

#include <math.h>
#include <string.h>

/* The norms' row sums (of x, or of (x - mean)^2 with sq): in double, as
 * ggml_norm's and ggml_rms_norm's, but in 8 partial sums, so the adds
 * overlap instead of waiting on each other (a ViT row of 768 took ~1.7 us
 * in one chain; a tile normalises 24 x 1024 rows). A double sum of a row of
 * floats is exact unless its values span more than ~2^19 in magnitude, and
 * then the order moves it by far less than a float's rounding. */
#define LN_LANES 8

static double sum8(const float *x, int64_t n, float mean, int sq) {
    double s[LN_LANES] = {0};
    int64_t i = 0;
    for (; i + LN_LANES <= n; i += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) {
            const float d = x[i + l] - mean;
            s[l] += sq ? (double)(d * d) : (double)x[i + l];
        }
    double t = 0.0;
    for (int l = 0; l < LN_LANES; l++) t += s[l];
    for (; i < n; i++) {
        const float d = x[i] - mean;
        t += sq ? (double)(d * d) : (double)x[i];
    }
    return t;
}

void cpu_rms_norm_row(float *y, const float *x, const float *w, int64_t n, float eps) {
    const double ss = sum8(x, n, 0.0f, 1); /* (x - 0) * (x - 0): x * x, bit for bit */
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    }
}

void cpu_rope_row(const cpu_kernels *kern, float *x, int n_head, int head_dim, int n_dims, int32_t pos,
                  float freq_base, float freq_scale) {
    const float theta_scale = powf(freq_base, -2.0f / (float)n_dims);
    float theta = (float)pos;
    /* cos, sin per pair, the same for every head: computed once (n_dims <= 1024) */
    float cs[1024];
    const int n_pairs = n_dims / 2 < 512 ? n_dims / 2 : 512;
    for (int i = 0; i < n_pairs; i++) {
        const float t = theta * freq_scale;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) kern->rope(n_pairs, x + (int64_t)h * head_dim, cs);
}

void cpu_layer_norm_row(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    const float mean = (float)(sum8(x, n, 0.0f, 0) / (double)n);
    const double ss = sum8(x, n, mean, 1);
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    /* x[i] is read before y[i] is written: in place is fine. */
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * scale;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

/* The attention weights of one query from its n raw scores (n_pad floats
 * of room, a multiple of softmax_chunk): scaled, softmax, then in the dot
 * type dt at p (fp16 for an F16 cache), as llama.cpp rounds them. */
static void attn_weights(const cpu_kernels *kern, enum em_type dt, float *scores, int64_t n, int64_t n_pad, float scale,
                         void *p) {
    const float maxs = kern->scale_max(n, scores, scale);
    for (int64_t t = n; t < n_pad; t++) scores[t] = -INFINITY;
    const float inv = (float)(1.0 / kern->softmax_exp(n_pad, scores, scores, maxs));
    for (int64_t t = 0; t < n; t++) scores[t] *= inv;
    kern->from_float[dt](scores, p, n);
}

size_t cpu_attend_work(const cpu_kernels *kern, int head_dim, int64_t n_kv) {
    const int64_t n_pad = (n_kv + kern->softmax_chunk - 1) / kern->softmax_chunk * kern->softmax_chunk;
    /* scores, weights (F32 at most), query in the dot type, attn_pv's slots */
    return (size_t)n_pad + (size_t)n_kv + (size_t)head_dim + (size_t)kern->pv_work * (size_t)head_dim + 64;
}

void cpu_attend_head(const cpu_kernels *kern, float *out, const float *q, const void *k, const void *v,
                     enum em_type kv_type, size_t cache_stride, int head_dim, int64_t n_kv, float scale,
                     int64_t n_q, float *work) {
    const enum em_type dt = kern->dot_type[kv_type];
    const int64_t chunk = kern->softmax_chunk;
    const int64_t n_pad = (n_kv + chunk - 1) / chunk * chunk;
    float *scores = work;
    void *p = scores + n_pad;
    void *qd = (float *)p + n_kv;
    float *pv_work = (float *)qd + head_dim;

    /* ggml's two products run over its view of the cache, padded to 256
     * positions: their shapes decide whether they are tiled */
    const int64_t n_view = (n_kv + 255) / 256 * 256;

    /* scores = K q: ggml's mul_mat of the key cache by the query in the
     * cache's dot type */
    kern->from_float[dt](q, qd, head_dim);
    if (cpu_gemm_fits(kern, kv_type, n_view, head_dim, n_q)) {
        const int R = kern->gemm_rows[kv_type];
        for (int64_t t = 0; t < n_kv; t += R) {
            const int nr = (int)(n_kv - t < R ? n_kv - t : R);
            kern->gemm[kv_type](head_dim, (const char *)k + (size_t)t * cache_stride, cache_stride, nr, qd, 0, 1,
                                scores + t, 1);
        }
    } else if (kern->vec_dot_rows[kv_type]) {
        kern->vec_dot_rows[kv_type](head_dim, k, cache_stride, n_kv, qd, scores);
    } else {
        for (int64_t t = 0; t < n_kv; t++)
            scores[t] = kern->vec_dot[kv_type](head_dim, (const char *)k + (size_t)t * cache_stride, qd);
    }
    attn_weights(kern, dt, scores, n_kv, n_pad, scale, p);

    /* out = p V: ggml's mul_mat of the transposed value cache by the
     * weights */
    kern->attn_pv(n_kv, v, cache_stride, kv_type, p, head_dim, out, pv_work,
                  cpu_gemm_fits(kern, kv_type, head_dim, n_view, n_q));
}

/* ggml's view of the cache, padded to 256 positions, as in cpu_attend_head */
static int64_t view_of(int64_t n_kv) { return (n_kv + 255) / 256 * 256; }

int cpu_attend_block_fits(const cpu_kernels *kern, enum em_type kv_type, int head_dim, int64_t n_kv, int64_t n_q) {
    const int64_t n_view = view_of(n_kv);
    return cpu_gemm_fits(kern, kv_type, n_view, head_dim, n_q) && cpu_gemm_fits(kern, kv_type, head_dim, n_view, n_q);
}

/* per query: the query in the dot type, its scores, its weights, its output */
static int64_t block_stride(const cpu_kernels *kern, int head_dim, int64_t n_pv) {
    const int64_t chunk = kern->softmax_chunk;
    const int64_t n_pad = (n_pv + chunk - 1) / chunk * chunk;
    return ((int64_t)head_dim + n_pad + n_pv + (int64_t)head_dim + 15) & ~(int64_t)15;
}

size_t cpu_attend_block_work(const cpu_kernels *kern, int head_dim, int64_t n_pv, int nq) {
    return (size_t)nq * (size_t)block_stride(kern, head_dim, n_pv) + 64;
}

void cpu_attend_block(const cpu_kernels *kern, float *const *out, const float *const *q, const int64_t *n_kv, int nq,
                      const void *k, const void *vt, size_t vt_stride, enum em_type kv_type, size_t cache_stride,
                      int head_dim, int64_t n_pv, float scale, int64_t n_q, float *work) {
    const enum em_type dt = kern->dot_type[kv_type];
    const size_t dsz = em_type_block_bytes(dt); /* F16 or F32: one value a block */
    const int64_t chunk = kern->softmax_chunk, stride = block_stride(kern, head_dim, n_pv);
    const int R = kern->gemm_rows[kv_type];
    int64_t n_max = 0;
    for (int j = 0; j < nq; j++) n_max = n_kv[j] > n_max ? n_kv[j] : n_max;
    /* per query j at work + j * stride: qd (head_dim) | scores (n_pad) | p (n_pv) | y (head_dim) */
    const int64_t n_pad_max = (n_pv + chunk - 1) / chunk * chunk;
    float *const base = work;
#define QD(j) ((void *)(base + (j) * stride))
#define SC(j) (base + (j) * stride + head_dim)
#define PW(j) ((void *)(base + (j) * stride + head_dim + n_pad_max))
#define YO(j) (base + (j) * stride + head_dim + n_pad_max + n_pv)
    const size_t xs = (size_t)stride * sizeof(float);

    for (int j = 0; j < nq; j++) kern->from_float[dt](q[j], QD(j), head_dim);
    /* scores of every query over the longest one's rows, the tiles of cpu_attend_head */
    for (int64_t t = 0; t < n_max; t += R) {
        const int nr = (int)(n_max - t < R ? n_max - t : R);
        kern->gemm[kv_type](head_dim, (const char *)k + (size_t)t * cache_stride, cache_stride, nr, QD(0), xs, nq,
                            SC(0) + t, stride);
    }
    /* The value product stops at the block's last cache row (rounded up to
     * the tile's k step): past it every weight is zero, and a zero product
     * leaves each lane's sum as it is, so the bits are those over n_pv. A
     * causal prefill's blocks then do half the work of the whole view. */
    const int64_t gk = kern->gemm_k[kv_type], n_used = (n_max + gk - 1) / gk * gk < n_pv ? (n_max + gk - 1) / gk * gk : n_pv;
    for (int j = 0; j < nq; j++) {
        const int64_t n = n_kv[j];
        attn_weights(kern, dt, SC(j), n, (n + chunk - 1) / chunk * chunk, scale, PW(j));
        memset((char *)PW(j) + (size_t)n * dsz, 0, (size_t)(n_used - n) * dsz);
    }
    /* out = p V as the tile product of V's rows transposed by the weights */
    for (int d = 0; d < head_dim; d += R) {
        const int nr = head_dim - d < R ? head_dim - d : R;
        kern->gemm[kv_type](n_used, (const char *)vt + (size_t)d * vt_stride, vt_stride, nr, PW(0), xs, nq,
                            YO(0) + d, stride);
    }
    for (int j = 0; j < nq; j++) memcpy(out[j], YO(j), (size_t)head_dim * sizeof(float));
#undef QD
#undef SC
#undef PW
#undef YO
}
