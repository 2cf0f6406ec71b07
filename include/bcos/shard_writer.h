/* Writing WebDataset shards: samples go, in order, into numbered uncompressed tars DIR/0.tar, DIR/1.tar
 * ... (POSIX ustar headers, with a pax extended header only for a name ustar cannot hold), each member
 * named KEY.EXT. A shard is complete when it holds max_samples samples or the next sample would take
 * it over max_bytes; it is written to a temporary file, flushed to disk and renamed into place, so a
 * shard under its final name is always whole. Closing writes DIR/sizes.json, the sample count of each
 * shard keyed by file name ({"0.tar": 1000, ...}, the file open_clip's training reads beside shards), and
 * then DIR/nshards.txt (CLIP_benchmark's layout), the last file written. Members carry mode 0644, owner 0
 * and time 0, so the same samples give the same bytes. */
#ifndef BCOS_SHARD_WRITER_H
#define BCOS_SHARD_WRITER_H

#include "bcos/samples.h"

#include <stdbool.h>

typedef struct {
    long max_samples;    /* per shard, at least 1 */
    long long max_bytes; /* per shard, headers and padding included; 0: no cap. A sample larger than
                          * the cap gets a shard of its own. */
    bool overwrite;      /* replace the shards of an earlier run in DIR (else DIR must hold none) */
} bcos_shard_limits;

typedef struct bcos_shard_writer bcos_shard_writer;

/* Starts writing into dir, created when missing. Returns NULL with a one-line message when dir cannot
 * be created or already holds shards and overwrite is false. */
bcos_shard_writer *bcos_shard_writer_open(const char *dir, const bcos_shard_limits *limits, char *err,
                                          size_t errlen);

/* Appends one sample of n members (distinct extensions, as the reader keeps them: lower case, one of
 * jpg, jpeg, png, webp, txt, cls, json). The key is a relative path without "..", without "." in its
 * last component (the reader splits the name at the first dot there), not "__*__" metadata (nor in a
 * top-level "__*__" folder), and
 * different from the previous sample's key (the reader would join the two). Returns 0, or -1 with a
 * one-line message naming the key or the shard. A refused sample leaves the writer as it was; after a
 * failed write (disk full, say) it can only be aborted. */
int bcos_shard_writer_add(bcos_shard_writer *w, const char *key, const bcos_sample_member *members, int n,
                          char *err, size_t errlen);

/* Samples added so far and shards begun. */
long bcos_shard_writer_samples(const bcos_shard_writer *w);
int bcos_shard_writer_shards(const bcos_shard_writer *w);

/* Completes the last shard, writes sizes.json and nshards.txt, and (with overwrite) removes the
 * numbered shards of an earlier run past the last one. Frees w. Returns 0, or -1 with a message. A run
 * without samples writes no shard and fails. */
int bcos_shard_writer_close(bcos_shard_writer *w, char *err, size_t errlen);
/* Gives up: removes the shard in progress (complete shards stay, nshards.txt is not written). */
void bcos_shard_writer_abort(bcos_shard_writer *w);

#endif
