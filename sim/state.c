/* state.c - the state message: a fixed-length vector (the same layout for
 * every world, so a consumer can index it without re-reading the hello)
 * and the named fields as one JSON object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/world_internal.h"

/* The vector's head; then obj<i>.x, obj<i>.y for every slot up to
 * SIM_MAX_OBJECTS (0 for empty slots; objects.count says how many are
 * real, the fields' "objects" list gives their ids in slot order). */
static const char *const head[] = {
    "gripper.x", "gripper.y", "gripper.z", "gripper.open", "gripper.holding",
    "step.busy", "step.progress", "goal.met", "objects.count",
};
#define N_HEAD ((int)(sizeof head / sizeof head[0]))
_Static_assert(N_HEAD + 2 * SIM_MAX_OBJECTS <= RIO_MAX_STATE, "state vector exceeds RIO_MAX_STATE");

/* Adds a number, string or bool and counts failures (cJSON returns NULL
 * when out of memory), so building reads straight and is checked once. */
static void add_num(cJSON *o, const char *k, double v, int *bad) { *bad |= !cJSON_AddNumberToObject(o, k, v); }
static void add_str(cJSON *o, const char *k, const char *v, int *bad) { *bad |= !cJSON_AddStringToObject(o, k, v); }
static void add_bool(cJSON *o, const char *k, int v, int *bad) { *bad |= !cJSON_AddBoolToObject(o, k, v); }
static void add_id(cJSON *o, const char *k, const sim_world *w, int i, int *bad) {
    if (i >= 0) add_str(o, k, w->obj[i].id, bad);
    else *bad |= !cJSON_AddNullToObject(o, k);
}

static cJSON *fields(const sim_world *w) {
    int bad = 0;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON *objs = cJSON_AddArrayToObject(root, "objects");
    bad |= !objs;
    for (int i = 0; i < w->n && !bad; i++) {
        const sim_object *o = &w->obj[i];
        cJSON *j = cJSON_CreateObject();
        if (!j || !cJSON_AddItemToArray(objs, j)) { cJSON_Delete(j); bad = 1; break; }
        double x, y, z;
        sim_obj_pos(w, i, &x, &y, &z);
        add_str(j, "id", o->id, &bad);
        add_str(j, "kind", sim_kind_name(o->kind), &bad);
        if (o->kind == SIM_BLOCK) add_str(j, "shape", sim_shape_name(o->shape), &bad);
        add_str(j, "color", sim_palette[o->color].name, &bad);
        add_str(j, "label", o->label, &bad);
        add_num(j, "x", round(x * 10) / 10, &bad);
        add_num(j, "y", round(y * 10) / 10, &bad);
        add_num(j, "z", round(z * 10) / 10, &bad);
        add_id(j, "in", w, w->g.holding == i ? -1 : sim_container_of(w, i), &bad);
        add_id(j, "on", w, w->g.holding == i ? -1 : o->on, &bad);
        add_bool(j, "held", w->g.holding == i, &bad);
        add_bool(j, "reachable", sim_reachable(w, i), &bad);
    }
    cJSON *g = cJSON_AddObjectToObject(root, "gripper");
    if (g) {
        add_num(g, "x", round(w->g.x * 10) / 10, &bad);
        add_num(g, "y", round(w->g.y * 10) / 10, &bad);
        add_num(g, "z", round(w->g.z * 10) / 10, &bad);
        add_bool(g, "open", w->g.open, &bad);
        add_id(g, "holding", w, w->g.holding, &bad);
    } else bad = 1;
    cJSON *s = cJSON_AddObjectToObject(root, "step");
    if (s) {
        add_bool(s, "busy", w->m.active, &bad);
        if (w->m.active) {
            add_str(s, "id", w->m.step_id, &bad);
            add_str(s, "skill", sim_skill_name(w->m.skill), &bad);
            add_num(s, "progress", round(sim_progress(w) * 1000) / 1000, &bad);
        }
    } else bad = 1;
    cJSON *goal = cJSON_AddObjectToObject(root, "goal");
    if (goal) {
        if (w->n_goal >= 0) {
            char why[RIO_TEXT_LEN];
            int met = sim_goal_met(w, why);
            cJSON *preds = sim_goal_to_cjson(w);
            if (!preds || !cJSON_AddItemToObject(goal, "predicates", preds)) { cJSON_Delete(preds); bad = 1; }
            add_str(goal, "text", w->goal_text, &bad);
            add_bool(goal, "met", met == 1, &bad);
            if (met != 1) add_str(goal, "why", why, &bad);
        } else {
            bad |= !cJSON_AddNullToObject(goal, "predicates");
        }
    } else bad = 1;
    if (bad) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

ember_status sim_state(const sim_world *w, rio_state *st, char *err) {
    memset(st->vector, 0, sizeof st->vector);
    st->n = N_HEAD + 2 * SIM_MAX_OBJECTS;
    for (int i = 0; i < N_HEAD; i++) snprintf(st->layout[i], RIO_NAME_LEN, "%s", head[i]);
    for (int i = 0; i < SIM_MAX_OBJECTS; i++) {
        snprintf(st->layout[N_HEAD + 2 * i], RIO_NAME_LEN, "obj%d.x", i);
        snprintf(st->layout[N_HEAD + 2 * i + 1], RIO_NAME_LEN, "obj%d.y", i);
    }
    double *v = st->vector;
    v[0] = w->g.x, v[1] = w->g.y, v[2] = w->g.z, v[3] = w->g.open, v[4] = w->g.holding;
    v[5] = w->m.active, v[6] = sim_progress(w), v[7] = sim_goal_met(w, NULL), v[8] = w->n;
    for (int i = 0; i < w->n; i++) {
        double z;
        sim_obj_pos(w, i, &v[N_HEAD + 2 * i], &v[N_HEAD + 2 * i + 1], &z);
    }
    st->fields_json = NULL;
    cJSON *f = fields(w);
    char *s = f ? cJSON_PrintUnformatted(f) : NULL;
    cJSON_Delete(f);
    if (!s) return em_err(err, EM_ERR_NOMEM, "sim_state: out of memory building the named fields of %d objects", w->n);
    st->fields_json = s;
    return EM_OK;
}
