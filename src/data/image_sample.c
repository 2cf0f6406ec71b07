/* The image sample function: member choice, label parsing, decoding and preprocessing into a
 * batch slot. A member whose bytes are none of the formats the image module reads (GIF, BMP, text
 * ...) is "unsupported"; one of those formats that fails to decode is "corrupt". */
#include "bcos/image_sample.h"

#include "bcos/check.h"
#include "bcos/image.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_image_exts[] = {"jpg", "jpeg", "png", "webp"};

size_t bcos_image_sample_bytes(const bcos_image_sample_config *cfg) {
    size_t plane = (size_t)cfg->size * (size_t)cfg->size;
    switch (cfg->kind) {
    case BCOS_INPUT_CROP_U8: return plane * 3;
    case BCOS_INPUT_CLIP: return plane * 3 * sizeof(float);
    case BCOS_INPUT_BCOS6: return plane * 6 * sizeof(float);
    }
    BCOS_DIE("a bcos_input_kind value", "unknown input kind %d", (int)cfg->kind);
}

/* Parses the .cls payload; 0, or -1 with msg set. */
static int parse_label(const bcos_sample_member *cls, int n_classes, int *label, char *msg, size_t msg_len) {
    char text[32];
    if (cls->size >= sizeof text) {
        snprintf(msg, msg_len, ".cls of %zu bytes is not a class index", cls->size);
        return -1;
    }
    memcpy(text, cls->data, cls->size);
    text[cls->size] = '\0';
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (end == text || *end != '\0' || errno || v < 0 || v > INT_MAX || (n_classes > 0 && v >= n_classes)) {
        snprintf(msg, msg_len, ".cls '%s' is not a class index%s", text, n_classes > 0 ? " in range" : "");
        return -1;
    }
    *label = (int)v;
    return 0;
}

static const bcos_sample_member *image_member(const bcos_sample *s) {
    for (size_t i = 0; i < sizeof g_image_exts / sizeof g_image_exts[0]; i++) {
        const bcos_sample_member *m = bcos_sample_member_find(s, g_image_exts[i]);
        if (m) return m;
    }
    return NULL;
}

/* Writes the decoded image into out as the configuration asks; 0, or -1 with msg set. */
static int preprocess(const bcos_image_sample_config *cfg, const bcos_image *img, void *out, char *msg,
                      size_t msg_len) {
    if (cfg->kind == BCOS_INPUT_CROP_U8) return bcos_clip_eval_crop(out, img, cfg->size, msg, msg_len);
    if (cfg->kind == BCOS_INPUT_CLIP)
        return bcos_clip_preprocess(out, img, cfg->size, cfg->mean ? cfg->mean : bcos_clip_mean,
                                    cfg->std ? cfg->std : bcos_clip_std, msg, msg_len);
    uint8_t *crop = xmalloc((size_t)cfg->size * (size_t)cfg->size * 3);
    int rc = bcos_clip_eval_crop(crop, img, cfg->size, msg, msg_len);
    if (rc == 0) bcos_bcos6_input(out, crop, cfg->size);
    free(crop);
    return rc;
}

bcos_sample_verdict bcos_image_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                      size_t msg_len) {
    const bcos_image_sample_config *cfg = ctx;
    const bcos_sample_member *cls = bcos_sample_member_find(s, "cls");
    *label = -1;
    if (!cls && cfg->need_label) {
        snprintf(msg, msg_len, "no .cls member");
        return BCOS_SKIP_NO_LABEL;
    }
    if (cls && parse_label(cls, cfg->n_classes, label, msg, msg_len)) return BCOS_SKIP_BAD_LABEL;
    const bcos_sample_member *m = image_member(s);
    if (!m) {
        snprintf(msg, msg_len, "no jpg, jpeg, png or webp member");
        return BCOS_SKIP_NO_IMAGE;
    }
    char name[64];
    snprintf(name, sizeof name, ".%s", m->ext);
    bcos_image img;
    if (bcos_image_decode(&img, m->data, m->size, name, msg, msg_len))
        return bcos_image_sniff(m->data, m->size) == BCOS_IMAGE_UNKNOWN ? BCOS_SKIP_UNSUPPORTED : BCOS_SKIP_CORRUPT;
    int rc = preprocess(cfg, &img, out, msg, msg_len);
    bcos_image_free(&img);
    return rc ? BCOS_SKIP_CORRUPT : BCOS_SAMPLE_OK;
}
