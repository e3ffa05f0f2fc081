/* world_internal.h - the simulated world's struct, shared by the sim's
 * files (world, skills, state, render, goal, snapshot) and by nothing else.
 *
 * Why a plain struct with indices: the world is small (at most
 * SIM_MAX_OBJECTS objects) and copied whole by sim_restore to validate into
 * a scratch world first, so it holds no pointers except the goal's text.
 * Relations between objects ("in" a container, "on" a block) are indices
 * into obj[], forming a forest: a block rests on at most one thing, and
 * nothing rests on a container's container. A held object keeps its last
 * table position in x, y; sim_obj_pos gives where it is now (under the
 * gripper). */
#ifndef EMBER_SIM_WORLD_INTERNAL_H
#define EMBER_SIM_WORLD_INTERNAL_H

#include <stdint.h>

#include "sim/sim.h"

/* Geometry, centimetres. The table lies in front of the arm's base at
 * (0, 0); the arm reaches SIM_REACH_CM from the base, so the table's far
 * corners (about 86 cm away) are out of reach. */
#define SIM_TABLE_X0 (-50.0)
#define SIM_TABLE_X1 50.0
#define SIM_TABLE_Y0 10.0
#define SIM_TABLE_Y1 70.0
#define SIM_REACH_CM 60.0
#define SIM_BLOCK_CM 6.0   /* cube edge, cylinder diameter, prism side, and a block's height */
#define SIM_BOWL_CM 15.0   /* bowl diameter */
#define SIM_BOWL_FLOOR 1.0 /* height of a bowl's or tray's floor */
#define SIM_TRAY_W 22.0
#define SIM_TRAY_H 14.0
#define SIM_SIGN_W 14.0    /* the card as the top camera sees it */
#define SIM_SIGN_H 7.0
#define SIM_CARRY_Z 15.0   /* gripper height while travelling */
#define SIM_HOME_X 0.0
#define SIM_HOME_Y 6.0 /* just short of the table, so the gripper at rest hides nothing */
#define SIM_HOME_Z 20.0

#define SIM_MAX_OBJECTS SIM_OBJECTS_MAX
#define SIM_OBJ_ID_LEN 32
#define SIM_LABEL_LEN 8
#define SIM_MAX_PREDS 8
#define SIM_BOWL_SLOTS 4   /* blocks a bowl holds side by side */
#define SIM_TRAY_SLOTS 6

typedef enum sim_kind { SIM_BLOCK = 0, SIM_BOWL, SIM_TRAY, SIM_SIGN, SIM_KIND_COUNT } sim_kind;
typedef enum sim_shape { SIM_SHAPE_NONE = 0, SIM_CUBE, SIM_CYLINDER, SIM_PRISM, SIM_SHAPE_COUNT } sim_shape;

typedef struct sim_color {
    const char *name;
    double r, g, b; /* 0..1 */
} sim_color;

#define SIM_N_COLORS 11
extern const sim_color sim_palette[SIM_N_COLORS];
const char *sim_kind_name(sim_kind k);   /* "block", "bowl", "tray", "sign" */
const char *sim_shape_name(sim_shape s); /* "cube", "cylinder", "prism"; "" for none */
int sim_color_find(const char *name);    /* palette index, -1 when unknown */

typedef struct sim_object {
    char id[SIM_OBJ_ID_LEN];   /* readable and unique: "red_cube", "sign_k7" */
    sim_kind kind;
    sim_shape shape;           /* blocks only */
    int color;                 /* index into sim_palette */
    char label[SIM_LABEL_LEN]; /* printed text ("K7", "STOP"); "" = none */
    double x, y;               /* centre on the table plane */
    int in;                    /* container it lies in directly, or -1 */
    int on;                    /* block it rests on, or -1 */
} sim_object;

typedef struct sim_gripper {
    double x, y, z;
    int open;    /* 1 open, 0 closed */
    int holding; /* object index or -1 */
} sim_gripper;

typedef enum sim_skill_id {
    SIM_SK_PICK = 0, SIM_SK_PLACE, SIM_SK_PLACE_AT, SIM_SK_PUSH, SIM_SK_OPEN,
    SIM_SK_CLOSE, SIM_SK_MOVE_TO, SIM_SK_HOME, SIM_SK_COUNT
} sim_skill_id;

/* The running step: what it will do at completion, decided at its start
 * (including whether an injected failure fires), and the gripper's path. */
typedef struct sim_motion {
    int active;
    sim_skill_id skill;
    char step_id[RIO_ID_LEN];
    int obj, target;        /* object / target index, or -1 */
    double x, y;            /* place_at, move_to: the point; push: the displacement */
    double t, dur;          /* elapsed and total seconds */
    double from[3], to[3];  /* gripper path ends (to: above or behind the object) */
    int fail;               /* an injected failure fires at completion */
    double fail_u, fail_v;  /* its deterministic draws (slip direction, push fraction) */
} sim_motion;

typedef enum sim_pred_kind { SIM_PRED_IN = 0, SIM_PRED_ON, SIM_PRED_HOLDING, SIM_PRED_AT, SIM_PRED_EMPTY } sim_pred_kind;

typedef struct sim_pred {
    sim_pred_kind kind;
    int a, b;            /* object indices (b: container or lower block; empty: a is the container) */
    double x, y, tol;    /* "at" */
} sim_pred;

struct sim_world {
    sim_config cfg;
    int n;
    sim_object obj[SIM_MAX_OBJECTS];
    sim_gripper g;
    sim_motion m;
    int n_goal;                 /* -1: no goal set */
    sim_pred goal[SIM_MAX_PREDS];
    char goal_text[RIO_TEXT_LEN];
};

/* splitmix64: the scene's generator and the mixer behind failure draws.
 * Small, fast, and every 64-bit seed gives a full-quality stream. */
static inline uint64_t sim_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint64_t sim_rng_next(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ull;
    return sim_mix64(*s);
}
static inline double sim_rng_unit(uint64_t *s) { /* [0, 1) with 53 bits */
    return (double)(sim_rng_next(s) >> 11) * 0x1.0p-53;
}
static inline int sim_rng_below(uint64_t *s, int n) { /* 0..n-1; bias negligible for small n */
    return (int)(sim_rng_next(s) % (uint64_t)n);
}

/* A failure draw in [0, 1): a function of (seed, step id, what is drawn)
 * only, so a step retried or replayed after a restart meets the same fate. */
double sim_fate(uint64_t seed, const char *step_id, const char *what);

/* Geometry and relations (world.c). */
int sim_find(const sim_world *w, const char *id);             /* index or -1 */
int sim_is_container(const sim_world *w, int i);
int sim_reachable_xy(double x, double y);
int sim_reachable(const sim_world *w, int i);                 /* held: 1 */
int sim_top_of(const sim_world *w, int i);                    /* block resting on i, or -1 */
int sim_container_of(const sim_world *w, int i);              /* direct or through a stack, -1 */
int sim_occupants(const sim_world *w, int c);                 /* blocks lying in c directly */
int sim_capacity(const sim_world *w, int c);
void sim_obj_pos(const sim_world *w, int i, double *x, double *y, double *z); /* base height z */
int sim_inside_footprint(const sim_world *w, int c, double x, double y);
int sim_on_table(double x, double y);
/* Where a block dropped at (x, y) comes to rest: on a clear block under
 * the point, else in a container around it, else on the table. */
void sim_settle(sim_world *w, int i, double x, double y);
/* Move an object and everything resting on or in it by (dx, dy), kept on the table. */
void sim_move_group(sim_world *w, int i, double dx, double dy);
/* Free place for one more block in container c (slot positions). */
void sim_slot(const sim_world *w, int c, double *x, double *y);
/* "the red cube", "the K7 sign": a noun phrase naming object i unambiguously. */
void sim_phrase(const sim_world *w, int i, char *out, size_t cap);

/* Skills (skills.c): progress of the running step, 0..1 (0 when idle),
 * and a skill's name ("pick"; "?" when out of range). */
double sim_progress(const sim_world *w);
const char *sim_skill_name(int sk);

/* Goals (goal.c), shared with the snapshot code. */
ember_status sim_goal_parse(sim_world *w, const char *goal_json, const char *fn, char *err);
void *sim_goal_to_cjson(const sim_world *w); /* a cJSON array, NULL when none or out of memory */
void sim_goal_describe(const sim_world *w, const sim_pred *p, int n, char *out, size_t cap);

#endif
