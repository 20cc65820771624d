/* test_walkthrough.c -- the user guide's "Your first plan" runs as written: every `$ herd ...`
 * line of that section, in order, from a scratch directory holding the repository's examples/,
 * exits 0, and every output block the section quotes after a command matches what that command
 * printed (up to each line's "(actual", where measured numbers start). */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/harness.h"
#include "integration.h"

#define WALK_MAX_ARGS 32

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char buf[4096];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, mem);
    if (mem) fclose(mem);
    fclose(f);
    return text;
}

/* The section of the guide from its heading to the next "## " heading, in place. */
static char *section(char *guide, const char *heading)
{
    char *start = strstr(guide, heading);
    if (!start) return NULL;
    char *end = strstr(start + strlen(heading), "\n## ");
    if (end) end[1] = '\0';
    return start;
}

/* Runs "herd ARGS" (words split on spaces) from the current directory; returns its exit code
 * with its stdout and stderr joined in *output (the caller frees). */
static int run_line(const char *line, char **output)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", line);
    char *args[WALK_MAX_ARGS];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w && n < WALK_MAX_ARGS - 1;
         w = strtok_r(NULL, " ", &save))
        args[n++] = w;
    args[n] = NULL;
    assert_true(n > 0);
    if (strcmp(args[0], "herd") != 0) fail_msg("the guide runs '%s', expected herd commands", line);
    char *out = NULL, *err = NULL;
    int rc = harness_herd(args + 1, 120000, &out, &err);
    if (asprintf(output, "%s%s", out ? out : "", err ? err : "") < 0) *output = NULL;
    free(out);
    free(err);
    return rc;
}

/* Each line of a quoted output block appears in the output, up to its "(actual". */
static void expect_quoted(const char *block, const char *output, const char *command)
{
    char line[512];
    for (const char *p = block; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        char *actual = strstr(line, "(actual");
        if (actual) *actual = '\0';
        if (line[0] && !strstr(output, line)) {
            fprintf(stderr, "'%s' printed no line like the guide's\n  %s\nit printed:\n%s\n",
                    command, line, output);
            fail();
        }
        p += len + (eol ? 1 : 0);
    }
}

static void test_first_plan(void **state)
{
    (void)state;
    char *guide = read_text(HERD_SOURCE_DIR "/docs/user-guide.md");
    assert_non_null(guide);
    char *text = section(guide, "\n## Your first plan\n");
    assert_non_null(text);

    char dir[] = "/tmp/herd-walk-XXXXXX", cwd[1024], link[1100];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(link, sizeof link, "%s/examples", dir);
    assert_int_equal(symlink(HERD_SOURCE_DIR "/examples", link), 0);
    assert_int_equal(chdir(dir), 0);

    int commands = 0;
    bool fenced = false, quoting = false;
    char *output = NULL, last[512] = "", block[4096] = "";
    for (char *p = text; *p;) {
        char *eol = strchr(p, '\n');
        if (eol) *eol = '\0';
        if (strncmp(p, "```", 3) == 0) {
            if (fenced && quoting && output) expect_quoted(block, output, last);
            fenced = !fenced;
            quoting = fenced && p[3] == '\0'; /* a bare fence quotes output */
            block[0] = '\0';
        } else if (fenced && strncmp(p, "$ ", 2) == 0) {
            free(output);
            snprintf(last, sizeof last, "%s", p + 2);
            int rc = run_line(last, &output);
            if (rc != 0) {
                fprintf(stderr, "'%s' exited %d:\n%s\n", last, rc, output ? output : "");
                fail();
            }
            commands++;
        } else if (quoting) {
            strncat(block, p, sizeof block - strlen(block) - 2);
            strcat(block, "\n");
        }
        p = eol ? eol + 1 : p + strlen(p);
    }
    assert_false(fenced);
    /* The last command is the failover plan, and it passed. */
    assert_true(commands >= 6);
    assert_non_null(strstr(last, "herd test examples/first-failover.yaml"));
    assert_non_null(strstr(output, "verdict: PASS"));
    /* herd down and the plans left nothing listening on the examples' ports. */
    for (int port = 28281; port <= 28283; port++)
        assert_false(harness_port_open(port));
    assert_false(harness_port_open(28290));

    free(output);
    free(guide);
    assert_int_equal(chdir(cwd), 0);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    assert_int_equal(system(rm), 0);
}

int integration_walkthrough(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_plan),
    };
    return cmocka_run_group_tests_name("walkthrough", tests, NULL, NULL);
}
