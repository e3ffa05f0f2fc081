/* sim.h - the reference simulated robot behind `ember sim`: a seeded,
 * deterministic tabletop world (blocks, bowls, trays, signs with printed
 * labels; a gripper on an arm with a limited reach), the skills it offers,
 * failure injection, a renderer (cairo, real fonts) and goal judging.
 *
 * This module knows nothing of sockets: `agent/cmd_sim.c` joins it to the
 * controller-side library (robot_io/rio_ctrl.h) and to the journal
 * (sim/sim_journal.h). The same world generates the default model's
 * training data, so everything here is a pure function of (seed, steps).
 *
 * Determinism: the scene is a function of the seed; whether a step's
 * injected failure fires is a function of (seed, step_id, fail_rate), never
 * of time or of how often it was tried, so a step resumed after a restart
 * meets the same fate. Motion advances only through sim_tick(dt).
 *
 * Units: centimetres on the table plane, x to the right, y away from the
 * robot's base at (0, 0); z up. Ownership: sim_create returns a world the
 * caller frees with sim_free; strings returned through char ** are malloc'd
 * and the caller frees them. One thread at a time per world. */
#ifndef EMBER_SIM_H
#define EMBER_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "robot_io/rio_msg.h"

typedef struct sim_world sim_world;

typedef struct sim_config {
    uint64_t seed;       /* scene and failure draws */
    double fail_rate;    /* 0..1: chance that a pick slips (other injected faults scale from it) */
    double step_s;       /* seconds of simulated motion per skill (default 0.4) */
    int n_objects;       /* 0 = chosen by the seed (5..9), else SIM_OBJECTS_MIN..SIM_OBJECTS_MAX */
    int scramble;        /* earlier moves applied at creation (sim_scramble), 0..16 */
} sim_config;

/* Objects one may ask for: fewer than 3 leaves no block, container and
 * sign to tell apart; 12 is the state vector's fixed number of slots. */
#define SIM_OBJECTS_MIN 3
#define SIM_OBJECTS_MAX 12

void sim_config_defaults(sim_config *cfg);

sim_world *sim_create(const sim_config *cfg, char *err);
void sim_free(sim_world *w); /* NULL is a no-op */

/* What the controller announces in its hello: the skills with typed
 * arguments (object arguments enumerate the world's object ids) and the
 * state vector's layout. Fills hello->skills (malloc'd; rio_msg_clear frees
 * it), n_skills, layout, n_layout, cameras. */
ember_status sim_describe(const sim_world *w, rio_hello *hello, char *err);

/* Begin executing a step (already checked against the declared skills by
 * the controller library). Preconditions that fail at once (unknown object,
 * out of reach, holding nothing) return EM_ERR_ARG with the reason code in
 * reason (RIO_NAME_LEN) and a sentence in err. One step at a time. */
ember_status sim_step_begin(sim_world *w, const rio_step *st, char *reason, char *err);

/* Failure reason of a push that meets an obstacle and stops short (a
 * vendor code beside rio_msg.h's RIO_REASON_*). */
#define SIM_REASON_OBSTACLE "obstacle"

/* Advance the running step's motion by dt seconds. Returns 0 while it runs,
 * 1 when it finished (its effect is applied to the world at that instant),
 * -1 when it failed (an injected slip, ...; reason and text filled,
 * RIO_NAME_LEN / RIO_TEXT_LEN bytes). No running step: returns 1. */
int sim_tick(sim_world *w, double dt, char *reason, char *text);

/* Is a step running? */
int sim_busy(const sim_world *w);

/* Estop: stop the motion where it stands, now (the running step is
 * abandoned, its effect not applied; a held object stays held). */
void sim_halt(sim_world *w);

/* The state message's content: vector (layout as sim_describe) and the
 * named fields (objects, gripper, goal) as one JSON object in
 * st->fields_json (malloc'd). */
ember_status sim_state(const sim_world *w, rio_state *st, char *err);

/* Render the camera's view: RGB8, width*height*3 bytes into rgb. Text
 * (labels, signs) is drawn with cairo in DejaVu Sans. */
ember_status sim_render_rgb(const sim_world *w, int width, int height, uint8_t *rgb, char *err);
/* The same as a PNG file in memory (*png malloc'd, caller frees). */
ember_status sim_render_png(const sim_world *w, int width, int height, uint8_t **png, size_t *size, char *err);

/* At process exit, after every world is freed: release cairo's and
 * fontconfig's process-wide font caches (only so leak checkers see nothing;
 * rendering after this is not allowed). */
void sim_render_shutdown(void);

/* Goal: a JSON array of predicates, each ["in", obj, container],
 * ["on", obj, obj], ["holding", obj], ["at", obj, x, y, tolerance] or
 * ["empty", container] (no block in it, directly or through a stack). */
ember_status sim_set_goal(sim_world *w, const char *goal_json, char *err);
/* 1 when every predicate holds, 0 when not (why: a sentence naming the first
 * that fails, RIO_TEXT_LEN bytes; may be NULL), -1 when no goal is set. */
int sim_goal_met(const sim_world *w, char *why);
/* The goal as a sentence (what the state publishes as goal.text; the
 * controller's verdict quotes it); "" when no goal is set. */
const char *sim_goal_text(const sim_world *w);

/* A random task this world can do from its present state (the expert finds
 * a plan of at most 8 steps) and whose goal is not met yet, drawn from seed:
 * one block into a container, two blocks into containers, a block on
 * another, a block held, a container emptied; blocks named by colour and
 * shape or by label alone ("the block labelled K7"). The predicate array in
 * *goal_json and the English instruction ("stack the block labelled K7 on
 * the green cube") in *text (may be NULL); both malloc'd, the caller frees
 * them. The world is not changed: pass *goal_json to sim_set_goal. */
ember_status sim_random_goal(const sim_world *w, uint64_t seed, char **goal_json, char **text, char *err);
/* The seed of a world's own task: `ember sim --random-goal` and the default
 * model's data and held-out episodes (agent/datagen.h) all draw with it, so
 * a sim started on a held-out seed poses that episode's task. */
static inline uint64_t sim_task_seed(uint64_t world_seed) { return world_seed * 7 + 3; }

/* The scripted expert (expert.c): the plan that reaches the goal from the
 * present state by fixed rules (put away what the gripper holds, clear what
 * rests on a block top first, displaced blocks into the spare container),
 * each step run through the skills on a scratch copy; at most max_steps
 * steps (EM_ERR_RANGE past that). Steps have skill and arguments filled,
 * step ids "x1", "x2"...; the world is not changed. */
ember_status sim_expert_plan(const sim_world *w, rio_step *steps, int max_steps, int *n_steps, char *err);

/* n_moves earlier pick-and-place moves (into containers, onto blocks; when
 * may_hold, sometimes the last block stays held), through the skills and
 * without failures: scenes with stacks, filled bowls, a loaded gripper.
 * Deterministic in (world, seed). */
ember_status sim_scramble(sim_world *w, uint64_t seed, int n_moves, int may_hold, char *err);

/* Questions about the world as it is, with their one right answer
 * (questions.c): visual (colour, shape, count, left/right, nearer, what a
 * container holds), ocr (labels and signs), state (the gripper, where a
 * block is). Drawn from (world, family, seed); 0 when drawn, -1 when the
 * world offers none of the family (no labelled block, ...). */
typedef enum sim_qa_family { SIM_QA_VISUAL = 0, SIM_QA_OCR, SIM_QA_STATE, SIM_QA_FAMILIES } sim_qa_family;
typedef struct sim_qa {
    sim_qa_family family;
    char question[200];
    char answer[200];
} sim_qa;
int sim_question(const sim_world *w, sim_qa_family f, uint64_t seed, sim_qa *q);
const char *sim_qa_family_name(sim_qa_family f); /* "visual", "ocr", "state" */

/* Change the injected failure rate (0..1) of a live world. */
void sim_set_fail_rate(sim_world *w, double r);

/* The whole world (config, objects, gripper, goal; not a running step) as
 * one JSON line, and back: the journal's snapshot. There is no generator
 * position to keep: the scene is drawn once at sim_create and every later
 * draw is a hash of (seed, step_id). sim_restore validates everything
 * first and leaves the world unchanged when it fails. */
char *sim_snapshot(const sim_world *w);
ember_status sim_restore(sim_world *w, const char *json, char *err);

#endif
