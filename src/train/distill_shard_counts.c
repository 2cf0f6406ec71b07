/* Known sample counts of the distill shards, taken by reading every shard once and counting the
 * samples the reader delivers. This stands in for bcos_shard_sizes (sizes.json beside the shards,
 * then a count cache) until that is merged; distill_shard_counts is its one caller-facing piece. */
#include <stdio.h>

#include "bcos/log.h"
#include "distill_shards.h"

int distill_shard_counts(long *counts, const char *const *urls, int n, const bcos_fetch_options *opt, char *err,
                         size_t errlen) {
    bcos_data_counters counters = {0};
    long total = 0;
    double started = bcos_now_seconds();
    for (int i = 0; i < n; i++) {
        bcos_sample_reader *reader = bcos_samples_open(urls[i], opt, &counters);
        bcos_sample s = {0};
        int rc;
        counts[i] = 0;
        while ((rc = bcos_samples_next(reader, &s)) == 1) {
            counts[i]++;
            bcos_sample_clear(&s);
        }
        if (rc < 0) snprintf(err, errlen, "cannot count the samples of a shard: %s", bcos_samples_error(reader));
        bcos_samples_close(reader);
        if (rc < 0) return -1;
        total += counts[i];
    }
    bcos_info("shards: counted %ld samples in %d shards by reading them once (%.1f s)", total, n,
              bcos_now_seconds() - started);
    return 0;
}
