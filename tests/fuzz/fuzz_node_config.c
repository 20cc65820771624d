/* fuzz_node_config.c -- `herd node --config FILE`: node_config_load, then the cross-field
 * checks the node runs before it starts. */
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    struct node_config cfg;
    node_config_default(&cfg);
    if (node_config_load(&cfg, path, err, sizeof err) == 0) {
        if (cfg.port < 0 || cfg.port > 65535 || cfg.weight < 0 || cfg.weight > 100)
            fuzz_fail("a port or weight out of range", path);
        node_config_finish(&cfg, err, sizeof err);
    } else if (!strstr(err, path)) {
        fuzz_fail("a node config error that does not name the file", err);
    }
    close(fd);
    return 0;
}
