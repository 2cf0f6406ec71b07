/* The inside of src/image: the decoded image (8-bit RGB, with what resizing in the file's own mode
 * needs), its decoders, one per format, PIL's bicubic resize, CLIP's crop geometry and the training
 * crops' boxes, and the arithmetic they share. Other modules use include/bcos/image.h; tests and
 * benchmarks reach these by path. */
#ifndef BCOS_IMAGE_INTERNAL_H
#define BCOS_IMAGE_INTERNAL_H

#include "bcos/image.h"

/* PIL's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS): by default, larger images are refused
 * before any pixel memory is allocated. */
#define BCOS_IMAGE_MAX_PIXELS 178956970L

/* How PIL resizes a file in the mode Image.open gives it (open_clip's order on a bare file, where the
 * conversion to RGB comes after the resize). */
typedef enum {
    BCOS_PIXELS_RGB,     /* RGB and L (and any image decoded without its own mode): as the RGB image */
    BCOS_PIXELS_NEAREST, /* palette (P) and 1-bit (1): PIL forces nearest-neighbour */
    BCOS_PIXELS_ALPHA,   /* RGBA and LA: PIL premultiplies the colours by alpha, resizes, divides back */
    BCOS_PIXELS_GREY16,  /* 16-bit greyscale (I;16): PIL resizes the 16-bit samples in double precision */
    BCOS_PIXELS_CMYK,    /* CMYK and YCCK JPEG (CMYK): PIL resizes the four channels, then converts */
} bcos_pixel_mode;

/* An 8-bit RGB image: rgb holds height x width x 3 bytes, rows top to bottom, channels interleaved.
 * Decoded with bcos_image_decode_own_mode, it also keeps what resizing in the file's own mode needs:
 * mode, and width x height alpha bytes (ALPHA), 16-bit samples (GREY16) or 4-byte pixels of PIL's CMYK
 * (CMYK). Otherwise mode is RGB and the planes are NULL. */
typedef struct {
    int width, height;
    uint8_t *rgb;
    bcos_pixel_mode mode;
    uint8_t *alpha;
    uint16_t *grey16;
    uint8_t *cmyk;
} bcos_image;

const char *bcos_image_format_name(bcos_image_format format);

/* Decode an encoded image to RGB. name appears in messages ("NAME: ..."). Returns 0, or -1 with a
 * one-line message in err (corrupt, truncated, unsupported, too large). EXIF orientation is not
 * applied, as PIL's open does not apply it. On failure img is left empty. */
int bcos_image_decode(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                      size_t errlen);
/* The decompression-bomb limit in pixels, process-wide like PIL's: BCOS_IMAGE_MAX_PIXELS until set.
 * Set it before decoding threads start. */
void bcos_image_set_max_pixels(long max_pixels);
long bcos_image_max_pixels(void);

/* bcos_image_decode, plus the file's own mode (see bcos_image). */
int bcos_image_decode_own_mode(bcos_image *img, const uint8_t *data, size_t len, const char *name, char *err,
                               size_t errlen);

/* Read and decode a file; messages name the path. */
int bcos_image_load(bcos_image *img, const char *path, char *err, size_t errlen);
int bcos_image_load_own_mode(bcos_image *img, const char *path, char *err, size_t errlen);
void bcos_image_free(bcos_image *img);

const char *bcos_decode_mode_name(bcos_decode_mode mode);

/* A JPEG's full width and height from its headers alone, no pixel decoded: 0, or -1 when the data
 * is not a JPEG or its headers do not say. */
int bcos_image_jpeg_size(const uint8_t *data, size_t len, int *width, int *height);

/* Decodes as bcos_image_decode does, except that a JPEG of width x height is scaled in its DCT by the
 * smallest of 1/8, 1/4, 1/2 that keeps width * scale >= min_w and height * scale >= min_h (full size
 * when none does), to ceil(width * scale) x ceil(height * scale): exactly PIL's
 * Image.draft("RGB", (min_w, min_h)) then convert("RGB"). The bomb limit applies to the full size. */
int bcos_image_decode_scaled(bcos_image *img, const uint8_t *data, size_t len, int min_w, int min_h,
                             const char *name, char *err, size_t errlen);
/* The fast mode's decode for a preprocessing that samples need_w x need_h pixels of the image:
 * bcos_image_decode_scaled for ceil(3 * need_w / 4) x ceil(3 * need_h / 4), so a side may come out
 * up to a quarter short of the need (the resize enlarges it). */
int bcos_image_decode_fast(bcos_image *img, const uint8_t *data, size_t len, int need_w, int need_h,
                           const char *name, char *err, size_t errlen);

/* PIL's bicubic resize (Image.resize(size, BICUBIC), no reducing_gap, as torchvision calls it) of the
 * whole image to out_w x out_h. out receives a new image; free it with bcos_image_free. */
void bcos_image_resize_bicubic(bcos_image *out, const bcos_image *in, int out_w, int out_h);
/* The window [x0, x0 + win_w) x [y0, y0 + win_h) of what bcos_image_resize_bicubic would give at
 * out_w x out_h, computed without the rest of it: out holds win_h x win_w x 3 bytes. */
void bcos_resize_bicubic_window(uint8_t *out, const bcos_image *in, int out_w, int out_h, int x0, int y0,
                                int win_w, int win_h);

/* A rectangle of an image: left column x, top row y, w x h pixels. */
typedef struct {
    int x, y, w, h;
} bcos_box;

/* torchvision's F.resized_crop(img, box.y, box.x, box.h, box.w, [out_h, out_w], BICUBIC) on a PIL
 * image: the box is cropped, then resized with PIL's bicubic as an image of its own (its kernels
 * clamp at the box's edges). out holds out_h x out_w x 3 bytes. The box must lie inside the image. */
void bcos_image_resized_crop(uint8_t *out, const bcos_image *in, const bcos_box *box, int out_w, int out_h);
/* Mirrors the rows of an RGB buffer in place (torchvision's hflip). */
void bcos_image_flip_horizontal(uint8_t *rgb, int width, int height);

/* Where CLIP's evaluation transform puts an image of width x height for model input size S: the
 * shortest side becomes S, the other int(S * long / short); the S x S crop's top-left corner is
 * int(round((resized - S) / 2)) with Python's round (halves to even). */
typedef struct {
    int resized_w, resized_h;
    int crop_x, crop_y;
} bcos_clip_geometry;

/* Returns 0, or -1 with err set when the resized long side would not fit in an int. */
int bcos_clip_eval_geometry(bcos_clip_geometry *g, int width, int height, int size, char *err, size_t errlen);

/* The S x S x 3 centre crop of the resized image (only the crop is resampled). Returns 0 or -1 as
 * bcos_clip_eval_geometry does. */
int bcos_clip_eval_crop(uint8_t *crop, const bcos_image *img, int size, char *err, size_t errlen);

/* The same crop as open_clip's transform gives for the image in the file's own mode (img->mode):
 * resized in that mode as PIL resizes it, cropped, then converted to RGB. For BCOS_PIXELS_RGB it is
 * bcos_clip_eval_crop. */
int bcos_clip_eval_crop_own_mode(uint8_t *crop, const bcos_image *img, int size, char *err, size_t errlen);

/* Decoded image to CLIP's model input [3, S, S] with the given mean and std: crop, then normalise. */
int bcos_clip_preprocess(float *out, const bcos_image *img, int size, const float mean[3], const float std[3],
                         char *err, size_t errlen);

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


/* PIL's MULDIV255: a * b / 255, rounded, in integers (CMYK to RGB, premultiplied alpha). */
static inline uint8_t bcos_muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Each returns 0 with img filled, or -1 with "NAME: ..." in err and img empty. */
/* own_mode: also keep the file's own mode (bcos_image's mode and planes). */
int bcos_decode_jpeg(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen);
/* The same at k/8 of the full size in each dimension (k = eighths, 1..8; TurboJPEG's rounding up),
 * through libjpeg's DCT scaling. */
int bcos_decode_jpeg_scaled(bcos_image *img, const uint8_t *data, size_t len, int eighths, const char *name,
                            char *err, size_t errlen);
int bcos_decode_png(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                    size_t errlen);
int bcos_decode_webp(bcos_image *img, const uint8_t *data, size_t len, int own_mode, const char *name, char *err,
                     size_t errlen);

/* Refuse sizes that are empty or over bcos_image_max_pixels() (a decompression bomb): 0, or -1 with
 * err set. */
int bcos_image_check_size(long width, long height, const char *name, char *err, size_t errlen);
/* The same check, then img->rgb allocated for the size. */
int bcos_image_alloc(bcos_image *img, long width, long height, const char *name, char *err, size_t errlen);

#endif
