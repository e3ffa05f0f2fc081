/* skills.c - the skills the simulated robot offers: their declaration for
 * the hello, their preconditions (checked when a step begins), the
 * gripper's motion while one runs, and the effect applied when it ends,
 * including injected failures (a pick that slips, a push that meets an
 * obstacle). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/world_internal.h"

static const char *const skill_names[SIM_SK_COUNT] = {
    "pick", "place", "place_at", "push", "open_gripper", "close_gripper", "move_to", "home",
};

/* Height of the fingertips when grasping or pushing at table level. */
#define WORK_Z 2.0

/* ------------------------------------------------------------ describe */

static rio_arg_spec *add_arg(rio_skill *sk, const char *name, rio_arg_type type) {
    rio_arg_spec *a = &sk->args[sk->n_args++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = type;
    return a;
}

static void add_range(rio_skill *sk, const char *name, double lo, double hi) {
    rio_arg_spec *a = add_arg(sk, name, RIO_ARG_NUMBER);
    a->has_range = 1, a->min = lo, a->max = hi;
}

static void add_enum_objects(const sim_world *w, rio_skill *sk, const char *name, int blocks, int containers) {
    rio_arg_spec *a = add_arg(sk, name, RIO_ARG_STRING);
    for (int i = 0; i < w->n && a->n_enum < RIO_MAX_ENUM; i++) {
        sim_kind k = w->obj[i].kind;
        if ((blocks && k == SIM_BLOCK) || (containers && (k == SIM_BOWL || k == SIM_TRAY)))
            snprintf(a->enums[a->n_enum++], RIO_STR_LEN, "%s", w->obj[i].id);
    }
}

ember_status sim_describe(const sim_world *w, rio_hello *hello, char *err) {
    rio_skill *sk = calloc(SIM_SK_COUNT, sizeof *sk);
    if (!sk) return em_err(err, EM_ERR_NOMEM, "sim_describe: out of memory for %d skills", SIM_SK_COUNT);
    static const char *const docs[SIM_SK_COUNT] = {
        "Grasp a block and lift it (the gripper opens first); it must be within reach, uncovered, and the gripper empty.",
        "Put the held block into a bowl or tray, or on top of another (uncovered) block.",
        "Put the held block down at table point (x, y) in cm; it lands in a container or on a block found there.",
        "Push a block, bowl or tray along the table by distance cm; what rests on or in it moves along.",
        "Open the gripper; a held block drops straight down.",
        "Close the gripper.",
        "Move the gripper above table point (x, y) in cm, carrying whatever it holds.",
        "Return the gripper to its rest pose above (0, 6), just short of the table.",
    };
    for (int i = 0; i < SIM_SK_COUNT; i++) {
        snprintf(sk[i].name, sizeof sk[i].name, "%s", skill_names[i]);
        snprintf(sk[i].doc, sizeof sk[i].doc, "%s", docs[i]);
    }
    add_enum_objects(w, &sk[SIM_SK_PICK], "object", 1, 0);
    add_enum_objects(w, &sk[SIM_SK_PLACE], "target", 1, 1);
    add_range(&sk[SIM_SK_PLACE_AT], "x", SIM_TABLE_X0, SIM_TABLE_X1);
    add_range(&sk[SIM_SK_PLACE_AT], "y", SIM_TABLE_Y0, SIM_TABLE_Y1);
    add_enum_objects(w, &sk[SIM_SK_PUSH], "object", 1, 1);
    rio_arg_spec *dir = add_arg(&sk[SIM_SK_PUSH], "direction", RIO_ARG_STRING);
    static const char *const dirs[] = {"left", "right", "forward", "back"};
    for (int i = 0; i < 4; i++) snprintf(dir->enums[dir->n_enum++], RIO_STR_LEN, "%s", dirs[i]);
    add_range(&sk[SIM_SK_PUSH], "distance", 1, 20);
    add_range(&sk[SIM_SK_MOVE_TO], "x", -SIM_REACH_CM, SIM_REACH_CM);
    add_range(&sk[SIM_SK_MOVE_TO], "y", 0, SIM_REACH_CM);

    hello->skills = sk;
    hello->n_skills = SIM_SK_COUNT;
    rio_state st;
    memset(&st, 0, sizeof st);
    ember_status rc = sim_state(w, &st, err);
    free(st.fields_json);
    if (rc != EM_OK) {
        free(sk);
        hello->skills = NULL, hello->n_skills = 0;
        return rc;
    }
    hello->n_layout = st.n;
    memcpy(hello->layout, st.layout, sizeof hello->layout);
    hello->n_cameras = 1;
    snprintf(hello->cameras[0], sizeof hello->cameras[0], "top");
    return EM_OK;
}

/* ----------------------------------------------------------- beginning */

static ember_status refuse(char *reason, const char *code, char *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static ember_status refuse(char *reason, const char *code, char *err, const char *fmt, ...) {
    if (reason) snprintf(reason, RIO_NAME_LEN, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    em_verr(err, EM_ERR_ARG, fmt, ap);
    va_end(ap);
    return EM_ERR_ARG;
}

/* An argument of the expected type, or NULL (the controller library has
 * checked steps against our declaration, but this is the last line). */
static const rio_arg *arg_of(const rio_step *st, const char *name, rio_arg_type type) {
    const rio_arg *a = rio_step_arg(st, name);
    if (!a) return NULL;
    if (type == RIO_ARG_NUMBER) return (a->type == RIO_ARG_NUMBER || a->type == RIO_ARG_INTEGER) && isfinite(a->num) ? a : NULL;
    return a->type == type ? a : NULL;
}

#define NEED(var, name, type)                                                                          \
    const rio_arg *var = arg_of(st, name, type);                                                      \
    if (!var)                                                                                          \
        return refuse(reason, RIO_REASON_BAD_ARGS, err, "sim_step_begin: %s %s: argument \"%s\" missing or not a %s", \
                      st->step_id, st->skill, name, rio_arg_type_name(type))

static ember_status find_obj(const sim_world *w, const rio_step *st, const char *name, int *idx, char *reason, char *err) {
    NEED(a, name, RIO_ARG_STRING);
    *idx = sim_find(w, a->str);
    if (*idx < 0)
        return refuse(reason, RIO_REASON_NOT_FOUND, err, "sim_step_begin: %s %s: no object \"%s\" in the world", st->step_id,
                      st->skill, a->str);
    return EM_OK;
}

ember_status sim_step_begin(sim_world *w, const rio_step *st, char *reason, char *err) {
    if (reason) reason[0] = 0;
    if (w->m.active)
        return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s: step %s is still running", st->step_id,
                      w->m.step_id);
    int sk = -1;
    for (int i = 0; i < SIM_SK_COUNT; i++)
        if (!strcmp(st->skill, skill_names[i])) sk = i;
    if (sk < 0)
        return refuse(reason, RIO_REASON_UNKNOWN_SKILL, err, "sim_step_begin: %s: unknown skill \"%s\"", st->step_id, st->skill);

    sim_motion m;
    memset(&m, 0, sizeof m);
    m.skill = (sim_skill_id)sk, m.obj = -1, m.target = -1;
    snprintf(m.step_id, sizeof m.step_id, "%s", st->step_id);
    m.from[0] = w->g.x, m.from[1] = w->g.y, m.from[2] = w->g.z;
    m.to[0] = w->g.x, m.to[1] = w->g.y, m.to[2] = SIM_CARRY_Z;
    const char *sid = st->step_id, *name = st->skill;
    const sim_gripper *g = &w->g;
    ember_status rc;

    switch (m.skill) {
    case SIM_SK_PICK: {
        if ((rc = find_obj(w, st, "object", &m.obj, reason, err)) != EM_OK) return rc;
        const sim_object *o = &w->obj[m.obj];
        if (o->kind != SIM_BLOCK)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: %s is a %s, not a block one can pick",
                          sid, name, o->id, sim_kind_name(o->kind));
        if (g->holding >= 0)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s %s: the gripper already holds %s", sid,
                          name, o->id, w->obj[g->holding].id);
        int top = sim_top_of(w, m.obj);
        if (top >= 0)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s %s: %s rests on it", sid, name, o->id,
                          w->obj[top].id);
        if (!sim_reachable(w, m.obj))
            return refuse(reason, RIO_REASON_OUT_OF_REACH, err,
                          "sim_step_begin: %s %s %s: at (%.1f, %.1f), %.1f cm from the base; the arm reaches %.0f cm", sid,
                          name, o->id, o->x, o->y, hypot(o->x, o->y), SIM_REACH_CM);
        m.to[0] = o->x, m.to[1] = o->y;
        double ox, oy, oz;
        sim_obj_pos(w, m.obj, &ox, &oy, &oz);
        m.to[2] = oz + SIM_BLOCK_CM; /* fingertips at the block's top... */
        m.fail = sim_fate(w->cfg.seed, sid, "slip") < w->cfg.fail_rate;
        m.fail_u = sim_fate(w->cfg.seed, sid, "slip.dir");
        m.fail_v = sim_fate(w->cfg.seed, sid, "slip.dist");
        break;
    }
    case SIM_SK_PLACE: {
        if (g->holding < 0)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: the gripper holds nothing", sid, name);
        if ((rc = find_obj(w, st, "target", &m.target, reason, err)) != EM_OK) return rc;
        const sim_object *t = &w->obj[m.target];
        if (t->kind == SIM_SIGN)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: %s is a sign; nothing can be put on it",
                          sid, name, t->id);
        if (m.target == g->holding)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: %s is the held block itself", sid, name,
                          t->id);
        int top = t->kind == SIM_BLOCK ? sim_top_of(w, m.target) : -1;
        if (top >= 0)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s %s: %s already rests on it", sid, name,
                          t->id, w->obj[top].id);
        if (sim_is_container(w, m.target) && sim_occupants(w, m.target) >= sim_capacity(w, m.target))
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s %s: it is full (%d blocks)", sid, name,
                          t->id, sim_capacity(w, m.target));
        if (!sim_reachable(w, m.target))
            return refuse(reason, RIO_REASON_OUT_OF_REACH, err,
                          "sim_step_begin: %s %s %s: at (%.1f, %.1f), %.1f cm from the base; the arm reaches %.0f cm", sid,
                          name, t->id, t->x, t->y, hypot(t->x, t->y), SIM_REACH_CM);
        double tx, ty, tz;
        sim_obj_pos(w, m.target, &tx, &ty, &tz);
        if (sim_is_container(w, m.target)) sim_slot(w, m.target, &tx, &ty), tz = SIM_BOWL_FLOOR;
        else tz += SIM_BLOCK_CM;
        m.to[0] = tx, m.to[1] = ty, m.to[2] = tz + SIM_BLOCK_CM;
        break;
    }
    case SIM_SK_PLACE_AT:
    case SIM_SK_MOVE_TO: {
        NEED(ax, "x", RIO_ARG_NUMBER);
        NEED(ay, "y", RIO_ARG_NUMBER);
        m.x = ax->num, m.y = ay->num;
        if (m.skill == SIM_SK_PLACE_AT) {
            if (g->holding < 0)
                return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: the gripper holds nothing", sid, name);
            if (!sim_on_table(m.x, m.y))
                return refuse(reason, RIO_REASON_PRECONDITION, err,
                              "sim_step_begin: %s %s: (%.1f, %.1f) is off the table (x %.0f..%.0f, y %.0f..%.0f)", sid, name,
                              m.x, m.y, SIM_TABLE_X0, SIM_TABLE_X1, SIM_TABLE_Y0, SIM_TABLE_Y1);
        }
        if (!sim_reachable_xy(m.x, m.y))
            return refuse(reason, RIO_REASON_OUT_OF_REACH, err,
                          "sim_step_begin: %s %s: (%.1f, %.1f) is %.1f cm from the base; the arm reaches %.0f cm", sid, name,
                          m.x, m.y, hypot(m.x, m.y), SIM_REACH_CM);
        m.to[0] = m.x, m.to[1] = m.y;
        m.to[2] = m.skill == SIM_SK_PLACE_AT ? SIM_BLOCK_CM : SIM_CARRY_Z;
        break;
    }
    case SIM_SK_PUSH: {
        if ((rc = find_obj(w, st, "object", &m.obj, reason, err)) != EM_OK) return rc;
        NEED(adir, "direction", RIO_ARG_STRING);
        NEED(adist, "distance", RIO_ARG_NUMBER);
        const sim_object *o = &w->obj[m.obj];
        double ux = 0, uy = 0;
        if (!strcmp(adir->str, "left")) ux = -1;
        else if (!strcmp(adir->str, "right")) ux = 1;
        else if (!strcmp(adir->str, "forward")) uy = 1;
        else if (!strcmp(adir->str, "back")) uy = -1;
        else
            return refuse(reason, RIO_REASON_BAD_ARGS, err,
                          "sim_step_begin: %s %s: direction \"%s\": expected left, right, forward or back", sid, name, adir->str);
        if (!(adist->num > 0 && adist->num <= 20))
            return refuse(reason, RIO_REASON_BAD_ARGS, err, "sim_step_begin: %s %s: distance %g outside 1..20 cm", sid, name,
                          adist->num);
        if (o->kind == SIM_SIGN)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: %s is a sign, fixed to the table", sid,
                          name, o->id);
        if (g->holding == m.obj)
            return refuse(reason, RIO_REASON_PRECONDITION, err, "sim_step_begin: %s %s: %s is in the gripper", sid, name, o->id);
        if (!sim_reachable(w, m.obj))
            return refuse(reason, RIO_REASON_OUT_OF_REACH, err,
                          "sim_step_begin: %s %s %s: at (%.1f, %.1f), %.1f cm from the base; the arm reaches %.0f cm", sid,
                          name, o->id, o->x, o->y, hypot(o->x, o->y), SIM_REACH_CM);
        m.x = ux * adist->num, m.y = uy * adist->num;
        /* The fingers start just behind the object, on the side away from the push. */
        double half = o->kind == SIM_BLOCK ? SIM_BLOCK_CM / 2 : o->kind == SIM_BOWL ? SIM_BOWL_CM / 2
                    : (ux != 0 ? SIM_TRAY_W / 2 : SIM_TRAY_H / 2);
        m.to[0] = o->x - ux * (half + 1.5), m.to[1] = o->y - uy * (half + 1.5), m.to[2] = WORK_Z;
        m.fail = sim_fate(w->cfg.seed, sid, "obstacle") < w->cfg.fail_rate / 2;
        m.fail_v = 0.3 + 0.4 * sim_fate(w->cfg.seed, sid, "obstacle.frac");
        break;
    }
    case SIM_SK_HOME:
        m.to[0] = SIM_HOME_X, m.to[1] = SIM_HOME_Y, m.to[2] = SIM_HOME_Z;
        break;
    default: /* open, close: the gripper stays where it is */
        m.to[0] = g->x, m.to[1] = g->y, m.to[2] = g->z;
        break;
    }
    m.dur = w->cfg.step_s;
    m.active = 1;
    w->m = m;
    return EM_OK;
}

/* --------------------------------------------------------------- motion */

static double smooth(double u) { return u <= 0 ? 0 : u >= 1 ? 1 : u * u * (3 - 2 * u); }

/* The gripper's pose at progress u in 0..1. Pick, place and place_at
 * travel above the target in the first half, then dip to it and rise; push
 * descends behind the object, then sweeps through the push; the others go
 * straight. */
static void path_at(const sim_world *w, double u, double p[3]) {
    const sim_motion *m = &w->m;
    switch (m->skill) {
    case SIM_SK_PICK:
    case SIM_SK_PLACE:
    case SIM_SK_PLACE_AT: {
        double a = smooth(u / 0.5);
        p[0] = m->from[0] + (m->to[0] - m->from[0]) * a;
        p[1] = m->from[1] + (m->to[1] - m->from[1]) * a;
        if (u < 0.5) p[2] = m->from[2] + (SIM_CARRY_Z - m->from[2]) * a;
        else p[2] = SIM_CARRY_Z - (SIM_CARRY_Z - m->to[2]) * sin(M_PI * (u - 0.5) / 0.5);
        return;
    }
    case SIM_SK_PUSH: {
        double a = smooth(u / 0.5), b = smooth((u - 0.5) / 0.5);
        double f = m->fail ? m->fail_v : 1.0;
        for (int k = 0; k < 3; k++) p[k] = m->from[k] + (m->to[k] - m->from[k]) * a;
        p[0] += m->x * f * b, p[1] += m->y * f * b;
        return;
    }
    default: {
        double a = smooth(u);
        for (int k = 0; k < 3; k++) p[k] = m->from[k] + (m->to[k] - m->from[k]) * a;
        return;
    }
    }
}

double sim_progress(const sim_world *w) {
    if (!w->m.active) return 0;
    return w->m.dur > 0 ? fmin(1.0, w->m.t / w->m.dur) : 1.0;
}

/* The effect, applied at the instant the motion ends. Returns 1, or -1
 * with reason and text filled when an injected failure fires. */
static int complete(sim_world *w, char *reason, char *text) {
    sim_motion *m = &w->m;
    sim_gripper *g = &w->g;
    double p[3];
    path_at(w, 1.0, p);
    g->x = p[0], g->y = p[1], g->z = p[2];
    int rc = 1;
    char what[96];
    switch (m->skill) {
    case SIM_SK_PICK: {
        sim_object *o = &w->obj[m->obj];
        g->open = 0;
        if (m->fail) {
            /* It slipped while lifting and fell 1.5..3.5 cm from where it was. */
            double ang = 2 * M_PI * m->fail_u, d = 1.5 + 2.0 * m->fail_v;
            sim_settle(w, m->obj, o->x + d * cos(ang), o->y + d * sin(ang));
            sim_phrase(w, m->obj, what, sizeof what);
            if (reason) snprintf(reason, RIO_NAME_LEN, "%s", RIO_REASON_GRASP_SLIPPED);
            if (text) snprintf(text, RIO_TEXT_LEN, "%s slipped out of the gripper and fell at (%.1f, %.1f)", what, o->x, o->y);
            rc = -1;
        } else {
            o->in = -1, o->on = -1;
            g->holding = m->obj;
        }
        break;
    }
    case SIM_SK_PLACE: {
        int i = g->holding;
        sim_object *o = &w->obj[i];
        g->holding = -1, g->open = 1;
        if (sim_is_container(w, m->target)) {
            sim_slot(w, m->target, &o->x, &o->y);
            o->in = m->target, o->on = -1;
        } else {
            o->x = w->obj[m->target].x, o->y = w->obj[m->target].y;
            o->in = -1, o->on = m->target;
        }
        break;
    }
    case SIM_SK_PLACE_AT: {
        int i = g->holding;
        g->holding = -1, g->open = 1;
        sim_settle(w, i, m->x, m->y);
        break;
    }
    case SIM_SK_PUSH: {
        double f = m->fail ? m->fail_v : 1.0;
        sim_object *o = &w->obj[m->obj];
        sim_move_group(w, m->obj, m->x * f, m->y * f);
        if (o->kind == SIM_BLOCK) {
            /* Pushed off whatever it stood on or lay in, unless still inside it. */
            o->on = -1;
            int c = o->in;
            if (c < 0 || !sim_inside_footprint(w, c, o->x, o->y)) {
                o->in = -1;
                for (int j = 0; j < w->n; j++)
                    if (sim_is_container(w, j) && sim_inside_footprint(w, j, o->x, o->y)) { o->in = j; break; }
            }
        }
        if (m->fail) {
            sim_phrase(w, m->obj, what, sizeof what);
            if (reason) snprintf(reason, RIO_NAME_LEN, "%s", SIM_REASON_OBSTACLE);
            if (text)
                snprintf(text, RIO_TEXT_LEN, "%s met an obstacle after %.1f of %.1f cm and stopped at (%.1f, %.1f)", what,
                         hypot(m->x, m->y) * f, hypot(m->x, m->y), o->x, o->y);
            rc = -1;
        }
        break;
    }
    case SIM_SK_OPEN:
        g->open = 1;
        if (g->holding >= 0) {
            int i = g->holding;
            g->holding = -1;
            sim_settle(w, i, g->x, g->y);
        }
        break;
    case SIM_SK_CLOSE: g->open = 0; break;
    default: break;
    }
    m->active = 0;
    return rc;
}

int sim_tick(sim_world *w, double dt, char *reason, char *text) {
    if (reason) reason[0] = 0;
    if (text) text[0] = 0;
    if (!w->m.active) return 1;
    if (dt > 0 && isfinite(dt)) w->m.t += dt;
    /* A hair of slack: eight ticks of 0.05 s sum to just under 0.4. */
    if (w->m.t >= w->m.dur - 1e-9) return complete(w, reason, text);
    /* Pick opens the gripper on its way down. */
    if (w->m.skill == SIM_SK_PICK) w->g.open = 1;
    double p[3];
    path_at(w, sim_progress(w), p);
    w->g.x = p[0], w->g.y = p[1], w->g.z = p[2];
    return 0;
}

int sim_busy(const sim_world *w) { return w->m.active; }

void sim_halt(sim_world *w) {
    /* The gripper stays where the last tick put it; nothing is applied. */
    memset(&w->m, 0, sizeof w->m);
}

const char *sim_skill_name(int sk) { return (unsigned)sk < SIM_SK_COUNT ? skill_names[sk] : "?"; }
