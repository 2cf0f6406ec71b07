/* The image sample function: member choice, label parsing, one decode to the crop (evaluation or
 * training, exact or fast decoding) and the tensors of a batch slot. A member whose bytes are none of
 * the formats the image module reads (GIF, BMP, text ...) is "unsupported"; one of those formats that
 * fails to decode is "corrupt". */
#include "bcos/loader.h"

#include "bcos/check.h"
#include "bcos/image.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_image_exts[] = {"jpg", "jpeg", "png", "webp"};
/* CLIP_benchmark's order (its to_tuple(["webp", "png", "jpg", "jpeg"], ...)) */
static const char *const g_benchmark_exts[] = {"webp", "png", "jpg", "jpeg"};

size_t bcos_image_sample_bytes(const bcos_image_sample_config *cfg) {
    size_t plane = (size_t)cfg->size * (size_t)cfg->size;
    switch (cfg->kind) {
    case BCOS_INPUT_CROP_U8: return plane * 3;
    case BCOS_INPUT_CLIP: return plane * 3 * sizeof(float);
    case BCOS_INPUT_BCOS6: return plane * 6 * sizeof(float);
    case BCOS_INPUT_BCOS6_CLIP: return plane * 9 * sizeof(float);
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

static const bcos_sample_member *image_member(const bcos_image_sample_config *cfg, const bcos_sample *s) {
    const char *const *exts = cfg->benchmark_order ? g_benchmark_exts : g_image_exts;
    for (size_t i = 0; i < sizeof g_image_exts / sizeof g_image_exts[0]; i++) {
        const bcos_sample_member *m = bcos_sample_member_find(s, exts[i]);
        if (m) return m;
    }
    return NULL;
}

/* Decodes the member once into its crop; 0, or -1 with msg set. */
static int decode_crop(const bcos_image_sample_config *cfg, const bcos_sample *s, const bcos_sample_member *m,
                       uint8_t *crop, char *msg, size_t msg_len) {
    char name[64];
    snprintf(name, sizeof name, ".%s", m->ext);
    if (cfg->train)
        return bcos_train_decode_crop(crop, m->data, m->size, cfg->size, cfg->train, s->shard_index, s->index, cfg->decode,
                                      name, msg, msg_len);
    return bcos_clip_eval_decode_crop(crop, m->data, m->size, cfg->size, cfg->decode, name, msg, msg_len);
}

/* The crop to the configured float tensors. */
static void write_tensors(const bcos_image_sample_config *cfg, const uint8_t *crop, float *out) {
    const float *mean = cfg->mean ? cfg->mean : bcos_clip_mean, *std = cfg->std ? cfg->std : bcos_clip_std;
    size_t plane = (size_t)cfg->size * (size_t)cfg->size;
    if (cfg->kind == BCOS_INPUT_CLIP) bcos_clip_normalize(out, crop, cfg->size, mean, std);
    if (cfg->kind == BCOS_INPUT_BCOS6 || cfg->kind == BCOS_INPUT_BCOS6_CLIP) bcos_x6_from_crop(out, crop, cfg->size);
    if (cfg->kind == BCOS_INPUT_BCOS6_CLIP) bcos_clip_normalize(out + 6 * plane, crop, cfg->size, mean, std);
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
    const bcos_sample_member *m = image_member(cfg, s);
    if (!m) {
        snprintf(msg, msg_len, "no jpg, jpeg, png or webp member");
        return BCOS_SKIP_NO_IMAGE;
    }
    uint8_t *crop = cfg->kind == BCOS_INPUT_CROP_U8 ? out : xmalloc((size_t)cfg->size * (size_t)cfg->size * 3);
    int rc = decode_crop(cfg, s, m, crop, msg, msg_len);
    if (rc == 0 && crop != out) write_tensors(cfg, crop, out);
    if (crop != out) free(crop);
    if (rc == 0) return BCOS_SAMPLE_OK;
    return bcos_image_sniff(m->data, m->size) == BCOS_IMAGE_UNKNOWN ? BCOS_SKIP_UNSUPPORTED : BCOS_SKIP_CORRUPT;
}
