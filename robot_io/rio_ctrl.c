/* rio_ctrl.c - the controller side of the robot link (see rio_ctrl.h).
 *
 * Every step this controller has heard of is a step_rec, keyed by (plan
 * id, step id): that table is what makes "at most once" hold, since a step
 * seen again only ever gets its current fate sent back. Steps are handed to
 * the vendor one at a time: the lowest index of the oldest plan whose
 * predecessor (index - 1) is done, or which is the first index of its plan.
 * Events for the vendor go through a small queue; an estop is put at its
 * front. */
#include "robot_io/rio_ctrl.h"

#include <stdlib.h>
#include <string.h>

#include "robot_io/rio_link.h"

#define RIO_CTRL_TAG 0xc0a7c7a1u
#define MAX_AGENTS 16
#define QUEUE_LEN 64
#define MAX_STEP_RECS 65536 /* steps remembered for at-most-once; far beyond a session's plans */

typedef struct step_rec {
    char plan_id[RIO_ID_LEN];
    rio_step st;
    rio_fb_status status;
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
    uint64_t fate_us; /* when status was reached (wall clock, µs), 0 = unknown (restored) */
    int started; /* handed out before (now, or before a restart) */
    int plan;    /* index into plans */
} step_rec;

typedef struct plan_rec {
    char id[RIO_ID_LEN];
    int base;   /* first index: lowest index known when the plan was first heard of */
    int closed; /* a step failed, was cancelled or estopped: the rest is aborted */
    rio_route owner; /* the agent that sent it last: its feedback goes there */
} plan_rec;

typedef struct agent_rec {
    rio_route route;
    char session[RIO_ID_LEN], name[RIO_NAME_LEN], role[RIO_NAME_LEN];
    int64_t last_heard;
    int alive;
} agent_rec;

struct rio_ctrl {
    uint32_t tag;
    rio_link link;
    void *cmd, *pub_state, *pub_frame;
    rio_msg hello; /* what we offer (our own copy) */
    rio_ctrl_hooks hooks;

    step_rec *steps;
    int n_steps, cap_steps;
    plan_rec *plans;
    int n_plans, cap_plans;
    int current; /* step handed out and not finished, or -1 */
    int estop;
    int restored; /* rio_ctrl_restore ran: settle restored closed plans at the first dispatch */

    agent_rec agents[MAX_AGENTS];
    int n_agents;
    int commander; /* the agent feedback goes to, or -1 */
    int64_t next_heartbeat;

    rio_event queue[QUEUE_LEN];
    int q_head, q_len;
    rio_msg last_hello; /* the agent hello behind a RIO_EV_AGENT_JOINED */
    rio_msg last_estop; /* the estop behind a RIO_EV_ESTOP (its ts: when it was sent) */
};

/* ---- small helpers ------------------------------------------------------ */

static rio_event *queue_push(rio_ctrl *c, int front) {
    if (c->q_len == QUEUE_LEN) { /* full: the vendor is not polling; drop the oldest non-estop */
        rio_link_log(&c->link, "event queue full; dropping the oldest event");
        c->q_head = (c->q_head + 1) % QUEUE_LEN;
        c->q_len--;
    }
    int slot;
    if (front) {
        c->q_head = (c->q_head + QUEUE_LEN - 1) % QUEUE_LEN;
        slot = c->q_head;
    } else {
        slot = (c->q_head + c->q_len) % QUEUE_LEN;
    }
    c->q_len++;
    memset(&c->queue[slot], 0, sizeof c->queue[slot]);
    return &c->queue[slot];
}

static agent_rec *commander(rio_ctrl *c) { return c->commander >= 0 ? &c->agents[c->commander] : NULL; }

static int find_step(const rio_ctrl *c, const char *plan_id, const char *step_id) {
    for (int i = c->n_steps - 1; i >= 0; i--)
        if (!strcmp(c->steps[i].st.step_id, step_id) && !strcmp(c->steps[i].plan_id, plan_id)) return i;
    return -1;
}

static int find_plan(rio_ctrl *c, const char *plan_id, int create, int base) {
    for (int i = 0; i < c->n_plans; i++)
        if (!strcmp(c->plans[i].id, plan_id)) {
            if (create && base < c->plans[i].base) c->plans[i].base = base;
            return i;
        }
    if (!create) return -1;
    if (c->n_plans == c->cap_plans) {
        int cap = c->cap_plans ? 2 * c->cap_plans : 8;
        plan_rec *p = realloc(c->plans, (size_t)cap * sizeof *p);
        if (!p) return -1;
        c->plans = p;
        c->cap_plans = cap;
    }
    plan_rec *p = &c->plans[c->n_plans];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", plan_id);
    p->base = base;
    return c->n_plans++;
}

/* The table is full: forget the oldest half of the finished steps (their
 * plans long done; a resend of one so old is no longer expected). Steps not
 * finished are never forgotten. */
static void forget_old_steps(rio_ctrl *c) {
    int keep = 0, forgot = 0, cur = c->current;
    for (int i = 0; i < c->n_steps; i++) {
        if (forgot < MAX_STEP_RECS / 2 && c->steps[i].status >= RIO_FB_DONE && i != c->current) {
            forgot++;
            continue;
        }
        if (i == cur) c->current = keep;
        c->steps[keep++] = c->steps[i];
    }
    c->n_steps = keep;
    rio_link_log(&c->link, "forgot %d finished steps (the oldest) to stay within %d remembered", forgot,
                 MAX_STEP_RECS);
}

static step_rec *add_step(rio_ctrl *c, const char *plan_id, const rio_step *st, int base) {
    if (c->n_steps >= MAX_STEP_RECS) forget_old_steps(c);
    if (c->n_steps >= MAX_STEP_RECS) {
        em_err(c->link.errmsg, EM_ERR_RANGE, "rio_ctrl: %d steps open at once", c->n_steps);
        return NULL;
    }
    int plan = find_plan(c, plan_id, 1, base);
    if (plan < 0) return NULL;
    if (c->n_steps == c->cap_steps) {
        int cap = c->cap_steps ? 2 * c->cap_steps : 32;
        step_rec *s = realloc(c->steps, (size_t)cap * sizeof *s);
        if (!s) return NULL;
        c->steps = s;
        c->cap_steps = cap;
    }
    step_rec *r = &c->steps[c->n_steps++];
    memset(r, 0, sizeof *r);
    snprintf(r->plan_id, sizeof r->plan_id, "%s", plan_id);
    r->st = *st;
    r->plan = plan;
    return r;
}

/* Encode a message as received (its own stamps) onto the event topic, for monitors. */
static void publish_copy(rio_ctrl *c, const rio_msg *m) {
    char *json = NULL;
    size_t len = 0;
    char err[EM_ERR_LEN];
    if (rio_msg_encode(m, &json, &len, err)) return;
    if (zmq_send(c->pub_state, "event", 5, ZMQ_SNDMORE | ZMQ_DONTWAIT) == 5)
        zmq_send(c->pub_state, json, len, ZMQ_DONTWAIT);
    free(json);
}

/* Send a step's current fate to the commanding agent (reliably) and a copy
 * to monitors. A newer fate replaces an unacknowledged older one.
 * replayed: the fate comes from memory (the step arrived again), marked so
 * with the time it was reached, so that an agent never reports an old
 * "done" as something that just happened. */
static void send_fate(rio_ctrl *c, const step_rec *r, int replayed) {
    rio_link_forget(&c->link, RIO_MSG_FEEDBACK, r->plan_id, r->st.step_id);
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_FEEDBACK);
    snprintf(m.plan_id, sizeof m.plan_id, "%s", r->plan_id);
    snprintf(m.step_id, sizeof m.step_id, "%s", r->st.step_id);
    m.u.feedback.status = r->status;
    m.u.feedback.replayed = replayed;
    m.u.feedback.fate_ts_us = replayed ? r->fate_us : 0;
    if (r->status == RIO_FB_FAILED) {
        snprintf(m.u.feedback.reason, sizeof m.u.feedback.reason, "%s", r->reason[0] ? r->reason : RIO_REASON_INTERNAL);
        snprintf(m.u.feedback.text, sizeof m.u.feedback.text, "%s", r->text);
    }
    /* to the agent that owns the plan (another agent may have sent an
     * estop meanwhile), else to whoever commands */
    const rio_route *to = c->plans[r->plan].owner.len ? &c->plans[r->plan].owner : NULL;
    agent_rec *a = commander(c);
    if (!to && a) to = &a->route;
    if (rio_link_send(&c->link, to ? c->cmd : NULL, to, NULL, &m, NULL, 0, 1))
        rio_link_log(&c->link, "feedback for %s/%s not queued: %s", r->plan_id, r->st.step_id, c->link.errmsg);
    publish_copy(c, &m);
    rio_msg_clear(&m);
}

static void set_fate(rio_ctrl *c, step_rec *r, rio_fb_status status, const char *reason, const char *text) {
    r->status = status;
    snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
    snprintf(r->text, sizeof r->text, "%s", text ? text : "");
    r->fate_us = rio_now_us();
    send_fate(c, r, 0);
}

/* The library settles a step itself (refused, aborted, cancelled, estop). */
static void settle(rio_ctrl *c, step_rec *r, const char *reason, const char *text) {
    set_fate(c, r, RIO_FB_FAILED, reason, text);
    if (c->hooks.settled) c->hooks.settled(c->hooks.user, r->plan_id, &r->st, reason, text);
}

/* A step of plan p failed, or was cancelled/estopped: close the plan, and
 * fail every step of it not yet finished (index >= from). */
static void close_plan(rio_ctrl *c, int plan, int from, const char *reason, const char *text) {
    c->plans[plan].closed = 1;
    for (int i = 0; i < c->n_steps; i++) {
        step_rec *r = &c->steps[i];
        if (r->plan != plan || r->st.index < from || r->status >= RIO_FB_DONE) continue;
        if (i == c->current) c->current = -1;
        settle(c, r, reason, text);
    }
}

/* ---- incoming commands -------------------------------------------------- */

static void on_step(rio_ctrl *c, const char *plan_id, const rio_step *st, int base) {
    int i = find_step(c, plan_id, st->step_id);
    if (i >= 0) { /* seen before: never run again, just say where it stood (from memory) */
        send_fate(c, &c->steps[i], 1);
        return;
    }
    step_rec *r = add_step(c, plan_id, st, base);
    if (!r) {
        rio_link_log(&c->link, "step %s/%s dropped: %s", plan_id, st->step_id, "out of memory or too many steps");
        return;
    }
    plan_rec *p = &c->plans[r->plan];
    char reason[RIO_NAME_LEN] = "", err[EM_ERR_LEN] = "";
    for (int k = 0; k < c->n_steps - 1; k++)
        if (c->steps[k].plan == r->plan && c->steps[k].st.index == st->index) {
            snprintf(err, sizeof err, "index %d of plan %s is already step %s", st->index, plan_id,
                     c->steps[k].st.step_id);
            settle(c, r, RIO_REASON_BAD_ARGS, err);
            c->link.stats.refused++;
            return;
        }
    if (c->estop) {
        c->link.stats.refused++;
        settle(c, r, RIO_REASON_ESTOP, "estop is on: steps are refused until a reset");
        return;
    }
    if (p->closed) {
        settle(c, r, RIO_REASON_ABORTED, "an earlier step of this plan failed or was cancelled");
        return;
    }
    if (rio_step_check(c->hello.u.hello.skills, c->hello.u.hello.n_skills, st, reason, err)) {
        c->link.stats.refused++;
        rio_link_log(&c->link, "step %s/%s refused: %s", plan_id, st->step_id, err);
        settle(c, r, reason, err);
        close_plan(c, r->plan, st->index, RIO_REASON_ABORTED, "an earlier step of this plan failed");
        return;
    }
    if (c->hooks.accept && c->hooks.accept(c->hooks.user, plan_id, st, err) != 0) {
        rio_link_log(&c->link, "step %s/%s not accepted: %s", plan_id, st->step_id, err);
        set_fate(c, r, RIO_FB_FAILED, RIO_REASON_INTERNAL, err);
        close_plan(c, r->plan, st->index, RIO_REASON_ABORTED, "an earlier step of this plan failed");
        return;
    }
    set_fate(c, r, RIO_FB_ACCEPTED, NULL, NULL);
}

/* A cancel names a plan (and step) this controller has heard of? If not,
 * the reason for the ack says so: the operator must learn that nothing was
 * cancelled (a typo, or an instance id of another run), not "acknowledged". */
static int cancel_unknown(rio_ctrl *c, const rio_msg *m, char *text) {
    if (find_plan(c, m->plan_id, 0, 0) < 0) {
        snprintf(text, RIO_TEXT_LEN, "no plan %.63s has been sent to this controller (since its memory began)",
                 m->plan_id);
        return 1;
    }
    if (m->step_id[0] && find_step(c, m->plan_id, m->step_id) < 0) {
        snprintf(text, RIO_TEXT_LEN, "plan %.63s has no step %.63s here", m->plan_id, m->step_id);
        return 1;
    }
    return 0;
}

static void on_cancel(rio_ctrl *c, const rio_msg *m) {
    int plan = find_plan(c, m->plan_id, 0, 0);
    if (plan < 0) return; /* answered by cancel_unknown */
    int from = 0;
    if (m->step_id[0]) {
        int i = find_step(c, m->plan_id, m->step_id);
        if (i < 0) return;
        from = c->steps[i].st.index;
    }
    if (c->current >= 0 && c->steps[c->current].plan == plan && c->steps[c->current].st.index >= from) {
        rio_event *ev = queue_push(c, 1);
        ev->type = RIO_EV_CANCEL;
        snprintf(ev->plan_id, sizeof ev->plan_id, "%s", m->plan_id);
        ev->step = c->steps[c->current].st;
    }
    close_plan(c, plan, from, RIO_REASON_CANCELLED, "cancelled by the agent");
}

static void on_estop(rio_ctrl *c, const rio_msg *m) {
    rio_event *ev = queue_push(c, 1); /* before anything else queued */
    ev->type = RIO_EV_ESTOP;
    rio_msg_clear(&c->last_estop);
    if (rio_msg_copy(&c->last_estop, m, c->link.errmsg) == EM_OK) ev->msg = &c->last_estop;
    if (c->current >= 0) {
        snprintf(ev->plan_id, sizeof ev->plan_id, "%s", c->steps[c->current].plan_id);
        ev->step = c->steps[c->current].st;
    }
    c->estop = 1;
    char text[RIO_TEXT_LEN];
    snprintf(text, sizeof text, "halted by estop%s%.200s", m->u.estop.reason[0] ? ": " : "", m->u.estop.reason);
    for (int p = 0; p < c->n_plans; p++) {
        int open = 0;
        for (int i = 0; i < c->n_steps; i++)
            if (c->steps[i].plan == p && c->steps[i].status < RIO_FB_DONE) open = 1;
        if (open) close_plan(c, p, 0, RIO_REASON_ESTOP, text);
    }
    c->current = -1;
}

static int find_agent(rio_ctrl *c, const rio_route *route) {
    for (int i = 0; i < c->n_agents; i++)
        if (c->agents[i].route.len == route->len && !memcmp(c->agents[i].route.id, route->id, route->len)) return i;
    return -1;
}

static int touch_agent(rio_ctrl *c, const rio_route *route, const rio_msg *m) {
    int i = find_agent(c, route);
    int64_t now = rio_mono_ms();
    if (i < 0) {
        if (c->n_agents == MAX_AGENTS) { /* forget the one heard from longest ago */
            int old = 0;
            for (int k = 1; k < c->n_agents; k++)
                if (c->agents[k].last_heard < c->agents[old].last_heard) old = k;
            if (c->commander == old) c->commander = -1;
            c->agents[old] = c->agents[--c->n_agents];
            if (c->commander == c->n_agents) c->commander = old;
        }
        i = c->n_agents++;
        memset(&c->agents[i], 0, sizeof c->agents[i]);
        c->agents[i].route = *route;
        c->agents[i].alive = 1;
        snprintf(c->agents[i].role, sizeof c->agents[i].role, "agent");
    } else if (!c->agents[i].alive) {
        c->agents[i].alive = 1;
        if (i == c->commander) {
            rio_event *ev = queue_push(c, 0);
            ev->type = RIO_EV_PEER_BACK;
            ev->restarted = strcmp(c->agents[i].session, m->session) != 0;
            rio_link_log(&c->link, "agent %s is back", m->from);
        }
    }
    agent_rec *a = &c->agents[i];
    snprintf(a->session, sizeof a->session, "%s", m->session);
    snprintf(a->name, sizeof a->name, "%s", m->from);
    a->last_heard = now;
    return i;
}

static void send_hello(rio_ctrl *c, const rio_route *route) {
    if (rio_link_send(&c->link, c->cmd, route, NULL, &c->hello, NULL, 0, 1))
        rio_link_log(&c->link, "hello not sent: %s", c->link.errmsg);
}

static void on_message(rio_ctrl *c, const rio_route *route, rio_msg *m) {
    int ai = touch_agent(c, route, m);
    agent_rec *a = &c->agents[ai];
    switch (m->type) {
    case RIO_MSG_ACK:
        rio_link_acked(&c->link, m->u.ack.session, m->u.ack.seq);
        return;
    case RIO_MSG_HELLO: {
        snprintf(a->role, sizeof a->role, "%s", m->u.hello.role);
        send_hello(c, route);
        if (!strcmp(a->role, "agent")) {
            int changed = c->commander != ai;
            c->commander = ai;
            if (changed) rio_link_resend_all_now(&c->link); /* pending fates go to the new agent */
        }
        rio_msg_clear(&c->last_hello);
        if (rio_msg_copy(&c->last_hello, m, c->link.errmsg) == EM_OK) {
            rio_event *ev = queue_push(c, 0);
            ev->type = RIO_EV_AGENT_JOINED;
            ev->msg = &c->last_hello;
        }
        return;
    }
    case RIO_MSG_HEARTBEAT:
        if (!a->role[0] || !a->session[0]) send_hello(c, route);
        return;
    case RIO_MSG_PLAN: case RIO_MSG_STEP: case RIO_MSG_CANCEL: case RIO_MSG_ESTOP: case RIO_MSG_RESET:
        break;
    default:
        c->link.stats.refused++;
        rio_link_log(&c->link, "refused a %s from %s: not a command a controller takes", rio_msg_type_name(m->type),
                     m->from);
        return;
    }
    if (!strcmp(a->role, "monitor")) {
        rio_link_ack(&c->link, c->cmd, route, m);
        c->link.stats.refused++;
        rio_link_log(&c->link, "refused a %s from monitor %s: monitors cannot command", rio_msg_type_name(m->type),
                     m->from);
        return;
    }
    if (c->commander != ai) {
        c->commander = ai;
        rio_link_resend_all_now(&c->link);
    }
    if (m->type == RIO_MSG_PLAN || m->type == RIO_MSG_STEP || m->type == RIO_MSG_CANCEL) {
        /* a plan first heard of through a lone step starts at index 0 (a
         * later index waits for its predecessors); through a plan message,
         * at its lowest index (an agent resending only unfinished steps) */
        int base = 0;
        if (m->type == RIO_MSG_PLAN) {
            base = 1 << 30;
            for (int k = 0; k < m->u.plan.n_steps; k++)
                if (m->u.plan.steps[k].index < base) base = m->u.plan.steps[k].index;
        }
        int p = find_plan(c, m->plan_id, 0, 0);
        if (p < 0 && m->type != RIO_MSG_CANCEL) p = find_plan(c, m->plan_id, 1, base);
        if (p >= 0 && (c->plans[p].owner.len != route->len || memcmp(c->plans[p].owner.id, route->id, route->len))) {
            c->plans[p].owner = *route;
            rio_link_reroute(&c->link, m->plan_id, route);
        }
    }
    char why[RIO_TEXT_LEN];
    if (m->type == RIO_MSG_CANCEL && cancel_unknown(c, m, why)) {
        /* acked with a reason instead of rio_link_ack's plain ack; a resend
         * is answered the same way (nothing to do twice), so the duplicate
         * window is not needed here */
        rio_msg ack;
        rio_msg_init(&ack, RIO_MSG_ACK);
        snprintf(ack.u.ack.session, sizeof ack.u.ack.session, "%s", m->session);
        ack.u.ack.seq = m->seq;
        snprintf(ack.u.ack.reason, sizeof ack.u.ack.reason, "%s", RIO_REASON_UNKNOWN_PLAN);
        snprintf(ack.u.ack.text, sizeof ack.u.ack.text, "%s", why);
        rio_link_send(&c->link, c->cmd, route, NULL, &ack, NULL, 0, 1);
        rio_msg_clear(&ack);
        c->link.stats.refused++;
        rio_link_log(&c->link, "cancel from %s refused: %s", m->from, why);
        return;
    }
    if (rio_link_ack(&c->link, c->cmd, route, m)) return; /* a duplicate: acked again, nothing more */
    publish_copy(c, m);
    switch (m->type) {
    case RIO_MSG_PLAN: {
        int base = 1 << 30;
        for (int k = 0; k < m->u.plan.n_steps; k++)
            if (m->u.plan.steps[k].index < base) base = m->u.plan.steps[k].index;
        for (int k = 0; k < m->u.plan.n_steps; k++) on_step(c, m->plan_id, &m->u.plan.steps[k], base);
        break;
    }
    case RIO_MSG_STEP:
        on_step(c, m->plan_id, &m->u.step, 1 << 30); /* the plan exists: keep its base */
        break;
    case RIO_MSG_CANCEL: on_cancel(c, m); break;
    case RIO_MSG_ESTOP: on_estop(c, m); break;
    case RIO_MSG_RESET:
        if (c->estop) {
            c->estop = 0;
            rio_event *ev = queue_push(c, 0);
            ev->type = RIO_EV_RESET;
        }
        break;
    default: break;
    }
}

/* ---- timers: heartbeats, lost agents, resends, handing out steps ------- */

static void dispatch(rio_ctrl *c) {
    if (c->current >= 0 || c->estop) return;
    if (c->restored) {
        /* plans restored with a failed step: settle their other open steps
         * (live, close_plan does this as the step fails) */
        c->restored = 0;
        for (int i = 0; i < c->n_steps; i++)
            if (c->plans[c->steps[i].plan].closed && c->steps[i].status < RIO_FB_DONE)
                settle(c, &c->steps[i], RIO_REASON_ABORTED, "an earlier step of this plan failed");
    }
    for (int p = 0; p < c->n_plans; p++) {
        if (c->plans[p].closed) continue;
        int best = -1;
        for (int i = 0; i < c->n_steps; i++) {
            step_rec *r = &c->steps[i];
            if (r->plan != p || r->status >= RIO_FB_DONE) continue;
            if (best < 0 || r->st.index < c->steps[best].st.index) best = i;
        }
        if (best < 0) continue;
        step_rec *r = &c->steps[best];
        int ready = r->st.index <= c->plans[p].base;
        if (!ready) {
            int prev = -1;
            for (int i = 0; i < c->n_steps; i++)
                if (c->steps[i].plan == p && c->steps[i].st.index == r->st.index - 1) prev = i;
            ready = prev >= 0 && c->steps[prev].status == RIO_FB_DONE;
        }
        if (!ready) continue; /* its predecessor has not arrived yet */
        c->current = best;
        rio_event *ev = queue_push(c, 0);
        ev->type = RIO_EV_STEP;
        snprintf(ev->plan_id, sizeof ev->plan_id, "%s", r->plan_id);
        ev->step = r->st;
        ev->resumed = r->started;
        r->started = 1;
        return;
    }
}

static int timers(rio_ctrl *c) {
    int64_t now = rio_mono_ms();
    if (now >= c->next_heartbeat) {
        c->next_heartbeat = now + c->link.cfg.heartbeat_ms;
        rio_msg hb;
        rio_msg_init(&hb, RIO_MSG_HEARTBEAT);
        for (int i = 0; i < c->n_agents; i++)
            if (c->agents[i].alive) rio_link_send(&c->link, c->cmd, &c->agents[i].route, NULL, &hb, NULL, 0, 1);
        /* on the telemetry sockets too: subscribers know the link is up
         * (and past the slow-joiner window) even when nothing else flows */
        rio_link_send(&c->link, c->pub_state, NULL, "heartbeat", &hb, NULL, 0, 0);
        rio_link_send(&c->link, c->pub_frame, NULL, "heartbeat", &hb, NULL, 0, 0);
        rio_msg_clear(&hb);
        for (int i = 0; i < c->n_agents; i++) {
            agent_rec *a = &c->agents[i];
            if (!a->alive || now - a->last_heard <= c->link.cfg.peer_timeout_ms) continue;
            a->alive = 0;
            rio_link_log(&c->link, "agent %s (%s) lost: silent for %lld ms", a->name, a->role,
                         (long long)(now - a->last_heard));
            if (i == c->commander) {
                c->link.stats.peer_lost++;
                rio_event *ev = queue_push(c, 0);
                ev->type = RIO_EV_PEER_LOST;
            }
        }
    }
    agent_rec *a = commander(c);
    int next = rio_link_resend(&c->link, a ? c->cmd : NULL, a ? &a->route : NULL);
    int hb = (int)(c->next_heartbeat - now);
    dispatch(c);
    return next < hb ? next : hb;
}

/* ---- public API --------------------------------------------------------- */

rio_ctrl *rio_ctrl_create(const rio_config *cfg_in, const rio_hello *hello, const rio_ctrl_hooks *hooks, char *err) {
    rio_config cfg = *cfg_in;
    if (rio_config_finish(&cfg, err)) return NULL;
    if (cfg.curve && !cfg.n_allowed) {
        /* rio_config's terms; cli_rio_advice matches "no agent key is allowed" */
        em_err(err, EM_ERR_ARG, "rio_ctrl_create: CurveZMQ is on but no agent key is allowed (n_allowed is 0), "
               "so every agent would be refused");
        return NULL;
    }
    rio_ctrl *c = calloc(1, sizeof *c);
    if (!c) { em_err(err, EM_ERR_NOMEM, "rio_ctrl_create: out of memory"); return NULL; }
    c->tag = RIO_CTRL_TAG;
    c->current = -1;
    c->commander = -1;
    if (hooks) c->hooks = *hooks;
    if (rio_link_init(&c->link, &cfg, c->hooks.log, c->hooks.quiet, 1, err)) goto fail;
    rio_msg tmp;
    rio_msg_init(&tmp, RIO_MSG_HELLO);
    tmp.u.hello = *hello; /* shallow: skills copied by rio_msg_copy below */
    snprintf(tmp.u.hello.role, sizeof tmp.u.hello.role, "controller");
    ember_status st = rio_msg_copy(&c->hello, &tmp, err);
    if (st) goto fail;
    int role = cfg.curve ? 1 : 0;
    if (!(c->cmd = rio_link_socket(&c->link, ZMQ_ROUTER, cfg.endpoint, 1, 1000, role, 0, err))) goto fail;
    if (!(c->pub_state = rio_link_socket(&c->link, ZMQ_PUB, cfg.state_endpoint, 1, cfg.state_hwm, role, 0, err))) goto fail;
    if (!(c->pub_frame = rio_link_socket(&c->link, ZMQ_PUB, cfg.frame_endpoint, 1, cfg.frame_hwm, role, 1, err))) goto fail;
    return c;
fail:
    rio_ctrl_free(c);
    return NULL;
}

void rio_ctrl_free(rio_ctrl *c) {
    if (!c) return;
    if (c->cmd) zmq_close(c->cmd);
    if (c->pub_state) zmq_close(c->pub_state);
    if (c->pub_frame) zmq_close(c->pub_frame);
    rio_link_close(&c->link);
    rio_msg_clear(&c->hello);
    rio_msg_clear(&c->last_hello);
    rio_msg_clear(&c->last_estop);
    free(c->steps);
    free(c->plans);
    c->tag = 0xdeadbeef;
    free(c);
}

ember_status rio_ctrl_restore(rio_ctrl *c, const char *plan_id, const rio_step *st, rio_fb_status status,
                              const char *reason, const char *text, uint64_t fate_us) {
    if (find_step(c, plan_id, st->step_id) >= 0) return EM_OK;
    step_rec *r = add_step(c, plan_id, st, st->index);
    if (!r) return em_err(c->link.errmsg, EM_ERR_NOMEM, "rio_ctrl_restore: out of memory");
    r->status = status == RIO_FB_RUNNING ? RIO_FB_ACCEPTED : status;
    r->started = status == RIO_FB_RUNNING;
    snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
    snprintf(r->text, sizeof r->text, "%s", text ? text : "");
    r->fate_us = fate_us;
    if (status == RIO_FB_FAILED) c->plans[r->plan].closed = 1;
    c->restored = 1;
    return EM_OK;
}

void rio_ctrl_restore_estop(rio_ctrl *c, int on) { c->estop = on != 0; }

int rio_ctrl_poll(rio_ctrl *c, rio_event *ev, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : rio_mono_ms() + timeout_ms;
    rio_msg m;
    memset(&m, 0, sizeof m);
    for (;;) {
        int wait = timers(c);
        if (c->q_len) {
            *ev = c->queue[c->q_head];
            c->q_head = (c->q_head + 1) % QUEUE_LEN;
            c->q_len--;
            return 1;
        }
        int64_t now = rio_mono_ms();
        if (now >= deadline && timeout_ms >= 0) wait = 0;
        else if (deadline - now < wait) wait = (int)(deadline - now);
        zmq_pollitem_t items[2] = {{c->cmd, 0, ZMQ_POLLIN, 0}, {c->link.zap, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, c->link.zap ? 2 : 1, wait);
        if (rc < 0 && zmq_errno() != EINTR) {
            em_err(c->link.errmsg, EM_ERR_IO, "rio_ctrl_poll: zmq_poll: %s", zmq_strerror(zmq_errno()));
            return EM_ERR_IO;
        }
        if (c->link.zap) rio_link_zap_serve(&c->link);
        /* Drain what is waiting (bounded, so timers still run under a flood). */
        for (int k = 0; k < 1000; k++) {
            rio_route route;
            int r = rio_link_recv(&c->link, c->cmd, 1, 0, &route, &m);
            if (r == 0) break;
            if (r < 0) continue;
            on_message(c, &route, &m);
            rio_msg_clear(&m);
        }
        if (c->q_len) continue;
        if (rio_mono_ms() >= deadline) {
            timers(c);
            if (!c->q_len) return 0;
        }
    }
}

ember_status rio_ctrl_feedback(rio_ctrl *c, const char *step_id, rio_fb_status status, const char *reason,
                               const char *text) {
    if (c->current < 0 || strcmp(c->steps[c->current].st.step_id, step_id)) {
        /* e.g. a cancel or an estop finished it meanwhile: its fate is set */
        for (int i = 0; i < c->n_steps; i++)
            if (!strcmp(c->steps[i].st.step_id, step_id) && c->steps[i].status >= RIO_FB_DONE) return EM_OK;
        return em_err(c->link.errmsg, EM_ERR_ARG, "rio_ctrl_feedback: step %s is not the step handed out", step_id);
    }
    if (status == RIO_FB_ACCEPTED || status >= RIO_FB_COUNT)
        return em_err(c->link.errmsg, EM_ERR_ARG, "rio_ctrl_feedback: %s: report running, done or failed", step_id);
    step_rec *r = &c->steps[c->current];
    if (status == RIO_FB_FAILED && !(reason && reason[0]))
        return em_err(c->link.errmsg, EM_ERR_ARG, "rio_ctrl_feedback: %s: a failure needs a reason code", step_id);
    set_fate(c, r, status, reason, text);
    if (status >= RIO_FB_DONE) {
        c->current = -1;
        if (status == RIO_FB_FAILED)
            close_plan(c, r->plan, r->st.index + 1, RIO_REASON_ABORTED, "an earlier step of this plan failed");
    }
    return EM_OK;
}

ember_status rio_ctrl_publish_state(rio_ctrl *c, const rio_state *st) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_STATE);
    m.u.state = *st; /* borrowed; not cleared below */
    ember_status s = rio_link_send(&c->link, c->pub_state, NULL, "state", &m, NULL, 0, 0);
    return s;
}

ember_status rio_ctrl_publish_frame(rio_ctrl *c, const rio_frame *fr) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_FRAME);
    m.u.frame = *fr;
    return rio_link_send(&c->link, c->pub_frame, NULL, "frame", &m, fr->data, fr->size, 0);
}

int rio_ctrl_estopped(const rio_ctrl *c) { return c->estop; }
int rio_ctrl_agent_alive(const rio_ctrl *c) { return c->commander >= 0 && c->agents[c->commander].alive; }
const rio_stats *rio_ctrl_stats(const rio_ctrl *c) { return &c->link.stats; }
const char *rio_ctrl_errmsg(const rio_ctrl *c) { return c->link.errmsg; }
