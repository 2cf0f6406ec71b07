/* Every sample of a shard in a list, for tests that compare what a faulty path delivers with what
 * the same shard gives when read from disk. */
#ifndef BCOS_TEST_SAMPLE_LIST_H
#define BCOS_TEST_SAMPLE_LIST_H

#include "bcos/samples.h"

#include <stdbool.h>

typedef struct {
    bcos_sample *items;
    int count;
    int status; /* what bcos_samples_next returned last: 0 or -1 */
    char error[1024];
} sl_list;

void sl_read(sl_list *list, const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters);
/* Same key, same members (extension and bytes) in the same order. */
bool sl_same_sample(const bcos_sample *a, const bcos_sample *b);
/* Whether got holds exactly want's samples, indexed from 0, skipping want's sample `skip` (-1: none) and stopping
 * after want_count of want's samples; on a difference, why says which. */
bool sl_equal(const sl_list *got, const sl_list *want, int want_count, int skip, char *why, size_t why_len);
void sl_free(sl_list *list);

#endif
