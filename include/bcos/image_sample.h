/* The loader's sample function for images: takes a sample's image member (jpg, then jpeg, png,
 * webp), decodes it and applies CLIP's evaluation preprocessing at the model's input size, and
 * reads its .cls label. Three outputs: the uint8 centre crop (S x S x 3, to normalise on the
 * device), CLIP's normalised tensor (float [3, S, S]) or the B-cos input [u, 1 - u] (float
 * [6, S, S]). Refusals are verdicts for the loader to count (bcos/loader.h). */
#ifndef BCOS_IMAGE_SAMPLE_H
#define BCOS_IMAGE_SAMPLE_H

#include "bcos/loader.h"

#include <stdbool.h>

typedef enum { BCOS_INPUT_CROP_U8, BCOS_INPUT_CLIP, BCOS_INPUT_BCOS6 } bcos_input_kind;

typedef struct {
    int size; /* the model's input side S */
    bcos_input_kind kind;
    const float *mean, *std; /* BCOS_INPUT_CLIP; NULL: OpenAI CLIP's */
    bool need_label;         /* refuse samples without .cls */
    int n_classes;           /* > 0: labels must lie in [0, n_classes) */
} bcos_image_sample_config;

/* Bytes one sample takes in a batch for this configuration. */
size_t bcos_image_sample_bytes(const bcos_image_sample_config *cfg);

/* A bcos_sample_fn; ctx is a const bcos_image_sample_config *. Labels: the .cls text as a decimal
 * integer (surrounding whitespace allowed), -1 when absent and not required. */
bcos_sample_verdict bcos_image_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                      size_t msg_len);

#endif
