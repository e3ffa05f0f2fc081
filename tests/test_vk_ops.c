/* test_vk_ops.c - the Vulkan backend's small ops against the CPU backend:
 * embedding lookup (every table type), RMSNorm, RoPE, KV store, residual add,
 * SwiGLU, and the ViT's LayerNorm, GELU and bias add; row-strided views and
 * in-place calls; the replay of a recorded command buffer with new
 * parameters; tables split over storage ranges (EMBER_VK_MAX_RANGE).
 *
 * Tolerances (max |gpu - cpu| / max |cpu|): 1e-6 for copies and adds (exact
 * in principle; F16 conversions may round differently in the last bit on a
 * driver: 1e-3 for the F16 cache), 1e-5 for RMSNorm and SwiGLU (float sums
 * in a different order, exp), 2e-5 for RoPE (sin/cos of angles up to a few
 * thousand radians: the GPU's are accurate to ~1e-6 on [-pi, pi] after range
 * reduction). The ViT's ops: 1e-5 for LayerNorm (two reductions in another
 * order; a row whose mean is 50 times its spread loses the mean's rounding,
 * ~3e-6 of the spread, on either side), 1e-5 for GELU (the GPU computes
 * x / (1 + exp(-2u)), the CPU 0.5 x (1 + tanhf(u)): the same function, exp's
 * last bits), 0 for the bias add (one float add on both sides). */
#include "vk_test_util.h"

#include "core/cpu/cpu_kernels.h"
#include "core/types.h"


/* A table of n rows of dim values of type t, quantized/converted from f32. */
static void *make_table(vkt *T, enum em_type t, int64_t rows, int64_t dim) {
    size_t rb = em_row_bytes(t, dim);
    unsigned char *buf = malloc(rb * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)dim);
    for (int64_t r = 0; r < rows; r++) {
        vkt_fill(T, f, (size_t)dim, 1.0f);
        unsigned char *row = buf + (size_t)r * rb;
        if (t != EM_TYPE_F32 && t != EM_TYPE_F16 && t != EM_TYPE_BF16 && t != EM_TYPE_Q8_0 && t != EM_TYPE_Q4_0) {
            /* the other types as llama.cpp's quantizer writes them */
            cpu_quantize(t, f, row, 1, dim);
            continue;
        }
        for (int64_t b = 0; b < dim; b += 32) {
            int nb = dim - b < 32 ? (int)(dim - b) : 32;
            switch (t) {
            case EM_TYPE_F32: memcpy(row + b * 4, f + b, (size_t)nb * 4); break;
            case EM_TYPE_F16: for (int i = 0; i < nb; i++) ((em_fp16 *)row)[b + i] = em_fp32_to_fp16(f[b + i]); break;
            case EM_TYPE_BF16: for (int i = 0; i < nb; i++) ((em_bf16 *)row)[b + i] = em_fp32_to_bf16(f[b + i]); break;
            case EM_TYPE_Q8_0: {
                em_block_q8_0 *q = (em_block_q8_0 *)row + b / 32;
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(f[b + i]));
                float d = amax / 127.0f;
                q->d = em_fp32_to_fp16(d);
                for (int i = 0; i < 32; i++) q->qs[i] = (int8_t)lrintf(d ? f[b + i] / d : 0);
                break;
            }
            case EM_TYPE_Q4_0: {
                em_block_q4_0 *q = (em_block_q4_0 *)row + b / 32;
                float d = 1.0f / 8.0f;
                q->d = em_fp32_to_fp16(d);
                for (int i = 0; i < 16; i++) {
                    int lo = (int)lrintf(f[b + i] * 7.0f) + 8, hi = (int)lrintf(f[b + i + 16] * 7.0f) + 8;
                    q->qs[i] = (uint8_t)(lo | (hi << 4));
                }
                break;
            }
            default: break;
            }
        }
    }
    free(f);
    return buf;
}

static void test_get_rows(vkt *T) {
    const enum em_type types[] = {EM_TYPE_F32,    EM_TYPE_F16,  EM_TYPE_BF16, EM_TYPE_Q8_0, EM_TYPE_Q4_0,
                                  EM_TYPE_Q4_1,   EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL, EM_TYPE_Q2_K,
                                  EM_TYPE_Q3_K,   EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    const int64_t dims[] = {32, 96, 576}, dims_k[] = {256, 512, 1536};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t di = 0; di < 3; di++) {
            enum em_type t = types[ti];
            const int64_t rows = 301, dim = em_type_block(t) == 256 ? dims_k[di] : dims[di], n = 7;
            void *tab = make_table(T, t, rows, dim);
            em_tensor shape = em_tensor_make(t, dim, rows, 1, 1), tc, tv;
            vkt_weight(T, &tc, &tv, &shape, tab);
            int32_t ids[7] = {0, 300, 5, 5, 150, 299, 1};
            em_tensor ishape = em_tensor_make(EM_TYPE_I32, n, 1, 1, 1), ic, iv, oc, ov;
            vkt_act(T, &ic, &iv, &ishape, ids);
            em_tensor oshape = em_tensor_make(EM_TYPE_F32, dim, n, 1, 1);
            vkt_act(T, &oc, &ov, &oshape, NULL);
            T->cpu->ops->get_rows(T->cpu, &oc, &tc, &ic);
            T->vk->ops->get_rows(T->vk, &ov, &tv, &iv);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(dim * n));
            CHECK(e <= 1e-6, "get_rows %s dim %lld: rel err %g", em_type_name(t), (long long)dim, e);
            free(rc); free(rv); free(tab);
            vkt_release(T, &ic, &iv);
            vkt_release(T, &oc, &ov);
        }
}

/* x: rows of n values in a buffer with a wider row stride (a view). */
static void test_rms_norm(vkt *T) {
    const int64_t ns[] = {1, 7, 64, 576, 1000, 2049};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int with_w = 0; with_w < 2; with_w++) {
            const int64_t n = ns[i], rows = 5;
            em_tensor wide = em_tensor_make(EM_TYPE_F32, n + 3, rows, 1, 1), xc, xv, oc, ov, wc, wv;
            float *x = malloc(sizeof(float) * (size_t)((n + 3) * rows)), *w = malloc(sizeof(float) * (size_t)n);
            vkt_fill(T, x, (size_t)((n + 3) * rows), 3.0f);
            vkt_fill(T, w, (size_t)n, 2.0f);
            vkt_act(T, &xc, &xv, &wide, x);
            em_tensor wshape = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1);
            vkt_weight(T, &wc, &wv, &wshape, w);
            em_tensor oshape = em_tensor_make(EM_TYPE_F32, n, rows, 1, 1);
            vkt_act(T, &oc, &ov, &oshape, NULL);
            em_tensor xcv = xc, xvv = xv; /* view: first n values of each wide row */
            xcv.ne[0] = xvv.ne[0] = n;
            T->cpu->ops->rms_norm(T->cpu, &oc, &xcv, with_w ? &wc : NULL, 1e-5f);
            T->vk->ops->rms_norm(T->vk, &ov, &xvv, with_w ? &wv : NULL, 1e-5f);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(n * rows));
            CHECK(e <= 1e-5, "rms_norm n %lld w %d: rel err %g", (long long)n, with_w, e);
            free(rc); free(rv); free(x); free(w);
            vkt_release(T, &xc, &xv);
            vkt_release(T, &oc, &ov);
        }
}

static void test_rope(vkt *T) {
    const int dims[] = {64, 32, 80, 128};
    for (size_t di = 0; di < 4; di++) {
        const int hd = dims[di], nh = 3, nt = 6;
        em_tensor shape = em_tensor_make(EM_TYPE_F32, hd, nh, nt, 1), xc, xv, pc, pv;
        float *x = malloc(sizeof(float) * (size_t)(hd * nh * nt));
        vkt_fill(T, x, (size_t)(hd * nh * nt), 1.0f);
        vkt_act(T, &xc, &xv, &shape, x);
        int32_t pos[6] = {0, 1, 17, 255, 1000, 4095};
        em_tensor pshape = em_tensor_make(EM_TYPE_I32, nt, 1, 1, 1);
        vkt_act(T, &pc, &pv, &pshape, pos);
        em_rope_params rp = {hd, di == 2 ? 100000.0f : 10000.0f, di == 3 ? 0.25f : 1.0f};
        T->cpu->ops->rope(T->cpu, &xc, &pc, &rp);
        T->vk->ops->rope(T->vk, &xv, &pv, &rp);
        float *rc, *rv;
        vkt_results(T, &xc, &xv, &rc, &rv);
        double e = vkt_maxrel(rc, rv, (size_t)(hd * nh * nt));
        CHECK(e <= 2e-5, "rope head_dim %d: rel err %g", hd, e);
        free(rc); free(rv); free(x);
        vkt_release(T, &xc, &xv);
        vkt_release(T, &pc, &pv);
    }
}

static void test_kv_store(vkt *T) {
    for (int f16 = 0; f16 < 2; f16++) {
        const enum em_type ct = f16 ? EM_TYPE_F16 : EM_TYPE_F32;
        const int64_t d = 96, n_ctx = 40;
        em_tensor cshape = em_tensor_make(ct, d, n_ctx, 1, 1), cc, cv, sc, sv;
        void *zero = calloc((size_t)n_ctx, em_row_bytes(ct, d));
        vkt_act(T, &cc, &cv, &cshape, zero);
        /* two stores, the second at a later position with the same shapes:
         * the second sync replays the first's recording */
        for (int step = 0; step < 3; step++) {
            const int64_t n = step == 2 ? 5 : 1, pos0 = step == 0 ? 3 : step == 1 ? 4 : 30;
            em_tensor sshape = em_tensor_make(EM_TYPE_F32, d, n, 1, 1);
            float *s = malloc(sizeof(float) * (size_t)(d * n));
            vkt_fill(T, s, (size_t)(d * n), 4.0f);
            vkt_act(T, &sc, &sv, &sshape, s);
            T->cpu->ops->kv_store(T->cpu, &cc, &sc, pos0);
            T->vk->ops->kv_store(T->vk, &cv, &sv, pos0);
            char err[EM_ERR_LEN];
            CHECK(em_backend_sync(T->cpu, err) == EM_OK && em_backend_sync(T->vk, err) == EM_OK, "kv sync: %s", err);
            free(s);
            vkt_release(T, &sc, &sv);
        }
        size_t nb = em_tensor_nbytes(&cshape);
        unsigned char *bc = malloc(nb), *bv = malloc(nb);
        char err[EM_ERR_LEN];
        T->cpu->ops->download(T->cpu, &cc, bc, 0, nb, err);
        T->vk->ops->download(T->vk, &cv, bv, 0, nb, err);
        int diff = 0;
        for (int64_t i = 0; i < d * n_ctx; i++) {
            float a = f16 ? em_fp16_to_fp32(((em_fp16 *)bc)[i]) : ((float *)bc)[i];
            float b = f16 ? em_fp16_to_fp32(((em_fp16 *)bv)[i]) : ((float *)bv)[i];
            if (fabsf(a - b) > (f16 ? 1e-3f * fabsf(a) : 0.0f)) diff++;
        }
        CHECK(diff == 0, "kv_store %s: %d values differ", em_type_name(ct), diff);
        free(bc); free(bv); free(zero);
        vkt_release(T, &cc, &cv);
    }
}

static void test_eltwise(vkt *T) {
    const int64_t ns[] = {1, 63, 64, 65, 1536};
    for (size_t i = 0; i < 5; i++)
        for (int op = 0; op < 3; op++) {
            const int64_t n = ns[i], rows = 3;
            em_tensor shape = em_tensor_make(EM_TYPE_F32, n, rows, 1, 1), ac, av, bc, bv, oc, ov;
            float *a = malloc(sizeof(float) * (size_t)(n * rows)), *b = malloc(sizeof(float) * (size_t)(n * rows));
            vkt_fill(T, a, (size_t)(n * rows), 6.0f);
            vkt_fill(T, b, (size_t)(n * rows), 2.0f);
            vkt_act(T, &ac, &av, &shape, a);
            vkt_act(T, &bc, &bv, &shape, b);
            vkt_act(T, &oc, &ov, &shape, NULL);
            /* op 2: in place (out aliases a), as the decoder's residual add */
            em_tensor *outc = op == 2 ? &ac : &oc, *outv = op == 2 ? &av : &ov;
            if (op == 1) {
                T->cpu->ops->swiglu(T->cpu, outc, &ac, &bc);
                T->vk->ops->swiglu(T->vk, outv, &av, &bv);
            } else {
                T->cpu->ops->add(T->cpu, outc, &ac, &bc);
                T->vk->ops->add(T->vk, outv, &av, &bv);
            }
            float *rc, *rv;
            vkt_results(T, outc, outv, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(n * rows));
            CHECK(e <= (op == 1 ? 1e-5 : 1e-6), "%s n %lld: rel err %g", op == 1 ? "swiglu" : op ? "add in place" : "add",
                  (long long)n, e);
            free(rc); free(rv); free(a); free(b);
            vkt_release(T, &ac, &av);
            vkt_release(T, &bc, &bv);
            vkt_release(T, &oc, &ov);
        }
}

/* ---- the ViT's ops. Each case runs as: out a tensor of its own (mode 0),
 * in place (out == x, mode 1), or x and out as rows 1..rows of tensors one
 * row longer and 5 values wider (mode 2: views at an offset the device
 * cannot bind at, with a row stride of their own). */

static const char *const mode_name[3] = {"", " in place", " (views)"};
static double worst_ln, worst_gelu, worst_bias;

/* x and out for a mode: allocations xa/oa (both backends), views x/o. */
typedef struct vit_io {
    em_tensor xa[2], oa[2], x[2], o[2];
    float *xh;
    int64_t n, rows, wide, total;
} vit_io;

static void vit_io_open(vkt *T, vit_io *io, int64_t n, int64_t rows, int mode, float offset, float scale) {
    io->n = n;
    io->rows = rows;
    io->wide = mode == 2 ? n + 5 : n;
    io->total = mode == 2 ? rows + 1 : rows;
    em_tensor sh = em_tensor_make(EM_TYPE_F32, io->wide, io->total, 1, 1);
    io->xh = malloc(sizeof(float) * (size_t)(io->wide * io->total));
    float *zero = calloc((size_t)(io->wide * io->total), sizeof(float));
    if (!io->xh || !zero) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    vkt_fill(T, io->xh, (size_t)(io->wide * io->total), scale);
    for (int64_t i = 0; i < io->wide * io->total; i++) io->xh[i] += offset;
    vkt_act(T, &io->xa[0], &io->xa[1], &sh, io->xh);
    vkt_act(T, &io->oa[0], &io->oa[1], &sh, zero);
    free(zero);
    for (int b = 0; b < 2; b++) {
        io->x[b] = em_tensor_rows(&io->xa[b], mode == 2 ? 1 : 0, rows);
        io->o[b] = mode == 1 ? io->x[b] : em_tensor_rows(&io->oa[b], mode == 2 ? 1 : 0, rows);
        io->x[b].ne[0] = io->o[b].ne[0] = n;
    }
}

/* Both results, the whole allocation out lies in (so writes outside the
 * view show as differences too); returns max rel err. */
static double vit_io_compare(vkt *T, vit_io *io, bool in_place) {
    float *rc, *rv;
    const em_tensor *a = in_place ? io->xa : io->oa;
    vkt_results(T, &a[0], &a[1], &rc, &rv);
    const double e = vkt_maxrel(rc, rv, (size_t)(io->wide * io->total));
    free(rc);
    free(rv);
    return e;
}

static void vit_io_close(vkt *T, vit_io *io) {
    vkt_release(T, &io->xa[0], &io->xa[1]);
    vkt_release(T, &io->oa[0], &io->oa[1]);
    free(io->xh);
}

static void test_layer_norm(vkt *T) {
    /* 768: SigLIP's width; 1152: SigLIP-so400m's; 2049: more than 8 values
     * per invocation and odd */
    const int64_t shapes[][2] = {{8, 1}, {768, 5}, {1, 2}, {1152, 3}, {2049, 2}, {768, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int with_b = 0; with_b < 2; with_b++)
            for (int mode = 0; mode < 3; mode++) {
                const int64_t n = shapes[s][0];
                /* the last shape's rows sit around 50 (a ViT residual stream
                 * has large per-row offsets) */
                const float offset = s == 5 ? 50.0f : 0.0f;
                vit_io io;
                vit_io_open(T, &io, n, shapes[s][1], mode, offset, 3.0f);
                float *w = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
                vkt_fill(T, w, (size_t)n, 2.0f);
                vkt_fill(T, b, (size_t)n, 1.0f);
                em_tensor wsh = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1), wc, wv, bc, bv;
                vkt_weight(T, &wc, &wv, &wsh, w);
                vkt_weight(T, &bc, &bv, &wsh, b);
                T->cpu->ops->layer_norm(T->cpu, &io.o[0], &io.x[0], &wc, with_b ? &bc : NULL, 1e-6f);
                T->vk->ops->layer_norm(T->vk, &io.o[1], &io.x[1], &wv, with_b ? &bv : NULL, 1e-6f);
                const double e = vit_io_compare(T, &io, mode == 1);
                if (e > worst_ln) worst_ln = e;
                CHECK(e <= 1e-5, "layer_norm %lldx%lld bias %d%s: rel err %g", (long long)shapes[s][1], (long long)n,
                      with_b, mode_name[mode], e);
                vit_io_close(T, &io);
                free(w);
                free(b);
            }
}

static void test_gelu(vkt *T) {
    const int64_t shapes[][2] = {{8, 1}, {63, 3}, {768, 5}, {3072, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int mode = 0; mode < 3; mode++) {
            vit_io io;
            vit_io_open(T, &io, shapes[s][0], shapes[s][1], mode, 0.0f, 6.0f);
            /* the tails: x^3 overflows float past ~7e12, exp(-2u) past ~44 */
            const float special[6] = {0.0f, 30.0f, -30.0f, 1e13f, -1e13f, -9.0f};
            char err[EM_ERR_LEN];
            for (int b = 0; b < 2; b++) {
                em_backend *be = b ? T->vk : T->cpu;
                for (int i = 0; i < 6 && i < shapes[s][0]; i++)
                    if (be->ops->upload(be, &io.xa[b], &special[i], io.x[b].offs - io.xa[b].offs + (size_t)i * 4, 4, err)) {
                        fprintf(stderr, "FAIL: upload: %s\n", err);
                        exit(1);
                    }
            }
            T->cpu->ops->gelu(T->cpu, &io.o[0], &io.x[0]);
            T->vk->ops->gelu(T->vk, &io.o[1], &io.x[1]);
            /* Relative to max |x| (1e13 in the first row): compare the first
             * row's tails exactly enough apart, then the rest. */
            float *rc, *rv;
            const em_tensor *a = mode == 1 ? io.xa : io.oa;
            vkt_results(T, &a[0], &a[1], &rc, &rv);
            const size_t x0 = (size_t)(io.x[0].offs - io.xa[0].offs) / 4;
            int bad_tail = 0;
            for (int i = 0; i < 6 && i < shapes[s][0]; i++)
                bad_tail += !(fabsf(rc[x0 + i] - rv[x0 + i]) <= 1e-6f * fmaxf(fabsf(rc[x0 + i]), 1.0f));
            CHECK(bad_tail == 0, "gelu tails: %d of 0, 30, -30, 1e13, -1e13, -9 differ", bad_tail);
            const size_t skip = x0 + (size_t)(shapes[s][0] < 6 ? shapes[s][0] : 6);
            const double e = vkt_maxrel(rc + skip, rv + skip, (size_t)(io.wide * io.total) - skip);
            if (e > worst_gelu) worst_gelu = e;
            CHECK(e <= 1e-5, "gelu %lldx%lld%s: rel err %g", (long long)shapes[s][1], (long long)shapes[s][0],
                  mode_name[mode], e);
            free(rc);
            free(rv);
            vit_io_close(T, &io);
        }
}

static void test_add_bias(vkt *T) {
    const int64_t shapes[][2] = {{8, 1}, {63, 3}, {768, 5}, {768, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int mode = 0; mode < 3; mode++) {
            const int64_t n = shapes[s][0];
            vit_io io;
            vit_io_open(T, &io, n, shapes[s][1], mode, 0.0f, 3.0f);
            /* the bias is a row of a larger weight: its rows past the first
             * must not be read as more bias rows */
            float *b = malloc(sizeof(float) * (size_t)n * 2);
            vkt_fill(T, b, (size_t)n, 1.0f);
            for (int64_t i = n; i < 2 * n; i++) b[i] = NAN;
            em_tensor bsh = em_tensor_make(EM_TYPE_F32, n, 2, 1, 1), bc, bv;
            vkt_weight(T, &bc, &bv, &bsh, b);
            const em_tensor bcr = em_tensor_rows(&bc, 0, 1), bvr = em_tensor_rows(&bv, 0, 1);
            T->cpu->ops->add_bias(T->cpu, &io.o[0], &io.x[0], &bcr);
            T->vk->ops->add_bias(T->vk, &io.o[1], &io.x[1], &bvr);
            const double e = vit_io_compare(T, &io, mode == 1);
            if (e > worst_bias) worst_bias = e;
            CHECK(e == 0, "add_bias %lldx%lld%s: rel err %g", (long long)shapes[s][1], (long long)n, mode_name[mode], e);
            vit_io_close(T, &io);
            free(b);
        }
}

/* A ViT block's element ops twice with new data: the second must replay. */
static void test_vit_replay(vkt *T) {
    const int64_t n = 96, rows = 7;
    em_tensor sh = em_tensor_make(EM_TYPE_F32, n, rows, 1, 1), xc, xv, oc, ov, wc, wv;
    float x[96 * 7], w[96];
    vkt_fill(T, w, 96, 1.0f);
    em_tensor wsh = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1);
    vkt_weight(T, &wc, &wv, &wsh, w);
    vkt_act(T, &xc, &xv, &sh, NULL);
    vkt_act(T, &oc, &ov, &sh, NULL);
    vk_backend_stats s0, s1;
    vk_backend_get_stats(T->vk, &s0);
    for (int it = 0; it < 2; it++) {
        char err[EM_ERR_LEN];
        vkt_fill(T, x, 96 * 7, 2.0f);
        T->cpu->ops->upload(T->cpu, &xc, x, 0, sizeof x, err);
        T->vk->ops->upload(T->vk, &xv, x, 0, sizeof x, err);
        em_backend *bes[2] = {T->cpu, T->vk};
        em_tensor *X[2] = {&xc, &xv}, *O[2] = {&oc, &ov}, *W[2] = {&wc, &wv};
        for (int b = 0; b < 2; b++) {
            bes[b]->ops->layer_norm(bes[b], O[b], X[b], W[b], W[b], 1e-6f);
            bes[b]->ops->add_bias(bes[b], O[b], O[b], W[b]);
            bes[b]->ops->gelu(bes[b], O[b], O[b]);
        }
        float *rc, *rv;
        vkt_results(T, &oc, &ov, &rc, &rv);
        const double e = vkt_maxrel(rc, rv, (size_t)(n * rows));
        CHECK(e <= 1e-5, "vit ops replay iteration %d: rel err %g", it, e);
        free(rc); free(rv);
    }
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.recordings - s0.recordings == 1 && s1.replays - s0.replays == 1,
          "2 equal op lists: %llu recordings, %llu replays (want 1, 1)", s1.recordings - s0.recordings,
          s1.replays - s0.replays);
    vkt_release(T, &xc, &xv);
    vkt_release(T, &oc, &ov);
}

/* RoPE of q then k, and the stores of k then v, go as one dispatch each
 * (vk_backend.c pairs them): results as the CPU's, one dispatch per pair. */
static void test_pairs(vkt *T) {
    const int hd = 64, nq = 9, nk = 3, nt = 5;
    em_tensor qs = em_tensor_make(EM_TYPE_F32, hd, nq, nt, 1), ks = em_tensor_make(EM_TYPE_F32, hd, nk, nt, 1);
    em_tensor qc, qv, kc, kv, pc, pv;
    float *q = malloc(sizeof(float) * (size_t)(hd * nq * nt)), *k = malloc(sizeof(float) * (size_t)(hd * nk * nt));
    vkt_fill(T, q, (size_t)(hd * nq * nt), 1.0f);
    vkt_fill(T, k, (size_t)(hd * nk * nt), 1.0f);
    vkt_act(T, &qc, &qv, &qs, q);
    vkt_act(T, &kc, &kv, &ks, k);
    int32_t pos[5] = {7, 8, 9, 10, 11};
    em_tensor pshape = em_tensor_make(EM_TYPE_I32, nt, 1, 1, 1);
    vkt_act(T, &pc, &pv, &pshape, pos);
    em_tensor cs = em_tensor_make(EM_TYPE_F16, hd * nk, 16, 1, 1), c1c, c1v, c2c, c2v;
    void *zero = calloc(16, em_row_bytes(EM_TYPE_F16, hd * nk));
    vkt_act(T, &c1c, &c1v, &cs, zero);
    vkt_act(T, &c2c, &c2v, &cs, zero);
    em_rope_params rp = {hd, 10000.0f, 1.0f};
    vk_backend_stats s0, s1;
    vk_backend_get_stats(T->vk, &s0);
    em_tensor k2c = em_tensor_make(EM_TYPE_F32, hd * nk, nt, 1, 1), k2v = k2c; /* k as rows for the store */
    k2c.data = kc.data; k2c.extra = kc.extra; k2c.offs = kc.offs;
    k2v.extra = kv.extra; k2v.offs = kv.offs;
    em_backend *bes[2] = {T->cpu, T->vk};
    em_tensor *Q[2] = {&qc, &qv}, *K[2] = {&kc, &kv}, *P[2] = {&pc, &pv}, *C1[2] = {&c1c, &c1v}, *C2[2] = {&c2c, &c2v};
    em_tensor *K2[2] = {&k2c, &k2v};
    for (int b = 0; b < 2; b++) {
        bes[b]->ops->rope(bes[b], Q[b], P[b], &rp);
        bes[b]->ops->rope(bes[b], K[b], P[b], &rp);
        bes[b]->ops->kv_store(bes[b], C1[b], K2[b], 3);
        bes[b]->ops->kv_store(bes[b], C2[b], K2[b], 3); /* the same source into a second cache */
    }
    float *rc, *rv;
    vkt_results(T, &qc, &qv, &rc, &rv);
    double e = vkt_maxrel(rc, rv, (size_t)(hd * nq * nt));
    free(rc); free(rv);
    vkt_results(T, &kc, &kv, &rc, &rv);
    e = fmax(e, vkt_maxrel(rc, rv, (size_t)(hd * nk * nt)));
    free(rc); free(rv);
    CHECK(e <= 2e-5, "paired rope: rel err %g", e);
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.dispatches - s0.dispatches == 2, "rope+rope, store+store: %llu dispatches (want 2)", s1.dispatches - s0.dispatches);
    size_t nb = em_tensor_nbytes(&cs);
    unsigned char *a = malloc(nb), *b = malloc(nb);
    char err[EM_ERR_LEN];
    int diff = 0;
    for (int t = 0; t < 2; t++) {
        T->cpu->ops->download(T->cpu, t ? &c2c : &c1c, a, 0, nb, err);
        T->vk->ops->download(T->vk, t ? &c2v : &c1v, b, 0, nb, err);
        for (size_t i = 0; i < nb / 2; i++) {
            float x = em_fp16_to_fp32(((em_fp16 *)a)[i]), y = em_fp16_to_fp32(((em_fp16 *)b)[i]);
            if (fabsf(x - y) > 1e-3f * fabsf(x)) diff++;
        }
    }
    CHECK(diff == 0, "paired kv_store: %d values differ", diff);
    free(a); free(b); free(q); free(k); free(zero);
    vkt_release(T, &qc, &qv); vkt_release(T, &kc, &kv); vkt_release(T, &pc, &pv);
    vkt_release(T, &c1c, &c1v); vkt_release(T, &c2c, &c2v);
}

/* matmul_acc (out += x w^T) against the CPU's matmul then add, for the
 * matrix-vector (n = 1) and tiled (n = 20) kernels. */
static void test_matmul_acc(vkt *T) {
    const enum em_type types[2] = {EM_TYPE_F32, EM_TYPE_F16};
    const int64_t ns[2] = {1, 20}, m = 67, k = 96;
    for (int ti = 0; ti < 2; ti++)
        for (int ni = 0; ni < 2; ni++) {
            const int64_t n = ns[ni];
            void *wt = make_table(T, types[ti], m, k);
            em_tensor ws = em_tensor_make(types[ti], k, m, 1, 1), wc, wv, xc, xv, oc, ov, pc, pv;
            vkt_weight(T, &wc, &wv, &ws, wt);
            float *x = malloc(sizeof(float) * (size_t)(k * n)), *o = malloc(sizeof(float) * (size_t)(m * n));
            vkt_fill(T, x, (size_t)(k * n), 1.0f);
            vkt_fill(T, o, (size_t)(m * n), 3.0f);
            em_tensor xs = em_tensor_make(EM_TYPE_F32, k, n, 1, 1), os = em_tensor_make(EM_TYPE_F32, m, n, 1, 1);
            vkt_act(T, &xc, &xv, &xs, x);
            vkt_act(T, &oc, &ov, &os, o);
            vkt_act(T, &pc, &pv, &os, NULL);
            T->cpu->ops->matmul(T->cpu, &pc, &wc, &xc);
            T->cpu->ops->add(T->cpu, &oc, &oc, &pc);
            CHECK(T->vk->ops->matmul_acc != NULL, "vulkan offers matmul_acc");
            T->vk->ops->matmul_acc(T->vk, &ov, &wv, &xv);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(m * n));
            CHECK(e <= 1e-5, "matmul_acc %s n %lld: rel err %g", em_type_name(types[ti]), (long long)n, e);
            free(rc); free(rv); free(x); free(o); free(wt);
            vkt_release(T, &xc, &xv); vkt_release(T, &oc, &ov); vkt_release(T, &pc, &pv);
        }
}

/* The same op list twice with new data: the second sync must replay. */
static void test_replay(vkt *T) {
    vk_backend_stats s0, s1;
    const int64_t n = 100;
    em_tensor shape = em_tensor_make(EM_TYPE_F32, n, 2, 1, 1), ac, av, bc, bv;
    float a[200], b[200];
    vkt_act(T, &ac, &av, &shape, NULL);
    vkt_act(T, &bc, &bv, &shape, NULL);
    vk_backend_get_stats(T->vk, &s0);
    for (int it = 0; it < 3; it++) {
        vkt_fill(T, a, 200, 1.0f);
        vkt_fill(T, b, 200, 1.0f);
        char err[EM_ERR_LEN];
        T->cpu->ops->upload(T->cpu, &ac, a, 0, sizeof a, err);
        T->vk->ops->upload(T->vk, &av, a, 0, sizeof a, err);
        T->cpu->ops->upload(T->cpu, &bc, b, 0, sizeof b, err);
        T->vk->ops->upload(T->vk, &bv, b, 0, sizeof b, err);
        T->cpu->ops->add(T->cpu, &ac, &ac, &bc);
        T->vk->ops->add(T->vk, &av, &av, &bv);
        T->cpu->ops->swiglu(T->cpu, &bc, &ac, &bc);
        T->vk->ops->swiglu(T->vk, &bv, &av, &bv);
        float *rc, *rv;
        vkt_results(T, &bc, &bv, &rc, &rv);
        double e = vkt_maxrel(rc, rv, 200);
        CHECK(e <= 1e-5, "replay iteration %d: rel err %g", it, e);
        free(rc); free(rv);
    }
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.recordings - s0.recordings == 1 && s1.replays - s0.replays == 2,
          "3 equal op lists: %llu recordings, %llu replays (want 1, 2)", s1.recordings - s0.recordings,
          s1.replays - s0.replays);
    CHECK(s1.barriers - s0.barriers == 3, "add then swiglu on its output, 3 times: %llu barriers (want 1 per run)",
          s1.barriers - s0.barriers);
    vkt_release(T, &ac, &av);
    vkt_release(T, &bc, &bv);
}

int main(void) {
    vkt T;
    vkt_open(&T);
    test_get_rows(&T);
    test_rms_norm(&T);
    test_rope(&T);
    test_kv_store(&T);
    test_eltwise(&T);
    test_replay(&T);
    test_pairs(&T);
    test_matmul_acc(&T);
    test_layer_norm(&T);
    test_gelu(&T);
    test_add_bias(&T);
    test_vit_replay(&T);
    const enum em_op vit_ops[4] = {EM_OP_LAYER_NORM, EM_OP_GELU, EM_OP_ADD_BIAS, EM_OP_ATTENTION_FULL};
    for (int i = 0; i < 4; i++)
        CHECK(T.vk->ops->supports(T.vk, vit_ops[i], EM_TYPE_F32) && !T.vk->ops->supports(T.vk, vit_ops[i], EM_TYPE_F16),
              "vulkan op %d: F32 only", (int)vit_ops[i]);
    printf("worst rel err: layer_norm %.3g (tol 1e-5), gelu %.3g (tol 1e-5), add_bias %.3g (tol 0)\n", worst_ln,
           worst_gelu, worst_bias);
    vkt_close(&T);
    /* A table split over several storage bindings. */
    setenv("EMBER_VK_MAX_RANGE", "65536", 1);
    vkt_open(&T);
    test_get_rows(&T);
    vkt_close(&T);
    return CHECK_DONE();
}
