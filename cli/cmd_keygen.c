/* cmd_keygen.c - `ember keygen NAME`: a CurveZMQ keypair for the robot link.
 * Writes NAME.key (both keys, mode 0600) and NAME.pub (the public key, to
 * hand to the other side: the controller's --allow, the agent's --server-key). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "opt.h"
#include "robot_io/rio.h"

int ember_cmd_keygen(int argc, char **argv) {
    const opt_spec specs[] = {OPT_END};
    const char *name = NULL;
    char perr[OPT_ERR_LEN];
    int n_pos = 0, prc = opt_parse("ember keygen", specs, argc, argv, &name, 1, &n_pos, perr);
    if (prc == OPT_HELP) {
        printf("usage: ember keygen NAME\n\nWrites NAME.key (secret, mode 0600) and NAME.pub (public) for CurveZMQ:\n"
               "give the controller `--key ctrl.key --allow agent.pub` and the agent\n"
               "`--key agent.key --server-key ctrl.pub`.\n");
        return 0;
    }
    if (prc != OPT_OK || !name) {
        fprintf(stderr, "%s%susage: ember keygen NAME   (writes NAME.key and NAME.pub)\n", prc ? perr : "", prc ? "\n" : "");
        return 2;
    }
    char err[EM_ERR_LEN], pub[RIO_KEY_LEN];
    if (rio_keygen(name, pub, err)) {
        fprintf(stderr, "ember keygen: %s\n", err);
        return 1;
    }
    printf("%s\n", pub);
    fprintf(stderr, "ember keygen: wrote %s.key (keep it secret) and %s.pub\n", name, name);
    return 0;
}
