/* The distill loader's sample function: the sample's image as the 8-bit crop at the teacher's size
 * and its caption's token ids, into one batch slot. Decoding runs in the loader's worker threads;
 * the run's step embeds the captions (distill_step.c). */
#include <string.h>

#include "distill_source_internal.h"

static size_t crop_bytes(const distill_sample_config *c) { return (size_t)c->image.size * c->image.size * 3; }

size_t distill_sample_bytes(const distill_sample_config *c) {
    return crop_bytes(c) + (size_t)c->context_length * sizeof(int32_t);
}

/* The crop the student and the teacher both see: CLIP's evaluation crop. A training crop (random
 * resized crop and flip) replaces it here. */
static bcos_sample_verdict crop(const distill_sample_config *c, const bcos_sample *s, uint8_t *out, char *msg,
                                size_t msg_len) {
    int label;
    return bcos_image_sample((void *)&c->image, s, out, &label, msg, msg_len);
}

/* The caption's ids (all zero without a caption): the first line of .txt, when not empty. */
static void caption_ids(const distill_sample_config *c, const bcos_sample *s, int32_t *ids) {
    memset(ids, 0, (size_t)c->context_length * sizeof(int32_t));
    const bcos_sample_member *txt = c->tok ? bcos_sample_member_find(s, "txt") : NULL;
    if (!txt) return;
    size_t n = 0;
    while (n < txt->size && txt->data[n] != '\n' && txt->data[n] != '\r') n++;
    if (n > 0) bcos_tokenize_bytes(c->tok, (const char *)txt->data, n, c->context_length, ids);
}

bcos_sample_verdict distill_sample(void *ctx, const bcos_sample *s, void *out, int *label, char *msg,
                                   size_t msg_len) {
    const distill_sample_config *c = ctx;
    *label = -1;
    bcos_sample_verdict v = crop(c, s, out, msg, msg_len);
    if (v != BCOS_SAMPLE_OK) return v;
    int32_t ids[BCOS_CONTEXT_LENGTH];
    caption_ids(c, s, ids);
    /* the slot's ids may be unaligned after the crop */
    memcpy((uint8_t *)out + crop_bytes(c), ids, (size_t)c->context_length * sizeof(int32_t));
    return BCOS_SAMPLE_OK;
}

int distill_sample_caption(const distill_sample_config *c, const void *slot, int32_t *ids) {
    memcpy(ids, (const uint8_t *)slot + crop_bytes(c), (size_t)c->context_length * sizeof(int32_t));
    return ids[0] != 0;
}
