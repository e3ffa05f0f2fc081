/* plan_follow.h - the plan follower: sends a plan's steps to a robot
 * controller over the robot link (robot_io/rio_agent.h) and follows their
 * fates until every step is done or failed, the time runs out, or the
 * caller stops it (then the plan is cancelled on the controller). Also the
 * operator's one-shot commands: estop, reset, cancel.
 *
 * What the follower adds to rio_agent: the wait for a plan's end (every
 * step with a final fate, then a short settle so the state published after
 * the last fate is heard), the controller's judgement of its goal from that
 * state, a check of the steps against the skills the controller offers, and
 * leaving only once the controller has the last acknowledgements. The
 * controller decides what a failure means for the rest of the plan
 * (rio_ctrl aborts it); the follower reports each fate as it comes.
 *
 * Plan instances. A controller runs a step at most once by (plan id, step
 * id) and answers a step it has seen with its remembered fate. So that
 * running a plan twice runs it twice (an agent loop sends many plans, a
 * user runs the same file again), agent_follower_run sends each plan under
 * a new instance id derived from the plan's id:
 *     "<plan id>:<YYMMDD-HHMMSS>-<4 hex of this follower's session>-<n>"
 * (the plan id cut to fit 63 bytes; n counts this follower's runs), given
 * back in agent_follow_result.instance_id. agent_follower_resume sends
 * under an exact instance id instead: the controller goes on where that
 * instance stood and runs nothing twice; fates it answers from memory come
 * with replayed = 1 and the time they were reached. The controller stores
 * nothing new for this: its per-(plan, step) memory is now keyed by
 * instance (robot_io/rio_ctrl.h says what it keeps and how long).
 *
 * Nothing is printed: each fate and each change of the link is handed to a
 * hook, the end comes back in an agent_follow_result. The link's own log
 * (refused messages, one line each) goes to the FILE* given at create.
 *
 * Ownership: agent_follower_create returns a follower the caller frees with
 * agent_follower_free (NULL is a no-op). Steps passed in are copied.
 * Pointers handed to hooks are valid during the call only.
 * Threads: one thread uses a follower; hooks run on it, inside
 * agent_follower_run. */
#ifndef EMBER_AGENT_PLAN_FOLLOW_H
#define EMBER_AGENT_PLAN_FOLLOW_H

#include <stdio.h>

#include "robot_io/rio_agent.h"

typedef struct agent_follower agent_follower;

/* A step's new fate, once per (step, status), in the order a step lives. */
typedef struct agent_step_fate {
    int index;             /* in the plan */
    const rio_step *step;
    rio_fb_status status;  /* accepted, running, done or failed */
    const char *reason;    /* failed: a reason code (rio_msg.h); else "" */
    const char *text;      /* failed: the controller's sentence; else "" */
    double run_s;          /* done: seconds since it was reported running; -1 when that was not heard */
    int replayed;          /* 1: the controller's memory, not news: the step was not run now */
    uint64_t fate_us;      /* replayed: when the controller recorded it (µs since the epoch), 0 = unknown */
} agent_step_fate;

typedef struct agent_follow_hooks {
    void (*fate)(void *user, const agent_step_fate *f);           /* may be NULL */
    /* The controller went silent (alive 0) or is heard again (alive 1;
     * restarted 1 when it is a new incarnation: the plan is sent again and
     * the controller resumes it, running nothing twice). May be NULL. */
    void (*link)(void *user, int alive, int restarted);
    /* Asked about every 100 ms: non-zero stops the run, which cancels the
     * plan on the controller first. May be NULL. */
    int (*stop)(void *user);
    void *user;
    /* The plan went out under instance_id (resumed 0: a new instance; 1:
     * agent_follower_resume). Called once per run, before any fate. May be NULL. */
    void (*sent)(void *user, const char *instance_id, int resumed);
} agent_follow_hooks;

typedef enum agent_follow_end {
    AGENT_FOLLOW_FINISHED = 0, /* every step has a final fate */
    AGENT_FOLLOW_TIMED_OUT,    /* timeout_ms passed with steps unfinished */
    AGENT_FOLLOW_STOPPED,      /* the stop hook asked; the plan was cancelled */
    AGENT_FOLLOW_LINK_FAILED,  /* the link itself failed (agent_follower_errmsg) */
    AGENT_FOLLOW_CANCELLED,    /* another agent (an operator) cancelled the plan: heard as a copy of its cancel */
} agent_follow_end;

typedef struct agent_follow_result {
    agent_follow_end end;
    int n_steps, n_done, n_failed, n_open; /* n_open: steps without a final fate */
    int n_replayed;                         /* final fates the controller answered from memory (not run now) */
    char instance_id[RIO_ID_LEN];           /* the id the plan ran under ("" when it could not be sent) */
    int goal;                               /* the controller's state says: 1 met, 0 not met, -1 no goal */
    char goal_text[RIO_TEXT_LEN];          /* the goal in words, "" when none */
} agent_follow_result;

/* Cameras whose newest frame a follower keeps. */
#define AGENT_MAX_CAMERAS 4
/* What a follower subscribes to (bits). */
enum { AGENT_SUB_STATE = 1, AGENT_SUB_FRAMES = 2 };

/* Connect to the controller at cfg->endpoint (asynchronous; see
 * agent_follower_wait_ready). subscribe_state: AGENT_SUB_* bits:
 * AGENT_SUB_STATE (1) to hear the controller's state (its goal), and
 * AGENT_SUB_FRAMES for its camera frames (the agent loop's observations);
 * operators pass 0. log: the link's log (NULL = stderr). NULL on failure
 * with the reason in err. */
agent_follower *agent_follower_create(const rio_config *cfg, const agent_follow_hooks *hooks, int subscribe_state,
                                      FILE *log, char *err);
void agent_follower_free(agent_follower *f); /* NULL is a no-op */
/* Replace the hooks (an agent loop takes them over from its creator). */
void agent_follower_set_hooks(agent_follower *f, const agent_follow_hooks *hooks);

/* Wait until the controller answered (EM_OK) or timeout_ms passed
 * (EM_ERR_IO, "no controller answered ..." in agent_follower_errmsg). */
ember_status agent_follower_wait_ready(agent_follower *f, int timeout_ms);

/* The controller's hello (name, skills), NULL before it answered. */
const rio_msg *agent_follower_hello(const agent_follower *f);

/* Check each step against the skills the controller offers: -1 when all
 * are offered with fitting arguments, else the index of the first that is
 * not, with the reason in err. Call after agent_follower_wait_ready. */
int agent_follower_check(const agent_follower *f, const rio_step *steps, int n_steps, char *err);

/* Send the plan as a new instance of plan_id (see "Plan instances" above)
 * and follow it to its end (see agent_follow_end), calling the hooks on the
 * way, for at most timeout_ms. Fills *res in every case. A negative status
 * (message in agent_follower_errmsg) means the plan could not be sent or
 * the link failed (res->end = AGENT_FOLLOW_LINK_FAILED). */
ember_status agent_follower_run(agent_follower *f, const char *plan_id, const rio_step *steps, int n_steps,
                                int timeout_ms, agent_follow_result *res);
/* The same under the exact instance_id (one an earlier run reported, in
 * this process or another): a new instance if the controller never heard
 * of it, else continued where it stands, with remembered fates replayed.
 * Steps whose final fate this follower already heard are counted in
 * n_replayed without calling the fate hook again. */
ember_status agent_follower_resume(agent_follower *f, const char *instance_id, const rio_step *steps, int n_steps,
                                   int timeout_ms, agent_follow_result *res);

/* The operator's buttons: send one command and wait up to wait_ms for the
 * controller to acknowledge it. *ack_ms (may be NULL) gets how long that
 * took. EM_ERR_IO when it was not acknowledged in time; EM_ERR_NOT_FOUND
 * when the controller answered that it knows no such plan (a cancel; the
 * message names the plan). */
typedef enum agent_operator_cmd { AGENT_OP_ESTOP, AGENT_OP_RESET, AGENT_OP_CANCEL } agent_operator_cmd;
ember_status agent_follower_operate(agent_follower *f, agent_operator_cmd cmd,
                                    const char *arg /* estop: reason or NULL; cancel: plan id */, int wait_ms,
                                    int64_t *ack_ms);

/* Observations. The follower keeps the newest state message and the
 * newest frame of each camera (up to AGENT_MAX_CAMERAS, with their own copy
 * of the image bytes) from everything it hears, during runs and in
 * agent_follower_poll, which only listens (for up to timeout_ms; link
 * changes go to the link hook). Returned messages stay valid until the
 * follower hears the next one of their kind (the next run or poll). */
ember_status agent_follower_poll(agent_follower *f, int timeout_ms);
/* The newest state (NULL before one); *n: states heard so far, *heard_ms:
 * rio_mono_ms() when it arrived (both may be NULL). */
const rio_msg *agent_follower_state(const agent_follower *f, uint64_t *n, int64_t *heard_ms);
/* The newest frame of camera (NULL: of the first camera heard), NULL
 * before one; *n: frames of that camera heard so far (may be NULL). */
const rio_msg *agent_follower_frame(const agent_follower *f, const char *camera, uint64_t *n);
/* 1 when an estop was heard (a copy of one, from any agent, or a step
 * failed "estop") and no reset since: nothing should be sent. */
int agent_follower_estopped(const agent_follower *f);

/* The next new instance id of plan_id (see "Plan instances"): what
 * agent_follower_run would send under. An agent that must write the id
 * down before the plan goes out (its log) takes it here and sends with
 * agent_follower_resume, which starts an instance the controller never
 * heard of as a new one. */
void agent_follower_instance(agent_follower *f, const char *plan_id, char out[RIO_ID_LEN]);

const rio_stats *agent_follower_stats(const agent_follower *f);
const char *agent_follower_errmsg(const agent_follower *f);

#endif
