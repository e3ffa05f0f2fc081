/* cpu_kernels_neon.c - AArch64 NEON kernels (baseline ARMv8.0: no dotprod or
 * fp16 arithmetic extensions are assumed, so it runs on any 64-bit Arm).
 *
 * Provided: vec_dot for F32, F16, Q8_0, Q4_0 and the Q8_0 / F16 activation
 * converters; BF16 and the matrix-matrix path use the reference / vec_dot
 * loops. Int8 dots widen with vmull_s8 and accumulate pairs with vpadalq_s16;
 * vrndaq_f32 rounds half away from zero, exactly roundf, so the Q8_0
 * quantizer matches the reference bit for bit. */
#include <arm_neon.h>

#include "cpu_kernels_impl.h"

static void f16_from_float(const float *src, void *dst, int64_t n) {
    em_fp16 *h = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++) h[i] = em_fp32_to_fp16(src[i]);
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const em_fp16 *h = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    for (; i < n; i++) dst[i] = em_fp16_to_fp32(h[i]);
}

static void q8_0_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float32x4_t v[8], amax = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(src + 4 * j);
            amax = vmaxq_f32(amax, vabsq_f32(v[j]));
        }
        /* as cpu_quantize_row_q8_0_act: 127/amax, ties to even */
        const float amaxs = vmaxvq_f32(amax);
        const float d = amaxs / 127.0f;
        const float id = amaxs != 0.0f ? 127.0f / amaxs : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        for (int j = 0; j < 8; j += 2) {
            int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
            int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
            int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
            vst1_s8(y[i].qs + 4 * j, vmovn_s16(h));
        }
    }
}

static float f32_dot(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(x + i), vld1q_f32(y + i));
        s1 = vfmaq_f32(s1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

static float f16_dot(int64_t n, const void *a, const void *b) {
    const em_fp16 *x = a, *y = b;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x8_t hx = vreinterpretq_f16_u16(vld1q_u16(x + i)), hy = vreinterpretq_f16_u16(vld1q_u16(y + i));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(hx)), vcvt_f32_f16(vget_low_f16(hy)));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(hx), vcvt_high_f32_f16(hy));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += em_fp16_to_fp32(x[i]) * em_fp16_to_fp32(y[i]);
    return s;
}

/* Sum of 32 int8 products: 16-bit products, pairwise-added into int32. */
static inline int32_t dot32_i8(int8x16_t a0, int8x16_t a1, const int8_t *y) {
    int8x16_t b0 = vld1q_s8(y), b1 = vld1q_s8(y + 16);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
    s = vpadalq_s16(s, vmull_high_s8(a0, b0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
    s = vpadalq_s16(s, vmull_high_s8(a1, b1));
    return vaddvq_s32(s);
}

static float q8_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q8_0 *x = a, *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int32_t sumi = dot32_i8(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

static float q4_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_0 *x = a;
    const em_block_q8_0 *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint8x16_t v = vld1q_u8(x[i].qs);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
        int32_t sumi = dot32_i8(lo, hi, y[i].qs);
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

void cpu_kernels_init_neon(cpu_kernels *k) {
    k->isa = "neon";
    k->to_float[EM_TYPE_F16] = f16_to_float;
    k->from_float[EM_TYPE_F16] = f16_from_float;
    k->from_float[EM_TYPE_Q8_0] = q8_0_from_float;
    k->vec_dot[EM_TYPE_F32] = f32_dot;
    k->vec_dot[EM_TYPE_F16] = f16_dot;
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
}
