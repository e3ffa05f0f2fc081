/* cmd_sim.c - `ember sim`: the reference simulated robot. The flags are
 * parsed here; the controller itself (world, robot link, the journal that
 * lets the table and every step's fate survive a restart of this process,
 * SIGKILL included) is sim/sim_ctrl.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_rio.h"
#include "cli_util.h"
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

/* --objects: 0 or SIM_OBJECTS_MIN..MAX, said in those terms (a plain
 * integer range would offer 1 and 2, which the world refuses). */
static int objects_flag(void *user, const opt_spec *spec, const char *v, char *err) {
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || (n != 0 && (n < SIM_OBJECTS_MIN || n > SIM_OBJECTS_MAX))) {
        snprintf(err, OPT_ERR_LEN, "%s '%s': expected 0 (the seed chooses 5..9) or %d..%d", spec->lng, v,
                 SIM_OBJECTS_MIN, SIM_OBJECTS_MAX);
        return -1;
    }
    *(int *)user = (int)n;
    return 0;
}

/* The flag advice for a journal that would not open (sim_journal.h says
 * each kind); the library's message has said what is wrong. */
static const char *journal_advice(sim_journal_trouble why, int named) {
    switch (why) {
    case SIM_JOURNAL_DAMAGED: return "; --fresh discards it and starts a new world";
    case SIM_JOURNAL_NOT_JOURNAL: return "; --fresh replaces only a sim journal: give --journal a new file name";
    case SIM_JOURNAL_IN_USE:
        return named ? "; stop that sim first, or give this one its own --journal FILE"
                     : "; stop that sim first, or give this one its own --journal FILE or --bind endpoint";
    case SIM_JOURNAL_NO_FOLDER: return "; create its folder first, or give --journal a file in a folder that exists";
    case SIM_JOURNAL_IS_FOLDER: return "; give --journal a file name, e.g. FOLDER/sim.journal";
    case SIM_JOURNAL_NO_PERMISSION: return "; give --journal a file in a folder you may write";
    default: return "";
    }
}

/* Ctrl-C and SIGTERM are blocked and taken here, between two rounds of
 * the controller loop, so a step's journal record is never cut by them. */
static int sigint_or_term(void *user) {
    (void)user;
    return cli_stop_requested();
}

/* ---- the command -------------------------------------------------------- */

int ember_cmd_sim(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "sim");
    sim_config scfg;
    sim_config_defaults(&scfg);
    char err[EM_ERR_LEN];
    const char *journal_path = NULL, *goal = NULL;
    char default_journal[4096];
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
        OPT_CALL(NULL, "--objects", "N", objects_flag, &scfg.n_objects,
                 "objects on the table, 3..12 (default 0: the seed chooses 5..9)"),
        OPT_INT(NULL, "--scramble", "N", &scfg.scramble, 0, 16, "start from N earlier moves (stacks, filled bowls)"),
        OPT_DOUBLE(NULL, "--step-s", "S", &scfg.step_s, 0.001, 60, "seconds of motion per skill"),
        OPT_DOUBLE(NULL, "--fps", "N", &fps, 0, 120, "camera frames per second, 0 = none"),
        OPT_SIZE(NULL, "--frame-size", "WxH", frame_size, 16, 4096, "frame size"),
        OPT_CHOICE(NULL, "--encoding", "E", &encoding_i, encodings, "frame encoding: png or rgb8"),
        OPT_DOUBLE(NULL, "--state-hz", "N", &state_hz, 0.1, 1000, "state messages per second"),
        OPT_STR(NULL, "--journal", "FILE", &journal_path,
                "journal of the world and steps (default: ~/.local/state/ember/sim-ENDPOINT.journal)"),
        OPT_FLAG(NULL, "--fresh", &fresh, "start a new world: discard the journal's records"),
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

    cli_block_stop_signals();

    /* The link's config is checked before the journal is opened: a typo in
     * --bind must not leave a journal (a world) named after it behind. */
    rio_config checked = cfg;
    if (rio_config_finish(&checked, err)) { /* a malformed --bind is the command line's fault: usage */
        fprintf(stderr, "ember sim: %s%s\n", err, cli_rio_advice("--bind", err));
        return 2;
    }
    int named = journal_path != NULL;
    if (!named) {
        if (sim_ctrl_default_journal(cfg.endpoint, default_journal, sizeof default_journal, err)) {
            fprintf(stderr, "ember sim: %s; give --journal FILE\n", err);
            return 1;
        }
        journal_path = default_journal;
    }
    sim_ctrl_config sc;
    sim_ctrl_config_defaults(&sc);
    sc.journal_path = journal_path;
    sc.fresh = fresh;
    sc.world = scfg;
    sc.fps = fps;
    sc.frame_w = fw;
    sc.frame_h = fh;
    sc.png = !strcmp(encoding, "png");
    sc.state_hz = state_hz;
    sc.quiet = quiet;
    sc.log = stderr;
    int rc = 1;
    sim_journal_trouble why = SIM_JOURNAL_FINE;
    sim_ctrl *s = sim_ctrl_open(&sc, &why, err);
    if (!s) {
        fprintf(stderr, "ember sim: %s%s\n", err, journal_advice(why, named));
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
