/* snapshot.c - the world as one JSON line and back (the journal's
 * snapshot). Doubles go through cJSON's printer, which prints 15 digits
 * and falls back to 17 when those do not read back to the same double, so
 * a round trip is exact. The seed travels as a decimal string: a JSON
 * number is a double and would lose the low bits of a 64-bit seed.
 *
 * Form: {"v":1,"config":{"seed":"7","fail_rate":0,"step_s":0.4,"n_objects":0},
 *  "objects":[{"id","kind","shape","color","label","x","y","in","on"}...],
 *  "gripper":{"x","y","z","open","holding"},"goal":[...]|null} */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/world_internal.h"

#define SNAP_VERSION 1

char *sim_snapshot(const sim_world *w) {
    int bad = 0;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, w->cfg.seed);
    bad |= !cJSON_AddNumberToObject(root, "v", SNAP_VERSION);
    cJSON *c = cJSON_AddObjectToObject(root, "config");
    bad |= !c || !cJSON_AddStringToObject(c, "seed", seed) || !cJSON_AddNumberToObject(c, "fail_rate", w->cfg.fail_rate) ||
           !cJSON_AddNumberToObject(c, "step_s", w->cfg.step_s) || !cJSON_AddNumberToObject(c, "n_objects", w->cfg.n_objects);
    cJSON *objs = cJSON_AddArrayToObject(root, "objects");
    bad |= !objs;
    for (int i = 0; i < w->n && !bad; i++) {
        const sim_object *o = &w->obj[i];
        cJSON *j = cJSON_CreateObject();
        if (!j || !cJSON_AddItemToArray(objs, j)) { cJSON_Delete(j); bad = 1; break; }
        bad |= !cJSON_AddStringToObject(j, "id", o->id) || !cJSON_AddStringToObject(j, "kind", sim_kind_name(o->kind)) ||
               !cJSON_AddStringToObject(j, "shape", sim_shape_name(o->shape)) ||
               !cJSON_AddStringToObject(j, "color", sim_palette[o->color].name) ||
               !cJSON_AddStringToObject(j, "label", o->label) || !cJSON_AddNumberToObject(j, "x", o->x) ||
               !cJSON_AddNumberToObject(j, "y", o->y) ||
               !(o->in >= 0 ? cJSON_AddStringToObject(j, "in", w->obj[o->in].id) : cJSON_AddNullToObject(j, "in")) ||
               !(o->on >= 0 ? cJSON_AddStringToObject(j, "on", w->obj[o->on].id) : cJSON_AddNullToObject(j, "on"));
    }
    cJSON *g = cJSON_AddObjectToObject(root, "gripper");
    bad |= !g || !cJSON_AddNumberToObject(g, "x", w->g.x) || !cJSON_AddNumberToObject(g, "y", w->g.y) ||
           !cJSON_AddNumberToObject(g, "z", w->g.z) || !cJSON_AddBoolToObject(g, "open", w->g.open) ||
           !(w->g.holding >= 0 ? cJSON_AddStringToObject(g, "holding", w->obj[w->g.holding].id)
                               : cJSON_AddNullToObject(g, "holding"));
    if (!bad) {
        cJSON *goal = sim_goal_to_cjson(w);
        if (w->n_goal >= 0 && !goal) bad = 1;
        else if (!goal) bad |= !cJSON_AddNullToObject(root, "goal");
        else if (!cJSON_AddItemToObject(root, "goal", goal)) { cJSON_Delete(goal); bad = 1; }
    }
    char *s = bad ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------------------- restore */

#define FN "sim_restore"

static ember_status get_num(const cJSON *o, const char *key, const char *where, double *v, char *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
        return em_err(err, EM_ERR_FORMAT, FN ": %s.%s: missing or not a finite number", where, key);
    *v = x->valuedouble;
    return EM_OK;
}

static ember_status get_str(const cJSON *o, const char *key, const char *where, size_t cap, const char **v, char *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(x)) return em_err(err, EM_ERR_FORMAT, FN ": %s.%s: missing or not a string", where, key);
    if (strlen(x->valuestring) >= cap)
        return em_err(err, EM_ERR_FORMAT, FN ": %s.%s: \"%.40s\" longer than %zu bytes", where, key, x->valuestring, cap - 1);
    *v = x->valuestring;
    return EM_OK;
}

/* A relation: null, or the id of an object; *idx -1 for null. */
static ember_status get_ref(const sim_world *w, const cJSON *o, const char *key, const char *where, int *idx, char *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    *idx = -1;
    if (!x || cJSON_IsNull(x)) return EM_OK;
    if (!cJSON_IsString(x)) return em_err(err, EM_ERR_FORMAT, FN ": %s.%s: expected an object id or null", where, key);
    *idx = sim_find(w, x->valuestring);
    if (*idx < 0) return em_err(err, EM_ERR_FORMAT, FN ": %s.%s: unknown object \"%.40s\"", where, key, x->valuestring);
    return EM_OK;
}

static int id_ok(const char *id) {
    if (!*id) return 0;
    for (; *id; id++)
        if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') || (*id >= '0' && *id <= '9') || *id == '_' ||
              *id == '-' || *id == '.'))
            return 0;
    return 1;
}

static ember_status read_config(sim_world *w, const cJSON *root, char *err) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cJSON_IsObject(c)) return em_err(err, EM_ERR_FORMAT, FN ": config: missing or not an object");
    const char *seed = "";
    double d = 0;
    ember_status rc;
    if ((rc = get_str(c, "seed", "config", 24, &seed, err)) != EM_OK) return rc;
    char *end;
    errno = 0;
    unsigned long long s = strtoull(seed, &end, 10);
    if (!*seed || *end || errno || seed[0] == '-')
        return em_err(err, EM_ERR_FORMAT, FN ": config.seed: \"%s\" is not a decimal 64-bit number", seed);
    w->cfg.seed = (uint64_t)s;
    if ((rc = get_num(c, "fail_rate", "config", &w->cfg.fail_rate, err)) != EM_OK) return rc;
    if (w->cfg.fail_rate < 0 || w->cfg.fail_rate > 1)
        return em_err(err, EM_ERR_FORMAT, FN ": config.fail_rate %g outside 0..1", w->cfg.fail_rate);
    if ((rc = get_num(c, "step_s", "config", &w->cfg.step_s, err)) != EM_OK) return rc;
    if (w->cfg.step_s < 0 || w->cfg.step_s > 60)
        return em_err(err, EM_ERR_FORMAT, FN ": config.step_s %g outside 0..60", w->cfg.step_s);
    if ((rc = get_num(c, "n_objects", "config", &d, err)) != EM_OK) return rc;
    if (d != floor(d) || d < 0 || d > SIM_MAX_OBJECTS)
        return em_err(err, EM_ERR_FORMAT, FN ": config.n_objects %g: expected an integer 0..%d", d, SIM_MAX_OBJECTS);
    w->cfg.n_objects = (int)d;
    return EM_OK;
}

/* Objects in two passes: first what each is, then the relations, which
 * name other objects by id. */
static ember_status read_objects(sim_world *w, const cJSON *root, char *err) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "objects");
    if (!cJSON_IsArray(arr)) return em_err(err, EM_ERR_FORMAT, FN ": objects: missing or not an array");
    int n = cJSON_GetArraySize(arr);
    if (n > SIM_MAX_OBJECTS) return em_err(err, EM_ERR_RANGE, FN ": objects: %d objects; at most %d", n, SIM_MAX_OBJECTS);
    ember_status rc;
    const cJSON *j;
    w->n = 0;
    cJSON_ArrayForEach(j, arr) {
        char where[48];
        snprintf(where, sizeof where, "objects[%d]", w->n);
        if (!cJSON_IsObject(j)) return em_err(err, EM_ERR_FORMAT, FN ": %s: not an object", where);
        sim_object *o = &w->obj[w->n];
        memset(o, 0, sizeof *o);
        o->in = o->on = -1;
        const char *id = "", *kind = "", *shape = "", *color = "", *label = "";
        if ((rc = get_str(j, "id", where, SIM_OBJ_ID_LEN, &id, err)) != EM_OK) return rc;
        if (!id_ok(id)) return em_err(err, EM_ERR_FORMAT, FN ": %s.id: \"%s\" is not a plain id ([A-Za-z0-9_.-])", where, id);
        if (sim_find(w, id) >= 0) return em_err(err, EM_ERR_FORMAT, FN ": %s.id: \"%s\" appears twice", where, id);
        snprintf(o->id, sizeof o->id, "%s", id);
        if ((rc = get_str(j, "kind", where, 16, &kind, err)) != EM_OK) return rc;
        o->kind = SIM_KIND_COUNT;
        for (int k = 0; k < SIM_KIND_COUNT; k++)
            if (!strcmp(kind, sim_kind_name((sim_kind)k))) o->kind = (sim_kind)k;
        if (o->kind == SIM_KIND_COUNT)
            return em_err(err, EM_ERR_FORMAT, FN ": %s.kind: \"%s\" (block, bowl, tray, sign)", where, kind);
        if ((rc = get_str(j, "shape", where, 16, &shape, err)) != EM_OK) return rc;
        o->shape = SIM_SHAPE_COUNT;
        for (int k = 0; k < SIM_SHAPE_COUNT; k++)
            if (!strcmp(shape, sim_shape_name((sim_shape)k))) o->shape = (sim_shape)k;
        if (o->shape == SIM_SHAPE_COUNT || (o->kind == SIM_BLOCK) != (o->shape != SIM_SHAPE_NONE))
            return em_err(err, EM_ERR_FORMAT, FN ": %s.shape: \"%s\" does not fit a %s", where, shape, kind);
        if ((rc = get_str(j, "color", where, 16, &color, err)) != EM_OK) return rc;
        if ((o->color = sim_color_find(color)) < 0)
            return em_err(err, EM_ERR_FORMAT, FN ": %s.color: \"%s\" is not in the palette", where, color);
        if ((rc = get_str(j, "label", where, SIM_LABEL_LEN, &label, err)) != EM_OK) return rc;
        snprintf(o->label, sizeof o->label, "%s", label);
        if ((rc = get_num(j, "x", where, &o->x, err)) != EM_OK || (rc = get_num(j, "y", where, &o->y, err)) != EM_OK)
            return rc;
        if (!sim_on_table(o->x, o->y))
            return em_err(err, EM_ERR_FORMAT, FN ": %s: (%g, %g) is off the table", where, o->x, o->y);
        w->n++;
    }
    int i = 0;
    cJSON_ArrayForEach(j, arr) {
        char where[48];
        snprintf(where, sizeof where, "objects[%d]", i);
        sim_object *o = &w->obj[i];
        if ((rc = get_ref(w, j, "in", where, &o->in, err)) != EM_OK) return rc;
        if ((rc = get_ref(w, j, "on", where, &o->on, err)) != EM_OK) return rc;
        if (o->in >= 0 && (o->kind != SIM_BLOCK || !sim_is_container(w, o->in)))
            return em_err(err, EM_ERR_FORMAT, FN ": %s.in: a %s cannot lie in %s", where, sim_kind_name(o->kind), w->obj[o->in].id);
        if (o->on >= 0 && (o->kind != SIM_BLOCK || w->obj[o->on].kind != SIM_BLOCK || o->on == i))
            return em_err(err, EM_ERR_FORMAT, FN ": %s.on: a %s cannot rest on %s", where, sim_kind_name(o->kind), w->obj[o->on].id);
        if (o->in >= 0 && o->on >= 0)
            return em_err(err, EM_ERR_FORMAT, FN ": %s: both in %s and on %s", where, w->obj[o->in].id, w->obj[o->on].id);
        i++;
    }
    /* Stacks: one block on top of another at most, and no cycles. */
    for (i = 0; i < w->n; i++) {
        int above = 0;
        for (int k = 0; k < w->n; k++) above += w->obj[k].on == i;
        if (above > 1) return em_err(err, EM_ERR_FORMAT, FN ": %d blocks rest on %s; at most 1", above, w->obj[i].id);
        int j2 = i, hops = 0;
        while (j2 >= 0 && hops <= w->n) j2 = w->obj[j2].on, hops++;
        if (j2 >= 0) return em_err(err, EM_ERR_FORMAT, FN ": the stack under %s loops", w->obj[i].id);
    }
    return EM_OK;
}

static ember_status read_gripper(sim_world *w, const cJSON *root, char *err) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "gripper");
    if (!cJSON_IsObject(g)) return em_err(err, EM_ERR_FORMAT, FN ": gripper: missing or not an object");
    ember_status rc;
    if ((rc = get_num(g, "x", "gripper", &w->g.x, err)) != EM_OK || (rc = get_num(g, "y", "gripper", &w->g.y, err)) != EM_OK ||
        (rc = get_num(g, "z", "gripper", &w->g.z, err)) != EM_OK)
        return rc;
    if (fabs(w->g.x) > 200 || fabs(w->g.y) > 200 || fabs(w->g.z) > 200)
        return em_err(err, EM_ERR_FORMAT, FN ": gripper: (%g, %g, %g) far outside the workspace", w->g.x, w->g.y, w->g.z);
    const cJSON *open = cJSON_GetObjectItemCaseSensitive(g, "open");
    if (!cJSON_IsBool(open)) return em_err(err, EM_ERR_FORMAT, FN ": gripper.open: missing or not a bool");
    w->g.open = cJSON_IsTrue(open);
    if ((rc = get_ref(w, g, "holding", "gripper", &w->g.holding, err)) != EM_OK) return rc;
    int h = w->g.holding;
    if (h >= 0) {
        if (w->obj[h].kind != SIM_BLOCK)
            return em_err(err, EM_ERR_FORMAT, FN ": gripper.holding: %s is a %s", w->obj[h].id, sim_kind_name(w->obj[h].kind));
        if (w->obj[h].in >= 0 || w->obj[h].on >= 0)
            return em_err(err, EM_ERR_FORMAT, FN ": gripper.holding: %s is held yet lies in or on something", w->obj[h].id);
        for (int k = 0; k < w->n; k++)
            if (w->obj[k].on == h)
                return em_err(err, EM_ERR_FORMAT, FN ": gripper.holding: %s is held with %s on it", w->obj[h].id, w->obj[k].id);
    }
    return EM_OK;
}

ember_status sim_restore(sim_world *w, const char *json, char *err) {
    if (!json) return em_err(err, EM_ERR_ARG, FN ": no snapshot (NULL)");
    cJSON *root = cJSON_Parse(json);
    if (!root) return em_err(err, EM_ERR_FORMAT, FN ": not JSON near \"%.40s\"", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    /* Build into a scratch world so a bad snapshot changes nothing. */
    sim_world *t = calloc(1, sizeof *t);
    ember_status rc = EM_OK;
    if (!t) {
        rc = em_err(err, EM_ERR_NOMEM, FN ": out of memory");
        goto done;
    }
    t->n_goal = -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(v) || v->valuedouble != SNAP_VERSION) {
        rc = em_err(err, EM_ERR_FORMAT, FN ": expected a snapshot object with \"v\":%d", SNAP_VERSION);
        goto done;
    }
    if ((rc = read_config(t, root, err)) != EM_OK || (rc = read_objects(t, root, err)) != EM_OK ||
        (rc = read_gripper(t, root, err)) != EM_OK)
        goto done;
    const cJSON *goal = cJSON_GetObjectItemCaseSensitive(root, "goal");
    if (goal && !cJSON_IsNull(goal)) {
        char *gs = cJSON_PrintUnformatted(goal);
        if (!gs) {
            rc = em_err(err, EM_ERR_NOMEM, FN ": out of memory");
            goto done;
        }
        rc = sim_goal_parse(t, gs, FN ": goal", err);
        free(gs);
        if (rc != EM_OK) goto done;
    }
    *w = *t;
done:
    free(t);
    cJSON_Delete(root);
    return rc;
}
