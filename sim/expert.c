/* expert.c - the scripted expert: the plan a careful operator would send
 * to reach the world's goal from where it stands, the scrambles that give
 * training scenes their variety, and the fail-rate setter. The default
 * model learns to plan from these plans (agent/datagen.h), and `ember eval`
 * scores its plans against them.
 *
 * Every step the expert writes is run on a scratch copy of the world through
 * the real skills (sim_step_begin / sim_tick, no failures), so a plan it
 * returns is one the sim accepts step by step, and it ends with the goal
 * met. The rules are few and fixed, so a model can learn them from the
 * frame, the state and the instruction:
 *   - goal predicates are served in their order; one that holds is skipped;
 *   - to pick a block, first put away what the gripper holds and clear what
 *     rests on the block (top first);
 *   - a block put away goes into the spare container: the first container
 *     in slot order, within reach, with room, named by no goal predicate
 *     (else any other with room);
 *   - "empty" takes the container's blocks top first, in slot order. */
#include <stdio.h>
#include <string.h>

#include "sim/world_internal.h"

typedef struct expert {
    sim_world w; /* the scratch world the plan is run on */
    const sim_world *goal_w;
    rio_step *steps;
    int max, n;
    char *err;
} expert;

void sim_set_fail_rate(sim_world *w, double r) { w->cfg.fail_rate = r < 0 ? 0 : r > 1 ? 1 : r; }

static int in_goal(const sim_world *w, int c) {
    for (int k = 0; k < w->n_goal; k++)
        if ((w->goal[k].kind == SIM_PRED_IN && w->goal[k].b == c) || (w->goal[k].kind == SIM_PRED_EMPTY && w->goal[k].a == c))
            return 1;
    return 0;
}

/* Run one step on the scratch world; 0 when it ran to its end. */
static int emit(expert *E, sim_skill_id sk, int obj) {
    if (E->n >= E->max) {
        em_err(E->err, EM_ERR_RANGE, "sim_expert_plan: the plan needs more than %d steps", E->max);
        return -1;
    }
    rio_step *st = &E->steps[E->n];
    memset(st, 0, sizeof *st);
    snprintf(st->step_id, sizeof st->step_id, "x%d", E->n + 1);
    st->index = E->n;
    snprintf(st->skill, sizeof st->skill, "%s", sim_skill_name(sk));
    if (obj >= 0) {
        rio_arg *a = &st->args[st->n_args++];
        snprintf(a->name, sizeof a->name, "%s", sk == SIM_SK_PICK ? "object" : "target");
        a->type = RIO_ARG_STRING;
        snprintf(a->str, sizeof a->str, "%s", E->w.obj[obj].id);
    }
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN], err[EM_ERR_LEN];
    if (sim_step_begin(&E->w, st, reason, err)) {
        em_err(E->err, EM_ERR_ARG, "sim_expert_plan: step %d refused: %s", E->n + 1, err);
        return -1;
    }
    int r;
    while ((r = sim_tick(&E->w, 1.0, reason, text)) == 0) {}
    if (r < 0) {
        em_err(E->err, EM_ERR_INTERNAL, "sim_expert_plan: step %d failed: %s", E->n + 1, reason);
        return -1;
    }
    E->n++;
    return 0;
}

static int spare(const expert *E, int not_c) {
    const sim_world *w = &E->w;
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < w->n; c++)
            if (c != not_c && sim_is_container(w, c) && sim_reachable(w, c) && sim_occupants(w, c) < sim_capacity(w, c) &&
                (pass || !in_goal(E->goal_w, c)))
                return c;
    return -1;
}

static int put_away(expert *E, int not_c) {
    int c = spare(E, not_c);
    if (c < 0) {
        em_err(E->err, EM_ERR_NOT_FOUND, "sim_expert_plan: no container has room to put a block away");
        return -1;
    }
    return emit(E, SIM_SK_PLACE, c);
}

static int hold(expert *E, int a, int not_c);

/* Clear whatever rests on block a. */
static int clear(expert *E, int a, int not_c) {
    for (int t; (t = sim_top_of(&E->w, a)) >= 0;) {
        while (sim_top_of(&E->w, t) >= 0) t = sim_top_of(&E->w, t);
        if (hold(E, t, not_c) || put_away(E, not_c)) return -1;
    }
    return 0;
}

static int hold(expert *E, int a, int not_c) {
    if (E->w.g.holding == a) return 0;
    if (E->w.g.holding >= 0 && put_away(E, not_c)) return -1;
    if (clear(E, a, not_c)) return -1;
    return emit(E, SIM_SK_PICK, a);
}

ember_status sim_expert_plan(const sim_world *w, rio_step *steps, int max_steps, int *n_steps, char *err) {
    *n_steps = 0;
    if (w->n_goal < 0) return em_err(err, EM_ERR_ARG, "sim_expert_plan: no goal is set");
    if (w->m.active) return em_err(err, EM_ERR_ARG, "sim_expert_plan: a step is running");
    expert E;
    memset(&E, 0, sizeof E);
    E.w = *w, E.goal_w = w, E.steps = steps, E.max = max_steps, E.err = err;
    E.w.cfg.fail_rate = 0;
    for (int k = 0; k < w->n_goal; k++) {
        const sim_pred *p = &w->goal[k];
        sim_world probe = E.w;
        probe.n_goal = 1, probe.goal[0] = *p;
        if (sim_goal_met(&probe, NULL) == 1) continue;
        int rc = 0;
        switch (p->kind) {
        case SIM_PRED_IN: rc = hold(&E, p->a, p->b) || emit(&E, SIM_SK_PLACE, p->b); break;
        case SIM_PRED_ON: rc = clear(&E, p->b, -1) || hold(&E, p->a, -1) || emit(&E, SIM_SK_PLACE, p->b); break;
        case SIM_PRED_HOLDING: rc = hold(&E, p->a, -1); break;
        case SIM_PRED_EMPTY:
            for (int again = 1; again && !rc;) {
                again = 0;
                for (int i = 0; i < E.w.n && !again; i++)
                    if (E.w.obj[i].kind == SIM_BLOCK && E.w.g.holding != i && sim_container_of(&E.w, i) == p->a) {
                        int t = i;
                        while (sim_top_of(&E.w, t) >= 0) t = sim_top_of(&E.w, t);
                        rc = hold(&E, t, p->a) || put_away(&E, p->a);
                        again = 1;
                    }
            }
            break;
        case SIM_PRED_AT: return em_err(err, EM_ERR_UNSUPPORTED, "sim_expert_plan: \"at\" goals are not planned by the expert");
        }
        if (rc) return EM_ERR_ARG;
    }
    if (sim_goal_met(&E.w, NULL) != 1)
        return em_err(err, EM_ERR_INTERNAL, "sim_expert_plan: the plan ends with the goal not met (a later step undid an earlier one)");
    *n_steps = E.n;
    return EM_OK;
}

/* A scramble: n moves a robot might have made before, each a pick of a
 * reachable uncovered block and a place into a container with room or onto
 * another clear block, run through the skills; sometimes the last block is
 * left in the gripper. Deterministic in (world, seed). */
ember_status sim_scramble(sim_world *w, uint64_t seed, int n_moves, int may_hold, char *err) {
    if (w->m.active) return em_err(err, EM_ERR_ARG, "sim_scramble: a step is running");
    uint64_t s = sim_mix64(seed ^ 0x5c7a3b1eull);
    double rate = w->cfg.fail_rate;
    w->cfg.fail_rate = 0;
    for (int m = 0; m < n_moves; m++) {
        if (w->g.holding >= 0) break;
        int cand[SIM_MAX_OBJECTS], nc = 0, dest[SIM_MAX_OBJECTS], nd = 0;
        for (int i = 0; i < w->n; i++)
            if (w->obj[i].kind == SIM_BLOCK && sim_reachable(w, i) && sim_top_of(w, i) < 0) cand[nc++] = i;
        if (!nc) break;
        int a = cand[sim_rng_below(&s, nc)];
        for (int i = 0; i < w->n; i++) {
            if (i == a || !sim_reachable(w, i)) continue;
            if (sim_is_container(w, i) && sim_occupants(w, i) < sim_capacity(w, i)) dest[nd++] = i, dest[nd++] = i;
            else if (w->obj[i].kind == SIM_BLOCK && sim_top_of(w, i) < 0 && w->obj[i].on < 0) dest[nd++] = i;
        }
        int last = m == n_moves - 1 && may_hold && sim_rng_below(&s, 3) == 0;
        rio_step st;
        char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN], e[EM_ERR_LEN];
        for (int k = 0; k < (last ? 1 : 2); k++) {
            memset(&st, 0, sizeof st);
            snprintf(st.step_id, sizeof st.step_id, "scramble%d.%d", m, k);
            st.n_args = 1;
            st.args[0].type = RIO_ARG_STRING;
            if (k == 0) {
                snprintf(st.skill, sizeof st.skill, "pick");
                snprintf(st.args[0].name, sizeof st.args[0].name, "object");
                snprintf(st.args[0].str, sizeof st.args[0].str, "%s", w->obj[a].id);
            } else {
                if (!nd) break;
                snprintf(st.skill, sizeof st.skill, "place");
                snprintf(st.args[0].name, sizeof st.args[0].name, "target");
                snprintf(st.args[0].str, sizeof st.args[0].str, "%s", w->obj[dest[sim_rng_below(&s, nd)]].id);
            }
            if (sim_step_begin(w, &st, reason, e)) break;
            while (sim_tick(w, 1.0, reason, text) == 0) {}
        }
        if (w->g.holding >= 0 && !last) { /* nowhere to put it: open the gripper where it is */
            snprintf(st.skill, sizeof st.skill, "open_gripper");
            st.n_args = 0;
            if (!sim_step_begin(w, &st, reason, e))
                while (sim_tick(w, 1.0, reason, text) == 0) {}
        }
    }
    /* the gripper back at rest, so the frames show the scene, not the arm */
    if (w->g.holding < 0) w->g.x = SIM_HOME_X, w->g.y = SIM_HOME_Y, w->g.z = SIM_HOME_Z;
    w->cfg.fail_rate = rate;
    return EM_OK;
}
