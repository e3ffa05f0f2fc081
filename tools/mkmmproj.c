/* mkmmproj.c - write a random-weight SmolVLM (Idefics3) vision projector,
 * the `mmproj` GGUF that goes with a text model, laid out the way llama.cpp's
 * converter writes one (convert_hf_to_gguf.py --mmproj on SmolVLM).
 *
 * The vision half is a SigLIP ViT: a P x P stride-P convolution to D channels,
 * learned position embeddings for the (S/P)^2 patches, pre-norm blocks
 * (LayerNorm, attention with biases, LayerNorm, fc1/GELU/fc2), a final
 * LayerNorm; then Idefics3's connector: a pixel shuffle by sf (sf x sf patches
 * into one vector of D*sf^2) and one bias-free linear map to the text model's
 * embedding length. Tensors, in GGUF ne order (ne[0] contiguous):
 *
 *   v.patch_embd.weight      F32 [P, P, 3, D]   (torch Conv2d weight [D][3][P][P])
 *   v.patch_embd.bias        F32 [D]
 *   v.position_embd.weight   F32 [D, (S/P)^2]
 *   v.blk.N.attn_{q,k,v,out}.weight [D, D], .bias F32 [D]   (torch Linear [out][in])
 *   v.blk.N.ln1.{weight,bias}, v.blk.N.ln2.{weight,bias}   F32 [D]
 *   v.blk.N.ffn_up.weight    [D, FF], .bias F32 [FF]        (SigLIP mlp.fc1)
 *   v.blk.N.ffn_down.weight  [FF, D], .bias F32 [D]         (SigLIP mlp.fc2)
 *   v.post_ln.{weight,bias}  F32 [D]
 *   mm.model.fc.weight       [D*sf*sf, n_embd_text]         (no bias)
 *
 * Matrices are stored in --type; the embeddings, norms and biases stay F32 as
 * the converter forces them. Values: norm weights 1 + N(0, 0.05); biases
 * N(0, 0.05); position embeddings N(0, 0.5), about the size of the patch
 * embeddings, so a wrong patch order shows; every matrix N(0, std * sqrt(D /
 * fan_in)), so each product keeps the scale of its input whatever its fan-in,
 * with std 1/sqrt(D) by default: activations stay O(1) through the blocks and
 * attention is neither uniform nor one-hot. As in mkmodel, each tensor is drawn
 * from its own stream seeded by --seed and its name (tools/mk_gguf.h), so files
 * of one seed and shape differ only by the storage type's rounding.
 *
 *   mkmmproj --preset tiny --text-dim 128 -o tiny-mmproj.gguf
 *   mkmmproj --preset smolvlm-256m --text-dim 576 --type f16 -o mmproj.gguf */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/gguf.h"
#include "cli/opt.h"
#include "core/types.h"
#include "mk_gguf.h"

/* ---- options */

typedef struct mp_opts {
    const char *out_path;
    const char *name;
    enum em_type type;
    int image_size;   /* S: the encoder's input side */
    int patch;        /* P */
    int dim;          /* D */
    int ffn;          /* FF */
    int n_layer;
    int n_head;
    int scale_factor; /* sf: pixel shuffle */
    int preproc_size; /* the longest edge an image is resized to before tiling */
    int text_dim;     /* the text model's n_embd: the projection's output */
    double eps;
    double mean, std_img;
    double std;       /* 0: 1/sqrt(dim) */
    uint64_t seed;
    int type_i;   /* --type, an index into mp_type_names */
    int preset;   /* --preset, an index into mp_presets; -1: none */
    int resize;   /* --image-resize: 0 none written, 1 transformers, 2 llamacpp */
    bool from_bf16; /* --from-bf16 */
} mp_opts;

static const char *const mp_type_names[] = {"f32", "f16", "bf16", "q8_0", NULL};
static const char *const mp_resize_names[] = {"none", "transformers", "llamacpp", NULL};
static const enum em_type mp_type_ids[] = {EM_TYPE_F32, EM_TYPE_F16, EM_TYPE_BF16, EM_TYPE_Q8_0};

/* --preset: the encoder's shape. Without one, the shape is tiny's and the
 * name "ember-random-smolvlm". */
typedef struct mp_preset {
    int image_size, patch, dim, ffn, n_layer, n_head, scale_factor, preproc_size;
    const char *name; /* general.name */
} mp_preset;

static const char *const mp_preset_names[] = {"tiny", "smolvlm-256m", NULL};
static const mp_preset mp_presets[] = {
    {.image_size = 64, .patch = 8, .dim = 64, .ffn = 128, .n_layer = 2, .n_head = 4, .scale_factor = 2,
     .preproc_size = 128, .name = "ember-random-smolvlm-tiny"},
    {.image_size = 512, .patch = 16, .dim = 768, .ffn = 3072, .n_layer = 12, .n_head = 12, .scale_factor = 4,
     .preproc_size = 2048, .name = "ember-random-smolvlm-256m"},
};
_Static_assert(sizeof mp_presets / sizeof mp_presets[0] == sizeof mp_preset_names / sizeof mp_preset_names[0] - 1,
               "a name for each preset");

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f, "usage: mkmmproj --text-dim N -o OUT.gguf [--preset NAME] [options]\n"
               "Writes a random-weight SmolVLM (Idefics3) mmproj GGUF, laid out as llama.cpp's converter does.\n");
    opt_usage(f, specs);
}

/* opt_parse_preset's reset: the defaults, then preset p's values. */
static void mp_reset(void *user, int preset) {
    mp_opts *o = user;
    const mp_preset *p = &mp_presets[preset < 0 ? 0 : preset];
    *o = (mp_opts){.name = preset < 0 ? "ember-random-smolvlm" : p->name, .type_i = 0, .image_size = p->image_size,
                   .patch = p->patch, .dim = p->dim, .ffn = p->ffn, .n_layer = p->n_layer, .n_head = p->n_head,
                   .scale_factor = p->scale_factor, .preproc_size = p->preproc_size, .eps = 1e-6, .mean = 0.5,
                   .std_img = 0.5, .seed = 1, .preset = -1};
}

/* 0 on success, 1 after printing usage (-h), -1 on a usage error. The
 * preset sets defaults wherever it appears and explicit options win
 * (opt_parse_preset). */
static int parse_args(int argc, char **argv, mp_opts *o) {
    const opt_spec specs[] = {
        OPT_INT(NULL, "--text-dim", "N", &o->text_dim, 1, 1 << 17,
                "the text model's embedding length (required): the projector's output"),
        OPT_STR("-o", NULL, "PATH", &o->out_path, "output file"),
        OPT_CHOICE(NULL, "--preset", "NAME", &o->preset, mp_preset_names,
                   "tiny: image 64, patch 8, dim 64, ffn 128, 2 layers, 4 heads,\n"
                   "      scale factor 2, preproc size 128\n"
                   "smolvlm-256m: image 512, patch 16, dim 768, ffn 3072, 12 layers,\n"
                   "      12 heads, scale factor 4, preproc size 2048 (SmolVLM-256M's\n"
                   "      vision shape); both eps 1e-6, mean/std 0.5 (later options override)"),
        OPT_INT(NULL, "--image-size", "S", &o->image_size, 1, 1 << 14, "clip.vision.image_size: the tile side"),
        OPT_INT(NULL, "--patch", "P", &o->patch, 1, 1 << 10, "clip.vision.patch_size"),
        OPT_INT(NULL, "--dim", "D", &o->dim, 1, 1 << 16, "clip.vision.embedding_length"),
        OPT_INT(NULL, "--ffn", "F", &o->ffn, 1, 1 << 18, "clip.vision.feed_forward_length"),
        OPT_INT(NULL, "--layers", "L", &o->n_layer, 1, 1024, "clip.vision.block_count"),
        OPT_INT(NULL, "--heads", "H", &o->n_head, 1, 4096, "clip.vision.attention.head_count"),
        OPT_INT(NULL, "--scale-factor", "F", &o->scale_factor, 1, 64,
                "clip.vision.projector.scale_factor (pixel shuffle)"),
        OPT_INT(NULL, "--preproc-size", "N", &o->preproc_size, 1, 1 << 15,
                "clip.vision.preproc_image_size: longest edge before tiling"),
        OPT_DOUBLE(NULL, "--eps", "E", &o->eps, 1e-12, 1e-1, "clip.vision.attention.layer_norm_epsilon"),
        OPT_DOUBLE(NULL, "--image-mean", "M", &o->mean, -10, 10, "clip.vision.image_mean, all channels"),
        OPT_DOUBLE(NULL, "--image-std", "V", &o->std_img, 1e-6, 10, "clip.vision.image_std, all channels"),
        OPT_CHOICE(NULL, "--type", "T", &o->type_i, mp_type_names, "f32 | f16 | bf16 | q8_0 for the matrices"),
        {.kind = OPT_KIND_DOUBLE, .lng = "--std", .meta = "S", .dest = OPT_DEST_(&o->std, double), .dlo = 1e-6,
         .dhi = 10, .flags = OPT_NO_DEFAULT,
         .help = "weight scale (default 1/sqrt(dim)); a matrix with fan-in K\ngets N(0, S * sqrt(dim / K))"},
        OPT_U64(NULL, "--seed", "N", &o->seed, 0, UINT64_MAX, "generator seed"),
        OPT_STR(NULL, "--name", "S", &o->name, "general.name"),
        OPT_CHOICE(NULL, "--image-resize", "MODE", &o->resize, mp_resize_names,
                   "ember.vision.image_resize: the preprocessing the model expects (none: the key is\n"
                   "left out, as in published files: transformers')"),
        OPT_FLAG(NULL, "--from-bf16", &o->from_bf16,
                 "round the matrices to bf16 before storing them, as a file converted from a bf16\n"
                 "checkpoint has them"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int rc = opt_parse_preset("mkmmproj", specs, &o->preset, mp_reset, o, argc, argv, err);
    if (rc == OPT_HELP) { usage(stdout, specs); return 1; }
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return -1; }
    o->type = mp_type_ids[o->type_i];
    if (!o->out_path || !o->text_dim) {
        fprintf(stderr, "mkmmproj: --text-dim and -o are required (see mkmmproj --help)\n");
        return -1;
    }
    if (o->image_size % o->patch) {
        fprintf(stderr, "mkmmproj: --image-size %d is not a multiple of --patch %d\n", o->image_size, o->patch);
        return -1;
    }
    int side = o->image_size / o->patch;
    if (o->scale_factor < 2 || side % o->scale_factor) {
        fprintf(stderr, "mkmmproj: --scale-factor %d: must be at least 2 and divide the %d patches a side (image %d / patch %d)\n",
                o->scale_factor, side, o->image_size, o->patch);
        return -1;
    }
    if (o->dim % o->n_head) {
        fprintf(stderr, "mkmmproj: --dim %d is not a multiple of --heads %d\n", o->dim, o->n_head);
        return -1;
    }
    /* Matrix rows hold D (q, k, v, out, ffn_up), FF (ffn_down) or D*sf^2 (fc)
     * values: D and FF must meet the block size. */
    if (mk_gguf_check_rows("mkmmproj", o->type, o->dim, o->ffn)) return -1;
    if (o->std == 0) o->std = 1.0 / sqrt((double)o->dim);
    return 0;
}

/* ---- the file */

/* A torch Linear weight [rows][cols] (GGUF ne {cols, rows}): N(0, std *
 * sqrt(D / cols)), so that each product keeps its input's scale. */
static int mp_add_linear(mk_gguf *g, const mp_opts *o, const char *name, int64_t cols, int64_t rows) {
    return mk_gguf_add_matrix(g, name, cols, rows, o->std * sqrt((double)o->dim / (double)cols));
}

static int mp_set_keys(mk_gguf *g, const mp_opts *o) {
    gguf_writer *w = g->w;
    float mean[3] = {(float)o->mean, (float)o->mean, (float)o->mean};
    float std[3] = {(float)o->std_img, (float)o->std_img, (float)o->std_img};
    ember_status st = EM_OK;
    if (!st) st = gguf_writer_set_str(w, "general.architecture", "clip");
    if (!st) st = gguf_writer_set_str(w, "general.type", "mmproj");
    if (!st) st = gguf_writer_set_str(w, "general.name", o->name);
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", mk_gguf_file_type(o->type));
    if (!st) st = gguf_writer_set_bool(w, "clip.has_vision_encoder", true);
    if (!st) st = gguf_writer_set_str(w, "clip.projector_type", "idefics3");
    if (!st) st = gguf_writer_set_bool(w, "clip.use_gelu", true);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.image_size", (uint32_t)o->image_size);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.patch_size", (uint32_t)o->patch);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.embedding_length", (uint32_t)o->dim);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)o->ffn);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.block_count", (uint32_t)o->n_layer);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.attention.head_count", (uint32_t)o->n_head);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.projection_dim", (uint32_t)o->text_dim);
    if (!st) st = gguf_writer_set_f32(w, "clip.vision.attention.layer_norm_epsilon", (float)o->eps);
    if (!st) st = gguf_writer_set_arr(w, "clip.vision.image_mean", GGUF_TYPE_FLOAT32, mean, 3);
    if (!st) st = gguf_writer_set_arr(w, "clip.vision.image_std", GGUF_TYPE_FLOAT32, std, 3);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.projector.scale_factor", (uint32_t)o->scale_factor);
    if (!st) st = gguf_writer_set_u32(w, "clip.vision.preproc_image_size", (uint32_t)o->preproc_size);
    if (!st && o->resize) st = gguf_writer_set_str(w, "ember.vision.image_resize", mp_resize_names[o->resize]);
    if (st) return mk_gguf_fail(g, "setting keys");
    return 0;
}

static int mp_add_tensors(mk_gguf *g, const mp_opts *o) {
    const int64_t D = o->dim, FF = o->ffn, P = o->patch, sf = o->scale_factor;
    const int64_t n_pos = (int64_t)(o->image_size / o->patch) * (o->image_size / o->patch);
    char name[96];
    {
        /* the convolution sees 3*P*P inputs: scaled like a matrix of that fan-in */
        int64_t ne[4] = {P, P, 3, D};
        if (mk_gguf_add_f32(g, "v.patch_embd.weight", 4, ne, o->std * sqrt((double)D / (double)(3 * P * P)))) return -1;
        int64_t nb[1] = {D};
        if (mk_gguf_add_f32(g, "v.patch_embd.bias", 1, nb, 0.05)) return -1;
        int64_t np[2] = {D, n_pos};
        if (mk_gguf_add_f32(g, "v.position_embd.weight", 2, np, 0.5)) return -1;
    }
    for (int l = 0; l < o->n_layer; l++) {
        static const char *const attn[] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", l, attn[k]);
            if (mp_add_linear(g, o, name, D, D)) return -1;
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", l, attn[k]);
            if (mk_gguf_add_f32(g, name, 1, &D, 0.05)) return -1;
        }
        static const char *const norms[] = {"ln1", "ln2"};
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "v.blk.%d.%s.weight", l, norms[k]);
            if (mk_gguf_add_norm(g, name, D, 1.0)) return -1;
            snprintf(name, sizeof name, "v.blk.%d.%s.bias", l, norms[k]);
            if (mk_gguf_add_f32(g, name, 1, &D, 0.05)) return -1;
        }
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.weight", l);
        if (mp_add_linear(g, o, name, D, FF)) return -1; /* ne {D, FF}: fc1 */
        snprintf(name, sizeof name, "v.blk.%d.ffn_up.bias", l);
        if (mk_gguf_add_f32(g, name, 1, &FF, 0.05)) return -1;
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
        if (mp_add_linear(g, o, name, FF, D)) return -1; /* ne {FF, D}: fc2 */
        snprintf(name, sizeof name, "v.blk.%d.ffn_down.bias", l);
        if (mk_gguf_add_f32(g, name, 1, &D, 0.05)) return -1;
    }
    if (mk_gguf_add_norm(g, "v.post_ln.weight", D, 1.0)) return -1;
    if (mk_gguf_add_f32(g, "v.post_ln.bias", 1, &D, 0.05)) return -1;
    if (mp_add_linear(g, o, "mm.model.fc.weight", D * sf * sf, o->text_dim)) return -1;
    return 0;
}

int main(int argc, char **argv) {
    mp_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc > 0 ? 0 : 2;

    int rc = 1;
    mk_gguf *g = mk_gguf_create("mkmmproj", o.seed, o.type);
    if (g) g->from_bf16 = o.from_bf16;
    if (!g || mp_set_keys(g, &o) || mp_add_tensors(g, &o) || mk_gguf_write(g, o.out_path)) goto done;
    fprintf(stderr,
            "mkmmproj: wrote %s: %s, image %d, patch %d, dim %d, ffn %d, %d layers, %d heads, scale factor %d, "
            "preproc %d, text dim %d\n",
            o.out_path, em_type_name(o.type), o.image_size, o.patch, o.dim, o.ffn, o.n_layer, o.n_head,
            o.scale_factor, o.preproc_size, o.text_dim);
    rc = 0;
done:
    mk_gguf_free(g);
    return rc;
}
