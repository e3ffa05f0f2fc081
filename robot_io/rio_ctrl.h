/* rio_ctrl.h - the controller side of Ember's robot link: what a robot
 * vendor links to take plans from an Ember agent. Offer skills, receive
 * steps one at a time in plan order, report their fate, publish state and
 * camera frames.
 *
 * What the library does for the vendor, so every controller gets it right:
 *  - acknowledges every reliable message and resends its own feedback until
 *    the agent acknowledges it (resend_ms, doubling to 16x);
 *  - runs each step at most once by (plan id, step id): a step seen again (a
 *    resend, a duplicate, an agent resuming a plan instance) is not handed
 *    out again; its current fate is sent back instead. What it keeps per
 *    step: plan id, step, status, reason, text and the time of the status
 *    (the oldest finished steps are forgotten beyond 65536). Agents make a
 *    new plan id per run (agent/plan_follow.h), so this memory is keyed by
 *    plan instance, not by a plan file's id;
 *  - checks every step against the declared skills (types, ranges, allowed
 *    values) and fails it "bad_args"/"unknown_skill" without bothering the
 *    vendor;
 *  - hands out steps in index order, one at a time, holding a step whose
 *    predecessor has not arrived (out-of-order delivery); a failed step
 *    aborts the rest of its plan ("aborted");
 *  - estop: the event comes out of the next poll before anything else
 *    queued; every open step is failed "estop" and new steps are refused
 *    until a reset;
 *  - heartbeats every client it has heard from (agents and monitors alike:
 *    a monitor too declares its controller lost after peer_timeout_ms of
 *    silence on the command channel) and declares the agent lost after
 *    peer_timeout_ms of silence;
 *  - a step that arrives again is answered with its remembered fate marked
 *    replayed (with the time it was reached), never run again; a cancel of
 *    a plan or step it never heard of is acked with reason "unknown_plan";
 *  - refuses malformed, oversized and newer-major-version messages with a
 *    logged reason and a counter, and, with CurveZMQ, any client whose
 *    public key is not in cfg->allowed.
 *
 * Persistence is the vendor's (a robot knows best where to keep it): the
 * accept callback is called before a step is acknowledged, so the vendor can
 * write it to stable storage first; after a restart the vendor tells the
 * library what it remembers with rio_ctrl_restore before the first poll.
 *
 * Threads: one thread uses a controller. Call rio_ctrl_poll at least every
 * heartbeat period, also while a step runs (poll with timeout 0 between
 * motion ticks): heartbeats, resends and CurveZMQ handshakes happen inside.
 * Steady state allocates only when a plan arrives. */
#ifndef EMBER_RIO_CTRL_H
#define EMBER_RIO_CTRL_H

#include <stdio.h>

#include "robot_io/rio.h"

typedef struct rio_ctrl rio_ctrl;

typedef struct rio_ctrl_hooks {
    /* Called once per new step, before it is acknowledged; non-zero refuses
     * the step (it fails "internal" with err as text). */
    int (*accept)(void *user, const char *plan_id, const rio_step *st, char *err);
    /* Called when the library itself settles a step the vendor never ran
     * or no longer runs: failed "estop", "cancelled", "aborted", "bad_args"
     * (refused on arrival). A controller that journals steps records this
     * too, so a restart does not run a step that was already settled. */
    void (*settled)(void *user, const char *plan_id, const rio_step *st, const char *reason, const char *text);
    void *user;
    FILE *log;  /* one line per refused message and per peer change; NULL = stderr */
    int quiet;  /* 1: no log lines */
} rio_ctrl_hooks;

/* Bind the three endpoints. hello describes what this controller offers
 * (role, skills, state layout, cameras); it is copied. NULL on failure with
 * the reason in err (an endpoint in use, a bad key). */
rio_ctrl *rio_ctrl_create(const rio_config *cfg, const rio_hello *hello, const rio_ctrl_hooks *hooks, char *err);
void rio_ctrl_free(rio_ctrl *c); /* NULL is a no-op */

/* Before the first poll, after a restart: a step this controller had
 * accepted, with its last known status (RIO_FB_ACCEPTED: not started;
 * RIO_FB_RUNNING: started, will be handed out again with ev->resumed = 1;
 * DONE/FAILED: finished, only its fate is sent back, marked replayed, with
 * fate_us: when it was reached, wall clock µs, 0 if unknown). */
ember_status rio_ctrl_restore(rio_ctrl *c, const char *plan_id, const rio_step *st, rio_fb_status status,
                              const char *reason, const char *text, uint64_t fate_us);
/* After a restart: the estop was on. */
void rio_ctrl_restore_estop(rio_ctrl *c, int on);

/* Wait up to timeout_ms (0 = just look, -1 = forever) for the next event.
 * Returns 1 with *ev filled, 0 on timeout, or a negative ember_status (only
 * for a failure of the link itself, message in rio_ctrl_errmsg). */
int rio_ctrl_poll(rio_ctrl *c, rio_event *ev, int timeout_ms);

/* Report the fate of the step handed out last: RIO_FB_RUNNING, then
 * RIO_FB_DONE or RIO_FB_FAILED with a reason code and a sentence. */
ember_status rio_ctrl_feedback(rio_ctrl *c, const char *step_id, rio_fb_status status, const char *reason,
                               const char *text);

/* Publish telemetry (best effort, never blocks: a slow subscriber loses
 * messages at the high-water mark, and frames beyond frame_hwm). The state
 * carries layout, vector and named fields; a frame its image bytes. */
ember_status rio_ctrl_publish_state(rio_ctrl *c, const rio_state *st);
ember_status rio_ctrl_publish_frame(rio_ctrl *c, const rio_frame *fr);

/* Is the estop on? Is a step handed out and not yet finished? */
int rio_ctrl_estopped(const rio_ctrl *c);
int rio_ctrl_agent_alive(const rio_ctrl *c);

const rio_stats *rio_ctrl_stats(const rio_ctrl *c);
const char *rio_ctrl_errmsg(const rio_ctrl *c);

#endif
