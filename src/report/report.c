/* report.c -- format dispatch, atomic files, and the shared readers. */
#include "report/report.h"

#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "report/report_util.h"

const char *const report_error_classes[] = {"connect", "timeout", "reset", "read", "write",
                                            "5xx",     "4xx",     "assertion", "unanswered", NULL};

json_t *report_get(const json_t *run, const char *path)
{
    char key[128];
    const json_t *cur = run;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        /* "p99.9" is one key: try the longest key first */
        json_t *whole = json_object_get(cur, path);
        if (whole)
            return whole;
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return (json_t *)cur;
}

double report_num(const json_t *run, const char *path)
{
    json_t *j = report_get(run, path);
    return json_is_number(j) ? json_number_value(j) : 0.0;
}

/* v written for people: 4 significant digits below 1000, whole numbers from there on, and
 * never an exponent ("12345", "0.1205", "0.000012"). */
static const char *plain(double v, const char *suffix, char *buf, size_t size)
{
    double a = fabs(v);
    if (a >= 1000 || a == 0 || !isfinite(v)) {
        snprintf(buf, size, "%.0f%s", v, suffix);
    } else if (a >= 0.001) {
        snprintf(buf, size, "%.4g%s", v, suffix);
    } else { /* %g would write 1.2e-05 */
        snprintf(buf, size, "%.9f", v);
        char *end = buf + strlen(buf) - 1;
        while (end > buf && *end == '0')
            *end-- = '\0';
        strncat(buf, suffix, size - strlen(buf) - 1);
    }
    return buf;
}

const char *report_actual(const void *e, const char *expect, char *buf, size_t size)
{
    json_t *a = json_object_get(e, "actual");
    if (!json_is_number(a)) {
        const char *why = json_string_value(json_object_get(e, "why"));
        snprintf(buf, size, "%s", why ? why : "not measured");
        return buf;
    }
    double v = json_number_value(a);
    /* the unit after the expectation's last number */
    const char *unit = "";
    for (const char *p = expect; *p; p++)
        if (isdigit((unsigned char)*p) || *p == '.') unit = p + 1;
    static const struct {
        const char *name;
        double per_ms; /* durations: the value is in ms */
    } units[] = {{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 6e4}, {"h", 3.6e6}};
    if (!*unit) { /* a bare number on a duration is seconds, as herd reads it */
        static const char *const durations[] = {
            "p50",      "p75",    "p90",      "p95",        "p99", "p99.9", "max", "mean",
            "min",      "detection", "failover", "rejoin", "converge", "catch_up",
            "health_p99", NULL};
        size_t klen = strspn(expect, "abcdefghijklmnopqrstuvwxyz0123456789_.");
        for (const char *const *k = durations; *k; k++)
            if (strlen(*k) == klen && strncmp(expect, *k, klen) == 0) unit = "s";
    }
    if (unit[0] == '%') {
        return plain(v * 100, "%", buf, size);
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].name) == 0) {
            char suffix[8];
            snprintf(suffix, sizeof suffix, " %s", units[i].name);
            return plain(v / units[i].per_ms, suffix, buf, size);
        }
    }
    return plain(v, "", buf, size);
}

const char *report_verdict(const json_t *run)
{
    const json_t *v = report_get(run, "verdict");
    if (json_is_null(v))
        return "not judged yet";
    return strcmp(report_str(run, "verdict"), "pass") == 0 ? "pass" : "fail";
}

const char *report_threshold_result(const json_t *threshold)
{
    const json_t *v = report_get(threshold, "pass");
    return json_is_null(v) ? "-" : json_is_true(v) ? "ok" : "FAIL";
}

const char *report_str(const json_t *run, const char *path)
{
    const char *s = json_string_value(report_get(run, path));
    return s ? s : "";
}

void report_html_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* Whether the character at s is one XML 1.0 forbids, even escaped: a control character but
 * tab, LF and CR, or U+FFFE or U+FFFF. Returns its length in bytes, 0 when it is allowed. */
static size_t xml_forbidden(const unsigned char *s)
{
    if (s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' && s[0] != '\r') return 1;
    return s[0] == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf) ? 3 : 0;
}

/* Writes s for an XML attribute or text: the special characters escaped as in HTML, and what
 * XML forbids (a JSON string may hold it: "\u0001") replaced by U+FFFD, so that a CI system
 * can always parse the JUnit file. */
void report_xml_escape(FILE *out, const char *s)
{
    char part[256];
    size_t n = 0;
    for (;;) {
        size_t bad = xml_forbidden((const unsigned char *)s);
        if (bad || !*s || n == sizeof part - 1) {
            part[n] = '\0';
            report_html_escape(out, part);
            n = 0;
        }
        if (!*s) return;
        if (bad) {
            fputs("\xef\xbf\xbd", out);
            s += bad;
        } else {
            part[n++] = *s++;
        }
    }
}

bool report_format_known(const char *format)
{
    static const char *const formats[] = {"json", "md", "html", "csv", "junit", "text", NULL};
    for (int i = 0; formats[i]; i++)
        if (strcmp(format, formats[i]) == 0)
            return true;
    return false;
}

int report_render(const void *run, const char *format, FILE *out, char *err, size_t errlen)
{
    const json_t *j = run;
    int rc;
    if (strcmp(report_str(j, "schema"), "herd.test/1") == 0 && strcmp(format, "json") != 0) {
        if (strcmp(format, "md") == 0)
            rc = report_test_markdown(j, out);
        else if (strcmp(format, "junit") == 0)
            rc = report_test_junit(j, out);
        else if (strcmp(format, "text") == 0)
            rc = report_test_text(j, out);
        else if (strcmp(format, "html") == 0)
            rc = report_test_html(j, out);
        else
            return err_set(err, errlen, "a test report is json, md, html, junit or text, not %s",
                           format);
    } else if (strcmp(format, "json") == 0)
        rc = json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) == 0 && fputc('\n', out) != EOF ? 0 : -1;
    else if (strcmp(format, "md") == 0)
        rc = report_markdown(j, out);
    else if (strcmp(format, "html") == 0)
        rc = report_html(j, out);
    else if (strcmp(format, "csv") == 0)
        rc = report_csv(j, out);
    else if (strcmp(format, "junit") == 0)
        rc = report_run_junit(j, out);
    else if (strcmp(format, "text") == 0)
        rc = report_text(j, out);
    else
        return err_set(err, errlen, "unknown report format '%s', expected json, md, html, csv, junit or text", format);
    if (rc < 0 || ferror(out))
        return err_set(err, errlen, "cannot write the %s report", format);
    return 0;
}

int report_write_file(const void *run, const char *format, const char *path, char *err,
                      size_t errlen)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return err_set(err, errlen, "out of memory");
    snprintf(tmp, len + 16, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        err_set(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = report_render(run, format, f, err, errlen);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = rc < 0 ? rc : err_set(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    fclose(f);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int report_file_name(const char *stem, const char *format, char *buf, size_t size)
{
    const char *ext = strcmp(format, "junit") == 0  ? "junit.xml"
                      : strcmp(format, "text") == 0 ? "txt"
                                                    : format;
    int n = snprintf(buf, size, "%s.%s", stem, ext);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int report_check_target(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return err_set(err, errlen, "%s: is a directory", path);
    char dir[1024];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return err_set(err, errlen, "%s: path too long", path);
    /* up from the file's directory to the first that exists */
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash) {
            snprintf(dir, sizeof dir, ".");
        } else if (slash == dir) {
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(dir, &st) == 0) break;
        if (errno != ENOENT || strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0)
            return err_set(err, errlen, "%s: %s: %s", path, dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(err, errlen, "%s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(err, errlen, "%s: cannot write in %s: %s", path, dir, strerror(errno));
    return 0;
}
