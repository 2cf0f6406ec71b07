/* Sample lists for tests: read a whole shard, compare two lists sample by sample. */
#include "support/sample_list.h"

#include "bcos/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_read(sl_list *list, const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters) {
    memset(list, 0, sizeof *list);
    bcos_sample_reader *r = bcos_samples_open(url, opt, counters);
    bcos_sample s;
    int rc;
    while ((rc = bcos_samples_next(r, &s)) == 1) {
        list->items = xrealloc(list->items, (size_t)(list->count + 1) * sizeof *list->items);
        list->items[list->count++] = s;
    }
    list->status = rc;
    snprintf(list->error, sizeof list->error, "%s", bcos_samples_error(r));
    bcos_samples_close(r);
}

bool sl_same_sample(const bcos_sample *a, const bcos_sample *b) {
    if (strcmp(a->key, b->key) != 0 || a->n_members != b->n_members) return false;
    for (int i = 0; i < a->n_members; i++) {
        const bcos_sample_member *x = &a->members[i], *y = &b->members[i];
        if (strcmp(x->ext, y->ext) != 0 || x->size != y->size || memcmp(x->data, y->data, x->size) != 0) return false;
    }
    return true;
}

bool sl_equal(const sl_list *got, const sl_list *want, int want_count, int skip, char *why, size_t why_len) {
    int expected = want_count - (skip >= 0 && skip < want_count);
    if (got->count != expected) {
        snprintf(why, why_len, "%d samples, expected %d", got->count, expected);
        return false;
    }
    for (int i = 0, j = 0; i < got->count; i++, j++) {
        if (j == skip) j++;
        if (got->items[i].index != i) {
            snprintf(why, why_len, "sample %d has index %ld", i, got->items[i].index);
            return false;
        }
        if (!sl_same_sample(&got->items[i], &want->items[j])) {
            snprintf(why, why_len, "sample %d ('%s') differs from '%s'", i, got->items[i].key, want->items[j].key);
            return false;
        }
    }
    return true;
}

void sl_free(sl_list *list) {
    for (int i = 0; i < list->count; i++) bcos_sample_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}
