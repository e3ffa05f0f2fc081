#version 450
/* attn_split.comp - decode attention, first pass of "flash decoding": the
 * KV cache is cut into n_chunks chunks and each workgroup takes one
 * (chunk, query head, query row). It writes a partial result for its chunk:
 * the running maximum m of its scores, the sum l of exp(score - m) and the
 * weighted sum o[head_dim] of value rows with those weights.
 * attn_combine.comp merges the chunks.
 *
 * Why split: a decode step has one query row, so one workgroup per head
 * would leave most of a GPU idle and serialise a long cache on a few
 * cores; chunks give n_head * n_chunks workgroups. The number of chunks is
 * fixed by the cache size (not by n_kv), and each chunk's share is computed
 * here from the current n_kv, so the grid and the bindings are the same
 * from one decode step to the next and the recorded command buffer replays
 * with only the params changed. A chunk past the filled rows writes the
 * neutral partial (m = ATTN_NEG, l = 0, o = 0).
 *
 * Inside a workgroup of W = NW * RS invocations, per tile of W keys:
 *   scores  invocation t scores key base+t (a full head_dim dot product
 *           with the query, kept in shared memory);
 *   softmax the tile maximum is a workgroup reduction (shared memory tree,
 *           or subgroupMax with EM_SUBGROUP); online softmax rescales the
 *           running sums by exp(m_old - m_new);
 *   values  the NW = head_dim/2 value pairs of a row are spread over NW
 *           consecutive invocations (coalesced reads), and RS rows are
 *           summed at once; the RS slices are added at the end.
 *
 * Specialization: 0 = W (workgroup size), 3 = HD (head_dim, even),
 * 4 = NW (HD/2), 5 = RED_P2 (W rounded up to a power of two). */
#include "common.glsl"
#include "attn.glsl"

layout(constant_id = 3) const uint HD = 64;
layout(constant_id = 4) const uint NW = 32;
layout(constant_id = 5) const uint RED_P2 = 128;

const uint W = gl_WorkGroupSize.x;
const uint RS = W / NW;

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_q, n_head, group, n_chunks; /* group = n_head / n_head_kv */
    uint pos0, n_kv;                   /* n_kv = pos0 + n_q */
    float scale;
    uint causal;                       /* 0: every row sees all n_kv keys */
    uint part_off, q_off, k_off, v_off; /* residual offsets, bytes */
    uint q_stride;                     /* floats between query rows */
    uint kv_stride;                    /* bytes between cache rows */
} P;
/* part: [n_q][n_head][n_chunks][2 + HD] floats: m, l, o[HD]. */
layout(set = 0, binding = 1, std430) writeonly buffer Part { float part[]; };
layout(set = 0, binding = 2, std430) readonly buffer Q { float qb[]; };
layout(set = 0, binding = 3, std430) readonly buffer K { uint kb[]; };
layout(set = 0, binding = 4, std430) readonly buffer V { uint vb[]; };

shared vec2 sq[NW];    /* the query head */
shared float sp[W];    /* the tile's softmax weights */
shared float sred[W];  /* reduction scratch */
shared vec2 sacc[W];   /* the value slices, summed at the end */

#ifdef EM_SUBGROUP
/* subgroupMax/Add, then one value per subgroup through shared memory. */
float red_max(float x) {
    x = subgroupMax(x);
    if (subgroupElect()) sred[gl_SubgroupID] = x;
    barrier();
    float r = sred[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++) r = max(r, sred[i]);
    barrier();
    return r;
}

float red_sum(float x) {
    x = subgroupAdd(x);
    if (subgroupElect()) sred[gl_SubgroupID] = x;
    barrier();
    float r = sred[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++) r += sred[i];
    barrier();
    return r;
}
#else
/* A shared-memory tree for any W (not only powers of two) and any
 * subgroup size. The trailing barrier lets the next call reuse sred. */
float red_max(float x) {
    const uint t = gl_LocalInvocationID.x;
    sred[t] = x;
    barrier();
    [[unroll]] for (uint s = RED_P2 / 2u; s > 0u; s >>= 1) {
        if (t < s && t + s < W) sred[t] = max(sred[t], sred[t + s]);
        barrier();
    }
    const float r = sred[0];
    barrier();
    return r;
}

float red_sum(float x) {
    const uint t = gl_LocalInvocationID.x;
    sred[t] = x;
    barrier();
    [[unroll]] for (uint s = RED_P2 / 2u; s > 0u; s >>= 1) {
        if (t < s && t + s < W) sred[t] += sred[t + s];
        barrier();
    }
    const float r = sred[0];
    barrier();
    return r;
}
#endif

/* scale * (query . key row kw), kw the word index of the key head. */
float score(uint kw) {
    float s = 0.0;
    [[unroll]] for (uint j = 0u; j < NW; j++) s += dot(sq[j], KV_PAIR(kb, kw, j));
    return s * P.scale;
}

void main() {
    const uint t = gl_LocalInvocationID.x;
    const uint chunk = gl_WorkGroupID.x, h = gl_WorkGroupID.y, qi = gl_WorkGroupID.z;
    const uint head_w = h / P.group * HD * KV_ES / 4u; /* the KV head's first word in a row */
    const uint row_w = P.kv_stride / 4u;

    const uint qbase = P.q_off / 4u + qi * P.q_stride + h * HD;
    for (uint j = t; j < NW; j += W) sq[j] = vec2(ATTN_Q(qb[qbase + 2u * j]), ATTN_Q(qb[qbase + 2u * j + 1u]));
    barrier();

    /* This chunk's keys: chunks of len keys (a whole number of tiles) cut
     * from the longest row's n_kv, clipped to this row's causal limit. */
    const uint lim = P.causal != 0u ? P.pos0 + qi + 1u : P.n_kv;
    const uint len = ((P.n_kv + P.n_chunks - 1u) / P.n_chunks + W - 1u) / W * W;
    const uint c0 = min(chunk * len, lim), c1 = min(c0 + len, lim);

    const uint wi = t % NW, rs = t / NW; /* value pair and row slice */
    float m = ATTN_NEG, lsum = 0.0;
    vec2 acc = vec2(0.0);
    for (uint base = c0; base < c1; base += W) {
        const uint key = base + t;
        const float s = key < c1 ? score(P.k_off / 4u + key * row_w + head_w) : ATTN_NEG;
        const float m_new = max(m, red_max(s));
        const float alpha = exp(m - m_new);
        const float p = key < c1 ? exp(s - m_new) : 0.0;
        lsum = lsum * alpha + p;
        sp[t] = p;
        barrier();
        acc *= alpha;
        if (rs < RS) {
            const uint n_rows = min(W, c1 - base);
            for (uint r = rs; r < n_rows; r += RS)
                acc += sp[r] * KV_PAIR(vb, P.v_off / 4u + (base + r) * row_w + head_w, wi);
        }
        m = m_new;
        barrier(); /* sp is rewritten by the next tile */
    }

    const float l = red_sum(lsum);
    sacc[t] = acc;
    barrier();
    const uint pbase = P.part_off / 4u + ((qi * P.n_head + h) * P.n_chunks + chunk) * (HD + 2u);
    if (rs == 0u) {
        vec2 o = acc;
        for (uint k = 1u; k < RS; k++) o += sacc[k * NW + wi];
        part[pbase + 2u + 2u * wi] = o.x;
        part[pbase + 3u + 2u * wi] = o.y;
    }
    if (t == 0u) {
        part[pbase] = m;
        part[pbase + 1u] = l;
    }
}
