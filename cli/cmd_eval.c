/* cmd_eval.c - `ember eval`: a model with its projector and state encoder
 * on held-out data of the simulated world (agent/datagen.h):
 *
 *   ember eval -m MODEL --mmproj P --state-encoder S [--items N] [--episodes N] [--fail-rate 0.2]
 *
 * Items: the first N held-out items of each family (visual, ocr, state,
 * plan, replan), laid out as the agent lays out its prompts and answered
 * greedily (plans under the plan grammar of the scene's skills, as `ember
 * agent` generates them); exact match against the canonical answer.
 * Episodes: closed loop, each a held-out world and task run by the agent
 * loop (agent/agent_loop.h) against the sim's journaled controller
 * (sim/sim_ctrl.h) in a thread of this process, over the robot link on an
 * ipc endpoint, with injected failures: success, steps, replans, time to
 * the first step. --min-exact / --min-success make the exit status fail
 * below a threshold (the tests' check). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/agent_loop.h"
#include "agent/datagen.h"
#include "agent/mm_prompt.h"
#include "agent/vlm_prompt.h"
#include "cli_model_opts.h"
#include "cli_rio.h"
#include "cli_util.h"
#include "commands.h"
#include "lm/grammar.h"
#include "opt.h"
#include "projector/state_enc.h"
#include "sim/sim_ctrl.h"
#include "vision/encoder.h"
#include "vision/mmproj.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct text_buf {
    char s[2048];
    size_t n;
    int n_tok;
    int32_t top_id[3];  /* the first step's three most likely tokens, */
    float top_logit[3]; /* and their logits (raw, before any grammar mask) */
} text_buf;

static int on_token(void *user, int32_t tok, const float *logits, int n_vocab) {
    text_buf *b = user;
    (void)tok;
    if (b->n_tok++ == 0 && logits)
        for (int k = 0; k < 3; k++) {
            int best = -1;
            for (int i = 0; i < n_vocab; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= b->top_id[j] == i;
                if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
            }
            b->top_id[k] = best, b->top_logit[k] = best >= 0 ? logits[best] : 0;
        }
    return 0;
}

static int on_text(void *user, const char *t, size_t len) {
    text_buf *b = user;
    if (b->n + len < sizeof b->s) memcpy(b->s + b->n, t, len), b->n += len, b->s[b->n] = 0;
    return 0;
}

typedef struct evalctx {
    cli_model *cm;
    vision_encoder *enc;
    state_enc *se;
    lm_grammar_vocab *gv;
    int verbose;
    int free_plans;  /* plans without the grammar (for the PyTorch reference) */
    FILE *answers;   /* one JSON line per item, or NULL */
} evalctx;

/* An item's line in --answers: where it is from, the prompt's positions
 * (token ids; -1 where an embedding row goes), the answer wanted and got. */
static void write_answer(evalctx *E, const agent_data_scene *sc, int k, const lm_prompt *p, const text_buf *out) {
    const char *got = out->s;
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_CreateArray(), *top = cJSON_CreateArray();
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)sc->seed);
    cJSON_AddStringToObject(o, "scene", seed);
    cJSON_AddNumberToObject(o, "item", k);
    cJSON_AddStringToObject(o, "family", agent_data_family_name(sc->item[k].family));
    cJSON_AddStringToObject(o, "want", sc->item[k].answer);
    cJSON_AddStringToObject(o, "got", got);
    for (int64_t i = 0; i < p->n; i++) cJSON_AddItemToArray(toks, cJSON_CreateNumber(p->embd_row[i] >= 0 ? -1 : p->tokens[i]));
    cJSON_AddItemToObject(o, "tokens", toks);
    for (int i = 0; i < 3; i++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(out->top_id[i]));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber(out->top_logit[i]));
        cJSON_AddItemToArray(top, pair);
    }
    cJSON_AddItemToObject(o, "first_top", top);
    char *line = cJSON_PrintUnformatted(o);
    if (line) fprintf(E->answers, "%s\n", line);
    free(line);
    cJSON_Delete(o);
}

/* One item: its answer in out; EM_OK unless it could not be run. */
static ember_status answer(evalctx *E, const agent_data_scene *sc, int k, text_buf *out, char *err) {
    const agent_data_item *it = &sc->item[k];
    static const char *const cams[1] = {"top"};
    agent_mm_spec *spec = agent_mm_spec_parse(it->prompt, cams, 1, 1, 1, err);
    if (!spec) return EM_ERR_ARG;
    const agent_data_frame *f = &sc->frame[it->frame];
    vision_image img;
    lm_prompt p;
    lm_prompt_init(&p, E->cm->m->hp.n_embd);
    lm_grammar *g = NULL;
    lm_grammar_matcher *gm = NULL;
    ember_status st = vision_image_from_raw(f->rgb, f->width, f->height, (size_t)f->width * 3, VISION_RGB8, NULL, &img, err);
    if (!st) {
        agent_mm_inputs in = {.images = {&img}, .n_images = 1, .state = f->state, .n_state = f->n_state};
        st = agent_mm_build(&p, E->cm->m, spec, it->prompt, E->enc, E->se, &in, err);
        vision_image_free(&img);
    }
    lm_gen_result r;
    if (!st) st = lm_gen_prefill(E->cm->gen, &p, &r, err);
    lm_sampler_params sp = lm_sampler_defaults(1);
    sp.temp = 0;
    lm_gen_params gp = lm_gen_defaults(it->grammar ? 240 : 48, &sp);
    if (!st && it->grammar && !E->free_plans) {
        if (!(g = lm_grammar_parse(it->grammar, strlen(it->grammar), err)) || !(gm = lm_grammar_matcher_create(g, E->gv, err)))
            st = EM_ERR_INTERNAL;
        else
            gp.filter = lm_grammar_matcher_filter(gm);
    }
    memset(out, 0, sizeof *out);
    gp.on_text = on_text, gp.user = out;
    if (E->answers) gp.on_token = on_token;
    if (!st) st = lm_gen_generate(E->cm->gen, &gp, &r, err);
    if (!st && E->answers) write_answer(E, sc, k, &p, out);
    lm_grammar_matcher_free(gm);
    lm_grammar_free(g);
    lm_prompt_free(&p);
    agent_mm_spec_free(spec);
    return st;
}

static int run_items(evalctx *E, int per_family, uint64_t first, int *n_out, int *ok_out, double *ms_out, char *err) {
    int bound = 0;
    uint64_t i = first;
    for (;; i++) {
        int need = 0;
        for (int f = 0; f < AGENT_DATA_FAMILIES; f++) need |= n_out[f] < per_family;
        if (!need) break;
        agent_data_scene sc;
        agent_data_params dp = agent_data_defaults();
        if (agent_data_scene_make(agent_data_seed(AGENT_DATA_HELDOUT, i), &dp, &sc, err)) return -1;
        if (!bound) {
            const char *names[RIO_MAX_STATE];
            for (int k = 0; k < sc.n_layout; k++) names[k] = sc.layout[k];
            if (state_enc_bind(E->se, names, sc.n_layout, err)) return agent_data_scene_free(&sc), -1;
            bound = 1;
        }
        for (int k = 0; k < sc.n_items; k++) {
            const agent_data_item *it = &sc.item[k];
            if (n_out[it->family] >= per_family) continue;
            text_buf out;
            double t0 = now_ms();
            if (answer(E, &sc, k, &out, err)) return agent_data_scene_free(&sc), -1;
            ms_out[it->family] += now_ms() - t0;
            int ok = !strcmp(out.s, it->answer);
            n_out[it->family]++, ok_out[it->family] += ok;
            if (E->verbose)
                printf("%-7s %s  %s\n        want %s\n        got  %s\n", agent_data_family_name(it->family), ok ? "ok  " : "MISS",
                       it->question, it->answer, out.s);
        }
        agent_data_scene_free(&sc);
    }
    return 0;
}

/* ---- closed loop ---- */

typedef struct sim_thread {
    sim_ctrl *s;
    volatile int stop;
    ember_status st;
} sim_thread;

static int sim_stop(void *user) { return ((sim_thread *)user)->stop; }

static void *sim_main(void *user) {
    sim_thread *t = user;
    t->st = sim_ctrl_run(t->s, 0, sim_stop, t);
    return NULL;
}

typedef struct episode_out {
    int verbose;
    const char *prefix;
} episode_out;

static void ep_plan(void *user, const agent_plan_info *p) {
    const episode_out *o = user;
    if (!o->verbose) return;
    printf("%s plan %d:", o->prefix, p->cycle);
    for (int i = 0; i < p->n_steps; i++) {
        char what[512];
        cli_step_describe(&p->steps[i], what, sizeof what);
        printf(" %s;", what);
    }
    printf("\n");
}

static void ep_fate(void *user, const agent_step_fate *f) {
    const episode_out *o = user;
    if (o->verbose) printf("%s ", o->prefix), cli_print_fate(stdout, f);
}

static void ep_replan(void *user, const char *why) {
    const episode_out *o = user;
    if (o->verbose) printf("%s replan: %s\n", o->prefix, why);
}

static int interrupted(void *user) {
    (void)user;
    return cli_stop_requested();
}

static int run_episode(evalctx *E, uint64_t seed, double fail_rate, int votes, const char *save_frames, const char *tmpdir,
                       int index, agent_loop_result *res, char *instruction_out, size_t cap, char *err) {
    char *goal = NULL, *instruction = NULL;
    if (agent_data_task(seed, &goal, &instruction, err)) return -1;
    snprintf(instruction_out, cap, "%s", instruction);
    char journal[200], ep[220];
    snprintf(journal, sizeof journal, "%.150s/ep%d.journal", tmpdir, index);
    snprintf(ep, sizeof ep, "ipc://%.150s/ep%d.sock", tmpdir, index);
    sim_ctrl_config sc;
    sim_ctrl_config_defaults(&sc);
    sc.journal_path = journal;
    sc.fresh = 1;
    sim_config_defaults(&sc.world);
    sc.world.seed = seed, sc.world.fail_rate = fail_rate, sc.world.scramble = agent_data_scramble(seed);
    sc.world.step_s = 0.05;
    sc.fps = 10, sc.frame_w = sc.frame_h = 320, sc.png = 0, sc.state_hz = 20, sc.quiet = 1;
    FILE *devnull = fopen("/dev/null", "w");
    sc.log = devnull;
    int rc = -1;
    sim_thread t = {0};
    pthread_t th;
    int started = 0;
    agent_follower *f = NULL;
    agent_loop *L = NULL;
    sim_journal_trouble why;
    rio_config link;
    rio_config_defaults(&link);
    snprintf(link.endpoint, sizeof link.endpoint, "%s", ep);
    if (!(t.s = sim_ctrl_open(&sc, &why, err)) || sim_ctrl_set_goal(t.s, goal, 0, err) || sim_ctrl_bind(t.s, &link, err)) goto done;
    if (pthread_create(&th, NULL, sim_main, &t)) {
        snprintf(err, EM_ERR_LEN, "pthread_create: %s", strerror(errno));
        goto done;
    }
    started = 1;
    rio_config acfg;
    rio_config_defaults(&acfg);
    snprintf(acfg.endpoint, sizeof acfg.endpoint, "%s", ep);
    strcpy(acfg.name, "eval");
    agent_follow_hooks fh = {0};
    if (!(f = agent_follower_create(&acfg, &fh, AGENT_SUB_STATE | AGENT_SUB_FRAMES, devnull, err))) goto done;
    if (agent_follower_wait_ready(f, 10000)) {
        snprintf(err, EM_ERR_LEN, "%s", agent_follower_errmsg(f));
        goto done;
    }
    agent_loop_params prm = agent_loop_defaults();
    prm.instruction = instruction;
    prm.votes = votes;
    prm.sampling.temp = votes > 1 ? 0.7f : 0.0f;
    prm.sampling.seed = seed;
    prm.max_replans = 4;
    prm.timeout_ms = 20000;
    char frames_dir[700];
    if (save_frames) {
        snprintf(frames_dir, sizeof frames_dir, "%s/ep%d", save_frames, index);
        prm.save_frames = frames_dir;
    }
    char prefix[32];
    snprintf(prefix, sizeof prefix, "  ep%d", index);
    episode_out eo = {E->verbose, prefix};
    agent_loop_parts parts = {E->cm->m, E->cm->ctx, E->cm->gen, E->enc, E->se, f, NULL, NULL};
    agent_loop_hooks hooks = {ep_plan, ep_fate, ep_replan, interrupted, NULL, &eo};
    if (!(L = agent_loop_create(&parts, &prm, &hooks, err)) || agent_loop_prepare(L, err)) goto done;
    if (agent_loop_run(L, res)) {
        snprintf(err, EM_ERR_LEN, "%s", agent_loop_errmsg(L));
        goto done;
    }
    rc = 0;
done:
    agent_loop_free(L);
    agent_follower_free(f);
    if (started) {
        t.stop = 1;
        pthread_join(th, NULL);
    }
    sim_ctrl_free(t.s);
    if (devnull) fclose(devnull);
    unlink(journal);
    char lock[220];
    snprintf(lock, sizeof lock, "%s.lock", journal);
    unlink(lock);
    free(goal), free(instruction);
    return rc;
}

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f, "usage: ember eval -m MODEL.gguf --mmproj MMPROJ.gguf --state-encoder STATE.gguf [options]\n\n"
               "The model on held-out data of the simulated world: exact match per task family (visual\n"
               "questions, reading text, robot state, plans, replans) and closed-loop episodes in the sim\n"
               "with injected failures.\n\noptions:\n");
    opt_usage(f, specs);
}

int ember_cmd_eval(int argc, char **argv) {
    char err[EM_ERR_LEN], perr[OPT_ERR_LEN];
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    mo.n_ctx = 1024;
    const char *mmproj = NULL, *state_path = NULL, *save_frames = NULL, *answers = NULL;
    bool free_plans = false;
    int items = 50, episodes = 0, votes = 1;
    uint64_t first = 0;
    double fail_rate = 0.2, min_success = 0, min_exact[AGENT_DATA_FAMILIES] = {0};
    const char *min_list[AGENT_DATA_FAMILIES * 2];
    int n_min = 0;
    bool verbose = false;
    opt_spec model_specs[CLI_MODEL_OPTS_N];
    cli_model_opts_specs(&mo, model_specs);
    const opt_spec specs[] = {
        OPT_GROUP(model_specs),
        OPT_STR(NULL, "--mmproj", "FILE", &mmproj, "the vision projector (required)"),
        OPT_STR(NULL, "--state-encoder", "FILE", &state_path, "the state encoder (required)"),
        OPT_INT(NULL, "--items", "N", &items, 0, 1000000, "held-out items per family"),
        OPT_INT(NULL, "--episodes", "N", &episodes, 0, 1000000, "closed-loop episodes"),
        OPT_DOUBLE(NULL, "--fail-rate", "P", &fail_rate, 0, 1, "injected failure rate of the episodes"),
        OPT_INT(NULL, "--votes", "K", &votes, 1, 16, "plans sampled per cycle in the episodes (self-consistency)"),
        OPT_U64(NULL, "--first", "I", &first, 0, 1000000000ull, "the first held-out scene"),
        OPT_LIST(NULL, "--min-exact", "[FAMILY=]X", min_list, &n_min, AGENT_DATA_FAMILIES * 2,
                 "exit 1 when a family's exact match is below X (every family, or the one named; repeatable)"),
        OPT_DOUBLE(NULL, "--min-success", "X", &min_success, 0, 1, "exit 1 when the episodes' success rate is below X"),
        OPT_STR(NULL, "--save-frames", "DIR", &save_frames, "save the frames each episode's plans were made from"),
        OPT_STR(NULL, "--answers", "FILE", &answers, "write every item's prompt tokens and answers (JSON lines)"),
        OPT_FLAG(NULL, "--free-plans", &free_plans, "generate plans without the plan grammar (greedy as a reference would)"),
        OPT_FLAG("-v", "--verbose", &verbose, "print every item, every plan and every step's fate"),
        OPT_END};
    int prc = opt_parse("ember eval", specs, argc, argv, NULL, 0, NULL, perr);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc == OPT_OK) prc = cli_model_opts_finish(&mo, "ember eval", perr);
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    for (int i = 0; i < n_min; i++) {
        const char *v = min_list[i], *eq = strchr(v, '=');
        int fam = -1;
        for (int f = 0; f < AGENT_DATA_FAMILIES && eq; f++)
            if ((size_t)(eq - v) == strlen(agent_data_family_name(f)) && !strncmp(v, agent_data_family_name(f), (size_t)(eq - v))) fam = f;
        char *end;
        double x = strtod(eq ? eq + 1 : v, &end);
        if ((eq && fam < 0) || *end || end == (eq ? eq + 1 : v) || !(x >= 0 && x <= 1)) {
            fprintf(stderr, "ember eval: --min-exact '%s': expected X in 0..1 or FAMILY=X (visual, ocr, state, plan, replan)\n", v);
            return 2;
        }
        for (int f = 0; f < AGENT_DATA_FAMILIES; f++)
            if (fam < 0 || f == fam) min_exact[f] = x;
    }
    if (!mo.model || !mmproj || !state_path) {
        fprintf(stderr, "ember eval: -m, --mmproj and --state-encoder are required (see --help)\n");
        return 2;
    }
    cli_block_stop_signals();

    int rc = 1;
    cli_model cm = {0};
    vision_mmproj *mp = NULL;
    evalctx E = {&cm, NULL, NULL, NULL, verbose, free_plans, NULL};
    char tmpdir[] = "/tmp/ember-eval-XXXXXX";
    int have_tmp = 0;
    if (cli_model_open(&mo, 1, &cm, err)) goto fail;
    if (!(mp = vision_mmproj_load(mmproj, cm.be, VISION_WEIGHTS_STORED, err)) || agent_vlm_check_pair(mp, cm.m, mmproj, mo.model, err)) goto fail;
    vision_encoder_params ep = {0, 0, 0, 0, NULL, NULL, VISION_RESIZE_AUTO};
    if (!(E.enc = vision_encoder_create(mp, &ep, err))) goto fail;
    if (!(E.se = state_enc_load(state_path, cm.be, err))) goto fail;
    if (!(E.gv = lm_grammar_vocab_create(cm.m->vocab, err))) goto fail;
    if (answers && !(E.answers = fopen(answers, "w"))) {
        snprintf(err, sizeof err, "--answers %s: %s", answers, strerror(errno));
        goto fail;
    }
    printf("model: %s (%s)\n", mo.model, cm.desc);
    int below = 0;
    if (items > 0) {
        int n[AGENT_DATA_FAMILIES] = {0}, ok[AGENT_DATA_FAMILIES] = {0};
        double ms[AGENT_DATA_FAMILIES] = {0};
        if (run_items(&E, items, first, n, ok, ms, err)) goto fail;
        printf("\n%-8s %7s %7s %8s %12s\n", "family", "items", "exact", "rate", "ms/item");
        for (int f = 0; f < AGENT_DATA_FAMILIES; f++) {
            double rate = n[f] ? (double)ok[f] / n[f] : 0;
            below |= n[f] && rate < min_exact[f];
            printf("%-8s %7d %7d %7.1f%% %12.1f\n", agent_data_family_name(f), n[f], ok[f], 100 * rate, n[f] ? ms[f] / n[f] : 0);
        }
    }
    if (episodes > 0) {
        if (!mkdtemp(tmpdir)) {
            snprintf(err, sizeof err, "mkdtemp: %s", strerror(errno));
            goto fail;
        }
        have_tmp = 1;
        int success = 0, steps = 0, replans = 0;
        double first_ms = 0;
        printf("\nclosed loop: %d held-out episodes, --fail-rate %.2f, --votes %d\n", episodes, fail_rate, votes);
        for (int e = 0; e < episodes; e++) {
            agent_loop_result res;
            char instr[512];
            uint64_t seed = agent_data_seed(AGENT_DATA_HELDOUT, first + (uint64_t)e);
            if (run_episode(&E, seed, fail_rate, votes, save_frames, tmpdir, e, &res, instr, sizeof instr, err)) goto fail;
            int ok = res.end == AGENT_END_SUCCESS && res.goal == 1;
            success += ok, steps += res.steps_sent, replans += res.replans, first_ms += res.first_step_ms;
            printf("  ep%d %s: %s - %s (%d steps, %d replans, first step %.0f ms)\n", e, ok ? "success" : "FAILED", instr,
                   agent_loop_end_name(res.end), res.steps_sent, res.replans, res.first_step_ms);
            fflush(stdout);
            if (cli_stop_requested()) break;
        }
        double rate = (double)success / episodes;
        below |= rate < min_success;
        printf("\nepisodes %d, success %d (%.1f%%), steps/episode %.2f, replans/episode %.2f, first step %.0f ms mean\n",
               episodes, success, 100 * rate, (double)steps / episodes, (double)replans / episodes, first_ms / episodes);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "peak_rss_mib=%.1f\n", ru.ru_maxrss / 1024.0);
    rc = below ? 1 : 0;
    if (below) fprintf(stderr, "ember eval: below a threshold (--min-exact, --min-success)\n");
    goto done;
fail:
    fprintf(stderr, "ember eval: %s\n", err);
done:
    if (E.answers && fclose(E.answers) && rc == 0) {
        fprintf(stderr, "ember eval: --answers %s: %s\n", answers, strerror(errno));
        rc = 1;
    }
    if (have_tmp) rmdir(tmpdir);
    lm_grammar_vocab_free(E.gv);
    state_enc_free(E.se);
    vision_encoder_free(E.enc);
    vision_mmproj_free(mp);
    cli_model_close(&cm);
    sim_render_shutdown(); /* cairo's and fontconfig's caches: only so leak checkers see Ember's own */
    return rc;
}
