/* cmd_sim.c - `ember sim`: the reference simulated robot. The flags are
 * parsed here; the controller itself (world, robot link, the journal that
 * lets the table and every step's fate survive a restart of this process,
 * SIGKILL included) is sim/sim_ctrl.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_rio.h"
#include "commands.h"
#include "sim/sim.h"
#include "sim/sim_ctrl.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ember sim --bind EP [options]\n\n"
            "Runs the simulated tabletop robot as a controller on the robot link at EP\n"
            "(tcp://127.0.0.1:5555 or ipc:///tmp/ember-sim): skills pick, place, push, ...\n"
            "(see sim/README.md), state at --state-hz, camera frames at --fps.\n\n"
            "options:\n"
            "  --bind EP              command endpoint (state and frames on the next two ports)\n"
            "  --seed N               scene seed (default 1)\n"
            "  --fail-rate P          chance 0..1 that a grasp slips (default 0)\n"
            "  --objects N            objects on the table (default: from the seed)\n"
            "  --step-s S             seconds of motion per skill (default 0.4)\n"
            "  --fps N                camera frames per second, 0 = none (default 10)\n"
            "  --frame-size WxH       frame size (default 640x480)\n"
            "  --encoding E           png or rgb8 (default png)\n"
            "  --state-hz N           state messages per second (default 10)\n"
            "  --journal FILE         journal of the world and steps (default ember-sim.journal)\n"
            "  --fresh                start a new world: discard the journal\n"
            "  --goal JSON            goal predicates, e.g. '[[\"in\",\"red_cube\",\"blue_bowl\"]]'\n"
            "  --random-goal          pick a feasible goal from the seed\n"
            "  --duration S           exit after S seconds\n"
            "  --quiet                no per-step log lines\n%s",
            cli_rio_usage);
}

/* Ctrl-C and SIGTERM are blocked and taken here, between two rounds of
 * the controller loop, so a step's journal record is never cut by them. */
static int sigint_or_term(void *user) {
    (void)user;
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
}

/* ---- the command -------------------------------------------------------- */

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (*end || end == v || errno || x < lo || x > hi) {
        fprintf(stderr, "ember sim: %s: '%s' is not a number in %g..%g\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int ember_cmd_sim(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "sim");
    sim_config scfg;
    sim_config_defaults(&scfg);
    char err[EM_ERR_LEN];
    const char *journal_path = "ember-sim.journal", *goal = NULL, *encoding = "png";
    double fps = 10, state_hz = 10, duration = -1, v;
    int fresh = 0, random_goal = 0, quiet = 0, fw = 640, fh = 480, seed_given = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_rio_flag(&cfg, "--bind", argc, argv, &i, err);
        if (r < 0) { fprintf(stderr, "ember sim: %s\n", err); return 2; }
        if (r) continue;
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { usage(stdout); return 0; }
        if (!strcmp(f, "--fresh")) { fresh = 1; continue; }
        if (!strcmp(f, "--random-goal")) { random_goal = 1; continue; }
        if (!strcmp(f, "--quiet")) { quiet = 1; continue; }
        static const char *const valued[] = {"--seed", "--fail-rate", "--objects", "--step-s", "--fps", "--frame-size",
                                             "--encoding", "--state-hz", "--journal", "--goal", "--duration"};
        int known = 0;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) known |= !strcmp(f, valued[k]);
        if (!known) { fprintf(stderr, "ember sim: unknown option '%s'\n", f); usage(stderr); return 2; }
        if (i + 1 >= argc) { fprintf(stderr, "ember sim: %s needs a value\n", f); return 2; }
        const char *val = argv[++i];
        if (!strcmp(f, "--seed")) { if (parse_num(f, val, 0, 9007199254740992.0, &v)) return 2; scfg.seed = (uint64_t)v; seed_given = 1; }
        else if (!strcmp(f, "--fail-rate")) { if (parse_num(f, val, 0, 1, &scfg.fail_rate)) return 2; }
        else if (!strcmp(f, "--objects")) { if (parse_num(f, val, 1, 32, &v)) return 2; scfg.n_objects = (int)v; }
        else if (!strcmp(f, "--step-s")) { if (parse_num(f, val, 0.001, 60, &scfg.step_s)) return 2; }
        else if (!strcmp(f, "--fps")) { if (parse_num(f, val, 0, 120, &fps)) return 2; }
        else if (!strcmp(f, "--state-hz")) { if (parse_num(f, val, 0.1, 1000, &state_hz)) return 2; }
        else if (!strcmp(f, "--duration")) { if (parse_num(f, val, 0.001, 1e7, &duration)) return 2; }
        else if (!strcmp(f, "--journal")) journal_path = val;
        else if (!strcmp(f, "--goal")) goal = val;
        else if (!strcmp(f, "--encoding")) {
            if (strcmp(val, "png") && strcmp(val, "rgb8")) { fprintf(stderr, "ember sim: --encoding: '%s': png or rgb8\n", val); return 2; }
            encoding = val;
        } else if (!strcmp(f, "--frame-size")) {
            char x;
            if (sscanf(val, "%d%c%d", &fw, &x, &fh) != 3 || x != 'x' || fw < 16 || fh < 16 || fw > 4096 || fh > 4096) {
                fprintf(stderr, "ember sim: --frame-size: '%s': expected WxH, 16..4096 each\n", val);
                return 2;
            }
        }
    }
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember sim: --bind EP is required\n"); usage(stderr); return 2; }
    if (goal && random_goal) { fprintf(stderr, "ember sim: --goal and --random-goal exclude each other\n"); return 2; }

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);

    if (fresh && unlink(journal_path) != 0 && errno != ENOENT) {
        fprintf(stderr, "ember sim: --fresh: removing %s: %s\n", journal_path, strerror(errno));
        return 1;
    }
    sim_ctrl_config sc;
    sim_ctrl_config_defaults(&sc);
    sc.journal_path = journal_path;
    sc.world = scfg;
    sc.fps = fps;
    sc.frame_w = fw;
    sc.frame_h = fh;
    sc.png = !strcmp(encoding, "png");
    sc.state_hz = state_hz;
    sc.quiet = quiet;
    sc.log = stderr;
    int rc = 1, journal_bad = 0;
    sim_ctrl *s = sim_ctrl_open(&sc, &journal_bad, err);
    if (!s) {
        fprintf(stderr, "ember sim: %s%s\n", err, journal_bad ? " (start over with --fresh)" : "");
        goto done;
    }
    if (sim_ctrl_get_counts(s).from_journal && seed_given && sim_ctrl_seed(s) != scfg.seed)
        fprintf(stderr, "ember sim: %s holds the world of seed %llu; going on with it (--fresh for seed %llu)\n",
                journal_path, (unsigned long long)sim_ctrl_seed(s), (unsigned long long)scfg.seed);
    if (sim_ctrl_set_goal(s, goal, random_goal, err)) { fprintf(stderr, "ember sim: --%s: %s\n", goal ? "goal" : "random-goal", err); goto done; }
    if (sim_ctrl_bind(s, &cfg, err)) { fprintf(stderr, "ember sim: %s%s\n", err, cli_rio_advice("--bind", err)); goto done; }
    rc = 0;
    if (sim_ctrl_run(s, duration, sigint_or_term, NULL)) {
        fprintf(stderr, "ember sim: %s\n", sim_ctrl_errmsg(s));
        rc = 1;
    }
    const rio_stats *st = sim_ctrl_link_stats(s);
    sim_ctrl_counts n = sim_ctrl_get_counts(s);
    fprintf(stderr,
            "ember sim: stats: received %llu sent %llu resent %llu duplicates %llu malformed %llu oversized %llu "
            "version_refused %llu refused %llu injected_drop %llu injected_dup %llu injected_reorder %llu; "
            "steps done %ld failed %ld resumed %ld\n",
            (unsigned long long)st->received, (unsigned long long)st->sent, (unsigned long long)st->resent,
            (unsigned long long)st->duplicates, (unsigned long long)st->malformed, (unsigned long long)st->oversized,
            (unsigned long long)st->version_refused, (unsigned long long)st->refused,
            (unsigned long long)st->injected_drop, (unsigned long long)st->injected_dup,
            (unsigned long long)st->injected_reorder, n.done, n.failed, n.resumed);
done:
    sim_ctrl_free(s);
    sim_render_shutdown();
    return rc;
}
