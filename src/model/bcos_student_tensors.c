/* The student's saved tensor layout, for its weights and for any buffer laid out like them (an
 * optimizer's per-parameter state): open_clip's names after a prefix, every tensor as declared
 * except visual.proj, which is stored as open_clip's [width, embed]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"

/* The stored shape of parameter i. */
static void stored_shape(const bcos_student *s, int i, int64_t shape[BCOS_MAX_DIMS]) {
    const bcos_param *t = &s->params.items[i];
    memcpy(shape, t->shape, BCOS_MAX_DIMS * sizeof *shape);
    if (i == s->proj) {
        shape[0] = t->shape[1];
        shape[1] = t->shape[0];
    }
}

static void transpose(float *out, const float *in, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) out[c * rows + r] = in[r * cols + c];
}

void bcos_student_tensors_make(bcos_student_tensors *t, const bcos_student *s, const float *flat, const char *prefix) {
    const bcos_params *p = &s->params;
    t->count = p->count;
    t->entries = xcalloc((size_t)p->count, sizeof *t->entries);
    t->names = xcalloc((size_t)p->count, sizeof *t->names);
    t->shapes = xcalloc((size_t)p->count, sizeof *t->shapes);
    t->proj_t = NULL;
    if (s->proj >= 0) { /* a ViT's */
        const bcos_param *proj = &p->items[s->proj];
        t->proj_t = xmalloc(proj->numel * sizeof(float));
        transpose(t->proj_t, flat + proj->offset, proj->shape[0], proj->shape[1]);
    }
    for (int i = 0; i < p->count; i++) {
        size_t n = strlen(prefix) + strlen(p->items[i].name) + 1;
        t->names[i] = xmalloc(n);
        snprintf(t->names[i], n, "%s%s", prefix, p->items[i].name);
        stored_shape(s, i, t->shapes[i]);
        t->entries[i] = (bcos_st_entry){t->names[i], BCOS_F32, p->items[i].ndim, t->shapes[i],
                                        i == s->proj ? t->proj_t : flat + p->items[i].offset};
    }
}

void bcos_student_tensors_free(bcos_student_tensors *t) {
    for (int i = 0; i < t->count; i++) free(t->names[i]);
    free(t->names);
    free(t->shapes);
    free(t->entries);
    free(t->proj_t);
    memset(t, 0, sizeof *t);
}

/* Tensor "<prefix><name of t>" of st, stored with shape, into dst (t's own layout; transposed when
 * transposed). */
static int read_tensor(const bcos_param *t, const int64_t shape[BCOS_MAX_DIMS], int transposed,
                       const bcos_safetensors *st, const char *prefix, float *dst, char *err, size_t errlen) {
    char name[256], want[96], have[96];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    const bcos_st_tensor *f = bcos_st_find(st, name);
    if (!f) {
        snprintf(err, errlen, "tensor '%s' is missing (expected shape %s)", name,
                 bcos_shape_str(want, sizeof want, t->ndim, shape));
        return -1;
    }
    int same = f->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = f->shape[d] == shape[d];
    if (!same) {
        snprintf(err, errlen, "tensor '%s' has shape %s, expected %s", name,
                 bcos_shape_str(have, sizeof have, f->ndim, f->shape), bcos_shape_str(want, sizeof want, t->ndim, shape));
        return -1;
    }
    if (bcos_st_to_f32(f, dst, err, errlen) != 0 || bcos_check_finite(name, dst, t->numel, err, errlen) != 0)
        return -1;
    if (transposed) {
        float *tmp = xmalloc(t->numel * sizeof(float));
        transpose(tmp, dst, shape[0], shape[1]);
        memcpy(dst, tmp, t->numel * sizeof(float));
        free(tmp);
    }
    return 0;
}

int bcos_student_tensors_read(const bcos_student *s, const bcos_safetensors *st, const char *prefix, float *flat,
                              char *err, size_t errlen) {
    for (int i = 0; i < s->params.count; i++) {
        int64_t shape[BCOS_MAX_DIMS];
        stored_shape(s, i, shape);
        if (read_tensor(&s->params.items[i], shape, i == s->proj, st, prefix, flat + s->params.items[i].offset, err,
                        errlen) != 0)
            return -1;
    }
    return 0;
}

int bcos_student_buffers_read(bcos_student *s, const bcos_safetensors *st, char *err, size_t errlen) {
    for (int i = 0; i < s->buffers.count; i++) {
        const bcos_param *t = &s->buffers.items[i];
        if (read_tensor(t, t->shape, 0, st, "", bcos_params_ptr(&s->buffers, i), err, errlen) != 0) return -1;
    }
    return 0;
}
