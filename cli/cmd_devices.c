/* cmd_devices.c - `ember devices`: the Vulkan devices and what Ember uses of
 * each (features, limits), in the order --backend auto considers them. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/vulkan/vk_backend.h"

int ember_cmd_devices(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ember devices\n\nLists the Vulkan devices with the features and limits Ember uses;\n"
                   "--device N (or EMBER_VK_DEVICE=N) picks one. EMBER_VK_LIMITS=v3d shows the\n"
                   "Raspberry Pi 5 limit mode.\n");
            return 0;
        }
        fprintf(stderr, "ember devices: unknown option '%s' (see --help)\n", argv[i]);
        return 2;
    }
    char err[EM_ERR_LEN];
    if (vk_devices_print(stdout, err) != EM_OK) {
        fprintf(stderr, "ember devices: %s\n", err);
        return 1;
    }
    return 0;
}
