/* cmd_schema.c -- `herd schema plan|cluster`: the JSON Schema of a plan or a cluster file,
 * printed from the key tables the loaders check files against (conf/keys.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cluster/clusterfile.h"
#include "conf/keys.h"
#include "plan/plan.h"

static const char schema_usage[] =
    "usage: herd schema plan|cluster\n"
    "\n"
    "Prints the JSON Schema (draft 2020-12) of a test plan or of a cluster file, made from the\n"
    "same key tables herd checks those files against. Point an editor's YAML support at it for\n"
    "completion and checks as you type (docs/plan-reference.md, Editors):\n"
    "  herd schema plan > herd-plan.schema.json\n"
    "\n"
    "options:\n"
    "  -h, --help   this text\n";

int cmd_schema(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(schema_usage, stdout); return CLI_EXIT_OK;
        default: return cli_option_error("schema", c, argv);
        }
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    const struct conf_key *root = NULL;
    const char *title = NULL;
    if (what && strcmp(what, "plan") == 0) {
        root = &plan_file_key;
        title = "herd test plan";
    } else if (what && strcmp(what, "cluster") == 0) {
        root = &cluster_file_key;
        title = "herd cluster file";
    }
    if (!root || argc - optind != 1) {
        fprintf(stderr, "herd schema: expected plan or cluster%s%s%s\n", what ? ", not '" : "",
                what ? what : "", what ? "'" : "");
        return CLI_EXIT_USAGE;
    }
    json_t *schema = conf_schema(root, title);
    if (!schema || json_dumpf(schema, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        fprintf(stderr, "herd schema: out of memory\n");
        json_decref(schema);
        return CLI_EXIT_RUNTIME;
    }
    json_decref(schema);
    putchar('\n');
    return CLI_EXIT_OK;
}
