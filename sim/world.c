/* world.c - the tabletop world: palette and names, scene generation from
 * the seed, and the geometry every skill shares (reach, containers,
 * stacks, where a dropped block comes to rest). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/world_internal.h"

/* ---------------------------------------------------------------- names */

/* Distinct hues a small vision model can tell apart on a wood table; no
 * brown, which would vanish into it. */
const sim_color sim_palette[SIM_N_COLORS] = {
    {"red", 0.86, 0.13, 0.13},    {"green", 0.16, 0.64, 0.22}, {"blue", 0.16, 0.36, 0.86},
    {"yellow", 0.98, 0.86, 0.12}, {"orange", 1.00, 0.55, 0.06}, {"purple", 0.56, 0.22, 0.72},
    {"white", 0.96, 0.96, 0.94},  {"black", 0.12, 0.12, 0.13}, {"pink", 0.98, 0.52, 0.72},
    {"gray", 0.55, 0.56, 0.60},   {"cyan", 0.10, 0.76, 0.82},
};

const char *sim_kind_name(sim_kind k) {
    static const char *const names[SIM_KIND_COUNT] = {"block", "bowl", "tray", "sign"};
    return (unsigned)k < SIM_KIND_COUNT ? names[k] : "?";
}

const char *sim_shape_name(sim_shape s) {
    static const char *const names[SIM_SHAPE_COUNT] = {"", "cube", "cylinder", "prism"};
    return (unsigned)s < SIM_SHAPE_COUNT ? names[s] : "?";
}

int sim_color_find(const char *name) {
    for (int i = 0; i < SIM_N_COLORS; i++)
        if (!strcmp(sim_palette[i].name, name)) return i;
    return -1;
}

void sim_config_defaults(sim_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->fail_rate = 0.0;
    cfg->step_s = 0.4;
    cfg->n_objects = 0;
    cfg->scramble = 0;
}

/* ------------------------------------------------------------ failures */

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

double sim_fate(uint64_t seed, const char *step_id, const char *what) {
    uint64_t h = sim_mix64(seed ^ sim_mix64(fnv1a(step_id)) ^ (fnv1a(what) * 0x9e3779b97f4a7c15ull));
    return (double)(h >> 11) * 0x1.0p-53;
}

/* ------------------------------------------------------------ geometry */

int sim_find(const sim_world *w, const char *id) {
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->obj[i].id, id)) return i;
    return -1;
}

int sim_is_container(const sim_world *w, int i) {
    return i >= 0 && i < w->n && (w->obj[i].kind == SIM_BOWL || w->obj[i].kind == SIM_TRAY);
}

int sim_reachable_xy(double x, double y) { return x * x + y * y <= SIM_REACH_CM * SIM_REACH_CM; }

int sim_reachable(const sim_world *w, int i) {
    if (w->g.holding == i) return 1;
    return sim_reachable_xy(w->obj[i].x, w->obj[i].y);
}

int sim_on_table(double x, double y) {
    return x >= SIM_TABLE_X0 && x <= SIM_TABLE_X1 && y >= SIM_TABLE_Y0 && y <= SIM_TABLE_Y1;
}

int sim_top_of(const sim_world *w, int i) {
    for (int j = 0; j < w->n; j++)
        if (w->obj[j].on == i && w->g.holding != j) return j;
    return -1;
}

int sim_container_of(const sim_world *w, int i) {
    /* Follow the stack down; relations form a forest, so this ends, but
     * cap the walk anyway in case a bug ever made a cycle. */
    for (int hops = 0; i >= 0 && hops <= SIM_MAX_OBJECTS; hops++) {
        if (w->obj[i].in >= 0) return w->obj[i].in;
        i = w->obj[i].on;
    }
    return -1;
}

int sim_occupants(const sim_world *w, int c) {
    int k = 0;
    for (int j = 0; j < w->n; j++)
        if (w->obj[j].in == c && w->g.holding != j) k++;
    return k;
}

int sim_capacity(const sim_world *w, int c) {
    return w->obj[c].kind == SIM_BOWL ? SIM_BOWL_SLOTS : w->obj[c].kind == SIM_TRAY ? SIM_TRAY_SLOTS : 0;
}

void sim_obj_pos(const sim_world *w, int i, double *x, double *y, double *z) {
    if (w->g.holding == i) {
        /* Hangs between the fingers, its top at the fingertips. */
        *x = w->g.x, *y = w->g.y;
        *z = fmax(0.0, w->g.z - SIM_BLOCK_CM);
        return;
    }
    double base = 0.0;
    int j = i;
    for (int hops = 0; hops <= SIM_MAX_OBJECTS; hops++) {
        if (w->obj[j].on >= 0) {
            base += SIM_BLOCK_CM;
            j = w->obj[j].on;
        } else {
            if (w->obj[j].in >= 0) base += SIM_BOWL_FLOOR;
            break;
        }
    }
    *x = w->obj[i].x, *y = w->obj[i].y, *z = base;
}

int sim_inside_footprint(const sim_world *w, int c, double x, double y) {
    const sim_object *o = &w->obj[c];
    double dx = x - o->x, dy = y - o->y;
    if (o->kind == SIM_BOWL) return dx * dx + dy * dy <= (SIM_BOWL_CM / 2) * (SIM_BOWL_CM / 2);
    if (o->kind == SIM_TRAY) return fabs(dx) <= SIM_TRAY_W / 2 && fabs(dy) <= SIM_TRAY_H / 2;
    return 0;
}

/* Half extents of an object's footprint (a box around it). */
static void half_extent(sim_kind k, double *hx, double *hy) {
    switch (k) {
    case SIM_BLOCK: *hx = *hy = SIM_BLOCK_CM / 2; return;
    case SIM_BOWL: *hx = *hy = SIM_BOWL_CM / 2; return;
    case SIM_TRAY: *hx = SIM_TRAY_W / 2, *hy = SIM_TRAY_H / 2; return;
    default: *hx = SIM_SIGN_W / 2, *hy = SIM_SIGN_H / 2; return;
    }
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

void sim_slot(const sim_world *w, int c, double *x, double *y) {
    /* Slots are fixed offsets from the container's centre; take the first
     * one no occupant covers, so blocks placed one after another sit side
     * by side instead of inside each other. */
    static const double bowl[SIM_BOWL_SLOTS][2] = {{0, 0}, {-3.2, 0}, {3.2, 0}, {0, 3.2}};
    static const double tray[SIM_TRAY_SLOTS][2] = {{-7, -3.5}, {0, -3.5}, {7, -3.5}, {-7, 3.5}, {0, 3.5}, {7, 3.5}};
    const sim_object *o = &w->obj[c];
    int n = sim_capacity(w, c);
    const double (*slots)[2] = o->kind == SIM_BOWL ? bowl : tray;
    for (int s = 0; s < n; s++) {
        double sx = o->x + slots[s][0], sy = o->y + slots[s][1];
        int taken = 0;
        for (int j = 0; j < w->n && !taken; j++)
            if (w->obj[j].in == c && w->g.holding != j && fabs(w->obj[j].x - sx) < 3.0 && fabs(w->obj[j].y - sy) < 3.0)
                taken = 1;
        if (!taken) { *x = sx, *y = sy; return; }
    }
    *x = o->x, *y = o->y;
}

void sim_settle(sim_world *w, int i, double x, double y) {
    sim_object *o = &w->obj[i];
    x = clampd(x, SIM_TABLE_X0 + SIM_BLOCK_CM / 2, SIM_TABLE_X1 - SIM_BLOCK_CM / 2);
    y = clampd(y, SIM_TABLE_Y0 + SIM_BLOCK_CM / 2, SIM_TABLE_Y1 - SIM_BLOCK_CM / 2);
    o->x = x, o->y = y, o->in = -1, o->on = -1;
    /* On a block: the highest clear block whose top the point lies on. */
    int best = -1;
    double best_z = -1;
    for (int j = 0; j < w->n; j++) {
        if (j == i || w->g.holding == j || w->obj[j].kind != SIM_BLOCK) continue;
        if (fabs(w->obj[j].x - x) > SIM_BLOCK_CM / 2 || fabs(w->obj[j].y - y) > SIM_BLOCK_CM / 2) continue;
        if (sim_top_of(w, j) >= 0) continue;
        double jx, jy, jz;
        sim_obj_pos(w, j, &jx, &jy, &jz);
        if (jz > best_z) best = j, best_z = jz;
    }
    if (best >= 0) {
        o->on = best, o->x = w->obj[best].x, o->y = w->obj[best].y;
        return;
    }
    for (int c = 0; c < w->n; c++)
        if (sim_is_container(w, c) && sim_inside_footprint(w, c, x, y)) { o->in = c; return; }
}

void sim_move_group(sim_world *w, int i, double dx, double dy) {
    double hx, hy;
    half_extent(w->obj[i].kind, &hx, &hy);
    /* The table's rim stops the pushed object; what rests on it moves by
     * the same, clamped, amount. */
    double nx = clampd(w->obj[i].x + dx, SIM_TABLE_X0 + hx, SIM_TABLE_X1 - hx);
    double ny = clampd(w->obj[i].y + dy, SIM_TABLE_Y0 + hy, SIM_TABLE_Y1 - hy);
    dx = nx - w->obj[i].x, dy = ny - w->obj[i].y;
    /* Mark the group (i and everything resting on or in it), then move it. */
    int in_group[SIM_MAX_OBJECTS] = {0};
    in_group[i] = 1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int j = 0; j < w->n; j++) {
            if (in_group[j] || w->g.holding == j) continue;
            int below = w->obj[j].on >= 0 ? w->obj[j].on : w->obj[j].in;
            if (below >= 0 && in_group[below]) in_group[j] = 1, changed = 1;
        }
    }
    for (int j = 0; j < w->n; j++)
        if (in_group[j]) w->obj[j].x += dx, w->obj[j].y += dy;
}

void sim_phrase(const sim_world *w, int i, char *out, size_t cap) {
    const sim_object *o = &w->obj[i];
    const char *color = sim_palette[o->color].name;
    if (o->kind == SIM_SIGN) {
        snprintf(out, cap, "the %s sign", o->label);
        return;
    }
    const char *noun = o->kind == SIM_BLOCK ? sim_shape_name(o->shape) : sim_kind_name(o->kind);
    int twins = 0;
    for (int j = 0; j < w->n; j++)
        if (j != i && w->obj[j].kind == o->kind && w->obj[j].shape == o->shape && w->obj[j].color == o->color) twins++;
    if (!twins) snprintf(out, cap, "the %s %s", color, noun);
    else if (o->label[0]) snprintf(out, cap, "the %s %s labelled %s", color, noun, o->label);
    else snprintf(out, cap, "%s", o->id);
}

/* ---------------------------------------------------------- generation */

/* Labels: a letter and a digit ("K7"), avoiding I and O which read as 1
 * and 0; signs sometimes carry a word instead. */
static void make_code(uint64_t *s, char *out) {
    static const char letters[] = "ABCDEFGHJKLMNPQRSTUVWXYZ";
    out[0] = letters[sim_rng_below(s, (int)sizeof letters - 1)];
    out[1] = (char)('1' + sim_rng_below(s, 9));
    out[2] = 0;
}

static int label_taken(const sim_world *w, const char *label) {
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->obj[i].label, label)) return 1;
    return 0;
}

static void make_label(sim_world *w, uint64_t *s, int word_ok, char *out) {
    static const char *const words[] = {"STOP", "EXIT", "GO", "HOME", "OPEN", "LAB", "DOCK", "BIN", "HOT", "KEEP"};
    for (int tries = 0; tries < 64; tries++) {
        if (word_ok && sim_rng_below(s, 2)) snprintf(out, SIM_LABEL_LEN, "%s", words[sim_rng_below(s, 10)]);
        else make_code(s, out);
        if (!label_taken(w, out)) return;
    }
}

static void make_id(sim_world *w, sim_object *o) {
    char base[SIM_OBJ_ID_LEN];
    if (o->kind == SIM_SIGN) {
        snprintf(base, sizeof base, "sign_%s", o->label);
        for (char *p = base; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    } else {
        const char *noun = o->kind == SIM_BLOCK ? sim_shape_name(o->shape) : sim_kind_name(o->kind);
        snprintf(base, sizeof base, "%s_%s", sim_palette[o->color].name, noun);
    }
    snprintf(o->id, sizeof o->id, "%s", base);
    for (int k = 2; k < 100 && sim_find(w, o->id) >= 0; k++) snprintf(o->id, sizeof o->id, "%.24s_%d", base, k);
}

/* Place object o (not yet counted in w->n) at a free spot: inside the
 * table, clear of every other footprint by 2 cm, and either within reach
 * (reach=1), in a far corner beyond it (reach=-1), or anywhere (0). */
static int place_free(sim_world *w, uint64_t *s, sim_object *o, int reach) {
    double hx, hy;
    half_extent(o->kind, &hx, &hy);
    for (int tries = 0; tries < 500; tries++) {
        double x, y;
        if (reach < 0) {
            x = (sim_rng_below(s, 2) ? 1 : -1) * (40.0 + 6.0 * sim_rng_unit(s));
            y = 56.0 + 10.0 * sim_rng_unit(s);
        } else {
            x = SIM_TABLE_X0 + hx + 1 + (SIM_TABLE_X1 - SIM_TABLE_X0 - 2 * hx - 2) * sim_rng_unit(s);
            y = SIM_TABLE_Y0 + hy + 1 + (SIM_TABLE_Y1 - SIM_TABLE_Y0 - 2 * hy - 2) * sim_rng_unit(s);
        }
        /* Round to millimetres: positions read well in JSON and prompts. */
        x = round(x * 10) / 10, y = round(y * 10) / 10;
        if (reach > 0 && hypot(x, y) > SIM_REACH_CM - 4) continue;
        if (reach < 0 && sim_reachable_xy(x, y)) continue;
        int clear = 1;
        for (int j = 0; j < w->n && clear; j++) {
            double jx, jy;
            half_extent(w->obj[j].kind, &jx, &jy);
            if (fabs(w->obj[j].x - x) < hx + jx + 2 && fabs(w->obj[j].y - y) < hy + jy + 2) clear = 0;
        }
        if (clear) { o->x = x, o->y = y; return 1; }
    }
    return 0;
}

static void shuffle(uint64_t *s, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = sim_rng_below(s, i + 1), t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

static void generate(sim_world *w) {
    uint64_t s = w->cfg.seed;
    int n = w->cfg.n_objects ? w->cfg.n_objects : 5 + sim_rng_below(&s, 5);
    int n_sign = n >= 4 ? 1 : 0;
    int n_bowl = 1 + (n >= 7 ? sim_rng_below(&s, 2) : 0);
    int n_tray = n >= 6 ? sim_rng_below(&s, 2) : 0;
    int n_block = n - n_sign - n_bowl - n_tray;
    /* 0 or 1 block beyond reach, so "out_of_reach" happens naturally. */
    int far_block = n_block >= 3 && sim_rng_below(&s, 2);

    int block_colors[SIM_N_COLORS], cont_colors[SIM_N_COLORS];
    for (int i = 0; i < SIM_N_COLORS; i++) block_colors[i] = cont_colors[i] = i;
    shuffle(&s, block_colors, SIM_N_COLORS);
    shuffle(&s, cont_colors, SIM_N_COLORS);
    static const int sign_colors[] = {6, 3, 0, 2, 1, 4}; /* white, yellow, red, blue, green, orange */

    /* Big things first: they are hardest to fit. */
    struct { sim_kind kind; int count; } plan[] = {{SIM_TRAY, n_tray}, {SIM_BOWL, n_bowl}, {SIM_SIGN, n_sign}, {SIM_BLOCK, n_block}};
    int ci = 0;
    for (int p = 0; p < 4; p++) {
        for (int k = 0; k < plan[p].count && w->n < SIM_MAX_OBJECTS; k++) {
            sim_object o;
            memset(&o, 0, sizeof o);
            o.kind = plan[p].kind, o.in = -1, o.on = -1;
            switch (o.kind) {
            case SIM_BLOCK:
                o.shape = (sim_shape)(SIM_CUBE + sim_rng_below(&s, 3));
                o.color = block_colors[k % SIM_N_COLORS];
                if (sim_rng_unit(&s) < 0.75) make_label(w, &s, 0, o.label);
                break;
            case SIM_SIGN:
                o.color = sign_colors[sim_rng_below(&s, 6)];
                make_label(w, &s, 1, o.label);
                break;
            default: o.color = cont_colors[ci++ % SIM_N_COLORS]; break;
            }
            int reach = o.kind == SIM_SIGN ? 0 : (o.kind == SIM_BLOCK && far_block && k == n_block - 1) ? -1 : 1;
            /* An object that finds no free spot is left out: rare, and
             * still a function of the seed. */
            if (!place_free(w, &s, &o, reach)) continue;
            make_id(w, &o);
            w->obj[w->n++] = o;
        }
    }
}

/* ----------------------------------------------------------- lifecycle */

sim_world *sim_create(const sim_config *cfg, char *err) {
    sim_config c;
    if (cfg) c = *cfg;
    else sim_config_defaults(&c);
    if (!(c.fail_rate >= 0 && c.fail_rate <= 1)) {
        em_err(err, EM_ERR_ARG, "sim_create: fail_rate %g outside 0..1", c.fail_rate);
        return NULL;
    }
    if (!(c.step_s >= 0 && c.step_s <= 60)) {
        em_err(err, EM_ERR_ARG, "sim_create: step_s %g outside 0..60 seconds", c.step_s);
        return NULL;
    }
    if (c.n_objects != 0 && (c.n_objects < SIM_OBJECTS_MIN || c.n_objects > SIM_OBJECTS_MAX)) {
        em_err(err, EM_ERR_ARG, "sim_create: n_objects %d: expected 0 (chosen by the seed) or %d..%d", c.n_objects,
               SIM_OBJECTS_MIN, SIM_OBJECTS_MAX);
        return NULL;
    }
    sim_world *w = calloc(1, sizeof *w);
    if (!w) {
        em_err(err, EM_ERR_NOMEM, "sim_create: out of memory for the world (%zu bytes)", sizeof *w);
        return NULL;
    }
    w->cfg = c;
    w->n_goal = -1;
    w->g = (sim_gripper){SIM_HOME_X, SIM_HOME_Y, SIM_HOME_Z, 1, -1};
    generate(w);
    if (c.scramble > 0 && sim_scramble(w, c.seed, c.scramble > 16 ? 16 : c.scramble, 1, err)) {
        free(w);
        return NULL;
    }
    return w;
}

void sim_free(sim_world *w) { free(w); }
