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

#include "cli_model_opts.h"
#include "cli_util.h"
#include "commands.h"
#include "core/backend.h"
#include "core/vulkan/vk_backend.h"
#include "lm/chat.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/sampler.h"
#include "lm/vocab.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember generate -m MODEL.gguf (-p PROMPT | -f FILE | --prompt-tokens \"IDS\") [options]\n\n"
            "Evaluates the prompt and streams the continuation to stdout; the model summary,\n"
            "warnings and timings go to stderr.\n\n"
            "options:\n");
    opt_usage(f, specs);
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
    cli_model_opts m;
    const char *prompt, *prompt_file, *prompt_tokens, *probs_out;
    bool chat, quiet;
} gen_opts;

/* 0: go on; 1: --help was printed; -1: bad usage (message printed). */
static int parse_args(int argc, char **argv, gen_opts *o) {
    char err[OPT_ERR_LEN];
    cli_model_opts_init(&o->m);
    opt_spec model_specs[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&o->m, model_specs);
    const opt_spec specs[] = {
        OPT_STR("-p", "--prompt", "TEXT", &o->prompt, "prompt text (special tokens like <|im_start|> are recognised)"),
        OPT_STR("-f", "--file", "FILE", &o->prompt_file, "read the prompt from a file"),
        OPT_STR(NULL, "--prompt-tokens", "IDS", &o->prompt_tokens, "prompt as token ids (space-separated; no BOS is added)"),
        OPT_FLAG(NULL, "--chat", &o->chat, "wrap the prompt as a user turn in the model's chat template (--system, --chat-template)"),
        OPT_GROUP(model_specs),
        OPT_STR(NULL, "--probs-out", "FILE", &o->probs_out,
                "write each step's next-token distribution (binary; see bench/README.md)"),
        OPT_FLAG("-q", "--quiet", &o->quiet, "no model summary on stderr (timings still printed)"),
        OPT_END};
    int rc = opt_parse("ember generate", specs, argc, argv, NULL, 0, NULL, err);
    if (rc == OPT_HELP) { usage(stdout, specs); return 1; }
    if (rc == OPT_OK) rc = cli_model_opts_finish(&o->m, "ember generate", err);
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return -1; }
    if (!o->m.model) { fprintf(stderr, "ember generate: no model: give -m MODEL.gguf (see --help)\n"); return -1; }
    int sources = !!o->prompt + !!o->prompt_file + !!o->prompt_tokens;
    if (sources != 1) {
        fprintf(stderr, "ember generate: give exactly one of -p, -f, --prompt-tokens (got %d)\n", sources);
        return -1;
    }
    if (o->prompt_tokens && o->chat) {
        fprintf(stderr, "ember generate: --chat formats text; it cannot be combined with --prompt-tokens\n");
        return -1;
    }
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
    cli_model cm = {0};
    char *text = NULL, *formatted = NULL;
    int32_t *ids = NULL;
    lm_prompt prompt;
    lm_prompt_init(&prompt, 0);
    probs_sink ps = {0};

    /* the prompt file first: a typo costs nothing */
    size_t text_len = 0;
    if (o.prompt_file && !(text = cli_read_prompt("-f", o.prompt_file, &text_len, err))) goto done;
    if (cli_model_open(&o.m, o.quiet, &cm, err)) {
        if (strstr(err, "'clip'"))
            snprintf(err + strlen(err), EM_ERR_LEN - strlen(err),
                     "; it is a vision projector: `ember run` takes it with --mmproj beside the language model");
        goto done;
    }
    const lm_model *m = cm.m;
    lm_ctx *ctx = cm.ctx;
    const lm_hparams *hp = &m->hp;
    if (!o.quiet)
        fprintf(stderr, "ember: %s: %s, %d layers, dim %d, %d heads (%d kv), vocab %d; weights %.1f MiB; "
                        "context %lld (KV + buffers %.1f MiB); %s; loaded in %.0f ms\n",
                o.m.model, m->name[0] ? m->name : "llama", hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv,
                hp->n_vocab, lm_model_weight_bytes(m) / 1048576.0, (long long)lm_n_ctx(ctx),
                lm_ctx_bytes(ctx) / 1048576.0, cm.desc, cm.load_ms);

    /* the prompt */
    lm_prompt_init(&prompt, hp->n_embd);
    if (o.prompt_tokens) {
        int64_t n = parse_ids(o.prompt_tokens, &ids);
        if (n < 0) { status = 2; goto done; }
        if (lm_prompt_add_tokens(&prompt, ids, n, err)) goto done;
    } else {
        const char *user = text ? text : o.prompt;
        size_t user_len = text ? text_len : strlen(o.prompt);
        if (o.chat) {
            int crc = cli_model_chat(&cm, &o.m, "ember generate", user, &formatted);
            if (crc) { status = crc; goto done; }
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
    lm_gen_result res = {0};
    if (cli_model_answer(&cm, &o.m, "ember generate", &prompt, ps.f ? write_probs : NULL, &ps, &res, err)) goto done;
    if (ps.failed) { fprintf(stderr, "ember generate: %s: write failed\n", o.probs_out); goto done; }
    if (ps.f) {
        FILE *f = ps.f;
        ps.f = NULL;
        if (fclose(f) != 0) { fprintf(stderr, "ember generate: %s: write failed\n", o.probs_out); goto done; }
    }
    char seedf[32];
    fprintf(stderr, "timings: prefill_tokens=%lld prefill_ms=%.3f decode_tokens=%lld decode_ms=%.3f prefill_tps=%.2f decode_tps=%.2f%s\n",
            (long long)res.n_prompt, res.prefill_ms, (long long)res.n_decoded, res.decode_ms,
            res.prefill_ms > 0 ? res.n_prompt * 1e3 / res.prefill_ms : 0.0,
            res.decode_ms > 0 ? res.n_decoded * 1e3 / res.decode_ms : 0.0, cli_seed_field(&o.m, seedf));
    if (!strcmp(cm.be->ops->name, "vulkan")) {
        /* What a step costs the driver: dispatches, barriers and submits per
         * decoded token, and how many recordings were replayed. */
        vk_backend_stats vs;
        vk_backend_get_stats(cm.be, &vs);
        fprintf(stderr, "vulkan: submits=%llu dispatches=%llu barriers=%llu recordings=%llu replays=%llu\n", vs.submits,
                vs.dispatches, vs.barriers, vs.recordings, vs.replays);
    }
    status = res.stop == LM_STOP_CTX_FULL ? 1 : 0; /* the answer was cut short */
done:
    if (status == 1 && err[0]) fprintf(stderr, "ember generate: %s\n", err);
    if (ps.f) fclose(ps.f);
    free(ps.probs);
    free(ids);
    free(text);
    free(formatted);
    lm_prompt_free(&prompt);
    cli_model_close(&cm);
    return status;
}
