/* cli_rio.h - the robot-link flags that `ember sim`, `act` and `monitor`
 * share, parsed into a rio_config:
 *   --bind EP / --connect EP     command endpoint (tcp://HOST:PORT, ipc://PATH)
 *   --state-endpoint EP, --frame-endpoint EP   override the derived ones
 *   --config FILE                JSON config (robot_io/SCHEMA.md, "Configuration")
 *   --key FILE                   own CurveZMQ keypair (ember keygen): turns Curve on
 *   --server-key FILE            (agent, monitor) the controller's .pub
 *   --allow FILE                 (controller) an agent's .pub; repeatable
 *   --faults SPEC                drop=P,dup=P,reorder=P,seed=N (testing)
 *   --heartbeat-ms N, --peer-timeout-ms N, --name NAME */
#ifndef EMBER_CLI_CLI_RIO_H
#define EMBER_CLI_CLI_RIO_H

#include "robot_io/rio.h"

/* If argv[*i] is a link flag, consume it (and its value) and return 1; 0 if
 * it is not one; a negative status (message in err) for a bad value. The
 * endpoint flag accepted is `endpoint_flag` ("--bind" or "--connect"). */
int cli_rio_flag(rio_config *cfg, const char *endpoint_flag, int argc, char **argv, int *i, char *err);

/* The flag that mends a robot-link error, as "; give --key FILE.key", or
 * "" when none does. robot_io/ words its errors in rio_config's terms (a
 * library has no flags); the command adds this where it prints the error.
 * err is the message from rio_agent_create / rio_ctrl_create. */
const char *cli_rio_advice(const char *endpoint_flag, const char *err);

/* Usage lines for the shared flags. */
extern const char cli_rio_usage[];

#endif
