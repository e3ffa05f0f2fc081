/* vk_op_attention.c - causal grouped-query attention over the KV cache
 * (backend.h's attention op) on Vulkan.
 *
 * Two paths, by the number of query rows n:
 *   decode   (n <= ATTN_SPLIT_MAX_Q) split-K, "flash decoding": the cache is
 *            cut into a fixed number of chunks, each (chunk, head, row) is
 *            a workgroup writing a partial softmax (attn_split.comp), and a
 *            small second dispatch merges the chunks (attn_combine.comp).
 *            One query row gives too little work per head for a GPU; the
 *            chunks supply the parallelism.
 *   prefill  fused flash attention (attn_flash.comp): blocks of query rows
 *            stream K/V tiles through shared memory with online softmax;
 *            the score matrix is never stored.
 *
 * Replay. A decode step must issue the same dispatches as the one before
 * (vk_record.c replays a recorded command buffer when pipelines, bindings
 * and group counts match), yet n_kv grows by one each step. So nothing
 * recorded depends on n_kv: the caches are bound whole (all n_ctx rows), the
 * number of chunks comes from n_ctx, and pos0 / n_kv travel in the params;
 * each chunk works out its share of the filled rows on the device.
 *
 * Numerics: fp32 throughout, F16 caches are widened on load. The CPU
 * reference (cpu_attend_head) rounds the query and the softmax weights to
 * F16 for an F16 cache, as llama.cpp's CPU path does; the two agree to
 * about 1e-3 relative there, and to float rounding (~1e-6) for F32 caches.
 *
 * Partials of the split path live in a scratch tensor of the context
 * (vk_scratch), the same buffer every step so recordings stay valid.
 *
 * vk_op_attention_full is the same without the causal mask (a ViT's
 * attention, backend.h's attention_full): a flag in the params, not another
 * shader. Its K and V are usually plain activations of exactly n_kv rows
 * (a ViT tile: 1024 patches) rather than a cache of n_ctx: "the whole
 * cache" is then those rows, the chunk count follows from them, and pos0
 * plays no part (it is taken as 0, whatever the caller left there). */
#include "vk_internal.h"

#define ATTN_SPLIT_MAX_Q 4   /* query rows up to which decode's split path runs */
#define ATTN_CHUNK_ROWS 256  /* cache rows per chunk the chunk count aims at */
#define ATTN_MAX_CHUNKS 32   /* attn_combine reads every chunk per value */
/* Vulkan guarantees 128 invocations and 16 KiB of shared memory per
 * workgroup: enough for both kernels up to this head_dim (attn_split needs
 * head_dim / 2 invocations, attn_flash 4 x 8 tiles fit in 12.4 KiB). */
#define ATTN_MAX_HEAD_DIM 256
#define ATTN_WG_TARGET 128   /* invocations a workgroup aims at */

/* Mirrors of the shaders' uniform blocks (std140, scalars only). */
typedef struct attn_split_params {
    uint32_t n_q, n_head, group, n_chunks;
    uint32_t pos0, n_kv;
    float scale;
    uint32_t causal;
    uint32_t part_off, q_off, k_off, v_off;
    uint32_t q_stride, kv_stride;
} attn_split_params;

typedef struct attn_combine_params {
    uint32_t n_head, n_chunks;
    uint32_t out_off, part_off;
    uint32_t out_stride;
} attn_combine_params;

typedef struct attn_flash_params {
    uint32_t n_q, n_head, group;
    uint32_t pos0, n_kv;
    float scale;
    uint32_t causal;
    uint32_t out_off, q_off, k_off, v_off;
    uint32_t out_stride, q_stride;
    uint32_t kv_stride;
} attn_flash_params;

/* What both paths need, checked once. */
typedef struct attn_job {
    em_tensor *out;
    const em_tensor *q, *k, *v;
    uint32_t n_q, n_head, n_head_kv, hd, pos0, n_kv;
    float scale;
    bool causal, f16;
    vk_bind kb, vb; /* the caches' bindings */
} attn_job;

bool vk_op_attention_supports(const vk_ctx *c, enum em_type kv) {
    (void)c;
    return kv == EM_TYPE_F16 || kv == EM_TYPE_F32;
}

/* ---- shapes */

static bool aligned4(uint64_t x) { return (x & 3u) == 0; }

/* Bytes from the start of row 0 to the end of row n-1 of a 2-D tensor whose
 * rows hold `row_bytes` used bytes. */
static uint64_t attn_rows_bytes(const em_tensor *t, uint64_t n, uint64_t row_bytes) {
    return (n - 1) * t->nb[1] + row_bytes;
}

/* A cache binding: the whole cache where the device can bind it (what
 * decode replay needs), else only the rows this call reads. */
static bool attn_cache_bind(vk_ctx *c, vk_bind *b, const em_tensor *t, uint64_t row_bytes, uint64_t n_kv) {
    const vk_caps *caps = vk_ctx_caps(c);
    const uint64_t slack = caps->storage_align; /* the residual before the bound range */
    uint64_t n = (uint64_t)t->ne[1];
    if (attn_rows_bytes(t, n, row_bytes) + slack > caps->max_range) n = n_kv;
    *b = (vk_bind){.t = t, .off = 0, .size = attn_rows_bytes(t, n, row_bytes), .write = false};
    if (b->size + slack > caps->max_range) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: attention: %llu cache bytes exceed %s's storage-buffer range of %llu",
                (unsigned long long)b->size, caps->name, (unsigned long long)caps->max_range);
        return false;
    }
    return true;
}

/* Check the shapes (the caller's contract, but a wrong one must not read
 * past a buffer on the device) and fill the job. */
static bool attn_job_init(vk_ctx *c, attn_job *j, em_tensor *out, const em_tensor *q, const em_tensor *k,
                          const em_tensor *v, const em_attn_params *p, bool causal) {
    *j = (attn_job){.out = out, .q = q, .k = k, .v = v, .scale = p->scale, .causal = causal};
    const int64_t n_q = q->ne[1], n_ctx = k->ne[1];
    const char *why = NULL;
    if (q->type != EM_TYPE_F32 || out->type != EM_TYPE_F32) why = "q and out must be F32";
    else if (k->type != v->type || (k->type != EM_TYPE_F16 && k->type != EM_TYPE_F32)) why = "caches must be both F16 or both F32";
    else if (p->n_head <= 0 || p->n_head_kv <= 0 || p->n_head % p->n_head_kv) why = "n_head must be a multiple of n_head_kv";
    else if (p->head_dim < 2 || p->head_dim > ATTN_MAX_HEAD_DIM || p->head_dim % 2) why = "head_dim must be even, 2..256";
    else if (q->ne[0] < (int64_t)p->n_head * p->head_dim || out->ne[0] < (int64_t)p->n_head * p->head_dim ||
             out->ne[1] < n_q)
        why = "q/out rows are shorter than n_head * head_dim";
    else if (k->ne[0] < (int64_t)p->n_head_kv * p->head_dim || v->ne[0] < (int64_t)p->n_head_kv * p->head_dim ||
             v->ne[1] < n_ctx)
        why = "cache rows are shorter than n_head_kv * head_dim";
    else if (n_q < 1 || (causal && (p->pos0 < 0 || p->pos0 + n_q > n_ctx)) || p->n_kv < 1 || p->n_kv > n_ctx ||
             p->n_kv > INT32_MAX)
        why = "query positions past the end of the cache";
    else if (!aligned4(q->offs | q->nb[1] | out->offs | out->nb[1] | k->offs | k->nb[1] | v->offs | v->nb[1]) ||
             k->nb[1] != v->nb[1])
        why = "rows must be 4-byte aligned, K and V rows equally strided";
    if (why) {
        vk_fail(c, EM_ERR_ARG, "vulkan: attention: %s (n_head %d, n_head_kv %d, head_dim %d, %lld rows at %lld, cache %lld)",
                why, p->n_head, p->n_head_kv, p->head_dim, (long long)n_q, (long long)p->pos0, (long long)n_ctx);
        return false;
    }
    j->n_q = (uint32_t)n_q;
    j->n_head = (uint32_t)p->n_head;
    j->n_head_kv = (uint32_t)p->n_head_kv;
    j->hd = (uint32_t)p->head_dim;
    j->pos0 = causal ? (uint32_t)p->pos0 : 0;
    /* Causal: row i sees pos0 + i + 1 keys, as the CPU does whatever n_kv says. */
    j->n_kv = causal ? (uint32_t)(p->pos0 + n_q) : (uint32_t)p->n_kv;
    j->f16 = k->type == EM_TYPE_F16;
    const uint64_t row_bytes = (uint64_t)p->n_head_kv * p->head_dim * (j->f16 ? 2 : 4);
    return attn_cache_bind(c, &j->kb, k, row_bytes, j->n_kv) && attn_cache_bind(c, &j->vb, v, row_bytes, j->n_kv);
}

/* q or out, as the view spans. */
static vk_bind attn_view_bind(const em_tensor *t, bool write) {
    return (vk_bind){.t = t, .off = 0, .size = vk_view_bytes(t), .write = write};
}

/* ---- decode: split over the cache, then combine */

/* Chunks from the cache size alone (fixed for a context's life). */
static uint32_t attn_n_chunks(const em_tensor *k) {
    const int64_t n = (k->ne[1] + ATTN_CHUNK_ROWS - 1) / ATTN_CHUNK_ROWS;
    return n < 1 ? 1 : n > ATTN_MAX_CHUNKS ? ATTN_MAX_CHUNKS : (uint32_t)n;
}

static uint32_t pow2_ceil(uint32_t x) {
    uint32_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

static void attn_decode(vk_ctx *c, const attn_job *j) {
    const vk_caps *caps = vk_ctx_caps(c);
    /* NW invocations cover a value row (a pair each); RS rows at once. */
    const uint32_t nw = j->hd / 2;
    const uint32_t max_wg = caps->max_wg_invocations < caps->max_wg_size[0] ? caps->max_wg_invocations : caps->max_wg_size[0];
    uint32_t rs = ATTN_WG_TARGET / nw;
    if (rs < 1) rs = 1;
    while (rs > 1 && nw * rs > max_wg) rs--;
    const uint32_t w = nw * rs;
    if (w > max_wg) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: attention: head_dim %u needs %u invocations, %s allows %u", j->hd, w,
                caps->name, max_wg);
        return;
    }
    const bool sg = caps->subgroup_arith;
    const char *name = j->f16 ? (sg ? "attn_split_f16_sg" : "attn_split_f16") : (sg ? "attn_split_f32_sg" : "attn_split_f32");
    const uint32_t spec[6] = {w, 1, 1, j->hd, nw, pow2_ceil(w)};
    vk_pipeline *split = vk_pipeline_get(c, name, 4, spec, 6);
    uint32_t cw = j->hd < 64 ? j->hd : 64; /* combine: invocations over head_dim */
    if (cw > max_wg) cw = max_wg;
    const uint32_t cspec[4] = {cw, 1, 1, j->hd};
    vk_pipeline *combine = vk_pipeline_get(c, "attn_combine", 2, cspec, 4);
    if (!split || !combine) return;

    const uint32_t n_chunks = attn_n_chunks(j->k);
    /* Sized for the most rows this path takes, so the one buffer serves
     * every decode step and every layer. */
    const uint64_t per_row = (uint64_t)j->n_head * n_chunks * (j->hd + 2) * 4;
    em_tensor *part = vk_scratch(c, "attn.part", per_row * ATTN_SPLIT_MAX_Q);
    if (!part) return;
    const vk_bind pb = {.t = part, .off = 0, .size = per_row * j->n_q, .write = true};

    const attn_split_params sp = {
        .n_q = j->n_q, .n_head = j->n_head, .group = j->n_head / j->n_head_kv, .n_chunks = n_chunks,
        .pos0 = j->pos0, .n_kv = j->n_kv, .scale = j->scale, .causal = j->causal,
        .part_off = vk_bind_residual(c, part, 0), .q_off = vk_bind_residual(c, j->q, 0),
        .k_off = vk_bind_residual(c, j->k, 0), .v_off = vk_bind_residual(c, j->v, 0),
        .q_stride = (uint32_t)(j->q->nb[1] / 4), .kv_stride = (uint32_t)j->k->nb[1]};
    const vk_bind sb[4] = {pb, attn_view_bind(j->q, false), j->kb, j->vb};
    vk_dispatch(c, split, &sp, sizeof sp, 4, sb, n_chunks, j->n_head, j->n_q);

    const attn_combine_params cp = {
        .n_head = j->n_head, .n_chunks = n_chunks,
        .out_off = vk_bind_residual(c, j->out, 0), .part_off = sp.part_off,
        .out_stride = (uint32_t)(j->out->nb[1] / 4)};
    const vk_bind cb[2] = {attn_view_bind(j->out, true),
                           {.t = part, .off = 0, .size = pb.size, .write = false}};
    vk_dispatch(c, combine, &cp, sizeof cp, 2, cb, j->n_head, j->n_q, 1);
}

/* ---- prefill: fused flash attention */

typedef struct attn_tiles { uint32_t br, bc, tr; } attn_tiles;

/* Shared memory of attn_flash.comp: the query block, one K/V tile (rows
 * padded by a float), the score tile. */
static uint64_t attn_flash_shared(uint32_t hd, uint32_t br, uint32_t bc) {
    return 4ull * ((uint64_t)br * hd + (uint64_t)bc * (hd + 1) + (uint64_t)br * bc);
}

/* Tiles for the device. Taller blocks (BR query rows) reuse each K/V tile
 * more; wider tiles (BC keys) need fewer barrier rounds per key. Prefer the
 * tallest block with BC >= 16 that fits the shared memory, then narrower
 * tiles; no taller than the rows there are. TR invocations per row, about
 * ATTN_WG_TARGET invocations in all, within the device's limit. */
static bool attn_flash_pick(const vk_caps *caps, uint32_t hd, uint32_t n_rows, attn_tiles *t) {
    const uint32_t max_wg = caps->max_wg_invocations < caps->max_wg_size[0] ? caps->max_wg_invocations : caps->max_wg_size[0];
    static const uint32_t bcs[2][2] = {{32, 16}, {8, 4}};
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t br = 32; br >= 1; br /= 2) {
            if (br > 4 && br / 2 >= n_rows) continue;
            for (int i = 0; i < 2; i++) {
                const uint32_t bc = bcs[pass][i];
                uint32_t tr = ATTN_WG_TARGET / br < 8 ? 8 : ATTN_WG_TARGET / br;
                if (tr > bc) tr = bc;
                while (tr > 1 && br * tr > max_wg) tr /= 2;
                if (br * tr > max_wg || attn_flash_shared(hd, br, bc) > caps->max_shared) continue;
                *t = (attn_tiles){br, bc, tr};
                return true;
            }
        }
    return false;
}

static void attn_prefill(vk_ctx *c, const attn_job *j) {
    const vk_caps *caps = vk_ctx_caps(c);
    const uint32_t group = j->n_head / j->n_head_kv;
    const uint32_t n_rows = j->n_q * group; /* (row, head) pairs per KV head */
    attn_tiles t;
    if (!attn_flash_pick(caps, j->hd, n_rows, &t)) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: attention: head_dim %u does not fit %s's %u bytes of shared memory", j->hd,
                caps->name, caps->max_shared);
        return;
    }
    const uint32_t spec[7] = {t.br * t.tr, 1, 1, j->hd, t.br, t.bc, t.tr};
    vk_pipeline *pipe = vk_pipeline_get(c, j->f16 ? "attn_flash_f16" : "attn_flash_f32", 4, spec, 7);
    if (!pipe) return;
    const attn_flash_params fp = {
        .n_q = j->n_q, .n_head = j->n_head, .group = group, .pos0 = j->pos0, .n_kv = j->n_kv,
        .scale = j->scale, .causal = j->causal,
        .out_off = vk_bind_residual(c, j->out, 0), .q_off = vk_bind_residual(c, j->q, 0),
        .k_off = vk_bind_residual(c, j->k, 0), .v_off = vk_bind_residual(c, j->v, 0),
        .out_stride = (uint32_t)(j->out->nb[1] / 4), .q_stride = (uint32_t)(j->q->nb[1] / 4),
        .kv_stride = (uint32_t)j->k->nb[1]};
    const vk_bind b[4] = {attn_view_bind(j->out, true),
                          attn_view_bind(j->q, false), j->kb, j->vb};
    vk_dispatch(c, pipe, &fp, sizeof fp, 4, b, (n_rows + t.br - 1) / t.br, j->n_head_kv, 1);
}

/* ---- the op */

static void attn_run(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                     const em_attn_params *p, bool causal) {
    attn_job j;
    if (!attn_job_init(c, &j, out, q, k, v, p, causal)) return;
    if (j.n_q <= ATTN_SPLIT_MAX_Q) attn_decode(c, &j);
    else attn_prefill(c, &j);
}

void vk_op_attention(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                     const em_attn_params *p) {
    attn_run(c, out, q, k, v, p, true);
}

void vk_op_attention_full(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                          const em_attn_params *p) {
    attn_run(c, out, q, k, v, p, false);
}
