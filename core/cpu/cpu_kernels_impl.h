/* cpu_kernels_impl.h - private to the cpu_kernels*.c files: the variant
 * initializers and the GEMM panel layout of quantized activations.
 *
 * Panel layout ("q8p"): for the 32-value block types with a gemm tile
 * (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL) and n > 1, each activation row
 * of k values (nb = k/32 blocks) is quantized exactly as Q8_0 but stored as
 *     int8 qs[nb*32] | float d[nb] | int32 s[nb]      (s = sum of the block's qs)
 * (for the Q8_1 dot type, Q4_1's and Q5_1's, s[b] holds instead the float
 * that Q8_1 stores as its s: cpu_q8p_s1)
 * so a micro-kernel loads two blocks' values as one contiguous 64-byte vector,
 * reads the scale as a float (already rounded through fp16, as Q8_0 stores it)
 * and can use unsigned x signed byte products: with weights biased to unsigned
 * (Q8_0: q+128, Q4_0: the raw nibble = q+8) the bias is removed with s.
 *
 * The q8p16 form (kern->panel16_n) is the same row with each value widened
 * to int16:
 *     int16 qs[nb*32] | float d[nb] | int32 s[nb]
 * for tiles whose products are vpmaddwd pairs of int16 (AVX2's signed
 * types: without VNNI, two int16 products a lane cost fewer vector-multiply
 * issues than vpmaddubsw's signed-byte route). */
#ifndef EMBER_CPU_KERNELS_IMPL_H
#define EMBER_CPU_KERNELS_IMPL_H

#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

static inline size_t cpu_q8p_row_bytes(int64_t k) {
    return (size_t)(((k / 32) * 40 + 63) & ~(int64_t)63);
}
static inline const float *cpu_q8p_d(const void *row, int64_t nb) {
    return (const float *)((const char *)row + nb * 32);
}
static inline const int32_t *cpu_q8p_s(const void *row, int64_t nb) {
    return (const int32_t *)((const char *)row + nb * 36);
}
static inline const float *cpu_q8p_s1(const void *row, int64_t nb) {
    return (const float *)((const char *)row + nb * 36);
}
static inline size_t cpu_q8p16_row_bytes(int64_t k) {
    return (size_t)(((k / 32) * 72 + 63) & ~(int64_t)63);
}
static inline const float *cpu_q8p16_d(const void *row, int64_t nb) {
    return (const float *)((const char *)row + nb * 64);
}

/* IQ4_NL's 16 levels (llama.cpp's kvalues_iq4nl), for the variants' dots. */
extern const int8_t cpu_iq4nl_values[16];

/* Q4_K/Q5_K's 12 bytes (layout in cpu_quant_k.c) to 8 scales and 8 mins,
 * four at a time with 32-bit masks: a shift by 6 or 4 brings the next byte's
 * bits in at the top of each byte, and the mask drops them. v[0..1] are the
 * scales' bytes, v[2..3] the mins', little-endian. Words, not bytes: a
 * caller builds its vector from them in registers (a vector load of bytes
 * just stored as words stalls on store forwarding). For the SIMD variants. */
static inline void cpu_kq_scales_mins(const uint8_t *s, uint32_t v[4]) {
    const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3];
    memcpy(a, s, 12);
    v[0] = a[0] & lo6;                                         /* scales 0-3 */
    v[1] = (a[2] & lo4) | (((a[0] >> 6) & two) << 4);          /* scales 4-7 */
    v[2] = a[1] & lo6;                                         /* mins 0-3 */
    v[3] = ((a[2] >> 4) & lo4) | (((a[1] >> 6) & two) << 4);   /* mins 4-7 */
}

/* Q3_K's 16 6-bit scales as bytes in v[0..3], still biased by 32: low
 * nibbles from bytes 0-7, top bit pairs from bytes 8-11 (pair j / 4 of byte
 * 8 + j % 4). Words, as above. */
static inline void cpu_kq_q3_scales(const uint8_t *s, uint32_t v[4]) {
    const uint32_t lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3];
    memcpy(a, s, 12);
    v[0] = (a[0] & lo4) | ((a[2] & two) << 4);
    v[1] = (a[1] & lo4) | (((a[2] >> 2) & two) << 4);
    v[2] = ((a[0] >> 4) & lo4) | (((a[2] >> 4) & two) << 4);
    v[3] = ((a[1] >> 4) & lo4) | (((a[2] >> 6) & two) << 4);
}

/* cpu_resample_u8_fn for columns i0..n, as written in cpu_kernels.h: the
 * reference, and the SIMD variants' columns past their last full step. */
static inline void cpu_resample_u8_cols(int64_t i0, int64_t n, uint8_t *dst, const uint8_t *src, size_t stride,
                                        const int32_t *k, int ntaps) {
    for (int64_t i = i0; i < n; i++) {
        int32_t s = 1 << (CPU_RESAMPLE_BITS - 1);
        for (int t = 0; t < ntaps; t++) s += (int32_t)src[(size_t)t * stride + (size_t)i] * k[t];
        s >>= CPU_RESAMPLE_BITS;
        dst[i] = (uint8_t)(s < 0 ? 0 : s > 255 ? 255 : s);
    }
}

/* The x86 F32/F16 dots' leftovers (values i0..n past their SIMD steps) added
 * to the lanes' sum as those dots add them: F16 in double, F32 by fmaf. For
 * the vec_dot_rows variants, which must give each row the dot's bits. */
static inline float cpu_dot_leftover(int f16, float lanes, const void *row, const void *x, int64_t i0, int64_t n) {
    if (f16) {
        double d = lanes;
        for (int64_t i = i0; i < n; i++)
            d += (double)(em_fp16_to_fp32(((const em_fp16 *)row)[i]) * em_fp16_to_fp32(((const em_fp16 *)x)[i]));
        return (float)d;
    }
    float f = lanes;
    for (int64_t i = i0; i < n; i++) f = fmaf(((const float *)row)[i], ((const float *)x)[i], f);
    return f;
}

/* The 32-value block types of cpu_quant_32.c (Q4_1, Q5_0, Q5_1, IQ4_NL and
 * the Q8_1 activations): their scalar kernels and dot types, entered by
 * cpu_kernels_init_ref. */
void cpu_quant_32_init_ref(cpu_kernels *k);
/* Their AVX2 dots (cpu_quant_32_avx2.c), entered by cpu_kernels_init_avx2. */
void cpu_quant_32_init_avx2(cpu_kernels *k);
/* Their AVX-512 dots (cpu_quant_32_avx512.c, the AVX2 dots' bits), entered by
 * cpu_kernels_init_avx512. */
void cpu_quant_32_init_avx512(cpu_kernels *k);

/* The NEON dots of the 32-value block types and the K-quants
 * (cpu_quant_neon.c, built twice), called by the NEON variants' inits. */
void cpu_quant_init_neon(cpu_kernels *k);
void cpu_quant_init_neon_dotprod(cpu_kernels *k);

/* Each overlays its functions on a table already filled by cpu_kernels_init_ref. */
void cpu_kernels_init_avx2(cpu_kernels *k);
void cpu_kernels_init_avx512(cpu_kernels *k);
/* ... and, where the CPU has AVX512_BF16, on cpu_kernels_init_avx512's table. */
void cpu_kernels_init_avx512_bf16(cpu_kernels *k);
void cpu_kernels_init_neon(cpu_kernels *k);
void cpu_kernels_init_neon_dotprod(cpu_kernels *k);

/* The K-quants' reference kernels and the Q8_K activations (cpu_quant_k.c),
 * called by cpu_kernels_init_ref. */
void cpu_kernels_init_kquants(cpu_kernels *k);
/* Their AVX2 dots and prefill tiles (cpu_quant_k_avx2.c), called by
 * cpu_kernels_init_avx2, and the AVX-512 tiles (cpu_quant_k_avx512.c),
 * called by cpu_kernels_init_avx512. */
void cpu_kernels_init_kquants_avx2(cpu_kernels *k);
void cpu_kernels_init_kquants_avx512(cpu_kernels *k);

#endif
