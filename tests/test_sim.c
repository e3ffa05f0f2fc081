/* test_sim.c - the simulated tabletop world: scenes from seeds, every
 * skill's success and failure paths, injected failures by (seed, step id),
 * halt, goals, snapshots, rendering. White-box: it reads the world's
 * struct (sim/world_internal.h) to pick objects by kind and position. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cairo.h>
#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "sim/world_internal.h"
#include "tests/check.h"

/* --------------------------------------------------------------- helpers */

static sim_world *make(uint64_t seed, double fail_rate) {
    sim_config c;
    sim_config_defaults(&c);
    c.seed = seed, c.fail_rate = fail_rate;
    char err[EM_ERR_LEN];
    sim_world *w = sim_create(&c, err);
    if (!w) fprintf(stderr, "sim_create: %s\n", err);
    return w;
}

static void step_init(rio_step *st, const char *id, const char *skill) {
    memset(st, 0, sizeof *st);
    snprintf(st->step_id, sizeof st->step_id, "%s", id);
    snprintf(st->skill, sizeof st->skill, "%s", skill);
}
static void arg_str(rio_step *st, const char *name, const char *v) {
    rio_arg *a = &st->args[st->n_args++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = RIO_ARG_STRING;
    snprintf(a->str, sizeof a->str, "%s", v);
}
static void arg_num(rio_step *st, const char *name, double v) {
    rio_arg *a = &st->args[st->n_args++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->type = RIO_ARG_NUMBER;
    a->num = v;
}

/* Runs a step to its end in 0.05 s ticks. Returns 1 done, -1 failed while
 * running, -2 refused at the start; reason gets the code either way. */
static char last_err[EM_ERR_LEN], last_text[RIO_TEXT_LEN];
static int run(sim_world *w, const rio_step *st, char *reason) {
    char r[RIO_NAME_LEN] = "";
    last_err[0] = last_text[0] = 0;
    if (sim_step_begin(w, st, r, last_err) != EM_OK) {
        if (reason) snprintf(reason, RIO_NAME_LEN, "%s", r);
        return -2;
    }
    for (int i = 0; i < 1000; i++) {
        int rc = sim_tick(w, 0.05, r, last_text);
        if (rc != 0) {
            if (reason) snprintf(reason, RIO_NAME_LEN, "%s", r);
            return rc;
        }
    }
    return 0;
}

static int do1(sim_world *w, const char *id, const char *skill, const char *argname, const char *val, char *reason) {
    rio_step st;
    step_init(&st, id, skill);
    if (argname) arg_str(&st, argname, val);
    return run(w, &st, reason);
}

/* First object of a kind that is within reach (and not under anything). */
static int find_kind(const sim_world *w, sim_kind k, int skip) {
    for (int i = 0; i < w->n; i++)
        if (w->obj[i].kind == k && i != skip && sim_reachable(w, i)) return i;
    return -1;
}

static char *objects_json(const sim_world *w) {
    char *snap = sim_snapshot(w);
    cJSON *root = cJSON_Parse(snap);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "objects"));
    cJSON_Delete(root);
    free(snap);
    return s;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ----------------------------------------------------------------- tests */

static void test_determinism(void) {
    sim_world *a = make(7, 0), *b = make(7, 0), *c = make(8, 0);
    char *sa = sim_snapshot(a), *sb = sim_snapshot(b), *sc = sim_snapshot(c);
    CHECK(sa && sb && sc, "snapshots");
    CHECK(!strcmp(sa, sb), "seed 7 twice differs:\n%s\n%s", sa, sb);
    CHECK(strcmp(sa, sc) != 0, "seed 8 equals seed 7");
    size_t n = 640 * 480 * 3;
    uint8_t *ra = malloc(n), *rb = malloc(n), *rc = malloc(n);
    char err[EM_ERR_LEN];
    CHECK(sim_render_rgb(a, 640, 480, ra, err) == EM_OK, "%s", err);
    CHECK(sim_render_rgb(b, 640, 480, rb, err) == EM_OK, "%s", err);
    CHECK(sim_render_rgb(c, 640, 480, rc, err) == EM_OK, "%s", err);
    CHECK(!memcmp(ra, rb, n), "seed 7 renders differ");
    CHECK(memcmp(ra, rc, n) != 0, "seed 8 renders like seed 7");
    free(ra), free(rb), free(rc), free(sa), free(sb), free(sc);
    sim_free(a), sim_free(b), sim_free(c);
}

static void test_scenes(void) {
    int far_seeds = 0, total = 0;
    char err[EM_ERR_LEN];
    for (uint64_t seed = 1; seed <= 300; seed++) {
        sim_world *w = make(seed, 0);
        int blocks = 0, bowls = 0, signs = 0, far = 0, bad = 0;
        for (int i = 0; i < w->n; i++) {
            const sim_object *o = &w->obj[i];
            blocks += o->kind == SIM_BLOCK, bowls += o->kind == SIM_BOWL, signs += o->kind == SIM_SIGN;
            if (!sim_on_table(o->x, o->y)) bad++;
            if (o->kind != SIM_SIGN && !sim_reachable(w, i)) {
                far++;
                if (o->kind != SIM_BLOCK) bad++;
            }
            for (int j = 0; j < i; j++) {
                if (!strcmp(o->id, w->obj[j].id)) bad++;
                if (hypot(o->x - w->obj[j].x, o->y - w->obj[j].y) < 5) bad++; /* overlapping */
            }
        }
        far_seeds += far > 0;
        total += w->n;
        CHECK(w->n >= 4 && w->n <= 9, "seed %llu: %d objects", (unsigned long long)seed, w->n);
        CHECK(blocks >= 2 && bowls >= 1 && far <= 1 && !bad, "seed %llu: blocks %d bowls %d far %d bad %d",
              (unsigned long long)seed, blocks, bowls, far, bad);
        (void)signs;
        sim_free(w);
    }
    CHECK(far_seeds > 30 && far_seeds < 200, "%d of 300 seeds have a block out of reach", far_seeds);
    printf("scenes: %.1f objects per seed on average, %d of 300 with a block out of reach\n", total / 300.0, far_seeds);

    /* n_objects chosen explicitly, and bad configs. */
    sim_config c;
    sim_config_defaults(&c);
    c.n_objects = 12;
    sim_world *w = sim_create(&c, err);
    CHECK(w && w->n >= 10, "12 objects asked, %d placed", w ? w->n : -1);
    sim_free(w);
    c.n_objects = 2;
    CHECK(!sim_create(&c, err) && strstr(err, "n_objects"), "%s", err);
    sim_config_defaults(&c);
    c.fail_rate = 1.5;
    CHECK(!sim_create(&c, err) && strstr(err, "fail_rate"), "%s", err);
    sim_free(NULL);
}

static void test_describe(void) {
    sim_world *w = make(7, 0);
    rio_hello h;
    memset(&h, 0, sizeof h);
    char err[EM_ERR_LEN];
    CHECK(sim_describe(w, &h, err) == EM_OK, "%s", err);
    CHECK(h.n_skills == 8 && h.skills, "%d skills", h.n_skills);
    const char *want[] = {"pick", "place", "place_at", "push", "open_gripper", "close_gripper", "move_to", "home"};
    for (int i = 0; i < 8 && i < h.n_skills; i++) {
        CHECK(!strcmp(h.skills[i].name, want[i]), "skill %d: %s", i, h.skills[i].name);
        CHECK(h.skills[i].doc[0], "%s has no doc", h.skills[i].name);
    }
    int blocks = 0, conts = 0;
    for (int i = 0; i < w->n; i++) blocks += w->obj[i].kind == SIM_BLOCK, conts += sim_is_container(w, i);
    CHECK(h.skills[0].n_args == 1 && h.skills[0].args[0].n_enum == blocks, "pick enum %d, blocks %d", h.skills[0].args[0].n_enum,
          blocks);
    CHECK(h.skills[1].args[0].n_enum == blocks + conts, "place enum %d", h.skills[1].args[0].n_enum);
    CHECK(h.skills[3].n_args == 3 && h.skills[3].args[1].n_enum == 4 && h.skills[3].args[2].has_range, "push args");
    CHECK(h.n_layout == 9 + 2 * SIM_MAX_OBJECTS && !strcmp(h.layout[0], "gripper.x") && !strcmp(h.layout[9], "obj0.x"),
          "layout %d %s", h.n_layout, h.layout[0]);
    CHECK(h.n_cameras == 1 && !strcmp(h.cameras[0], "top"), "cameras");
    free(h.skills);
    sim_free(w);
}

static void test_success_paths(void) {
    sim_world *w = make(7, 0);
    char reason[RIO_NAME_LEN], err[EM_ERR_LEN];
    int a = find_kind(w, SIM_BLOCK, -1), b = find_kind(w, SIM_BLOCK, a), bowl = find_kind(w, SIM_BOWL, -1);
    CHECK(a >= 0 && b >= 0 && bowl >= 0, "seed 7 lacks reachable blocks or a bowl");
    if (a < 0 || b < 0 || bowl < 0) return;
    const char *A = w->obj[a].id, *B = w->obj[b].id, *BOWL = w->obj[bowl].id;

    /* The goal: A in the bowl. */
    char goal[160];
    snprintf(goal, sizeof goal, "[[\"in\",\"%s\",\"%s\"]]", A, BOWL);
    CHECK(sim_goal_met(w, NULL) == -1, "no goal yet");
    CHECK(sim_set_goal(w, goal, err) == EM_OK, "%s", err);
    char why[RIO_TEXT_LEN];
    CHECK(sim_goal_met(w, why) == 0 && strstr(why, A), "%s", why);

    /* pick: motion takes step_s = 0.4 s, i.e. 8 ticks of 0.05. */
    rio_step st;
    step_init(&st, "s1", "pick");
    arg_str(&st, "object", A);
    CHECK(sim_step_begin(w, &st, reason, err) == EM_OK, "%s", err);
    CHECK(sim_busy(w), "busy after begin");
    int ticks = 0, rc;
    while ((rc = sim_tick(w, 0.05, reason, last_text)) == 0) ticks++;
    CHECK(rc == 1 && ticks == 7, "pick: rc %d after %d ticks", rc, ticks);
    CHECK(!sim_busy(w) && w->g.holding == a && !w->g.open, "pick: holding %d open %d", w->g.holding, w->g.open);
    CHECK(sim_tick(w, 0.05, reason, last_text) == 1, "idle tick");

    /* state: vector and fields */
    rio_state s;
    CHECK(sim_state(w, &s, err) == EM_OK, "%s", err);
    CHECK(s.vector[4] == a && s.vector[3] == 0 && s.vector[8] == w->n, "state vector: holding %g", s.vector[4]);
    cJSON *f = cJSON_Parse(s.fields_json);
    cJSON *g = cJSON_GetObjectItem(f, "gripper");
    CHECK(f && cJSON_IsString(cJSON_GetObjectItem(g, "holding")) &&
              !strcmp(cJSON_GetObjectItem(g, "holding")->valuestring, A), "fields: %s", s.fields_json);
    cJSON *goalf = cJSON_GetObjectItem(f, "goal");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(goalf, "met")) && cJSON_IsString(cJSON_GetObjectItem(goalf, "text")), "goal fields");
    cJSON_Delete(f);
    free(s.fields_json);

    /* place into the bowl: the goal is met */
    CHECK(do1(w, "s2", "place", "target", BOWL, reason) == 1, "place: %s", last_err);
    CHECK(w->obj[a].in == bowl && w->g.holding == -1 && w->g.open, "in %d", w->obj[a].in);
    CHECK(sim_goal_met(w, why) == 1, "goal not met: %s", why);
    CHECK(strstr(w->goal_text, "put the") && strstr(w->goal_text, " in the "), "goal text: %s", w->goal_text);

    /* stack B on A (in the bowl): B is on A, and in the bowl through it */
    CHECK(do1(w, "s3", "pick", "object", B, reason) == 1, "pick B: %s", last_err);
    CHECK(do1(w, "s4", "place", "target", A, reason) == 1, "place on A: %s", last_err);
    CHECK(w->obj[b].on == a && sim_container_of(w, b) == bowl, "on %d", w->obj[b].on);
    double x, y, z;
    sim_obj_pos(w, b, &x, &y, &z);
    CHECK(fabs(z - (SIM_BOWL_FLOOR + SIM_BLOCK_CM)) < 1e-9, "stacked z %g", z);
    snprintf(goal, sizeof goal, "[[\"on\",\"%s\",\"%s\"],[\"in\",\"%s\",\"%s\"]]", B, A, B, BOWL);
    CHECK(sim_set_goal(w, goal, err) == EM_OK && sim_goal_met(w, why) == 1, "%s %s", err, why);

    /* B off again, down at a table point */
    CHECK(do1(w, "s5", "pick", "object", B, reason) == 1, "pick B again: %s", last_err);
    step_init(&st, "s6", "place_at");
    arg_num(&st, "x", -10), arg_num(&st, "y", 20);
    CHECK(run(w, &st, reason) == 1, "place_at: %s", last_err);
    CHECK(w->obj[b].x == -10 && w->obj[b].y == 20 && w->obj[b].on == -1, "place_at put it at (%g, %g)", w->obj[b].x,
          w->obj[b].y);
    snprintf(goal, sizeof goal, "[[\"at\",\"%s\",-10,20,0.5]]", B);
    CHECK(sim_set_goal(w, goal, err) == EM_OK && sim_goal_met(w, why) == 1, "%s %s", err, why);

    /* push B right by 5 */
    step_init(&st, "s7", "push");
    arg_str(&st, "object", B), arg_str(&st, "direction", "right"), arg_num(&st, "distance", 5);
    CHECK(run(w, &st, reason) == 1, "push: %s", last_err);
    CHECK(fabs(w->obj[b].x - -5) < 1e-9 && w->obj[b].y == 20, "pushed to (%g, %g)", w->obj[b].x, w->obj[b].y);
    CHECK(sim_goal_met(w, why) == 0, "at goal still met after the push");

    /* push the bowl forward: A moves along inside it */
    double ay = w->obj[a].y, by = w->obj[bowl].y;
    step_init(&st, "s8", "push");
    arg_str(&st, "object", BOWL), arg_str(&st, "direction", by < 40 ? "forward" : "back"), arg_num(&st, "distance", 3);
    CHECK(run(w, &st, reason) == 1, "push bowl: %s", last_err);
    CHECK(fabs((w->obj[a].y - ay) - (w->obj[bowl].y - by)) < 1e-9 && fabs(w->obj[bowl].y - by) == 3 && w->obj[a].in == bowl,
          "contents did not follow the bowl");

    /* close, open, move_to, home */
    CHECK(do1(w, "s9", "close_gripper", NULL, NULL, reason) == 1 && !w->g.open, "close");
    CHECK(do1(w, "s10", "open_gripper", NULL, NULL, reason) == 1 && w->g.open, "open");
    step_init(&st, "s11", "move_to");
    arg_num(&st, "x", 12.5), arg_num(&st, "y", 30);
    CHECK(run(w, &st, reason) == 1 && w->g.x == 12.5 && w->g.y == 30 && w->g.z == SIM_CARRY_Z, "move_to (%g, %g, %g)", w->g.x,
          w->g.y, w->g.z);
    CHECK(do1(w, "s12", "home", NULL, NULL, reason) == 1 && w->g.x == SIM_HOME_X && w->g.y == SIM_HOME_Y && w->g.z == SIM_HOME_Z,
          "home");

    /* holding goal; open_gripper drops the held block where the gripper is */
    CHECK(do1(w, "s13", "pick", "object", B, reason) == 1, "pick: %s", last_err);
    snprintf(goal, sizeof goal, "[[\"holding\",\"%s\"]]", B);
    CHECK(sim_set_goal(w, goal, err) == EM_OK && sim_goal_met(w, why) == 1, "%s %s", err, why);
    step_init(&st, "s14", "move_to");
    arg_num(&st, "x", 0), arg_num(&st, "y", 15);
    CHECK(run(w, &st, reason) == 1, "move_to: %s", last_err);
    CHECK(do1(w, "s15", "open_gripper", NULL, NULL, reason) == 1, "open: %s", last_err);
    CHECK(w->g.holding == -1 && w->obj[b].x == 0 && w->obj[b].y == 15, "dropped at (%g, %g)", w->obj[b].x, w->obj[b].y);
    CHECK(sim_goal_met(w, why) == 0 && strstr(why, "does not hold"), "%s", why);
    CHECK(sim_set_goal(w, NULL, err) == EM_OK && sim_goal_met(w, NULL) == -1, "clear goal");
    sim_free(w);
}

static void test_failures(void) {
    char reason[RIO_NAME_LEN], err[EM_ERR_LEN];
    sim_world *w = make(7, 0);
    int a = find_kind(w, SIM_BLOCK, -1), b = find_kind(w, SIM_BLOCK, a), bowl = find_kind(w, SIM_BOWL, -1);
    int sign = -1;
    for (int i = 0; i < w->n; i++)
        if (w->obj[i].kind == SIM_SIGN) sign = i;
    rio_step st;

    CHECK(do1(w, "f1", "pick", "object", "no_such_thing", reason) == -2 && !strcmp(reason, RIO_REASON_NOT_FOUND), "%s", reason);
    CHECK(strstr(last_err, "no_such_thing"), "%s", last_err);
    CHECK(do1(w, "f2", "place", "target", w->obj[bowl].id, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION),
          "place empty: %s", reason);
    CHECK(do1(w, "f3", "pick", "object", w->obj[bowl].id, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION),
          "pick bowl: %s", reason);
    step_init(&st, "f4", "place_at");
    arg_num(&st, "x", 0), arg_num(&st, "y", 30);
    CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION), "place_at empty: %s", reason);
    step_init(&st, "f5", "move_to");
    arg_num(&st, "x", 50), arg_num(&st, "y", 50);
    CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_OUT_OF_REACH), "move_to far: %s", reason);
    CHECK(do1(w, "f6", "dance", NULL, NULL, reason) == -2 && !strcmp(reason, RIO_REASON_UNKNOWN_SKILL), "%s", reason);
    step_init(&st, "f7", "push");
    arg_str(&st, "object", w->obj[a].id), arg_str(&st, "direction", "up"), arg_num(&st, "distance", 5);
    CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_BAD_ARGS), "push up: %s", reason);
    step_init(&st, "f8", "pick");
    CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_BAD_ARGS), "pick without object: %s", reason);
    if (sign >= 0) {
        step_init(&st, "f9", "push");
        arg_str(&st, "object", w->obj[sign].id), arg_str(&st, "direction", "left"), arg_num(&st, "distance", 5);
        CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION), "push sign: %s", reason);
    }
    /* One step at a time. */
    step_init(&st, "f10", "home");
    CHECK(sim_step_begin(w, &st, reason, err) == EM_OK, "%s", err);
    step_init(&st, "f11", "home");
    CHECK(sim_step_begin(w, &st, reason, err) == EM_ERR_ARG && !strcmp(reason, RIO_REASON_PRECONDITION), "busy: %s", err);
    sim_halt(w);

    /* Covered block, and pick while holding. */
    CHECK(do1(w, "f12", "pick", "object", w->obj[b].id, reason) == 1, "%s", last_err);
    CHECK(do1(w, "f13", "place", "target", w->obj[a].id, reason) == 1, "%s", last_err);
    CHECK(do1(w, "f14", "pick", "object", w->obj[a].id, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION) &&
              strstr(last_err, "rests on it"), "covered: %s", last_err);
    CHECK(do1(w, "f15", "pick", "object", w->obj[b].id, reason) == 1, "%s", last_err);
    CHECK(do1(w, "f16", "pick", "object", w->obj[a].id, reason) == -2 && strstr(last_err, "already holds"), "%s", last_err);
    CHECK(do1(w, "f17", "place", "target", w->obj[b].id, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION),
          "place on itself: %s", reason);
    step_init(&st, "f18", "place_at");
    arg_num(&st, "x", 0), arg_num(&st, "y", 75);
    CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_PRECONDITION), "place_at off the table: %s", reason);
    sim_free(w);

    /* Out of reach: a seed with a block in a far corner. */
    int found = 0;
    for (uint64_t seed = 1; seed < 100 && !found; seed++) {
        w = make(seed, 0);
        for (int i = 0; i < w->n && !found; i++) {
            if (w->obj[i].kind != SIM_BLOCK || sim_reachable(w, i)) continue;
            found = 1;
            CHECK(do1(w, "r1", "pick", "object", w->obj[i].id, reason) == -2 && !strcmp(reason, RIO_REASON_OUT_OF_REACH),
                  "seed %llu: %s", (unsigned long long)seed, reason);
            CHECK(strstr(last_err, "reaches 60 cm"), "%s", last_err);
            step_init(&st, "r2", "push");
            arg_str(&st, "object", w->obj[i].id), arg_str(&st, "direction", "back"), arg_num(&st, "distance", 5);
            CHECK(run(w, &st, reason) == -2 && !strcmp(reason, RIO_REASON_OUT_OF_REACH), "push far: %s", reason);
            /* Placing onto it is out of reach too. */
            int k = find_kind(w, SIM_BLOCK, -1);
            CHECK(do1(w, "r3", "pick", "object", w->obj[k].id, reason) == 1, "%s", last_err);
            CHECK(do1(w, "r4", "place", "target", w->obj[i].id, reason) == -2 && !strcmp(reason, RIO_REASON_OUT_OF_REACH),
                  "place far: %s", reason);
        }
        sim_free(w);
    }
    CHECK(found, "no seed below 100 has a block out of reach");

    /* A full bowl refuses. */
    sim_config c;
    sim_config_defaults(&c);
    c.seed = 3, c.n_objects = 12;
    w = sim_create(&c, err);
    bowl = find_kind(w, SIM_BOWL, -1);
    int placed = 0, refused = 0;
    for (int i = 0; i < w->n; i++) {
        if (w->obj[i].kind != SIM_BLOCK || !sim_reachable(w, i)) continue;
        char id[16];
        snprintf(id, sizeof id, "fb%d", i);
        if (do1(w, id, "pick", "object", w->obj[i].id, reason) != 1) continue;
        snprintf(id, sizeof id, "fp%d", i);
        int rc = do1(w, id, "place", "target", w->obj[bowl].id, reason);
        if (rc == 1) placed++;
        else if (rc == -2 && strstr(last_err, "full")) {
            refused++;
            break;
        }
    }
    CHECK(placed == SIM_BOWL_SLOTS && refused == 1, "placed %d, refused %d", placed, refused);
    /* Blocks in a bowl do not overlap. */
    for (int i = 0; i < w->n; i++)
        for (int j = 0; j < i; j++)
            if (w->obj[i].in == bowl && w->obj[j].in == bowl)
                CHECK(hypot(w->obj[i].x - w->obj[j].x, w->obj[i].y - w->obj[j].y) >= 3.0, "overlap in the bowl");
    sim_free(w);
}

static void test_injected(void) {
    /* Slips: about fail_rate of 1000 step ids at 0.3, none at 0. */
    sim_world *w = make(7, 0.3);
    int a = find_kind(w, SIM_BLOCK, -1);
    char *start = sim_snapshot(w), reason[RIO_NAME_LEN], err[EM_ERR_LEN];
    int slips = 0, fates[50];
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "pick-%d", i);
        CHECK(sim_restore(w, start, err) == EM_OK, "%s", err);
        int rc = do1(w, id, "pick", "object", w->obj[a].id, reason);
        if (rc == -1) {
            slips++;
            if (slips == 1) {
                CHECK(!strcmp(reason, RIO_REASON_GRASP_SLIPPED) && strstr(last_text, "slipped"), "%s: %s", reason, last_text);
                CHECK(w->g.holding == -1 && hypot(w->obj[a].x - w->g.x, w->obj[a].y - w->g.y) < 4, "fell near its spot");
            }
        } else CHECK(rc == 1, "pick %d: rc %d", i, rc);
        if (i < 50) fates[i] = rc;
    }
    CHECK(slips >= 250 && slips <= 350, "%d slips of 1000 at 0.3", slips);
    /* Same step id, same fate. */
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "pick-%d", i);
        sim_restore(w, start, err);
        CHECK(do1(w, id, "pick", "object", w->obj[a].id, reason) == fates[i], "step %s changed its fate", id);
    }
    /* Pushes meet an obstacle at fail_rate / 2 and stop short. */
    int blocked = 0;
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "push-%d", i);
        sim_restore(w, start, err);
        rio_step st;
        step_init(&st, id, "push");
        double y0 = w->obj[a].y;
        arg_str(&st, "object", w->obj[a].id), arg_str(&st, "direction", "back"), arg_num(&st, "distance", 1);
        int rc = run(w, &st, reason);
        if (rc == -1) {
            blocked++;
            CHECK(!strcmp(reason, SIM_REASON_OBSTACLE) && y0 - w->obj[a].y > 0.29 && y0 - w->obj[a].y < 0.71, "blocked push moved %g",
                  y0 - w->obj[a].y);
        }
    }
    CHECK(blocked >= 110 && blocked <= 190, "%d blocked pushes of 1000 at 0.15", blocked);
    free(start);
    sim_free(w);

    w = make(7, 0);
    start = sim_snapshot(w);
    slips = 0;
    for (int i = 0; i < 300; i++) {
        char id[32];
        snprintf(id, sizeof id, "pick-%d", i);
        sim_restore(w, start, err);
        slips += do1(w, id, "pick", "object", w->obj[a].id, reason) != 1;
    }
    CHECK(slips == 0, "%d slips at fail_rate 0", slips);
    free(start);
    sim_free(w);
}

static void test_halt(void) {
    sim_world *w = make(7, 0);
    int a = find_kind(w, SIM_BLOCK, -1), bowl = find_kind(w, SIM_BOWL, -1);
    char reason[RIO_NAME_LEN], err[EM_ERR_LEN], text[RIO_TEXT_LEN];
    char *before = objects_json(w);
    rio_step st;
    step_init(&st, "h1", "pick");
    arg_str(&st, "object", w->obj[a].id);
    CHECK(sim_step_begin(w, &st, reason, err) == EM_OK, "%s", err);
    double gx = w->g.x, gy = w->g.y;
    CHECK(sim_tick(w, 0.15, reason, text) == 0, "mid-motion");
    CHECK(w->g.x != gx || w->g.y != gy, "the gripper did not move");
    sim_halt(w);
    CHECK(!sim_busy(w) && w->g.holding == -1, "halted");
    char *after = objects_json(w);
    CHECK(!strcmp(before, after), "halt changed objects");
    double hx = w->g.x, hy = w->g.y;
    CHECK(sim_tick(w, 1.0, reason, text) == 1 && w->g.x == hx && w->g.y == hy, "the gripper moved after halt");
    /* A held block stays held through a halted place. */
    CHECK(do1(w, "h2", "pick", "object", w->obj[a].id, reason) == 1, "%s", last_err);
    step_init(&st, "h3", "place");
    arg_str(&st, "target", w->obj[bowl].id);
    CHECK(sim_step_begin(w, &st, reason, err) == EM_OK, "%s", err);
    sim_tick(w, 0.3, reason, text);
    sim_halt(w);
    CHECK(w->g.holding == a && w->obj[a].in == -1, "halted place dropped the block");
    free(before), free(after);
    sim_free(w);
}

static void test_snapshot(void) {
    char err[EM_ERR_LEN], reason[RIO_NAME_LEN];
    sim_world *w = make(12345678901234567ull, 0.25);
    int a = find_kind(w, SIM_BLOCK, -1), bowl = find_kind(w, SIM_BOWL, -1), b = find_kind(w, SIM_BLOCK, a);
    do1(w, "n1", "pick", "object", w->obj[a].id, reason);
    do1(w, "n2", "place", "target", w->obj[bowl].id, reason);
    do1(w, "n3", "pick", "object", w->obj[b].id, reason);
    rio_step st;
    step_init(&st, "n4", "move_to");
    arg_num(&st, "x", 0.1 + 0.2), arg_num(&st, "y", 1.0 / 3.0 + 20);
    run(w, &st, reason);
    char goal[256];
    snprintf(goal, sizeof goal, "[[\"in\",\"%s\",\"%s\"],[\"at\",\"%s\",0.1,20.7,1e-3]]", w->obj[b].id, w->obj[bowl].id,
             w->obj[a].id);
    CHECK(sim_set_goal(w, goal, err) == EM_OK, "%s", err);
    char *s1 = sim_snapshot(w);
    CHECK(s1 && !strchr(s1, '\n'), "one line");
    CHECK(strstr(s1, "\"seed\":\"12345678901234567\""), "seed kept whole: %.120s", s1);
    sim_world *v = make(99, 0);
    CHECK(sim_restore(v, s1, err) == EM_OK, "%s", err);
    char *s2 = sim_snapshot(v);
    CHECK(s2 && !strcmp(s1, s2), "round trip differs:\n%s\n%s", s1, s2);
    CHECK(v->g.x == w->g.x && v->g.y == w->g.y && v->g.holding == w->g.holding && v->cfg.seed == w->cfg.seed, "restored values");
    CHECK(!strcmp(v->goal_text, w->goal_text), "goal text");

    /* Malformed input is refused and leaves the world as it was. */
    const char *bad[] = {
        "", "{", "[]", "null", "42", "{\"v\":2}", "{\"v\":1}",
        "{\"v\":1,\"config\":{\"seed\":7,\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"-1\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":2,\"step_s\":0.4,\"n_objects\":0},\"objects\":[],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":\"a\"}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"blob\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"bowl\",\"shape\":\"\",\"color\":\"red\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":\"a\"},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"mauve\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":null},{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"\",\"x\":5,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":null}",
        "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"\",\"x\":0,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":[[\"in\",\"a\",\"a\"]]}",
    };
    int n_bad = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n_bad; i++) {
        err[0] = 0;
        ember_status rc = sim_restore(v, bad[i], err);
        CHECK(rc != EM_OK && err[0] && strstr(err, "sim_restore"), "bad snapshot %d accepted (%s)", i, err);
    }
    /* Every proper prefix of a good snapshot is refused. */
    size_t len = strlen(s1);
    char *cut = malloc(len + 1);
    int accepted = 0;
    for (size_t k = 0; k < len; k++) {
        memcpy(cut, s1, k);
        cut[k] = 0;
        accepted += sim_restore(v, cut, err) == EM_OK;
    }
    CHECK(accepted == 0, "%d prefixes accepted", accepted);
    char *s3 = sim_snapshot(v);
    CHECK(!strcmp(s1, s3), "a refused restore changed the world");
    /* The one-object snapshot above, made valid, restores. */
    const char *one = "{\"v\":1,\"config\":{\"seed\":\"7\",\"fail_rate\":0,\"step_s\":0.4,\"n_objects\":0},\"objects\":[{\"id\":\"a\",\"kind\":\"block\",\"shape\":\"cube\",\"color\":\"red\",\"label\":\"Q1\",\"x\":0,\"y\":20,\"in\":null,\"on\":null}],\"gripper\":{\"x\":0,\"y\":20,\"z\":20,\"open\":true,\"holding\":null},\"goal\":[[\"holding\",\"a\"]]}";
    CHECK(sim_restore(v, one, err) == EM_OK && v->n == 1 && v->n_goal == 1, "%s", err);
    free(cut), free(s1), free(s2), free(s3);
    sim_free(v);
    sim_free(w);
}

static void test_goals(void) {
    sim_world *w = make(7, 0);
    char err[EM_ERR_LEN];
    int a = find_kind(w, SIM_BLOCK, -1), bowl = find_kind(w, SIM_BOWL, -1);
    struct { const char *json, *want; } bad[] = {
        {"[[\"under\",\"x\",\"y\"]]", "unknown predicate"},
        {"[[\"in\",\"pink_elephant\",\"%B\"]]", "unknown object \"pink_elephant\""},
        {"[[\"in\",\"%A\"]]", "takes 3"},
        {"[]", "non-empty"},
        {"not json", "not JSON"},
        {"[[\"in\",\"%B\",\"%A\"]]", "about blocks"},
        {"[[\"on\",\"%A\",\"%A\"]]", "cannot be on"},
        {"[[\"at\",\"%A\",1,2,0]]", "tolerance"},
        {"[[\"at\",\"%A\",1,\"2\",1]]", "must be a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[200], *o = json;
        for (const char *p = bad[i].json; *p; p++) {
            if (p[0] == '%' && (p[1] == 'A' || p[1] == 'B')) {
                o += sprintf(o, "%s", w->obj[p[1] == 'A' ? a : bowl].id);
                p++;
            } else *o++ = *p;
        }
        *o = 0;
        CHECK(sim_set_goal(w, json, err) != EM_OK && strstr(err, bad[i].want) && strstr(err, "sim_set_goal"), "%s: %s", json,
              err);
    }
    CHECK(sim_goal_met(w, NULL) == -1, "a refused goal was set");
    sim_free(w);

    /* Random tasks are feasible: the expert's plan, run step by step
     * through the skills (on scrambled worlds too: stacks, filled bowls,
     * a loaded gripper), reaches each goal; kinds and phrasings all occur. */
    int solved = 0, tried = 0, kinds[5] = {0}, long_plans = 0, by_label = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        w = make(seed, 0);
        CHECK(sim_scramble(w, seed, (int)(seed % 4), 1, err) == EM_OK, "scramble: %s", err);
        char *json = NULL, *text = NULL, reason[RIO_NAME_LEN];
        if (sim_random_goal(w, seed * 31, &json, &text, err) != EM_OK) {
            CHECK(0, "seed %llu: %s", (unsigned long long)seed, err);
            sim_free(w);
            continue;
        }
        tried++;
        CHECK(sim_set_goal(w, json, err) == EM_OK, "%s: %s", json, err);
        CHECK(sim_goal_met(w, NULL) == 0, "seed %llu: goal met at once: %s", (unsigned long long)seed, json);
        static const char *const starts[] = {"put ", "place ", "move ", "stack ", "pick up ", "grab ", "hold ", "clear ", "empty "};
        int known = 0;
        for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) known |= text && !strncmp(text, starts[i], strlen(starts[i]));
        CHECK(known, "text: %s", text);
        by_label += strstr(text, "labelled") != NULL;
        for (int k = 0; k < w->n_goal; k++) kinds[w->goal[k].kind]++;
        if (seed <= 3) printf("goal (seed %llu): %s -> %s\n", (unsigned long long)seed, json, text);
        rio_step steps[8];
        int n = 0, ok = sim_expert_plan(w, steps, 8, &n, err) == EM_OK;
        CHECK(ok, "seed %llu: %s: %s", (unsigned long long)seed, json, err);
        long_plans += n >= 3;
        for (int k = 0; k < n && ok; k++) ok &= run(w, &steps[k], reason) == 1;
        char why[RIO_TEXT_LEN];
        int met = sim_goal_met(w, why);
        CHECK(ok && met == 1, "seed %llu: %s not reached (%s; %s)", (unsigned long long)seed, json, why, last_err);
        solved += ok && met == 1;
        /* The same seed gives the same goal. */
        char *json2 = NULL;
        sim_world *w2 = make(seed, 0);
        sim_scramble(w2, seed, (int)(seed % 4), 1, err);
        CHECK(sim_random_goal(w2, seed * 31, &json2, NULL, err) == EM_OK && !strcmp(json, json2), "random goal not repeatable");
        free(json2), free(json), free(text);
        sim_free(w2);
        sim_free(w);
    }
    CHECK(kinds[SIM_PRED_IN] && kinds[SIM_PRED_ON] && kinds[SIM_PRED_HOLDING] && kinds[SIM_PRED_EMPTY] && long_plans && by_label,
          "task kinds in/on/holding/empty %d/%d/%d/%d, plans of 3+ steps %d, by label %d", kinds[0], kinds[1], kinds[2],
          kinds[4], long_plans, by_label);
    printf("random tasks: %d of %d solved by the expert (in/on/holding/empty %d/%d/%d/%d, 3+ steps %d, by label %d)\n", solved,
           tried, kinds[0], kinds[1], kinds[2], kinds[4], long_plans, by_label);
}

/* Pixel box of a table rectangle (the renderer's view: 112 x 84 cm, table
 * point (0, 35) at the centre). */
static void to_px(int W, int H, double x, double y, int *px, int *py) {
    double s = fmin(W / 112.0, H / 84.0);
    *px = (int)lround(W / 2.0 + x * s);
    *py = (int)lround(H / 2.0 - (y - 35) * s);
}

static void test_render(void) {
    char err[EM_ERR_LEN];
    const int W = 640, H = 480;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    int signs_checked = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        sim_world *w = make(seed, 0);
        CHECK(sim_render_rgb(w, W, H, rgb, err) == EM_OK, "%s", err);
        /* Not uniform: many distinct colours. */
        int distinct = 0;
        for (int i = 1; i < W * H && distinct < 100; i += 97)
            if (memcmp(rgb + 3 * i, rgb, 3)) distinct++;
        CHECK(distinct >= 50, "frame nearly uniform");
        for (int i = 0; i < w->n; i++) {
            const sim_object *o = &w->obj[i];
            if (o->kind != SIM_SIGN) continue;
            /* Inside the card (inset from its border), count pixels far
             * from the card's colour: the printed label. */
            int x0, y0, x1, y1;
            to_px(W, H, o->x - SIM_SIGN_W / 2 + 1, o->y + SIM_SIGN_H / 2 - 1, &x0, &y0);
            to_px(W, H, o->x + SIM_SIGN_W / 2 - 1, o->y - SIM_SIGN_H / 2 + 1, &x1, &y1);
            const sim_color *c = &sim_palette[o->color];
            int ink = 0, card = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    const uint8_t *p = rgb + 3 * ((size_t)y * W + x);
                    double d = fabs(p[0] - c->r * 255) + fabs(p[1] - c->g * 255) + fabs(p[2] - c->b * 255);
                    if (d > 200) ink++;
                    else if (d < 30) card++;
                }
            int area = (x1 - x0) * (y1 - y0);
            CHECK(ink > area / 20 && ink < area / 2 && card > area / 3, "seed %llu sign %s: %d ink, %d card of %d px",
                  (unsigned long long)seed, o->label, ink, card, area);
            signs_checked++;
        }
        /* Each labelled block shows ink inside its square. */
        for (int i = 0; i < w->n; i++) {
            const sim_object *o = &w->obj[i];
            if (o->kind != SIM_BLOCK || !o->label[0]) continue;
            int x0, y0, x1, y1;
            to_px(W, H, o->x - 1.2, o->y + 1, &x0, &y0);
            to_px(W, H, o->x + 1.2, o->y - 1, &x1, &y1);
            const sim_color *c = &sim_palette[o->color];
            int ink = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    const uint8_t *p = rgb + 3 * ((size_t)y * W + x);
                    if (fabs(p[0] - c->r * 255) + fabs(p[1] - c->g * 255) + fabs(p[2] - c->b * 255) > 250) ink++;
                }
            CHECK(ink > 5, "seed %llu block %s label %s: no ink", (unsigned long long)seed, o->id, o->label);
        }
        if (seed == 1) {
            uint8_t *png;
            size_t size;
            CHECK(sim_render_png(w, W, H, &png, &size, err) == EM_OK, "%s", err);
            CHECK(size > 1000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8), "not a PNG (%zu bytes)", size);
            uint8_t *png2;
            size_t size2;
            CHECK(sim_render_png(w, W, H, &png2, &size2, err) == EM_OK && size2 == size && !memcmp(png, png2, size),
                  "PNG not repeatable");
            const char *dump = getenv("EMBER_SIM_PNG");
            if (dump) {
                FILE *f = fopen(dump, "wb");
                if (f) fwrite(png, 1, size, f), fclose(f);
            }
            free(png), free(png2);
            CHECK(sim_render_rgb(w, 8, 8, rgb, err) == EM_ERR_ARG && strstr(err, "8x8"), "%s", err);
            CHECK(sim_render_rgb(w, 17, 33, rgb, err) == EM_OK, "odd size: %s", err);
        }
        sim_free(w);
    }
    CHECK(signs_checked >= 4, "only %d signs checked", signs_checked);

    /* Mid-motion frames differ from the rest frame; time the renderer. */
    sim_world *w = make(7, 0);
    uint8_t *rest = malloc((size_t)W * H * 3);
    sim_render_rgb(w, W, H, rest, err);
    rio_step st;
    step_init(&st, "m1", "pick");
    arg_str(&st, "object", w->obj[find_kind(w, SIM_BLOCK, -1)].id);
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
    sim_step_begin(w, &st, reason, err);
    sim_tick(w, 0.2, reason, text);
    sim_render_rgb(w, W, H, rgb, err);
    CHECK(memcmp(rest, rgb, (size_t)W * H * 3) != 0, "motion not visible");
    const int N = 40;
    double t0 = now_ms();
    for (int i = 0; i < N; i++) sim_render_rgb(w, W, H, rgb, err);
    double t_rgb = (now_ms() - t0) / N;
    t0 = now_ms();
    size_t bytes = 0;
    for (int i = 0; i < N; i++) {
        uint8_t *png;
        size_t size;
        sim_render_png(w, W, H, &png, &size, err);
        bytes = size;
        free(png);
    }
    double t_png = (now_ms() - t0) / N;
    printf("render 640x480: rgb %.2f ms/frame, png %.2f ms/frame (%zu bytes)\n", t_rgb, t_png, bytes);
    CHECK(t_rgb < 200, "rgb render takes %.1f ms", t_rgb);
    free(rest), free(rgb);
    sim_free(w);
}

int main(void) {
    test_determinism();
    test_scenes();
    test_describe();
    test_success_paths();
    test_failures();
    test_injected();
    test_halt();
    test_snapshot();
    test_goals();
    test_render();
    /* cairo and fontconfig keep caches for the process's life; release them
     * so LeakSanitizer sees only our own allocations. FcFini is looked up at
     * run time because the test does not link fontconfig directly. */
    cairo_debug_reset_static_data();
    void (*fc_fini)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "FcFini");
    if (fc_fini) fc_fini();
    return CHECK_DONE();
}
