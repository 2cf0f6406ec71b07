/* Named parameter tensors that live in one allocation, so that checkpoints, weight loading and
 * gradient allreduce are a few large calls. Declare every tensor first, then allocate once. */
#ifndef BCOS_PARAMS_H
#define BCOS_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define BCOS_MAX_DIMS 4

typedef struct {
    char *name;
    int ndim;
    int64_t shape[BCOS_MAX_DIMS];
    size_t offset; /* in floats, into bcos_params.data */
    size_t numel;
} bcos_param;

typedef struct {
    bcos_param *items;
    int count, cap;
    size_t total; /* floats */
    float *data;  /* NULL until bcos_params_alloc */
} bcos_params;

void bcos_params_init(bcos_params *p);
/* Declare a tensor; shape has ndim entries. Returns its index. Only before bcos_params_alloc. */
int bcos_params_declare(bcos_params *p, const char *name, int ndim, const int64_t *shape);
/* The same with the ndim dimensions given as int arguments: bcos_params_declare_dims(p, "w", 2, OC, IC). */
int bcos_params_declare_dims(bcos_params *p, const char *name, int ndim, ...);
/* One zeroed allocation for every declared tensor. */
void bcos_params_alloc(bcos_params *p);
/* Index of a tensor by name, or -1. */
int bcos_params_find(const bcos_params *p, const char *name);
float *bcos_params_ptr(const bcos_params *p, int index);
/* The index of the first NaN or infinity in x[n], or -1 when every value is finite. */
int64_t bcos_first_nonfinite(const float *x, size_t n);
/* 0 when x[n] is all finite, else -1 with err "tensor 'NAME' holds a NaN (element I); non-finite
 * weights are refused" (or "an infinity"). */
int bcos_check_finite(const char *name, const float *x, size_t n, char *err, size_t errlen);
/* bcos_check_finite for every tensor of p (allocated): 0, or -1 with err naming the first culprit. */
int bcos_params_check_finite(const bcos_params *p, char *err, size_t errlen);
/* "[768, 3, 16, 16]" into buf. */
const char *bcos_shape_str(char *buf, size_t len, int ndim, const int64_t *shape);
void bcos_params_free(bcos_params *p);

#endif
