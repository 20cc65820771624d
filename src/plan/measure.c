/* measure.c -- the checks' measurement math (see measure.h). */
#include "plan/measure.h"

#include <math.h>
#include <stdlib.h>

#include "stats/hist.h"

bool measure_ok(const struct load_record *r)
{
    return r->cls == COUNTER_OK;
}

struct measure_failed measure_failed_since(const struct load_record *r, size_t n, int64_t fault_us)
{
    struct measure_failed f = {0};
    for (size_t i = 0; i < n; i++) {
        if (measure_ok(&r[i]) || r[i].end_us < fault_us) continue;
        f.total++;
        if (r[i].sent_us < fault_us)
            f.in_flight_at_fault++;
        else
            f.sent_after_fault++;
    }
    return f;
}

double measure_throughput(const struct load_record *r, size_t n, int64_t from_us, int64_t to_us)
{
    if (to_us <= from_us) return NAN;
    uint64_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += r[i].cls < COUNTER_CLASSES && r[i].end_us >= from_us && r[i].end_us < to_us;
    return (double)count / ((double)(to_us - from_us) / 1e6);
}

double measure_latency_ms(const struct load_record *r, size_t n, int64_t from_us, int64_t to_us,
                          double p)
{
    struct hist *h = hist_new();
    if (!h) return NAN;
    for (size_t i = 0; i < n; i++)
        if (r[i].cls < COUNTER_CLASSES && r[i].sent_us >= from_us && r[i].sent_us < to_us)
            hist_record(
                h, (uint64_t)(r[i].end_us > r[i].intended_us ? r[i].end_us - r[i].intended_us : 0));
    double v = h->total ? (double)hist_percentile(h, p) / 1000 : NAN;
    hist_free(h);
    return v;
}

double measure_rejoin_ms(const struct load_record *r, size_t n, uint32_t node, int64_t recovered_us)
{
    int64_t first = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (measure_ok(&r[i]) && (node == MEASURE_ANY_NODE || r[i].node == node) &&
            r[i].sent_us >= recovered_us &&
            r[i].end_us < first)
            first = r[i].end_us;
    return first == INT64_MAX ? NAN : (double)(first - recovered_us) / 1000;
}

double measure_failover_ms(const struct load_record *r, size_t n, int64_t fault_us,
                           int64_t sends_ended_us, int64_t window_us, double baseline)
{
    if (window_us <= 0 || sends_ended_us - fault_us < window_us) return NAN;
    size_t count = (size_t)((sends_ended_us - fault_us) / window_us); /* whole windows only */
    uint32_t *answers = calloc(count, sizeof *answers), *ok = calloc(count, sizeof *ok);
    bool any_ok = false;
    double out = NAN;
    if (answers && ok) {
        for (size_t i = 0; i < n; i++) {
            any_ok |= measure_ok(&r[i]);
            if (r[i].cls >= COUNTER_CLASSES || r[i].end_us < fault_us) continue;
            size_t w = (size_t)((r[i].end_us - fault_us) / window_us);
            if (w >= count) continue;
            answers[w]++;
            ok[w] += measure_ok(&r[i]);
        }
        size_t after_last_bad = 0;
        for (size_t w = 0; w < count; w++)
            if (answers[w] == 0 || (double)ok[w] / (double)answers[w] < baseline)
                after_last_bad = w + 1;
        if (any_ok && after_last_bad < count)
            out = (double)after_last_bad * (double)window_us / 1000;
    }
    free(answers);
    free(ok);
    return out;
}

/* Upper regularized incomplete gamma Q(s, x): series below s + 1, continued fraction above. */
static double gamma_q(double s, double x)
{
    if (x <= 0) return 1.0;
    double lg = lgamma(s);
    if (x < s + 1) {
        double sum = 1.0 / s, term = sum;
        for (int n = 1; n < 1000; n++) {
            term *= x / (s + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + s * log(x) - lg);
    }
    double b = x + 1 - s, c = 1e300, d = 1 / b, h = d; /* Lentz */
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - s);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return exp(-x + s * log(x) - lg) * h;
}

double measure_chi2_p_value(double chi2, int dof)
{
    return dof > 0 ? gamma_q(dof / 2.0, chi2 / 2.0) : 1.0;
}

uint64_t measure_shares(const uint64_t *counts, const double *weights, size_t k,
                        struct measure_shares *out)
{
    uint64_t total = 0;
    double wsum = 0;
    for (size_t i = 0; i < k; i++) {
        total += counts[i];
        wsum += weights[i];
    }
    if (total == 0 || wsum <= 0) {
        *out = (struct measure_shares){NAN, NAN, NAN, NAN};
        return 0;
    }
    double chi2 = 0, max_dev = 0, max_off = 0;
    for (size_t i = 0; i < k; i++) {
        double expected = weights[i] / wsum * (double)total;
        double off = fabs((double)counts[i] - expected);
        if (expected > 0) {
            chi2 += off * off / expected;
            if (off / expected > max_dev) max_dev = off / expected;
        } else if (counts[i] > 0) {
            max_dev = INFINITY; /* answers from a node expected to take none */
        }
        if (off > max_off) max_off = off;
    }
    *out = (struct measure_shares){chi2, measure_chi2_p_value(chi2, (int)k - 1), max_dev, max_off};
    return total;
}

double measure_detection_clients_ms(const struct load_record *r, size_t n, uint32_t node,
                                    uint32_t unknown, int64_t fault_us, int64_t until_us)
{
    int64_t last_failed_sent = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        bool its = r[i].node == node || (unknown != MEASURE_ANY_NODE && r[i].node == unknown);
        if (its && r[i].cls < COUNTER_CLASSES && !measure_ok(&r[i]) && r[i].end_us >= fault_us &&
            r[i].sent_us < until_us && r[i].sent_us > last_failed_sent)
            last_failed_sent = r[i].sent_us;
    }
    if (last_failed_sent == INT64_MIN) return NAN;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (r[i].cls < COUNTER_CLASSES && r[i].sent_us > last_failed_sent &&
            r[i].sent_us < until_us && r[i].sent_us < next)
            next = r[i].sent_us;
    if (next == INT64_MAX) return NAN;
    return next > fault_us ? (double)(next - fault_us) / 1000 : 0; /* in flight at the fault */
}
