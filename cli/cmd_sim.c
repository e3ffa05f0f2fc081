/* cmd_sim.c - `ember sim`: the reference simulated robot. Joins the world
 * (sim/sim.h) to the controller-side library (robot_io/rio_ctrl.h) and to
 * a journal (sim/sim_journal.h), so the table and every step's fate
 * survive a restart of this process (even SIGKILL).
 *
 * Journal records (one JSON object per line; all written with fdatasync
 * before anything that depends on them is said on the wire):
 *   {"rec":"init","seed":S,"world":{...}}             first start
 *   {"rec":"accept","plan":P,"msg":{step message}}     before the step is acked
 *   {"rec":"start"|"resume","plan":P,"step":ID,"us":T} before its motion starts
 *   {"rec":"commit","plan":P,"step":ID,"status":"done"|"failed",
 *    "reason":..,"text":..,"world":{...},"us":T}      its effect, exactly once
 *   {"rec":"settled","plan":P,"msg":{...},"reason":..}  failed by the library
 *   {"rec":"estop","sent_us":..,"received_us":..,"halted_us":..}, {"rec":"reset"}
 *   {"rec":"goal","goal":[...]}
 * A step's effect on the world is applied only at its commit; a step that
 * was moving when the process died is resumed (re-run from the start of its
 * motion) after the restart, and commits once. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli_rio.h"
#include "commands.h"
#include "opt.h"
#include "robot_io/rio_ctrl.h"
#include "sim/sim.h"
#include "sim/sim_journal.h"

typedef struct jstep {
    char plan_id[RIO_ID_LEN];
    rio_step st;
    rio_fb_status status;
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
} jstep;

typedef struct sim_app {
    sim_world *w;
    sim_journal *j;
    rio_ctrl *c;
    jstep *steps; /* what the journal says about each step */
    int n_steps, cap_steps;
    int estop;
    char *world_json; /* latest snapshot in the journal */
    char *goal_json;
    uint64_t seed;
    int have_init;
    int running;
    char cur_plan[RIO_ID_LEN];
    rio_step cur;
    long n_done, n_failed, n_resumed;
    int quiet;
} sim_app;

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember sim --bind EP [options]\n\n"
            "Runs the simulated tabletop robot as a controller on the robot link at EP\n"
            "(tcp://127.0.0.1:5555 or ipc:///tmp/ember-sim): skills pick, place, push, ...\n"
            "(see sim/README.md), state at --state-hz, camera frames at --fps.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

/* ---- journal ------------------------------------------------------------ */

static jstep *jstep_get(sim_app *app, const char *plan_id, const char *step_id, int create) {
    for (int i = 0; i < app->n_steps; i++)
        if (!strcmp(app->steps[i].plan_id, plan_id) && !strcmp(app->steps[i].st.step_id, step_id)) return &app->steps[i];
    if (!create) return NULL;
    if (app->n_steps == app->cap_steps) {
        int cap = app->cap_steps ? 2 * app->cap_steps : 32;
        jstep *p = realloc(app->steps, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        app->steps = p;
        app->cap_steps = cap;
    }
    jstep *s = &app->steps[app->n_steps++];
    memset(s, 0, sizeof *s);
    snprintf(s->plan_id, sizeof s->plan_id, "%s", plan_id);
    snprintf(s->st.step_id, sizeof s->st.step_id, "%s", step_id);
    return s;
}

/* A step as a full step message (the codec's own form), for the journal. */
static cJSON *step_json(const char *plan_id, const rio_step *st) {
    rio_msg m;
    rio_msg_init(&m, RIO_MSG_STEP);
    m.seq = 1;
    m.ts_us = rio_now_us();
    strcpy(m.from, "journal");
    strcpy(m.session, "journal");
    snprintf(m.plan_id, sizeof m.plan_id, "%s", plan_id);
    snprintf(m.step_id, sizeof m.step_id, "%s", st->step_id);
    m.u.step = *st;
    char *json = NULL, err[EM_ERR_LEN];
    size_t len;
    cJSON *j = NULL;
    if (rio_msg_encode(&m, &json, &len, err) == EM_OK) j = cJSON_Parse(json);
    free(json);
    return j;
}

static ember_status journal(sim_app *app, cJSON *rec, char *err) {
    char *line = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (!line) return em_err(err, EM_ERR_NOMEM, "ember sim: out of memory for a journal record");
    ember_status st = sim_journal_append(app->j, line, 1, err);
    free(line);
    return st;
}

static cJSON *rec_new(const char *kind, const char *plan_id, const char *step_id) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "rec", kind);
    if (plan_id) cJSON_AddStringToObject(r, "plan", plan_id);
    if (step_id) cJSON_AddStringToObject(r, "step", step_id);
    cJSON_AddNumberToObject(r, "us", (double)rio_now_us());
    return r;
}

static void add_world(cJSON *r, sim_world *w) {
    char *snap = sim_snapshot(w);
    if (snap) cJSON_AddItemToObject(r, "world", cJSON_CreateRaw(snap));
    free(snap);
}

static int replay_line(void *user, const char *line, size_t len, char *err) {
    sim_app *app = user;
    cJSON *r = cJSON_ParseWithLength(line, len);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "rec"));
    if (!kind) {
        cJSON_Delete(r);
        em_err(err, EM_ERR_FORMAT, "ember sim: journal: a record that is not {\"rec\": ...}: %.80s", line);
        return -1;
    }
    const char *plan = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "plan"));
    const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "step"));
    cJSON *world = cJSON_GetObjectItemCaseSensitive(r, "world");
    if (world) {
        free(app->world_json);
        app->world_json = cJSON_PrintUnformatted(world);
    }
    if (!strcmp(kind, "init")) {
        app->have_init = 1;
        app->seed = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "seed"));
    } else if (!strcmp(kind, "accept") || !strcmp(kind, "settled")) {
        char *msg = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "msg"));
        rio_msg m;
        if (!msg || rio_msg_decode(&m, msg, strlen(msg), err) || m.type != RIO_MSG_STEP || !plan) {
            free(msg);
            cJSON_Delete(r);
            return -1;
        }
        free(msg);
        jstep *s = jstep_get(app, plan, m.step_id, 1);
        if (!s) { rio_msg_clear(&m); cJSON_Delete(r); em_err(err, EM_ERR_NOMEM, "ember sim: out of memory"); return -1; }
        s->st = m.u.step;
        if (!strcmp(kind, "settled")) {
            s->status = RIO_FB_FAILED;
            snprintf(s->reason, sizeof s->reason, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "reason")) ?: "");
            snprintf(s->text, sizeof s->text, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "text")) ?: "");
        } else {
            s->status = RIO_FB_ACCEPTED;
        }
        rio_msg_clear(&m);
    } else if ((!strcmp(kind, "start") || !strcmp(kind, "resume")) && plan && step) {
        jstep *s = jstep_get(app, plan, step, 0);
        if (s && s->status < RIO_FB_DONE) s->status = RIO_FB_RUNNING;
    } else if (!strcmp(kind, "commit") && plan && step) {
        jstep *s = jstep_get(app, plan, step, 0);
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
        if (s) {
            s->status = status && !strcmp(status, "done") ? RIO_FB_DONE : RIO_FB_FAILED;
            snprintf(s->reason, sizeof s->reason, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "reason")) ?: "");
            snprintf(s->text, sizeof s->text, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "text")) ?: "");
        }
    } else if (!strcmp(kind, "estop")) {
        app->estop = 1;
    } else if (!strcmp(kind, "reset")) {
        app->estop = 0;
    } else if (!strcmp(kind, "goal")) {
        free(app->goal_json);
        app->goal_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "goal"));
    }
    cJSON_Delete(r);
    return 0;
}

/* ---- controller hooks --------------------------------------------------- */

static int on_accept(void *user, const char *plan_id, const rio_step *st, char *err) {
    sim_app *app = user;
    cJSON *r = rec_new("accept", plan_id, NULL);
    cJSON *msg = step_json(plan_id, st);
    if (!msg) { cJSON_Delete(r); em_err(err, EM_ERR_NOMEM, "journal: cannot encode the step"); return -1; }
    cJSON_AddItemToObject(r, "msg", msg);
    return journal(app, r, err) ? -1 : 0;
}

static void on_settled(void *user, const char *plan_id, const rio_step *st, const char *reason, const char *text) {
    sim_app *app = user;
    char err[EM_ERR_LEN];
    cJSON *r = rec_new("settled", plan_id, NULL);
    cJSON *msg = step_json(plan_id, st);
    if (msg) cJSON_AddItemToObject(r, "msg", msg);
    cJSON_AddStringToObject(r, "reason", reason ? reason : "");
    cJSON_AddStringToObject(r, "text", text ? text : "");
    if (journal(app, r, err)) fprintf(stderr, "ember sim: %s\n", err);
    if (!app->quiet) fprintf(stderr, "sim: %s/%s settled: %s\n", plan_id, st->step_id, reason);
}

/* ---- running steps ------------------------------------------------------ */

static ember_status commit(sim_app *app, int ok, const char *reason, const char *text, char *err) {
    cJSON *r = rec_new("commit", app->cur_plan, app->cur.step_id);
    cJSON_AddStringToObject(r, "status", ok ? "done" : "failed");
    if (!ok) {
        cJSON_AddStringToObject(r, "reason", reason);
        cJSON_AddStringToObject(r, "text", text);
    }
    add_world(r, app->w);
    ember_status st = journal(app, r, err);
    if (st) return st; /* not on disk: say nothing on the wire */
    app->running = 0;
    ok ? app->n_done++ : app->n_failed++;
    if (!app->quiet)
        fprintf(stderr, "sim: %s/%s %s: %s%s%s\n", app->cur_plan, app->cur.step_id, app->cur.skill, ok ? "done" : "failed ",
                ok ? "" : reason, ok ? "" : "");
    return rio_ctrl_feedback(app->c, app->cur.step_id, ok ? RIO_FB_DONE : RIO_FB_FAILED, reason, text);
}

static ember_status start_step(sim_app *app, const rio_event *ev, char *err) {
    cJSON *r = rec_new(ev->resumed ? "resume" : "start", ev->plan_id, ev->step.step_id);
    ember_status st = journal(app, r, err);
    if (st) return st;
    if (ev->resumed) app->n_resumed++;
    app->cur = ev->step;
    snprintf(app->cur_plan, sizeof app->cur_plan, "%s", ev->plan_id);
    app->running = 1;
    char reason[RIO_NAME_LEN] = "", why[EM_ERR_LEN] = "";
    if (sim_step_begin(app->w, &ev->step, reason, why)) return commit(app, 0, reason[0] ? reason : RIO_REASON_PRECONDITION, why, err);
    if (!app->quiet) fprintf(stderr, "sim: %s/%s %s: running%s\n", ev->plan_id, ev->step.step_id, ev->step.skill, ev->resumed ? " (resumed after a restart)" : "");
    return rio_ctrl_feedback(app->c, ev->step.step_id, RIO_FB_RUNNING, NULL, NULL);
}

static int publish_state(sim_app *app, char *err) {
    rio_state st;
    memset(&st, 0, sizeof st);
    if (sim_state(app->w, &st, err)) return -1;
    ember_status s = rio_ctrl_publish_state(app->c, &st);
    free(st.fields_json);
    return s ? -1 : 0;
}

static int publish_frame(sim_app *app, int w, int h, int png, uint8_t *rgb, char *err) {
    rio_frame fr;
    memset(&fr, 0, sizeof fr);
    strcpy(fr.camera, "top");
    fr.width = w;
    fr.height = h;
    fr.frame_ts_us = rio_now_us();
    uint8_t *buf = NULL;
    if (png) {
        size_t n;
        if (sim_render_png(app->w, w, h, &buf, &n, err)) return -1;
        strcpy(fr.encoding, "png");
        fr.data = buf;
        fr.size = n;
    } else {
        if (sim_render_rgb(app->w, w, h, rgb, err)) return -1;
        strcpy(fr.encoding, "rgb8");
        fr.data = rgb;
        fr.size = (size_t)w * h * 3;
    }
    ember_status s = rio_ctrl_publish_frame(app->c, &fr);
    free(buf);
    return s ? -1 : 0;
}

/* ---- the command -------------------------------------------------------- */

int ember_cmd_sim(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "sim");
    sim_config scfg;
    sim_config_defaults(&scfg);
    char err[EM_ERR_LEN];
    const char *journal_path = "ember-sim.journal", *goal = NULL;
    double fps = 10, state_hz = 10, duration = -1;
    bool fresh = false, random_goal = false, quiet = false;
    int frame_size[2] = {640, 480}, encoding_i = 0;
    bool seed_given = false;
    static const char *const encodings[] = {"png", "rgb8", NULL};
    uint64_t seed = scfg.seed;
    opt_spec link[CLI_RIO_OPTS_N];
    cli_rio_specs(&cfg, "--bind", link);
    /* the seed goes into the journal as a JSON number: exact up to 2^53 */
    const opt_spec specs[] = {
        OPT_GROUP(link),
        {.kind = OPT_KIND_U64, .lng = "--seed", .meta = "N", .dest = OPT_DEST_(&seed, uint64_t), .ulo = 0,
         .uhi = 1ull << 53, .seen = &seed_given, .help = "scene seed"},
        OPT_DOUBLE(NULL, "--fail-rate", "P", &scfg.fail_rate, 0, 1, "chance that a grasp slips"),
        {.kind = OPT_KIND_INT, .lng = "--objects", .meta = "N", .dest = OPT_DEST_(&scfg.n_objects, int), .lo = 1,
         .hi = 32, .flags = OPT_NO_DEFAULT, .help = "objects on the table (default: from the seed)"},
        OPT_DOUBLE(NULL, "--step-s", "S", &scfg.step_s, 0.001, 60, "seconds of motion per skill"),
        OPT_DOUBLE(NULL, "--fps", "N", &fps, 0, 120, "camera frames per second, 0 = none"),
        OPT_SIZE(NULL, "--frame-size", "WxH", frame_size, 16, 4096, "frame size"),
        OPT_CHOICE(NULL, "--encoding", "E", &encoding_i, encodings, "frame encoding: png or rgb8"),
        OPT_DOUBLE(NULL, "--state-hz", "N", &state_hz, 0.1, 1000, "state messages per second"),
        OPT_STR(NULL, "--journal", "FILE", &journal_path, "journal of the world and steps"),
        OPT_FLAG(NULL, "--fresh", &fresh, "start a new world: discard the journal"),
        OPT_STR(NULL, "--goal", "JSON", &goal, "goal predicates, e.g. '[[\"in\",\"red_cube\",\"blue_bowl\"]]'"),
        OPT_FLAG(NULL, "--random-goal", &random_goal, "pick a feasible goal from the seed"),
        {.kind = OPT_KIND_DOUBLE, .lng = "--duration", .meta = "S", .dest = OPT_DEST_(&duration, double), .dlo = 0.001,
         .dhi = 1e7, .flags = OPT_NO_DEFAULT, .help = "exit after S seconds (default: run until stopped)"},
        OPT_FLAG(NULL, "--quiet", &quiet, "no per-step log lines"),
        OPT_END};
    int prc = opt_parse("ember sim", specs, argc, argv, NULL, 0, NULL, err);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    scfg.seed = seed;
    const int fw = frame_size[0], fh = frame_size[1];
    const char *encoding = encodings[encoding_i];
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember sim: --bind EP is required\n"); usage(stderr, specs); return 2; }
    if (goal && random_goal) { fprintf(stderr, "ember sim: --goal and --random-goal exclude each other\n"); return 2; }

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);

    sim_app app;
    memset(&app, 0, sizeof app);
    app.quiet = quiet;
    int rc = 1;
    uint8_t *rgb = NULL;
    rio_hello hello;
    memset(&hello, 0, sizeof hello);
    if (fresh && unlink(journal_path) != 0 && errno != ENOENT) {
        fprintf(stderr, "ember sim: --fresh: removing %s: %s\n", journal_path, strerror(errno));
        return 1;
    }
    size_t torn = 0;
    if (!(app.j = sim_journal_open(journal_path, replay_line, &app, &torn, err))) {
        fprintf(stderr, "ember sim: %s (start over with --fresh)\n", err);
        goto done;
    }
    if (torn) fprintf(stderr, "ember sim: %s: cut a torn last record (%zu bytes) left by a crash\n", journal_path, torn);
    if (app.have_init && seed_given && app.seed != scfg.seed)
        fprintf(stderr, "ember sim: %s holds the world of seed %llu; going on with it (--fresh for seed %llu)\n",
                journal_path, (unsigned long long)app.seed, (unsigned long long)scfg.seed);
    if (app.have_init) scfg.seed = app.seed;
    if (!(app.w = sim_create(&scfg, err))) { fprintf(stderr, "ember sim: %s\n", err); goto done; }
    if (app.world_json && sim_restore(app.w, app.world_json, err)) {
        fprintf(stderr, "ember sim: %s: %s (start over with --fresh)\n", journal_path, err);
        goto done;
    }
    if (!app.have_init) {
        cJSON *r = rec_new("init", NULL, NULL);
        cJSON_AddNumberToObject(r, "seed", (double)scfg.seed);
        add_world(r, app.w);
        if (journal(&app, r, err)) { fprintf(stderr, "%s\n", err); goto done; }
    }
    char *goal_text = NULL, *rgoal = NULL;
    if (random_goal && !app.goal_json) {
        if (sim_random_goal(app.w, scfg.seed, &rgoal, &goal_text, err)) { fprintf(stderr, "ember sim: %s\n", err); goto done; }
        goal = rgoal;
    }
    if (goal) {
        if (sim_set_goal(app.w, goal, err)) { fprintf(stderr, "ember sim: --goal: %s\n", err); free(rgoal); free(goal_text); goto done; }
        cJSON *r = rec_new("goal", NULL, NULL);
        cJSON_AddItemToObject(r, "goal", cJSON_Parse(goal));
        if (journal(&app, r, err)) { fprintf(stderr, "%s\n", err); free(rgoal); free(goal_text); goto done; }
        if (goal_text) fprintf(stderr, "ember sim: goal: %s\n", goal_text);
    }
    free(rgoal);
    free(goal_text);

    if (sim_describe(app.w, &hello, err)) { fprintf(stderr, "ember sim: %s\n", err); goto done; }
    rio_ctrl_hooks hooks = {.accept = on_accept, .settled = on_settled, .user = &app, .log = stderr, .quiet = 0};
    if (!(app.c = rio_ctrl_create(&cfg, &hello, &hooks, err))) { fprintf(stderr, "ember sim: %s\n", err); goto done; }
    for (int i = 0; i < app.n_steps; i++) {
        jstep *s = &app.steps[i];
        rio_ctrl_restore(app.c, s->plan_id, &s->st, s->status, s->reason, s->text);
    }
    rio_ctrl_restore_estop(app.c, app.estop);
    if (app.n_steps)
        fprintf(stderr, "ember sim: resumed from %s: %d steps known%s\n", journal_path, app.n_steps, app.estop ? ", estop on" : "");
    int png = !strcmp(encoding, "png");
    if (!png && !(rgb = malloc((size_t)fw * fh * 3))) { fprintf(stderr, "ember sim: out of memory\n"); goto done; }
    fprintf(stderr, "ember sim: seed %llu, %s; listening on %s\n", (unsigned long long)scfg.seed,
            app.have_init ? "world from the journal" : "new world", cfg.endpoint);

    const int tick_ms = 10;
    int64_t t0 = rio_mono_ms(), last_tick = t0, next_tick = t0 + tick_ms;
    int64_t next_state = t0, next_frame = t0;
    int64_t state_ms = (int64_t)(1000.0 / state_hz), frame_ms = fps > 0 ? (int64_t)(1000.0 / fps) : 0;
    rc = 0;
    for (;;) {
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) break;
        int64_t now = rio_mono_ms();
        if (duration > 0 && now - t0 > (int64_t)(duration * 1000)) break;
        int64_t due = next_tick < next_state ? next_tick : next_state;
        if (frame_ms && next_frame < due) due = next_frame;
        rio_event ev;
        int r = rio_ctrl_poll(app.c, &ev, due > now ? (int)(due - now) : 0);
        if (r < 0) { fprintf(stderr, "ember sim: %s\n", rio_ctrl_errmsg(app.c)); rc = 1; break; }
        ember_status st = EM_OK;
        if (r == 1) switch (ev.type) {
            case RIO_EV_STEP: st = start_step(&app, &ev, err); break;
            case RIO_EV_CANCEL:
                if (app.running) sim_halt(app.w);
                app.running = 0;
                fprintf(stderr, "sim: %s cancelled; motion stopped\n", ev.plan_id);
                break;
            case RIO_EV_ESTOP: {
                uint64_t received = rio_now_us();
                sim_halt(app.w);
                app.running = 0;
                uint64_t halted = rio_now_us();
                cJSON *rec = rec_new("estop", NULL, NULL);
                cJSON_AddNumberToObject(rec, "sent_us", ev.msg ? (double)ev.msg->ts_us : 0);
                cJSON_AddNumberToObject(rec, "received_us", (double)received);
                cJSON_AddNumberToObject(rec, "halted_us", (double)halted);
                st = journal(&app, rec, err);
                fprintf(stderr, "sim: ESTOP: halted %.1f ms after it was sent; steps refused until reset\n",
                        ev.msg ? (double)(halted - ev.msg->ts_us) / 1000.0 : 0.0);
                break;
            }
            case RIO_EV_RESET:
                st = journal(&app, rec_new("reset", NULL, NULL), err);
                fprintf(stderr, "sim: reset: estop cleared\n");
                break;
            case RIO_EV_AGENT_JOINED:
                if (!quiet) fprintf(stderr, "sim: %s %s joined\n", ev.msg->u.hello.role, ev.msg->from);
                break;
            case RIO_EV_PEER_LOST: fprintf(stderr, "sim: agent lost; going on with accepted steps\n"); break;
            case RIO_EV_PEER_BACK: fprintf(stderr, "sim: agent back\n"); break;
            default: break;
            }
        now = rio_mono_ms();
        if (!st && now >= next_tick) {
            double dt = (double)(now - last_tick) / 1000.0;
            last_tick = now;
            next_tick = now + tick_ms;
            if (app.running) {
                char reason[RIO_NAME_LEN] = "", text[RIO_TEXT_LEN] = "";
                int res = sim_tick(app.w, dt, reason, text);
                if (res == 1) st = commit(&app, 1, NULL, NULL, err);
                else if (res < 0) st = commit(&app, 0, reason, text, err);
            }
        }
        if (!st && now >= next_state) {
            next_state = now + state_ms;
            if (publish_state(&app, err)) { fprintf(stderr, "ember sim: state: %s\n", err); }
        }
        if (!st && frame_ms && now >= next_frame) {
            next_frame += frame_ms;
            if (next_frame < now) next_frame = now + frame_ms; /* fell behind: skip, do not burst */
            if (publish_frame(&app, fw, fh, png, rgb, err)) fprintf(stderr, "ember sim: frame: %s\n", err);
        }
        if (st) { /* the journal cannot be written: stop rather than lie */
            fprintf(stderr, "ember sim: %s\n", err[0] ? err : rio_ctrl_errmsg(app.c));
            rc = 1;
            break;
        }
    }
    if (app.c) {
        const rio_stats *s = rio_ctrl_stats(app.c);
        fprintf(stderr,
                "ember sim: stats: received %llu sent %llu resent %llu duplicates %llu malformed %llu oversized %llu "
                "version_refused %llu refused %llu injected_drop %llu injected_dup %llu injected_reorder %llu; "
                "steps done %ld failed %ld resumed %ld\n",
                (unsigned long long)s->received, (unsigned long long)s->sent, (unsigned long long)s->resent,
                (unsigned long long)s->duplicates, (unsigned long long)s->malformed, (unsigned long long)s->oversized,
                (unsigned long long)s->version_refused, (unsigned long long)s->refused,
                (unsigned long long)s->injected_drop, (unsigned long long)s->injected_dup,
                (unsigned long long)s->injected_reorder, app.n_done, app.n_failed, app.n_resumed);
    }
done:
    rio_ctrl_free(app.c);
    free(hello.skills);
    sim_free(app.w);
    sim_render_shutdown();
    sim_journal_close(app.j);
    free(app.steps);
    free(app.world_json);
    free(app.goal_json);
    free(rgb);
    return rc;
}
