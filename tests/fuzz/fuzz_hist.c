/* fuzz_hist.c -- hist_decode (a histogram as runs and reports carry it). The input is decoded
 * as it is, and base64-encoded first so that most inputs reach the varints; whatever decodes
 * must encode back to a histogram that decodes to the same one. */
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "stats/hist.h"

static void check_roundtrip(struct hist *h, struct hist *back, const char *text)
{
    char err[256];
    hist_percentile(h, 50);
    hist_percentile(h, 99.9);
    hist_mean(h);
    if (h->total && (hist_percentile(h, 1) < h->min || hist_percentile(h, 99) > h->max))
        fuzz_fail("a percentile outside min..max", text);
    char *again = hist_encode(h);
    if (!again) abort();
    if (hist_decode(back, again, err, sizeof err) < 0) fuzz_fail(err, again);
    if (back->total != h->total || back->min != h->min || back->max != h->max ||
        back->sum != h->sum || back->clamped != h->clamped ||
        memcmp(back->counts, h->counts, sizeof h->counts) != 0)
        fuzz_fail("decode(encode(h)) differs from h", text);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hist *h, *back;
    if (!h && (!(h = hist_new()) || !(back = hist_new()))) abort();
    char err[256];
    char *text = fuzz_string(data, size);
    if (hist_decode(h, text, err, sizeof err) == 0) check_roundtrip(h, back, text);
    else if (h->total) fuzz_fail("a refused encoding left counts behind", text);
    free(text);

    size_t cap = 4 * ((size + 2) / 3) + 1;
    char *b64 = malloc(cap);
    if (!b64) abort();
    if (b64_ntop(data, size, b64, cap) >= 0) {
        if (hist_decode(h, b64, err, sizeof err) == 0) check_roundtrip(h, back, b64);
        else if (h->total) fuzz_fail("a refused encoding left counts behind", b64);
    }
    free(b64);
    return 0;
}
