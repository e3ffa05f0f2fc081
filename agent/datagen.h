/* datagen.h - the default model's data: scenes of the simulated world
 * (sim/sim.h) rendered by the sim's own camera, each with its state vector
 * and questions or tasks in exactly the prompts Ember asks at run time.
 *
 *   agent_data_scene sc;
 *   agent_data_scene_make(agent_data_seed(AGENT_DATA_TRAIN, i), &params, &sc, err);
 *   ... sc.frame[k].rgb, sc.item[j].prompt / .answer ...
 *   agent_data_scene_free(&sc);
 *
 * A scene is a pure function of its seed: the world sim_create draws from
 * it, scrambled (sim_scramble: stacks, filled containers, sometimes a block
 * in the gripper), rendered at the camera's size. Items:
 *   visual, ocr, state  a question of sim_question's family; the prompt is the
 *                       chat template (ChatML) around "Camera: <img>\nRobot
 *                       state: <state>\nQuestion: ..."; the answer is the
 *                       canonical one (exact match);
 *   plan                a task from sim_random_goal; the prompt is the one
 *                       `ember agent` writes (agent_loop_system_text with
 *                       the sim's skills, agent_loop_default_user), the
 *                       answer the expert's plan (sim_expert_plan) in the
 *                       plan format, ending with its empty line;
 *   replan              the same task after one of the plan's picks slipped
 *                       (run through the sim with the failure forced): a
 *                       second frame and state of the world as it now is,
 *                       the failure line in the prompt as the agent writes
 *                       it, the expert's plan from there. A scene's second
 *                       (fourth) replan is instead one after one or two
 *                       plans with a model's mistake (a pick of another
 *                       block, a step left out or sent twice, a plan cut
 *                       short), run as sent: the history then holds the
 *                       refused step ("failed: precondition", ...) or
 *                       "the plan ended but the goal is not met: ...", as
 *                       the agent meets them in closed loop. The held-out
 *                       default (one replan a scene) has slips only.
 * Answers end there: a trainer appends the end-of-turn token.
 *
 * Splits: train seeds are 1..10^12, held-out seeds 10^12+1 onwards
 * (agent_data_seed), so no held-out scene is ever in training data. */
#ifndef EMBER_AGENT_DATAGEN_H
#define EMBER_AGENT_DATAGEN_H

#include <stdint.h>

#include "../core/status.h"
#include "../robot_io/rio_msg.h"

typedef enum agent_data_family {
    AGENT_DATA_VISUAL = 0,
    AGENT_DATA_OCR,
    AGENT_DATA_STATE,
    AGENT_DATA_PLAN,
    AGENT_DATA_REPLAN,
    AGENT_DATA_FAMILIES
} agent_data_family;
const char *agent_data_family_name(agent_data_family f); /* "visual", ..., "replan" */

enum { AGENT_DATA_TRAIN = 0, AGENT_DATA_HELDOUT = 1 };
uint64_t agent_data_seed(int split, uint64_t index);

#define AGENT_DATA_MAX_ITEMS 40
#define AGENT_DATA_MAX_TASKS 4
#define AGENT_DATA_MAX_FRAMES (1 + AGENT_DATA_MAX_TASKS)

/* per_family: questions per scene for visual, ocr, state (a repeated
 * question is kept: the held-out sets stay what they were); tasks per scene
 * for plan (the first is the episode's task, agent_data_task; further ones
 * are other goals on the same world, each instruction once) and replans of
 * the first per_family[REPLAN] of those tasks, each with its own frame. A
 * trainer gets more plans per system prompt and image this way. */
typedef struct agent_data_params {
    int width, height;                     /* the camera (320 x 320: the default model's, square at its ViT tile) */
    int per_family[AGENT_DATA_FAMILIES];   /* defaults 2, 2, 2, 1, 1; plan and replan at most AGENT_DATA_MAX_TASKS */
} agent_data_params;
agent_data_params agent_data_defaults(void);

typedef struct agent_data_frame {
    uint8_t *rgb; /* width * height * 3 */
    int width, height;
    double state[RIO_MAX_STATE];
    int n_state;
} agent_data_frame;

typedef struct agent_data_item {
    agent_data_family family;
    int frame;      /* 0, or a replan's own frame of the world after the failure */
    char *prompt;   /* formatted, with <img> and <state> placeholders */
    char *answer;
    char *question; /* the question or the instruction alone, for tables */
    char *grammar;  /* plan, replan: the plan grammar of the scene's skills (at most 8 steps), as `ember agent` compiles it */
} agent_data_item;

typedef struct agent_data_scene {
    uint64_t seed;
    agent_data_frame frame[AGENT_DATA_MAX_FRAMES];
    int n_frames;
    agent_data_item item[AGENT_DATA_MAX_ITEMS];
    int n_items;
    char layout[RIO_MAX_STATE][RIO_NAME_LEN]; /* the state vector's names */
    int n_layout;
} agent_data_scene;

ember_status agent_data_scene_make(uint64_t seed, const agent_data_params *p, agent_data_scene *sc, char *err);
void agent_data_scene_free(agent_data_scene *sc);

/* A closed-loop episode of a seed: its world is the sim's of that seed
 * with sim_config.scramble = agent_data_scramble(seed); its task (goal JSON
 * and instruction, malloc'd) is the scene's plan item, and the one `ember
 * sim --random-goal` poses on that world (sim_task_seed). */
int agent_data_scramble(uint64_t seed);
ember_status agent_data_task(uint64_t seed, char **goal_json, char **instruction, char *err);

#endif
