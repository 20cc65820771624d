/* fuzz_conf.c -- the YAML/JSON layer under every loader: parse any text, then ask every typed
 * getter about every node, as a loader would about a key it expects. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "fuzz_util.h"

static void visit(const struct conf_doc *doc, const struct conf_node *n, int depth)
{
    char err[512], path[256];
    const char *s;
    long long i;
    double d;
    bool b;
    uint64_t us;
    static const char *const keys[] = {"name", "port", "checks", NULL};
    for (; n; n = n->next) {
        conf_path(n, path, sizeof path);
        if (n->parent && n->parent->type == CONF_MAP && (!n->key || conf_get(n->parent, n->key) == NULL))
            fuzz_fail("a map member cannot be found by its key", path);
        conf_to_string(doc, n, &s, err, sizeof err);
        conf_to_int(doc, n, -5, 65535, &i, err, sizeof err);
        conf_to_double(doc, n, 0, 1, &d, err, sizeof err);
        conf_to_bool(doc, n, &b, err, sizeof err);
        conf_to_duration_us(doc, n, 0, 3600000000ULL, &us, err, sizeof err);
        conf_expect_map(doc, n, err, sizeof err);
        conf_expect_seq(doc, n, err, sizeof err);
        if (n->type == CONF_MAP) conf_check_keys(doc, n, keys, err, sizeof err);
        /* 64 nested maps or lists at most (the root's included), and a scalar in the last */
        if (depth > 65) fuzz_fail("a tree deeper than the parser allows", path);
        visit(doc, n->first, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_doc doc;
    char err[512];
    if (conf_parse(&doc, "fuzz.yaml", (const char *)data, size, err, sizeof err) < 0) {
        if (doc.root || strncmp(err, "fuzz.yaml:", 10) != 0)
            fuzz_fail("a parse error without a position, or a tree left behind", err);
        return 0;
    }
    visit(&doc, doc.root, 1);
    conf_free(&doc);
    return 0;
}
