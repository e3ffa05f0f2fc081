/* cpu_ops.c - row operators of the CPU backend.
 *
 * Agreement with llama.cpp: its non-flash attention multiplies the F16 key
 * cache with the query converted to F16, and the F16 value cache with the
 * softmax weights converted to F16 (ggml's mul_mat converts the right-hand
 * side to the left-hand side's dot type). We round the same values the same
 * way, so distributions agree to ~1e-6 instead of ~1e-4 on F32 models; the
 * cost is nil next to the weight matrices. RMSNorm sums squares in double as
 * ggml does, and RoPE steps the angle by repeated multiplication as ggml's
 * cache does. LayerNorm is ggml_norm's two passes (the mean, then the
 * variance of x - mean, both summed in double) rather than one pass over x
 * and x^2, which loses digits when |mean| is large next to the spread. GELU
 * is computed in float with tanhf; ggml's CPU path may instead round x to
 * fp16 and look it up in a table (GGML_GELU_FP16), which we do not copy:
 * its error (x's rounding, ~5e-4 relative) is larger than the model's. */
#include "cpu_ops.h"

#include <math.h>
#include <string.h>

void cpu_rms_norm_row(float *y, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    if (w) {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale;
    }
}

void cpu_rope_row(float *x, int n_head, int head_dim, int n_dims, int32_t pos, float freq_base,
                  float freq_scale) {
    const float theta_scale = powf(freq_base, -2.0f / (float)n_dims);
    float theta = (float)pos;
    /* cos/sin per pair are the same for every head: compute once (n_dims <= 1024). */
    float cs[512], sn[512];
    const int n_pairs = n_dims / 2 < 512 ? n_dims / 2 : 512;
    for (int i = 0; i < n_pairs; i++) {
        const float t = theta * freq_scale;
        cs[i] = cosf(t);
        sn[i] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < n_pairs; i++) {
            const float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * cs[i] - x1 * sn[i];
            v[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

void cpu_swiglu_row(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void cpu_layer_norm_row(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float d = x[i] - mean;
        ss += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    /* x[i] is read before y[i] is written: in place is fine. */
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - mean) * scale;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

/* 0.5 v (1 + tanh(u)) written as v / (1 + exp(-2u)): the same function,
 * and glibc's expf costs a fraction of its tanhf (a ViT tile evaluates 37 M
 * of these). At large |u| exp goes to 0 or inf and the quotient to v or -0:
 * no NaN. */
void cpu_gelu_row(float *y, const float *x, int64_t n) {
    const float c2 = 2.0f * 0.7978845608028654f; /* 2 sqrt(2 / pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v / (1.0f + expf(-c2 * (v + 0.044715f * v * v * v)));
    }
}

void cpu_store_row(void *dst, enum em_type t, const float *src, int64_t n) {
    if (t == EM_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
    } else {
        em_fp16 *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = em_fp32_to_fp16(src[i]);
    }
}

void cpu_attend_head(const cpu_kernels *kern, float *out, const float *q, const void *k, const void *v,
                     enum em_type kv_type, size_t cache_stride, int head_dim, int64_t n_kv, float scale,
                     float *scores) {
    float *vrow = scores + n_kv; /* head_dim floats */
    em_fp16 qh[1024];            /* head_dim <= 1024 is checked at model load */
    const void *qd = q;
    const int f16 = kv_type == EM_TYPE_F16;
    if (f16) {
        kern->from_float[EM_TYPE_F16](q, qh, head_dim);
        qd = qh;
    }
    cpu_vec_dot_fn dot = kern->vec_dot[kv_type];
    float maxs = -INFINITY;
    for (int64_t t = 0; t < n_kv; t++) {
        float s = dot(head_dim, (const char *)k + (size_t)t * cache_stride, qd) * scale;
        scores[t] = s;
        if (s > maxs) maxs = s;
    }
    double sum = 0.0;
    for (int64_t t = 0; t < n_kv; t++) {
        scores[t] = expf(scores[t] - maxs);
        sum += scores[t];
    }
    const float inv = (float)(1.0 / sum);
    for (int d = 0; d < head_dim; d++) out[d] = 0.0f;
    for (int64_t t = 0; t < n_kv; t++) {
        const void *row = (const char *)v + (size_t)t * cache_stride;
        float p = scores[t] * inv;
        const float *vr = row;
        if (f16) {
            p = em_fp16_to_fp32(em_fp32_to_fp16(p));
            kern->to_float[EM_TYPE_F16](row, vrow, head_dim);
            vr = vrow;
        }
        for (int d = 0; d < head_dim; d++) out[d] += p * vr[d];
    }
}
