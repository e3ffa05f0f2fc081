/* goal.c - goals: a JSON array of predicates, parsed against the world's
 * objects, judged on demand, told in English, and drawn at random (always
 * feasible) for training data and demos. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/world_internal.h"

static const char *const pred_names[] = {"in", "on", "holding", "at", "empty"};
#define N_PRED_KINDS 5

/* ------------------------------------------------------------- parsing */

static ember_status pred_obj(const sim_world *w, const cJSON *item, int k, int pos, const char *fn, int *idx, char *err) {
    if (!cJSON_IsString(item))
        return em_err(err, EM_ERR_FORMAT, "%s: predicate %d: element %d must be an object id (a string)", fn, k, pos);
    *idx = sim_find(w, item->valuestring);
    if (*idx < 0) return em_err(err, EM_ERR_NOT_FOUND, "%s: predicate %d: unknown object \"%s\"", fn, k, item->valuestring);
    return EM_OK;
}

ember_status sim_goal_parse(sim_world *w, const char *goal_json, const char *fn, char *err) {
    if (!goal_json || !*goal_json || !strcmp(goal_json, "null")) {
        w->n_goal = -1, w->goal_text[0] = 0;
        return EM_OK;
    }
    cJSON *root = cJSON_Parse(goal_json);
    if (!root) return em_err(err, EM_ERR_FORMAT, "%s: goal is not JSON: %.60s", fn, goal_json);
    ember_status rc = EM_OK;
    sim_pred preds[SIM_MAX_PREDS];
    int n = 0;
    if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
        rc = em_err(err, EM_ERR_FORMAT, "%s: a goal is a non-empty array of predicates like [\"in\",\"red_cube\",\"blue_bowl\"]", fn);
        goto done;
    }
    if (cJSON_GetArraySize(root) > SIM_MAX_PREDS) {
        rc = em_err(err, EM_ERR_RANGE, "%s: %d predicates; at most %d", fn, cJSON_GetArraySize(root), SIM_MAX_PREDS);
        goto done;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, root) {
        sim_pred *q = &preds[n];
        memset(q, 0, sizeof *q);
        q->b = -1;
        const cJSON *name = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsArray(p) || !cJSON_IsString(name)) {
            rc = em_err(err, EM_ERR_FORMAT, "%s: predicate %d: expected an array starting with its name", fn, n);
            goto done;
        }
        int kind = -1;
        for (int i = 0; i < N_PRED_KINDS; i++)
            if (!strcmp(name->valuestring, pred_names[i])) kind = i;
        if (kind < 0) {
            rc = em_err(err, EM_ERR_FORMAT, "%s: predicate %d: unknown predicate \"%s\" (in, on, holding, at, empty)", fn, n,
                        name->valuestring);
            goto done;
        }
        static const int arity[] = {3, 3, 2, 5, 2};
        if (cJSON_GetArraySize(p) != arity[kind]) {
            rc = em_err(err, EM_ERR_FORMAT, "%s: predicate %d: \"%s\" takes %d elements, found %d", fn, n, pred_names[kind],
                        arity[kind], cJSON_GetArraySize(p));
            goto done;
        }
        q->kind = (sim_pred_kind)kind;
        if ((rc = pred_obj(w, cJSON_GetArrayItem(p, 1), n, 1, fn, &q->a, err)) != EM_OK) goto done;
        const sim_object *a = &w->obj[q->a];
        if (q->kind == SIM_PRED_EMPTY && !sim_is_container(w, q->a)) {
            rc = em_err(err, EM_ERR_ARG, "%s: predicate %d: %s is a %s; \"empty\" is about bowls and trays", fn, n, a->id,
                        sim_kind_name(a->kind));
            goto done;
        }
        if (q->kind != SIM_PRED_AT && q->kind != SIM_PRED_EMPTY && a->kind != SIM_BLOCK) {
            rc = em_err(err, EM_ERR_ARG, "%s: predicate %d: %s is a %s; \"%s\" is about blocks", fn, n, a->id,
                        sim_kind_name(a->kind), pred_names[kind]);
            goto done;
        }
        if (q->kind == SIM_PRED_IN || q->kind == SIM_PRED_ON) {
            if ((rc = pred_obj(w, cJSON_GetArrayItem(p, 2), n, 2, fn, &q->b, err)) != EM_OK) goto done;
            const sim_object *b = &w->obj[q->b];
            int ok = q->kind == SIM_PRED_IN ? sim_is_container(w, q->b) : (b->kind == SIM_BLOCK && q->b != q->a);
            if (!ok) {
                rc = em_err(err, EM_ERR_ARG, "%s: predicate %d: %s cannot be %s %s", fn, n, a->id, pred_names[kind], b->id);
                goto done;
            }
        } else if (q->kind == SIM_PRED_AT) {
            double v[3];
            for (int i = 0; i < 3; i++) {
                const cJSON *x = cJSON_GetArrayItem(p, 2 + i);
                if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) {
                    rc = em_err(err, EM_ERR_FORMAT, "%s: predicate %d: \"at\" element %d must be a number", fn, n, 2 + i);
                    goto done;
                }
                v[i] = x->valuedouble;
            }
            if (!(v[2] > 0)) {
                rc = em_err(err, EM_ERR_ARG, "%s: predicate %d: tolerance %g must be positive", fn, n, v[2]);
                goto done;
            }
            q->x = v[0], q->y = v[1], q->tol = v[2];
        }
        n++;
    }
    memcpy(w->goal, preds, sizeof preds[0] * (size_t)n);
    w->n_goal = n;
    sim_goal_describe(w, w->goal, n, w->goal_text, sizeof w->goal_text);
done:
    cJSON_Delete(root);
    return rc;
}

ember_status sim_set_goal(sim_world *w, const char *goal_json, char *err) {
    return sim_goal_parse(w, goal_json, "sim_set_goal", err);
}

void *sim_goal_to_cjson(const sim_world *w) {
    if (w->n_goal < 0) return NULL;
    cJSON *arr = cJSON_CreateArray();
    int bad = !arr;
    for (int k = 0; k < w->n_goal && !bad; k++) {
        const sim_pred *q = &w->goal[k];
        cJSON *p = cJSON_CreateArray();
        if (!p || !cJSON_AddItemToArray(arr, p)) { cJSON_Delete(p); bad = 1; break; }
        bad |= !cJSON_AddItemToArray(p, cJSON_CreateString(pred_names[q->kind]));
        bad |= !cJSON_AddItemToArray(p, cJSON_CreateString(w->obj[q->a].id));
        if (q->b >= 0) bad |= !cJSON_AddItemToArray(p, cJSON_CreateString(w->obj[q->b].id));
        if (q->kind == SIM_PRED_AT) {
            bad |= !cJSON_AddItemToArray(p, cJSON_CreateNumber(q->x));
            bad |= !cJSON_AddItemToArray(p, cJSON_CreateNumber(q->y));
            bad |= !cJSON_AddItemToArray(p, cJSON_CreateNumber(q->tol));
        }
    }
    if (bad) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

/* ------------------------------------------------------------- judging */

static int pred_holds(const sim_world *w, const sim_pred *q, char *why) {
    const sim_object *a = &w->obj[q->a];
    switch (q->kind) {
    case SIM_PRED_IN:
        if (w->g.holding != q->a && sim_container_of(w, q->a) == q->b) return 1;
        if (why) snprintf(why, RIO_TEXT_LEN, "%s is not in %s", a->id, w->obj[q->b].id);
        return 0;
    case SIM_PRED_ON:
        if (w->g.holding != q->a && a->on == q->b) return 1;
        if (why) snprintf(why, RIO_TEXT_LEN, "%s is not on %s", a->id, w->obj[q->b].id);
        return 0;
    case SIM_PRED_HOLDING:
        if (w->g.holding == q->a) return 1;
        if (why) snprintf(why, RIO_TEXT_LEN, "the gripper does not hold %s", a->id);
        return 0;
    case SIM_PRED_AT: {
        double x, y, z;
        sim_obj_pos(w, q->a, &x, &y, &z);
        if (w->g.holding != q->a && hypot(x - q->x, y - q->y) <= q->tol) return 1;
        if (why)
            snprintf(why, RIO_TEXT_LEN, "%s is at (%.1f, %.1f), not within %.1f cm of (%.1f, %.1f)", a->id, x, y, q->tol, q->x,
                     q->y);
        return 0;
    }
    case SIM_PRED_EMPTY:
        for (int i = 0; i < w->n; i++)
            if (w->g.holding != i && w->obj[i].kind == SIM_BLOCK && sim_container_of(w, i) == q->a) {
                if (why) snprintf(why, RIO_TEXT_LEN, "%s is still in %s", w->obj[i].id, a->id);
                return 0;
            }
        return 1;
    }
    return 0;
}

const char *sim_goal_text(const sim_world *w) { return w->n_goal < 0 ? "" : w->goal_text; }

int sim_goal_met(const sim_world *w, char *why) {
    if (why) why[0] = 0;
    if (w->n_goal < 0) {
        if (why) snprintf(why, RIO_TEXT_LEN, "no goal is set");
        return -1;
    }
    for (int k = 0; k < w->n_goal; k++)
        if (!pred_holds(w, &w->goal[k], why)) return 0;
    return 1;
}

/* ------------------------------------------------------------- English */

void sim_goal_describe(const sim_world *w, const sim_pred *p, int n, char *out, size_t cap) {
    size_t len = 0;
    out[0] = 0;
    for (int k = 0; k < n && len < cap; k++) {
        char a[80], b[80] = "";
        sim_phrase(w, p[k].a, a, sizeof a);
        if (p[k].b >= 0) sim_phrase(w, p[k].b, b, sizeof b);
        /* Later clauses drop the verb's "put" when it repeats: "put A in B and C on D". */
        const char *sep = k == 0 ? "" : k == n - 1 ? " and " : ", ";
        int r = 0;
        switch (p[k].kind) {
        case SIM_PRED_IN: r = snprintf(out + len, cap - len, "%s%s%s in %s", sep, k ? "" : "put ", a, b); break;
        case SIM_PRED_ON: r = snprintf(out + len, cap - len, "%s%s%s on %s", sep, k ? "" : "put ", a, b); break;
        case SIM_PRED_HOLDING: r = snprintf(out + len, cap - len, "%s%s %s", sep, k ? "hold" : "pick up", a); break;
        case SIM_PRED_AT:
            r = snprintf(out + len, cap - len, "%s%s%s at (%.0f, %.0f)", sep, k ? "" : "move ", a, p[k].x, p[k].y);
            break;
        case SIM_PRED_EMPTY: r = snprintf(out + len, cap - len, "%sclear %s", sep, a); break;
        }
        if (r < 0) break;
        len += (size_t)r;
    }
}

/* -------------------------------------------------------------- random */

/* A block phrase for an instruction: by colour and shape, or, for a
 * labelled block now and then, by its label only ("the block labelled
 * K7"), so the plan needs the image to name it. */
static void block_phrase(const sim_world *w, int i, uint64_t *s, char *out, size_t cap) {
    if (w->obj[i].label[0] && sim_rng_below(s, 5) < 2) snprintf(out, cap, "the block labelled %s", w->obj[i].label);
    else sim_phrase(w, i, out, cap);
}

static int reachable_block(const sim_world *w, int i) {
    return w->obj[i].kind == SIM_BLOCK && sim_reachable(w, i);
}

/* Draw one task: predicates and the instruction. 0 when drawn. */
static int draw_task(const sim_world *w, uint64_t *s, sim_pred *p, int *n, char *text, size_t cap) {
    int blocks[SIM_MAX_OBJECTS], conts[SIM_MAX_OBJECTS], full[SIM_MAX_OBJECTS], nb = 0, nc = 0, nf = 0;
    for (int i = 0; i < w->n; i++) {
        if (reachable_block(w, i)) blocks[nb++] = i;
        if (sim_is_container(w, i) && sim_reachable(w, i)) {
            conts[nc++] = i;
            for (int j = 0; j < w->n; j++)
                if (w->obj[j].kind == SIM_BLOCK && w->g.holding != j && sim_container_of(w, j) == i) { full[nf++] = i; break; }
        }
    }
    if (!nb) return -1;
    char a[80], b[80], c[80], d[80];
    int r = sim_rng_below(s, 100), x = blocks[sim_rng_below(s, nb)];
    memset(p, 0, 2 * sizeof *p);
    p[0].b = p[1].b = -1;
    block_phrase(w, x, s, a, sizeof a);
    if (r < 30 && nc) {
        static const char *const verbs[] = {"put", "place", "move"};
        int k = conts[sim_rng_below(s, nc)];
        sim_phrase(w, k, c, sizeof c);
        p[0] = (sim_pred){SIM_PRED_IN, x, k, 0, 0, 0}, *n = 1;
        snprintf(text, cap, "%s %s %s %s", verbs[sim_rng_below(s, 3)], a, sim_rng_below(s, 2) ? "in" : "into", c);
    } else if (r < 42 && nc && nb >= 2) {
        int y = blocks[sim_rng_below(s, nb)], k = conts[sim_rng_below(s, nc)], k2 = conts[sim_rng_below(s, nc)];
        if (y == x) return -1;
        block_phrase(w, y, s, b, sizeof b);
        sim_phrase(w, k, c, sizeof c);
        sim_phrase(w, k2, d, sizeof d);
        p[0] = (sim_pred){SIM_PRED_IN, x, k, 0, 0, 0}, p[1] = (sim_pred){SIM_PRED_IN, y, k2, 0, 0, 0}, *n = 2;
        if (k == k2) snprintf(text, cap, "put %s and %s in %s", a, b, c);
        else snprintf(text, cap, "put %s in %s and %s in %s", a, c, b, d);
    } else if (r < 67 && nb >= 2) {
        int y = blocks[sim_rng_below(s, nb)];
        if (y == x || w->g.holding == y) return -1;
        block_phrase(w, y, s, b, sizeof b);
        p[0] = (sim_pred){SIM_PRED_ON, x, y, 0, 0, 0}, *n = 1;
        snprintf(text, cap, "%s %s on %s", sim_rng_below(s, 2) ? "stack" : "put", a, b);
    } else if (r < 80) {
        static const char *const verbs[] = {"pick up", "grab", "hold"};
        p[0] = (sim_pred){SIM_PRED_HOLDING, x, -1, 0, 0, 0}, *n = 1;
        snprintf(text, cap, "%s %s", verbs[sim_rng_below(s, 3)], a);
    } else if (nf) {
        static const char *const verbs[] = {"clear", "empty"};
        int k = full[sim_rng_below(s, nf)];
        sim_phrase(w, k, c, sizeof c);
        p[0] = (sim_pred){SIM_PRED_EMPTY, k, -1, 0, 0, 0}, *n = 1;
        snprintf(text, cap, "%s %s", verbs[sim_rng_below(s, 2)], c);
    } else {
        return -1;
    }
    return 0;
}

/* A task the expert can do from here (sim_expert_plan finds a plan of at
 * most 8 steps), not met already: in, in twice, on, holding, empty; blocks
 * named by colour and shape or by label. */
ember_status sim_random_goal(const sim_world *w, uint64_t seed, char **goal_json, char **text, char *err) {
    *goal_json = NULL;
    if (text) *text = NULL;
    sim_world tmp = *w; /* scratch: the goal is parsed against the same objects */
    uint64_t s = sim_mix64(seed ^ w->cfg.seed);
    char instr[512];
    rio_step steps[8];
    int found = 0;
    for (int tries = 0; tries < 64 && !found; tries++) {
        sim_pred p[2];
        int n = 0, ns = 0;
        if (draw_task(w, &s, p, &n, instr, sizeof instr)) continue;
        memcpy(tmp.goal, p, sizeof p);
        tmp.n_goal = n;
        char e[EM_ERR_LEN];
        found = sim_goal_met(&tmp, NULL) == 0 && sim_expert_plan(&tmp, steps, 8, &ns, e) == EM_OK;
    }
    if (!found) return em_err(err, EM_ERR_NOT_FOUND, "sim_random_goal: found no task to pose in this world");
    cJSON *arr = sim_goal_to_cjson(&tmp);
    char *json = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!json) return em_err(err, EM_ERR_NOMEM, "sim_random_goal: out of memory");
    if (text && !(*text = strdup(instr))) {
        free(json);
        return em_err(err, EM_ERR_NOMEM, "sim_random_goal: out of memory");
    }
    *goal_json = json;
    return EM_OK;
}
