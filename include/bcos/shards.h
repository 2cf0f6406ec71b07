/* Datasets into WebDataset shards, what `bcos shards write` does: the sources (an image folder tree as
 * torchvision's ImageFolder reads it, IDX files such as Fashion-MNIST's, COCO-style captions) seen
 * alike as a count of samples and a function assembling sample i's members, and the shard writer.
 *
 * The writer: samples go, in order, into numbered uncompressed tars DIR/0.tar, DIR/1.tar
 * ... (POSIX ustar headers, with a pax extended header only for a name ustar cannot hold), each member
 * named KEY.EXT. A shard is complete when it holds max_samples samples or the next sample would take
 * it over max_bytes; it is written to a temporary file, flushed to disk and renamed into place, so a
 * shard under its final name is always whole. Closing writes DIR/sizes.json, the sample count of each
 * shard keyed by file name ({"0.tar": 1000, ...}, the file open_clip's training reads beside shards), and
 * then DIR/nshards.txt (CLIP_benchmark's layout), the last file written. Members carry mode 0644, owner 0
 * and time 0, so the same samples give the same bytes. */
#ifndef BCOS_SHARDS_H
#define BCOS_SHARDS_H

#include "bcos/samples.h"

#include <stdbool.h>
#include <stddef.h>

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

/* A dataset seen as samples: sample i's members come from sample(). Opened by one of the
 * bcos_shard_source_* functions below, freed with bcos_shard_source_free. */
typedef struct bcos_shard_source bcos_shard_source;

struct bcos_shard_source {
    long count;
    int n_classes;  /* 0 for caption sources */
    char **classes; /* n_classes names, owned */
    /* NULL, or n_templates x n_classes captions (the caller's): row t holds template t filled with each
     * class name, and sample i of label c gets a .txt of captions[(i mod n_templates) * n_classes + c]. */
    char *const *captions;
    int n_templates;
    /* Fills m with sample i's members (their data on the heap); returns how many, or -1 with err. */
    int (*sample)(const bcos_shard_source *src, long i, bcos_sample_member *m, char *err, size_t errlen);
    void (*free)(bcos_shard_source *src);
    void *state;
};

/* Each opens its source: 0, or -1 with a one-line message naming the culprit (nothing to free).
 * folder: ROOT/CLASS/.../IMAGE, images copied as they are with a .cls from the sorted class folders.
 * idx: IDX images [N,H,W] (written as grey PNG) and labels [N], classes named by number.
 * coco: each image, a .txt of its captions (one per line) and a .json of its entry. */
int bcos_shard_source_folder(bcos_shard_source *src, const char *root, char *err, size_t errlen);
int bcos_shard_source_idx(bcos_shard_source *src, const char *images, const char *labels, char *err, size_t errlen);
int bcos_shard_source_coco(bcos_shard_source *src, const char *images_dir, const char *annotations, char *err,
                           size_t errlen);
/* Replaces the source's class names: as many as it has, or for IDX at least as many as its labels need.
 * 0, or -1 with a message. */
int bcos_shard_source_rename_classes(bcos_shard_source *src, char *const *names, int n, char *err, size_t errlen);
void bcos_shard_source_free(bcos_shard_source *src);

/* The IDX files of the Fashion-MNIST split ("train" or "test") under dir (heap strings), and its ten
 * class names. 0, or -1 with a message when the split is unknown or its images cannot be read. */
int bcos_fashion_mnist_paths(const char *dir, const char *split, char **images, char **labels, char *err,
                             size_t errlen);
extern const char *const BCOS_FASHION_MNIST_CLASSES[10];

/* Writes every sample of src into shards in dir, sample order[k] as the k-th, keyed s0000000,
 * s0000001, ... in writing order, with a progress line. Sets *shards to the shards written. 0, or -1
 * with a message naming the culprit (the shard in progress removed). */
int bcos_shards_write(const bcos_shard_source *src, const int *order, const char *dir,
                      const bcos_shard_limits *limits, int *shards, char *err, size_t errlen);

#endif
