/* prom.c -- Prometheus text exposition format helpers. */
#include "http/prom.h"

void prom_label_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0) return;
    for (; *s && o + 3 <= size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[o++] = '\\';
            out[o++] = *s == '\n' ? 'n' : *s;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

int prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
    if (buf_printf(b, "# HELP %s ", name) < 0) return -1;
    for (; *help; help++) {
        int rc = *help == '\\'   ? buf_append_str(b, "\\\\")
                 : *help == '\n' ? buf_append_str(b, "\\n")
                                 : buf_append(b, help, 1);
        if (rc < 0) return -1;
    }
    return buf_printf(b, "\n# TYPE %s %s\n", name, type);
}
