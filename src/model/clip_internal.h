/* Inside the model module: the CLIP pieces the B-cos student's files reuse (its config as JSON,
 * its text tower) and the image towers' entry points. Not part of the public interface (include/bcos/clip.h). */
#ifndef BCOS_MODEL_CLIP_INTERNAL_H
#define BCOS_MODEL_CLIP_INTERNAL_H

#include <stddef.h>

#include "bcos/clip.h"

/* cfg as open_clip model_configs JSON (a heap string); parsing it gives cfg back. */
char *bcos_clip_config_to_json(const bcos_clip_config *cfg);

/* Load only the text tower (and logit_scale) from a file in open_clip naming, ignoring its visual.*
 * tensors: a B-cos student file carries the teacher's text tower beside its own image tower. */
int bcos_clip_load_text(bcos_clip *m, const bcos_safetensors *st, char *err, size_t errlen);

/* Every tensor of cfg declared in m->params, none allocated (bcos_clip_init allocates them): enough for
 * shape checks and sizes, which need no memory for the weights (RN50x64 has 2.5 GB). Free with
 * bcos_clip_free. */
void bcos_clip_declare(bcos_clip *m, const bcos_clip_config *cfg);

/* The ResNet image tower (clip_resnet.c): declare its tensors in m->params (before allocation), encode
 * images[B,3,S,S] into out[B,embed], and the floats that encoding allocates for B images (read from
 * the shapes of a model's tensors, declared is enough: bcos_clip_declare). */
void bcos_clip_declare_resnet(bcos_clip *m);
void bcos_clip_resnet_encode_image(const bcos_clip *m, float *out, const float *images, int B);
size_t bcos_clip_resnet_image_floats(const bcos_clip *declared, int B);

#endif
