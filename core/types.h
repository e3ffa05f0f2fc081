/* types.h - element and block types of tensors, with llama.cpp's numbering and
 * block layouts, so GGUF files written by llama.cpp are read as they are.
 *
 * Block-quantized types store a run of QK values as one scale plus small ints:
 *   Q8_0: 32 values = fp16 d + int8 q[32];             value = d * q
 *   Q4_0: 32 values = fp16 d + 16 bytes of nibbles;    value = d * (nib - 8),
 *         byte j holds value j (low nibble) and value j+16 (high nibble).
 *   Q4_1: 32 values = fp16 d, fp16 m + nibbles as Q4_0; value = d * nib + m.
 *   Q5_0: 32 values = fp16 d + qh[4] + nibbles;        value = d * (q - 16),
 *         q = nib | (bit j of the little-endian 32-bit qh) << 4.
 *   Q5_1: 32 values = fp16 d, fp16 m + qh[4] + nibbles; value = d * q + m.
 *   IQ4_NL: 32 values = fp16 d + nibbles as Q4_0;      value = d * kvalues[nib],
 *         a fixed non-linear table of 16 levels (core/cpu/cpu_quant_32.c).
 *   Q8_1: 32 values = fp16 d, fp16 s + int8 q[32];     value = d * q; s is
 *         d * sum(q), an activation type only (the dot type of Q4_1/Q5_1: the
 *         weights' m times s is the offset's share of the product).
 * K-quants ("super-blocks") store 256 values as 8 or 16 sub-blocks, each with
 * a small integer scale (and for Q2_K/Q4_K/Q5_K a min) that is itself scaled by
 * the block's fp16 d (and dmin):
 *   Q4_K: value = d * sc * q - dmin * m,  q 4 bits, 8 sub-blocks of 32, sc and
 *         m 6 bits each, packed in 12 bytes;
 *   Q5_K: as Q4_K with a fifth bit per value in qh;
 *   Q6_K: value = d * sc * (q - 32), q 6 bits (low 4 in ql, high 2 in qh),
 *         16 sub-blocks of 16, sc int8;
 *   Q2_K, Q3_K: 2 and 3 bits, 16 sub-blocks of 16 (see cpu_quant_k.c).
 *   Q8_K is their activation type only: float d, int8 q[256] and the sums of
 *   each 16 q (bsums), which a dot product uses to subtract the mins.
 * A row of n values of type t takes em_row_bytes(t, n) bytes; n must be a
 * multiple of em_type_block(t). */
#ifndef EMBER_TYPES_H
#define EMBER_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The ids are the ggml_type numbers GGUF stores; do not renumber. */
enum em_type {
    EM_TYPE_F32 = 0,
    EM_TYPE_F16 = 1,
    EM_TYPE_Q4_0 = 2,
    EM_TYPE_Q4_1 = 3,
    EM_TYPE_Q5_0 = 6,
    EM_TYPE_Q5_1 = 7,
    EM_TYPE_Q8_0 = 8,
    EM_TYPE_Q8_1 = 9,
    EM_TYPE_Q2_K = 10,
    EM_TYPE_Q3_K = 11,
    EM_TYPE_Q4_K = 12,
    EM_TYPE_Q5_K = 13,
    EM_TYPE_Q6_K = 14,
    EM_TYPE_Q8_K = 15,
    EM_TYPE_IQ2_XXS = 16,
    EM_TYPE_IQ2_XS = 17,
    EM_TYPE_IQ3_XXS = 18,
    EM_TYPE_IQ1_S = 19,
    EM_TYPE_IQ4_NL = 20,
    EM_TYPE_IQ3_S = 21,
    EM_TYPE_IQ2_S = 22,
    EM_TYPE_IQ4_XS = 23,
    EM_TYPE_I8 = 24,
    EM_TYPE_I16 = 25,
    EM_TYPE_I32 = 26,
    EM_TYPE_I64 = 27,
    EM_TYPE_F64 = 28,
    EM_TYPE_IQ1_M = 29,
    EM_TYPE_BF16 = 30,
    EM_TYPE_TQ1_0 = 34,
    EM_TYPE_TQ2_0 = 35,
    EM_TYPE_MXFP4 = 39,
    EM_TYPE_COUNT = 40, /* bound for tables indexed by type */
};

#define EM_QK8_0 32
#define EM_QK4_0 32
#define EM_QK32 32 /* values per block of every 32-value type below */

typedef uint16_t em_fp16; /* IEEE half, raw bits */
typedef uint16_t em_bf16; /* bfloat16, raw bits */

typedef struct {
    em_fp16 d;
    int8_t qs[EM_QK8_0];
} em_block_q8_0;

typedef struct {
    em_fp16 d;
    uint8_t qs[EM_QK4_0 / 2];
} em_block_q4_0;

typedef struct {
    em_fp16 d, m;
    uint8_t qs[EM_QK32 / 2];
} em_block_q4_1;

typedef struct {
    em_fp16 d;
    uint8_t qh[4]; /* bytes, not a uint32_t: the block is 22 bytes, 2-aligned */
    uint8_t qs[EM_QK32 / 2];
} em_block_q5_0;

typedef struct {
    em_fp16 d, m;
    uint8_t qh[4];
    uint8_t qs[EM_QK32 / 2];
} em_block_q5_1;

typedef struct {
    em_fp16 d;
    uint8_t qs[EM_QK32 / 2];
} em_block_iq4_nl;

typedef struct {
    em_fp16 d, s;
    int8_t qs[EM_QK32];
} em_block_q8_1;

_Static_assert(sizeof(em_block_q8_0) == 34, "Q8_0 block layout");
_Static_assert(sizeof(em_block_q4_0) == 18, "Q4_0 block layout");
_Static_assert(sizeof(em_block_q4_1) == 20, "Q4_1 block layout");
_Static_assert(sizeof(em_block_q5_0) == 22, "Q5_0 block layout");
_Static_assert(sizeof(em_block_q5_1) == 24, "Q5_1 block layout");
_Static_assert(sizeof(em_block_iq4_nl) == 18, "IQ4_NL block layout");
_Static_assert(sizeof(em_block_q8_1) == 36, "Q8_1 block layout");

/* ---- K-quants: 256-value super-blocks, ggml's layouts (ggml-common.h) */
#define EM_QK_K 256
#define EM_K_SCALE_SIZE 12 /* Q4_K/Q5_K: 8 6-bit scales and 8 6-bit mins */

typedef struct {
    uint8_t scales[EM_QK_K / 16]; /* per 16 values: scale (low nibble), min (high nibble) */
    uint8_t qs[EM_QK_K / 4];      /* 2-bit values */
    em_fp16 d, dmin;
} em_block_q2_K;

typedef struct {
    uint8_t hmask[EM_QK_K / 8];   /* third bit of each value */
    uint8_t qs[EM_QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];           /* 16 6-bit scales */
    em_fp16 d;
} em_block_q3_K;

typedef struct {
    em_fp16 d, dmin;
    uint8_t scales[EM_K_SCALE_SIZE];
    uint8_t qs[EM_QK_K / 2];      /* nibbles */
} em_block_q4_K;

typedef struct {
    em_fp16 d, dmin;
    uint8_t scales[EM_K_SCALE_SIZE];
    uint8_t qh[EM_QK_K / 8];      /* fifth bit of each value */
    uint8_t qs[EM_QK_K / 2];      /* low nibbles */
} em_block_q5_K;

typedef struct {
    uint8_t ql[EM_QK_K / 2];      /* low 4 bits */
    uint8_t qh[EM_QK_K / 4];      /* high 2 bits */
    int8_t scales[EM_QK_K / 16];
    em_fp16 d;
} em_block_q6_K;

typedef struct {
    float d;
    int8_t qs[EM_QK_K];
    int16_t bsums[EM_QK_K / 16];  /* sum of each 16 qs */
} em_block_q8_K;

_Static_assert(sizeof(em_block_q2_K) == 84, "Q2_K block layout");
_Static_assert(sizeof(em_block_q3_K) == 110, "Q3_K block layout");
_Static_assert(sizeof(em_block_q4_K) == 144, "Q4_K block layout");
_Static_assert(sizeof(em_block_q5_K) == 176, "Q5_K block layout");
_Static_assert(sizeof(em_block_q6_K) == 210, "Q6_K block layout");
_Static_assert(sizeof(em_block_q8_K) == 292, "Q8_K block layout");

/* Name ("q8_0"), or NULL for an id Ember does not know. */
const char *em_type_name(enum em_type t);
/* true for types Ember can load and compute with (F32 F16 BF16 Q8_0 Q4_0
 * Q4_1 Q5_0 Q5_1 IQ4_NL, the K-quants Q2_K..Q6_K; Q8_1 and Q8_K are
 * activation types, not weight types). */
bool em_type_supported(enum em_type t);
/* true for any id with a known size (may still be unsupported for compute):
 * every type llama.cpp writes to GGUF files, so any of them can be read and
 * listed (ember info) even where Ember cannot compute with it. */
bool em_type_known(enum em_type t);
/* Values per block (1 for plain types) and bytes per block; 0 if unknown. */
int em_type_block(enum em_type t);
size_t em_type_block_bytes(enum em_type t);
/* Bytes of a row of n values; 0 if the type is unknown or n is not a multiple
 * of the block size. */
size_t em_row_bytes(enum em_type t, int64_t n);

/* The name of a general.file_type value (llama.cpp's llama_ftype: "Q4_K_M",
 * "MOSTLY_F16" as "F16", ...), with " (guessed)" never added: the caller
 * masks the guessed bit (1024) off first. NULL for a value not known. */
const char *em_ftype_name(uint32_t ftype);

/* ---- fp16 / bf16 conversion (exact, round-to-nearest-even on the way down) */

static inline float em_fp32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t em_fp32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float em_fp16_to_fp32(em_fp16 h) {
#if defined(__aarch64__)
    /* Every ARMv8-A core converts halves in one instruction (FCVT); the
     * NEON dots take two to four scales a block through here. */
    __fp16 f;
    memcpy(&f, &h, 2);
    return (float)f;
#else
    /* Scale the half's bits into a float's and fix the exponent bias with one
     * multiply; subnormals via a magic-number subtraction. (x86-64's baseline
     * has no F16C: the AVX2 and AVX-512 files convert with it themselves.) */
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = 0xE0u << 23;
    const float exp_scale = em_fp32_from_bits(0x7800000u);
    const float normalized = em_fp32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
    const uint32_t magic_mask = 126u << 23;
    const float magic_bias = 0.5f;
    const float denormalized = em_fp32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
    const uint32_t denorm_cutoff = 1u << 27;
    const uint32_t r = sign | (two_w < denorm_cutoff ? em_fp32_to_bits(denormalized)
                                                      : em_fp32_to_bits(normalized));
    return em_fp32_from_bits(r);
#endif
}

static inline em_fp16 em_fp32_to_fp16(float f) {
    const float scale_to_inf = em_fp32_from_bits(0x77800000u);
    const float scale_to_zero = em_fp32_from_bits(0x08800000u);
    float base = (f < 0 ? -f : f) * scale_to_inf * scale_to_zero;
    const uint32_t w = em_fp32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = em_fp32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = em_fp32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (em_fp16)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float em_bf16_to_fp32(em_bf16 h) { return em_fp32_from_bits((uint32_t)h << 16); }

static inline em_bf16 em_fp32_to_bf16(float f) {
    uint32_t u = em_fp32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (em_bf16)((u >> 16) | 64); /* quiet NaN */
    return (em_bf16)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

#endif
