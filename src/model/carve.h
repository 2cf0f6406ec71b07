/* Slices of one allocation handed out in order: a first pass with base NULL counts the floats, a second
 * over the allocation assigns them (the students' kept activations). Private to src/model. */
#ifndef BCOS_MODEL_CARVE_H
#define BCOS_MODEL_CARVE_H

#include <stddef.h>

typedef struct {
    float *base;
    size_t used;
} carver;

static inline float *carve(carver *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += n;
    return p;
}

#endif
