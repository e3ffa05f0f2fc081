/* cmd_keygen.c - `ember keygen NAME`: a CurveZMQ keypair for the robot link.
 * Writes NAME.key (both keys, mode 0600) and NAME.pub (the public key, to
 * hand to the other side: the controller's --allow, the agent's --server-key). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "robot_io/rio.h"

int ember_cmd_keygen(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: ember keygen NAME\n\nWrites NAME.key (secret, mode 0600) and NAME.pub (public) for CurveZMQ:\n"
               "give the controller `--key ctrl.key --allow agent.pub` and the agent\n"
               "`--key agent.key --server-key ctrl.pub`.\n");
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: ember keygen NAME   (writes NAME.key and NAME.pub)\n");
        return 2;
    }
    char err[EM_ERR_LEN], pub[RIO_KEY_LEN];
    if (rio_keygen(argv[1], pub, err)) {
        fprintf(stderr, "ember keygen: %s\n", err);
        return 1;
    }
    printf("%s\n", pub);
    fprintf(stderr, "ember keygen: wrote %s.key (keep it secret) and %s.pub\n", argv[1], argv[1]);
    return 0;
}
