/* cmd_act.c - `ember act`: run a scripted plan (PLAN.json) on a robot
 * controller through the plan follower (agent/plan_follow.h) and print each
 * step's fate as it changes. Also the operator's buttons: --estop, --reset,
 * --cancel.
 *
 * Each run sends the plan as a new instance (agent/plan_follow.h: the
 * plan's id plus a time and a random part), printed when it goes out;
 * --resume INSTANCE continues one, and fates the controller answers from
 * memory are printed as such ("already done at 17:42:03, not run again").
 *
 * Exit status: 0 every step done; 1 a step failed, the controller never
 * answered, the time ran out, the plan file cannot be read or is not a plan
 * (a bad file, as a corrupt model is), or a cancel named a plan the
 * controller does not know; 2 bad usage (conflicting flags, a malformed
 * endpoint). Ctrl-C
 * cancels the plan on the controller before leaving (exit 130). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_rio.h"
#include "cli_util.h"
#include "commands.h"
#include "agent/plan_follow.h"
#include "opt.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember act --connect EP [options] [--resume INSTANCE] PLAN.json\n"
            "       ember act --connect EP --estop [REASON] | --reset | --cancel INSTANCE\n\n"
            "Sends the plan to the controller at EP (the one `ember sim --bind EP` runs), prints\n"
            "each step's fate (accepted, running, done, failed with a reason) and, when the\n"
            "controller publishes one, whether its goal is met. Each run is a new instance of\n"
            "the plan (its id is printed: PLAN:TIME-XXXX-N); --resume continues one, running\n"
            "only what it has not settled.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

/* --estop [REASON]: remembered as the reason, "" when none is given. */
static int act_estop(void *user, const opt_spec *spec, const char *value, char *err) {
    *(const char **)user = value ? value : "";
    return 0;
}

/* The schema's id rule (robot_io/SCHEMA.md): 1..63 bytes of [A-Za-z0-9_.:-]. */
static int id_ok(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n >= RIO_ID_LEN) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("_.:-", *s)))
            return 0;
    return 1;
}

/* The follower's hooks: each fate printed as it changes. */
typedef struct act_out {
    int quiet;
    int peer_timeout_ms;
    const char *plan_id;
    const char *plan_path;
    char instance[RIO_ID_LEN]; /* set by the sent hook */
} act_out;

static void print_fate(void *user, const agent_step_fate *f) {
    const act_out *o = user;
    if (!o->quiet) cli_print_fate(stdout, f);
}

static void print_sent(void *user, const char *instance_id, int resumed) {
    act_out *o = user;
    snprintf(o->instance, sizeof o->instance, "%s", instance_id);
    if (o->quiet) return;
    if (resumed)
        printf("plan %s: resuming instance %s\n", o->plan_id, instance_id);
    else
        printf("plan %s: running as %s (ember act --resume %s %s continues it)\n", o->plan_id, instance_id,
               instance_id, o->plan_path);
    fflush(stdout);
}

static void print_link(void *user, int alive, int restarted) {
    const act_out *o = user;
    cli_print_link("ember act", o->peer_timeout_ms, alive, restarted);
}

static int stop_on_signal(void *user) {
    const act_out *o = user;
    if (!cli_stop_requested()) return 0;
    fprintf(stderr, "ember act: interrupted; cancelling plan %s\n", o->instance[0] ? o->instance : o->plan_id);
    return 1;
}

int ember_cmd_act(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "act");
    char err[EM_ERR_LEN];
    const char *plan_path = NULL, *op = NULL, *op_arg = NULL, *estop = NULL, *cancel = NULL, *resume = NULL;
    double timeout_s = 300, wait_s = 10;
    bool no_check = false, quiet = false, reset = false;
    opt_spec link[CLI_RIO_OPTS_N];
    cli_rio_specs(&cfg, "--connect", link);
    const opt_spec specs[] = {
        OPT_GROUP(link),
        OPT_DOUBLE(NULL, "--timeout", "S", &timeout_s, 0.001, 1e7, "give up after S seconds"),
        OPT_DOUBLE(NULL, "--wait", "S", &wait_s, 0.001, 1e7, "wait S seconds for the controller to answer"),
        OPT_FLAG(NULL, "--no-check", &no_check, "send steps without checking them against the offered skills"),
        OPT_FLAG(NULL, "--quiet", &quiet, "print only the final line"),
        {.kind = OPT_KIND_CALL, .lng = "--estop", .meta = "REASON", .fn = act_estop, .user = &estop,
         .flags = OPT_VALUE_OPTIONAL, .help = "stop the robot now (an operator's button)"},
        OPT_FLAG(NULL, "--reset", &reset, "clear an emergency stop"),
        OPT_STR(NULL, "--cancel", "INSTANCE", &cancel, "cancel a plan instance (the id a run printed)"),
        OPT_STR(NULL, "--resume", "INSTANCE", &resume,
                "continue this plan instance (the id a run printed) instead of starting a new one"),
        OPT_END};
    int n_pos = 0, prc = opt_parse("ember act", specs, argc, argv, &plan_path, 1, &n_pos, err);
    if (prc == OPT_HELP) { usage(stdout, specs); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    if (!!estop + reset + !!cancel > 1) { fprintf(stderr, "ember act: give one of --estop, --reset, --cancel\n"); return 2; }
    if (estop) { op = "estop"; op_arg = *estop ? estop : NULL; }
    if (reset) op = "reset";
    if (cancel) { op = "cancel"; op_arg = cancel; }
    const int check = !no_check;
    if (!cfg.endpoint[0]) { fprintf(stderr, "ember act: --connect EP is required\n"); usage(stderr, specs); return 2; }
    if (!op && !plan_path) { fprintf(stderr, "ember act: no PLAN.json given\n"); usage(stderr, specs); return 2; }
    if (op && plan_path) { fprintf(stderr, "ember act: --%s takes no plan file\n", op); return 2; }
    if (resume && !plan_path) { fprintf(stderr, "ember act: --resume needs the plan file the instance ran\n"); return 2; }
    if (resume && !id_ok(resume)) {
        fprintf(stderr, "ember act: --resume '%s': not an instance id (1..%d bytes of A-Z a-z 0-9 _ . : -)\n", resume,
                RIO_ID_LEN - 1);
        return 2;
    }
    { /* a malformed endpoint or timing is the command line's fault: usage, not a runtime failure */
        rio_config chk = cfg;
        if (rio_config_finish(&chk, err)) {
            fprintf(stderr, "ember act: %s%s\n", err, cli_rio_advice("--connect", err));
            return 2;
        }
    }

    char plan_id[RIO_ID_LEN] = "";
    rio_step *steps = NULL;
    int n_steps = 0;
    if (plan_path) {
        size_t n;
        char *text = cli_read_file("ember act", plan_path, &n, err);
        if (!text) { fprintf(stderr, "%s\n", err); return 1; } /* like a missing model: a runtime failure */
        ember_status st = rio_plan_parse(text, n, plan_id, &steps, &n_steps, err);
        free(text);
        if (st) { fprintf(stderr, "ember act: %s: %s\n", plan_path, err); return 1; } /* a bad file: runtime, as a corrupt model */
        if (!plan_id[0]) { /* a bare list of steps: the file's name is the plan's id */
            const char *base = strrchr(plan_path, '/') ? strrchr(plan_path, '/') + 1 : plan_path;
            size_t k = 0;
            for (; base[k] && base[k] != '.' && k < RIO_ID_LEN - 1; k++) {
                char ch = base[k];
                int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
                plan_id[k] = ok ? ch : '_';
            }
            plan_id[k] = 0;
            if (!k) strcpy(plan_id, "plan");
        }
        /* an instance is PLAN:...: resuming one with another plan's file
         * would hand the controller steps it never saw under that id */
        const size_t pl = strlen(plan_id);
        if (resume && (strncmp(resume, plan_id, pl) || resume[pl] != ':')) {
            fprintf(stderr, "ember act: --resume %s is not an instance of plan '%s' (%s); give the plan file it ran\n",
                    resume, plan_id, plan_path);
            free(steps);
            return 2;
        }
    }

    /* Ctrl-C and SIGTERM are taken in the loop (sigpending), not by a handler. */
    cli_block_stop_signals();

    int rc = 1;
    act_out out = {.quiet = quiet, .peer_timeout_ms = cfg.peer_timeout_ms, .plan_id = plan_id, .plan_path = plan_path};
    agent_follow_hooks hooks = {.fate = print_fate, .link = print_link, .stop = stop_on_signal, .user = &out,
                                .sent = print_sent};
    agent_follower *f = agent_follower_create(&cfg, &hooks, !op, stderr, err);
    if (!f) { fprintf(stderr, "ember act: %s%s\n", err, cli_rio_advice("--connect", err)); free(steps); return 1; }
    if (agent_follower_wait_ready(f, (int)(wait_s * 1000))) {
        fprintf(stderr, "ember act: %s%s\n", agent_follower_errmsg(f), cli_rio_advice("--connect", agent_follower_errmsg(f)));
        goto done;
    }
    if (op) {
        agent_operator_cmd cmd = !strcmp(op, "estop") ? AGENT_OP_ESTOP : !strcmp(op, "reset") ? AGENT_OP_RESET : AGENT_OP_CANCEL;
        int64_t ms;
        ember_status st = agent_follower_operate(f, cmd, op_arg, (int)(wait_s * 1000), &ms);
        if (st == EM_ERR_NOT_FOUND) {
            fprintf(stderr, "ember act: %s; give the instance id a run printed (\"plan P: running as P:...\")\n",
                    agent_follower_errmsg(f));
        } else if (st) {
            fprintf(stderr, "ember act: %s\n", agent_follower_errmsg(f));
        } else {
            printf("%s acknowledged in %lld ms\n", op, (long long)ms);
            rc = 0;
        }
        goto done;
    }
    if (check) {
        int bad = agent_follower_check(f, steps, n_steps, err);
        if (bad >= 0) {
            fprintf(stderr, "ember act: %s: step %s: %s (controller %s; --no-check sends it anyway)\n", plan_path,
                    steps[bad].step_id, err, agent_follower_hello(f)->from);
            rc = 2;
            goto done;
        }
    }
    agent_follow_result res;
    ember_status rst = resume ? agent_follower_resume(f, resume, steps, n_steps, (int)(timeout_s * 1000), &res)
                              : agent_follower_run(f, plan_id, steps, n_steps, (int)(timeout_s * 1000), &res);
    if (rst) fprintf(stderr, "ember act: %s\n", agent_follower_errmsg(f));
    if (res.end == AGENT_FOLLOW_FINISHED) {
        char memo[96] = "";
        if (res.n_replayed)
            snprintf(memo, sizeof memo, " (%d settled before this run, not run again)", res.n_replayed);
        printf("plan %s: %d of %d steps done%s%s\n", plan_id, n_steps - res.n_failed, n_steps,
               res.n_failed ? ", failed" : "", memo);
        rc = res.n_failed ? 1 : 0;
    } else if (res.end == AGENT_FOLLOW_TIMED_OUT) {
        fprintf(stderr, "ember act: timed out after %.0f s with %d step(s) unfinished\n", timeout_s, res.n_open);
    } else if (res.end == AGENT_FOLLOW_STOPPED) {
        rc = 130;
    } else if (res.end == AGENT_FOLLOW_CANCELLED) {
        fprintf(stderr, "ember act: the plan was cancelled by another agent (an operator)\n");
    }
    /* The controller's own judgement, when its state carries a goal. */
    if (res.goal >= 0 && rc != 130) {
        printf("goal: %s%s%s\n", res.goal ? "met" : "not met", res.goal_text[0] ? " - " : "", res.goal_text);
        if (!res.goal) rc = 1;
    }
done:
    {
        const rio_stats *s = agent_follower_stats(f);
        if (s->malformed || s->version_refused || s->oversized || s->refused)
            fprintf(stderr, "ember act: refused %llu malformed, %llu wrong-version, %llu oversized, %llu other messages\n",
                    (unsigned long long)s->malformed, (unsigned long long)s->version_refused,
                    (unsigned long long)s->oversized, (unsigned long long)s->refused);
    }
    agent_follower_free(f);
    free(steps);
    return rc;
}
