/* fuzz_clusterfile.c -- `herd up -f FILE` and `herd gateway --file FILE`: the cluster file and
 * its gateway section. */
#include <string.h>
#include <unistd.h>

#include "cluster/clusterfile.h"
#include "cluster/gateway.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof path);
    struct cluster_spec spec;
    struct conf_doc doc;
    if (cluster_spec_load(&spec, &doc, path, err, sizeof err) == 0) {
        if (spec.gateway.present) {
            struct gateway_opts o;
            gateway_opts_default(&o);
            gateway_opts_from_conf(&o, &doc, spec.gateway.node, err, sizeof err);
            gateway_opts_free(&o);
            cluster_spec_add_gateway(&spec, path, err, sizeof err);
        }
        for (size_t g = 0; g < spec.group_count; g++) {
            const struct cluster_group *grp = &spec.groups[g];
            for (int i = 1; i <= grp->replicas; i++) {
                char host[64];
                int port = cluster_group_port(grp, i);
                if (port < 0 || port > 65535) fuzz_fail("a replica port out of range", grp->name);
                cluster_group_host(grp, i, host, sizeof host);
            }
            if (cluster_spec_group(&spec, grp->name) == NULL)
                fuzz_fail("a group cannot be found by its name", grp->name);
        }
        cluster_spec_free(&spec);
        conf_free(&doc);
    } else if (!strstr(err, path)) {
        fuzz_fail("a cluster file error that does not name the file", err);
    }
    close(fd);
    return 0;
}
