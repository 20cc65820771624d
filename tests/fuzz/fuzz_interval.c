/* fuzz_interval.c -- the interval bodies workers post (dist_intervals_parse_body): whatever is
 * accepted encodes back to an interval that decodes to the same counters, statuses,
 * connections and error, and adds up. */
#include <stdlib.h>
#include <string.h>

#include "dist/interval.h"
#include "fuzz_util.h"

static struct dist_interval scratch, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch.hist && (dist_interval_init(&scratch) < 0 || dist_interval_init(&again) < 0))
        abort();
    char err[512];
    json_t *list = dist_intervals_parse_body((const char *)data, size, &scratch, err, sizeof err);
    if (!list) {
        if (!err[0])
            fuzz_fail("a refused interval body without a message", "");
        return 0;
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (dist_interval_from_json(&scratch, json_array_get(list, i), NULL, err, sizeof err) < 0)
            fuzz_fail("an accepted interval that does not decode alone", err);
        uint64_t sum = 0;
        for (int c = 0; c < COUNTER_CLASSES; c++)
            sum += scratch.counters.by_class[c];
        if (sum != scratch.counters.requests)
            fuzz_fail("accepted counters that do not add up", "");
        json_t *j = dist_interval_to_json(&scratch);
        if (!j || dist_interval_from_json(&again, j, NULL, err, sizeof err) < 0)
            fuzz_fail("an accepted interval that does not survive its own encoding", err);
        if (memcmp(&scratch.counters, &again.counters, sizeof again.counters) != 0 ||
            scratch.hist->total != again.hist->total || scratch.node_count != again.node_count ||
            scratch.seq != again.seq || scratch.second_us != again.second_us ||
            scratch.status_count != again.status_count ||
            scratch.has_connections != again.has_connections || scratch.clients != again.clients ||
            scratch.connects != again.connects ||
            scratch.connections_peak != again.connections_peak ||
            strcmp(scratch.error, again.error) != 0)
            fuzz_fail("an interval that changed in a round trip", "");
        for (size_t k = 0; k < scratch.status_count; k++)
            if (scratch.statuses[k].code != again.statuses[k].code ||
                scratch.statuses[k].count != again.statuses[k].count)
                fuzz_fail("a status that changed in a round trip", "");
        json_decref(j);
    }
    json_decref(list);
    return 0;
}
