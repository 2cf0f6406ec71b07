/* The pixel references the image generators write (tools/ref/make_image_fixtures.py and
 * make_train_crop_fixtures.py): in index.json each array's CRC-32 and byte count, and the name of a
 * raw little-endian file beside it when the array is small enough to keep. Pixels are compared
 * exactly: byte by byte (reporting the largest difference) when the bytes were kept, else by CRC.
 * Also the check that a file PIL refuses is refused too, with one line naming it. */
#ifndef BCOS_PIXEL_REFERENCE_H
#define BCOS_PIXEL_REFERENCE_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bcos/check.h"
#include "../src/image/image_internal.h"
#include "test.h"

typedef struct {
    unsigned long crc;
    size_t bytes;
    uint8_t *raw; /* NULL when only the CRC was kept */
} pixel_reference;

/* The reference an index.json entry describes; its file is read from dir. */
static inline pixel_reference pixel_reference_load(const char *dir, const cJSON *entry) {
    pixel_reference r = {(unsigned long)cJSON_GetObjectItem(entry, "crc32")->valuedouble,
                         (size_t)cJSON_GetObjectItem(entry, "bytes")->valuedouble, NULL};
    const cJSON *file = cJSON_GetObjectItem(entry, "file");
    if (cJSON_IsString(file)) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, file->valuestring);
        size_t len = 0;
        r.raw = (uint8_t *)bcos_read_file(path, &len);
        BCOS_CHECK(r.raw && len == r.bytes, "fixture file missing or of the wrong size: re-run the generator");
    }
    return r;
}

static inline unsigned long pixel_crc(const void *data, size_t n) {
    return crc32(crc32(0L, Z_NULL, 0), data, (uInt)n);
}

/* Our n bytes against the reference; image and what name them in messages. */
static inline void pixel_reference_check(const char *image, const char *what, const uint8_t *ours, size_t n,
                                         const pixel_reference *ref) {
    CHECK_MSG(n == ref->bytes, "%s %s: %zu bytes, the reference has %zu", image, what, n, ref->bytes);
    if (n != ref->bytes) return;
    if (!ref->raw) {
        CHECK_MSG(pixel_crc(ours, n) == ref->crc,
                  "%s %s: differs from the reference (CRC-32; raise RAW_LIMIT in the generator to see by how much)",
                  image, what);
        return;
    }
    size_t differ = 0;
    int max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)ours[i] - (int)ref->raw[i]);
        differ += d != 0;
        if (d > max_abs) max_abs = d;
    }
    CHECK_MSG(differ == 0, "%s %s: %zu of %zu bytes differ from the reference, max abs %d", image, what, differ, n,
              max_abs);
}

/* max |a - b|; NaN counts as the largest. */
static inline double pixel_max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d;
    }
    return m;
}

/* The fixture entry e ({"file": name, "why": PIL's reason}) at path must be refused: an empty image
 * and a one-line message that starts with the path. */
static inline void check_refused_image(const cJSON *e, const char *path) {
    const char *name = cJSON_GetObjectItem(e, "file")->valuestring;
    char err[512] = "";
    bcos_image img = {.width = 1, .height = 1, .rgb = NULL};
    int rc = bcos_image_load(&img, path, err, sizeof err);
    CHECK_MSG(rc != 0, "%s: decoded, but PIL refuses it (%s)", name, cJSON_GetObjectItem(e, "why")->valuestring);
    CHECK_MSG(img.rgb == NULL && img.width == 0, "%s: a refused image must come back empty", name);
    CHECK_MSG(strstr(err, path) == err, "%s: the message does not start with the path: %s", name, err);
    CHECK_MSG(strchr(err, '\n') == NULL, "%s: the message is not one line: %s", name, err);
    printf("  refused %-28s %s\n", name, err);
}

#endif
