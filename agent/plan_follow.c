/* plan_follow.c - the plan follower (plan_follow.h): a plan's steps out
 * over the robot link, their fates back to the caller's hooks. Moved out of
 * `ember act` so the agent loop and tests can follow plans too. */
#include "agent/plan_follow.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

/* After the last fate, how long to wait for a state message that includes
 * it (state comes at 10 Hz from the sim; 600 ms covers a few lost ones). */
#define FOLLOW_SETTLE_MS 600
/* How long a poll waits: also how often the stop hook is asked. */
#define FOLLOW_POLL_MS 100
/* Leaving: the controller should have our last acks, or it resends its
 * feedback to nobody until it declares us lost. */
#define FOLLOW_DRAIN_MS 500
/* A stopped plan's cancel gets this long to be acknowledged. */
#define FOLLOW_CANCEL_MS 1000

/* The newest frame of one camera, with its own copy of the image bytes
 * (an event's bytes live only until the next poll). */
typedef struct frame_keep {
    rio_msg msg;  /* msg.u.frame.data points into data */
    void *data;
    size_t cap;
    uint64_t n;   /* frames of this camera heard so far */
} frame_keep;

struct agent_follower {
    rio_agent *a;
    agent_follow_hooks hooks;
    int n_runs; /* instances made: the last part of an instance id */
    /* the newest observation, kept during and between runs */
    rio_msg state;       /* type RIO_MSG_NONE until a state was heard */
    uint64_t state_n;    /* states heard */
    int64_t state_ms;    /* rio_mono_ms when the newest was heard */
    frame_keep frames[AGENT_MAX_CAMERAS];
    int estop;           /* an estop copy heard and no reset since */
    char errmsg[EM_ERR_LEN];
};

/* What the run loop keeps per step. */
typedef struct step_track {
    int64_t started; /* ms it was heard running, 0 = not heard */
    int replayed;    /* its final fate came from the controller's memory */
} step_track;

agent_follower *agent_follower_create(const rio_config *cfg, const agent_follow_hooks *hooks, int subscribe_state,
                                      FILE *log, char *err) {
    agent_follower *f = calloc(1, sizeof *f);
    if (!f) {
        em_err(err, EM_ERR_NOMEM, "agent_follower_create: out of memory");
        return NULL;
    }
    if (hooks) f->hooks = *hooks;
    int sub = (subscribe_state & AGENT_SUB_STATE ? RIO_SUB_STATE : 0) | (subscribe_state & AGENT_SUB_FRAMES ? RIO_SUB_FRAMES : 0);
    if (!(f->a = rio_agent_create(cfg, "agent", sub, log, err))) {
        free(f);
        return NULL;
    }
    return f;
}

void agent_follower_free(agent_follower *f) {
    if (!f) return;
    rio_agent_free(f->a);
    rio_msg_clear(&f->state);
    for (int i = 0; i < AGENT_MAX_CAMERAS; i++) {
        f->frames[i].msg.u.frame.data = NULL;
        rio_msg_clear(&f->frames[i].msg);
        free(f->frames[i].data);
    }
    free(f);
}

static ember_status link_err(agent_follower *f, ember_status st);

void agent_follower_set_hooks(agent_follower *f, const agent_follow_hooks *hooks) {
    memset(&f->hooks, 0, sizeof f->hooks);
    if (hooks) f->hooks = *hooks;
}

/* Keep the newest state and frames, and whether an estop is on, from any
 * event (during a run or between runs). Out of memory keeps the older one. */
static void observe(agent_follower *f, const rio_event *ev) {
    const rio_msg *m = ev->msg;
    char err[EM_ERR_LEN];
    if (!m) return;
    if (ev->type == RIO_EV_STATE) {
        rio_msg copy;
        if (rio_msg_copy(&copy, m, err) != EM_OK) return;
        rio_msg_clear(&f->state);
        f->state = copy;
        /* a controller that says whether its estop is on (the sim does):
         * believed over what we heard, which misses estops from before we
         * connected and resets we did not hear */
        cJSON *j = copy.u.state.fields_json ? cJSON_Parse(copy.u.state.fields_json) : NULL;
        cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "estop");
        if (cJSON_IsBool(e)) f->estop = cJSON_IsTrue(e);
        cJSON_Delete(j);
        f->state_n++;
        f->state_ms = rio_mono_ms();
    } else if (ev->type == RIO_EV_FRAME) {
        const rio_frame *fr = &m->u.frame;
        int slot = -1;
        for (int i = 0; i < AGENT_MAX_CAMERAS && slot < 0; i++)
            if (f->frames[i].n && !strcmp(f->frames[i].msg.u.frame.camera, fr->camera)) slot = i;
        for (int i = 0; i < AGENT_MAX_CAMERAS && slot < 0; i++)
            if (!f->frames[i].n) slot = i;
        if (slot < 0) return; /* more cameras than we keep: the first ones win */
        frame_keep *k = &f->frames[slot];
        if (fr->size > k->cap) {
            void *p = realloc(k->data, fr->size);
            if (!p) return;
            k->data = p, k->cap = fr->size;
        }
        memcpy(k->data, fr->data, fr->size);
        k->msg = *m; /* a frame owns nothing on the heap but its borrowed bytes */
        k->msg.u.frame.data = k->data;
        k->n++;
    } else if (ev->type == RIO_EV_EVENT) {
        if (m->type == RIO_MSG_ESTOP) f->estop = 1;
        if (m->type == RIO_MSG_RESET) f->estop = 0;
    } else if (ev->type == RIO_EV_FEEDBACK && m->u.feedback.status == RIO_FB_FAILED &&
               !strcmp(m->u.feedback.reason, RIO_REASON_ESTOP)) {
        f->estop = 1; /* refused or halted by an estop we did not hear */
    }
}

ember_status agent_follower_poll(agent_follower *f, int timeout_ms) {
    int64_t t0 = rio_mono_ms();
    for (;;) {
        int64_t left = timeout_ms - (rio_mono_ms() - t0);
        rio_event ev;
        int r = rio_agent_poll(f->a, &ev, left > 0 ? (int)left : 0);
        if (r < 0) return link_err(f, (ember_status)r);
        if (r == 0) return EM_OK;
        observe(f, &ev);
        if (ev.type == RIO_EV_PEER_LOST || ev.type == RIO_EV_PEER_BACK)
            if (f->hooks.link) f->hooks.link(f->hooks.user, ev.type == RIO_EV_PEER_BACK, ev.restarted);
    }
}

const rio_msg *agent_follower_state(const agent_follower *f, uint64_t *n, int64_t *heard_ms) {
    if (n) *n = f->state_n;
    if (heard_ms) *heard_ms = f->state_ms;
    return f->state_n ? &f->state : NULL;
}

const rio_msg *agent_follower_frame(const agent_follower *f, const char *camera, uint64_t *n) {
    for (int i = 0; i < AGENT_MAX_CAMERAS; i++)
        if (f->frames[i].n && (!camera || !strcmp(f->frames[i].msg.u.frame.camera, camera))) {
            if (n) *n = f->frames[i].n;
            return &f->frames[i].msg;
        }
    if (n) *n = 0;
    return NULL;
}

int agent_follower_estopped(const agent_follower *f) { return f->estop; }



static ember_status link_err(agent_follower *f, ember_status st) {
    return em_err(f->errmsg, st < 0 ? st : EM_ERR_IO, "%s", rio_agent_errmsg(f->a));
}

ember_status agent_follower_wait_ready(agent_follower *f, int timeout_ms) {
    ember_status st = rio_agent_wait_ready(f->a, timeout_ms);
    return st ? link_err(f, st) : EM_OK;
}

const rio_msg *agent_follower_hello(const agent_follower *f) { return rio_agent_hello(f->a); }

int agent_follower_check(const agent_follower *f, const rio_step *steps, int n_steps, char *err) {
    const rio_msg *hello = rio_agent_hello(f->a);
    if (!hello) {
        em_err(err, EM_ERR_ARG, "agent_follower_check: the controller has not said what it offers yet");
        return n_steps > 0 ? 0 : -1;
    }
    for (int i = 0; i < n_steps; i++) {
        char reason[RIO_NAME_LEN];
        if (rio_step_check(hello->u.hello.skills, hello->u.hello.n_skills, &steps[i], reason, err)) return i;
    }
    return -1;
}

/* Wait until nothing we sent is unacknowledged, for at most ms. */
static void drain(agent_follower *f, int ms) {
    rio_event ev;
    for (int64_t t = rio_mono_ms(); rio_agent_pending(f->a) && rio_mono_ms() - t < ms;) rio_agent_poll(f->a, &ev, 20);
}

/* The goal's verdict from the controller's named state fields, if it
 * publishes one ({"goal": {"met": bool, "text": "..."}}, sim/README.md). */
static void read_goal(const char *fields, agent_follow_result *res) {
    cJSON *j = fields ? cJSON_Parse(fields) : NULL;
    cJSON *goal = cJSON_GetObjectItemCaseSensitive(j, "goal");
    cJSON *met = cJSON_GetObjectItemCaseSensitive(goal, "met");
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "text"));
    if (cJSON_IsBool(met)) {
        res->goal = cJSON_IsTrue(met) ? 1 : 0;
        snprintf(res->goal_text, sizeof res->goal_text, "%s", text ? text : "");
    }
    cJSON_Delete(j);
}

static void on_feedback(agent_follower *f, const rio_msg *m, const rio_step *steps, int n_steps, step_track *track) {
    int k = -1;
    for (int i = 0; i < n_steps; i++)
        if (!strcmp(steps[i].step_id, m->step_id)) k = i;
    if (k < 0) return;
    const rio_feedback *fb = &m->u.feedback;
    if (fb->status == RIO_FB_RUNNING && !fb->replayed) track[k].started = rio_mono_ms();
    if (fb->status >= RIO_FB_DONE) track[k].replayed = fb->replayed;
    agent_step_fate fate = {k, &steps[k], fb->status, "", "", -1, fb->replayed, fb->replayed ? fb->fate_ts_us : 0};
    if (fb->status == RIO_FB_FAILED) {
        fate.reason = fb->reason;
        fate.text = fb->text;
    } else if (fb->status == RIO_FB_DONE && track[k].started && !fb->replayed) {
        fate.run_s = (double)(rio_mono_ms() - track[k].started) / 1000.0;
    }
    if (f->hooks.fate) f->hooks.fate(f->hooks.user, &fate);
}

/* "<plan>:<YYMMDD-HHMMSS>-<4 hex of our session>-<n>": the time for the
 * person choosing which run to --resume, the session part against two
 * processes starting the same plan in the same second, n against one
 * follower starting it twice in a second. The plan id is cut to fit. */
void agent_follower_instance(agent_follower *f, const char *plan_id, char out[RIO_ID_LEN]) {
    char suffix[48];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    const char *session = rio_agent_session(f->a);
    int n = snprintf(suffix, sizeof suffix, ":%02d%02d%02d-%02d%02d%02d-%.4s-%d", tm.tm_year % 100, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, session, ++f->n_runs);
    int keep = RIO_ID_LEN - 1 - n;
    snprintf(out, RIO_ID_LEN, "%.*s%s", keep, plan_id, suffix);
}

static ember_status follow(agent_follower *f, const char *id, int resumed, const rio_step *steps, int n_steps,
                           int timeout_ms, agent_follow_result *res) {
    const char *plan_id = id;
    ember_status st = rio_agent_send_plan(f->a, plan_id, steps, n_steps);
    if (st) return link_err(f, st);
    snprintf(res->instance_id, sizeof res->instance_id, "%s", plan_id);
    if (f->hooks.sent) f->hooks.sent(f->hooks.user, plan_id, resumed);
    int64_t t0 = rio_mono_ms(), finished_at = 0;
    step_track *track = calloc(n_steps > 0 ? (size_t)n_steps : 1, sizeof *track);
    char *fields = NULL; /* the latest state's named fields */
    if (!track) return em_err(f->errmsg, EM_ERR_NOMEM, "agent_follower_run: out of memory for %d steps", n_steps);
    /* An instance this follower ran before: fates it already holds get no
     * new feedback (rio_agent hands each (step, status) out once), so they
     * count as replayed here; the hooks saw them when they happened. */
    for (int i = 0; resumed && i < n_steps; i++)
        track[i].replayed = rio_agent_plan_step_status(f->a, plan_id, steps[i].step_id) >= RIO_FB_DONE;
    int cancelled = 0; /* an operator's cancel of this plan was heard */
    for (;;) {
        int open = 0, failed = 0, replayed = 0;
        for (int i = 0; i < n_steps; i++) {
            int s = rio_agent_plan_step_status(f->a, plan_id, steps[i].step_id);
            if (s < RIO_FB_DONE) open++;
            if (s == RIO_FB_FAILED) failed++;
            if (s >= RIO_FB_DONE && track[i].replayed) replayed++;
        }
        res->n_open = open;
        res->n_failed = failed;
        res->n_replayed = replayed;
        res->n_done = n_steps - open - failed;
        if (!open && !finished_at) finished_at = rio_mono_ms();
        if (finished_at && rio_mono_ms() - finished_at > FOLLOW_SETTLE_MS) {
            res->end = AGENT_FOLLOW_FINISHED;
            break;
        }
        if (cancelled) { /* its feedback goes to the canceller: the copy is what we hear */
            res->end = AGENT_FOLLOW_CANCELLED;
            break;
        }
        if (f->hooks.stop && f->hooks.stop(f->hooks.user)) {
            rio_agent_cancel(f->a, plan_id, NULL);
            drain(f, FOLLOW_CANCEL_MS);
            res->end = AGENT_FOLLOW_STOPPED;
            break;
        }
        if (rio_mono_ms() - t0 > (int64_t)timeout_ms) {
            res->end = AGENT_FOLLOW_TIMED_OUT;
            break;
        }
        rio_event ev;
        int r = rio_agent_poll(f->a, &ev, FOLLOW_POLL_MS);
        if (r < 0) {
            st = link_err(f, (ember_status)r);
            break;
        }
        if (r == 0) continue;
        observe(f, &ev);
        if (ev.type == RIO_EV_PEER_LOST || ev.type == RIO_EV_PEER_BACK) {
            if (f->hooks.link) f->hooks.link(f->hooks.user, ev.type == RIO_EV_PEER_BACK, ev.restarted);
        } else if (ev.type == RIO_EV_STATE && ev.msg->u.state.fields_json) {
            char *copy = strdup(ev.msg->u.state.fields_json);
            if (copy) { /* without memory we judge by an older state, or none */
                free(fields);
                fields = copy;
            }
        } else if (ev.type == RIO_EV_EVENT && ev.msg && ev.msg->type == RIO_MSG_CANCEL &&
                   !strcmp(ev.msg->plan_id, plan_id) && strcmp(ev.msg->session, rio_agent_session(f->a))) {
            cancelled = 1;
        } else if (ev.type == RIO_EV_FEEDBACK && !strcmp(ev.msg->plan_id, plan_id)) {
            on_feedback(f, ev.msg, steps, n_steps, track);
        }
    }
    read_goal(fields, res);
    free(fields);
    free(track);
    drain(f, FOLLOW_DRAIN_MS); /* leave only when the controller has our last acks */
    return st;
}

static void result_init(agent_follow_result *res, int n_steps) {
    memset(res, 0, sizeof *res);
    res->end = AGENT_FOLLOW_LINK_FAILED;
    res->n_steps = res->n_open = n_steps;
    res->goal = -1;
}

ember_status agent_follower_run(agent_follower *f, const char *plan_id, const rio_step *steps, int n_steps,
                                int timeout_ms, agent_follow_result *res) {
    result_init(res, n_steps);
    char id[RIO_ID_LEN];
    agent_follower_instance(f, plan_id, id);
    return follow(f, id, 0, steps, n_steps, timeout_ms, res);
}

ember_status agent_follower_resume(agent_follower *f, const char *instance_id, const rio_step *steps, int n_steps,
                                   int timeout_ms, agent_follow_result *res) {
    result_init(res, n_steps);
    return follow(f, instance_id, 1, steps, n_steps, timeout_ms, res);
}

ember_status agent_follower_operate(agent_follower *f, agent_operator_cmd cmd, const char *arg, int wait_ms,
                                    int64_t *ack_ms) {
    static const char *const names[] = {"estop", "reset", "cancel"};
    ember_status st;
    if ((unsigned)cmd > AGENT_OP_CANCEL)
        return em_err(f->errmsg, EM_ERR_ARG, "agent_follower_operate: command %d unknown", (int)cmd);
    if (cmd == AGENT_OP_CANCEL && !arg)
        return em_err(f->errmsg, EM_ERR_ARG, "agent_follower_operate: cancel needs a plan id");
    st = cmd == AGENT_OP_ESTOP   ? rio_agent_estop(f->a, arg)
         : cmd == AGENT_OP_RESET ? rio_agent_reset(f->a)
                                 : rio_agent_cancel(f->a, arg, NULL);
    int64_t t0 = rio_mono_ms();
    if (st) return em_err(f->errmsg, st, "%s: %s", names[cmd], rio_agent_errmsg(f->a));
    rio_event ev;
    while (rio_agent_pending(f->a) > 0 && rio_mono_ms() - t0 < wait_ms) rio_agent_poll(f->a, &ev, 20);
    if (rio_agent_pending(f->a) > 0)
        return em_err(f->errmsg, EM_ERR_IO, "%s not acknowledged within %d ms", names[cmd], wait_ms);
    const char *reason, *text;
    if (rio_agent_answer(f->a, &reason, &text) < 0) /* received, not carried out */
        return em_err(f->errmsg, !strcmp(reason, RIO_REASON_UNKNOWN_PLAN) ? EM_ERR_NOT_FOUND : EM_ERR_ARG,
                      "%s%s%s refused by the controller (%s): %s", names[cmd], arg && cmd == AGENT_OP_CANCEL ? " " : "",
                      arg && cmd == AGENT_OP_CANCEL ? arg : "", reason, text);
    if (ack_ms) *ack_ms = rio_mono_ms() - t0;
    return EM_OK;
}

const rio_stats *agent_follower_stats(const agent_follower *f) { return rio_agent_stats(f->a); }
const char *agent_follower_errmsg(const agent_follower *f) { return f->errmsg; }
