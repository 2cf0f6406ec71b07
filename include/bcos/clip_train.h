/* Training passes of a plain CLIP: both towers' forward with their activations kept, and the exact
 * backward into the model's parameter table (one gradient allocation laid out as the parameters),
 * for contrastive pretraining (docs/METHOD.md, "Contrastive pretraining"). */
#ifndef BCOS_CLIP_TRAIN_H
#define BCOS_CLIP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/clip.h"

/* Fresh weights for m (initialised for its config) drawn from seed, as open_clip initialises a CLIP
 * (src/model/clip_init.c says which rule each tensor follows); logit_scale ln(1/0.07). */
void bcos_clip_init_weights(bcos_clip *m, uint64_t seed);

/* Activations of one training forward of B images and B texts, kept for the backward (one allocation). */
typedef struct bcos_clip_acts bcos_clip_acts;
bcos_clip_acts *bcos_clip_acts_new(const bcos_clip *m, int B);
/* The floats bcos_clip_acts_new(m, B) allocates, without allocating them. */
size_t bcos_clip_acts_floats(const bcos_clip_config *c, int B);
void bcos_clip_acts_free(bcos_clip_acts *a);

/* img[B,embed] and txt[B,embed]: the unnormalised features of images[B,3,S,S] (normalised pixels)
 * and ids[B,context_length], as bcos_clip_encode_image and bcos_clip_encode_text compute them. */
void bcos_clip_train_forward(const bcos_clip *m, bcos_clip_acts *a, float *img, float *txt, const float *images,
                             const int32_t *ids);
/* Exact backward of the last forward: grads[params.total] += dL/dparams from dimg[B,embed] and
 * dtxt[B,embed] (logit_scale's gradient is the loss's: it is not touched here). */
void bcos_clip_train_backward(const bcos_clip *m, bcos_clip_acts *a, float *grads, const float *dimg,
                              const float *dtxt);

#endif
