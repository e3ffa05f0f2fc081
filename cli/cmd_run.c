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

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember run -m MODEL.gguf [--mmproj MMPROJ.gguf --image FILE ...] (-p PROMPT | -f FILE) [options]\n"
            "\n"
            "  -m, --model FILE        the language model (GGUF, general.architecture = llama)\n"
            "      --mmproj FILE       its vision projector (the mmproj GGUF published with it)\n"
            "      --image FILE        a PNG or JPEG image; repeat for several (at most %d). Each goes where\n"
            "                          the prompt says " AGENT_VLM_MARKER ", or before the prompt\n"
            "  -p, --prompt TEXT       the question or instruction (\"What is on the table?\", \"Read the text.\")\n"
            "  -f, --file FILE         read the prompt from a file\n"
            "      --system TEXT       a system message\n"
            "      --chat-template T   chatml or smolvlm (default: detected from the model)\n"
            "  -n, --n-predict N       answer tokens at most (default 256)\n"
            "      --temp T            temperature (default 0: greedy, the same answer every time)\n"
            "      --top-k N, --top-p P, --min-p P, --seed N   sampling when --temp > 0\n"
            "      --image-longest-edge N  resize images to this longest side before tiling\n"
            "                          (default: the mmproj's, 2048 for SmolVLM: up to 16 tiles + 1;\n"
            "                          512 gives one tile + the overview, far faster on a small CPU)\n"
            "      --image-max-tiles N refuse images that need more tiles than this\n"
            "      --backend B         auto (default, or $EMBER_BACKEND), vulkan, cpu\n"
            "      --device N          Vulkan device index (see `ember devices`)\n"
            "  -t, --threads N         CPU threads (default: all cores)\n"
            "  -c, --ctx N             context length (default min(train ctx, 4096))\n"
            "  -b, --batch N           positions per forward pass (default 512)\n"
            "      --kv-type T         f16 (default) or f32 KV cache\n"
            "      --ignore-eos        keep generating past end-of-generation tokens\n"
            "      --dump DIR          write pixels.f32, vit.f32, proj.f32 and prompt.json there (tests)\n"
            "  -q, --quiet             no model summary on stderr (timings still printed)\n",
            RUN_MAX_IMAGES);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct run_opts {
    const char *model, *mmproj, *prompt, *prompt_file, *system, *chat_template, *backend, *dump;
    const char *images[RUN_MAX_IMAGES];
    int n_images;
    long n_predict, threads, ctx, batch, device, longest_edge, max_tiles;
    bool ignore_eos, quiet;
    enum em_type kv_type;
    lm_sampler_params sp;
} run_opts;

static int parse_args(int argc, char **argv, run_opts *o) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN), l;
    o->n_predict = 256;
    o->threads = cores > 0 ? cores : 1;
    o->kv_type = EM_TYPE_F16;
    o->sp = lm_sampler_defaults(0);
    o->sp.temp = 0.0f;
    o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    o->backend = getenv("EMBER_BACKEND") && *getenv("EMBER_BACKEND") ? getenv("EMBER_BACKEND") : "auto";
    o->device = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
        if (!strcmp(a, "--ignore-eos")) { o->ignore_eos = true; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = true; continue; }
        static const char *const valued[] = {
            "-m", "--model", "--mmproj", "--image", "-p", "--prompt", "-f", "--file", "--system", "--chat-template",
            "-n", "--n-predict", "--temp", "--top-k", "--top-p", "--min-p", "--seed", "--image-longest-edge",
            "--image-max-tiles", "--backend", "--device", "-t", "--threads", "-c", "--ctx", "-b", "--batch",
            "--kv-type", "--dump"};
        bool known = false;
        for (size_t j = 0; j < sizeof valued / sizeof valued[0]; j++) known = known || !strcmp(a, valued[j]);
        if (!known) { fprintf(stderr, "ember run: unknown option '%s' (see --help)\n", a); return -1; }
        if (i + 1 >= argc) { fprintf(stderr, "ember run: %s needs a value (see --help)\n", a); return -1; }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--mmproj")) o->mmproj = v;
        else if (!strcmp(a, "--image")) {
            if (o->n_images == RUN_MAX_IMAGES) { fprintf(stderr, "ember run: more than %d images\n", RUN_MAX_IMAGES); return -1; }
            o->images[o->n_images++] = v;
        }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->prompt_file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--chat-template")) o->chat_template = v;
        else if (!strcmp(a, "--dump")) o->dump = v;
        else if (!strcmp(a, "--backend")) o->backend = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) rc = cli_parse_long("run", a, v, -1, 1 << 24, &o->n_predict);
        else if (!strcmp(a, "--temp")) rc = cli_parse_float("run", a, v, 0, 100, &o->sp.temp);
        else if (!strcmp(a, "--top-k")) { rc = cli_parse_long("run", a, v, 0, 1 << 30, &l); o->sp.top_k = (int)l; }
        else if (!strcmp(a, "--top-p")) rc = cli_parse_float("run", a, v, 0, 1, &o->sp.top_p);
        else if (!strcmp(a, "--min-p")) rc = cli_parse_float("run", a, v, 0, 1, &o->sp.min_p);
        else if (!strcmp(a, "--seed")) { rc = cli_parse_long("run", a, v, 0, LONG_MAX, &l); o->sp.seed = (uint64_t)l; }
        else if (!strcmp(a, "--image-longest-edge")) rc = cli_parse_long("run", a, v, 1, 16384, &o->longest_edge);
        else if (!strcmp(a, "--image-max-tiles")) rc = cli_parse_long("run", a, v, 1, 4096, &o->max_tiles);
        else if (!strcmp(a, "--device")) rc = cli_parse_long("run", a, v, 0, 64, &o->device);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = cli_parse_long("run", a, v, 1, 1024, &o->threads);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) rc = cli_parse_long("run", a, v, 1, 1 << 24, &o->ctx);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) rc = cli_parse_long("run", a, v, 1, 1 << 16, &o->batch);
        else if (!strcmp(a, "--kv-type")) {
            if (!strcmp(v, "f16")) o->kv_type = EM_TYPE_F16;
            else if (!strcmp(v, "f32")) o->kv_type = EM_TYPE_F32;
            else { fprintf(stderr, "ember run: --kv-type '%s': expected f16 or f32\n", v); return -1; }
        }
        if (rc) return -1;
    }
    if (strcmp(o->backend, "auto") && strcmp(o->backend, "vulkan") && strcmp(o->backend, "cpu")) {
        fprintf(stderr, "ember run: --backend '%s': expected auto, vulkan or cpu\n", o->backend);
        return -1;
    }
    if (!o->model) { fprintf(stderr, "ember run: no model: give -m MODEL.gguf (see --help)\n"); return -1; }
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

int ember_cmd_run(int argc, char **argv) {
    run_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;

    char err[EM_ERR_LEN] = "";
    int status = 1;
    em_backend *be = NULL;
    lm_model *m = NULL;
    lm_ctx *ctx = NULL;
    lm_gen *gen = NULL;
    vision_mmproj *mp = NULL;
    vision_encoder *enc = NULL;
    char *text = NULL, *formatted = NULL, *user = NULL;
    float *rows[RUN_MAX_IMAGES] = {0};
    lm_prompt prompt;
    lm_prompt_init(&prompt, 0);
    const vision_embd *img_embd[RUN_MAX_IMAGES] = {0};
    agent_vlm_image images[RUN_MAX_IMAGES];

    if (o.dump && mkdir(o.dump, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ember run: --dump %s: %s\n", o.dump, strerror(errno));
        return 1;
    }
    const double t_start = now_ms();
    char be_desc[320];
    cli_progress prog;
    be = cli_backend_open(o.backend, (int)o.device, (int)o.threads, o.model, o.quiet, &prog, be_desc, sizeof be_desc, err);
    if (!be) goto done;
    m = lm_model_load(o.model, be, err);
    if (!m) goto done;
    if (o.mmproj) {
        if (!(mp = vision_mmproj_load(o.mmproj, be, err))) goto done;
        if (agent_vlm_check_pair(mp, m, o.mmproj, o.model, err)) goto done;
        vision_encoder_params ep = {(int)o.longest_edge, (int)o.max_tiles, 0, o.dump != NULL};
        if (!(enc = vision_encoder_create(mp, &ep, err))) goto done;
    }
    lm_ctx_params cp = {(int)o.ctx, (int)o.batch, o.kv_type};
    if (!(ctx = lm_ctx_create(m, &cp, err))) goto done;
    const double t_loaded = now_ms();
    if (!o.quiet) {
        fprintf(stderr, "ember: %s: %s, %d layers, dim %d, vocab %d; weights %.1f MiB; %s\n", o.model,
                m->name[0] ? m->name : "llama", m->hp.n_layer, m->hp.n_embd, m->hp.n_vocab,
                lm_model_weight_bytes(m) / 1048576.0, be_desc);
        if (mp)
            fprintf(stderr, "ember: %s: SigLIP %d layers, dim %d, %d x %d tiles of %d px patches, scale %d -> %d tokens per tile\n",
                    o.mmproj, mp->hp.n_layer, mp->hp.n_embd, mp->hp.image_size, mp->hp.image_size, mp->hp.patch_size,
                    mp->hp.scale_factor, mp->hp.tokens_per_tile);
    }

    /* images -> embeddings */
    double ms_decode_img = 0, ms_pre = 0, ms_enc = 0;
    int n_tiles_total = 0;
    for (int i = 0; i < o.n_images; i++) {
        vision_image img = {0};
        double t0 = now_ms();
        if (vision_image_load(o.images[i], NULL, &img, err)) goto done;
        ms_decode_img += now_ms() - t0;
        ember_status st = vision_encode_image(enc, &img, &img_embd[i], err);
        vision_image_free(&img);
        if (st) goto done;
        const vision_embd *e = img_embd[i];
        if (!e->from_cache) {
            ms_pre += e->ms_preprocess;
            ms_enc += e->ms_encode;
            n_tiles_total += e->n_tiles;
        }
        if (!o.quiet)
            fprintf(stderr, "ember: image %d: %s: %d x %d grid + overview, %d tokens%s\n", i + 1, o.images[i], e->grid_x,
                    e->grid_y, e->n_tiles * e->tokens_per_tile, e->from_cache ? " (cached: same frame as before)" : "");
        /* copy now: the cache may drop this entry on the next image */
        const size_t n = (size_t)e->n_tiles * e->tokens_per_tile * m->hp.n_embd;
        if (!(rows[i] = malloc(n * sizeof(float)))) { em_err(err, EM_ERR_NOMEM, "image embeddings: out of memory"); goto done; }
        memcpy(rows[i], e->data, n * sizeof(float));
        images[i] = (agent_vlm_image){e->grid_x, e->grid_y, e->n_tiles, e->tokens_per_tile, rows[i]};
        if (o.dump && i == 0) {
            const vision_hparams *hp = &mp->hp;
            if (dump_floats(o.dump, "pixels.f32", e->pixels, (size_t)e->n_tiles * 3 * hp->image_size * hp->image_size) ||
                dump_floats(o.dump, "vit.f32", e->vit, (size_t)e->n_tiles * hp->n_patches * hp->n_embd) ||
                dump_floats(o.dump, "proj.f32", e->data, n))
                goto done;
        }
    }

    /* the chat prompt, markers where the images go */
    size_t qlen = o.prompt ? strlen(o.prompt) : 0;
    const char *q = o.prompt;
    if (o.prompt_file) {
        if (!(text = cli_read_file("-f", o.prompt_file, &qlen, err))) goto done;
        q = text;
    }
    int markers = 0;
    for (const char *s = strstr(q, AGENT_VLM_MARKER); s; s = strstr(s + strlen(AGENT_VLM_MARKER), AGENT_VLM_MARKER)) markers++;
    if (markers && markers != o.n_images) {
        fprintf(stderr, "ember run: the prompt has %d %s marker%s for %d image%s\n", markers, AGENT_VLM_MARKER,
                markers == 1 ? "" : "s", o.n_images, o.n_images == 1 ? "" : "s");
        status = 2;
        goto done;
    }
    size_t ulen = qlen + 1 + (markers ? 0 : (size_t)o.n_images * strlen(AGENT_VLM_MARKER));
    if (!(user = malloc(ulen))) { em_err(err, EM_ERR_NOMEM, "out of memory"); goto done; }
    user[0] = '\0';
    for (int i = 0; !markers && i < o.n_images; i++) strcat(user, AGENT_VLM_MARKER);
    strncat(user, q, qlen);
    ember_status cst = lm_chat_prompt(o.chat_template, m->chat_template, o.system, user, &formatted, err);
    if (cst == EM_ERR_ARG) {
        fprintf(stderr, "ember run: --chat-template '%s': expected chatml or smolvlm\n", o.chat_template);
        status = 2;
        goto done;
    }
    if (cst == EM_ERR_UNSUPPORTED) { fprintf(stderr, "ember run: %s: %s; pick one with --chat-template\n", o.model, err); goto done; }
    if (cst) goto done;
    agent_vlm_layout lt = {0};
    if (o.n_images && agent_vlm_layout_find(m->vocab, &lt, err)) goto done;
    lm_prompt_init(&prompt, m->hp.n_embd);
    if (agent_vlm_prompt_build(&prompt, m->vocab, &lt, formatted, images, o.n_images, err)) goto done;
    if (prompt.n >= lm_n_ctx(ctx)) {
        fprintf(stderr, "ember run: the prompt takes %lld positions (images included); the context holds %lld (raise --ctx, "
                        "or lower --image-longest-edge)\n", (long long)prompt.n, (long long)lm_n_ctx(ctx));
        goto done;
    }

    /* prefill and answer */
    if (!(gen = lm_gen_create(ctx, m->vocab, err))) goto done;
    lm_gen_result res = {0};
    if (lm_gen_prefill(gen, &prompt, &res, err)) goto done;
    const double t_gen = now_ms();
    lm_gen_params gp = lm_gen_defaults(o.n_predict, &o.sp);
    gp.ignore_eog = o.ignore_eos;
    gp.on_text = cli_write_stdout;
    if (lm_gen_generate(gen, &gp, &res, err)) goto done;
    if (res.stop == LM_STOP_CTX_FULL)
        fprintf(stderr, "\nember run: context full after %lld positions (raise --ctx)\n", (long long)lm_n_past(ctx));
    fputc('\n', stdout);
    fflush(stdout);
    int64_t n_answer;
    const int32_t *answer = lm_gen_tokens(gen, &n_answer);
    if (o.dump && dump_prompt(o.dump, &prompt, img_embd, o.n_images, answer, n_answer)) goto done;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "timings: load_ms=%.1f images=%d tiles=%d image_decode_ms=%.1f preprocess_ms=%.1f encode_ms=%.1f "
                    "encode_ms_per_tile=%.1f prompt_positions=%lld prefill_ms=%.1f ttft_ms=%.1f decode_tokens=%lld "
                    "decode_tps=%.2f peak_rss_mib=%.1f\n",
            t_loaded - t_start, o.n_images, n_tiles_total, ms_decode_img, ms_pre, ms_enc,
            n_tiles_total ? ms_enc / n_tiles_total : 0.0, (long long)prompt.n, res.prefill_ms,
            res.n_tokens ? t_gen - t_loaded + res.first_token_ms : 0.0, (long long)res.n_decoded,
            res.decode_ms > 0 ? res.n_decoded * 1e3 / res.decode_ms : 0.0, ru.ru_maxrss / 1024.0);
    if (enc) {
        vision_cache_stats cs;
        vision_encoder_cache_stats(enc, &cs);
        fprintf(stderr, "image cache: hits=%llu misses=%llu entries=%zu bytes=%zu\n", cs.hits, cs.misses, cs.entries, cs.bytes);
    }
    status = 0;
done:
    if (status == 1 && err[0]) fprintf(stderr, "ember run: %s\n", err);
    free(text);
    free(formatted);
    free(user);
    for (int i = 0; i < RUN_MAX_IMAGES; i++) free(rows[i]);
    lm_prompt_free(&prompt);
    lm_gen_free(gen);
    lm_ctx_free(ctx);
    vision_encoder_free(enc);
    vision_mmproj_free(mp);
    lm_model_free(m);
    em_backend_free(be);
    return status;
}
