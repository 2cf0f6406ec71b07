/* An in-memory image source for single-process training and evaluation: every image of a folder
 * tree decoded once and center-cropped to the model's size (CLIP's evaluation geometry), with an
 * optional caption from a sibling .txt file. Streaming WebDataset shards replace it at scale. */
#ifndef BCOS_IMAGE_SET_H
#define BCOS_IMAGE_SET_H


#include <stddef.h>
#include <stdint.h>

typedef struct {
    int count, size;
    uint8_t *crops;  /* count x size x size x 3, RGB interleaved */
    char **paths;    /* count */
    char **captions; /* count; NULL entries where no caption */
    int skipped;     /* files that did not decode */
} bcos_image_set;

/* Every .jpg/.jpeg/.png under dir (recursively, in sorted path order). Files that fail to decode
 * are skipped with a warning and counted. Returns 0, or -1 with err when dir cannot be read or
 * holds no decodable image. */
int bcos_image_set_load_dir(bcos_image_set *set, const char *dir, int size, char *err, size_t errlen);
/* An empty set of count crops of size x size for the caller to fill (tests, synthetic data). */
void bcos_image_set_alloc(bcos_image_set *set, int count, int size);
void bcos_image_set_free(bcos_image_set *set);

#endif
