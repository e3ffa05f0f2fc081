/* cli_model_opts.c - see cli_model_opts.h. */
#include "cli_model_opts.h"
#include "core/cpu/cpu_backend.h"
#include "vision/mmproj.h"

#include "lm/chat.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const cli_backend_names[] = {"auto", "vulkan", "cpu", NULL};
const char *const cli_image_resize_names[] = {"auto", "transformers", "llamacpp", NULL};
const char *const cli_vision_weights_names[] = {"stored", "bf16", NULL};

void cli_vision_weights_note(const em_backend *be, int weights, const char *prog) {
    if (weights != VISION_WEIGHTS_BF16 || strcmp(be->ops->name, "cpu") != 0) return;
    const char *isa = cpu_backend_isa(be);
    if (strcmp(isa, "avx512-bf16") != 0)
        fprintf(stderr, "%s: note: --vision-weights bf16 pays off only on CPUs with AVX512_BF16; these kernels (%s) "
                "multiply bf16 more slowly than f16\n", prog, isa);
}

static const char *const kv_names[] = {"f16", "f32", NULL};
static const enum em_type kv_types[] = {EM_TYPE_F16, EM_TYPE_F32};

void cli_model_opts_init(cli_model_opts *o) {
    memset(o, 0, sizeof *o);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cores < 1 ? 1 : cores > 1024 ? 1024 : (int)cores;
    o->device = -1;
    o->n_predict = 128;
    o->kv_type = EM_TYPE_F16;
    /* a run that gives no seed samples differently each time, as llama.cpp's does */
    o->sp = lm_sampler_defaults((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    o->backend = "auto";
    const char *env = getenv("EMBER_BACKEND");
    if (env && *env) {
        o->backend_choice = -1;
        for (int i = 0; cli_backend_names[i]; i++)
            if (!strcmp(env, cli_backend_names[i])) o->backend_choice = i;
        if (o->backend_choice < 0) o->backend_env = env;
    }
}

void cli_model_opts_specs(cli_model_opts *o, opt_spec *specs) {
    const opt_spec t[CLI_MODEL_OPTS_N] = {
        OPT_STR("-m", "--model", "FILE", &o->model, "the language model (GGUF, general.architecture = llama)"),
        OPT_CHOICE(NULL, "--backend", "B", &o->backend_choice, cli_backend_names,
                   "auto (Vulkan on a GPU, else the CPU; or $EMBER_BACKEND), vulkan, cpu"),
        {.kind = OPT_KIND_INT, .lng = "--device", .meta = "N", .dest = OPT_DEST_(&o->device, int), .lo = 0, .hi = 64,
         .flags = OPT_NO_DEFAULT, .help = "Vulkan device index (see `ember devices`)"},
        {.kind = OPT_KIND_INT, .shrt = "-t", .lng = "--threads", .meta = "N", .dest = OPT_DEST_(&o->threads, int), .lo = 1,
         .hi = 1024, .flags = OPT_NO_DEFAULT, .help = "CPU threads (default: all cores)"},
        {.kind = OPT_KIND_INT, .shrt = "-c", .lng = "--ctx", .meta = "N", .dest = OPT_DEST_(&o->n_ctx, int), .lo = 1, .hi = 1 << 24,
         .flags = OPT_NO_DEFAULT, .help = "context length: KV cache positions (default min(train ctx, 4096))"},
        {.kind = OPT_KIND_INT, .shrt = "-b", .lng = "--batch", .meta = "N", .dest = OPT_DEST_(&o->n_batch, int), .lo = 1,
         .hi = 1 << 16, .flags = OPT_NO_DEFAULT, .help = "positions per forward pass (default 512)"},
        OPT_CHOICE(NULL, "--kv-type", "T", &o->kv_choice, kv_names, "KV cache type: f16 or f32"),
        OPT_INT("-n", "--n-predict", "N", &o->n_predict, -1, 1 << 24,
                "tokens to generate at most (-1: until the end or the context is full)"),
        OPT_FLOAT(NULL, "--temp", "T", &o->sp.temp, 0, 100, "temperature (0: greedy, the same answer every time)"),
        OPT_INT(NULL, "--top-k", "N", &o->sp.top_k, 0, 1 << 30, "keep the N most likely tokens (0: off)"),
        OPT_FLOAT(NULL, "--top-p", "P", &o->sp.top_p, 0, 1, "keep the most likely tokens up to mass P (1: off)"),
        OPT_FLOAT(NULL, "--min-p", "P", &o->sp.min_p, 0, 1, "drop tokens below P times the top one's probability (0: off)"),
        OPT_FLOAT(NULL, "--repeat-penalty", "R", &o->sp.repeat_penalty, 1e-3, 1e3, "penalize repeated tokens (1: off)"),
        OPT_INT(NULL, "--repeat-last-n", "N", &o->sp.repeat_last_n, 0, 1 << 20, "tokens the penalty looks back over"),
        {.kind = OPT_KIND_U64, .lng = "--seed", .meta = "N", .dest = OPT_DEST_(&o->sp.seed, uint64_t), .ulo = 0, .uhi = UINT64_MAX,
         .flags = OPT_NO_DEFAULT, .help = "sampling seed, 0..2^64-1 (default: from the clock)"},
        OPT_FLAG(NULL, "--ignore-eos", &o->ignore_eos, "keep generating past end-of-generation tokens"),
        OPT_LIST(NULL, "--stop", "TEXT", o->stop, &o->n_stop, CLI_MAX_STOP,
                 "stop when the text contains TEXT (which is not printed); repeatable"),
        OPT_STR(NULL, "--system", "TEXT", &o->system, "a system message for the chat template"),
        OPT_STR(NULL, "--chat-template", "T", &o->chat_template, "chatml or smolvlm (default: detected from the model)"),
        OPT_STR(NULL, "--grammar-file", "FILE", &o->grammar_file,
                "constrain the output to a GBNF grammar (llama.cpp's syntax); it ends when the grammar is complete"),
        OPT_END,
    };
    memcpy(specs, t, sizeof t);
}

int cli_model_opts_finish(cli_model_opts *o, const char *prog, char *err) {
    if (o->backend_choice < 0) {
        snprintf(err, OPT_ERR_LEN, "%s: EMBER_BACKEND '%s': expected auto, vulkan or cpu", prog,
                 o->backend_env ? o->backend_env : "");
        return OPT_ERROR;
    }
    o->backend = cli_backend_names[o->backend_choice];
    o->kv_type = kv_types[o->kv_choice];
    if (o->grammar_file) { /* a typo in a grammar is the command line's fault: found before any model loads */
        char e[EM_ERR_LEN];
        size_t n;
        char *text = cli_read_file(prog, o->grammar_file, &n, e);
        lm_grammar *g = text ? lm_grammar_parse(text, n, e) : NULL;
        free(text);
        if (!g) {
            snprintf(err, OPT_ERR_LEN, "%s: --grammar-file %.100s: %.300s", prog, o->grammar_file, e);
            return OPT_ERROR;
        }
        lm_grammar_free(g);
    }
    return OPT_OK;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

ember_status cli_model_open(const cli_model_opts *o, bool quiet, cli_model *cm, char *err) {
    memset(cm, 0, sizeof *cm);
    /* the cheap check first: a mistyped path should not wait for a device */
    struct stat sb;
    if (stat(o->model, &sb) != 0) return em_err(err, EM_ERR_IO, "%s: %s", o->model, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return em_err(err, EM_ERR_IO, "%s: is a directory, not a model file", o->model);
    cm->be = cli_backend_open(o->backend, o->device, o->threads, o->model, quiet, &cm->prog, cm->desc, sizeof cm->desc, err);
    if (!cm->be) return EM_ERR_UNSUPPORTED;
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (!quiet && cores > 0 && o->threads > cores && !strcmp(cm->be->ops->name, "cpu"))
        fprintf(stderr, "ember: warning: --threads %d is more than the %ld cores online; the extra threads only wait\n",
                o->threads, cores);
    const double t0 = now_ms();
    lm_ctx_params cp = {o->n_ctx, o->n_batch, o->kv_type};
    if (!(cm->m = lm_model_load(o->model, cm->be, err)) || !(cm->ctx = lm_ctx_create(cm->m, &cp, err)) ||
        !(cm->gen = lm_gen_create(cm->ctx, cm->m->vocab, err))) {
        cli_model_close(cm);
        return EM_ERR_IO;
    }
    if (o->grammar_file) {
        size_t n;
        if (!(cm->grammar_text = cli_read_file("ember", o->grammar_file, &n, err)) ||
            !(cm->grammar = lm_grammar_parse(cm->grammar_text, n, err)) ||
            !(cm->gvocab = lm_grammar_vocab_create(cm->m->vocab, err)) ||
            !(cm->gm = lm_grammar_matcher_create(cm->grammar, cm->gvocab, err))) {
            cli_model_close(cm);
            return EM_ERR_ARG;
        }
    }
    cm->load_ms = now_ms() - t0;
    if (!quiet && o->n_ctx > cm->m->hp.n_ctx_train)
        fprintf(stderr, "ember: warning: --ctx %d is past the %d positions %s was trained on; answers past them may degrade\n",
                o->n_ctx, cm->m->hp.n_ctx_train, o->model);
    return EM_OK;
}

const char *cli_seed_field(const cli_model_opts *o, char buf[32]) {
    buf[0] = 0;
    if (o->sp.temp > 0) snprintf(buf, 32, " seed=%llu", (unsigned long long)o->sp.seed);
    return buf;
}

void cli_model_close(cli_model *cm) {
    lm_grammar_matcher_free(cm->gm);
    lm_grammar_vocab_free(cm->gvocab);
    lm_grammar_free(cm->grammar);
    free(cm->grammar_text);
    lm_gen_free(cm->gen);
    lm_ctx_free(cm->ctx);
    lm_model_free(cm->m);
    em_backend_free(cm->be);
    memset(cm, 0, sizeof *cm);
}

int cli_model_chat(const cli_model *cm, const cli_model_opts *o, const char *prog, const char *user, char **out) {
    char err[EM_ERR_LEN];
    ember_status st = lm_chat_prompt(o->chat_template, cm->m->chat_template, o->system, user, out, err);
    if (st == EM_OK) return 0;
    if (st == EM_ERR_ARG) {
        fprintf(stderr, "%s: --chat-template '%s': expected chatml or smolvlm\n", prog, o->chat_template);
        return 2;
    }
    if (st == EM_ERR_UNSUPPORTED)
        fprintf(stderr, "%s: %s: %s; pick one with --chat-template\n", prog, o->model, err);
    else
        fprintf(stderr, "%s: %s\n", prog, err);
    return 1;
}

ember_status cli_model_answer(cli_model *cm, const cli_model_opts *o, const char *prog, const lm_prompt *p,
                              int (*on_token)(void *user, int32_t tok, const float *logits, int n_vocab), void *user,
                              lm_gen_result *res, char *err) {
    ember_status st = lm_gen_prefill(cm->gen, p, res, err);
    if (st) return st;
    lm_gen_params gp = lm_gen_defaults(o->n_predict, &o->sp);
    gp.ignore_eog = o->ignore_eos;
    gp.stop = o->stop;
    gp.n_stop = o->n_stop;
    gp.on_text = cli_write_stdout;
    gp.on_token = on_token;
    gp.user = user;
    if (cm->gm) {
        lm_grammar_matcher_reset(cm->gm);
        gp.filter = lm_grammar_matcher_filter(cm->gm);
    }
    if ((st = lm_gen_generate(cm->gen, &gp, res, err))) return st;
    if (res->stop == LM_STOP_CTX_FULL)
        fprintf(stderr, "\n%s: context full after %lld positions (raise --ctx)\n", prog, (long long)lm_n_past(cm->ctx));
    fputc('\n', stdout);
    fflush(stdout);
    return EM_OK;
}
