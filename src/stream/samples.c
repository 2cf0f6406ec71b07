/* WebDataset sample grouping: consecutive tar members sharing a key become one sample, the way
 * webdataset's group_by_keys does it; a repeated extension or a new key closes the sample. Members
 * whose extension is not kept still end the sample of another key, as they do in webdataset. */
#include "bcos/samples.h"

#include "bcos/check.h"
#include "tar_stream.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct bcos_sample_reader {
    tar_stream tar;
    bcos_data_counters *counters;
    bcos_sample next;  /* the sample being gathered; key NULL when none */
    long delivered;
    bool done;
};

void bcos_data_counters_add(bcos_data_counters *sum, const bcos_data_counters *c) {
    sum->shards += c->shards;
    sum->shards_failed += c->shards_failed;
    sum->samples += c->samples;
    sum->samples_lost += c->samples_lost;
    sum->samples_empty += c->samples_empty;
    sum->members_metadata += c->members_metadata;
    sum->members_not_file += c->members_not_file;
    sum->members_bad_name += c->members_bad_name;
    sum->members_ignored += c->members_ignored;
    sum->members_too_large += c->members_too_large;
    sum->headers_damaged += c->headers_damaged;
    bcos_fetch_stats_add(&sum->http, &c->http);
}

const bcos_sample_member *bcos_sample_member_find(const bcos_sample *s, const char *ext) {
    for (int i = 0; i < s->n_members; i++)
        if (strcmp(s->members[i].ext, ext) == 0) return &s->members[i];
    return NULL;
}

void bcos_sample_clear(bcos_sample *s) {
    for (int i = 0; i < s->n_members; i++) free(s->members[i].data);
    free(s->key);
    free(s->shard);
    memset(s, 0, sizeof *s);
}

static bcos_sample_reader *reader_new(bcos_data_counters *counters) {
    bcos_sample_reader *r = xcalloc(1, sizeof *r);
    r->counters = counters;
    return r;
}

bcos_sample_reader *bcos_samples_open(const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters) {
    bcos_sample_reader *r = reader_new(counters);
    tar_stream_open_url(&r->tar, url, opt, counters);
    return r;
}

bcos_sample_reader *bcos_samples_open_memory(const void *data, size_t size, const char *label,
                                             bcos_data_counters *counters) {
    bcos_sample_reader *r = reader_new(counters);
    tar_stream_open_memory(&r->tar, data, size, label, counters);
    return r;
}

/* Whether member m belongs to the sample being gathered. */
static bool continues_sample(const bcos_sample *s, const tar_member *m) {
    if (!s->key || strcmp(s->key, m->key) != 0) return false;
    return m->ext[0] == '\0' || bcos_sample_member_find(s, m->ext) == NULL;
}

static void start_sample(bcos_sample_reader *r, const tar_member *m) {
    r->next.key = xstrdup(m->key);
    r->next.shard = xstrdup(r->tar.shown_url);
}

static void add_member(bcos_sample *s, tar_member *m) {
    if (m->ext[0] == '\0') return;
    bcos_sample_member *dst = &s->members[s->n_members++];
    memcpy(dst->ext, m->ext, sizeof dst->ext);
    dst->data = m->data;
    dst->size = m->size;
    m->data = NULL;
}

/* Hands the gathered sample to out; returns 1, or 0 when it had no kept member and was dropped. */
static int deliver(bcos_sample_reader *r, bcos_sample *out) {
    bcos_sample s = r->next;
    memset(&r->next, 0, sizeof r->next);
    if (s.n_members == 0) {
        r->counters->samples_empty++;
        bcos_sample_clear(&s);
        return 0;
    }
    s.index = r->delivered++;
    r->counters->samples++;
    *out = s;
    return 1;
}

static void drop_gathered(bcos_sample_reader *r) {
    if (!r->next.key) return;
    r->counters->samples_lost++;
    bcos_sample_clear(&r->next);
}

/* The shard ended or failed (m's key names the member cut off, "" when a header was). A member cut
 * off under a key of its own loses only its sample; otherwise the gathered sample may be missing
 * members and is dropped. Returns 1 when the gathered sample went to out. */
static int finish_shard(bcos_sample_reader *r, tar_status st, const tar_member *m, bcos_sample *out) {
    r->done = true;
    if (st == TAR_FAILED) {
        bool cut_own = m->key[0] && !(r->next.key && continues_sample(&r->next, m));
        if (cut_own)
            r->counters->samples_lost++;
        else
            drop_gathered(r);
    }
    return r->next.key ? deliver(r, out) : 0;
}

int bcos_samples_next(bcos_sample_reader *r, bcos_sample *out) {
    memset(out, 0, sizeof *out);
    while (!r->done) {
        tar_member m;
        tar_status st = tar_stream_next(&r->tar, &m);
        if (st == TAR_DAMAGED) {
            drop_gathered(r);
            continue;
        }
        if (st == TAR_MEMBER) {
            int got = 0;
            if (r->next.key && !continues_sample(&r->next, &m)) got = deliver(r, out);
            if (!r->next.key) start_sample(r, &m);
            add_member(&r->next, &m);
            if (got) return 1;
            continue;
        }
        if (finish_shard(r, st, &m, out)) return 1;
    }
    return r->tar.error[0] ? -1 : 0;
}

const char *bcos_samples_error(const bcos_sample_reader *r) { return r->tar.error; }

void bcos_samples_close(bcos_sample_reader *r) {
    if (!r) return;
    bcos_sample_clear(&r->next);
    tar_stream_close(&r->tar);
    free(r);
}
