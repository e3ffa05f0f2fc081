/* mm_weights.glsl - reading weight rows of each type, for matvec.comp and
 * matmul.comp. The including shader declares the weight binding as
 *     readonly buffer W { uint w[]; };
 * and picks the type with one of -DW_F32, -DW_F16, -DW_BF16, -DW_Q8_0,
 * -DW_Q4_0, -DW_Q4_1, -DW_Q5_0, -DW_Q5_1, -DW_IQ4_NL, -DW_Q2_K, -DW_Q3_K,
 * -DW_Q4_K, -DW_Q5_K, -DW_Q6_K. Addresses are byte offsets into w.
 *
 * Quant blocks (Q8_0: 34 bytes, Q4_0: 18) and F16/BF16 rows of odd length
 * start on 2-byte boundaries, so a 32-bit value may straddle two words. The
 * loaders below read exactly the words that overlap the bytes asked for and
 * combine them with selects (mix), not branches: no read past the bytes a row
 * owns (vk_dispatch rounds a binding's end up to a word), and
 * no divergence when adjacent invocations sit in blocks of different
 * alignment.
 *
 * Quantized rows are read in quarter blocks ("units" of 8 values): 8 bytes of
 * Q8_0 or 4 bytes of Q4_0 nibbles, plus the block's fp16 scale. mm_quarter
 * returns the 8 integer values as two vec4 (lo, hi) and the scale; lo and hi
 * hold columns mm_quarter_cols(u).x + 0..3 and .y + 0..3 of the row. */

/* The 4 bytes at byte s (s even). */
uint mm_load4_a2(uint s) {
    const uint w0 = w[s >> 2], w1 = w[(s + 3u) >> 2]; /* the same word when s is aligned */
    return mix(w0, (w0 >> 16) | (w1 << 16), (s & 2u) != 0u);
}

/* The 8 bytes at byte s (s even). */
uvec2 mm_load8_a2(uint s) {
    const uint i = s >> 2;
    const uint w0 = w[i], w1 = w[i + 1u], w2 = w[(s + 7u) >> 2];
    return mix(uvec2(w0, w1), uvec2((w0 >> 16) | (w1 << 16), (w1 >> 16) | (w2 << 16)), bvec2((s & 2u) != 0u));
}

#if defined(W_Q8_0)

#define MM_BLOCK_BYTES 34u

/* Four signed bytes of v, lowest first. */
vec4 mm_i8x4(uint v) { return vec4((ivec4(v) << ivec4(24, 16, 8, 0)) >> 24); }

void mm_quarter(uint row_byte, uint u, out float d, out vec4 lo, out vec4 hi) {
    const uint blk = row_byte + (u >> 2) * MM_BLOCK_BYTES;
    d = EM_LOAD_F16(w, blk);
    const uvec2 q = mm_load8_a2(blk + 2u + (u & 3u) * 8u);
    lo = mm_i8x4(q.x);
    hi = mm_i8x4(q.y);
}

/* Quarter u holds 8 consecutive values. */
uvec2 mm_quarter_cols(uint u) { return uvec2(8u * u, 8u * u + 4u); }

#elif defined(W_Q4_0)

#define MM_BLOCK_BYTES 18u

void mm_quarter(uint row_byte, uint u, out float d, out vec4 lo, out vec4 hi) {
    const uint blk = row_byte + (u >> 2) * MM_BLOCK_BYTES;
    d = EM_LOAD_F16(w, blk);
    const uvec4 q = uvec4(mm_load4_a2(blk + 2u + (u & 3u) * 4u)) >> uvec4(0, 8, 16, 24);
    lo = vec4(q & 15u) - 8.0;        /* byte j's low nibble: value j */
    hi = vec4((q >> 4) & 15u) - 8.0; /* its high nibble: value j + 16 */
}

/* Quarter q of a block holds values 4q..4q+3 (low nibbles of bytes 4q..4q+3)
 * and 16+4q..16+4q+3 (their high nibbles). */
uvec2 mm_quarter_cols(uint u) {
    const uint c = (u >> 2) * 32u + (u & 3u) * 4u;
    return uvec2(c, c + 16u);
}

#elif defined(W_Q4_1) || defined(W_Q5_0) || defined(W_Q5_1) || defined(W_IQ4_NL)

/* The 32-value blocks with nibbles laid out as Q4_0's (byte j: value j in
 * its low nibble, value j + 16 in its high one), and per type:
 *   Q4_1   (20 bytes): fp16 d, fp16 m, nibbles;               d q + m
 *   Q5_0   (22 bytes): fp16 d, qh (bit j: value j's 5th bit), nibbles; d (q - 16)
 *   Q5_1   (24 bytes): fp16 d, fp16 m, qh, nibbles;           d q + m
 *   IQ4_NL (18 bytes): fp16 d, nibbles indexing a 16-level table; d t[q]
 * Types with a min return the values whole and d = 1: the callers scale
 * lo and hi by d, which a min does not follow. */
#if defined(W_Q4_1)
#define MM_BLOCK_BYTES 20u
#define MM_QS 4u
#elif defined(W_Q5_0)
#define MM_BLOCK_BYTES 22u
#define MM_QS 6u
#elif defined(W_Q5_1)
#define MM_BLOCK_BYTES 24u
#define MM_QS 8u
#else
#define MM_BLOCK_BYTES 18u
#define MM_QS 2u
const float mm_iq4nl[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                     1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
#endif

void mm_quarter(uint row_byte, uint u, out float d, out vec4 lo, out vec4 hi) {
    const uint blk = row_byte + (u >> 2) * MM_BLOCK_BYTES, qq = u & 3u;
    const float scale = EM_LOAD_F16(w, blk);
    const uvec4 q = (uvec4(mm_load4_a2(blk + MM_QS + qq * 4u)) >> uvec4(0, 8, 16, 24)) & 255u;
    uvec4 ql = q & 15u, qh4 = q >> 4;
#if defined(W_Q5_0) || defined(W_Q5_1)
    const uint qh = mm_load4_a2(blk + MM_QS - 4u);
    const uvec4 bit = uvec4(0, 1, 2, 3) + qq * 4u;
    ql |= ((uvec4(qh) >> bit) & 1u) << 4;
    qh4 |= ((uvec4(qh) >> (bit + 16u)) & 1u) << 4;
#endif
#if defined(W_IQ4_NL)
    d = scale;
    lo = vec4(mm_iq4nl[ql.x], mm_iq4nl[ql.y], mm_iq4nl[ql.z], mm_iq4nl[ql.w]);
    hi = vec4(mm_iq4nl[qh4.x], mm_iq4nl[qh4.y], mm_iq4nl[qh4.z], mm_iq4nl[qh4.w]);
#elif defined(W_Q5_0)
    d = scale;
    lo = vec4(ql) - 16.0;
    hi = vec4(qh4) - 16.0;
#else /* Q4_1, Q5_1 */
    const float m = EM_LOAD_F16(w, blk + 2u);
    d = 1.0;
    lo = vec4(ql) * scale + m;
    hi = vec4(qh4) * scale + m;
#endif
}

uvec2 mm_quarter_cols(uint u) {
    const uint c = (u >> 2) * 32u + (u & 3u) * 4u;
    return uvec2(c, c + 16u);
}

#elif defined(W_Q2_K) || defined(W_Q3_K)

/* The 2- and 3-bit K types: 256-value blocks with a scale per 16 values, as
 * llama.cpp lays them. Per 128-value half h, value 32g + l (g < 4, l < 32)
 * is bits 2g, 2g + 1 of qs byte 32h + l:
 *   Q2_K (84 bytes): scales[16] (low nibble the scale, high the min of
 *        value group j = v / 16), qs[64], fp16 d, fp16 dmin;
 *                                                  d sc q - dmin m
 *   Q3_K (110 bytes): hmask[32] (bit 4h + g of hmask[l]: value 128h + 32g
 *        + l's third bit), qs[64], scales[12] (16 6-bit scales, biased by
 *        32: low 4 bits in the nibbles of bytes 0..7, byte j % 8 low for
 *        j < 8, high after; top 2 bits in bytes 8 + j % 4, bits 2 (j / 4)),
 *        fp16 d;                                   d sc (q - 4).
 * A unit is 4 values of 32-value run s (s = 4h + g) and the 4 at 16 on, as
 * for the other K types, so the two halves of a unit take scales 2s and
 * 2s + 1. The values come back whole and d = 1. */
#if defined(W_Q2_K)
#define MM_SUPER_BYTES 84u
#else
#define MM_SUPER_BYTES 110u
#endif

void mm_quarter(uint row_byte, uint u, out float d, out vec4 lo, out vec4 hi) {
    const uint blk = row_byte + (u >> 5) * MM_SUPER_BYTES, s = (u >> 2) & 7u, l = (u & 3u) * 4u;
    const uint h = s >> 2, g = s & 3u;
    const uvec4 sh = uvec4(0, 8, 16, 24) + 2u * g;
    d = 1.0;
#if defined(W_Q2_K)
    const uint qs0 = blk + 16u + 32u * h;
    const uvec4 q_lo = (uvec4(mm_load4_a2(qs0 + l)) >> sh) & 3u;
    const uvec4 q_hi = (uvec4(mm_load4_a2(qs0 + l + 16u)) >> sh) & 3u;
    const float dd = EM_LOAD_F16(w, blk + 80u), dmin = EM_LOAD_F16(w, blk + 82u);
    const uint sc = mm_load4_a2(blk + 2u * s); /* scale bytes 2s, 2s + 1 */
    lo = (dd * float(sc & 15u)) * vec4(q_lo) - dmin * float((sc >> 4) & 15u);
    hi = (dd * float((sc >> 8) & 15u)) * vec4(q_hi) - dmin * float((sc >> 12) & 15u);
#else
    const uint qs0 = blk + 32u + 32u * h;
    uvec4 q_lo = (uvec4(mm_load4_a2(qs0 + l)) >> sh) & 3u;
    uvec4 q_hi = (uvec4(mm_load4_a2(qs0 + l + 16u)) >> sh) & 3u;
    q_lo |= ((uvec4(mm_load4_a2(blk + l)) >> (uvec4(0, 8, 16, 24) + s)) & 1u) << 2;
    q_hi |= ((uvec4(mm_load4_a2(blk + l + 16u)) >> (uvec4(0, 8, 16, 24) + s)) & 1u) << 2;
    /* scales 2s and 2s + 1: low bits in bytes 2g, 2g + 1 (nibble h), top
     * bits in bytes 8 + 2 (s & 1), + 1 (bits 2 (s >> 1)) */
    const uint lb = mm_load4_a2(blk + 96u + 2u * g) >> (4u * h);
    const uint tb = mm_load4_a2(blk + 104u + 2u * (s & 1u)) >> (2u * (s >> 1));
    const float s_lo = float(int((lb & 15u) | ((tb & 3u) << 4)) - 32);
    const float s_hi = float(int(((lb >> 8) & 15u) | (((tb >> 8) & 3u) << 4)) - 32);
    const float dd = EM_LOAD_F16(w, blk + 108u);
    lo = (dd * s_lo) * (vec4(q_lo) - 4.0);
    hi = (dd * s_hi) * (vec4(q_hi) - 4.0);
#endif
}

uvec2 mm_quarter_cols(uint u) {
    const uint c = (u >> 2) * 32u + (u & 3u) * 4u;
    return uvec2(c, c + 16u);
}

#elif defined(W_Q4_K) || defined(W_Q5_K) || defined(W_Q6_K)

/* The K types: 256-value blocks of eight 32-value sub-blocks, each with its
 * own scale (6 bits; Q4_K/Q5_K also a 6-bit min), as llama.cpp lays them:
 *   Q4_K (144 bytes): fp16 d, fp16 dmin, scales[12] (packed 6-bit scales
 *        and mins), qs[128]: bytes 32j.. hold sub-block 2j in their low
 *        nibbles and 2j + 1 in their high ones;        d sc q - dmin m
 *   Q5_K (176 bytes): as Q4_K with qh[32] before qs: bit s of qh[l] is the
 *        5th bit of value l of sub-block s;
 *   Q6_K (210 bytes): ql[128], qh[64], int8 scales[16] (one per 16 values),
 *        fp16 d: per 128-value half, value 32g + l (g < 4, l < 32) is ql
 *        byte l + 32 (g & 1), low nibble for g < 2, high for g >= 2, with
 *        bits 2g, 2g + 1 of qh[l] on top;                   d sc (q - 32).
 * A unit (8 values) is 4 of one sub-block and the 4 at 16 on, as for the
 * 32-value blocks, so the callers' column map is the same. The values come
 * back whole and d = 1 (the mins and per-sub-block scales are not one
 * factor). */
#if defined(W_Q4_K)
#define MM_SUPER_BYTES 144u
#elif defined(W_Q5_K)
#define MM_SUPER_BYTES 176u
#else
#define MM_SUPER_BYTES 210u
#endif

uint mm_byte(uint b) { return EM_LOAD_U8(w, b); }

#if !defined(W_Q6_K)
/* Scale and min of sub-block s (llama.cpp's get_scale_min_k4): 6 bits each,
 * the first four in the low bits of bytes s and s + 4, the others split
 * between the nibbles of byte s + 4 and the top bits of bytes s - 4, s. */
vec2 mm_scale_min(uint sb, uint s) {
    if (s < 4u) return vec2(float(mm_byte(sb + s) & 63u), float(mm_byte(sb + s + 4u) & 63u));
    const uint hi = mm_byte(sb + s + 4u);
    return vec2(float((hi & 15u) | ((mm_byte(sb + s - 4u) >> 6) << 4)), float((hi >> 4) | ((mm_byte(sb + s) >> 6) << 4)));
}
#endif

void mm_quarter(uint row_byte, uint u, out float d, out vec4 lo, out vec4 hi) {
    const uint blk = row_byte + (u >> 5) * MM_SUPER_BYTES, s = (u >> 2) & 7u, l = (u & 3u) * 4u;
    const uvec4 sh = uvec4(0, 8, 16, 24);
    d = 1.0;
#if defined(W_Q6_K)
    const uint n = s >> 2, g = s & 3u;
    const float dd = EM_LOAD_F16(w, blk + 208u);
    const uint qs0 = blk + 64u * n + 32u * (g & 1u), qh0 = blk + 128u + 32u * n;
    const uint nib = g >= 2u ? 4u : 0u;
    const uvec4 ql_lo = (uvec4(mm_load4_a2(qs0 + l)) >> (sh + nib)) & 15u;
    const uvec4 ql_hi = (uvec4(mm_load4_a2(qs0 + l + 16u)) >> (sh + nib)) & 15u;
    const uvec4 qh_lo = (uvec4(mm_load4_a2(qh0 + l)) >> (sh + 2u * g)) & 3u;
    const uvec4 qh_hi = (uvec4(mm_load4_a2(qh0 + l + 16u)) >> (sh + 2u * g)) & 3u;
    /* scales: one per 16 values, so values l.. and l + 16.. of the group
     * take consecutive ones */
    const uint sc0 = blk + 192u + 8u * n + 2u * g;
    const float s_lo = float(EM_LOAD_I8(w, sc0)), s_hi = float(EM_LOAD_I8(w, sc0 + 1u));
    lo = (dd * s_lo) * (vec4(ql_lo | (qh_lo << 4)) - 32.0);
    hi = (dd * s_hi) * (vec4(ql_hi | (qh_hi << 4)) - 32.0);
#else
    const float dd = EM_LOAD_F16(w, blk), dmin = EM_LOAD_F16(w, blk + 2u);
    const vec2 sm = mm_scale_min(blk + 4u, s);
#if defined(W_Q4_K)
    const uint qs0 = blk + 16u + 32u * (s >> 1);
#else
    const uint qs0 = blk + 48u + 32u * (s >> 1);
#endif
    const uint nib = (s & 1u) * 4u;
    uvec4 q_lo = (uvec4(mm_load4_a2(qs0 + l)) >> (sh + nib)) & 15u;
    uvec4 q_hi = (uvec4(mm_load4_a2(qs0 + l + 16u)) >> (sh + nib)) & 15u;
#if defined(W_Q5_K)
    q_lo |= ((uvec4(mm_load4_a2(blk + 16u + l)) >> (sh + s)) & 1u) << 4;
    q_hi |= ((uvec4(mm_load4_a2(blk + 16u + l + 16u)) >> (sh + s)) & 1u) << 4;
#endif
    lo = (dd * sm.x) * vec4(q_lo) - dmin * sm.y;
    hi = (dd * sm.x) * vec4(q_hi) - dmin * sm.y;
#endif
}

uvec2 mm_quarter_cols(uint u) {
    const uint c = (u >> 2) * 32u + (u & 3u) * 4u;
    return uvec2(c, c + 16u);
}

#elif defined(W_F16) || defined(W_BF16)

/* Values j and j+1 at byte b (b even). */
vec2 mm_pair(uint b) {
    const uint v = mm_load4_a2(b);
#if defined(W_F16)
    return unpackHalf2x16(v);
#else
    return vec2(uintBitsToFloat(v << 16), uintBitsToFloat(v & 0xffff0000u));
#endif
}

/* The one value at byte b (b even). */
float mm_single(uint b) {
#if defined(W_F16)
    return EM_LOAD_F16(w, b);
#else
    return EM_LOAD_BF16(w, b);
#endif
}

#elif !defined(W_F32)
#error "set one of W_F32 W_F16 W_BF16 W_Q8_0 W_Q4_0 W_Q4_1 W_Q5_0 W_Q5_1 W_IQ4_NL W_Q2_K W_Q3_K W_Q4_K W_Q5_K W_Q6_K"
#endif

#if defined(W_Q8_0) || defined(W_Q4_0) || defined(W_Q4_1) || defined(W_Q5_0) || defined(W_Q5_1) || defined(W_IQ4_NL) || \
    defined(W_Q2_K) || defined(W_Q3_K) || defined(W_Q4_K) || defined(W_Q5_K) || defined(W_Q6_K)
#define MM_QUANT 1
#endif

/* Activations meet F16 weights rounded to fp16 (to nearest even, as
 * em_fp32_to_fp16), as the CPU backend and llama.cpp's CPU kernels round them
 * before a product, so the backends multiply the same numbers (fp32
 * activations differ by up to 2e-3 relative in F16 products; rounded, the
 * conformance distance to llama.cpp fell from 1.6e-3 to 1.0e-3). With bit
 * operations, not packHalf2x16, whose rounding Vulkan leaves to the
 * implementation. BF16 weights take fp32 activations: the CPU rounds those
 * to bf16, but its 8-bit mantissa turns an upstream ulp into a 2^-9 step, and
 * measured, fp32 is nearer both the CPU and llama.cpp (7e-3 against 1.1e-2 on
 * the conformance models). F32 and quant weights take fp32 too. */
#if defined(W_F16)
#define mm_act(v) em_round_f16(v) /* common.glsl */
#else
#define mm_act(v) (v)
#endif
