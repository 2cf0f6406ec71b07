/* Known sample counts of shards, for epoch planning (bcos/shard_plan.h): batch counts come from counts
 * known in advance, never from assuming that shards are equal. A shard's count comes from, in order:
 *   1. sizes.json beside it ({"NAME.tar": count, ...}: what `bcos shards write` writes and open_clip's
 *      training reads), local or over http(s);
 *   2. the count cache, where earlier counts are kept: CACHE/shard-sizes/<hash of the folder>.json, for
 *      local shards checked against the file's size and modification time, for remote ones kept until
 *      the cache file is removed (no request is spent on checking them);
 *   3. reading the shard once and counting its samples as bcos_samples_next delivers them; the count then
 *      goes into the cache (never beside the shards: dataset folders are often read-only or shared).
 * A shard that cannot be read while counting, or a sizes.json that is not such a mapping, is an error. */
#ifndef BCOS_SHARD_SIZES_H
#define BCOS_SHARD_SIZES_H

#include "bcos/fetch.h"

#include <stddef.h>

typedef enum { BCOS_SIZE_FROM_SIZES_JSON, BCOS_SIZE_FROM_CACHE, BCOS_SIZE_COUNTED } bcos_size_source;

const char *bcos_size_source_name(bcos_size_source s); /* "sizes.json", "cache", "counted" */

/* The cache folder: $BCOS_CACHE_DIR, else $XDG_CACHE_HOME/bcos, else $HOME/.cache/bcos. Returns a heap
 * string, or NULL when none of these variables is set. */
char *bcos_cache_dir(void);

/* Fills counts[i] (and sources[i] unless NULL) for each of the n URLs. opt applies to http(s) URLs;
 * cache_dir NULL means bcos_cache_dir(), and without any cache folder counts are not kept. The
 * transfers' counts (sizes.json and counting, retries included) are added to *fetched unless NULL.
 * Returns 0, or -1 with a one-line message naming the shard or file at fault; a remote sizes.json
 * that the server fails to give (after the retries) is such a fault, only a 404 or 410 says that
 * there is none. */
int bcos_shard_sizes(long *counts, bcos_size_source *sources, const char *const *urls, int n,
                     const bcos_fetch_options *opt, const char *cache_dir, bcos_fetch_stats *fetched, char *err,
                     size_t errlen);

#endif
