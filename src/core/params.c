/* The single-allocation parameter table. */
#include "bcos/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"

void bcos_params_init(bcos_params *p) { memset(p, 0, sizeof *p); }

int bcos_params_declare(bcos_params *p, const char *name, int ndim, const int64_t *shape) {
    BCOS_CHECK(p->data == NULL, "declare every tensor before bcos_params_alloc");
    BCOS_CHECK(ndim >= 0 && ndim <= BCOS_MAX_DIMS, "at most BCOS_MAX_DIMS dimensions");
    if (p->count == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->items = xrealloc(p->items, (size_t)p->cap * sizeof *p->items);
    }
    bcos_param *t = &p->items[p->count];
    t->name = xstrdup(name);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        BCOS_CHECK(shape[i] > 0, "every dimension must be positive");
        t->shape[i] = shape[i];
        t->numel *= (size_t)shape[i];
    }
    t->offset = p->total;
    p->total += t->numel;
    return p->count++;
}

int bcos_params_declare_dims(bcos_params *p, const char *name, int ndim, ...) {
    BCOS_CHECK(ndim >= 0 && ndim <= BCOS_MAX_DIMS, "at most BCOS_MAX_DIMS dimensions");
    int64_t shape[BCOS_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) shape[i] = va_arg(ap, int);
    va_end(ap);
    return bcos_params_declare(p, name, ndim, shape);
}

void bcos_params_alloc(bcos_params *p) {
    BCOS_CHECK(p->data == NULL, "parameters are allocated once");
    p->data = xcalloc(p->total, sizeof(float));
}

int bcos_params_find(const bcos_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return i;
    return -1;
}

float *bcos_params_ptr(const bcos_params *p, int index) {
    BCOS_CHECK(index >= 0 && index < p->count && p->data, "valid index into allocated parameters");
    return p->data + p->items[index].offset;
}

int64_t bcos_first_nonfinite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (int64_t)i;
    return -1;
}

int bcos_check_finite(const char *name, const float *x, size_t n, char *err, size_t errlen) {
    int64_t i = bcos_first_nonfinite(x, n);
    if (i < 0) return 0;
    snprintf(err, errlen, "tensor '%s' holds %s (element %lld); non-finite weights are refused", name,
             isnan(x[i]) ? "a NaN" : "an infinity", (long long)i);
    return -1;
}

int bcos_params_check_finite(const bcos_params *p, char *err, size_t errlen) {
    for (int i = 0; i < p->count; i++)
        if (bcos_check_finite(p->items[i].name, p->data + p->items[i].offset, p->items[i].numel, err, errlen) != 0)
            return -1;
    return 0;
}

const char *bcos_shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

void bcos_params_free(bcos_params *p) {
    for (int i = 0; i < p->count; i++) free(p->items[i].name);
    free(p->items);
    free(p->data);
    memset(p, 0, sizeof *p);
}
