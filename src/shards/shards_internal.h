/* Internal to src/shards: the readers of the datasets the shard sources (bcos/shards.h) turn into
 * samples: an image folder tree laid out as torchvision's ImageFolder reads it, IDX files (MNIST,
 * Fashion-MNIST; gzipped or not), and COCO-style caption annotations. Each is user input: a reader
 * returns 0, or -1 with a one-line message naming the file or folder at fault, and leaves its result
 * empty. Tests include this header by path. */
#ifndef BCOS_SHARDS_INTERNAL_H
#define BCOS_SHARDS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* An image folder: ROOT/CLASS/.../IMAGE, classes in sorted name order (their label is their index),
 * images of each class in the order torchvision lists them (folders sorted, then file names). Only
 * .jpg, .jpeg, .png and .webp files are taken (any case); hidden files are ignored and other files
 * counted. */
typedef struct {
    int n_classes;
    char **classes;
    long count;
    char **paths; /* count files */
    int *labels;  /* count labels */
    long skipped; /* files of other kinds */
} bcos_image_folder;

/* Fails on an unreadable root, a root without class folders, or a class folder without images. */
int bcos_image_folder_scan(bcos_image_folder *f, const char *root, char *err, size_t errlen);
void bcos_image_folder_free(bcos_image_folder *f);

#define BCOS_IDX_MAX_DIMS 4

/* An IDX array of unsigned bytes (type 0x08), as MNIST and Fashion-MNIST ship them. */
typedef struct {
    int ndims;
    long dims[BCOS_IDX_MAX_DIMS];
    uint8_t *data; /* the product of dims bytes, row-major */
    size_t size;
} bcos_idx;

/* Reads path, gzip-compressed or plain. Fails on a bad magic number, another element type, a size
 * that does not match the header (truncated or trailing bytes) or damaged gzip data. */
int bcos_idx_read(bcos_idx *idx, const char *path, char *err, size_t errlen);
void bcos_idx_free(bcos_idx *idx);

/* One image of a COCO-style captions file. */
typedef struct {
    char *file_name;  /* relative to the images folder */
    char **captions;  /* its annotations' captions, in file order, newlines made spaces */
    int n_captions;
    char *json;       /* the image's entry, compact, with "captions" added */
} bcos_coco_image;

typedef struct {
    long count;
    bcos_coco_image *images; /* in the order of the file's "images" */
} bcos_coco;

/* Reads {"images": [{"id", "file_name", ...}], "annotations": [{"image_id", "caption"}, ...]}. Fails
 * on bad JSON, a missing array, an entry without its fields, or a caption of an unknown image. */
int bcos_coco_read(bcos_coco *c, const char *path, char *err, size_t errlen);
void bcos_coco_free(bcos_coco *c);

#endif
