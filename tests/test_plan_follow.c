/* test_plan_follow.c - the plan follower (agent/plan_follow.h) against an
 * in-process controller: a scripted rio_ctrl in a thread of this test, on
 * an ipc:// endpoint in a fresh temporary folder.
 *
 * The controller offers two skills: "wave" {ms: how long it runs} and
 * "fail" (fails at once, "precondition"). It records the steps it was
 * handed, in order, and publishes a state whose goal is met once three
 * steps are done. Checked: a plan's steps are handed out in order and each
 * fate reaches the hooks in the order a step lives; a failing step stops
 * the plan (the rest "aborted", never handed out); estop fails the running
 * and the waiting steps "estop", refuses new plans until a reset, and the
 * plan after the reset runs; the stop hook cancels a running plan; steps
 * the controller does not offer are caught by agent_follower_check. */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/plan_follow.h"
#include "check.h"
#include "robot_io/rio_ctrl.h"

/* ---- the scripted controller ------------------------------------------- */

#define MAX_SEEN 64

typedef struct ctl {
    rio_config cfg;
    atomic_int quit;
    atomic_int ready;     /* 1 bound, -1 failed */
    atomic_int running;   /* index+1 of the step in motion in the current plan, 0 = none */
    atomic_int n_seen;    /* steps handed out */
    atomic_int n_estops, n_cancels, n_done;
    char seen[MAX_SEEN][RIO_ID_LEN]; /* written by the controller thread before n_seen is raised */
    char err[EM_ERR_LEN];
} ctl;

static void make_hello(rio_hello *h, rio_skill *skills) {
    memset(h, 0, sizeof *h);
    memset(skills, 0, 2 * sizeof *skills);
    strcpy(h->role, "controller");
    strcpy(skills[0].name, "wave");
    skills[0].n_args = 1;
    strcpy(skills[0].args[0].name, "ms");
    skills[0].args[0].type = RIO_ARG_INTEGER;
    skills[0].args[0].has_range = 1;
    skills[0].args[0].min = 0;
    skills[0].args[0].max = 5000;
    strcpy(skills[1].name, "fail");
    h->n_skills = 2;
    h->skills = skills;
    h->n_layout = 1;
    strcpy(h->layout[0], "done");
}

static void *ctl_main(void *arg) {
    ctl *t = arg;
    rio_skill skills[2];
    rio_hello hello;
    make_hello(&hello, skills);
    rio_ctrl_hooks hooks = {.quiet = 1};
    rio_ctrl *c = rio_ctrl_create(&t->cfg, &hello, &hooks, t->err);
    if (!c) {
        atomic_store(&t->ready, -1);
        return NULL;
    }
    atomic_store(&t->ready, 1);
    char cur[RIO_ID_LEN] = "";
    int64_t ends_at = 0, next_state = 0;
    while (!atomic_load(&t->quit)) {
        rio_event ev;
        int r = rio_ctrl_poll(c, &ev, 5);
        if (r < 0) break;
        if (r == 1 && ev.type == RIO_EV_STEP) {
            int n = atomic_load(&t->n_seen);
            if (n < MAX_SEEN) snprintf(t->seen[n], RIO_ID_LEN, "%s", ev.step.step_id);
            atomic_store(&t->n_seen, n + 1);
            if (!strcmp(ev.step.skill, "fail")) {
                rio_ctrl_feedback(c, ev.step.step_id, RIO_FB_FAILED, RIO_REASON_PRECONDITION, "told to fail");
            } else {
                const rio_arg *ms = rio_step_arg(&ev.step, "ms");
                snprintf(cur, sizeof cur, "%s", ev.step.step_id);
                ends_at = rio_mono_ms() + (int64_t)(ms ? ms->num : 0);
                atomic_store(&t->running, ev.step.index + 1);
                rio_ctrl_feedback(c, cur, RIO_FB_RUNNING, NULL, NULL);
            }
        } else if (r == 1 && (ev.type == RIO_EV_ESTOP || ev.type == RIO_EV_CANCEL)) {
            cur[0] = 0; /* halt: the library has failed the step already */
            atomic_store(&t->running, 0);
            atomic_fetch_add(ev.type == RIO_EV_ESTOP ? &t->n_estops : &t->n_cancels, 1);
        }
        int64_t now = rio_mono_ms();
        if (cur[0] && now >= ends_at) {
            rio_ctrl_feedback(c, cur, RIO_FB_DONE, NULL, NULL);
            cur[0] = 0;
            atomic_store(&t->running, 0);
            atomic_fetch_add(&t->n_done, 1);
        }
        if (now >= next_state) { /* the follower's wait_ready needs state, and it judges the goal by it */
            next_state = now + 20;
            rio_state st;
            memset(&st, 0, sizeof st);
            st.n = 1;
            strcpy(st.layout[0], "done");
            st.vector[0] = atomic_load(&t->n_done);
            char fields[128];
            snprintf(fields, sizeof fields, "{\"goal\":{\"met\":%s,\"text\":\"wave three times\"}}",
                     atomic_load(&t->n_done) >= 3 ? "true" : "false");
            st.fields_json = fields;
            rio_ctrl_publish_state(c, &st);
        }
    }
    rio_ctrl_free(c);
    return NULL;
}

/* ---- what the follower's hooks saw -------------------------------------- */

typedef struct seen_fates {
    int n;
    int index[64];
    rio_fb_status status[64];
    char reason[64][RIO_NAME_LEN];
    double run_s[64];
    int stop_after_running; /* stop hook: stop once a step is heard running */
    int heard_running;
    int replayed[64];
    uint64_t fate_us[64];
    char instance[RIO_ID_LEN]; /* from the sent hook */
    int n_sent, resumed;
} seen_fates;

static void on_fate(void *user, const agent_step_fate *f) {
    seen_fates *s = user;
    if (f->status == RIO_FB_RUNNING) s->heard_running = 1;
    if (s->n >= 64) return;
    s->index[s->n] = f->index;
    s->status[s->n] = f->status;
    snprintf(s->reason[s->n], RIO_NAME_LEN, "%s", f->reason);
    s->run_s[s->n] = f->run_s;
    s->replayed[s->n] = f->replayed;
    s->fate_us[s->n] = f->fate_us;
    s->n++;
}

static void on_sent(void *user, const char *instance_id, int resumed) {
    seen_fates *s = user;
    snprintf(s->instance, sizeof s->instance, "%s", instance_id);
    s->n_sent++;
    s->resumed = resumed;
}

static int on_stop(void *user) {
    seen_fates *s = user;
    return s->stop_after_running && s->heard_running;
}

/* The last fate the hooks saw for step i, or -1. */
static int last_fate(const seen_fates *s, int i, const char **reason) {
    int st = -1;
    for (int k = 0; k < s->n; k++)
        if (s->index[k] == i) {
            st = (int)s->status[k];
            if (reason) *reason = s->reason[k];
        }
    return st;
}

static rio_step wave(const char *id, int index, int ms) {
    rio_step s;
    memset(&s, 0, sizeof s);
    snprintf(s.step_id, sizeof s.step_id, "%s", id);
    s.index = index;
    strcpy(s.skill, "wave");
    s.n_args = 1;
    strcpy(s.args[0].name, "ms");
    s.args[0].type = RIO_ARG_INTEGER;
    s.args[0].num = ms;
    return s;
}

static rio_step failing(const char *id, int index) {
    rio_step s;
    memset(&s, 0, sizeof s);
    snprintf(s.step_id, sizeof s.step_id, "%s", id);
    s.index = index;
    strcpy(s.skill, "fail");
    return s;
}

static agent_follower *follower(ctl *t, seen_fates *seen, int subscribe) {
    char err[EM_ERR_LEN];
    agent_follow_hooks hooks = {.fate = on_fate, .stop = on_stop, .user = seen, .sent = on_sent};
    agent_follower *f = agent_follower_create(&t->cfg, &hooks, subscribe, stderr, err);
    CHECK(f != NULL, "create: %s", err);
    if (!f) return NULL;
    ember_status st = agent_follower_wait_ready(f, 5000);
    CHECK(st == EM_OK, "wait_ready: %s", agent_follower_errmsg(f));
    return f;
}

/* ---- the tests ---------------------------------------------------------- */

/* Steps delivered in order, every fate reported in the order a step lives,
 * and the controller's goal verdict read from its state. */
static void test_in_order(ctl *t) {
    seen_fates seen = {0};
    agent_follower *f = follower(t, &seen, 1);
    if (!f) return;
    rio_step steps[3] = {wave("a1", 0, 30), wave("a2", 1, 30), wave("a3", 2, 30)};
    int seen0 = atomic_load(&t->n_seen);
    agent_follow_result res;
    ember_status st = agent_follower_run(f, "pa", steps, 3, 10000, &res);
    CHECK(st == EM_OK, "run: %s", agent_follower_errmsg(f));
    CHECK(res.end == AGENT_FOLLOW_FINISHED, "end %d", res.end);
    CHECK(res.n_steps == 3 && res.n_done == 3 && res.n_failed == 0 && res.n_open == 0, "%d/%d/%d/%d", res.n_steps,
          res.n_done, res.n_failed, res.n_open);
    CHECK(atomic_load(&t->n_seen) - seen0 == 3, "controller got %d steps", atomic_load(&t->n_seen) - seen0);
    for (int i = 0; i < 3 && seen0 + i < MAX_SEEN; i++)
        CHECK(!strcmp(t->seen[seen0 + i], steps[i].step_id), "handed out #%d: %s, expected %s", i, t->seen[seen0 + i],
              steps[i].step_id);
    /* per step: accepted? running, done, never backwards; done after the previous step's done */
    int last_done_at = -1;
    for (int i = 0; i < 3; i++) {
        int prev = -1, done_at = -1;
        for (int k = 0; k < seen.n; k++) {
            if (seen.index[k] != i) continue;
            CHECK((int)seen.status[k] > prev, "step %d: status %d after %d", i, seen.status[k], prev);
            prev = (int)seen.status[k];
            if (seen.status[k] == RIO_FB_DONE) {
                done_at = k;
                CHECK(seen.run_s[k] >= 0.02 && seen.run_s[k] < 5, "step %d ran %.3f s", i, seen.run_s[k]);
            }
        }
        CHECK(done_at > last_done_at, "step %d done at %d, the one before at %d", i, done_at, last_done_at);
        last_done_at = done_at;
    }
    CHECK(res.goal == 1 && !strcmp(res.goal_text, "wave three times"), "goal %d '%s'", res.goal, res.goal_text);

    /* Each run is a new instance of the plan, named after it. */
    char first[RIO_ID_LEN];
    snprintf(first, sizeof first, "%s", res.instance_id);
    CHECK(!strncmp(first, "pa:", 3) && strlen(first) > 3, "instance id '%s' derived from pa", first);
    CHECK(seen.n_sent == 1 && !seen.resumed && !strcmp(seen.instance, first), "sent hook: %d '%s'", seen.n_sent,
          seen.instance);
    CHECK(res.n_replayed == 0, "first run: %d replayed", res.n_replayed);
    for (int k = 0; k < seen.n; k++) CHECK(!seen.replayed[k], "first run: fate %d marked replayed", k);

    /* The same plan again: a new instance, so it runs again (the old
     * behaviour, a silent replay of remembered fates reported as success,
     * is what issue 14 item 5 reported). */
    seen0 = atomic_load(&t->n_seen);
    memset(&seen, 0, sizeof seen);
    st = agent_follower_run(f, "pa", steps, 3, 10000, &res);
    CHECK(st == EM_OK && res.end == AGENT_FOLLOW_FINISHED && res.n_done == 3 && res.n_replayed == 0,
          "second run: end %d done %d replayed %d", res.end, res.n_done, res.n_replayed);
    CHECK(atomic_load(&t->n_seen) - seen0 == 3, "second run handed out %d steps, expected 3",
          atomic_load(&t->n_seen) - seen0);
    CHECK(strcmp(res.instance_id, first) && !strncmp(res.instance_id, "pa:", 3), "second instance '%s' vs '%s'",
          res.instance_id, first);

    /* Resuming the first instance in the same follower: it knows the fates
     * itself; nothing is handed out, all three count as replayed. */
    seen0 = atomic_load(&t->n_seen);
    st = agent_follower_resume(f, first, steps, 3, 10000, &res);
    CHECK(st == EM_OK && res.n_done == 3 && res.n_replayed == 3, "resume here: done %d replayed %d", res.n_done,
          res.n_replayed);
    CHECK(atomic_load(&t->n_seen) == seen0, "resume here handed out %d steps", atomic_load(&t->n_seen) - seen0);
    agent_follower_free(f);

    /* Resuming the first instance from a new follower (an agent restarted
     * after the end): nothing runs twice, and every fate says it comes from
     * the controller's memory, with its time. */
    seen0 = atomic_load(&t->n_seen);
    memset(&seen, 0, sizeof seen);
    if (!(f = follower(t, &seen, 1))) return;
    uint64_t before = rio_now_us();
    st = agent_follower_resume(f, first, steps, 3, 10000, &res);
    CHECK(st == EM_OK && res.end == AGENT_FOLLOW_FINISHED && res.n_done == 3, "resume: end %d done %d", res.end,
          res.n_done);
    CHECK(!strcmp(res.instance_id, first) && seen.resumed, "resumed as '%s'", res.instance_id);
    CHECK(atomic_load(&t->n_seen) == seen0, "resume handed out %d steps again", atomic_load(&t->n_seen) - seen0);
    CHECK(res.n_replayed == 3, "resume: %d of 3 fates marked replayed", res.n_replayed);
    CHECK(seen.n == 3, "resume: %d fates reported, expected 3 (done, from memory)", seen.n);
    for (int k = 0; k < seen.n; k++)
        CHECK(seen.replayed[k] && seen.fate_us[k] > 0 && seen.fate_us[k] < before && seen.run_s[k] < 0,
              "resume: fate %d replayed %d at %llu (before %llu), run_s %.3f", k, seen.replayed[k],
              (unsigned long long)seen.fate_us[k], (unsigned long long)before, seen.run_s[k]);
    agent_follower_free(f);
}

/* A cancel naming a plan the controller never heard of is answered as such,
 * not "acknowledged"; a known one is acknowledged. */
static void test_cancel_unknown(ctl *t) {
    seen_fates seen = {0};
    agent_follower *op = follower(t, &seen, 0);
    if (!op) return;
    ember_status st = agent_follower_operate(op, AGENT_OP_CANCEL, "no-such-plan", 5000, NULL);
    CHECK(st == EM_ERR_NOT_FOUND && strstr(agent_follower_errmsg(op), "no-such-plan") &&
              strstr(agent_follower_errmsg(op), "unknown_plan"),
          "cancel of an unknown plan: %d %s", st, agent_follower_errmsg(op));
    agent_follower_free(op);

    agent_follower *f = follower(t, &seen, 1);
    if (!f) return;
    rio_step steps[1] = {wave("k1", 0, 10)};
    agent_follow_result res;
    st = agent_follower_run(f, "pk", steps, 1, 10000, &res);
    CHECK(st == EM_OK && res.n_done == 1, "pk: done %d", res.n_done);
    st = agent_follower_operate(f, AGENT_OP_CANCEL, res.instance_id, 5000, NULL);
    CHECK(st == EM_OK, "cancel of a known (finished) plan: %s", agent_follower_errmsg(f));
    st = agent_follower_operate(f, AGENT_OP_CANCEL, "pk", 5000, NULL);
    CHECK(st == EM_ERR_NOT_FOUND, "cancel by the plan's id, not its instance: %d %s", st, agent_follower_errmsg(f));
    agent_follower_free(f);
}

/* A failing step stops the plan: its fate is reported with the reason, the
 * rest are "aborted" and never handed out. */
static void test_failure_stops(ctl *t) {
    seen_fates seen = {0};
    agent_follower *f = follower(t, &seen, 1);
    if (!f) return;
    rio_step steps[3] = {wave("b1", 0, 10), failing("b2", 1), wave("b3", 2, 10)};
    int seen0 = atomic_load(&t->n_seen);
    agent_follow_result res;
    ember_status st = agent_follower_run(f, "pb", steps, 3, 10000, &res);
    CHECK(st == EM_OK && res.end == AGENT_FOLLOW_FINISHED, "end %d: %s", res.end, agent_follower_errmsg(f));
    CHECK(res.n_done == 1 && res.n_failed == 2, "done %d failed %d", res.n_done, res.n_failed);
    const char *reason = "";
    CHECK(last_fate(&seen, 0, NULL) == RIO_FB_DONE, "b1 done");
    CHECK(last_fate(&seen, 1, &reason) == RIO_FB_FAILED && !strcmp(reason, "precondition"), "b2 failed '%s'", reason);
    CHECK(last_fate(&seen, 2, &reason) == RIO_FB_FAILED && !strcmp(reason, "aborted"), "b3 aborted '%s'", reason);
    CHECK(atomic_load(&t->n_seen) - seen0 == 2, "controller got %d steps, expected b1 and b2",
          atomic_load(&t->n_seen) - seen0);
    agent_follower_free(f);
}

typedef struct estopper {
    ctl *t;
    int wait_for_running; /* estop once this step (index+1) is in motion */
    ember_status st;
    char err[EM_ERR_LEN];
} estopper;

/* An operator in its own thread: its own follower, one button. */
static void *estop_main(void *arg) {
    estopper *e = arg;
    for (int64_t t0 = rio_mono_ms(); atomic_load(&e->t->running) != e->wait_for_running;) {
        if (rio_mono_ms() - t0 > 10000) {
            e->st = em_err(e->err, EM_ERR_IO, "step %d never ran", e->wait_for_running);
            return NULL;
        }
        usleep(2000);
    }
    agent_follower *op = agent_follower_create(&e->t->cfg, NULL, 0, stderr, e->err);
    if (!op) {
        e->st = EM_ERR_IO;
        return NULL;
    }
    if (!(e->st = agent_follower_wait_ready(op, 5000)))
        e->st = agent_follower_operate(op, AGENT_OP_ESTOP, "test", 5000, NULL);
    if (e->st) snprintf(e->err, sizeof e->err, "%s", agent_follower_errmsg(op));
    agent_follower_free(op);
    return NULL;
}

static void operate(ctl *t, agent_operator_cmd cmd) {
    seen_fates seen = {0};
    agent_follower *op = follower(t, &seen, 0);
    if (!op) return;
    int64_t ms = -1;
    ember_status st = agent_follower_operate(op, cmd, NULL, 5000, &ms);
    CHECK(st == EM_OK && ms >= 0, "operate %d: %s", (int)cmd, agent_follower_errmsg(op));
    agent_follower_free(op);
}

/* A counter of the controller thread once it has moved past was, or was
 * after 2 s: the library acknowledges an estop or a cancel for the
 * controller, whose own thread hears of it at its next poll, which on a
 * loaded machine can come a little after the follower returned. */
static int settled_count(atomic_int *n, int was) {
    for (int i = 0; i < 200 && atomic_load(n) == was; i++) usleep(10000);
    return atomic_load(n);
}

/* Estop while the second step moves: it and the step after it fail
 * "estop", the third is never handed out; a new plan is refused until a
 * reset, and runs after it. */
static void test_estop(ctl *t) {
    seen_fates seen = {0};
    agent_follower *f = follower(t, &seen, 1);
    if (!f) return;
    rio_step steps[3] = {wave("c1", 0, 10), wave("c2", 1, 3000), wave("c3", 2, 10)};
    estopper e = {t, 2, EM_OK, ""};
    pthread_t th;
    pthread_create(&th, NULL, estop_main, &e);
    int seen0 = atomic_load(&t->n_seen), estops0 = atomic_load(&t->n_estops);
    agent_follow_result res;
    int64_t t0 = rio_mono_ms();
    ember_status st = agent_follower_run(f, "pc", steps, 3, 10000, &res);
    int64_t took = rio_mono_ms() - t0;
    pthread_join(th, NULL);
    CHECK(e.st == EM_OK, "estop: %s", e.err);
    CHECK(st == EM_OK && res.end == AGENT_FOLLOW_FINISHED, "end %d: %s", res.end, agent_follower_errmsg(f));
    CHECK(took < 2500, "the plan ended %lld ms after it began: the 3 s step was not halted", (long long)took);
    CHECK(res.n_done == 1 && res.n_failed == 2, "done %d failed %d", res.n_done, res.n_failed);
    const char *reason = "";
    CHECK(last_fate(&seen, 1, &reason) == RIO_FB_FAILED && !strcmp(reason, "estop"), "c2 failed '%s'", reason);
    CHECK(last_fate(&seen, 2, &reason) == RIO_FB_FAILED && !strcmp(reason, "estop"), "c3 failed '%s'", reason);
    CHECK(atomic_load(&t->n_seen) - seen0 == 2, "controller got %d steps", atomic_load(&t->n_seen) - seen0);
    CHECK(settled_count(&t->n_estops, estops0) == estops0 + 1, "controller saw %d estops", atomic_load(&t->n_estops) - estops0);

    /* refused while the estop is on */
    rio_step again[1] = {wave("d1", 0, 10)};
    memset(&seen, 0, sizeof seen);
    seen0 = atomic_load(&t->n_seen);
    st = agent_follower_run(f, "pd", again, 1, 10000, &res);
    CHECK(st == EM_OK && res.n_failed == 1 && last_fate(&seen, 0, &reason) == RIO_FB_FAILED && !strcmp(reason, "estop"),
          "during estop: failed %d reason '%s'", res.n_failed, reason);
    CHECK(atomic_load(&t->n_seen) == seen0, "a step was handed out during the estop");

    operate(t, AGENT_OP_RESET);
    rio_step after[1] = {wave("e1", 0, 10)};
    st = agent_follower_run(f, "pe", after, 1, 10000, &res);
    CHECK(st == EM_OK && res.n_done == 1, "after reset: done %d (%s)", res.n_done, agent_follower_errmsg(f));
    /* the plan refused during the estop, sent again after the reset: it runs
     * (it used to be answered "estop is on" from memory) */
    memset(&seen, 0, sizeof seen);
    seen0 = atomic_load(&t->n_seen);
    st = agent_follower_run(f, "pd", again, 1, 10000, &res);
    CHECK(st == EM_OK && res.n_done == 1 && res.n_replayed == 0, "pd after reset: done %d failed %d (%s)", res.n_done,
          res.n_failed, agent_follower_errmsg(f));
    CHECK(atomic_load(&t->n_seen) - seen0 == 1, "pd after reset: handed out %d", atomic_load(&t->n_seen) - seen0);
    agent_follower_free(f);
}

/* The stop hook (Ctrl-C in `ember act`) cancels the plan on the controller. */
static void test_stop_cancels(ctl *t) {
    seen_fates seen = {0};
    seen.stop_after_running = 1;
    agent_follower *f = follower(t, &seen, 1);
    if (!f) return;
    rio_step steps[2] = {wave("f1", 0, 3000), wave("f2", 1, 10)};
    int cancels0 = atomic_load(&t->n_cancels), seen0 = atomic_load(&t->n_seen);
    agent_follow_result res;
    ember_status st = agent_follower_run(f, "pf", steps, 2, 10000, &res);
    CHECK(st == EM_OK && res.end == AGENT_FOLLOW_STOPPED, "end %d", res.end);
    CHECK(settled_count(&t->n_cancels, cancels0) == cancels0 + 1, "controller saw %d cancels", atomic_load(&t->n_cancels) - cancels0);
    CHECK(atomic_load(&t->n_seen) - seen0 == 1, "controller got %d steps", atomic_load(&t->n_seen) - seen0);
    agent_follower_free(f);
}

/* Steps the controller does not offer, or with arguments it would refuse. */
static void test_check(ctl *t) {
    seen_fates seen = {0};
    agent_follower *f = follower(t, &seen, 0);
    if (!f) return;
    char err[EM_ERR_LEN] = "";
    rio_step ok[2] = {wave("g1", 0, 10), failing("g2", 1)};
    CHECK(agent_follower_check(f, ok, 2, err) == -1, "offered steps refused: %s", err);
    rio_step bad[3] = {wave("h1", 0, 10), wave("h2", 1, 99999), wave("h3", 2, 1)};
    CHECK(agent_follower_check(f, bad, 3, err) == 1 && strstr(err, "outside"), "out of range: %s", err);
    strcpy(bad[1].skill, "juggle");
    bad[1].args[0].num = 1;
    CHECK(agent_follower_check(f, bad, 3, err) == 1 && strstr(err, "not offered"), "unknown skill: %s", err);
    const rio_msg *hello = agent_follower_hello(f);
    CHECK(hello && hello->u.hello.n_skills == 2, "hello with 2 skills");
    agent_follower_free(f);
}

int main(void) {
    char dir[] = "/tmp/ember-plan-follow-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    ctl *t = calloc(1, sizeof *t);
    if (!t) return 1;
    rio_config_defaults(&t->cfg);
    snprintf(t->cfg.endpoint, sizeof t->cfg.endpoint, "ipc://%s/ctl", dir);
    strcpy(t->cfg.name, "test");
    pthread_t th;
    pthread_create(&th, NULL, ctl_main, t);
    while (!atomic_load(&t->ready)) usleep(1000);
    CHECK(atomic_load(&t->ready) == 1, "controller: %s", t->err);
    if (atomic_load(&t->ready) == 1) {
        test_in_order(t);
        test_failure_stops(t);
        test_estop(t);
        test_stop_cancels(t);
        test_check(t);
        test_cancel_unknown(t);
    }
    atomic_store(&t->quit, 1);
    pthread_join(th, NULL);
    free(t);
    /* libzmq removes its ipc files on close; whatever is left is removed here */
    static const char *const names[] = {"ctl", "ctl.state", "ctl.frames"};
    for (int i = 0; i < 3; i++) {
        char path[sizeof dir + 16];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (rmdir(dir) != 0) perror(dir);
    return CHECK_DONE();
}
