/* cmd_generate.c - `ember generate` (stub: to be written). */
#include <stdio.h>

#include "commands.h"

int ember_cmd_generate(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ember generate: not implemented yet\n");
    return 1;
}
