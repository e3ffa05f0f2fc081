/* commands.h - the `ember` subcommands. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process exit code:
 * 0 success, 1 runtime failure (bad file, ...), 2 bad usage. Results go to
 * stdout; logs, progress and timings to stderr. */
#ifndef EMBER_CLI_COMMANDS_H
#define EMBER_CLI_COMMANDS_H

int ember_cmd_generate(int argc, char **argv);
int ember_cmd_bench(int argc, char **argv);
int ember_cmd_run(int argc, char **argv);
int ember_cmd_devices(int argc, char **argv);
int ember_cmd_info(int argc, char **argv);
int ember_cmd_quantize(int argc, char **argv);
int ember_cmd_tokenize(int argc, char **argv);
int ember_cmd_keygen(int argc, char **argv);
int ember_cmd_sim(int argc, char **argv);
int ember_cmd_act(int argc, char **argv);
int ember_cmd_agent(int argc, char **argv);
int ember_cmd_eval(int argc, char **argv);
int ember_cmd_monitor(int argc, char **argv);

#endif
