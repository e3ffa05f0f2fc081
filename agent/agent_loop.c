/* agent_loop.c - observe, plan, act, take feedback, replan (agent_loop.h). */
#include "agent/agent_loop.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agent/agent_log.h"
#include "agent/mm_prompt.h"
#include "agent/plan_text.h"
#include "agent/skills.h"
#include "agent/vlm_prompt.h"
#include "lm/chat.h"
#include "lm/grammar.h"
#include "robot_io/rio.h"
#include "vision/image.h"

#define HISTORY_MAX 16     /* feedback lines kept for the prompt */
#define MAX_VOTES 16
#define OBSERVE_WAIT_MS 3000 /* the first state / frame after connecting */
#define TOKENS_PER_STEP 192  /* generation budget per allowed step when none is given */

struct agent_loop {
    agent_loop_parts P;
    agent_loop_params prm;
    agent_loop_hooks H;
    agent_skills *skills;
    agent_mm_spec *spec;      /* the user turn's placeholders, checked */
    char *system;             /* the system turn: skills and format */
    char *grammar_text;
    int grammar_steps;        /* the step bound grammar_text was compiled for */
    lm_grammar_vocab *gv;     /* the model vocabulary's trie, built once */
    lm_grammar *grammar;
    lm_grammar_matcher *gm;
    char *history[HISTORY_MAX];
    int n_history;
    agent_log *log;
    lm_prompt prompt;
    char run[RIO_ID_LEN];
    int cycle;
    int frames_saved;
    /* the cycle in flight, for the follower's hooks */
    int step_base;            /* steps sent before this plan: global step numbers */
    int64_t failed_at_ms;     /* a failure was heard (for the replan latency) */
    int fail_index;           /* the plan's first step that failed (not "aborted"), -1: none */
    char fail_reason[RIO_NAME_LEN];
    int cancelled;            /* a step was failed "cancelled" (an operator) */
    double replan_ms_sum;
    int n_replan_ms;
    int interrupted;
    agent_loop_result *res;
    char parse_err[RIO_TEXT_LEN]; /* a user grammar's plan that did not parse */
    char errmsg[EM_ERR_LEN];
};

agent_loop_params agent_loop_defaults(void) {
    agent_loop_params p = {0};
    p.max_steps = 20;
    p.max_replans = 3;
    p.max_plan_steps = 8;
    p.timeout_ms = 60000;
    p.votes = 1;
    p.state_tolerance = 0.5;
    p.sampling = lm_sampler_defaults(1);
    return p;
}

const char *agent_loop_end_name(agent_loop_end e) {
    static const char *const names[] = {"success", "step_budget", "replan_budget", "estop",
                                        "cancelled", "interrupted", "link_failed", "error"};
    return (unsigned)e <= AGENT_END_ERROR ? names[e] : "?";
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int stopped(agent_loop *L) {
    if (!L->interrupted && L->H.stop && L->H.stop(L->H.user)) L->interrupted = 1;
    return L->interrupted;
}

/* ---- the follower's hooks: fates into the log and to the caller ---- */

static void on_fate(void *user, const agent_step_fate *f) {
    agent_loop *L = user;
    if (f->status >= RIO_FB_DONE && L->log) {
        cJSON *r = cJSON_CreateObject();
        if (r) {
            cJSON_AddNumberToObject(r, "cycle", L->cycle);
            cJSON_AddStringToObject(r, "step", f->step->step_id);
            cJSON_AddNumberToObject(r, "n", L->step_base + f->index + 1);
            cJSON_AddStringToObject(r, "skill", f->step->skill);
            cJSON_AddStringToObject(r, "status", rio_fb_status_name(f->status));
            if (f->status == RIO_FB_FAILED) {
                cJSON_AddStringToObject(r, "reason", f->reason);
                cJSON_AddStringToObject(r, "text", f->text);
            }
            if (f->run_s >= 0) cJSON_AddNumberToObject(r, "run_s", f->run_s);
            cJSON_AddBoolToObject(r, "replayed", f->replayed);
            char err[EM_ERR_LEN];
            agent_log_write(L->log, "fate", L->run, r, err); /* a full disk: the run goes on, the end says */
        }
    }
    if (f->status == RIO_FB_FAILED && strcmp(f->reason, RIO_REASON_ABORTED)) {
        if (!L->failed_at_ms) L->failed_at_ms = rio_mono_ms();
        if (L->fail_index < 0) {
            L->fail_index = f->index;
            snprintf(L->fail_reason, sizeof L->fail_reason, "%s", f->reason);
        }
        if (!strcmp(f->reason, RIO_REASON_CANCELLED)) L->cancelled = 1;
    }
    if (L->H.fate) L->H.fate(L->H.user, f);
}

static void on_link(void *user, int alive, int restarted) {
    agent_loop *L = user;
    if (L->H.link) L->H.link(L->H.user, alive, restarted);
}

static int on_stop(void *user) { return stopped((agent_loop *)user); }

/* ---- create, prepare ---- */

agent_loop *agent_loop_create(const agent_loop_parts *parts, const agent_loop_params *params,
                              const agent_loop_hooks *hooks, char *err) {
    agent_loop *L = calloc(1, sizeof *L);
    if (!L) {
        em_err(err, EM_ERR_NOMEM, "agent: out of memory");
        return NULL;
    }
    L->P = *parts;
    L->prm = *params;
    if (hooks) L->H = *hooks;
    if (L->prm.votes < 1) L->prm.votes = 1;
    if (L->prm.votes > MAX_VOTES) {
        em_err(err, EM_ERR_ARG, "--votes %d: at most %d", L->prm.votes, MAX_VOTES);
        free(L);
        return NULL;
    }
    if (L->prm.max_plan_steps < 1) L->prm.max_plan_steps = 1;
    if (L->prm.max_plan_steps > RIO_MAX_STEPS) L->prm.max_plan_steps = RIO_MAX_STEPS;
    lm_prompt_init(&L->prompt, L->P.model->hp.n_embd);
    agent_follow_hooks fh = {.fate = on_fate, .link = on_link, .stop = on_stop, .user = L};
    agent_follower_set_hooks(L->P.follower, &fh);
    return L;
}

void agent_loop_free(agent_loop *L) {
    if (!L) return;
    agent_skills_free(L->skills);
    agent_mm_spec_free(L->spec);
    free(L->system);
    free(L->grammar_text);
    lm_grammar_matcher_free(L->gm);
    lm_grammar_free(L->grammar);
    lm_grammar_vocab_free(L->gv);
    for (int i = 0; i < L->n_history; i++) free(L->history[i]);
    agent_log_close(L->log);
    lm_prompt_free(&L->prompt);
    free(L);
}

const char *agent_loop_errmsg(const agent_loop *L) { return L->errmsg; }
const char *agent_loop_grammar(const agent_loop *L) { return L->grammar_text; }

static ember_status fail(agent_loop *L, ember_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->errmsg, sizeof L->errmsg, fmt, ap);
    va_end(ap);
    return st;
}

const char *agent_loop_default_user(int have_vision, int have_state, int n_cameras) {
    if (have_vision && !n_cameras) have_vision = 0;
    if (have_vision && have_state) return "Camera: <img>\nRobot state: <state>\nTask: {instruction}\n{history}Plan:";
    if (have_vision) return "Camera: <img>\nTask: {instruction}\n{history}Plan:";
    if (have_state) return "Robot state: <state>\nTask: {instruction}\n{history}Plan:";
    return "Task: {instruction}\n{history}Plan:";
}

ember_status agent_loop_system_text(const agent_skills *skills, char **out, char *err) {
    char *desc = NULL;
    *out = NULL;
    ember_status st = agent_skills_describe(skills, &desc, err);
    if (st) return st;
    const char *fmt = "You control a robot arm. Answer with a plan: one skill call per line, "
                      "arguments as name=value, then an empty line. The skills:\n%s";
    size_t n = strlen(fmt) + strlen(desc) + 1;
    if ((*out = malloc(n))) snprintf(*out, n, fmt, desc);
    free(desc);
    return *out ? EM_OK : em_err(err, EM_ERR_NOMEM, "out of memory");
}

char *agent_loop_user_text(const char *tmpl, const char *instruction, char *const *history, int n_history) {
    size_t hl = 0;
    for (int i = 0; i < n_history; i++) hl += strlen(history[i]) + 1;
    size_t cap = strlen(tmpl) + strlen(instruction) + hl + 64;
    char *out = malloc(cap), *o = out;
    if (!out) return NULL;
    for (const char *s = tmpl; *s;) {
        if (!strncmp(s, "{instruction}", 13)) {
            o += sprintf(o, "%s", instruction);
            s += 13;
        } else if (!strncmp(s, "{history}", 9)) {
            if (n_history) o += sprintf(o, "So far:\n");
            for (int i = 0; i < n_history; i++) o += sprintf(o, "%s\n", history[i]);
            s += 9;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

/* (Re)compile the plan grammar for at most n steps. */
static ember_status compile_grammar(agent_loop *L, int n) {
    if (L->grammar && L->grammar_steps == n) return EM_OK;
    char err[EM_ERR_LEN];
    char *text = NULL;
    if (L->prm.grammar_text) {
        if (!(text = strdup(L->prm.grammar_text))) return fail(L, EM_ERR_NOMEM, "out of memory");
    } else if (agent_plan_grammar(L->skills, n, &text, err)) {
        return fail(L, EM_ERR_ARG, "the plan grammar: %s", err);
    }
    lm_grammar *g = lm_grammar_parse(text, strlen(text), err);
    lm_grammar_matcher *gm = g ? lm_grammar_matcher_create(g, L->gv, err) : NULL;
    if (!gm) {
        lm_grammar_free(g);
        free(text);
        return fail(L, EM_ERR_INTERNAL, "the plan grammar does not compile: %s", err);
    }
    lm_grammar_matcher_free(L->gm);
    lm_grammar_free(L->grammar);
    free(L->grammar_text);
    L->grammar_text = text, L->grammar = g, L->gm = gm, L->grammar_steps = n;
    return EM_OK;
}

ember_status agent_loop_prepare(agent_loop *L, char *err) {
    if (L->skills) return EM_OK;
    const rio_msg *hello = agent_follower_hello(L->P.follower);
    if (!hello) return em_err(err, EM_ERR_ARG, "the controller has not said what it offers yet");
    const rio_hello *h = &hello->u.hello;
    if (!h->n_skills && !L->P.skills)
        return em_err(err, EM_ERR_ARG, "the controller offers no skills: there is nothing to plan with");
    if (!(L->skills = L->P.skills ? agent_skills_create(agent_skills_all(L->P.skills), agent_skills_count(L->P.skills),
                                                        agent_skills_decimals(L->P.skills), err)
                                  : agent_skills_from_hello(h, -1, err)))
        return EM_ERR_ARG;
    /* the state encoder's fields, by name, in the controller's layout */
    if (L->P.state) {
        const char *names[RIO_MAX_STATE];
        for (int i = 0; i < h->n_layout; i++) names[i] = h->layout[i];
        ember_status st = state_enc_bind(L->P.state, names, h->n_layout, err);
        if (st) return st;
    }
    const char *cams[4];
    for (int i = 0; i < h->n_cameras && i < 4; i++) cams[i] = h->cameras[i];
    const char *user = L->prm.prompt ? L->prm.prompt : agent_loop_default_user(L->P.vision != NULL, L->P.state != NULL, h->n_cameras);
    if (!(L->spec = agent_mm_spec_parse(user, cams, h->n_cameras < 4 ? h->n_cameras : 4, L->P.vision != NULL,
                                        L->P.state != NULL, err)))
        return EM_ERR_ARG;
    if (L->prm.system) {
        if (!(L->system = strdup(L->prm.system))) return em_err(err, EM_ERR_NOMEM, "out of memory");
    } else {
        ember_status st = agent_loop_system_text(L->skills, &L->system, err);
        if (st) return st;
    }
    if (!(L->gv = lm_grammar_vocab_create(L->P.model->vocab, err))) return EM_ERR_NOMEM;
    int n = L->prm.max_plan_steps < L->prm.max_steps ? L->prm.max_plan_steps : L->prm.max_steps;
    if (n < 1) return em_err(err, EM_ERR_ARG, "--max-steps %d leaves no step to plan", L->prm.max_steps);
    if (compile_grammar(L, n)) return em_err(err, EM_ERR_ARG, "%s", L->errmsg);
    return EM_OK;
}

/* ---- history (Inner Monologue) ---- */

static void history_add(agent_loop *L, const char *line) {
    char *c = strdup(line);
    if (!c) return;
    if (L->n_history == HISTORY_MAX) {
        free(L->history[0]);
        memmove(L->history, L->history + 1, (HISTORY_MAX - 1) * sizeof *L->history);
        L->n_history--;
    }
    L->history[L->n_history++] = c;
}

/* The user turn: the template with {instruction} and {history} filled. */
static char *user_text(agent_loop *L, char *err) {
    char *out = agent_loop_user_text(agent_mm_spec_text(L->spec), L->prm.instruction, L->history, L->n_history);
    if (!out) em_err(err, EM_ERR_NOMEM, "out of memory");
    return out;
}

/* ---- observe ---- */

typedef struct observation {
    int n_frames;
    const rio_msg *frame[AGENT_MAX_CAMERAS]; /* per camera the prompt names */
    uint64_t frame_n[AGENT_MAX_CAMERAS];
    char frame_path[AGENT_MAX_CAMERAS][512];
    rio_state state; /* a copy (fields not kept) */
    int have_state;
    double t_ms;     /* when it was taken */
} observation;

static ember_status save_frame(agent_loop *L, const rio_msg *m, char *path, size_t cap, char *err) {
    const rio_frame *fr = &m->u.frame;
    const char *ext = !strcmp(fr->encoding, "jpeg") ? "jpg" : "png";
    snprintf(path, cap, "%s/%s-c%03d-%s.%s", L->prm.save_frames, L->run, L->cycle, fr->camera, ext);
    if (!strcmp(fr->encoding, "rgb8")) {
        vision_image img = {0};
        ember_status st = vision_image_from_raw(fr->data, fr->width, fr->height, (size_t)fr->width * 3, VISION_RGB8, NULL,
                                                &img, err);
        if (!st) st = vision_png_write(path, &img, err);
        vision_image_free(&img);
        return st;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(fr->data, 1, fr->size, f) != fr->size || fclose(f) != 0) {
        if (f) fclose(f);
        return em_err(err, EM_ERR_IO, "--save-frames: %s: %s", path, strerror(errno));
    }
    return EM_OK;
}

/* The newest state and the newest frame of each camera the prompt names;
 * waits (up to OBSERVE_WAIT_MS) for ones not heard yet, and for a state
 * newer than since_n when one is asked for (after a plan: the state that
 * shows its end). */
static ember_status observe(agent_loop *L, uint64_t since_n, observation *o) {
    memset(o, 0, sizeof *o);
    char err[EM_ERR_LEN];
    int n_cams = agent_mm_spec_n_cameras(L->spec);
    for (int64_t t0 = rio_mono_ms();;) {
        ember_status st = agent_follower_poll(L->P.follower, 20);
        if (st) return fail(L, EM_ERR_IO, "%s", agent_follower_errmsg(L->P.follower));
        uint64_t sn;
        const rio_msg *s = agent_follower_state(L->P.follower, &sn, NULL);
        int ok = !L->P.state || (s && sn > since_n); /* the state is waited for only when the prompt shows it */
        for (int c = 0; c < n_cams; c++) ok &= agent_follower_frame(L->P.follower, agent_mm_spec_camera(L->spec, c), NULL) != NULL;
        if (ok) break;
        if (rio_mono_ms() - t0 > OBSERVE_WAIT_MS) {
            if (L->P.state && !s) return fail(L, EM_ERR_IO, "the controller publishes no state");
            for (int c = 0; c < n_cams; c++)
                if (!agent_follower_frame(L->P.follower, agent_mm_spec_camera(L->spec, c), NULL))
                    return fail(L, EM_ERR_IO, "no frame from camera \"%s\" within %d ms", agent_mm_spec_camera(L->spec, c),
                                OBSERVE_WAIT_MS);
            break; /* a state no newer than before: the one there is */
        }
        if (stopped(L)) return EM_OK;
    }
    o->t_ms = now_ms();
    const rio_msg *s = agent_follower_state(L->P.follower, NULL, NULL);
    if (s) {
        o->state = s->u.state;
        o->state.fields_json = NULL;
        o->have_state = 1;
    }
    o->n_frames = n_cams;
    for (int c = 0; c < n_cams; c++) {
        o->frame[c] = agent_follower_frame(L->P.follower, agent_mm_spec_camera(L->spec, c), &o->frame_n[c]);
        if (L->prm.save_frames && save_frame(L, o->frame[c], o->frame_path[c], sizeof o->frame_path[c], err))
            return fail(L, EM_ERR_IO, "%s", err);
    }
    return EM_OK;
}

/* ---- plan ---- */

typedef struct plan_out {
    char *text;
    rio_step *steps;
    int n_steps;
} plan_out;

static void plan_out_free(plan_out *p) {
    free(p->text);
    free(p->steps);
    memset(p, 0, sizeof *p);
}

typedef struct gen_text {
    char *s;
    size_t n, cap;
    agent_loop *L;
} gen_text;

static int on_text(void *user, const char *text, size_t len) {
    gen_text *g = user;
    if (g->n + len + 1 > g->cap) {
        size_t cap = (g->n + len + 1) * 2;
        char *p = realloc(g->s, cap);
        if (!p) return 1;
        g->s = p, g->cap = cap;
    }
    memcpy(g->s + g->n, text, len);
    g->n += len;
    g->s[g->n] = '\0';
    return stopped(g->L);
}

/* Lay out the prompt and fill its rows from the observation. */
static ember_status build_prompt(agent_loop *L, const observation *o, double *encode_ms) {
    char err[EM_ERR_LEN];
    char *user = user_text(L, err), *formatted = NULL;
    ember_status st;
    if (!user) return fail(L, EM_ERR_NOMEM, "%s", err);
    const char *style = L->P.chat_template;
    if (!style && !L->P.model->chat_template) style = "chatml"; /* a model without a template: ChatML */
    st = lm_chat_prompt(style, L->P.model->chat_template, L->system, user, &formatted, err);
    free(user);
    if (st) return fail(L, st, "the chat template: %s", err);
    const double t0 = now_ms();
    agent_mm_inputs in = {0};
    vision_image imgs[AGENT_MAX_CAMERAS] = {0};
    for (int c = 0; c < o->n_frames && !st; c++) {
        const rio_frame *fr = &o->frame[c]->u.frame;
        if (!strcmp(fr->encoding, "rgb8"))
            st = vision_image_from_raw(fr->data, fr->width, fr->height, (size_t)fr->width * 3, VISION_RGB8, NULL, &imgs[c], err);
        else
            st = vision_image_decode(fr->data, fr->size, fr->camera, NULL, &imgs[c], err);
        in.images[c] = &imgs[c];
    }
    in.n_images = o->n_frames;
    if (o->have_state) {
        in.state = o->state.vector;
        in.n_state = o->state.n;
    }
    if (!st) {
        lm_prompt_clear(&L->prompt);
        st = agent_mm_build(&L->prompt, L->P.model, L->spec, formatted, L->P.vision, L->P.state, &in, err);
    }
    for (int c = 0; c < AGENT_MAX_CAMERAS; c++) vision_image_free(&imgs[c]);
    free(formatted);
    *encode_ms = now_ms() - t0;
    if (st) return fail(L, st, "the prompt: %s", err);
    return EM_OK;
}

/* Sample one plan under the grammar: text and steps. */
static ember_status sample_plan(agent_loop *L, int vote, int plan_steps, plan_out *out, lm_gen_result *r) {
    char err[EM_ERR_LEN];
    ember_status st;
    memset(out, 0, sizeof *out);
    if ((st = lm_gen_prefill(L->P.gen, &L->prompt, r, err))) return fail(L, st, "%s", err);
    lm_grammar_matcher_reset(L->gm);
    gen_text g = {.L = L};
    int64_t room = lm_n_ctx(L->P.ctx) - L->prompt.n;
    int64_t budget = L->prm.max_tokens > 0 ? L->prm.max_tokens : (int64_t)TOKENS_PER_STEP * plan_steps + 8;
    if (budget > room) budget = room;
    lm_sampler_params sp = L->prm.sampling;
    sp.seed += (uint64_t)vote;
    lm_gen_params gp = lm_gen_defaults(budget, &sp);
    gp.filter = lm_grammar_matcher_filter(L->gm);
    gp.on_text = on_text;
    gp.user = &g;
    if ((st = lm_gen_generate(L->P.gen, &gp, r, err))) {
        free(g.s);
        return fail(L, st, "%s", err);
    }
    out->text = g.s ? g.s : strdup("");
    if (!out->text) return fail(L, EM_ERR_NOMEM, "out of memory");
    if (r->stop == LM_STOP_CALLBACK) return EM_OK; /* interrupted: no plan */
    /* The grammar makes every complete line a valid step; a budget that ran
     * out mid-line leaves a prefix, whose complete lines are the plan. */
    size_t keep = strlen(out->text);
    if (r->stop != LM_STOP_GRAMMAR) {
        char *nl = strrchr(out->text, '\n');
        keep = nl ? (size_t)(nl - out->text) + 1 : 0;
    }
    char *text = strndup(out->text, keep);
    if (!text) return fail(L, EM_ERR_NOMEM, "out of memory");
    /* Step ids unique over the run ("c2s1": cycle 2, step 1), not "s1" in
     * every plan: a controller may key a step's fate on its id (the sim
     * draws injected failures from (seed, step id)), and with ids repeated
     * per plan a first step that slipped once slipped again on every replan
     * (the expert itself then met only 167 of 200 held-out goals). */
    char prefix[16];
    snprintf(prefix, sizeof prefix, "c%ds", L->cycle);
    st = agent_plan_parse(L->skills, text, strlen(text), plan_steps, prefix, &out->steps, &out->n_steps, err);
    free(text);
    if (st && L->prm.grammar_text) { /* the user's grammar: it may allow what is not a plan */
        snprintf(L->parse_err, sizeof L->parse_err, "the plan does not parse: %.200s", err);
        return EM_OK;
    }
    if (st) return fail(L, EM_ERR_INTERNAL, "a plan the grammar allowed does not parse (a bug): %s", err);
    return EM_OK;
}

/* ---- the cycle ---- */

static cJSON *observation_json(const observation *o) {
    cJSON *saw = cJSON_CreateObject(), *frames = saw ? cJSON_AddArrayToObject(saw, "frames") : NULL;
    for (int c = 0; frames && c < o->n_frames; c++) {
        cJSON *f = cJSON_CreateObject();
        if (!f) break;
        cJSON_AddStringToObject(f, "camera", o->frame[c]->u.frame.camera);
        cJSON_AddNumberToObject(f, "frame", (double)o->frame_n[c]);
        cJSON_AddNumberToObject(f, "frame_ts_ms", (double)(o->frame[c]->u.frame.frame_ts_us / 1000));
        cJSON_AddNumberToObject(f, "width", o->frame[c]->u.frame.width);
        cJSON_AddNumberToObject(f, "height", o->frame[c]->u.frame.height);
        if (o->frame_path[c][0]) cJSON_AddStringToObject(f, "path", o->frame_path[c]);
        cJSON_AddItemToArray(frames, f);
    }
    if (saw && o->have_state) {
        cJSON *v = cJSON_AddArrayToObject(saw, "state");
        for (int i = 0; v && i < o->state.n; i++) cJSON_AddItemToArray(v, cJSON_CreateNumber(o->state.vector[i]));
    }
    return saw;
}

/* The state moved (beyond the tolerance) since o was taken? */
static int state_moved(agent_loop *L, const observation *o, char *what, size_t cap) {
    if (L->prm.state_tolerance <= 0 || !o->have_state) return 0;
    agent_follower_poll(L->P.follower, 0);
    const rio_msg *s = agent_follower_state(L->P.follower, NULL, NULL);
    if (!s) return 0;
    for (int i = 0; i < s->u.state.n && i < o->state.n; i++)
        if (fabs(s->u.state.vector[i] - o->state.vector[i]) > L->prm.state_tolerance) {
            snprintf(what, cap, "%s moved from %.2f to %.2f while planning", s->u.state.layout[i], o->state.vector[i],
                     s->u.state.vector[i]);
            return 1;
        }
    return 0;
}

static ember_status end_run(agent_loop *L, agent_loop_end e, const char *fmt, ...) {
    agent_loop_result *res = L->res;
    res->end = e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->why, sizeof res->why, fmt, ap);
    va_end(ap);
    if (L->n_replan_ms) res->replan_ms = L->replan_ms_sum / L->n_replan_ms;
    if (L->log) {
        cJSON *r = cJSON_CreateObject();
        if (r) {
            cJSON_AddStringToObject(r, "result", agent_loop_end_name(e));
            cJSON_AddStringToObject(r, "why", res->why);
            cJSON_AddNumberToObject(r, "cycles", res->cycles);
            cJSON_AddNumberToObject(r, "replans", res->replans);
            cJSON_AddNumberToObject(r, "steps_sent", res->steps_sent);
            cJSON_AddNumberToObject(r, "steps_done", res->steps_done);
            cJSON_AddNumberToObject(r, "steps_failed", res->steps_failed);
            cJSON_AddNumberToObject(r, "goal", res->goal);
            char err[EM_ERR_LEN];
            if (agent_log_write(L->log, "end", L->run, r, err)) return fail(L, EM_ERR_IO, "%s", err);
        }
    }
    return EM_OK;
}

/* The feedback of a finished plan: one line per step that failed (the
 * first failure: the rest were aborted), or the goal's verdict. */
static void outcome_feedback(agent_loop *L, const rio_step *steps, int n_steps, const agent_follow_result *fr,
                             char *fb, size_t cap) {
    fb[0] = '\0';
    if (fr->end == AGENT_FOLLOW_TIMED_OUT) {
        snprintf(fb, cap, "the plan did not finish within %.1f s and was cancelled", L->prm.timeout_ms / 1000.0);
        return;
    }
    if (L->fail_index >= 0 && L->fail_index < n_steps) {
        agent_step_fate_line(L->skills, L->step_base + L->fail_index + 1, &steps[L->fail_index], RIO_FB_FAILED,
                             L->fail_reason, fb, cap);
        return;
    }
    if (fr->goal == 0) agent_goal_unmet_line(fr->goal_text, fb, cap);
}

/* Follow a sent plan to its end, log the outcome; returns 1 when the run
 * ended (res filled), 0 to plan again, < 0 on an error. */
static int follow(agent_loop *L, const char *instance, const rio_step *steps, int n_steps) {
    agent_loop_result *res = L->res;
    agent_follow_result fr;
    char err[EM_ERR_LEN];
    L->failed_at_ms = 0;
    L->fail_index = -1;
    L->cancelled = 0;
    ember_status st = agent_follower_resume(L->P.follower, instance, steps, n_steps, L->prm.timeout_ms, &fr);
    if (st) return end_run(L, AGENT_END_LINK, "%s", agent_follower_errmsg(L->P.follower)) ? -1 : 1;
    res->steps_done += fr.n_done;
    res->steps_failed += fr.n_failed;
    res->goal = fr.goal;
    if (fr.end == AGENT_FOLLOW_TIMED_OUT) /* still running there: stop it before planning anew */
        agent_follower_operate(L->P.follower, AGENT_OP_CANCEL, instance, 2000, NULL);
    char fb[RIO_TEXT_LEN * 2];
    outcome_feedback(L, steps, n_steps, &fr, fb, sizeof fb);
    static const char *const ends[] = {"finished", "timed_out", "stopped", "link_failed", "cancelled"};
    if (L->log) {
        cJSON *r = cJSON_CreateObject();
        if (r) {
            cJSON_AddNumberToObject(r, "cycle", L->cycle);
            cJSON_AddStringToObject(r, "instance", instance);
            cJSON_AddStringToObject(r, "end", ends[fr.end]);
            cJSON_AddNumberToObject(r, "done", fr.n_done);
            cJSON_AddNumberToObject(r, "failed", fr.n_failed);
            cJSON_AddNumberToObject(r, "open", fr.n_open);
            cJSON_AddNumberToObject(r, "replayed", fr.n_replayed);
            cJSON_AddNumberToObject(r, "goal", fr.goal);
            if (fr.goal_text[0]) cJSON_AddStringToObject(r, "goal_text", fr.goal_text);
            cJSON_AddStringToObject(r, "feedback", fb);
            if (agent_log_write(L->log, "outcome", L->run, r, err)) return fail(L, EM_ERR_IO, "%s", err), -1;
        }
    }
    if (fr.end == AGENT_FOLLOW_STOPPED) return end_run(L, AGENT_END_INTERRUPTED, "interrupted; the plan was cancelled") ? -1 : 1;
    if (agent_follower_estopped(L->P.follower))
        return end_run(L, AGENT_END_ESTOP, "estop: nothing more is sent until a reset") ? -1 : 1;
    if (L->cancelled || fr.end == AGENT_FOLLOW_CANCELLED)
        return end_run(L, AGENT_END_CANCELLED, "the plan was cancelled by an operator") ? -1 : 1;
    if (fr.end == AGENT_FOLLOW_FINISHED && fr.n_failed == 0 && fr.goal != 0)
        return end_run(L, AGENT_END_SUCCESS, fr.goal == 1 ? "the goal is met%s%s" : "the plan ran to its end%s%s",
                       fr.goal_text[0] ? ": " : "", fr.goal_text) ? -1 : 1;
    if (fb[0]) {
        history_add(L, fb);
        if (L->H.replan) L->H.replan(L->H.user, fb);
    }
    if (!L->failed_at_ms) L->failed_at_ms = rio_mono_ms();
    return 0;
}

static int plan_cycle(agent_loop *L, uint64_t *state_n) {
    agent_loop_result *res = L->res;
    char err[EM_ERR_LEN];
    int left = L->prm.max_steps - res->steps_sent;
    if (left <= 0) return end_run(L, AGENT_END_STEP_BUDGET, "the step budget (%d) is spent", L->prm.max_steps) ? -1 : 1;
    if (res->cycles > L->prm.max_replans)
        return end_run(L, AGENT_END_REPLAN_BUDGET, "the replanning budget (%d) is spent", L->prm.max_replans) ? -1 : 1;
    if (agent_follower_estopped(L->P.follower))
        return end_run(L, AGENT_END_ESTOP, "estop: nothing is sent until a reset") ? -1 : 1;
    int plan_steps = left < L->prm.max_plan_steps ? left : L->prm.max_plan_steps;
    if (compile_grammar(L, plan_steps)) return -1;
    L->cycle = res->cycles + 1;

    observation o;
    if (observe(L, *state_n, &o)) return -1;
    if (stopped(L)) return end_run(L, AGENT_END_INTERRUPTED, "interrupted while observing") ? -1 : 1;
    agent_follower_state(L->P.follower, state_n, NULL);
    double encode_ms = 0;
    if (build_prompt(L, &o, &encode_ms)) return -1;

    plan_out plans[MAX_VOTES] = {0};
    lm_gen_result r0 = {0}, r;
    double t_gen = now_ms(), prefill_ms = 0;
    int n = 0;
    for (int v = 0; v < L->prm.votes; v++) {
        if (sample_plan(L, v, plan_steps, &plans[v], &r)) goto fail;
        if (v == 0) r0 = r;
        prefill_ms += r.prefill_ms;
        n = v + 1;
        if (stopped(L)) break;
    }
    const double gen_ms = now_ms() - t_gen - prefill_ms;
    if (stopped(L)) {
        for (int v = 0; v < n; v++) plan_out_free(&plans[v]);
        return end_run(L, AGENT_END_INTERRUPTED, "interrupted while planning") ? -1 : 1;
    }
    /* self-consistency: the first plan whose first step the most plans share */
    int best = 0, best_count = 0;
    for (int v = 0; v < n; v++) {
        if (!plans[v].n_steps) continue;
        char a[512], b[512];
        agent_step_render(L->skills, &plans[v].steps[0], a, sizeof a);
        int count = 0;
        for (int w = 0; w < n; w++)
            if (plans[w].n_steps && (agent_step_render(L->skills, &plans[w].steps[0], b, sizeof b), !strcmp(a, b))) count++;
        if (count > best_count) best = v, best_count = count;
    }
    plan_out *p = &plans[best];
    /* an estop heard while observing or planning: nothing goes out */
    agent_follower_poll(L->P.follower, 0);
    if (agent_follower_estopped(L->P.follower)) {
        for (int v = 0; v < n; v++) plan_out_free(&plans[v]);
        return end_run(L, AGENT_END_ESTOP, "estop (heard while planning): nothing is sent until a reset") ? -1 : 1;
    }
    res->cycles++;
    res->replans = res->cycles - 1;

    char moved[RIO_TEXT_LEN] = "";
    if (!p->n_steps || state_moved(L, &o, moved, sizeof moved)) {
        /* nothing to send: count the cycle, say why, plan again */
        char fb[RIO_TEXT_LEN];
        snprintf(fb, sizeof fb, "%s", moved[0] ? moved : L->parse_err[0] ? L->parse_err : "the last plan had no complete step");
        L->parse_err[0] = '\0';
        history_add(L, fb);
        if (L->H.replan) L->H.replan(L->H.user, fb);
        if (L->log) {
            cJSON *rec = cJSON_CreateObject();
            if (rec) {
                cJSON_AddNumberToObject(rec, "cycle", L->cycle);
                cJSON_AddItemToObject(rec, "saw", observation_json(&o));
                cJSON_AddStringToObject(rec, "plan_text", p->text ? p->text : "");
                cJSON_AddStringToObject(rec, "feedback", fb);
                cJSON_AddStringToObject(rec, "end", "not_sent");
                if (agent_log_write(L->log, "outcome", L->run, rec, err)) {
                    fail(L, EM_ERR_IO, "%s", err);
                    goto fail;
                }
            }
        }
        for (int v = 0; v < n; v++) plan_out_free(&plans[v]);
        return 0;
    }

    char plan_id[RIO_ID_LEN], instance[RIO_ID_LEN];
    snprintf(plan_id, sizeof plan_id, "%.40s-c%d", L->run, L->cycle);
    agent_follower_instance(L->P.follower, plan_id, instance);
    const double send_ms = now_ms();
    agent_plan_info info = {L->cycle, p->text, p->steps, p->n_steps, instance, 0, n, best_count,
                            r0.n_prompt, r0.n_reused, encode_ms, prefill_ms, gen_ms, send_ms - o.t_ms};
    if (L->log) {
        cJSON *rec = cJSON_CreateObject();
        if (rec) {
            cJSON_AddNumberToObject(rec, "cycle", L->cycle);
            cJSON_AddStringToObject(rec, "instance", instance);
            cJSON_AddItemToObject(rec, "saw", observation_json(&o));
            cJSON_AddNumberToObject(rec, "prompt_positions", (double)r0.n_prompt);
            cJSON_AddNumberToObject(rec, "prompt_reused", (double)r0.n_reused);
            cJSON_AddStringToObject(rec, "plan_text", p->text);
            cJSON_AddItemToObject(rec, "steps", agent_log_steps_json(p->steps, p->n_steps));
            cJSON *votes = cJSON_AddArrayToObject(rec, "votes");
            for (int v = 0; votes && n > 1 && v < n; v++) cJSON_AddItemToArray(votes, cJSON_CreateString(plans[v].text));
            cJSON *t = cJSON_AddObjectToObject(rec, "timings_ms");
            if (t) {
                cJSON_AddNumberToObject(t, "encode", encode_ms);
                cJSON_AddNumberToObject(t, "prefill", prefill_ms);
                cJSON_AddNumberToObject(t, "generate", gen_ms);
                cJSON_AddNumberToObject(t, "frame_to_send", send_ms - o.t_ms);
            }
            if (agent_log_write(L->log, "plan", L->run, rec, err)) {
                fail(L, EM_ERR_IO, "%s", err);
                goto fail;
            }
        }
    }
    if (L->H.plan) L->H.plan(L->H.user, &info);
    if (res->cycles == 1) res->first_step_ms = send_ms - o.t_ms;
    else if (L->failed_at_ms) {
        L->replan_ms_sum += (double)(rio_mono_ms() - L->failed_at_ms);
        L->n_replan_ms++;
    }
    L->step_base = res->steps_sent;
    res->steps_sent += p->n_steps;
    int rc = follow(L, instance, p->steps, p->n_steps);
    for (int v = 0; v < n; v++) plan_out_free(&plans[v]);
    return rc;
fail:
    for (int v = 0; v < MAX_VOTES; v++) plan_out_free(&plans[v]);
    return -1;
}

static void run_id(agent_loop *L) {
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    snprintf(L->run, sizeof L->run, "run-%02d%02d%02d-%02d%02d%02d-%04x", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(rio_now_us() & 0xffff));
}

ember_status agent_loop_run(agent_loop *L, agent_loop_result *res) {
    memset(res, 0, sizeof *res);
    res->goal = -1;
    res->end = AGENT_END_ERROR;
    L->res = res;
    char err[EM_ERR_LEN];
    ember_status st;
    if ((st = agent_loop_prepare(L, err))) return fail(L, st, "%s", err);
    if (L->prm.save_frames && mkdir(L->prm.save_frames, 0777) != 0 && errno != EEXIST)
        return fail(L, EM_ERR_IO, "--save-frames %s: %s", L->prm.save_frames, strerror(errno));

    /* a log: go on with its open run, or start one */
    agent_log_run prev = {0};
    if (L->prm.log_path) {
        if ((st = agent_log_load(L->prm.log_path, &prev, err))) return fail(L, st, "%s", err);
        if (!(L->log = agent_log_open(L->prm.log_path, err))) {
            agent_log_run_free(&prev);
            return fail(L, EM_ERR_IO, "%s", err);
        }
    }
    int resume = prev.found && !prev.ended;
    if (resume && strcmp(prev.instruction, L->prm.instruction)) {
        if (!L->prm.new_run) {
            st = fail(L, EM_ERR_ARG,
                      "--log %s holds an unfinished run (%s) of another instruction (\"%.80s\"); give that "
                      "instruction to resume it, or --new-run to end it and start this one",
                      L->prm.log_path, prev.run, prev.instruction);
            agent_log_run_free(&prev);
            return st;
        }
        cJSON *r = cJSON_CreateObject();
        if (r) {
            cJSON_AddStringToObject(r, "result", "superseded");
            cJSON_AddStringToObject(r, "why", "a new run was started with --new-run");
        }
        if (agent_log_write(L->log, "end", prev.run, r, err)) {
            agent_log_run_free(&prev);
            return fail(L, EM_ERR_IO, "%s", err);
        }
        resume = 0;
    }
    uint64_t state_n = 0;
    int rc = 0;
    if (resume) {
        res->resumed = 1;
        snprintf(L->run, sizeof L->run, "%s", prev.run);
        res->cycles = prev.cycles;
        res->replans = prev.replans;
        res->steps_sent = prev.steps_sent;
        for (int i = 0; i < prev.n_history; i++) history_add(L, prev.history[i]);
        if (prev.open_plan) {
            /* the plan that was out when the agent stopped: the same
             * instance again; finished steps come back from the
             * controller's memory, nothing runs twice */
            L->cycle = prev.cycles;
            L->step_base = prev.steps_sent - prev.n_steps;
            agent_plan_info info = {L->cycle, "", prev.steps, prev.n_steps, prev.instance, 1, 1, 1, 0, 0, 0, 0, 0, 0};
            if (L->H.plan) L->H.plan(L->H.user, &info);
            rc = follow(L, prev.instance, prev.steps, prev.n_steps);
        }
    } else {
        run_id(L);
        if (L->log) {
            cJSON *r = cJSON_CreateObject();
            const rio_msg *hello = agent_follower_hello(L->P.follower);
            if (r) {
                cJSON_AddStringToObject(r, "instruction", L->prm.instruction);
                if (L->prm.model_desc) cJSON_AddStringToObject(r, "model", L->prm.model_desc);
                cJSON_AddStringToObject(r, "controller", hello ? hello->from : "");
                cJSON *lay = cJSON_AddArrayToObject(r, "state_layout");
                for (int i = 0; lay && hello && i < hello->u.hello.n_layout; i++)
                    cJSON_AddItemToArray(lay, cJSON_CreateString(hello->u.hello.layout[i]));
                cJSON_AddNumberToObject(r, "max_steps", L->prm.max_steps);
                cJSON_AddNumberToObject(r, "max_replans", L->prm.max_replans);
                cJSON_AddNumberToObject(r, "votes", L->prm.votes);
                cJSON_AddNumberToObject(r, "temp", L->prm.sampling.temp);
                char seed[32];
                snprintf(seed, sizeof seed, "%llu", (unsigned long long)L->prm.sampling.seed);
                cJSON_AddStringToObject(r, "seed", seed);
                cJSON_AddStringToObject(r, "grammar", L->grammar_text);
            }
            if (agent_log_write(L->log, "run", L->run, r, err)) {
                agent_log_run_free(&prev);
                return fail(L, EM_ERR_IO, "%s", err);
            }
        }
    }
    agent_log_run_free(&prev);
    snprintf(res->run, sizeof res->run, "%s", L->run);
    while (rc == 0) rc = plan_cycle(L, &state_n);
    if (rc < 0) { /* an error mid-run ends it, in the log too */
        char why[EM_ERR_LEN];
        snprintf(why, sizeof why, "%s", L->errmsg);
        end_run(L, AGENT_END_ERROR, "%s", why);
        snprintf(L->errmsg, sizeof L->errmsg, "%s", why);
    }
    return EM_OK;
}
