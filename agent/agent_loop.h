/* agent_loop.h - the embodied agent: observe, plan, act, take feedback,
 * replan (PaLM-E's loop, with Inner Monologue's feedback in the prompt).
 *
 *   agent_loop *L = agent_loop_create(&parts, &params, &hooks, err);
 *   ember_status st = agent_loop_run(L, &result);   -- until success or a stop
 *   agent_loop_free(L);
 *
 * One cycle: take the newest frame of each camera the prompt names and the
 * newest state (agent_follower keeps them); lay out the interleaved prompt
 * (agent/mm_prompt.h: text, image and state placeholders) in the model's
 * chat template, with the skills offered, the instruction and what
 * happened so far ("step 2 pick(object=\"red_cube\") failed:
 * grasp_slipped"); encode the frames and the state into their rows;
 * generate a plan under the grammar compiled from the controller's skills
 * (agent/plan_text.h), so every plan parses and names offered skills with
 * valid arguments whatever the weights; with votes > 1, sample that many
 * plans and keep the first whose first step is the majority's; write the
 * decision to the log; send the steps (agent/plan_follow.h) and follow their
 * fates. Then:
 *   - every step done and the controller's goal met (or no goal published,
 *     and the plan ran to its end): success;
 *   - every step done, goal not met: replan ("the plan ended but the goal
 *     is not met: <why>");
 *   - a step failed: replan with the failure; estop or cancel: stop;
 *   - the plan did not finish within timeout_ms: cancel it, replan;
 *   - the state moved while planning (an entry by more than
 *     state_tolerance) before anything was sent: plan again from it.
 * Budgets: max_steps steps sent in all, max_replans cycles after the first.
 * A stop hook (Ctrl-C) ends the run, cancelling a running plan. An estop
 * heard from anyone ends it before anything more is sent.
 *
 * Resume: with a log that holds an unfinished run of the same instruction,
 * the run goes on from there: its counts and feedback lines come back, and
 * a plan without an outcome is sent again under its instance id, so the
 * controller answers finished steps from memory and runs nothing twice. A
 * log whose open run has another instruction is refused (EM_ERR_ARG) unless
 * params.new_run, which ends it ("superseded") first.
 *
 * Nothing is printed: hooks get each plan, each fate and each replan, the
 * log gets every decision. Ownership: the loop borrows everything in
 * agent_loop_parts (they must outlive it) and owns its grammar, prompt and
 * scratch. One thread. */
#ifndef EMBER_AGENT_LOOP_H
#define EMBER_AGENT_LOOP_H

#include <stdint.h>

#include "agent/plan_follow.h"
#include "agent/skills.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/sampler.h"
#include "projector/state_enc.h"
#include "vision/encoder.h"

/* What the loop runs on (borrowed). */
typedef struct agent_loop_parts {
    const lm_model *model;
    lm_ctx *ctx;
    lm_gen *gen;
    vision_encoder *vision;   /* NULL: no camera in prompts */
    state_enc *state;         /* NULL: no <state> in prompts */
    agent_follower *follower; /* connected, ready, subscribed to state and frames */
    const char *chat_template; /* style name, NULL: detected from the model */
    const agent_skills *skills; /* NULL: those of the controller's hello (copied at prepare) */
} agent_loop_parts;

typedef struct agent_loop_params {
    const char *instruction;
    const char *prompt;          /* the user turn with placeholders, NULL: the default (agent/README.md) */
    const char *system;          /* NULL: the default (the skills and the plan format) */
    int max_steps;               /* steps sent in all (default 20) */
    int max_replans;             /* cycles after the first (default 3) */
    int max_plan_steps;          /* steps in one plan at most (default 8) */
    int timeout_ms;              /* a plan's execution (default 60000) */
    int votes;                   /* plans sampled per cycle (default 1) */
    int64_t max_tokens;          /* per plan; <= 0: enough for the longest plan the grammar allows */
    double state_tolerance;      /* see above; <= 0: no check */
    lm_sampler_params sampling;  /* seed: the first plan's; vote v uses seed + v */
    const char *log_path;        /* NULL: no log (and no resume) */
    const char *save_frames;     /* NULL: frames are not saved */
    int new_run;                 /* end an open run of another instruction in the log */
    const char *grammar_text;    /* GBNF replacing the plan grammar (--grammar-file); its plans must still parse */
    const char *model_desc;      /* for the log's run record */
} agent_loop_params;

agent_loop_params agent_loop_defaults(void);

typedef enum agent_loop_end {
    AGENT_END_SUCCESS = 0,
    AGENT_END_STEP_BUDGET,
    AGENT_END_REPLAN_BUDGET,
    AGENT_END_ESTOP,
    AGENT_END_CANCELLED,   /* the controller cancelled a step (an operator) */
    AGENT_END_INTERRUPTED, /* the stop hook (Ctrl-C) */
    AGENT_END_LINK,        /* the robot link failed */
    AGENT_END_ERROR,       /* anything else (agent_loop_errmsg) */
} agent_loop_end;
const char *agent_loop_end_name(agent_loop_end e); /* "success", "step_budget", ... */

typedef struct agent_plan_info {
    int cycle;                  /* 1-based */
    const char *text;           /* the plan as generated */
    const rio_step *steps;
    int n_steps;
    const char *instance;       /* the id it is sent under */
    int resumed;                /* 1: a plan from the log, sent again */
    int votes, agree;           /* plans sampled, of which share the first step kept */
    int64_t prompt_positions, reused;
    double encode_ms, prefill_ms, generate_ms, frame_to_send_ms;
} agent_plan_info;

typedef struct agent_loop_hooks {
    void (*plan)(void *user, const agent_plan_info *p);
    void (*fate)(void *user, const agent_step_fate *f);
    void (*replan)(void *user, const char *why);    /* the feedback line */
    int (*stop)(void *user);                         /* asked often; non-zero ends the run */
    void (*link)(void *user, int alive, int restarted);
    void *user;
} agent_loop_hooks;

typedef struct agent_loop_result {
    agent_loop_end end;
    char why[RIO_TEXT_LEN];     /* the end in words */
    char run[RIO_ID_LEN];
    int cycles, replans, steps_sent, steps_done, steps_failed;
    int resumed;                /* 1: went on from a log */
    int goal;                   /* the controller's last verdict: 1, 0, -1 none */
    double first_step_ms;       /* from the first observation to the first plan sent */
    double replan_ms;           /* mean, from a failure heard to the next plan sent; 0: none */
} agent_loop_result;

typedef struct agent_loop agent_loop;

agent_loop *agent_loop_create(const agent_loop_parts *parts, const agent_loop_params *params,
                              const agent_loop_hooks *hooks, char *err);
void agent_loop_free(agent_loop *L);
/* The prompt as it will be laid out (placeholders checked against the
 * controller's cameras and the encoders loaded), the grammar compiled: all
 * before the first frame is encoded. Called by agent_loop_run; callable
 * alone to check a command line. */
ember_status agent_loop_prepare(agent_loop *L, char *err);
/* Run to the end. EM_OK when the run ended (see res->end, success or not);
 * a negative status only when it could not run at all (errmsg). */
ember_status agent_loop_run(agent_loop *L, agent_loop_result *res);
const char *agent_loop_errmsg(const agent_loop *L);
/* The turns the loop writes by default (the default model is trained on
 * exactly these, agent/datagen.h): the user turn's template for what is
 * loaded ("Camera: <img>\nRobot state: <state>\nTask: {instruction}\n
 * {history}Plan:"), the system turn for a set of skills (*out malloc'd),
 * and a template filled ({history}: "So far:\n" and one line each, or
 * nothing; malloc'd, NULL when out of memory). */
const char *agent_loop_default_user(int have_vision, int have_state, int n_cameras);
ember_status agent_loop_system_text(const agent_skills *skills, char **out, char *err);
char *agent_loop_user_text(const char *tmpl, const char *instruction, char *const *history, int n_history);

/* The grammar text the plans are generated under (after prepare). */
const char *agent_loop_grammar(const agent_loop *L);

#endif
