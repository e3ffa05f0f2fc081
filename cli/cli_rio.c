/* cli_rio.c - robot-link flags shared by sim, act and monitor. */
#include "cli_rio.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int set_str(char *dst, size_t cap, const char *flag, const char *v, char *err) {
    if (strlen(v) >= cap) {
        snprintf(err, OPT_ERR_LEN, "%s: value longer than %zu bytes", flag, cap - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

/* The flags with side effects or fixed-size destinations, by name. */
static int link_flag(void *user, const opt_spec *spec, const char *v, char *err) {
    rio_config *cfg = user;
    const char *f = spec->lng;
    char e[EM_ERR_LEN];
    ember_status st = EM_OK;
    if (!strcmp(f, "--state-endpoint")) return set_str(cfg->state_endpoint, sizeof cfg->state_endpoint, f, v, err);
    if (!strcmp(f, "--frame-endpoint")) return set_str(cfg->frame_endpoint, sizeof cfg->frame_endpoint, f, v, err);
    if (!strcmp(f, "--name")) return set_str(cfg->name, sizeof cfg->name, f, v, err);
    if (!strcmp(f, "--config")) st = rio_config_load(cfg, v, e);
    else if (!strcmp(f, "--faults")) st = rio_config_faults(cfg, v, e);
    else if (!strcmp(f, "--key")) {
        if (!(st = rio_key_load(v, cfg->public_key, cfg->secret_key, e))) cfg->curve = 1;
    } else if (!strcmp(f, "--server-key")) st = rio_key_load(v, cfg->server_key, NULL, e);
    else if (!strcmp(f, "--allow")) {
        if (cfg->n_allowed >= RIO_MAX_ALLOWED) {
            snprintf(err, OPT_ERR_LEN, "--allow: at most %d keys", RIO_MAX_ALLOWED);
            return -1;
        }
        if (!(st = rio_key_load(v, cfg->allowed[cfg->n_allowed], NULL, e))) cfg->n_allowed++;
    } else { /* --bind or --connect */
        return set_str(cfg->endpoint, sizeof cfg->endpoint, f, v, err);
    }
    if (st) snprintf(err, OPT_ERR_LEN, "%s", e);
    return st ? -1 : 0;
}

/* --bind to an agent, --connect to a controller. */
static int wrong_side(void *user, const opt_spec *spec, const char *v, char *err) {
    snprintf(err, OPT_ERR_LEN, "%s: this command takes %s", spec->lng, strcmp(spec->lng, "--bind") ? "--bind" : "--connect");
    return -1;
}

void cli_rio_specs(rio_config *cfg, const char *endpoint_flag, opt_spec *specs) {
    const bool bind = !strcmp(endpoint_flag, "--bind");
    const opt_spec t[CLI_RIO_OPTS_N] = {
        OPT_CALL(NULL, bind ? "--bind" : "--connect", "EP", link_flag, cfg,
                 bind ? "command endpoint (state and frames on the next two ports)" : "the controller's command endpoint"),
        OPT_CALL(NULL, bind ? "--connect" : "--bind", "EP", wrong_side, NULL, NULL),
        OPT_CALL(NULL, "--state-endpoint", "EP", link_flag, cfg, "state/event endpoint (default: command port + 1, or PATH.state)"),
        OPT_CALL(NULL, "--frame-endpoint", "EP", link_flag, cfg, "frame endpoint (default: command port + 2, or PATH.frames)"),
        OPT_CALL(NULL, "--config", "FILE", link_flag, cfg, "link settings as JSON (see robot_io/SCHEMA.md)"),
        OPT_CALL(NULL, "--key", "FILE", link_flag, cfg, "own CurveZMQ keypair from `ember keygen` (turns encryption on)"),
        OPT_CALL(NULL, "--server-key", "FILE.pub", link_flag, cfg, "the controller's public key (agent side)"),
        OPT_CALL(NULL, "--allow", "FILE.pub", link_flag, cfg, "an agent public key the controller accepts (repeatable)"),
        OPT_CALL(NULL, "--faults", "SPEC", link_flag, cfg, "inject faults on sent commands: drop=P,dup=P,reorder=P,seed=N"),
        OPT_INT(NULL, "--heartbeat-ms", "N", &cfg->heartbeat_ms, 1, 3600 * 1000, "heartbeat period"),
        OPT_INT(NULL, "--peer-timeout-ms", "N", &cfg->peer_timeout_ms, 1, 3600 * 1000,
                "silence before the peer is declared lost"),
        OPT_CALL(NULL, "--name", "NAME", link_flag, cfg, "this side's name in messages"),
        OPT_END,
    };
    memcpy(specs, t, sizeof t);
}

/* Matched on the library's wording (robot_io/rio_config.c, rio_agent.c,
 * rio_ctrl.c, rio_link.c say which phrases are matched here): the errors
 * share one status code, and only the message tells them apart. */
const char *cli_rio_advice(const char *endpoint_flag, const char *err) {
    int bind = !strcmp(endpoint_flag, "--bind");
    if (strstr(err, "without an own keypair")) return "; give --key FILE.key (from `ember keygen`)";
    if (strstr(err, "no agent key is allowed")) return "; give --allow KEY.pub for each agent";
    if (strstr(err, "controller's public key is not given")) return "; give --server-key FILE.pub";
    if (strstr(err, "no command endpoint given")) return bind ? "; give --bind EP" : "; give --connect EP";
    if (strstr(err, "this side sends plain text"))
        return "; if the controller uses CurveZMQ, give --key FILE.key (from `ember keygen`) and --server-key CTRL.pub";
    if (bind && strstr(err, "another controller bound there?"))
        return "; pick another --bind endpoint, or stop the controller there";
    if (strstr(err, "past 65535"))
        return bind ? "; give a --bind port of at most 65533" : "; give --state-endpoint and --frame-endpoint";
    if (strstr(err, "is also the"))
        return "; give --state-endpoint and --frame-endpoint apart from each other and from the command endpoint";
    return "";
}

void cli_step_describe(const rio_step *st, char *out, size_t cap) {
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

/* A remembered fate's time, local: "17:42:03", with the date when not today. */
static void fate_time(uint64_t us, char *out, size_t cap) {
    if (!us) {
        snprintf(out, cap, "an unknown time (before the controller restarted)");
        return;
    }
    time_t t = (time_t)(us / 1000000u), now = time(NULL);
    struct tm tm, today;
    localtime_r(&t, &tm);
    localtime_r(&now, &today);
    int same_day = tm.tm_year == today.tm_year && tm.tm_yday == today.tm_yday;
    strftime(out, cap, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_print_fate(FILE *out, const agent_step_fate *f) {
    char what[512], when[64] = "", memo[160] = "";
    cli_step_describe(f->step, what, sizeof what);
    if (f->replayed) { /* the controller's memory of an earlier run of this instance, not news */
        fate_time(f->fate_us, when, sizeof when);
        if (f->status >= RIO_FB_DONE)
            snprintf(memo, sizeof memo, " - already %s at %s, not run again", rio_fb_status_name(f->status), when);
        else
            snprintf(memo, sizeof memo, " - known to the controller since %s", when);
    }
    if (f->status == RIO_FB_FAILED)
        fprintf(out, "%s: failed %s: %s%s\n", what, f->reason, f->text, memo);
    else if (f->status == RIO_FB_DONE && f->run_s >= 0)
        fprintf(out, "%s: done (%.2f s)\n", what, f->run_s);
    else
        fprintf(out, "%s: %s%s\n", what, rio_fb_status_name(f->status), memo);
    fflush(out);
}

void cli_print_link(const char *prog, int peer_timeout_ms, int alive, int restarted) {
    if (!alive)
        fprintf(stderr, "%s: controller lost (silent for %d ms); waiting for it\n", prog, peer_timeout_ms);
    else
        fprintf(stderr, "%s: controller back%s\n", prog, restarted ? " after a restart; resuming the plan" : "");
}
