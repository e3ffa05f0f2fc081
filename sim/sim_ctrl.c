/* sim_ctrl.c - the simulated robot's crash-safe journaled controller
 * (sim_ctrl.h says the journal protocol). Moved out of `ember sim` so tests
 * can crash and replay it in process. */
#include "sim/sim_ctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "robot_io/rio_ctrl.h"
#include "sim/sim_journal.h"

#define SIM_CTRL_TICK_MS 10 /* motion advances in 10 ms ticks: smooth at 30 fps, cheap */

/* What the journal says about one step. */
typedef struct jstep {
    char plan_id[RIO_ID_LEN];
    rio_step st;
    rio_fb_status status;
    char reason[RIO_NAME_LEN], text[RIO_TEXT_LEN];
    uint64_t fate_us; /* when it was committed (the record's "us", wall clock µs); 0 unknown */
} jstep;

struct sim_ctrl {
    sim_ctrl_config cfg;
    char *journal_path;
    sim_world *w;
    sim_journal *j;
    rio_ctrl *c;
    jstep *steps; /* filled by the replay, handed to rio_ctrl_restore at bind */
    int n_steps, cap_steps;
    int estop;
    char *world_json; /* latest snapshot in the journal */
    char *goal_json;
    uint64_t seed;
    int have_init;
    size_t torn;
    int n_replayed; /* steps the journal knew at open */
    int running;
    char cur_plan[RIO_ID_LEN];
    rio_step cur;
    long n_done, n_failed, n_resumed;
    /* loop timing (rio_mono_ms) */
    int64_t last_tick, next_tick, next_state, next_frame, state_ms, frame_ms;
    uint8_t *rgb; /* rgb8 frame buffer */
    rio_hello hello;
    char errmsg[EM_ERR_LEN];
};

void sim_ctrl_config_defaults(sim_ctrl_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    sim_config_defaults(&cfg->world);
    cfg->fps = 10;
    cfg->frame_w = 640;
    cfg->frame_h = 480;
    cfg->png = 1;
    cfg->state_hz = 10;
}

/* ---- journal ------------------------------------------------------------ */

/* mkdir -p, each new folder 0700. */
static ember_status make_folders(char *path, char *err) {
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        int bad = mkdir(path, 0700) != 0 && errno != EEXIST;
        int e = errno;
        *p = c;
        if (bad) {
            *p = 0;
            em_err(err, EM_ERR_IO, "sim_ctrl_default_journal: creating the folder %s: %s", path, strerror(e));
            *p = c;
            return EM_ERR_IO;
        }
        if (!c) return EM_OK;
    }
}

ember_status sim_ctrl_default_journal(const char *endpoint, char *path, size_t cap, char *err) {
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[4096];
    int n;
    if (xdg && xdg[0] == '/') n = snprintf(dir, sizeof dir, "%s/ember", xdg); /* XDG: a relative one is ignored */
    else if (home && home[0]) n = snprintf(dir, sizeof dir, "%s/.local/state/ember", home);
    else return em_err(err, EM_ERR_ARG, "sim_ctrl_default_journal: neither XDG_STATE_HOME nor HOME is set: no place for "
                       "a journal by default");
    if (n < 0 || (size_t)n >= sizeof dir) return em_err(err, EM_ERR_ARG, "sim_ctrl_default_journal: state folder too long");
    /* tcp://127.0.0.1:5555 -> tcp-127.0.0.1-5555: one journal per endpoint,
     * as one endpoint is one robot; a run of other characters is one '-' */
    char name[RIO_ENDPOINT_LEN];
    size_t k = 0;
    for (const char *c = endpoint; *c && k + 1 < sizeof name; c++) {
        int keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.';
        if (keep) name[k++] = *c;
        else if (k && name[k - 1] != '-') name[k++] = '-';
    }
    while (k && name[k - 1] == '-') k--;
    name[k] = 0;
    if (!k) return em_err(err, EM_ERR_ARG, "sim_ctrl_default_journal: endpoint '%s' gives no file name", endpoint);
    n = snprintf(path, cap, "%s/sim-%s.journal", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return em_err(err, EM_ERR_ARG, "sim_ctrl_default_journal: %s/sim-%s.journal: longer than %zu bytes", dir, name,
                      cap - 1);
    return make_folders(dir, err);
}

static jstep *jstep_get(sim_ctrl *s, const char *plan_id, const char *step_id, int create) {
    for (int i = 0; i < s->n_steps; i++)
        if (!strcmp(s->steps[i].plan_id, plan_id) && !strcmp(s->steps[i].st.step_id, step_id)) return &s->steps[i];
    if (!create) return NULL;
    if (s->n_steps == s->cap_steps) {
        int cap = s->cap_steps ? 2 * s->cap_steps : 32;
        jstep *p = realloc(s->steps, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        s->steps = p;
        s->cap_steps = cap;
    }
    jstep *js = &s->steps[s->n_steps++];
    memset(js, 0, sizeof *js);
    snprintf(js->plan_id, sizeof js->plan_id, "%s", plan_id);
    snprintf(js->st.step_id, sizeof js->st.step_id, "%s", step_id);
    return js;
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

/* Append rec (taken, freed here) with fdatasync. */
static ember_status journal(sim_ctrl *s, cJSON *rec, char *err) {
    char *line = rec ? cJSON_PrintUnformatted(rec) : NULL;
    cJSON_Delete(rec);
    if (!line) return em_err(err, EM_ERR_NOMEM, "sim_ctrl: out of memory for a journal record");
    ember_status st = sim_journal_append(s->j, line, 1, err);
    free(line);
    return st;
}

static cJSON *rec_new(const char *kind, const char *plan_id, const char *step_id) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    cJSON_AddStringToObject(r, "rec", kind);
    if (plan_id) cJSON_AddStringToObject(r, "plan", plan_id);
    if (step_id) cJSON_AddStringToObject(r, "step", step_id);
    cJSON_AddNumberToObject(r, "us", (double)rio_now_us());
    return r;
}

/* The world goes into a record whole: replay restores the last one, so a
 * step's effect is on disk exactly when its commit is. A world that cannot
 * be written fails the record rather than journal a commit without it. */
static int add_world(cJSON *r, sim_world *w) {
    char *snap = sim_snapshot(w);
    cJSON *raw = snap ? cJSON_CreateRaw(snap) : NULL;
    free(snap);
    if (!raw || !cJSON_AddItemToObject(r, "world", raw)) {
        cJSON_Delete(raw);
        return -1;
    }
    return 0;
}

static const char *rec_str(const cJSON *r, const char *key) {
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, key));
    return v ? v : "";
}

static int replay_line(void *user, const char *line, size_t len, char *err) {
    sim_ctrl *s = user;
    int shown = len < 80 ? (int)len : 80;
    cJSON *r = cJSON_ParseWithLength(line, len);
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "rec"));
    if (!kind) {
        cJSON_Delete(r);
        /* line is not NUL-terminated: print at most len bytes of it */
        em_err(err, EM_ERR_FORMAT, "sim_ctrl: journal: a record that is not {\"rec\": ...}: %.*s", shown, line);
        return -1;
    }
    const char *plan = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "plan"));
    const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "step"));
    cJSON *world = cJSON_GetObjectItemCaseSensitive(r, "world");
    if (world) {
        free(s->world_json);
        if (!(s->world_json = cJSON_PrintUnformatted(world))) goto nomem;
    }
    if (!strcmp(kind, "init")) {
        s->have_init = 1;
        s->seed = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "seed"));
    } else if (!strcmp(kind, "accept") || !strcmp(kind, "settled")) {
        cJSON *jm = cJSON_GetObjectItemCaseSensitive(r, "msg");
        char *msg = jm ? cJSON_PrintUnformatted(jm) : NULL;
        rio_msg m;
        memset(&m, 0, sizeof m);
        int bad = !msg || !plan || rio_msg_decode(&m, msg, strlen(msg), err); /* decode writes its own reason */
        if (!bad && m.type != RIO_MSG_STEP) {
            em_err(err, EM_ERR_FORMAT, "sim_ctrl: journal: an %s record whose msg is a %s, not a step", kind,
                   rio_msg_type_name(m.type));
            bad = 1;
        } else if (bad && (!msg || !plan)) {
            em_err(err, jm && !msg ? EM_ERR_NOMEM : EM_ERR_FORMAT,
                   "sim_ctrl: journal: an %s record without its plan or step message: %.*s", kind, shown, line);
        }
        free(msg);
        if (bad) {
            rio_msg_clear(&m);
            cJSON_Delete(r);
            return -1;
        }
        jstep *js = jstep_get(s, plan, m.step_id, 1);
        if (!js) {
            rio_msg_clear(&m);
            goto nomem;
        }
        js->st = m.u.step;
        if (!strcmp(kind, "settled")) {
            js->status = RIO_FB_FAILED;
            snprintf(js->reason, sizeof js->reason, "%s", rec_str(r, "reason"));
            snprintf(js->text, sizeof js->text, "%s", rec_str(r, "text"));
            /* every record carries its time ("us", rec_new): a fate answered
             * from memory after a restart can say when it was reached */
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "us");
            js->fate_us = cJSON_IsNumber(t) && t->valuedouble > 0 ? (uint64_t)t->valuedouble : 0;
        } else {
            js->status = RIO_FB_ACCEPTED;
        }
        rio_msg_clear(&m);
    } else if ((!strcmp(kind, "start") || !strcmp(kind, "resume")) && plan && step) {
        jstep *js = jstep_get(s, plan, step, 0);
        if (js && js->status < RIO_FB_DONE) js->status = RIO_FB_RUNNING;
    } else if (!strcmp(kind, "commit") && plan && step) {
        jstep *js = jstep_get(s, plan, step, 0);
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
        if (js) {
            js->status = status && !strcmp(status, "done") ? RIO_FB_DONE : RIO_FB_FAILED;
            snprintf(js->reason, sizeof js->reason, "%s", rec_str(r, "reason"));
            snprintf(js->text, sizeof js->text, "%s", rec_str(r, "text"));
            /* every record carries its time ("us", rec_new): a fate answered
             * from memory after a restart can say when it was reached */
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "us");
            js->fate_us = cJSON_IsNumber(t) && t->valuedouble > 0 ? (uint64_t)t->valuedouble : 0;
        }
    } else if (!strcmp(kind, "estop")) {
        s->estop = 1;
    } else if (!strcmp(kind, "reset")) {
        s->estop = 0;
    } else if (!strcmp(kind, "goal")) {
        free(s->goal_json);
        if (!(s->goal_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "goal")))) goto nomem;
    }
    cJSON_Delete(r);
    return 0;
nomem:
    cJSON_Delete(r);
    em_err(err, EM_ERR_NOMEM, "sim_ctrl: journal: out of memory replaying a %s record", kind);
    return -1;
}

/* ---- controller hooks --------------------------------------------------- */

static int on_accept(void *user, const char *plan_id, const rio_step *st, char *err) {
    sim_ctrl *s = user;
    cJSON *r = rec_new("accept", plan_id, NULL);
    cJSON *msg = step_json(plan_id, st);
    if (!r || !msg || !cJSON_AddItemToObject(r, "msg", msg)) {
        cJSON_Delete(r);
        cJSON_Delete(msg);
        em_err(err, EM_ERR_NOMEM, "journal: cannot encode the step");
        return -1;
    }
    return journal(s, r, err) ? -1 : 0;
}

static void on_settled(void *user, const char *plan_id, const rio_step *st, const char *reason, const char *text) {
    sim_ctrl *s = user;
    char err[EM_ERR_LEN];
    cJSON *r = rec_new("settled", plan_id, NULL);
    cJSON *msg = step_json(plan_id, st);
    if (r && msg) cJSON_AddItemToObject(r, "msg", msg);
    else cJSON_Delete(msg);
    if (r) {
        cJSON_AddStringToObject(r, "reason", reason ? reason : "");
        cJSON_AddStringToObject(r, "text", text ? text : "");
    }
    if (journal(s, r, err)) fprintf(s->cfg.log, "sim: %s\n", err);
    if (!s->cfg.quiet) fprintf(s->cfg.log, "sim: %s/%s settled: %s\n", plan_id, st->step_id, reason);
}

/* ---- running steps ------------------------------------------------------ */

static ember_status commit(sim_ctrl *s, int ok, const char *reason, const char *text, char *err) {
    cJSON *r = rec_new("commit", s->cur_plan, s->cur.step_id);
    if (r) {
        cJSON_AddStringToObject(r, "status", ok ? "done" : "failed");
        if (!ok) {
            cJSON_AddStringToObject(r, "reason", reason);
            cJSON_AddStringToObject(r, "text", text);
        }
        if (add_world(r, s->w)) {
            cJSON_Delete(r);
            r = NULL;
        }
    }
    ember_status st = journal(s, r, err);
    if (st) return st; /* not on disk: say nothing on the wire */
    s->running = 0;
    ok ? s->n_done++ : s->n_failed++;
    if (!s->cfg.quiet)
        fprintf(s->cfg.log, "sim: %s/%s %s: %s%s\n", s->cur_plan, s->cur.step_id, s->cur.skill, ok ? "done" : "failed ",
                ok ? "" : reason);
    if ((st = rio_ctrl_feedback(s->c, s->cur.step_id, ok ? RIO_FB_DONE : RIO_FB_FAILED, reason, text)))
        em_err(err, st, "%s", rio_ctrl_errmsg(s->c));
    return st;
}

static ember_status start_step(sim_ctrl *s, const rio_event *ev, char *err) {
    ember_status st = journal(s, rec_new(ev->resumed ? "resume" : "start", ev->plan_id, ev->step.step_id), err);
    if (st) return st;
    if (ev->resumed) s->n_resumed++;
    s->cur = ev->step;
    snprintf(s->cur_plan, sizeof s->cur_plan, "%s", ev->plan_id);
    s->running = 1;
    char reason[RIO_NAME_LEN] = "", why[EM_ERR_LEN] = "";
    if (sim_step_begin(s->w, &ev->step, reason, why))
        return commit(s, 0, reason[0] ? reason : RIO_REASON_PRECONDITION, why, err);
    if (!s->cfg.quiet)
        fprintf(s->cfg.log, "sim: %s/%s %s: running%s\n", ev->plan_id, ev->step.step_id, ev->step.skill,
                ev->resumed ? " (resumed after a restart)" : "");
    if ((st = rio_ctrl_feedback(s->c, ev->step.step_id, RIO_FB_RUNNING, NULL, NULL)))
        em_err(err, st, "%s", rio_ctrl_errmsg(s->c));
    return st;
}

static int publish_state(sim_ctrl *s, char *err) {
    rio_state st;
    memset(&st, 0, sizeof st);
    if (sim_state(s->w, &st, err)) return -1;
    /* the controller's estop beside the world's fields: an agent that
     * connects during one learns it before it sends anything */
    cJSON *f = cJSON_Parse(st.fields_json);
    char *with = f && cJSON_AddBoolToObject(f, "estop", rio_ctrl_estopped(s->c)) ? cJSON_PrintUnformatted(f) : NULL;
    cJSON_Delete(f);
    if (!with) {
        free(st.fields_json);
        return em_err(err, EM_ERR_NOMEM, "sim: out of memory for the state's fields"), -1;
    }
    free(st.fields_json);
    st.fields_json = with;
    ember_status rc = rio_ctrl_publish_state(s->c, &st);
    free(st.fields_json);
    if (rc) em_err(err, rc, "%s", rio_ctrl_errmsg(s->c));
    return rc ? -1 : 0;
}

static int publish_frame(sim_ctrl *s, char *err) {
    int w = s->cfg.frame_w, h = s->cfg.frame_h;
    rio_frame fr;
    memset(&fr, 0, sizeof fr);
    strcpy(fr.camera, "top");
    fr.width = w;
    fr.height = h;
    fr.frame_ts_us = rio_now_us();
    uint8_t *buf = NULL;
    if (s->cfg.png) {
        size_t n;
        if (sim_render_png(s->w, w, h, &buf, &n, err)) return -1;
        strcpy(fr.encoding, "png");
        fr.data = buf;
        fr.size = n;
    } else {
        if (sim_render_rgb(s->w, w, h, s->rgb, err)) return -1;
        strcpy(fr.encoding, "rgb8");
        fr.data = s->rgb;
        fr.size = (size_t)w * h * 3;
    }
    ember_status rc = rio_ctrl_publish_frame(s->c, &fr);
    free(buf);
    if (rc) em_err(err, rc, "%s", rio_ctrl_errmsg(s->c));
    return rc ? -1 : 0;
}

/* ---- public API --------------------------------------------------------- */

sim_ctrl *sim_ctrl_open(const sim_ctrl_config *cfg, sim_journal_trouble *why, char *err) {
    if (why) *why = SIM_JOURNAL_FINE;
    if (!cfg->journal_path || !cfg->journal_path[0]) {
        em_err(err, EM_ERR_ARG, "sim_ctrl_open: no journal path given (sim_ctrl_default_journal gives one)");
        return NULL;
    }
    if (cfg->frame_w < 16 || cfg->frame_h < 16 || cfg->frame_w > 4096 || cfg->frame_h > 4096 || cfg->fps < 0 ||
        !(cfg->state_hz > 0)) {
        em_err(err, EM_ERR_ARG, "sim_ctrl_open: frames %dx%d at %g fps, state at %g Hz: expected 16..4096 each, fps >= 0, "
               "state rate > 0", cfg->frame_w, cfg->frame_h, cfg->fps, cfg->state_hz);
        return NULL;
    }
    sim_ctrl *s = calloc(1, sizeof *s);
    if (!s) {
        em_err(err, EM_ERR_NOMEM, "sim_ctrl_open: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.log) s->cfg.log = stderr;
    if (!(s->journal_path = strdup(cfg->journal_path))) {
        em_err(err, EM_ERR_NOMEM, "sim_ctrl_open: out of memory");
        goto fail;
    }
    s->cfg.journal_path = s->journal_path;
    /* Every record is a JSON object with "rec" first (rec_new): that is
     * what tells a journal from a file named by mistake. */
    sim_journal_opts jo = {.replay = replay_line, .user = s, .magic = "{\"rec\":", .fresh = cfg->fresh};
    if (!(s->j = sim_journal_open(s->journal_path, &jo, &s->torn, why, err))) goto fail;
    s->n_replayed = s->n_steps;
    FILE *log = s->cfg.log;
    if (s->torn)
        fprintf(log, "sim: %s: cut a torn last record (%zu bytes) left by a crash\n", s->journal_path, s->torn);
    if (s->have_init) s->cfg.world.seed = s->seed;
    s->seed = s->cfg.world.seed;
    if (!(s->w = sim_create(&s->cfg.world, err))) goto fail;
    if (s->world_json && sim_restore(s->w, s->world_json, err)) {
        char reason[EM_ERR_LEN];
        snprintf(reason, sizeof reason, "%s", err);
        em_err(err, EM_ERR_FORMAT, "sim_ctrl_open: %s: %s", s->journal_path, reason);
        if (why) *why = SIM_JOURNAL_DAMAGED;
        goto fail;
    }
    if (!s->have_init) {
        cJSON *r = rec_new("init", NULL, NULL);
        if (r && (!cJSON_AddNumberToObject(r, "seed", (double)s->seed) || add_world(r, s->w))) {
            cJSON_Delete(r);
            r = NULL;
        }
        if (journal(s, r, err)) goto fail;
    }
    return s;
fail:
    sim_ctrl_free(s);
    return NULL;
}

ember_status sim_ctrl_set_goal(sim_ctrl *s, const char *goal, int random, char *err) {
    char *goal_text = NULL, *rgoal = NULL;
    ember_status st = EM_OK;
    if (random && !s->goal_json) { /* a goal from before the restart stands */
        if ((st = sim_random_goal(s->w, sim_task_seed(s->seed), &rgoal, &goal_text, err))) return st;
        goal = rgoal;
    }
    if (goal) {
        if ((st = sim_set_goal(s->w, goal, err))) goto done;
        cJSON *r = rec_new("goal", NULL, NULL), *g = cJSON_Parse(goal);
        if (!r || !g || !cJSON_AddItemToObject(r, "goal", g)) {
            cJSON_Delete(r);
            cJSON_Delete(g);
            st = em_err(err, EM_ERR_NOMEM, "sim_ctrl_set_goal: out of memory");
            goto done;
        }
        if ((st = journal(s, r, err))) goto done;
        if (goal_text) fprintf(s->cfg.log, "sim: goal: %s\n", goal_text);
    }
done:
    free(rgoal);
    free(goal_text);
    return st;
}

ember_status sim_ctrl_bind(sim_ctrl *s, const rio_config *link, char *err) {
    ember_status st;
    if (s->c) return em_err(err, EM_ERR_ARG, "sim_ctrl_bind: already bound");
    free(s->hello.skills);
    memset(&s->hello, 0, sizeof s->hello);
    if ((st = sim_describe(s->w, &s->hello, err))) return st;
    if (!s->cfg.png && !s->rgb && !(s->rgb = malloc((size_t)s->cfg.frame_w * s->cfg.frame_h * 3)))
        return em_err(err, EM_ERR_NOMEM, "sim_ctrl_bind: out of memory for a %dx%d frame", s->cfg.frame_w, s->cfg.frame_h);
    rio_ctrl_hooks hooks = {.accept = on_accept, .settled = on_settled, .user = s, .log = s->cfg.log, .quiet = 0};
    if (!(s->c = rio_ctrl_create(link, &s->hello, &hooks, err))) return EM_ERR_IO;
    for (int i = 0; i < s->n_steps; i++) {
        jstep *js = &s->steps[i];
        if ((st = rio_ctrl_restore(s->c, js->plan_id, &js->st, js->status, js->reason, js->text, js->fate_us))) {
            em_err(err, st, "%s", rio_ctrl_errmsg(s->c));
            rio_ctrl_free(s->c);
            s->c = NULL;
            return st;
        }
    }
    rio_ctrl_restore_estop(s->c, s->estop);
    if (s->n_steps)
        fprintf(s->cfg.log, "sim: resumed from %s: %d steps known%s\n", s->journal_path, s->n_steps,
                s->estop ? ", estop on" : "");
    fprintf(s->cfg.log, "sim: seed %llu, %s (journal %s); listening on %s\n", (unsigned long long)s->seed,
            s->have_init ? "world from the journal" : "new world", s->journal_path, link->endpoint);
    int64_t now = rio_mono_ms();
    s->last_tick = now;
    s->next_tick = now + SIM_CTRL_TICK_MS;
    s->next_state = s->next_frame = now;
    s->state_ms = (int64_t)(1000.0 / s->cfg.state_hz);
    s->frame_ms = s->cfg.fps > 0 ? (int64_t)(1000.0 / s->cfg.fps) : 0;
    return EM_OK;
}

/* Halt at once and journal when: the time between the agent's send and the
 * halt is what `ember act --estop` promises (under 50 ms), so it is kept. */
static ember_status on_estop(sim_ctrl *s, const rio_event *ev, char *err) {
    uint64_t received = rio_now_us();
    sim_halt(s->w);
    s->running = 0;
    s->estop = 1;
    uint64_t halted = rio_now_us();
    cJSON *rec = rec_new("estop", NULL, NULL);
    if (rec) {
        cJSON_AddNumberToObject(rec, "sent_us", ev->msg ? (double)ev->msg->ts_us : 0);
        cJSON_AddNumberToObject(rec, "received_us", (double)received);
        cJSON_AddNumberToObject(rec, "halted_us", (double)halted);
    }
    ember_status st = journal(s, rec, err);
    fprintf(s->cfg.log, "sim: ESTOP: halted %.1f ms after it was sent; steps refused until reset\n",
            ev->msg ? (double)(halted - ev->msg->ts_us) / 1000.0 : 0.0);
    return st;
}

ember_status sim_ctrl_poll(sim_ctrl *s) {
    char *err = s->errmsg;
    FILE *log = s->cfg.log;
    if (!s->c) return em_err(err, EM_ERR_ARG, "sim_ctrl_poll: not bound (sim_ctrl_bind first)");
    err[0] = 0;
    int64_t now = rio_mono_ms();
    int64_t due = s->next_tick < s->next_state ? s->next_tick : s->next_state;
    if (s->frame_ms && s->next_frame < due) due = s->next_frame;
    rio_event ev;
    int r = rio_ctrl_poll(s->c, &ev, due > now ? (int)(due - now) : 0);
    if (r < 0) return em_err(err, (ember_status)r, "%s", rio_ctrl_errmsg(s->c));
    ember_status st = EM_OK;
    if (r == 1) switch (ev.type) {
        case RIO_EV_STEP: st = start_step(s, &ev, err); break;
        case RIO_EV_CANCEL:
            if (s->running) sim_halt(s->w);
            s->running = 0;
            fprintf(log, "sim: %s cancelled; motion stopped\n", ev.plan_id);
            break;
        case RIO_EV_ESTOP: st = on_estop(s, &ev, err); break;
        case RIO_EV_RESET:
            st = journal(s, rec_new("reset", NULL, NULL), err);
            s->estop = 0;
            fprintf(log, "sim: reset: estop cleared\n");
            break;
        case RIO_EV_AGENT_JOINED:
            if (!s->cfg.quiet) fprintf(log, "sim: %s %s joined\n", ev.msg->u.hello.role, ev.msg->from);
            break;
        case RIO_EV_PEER_LOST: fprintf(log, "sim: agent lost; going on with accepted steps\n"); break;
        case RIO_EV_PEER_BACK: fprintf(log, "sim: agent back\n"); break;
        default: break;
        }
    if (st) return st; /* the journal cannot be written: stop rather than lie */
    now = rio_mono_ms();
    if (now >= s->next_tick) {
        double dt = (double)(now - s->last_tick) / 1000.0;
        s->last_tick = now;
        s->next_tick = now + SIM_CTRL_TICK_MS;
        if (s->running) {
            char reason[RIO_NAME_LEN] = "", text[RIO_TEXT_LEN] = "";
            int res = sim_tick(s->w, dt, reason, text);
            if (res == 1) st = commit(s, 1, NULL, NULL, err);
            else if (res < 0) st = commit(s, 0, reason, text, err);
            if (st) return st;
        }
    }
    char perr[EM_ERR_LEN];
    if (now >= s->next_state) {
        s->next_state = now + s->state_ms;
        if (publish_state(s, perr)) fprintf(log, "sim: state: %s\n", perr); /* telemetry is best effort */
    }
    if (s->frame_ms && now >= s->next_frame) {
        s->next_frame += s->frame_ms;
        if (s->next_frame < now) s->next_frame = now + s->frame_ms; /* fell behind: skip, do not burst */
        if (publish_frame(s, perr)) fprintf(log, "sim: frame: %s\n", perr);
    }
    return EM_OK;
}

ember_status sim_ctrl_run(sim_ctrl *s, double duration_s, int (*stop)(void *user), void *user) {
    int64_t t0 = rio_mono_ms();
    for (;;) {
        if (stop && stop(user)) return EM_OK;
        if (duration_s > 0 && rio_mono_ms() - t0 > (int64_t)(duration_s * 1000)) return EM_OK;
        ember_status st = sim_ctrl_poll(s);
        if (st) return st;
    }
}

sim_ctrl_counts sim_ctrl_get_counts(const sim_ctrl *s) {
    sim_ctrl_counts n = {s->n_done, s->n_failed, s->n_resumed, s->n_replayed, s->torn, s->have_init, s->estop};
    return n;
}

const sim_world *sim_ctrl_world(const sim_ctrl *s) { return s->w; }
uint64_t sim_ctrl_seed(const sim_ctrl *s) { return s->seed; }
const rio_stats *sim_ctrl_link_stats(const sim_ctrl *s) { return s->c ? rio_ctrl_stats(s->c) : NULL; }
const char *sim_ctrl_errmsg(const sim_ctrl *s) { return s->errmsg; }

void sim_ctrl_free(sim_ctrl *s) {
    if (!s) return;
    rio_ctrl_free(s->c);
    free(s->hello.skills);
    sim_free(s->w);
    sim_journal_close(s->j);
    free(s->steps);
    free(s->world_json);
    free(s->goal_json);
    free(s->rgb);
    free(s->journal_path);
    free(s);
}
