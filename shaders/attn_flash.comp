#version 450
/* attn_flash.comp - prefill attention, fused ("flash attention"): a
 * workgroup takes a block of BR query rows and streams the KV cache through
 * shared memory in tiles of BC keys, with online softmax, so the n x n_kv
 * score matrix is never stored; only a BR x BC tile of it lives in shared
 * memory at a time.
 *
 * Rows of a block are (query row, head) pairs of one KV head: with
 * G = n_head / n_head_kv query heads per KV head, packed row R is query row
 * R / G, head hk * G + R % G. So a K/V tile loaded once serves all G heads
 * that read it (G times less cache traffic under GQA), and a prefill of a
 * few rows still fills the block. The causal mask is by position: packed
 * row R sees keys 0 .. pos0 + R / G.
 *
 * W = BR * TR invocations; the TR invocations of row r
 *   - compute the row's BC scores, BC / TR each (q row from shared memory,
 *     broadcast; K rows padded to HD + 1 floats, so the TR invocations
 *     read different banks);
 *   - each read the row's whole score tile back for its maximum (no
 *     reduction, no subgroup operation: the same on every device);
 *   - own HD / TR output values in registers (columns j, j + TR, ...: the
 *     TR invocations read adjacent V values).
 * K and V take turns in one shared tile, which is what lets the tiles fit
 * the V3D's 16 KiB. BR and BC are chosen on the host from the device's
 * shared memory and workgroup limits (vk_op_attention.c).
 *
 * Specialization: 0 = W, 3 = HD (head_dim, even), 4 = BR, 5 = BC,
 * 6 = TR (divides BC). */
#include "common.glsl"
#include "attn.glsl"

layout(constant_id = 3) const uint HD = 64;
layout(constant_id = 4) const uint BR = 16;
layout(constant_id = 5) const uint BC = 32;
layout(constant_id = 6) const uint TR = 8;

const uint W = gl_WorkGroupSize.x;
const uint NW = HD / 2u;             /* value pairs per head */
const uint KS = HD + 1u;             /* padded K/V row in shared memory */
const uint NS = BC / TR;             /* scores per invocation */
const uint NA = (HD + TR - 1u) / TR; /* output values per invocation */

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_q, n_head, group; /* group = n_head / n_head_kv */
    uint pos0, n_kv;         /* n_kv = pos0 + n_q */
    float scale;
    uint causal;             /* 0: every row sees all n_kv keys */
    uint out_off, q_off, k_off, v_off; /* residual offsets, bytes */
    uint out_stride, q_stride;         /* floats between rows */
    uint kv_stride;                    /* bytes between cache rows */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer Q { float qb[]; };
layout(set = 0, binding = 3, std430) readonly buffer K { uint kb[]; };
layout(set = 0, binding = 4, std430) readonly buffer V { uint vb[]; };

shared float sq[BR * HD];  /* the block's query rows */
shared float skv[BC * KS]; /* the K tile, then the V tile */
shared float ss[BR * BC];  /* scores, then softmax weights */

/* Keys [base, base + BC) of cache kb/vb into skv; keys past kend are zeros
 * (rows past n_kv may never have been written: NaN bits). */
#define ATTN_LOAD_TILE(buf, off_b)                                                   \
    for (uint i = gl_LocalInvocationID.x; i < BC * NW; i += W) {                     \
        const uint c = i / NW, j = i % NW;                                           \
        const vec2 x = base + c < kend                                               \
            ? KV_PAIR(buf, (off_b) / 4u + (base + c) * row_w + head_w, j) : vec2(0.0); \
        skv[c * KS + 2u * j] = x.x;                                                  \
        skv[c * KS + 2u * j + 1u] = x.y;                                             \
    }

void main() {
    const uint t = gl_LocalInvocationID.x;
    const uint r = t / TR, j = t % TR;
    const uint blk = gl_WorkGroupID.x, hk = gl_WorkGroupID.y;
    const uint G = P.group, n_rows = P.n_q * G;
    const uint head_w = hk * HD * KV_ES / 4u;
    const uint row_w = P.kv_stride / 4u;

    /* The block's query rows, zeros past the last. */
    for (uint i = t; i < BR * HD; i += W) {
        const uint R = blk * BR + i / HD;
        sq[i] = R < n_rows ? ATTN_Q(qb[P.q_off / 4u + R / G * P.q_stride + (hk * G + R % G) * HD + i % HD]) : 0.0;
    }

    /* Keys this row sees, and the last key any row of the block sees. */
    const uint R = blk * BR + r;
    const uint lim = R >= n_rows ? 0u : P.causal != 0u ? P.pos0 + R / G + 1u : P.n_kv;
    const uint last_q = (min(blk * BR + BR, n_rows) - 1u) / G;
    const uint kend = P.causal != 0u ? min(P.n_kv, P.pos0 + last_q + 1u) : P.n_kv;

    float m = ATTN_NEG, lsum = 0.0;
    float acc[NA];
    [[unroll]] for (uint a = 0u; a < NA; a++) acc[a] = 0.0;

    for (uint base = 0u; base < kend; base += BC) {
        ATTN_LOAD_TILE(kb, P.k_off)
        barrier();

        /* Scores of keys base + j + k * TR for this row. */
        float s[NS];
        [[unroll]] for (uint k = 0u; k < NS; k++) s[k] = 0.0;
        for (uint d = 0u; d < HD; d++) {
            const float qd = sq[r * HD + d];
            [[unroll]] for (uint k = 0u; k < NS; k++) s[k] += qd * skv[(j + k * TR) * KS + d];
        }
        [[unroll]] for (uint k = 0u; k < NS; k++) {
            s[k] = base + j + k * TR < lim ? s[k] * P.scale : ATTN_NEG;
            ss[r * BC + j + k * TR] = s[k];
        }
        barrier();

        /* Online softmax: every invocation of the row reads the row's tile. */
        float mt = ATTN_NEG;
        for (uint c = 0u; c < BC; c++) mt = max(mt, ss[r * BC + c]);
        const float m_new = max(m, mt);
        const float alpha = exp(m - m_new);
        lsum *= alpha;
        barrier(); /* all scores read before they become weights */

        [[unroll]] for (uint k = 0u; k < NS; k++) {
            const float p = base + j + k * TR < lim ? exp(s[k] - m_new) : 0.0;
            lsum += p;
            ss[r * BC + j + k * TR] = p;
        }
        ATTN_LOAD_TILE(vb, P.v_off)
        barrier();

        [[unroll]] for (uint a = 0u; a < NA; a++) acc[a] *= alpha;
        for (uint c = 0u; c < BC; c++) {
            const float p = ss[r * BC + c];
            [[unroll]] for (uint a = 0u; a < NA; a++) {
                const uint d = j + a * TR;
                if (d < HD) acc[a] += p * skv[c * KS + d];
            }
        }
        m = m_new;
        barrier(); /* skv and ss are rewritten by the next tile */
    }

    /* The row's weight sum: TR partial sums through shared memory. */
    ss[r * TR + j] = lsum;
    barrier();
    float l = 0.0;
    for (uint k = 0u; k < TR; k++) l += ss[r * TR + k];
    if (R < n_rows) {
        const float inv = 1.0 / l;
        const uint obase = P.out_off / 4u + R / G * P.out_stride + (hk * G + R % G) * HD;
        [[unroll]] for (uint a = 0u; a < NA; a++) {
            const uint d = j + a * TR;
            if (d < HD) o[obase + d] = acc[a] * inv;
        }
    }
}
