/* Images for the data path, as the loader, the shard writer, the explanations and the command line
 * use them: CLIP's evaluation crop of a file or of encoded bytes (PIL's decoding and bicubic resize,
 * open_clip's transform: Resize to the shortest side, CenterCrop, ToTensor, Normalize, byte for
 * byte), a sample's training crop (torchvision's RandomResizedCrop and flip), the model inputs made
 * from a crop (normalised, or the B-cos six channels), the in-memory image set, and the one PNG writer
 * (pictures and shards). Decoding is user input: it returns a status and a one-line message naming the
 * image, never stops. The decoders, resizes and crop geometry behind these are the module's own
 * (src/image/image_internal.h). */
#ifndef BCOS_IMAGE_H
#define BCOS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { BCOS_IMAGE_UNKNOWN, BCOS_IMAGE_JPEG, BCOS_IMAGE_PNG, BCOS_IMAGE_WEBP } bcos_image_format;

/* The format the first bytes announce (magic numbers; the file name's extension plays no part). */
bcos_image_format bcos_image_sniff(const uint8_t *data, size_t len);

/* How far decoding may depart from PIL's pixels for speed. EXACT: PIL's pixels at full size. FAST:
 * a JPEG comes out of libjpeg-turbo's DCT already shrunk to about what the preprocessing needs
 * (bcos_image_decode_fast: as small as 3/4 of it, then enlarged by the resize); other formats
 * decode as in EXACT. */
typedef enum { BCOS_DECODE_EXACT, BCOS_DECODE_FAST } bcos_decode_mode;

/* "exact" or "fast" to the mode: 0, or -1 with a message naming the text. */
int bcos_decode_mode_parse(bcos_decode_mode *mode, const char *text, char *err, size_t errlen);

/* When a file becomes RGB. OPEN_CLIP: after the resize and crop, as open_clip's
 * preprocess(Image.open(file)) does (the default for image files named on the command line).
 * CONVERT_FIRST: before, as webdataset, CLIP_benchmark and torchvision's ImageFolder hand images to
 * open_clip (what shards and image folders always get). The two differ only for palette, 1-bit,
 * RGBA, LA, 16-bit greyscale and CMYK files. */
typedef enum { BCOS_ORDER_OPEN_CLIP, BCOS_ORDER_CONVERT_FIRST } bcos_pixel_order;

/* "open-clip" or "convert-first" to the order: 0, or -1 with a message naming the text. */
int bcos_pixel_order_parse(bcos_pixel_order *order, const char *text, char *err, size_t errlen);

/* Reads the file at path and cuts CLIP's S x S x 3 evaluation crop from it in the given order: 0, or
 * -1 with err naming the file. */
int bcos_clip_eval_file_crop(uint8_t *crop, const char *path, int size, bcos_pixel_order order, char *err,
                             size_t errlen);

/* Decodes an encoded image (name appears in messages) and cuts that crop from it. In FAST mode a
 * JPEG is decoded scaled while both its sides stay >= 3/4 S (bcos_image_decode_fast), and cropped as
 * that smaller image, its short side resized to S up or down. Returns
 * 0, or -1 with err set (the image does not decode, or is too elongated). */
int bcos_clip_eval_decode_crop(uint8_t *crop, const uint8_t *data, size_t len, int size, bcos_decode_mode mode,
                               const char *name, char *err, size_t errlen);

/* OpenAI CLIP's normalisation (open_clip's OPENAI_DATASET_MEAN and _STD). */
extern const float bcos_clip_mean[3];
extern const float bcos_clip_std[3];

/* A crop (S x S x 3 bytes) to the model input: float [3, S, S], (pixel / 255 - mean[c]) / std[c]. */
void bcos_clip_normalize(float *out, const uint8_t *crop, int size, const float mean[3], const float std[3]);
/* A crop to the B-cos input: float [6, S, S], channels u = pixel / 255 then 1 - u, not normalised. */
void bcos_x6_from_crop(float *out, const uint8_t *crop, int size);

/* PNG bytes of an 8-bit image with 1 (grey), 3 (RGB) or 4 (RGBA, straight alpha) channels, in a heap
 * buffer the caller frees. */
uint8_t *bcos_png_encode(const uint8_t *pixels, int width, int height, int channels, size_t *size);
/* Write pixels[H,W,channels] (8-bit, channels 3 = RGB or 4 = RGBA with straight alpha) as a PNG file,
 * replaced atomically. Returns 0, or -1 with a one-line message in err naming the path. */
int bcos_png_write(const char *path, const uint8_t *pixels, int height, int width, int channels, char *err,
                   size_t errlen);
/* n floats of a picture in [0,1] to bytes, rounded to nearest (values outside clamp, NaN gives 0). */
void bcos_image_to_u8(uint8_t *out, const float *in, size_t n);

/* ---- Training crops
 *
 * Training crops as torchvision's RandomResizedCrop(S, scale, ratio, BICUBIC) followed by
 * RandomHorizontalFlip(0.5) make them on a PIL image: the box drawn by get_params' algorithm (ten
 * tries of an area fraction and a log-uniform aspect ratio, then the centre-crop fallback), cropped
 * and resized with PIL's bicubic, then flipped. Each sample's draws come from its own stream of
 * (seed, epoch, shard, index), where shard is the shard's position in the expanded URL list (what the
 * epoch plan deals), not its URL: a sample gets the same crop whichever rank or worker reads it and
 * whichever URL (scheme, host, folder) its shard is read through, and a resumed run repeats it. */

typedef struct {
    double scale[2]; /* area fraction of the image, [min, max]; {0, 0}: torchvision's (0.08, 1) */
    double ratio[2]; /* aspect ratio width / height, [min, max]; {0, 0}: (3/4, 4/3) */
    uint64_t seed, epoch;
} bcos_train_augment;

/* Decodes an encoded image once and writes the sample's training crop (S x S x 3). In FAST mode a
 * JPEG is decoded scaled while the box keeps at least 3/4 S pixels each way (bcos_image_decode_fast),
 * and the box is carried onto the smaller image, rounded outwards. 0, or -1 with err set (the image
 * does not decode). */
int bcos_train_decode_crop(uint8_t *out, const uint8_t *data, size_t len, int size, const bcos_train_augment *aug,
                           int shard, long index, bcos_decode_mode mode, const char *name, char *err,
                           size_t errlen);

/* ---- In-memory image sets
 *
 * An in-memory image source for single-process training and evaluation: every image of a folder
 * tree decoded once and center-cropped to the model's size (CLIP's evaluation geometry), with an
 * optional caption from a sibling .txt file. Streaming WebDataset shards replace it at scale. */

typedef struct {
    int count, size;
    uint8_t *crops;  /* count x size x size x 3, RGB interleaved */
    char **paths;    /* count */
    char **captions; /* count; NULL entries where no caption */
    int skipped;     /* files that did not decode */
} bcos_image_set;

/* Every .jpg/.jpeg/.png under dir (recursively, in sorted path order). Files that fail to decode
 * are skipped with a warning and counted. Returns 0, or -1 with err when dir cannot be read or
 * holds no decodable image. */
int bcos_image_set_load_dir(bcos_image_set *set, const char *dir, int size, char *err, size_t errlen);
/* An empty set of count crops of size x size for the caller to fill (tests, synthetic data). */
void bcos_image_set_alloc(bcos_image_set *set, int count, int size);
void bcos_image_set_free(bcos_image_set *set);

#endif
