/* Training crops as torchvision's RandomResizedCrop(S, scale, ratio, BICUBIC) followed by
 * RandomHorizontalFlip(0.5) make them on a PIL image: the box drawn by get_params' algorithm (ten
 * tries of an area fraction and a log-uniform aspect ratio, then the centre-crop fallback), cropped
 * and resized with PIL's bicubic, then flipped. Each sample's draws come from its own stream of
 * (seed, epoch, shard, index), where shard is the shard's position in the expanded URL list (what the
 * epoch plan deals), not its URL: a sample gets the same crop whichever rank or worker reads it and
 * whichever URL (scheme, host, folder) its shard is read through, and a resumed run repeats it. */
#ifndef BCOS_IMAGE_TRAIN_H
#define BCOS_IMAGE_TRAIN_H

#include "bcos/image.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double scale[2]; /* area fraction of the image, [min, max]; {0, 0}: torchvision's (0.08, 1) */
    double ratio[2]; /* aspect ratio width / height, [min, max]; {0, 0}: (3/4, 4/3) */
    uint64_t seed, epoch;
} bcos_train_augment;

/* The uniform draws the box sampler consumes, behind functions so that a test can inject torch's. */
typedef struct {
    float (*unit)(void *ctx);         /* k / 2^24 for k uniform in [0, 2^24), as torch draws a float */
    long (*below)(void *ctx, long n); /* uniform in [0, n), as torch.randint(0, n) */
    void *ctx;
} bcos_crop_draws;

/* RandomResizedCrop.get_params for an image of width x height. A uniform in [a, b) is
 * fmaf(unit, b - a, a), as torch's uniform_ computes it on a float tensor; the log-ratio bounds and
 * the exp are float32 (torch tensors; ours correctly rounded, torch's log(3/4) is an ulp lower), the
 * rest double (Python floats), and round() takes halves to even. scale and ratio as in
 * bcos_train_augment, defaults resolved. */
void bcos_random_resized_crop_box(bcos_box *box, int width, int height, const double scale[2],
                                  const double ratio[2], const bcos_crop_draws *draws);

typedef struct {
    bcos_box box;
    bool flip;
} bcos_train_crop;

/* The box and flip of one sample of an image of width x height: the box from the sample's stream,
 * then a flip when the next uniform is below 0.5. shard is the position of the sample's shard in the
 * URL list (a caller without one: the shard's position in its own list), index the sample's in it. */
void bcos_train_crop_draw(bcos_train_crop *crop, int width, int height, const bcos_train_augment *aug, int shard,
                          long index);

/* The crop applied to the decoded image: out gets S x S x 3 bytes. */
void bcos_train_crop_apply(uint8_t *out, const bcos_image *img, const bcos_train_crop *crop, int size);

/* Decodes an encoded image once and writes the sample's training crop (S x S x 3). In FAST mode a
 * JPEG is decoded scaled while the box keeps at least 3/4 S pixels each way (bcos_image_decode_fast),
 * and the box is carried onto the smaller image, rounded outwards. 0, or -1 with err set (the image
 * does not decode). */
int bcos_train_decode_crop(uint8_t *out, const uint8_t *data, size_t len, int size, const bcos_train_augment *aug,
                           int shard, long index, bcos_decode_mode mode, const char *name, char *err,
                           size_t errlen);

#endif
