/* cmd_bench.c - `ember bench`: a model's prefill and decode speed on this
 * machine, as llama.cpp's llama-bench measures it, so the two can be read
 * side by side (bench/bench.sh does).
 *
 * One process loads the model once, then runs the same fixed prompt REPS + 1
 * times, each from an empty cache: prefill, then greedy decoding of N tokens
 * after it (llama-bench's -gp; without the prompt in the cache decoding would
 * skip the attention over it). The first run is reported apart: it pays what
 * only the first prompt after loading pays (the weights' pages reaching the
 * caches and, in a virtual machine, the hypervisor's page tables). The
 * others are what every later question costs; their median is the figure,
 * as llama-bench's mean after its untimed warm-up. Loading is timed apart.
 *
 * The prompt is token ids 1 + (i * 7919) % 997, the formula of bench.sh's
 * peer, so any vocabulary of 1000 tokens or more sees the same ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli_model_opts.h"
#include "commands.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/prompt.h"

#define BENCH_MAX_REPS 1000

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember bench -m MODEL.gguf [-p TOKENS] [-n TOKENS] [-r REPS] [options]\n\n"
            "Prefill and decode speed: REPS + 1 runs of a fixed TOKENS-token prompt, each\n"
            "from an empty cache, then -n greedy tokens after it. The first run (just after\n"
            "loading) is shown apart; the figure is the median of the others. The context\n"
            "defaults to what the runs need.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int ember_cmd_bench(int argc, char **argv) {
    char oerr[OPT_ERR_LEN];
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    mo.sp.temp = 0.0f; /* greedy: the same tokens every run */
    mo.ignore_eos = true;
    mo.n_predict = 128;
    int n_prompt = 512, reps = 3;
    bool quiet = false;
    opt_spec model_specs[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&mo, model_specs);
    const opt_spec specs[] = {
        OPT_INT("-p", "--prompt-len", "N", &n_prompt, 1, 1 << 20, "prompt tokens evaluated per run"),
        OPT_INT("-r", "--reps", "N", &reps, 1, BENCH_MAX_REPS, "timed runs after the first"),
        OPT_GROUP(model_specs),
        OPT_FLAG("-q", "--quiet", &quiet, "no model summary on stderr"),
        OPT_END};
    int rc = opt_parse("ember bench", specs, argc, argv, NULL, 0, NULL, oerr);
    if (rc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (rc == OPT_OK) rc = cli_model_opts_finish(&mo, "ember bench", oerr);
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", oerr); return 2; }
    if (!mo.model) { fprintf(stderr, "ember bench: no model: give -m MODEL.gguf (see --help)\n"); return 2; }
    if (mo.n_predict < 2) { /* the first token comes from the prefill's logits: no decode step to time */
        fprintf(stderr, "ember bench: -n must be at least 2 tokens (the first is sampled from the prefill)\n");
        return 2;
    }
    if (mo.n_ctx == 0) mo.n_ctx = n_prompt + mo.n_predict + 16;
    if ((int64_t)n_prompt + mo.n_predict > mo.n_ctx) {
        fprintf(stderr, "ember bench: %d prompt + %d generated tokens do not fit a context of %d (raise --ctx)\n",
                n_prompt, mo.n_predict, mo.n_ctx);
        return 2;
    }

    char err[EM_ERR_LEN] = "";
    int status = 1;
    cli_model cm = {0};
    lm_prompt prompt;
    lm_prompt_init(&prompt, 0);
    int32_t *ids = NULL;
    double *pp = NULL, *tg = NULL;
    if (cli_model_open(&mo, quiet, &cm, err)) goto done;
    const int n_vocab = cm.m->hp.n_vocab;

    ids = malloc((size_t)n_prompt * sizeof *ids);
    pp = malloc((size_t)(reps + 1) * sizeof *pp);
    tg = malloc((size_t)(reps + 1) * sizeof *tg);
    if (!ids || !pp || !tg) { snprintf(err, sizeof err, "out of memory"); goto done; }
    for (int i = 0; i < n_prompt; i++) ids[i] = (int32_t)((1 + ((int64_t)i * 7919) % 997) % n_vocab);
    lm_prompt_init(&prompt, cm.m->hp.n_embd);
    if (lm_prompt_add_tokens(&prompt, ids, n_prompt, err)) goto done;

    lm_gen_params gp = lm_gen_defaults(mo.n_predict, &mo.sp);
    gp.ignore_eog = mo.ignore_eos;
    printf("ember bench: %s, %s; prompt %d, generated %d, context %d (loaded in %.0f ms)\n", mo.model, cm.desc,
           n_prompt, mo.n_predict, mo.n_ctx, cm.load_ms);
    printf("%-8s %14s %14s\n", "run", "prefill tok/s", "decode tok/s");
    for (int r = 0; r <= reps; r++) {
        lm_gen_result res = {0};
        lm_ctx_truncate(cm.ctx, 0); /* from an empty cache: nothing is reused */
        if (lm_gen_prefill(cm.gen, &prompt, &res, err) || lm_gen_generate(cm.gen, &gp, &res, err)) goto done;
        if (res.n_reused != 0 || res.prefill_ms <= 0 || res.n_decoded < 1 || res.decode_ms <= 0) {
            snprintf(err, sizeof err, "run %d: %lld of the prompt reused, %lld tokens decoded (%s): nothing to time",
                     r, (long long)res.n_reused, (long long)res.n_decoded, lm_stop_reason_name(res.stop));
            goto done;
        }
        pp[r] = res.n_prompt * 1e3 / res.prefill_ms;
        tg[r] = res.n_decoded * 1e3 / res.decode_ms;
        char name[16];
        snprintf(name, sizeof name, r ? "%d" : "first", r);
        printf("%-8s %14.2f %14.2f\n", name, pp[r], tg[r]);
        fflush(stdout);
    }
    const double pp0 = pp[0], tg0 = tg[0];
    const double ppm = median(pp + 1, reps), tgm = median(tg + 1, reps);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-8s %14.2f %14.2f\n", "median", ppm, tgm);
    printf("bench: pp_tps=%.2f tg_tps=%.2f first_pp_tps=%.2f first_tg_tps=%.2f load_ms=%.1f peak_rss_mib=%.1f\n", ppm, tgm,
           pp0, tg0, cm.load_ms, ru.ru_maxrss / 1024.0);
    status = 0;
done:
    if (status && err[0]) fprintf(stderr, "ember bench: %s\n", err);
    free(ids);
    free(pp);
    free(tg);
    lm_prompt_free(&prompt);
    cli_model_close(&cm);
    return status;
}
