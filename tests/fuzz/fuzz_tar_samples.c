/* libFuzzer target for tar streaming and sample grouping: any bytes, read as a tar through
 * libarchive's memory reader, must end in samples or a reported failure, and every sample must keep
 * the grouping's promises (a safe non-empty key, one to seven kept members with distinct extensions,
 * indices counting up from 0) and the counters must agree with what was delivered. */
#include "bcos/samples.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sample(const bcos_sample *s, long index) {
    if (s->index != index || !s->key[0] || s->key[0] == '/' || strlen(s->key) > BCOS_NAME_MAX) abort();
    if (strstr(s->key, "../") == s->key || strstr(s->key, "/../")) abort();
    if (s->n_members < 1 || s->n_members > BCOS_SAMPLE_MAX_MEMBERS || strcmp(s->shard, "fuzz.tar") != 0) abort();
    for (int i = 0; i < s->n_members; i++) {
        if (bcos_sample_member_find(s, s->members[i].ext) != &s->members[i]) abort();
        if (s->members[i].size > BCOS_MEMBER_MAX_BYTES || (s->members[i].size && !s->members[i].data)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bcos_data_counters c = {0};
    bcos_sample_reader *r = bcos_samples_open_memory(data, size, "fuzz.tar", &c);
    bcos_sample s;
    long n = 0;
    int rc;
    while ((rc = bcos_samples_next(r, &s)) == 1) {
        check_sample(&s, n++);
        bcos_sample_clear(&s);
    }
    const char *error = bcos_samples_error(r);
    if ((rc == -1) != (error[0] != '\0') || strncmp(error, rc ? "fuzz.tar: " : "", rc ? 10 : 0) != 0) abort();
    if (c.samples != n || c.shards != 1 || c.shards_failed != (rc == -1)) abort();
    bcos_samples_close(r);
    return 0;
}
