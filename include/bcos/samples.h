/* WebDataset samples from tar shards. A shard (http://, https://, file:// or a path) is read as a
 * tar stream; a member's key is its path up to the first "." of its basename and the rest, lower-
 * cased, its extension. Consecutive members with the same key form a sample; a repeated extension
 * starts a new one. Members skipped, each counted by reason: "__*__" metadata (such a file anywhere, or
 * anything in such a top-level folder, as webdataset skips them), anything but regular
 * files, names longer than BCOS_NAME_MAX or with path tricks (absolute, ".."), names without key or
 * extension, payloads over BCOS_MEMBER_MAX_BYTES. Only jpg, jpeg, png, webp, txt, cls and json
 * payloads are kept. A broken shard costs the samples it cuts, counted, never the process. */
#ifndef BCOS_SAMPLES_H
#define BCOS_SAMPLES_H

#include "bcos/fetch.h"

#include <stddef.h>
#include <stdint.h>

#define BCOS_NAME_MAX 1024
#define BCOS_MEMBER_MAX_BYTES (64L << 20)
/* One member per kept extension: a repeated one starts the next sample. */
#define BCOS_SAMPLE_MAX_MEMBERS 7

/* Counters of the data plane, summed over the readers that share them (one per thread). */
typedef struct {
    long shards;              /* shards opened */
    long shards_failed;       /* shards that ended early: unreachable, not a tar, truncated, damaged */
    long samples;             /* samples delivered */
    long samples_lost;        /* samples in progress when their shard failed or a header was damaged */
    long samples_empty;       /* keys none of whose members was kept */
    long members_metadata;    /* "__*__" members, and members in a top-level "__*__" folder */
    long members_not_file;    /* directories, links, devices, fifos */
    long members_bad_name;    /* too long, absolute, with "..", or not text libarchive can read */
    long members_ignored;     /* no key or extension, or an extension not kept */
    long members_too_large;   /* payload over BCOS_MEMBER_MAX_BYTES */
    long headers_damaged;     /* runs of tar headers with bad checksums, skipped to the next good one */
    bcos_fetch_stats http;    /* transfers of the http(s) shards */
} bcos_data_counters;

void bcos_data_counters_add(bcos_data_counters *sum, const bcos_data_counters *c);

typedef struct {
    char ext[8]; /* lower-cased, one of the kept extensions */
    uint8_t *data;
    size_t size;
} bcos_sample_member;

typedef struct {
    char *key;
    char *shard;     /* URL (without credentials) or label of the shard it came from */
    int shard_index; /* its shard's position in the loader's URL list (the loader sets it; a reader alone gives 0) */
    long index;      /* position among the samples its shard delivered, from 0 */
    int n_members;
    bcos_sample_member members[BCOS_SAMPLE_MAX_MEMBERS];
} bcos_sample;

/* The member with extension ext, or NULL. */
const bcos_sample_member *bcos_sample_member_find(const bcos_sample *s, const char *ext);
/* Frees what the sample owns and empties it. */
void bcos_sample_clear(bcos_sample *s);

typedef struct bcos_sample_reader bcos_sample_reader;

/* A reader of one shard's samples; nothing is read before the first bcos_samples_next. opt applies
 * to http(s) URLs. counters, which must outlive the reader, are updated as it goes. */
bcos_sample_reader *bcos_samples_open(const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters);
/* The same over a tar in memory that the caller keeps alive (tests, fuzzing); label names it. */
bcos_sample_reader *bcos_samples_open_memory(const void *data, size_t size, const char *label,
                                             bcos_data_counters *counters);
/* The next sample into *out (which the caller then owns and clears): returns 1, or 0 at the end of
 * the shard, or -1 when the shard failed (bcos_samples_error says why; the samples delivered before
 * stand). After 0 or -1 the reader delivers nothing more. */
int bcos_samples_next(bcos_sample_reader *r, bcos_sample *out);
/* "SHARD: why it failed"; "" while it has not. */
const char *bcos_samples_error(const bcos_sample_reader *r);
void bcos_samples_close(bcos_sample_reader *r);

#endif
