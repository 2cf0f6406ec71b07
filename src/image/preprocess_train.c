/* Training crops: torchvision's RandomResizedCrop.get_params given the same uniform draws, the crop
 * and flip of one sample from its own random stream, and decoding straight to the crop in either
 * decoding mode. */
#include "image_internal.h"

#include "bcos/check.h"
#include "bcos/rng.h"
#include "bcos/sha256.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#define ATTEMPTS 10 /* get_params' tries before the centre-crop fallback */

static const double g_default_scale[2] = {0.08, 1.0};
static const double g_default_ratio[2] = {3.0 / 4.0, 4.0 / 3.0};

/* torch.empty(1).uniform_(lo, hi) of a float tensor: unit * (hi - lo) + lo in float, rounded once
 * (torch's CPU kernel contracts it to a fused multiply-add). */
static float uniform_between(const bcos_crop_draws *d, float lo, float hi) {
    return fmaf(d->unit(d->ctx), hi - lo, lo);
}

/* Python's int(round(x)): halves go to the even neighbour, as rint does in the default rounding mode. */
static long round_half_even(double x) { return (long)nearbyint(x); }

/* torch.log / torch.exp on a float32 tensor, computed in double and rounded once. */
static float log_f32(double x) { return (float)log((double)(float)x); }
static float exp_f32(float x) { return (float)exp((double)x); }

static void centre_fallback(bcos_box *box, int width, int height, const double ratio[2]) {
    double in_ratio = (double)width / (double)height;
    long w = width, h = height;
    if (in_ratio < ratio[0])
        h = round_half_even(w / ratio[0]);
    else if (in_ratio > ratio[1])
        w = round_half_even(h * ratio[1]);
    *box = (bcos_box){(int)((width - w) / 2), (int)((height - h) / 2), (int)w, (int)h};
}

void bcos_random_resized_crop_box(bcos_box *box, int width, int height, const double scale[2],
                                  const double ratio[2], const bcos_crop_draws *draws) {
    BCOS_CHECK(width > 0 && height > 0, "image sizes must be positive");
    BCOS_CHECK(scale[0] <= scale[1] && ratio[0] > 0 && ratio[0] <= ratio[1], "crop scale and ratio must be [min, max]");
    double area = (double)height * (double)width;
    float log_lo = log_f32(ratio[0]), log_hi = log_f32(ratio[1]);
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        double target_area = area * uniform_between(draws, (float)scale[0], (float)scale[1]);
        double aspect = exp_f32(uniform_between(draws, log_lo, log_hi));
        long w = round_half_even(sqrt(target_area * aspect));
        long h = round_half_even(sqrt(target_area / aspect));
        if (0 < w && w <= width && 0 < h && h <= height) {
            long top = draws->below(draws->ctx, height - h + 1);
            long left = draws->below(draws->ctx, width - w + 1);
            *box = (bcos_box){(int)left, (int)top, (int)w, (int)h};
            return;
        }
    }
    centre_fallback(box, width, height, ratio);
}

static float rng_unit(void *ctx) { return bcos_rng_uniform(ctx); }
static long rng_below(void *ctx, long n) { return (long)bcos_rng_below(ctx, (uint64_t)n); }

/* The sample's stream: a digest of (shard's position in the URL list, epoch, index) under the run's
 * seed. The URL stays out, so the same shard read over http:// or file:// crops the same. */
static void sample_stream(bcos_rng *rng, const bcos_train_augment *aug, int shard, long index) {
    uint64_t fields[3] = {(uint64_t)shard, aug->epoch, (uint64_t)index};
    bcos_sha256 h;
    bcos_sha256_init(&h);
    bcos_sha256_update(&h, fields, sizeof fields);
    uint8_t digest[BCOS_SHA256_BYTES];
    bcos_sha256_final(&h, digest);
    uint64_t stream;
    memcpy(&stream, digest, sizeof stream);
    bcos_rng_seed_stream(rng, aug->seed, stream);
}

void bcos_train_crop_draw(bcos_train_crop *crop, int width, int height, const bcos_train_augment *aug, int shard,
                          long index) {
    bcos_rng rng;
    sample_stream(&rng, aug, shard, index);
    bcos_crop_draws draws = {rng_unit, rng_below, &rng};
    const double *scale = aug->scale[1] > 0 ? aug->scale : g_default_scale;
    const double *ratio = aug->ratio[1] > 0 ? aug->ratio : g_default_ratio;
    bcos_random_resized_crop_box(&crop->box, width, height, scale, ratio, &draws);
    crop->flip = bcos_rng_uniform(&rng) < 0.5f;
}

void bcos_train_crop_apply(uint8_t *out, const bcos_image *img, const bcos_train_crop *crop, int size) {
    bcos_image_resized_crop(out, img, &crop->box, size, size);
    if (crop->flip) bcos_image_flip_horizontal(out, size, size);
}

/* The least full-image size whose box keeps `size` pixels along an axis: ceil(size * full / box). */
static int need_for_box(int size, int full, int box) {
    long need = ((long)size * full + box - 1) / box;
    return need > INT_MAX ? INT_MAX : (int)need;
}

/* [start, start + len) of an axis of `full` pixels carried onto the same axis at `scaled` pixels,
 * rounded outwards and kept inside. */
static void carry_span(int *start, int *len, int full, int scaled) {
    long first = (long)*start * scaled / full;
    long end = ((long)(*start + *len) * scaled + full - 1) / full;
    if (end > scaled) end = scaled;
    if (end <= first) end = first + 1;
    *start = (int)first;
    *len = (int)(end - first);
}

int bcos_train_decode_crop(uint8_t *out, const uint8_t *data, size_t len, int size, const bcos_train_augment *aug,
                           int shard, long index, bcos_decode_mode mode, const char *name, char *err,
                           size_t errlen) {
    bcos_image img;
    bcos_train_crop crop;
    int width, height, rc;
    if (mode == BCOS_DECODE_FAST && bcos_image_jpeg_size(data, len, &width, &height) == 0) {
        /* The draws need only the size, so the box is known before the decode that depends on it. */
        bcos_train_crop_draw(&crop, width, height, aug, shard, index);
        rc = bcos_image_decode_fast(&img, data, len, need_for_box(size, width, crop.box.w),
                                    need_for_box(size, height, crop.box.h), name, err, errlen);
        if (rc == 0 && img.width != width) carry_span(&crop.box.x, &crop.box.w, width, img.width);
        if (rc == 0 && img.height != height) carry_span(&crop.box.y, &crop.box.h, height, img.height);
    } else {
        rc = bcos_image_decode(&img, data, len, name, err, errlen);
        if (rc == 0) bcos_train_crop_draw(&crop, img.width, img.height, aug, shard, index);
    }
    if (rc == 0) bcos_train_crop_apply(out, &img, &crop, size);
    bcos_image_free(&img);
    return rc;
}
