/* libFuzzer target: any bytes given to the image decoder come back as an image or as a one-line
 * refusal, never as a crash, a leak or an out-of-bounds access; what decodes also goes through CLIP's
 * preprocessing at the tiny model's size, and decoded in the file's own mode through open_clip's
 * bare-file order; the same bytes also go through a training crop with the
 * fast decoding mode (header peeking, DCT-scaled decoding, the box carried onto the smaller image).
 * The pixel limit is lowered to 4 Mpx: a few bytes can announce
 * a 10000 x 10000 image, whose honest decoding takes longer than the fuzzer's timeout under the
 * sanitizers. Seeds: tests/fuzz/seeds/fuzz_image_decode/. */
#include "bcos/check.h"
#include "../../src/image/image_internal.h" /* the decoders and crops under test */

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    enum { SIZE = 32 };
    static float input[3 * SIZE * SIZE];
    char err[512];
    bcos_image img;
    bcos_image_set_max_pixels(1L << 22);
    if (bcos_image_decode(&img, data, size, "fuzz", err, sizeof err) != 0) {
        BCOS_CHECK(img.rgb == NULL && strchr(err, '\n') == NULL && strncmp(err, "fuzz: ", 6) == 0,
                   "a refusal must leave the image empty and give one line naming the input");
        return 0;
    }
    bcos_clip_preprocess(input, &img, SIZE, bcos_clip_mean, bcos_clip_std, err, sizeof err);
    bcos_image_free(&img);
    static uint8_t crop[SIZE * SIZE * 3];
    if (bcos_image_decode_own_mode(&img, data, size, "fuzz", err, sizeof err) == 0) {
        bcos_clip_eval_crop_own_mode(crop, &img, SIZE, err, sizeof err);
        bcos_image_free(&img);
    }
    const bcos_train_augment aug = {.seed = 1};
    BCOS_CHECK(bcos_train_decode_crop(crop, data, size, SIZE, &aug, 0, (long)size, BCOS_DECODE_FAST, "fuzz", err,
                                      sizeof err) == 0 ||
                   (strchr(err, '\n') == NULL && strncmp(err, "fuzz: ", 6) == 0),
               "a training crop of what decodes must work, or be refused in one line naming the input");
    return 0;
}
