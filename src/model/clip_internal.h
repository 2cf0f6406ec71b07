/* Inside the model module: the CLIP pieces the B-cos student's files reuse (its config as JSON,
 * its text tower), and the carving of activations out of one allocation that the training passes
 * of both models use. Not part of the public interface (include/bcos/clip.h). */
#ifndef BCOS_MODEL_CLIP_INTERNAL_H
#define BCOS_MODEL_CLIP_INTERNAL_H

#include <stddef.h>

#include "bcos/clip.h"

/* Carves consecutive slices of one allocation: a first pass counts (base NULL), a second assigns. */
typedef struct {
    float *base;
    size_t used;
} carver;

static inline float *carve(carver *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

/* cfg as open_clip model_configs JSON (a heap string); parsing it gives cfg back. */
char *bcos_clip_config_to_json(const bcos_clip_config *cfg);

/* Load only the text tower (and logit_scale) from a file in open_clip naming, ignoring its visual.*
 * tensors: a B-cos student file carries the teacher's text tower beside its own image tower. */
int bcos_clip_load_text(bcos_clip *m, const bcos_safetensors *st, char *err, size_t errlen);

#endif
