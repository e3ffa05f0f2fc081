/* vk_op_matmul.c - matrix products on Vulkan:
 *     out[i][r] = sum_j w[r][j] * x[i][j]      r < m, i < n, j < k
 * w: [m][k] F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K, read as stored (quant
 * blocks are decoded in registers and shared memory, never copied dequantized);
 * x: F32 [n][k]; out: F32 [n][m]. Row strides (nb[1]) of all three may be
 * wider than a row (views).
 *
 * Two kernels, chosen by n:
 *   n <= MM_MATVEC_MAX_N  shaders/matvec.comp: decode. Memory-bound, so a
 *       workgroup per few weight rows streams them once for all n activation
 *       rows; variant _sg reduces with subgroupAdd where the device has
 *       subgroup arithmetic, the plain one through shared memory only.
 *   otherwise             shaders/matmul.comp: prefill. A tiled product
 *       (BM x BN output tiles, TM x TN per invocation) with tile sizes picked
 *       from the device's shared memory and workgroup limits.
 * Both accumulate in fp32. Activations are rounded to fp16 for F16 weights,
 * as the CPU backend and llama.cpp round them (so the backends agree to fp32
 * summation order); for F32, BF16, Q8_0 and Q4_0 weights they are used as
 * fp32, where the CPU rounds them to bf16 or quantizes them to Q8_0 blocks
 * (results differ by that rounding, ~1e-2 relative; shaders/mm_weights.glsl
 * says why BF16 is not mirrored).
 *
 * Large products become several dispatches: weight rows in ranges whose
 * bytes fit one storage binding (maxStorageBufferRange, less the alignment
 * slack; capped at 2 GiB so byte offsets fit the shaders' uint) and whose
 * workgroups fit maxComputeWorkGroupCount; activation rows likewise. Every
 * choice here (kernel, variant, tile, ranges, group counts) depends only on
 * shapes and the device, never on data, so a recorded command buffer replays. */
#include <inttypes.h>
#include <stdio.h>

#include "vk_internal.h"

/* Up to this many activation rows, the matrix-vector kernel: it reads the
 * weights once for all of them, and keeps ROWS x n sums per invocation. */
#define MM_MATVEC_MAX_N 8
/* matmul.comp's k slice (one quant block). */
#define MM_BK 32u

/* The params block of matvec.comp and matmul.comp (std140, scalars only). */
typedef struct mm_params {
    uint32_t m, k, n;          /* weight rows in this dispatch, values per row, activation rows */
    uint32_t w_off, w_stride;  /* residual offset, row stride: bytes */
    uint32_t x_off, x_stride;  /* bytes, floats */
    uint32_t o_off, o_stride;  /* bytes, floats */
    uint32_t acc;              /* 1: out += w x */
} mm_params;
_Static_assert(sizeof(mm_params) <= VK_MAX_PARAMS, "matmul params fit the uniform block");

/* A pipeline and the output block one of its workgroups computes. */
typedef struct mm_kernel {
    vk_pipeline *pipe;
    uint32_t rows, cols; /* weight rows (group x), activation rows (group y) */
} mm_kernel;

/* The output tile of matmul.comp: BM x BN per workgroup, TM x TN per
 * invocation. */
typedef struct mm_tile {
    uint32_t bm, bn, tm, tn;
} mm_tile;

/* In order of preference; the first that fits the device (and, for small n,
 * does not waste most of its columns) is used. Shared memory is
 * 32 k-steps x (BM + BN + 8) floats. 8 x 8 per invocation halves the shared
 * memory reads per multiply-add against 4 x 4 (on llvmpipe, 1536 x 576 x 128
 * Q8_0: 7.0 GFLOP/s at 128 x 64 / 8 x 8, 3.7 at 64 x 64 / 4 x 4). A 16 KiB
 * device (V3D) gets 64 x 32 / 4 x 4 (13 KB, 128 invocations). */
static const mm_tile mm_tiles[] = {
    {128, 64, 8, 8}, /* 128 invocations, 25 KB of shared memory */
    {64, 64, 8, 8},  /* 64, 17 KB */
    {128, 32, 8, 8}, /* 64, 21 KB */
    {64, 32, 4, 4},  /* 128, 13 KB: V3D */
    {64, 16, 4, 4},  /* 64, 11 KB */
    {32, 32, 4, 4},  /* 64, 9 KB */
    {16, 16, 4, 4},  /* 16, 5 KB */
};

static const char *mm_type_name(enum em_type t) {
    switch (t) {
    case EM_TYPE_F32: return "f32";
    case EM_TYPE_F16: return "f16";
    case EM_TYPE_BF16: return "bf16";
    case EM_TYPE_Q8_0: return "q8_0";
    case EM_TYPE_Q4_0: return "q4_0";
    case EM_TYPE_Q4_1: return "q4_1";
    case EM_TYPE_Q5_0: return "q5_0";
    case EM_TYPE_Q5_1: return "q5_1";
    case EM_TYPE_IQ4_NL: return "iq4_nl";
    case EM_TYPE_Q2_K: return "q2_k";
    case EM_TYPE_Q3_K: return "q3_k";
    case EM_TYPE_Q4_K: return "q4_k";
    case EM_TYPE_Q5_K: return "q5_k";
    case EM_TYPE_Q6_K: return "q6_k";
    default: return NULL;
    }
}

bool vk_op_matmul_supports(const vk_ctx *c, enum em_type t) {
    (void)c; /* every kernel is portable: 32-bit storage, fp32 arithmetic */
    return mm_type_name(t) != NULL && em_type_supported(t); /* the CPU is the reference the kernels are tested against */
}

static uint32_t mm_pow2_floor(uint32_t v) {
    uint32_t p = 1;
    while (p * 2 <= v) p *= 2;
    return p;
}

static uint32_t mm_min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* ---- kernel choice */

/* Units (what one invocation takes per step) in a row of k values: a value
 * (F32), a word (F16/BF16 pair), a quarter block (Q8_0/Q4_0). */
static uint32_t mv_units(enum em_type t, uint32_t k) {
    if (t == EM_TYPE_F32) return k;
    if (t == EM_TYPE_F16 || t == EM_TYPE_BF16) return (k + 1) / 2;
    return k / 8;
}

/* matvec.comp for ncols activation rows.
 * GPUs: ROWS = 2 (two weight rows share each activation load; registers stay
 * few and many workgroups are in flight to hide memory latency); up to 128
 * invocations, halved while a row has no more than half as many units, so
 * few idle on short rows (k = 576 Q8_0: 72 quarter blocks, 64 invocations).
 * CPU devices (lavapipe) run a workgroup's invocations as SIMD lanes of one
 * thread, where each workgroup and each barrier has a fixed cost: there one
 * subgroup per workgroup and ROWS = 8 (1536 x 576 Q8_0 on llvmpipe: 0.6-0.9
 * ms against 2.2-3.8 ms with the GPU choice).
 * A limit mode (EMBER_VK_LIMITS=v3d) stands for a GPU: it gets the GPU
 * choice, which is how tests on lavapipe reach that path.
 * Either way within the device's limits and the reduction's shared memory
 * (ROWS x ncols x WG floats). */
static mm_kernel mv_kernel(vk_ctx *c, enum em_type t, uint32_t k, uint32_t ncols) {
    const vk_caps *cp = vk_ctx_caps(c);
    const bool cpu = cp->cpu_tuning;
    const uint32_t rows = cpu ? 8 : 2;
    const uint32_t wg_max = mm_min_u32(cp->max_wg_invocations, cp->max_wg_size[0]);
    uint32_t wg = mm_pow2_floor(mm_min_u32(cpu ? mm_min_u32(cp->subgroup_size ? cp->subgroup_size : 8, 16) : 128, wg_max));
    const uint32_t units = mv_units(t, k);
    while (wg > 32 && wg / 2 >= units) wg /= 2;
    while (wg > 1 && rows * ncols * wg * 4 > cp->max_shared) wg /= 2;
    const bool sg = cp->subgroup_arith;
    char name[48];
    snprintf(name, sizeof name, "matvec_%s%s", mm_type_name(t), sg ? "_sg" : "");
    const uint32_t spec[5] = {wg, 1, 1, rows, ncols};
    return (mm_kernel){vk_pipeline_get(c, name, 3, spec, 5), rows, ncols};
}

static uint32_t mm_tile_shared(const mm_tile *tl) { return 16 * MM_BK * (tl->bm / 4 + 1 + tl->bn / 4 + 1); }
static uint32_t mm_tile_wg(const mm_tile *tl) { return (tl->bm / tl->tm) * (tl->bn / tl->tn); }

/* The largest tile the device takes; for n below the tile's width, the
 * largest whose width does not exceed n rounded up to a power of two (16 at
 * least). NULL when none fits (a device below Vulkan's minimum limits). */
static const mm_tile *mm_tile_pick(const vk_caps *cp, uint32_t n) {
    const mm_tile *fit = NULL;
    uint32_t want = 16;
    while (want < n && want < 64) want *= 2;
    for (size_t i = 0; i < sizeof mm_tiles / sizeof mm_tiles[0]; i++) {
        const mm_tile *tl = &mm_tiles[i];
        const uint32_t wg = mm_tile_wg(tl);
        if (mm_tile_shared(tl) > cp->max_shared || wg > cp->max_wg_invocations || wg > cp->max_wg_size[0])
            continue;
        if (!fit) fit = tl;
        if (tl->bn <= want) return tl;
    }
    return fit;
}

static mm_kernel mm_kernel_get(vk_ctx *c, enum em_type t, uint32_t n) {
    const mm_tile *tl = mm_tile_pick(vk_ctx_caps(c), n);
    if (!tl) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "matmul: no tile fits the device's shared memory and workgroup limits");
        return (mm_kernel){0};
    }
    char name[48];
    snprintf(name, sizeof name, "matmul_%s", mm_type_name(t));
    const uint32_t spec[7] = {mm_tile_wg(tl), 1, 1, tl->bm, tl->bn, tl->tm, tl->tn};
    return (mm_kernel){vk_pipeline_get(c, name, 3, spec, 7), tl->bm, tl->bn};
}

/* ---- splitting into dispatches */

/* The shape of one product, in the units the shaders use. */
typedef struct mm_shape {
    uint64_t m, n, k;
    uint64_t w_row, w_stride;   /* bytes of a row's data, bytes between rows */
    uint64_t x_stride, o_stride; /* floats */
} mm_shape;

/* Bytes a binding may span: the device's range less the residual a
 * binding can start with and the rounding of its end to a word; capped so
 * byte offsets in it fit a uint. */
static uint64_t mm_bind_limit(const vk_caps *cp) {
    const uint64_t cap = (uint64_t)1 << 31;
    const uint64_t r = cp->max_range < cap ? cp->max_range : cap;
    const uint64_t slack = (uint64_t)cp->storage_align + 4;
    return r > slack ? r - slack : 0;
}

/* Weight rows per dispatch: their bytes fit a binding, their output columns
 * fit one output binding, their workgroups fit the group count; a multiple
 * of the kernel's rows unless that is all of m. 0 if one row does not fit. */
static uint64_t mm_rows_per_dispatch(const vk_caps *cp, const mm_shape *s, uint32_t rows_per_group) {
    const uint64_t lim = mm_bind_limit(cp);
    if (s->w_row > lim || 4 * s->k > lim) return 0;
    uint64_t mc = (lim - s->w_row) / s->w_stride + 1;
    if (mc > lim / 4) mc = lim / 4;
    const uint64_t by_groups = (uint64_t)cp->max_groups[0] * rows_per_group;
    if (mc > by_groups) mc = by_groups;
    if (mc >= s->m) return s->m;
    return mc >= rows_per_group ? mc / rows_per_group * rows_per_group : mc;
}

/* Activation rows per dispatch, for mc weight rows: their inputs and their
 * outputs fit a binding, their workgroups fit the group count. */
static uint64_t mm_cols_per_dispatch(const vk_caps *cp, const mm_shape *s, uint64_t mc, uint32_t cols_per_group) {
    const uint64_t lim = mm_bind_limit(cp);
    uint64_t nc = s->n;
    const uint64_t by_x = (lim - 4 * s->k) / (4 * s->x_stride) + 1;
    const uint64_t by_o = (lim - 4 * mc) / (4 * s->o_stride) + 1;
    const uint64_t by_groups = (uint64_t)cp->max_groups[1] * cols_per_group;
    if (nc > by_x) nc = by_x;
    if (nc > by_o) nc = by_o;
    if (nc > by_groups) nc = by_groups;
    return nc;
}

/* A binding of len bytes at off in t. (vk_dispatch rounds its end up to a
 * word: the shaders read whole words, and quant blocks and odd F16 rows may
 * end on a half word.) */
static vk_bind mm_bind(const em_tensor *t, uint64_t off, uint64_t len, bool write) {
    return (vk_bind){t, off, len, write};
}

/* One dispatch: weight rows [r0, r0+mc) by activation rows [i0, i0+nc). */
static void mm_dispatch(vk_ctx *c, const mm_kernel *kn, em_tensor *out, const em_tensor *w, const em_tensor *x,
                        const mm_shape *s, uint64_t r0, uint64_t mc, uint64_t i0, uint64_t nc, bool acc) {
    const vk_bind b[3] = {
        mm_bind(out, 4 * (i0 * s->o_stride + r0), 4 * ((nc - 1) * s->o_stride + mc), true),
        mm_bind(w, r0 * s->w_stride, (mc - 1) * s->w_stride + s->w_row, false),
        mm_bind(x, 4 * i0 * s->x_stride, 4 * ((nc - 1) * s->x_stride + s->k), false),
    };
    const mm_params p = {
        .m = (uint32_t)mc, .k = (uint32_t)s->k, .n = (uint32_t)nc,
        .w_off = vk_bind_residual(c, w, b[1].off), .w_stride = (uint32_t)s->w_stride,
        .x_off = vk_bind_residual(c, x, b[2].off), .x_stride = (uint32_t)s->x_stride,
        .o_off = vk_bind_residual(c, out, b[0].off), .o_stride = (uint32_t)s->o_stride,
        .acc = acc,
    };
    const uint32_t gx = (uint32_t)((mc + kn->rows - 1) / kn->rows);
    const uint32_t gy = (uint32_t)((nc + kn->cols - 1) / kn->cols);
    vk_dispatch(c, kn->pipe, &p, sizeof p, 3, b, gx, gy, 1);
}

/* The kernel for nc activation rows (matvec's variant depends on nc). */
static mm_kernel mm_kernel_for(vk_ctx *c, enum em_type t, const mm_shape *s, uint64_t nc) {
    if (s->n <= MM_MATVEC_MAX_N) return mv_kernel(c, t, (uint32_t)s->k, (uint32_t)nc);
    return mm_kernel_get(c, t, (uint32_t)nc);
}

static void mm_run(vk_ctx *c, em_tensor *out, const em_tensor *w, const em_tensor *x, const mm_shape *s, bool acc) {
    const vk_caps *cp = vk_ctx_caps(c);
    /* Group sizes for splitting: the kernel of the whole product. */
    const mm_kernel whole = mm_kernel_for(c, w->type, s, s->n);
    if (!whole.pipe) return;
    const uint64_t mc = mm_rows_per_dispatch(cp, s, whole.rows);
    const uint64_t nc = mc ? mm_cols_per_dispatch(cp, s, mc, whole.cols) : 0;
    if (mc == 0 || nc == 0) {
        vk_fail(c, EM_ERR_UNSUPPORTED,
                "matmul: %s: a row (%" PRIu64 " weight bytes, %" PRIu64 " values) exceeds the device's "
                "storage buffer range (%" PRIu64 " bytes)",
                w->name ? w->name : "weight", s->w_row, s->k, cp->max_range);
        return;
    }
    for (uint64_t r0 = 0; r0 < s->m; r0 += mc) {
        for (uint64_t i0 = 0; i0 < s->n; i0 += nc) {
            const uint64_t mr = s->m - r0 < mc ? s->m - r0 : mc, nr = s->n - i0 < nc ? s->n - i0 : nc;
            const mm_kernel kn = nr == s->n ? whole : mm_kernel_for(c, w->type, s, nr);
            if (!kn.pipe) return;
            mm_dispatch(c, &kn, out, w, x, s, r0, mr, i0, nr, acc);
        }
    }
}

/* ---- the op */

/* Shapes, types and alignments the kernels rely on; false (and the context
 * failed) otherwise. */
static bool mm_check(vk_ctx *c, const em_tensor *out, const em_tensor *w, const em_tensor *x) {
    const char *wn = w->name ? w->name : "weight";
    const enum em_type t = w->type;
    if (!mm_type_name(t) || x->type != EM_TYPE_F32 || out->type != EM_TYPE_F32) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "matmul: %s: types %d x %d -> %d; want F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/IQ4_NL/Q2_K/Q3_K/Q4_K/Q5_K/Q6_K x F32 -> F32",
                wn, (int)t, (int)x->type, (int)out->type);
        return false;
    }
    const int64_t m = w->ne[1], k = w->ne[0], n = x->ne[1];
    if (k < 1 || x->ne[0] != k || out->ne[0] != m || out->ne[1] != n || k % em_type_block(t) != 0) {
        vk_fail(c, EM_ERR_ARG,
                "matmul: %s: shapes w [%" PRId64 "][%" PRId64 "], x [%" PRId64 "][%" PRId64 "], out [%" PRId64
                "][%" PRId64 "] do not match",
                wn, m, k, n, x->ne[0], out->ne[1], out->ne[0]);
        return false;
    }
    /* F32 is read in words, F16/BF16/quant blocks in half words. */
    const size_t walign = t == EM_TYPE_F32 ? 4 : 2;
    if (x->nb[0] != 4 || x->nb[1] % 4 || x->offs % 4 || out->nb[0] != 4 || out->nb[1] % 4 || out->offs % 4 ||
        w->nb[1] % walign || w->offs % walign || w->nb[1] < em_row_bytes(t, k) || x->nb[1] < 4 * (size_t)k ||
        out->nb[1] < 4 * (size_t)m || k > INT32_MAX || m > INT32_MAX || n > INT32_MAX) {
        vk_fail(c, EM_ERR_ARG, "matmul: %s: row strides or offsets not aligned or too narrow", wn);
        return false;
    }
    return true;
}

void vk_op_matmul(vk_ctx *c, em_tensor *out, const em_tensor *w, const em_tensor *x, bool acc) {
    if (!mm_check(c, out, w, x)) return;
    if (w->ne[1] == 0 || x->ne[1] == 0) return;
    const mm_shape s = {
        .m = (uint64_t)w->ne[1], .n = (uint64_t)x->ne[1], .k = (uint64_t)w->ne[0],
        .w_row = em_row_bytes(w->type, w->ne[0]), .w_stride = w->nb[1],
        .x_stride = x->nb[1] / 4, .o_stride = out->nb[1] / 4,
    };
    mm_run(c, out, w, x, &s, acc);
}
