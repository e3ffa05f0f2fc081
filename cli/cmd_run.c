/* cmd_run.c - `ember run`: a question about camera frames (or plain text) to
 * a chat model, answer on stdout.
 *
 *   ember run -m SmolVLM.gguf --mmproj mmproj.gguf --image frame.jpg -p "What is on the table?"
 *
 * Images are decoded (vision/image.h), tiled and encoded (vision/encoder.h),
 * and placed in a SmolVLM chat prompt where their markers stand
 * (agent/vlm_prompt.h): at <__media__> in the prompt, or before the question
 * when it has none (as llama-mtmd-cli does). The same frame given twice is
 * encoded once. Timings and the model summary go to stderr; --dump writes the
 * intermediate tensors the PyTorch reference test compares. Decoding is
 * greedy unless --temp is given: a robot asking twice should get one answer. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_model_opts.h"
#include "cli_util.h"
#include "commands.h"
#include "core/backend.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/sampler.h"
#include "lm/vocab.h"
#include "vision/encoder.h"
#include "vision/image.h"
#include "vision/mmproj.h"
#include "agent/vlm_prompt.h"

#define RUN_MAX_IMAGES 16

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember run -m MODEL.gguf [--mmproj MMPROJ.gguf --image FILE ...] (-p PROMPT | -f FILE) [options]\n\n"
            "Answers a question about images (or plain text) with a chat model; the answer goes\n"
            "to stdout, the model summary and timings to stderr. Each image goes where the\n"
            "prompt says " AGENT_VLM_MARKER ", or before the prompt. Greedy unless --temp is given.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct run_opts {
    cli_model_opts m;
    const char *mmproj, *prompt, *prompt_file, *dump;
    const char *images[RUN_MAX_IMAGES];
    int n_images;
    int longest_edge, max_tiles, resize, weights;
    bool quiet, progress;
} run_opts;

/* 0: go on; 1: --help was printed; -1: bad usage (message printed). */
static int parse_args(int argc, char **argv, run_opts *o) {
    char err[OPT_ERR_LEN];
    cli_model_opts_init(&o->m);
    o->m.n_predict = 256;
    o->m.sp.temp = 0.0f; /* a robot asking twice should get one answer */
    opt_spec model_specs[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&o->m, model_specs);
    const opt_spec specs[] = {
        OPT_STR(NULL, "--mmproj", "FILE", &o->mmproj, "the model's vision projector (the mmproj GGUF published with it)"),
        OPT_LIST(NULL, "--image", "FILE", o->images, &o->n_images, RUN_MAX_IMAGES, "a PNG or JPEG image; repeatable"),
        OPT_STR("-p", "--prompt", "TEXT", &o->prompt, "the question or instruction (\"What is on the table?\")"),
        OPT_STR("-f", "--file", "FILE", &o->prompt_file, "read the prompt from a file"),
        {.kind = OPT_KIND_INT, .lng = "--image-longest-edge", .meta = "N", .dest = OPT_DEST_(&o->longest_edge, int),
         .lo = 1, .hi = 16384, .flags = OPT_NO_DEFAULT,
         .help = "resize images to this longest side before tiling (default: the mmproj's, 2048 for SmolVLM: "
                 "up to 16 tiles + 1; 512 gives a single tile (llamacpp: + the overview), far faster on a small CPU)"},
        {.kind = OPT_KIND_INT, .lng = "--image-max-tiles", .meta = "N", .dest = OPT_DEST_(&o->max_tiles, int), .lo = 1,
         .hi = 4096, .flags = OPT_NO_DEFAULT, .help = "refuse images that need more tiles than this"},
        OPT_CHOICE(NULL, "--image-resize", "MODE", &o->resize, cli_image_resize_names, CLI_IMAGE_RESIZE_HELP),
        OPT_CHOICE(NULL, "--vision-weights", "HOW", &o->weights, cli_vision_weights_names, CLI_VISION_WEIGHTS_HELP),
        OPT_GROUP(model_specs),
        OPT_STR(NULL, "--dump", "DIR", &o->dump, "write pixels.f32, vit.f32, proj.f32 and prompt.json there (tests)"),
        OPT_FLAG(NULL, "--progress", &o->progress, "show each tile's progress while images encode (default: when stderr is a terminal)"),
        OPT_FLAG("-q", "--quiet", &o->quiet, "no model summary on stderr (timings still printed)"),
        OPT_END};
    int rc = opt_parse("ember run", specs, argc, argv, NULL, 0, NULL, err);
    if (rc == OPT_HELP) { usage(stdout, specs); return 1; }
    if (rc == OPT_OK) rc = cli_model_opts_finish(&o->m, "ember run", err);
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return -1; }
    if (!o->m.model) { fprintf(stderr, "ember run: no model: give -m MODEL.gguf (see --help)\n"); return -1; }
    if (!!o->prompt + !!o->prompt_file != 1) { fprintf(stderr, "ember run: give exactly one of -p, -f\n"); return -1; }
    if (o->n_images && !o->mmproj) {
        fprintf(stderr, "ember run: --image needs --mmproj MMPROJ.gguf (the vision projector published with the model)\n");
        return -1;
    }
    return 0;
}

/* Write n floats to DIR/name. */
static int dump_floats(const char *dir, const char *name, const float *x, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(x, sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "ember run: --dump: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int dump_prompt(const char *dir, const lm_prompt *p, const vision_embd *const *embd, int n_images,
                       const int32_t *answer, int64_t n_answer) {
    cJSON *root = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(root, "tokens"),
          *rows = cJSON_AddArrayToObject(root, "embd_rows"), *ans = cJSON_AddArrayToObject(root, "answer"),
          *imgs = cJSON_AddArrayToObject(root, "images");
    for (int64_t i = 0; i < p->n; i++) {
        cJSON_AddItemToArray(toks, cJSON_CreateNumber(p->tokens[i]));
        cJSON_AddItemToArray(rows, cJSON_CreateNumber((double)p->embd_row[i]));
    }
    for (int64_t i = 0; i < n_answer; i++) cJSON_AddItemToArray(ans, cJSON_CreateNumber(answer[i]));
    int n_tiles = 0;
    for (int i = 0; i < n_images; i++) {
        cJSON *im = cJSON_CreateObject();
        cJSON *grid = cJSON_AddArrayToObject(im, "grid");
        cJSON_AddItemToArray(grid, cJSON_CreateNumber(embd[i]->grid_x));
        cJSON_AddItemToArray(grid, cJSON_CreateNumber(embd[i]->grid_y));
        cJSON_AddNumberToObject(im, "n_tiles", embd[i]->n_tiles);
        cJSON_AddItemToArray(imgs, im);
        n_tiles += embd[i]->n_tiles;
    }
    if (n_images) {
        cJSON *grid = cJSON_AddArrayToObject(root, "grid");
        cJSON_AddItemToArray(grid, cJSON_CreateNumber(embd[0]->grid_x));
        cJSON_AddItemToArray(grid, cJSON_CreateNumber(embd[0]->grid_y));
    }
    cJSON_AddNumberToObject(root, "n_tiles", n_tiles);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) { fprintf(stderr, "ember run: --dump: out of memory\n"); return -1; }
    char path[4096];
    snprintf(path, sizeof path, "%s/prompt.json", dir);
    FILE *f = fopen(path, "w");
    int rc = (!f || fputs(s, f) < 0 || fclose(f) != 0) ? -1 : 0;
    if (rc) fprintf(stderr, "ember run: --dump: %s: %s\n", path, strerror(errno));
    free(s);
    return rc;
}

/* Per-tile progress while an image encodes (a large frame takes minutes on
 * a small CPU): one line rewritten in place, with an estimate. */
typedef struct run_progress {
    int image, n_images;
    bool tty; /* a terminal: one line rewritten; a log: a line per tile */
    double t0;
} run_progress;

static void on_tile(void *user, int done, int n_tiles) {
    run_progress *rp = user;
    const double el = (now_ms() - rp->t0) / 1e3, left = el / done * (n_tiles - done);
    fprintf(stderr, "%sember: image %d/%d: tile %d/%d, %.0f s, about %.0f s left%s", rp->tty ? "\r" : "", rp->image,
            rp->n_images, done, n_tiles, el, left, rp->tty ? "   " : "\n");
    if (rp->tty && done == n_tiles) fputc('\n', stderr);
    fflush(stderr);
}

int ember_cmd_run(int argc, char **argv) {
    run_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;

    char err[EM_ERR_LEN] = "";
    int status = 1;
    cli_model cm = {0};
    vision_mmproj *mp = NULL;
    vision_encoder *enc = NULL;
    char *text = NULL, *formatted = NULL, *user = NULL;
    lm_prompt prompt;
    lm_prompt_init(&prompt, 0);
    vision_image imgs[RUN_MAX_IMAGES] = {0};
    const vision_embd *img_embd[RUN_MAX_IMAGES] = {0};
    agent_vlm_image images[RUN_MAX_IMAGES] = {0};
    run_progress rp = {0, o.n_images, isatty(STDERR_FILENO) != 0, 0};

    if (o.dump && mkdir(o.dump, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ember run: --dump %s: %s\n", o.dump, strerror(errno));
        return 1;
    }
    /* Everything that can be checked is checked before the first tile is
     * encoded: the files, the markers, the layout against the context. */
    size_t qlen = o.prompt ? strlen(o.prompt) : 0;
    const char *q = o.prompt;
    if (o.prompt_file) {
        if (!(text = cli_read_prompt("-f", o.prompt_file, &qlen, err))) goto done;
        q = text;
    }
    if (qlen == 0) { fprintf(stderr, "ember run: the prompt is empty\n"); status = 2; goto done; }
    int markers = 0;
    for (const char *s = strstr(q, AGENT_VLM_MARKER); s; s = strstr(s + strlen(AGENT_VLM_MARKER), AGENT_VLM_MARKER)) markers++;
    if (markers && markers != o.n_images) {
        fprintf(stderr, "ember run: the prompt has %d %s marker%s for %d image%s\n", markers, AGENT_VLM_MARKER,
                markers == 1 ? "" : "s", o.n_images, o.n_images == 1 ? "" : "s");
        status = 2;
        goto done;
    }
    const double t_start = now_ms();
    if (cli_model_open(&o.m, o.quiet, &cm, err)) {
        if (strstr(err, "'clip'"))
            snprintf(err + strlen(err), EM_ERR_LEN - strlen(err),
                     "; it is a vision projector: give it to --mmproj and the language model to -m");
        goto done;
    }
    const lm_model *m = cm.m;
    lm_ctx *ctx = cm.ctx;
    if (o.mmproj) {
        if (!(mp = vision_mmproj_load(o.mmproj, cm.be, (vision_weights)o.weights, err))) {
            if (strstr(err, "not a vision projector"))
                snprintf(err + strlen(err), EM_ERR_LEN - strlen(err),
                         "; it is a language model: give it to -m and the vision projector to --mmproj");
            goto done;
        }
        if (agent_vlm_check_pair(mp, m, o.mmproj, o.m.model, err)) goto done;
        cli_vision_weights_note(cm.be, o.weights, "ember run");
        vision_encoder_params ep = {o.longest_edge, o.max_tiles, 0, o.dump != NULL, NULL, NULL, (vision_resize_mode)o.resize};
        if (o.progress || rp.tty) ep.progress = on_tile, ep.progress_user = &rp;
        if (!(enc = vision_encoder_create(mp, &ep, err))) goto done;
    }
    const double t_loaded = now_ms();
    if (!o.quiet) {
        fprintf(stderr, "ember: %s: %s, %d layers, dim %d, vocab %d; weights %.1f MiB; %s\n", o.m.model,
                m->name[0] ? m->name : "llama", m->hp.n_layer, m->hp.n_embd, m->hp.n_vocab,
                lm_model_weight_bytes(m) / 1048576.0, cm.desc);
        if (mp)
            fprintf(stderr, "ember: %s: SigLIP %d layers, dim %d, %d x %d tiles of %d px patches, scale %d -> %d tokens per tile\n",
                    o.mmproj, mp->hp.n_layer, mp->hp.n_embd, mp->hp.image_size, mp->hp.image_size, mp->hp.patch_size,
                    mp->hp.scale_factor, mp->hp.tokens_per_tile);
        if (mp && mp->weights == VISION_WEIGHTS_BF16)
            fprintf(stderr, "ember: %s: %d f16 matrices multiplied as bf16 (%zu values rounded)\n", o.mmproj, mp->n_bf16,
                    mp->bf16_inexact);
    }

    /* every image decoded and its grid planned */
    double ms_decode_img = 0, ms_pre = 0, ms_enc = 0;
    for (int i = 0; i < o.n_images; i++) {
        double t0 = now_ms();
        if (vision_image_load(o.images[i], NULL, &imgs[i], err)) goto done;
        ms_decode_img += now_ms() - t0;
        agent_vlm_image *im = &images[i];
        im->tokens_per_tile = mp->hp.tokens_per_tile;
        if (vision_encoder_plan(enc, imgs[i].w, imgs[i].h, &im->grid_x, &im->grid_y, &im->n_tiles, err)) {
            char e[EM_ERR_LEN];
            snprintf(e, sizeof e, "%s", err);
            em_err(err, EM_ERR_ARG, "%s: %s", o.images[i], e);
            goto done;
        }
    }

    /* the chat prompt, markers where the images go, laid out and checked */
    size_t ulen = qlen + 1 + (markers ? 0 : (size_t)o.n_images * strlen(AGENT_VLM_MARKER));
    if (!(user = malloc(ulen))) { em_err(err, EM_ERR_NOMEM, "out of memory"); goto done; }
    user[0] = '\0';
    for (int i = 0; !markers && i < o.n_images; i++) strcat(user, AGENT_VLM_MARKER);
    strncat(user, q, qlen);
    int crc = cli_model_chat(&cm, &o.m, "ember run", user, &formatted);
    if (crc) { status = crc; goto done; }
    agent_vlm_layout lt = {0};
    if (o.n_images && agent_vlm_layout_find(m->vocab, &lt, err)) goto done;
    lm_prompt_init(&prompt, m->hp.n_embd);
    if (agent_vlm_prompt_build(&prompt, m->vocab, &lt, formatted, images, o.n_images, err)) goto done;
    if (prompt.n >= lm_n_ctx(ctx)) {
        fprintf(stderr, "ember run: the prompt takes %lld positions (images included); the context holds %lld (raise --ctx, "
                        "or lower --image-longest-edge)\n", (long long)prompt.n, (long long)lm_n_ctx(ctx));
        goto done;
    }

    /* images -> embeddings, into the prompt's rows */
    int n_tiles_total = 0;
    for (int i = 0; i < o.n_images; i++) {
        rp.image = i + 1;
        rp.t0 = now_ms();
        if (vision_encode_image(enc, &imgs[i], &img_embd[i], err)) goto done;
        const vision_embd *e = img_embd[i];
        if (e->grid_x != images[i].grid_x || e->grid_y != images[i].grid_y) {
            em_err(err, EM_ERR_INTERNAL, "%s: encoded as %d x %d tiles, planned %d x %d", o.images[i], e->grid_x, e->grid_y,
                   images[i].grid_x, images[i].grid_y);
            goto done;
        }
        if (!e->from_cache) {
            ms_pre += e->ms_preprocess;
            ms_enc += e->ms_encode;
            n_tiles_total += e->n_tiles;
        }
        if (!o.quiet) {
            const vision_resize_mode rm = vision_encoder_resize(enc);
            char layout[64];
            if (e->grid_x * e->grid_y == 0)
                snprintf(layout, sizeof layout, "one tile");
            else
                snprintf(layout, sizeof layout, "%d x %d grid + %s", e->grid_x, e->grid_y,
                         rm == VISION_RESIZE_LLAMACPP ? "overview" : "global image");
            fprintf(stderr, "ember: image %d: %s: %s, %d tokens (%s preprocessing)%s\n", i + 1, o.images[i], layout,
                    e->n_tiles * e->tokens_per_tile, vision_resize_mode_name(rm),
                    e->from_cache ? " (cached: same frame as before)" : "");
        }
        const size_t n = (size_t)e->n_tiles * e->tokens_per_tile * m->hp.n_embd;
        memcpy(prompt.embd + (size_t)images[i].row0 * m->hp.n_embd, e->data, n * sizeof(float));
        if (o.dump && i == 0) {
            const vision_hparams *hp = &mp->hp;
            if (dump_floats(o.dump, "pixels.f32", e->pixels, (size_t)e->n_tiles * 3 * hp->image_size * hp->image_size) ||
                dump_floats(o.dump, "vit.f32", e->vit, (size_t)e->n_tiles * hp->n_patches * hp->n_embd) ||
                dump_floats(o.dump, "proj.f32", e->data, n))
                goto done;
        }
    }

    /* prefill and answer */
    lm_gen_result res = {0};
    const double t_prefill = now_ms();
    if (cli_model_answer(&cm, &o.m, "ember run", &prompt, NULL, NULL, &res, err)) goto done;
    int64_t n_answer;
    const int32_t *answer = lm_gen_tokens(cm.gen, &n_answer);
    if (o.dump && dump_prompt(o.dump, &prompt, img_embd, o.n_images, answer, n_answer)) goto done;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char seedf[32];
    fprintf(stderr, "timings: load_ms=%.1f images=%d tiles=%d image_decode_ms=%.1f preprocess_ms=%.1f encode_ms=%.1f "
                    "encode_ms_per_tile=%.1f prompt_positions=%lld prefill_ms=%.1f ttft_ms=%.1f decode_tokens=%lld "
                    "decode_tps=%.2f peak_rss_mib=%.1f%s\n",
            t_loaded - t_start, o.n_images, n_tiles_total, ms_decode_img, ms_pre, ms_enc,
            n_tiles_total ? ms_enc / n_tiles_total : 0.0, (long long)prompt.n, res.prefill_ms,
            res.n_tokens ? t_prefill - t_loaded + res.prefill_ms + res.first_token_ms : 0.0, (long long)res.n_decoded,
            res.decode_ms > 0 ? res.n_decoded * 1e3 / res.decode_ms : 0.0, ru.ru_maxrss / 1024.0, cli_seed_field(&o.m, seedf));
    if (enc) {
        vision_cache_stats cs;
        vision_encoder_cache_stats(enc, &cs);
        fprintf(stderr, "image cache: hits=%llu misses=%llu entries=%zu bytes=%zu\n", cs.hits, cs.misses, cs.entries, cs.bytes);
    }
    status = res.stop == LM_STOP_CTX_FULL ? 1 : 0;
done:
    if (status == 1 && err[0]) fprintf(stderr, "ember run: %s\n", err);
    free(text);
    free(formatted);
    free(user);
    for (int i = 0; i < RUN_MAX_IMAGES; i++) vision_image_free(&imgs[i]);
    lm_prompt_free(&prompt);
    vision_encoder_free(enc);
    vision_mmproj_free(mp);
    cli_model_close(&cm);
    return status;
}
