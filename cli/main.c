/* main.c - the `ember` command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifdef EMBER_VULKAN
#define EMBER_VULKAN_BUILT 1
#else
#define EMBER_VULKAN_BUILT 0
#endif

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"run", ember_cmd_run, "answer a question about images (SmolVLM + mmproj) or a chat prompt"},
    {"generate", ember_cmd_generate, "generate text from a prompt with a GGUF model"},
    {"bench", ember_cmd_bench, "a model's prefill and decode speed, first run and steady state (as llama-bench)"},
    {"devices", ember_cmd_devices, "list Vulkan devices and the features Ember uses"},
    {"info", ember_cmd_info, "print a GGUF file's metadata, tensors and type mix"},
    {"quantize", ember_cmd_quantize, "write a model with a llama.cpp quantization mix (Q4_K_M, Q8_0, ...)"},
    {"tokenize", ember_cmd_tokenize, "print the token ids of a text"},
    {"sim", ember_cmd_sim, "run the simulated tabletop robot (a controller on the robot link)"},
    {"act", ember_cmd_act, "run a scripted plan on a robot controller and print each step's fate"},
    {"eval", ember_cmd_eval, "the model on held-out data of the simulated world: exact match per family, closed-loop episodes"},
    {"agent", ember_cmd_agent, "plan an instruction into skills, run it on a robot controller, replan on feedback"},
    {"monitor", ember_cmd_monitor, "print every message a controller publishes, one JSON line each"},
    {"keygen", ember_cmd_keygen, "make a CurveZMQ keypair for the robot link"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ember <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'ember <command> --help' describes a command's options; 'ember --version' says which build this is.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ember %s (Vulkan backend %s)\n", EMBER_VERSION, EMBER_VULKAN_BUILT ? "built in" : "not built");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ember: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
