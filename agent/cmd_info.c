/* cmd_info.c - `ember info` (stub: to be written). */
#include <stdio.h>

#include "commands.h"

int ember_cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ember info: not implemented yet\n");
    return 1;
}
