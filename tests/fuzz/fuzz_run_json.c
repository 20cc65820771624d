/* fuzz_run_json.c -- what `herd report` reads: a saved run or test document (report_load, as
 * from a file), rendered in every format it has, and compared (--compare) with itself and
 * with a second document after a form feed, if any. A document compared with itself has no
 * regression; every format renders; the JUnit XML (of runs and of tests) stays well-formed
 * whatever the document's strings hold (CI systems parse it). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz_util.h"
#include "report/report.h"

static FILE *devnull;

/* Whether s starts an entity XML knows (&lt; &gt; &amp; &quot; &apos; &#N; &#xN;). */
static bool entity(const char *s)
{
    static const char *const names[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;", NULL};
    for (const char *const *n = names; *n; n++)
        if (strncmp(s, *n, strlen(*n)) == 0) return true;
    if (s[1] != '#') return false;
    size_t digits = strspn(s + 2, "x0123456789abcdefABCDEF");
    return digits > 0 && s[2 + digits] == ';';
}

/* Whether the character at s may be in an XML 1.0 document: not a control character but
 * tab, CR and LF, nor U+FFFE or U+FFFF. */
static bool xml_char(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0xef && u[1] == 0xbf && (u[2] == 0xbe || u[2] == 0xbf)) return false;
    return u[0] >= 0x20 || u[0] == '\t' || u[0] == '\n' || u[0] == '\r';
}

/* Checks the JUnit output: only the elements and attributes herd writes, every attribute
 * value quoted without '<' or a bare '&', text without a bare '<' or '&', and no character
 * XML forbids. Returns NULL, or what is wrong. */
static const char *junit_wrong(const char *xml)
{
    static const char *const elements[] = {"?xml", "testsuites", "testsuite", "testcase",
                                           "skipped", "error", "failure", "properties",
                                           "property", "system-out", NULL};
    const char *p = xml;
    while (*p) {
        if (!xml_char(p)) return "a character XML forbids";
        if (*p == '&' && !entity(p)) return "a bare '&'";
        if (*p == '>') return "a bare '>' in text";
        if (*p != '<') {
            p++;
            continue;
        }
        p++;
        bool closing = *p == '/';
        p += closing;
        size_t n = strcspn(p, " />");
        bool known = false;
        for (const char *const *e = elements; *e && !known; e++)
            known = strlen(*e) == n && strncmp(p, *e, n) == 0;
        if (!known) return "an element herd does not write";
        p += n;
        for (;;) {
            p += strspn(p, " ");
            if (*p == '>') break;
            if ((*p == '/' || *p == '?') && p[1] == '>') {
                p++;
                break;
            }
            size_t name = strspn(p, "abcdefghijklmnopqrstuvwxyz");
            if (closing || name == 0 || strncmp(p + name, "=\"", 2) != 0)
                return "a tag that is not name=\"value\" pairs";
            p += name + 2;
            for (; *p != '"'; p++) {
                if (!*p || *p == '<' || !xml_char(p)) return "an unclosed value";
                if (*p == '&' && !entity(p)) return "a bare '&' in a value";
            }
            p++;
        }
        p++;
    }
    return NULL;
}

static void render(const json_t *doc, const char *format)
{
    char *out = NULL, err[512] = "";
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) abort();
    if (report_render(doc, format, f, err, sizeof err) < 0) fuzz_fail("a format that fails", err);
    fclose(f);
    if (strlen(out) != len) fuzz_fail("a report with a NUL byte", format);
    const char *wrong = strcmp(format, "junit") == 0 ? junit_wrong(out) : NULL;
    if (wrong) fuzz_fail(wrong, out);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
    const uint8_t *split = memchr(data, '\f', size);
    size_t first = split ? (size_t)(split - data) : size;
    char path_a[64], path_b[64], err[1024];
    int fd_a = fuzz_file(data, first, path_a, sizeof path_a);
    json_t *a = report_load(path_a, err, sizeof err);
    if (!a && strncmp(err, path_a, strlen(path_a)) != 0)
        fuzz_fail("a document refused without naming the file", err);
    close(fd_a);
    if (!a) return 0;
    bool test_doc = strcmp(json_string_value(json_object_get(a, "schema")), "herd.test/1") == 0;
    static const char *const run_formats[] = {"json", "md", "html", "csv", "junit", "text", NULL};
    static const char *const test_formats[] = {"json", "md", "html", "junit", "text", NULL};
    for (const char *const *f = test_doc ? test_formats : run_formats; *f; f++)
        render(a, *f);
    if (report_compare(a, a, "old", "new", 0.1, devnull, err, sizeof err) != 0)
        fuzz_fail("a document that regressed against itself", "(the input)");
    if (split) {
        int fd_b = fuzz_file(split + 1, size - first - 1, path_b, sizeof path_b);
        json_t *b = report_load(path_b, err, sizeof err);
        close(fd_b);
        err[0] = '\0';
        if (b && report_compare(a, b, "old", "new", 0.1, devnull, err, sizeof err) < 0 && !err[0])
            fuzz_fail("documents that cannot be compared, without a message", "");
        json_decref(b);
    }
    json_decref(a);
    return 0;
}
