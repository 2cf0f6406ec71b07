/* Reading the binary fixtures that the reference generators write (tools/ref/fixture_bin.py): a
 * directory with index.json (per-case params, and each tensor's shape and byte offset) over one blob of
 * little-endian float32 tensors, which is the host's layout on every machine this project targets.
 * A missing or malformed fixture stops the test with the generator to re-run as the hint. */
#ifndef BCOS_FIXTURE_BIN_H
#define BCOS_FIXTURE_BIN_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "test.h"

/* Float kernels against float64 references (docs/METHOD.md, Notation): max|ours - ref| / max|ref| per tensor. */
#define FIXTURE_TOLERANCE 1e-5

typedef struct {
    cJSON *index;
    float *data;
    size_t count;     /* floats in data */
    const char *hint; /* how to regenerate it */
} fixture;

/* Opens <dir>/index.json and <dir>/<blob>. */
static inline fixture fixture_open(const char *dir, const char *blob, const char *hint) {
    fixture fx = {.hint = hint};
    char path[512];
    snprintf(path, sizeof path, "%s/index.json", dir);
    char *json = bcos_read_file(path, NULL);
    BCOS_CHECK(json != NULL, hint);
    fx.index = cJSON_Parse(json);
    BCOS_CHECK(fx.index != NULL, hint);
    free(json);
    snprintf(path, sizeof path, "%s/%s", dir, blob);
    size_t size = 0;
    char *bytes = bcos_read_file(path, &size);
    BCOS_CHECK(bytes != NULL && size % sizeof(float) == 0, hint);
    fx.data = xmalloc(size);
    memcpy(fx.data, bytes, size);
    fx.count = size / sizeof(float);
    free(bytes);
    return fx;
}

static inline void fixture_close(fixture *fx) {
    cJSON_Delete(fx->index);
    free(fx->data);
}

static inline double fixture_param(const fixture *fx, const char *kase, const char *key) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fx->index, "params"), kase);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);
    if (!cJSON_IsNumber(v)) BCOS_DIE(fx->hint, "no parameter %s.%s in the fixture", kase, key);
    return v->valuedouble;
}

/* A shape parameter. */
static inline int fixture_int(const fixture *fx, const char *kase, const char *key) {
    return (int)fixture_param(fx, kase, key);
}

/* The tensor <kase>.<key>, which must hold n floats; it points into the fixture. */
static inline const float *fixture_tensor(const fixture *fx, const char *kase, const char *key, size_t n) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", kase, key);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fx->index, "tensors"), name);
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(t, "offset");
    const cJSON *dim, *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    if (!cJSON_IsNumber(offset) || !cJSON_IsArray(shape)) BCOS_DIE(fx->hint, "no tensor %s in the fixture", name);
    size_t numel = 1;
    cJSON_ArrayForEach(dim, shape) numel *= (size_t)dim->valuedouble;
    size_t first = (size_t)offset->valuedouble / sizeof(float);
    if (numel != n || first + n > fx->count) BCOS_DIE(fx->hint, "tensor %s: %zu floats, expected %zu", name, numel, n);
    return fx->data + first;
}

/* Our float result against the reference tensor <kase>.<key>. */
static inline void fixture_expect_close(const fixture *fx, const char *kase, const char *key, const float *ours,
                                        size_t n) {
    double err = test_rel_error_f32(ours, fixture_tensor(fx, kase, key, n), n);
    CHECK_MSG(err < FIXTURE_TOLERANCE, "%s.%s: rel error %.3g against the reference", kase, key, err);
}

#endif
