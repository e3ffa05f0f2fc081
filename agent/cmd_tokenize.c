/* cmd_tokenize.c - `ember tokenize` (stub: to be written). */
#include <stdio.h>

#include "commands.h"

int ember_cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ember tokenize: not implemented yet\n");
    return 1;
}
