/* test_progress.c -- the live display's text (load/progress.h): the plain line of a second,
 * how often long loads show one, events with their time, what a terminal gets, and node names
 * that try to send control codes to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/progress.h"
#include "unit.h"

/* A display into a memory buffer, and the second it is fed. */
struct screen {
    FILE *out;
    char *text;
    size_t len;
    struct progress *pg;
    struct load_second last;
    struct load_progress p;
    char names[3][LOAD_NODE_NAME];
};

static struct screen *screen_new(bool tty)
{
    struct screen *s = calloc(1, sizeof *s);
    s->out = open_memstream(&s->text, &s->len);
    s->pg = progress_new(s->out, tty);
    snprintf(s->names[0], LOAD_NODE_NAME, "api.1");
    snprintf(s->names[1], LOAD_NODE_NAME, "api.2");
    snprintf(s->names[2], LOAD_NODE_NAME, "api.3");
    s->last.counters.requests = 2000;
    s->last.p99_us = 3100;
    s->last.max_us = 9000;
    s->last.node_requests[0] = 1000;
    s->last.node_requests[2] = 1000;
    s->p = (struct load_progress){.elapsed_s = 4.0, .second = 4, .last = &s->last,
                                  .requests = 8000, .failures = 12, .node_count = 3,
                                  .node_names = (const char(*)[LOAD_NODE_NAME])s->names};
    return s;
}

/* What was written so far (flushed). */
static const char *screen_text(struct screen *s)
{
    fflush(s->out);
    return s->text;
}

static void screen_free(struct screen *s)
{
    progress_free(s->pg);
    fclose(s->out);
    free(s->text);
    free(s);
}

static void test_plain_line(void **state)
{
    (void)state;
    struct screen *s = screen_new(false);
    progress_phase(s->pg, "failover");
    progress_load(s->pg, 10, 0);
    progress_on_second(&s->p, s->pg);
    assert_string_equal(screen_text(s), "  failover   4.0s/10.0s  2000 req/s  errors 12  p99 3.10ms"
                                        "  api.1 50%  api.2 0%  api.3 50%\n");
    screen_free(s);
}

/* Nodes are listed by name, numbers in names as numbers, whatever order they answered in
 * (the reports' order): api.2 before api.10. */
static void test_nodes_in_name_order(void **state)
{
    (void)state;
    struct screen *s = screen_new(false);
    snprintf(s->names[0], LOAD_NODE_NAME, "api.10");
    snprintf(s->names[1], LOAD_NODE_NAME, "api.2");
    snprintf(s->names[2], LOAD_NODE_NAME, "api.1");
    progress_phase(s->pg, "failover");
    progress_load(s->pg, 10, 0);
    progress_on_second(&s->p, s->pg);
    assert_string_equal(screen_text(s), "  failover   4.0s/10.0s  2000 req/s  errors 12  p99 3.10ms"
                                        "  api.1 50%  api.2 0%  api.10 50%\n");
    screen_free(s);
}

static void test_plain_line_by_count_without_label(void **state)
{
    (void)state;
    struct screen *s = screen_new(false);
    progress_load(s->pg, 0, 100000);
    progress_on_second(&s->p, s->pg);
    assert_non_null(strstr(screen_text(s), "[ 4.0s  8000/100000]  2000 req/s"));
    screen_free(s);
}

/* Past a minute of planned load, a line every 5 s, and the end's. */
static void test_plain_cadence(void **state)
{
    (void)state;
    struct screen *s = screen_new(false);
    progress_load(s->pg, 120, 0);
    progress_on_second(&s->p, s->pg); /* second 4: not shown */
    assert_true(s->text == NULL || strlen(screen_text(s)) == 0);
    s->p.second = 5, s->p.elapsed_s = 5.05;
    progress_on_second(&s->p, s->pg);
    assert_non_null(strstr(screen_text(s), "5.0s/120.0s"));
    s->p.second = 121, s->p.elapsed_s = 120.4; /* the end, a second not a multiple of 5 */
    progress_on_second(&s->p, s->pg);
    assert_non_null(strstr(screen_text(s), "120.4s/120.0s"));
    screen_free(s);
}

/* An event: its time since the phase began (less what it is old), above the block. */
static void test_event_and_block(void **state)
{
    (void)state;
    struct screen *s = screen_new(true);
    progress_phase(s->pg, "failover");
    progress_load(s->pg, 10, 0);
    progress_on_second(&s->p, s->pg);
    const char *text = screen_text(s);
    assert_non_null(strstr(text, "  failover [#"));
    assert_non_null(strstr(text, "    api.2 [....................]   0%\n"));
    size_t before = strlen(text);
    progress_event(s->pg, -3, "fault kill %s", "api.2"); /* stamped 3 s from now: +3.0xx s */
    text = screen_text(s) + before;
    assert_memory_equal(text, "\x1b[4A\r\x1b[J  +3.0", 14);
    assert_non_null(strstr(text, "s fault kill api.2\n  failover [#")); /* the block again */
    screen_free(s);
}

/* A node's name is the answers' word: bytes that would drive the terminal become '?'. */
static void test_names_cannot_drive_the_terminal(void **state)
{
    (void)state;
    struct screen *s = screen_new(true);
    snprintf(s->names[1], LOAD_NODE_NAME, "evil\x1b]0;owned\x07");
    progress_on_second(&s->p, s->pg);
    assert_non_null(strstr(screen_text(s), "evil?]0;owned?"));
    assert_null(strstr(screen_text(s), "\x07"));
    screen_free(s);
}

int unit_progress(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line),
        cmocka_unit_test(test_nodes_in_name_order),
        cmocka_unit_test(test_plain_line_by_count_without_label),
        cmocka_unit_test(test_plain_cadence),
        cmocka_unit_test(test_event_and_block),
        cmocka_unit_test(test_names_cannot_drive_the_terminal),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
