/* cli_common.c -- what every command says alike: option errors, the version line, hints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#include "base/err.h"
#include "base/quantity.h"

int cli_print_version(void)
{
    printf("herd %s\n", HERD_VERSION);
    return CLI_EXIT_OK;
}

int cli_option_error(const char *cmd, int c, char **argv)
{
    /* getopt_long has stepped past a long option it refused; a short one is in optopt, and
     * optind moved past its element only when it was the element's last letter */
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    bool is_long = strncmp(arg, "--", 2) == 0 && arg[2] &&
                   (c == ':' || optopt == 0 || strchr(arg, '='));
    if ((is_long && strcmp(arg, "--version") == 0) || (c == '?' && strcmp(arg, "-V") == 0))
        return cli_print_version(); /* no command takes -V or --version for anything else */
    char name[128];
    if (is_long)
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg, "="), arg);
    else
        snprintf(name, sizeof name, "-%c", optopt);
    if (c == ':')
        fprintf(stderr, "herd %s: option '%s' needs a value\n", cmd, name);
    else if (is_long && optopt != 0)
        fprintf(stderr, "herd %s: option '%s' takes no value\n", cmd, name);
    else
        fprintf(stderr, "herd %s: unknown option '%s'\n", cmd, name);
    fprintf(stderr, "Try 'herd %s --help'.\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_count_flag(const char *cmd, const char *flag, const char *text, uint64_t min,
                   uint64_t max, uint64_t *out)
{
    char err[ERR_SIZE];
    if (quantity_read_count(text, min, max, out, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "herd %s: %s %s\n", cmd, flag, err);
    return -1;
}

const char *cli_master_url(const char *text, char *out, size_t size)
{
    snprintf(out, size, "%s%s", strstr(text, "://") ? "" : "http://", text);
    return out;
}

void cli_setting_env(struct cli_setting *s, const char *name)
{
    const char *v = getenv(name);
    if (v && v[0]) {
        s->value = v;
        s->from = name;
    }
}

int cli_token_check(const char *cmd, const struct cli_setting *s)
{
    const char *t = s->value;
    if (t && t[0] && strlen(t) <= CLI_TOKEN_MAX && !strpbrk(t, " \t\r\n"))
        return 0;
    fprintf(stderr, "herd %s: %s: expected 1 to %d characters without blanks\n", cmd, s->from,
            CLI_TOKEN_MAX);
    return -1;
}

const char *cli_state_flag(const char *root, char *out, size_t size)
{
    if (!root || strcmp(root, ".herd") == 0) {
        snprintf(out, size, "%s", "");
        return out;
    }
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_./:@%+=,-";
    if (root[0] && strspn(root, plain) == strlen(root)) {
        snprintf(out, size, " --state-dir %s", root);
        return out;
    }
    size_t n = (size_t)snprintf(out, size, " --state-dir '");
    for (const char *p = root; *p && n + 5 < size; p++) {
        if (*p == '\'') { /* close, an escaped quote, reopen */
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    if (n + 2 <= size) {
        out[n++] = '\'';
        out[n] = '\0';
    } else if (size) {
        out[size - 1] = '\0';
    }
    return out;
}
