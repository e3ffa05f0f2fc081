/* rio_agent.c - the agent side of the robot link (see rio_agent.h).
 *
 * The agent remembers every step it sent with the last status heard, which
 * is all it needs to hand each (step, status) out once, to drop stale
 * feedback, and, when the controller comes back as a new incarnation, to
 * send again exactly the steps whose fate it does not know. Events wait in
 * a queue of owned messages; frames wait in one slot per camera, so only
 * the newest is ever handed out. */
#include "robot_io/rio_agent.h"

#include <stdlib.h>
#include <string.h>

#include "robot_io/rio_link.h"

#define RIO_AGENT_TAG 0xa6e7a6e7u
#define QUEUE_LEN 64
#define MAX_CAMERAS 4

typedef struct sent_step {
    char plan_id[RIO_ID_LEN];
    rio_step st;
    int status; /* last heard, -1 = none */
} sent_step;

typedef struct frame_slot {
    int used;
    rio_msg msg;
    zmq_msg_t blob;
} frame_slot;

struct rio_agent {
    uint32_t tag;
    rio_link link;
    void *cmd, *sub_state, *sub_frame;
    int subscribe;
    char role[RIO_NAME_LEN];

    rio_msg hello;        /* the controller's */
    int have_hello;
    char peer_session[RIO_ID_LEN];
    int64_t last_heard;
    int peer_alive;
    int got_state, got_frame;
    int64_t next_heartbeat;

    sent_step *steps;
    int n_steps, cap_steps;

    /* The controller's answer to the last command sent (rio_agent_answer). */
    uint64_t last_cmd_seq;
    int last_answer; /* 0 none yet, 1 done as asked, -1 refused */
    char answer_reason[RIO_NAME_LEN], answer_text[RIO_TEXT_LEN];

    struct { rio_event ev; rio_msg msg; } queue[QUEUE_LEN];
    int q_head, q_len;
    frame_slot frames[MAX_CAMERAS];
    int frame_rr; /* which camera's slot goes out next */

    rio_msg cur;          /* the message behind the last event handed out */
    zmq_msg_t cur_blob;
};

static rio_event *queue_push(rio_agent *a, rio_event_type type, rio_msg *msg_moved) {
    if (a->q_len == QUEUE_LEN) { /* the caller is not polling: drop the oldest */
        int old = a->q_head;
        rio_msg_clear(&a->queue[old].msg);
        a->q_head = (a->q_head + 1) % QUEUE_LEN;
        a->q_len--;
        rio_link_log(&a->link, "event queue full; dropped the oldest event");
    }
    int slot = (a->q_head + a->q_len++) % QUEUE_LEN;
    memset(&a->queue[slot].ev, 0, sizeof a->queue[slot].ev);
    a->queue[slot].ev.type = type;
    if (msg_moved) {
        a->queue[slot].msg = *msg_moved; /* ownership moves into the queue */
        memset(msg_moved, 0, sizeof *msg_moved);
    } else {
        memset(&a->queue[slot].msg, 0, sizeof a->queue[slot].msg);
    }
    return &a->queue[slot].ev;
}

static sent_step *find_step(rio_agent *a, const char *plan_id, const char *step_id) {
    for (int i = a->n_steps - 1; i >= 0; i--)
        if (!strcmp(a->steps[i].st.step_id, step_id) && !strcmp(a->steps[i].plan_id, plan_id)) return &a->steps[i];
    return NULL;
}

static sent_step *remember(rio_agent *a, const char *plan_id, const rio_step *st) {
    sent_step *s = find_step(a, plan_id, st->step_id);
    if (s) return s;
    if (a->n_steps == a->cap_steps) {
        int cap = a->cap_steps ? 2 * a->cap_steps : 32;
        sent_step *p = realloc(a->steps, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        a->steps = p;
        a->cap_steps = cap;
    }
    s = &a->steps[a->n_steps++];
    memset(s, 0, sizeof *s);
    snprintf(s->plan_id, sizeof s->plan_id, "%s", plan_id);
    s->st = *st;
    s->status = -1;
    return s;
}

static void send_hello(rio_agent *a) {
    rio_msg h;
    rio_msg_init(&h, RIO_MSG_HELLO);
    snprintf(h.u.hello.role, sizeof h.u.hello.role, "%s", a->role);
    rio_link_send(&a->link, a->cmd, NULL, NULL, &h, NULL, 0, 1);
    rio_msg_clear(&h);
}

/* The controller is a new incarnation: send again every step whose fate we
 * do not know, one plan message per plan, lowest index first. Steps already
 * finished are not sent: a controller that lost its memory must not run
 * them twice. */
static void resend_open_steps(rio_agent *a) {
    for (int i = 0; i < a->n_steps; i++) {
        sent_step *s = &a->steps[i];
        if (s->status >= RIO_FB_DONE) continue;
        int first = 1;
        for (int k = 0; k < i; k++)
            if (!strcmp(a->steps[k].plan_id, s->plan_id) && a->steps[k].status < RIO_FB_DONE) first = 0;
        if (!first) continue;
        rio_link_forget(&a->link, RIO_MSG_PLAN, s->plan_id, NULL);
        rio_link_forget(&a->link, RIO_MSG_STEP, s->plan_id, NULL);
        rio_msg m;
        rio_msg_init(&m, RIO_MSG_PLAN);
        snprintf(m.plan_id, sizeof m.plan_id, "%s", s->plan_id);
        m.u.plan.steps = malloc(RIO_MAX_STEPS * sizeof *m.u.plan.steps);
        if (!m.u.plan.steps) continue;
        for (int k = i; k < a->n_steps; k++) {
            sent_step *t = &a->steps[k];
            if (strcmp(t->plan_id, s->plan_id) || t->status >= RIO_FB_DONE) continue;
            if (m.u.plan.n_steps == RIO_MAX_STEPS) { /* a long plan: flush and go on */
                rio_link_send(&a->link, a->cmd, NULL, NULL, &m, NULL, 0, 1);
                m.u.plan.n_steps = 0;
            }
            m.u.plan.steps[m.u.plan.n_steps++] = t->st;
        }
        if (m.u.plan.n_steps) rio_link_send(&a->link, a->cmd, NULL, NULL, &m, NULL, 0, 1);
        rio_msg_clear(&m);
    }
}

static void heard_from_controller(rio_agent *a, const rio_msg *m) {
    a->last_heard = rio_mono_ms();
    int restarted = a->peer_session[0] && strcmp(a->peer_session, m->session) != 0;
    if (!a->peer_alive || restarted) {
        if (a->peer_session[0]) {
            rio_event *ev = queue_push(a, RIO_EV_PEER_BACK, NULL);
            ev->restarted = restarted;
            rio_link_log(&a->link, "controller %s is back%s", m->from, restarted ? " (restarted)" : "");
        }
        a->peer_alive = 1;
    }
    snprintf(a->peer_session, sizeof a->peer_session, "%s", m->session);
    if (restarted) {
        resend_open_steps(a);
        rio_link_resend_all_now(&a->link);
    }
}

static void on_command_channel(rio_agent *a, rio_msg *m) {
    heard_from_controller(a, m);
    switch (m->type) {
    case RIO_MSG_ACK:
        rio_link_acked(&a->link, m->u.ack.session, m->u.ack.seq);
        if (a->last_cmd_seq && m->u.ack.seq == a->last_cmd_seq && !strcmp(m->u.ack.session, a->link.session)) {
            a->last_answer = m->u.ack.reason[0] ? -1 : 1;
            snprintf(a->answer_reason, sizeof a->answer_reason, "%s", m->u.ack.reason);
            snprintf(a->answer_text, sizeof a->answer_text, "%s", m->u.ack.text);
        }
        break;
    case RIO_MSG_HELLO:
        if (m->u.hello.refused[0]) rio_link_log(&a->link, "the controller refuses us: %s", m->u.hello.refused);
        rio_msg_clear(&a->hello);
        if (rio_msg_copy(&a->hello, m, a->link.errmsg) == EM_OK) {
            a->have_hello = 1;
            queue_push(a, RIO_EV_HELLO, m);
        }
        break;
    case RIO_MSG_FEEDBACK: {
        rio_link_ack(&a->link, a->cmd, NULL, m);
        sent_step *s = find_step(a, m->plan_id, m->step_id);
        if (!s) { /* a step of an earlier incarnation of us: remember its fate */
            rio_step st;
            memset(&st, 0, sizeof st);
            snprintf(st.step_id, sizeof st.step_id, "%s", m->step_id);
            if (!(s = remember(a, m->plan_id, &st))) break;
        }
        if ((int)m->u.feedback.status <= s->status) break; /* duplicate or stale */
        s->status = (int)m->u.feedback.status;
        queue_push(a, RIO_EV_FEEDBACK, m);
        break;
    }
    case RIO_MSG_HEARTBEAT:
        break;
    default:
        a->link.stats.refused++;
        rio_link_log(&a->link, "refused a %s from %s: not a message an agent takes", rio_msg_type_name(m->type),
                     m->from);
    }
}

static void on_frame(rio_agent *a, rio_msg *m) {
    int slot = -1, free_slot = -1;
    for (int i = 0; i < MAX_CAMERAS; i++) {
        if (a->frames[i].used && !strcmp(a->frames[i].msg.u.frame.camera, m->u.frame.camera)) slot = i;
        if (!a->frames[i].used && free_slot < 0) free_slot = i;
    }
    if (slot >= 0) {
        a->link.stats.frames_skipped++; /* replaced before anyone saw it */
        rio_msg_clear(&a->frames[slot].msg);
    } else if (free_slot >= 0) {
        slot = free_slot;
    } else {
        a->link.stats.frames_skipped++;
        rio_msg_clear(m);
        return;
    }
    frame_slot *f = &a->frames[slot];
    zmq_msg_close(&f->blob);
    zmq_msg_init(&f->blob);
    zmq_msg_move(&f->blob, &a->link.blob);
    a->link.blob_live = 0;
    f->msg = *m;
    memset(m, 0, sizeof *m);
    f->msg.u.frame.data = zmq_msg_data(&f->blob);
    f->used = 1;
}

static int timers(rio_agent *a) {
    int64_t now = rio_mono_ms();
    if (now >= a->next_heartbeat) {
        a->next_heartbeat = now + a->link.cfg.heartbeat_ms;
        if (!a->have_hello) {
            send_hello(a); /* until the controller answers */
        } else {
            rio_msg hb;
            rio_msg_init(&hb, RIO_MSG_HEARTBEAT);
            rio_link_send(&a->link, a->cmd, NULL, NULL, &hb, NULL, 0, 1);
            rio_msg_clear(&hb);
        }
        if (a->peer_alive && now - a->last_heard > a->link.cfg.peer_timeout_ms) {
            a->peer_alive = 0;
            a->link.stats.peer_lost++;
            queue_push(a, RIO_EV_PEER_LOST, NULL);
            rio_link_log(&a->link, "controller lost: silent for %lld ms", (long long)(now - a->last_heard));
        }
    }
    int next = rio_link_resend(&a->link, a->cmd, NULL);
    int hb = (int)(a->next_heartbeat - now);
    return next < hb ? next : hb;
}

/* Read what is waiting on the three sockets (bounded per call). */
static void drain(rio_agent *a) {
    rio_msg m;
    memset(&m, 0, sizeof m);
    for (int k = 0; k < 1000; k++) {
        int r = rio_link_recv(&a->link, a->cmd, 0, 0, NULL, &m);
        if (r == 0) break;
        if (r < 0) continue;
        on_command_channel(a, &m);
        rio_msg_clear(&m);
    }
    for (int k = 0; a->sub_state && k < 1000; k++) {
        int r = rio_link_recv(&a->link, a->sub_state, 0, 1, NULL, &m);
        if (r == 0) break;
        if (r < 0) continue;
        a->got_state = 1;
        if (m.type == RIO_MSG_STATE) queue_push(a, RIO_EV_STATE, &m);
        else if (m.type != RIO_MSG_HEARTBEAT) queue_push(a, RIO_EV_EVENT, &m);
        rio_msg_clear(&m);
    }
    for (int k = 0; a->sub_frame && k < 1000; k++) {
        int r = rio_link_recv(&a->link, a->sub_frame, 0, 1, NULL, &m);
        if (r == 0) break;
        if (r < 0) continue;
        a->got_frame = 1;
        if (m.type == RIO_MSG_FRAME) on_frame(a, &m);
        rio_msg_clear(&m);
    }
}

/* Hand out the next event: queued ones first, then the newest frames. */
static int pop(rio_agent *a, rio_event *ev) {
    rio_msg_clear(&a->cur);
    zmq_msg_close(&a->cur_blob);
    zmq_msg_init(&a->cur_blob);
    if (a->q_len) {
        int slot = a->q_head;
        a->q_head = (a->q_head + 1) % QUEUE_LEN;
        a->q_len--;
        *ev = a->queue[slot].ev;
        a->cur = a->queue[slot].msg;
        memset(&a->queue[slot].msg, 0, sizeof a->queue[slot].msg);
        ev->msg = a->cur.type ? &a->cur : NULL;
        if (a->cur.type) snprintf(ev->plan_id, sizeof ev->plan_id, "%s", a->cur.plan_id);
        return 1;
    }
    for (int k = 0; k < MAX_CAMERAS; k++) {
        frame_slot *f = &a->frames[(a->frame_rr + k) % MAX_CAMERAS];
        if (!f->used) continue;
        a->frame_rr = (a->frame_rr + k + 1) % MAX_CAMERAS;
        zmq_msg_move(&a->cur_blob, &f->blob);
        a->cur = f->msg;
        memset(&f->msg, 0, sizeof f->msg);
        a->cur.u.frame.data = zmq_msg_data(&a->cur_blob);
        f->used = 0;
        memset(ev, 0, sizeof *ev);
        ev->type = RIO_EV_FRAME;
        ev->msg = &a->cur;
        return 1;
    }
    return 0;
}

/* ---- public API --------------------------------------------------------- */

rio_agent *rio_agent_create(const rio_config *cfg_in, const char *role, int subscribe, FILE *log, char *err) {
    rio_config cfg = *cfg_in;
    if (rio_config_finish(&cfg, err)) return NULL;
    if (cfg.curve && !cfg.server_key[0]) {
        /* rio_config's terms; cli_rio_advice matches "controller's public key is not given" */
        em_err(err, EM_ERR_ARG, "rio_agent_create: CurveZMQ is on but the controller's public key is not given "
               "(server_key is empty), so the agent cannot tell the controller from an impostor");
        return NULL;
    }
    rio_agent *a = calloc(1, sizeof *a);
    if (!a) { em_err(err, EM_ERR_NOMEM, "rio_agent_create: out of memory"); return NULL; }
    a->tag = RIO_AGENT_TAG;
    a->subscribe = subscribe;
    zmq_msg_init(&a->cur_blob);
    for (int i = 0; i < MAX_CAMERAS; i++) zmq_msg_init(&a->frames[i].blob);
    snprintf(a->role, sizeof a->role, "%s", role ? role : "agent");
    if (rio_link_init(&a->link, &cfg, log, 0, 0, err)) goto fail;
    int curve = cfg.curve ? 2 : 0;
    if (!(a->cmd = rio_link_socket(&a->link, ZMQ_DEALER, cfg.endpoint, 0, 1000, curve, 0, err))) goto fail;
    if (subscribe & RIO_SUB_STATE) {
        if (!(a->sub_state = rio_link_socket(&a->link, ZMQ_SUB, cfg.state_endpoint, 0, cfg.state_hwm, curve, 0, err)))
            goto fail;
        zmq_setsockopt(a->sub_state, ZMQ_SUBSCRIBE, "state", 5);
        zmq_setsockopt(a->sub_state, ZMQ_SUBSCRIBE, "event", 5);
        zmq_setsockopt(a->sub_state, ZMQ_SUBSCRIBE, "heartbeat", 9);
    }
    if (subscribe & RIO_SUB_FRAMES) {
        if (!(a->sub_frame = rio_link_socket(&a->link, ZMQ_SUB, cfg.frame_endpoint, 0, cfg.frame_hwm, curve, 1, err)))
            goto fail;
        zmq_setsockopt(a->sub_frame, ZMQ_SUBSCRIBE, "frame", 5);
        zmq_setsockopt(a->sub_frame, ZMQ_SUBSCRIBE, "heartbeat", 9);
    }
    send_hello(a);
    a->next_heartbeat = rio_mono_ms() + cfg.heartbeat_ms;
    return a;
fail:
    rio_agent_free(a);
    return NULL;
}

void rio_agent_free(rio_agent *a) {
    if (!a) return;
    if (a->cmd) zmq_close(a->cmd);
    if (a->sub_state) zmq_close(a->sub_state);
    if (a->sub_frame) zmq_close(a->sub_frame);
    for (int i = 0; i < QUEUE_LEN; i++) rio_msg_clear(&a->queue[i].msg);
    for (int i = 0; i < MAX_CAMERAS; i++) {
        rio_msg_clear(&a->frames[i].msg);
        zmq_msg_close(&a->frames[i].blob);
    }
    rio_msg_clear(&a->cur);
    zmq_msg_close(&a->cur_blob);
    rio_msg_clear(&a->hello);
    rio_link_close(&a->link);
    free(a->steps);
    a->tag = 0xdeadbeef;
    free(a);
}

int rio_agent_poll(rio_agent *a, rio_event *ev, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : rio_mono_ms() + timeout_ms;
    for (;;) {
        int wait = timers(a);
        drain(a);
        if (pop(a, ev)) return 1;
        int64_t now = rio_mono_ms();
        if (timeout_ms >= 0 && now >= deadline) return 0;
        if (timeout_ms >= 0 && deadline - now < wait) wait = (int)(deadline - now);
        zmq_pollitem_t items[3] = {{a->cmd, 0, ZMQ_POLLIN, 0}};
        int n = 1;
        if (a->sub_state) items[n++] = (zmq_pollitem_t){a->sub_state, 0, ZMQ_POLLIN, 0};
        if (a->sub_frame) items[n++] = (zmq_pollitem_t){a->sub_frame, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(items, n, wait) < 0 && zmq_errno() != EINTR) {
            em_err(a->link.errmsg, EM_ERR_IO, "rio_agent_poll: zmq_poll: %s", zmq_strerror(zmq_errno()));
            return EM_ERR_IO;
        }
    }
}

ember_status rio_agent_wait_ready(rio_agent *a, int timeout_ms) {
    int64_t deadline = rio_mono_ms() + timeout_ms;
    int want_state = (a->subscribe & RIO_SUB_STATE) != 0, want_frame = (a->subscribe & RIO_SUB_FRAMES) != 0;
    for (;;) {
        int wait = timers(a);
        drain(a);
        if (a->have_hello && (!want_state || a->got_state) && (!want_frame || a->got_frame)) {
            if (a->hello.u.hello.refused[0])
                return em_err(a->link.errmsg, EM_ERR_IO, "rio: the controller at %s refuses us: %s", a->link.cfg.endpoint,
                              a->hello.u.hello.refused);
            return EM_OK;
        }
        int64_t now = rio_mono_ms();
        if (now >= deadline) {
            const char *what = !a->have_hello ? "no hello on the command channel"
                               : (want_state && !a->got_state) ? "nothing on the state channel"
                                                              : "nothing on the frame channel";
            /* cli_rio_advice matches "this side sends plain text": a CurveZMQ
             * controller completes no handshake with a plain client and so
             * looks exactly like no controller at all */
            return em_err(a->link.errmsg, EM_ERR_IO,
                          "rio: no controller answered at %s within %d ms (%s): is it running there%s?",
                          a->link.cfg.endpoint, timeout_ms, what,
                          a->link.cfg.curve ? ", and does it allow our CurveZMQ key"
                                            : ", and without CurveZMQ (this side sends plain text, which an "
                                              "encrypted controller never answers)");
        }
        if (deadline - now < wait) wait = (int)(deadline - now);
        if (wait > 50) wait = 50;
        zmq_pollitem_t items[3] = {{a->cmd, 0, ZMQ_POLLIN, 0}};
        int n = 1;
        if (a->sub_state) items[n++] = (zmq_pollitem_t){a->sub_state, 0, ZMQ_POLLIN, 0};
        if (a->sub_frame) items[n++] = (zmq_pollitem_t){a->sub_frame, 0, ZMQ_POLLIN, 0};
        zmq_poll(items, n, wait);
    }
}

/* A command went out as seq: its ack is the answer rio_agent_answer gives. */
static void sent_command(rio_agent *a, uint64_t seq) {
    a->last_cmd_seq = seq;
    a->last_answer = 0;
    a->answer_reason[0] = a->answer_text[0] = 0;
}

const rio_msg *rio_agent_hello(const rio_agent *a) { return a->have_hello ? &a->hello : NULL; }

ember_status rio_agent_send_plan(rio_agent *a, const char *plan_id, const rio_step *steps, int n_steps) {
    if (!strcmp(a->role, "monitor"))
        return em_err(a->link.errmsg, EM_ERR_ARG, "rio_agent_send_plan: a monitor cannot command");
    if (n_steps < 1 || n_steps > RIO_MAX_STEPS)
        return em_err(a->link.errmsg, EM_ERR_ARG, "rio_agent_send_plan: %s: %d steps (1..%d per message)", plan_id,
                      n_steps, RIO_MAX_STEPS);
    for (int i = 0; i < n_steps; i++)
        if (!remember(a, plan_id, &steps[i]))
            return em_err(a->link.errmsg, EM_ERR_NOMEM, "rio_agent_send_plan: out of memory");
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_PLAN);
    snprintf(m.plan_id, sizeof m.plan_id, "%s", plan_id);
    m.u.plan.steps = (rio_step *)steps; /* borrowed for the encode */
    m.u.plan.n_steps = n_steps;
    ember_status st = rio_link_send(&a->link, a->cmd, NULL, NULL, &m, NULL, 0, 1);
    if (!st) sent_command(a, m.seq);
    return st;
}

ember_status rio_agent_send_step(rio_agent *a, const char *plan_id, const rio_step *st_in) {
    if (!strcmp(a->role, "monitor"))
        return em_err(a->link.errmsg, EM_ERR_ARG, "rio_agent_send_step: a monitor cannot command");
    if (!remember(a, plan_id, st_in)) return em_err(a->link.errmsg, EM_ERR_NOMEM, "rio_agent_send_step: out of memory");
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_STEP);
    snprintf(m.plan_id, sizeof m.plan_id, "%s", plan_id);
    snprintf(m.step_id, sizeof m.step_id, "%s", st_in->step_id);
    m.u.step = *st_in;
    ember_status st = rio_link_send(&a->link, a->cmd, NULL, NULL, &m, NULL, 0, 1);
    if (!st) sent_command(a, m.seq);
    rio_msg_clear(&m);
    return st;
}

static ember_status send_simple(rio_agent *a, rio_msg *m) {
    if (!strcmp(a->role, "monitor"))
        return em_err(a->link.errmsg, EM_ERR_ARG, "rio_agent: a monitor cannot send %s", rio_msg_type_name(m->type));
    ember_status st = rio_link_send(&a->link, a->cmd, NULL, NULL, m, NULL, 0, 1);
    if (!st) sent_command(a, m->seq);
    rio_msg_clear(m);
    return st;
}

ember_status rio_agent_cancel(rio_agent *a, const char *plan_id, const char *step_id) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_CANCEL);
    snprintf(m.plan_id, sizeof m.plan_id, "%s", plan_id);
    if (step_id) snprintf(m.step_id, sizeof m.step_id, "%s", step_id);
    return send_simple(a, &m);
}

ember_status rio_agent_estop(rio_agent *a, const char *reason) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_ESTOP);
    if (reason) snprintf(m.u.estop.reason, sizeof m.u.estop.reason, "%s", reason);
    return send_simple(a, &m);
}

ember_status rio_agent_reset(rio_agent *a) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_RESET);
    return send_simple(a, &m);
}

int rio_agent_step_status(const rio_agent *a, const char *step_id) {
    for (int i = a->n_steps - 1; i >= 0; i--)
        if (!strcmp(a->steps[i].st.step_id, step_id)) return a->steps[i].status;
    return -1;
}

int rio_agent_plan_step_status(const rio_agent *a, const char *plan_id, const char *step_id) {
    for (int i = a->n_steps - 1; i >= 0; i--)
        if (!strcmp(a->steps[i].st.step_id, step_id) && !strcmp(a->steps[i].plan_id, plan_id)) return a->steps[i].status;
    return -1;
}

int rio_agent_answer(const rio_agent *a, const char **reason, const char **text) {
    if (reason) *reason = a->answer_reason;
    if (text) *text = a->answer_text;
    return a->last_answer;
}

const char *rio_agent_session(const rio_agent *a) { return a->link.session; }
int rio_agent_pending(const rio_agent *a) { return a->link.n_out; }
int rio_agent_peer_alive(const rio_agent *a) { return a->peer_alive; }
const rio_stats *rio_agent_stats(const rio_agent *a) { return &a->link.stats; }
const char *rio_agent_errmsg(const rio_agent *a) { return a->link.errmsg; }
