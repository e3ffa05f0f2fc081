/* datagen.c - scenes for the default model (see datagen.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_loop.h"
#include "agent/datagen.h"
#include "agent/plan_text.h"
#include "agent/skills.h"
#include "lm/chat.h"
#include "sim/sim.h"

#define HELDOUT_BASE 1000000000000ull

const char *agent_data_family_name(agent_data_family f) {
    static const char *const names[AGENT_DATA_FAMILIES] = {"visual", "ocr", "state", "plan", "replan"};
    return (unsigned)f < AGENT_DATA_FAMILIES ? names[f] : "?";
}

uint64_t agent_data_seed(int split, uint64_t index) {
    return split == AGENT_DATA_HELDOUT ? HELDOUT_BASE + 1 + index : 1 + index % HELDOUT_BASE;
}

agent_data_params agent_data_defaults(void) {
    agent_data_params p = {.width = 320, .height = 320, .per_family = {2, 2, 2, 1, 1}};
    return p;
}

int agent_data_scramble(uint64_t seed) { return (int)(seed % 4); }

/* The world of a seed as every scene and episode starts: drawn, then
 * scrambled by 0..3 earlier moves. */
static sim_world *scene_world(uint64_t seed, double fail_rate, char *err) {
    sim_config cfg;
    sim_config_defaults(&cfg);
    cfg.seed = seed, cfg.fail_rate = fail_rate, cfg.scramble = agent_data_scramble(seed);
    return sim_create(&cfg, err);
}

ember_status agent_data_task(uint64_t seed, char **goal_json, char **instruction, char *err) {
    *goal_json = *instruction = NULL;
    sim_world *w = scene_world(seed, 0, err);
    if (!w) return EM_ERR_ARG;
    ember_status st = sim_random_goal(w, sim_task_seed(seed), goal_json, instruction, err);
    sim_free(w);
    return st;
}

static ember_status add_frame(agent_data_scene *sc, const sim_world *w, const agent_data_params *p, char *err) {
    agent_data_frame *f = &sc->frame[sc->n_frames];
    if (!(f->rgb = malloc((size_t)p->width * (size_t)p->height * 3))) return em_err(err, EM_ERR_NOMEM, "out of memory");
    sc->n_frames++; /* from here agent_data_scene_free owns it */
    f->width = p->width, f->height = p->height;
    ember_status st = sim_render_rgb(w, p->width, p->height, f->rgb, err);
    if (st) return st;
    rio_state rs;
    memset(&rs, 0, sizeof rs);
    if ((st = sim_state(w, &rs, err))) return st;
    f->n_state = rs.n;
    memcpy(f->state, rs.vector, sizeof rs.vector[0] * (size_t)rs.n);
    if (!sc->n_layout) {
        sc->n_layout = rs.n;
        memcpy(sc->layout, rs.layout, sizeof rs.layout[0] * (size_t)rs.n);
    }
    free(rs.fields_json);
    return EM_OK;
}

static ember_status add_item(agent_data_scene *sc, agent_data_family fam, int frame, const char *system, const char *user,
                             const char *answer, const char *question, char *err) {
    if (sc->n_items == AGENT_DATA_MAX_ITEMS) return em_err(err, EM_ERR_RANGE, "more than %d items in a scene", AGENT_DATA_MAX_ITEMS);
    agent_data_item *it = &sc->item[sc->n_items];
    memset(it, 0, sizeof *it);
    it->family = fam, it->frame = frame;
    ember_status st = lm_chat_prompt("chatml", NULL, system, user, &it->prompt, err);
    if (st) return st;
    sc->n_items++;
    if (!(it->answer = strdup(answer)) || !(it->question = strdup(question))) return em_err(err, EM_ERR_NOMEM, "out of memory");
    return EM_OK;
}

/* The skills the sim offers in world w, as the agent reads them from its hello. */
static agent_skills *scene_skills(const sim_world *w, char *err) {
    rio_hello hello;
    memset(&hello, 0, sizeof hello);
    if (sim_describe(w, &hello, err)) return NULL;
    agent_skills *reg = agent_skills_from_hello(&hello, -1, err);
    free(hello.skills);
    return reg;
}

/* The plan item for world w with its goal set (and the history lines the
 * agent would have written). */
static ember_status add_plan(agent_data_scene *sc, agent_data_family fam, int frame, const sim_world *w,
                             const char *instruction, char *const *history, int n_history, char *err) {
    agent_skills *reg = scene_skills(w, err);
    if (!reg) return EM_ERR_ARG;
    ember_status st = EM_OK;
    char *system = NULL, *user = NULL, *answer = NULL;
    rio_step steps[8];
    int n = 0;
    if (!(st = agent_loop_system_text(reg, &system, err)) && !(st = sim_expert_plan(w, steps, 8, &n, err)) &&
        !(st = agent_plan_render(reg, steps, n, &answer, err))) {
        if (!(user = agent_loop_user_text(agent_loop_default_user(1, 1, 1), instruction, history, n_history)))
            st = em_err(err, EM_ERR_NOMEM, "out of memory");
        else if (!(st = add_item(sc, fam, frame, system, user, answer, instruction, err)))
            st = agent_plan_grammar(reg, 8, &sc->item[sc->n_items - 1].grammar, err);
    }
    free(system), free(user), free(answer);
    agent_skills_free(reg);
    return st;
}

/* The task after one of its picks slipped: run the expert's plan on w up
 * to that pick with the failure forced, then plan again from there. */
static ember_status add_replan(agent_data_scene *sc, sim_world *w, const char *instruction, uint64_t pick_seed,
                               const agent_data_params *p, char *err) {
    rio_step steps[8];
    int n = 0;
    ember_status st = sim_expert_plan(w, steps, 8, &n, err);
    if (st) return st;
    int picks[8], np = 0;
    for (int k = 0; k < n; k++)
        if (!strcmp(steps[k].skill, "pick")) picks[np++] = k;
    if (!np) return EM_OK;
    int fail_at = picks[pick_seed % (uint64_t)np];
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
    for (int k = 0; k <= fail_at; k++) {
        sim_set_fail_rate(w, k == fail_at ? 1.0 : 0.0);
        if ((st = sim_step_begin(w, &steps[k], reason, err))) return st;
        int r;
        while ((r = sim_tick(w, 1.0, reason, text)) == 0) {}
        if ((r < 0) != (k == fail_at)) return em_err(err, EM_ERR_INTERNAL, "step %d: the forced failure did not go as planned", k + 1);
    }
    sim_set_fail_rate(w, 0);
    if (sim_goal_met(w, NULL) != 0) return EM_OK; /* the slip happened to finish the task */
    rio_step again[8];
    char e[EM_ERR_LEN];
    if (sim_expert_plan(w, again, 8, &n, e) != EM_OK) return EM_OK; /* the block fell out of reach: no expert answer */
    agent_skills *reg = scene_skills(w, err);
    if (!reg) return EM_ERR_ARG;
    char line[RIO_TEXT_LEN * 2];
    agent_step_fate_line(reg, fail_at + 1, &steps[fail_at], RIO_FB_FAILED, reason, line, sizeof line);
    agent_skills_free(reg);
    char *hist[1] = {line};
    if ((st = add_frame(sc, w, p, err))) return st;
    return add_plan(sc, AGENT_DATA_REPLAN, sc->n_frames - 1, w, instruction, hist, 1, err);
}

/* A plan with one of a model's mistakes, from the task's expert plan:
 * kind 0 a pick names another block, 1 a step is left out, 2 a step is
 * sent twice, 3 the plan stops early. Returns its length, 0 when the kind
 * does not apply (no pick, no other block, one step). */
static int mistake(const rio_step *plan, int n, const rio_skill *pick, uint64_t h, rio_step *out) {
    int kind = (int)(h % 4), j = (int)((h >> 8) % (uint64_t)n);
    h >>= 16;
    switch (kind) {
    case 0: {
        int picks[8], np = 0;
        for (int k = 0; k < n; k++)
            if (!strcmp(plan[k].skill, "pick")) picks[np++] = k;
        if (!np || !pick || pick->n_args < 1 || pick->args[0].n_enum < 2) return 0;
        j = picks[h % (uint64_t)np];
        const rio_arg_spec *a = &pick->args[0];
        int e = (int)((h >> 8) % (uint64_t)(a->n_enum - 1)), self = -1;
        for (int i = 0; i < a->n_enum; i++)
            if (!strcmp(a->enums[i], plan[j].args[0].str)) self = i;
        if (self >= 0 && e >= self) e++; /* any block but the right one */
        memcpy(out, plan, sizeof *plan * (size_t)n);
        snprintf(out[j].args[0].str, sizeof out[j].args[0].str, "%s", a->enums[e]);
        return n;
    }
    case 1:
        if (n < 2) return 0;
        memcpy(out, plan, sizeof *plan * (size_t)j);
        memcpy(out + j, plan + j + 1, sizeof *plan * (size_t)(n - j - 1));
        return n - 1;
    case 2:
        memcpy(out, plan, sizeof *plan * (size_t)(j + 1));
        memcpy(out + j + 1, plan + j, sizeof *plan * (size_t)(n - j));
        return n + 1;
    default:
        if (n < 2) return 0;
        memcpy(out, plan, sizeof *plan * (size_t)(j ? j : 1));
        return j ? j : 1;
    }
}

/* Run plan on w as the controller would, without injected failures, and
 * write the feedback line the agent would add to its history: the first
 * step refused or failed, numbered after the base steps sent before it, or
 * the controller's verdict that the goal is not met. Returns 1 with line
 * filled, 0 when the plan met the goal, < 0 on an error (err). */
static int run_as_sent(sim_world *w, const agent_skills *reg, rio_step *plan, int n, int base, char *line, size_t cap,
                       char *err) {
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN], e[EM_ERR_LEN];
    for (int k = 0; k < n; k++) {
        snprintf(plan[k].step_id, sizeof plan[k].step_id, "m%d", base + k + 1);
        plan[k].index = k;
        int r = -1;
        reason[0] = '\0';
        if (!sim_step_begin(w, &plan[k], reason, e))
            while ((r = sim_tick(w, 1.0, reason, text)) == 0) {}
        if (r < 0) {
            agent_step_fate_line(reg, base + k + 1, &plan[k], RIO_FB_FAILED, reason[0] ? reason : RIO_REASON_PRECONDITION,
                                 line, cap);
            return 1;
        }
    }
    int met = sim_goal_met(w, NULL);
    if (met < 0) return em_err(err, EM_ERR_INTERNAL, "no goal set"), -1;
    if (met) return 0;
    agent_goal_unmet_line(sim_goal_text(w), line, cap);
    return 1;
}

/* The task after one or two plans with a model's mistakes (mistake()),
 * each run as sent: the frame of the world as it then is, the history the
 * agent would have written, and the expert's plan from there. This is what
 * the agent meets in closed loop after its own errors (a pick refused
 * because the gripper is full, a plan that ends short of the goal), which
 * slips alone never show. Nothing is added when a mistake happens to reach
 * the goal or the expert has no plan left. */
static ember_status add_recovery(agent_data_scene *sc, sim_world *w, const char *instruction, uint64_t seed,
                                 const agent_data_params *p, char *err) {
    agent_skills *reg = scene_skills(w, err);
    if (!reg) return EM_ERR_ARG;
    const rio_skill *pick = NULL;
    for (int i = 0; i < agent_skills_count(reg); i++)
        if (!strcmp(agent_skills_all(reg)[i].name, "pick")) pick = &agent_skills_all(reg)[i];
    char lines[2][RIO_TEXT_LEN * 2];
    char *hist[2] = {lines[0], lines[1]};
    int n_hist = 0, base = 0, rounds = 1 + (int)(seed % 2);
    uint64_t h = seed * 0x9e3779b97f4a7c15ull + 0x6a09e667f3bcc909ull;
    ember_status st = EM_OK;
    for (int r = 0; r < rounds && !st; r++) {
        rio_step plan[8], sent[9];
        int n = 0, m = 0;
        char e[EM_ERR_LEN];
        if (sim_expert_plan(w, plan, 8, &n, e) != EM_OK || n == 0) break;
        for (int tries = 0; tries < 4 && !m; tries++) {
            h = h * 6364136223846793005ull + 1442695040888963407ull;
            m = mistake(plan, n, pick, h >> 3, sent);
        }
        if (!m) break;
        int rc = run_as_sent(w, reg, sent, m, base, lines[n_hist], sizeof lines[0], err);
        if (rc < 0) st = EM_ERR_INTERNAL;
        if (rc <= 0) break;
        n_hist++;
        base += m;
    }
    agent_skills_free(reg);
    if (st || !n_hist) return st;
    rio_step again[8];
    int n = 0;
    char e[EM_ERR_LEN];
    if (sim_expert_plan(w, again, 8, &n, e) != EM_OK || n == 0) return EM_OK;
    if ((st = add_frame(sc, w, p, err))) return st;
    return add_plan(sc, AGENT_DATA_REPLAN, sc->n_frames - 1, w, instruction, hist, n_hist, err);
}

/* Task k of a scene on a fresh copy of its world: the plan item (k <
 * per_family[PLAN]) and the replan (k < per_family[REPLAN]). Task 0 is the
 * episode's (sim_task_seed); a later task whose instruction an earlier one
 * had is drawn again, a few times, then left out. */
static ember_status add_task(agent_data_scene *sc, uint64_t seed, int k, const agent_data_params *p, char *err) {
    sim_world *w = scene_world(seed, 0, err);
    if (!w) return EM_ERR_ARG;
    char *goal = NULL, *instruction = NULL;
    ember_status st = EM_OK;
    for (int tries = 0; tries < 4; tries++) {
        free(goal), free(instruction), goal = instruction = NULL;
        uint64_t ts = sim_task_seed(seed) + (k ? 0x9e3779b97f4a7c15ull * (uint64_t)(k * 4 + tries) : 0);
        if (sim_random_goal(w, ts, &goal, &instruction, err) != EM_OK) break; /* no task on this world: none */
        int seen = 0;
        for (int i = 0; i < sc->n_items; i++)
            seen |= sc->item[i].family == AGENT_DATA_PLAN && !strcmp(sc->item[i].question, instruction);
        if (!seen) {
            st = sim_set_goal(w, goal, err);
            if (!st && k < p->per_family[AGENT_DATA_PLAN]) st = add_plan(sc, AGENT_DATA_PLAN, 0, w, instruction, NULL, 0, err);
            /* even tasks: a slip; odd ones (training splits only: the
             * held-out default has one replan per scene) a model's mistake */
            if (!st && k < p->per_family[AGENT_DATA_REPLAN])
                st = k % 2 ? add_recovery(sc, w, instruction, seed + (uint64_t)k, p, err)
                           : add_replan(sc, w, instruction, seed + (uint64_t)k, p, err);
            break;
        }
    }
    free(goal), free(instruction);
    sim_free(w);
    return st;
}

ember_status agent_data_scene_make(uint64_t seed, const agent_data_params *p, agent_data_scene *sc, char *err) {
    memset(sc, 0, sizeof *sc);
    sc->seed = seed;
    int tasks = p->per_family[AGENT_DATA_PLAN] > p->per_family[AGENT_DATA_REPLAN] ? p->per_family[AGENT_DATA_PLAN]
                                                                                    : p->per_family[AGENT_DATA_REPLAN];
    if (tasks > AGENT_DATA_MAX_TASKS) return em_err(err, EM_ERR_RANGE, "at most %d tasks per scene", AGENT_DATA_MAX_TASKS);
    sim_world *w = scene_world(seed, 0, err);
    if (!w) return EM_ERR_ARG;
    ember_status st = add_frame(sc, w, p, err);
    for (int f = 0; f < SIM_QA_FAMILIES && !st; f++) {
        for (int k = 0; k < p->per_family[f] && !st; k++) {
            sim_qa q;
            if (sim_question(w, (sim_qa_family)f, seed * 131 + (uint64_t)(k * 8 + f), &q)) continue;
            char user[320];
            snprintf(user, sizeof user, "Camera: <img>\nRobot state: <state>\nQuestion: %s", q.question);
            st = add_item(sc, (agent_data_family)f, 0, NULL, user, q.answer, q.question, err);
        }
    }
    sim_free(w);
    for (int k = 0; k < tasks && !st; k++) st = add_task(sc, seed, k, p, err);
    if (st) agent_data_scene_free(sc);
    return st;
}

void agent_data_scene_free(agent_data_scene *sc) {
    for (int i = 0; i < sc->n_frames; i++) free(sc->frame[i].rgb);
    for (int i = 0; i < sc->n_items; i++) free(sc->item[i].prompt), free(sc->item[i].answer), free(sc->item[i].question), free(sc->item[i].grammar);
    memset(sc, 0, sizeof *sc);
}
