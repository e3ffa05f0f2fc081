/* cmd_devices.c - `ember devices`: the Vulkan devices and what Ember uses of
 * each (features, limits), in the order --backend auto considers them. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/vulkan/vk_backend.h"
#include "opt.h"

int ember_cmd_devices(int argc, char **argv) {
    const opt_spec specs[] = {OPT_END};
    char err[EM_ERR_LEN];
    int prc = opt_parse("ember devices", specs, argc, argv, NULL, 0, NULL, err);
    if (prc == OPT_HELP) {
        printf("usage: ember devices\n\nLists the Vulkan devices with the features and limits Ember uses;\n"
               "--device N (or EMBER_VK_DEVICE=N) picks one. EMBER_VK_LIMITS=v3d shows the\n"
               "Raspberry Pi 5 limit mode.\n");
        return 0;
    }
    if (prc != OPT_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (vk_devices_print(stdout, err) != EM_OK) {
        fprintf(stderr, "ember devices: %s\n", err);
        return 1;
    }
    return 0;
}
