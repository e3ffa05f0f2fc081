/* rio_agent.h - the agent side of Ember's robot link: send a plan or steps
 * to a controller, follow their feedback, subscribe to state and frames.
 *
 * What the library does for the caller:
 *  - every command (plan, step, cancel, estop, reset) is resent until the
 *    controller acknowledges it (resend_ms, doubling to 16x); estop jumps
 *    the queue;
 *  - feedback is acknowledged and handed out once per (step, status), in
 *    the order a step lives (accepted, running, done|failed): a duplicate or
 *    a stale status (running after done) is dropped;
 *  - heartbeats, and RIO_EV_PEER_LOST after peer_timeout_ms of silence;
 *    when the controller is heard again after a restart (a new session),
 *    every command not yet finished is sent again so the controller can
 *    resume where the plan stood (it runs nothing twice: steps are
 *    idempotent by id);
 *  - the slow-joiner problem: the link is "up" (rio_agent_wait_ready) only
 *    when the controller's hello came back on the command channel and, if
 *    subscribed, a message arrived on each subscribed telemetry socket, so
 *    nothing the caller does next is lost to a subscription still in flight;
 *  - frames are delivered latest-only: each poll drains the frame socket and
 *    keeps the newest per camera (stats.frames_skipped counts the rest).
 *
 * Threads: one thread uses an agent handle. Call rio_agent_poll regularly
 * (at least every heartbeat period) while a plan runs. */
#ifndef EMBER_RIO_AGENT_H
#define EMBER_RIO_AGENT_H

#include <stdio.h>

#include "robot_io/rio.h"

typedef struct rio_agent rio_agent;

enum {
    RIO_SUB_STATE = 1,  /* state and event copies */
    RIO_SUB_FRAMES = 2, /* camera frames */
};

/* Connect (connection itself is asynchronous; see rio_agent_wait_ready).
 * role: "agent" or "monitor" (a monitor sends only hellos and heartbeats).
 * subscribe: RIO_SUB_* bits. log: refused messages and peer changes, one
 * line each (NULL = stderr). */
rio_agent *rio_agent_create(const rio_config *cfg, const char *role, int subscribe, FILE *log, char *err);
void rio_agent_free(rio_agent *a); /* NULL is a no-op */

/* Poll until the link is up (see above) or timeout_ms passes: EM_OK, or
 * EM_ERR_IO naming what has not answered. Events that arrive meanwhile are
 * kept for rio_agent_poll. */
ember_status rio_agent_wait_ready(rio_agent *a, int timeout_ms);

/* The controller's hello (skills, state layout), NULL until one arrived. */
const rio_msg *rio_agent_hello(const rio_agent *a);

/* Commands; each is queued and sent reliably. Steps are copied. */
ember_status rio_agent_send_plan(rio_agent *a, const char *plan_id, const rio_step *steps, int n_steps);
ember_status rio_agent_send_step(rio_agent *a, const char *plan_id, const rio_step *st);
ember_status rio_agent_cancel(rio_agent *a, const char *plan_id, const char *step_id /* NULL = whole plan */);
ember_status rio_agent_estop(rio_agent *a, const char *reason);
ember_status rio_agent_reset(rio_agent *a);

/* Wait up to timeout_ms (0 = just look, -1 = forever) for the next event.
 * Returns 1 with *ev filled, 0 on timeout, or a negative ember_status. */
int rio_agent_poll(rio_agent *a, rio_event *ev, int timeout_ms);

/* The last status heard for a step, or -1 when none. By step id alone the
 * newest plan sent with that step id counts; rio_agent_plan_step_status
 * names the plan (two instances of one plan share their step ids). */
int rio_agent_step_status(const rio_agent *a, const char *step_id);
int rio_agent_plan_step_status(const rio_agent *a, const char *plan_id, const char *step_id);
/* The controller's answer to the last command sent (plan, step, cancel,
 * estop, reset): 0 not acknowledged yet; 1 acknowledged; -1 acknowledged
 * but not carried out, with the reason code (RIO_REASON_UNKNOWN_PLAN: a
 * cancel of a plan the controller never heard of) and its sentence in
 * *reason and *text (may be NULL; valid until the next command). A
 * controller older than schema 1.1 always answers 1. */
int rio_agent_answer(const rio_agent *a, const char **reason, const char **text);
/* This side's session id: random, new at each rio_agent_create. */
const char *rio_agent_session(const rio_agent *a);
/* Reliable messages sent and not yet acknowledged. */
int rio_agent_pending(const rio_agent *a);
int rio_agent_peer_alive(const rio_agent *a);

const rio_stats *rio_agent_stats(const rio_agent *a);
const char *rio_agent_errmsg(const rio_agent *a);

#endif
