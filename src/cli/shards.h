/* The sources of `bcos shards write` seen alike by the command: a count of samples, class names when the
 * source has classes, and a function that assembles sample i's members. */
#ifndef BCOS_CLI_SHARDS_H
#define BCOS_CLI_SHARDS_H

#include "bcos/samples.h"

#include <stdbool.h>

typedef struct shard_source shard_source;

struct shard_source {
    long count;
    int n_classes;    /* 0 for caption sources */
    char **classes;   /* n_classes names */
    char **templates; /* with --captions: a .txt per sample from template i mod n_templates */
    int n_templates;
    /* Fills m with sample i's members (their data on the heap); returns how many, or -1 with err. */
    int (*sample)(const shard_source *src, long i, bcos_sample_member *m, char *err, size_t errlen);
    void (*free)(shard_source *src);
    void *state;
};

/* Each opens its source or fails with one line naming the culprit. */
void shard_source_folder(shard_source *src, const char *root);
void shard_source_idx(shard_source *src, const char *images, const char *labels);
void shard_source_coco(shard_source *src, const char *images_dir, const char *annotations);

/* The image files of the Fashion-MNIST split ("train" or "test") under dir, and its ten class names. */
void shard_fashion_mnist_paths(const char *dir, const char *split, char **images, char **labels);
extern const char *const SHARD_FASHION_MNIST_CLASSES[10];

/* Replaces the source's class names (a file of one per line): as many as it has, or for IDX at least
 * as many as its labels need. */
void shard_source_rename_classes(shard_source *src, char **names, int n);

#endif
