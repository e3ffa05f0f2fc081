/* cmd_generate.c - `ember generate`: load a model, evaluate a prompt, stream
 * the continuation to stdout. Everything but the generated text (model
 * summary, warnings, timings) goes to stderr, so scripts can read stdout. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "commands.h"
#include "core/backend.h"
#include "core/vulkan/vk_backend.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/sampler.h"
#include "lm/vocab.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember generate -m MODEL.gguf (-p PROMPT | -f FILE | --prompt-tokens \"IDS\") [options]\n"
            "\n"
            "  -m, --model FILE       GGUF model (general.architecture = llama)\n"
            "  -p, --prompt TEXT      prompt text (special tokens like <|im_start|> are recognised)\n"
            "  -f, --file FILE        read the prompt from a file\n"
            "      --prompt-tokens S  prompt as token ids (space-separated; no BOS is added)\n"
            "  -n, --n-predict N      tokens to generate (default 128; -1: until end or context full)\n"
            "      --chat             wrap the prompt as a user turn in the model's chat template\n"
            "      --system TEXT      system message for --chat\n"
            "      --chat-template T  chatml or smolvlm (default: detected from the file)\n"
            "      --temp T           temperature (default 0.8; 0 = greedy)\n"
            "      --top-k N          (default 40; 0 = off)\n"
            "      --top-p P          (default 0.95; 1 = off)\n"
            "      --min-p P          (default 0.05; 0 = off)\n"
            "      --repeat-penalty R (default 1.0 = off)\n"
            "      --repeat-last-n N  tokens the penalty looks back over (default 64)\n"
            "      --seed N           sampling seed (default: from the clock)\n"
            "      --backend B        auto (default, or $EMBER_BACKEND: Vulkan on a GPU, else CPU), vulkan, cpu\n"
            "      --device N         Vulkan device index (see `ember devices`)\n"
            "  -t, --threads N        CPU threads (default: all cores)\n"
            "  -c, --ctx N            context length: KV cache positions (default min(train ctx, 4096))\n"
            "  -b, --batch N          prompt tokens per forward pass (default 512)\n"
            "      --kv-type T        f16 (default) or f32 KV cache\n"
            "      --ignore-eos       keep generating past end-of-generation tokens\n"
            "      --probs-out FILE   write each step's next-token distribution (binary; see bench/README.md)\n"
            "  -q, --quiet            no model summary on stderr (timings still printed)\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    return cli_parse_long("generate", opt, s, lo, hi, out);
}

static int parse_float(const char *opt, const char *s, double lo, double hi, float *out) {
    return cli_parse_float("generate", opt, s, lo, hi, out);
}

/* "1 2 3" -> ids; returns count or -1 (message printed). */
static int64_t parse_ids(const char *s, int32_t **out) {
    int64_t n = 0, cap = 64;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return -1;
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "ember generate: --prompt-tokens: '%.20s' is not a token id\n", s);
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *p = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!p) { free(ids); return -1; }
            ids = p;
        }
        ids[n++] = (int32_t)v;
        s = end;
    }
    *out = ids;
    return n;
}

typedef struct gen_opts {
    const char *model, *prompt, *prompt_file, *prompt_tokens, *system, *chat_template, *probs_out, *backend;
    long n_predict, threads, ctx, batch, device;
    bool chat, ignore_eos, quiet, seed_set;
    enum em_type kv_type;
    lm_sampler_params sp;
} gen_opts;

static int parse_args(int argc, char **argv, gen_opts *o) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_predict = 128;
    o->threads = cores > 0 ? cores : 1;
    o->kv_type = EM_TYPE_F16;
    o->sp = lm_sampler_defaults(0);
    o->backend = getenv("EMBER_BACKEND") && *getenv("EMBER_BACKEND") ? getenv("EMBER_BACKEND") : "auto";
    o->device = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
        bool flag = true;
        if (!strcmp(a, "--chat")) o->chat = true;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = true;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o->quiet = true;
        else flag = false;
        if (flag) continue;
        static const char *const valued[] = {
            "-m", "--model", "-p", "--prompt", "-f", "--file", "--prompt-tokens", "--system",
            "--chat-template", "--probs-out", "-n", "--n-predict", "-t", "--threads", "-c", "--ctx",
            "-b", "--batch", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
            "--repeat-last-n", "--seed", "--kv-type", "--backend", "--device"};
        bool known = false;
        for (size_t j = 0; j < sizeof valued / sizeof valued[0]; j++) known = known || !strcmp(a, valued[j]);
        if (!known) {
            fprintf(stderr, "ember generate: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ember generate: %s needs a value (see --help)\n", a);
            return -1;
        }
        const char *v = argv[++i];
        long l;
        int rc = 0;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->prompt_file = v;
        else if (!strcmp(a, "--prompt-tokens")) o->prompt_tokens = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--chat-template")) o->chat_template = v;
        else if (!strcmp(a, "--probs-out")) o->probs_out = v;
        else if (!strcmp(a, "--backend")) {
            if (strcmp(v, "auto") && strcmp(v, "vulkan") && strcmp(v, "cpu")) {
                fprintf(stderr, "ember generate: --backend '%s': expected auto, vulkan or cpu\n", v);
                return -1;
            }
            o->backend = v;
        }
        else if (!strcmp(a, "--device")) rc = parse_long(a, v, 0, 64, &o->device);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) rc = parse_long(a, v, -1, 1 << 24, &o->n_predict);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) rc = parse_long(a, v, 1, 1024, &o->threads);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) rc = parse_long(a, v, 1, 1 << 24, &o->ctx);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) rc = parse_long(a, v, 1, 1 << 16, &o->batch);
        else if (!strcmp(a, "--temp")) rc = parse_float(a, v, 0, 100, &o->sp.temp);
        else if (!strcmp(a, "--top-k")) { rc = parse_long(a, v, 0, 1 << 30, &l); o->sp.top_k = (int)l; }
        else if (!strcmp(a, "--top-p")) rc = parse_float(a, v, 0, 1, &o->sp.top_p);
        else if (!strcmp(a, "--min-p")) rc = parse_float(a, v, 0, 1, &o->sp.min_p);
        else if (!strcmp(a, "--repeat-penalty")) rc = parse_float(a, v, 1e-3, 1e3, &o->sp.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n")) { rc = parse_long(a, v, 0, 1 << 20, &l); o->sp.repeat_last_n = (int)l; }
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') { fprintf(stderr, "ember generate: --seed '%s': expected a non-negative integer\n", v); return -1; }
            o->sp.seed = s;
            o->seed_set = true;
        } else if (!strcmp(a, "--kv-type")) {
            if (!strcmp(v, "f16")) o->kv_type = EM_TYPE_F16;
            else if (!strcmp(v, "f32")) o->kv_type = EM_TYPE_F32;
            else { fprintf(stderr, "ember generate: --kv-type '%s': expected f16 or f32\n", v); return -1; }
        } else {
            fprintf(stderr, "ember generate: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (rc) return -1;
    }
    if (strcmp(o->backend, "auto") && strcmp(o->backend, "vulkan") && strcmp(o->backend, "cpu")) {
        fprintf(stderr, "ember generate: EMBER_BACKEND '%s': expected auto, vulkan or cpu\n", o->backend);
        return -1;
    }
    if (!o->model) { fprintf(stderr, "ember generate: no model: give -m MODEL.gguf (see --help)\n"); return -1; }
    int sources = !!o->prompt + !!o->prompt_file + !!o->prompt_tokens;
    if (sources != 1) {
        fprintf(stderr, "ember generate: give exactly one of -p, -f, --prompt-tokens (got %d)\n", sources);
        return -1;
    }
    if (o->prompt_tokens && o->chat) {
        fprintf(stderr, "ember generate: --chat formats text; it cannot be combined with --prompt-tokens\n");
        return -1;
    }
    if (!o->seed_set) o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return 0;
}

/* --probs-out: each step's token and next-token distribution. */
typedef struct probs_sink {
    FILE *f;
    float *probs;
    bool failed;
} probs_sink;

static int write_probs(void *user, int32_t tok, const float *logits, int n_vocab) {
    probs_sink *ps = user;
    lm_softmax(logits, ps->probs, n_vocab);
    if (fwrite(&tok, 4, 1, ps->f) != 1 || fwrite(ps->probs, sizeof *ps->probs, (size_t)n_vocab, ps->f) != (size_t)n_vocab) {
        ps->failed = true;
        return 1;
    }
    return 0;
}

int ember_cmd_generate(int argc, char **argv) {
    gen_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;

    char err[EM_ERR_LEN] = "";
    int status = 1;
    em_backend *be = NULL;
    lm_model *m = NULL;
    lm_ctx *ctx = NULL;
    lm_gen *gen = NULL;
    char *text = NULL, *formatted = NULL;
    int32_t *ids = NULL;
    lm_prompt prompt;
    lm_prompt_init(&prompt, 0);
    probs_sink ps = {0};

    char be_desc[320];
    cli_progress prog;
    be = cli_backend_open(o.backend, (int)o.device, (int)o.threads, o.model, o.quiet, &prog, be_desc,
                          sizeof be_desc, err);
    if (!be) goto done;
    double t0 = now_ms();
    m = lm_model_load(o.model, be, err);
    if (!m) goto done;
    const lm_hparams *hp = &m->hp;
    lm_ctx_params cp = {(int)o.ctx, (int)o.batch, o.kv_type};
    ctx = lm_ctx_create(m, &cp, err);
    if (!ctx) goto done;
    if (!o.quiet)
        fprintf(stderr, "ember: %s: %s, %d layers, dim %d, %d heads (%d kv), vocab %d; weights %.1f MiB; "
                        "context %lld (KV + buffers %.1f MiB); %s; loaded in %.0f ms\n",
                o.model, m->name[0] ? m->name : "llama", hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv,
                hp->n_vocab, lm_model_weight_bytes(m) / 1048576.0, (long long)lm_n_ctx(ctx),
                lm_ctx_bytes(ctx) / 1048576.0, be_desc, now_ms() - t0);

    /* the prompt */
    lm_prompt_init(&prompt, hp->n_embd);
    if (o.prompt_tokens) {
        int64_t n = parse_ids(o.prompt_tokens, &ids);
        if (n < 0) { status = 2; goto done; }
        if (lm_prompt_add_tokens(&prompt, ids, n, err)) goto done;
    } else {
        const char *user = o.prompt;
        size_t user_len = o.prompt ? strlen(o.prompt) : 0;
        if (o.prompt_file) {
            if (!(text = cli_read_file("-f", o.prompt_file, &user_len, err))) goto done;
            user = text;
        }
        if (o.chat) {
            ember_status st = lm_chat_prompt(o.chat_template, m->chat_template, o.system, user, &formatted, err);
            if (st == EM_ERR_ARG) {
                fprintf(stderr, "ember generate: --chat-template '%s': expected chatml or smolvlm\n", o.chat_template);
                status = 2;
                goto done;
            }
            if (st == EM_ERR_UNSUPPORTED) { fprintf(stderr, "ember generate: %s: %s; pick one with --chat-template\n", o.model, err); goto done; }
            if (st) goto done;
            user = formatted;
            user_len = strlen(formatted);
        }
        if (lm_prompt_add_text(&prompt, m->vocab, user, user_len, true, err)) goto done;
    }
    if (prompt.n == 0) { fprintf(stderr, "ember generate: the prompt is empty (no tokens)\n"); status = 2; goto done; }
    if (prompt.n >= lm_n_ctx(ctx)) {
        fprintf(stderr, "ember generate: the prompt has %lld tokens; the context holds %lld (raise --ctx)\n",
                (long long)prompt.n, (long long)lm_n_ctx(ctx));
        goto done;
    }
    if (o.probs_out) {
        ps.f = fopen(o.probs_out, "wb");
        ps.probs = malloc((size_t)hp->n_vocab * sizeof *ps.probs);
        if (!ps.f || !ps.probs) { fprintf(stderr, "ember generate: %s: %s\n", o.probs_out, ps.f ? "out of memory" : strerror(errno)); goto done; }
        uint32_t nv = (uint32_t)hp->n_vocab;
        if (fwrite(&nv, 4, 1, ps.f) != 1) { fprintf(stderr, "ember generate: %s: write failed\n", o.probs_out); goto done; }
    }

    /* prefill and generate */
    if (!(gen = lm_gen_create(ctx, m->vocab, err))) goto done;
    lm_gen_result res = {0};
    if (lm_gen_prefill(gen, &prompt, &res, err)) goto done;
    lm_gen_params gp = lm_gen_defaults(o.n_predict, &o.sp);
    gp.ignore_eog = o.ignore_eos;
    gp.on_text = cli_write_stdout;
    gp.on_token = ps.f ? write_probs : NULL;
    gp.user = &ps;
    if (lm_gen_generate(gen, &gp, &res, err)) goto done;
    if (ps.failed) { fprintf(stderr, "\nember generate: %s: write failed\n", o.probs_out); goto done; }
    if (res.stop == LM_STOP_CTX_FULL)
        fprintf(stderr, "\nember generate: context full after %lld tokens (raise --ctx)\n", (long long)lm_n_past(ctx));
    fputc('\n', stdout);
    fflush(stdout);
    if (ps.f) {
        FILE *f = ps.f;
        ps.f = NULL;
        if (fclose(f) != 0) { fprintf(stderr, "ember generate: %s: write failed\n", o.probs_out); goto done; }
    }
    fprintf(stderr, "timings: prefill_tokens=%lld prefill_ms=%.3f decode_tokens=%lld decode_ms=%.3f prefill_tps=%.2f decode_tps=%.2f\n",
            (long long)res.n_prompt, res.prefill_ms, (long long)res.n_decoded, res.decode_ms,
            res.prefill_ms > 0 ? res.n_prompt * 1e3 / res.prefill_ms : 0.0,
            res.decode_ms > 0 ? res.n_decoded * 1e3 / res.decode_ms : 0.0);
    if (!strcmp(be->ops->name, "vulkan")) {
        /* What a step costs the driver: dispatches, barriers and submits per
         * decoded token, and how many recordings were replayed. */
        vk_backend_stats vs;
        vk_backend_get_stats(be, &vs);
        fprintf(stderr, "vulkan: submits=%llu dispatches=%llu barriers=%llu recordings=%llu replays=%llu\n", vs.submits,
                vs.dispatches, vs.barriers, vs.recordings, vs.replays);
    }
    status = 0;
done:
    if (status == 1 && err[0]) fprintf(stderr, "ember generate: %s\n", err);
    if (ps.f) fclose(ps.f);
    free(ps.probs);
    free(ids);
    free(text);
    free(formatted);
    lm_prompt_free(&prompt);
    lm_gen_free(gen);
    lm_ctx_free(ctx);
    lm_model_free(m);
    em_backend_free(be);
    return status;
}
