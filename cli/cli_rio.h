/* cli_rio.h - the robot-link flags that `ember sim`, `act` and `monitor`
 * share, as an option group (cli/opt.h) writing into a rio_config:
 *   --bind EP / --connect EP     command endpoint (tcp://HOST:PORT, ipc://PATH)
 *   --state-endpoint EP, --frame-endpoint EP   override the derived ones
 *   --config FILE                JSON config (robot_io/SCHEMA.md, "Configuration")
 *   --key FILE                   own CurveZMQ keypair (ember keygen): turns Curve on
 *   --server-key FILE            (agent, monitor) the controller's .pub
 *   --allow FILE                 (controller) an agent's .pub; repeatable
 *   --faults SPEC                drop=P,dup=P,reorder=P,seed=N (testing)
 *   --heartbeat-ms N, --peer-timeout-ms N, --name NAME
 * Flags apply in command-line order (a later --heartbeat-ms overrides the
 * --config file's). */
#ifndef EMBER_CLI_CLI_RIO_H
#define EMBER_CLI_CLI_RIO_H

#include "opt.h"
#include <stdio.h>

#include "agent/plan_follow.h"
#include "robot_io/rio.h"

/* Entries cli_rio_specs writes, OPT_END included. */
#define CLI_RIO_OPTS_N 13

/* The flag that mends a robot-link error, as "; give --key FILE.key", or
 * "" when none does. robot_io/ words its errors in rio_config's terms (a
 * library has no flags); the command adds this where it prints the error.
 * err is the message from rio_agent_create / rio_ctrl_create. */
const char *cli_rio_advice(const char *endpoint_flag, const char *err);

/* Fill specs[0..CLI_RIO_OPTS_N) with the link flags writing into cfg (which
 * must outlive parsing); splice them into a command's table with
 * OPT_GROUP(specs). endpoint_flag is the one this command takes ("--bind"
 * for a controller, "--connect" for an agent); the other is refused with a
 * message saying so. */
void cli_rio_specs(rio_config *cfg, const char *endpoint_flag, opt_spec *specs);

/* A step as `ember act` and `ember agent` print it: "s1 pick(object=red_cube)". */
void cli_step_describe(const rio_step *st, char *out, size_t cap);
/* One fate as they print it, a line on out: "s1 pick(object=red_cube): done (0.41 s)",
 * "...: failed grasp_slipped: <text>", remembered fates with when they happened. */
void cli_print_fate(FILE *out, const agent_step_fate *f);
/* A change of the link as they print it on stderr: "PROG: controller lost
 * (silent for N ms); waiting for it", "PROG: controller back[ after a restart; ...]". */
void cli_print_link(const char *prog, int peer_timeout_ms, int alive, int restarted);

#endif
