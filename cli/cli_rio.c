/* cli_rio.c - robot-link flags shared by sim, act and monitor. */
#include "cli_rio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_rio_usage[] =
    "  --state-endpoint EP    state/event endpoint (default: command port + 1, or PATH.state)\n"
    "  --frame-endpoint EP    frame endpoint (default: command port + 2, or PATH.frames)\n"
    "  --config FILE          link settings as JSON (see robot_io/SCHEMA.md)\n"
    "  --key FILE             own CurveZMQ keypair from `ember keygen` (turns encryption on)\n"
    "  --server-key FILE.pub  the controller's public key (agent side)\n"
    "  --allow FILE.pub       an agent public key the controller accepts (repeatable)\n"
    "  --faults SPEC          inject faults on sent commands: drop=P,dup=P,reorder=P,seed=N\n"
    "  --heartbeat-ms N       heartbeat period (250)\n"
    "  --peer-timeout-ms N    silence before the peer is declared lost (2000)\n"
    "  --name NAME            this side's name in messages\n";

static int set_str(char *dst, size_t cap, const char *flag, const char *v, char *err) {
    if (strlen(v) >= cap) {
        em_err(err, EM_ERR_ARG, "%s: value longer than %zu bytes", flag, cap - 1);
        return EM_ERR_ARG;
    }
    strcpy(dst, v);
    return 1;
}

static int set_int(int *dst, const char *flag, const char *v, char *err) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < 1 || x > 3600 * 1000) {
        em_err(err, EM_ERR_ARG, "%s: '%s' is not a positive number of milliseconds", flag, v);
        return EM_ERR_ARG;
    }
    *dst = (int)x;
    return 1;
}

int cli_rio_flag(rio_config *cfg, const char *endpoint_flag, int argc, char **argv, int *i, char *err) {
    const char *f = argv[*i];
    static const char *const with_value[] = {"--bind", "--connect", "--state-endpoint", "--frame-endpoint",
                                             "--config", "--key", "--server-key", "--allow", "--faults",
                                             "--heartbeat-ms", "--peer-timeout-ms", "--name"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        if (!strcmp(f, with_value[k])) known = 1;
    if (!known) return 0;
    if ((!strcmp(f, "--bind") || !strcmp(f, "--connect")) && strcmp(f, endpoint_flag)) {
        em_err(err, EM_ERR_ARG, "%s: this command takes %s", f, endpoint_flag);
        return EM_ERR_ARG;
    }
    if (*i + 1 >= argc) {
        em_err(err, EM_ERR_ARG, "%s needs a value", f);
        return EM_ERR_ARG;
    }
    const char *v = argv[++*i];
    ember_status st;
    if (!strcmp(f, endpoint_flag)) return set_str(cfg->endpoint, sizeof cfg->endpoint, f, v, err);
    if (!strcmp(f, "--state-endpoint")) return set_str(cfg->state_endpoint, sizeof cfg->state_endpoint, f, v, err);
    if (!strcmp(f, "--frame-endpoint")) return set_str(cfg->frame_endpoint, sizeof cfg->frame_endpoint, f, v, err);
    if (!strcmp(f, "--name")) return set_str(cfg->name, sizeof cfg->name, f, v, err);
    if (!strcmp(f, "--heartbeat-ms")) return set_int(&cfg->heartbeat_ms, f, v, err);
    if (!strcmp(f, "--peer-timeout-ms")) return set_int(&cfg->peer_timeout_ms, f, v, err);
    if (!strcmp(f, "--config")) return (st = rio_config_load(cfg, v, err)) ? st : 1;
    if (!strcmp(f, "--faults")) return (st = rio_config_faults(cfg, v, err)) ? st : 1;
    if (!strcmp(f, "--key")) {
        if ((st = rio_key_load(v, cfg->public_key, cfg->secret_key, err))) return st;
        cfg->curve = 1;
        return 1;
    }
    if (!strcmp(f, "--server-key")) return (st = rio_key_load(v, cfg->server_key, NULL, err)) ? st : 1;
    /* --allow */
    if (cfg->n_allowed >= RIO_MAX_ALLOWED) {
        em_err(err, EM_ERR_RANGE, "--allow: at most %d keys", RIO_MAX_ALLOWED);
        return EM_ERR_RANGE;
    }
    if ((st = rio_key_load(v, cfg->allowed[cfg->n_allowed], NULL, err))) return st;
    cfg->n_allowed++;
    return 1;
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
    if (bind && strstr(err, "another controller bound there?")) return "; pick another --bind port";
    return "";
}
