/* cmd_act.c - `ember act`: run a scripted plan (PLAN.json) on a robot
 * controller through the agent-side library and print each step's fate as
 * it changes. Also the operator's buttons: --estop, --reset, --cancel.
 *
 * Exit status: 0 every step done; 1 a step failed, the controller never
 * answered, or the time ran out; 2 bad usage or a bad plan file. Ctrl-C
 * cancels the plan on the controller before leaving (exit 130). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli_rio.h"
#include "cli_util.h"
#include "commands.h"
#include "opt.h"
#include "robot_io/rio_agent.h"

static void usage(FILE *f, const opt_spec *specs) {
    fprintf(f,
            "usage: ember act --connect EP [options] PLAN.json\n"
            "       ember act --connect EP --estop [REASON] | --reset | --cancel PLAN_ID\n\n"
            "Sends the plan to the controller at EP (the one `ember sim --bind EP` runs), prints\n"
            "each step's fate (accepted, running, done, failed with a reason) and, when the\n"
            "controller publishes one, whether its goal is met.\n\n"
            "options:\n");
    opt_usage(f, specs);
}

/* --estop [REASON]: remembered as the reason, "" when none is given. */
static int act_estop(void *user, const opt_spec *spec, const char *value, char *err) {
    *(const char **)user = value ? value : "";
    return 0;
}

static void describe(const rio_step *st, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "%s %s(", st->step_id, st->skill);
    for (int i = 0; i < st->n_args && n < cap; i++) {
        const rio_arg *a = &st->args[i];
        const char *sep = i ? ", " : "";
        if (a->type == RIO_ARG_STRING) n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", sep, a->name, a->str);
        else if (a->type == RIO_ARG_BOOL) n += (size_t)snprintf(out + n, cap - n, "%s%s=%s", sep, a->name, a->boolean ? "true" : "false");
        else n += (size_t)snprintf(out + n, cap - n, "%s%s=%g", sep, a->name, a->num);
    }
    if (n < cap) snprintf(out + n, cap - n, ")");
}

static int interrupted(void) {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM);
}

/* One-shot operator command: send it, wait for its acknowledgement. */
static int operator_cmd(rio_agent *a, const char *what, const char *arg, int wait_ms) {
    ember_status st = !strcmp(what, "estop")   ? rio_agent_estop(a, arg)
                      : !strcmp(what, "reset") ? rio_agent_reset(a)
                                               : rio_agent_cancel(a, arg, NULL);
    int64_t t0 = rio_mono_ms();
    if (st) {
        fprintf(stderr, "ember act: %s: %s\n", what, rio_agent_errmsg(a));
        return 1;
    }
    rio_event ev;
    while (rio_agent_pending(a) > 0 && rio_mono_ms() - t0 < wait_ms) rio_agent_poll(a, &ev, 20);
    if (rio_agent_pending(a) > 0) {
        fprintf(stderr, "ember act: %s not acknowledged within %d ms\n", what, wait_ms);
        return 1;
    }
    printf("%s acknowledged in %lld ms\n", what, (long long)(rio_mono_ms() - t0));
    return 0;
}

int ember_cmd_act(int argc, char **argv) {
    rio_config cfg;
    rio_config_defaults(&cfg);
    strcpy(cfg.name, "act");
    char err[EM_ERR_LEN];
    const char *plan_path = NULL, *op = NULL, *op_arg = NULL, *estop = NULL, *cancel = NULL;
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
        OPT_STR(NULL, "--cancel", "PLAN_ID", &cancel, "cancel a plan"),
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

    char plan_id[RIO_ID_LEN] = "";
    rio_step *steps = NULL;
    int n_steps = 0;
    if (plan_path) {
        size_t n;
        char *text = cli_read_file("ember act", plan_path, &n, err);
        if (!text) { fprintf(stderr, "%s\n", err); return 2; }
        ember_status st = rio_plan_parse(text, n, plan_id, &steps, &n_steps, err);
        free(text);
        if (st) { fprintf(stderr, "ember act: %s: %s\n", plan_path, err); return 2; }
        if (!plan_id[0]) { /* a bare list of steps: the file's name, so a rerun resumes the same plan */
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
    }

    /* Ctrl-C and SIGTERM are taken in the loop (sigpending), not by a handler. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, NULL);

    int rc = 1;
    rio_agent *a = rio_agent_create(&cfg, "agent", op ? 0 : RIO_SUB_STATE, stderr, err);
    if (!a) { fprintf(stderr, "ember act: %s\n", err); free(steps); return 1; }
    if (rio_agent_wait_ready(a, (int)(wait_s * 1000))) {
        fprintf(stderr, "ember act: %s\n", rio_agent_errmsg(a));
        goto done;
    }
    if (op) {
        rc = operator_cmd(a, op, op_arg, (int)(wait_s * 1000));
        goto done;
    }
    const rio_msg *hello = rio_agent_hello(a);
    if (check) {
        for (int i = 0; i < n_steps; i++) {
            char reason[RIO_NAME_LEN];
            if (rio_step_check(hello->u.hello.skills, hello->u.hello.n_skills, &steps[i], reason, err)) {
                fprintf(stderr, "ember act: %s: step %s: %s (controller %s; --no-check sends it anyway)\n", plan_path,
                        steps[i].step_id, err, hello->from);
                rc = 2;
                goto done;
            }
        }
    }
    if (rio_agent_send_plan(a, plan_id, steps, n_steps)) {
        fprintf(stderr, "ember act: %s\n", rio_agent_errmsg(a));
        goto done;
    }
    int64_t t0 = rio_mono_ms(), *started = calloc((size_t)n_steps, sizeof *started);
    char *goal_fields = NULL;
    int64_t finished_at = 0;
    if (!started) { fprintf(stderr, "ember act: out of memory\n"); goto done; }
    for (;;) {
        int open = 0, failed = 0;
        for (int i = 0; i < n_steps; i++) {
            int s = rio_agent_step_status(a, steps[i].step_id);
            if (s < RIO_FB_DONE) open++;
            if (s == RIO_FB_FAILED) failed++;
        }
        if (!open && !finished_at) finished_at = rio_mono_ms();
        /* after the last fate, wait briefly for a state that includes it */
        if (finished_at && rio_mono_ms() - finished_at > 600) {
            printf("plan %s: %d of %d steps done%s\n", plan_id, n_steps - failed, n_steps, failed ? ", failed" : "");
            rc = failed ? 1 : 0;
            break;
        }
        if (interrupted()) {
            fprintf(stderr, "ember act: interrupted; cancelling plan %s\n", plan_id);
            rio_agent_cancel(a, plan_id, NULL);
            rio_event ev;
            for (int64_t t = rio_mono_ms(); rio_agent_pending(a) && rio_mono_ms() - t < 1000;) rio_agent_poll(a, &ev, 20);
            rc = 130;
            break;
        }
        if (rio_mono_ms() - t0 > (int64_t)(timeout_s * 1000)) {
            fprintf(stderr, "ember act: timed out after %.0f s with %d step(s) unfinished\n", timeout_s, open);
            rc = 1;
            break;
        }
        rio_event ev;
        int r = rio_agent_poll(a, &ev, 100);
        if (r < 0) { fprintf(stderr, "ember act: %s\n", rio_agent_errmsg(a)); break; }
        if (r == 0) continue;
        if (ev.type == RIO_EV_PEER_LOST) {
            fprintf(stderr, "ember act: controller lost (silent for %d ms); waiting for it\n", cfg.peer_timeout_ms);
        } else if (ev.type == RIO_EV_PEER_BACK) {
            fprintf(stderr, "ember act: controller back%s\n", ev.restarted ? " after a restart; resuming the plan" : "");
        } else if (ev.type == RIO_EV_STATE && ev.msg->u.state.fields_json) {
            free(goal_fields);
            goal_fields = strdup(ev.msg->u.state.fields_json);
        } else if (ev.type == RIO_EV_FEEDBACK && strcmp(ev.msg->plan_id, plan_id) == 0) {
            int k = -1;
            for (int i = 0; i < n_steps; i++)
                if (!strcmp(steps[i].step_id, ev.msg->step_id)) k = i;
            if (k < 0 || quiet) continue;
            char what[512];
            describe(&steps[k], what, sizeof what);
            const rio_feedback *fb = &ev.msg->u.feedback;
            if (fb->status == RIO_FB_RUNNING) started[k] = rio_mono_ms();
            if (fb->status == RIO_FB_FAILED)
                printf("%s: failed %s: %s\n", what, fb->reason, fb->text);
            else if (fb->status == RIO_FB_DONE && started[k])
                printf("%s: done (%.2f s)\n", what, (double)(rio_mono_ms() - started[k]) / 1000.0);
            else
                printf("%s: %s\n", what, rio_fb_status_name(fb->status));
            fflush(stdout);
        }
    }
    /* The controller's own judgement, when its state carries a goal. */
    if (goal_fields && (rc == 0 || rc == 1)) {
        cJSON *j = cJSON_Parse(goal_fields);
        cJSON *goal = cJSON_GetObjectItemCaseSensitive(j, "goal");
        cJSON *met = cJSON_GetObjectItemCaseSensitive(goal, "met");
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(goal, "text"));
        if (cJSON_IsBool(met)) {
            printf("goal: %s%s%s\n", cJSON_IsTrue(met) ? "met" : "not met", text ? " - " : "", text ? text : "");
            if (!cJSON_IsTrue(met)) rc = 1;
        }
        cJSON_Delete(j);
    }
    free(goal_fields);
    free(started);
    /* leave only when the controller has our last acks */
    for (int64_t t = rio_mono_ms(); rio_agent_pending(a) && rio_mono_ms() - t < 500;) {
        rio_event ev;
        rio_agent_poll(a, &ev, 20);
    }
done:
    {
        const rio_stats *s = rio_agent_stats(a);
        if (s->malformed || s->version_refused || s->oversized || s->refused)
            fprintf(stderr, "ember act: refused %llu malformed, %llu wrong-version, %llu oversized, %llu other messages\n",
                    (unsigned long long)s->malformed, (unsigned long long)s->version_refused,
                    (unsigned long long)s->oversized, (unsigned long long)s->refused);
    }
    rio_agent_free(a);
    free(steps);
    return rc;
}
