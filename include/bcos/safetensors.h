/* safetensors files: read (mmap, bounds-checked header) and write (F32/F16/BF16).
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the raw little-endian data; offsets count from the start of the data, and the tensors
 * cover the data exactly, without holes or overlaps. Reading returns a status and a one-line
 * message naming the file and the culprit, never stops the process: bad files are user input. */
#ifndef BCOS_SAFETENSORS_H
#define BCOS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/check.h"

typedef enum { BCOS_F32, BCOS_F16, BCOS_BF16, BCOS_I64, BCOS_I32, BCOS_DTYPE_OTHER } bcos_dtype;

#define BCOS_ST_MAX_DIMS 8

typedef struct {
    char *name;
    bcos_dtype dtype;
    char dtype_name[16]; /* as written in the header, e.g. "F64" for BCOS_DTYPE_OTHER */
    int ndim;
    int64_t shape[BCOS_ST_MAX_DIMS];
    size_t numel;
    const uint8_t *data; /* points into the mapping; may be unaligned in a caller's buffer */
    size_t nbytes;
} bcos_st_tensor;

typedef struct {
    const char *key;
    const char *value;
} bcos_st_meta;

typedef struct {
    void *map; /* NULL when parsed from a caller's buffer */
    size_t map_size;
    int count;
    bcos_st_tensor *tensors; /* sorted by name */
    int meta_count;
    bcos_st_meta *meta; /* "__metadata__" string pairs, sorted by key */
    char *strings;      /* storage for names and metadata */
} bcos_safetensors;

/* Map and parse a file. Returns 0, or -1 with a message in err ("FILE: ..."). Every dtype of the
 * safetensors specification is accepted (those other than the enum's as BCOS_DTYPE_OTHER); a dtype
 * name outside it is an error, since its element size is unknown. */
int bcos_st_open(bcos_safetensors *st, const char *path, char *err, size_t errlen);
/* Parse a buffer the caller keeps alive (fuzzing, tests). Same checks as bcos_st_open; messages
 * start with "buffer: ". */
int bcos_st_parse(bcos_safetensors *st, const uint8_t *buf, size_t len, char *err, size_t errlen);
void bcos_st_close(bcos_safetensors *st);

/* NULL when absent. */
const bcos_st_tensor *bcos_st_find(const bcos_safetensors *st, const char *name);
const char *bcos_st_meta_get(const bcos_safetensors *st, const char *key);
/* Convert a F32/F16/BF16 tensor to float32; returns 0 or -1 (other dtypes) with err set. */
int bcos_st_to_f32(const bcos_st_tensor *t, float *out, char *err, size_t errlen);

/* "F32", "F16", "BF16", "I64", "I32"; NULL for BCOS_DTYPE_OTHER (see the tensor's dtype_name). */
const char *bcos_dtype_name(bcos_dtype dtype);

/* Infinities, signed zeros and subnormals convert exactly; NaNs stay NaNs (made quiet, sign and
 * payload kept). Decoding matches torch's bit for bit (tests/golden/test_safetensors_python.c). */
float bcos_f16_to_f32(uint16_t h);
uint16_t bcos_f32_to_f16(float f);   /* round to nearest even */
float bcos_bf16_to_f32(uint16_t h);
uint16_t bcos_f32_to_bf16(float f);  /* round to nearest even */

/* One tensor to write: float32 data in memory, stored as dtype. */
typedef struct {
    const char *name;
    bcos_dtype dtype; /* BCOS_F32, BCOS_F16 or BCOS_BF16 */
    int ndim;
    const int64_t *shape;
    const float *data;
} bcos_st_entry;

/* The metadata pair every file bcos_st_write writes carries: the version of bcos's own layout
 * conventions on top of safetensors (bumped when, say, checkpoint contents change). */
#define BCOS_ST_FORMAT_KEY "format_version"
#define BCOS_ST_FORMAT_VERSION "1"

/* Write atomically: a temporary file beside path, fsync, rename, directory fsync. Metadata is
 * n_meta key/value string pairs (may be 0); BCOS_ST_FORMAT_KEY is added and reserved. Like the
 * Python package, tensors are laid out by dtype (F32, BF16, F16: wider first, so each stays
 * aligned) then by name, the header lists them in that order after "__metadata__" (whose keys
 * are sorted), and the header is padded with spaces to a multiple of 8 bytes. Returns 0, or -1
 * with err set ("PATH: ...") for bad entries (duplicate or reserved names, negative dims) or a
 * failed write, which leaves any existing file at path untouched. */
int bcos_st_write(const char *path, const bcos_st_entry *entries, int n, const bcos_st_meta *meta,
                  int n_meta, char *err, size_t errlen);

#endif
