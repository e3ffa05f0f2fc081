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
#include "opt.h"
#include "sim/sim.h"
#include "sim/sim_ctrl.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember sim --bind EP [options]\n\n"
            "Runs the simulated tabletop robot as a controller on the robot link at EP\n"
            "(tcp://127.0.0.1:5555 or ipc:///tmp/ember-sim): skills pick, place, push, ...\n"
            "(see sim/README.md), state at --state-hz, camera frames at --fps.\n\n"
            "options:\n");
    opt_usage(f, specs);
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
