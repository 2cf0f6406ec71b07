/* The loader's sample function for images: takes a sample's image member (jpg, then jpeg, png,
 * webp), decodes it once and crops it at the model's input size, CLIP's evaluation crop or a
 * training crop (random resized crop and flip, bcos/image_train.h), and reads its .cls label. Four
 * outputs: the uint8 crop (S x S x 3, to normalise on the device), CLIP's normalised tensor (float
 * [3, S, S]), the B-cos input [u, 1 - u] (float [6, S, S]), or both floats of the same crop, for a
 * student and its teacher. Refusals are verdicts for the loader to count (bcos/loader.h). */
#ifndef BCOS_IMAGE_SAMPLE_H
#define BCOS_IMAGE_SAMPLE_H

#include "bcos/image.h"
#include "bcos/image_train.h"
#include "bcos/loader.h"

#include <stdbool.h>

typedef enum {
    BCOS_INPUT_CROP_U8,
    BCOS_INPUT_CLIP,
    BCOS_INPUT_BCOS6,
    BCOS_INPUT_BCOS6_CLIP /* [6, S, S] then [3, S, S] */
} bcos_input_kind;

typedef struct {
    int size; /* the model's input side S */
    bcos_input_kind kind;
    const float *mean, *std;         /* the CLIP tensors' normalisation; NULL: OpenAI CLIP's */
    bool need_label;                 /* refuse samples without .cls */
    int n_classes;                   /* > 0: labels must lie in [0, n_classes) */
    bcos_decode_mode decode;         /* EXACT (PIL's pixels, the default) or FAST (JPEGs shrunk in the DCT) */
    const bcos_train_augment *train; /* NULL: evaluation crops; else each sample's training crop */
} bcos_image_sample_config;

/* Bytes one sample takes in a batch for this configuration. */
size_t bcos_image_sample_bytes(const bcos_image_sample_config *cfg);

/* A bcos_sample_fn; ctx is a const bcos_image_sample_config *. Labels: the .cls text as a decimal
 * integer (surrounding whitespace allowed), -1 when absent and not required. */
bcos_sample_verdict bcos_image_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                      size_t msg_len);

#endif
