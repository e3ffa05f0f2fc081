/* cpu_ops.h - the CPU's row-level operators other than the matrix product:
 * plain loops that read like the math (cf. llama2.c's rmsnorm/softmax).
 * Each works on one row or one head so the backend can split rows over
 * threads; none allocates. Numerics follow llama.cpp's CPU path where it
 * matters for agreement (see cpu_ops.c). */
#ifndef EMBER_CPU_OPS_H
#define EMBER_CPU_OPS_H

#include <stdint.h>

#include "cpu_kernels.h"
#include "core/types.h"

/* y = x / sqrt(mean(x^2) + eps) * w (w may be NULL: no scaling). */
void cpu_rms_norm_row(float *y, const float *x, const float *w, int64_t n, float eps);

/* Rotate adjacent pairs (x[2i], x[2i+1]) of each of n_head heads of head_dim
 * values, angle pos * freq_scale * base^(-2i/n_dims), for i < n_dims/2. */
void cpu_rope_row(const cpu_kernels *kern, float *x, int n_head, int head_dim, int n_dims, int32_t pos,
                  float freq_base, float freq_scale);

/* y = (x - mean) / sqrt(var + eps) * w + b over the row, var the biased
 * variance (torch.nn.LayerNorm, ggml_norm); w and b may be NULL (no scale,
 * no shift). y may be x. */
void cpu_layer_norm_row(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);

/* One query head over n_kv cache rows:
 *   out[d] = sum_t softmax_t(scale * q.k_t) * v_t[d]
 * k_t, v_t: row t of the caches (cache_stride bytes apart), F16 or F32.
 * n_q: the query rows evaluated together (several in a prefill), which
 * decide, as in llama.cpp, whether its products are tiled; the sums follow.
 * work: cpu_attend_work(kern, head_dim, n_kv) floats, 64-byte aligned. */
size_t cpu_attend_work(const cpu_kernels *kern, int head_dim, int64_t n_kv);
void cpu_attend_head(const cpu_kernels *kern, float *out, const float *q, const void *k, const void *v,
                     enum em_type kv_type, size_t cache_stride, int head_dim, int64_t n_kv, float scale,
                     int64_t n_q, float *work);


/* cpu_attend_head for nq queries that share one key/value head (a GQA group
 * over several query rows of a prefill), bit for bit the same, on the shapes
 * where both of its products are gemm tiles (cpu_attend_block_fits): the
 * scores as one tile product of the keys by all nq queries, the output as
 * one of the values, transposed, by all nq weight rows. So each key and
 * value vector is loaded and widened once per tile of queries, not once per
 * query. The tile's sums do not depend on how many activation rows it
 * takes, and attn_pv(tiled = 1) sums as the tile does over rows padded with
 * zeros, so the results are those of cpu_attend_head.
 * q[j], out[j], n_kv[j]: query j, its output, its cache rows (causal).
 * vt: the value head transposed, head_dim rows of vt_stride bytes holding
 * n_pv values each (a multiple of kern->gemm_k[kv_type], at least every
 * n_kv[j]; zeros past the cache). n_q: the query rows of the whole call, as
 * for cpu_attend_head. work: cpu_attend_block_work floats, 64-byte aligned. */
int cpu_attend_block_fits(const cpu_kernels *kern, enum em_type kv_type, int head_dim, int64_t n_kv, int64_t n_q);
size_t cpu_attend_block_work(const cpu_kernels *kern, int head_dim, int64_t n_pv, int nq);
void cpu_attend_block(const cpu_kernels *kern, float *const *out, const float *const *q, const int64_t *n_kv, int nq,
                      const void *k, const void *vt, size_t vt_stride, enum em_type kv_type, size_t cache_stride,
                      int head_dim, int64_t n_pv, float scale, int64_t n_q, float *work);

#endif
