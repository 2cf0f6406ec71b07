/* The shard sources (bcos/shards.h): an image folder tree (image bytes as they are, .cls from the sorted
 * class folders), IDX files (images encoded as grey PNG, .cls from the labels) and COCO-style captions
 * (image bytes, .txt with one caption per line, .json with the image's entry); class sources add a .txt
 * caption from the caller's filled templates when asked. */
#include "bcos/shards.h"

#include "shards_internal.h"

#include "bcos/check.h"
#include "bcos/image.h"
#include "bcos/log.h"
#include "bcos/progress.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const BCOS_FASHION_MNIST_CLASSES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

int bcos_fashion_mnist_paths(const char *dir, const char *split, char **images, char **labels, char *err,
                             size_t errlen) {
    const char *stem = strcmp(split, "train") == 0 ? "train" : strcmp(split, "test") == 0 ? "t10k" : NULL;
    *images = *labels = NULL;
    if (!stem) return bcos_error(err, errlen, NULL, "--fashion-mnist has the splits train and test, not '%s' (--split)", split);
    *images = bcos_strfmt("%s/%s-images-idx3-ubyte.gz", dir, stem);
    *labels = bcos_strfmt("%s/%s-labels-idx1-ubyte.gz", dir, stem);
    if (access(*images, R_OK) != 0) {
        bcos_error(err, errlen, *images, "cannot read it (install Debian's dataset-fashion-mnist, or give --fashion-mnist=DIR)");
        free(*images), free(*labels);
        *images = *labels = NULL;
        return -1;
    }
    return 0;
}

static void set_classes(bcos_shard_source *src, char *const *names, int n) {
    for (int c = 0; c < src->n_classes; c++) free(src->classes[c]);
    free(src->classes);
    src->n_classes = n;
    src->classes = xcalloc((size_t)n, sizeof *src->classes);
    for (int c = 0; c < n; c++) src->classes[c] = xstrdup(names[c]);
}

static bcos_sample_member text_member(const char *ext, char *text) {
    bcos_sample_member m = {.data = (uint8_t *)text, .size = strlen(text)};
    snprintf(m.ext, sizeof m.ext, "%s", ext);
    return m;
}

/* The .cls member, and the .txt caption when the source has captions; returns the count added. */
static int class_members(const bcos_shard_source *src, long i, int label, bcos_sample_member *m) {
    char cls[16];
    snprintf(cls, sizeof cls, "%d", label);
    m[0] = text_member("cls", xstrdup(cls));
    if (!src->captions || src->n_templates == 0) return 1;
    m[1] = text_member("txt", xstrdup(src->captions[(i % src->n_templates) * src->n_classes + label]));
    return 2;
}

/* The image file's bytes as a member with its lower-cased extension. */
static int file_member(const char *path, bcos_sample_member *m, char *err, size_t errlen) {
    static const char *const image_exts[] = {"jpg", "jpeg", "png", "webp"};
    const char *dot = strrchr(path, '.');
    memset(m, 0, sizeof *m);
    for (size_t k = 0; dot && dot[k + 1] && k + 1 < sizeof m->ext; k++) m->ext[k] = (char)tolower((unsigned char)dot[k + 1]);
    bool known = false;
    for (size_t k = 0; k < sizeof image_exts / sizeof image_exts[0]; k++) known |= strcmp(m->ext, image_exts[k]) == 0;
    if (!known || strlen(dot) > sizeof m->ext)
        return bcos_error(err, errlen, path, "not a .jpg, .jpeg, .png or .webp file");
    char *data = bcos_read_file(path, &m->size);
    if (!data) return bcos_error(err, errlen, path, "cannot read: %s", strerror(errno));
    m->data = (uint8_t *)data;
    return 0;
}

/* ---- image folder */

static int folder_sample(const bcos_shard_source *src, long i, bcos_sample_member *m, char *err, size_t errlen) {
    const bcos_image_folder *f = src->state;
    if (file_member(f->paths[i], &m[0], err, errlen) != 0) return -1;
    return 1 + class_members(src, i, f->labels[i], m + 1);
}

static void folder_free(bcos_shard_source *src) {
    bcos_image_folder_free(src->state);
    free(src->state);
}

int bcos_shard_source_folder(bcos_shard_source *src, const char *root, char *err, size_t errlen) {
    *src = (bcos_shard_source){0};
    bcos_image_folder *f = xcalloc(1, sizeof *f);
    if (bcos_image_folder_scan(f, root, err, errlen) != 0) return free(f), -1;
    if (f->skipped) bcos_info("%s: %ld files that are not .jpg, .jpeg, .png or .webp images skipped", root, f->skipped);
    *src = (bcos_shard_source){.count = f->count, .sample = folder_sample, .free = folder_free, .state = f};
    set_classes(src, f->classes, f->n_classes);
    return 0;
}

/* ---- IDX */

typedef struct {
    bcos_idx images, labels;
} idx_state;

static int idx_sample(const bcos_shard_source *src, long i, bcos_sample_member *m, char *err, size_t errlen) {
    (void)err, (void)errlen;
    const idx_state *s = src->state;
    int h = (int)s->images.dims[1], w = (int)s->images.dims[2];
    memset(&m[0], 0, sizeof m[0]);
    snprintf(m[0].ext, sizeof m[0].ext, "png");
    m[0].data = bcos_png_encode(s->images.data + (size_t)i * (size_t)h * (size_t)w, w, h, 1, &m[0].size);
    return 1 + class_members(src, i, s->labels.data[i], m + 1);
}

static void idx_free(bcos_shard_source *src) {
    idx_state *s = src->state;
    bcos_idx_free(&s->images);
    bcos_idx_free(&s->labels);
    free(s);
}

/* The two IDX arrays as images [N,H,W] and their N labels: 0, or -1 with a message. */
static int idx_open(idx_state *s, const char *images, const char *labels, char *err, size_t errlen) {
    if (bcos_idx_read(&s->images, images, err, errlen) != 0) return -1;
    if (bcos_idx_read(&s->labels, labels, err, errlen) != 0) return -1;
    if (s->images.ndims != 3)
        return bcos_error(err, errlen, images, "IDX images have 3 dimensions (count, height, width), not %d",
                          s->images.ndims);
    if (s->labels.ndims != 1) return bcos_error(err, errlen, labels, "IDX labels have 1 dimension, not %d", s->labels.ndims);
    if (s->labels.dims[0] != s->images.dims[0])
        return bcos_error(err, errlen, labels, "%ld labels for the %ld images of %s", s->labels.dims[0],
                          s->images.dims[0], images);
    return 0;
}

int bcos_shard_source_idx(bcos_shard_source *src, const char *images, const char *labels, char *err, size_t errlen) {
    idx_state *s = xcalloc(1, sizeof *s);
    *src = (bcos_shard_source){.sample = idx_sample, .free = idx_free, .state = s};
    if (idx_open(s, images, labels, err, errlen) != 0) {
        idx_free(src);
        *src = (bcos_shard_source){0};
        return -1;
    }
    int top = 0;
    for (size_t i = 0; i < s->labels.size; i++) top = s->labels.data[i] > top ? s->labels.data[i] : top;
    /* Until names are given, a class is named by its number. */
    char **names = xcalloc((size_t)top + 1, sizeof *names);
    for (int c = 0; c <= top; c++) {
        names[c] = bcos_strfmt("%d", c);
    }
    src->count = s->images.dims[0];
    set_classes(src, names, top + 1);
    for (int c = 0; c <= top; c++) free(names[c]);
    free(names);
    return 0;
}

/* ---- COCO captions */

typedef struct {
    bcos_coco coco;
    char *images_dir;
} coco_state;

static int coco_sample(const bcos_shard_source *src, long i, bcos_sample_member *m, char *err, size_t errlen) {
    const coco_state *s = src->state;
    const bcos_coco_image *im = &s->coco.images[i];
    char *path = bcos_strfmt("%s/%s", s->images_dir, im->file_name);
    int rc = file_member(path, &m[0], err, errlen);
    free(path);
    if (rc != 0) return -1;
    size_t len = 1;
    for (int k = 0; k < im->n_captions; k++) len += strlen(im->captions[k]) + 1;
    char *text = xmalloc(len), *at = text;
    *at = '\0';
    for (int k = 0; k < im->n_captions; k++) at += sprintf(at, "%s\n", im->captions[k]);
    m[1] = text_member("txt", text);
    m[2] = text_member("json", xstrdup(im->json));
    return 3;
}

static void coco_free(bcos_shard_source *src) {
    coco_state *s = src->state;
    bcos_coco_free(&s->coco);
    free(s->images_dir);
    free(s);
}

int bcos_shard_source_coco(bcos_shard_source *src, const char *images_dir, const char *annotations, char *err,
                           size_t errlen) {
    *src = (bcos_shard_source){0};
    coco_state *s = xcalloc(1, sizeof *s);
    if (bcos_coco_read(&s->coco, annotations, err, errlen) != 0) return free(s), -1;
    s->images_dir = xstrdup(images_dir);
    *src = (bcos_shard_source){.count = s->coco.count, .sample = coco_sample, .free = coco_free, .state = s};
    return 0;
}

int bcos_shard_source_rename_classes(bcos_shard_source *src, char *const *names, int n, char *err, size_t errlen) {
    if (src->sample == idx_sample && n < src->n_classes)
        return bcos_error(err, errlen, NULL, "%d class names for IDX labels up to %d", n, src->n_classes - 1);
    if (src->sample != idx_sample && n != src->n_classes)
        return bcos_error(err, errlen, NULL, "%d class names for the source's %d classes", n, src->n_classes);
    set_classes(src, names, n);
    return 0;
}

void bcos_shard_source_free(bcos_shard_source *src) {
    for (int c = 0; c < src->n_classes; c++) free(src->classes[c]);
    free(src->classes);
    if (src->free) src->free(src);
    *src = (bcos_shard_source){0};
}

int bcos_shards_write(const bcos_shard_source *src, const int *order, const char *dir,
                      const bcos_shard_limits *limits, int *shards, char *err, size_t errlen) {
    bcos_shard_writer *w = bcos_shard_writer_open(dir, limits, err, errlen);
    if (!w) return -1;
    bcos_progress progress;
    bcos_progress_start(&progress, "writing samples", src->count);
    for (long i = 0; i < src->count; i++) {
        bcos_sample_member m[BCOS_SAMPLE_MAX_MEMBERS];
        char key[32], shard[32];
        snprintf(key, sizeof key, "s%07ld", i);
        int n = src->sample(src, order[i], m, err, errlen);
        int rc = n < 0 ? -1 : bcos_shard_writer_add(w, key, m, n, err, errlen);
        for (int k = 0; k < n; k++) free(m[k].data);
        if (rc != 0) {
            bcos_shard_writer_abort(w);
            return -1;
        }
        snprintf(shard, sizeof shard, "shard %d", bcos_shard_writer_shards(w) - 1);
        bcos_progress_step(&progress, 1, shard);
    }
    *shards = bcos_shard_writer_shards(w);
    if (bcos_shard_writer_close(w, err, errlen) != 0) return -1;
    bcos_progress_finish(&progress, NULL);
    return 0;
}
