/* test_sim_ctrl.c - the simulated robot's journaled controller
 * (sim/sim_ctrl.h) in process: its journal replay and the exactly-once
 * promise through a crash.
 *
 * A reference run executes a plan (pick, place, home) on a fresh journal
 * without interruption. The crash run executes the same plan on another
 * journal, but the controller is torn down while the place step moves (its
 * "start" record is on disk, its commit is not), a torn half of that
 * commit is appended as a crash inside a write would leave it, and a new
 * controller opens the same journal on the same endpoint. The agent (the
 * plan follower) sees the controller come back and the plan finishes.
 * Checked: the torn tail is cut, the place step is resumed and every step
 * commits exactly once; the world ends as in the reference run
 * (byte-identical snapshots); reopening the journal alone replays that
 * world and every step's final fate, and writes nothing. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/plan_follow.h"
#include "check.h"
#include "sim/sim_ctrl.h"

typedef struct ctl_thread {
    sim_ctrl_config cfg;
    rio_config link;
    atomic_int quit;
    atomic_int crash;     /* 1: tear the controller down now, 2: done, restarted */
    atomic_int ready;     /* 1 bound, -1 failed */
    const char *torn;     /* appended to the journal at the crash */
    sim_ctrl_counts before, after; /* counts of the first and the restarted controller */
    char *snapshot;       /* the world when the thread stopped */
    char err[EM_ERR_LEN];
} ctl_thread;

static sim_ctrl *open_bound(ctl_thread *t) {
    sim_ctrl *s = sim_ctrl_open(&t->cfg, NULL, t->err);
    if (s && sim_ctrl_bind(s, &t->link, t->err)) {
        sim_ctrl_free(s);
        s = NULL;
    }
    return s;
}

static void *ctl_main(void *arg) {
    ctl_thread *t = arg;
    sim_ctrl *s = open_bound(t);
    atomic_store(&t->ready, s ? 1 : -1);
    while (s && !atomic_load(&t->quit)) {
        if (atomic_load(&t->crash) == 1) {
            /* the crash: nothing more is written; to the journal a free is a kill */
            t->before = sim_ctrl_get_counts(s);
            sim_ctrl_free(s);
            FILE *f = fopen(t->cfg.journal_path, "a");
            if (f) {
                fputs(t->torn, f);
                fclose(f);
            }
            s = open_bound(t);
            if (s) t->after = sim_ctrl_get_counts(s);
            atomic_store(&t->crash, 2);
            continue;
        }
        if (sim_ctrl_poll(s)) {
            snprintf(t->err, sizeof t->err, "%s", sim_ctrl_errmsg(s));
            break;
        }
    }
    if (s) {
        sim_ctrl_counts n = sim_ctrl_get_counts(s);
        if (atomic_load(&t->crash) == 2) {
            t->after.done = n.done;
            t->after.failed = n.failed;
            t->after.resumed = n.resumed;
        } else {
            t->before = n;
        }
        t->snapshot = sim_snapshot(sim_ctrl_world(s));
    }
    sim_ctrl_free(s);
    return NULL;
}

/* The fate hook: crash the controller once the place step (index 1) runs. */
typedef struct crash_on {
    ctl_thread *t;
    int index;
} crash_on;

static void on_fate(void *user, const agent_step_fate *f) {
    crash_on *c = user;
    if (c->t && f->index == c->index && f->status == RIO_FB_RUNNING && atomic_load(&c->t->crash) == 0)
        atomic_store(&c->t->crash, 1);
}

static void setup(ctl_thread *t, const char *dir, const char *name) {
    static char paths[4][256];
    static int n_paths;
    char *jp = paths[n_paths++ % 4];
    snprintf(jp, 256, "%s/%s.journal", dir, name);
    memset(t, 0, sizeof *t);
    sim_ctrl_config_defaults(&t->cfg);
    t->cfg.journal_path = jp;
    t->cfg.world.seed = 3;
    t->cfg.world.step_s = 0.5; /* long enough that the crash lands inside the place step */
    t->cfg.fps = 0;
    t->cfg.state_hz = 20;
    t->cfg.quiet = 1;
    rio_config_defaults(&t->link);
    snprintf(t->link.endpoint, sizeof t->link.endpoint, "ipc://%s/%s", dir, name);
    strcpy(t->link.name, "sim");
    t->link.heartbeat_ms = 50;
    t->link.peer_timeout_ms = 400;
}

/* pick a reachable block, place it in a reachable container, go home:
 * chosen from the world of seed 3 as the journal's init record holds it. */
static int make_plan(const sim_ctrl_config *cfg, rio_step *steps) {
    char err[EM_ERR_LEN];
    sim_world *w = sim_create(&cfg->world, err);
    char *snap = w ? sim_snapshot(w) : NULL;
    cJSON *j = snap ? cJSON_Parse(snap) : NULL;
    const char *block = NULL, *cont = NULL;
    cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(j, "objects")) {
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "kind"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
        double x = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "x"));
        double y = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "y"));
        if (!kind || !id || x * x + y * y > 55.0 * 55.0) continue;
        if (!block && !strcmp(kind, "block")) block = id;
        if (!cont && (!strcmp(kind, "bowl") || !strcmp(kind, "tray"))) cont = id;
    }
    int ok = block && cont;
    memset(steps, 0, 3 * sizeof *steps);
    if (ok) {
        const char *ids[3] = {"s1", "s2", "s3"}, *skills[3] = {"pick", "place", "home"};
        const char *arg[2] = {"object", "target"}, *val[2] = {block, cont};
        for (int i = 0; i < 3; i++) {
            strcpy(steps[i].step_id, ids[i]);
            strcpy(steps[i].skill, skills[i]);
            steps[i].index = i;
            if (i < 2) {
                steps[i].n_args = 1;
                strcpy(steps[i].args[0].name, arg[i]);
                steps[i].args[0].type = RIO_ARG_STRING;
                snprintf(steps[i].args[0].str, RIO_STR_LEN, "%s", val[i]);
            }
        }
    }
    cJSON_Delete(j);
    free(snap);
    sim_free(w);
    return ok ? 0 : -1;
}

/* Run the plan through a controller thread; crash it at step crash_index
 * (-1: never). Returns the follower's result. */
static agent_follow_result run_plan(ctl_thread *t, const char *plan_id, const rio_step *steps, int crash_index) {
    agent_follow_result res;
    memset(&res, 0, sizeof res);
    res.end = AGENT_FOLLOW_LINK_FAILED;
    pthread_t th;
    pthread_create(&th, NULL, ctl_main, t);
    while (!atomic_load(&t->ready)) usleep(1000);
    CHECK(atomic_load(&t->ready) == 1, "controller: %s", t->err);
    if (atomic_load(&t->ready) == 1) {
        char err[EM_ERR_LEN];
        crash_on c = {crash_index >= 0 ? t : NULL, crash_index};
        agent_follow_hooks hooks = {.fate = on_fate, .user = &c};
        rio_config link = t->link;
        strcpy(link.name, "agent");
        agent_follower *f = agent_follower_create(&link, &hooks, 1, stderr, err);
        CHECK(f != NULL, "follower: %s", err);
        if (f) {
            CHECK(agent_follower_wait_ready(f, 5000) == EM_OK, "wait_ready: %s", agent_follower_errmsg(f));
            ember_status st = agent_follower_resume(f, plan_id, steps, 3, 30000, &res); /* the journal names it */
            CHECK(st == EM_OK, "run: %s", agent_follower_errmsg(f));
            agent_follower_free(f);
        }
    }
    atomic_store(&t->quit, 1);
    pthread_join(th, NULL);
    return res;
}

/* Commit records per step of plan_id in the journal; resume records too. */
static void count_records(const char *path, const char *plan_id, int commits[3], int *resumes, int *lines) {
    memset(commits, 0, 3 * sizeof *commits);
    *resumes = *lines = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        (*lines)++;
        cJSON *r = cJSON_Parse(line);
        const char *rec = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "rec"));
        const char *plan = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "plan"));
        const char *step = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "step"));
        if (rec && plan && step && !strcmp(plan, plan_id) && step[0] == 's' && step[1] >= '1' && step[1] <= '3') {
            if (!strcmp(rec, "commit")) commits[step[1] - '1']++;
            if (!strcmp(rec, "resume")) (*resumes)++;
        }
        cJSON_Delete(r);
    }
    free(line);
    fclose(f);
}

static void test_crash_replay(const char *dir) {
    ctl_thread *ref = calloc(1, sizeof *ref), *cr = calloc(1, sizeof *cr);
    rio_step steps[3];
    if (!ref || !cr) goto done;
    setup(ref, dir, "ref");
    setup(cr, dir, "crash");
    CHECK(make_plan(&ref->cfg, steps) == 0, "no reachable block and container in seed 3");

    /* the reference: no crash */
    agent_follow_result res = run_plan(ref, "pj", steps, -1);
    CHECK(res.end == AGENT_FOLLOW_FINISHED && res.n_done == 3, "reference: end %d, %d done", res.end, res.n_done);
    CHECK(ref->before.done == 3 && ref->before.resumed == 0, "reference: %ld done, %ld resumed", ref->before.done,
          ref->before.resumed);

    /* the crash: torn down while s2 (place) moves; half a commit on disk */
    cr->torn = "{\"rec\":\"commit\",\"plan\":\"pj\",\"step\":\"s2\",\"status\":\"do";
    res = run_plan(cr, "pj", steps, 1);
    CHECK(atomic_load(&cr->crash) == 2, "the controller was crashed and restarted (%d): %s", atomic_load(&cr->crash),
          cr->err);
    CHECK(res.end == AGENT_FOLLOW_FINISHED && res.n_done == 3, "crash: end %d, %d done, %d failed, %d open", res.end,
          res.n_done, res.n_failed, res.n_open);
    CHECK(cr->before.done == 1, "before the crash: %ld done (pick only)", cr->before.done);
    CHECK(cr->after.torn_bytes == strlen(cr->torn), "torn tail of %zu bytes cut, expected %zu", cr->after.torn_bytes,
          strlen(cr->torn));
    CHECK(cr->after.from_journal && cr->after.replayed_steps == 3, "restart: from journal %d, %d steps known",
          cr->after.from_journal, cr->after.replayed_steps);
    CHECK(cr->after.resumed == 1 && cr->after.done == 2, "after the restart: %ld resumed, %ld done", cr->after.resumed,
          cr->after.done);
    int commits[3], resumes, lines;
    count_records(cr->cfg.journal_path, "pj", commits, &resumes, &lines);
    for (int i = 0; i < 3; i++) CHECK(commits[i] == 1, "step s%d committed %d times", i + 1, commits[i]);
    CHECK(resumes == 1, "%d resume records", resumes);
    CHECK(ref->snapshot && cr->snapshot && !strcmp(ref->snapshot, cr->snapshot),
          "the world after the crash differs from the reference:\n  %s\n  %s", ref->snapshot ? ref->snapshot : "-",
          cr->snapshot ? cr->snapshot : "-");

    /* replay alone: the same world, every step final, nothing torn */
    char err[EM_ERR_LEN];
    sim_journal_trouble bad = SIM_JOURNAL_IO;
    sim_ctrl *s = sim_ctrl_open(&cr->cfg, &bad, err);
    CHECK(s != NULL && bad == SIM_JOURNAL_FINE, "reopen: %s", err);
    if (s) {
        char *snap = sim_snapshot(sim_ctrl_world(s));
        CHECK(snap && cr->snapshot && !strcmp(snap, cr->snapshot), "replayed world differs");
        sim_ctrl_counts n = sim_ctrl_get_counts(s);
        CHECK(n.replayed_steps == 3 && n.torn_bytes == 0 && n.from_journal, "reopen: %d steps, %zu torn",
              n.replayed_steps, n.torn_bytes);
        free(snap);
        sim_ctrl_free(s);
    }
    int lines_after;
    count_records(cr->cfg.journal_path, "pj", commits, &resumes, &lines_after);
    CHECK(lines_after == lines, "a reopen without a link wrote %d records", lines_after - lines);
done:
    if (ref) free(ref->snapshot);
    if (cr) free(cr->snapshot);
    free(ref);
    free(cr);
}

/* A damaged journal: open refuses it and says the journal is the trouble
 * (`ember sim` then advises --fresh, which discards it). */
static void test_bad_journal(const char *dir) {
    char path[300], err[EM_ERR_LEN];
    snprintf(path, sizeof path, "%s/bad.journal", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"rec\":\"accept\",\"plan\":\"p\"}\n", f); /* a journal's record, damaged */
        fclose(f);
    }
    sim_ctrl_config cfg;
    sim_ctrl_config_defaults(&cfg);
    cfg.journal_path = path;
    sim_journal_trouble bad = SIM_JOURNAL_FINE;
    sim_ctrl *s = sim_ctrl_open(&cfg, &bad, err);
    CHECK(s == NULL && bad == SIM_JOURNAL_DAMAGED && strstr(err, "accept record"), "bad journal: %s", s ? "opened" : err);
    sim_ctrl_free(s);
    /* --fresh discards a damaged journal: a new world */
    cfg.fresh = 1;
    s = sim_ctrl_open(&cfg, &bad, err);
    CHECK(s != NULL && bad == SIM_JOURNAL_FINE && !sim_ctrl_get_counts(s).from_journal, "fresh on a damaged journal: %s",
          s ? "ok" : err);
    sim_ctrl_free(s);
    unlink(path);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 4096);
    if (buf) buf[fread(buf, 1, 4095, f)] = 0;
    fclose(f);
    return buf;
}

/* Issue 14: two controllers on one journal would interleave their records
 * (the next start then refuses the world). The second is refused, naming
 * the first one's pid (here: this process; flock locks are per open file,
 * so they conflict in one process too), and gets it once the first is gone. */
static void test_journal_lock(const char *dir) {
    char path[300], lock[310], err[EM_ERR_LEN], pid[32];
    snprintf(path, sizeof path, "%s/shared.journal", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    snprintf(pid, sizeof pid, "process %ld", (long)getpid());
    sim_ctrl_config cfg;
    sim_ctrl_config_defaults(&cfg);
    cfg.journal_path = path;
    cfg.log = stderr;
    sim_journal_trouble why = SIM_JOURNAL_IO;
    sim_ctrl *a = sim_ctrl_open(&cfg, &why, err);
    CHECK(a != NULL && why == SIM_JOURNAL_FINE, "first: %s", err);
    CHECK(access(lock, F_OK) == 0, "the lock file %s exists while the journal is open", lock);
    sim_ctrl *b = sim_ctrl_open(&cfg, &why, err);
    CHECK(b == NULL && why == SIM_JOURNAL_IN_USE && strstr(err, "in use by") && strstr(err, pid),
          "second on the same journal: %s", b ? "opened" : err);
    sim_ctrl_free(b);
    cfg.fresh = 1; /* --fresh must not empty a journal another sim writes */
    b = sim_ctrl_open(&cfg, &why, err);
    CHECK(b == NULL && why == SIM_JOURNAL_IN_USE, "fresh on a journal in use: %s", b ? "opened" : err);
    sim_ctrl_free(b);
    cfg.fresh = 0;
    sim_ctrl_free(a);
    CHECK(access(lock, F_OK) != 0, "the lock file is gone after the journal closed");
    b = sim_ctrl_open(&cfg, &why, err);
    CHECK(b != NULL && sim_ctrl_get_counts(b).from_journal, "after the first closed: %s", b ? "ok" : err);
    sim_ctrl_free(b);
    /* a lock file left by a crash (kill -9) holds nothing */
    FILE *f = fopen(lock, "w");
    if (f) {
        fputs("999999\n", f);
        fclose(f);
    }
    b = sim_ctrl_open(&cfg, &why, err);
    CHECK(b != NULL, "a stale lock file: %s", b ? "ok" : err);
    sim_ctrl_free(b);
    unlink(path);
}

/* Issue 14: --fresh replaced whatever --journal named. Now it empties a
 * journal or an empty file only; other files and wrong paths are refused,
 * each with its own kind of trouble (ember sim words its advice by it). */
static void test_fresh_refusals(const char *dir) {
    char path[400], sub[300], err[EM_ERR_LEN];
    const char *notes = "# my notes\nnot a journal\n";
    snprintf(path, sizeof path, "%s/README", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(notes, f);
        fclose(f);
    }
    sim_ctrl_config cfg;
    sim_ctrl_config_defaults(&cfg);
    cfg.journal_path = path;
    sim_journal_trouble why;
    for (int fresh = 0; fresh < 2; fresh++) {
        cfg.fresh = fresh;
        sim_ctrl *s = sim_ctrl_open(&cfg, &why, err);
        CHECK(s == NULL && why == SIM_JOURNAL_NOT_JOURNAL && strstr(err, "is not a sim journal") &&
                  strstr(err, "# my notes"), "notes file, fresh %d: %s", fresh, s ? "opened" : err);
        sim_ctrl_free(s);
        char *text = slurp(path);
        CHECK(text && !strcmp(text, notes), "the notes file is unchanged (fresh %d)", fresh);
        free(text);
    }
    unlink(path);
    /* an empty file is a journal to be */
    snprintf(path, sizeof path, "%s/empty.journal", dir);
    f = fopen(path, "w");
    if (f) fclose(f);
    sim_ctrl *s = sim_ctrl_open(&cfg, &why, err);
    CHECK(s != NULL, "fresh on an empty file: %s", s ? "ok" : err);
    sim_ctrl_free(s);
    /* a journal: --fresh starts a new world of the seed given */
    cfg.fresh = 0;
    cfg.world.seed = 5;
    s = sim_ctrl_open(&cfg, &why, err);
    CHECK(s && sim_ctrl_get_counts(s).from_journal && sim_ctrl_seed(s) == 1, "reopened: seed of the journal");
    sim_ctrl_free(s);
    cfg.fresh = 1;
    s = sim_ctrl_open(&cfg, &why, err);
    CHECK(s && !sim_ctrl_get_counts(s).from_journal && sim_ctrl_seed(s) == 5, "fresh journal: new world of seed 5: %s",
          s ? "ok" : err);
    sim_ctrl_free(s);
    unlink(path);
    /* a folder, a missing folder */
    snprintf(sub, sizeof sub, "%s/afolder", dir);
    mkdir(sub, 0700);
    cfg.journal_path = sub;
    s = sim_ctrl_open(&cfg, &why, err);
    CHECK(s == NULL && why == SIM_JOURNAL_IS_FOLDER && strstr(err, "is a folder"), "a folder: %s", s ? "opened" : err);
    sim_ctrl_free(s);
    rmdir(sub);
    snprintf(path, sizeof path, "%s/no/such/folder.journal", dir);
    cfg.journal_path = path;
    s = sim_ctrl_open(&cfg, &why, err);
    CHECK(s == NULL && why == SIM_JOURNAL_NO_FOLDER, "a missing folder: %s", s ? "opened" : err);
    sim_ctrl_free(s);
    if (geteuid() != 0) { /* root writes anywhere */
        mkdir(sub, 0500);
        snprintf(path, sizeof path, "%s/j", sub);
        s = sim_ctrl_open(&cfg, &why, err);
        CHECK(s == NULL && why == SIM_JOURNAL_NO_PERMISSION, "a folder without write permission: %s", s ? "opened" : err);
        sim_ctrl_free(s);
        rmdir(sub);
    }
}

/* Issue 14: the default journal no longer litters the working folder: it
 * lives in the XDG state folder (created), one per endpoint. */
static void test_default_journal(const char *dir) {
    char path[600], want[600], err[EM_ERR_LEN], state[300], home[300];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    setenv("XDG_STATE_HOME", state, 1);
    ember_status st = sim_ctrl_default_journal("tcp://127.0.0.1:5555", path, sizeof path, err);
    snprintf(want, sizeof want, "%s/ember/sim-tcp-127.0.0.1-5555.journal", state);
    CHECK(st == EM_OK && !strcmp(path, want), "default journal: %s (expected %s)", st ? err : path, want);
    struct stat sb;
    snprintf(want, sizeof want, "%s/ember", state);
    CHECK(stat(want, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700, "%s created 0700", want);
    st = sim_ctrl_default_journal("ipc:///tmp/my sim//x", path, sizeof path, err);
    CHECK(st == EM_OK && strstr(path, "/ember/sim-ipc-tmp-my-sim-x.journal"), "ipc name: %s", st ? err : path);
    setenv("XDG_STATE_HOME", "relative/state", 1); /* XDG: ignored */
    setenv("HOME", home, 1);
    st = sim_ctrl_default_journal("tcp://*:5555", path, sizeof path, err);
    snprintf(want, sizeof want, "%s/.local/state/ember/sim-tcp-5555.journal", home);
    CHECK(st == EM_OK && !strcmp(path, want), "under HOME: %s (expected %s)", st ? err : path, want);
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    st = sim_ctrl_default_journal("tcp://*:5555", path, sizeof path, err);
    CHECK(st == EM_ERR_ARG && strstr(err, "HOME"), "no HOME: %s", err);
    const char *rm[] = {"state/ember", "state", "home/.local/state/ember", "home/.local/state", "home/.local", "home"};
    for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, rm[i]);
        rmdir(path);
    }
}

/* Issue 14: a second controller binding the same ipc:// path used to take
 * it over (libzmq unlinks the socket file) while the first ran on,
 * unreachable. Now it is refused as a tcp port in use is, naming the pid,
 * and the first one's socket file stays. */
static void test_ipc_in_use(const char *dir) {
    ctl_thread *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    if (!a || !b) goto done;
    setup(a, dir, "ipc_a");
    setup(b, dir, "ipc_b");
    snprintf(b->link.endpoint, sizeof b->link.endpoint, "%s", a->link.endpoint);
    char err[EM_ERR_LEN], pid[32], sock[300];
    snprintf(pid, sizeof pid, "process %ld", (long)getpid());
    snprintf(sock, sizeof sock, "%s", a->link.endpoint + 6);
    sim_ctrl *sa = sim_ctrl_open(&a->cfg, NULL, err), *sb = sim_ctrl_open(&b->cfg, NULL, err);
    CHECK(sa && sb, "open: %s", err);
    if (!sa || !sb) goto free;
    CHECK(sim_ctrl_bind(sa, &a->link, err) == EM_OK, "first bind: %s", err);
    CHECK(sim_ctrl_bind(sb, &b->link, err) != EM_OK && strstr(err, "in use by") && strstr(err, pid) &&
              strstr(err, "another controller bound there?"), "second bind on %s: %s", b->link.endpoint, err);
    CHECK(access(sock, F_OK) == 0, "the first controller's socket file %s is still there", sock);
    sim_ctrl_free(sa);
    sa = NULL;
    /* a closed controller leaves no socket files (they piled up in /tmp) */
    char state[320], frames[320];
    snprintf(state, sizeof state, "%s.state", sock);
    snprintf(frames, sizeof frames, "%s.frames", sock);
    CHECK(access(sock, F_OK) != 0 && access(state, F_OK) != 0 && access(frames, F_OK) != 0,
          "socket files of %s left after close", sock);
    CHECK(sim_ctrl_bind(sb, &b->link, err) == EM_OK, "bind once the first is gone: %s", err);
    CHECK(access(sock, F_OK) == 0, "the second controller's socket file %s", sock);
    sim_ctrl_free(sb);
    sb = NULL;
    CHECK(access(sock, F_OK) != 0, "the second controller's socket file %s left after close", sock);
free:
    sim_ctrl_free(sa);
    sim_ctrl_free(sb);
done:
    free(a);
    free(b);
}

int main(void) {
    char dir[] = "/tmp/ember-sim-ctrl-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crash_replay(dir);
    test_bad_journal(dir);
    test_journal_lock(dir);
    test_fresh_refusals(dir);
    test_default_journal(dir);
    test_ipc_in_use(dir);
    DIR *d = opendir(dir); /* journals */
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[sizeof dir + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (d) closedir(d);
    if (rmdir(dir) != 0) perror(dir);
    sim_render_shutdown();
    return CHECK_DONE();
}
