/* A shard as a stream of checked tar members: opens the shard's bytes (local file, http(s) stream
 * or memory) with libarchive's tar reader, skips and counts the members the data plane does not
 * take, splits names into key and extension, and reads the payloads that are kept. */
#ifndef BCOS_TAR_STREAM_H
#define BCOS_TAR_STREAM_H

#include "bcos/fetch.h"
#include "bcos/samples.h"

#include <stdbool.h>

typedef enum {
    TAR_FAILED = -1, /* the shard cannot be read further; error says why */
    TAR_END = 0,
    TAR_MEMBER = 1,
    TAR_DAMAGED = 2, /* a damaged header was skipped: the member it described is lost */
} tar_status;

typedef struct {
    char key[BCOS_NAME_MAX + 1];
    char ext[8];    /* lower-cased; "" when the extension is not kept */
    uint8_t *data;  /* kept payloads only; the caller frees it */
    size_t size;
} tar_member;

typedef struct {
    struct archive *a;
    bcos_http_stream *http; /* http(s) shards */
    bcos_fetch_stats http_counted; /* of http's counts, those already added to the counters */
    char *url;              /* URL or label */
    char *shown_url;        /* url without its credentials, for messages and samples */
    const void *memory;     /* memory shards */
    size_t memory_size;
    bcos_fetch_options opt;
    bool opened, ended, in_damage;
    bcos_data_counters *counters;
    char error[1024];
} tar_stream;

/* Nothing is read before the first tar_stream_next. */
void tar_stream_open_url(tar_stream *t, const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters);
void tar_stream_open_memory(tar_stream *t, const void *data, size_t size, const char *label,
                            bcos_data_counters *counters);
/* The next member of a key.ext name, skipping (and counting) the others. When the payload of a
 * member cannot be read, returns TAR_FAILED with m->key set to its key (otherwise "" on failure). */
tar_status tar_stream_next(tar_stream *t, tar_member *m);
void tar_stream_close(tar_stream *t);

#endif
