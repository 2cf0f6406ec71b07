/* IDX files (the MNIST format): a big-endian header (two zero bytes, the element type, the number of
 * dimensions, then each dimension as a 32-bit count) followed by the elements. zlib's gzip reader takes
 * compressed and plain files alike. */
#include "shards_internal.h"

#include "bcos/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_UBYTE 0x08
/* More than this is taken for a damaged header rather than a dataset. */
#define IDX_MAX_BYTES (1LL << 36)

static const char *type_name(int type) {
    switch (type) {
    case 0x09: return "signed bytes";
    case 0x0B: return "16-bit integers";
    case 0x0C: return "32-bit integers";
    case 0x0D: return "floats";
    case 0x0E: return "doubles";
    }
    return "an unknown type";
}

/* Reads exactly n bytes; returns how many were read, or -1 on damaged data. */
static long long read_exactly(gzFile f, uint8_t *out, size_t n) {
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? 1u << 30 : (unsigned)(n - got);
        int r = gzread(f, out + got, chunk);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static int damaged(gzFile f, const char *path, char *err, size_t errlen) {
    int code = 0;
    const char *why = gzerror(f, &code);
    return bcos_error(err, errlen, path, "damaged gzip data: %s", code == Z_ERRNO ? strerror(errno) : why);
}

/* Parses the header; fills idx's dims and returns the element count, or -1 with err set. */
static long long read_header(gzFile f, bcos_idx *idx, const char *path, char *err, size_t errlen) {
    uint8_t magic[4];
    long long n = read_exactly(f, magic, 4);
    if (n < 0) return damaged(f, path, err, errlen);
    if (n < 4 || magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > BCOS_IDX_MAX_DIMS)
        return bcos_error(err, errlen, path, "not an IDX file (it starts with %02x %02x %02x %02x)", n > 0 ? magic[0] : 0,
                          n > 1 ? magic[1] : 0, n > 2 ? magic[2] : 0, n > 3 ? magic[3] : 0);
    if (magic[2] != IDX_UBYTE)
        return bcos_error(err, errlen, path, "IDX of %s (type 0x%02x); only unsigned bytes (0x08) are read",
                          type_name(magic[2]), magic[2]);
    idx->ndims = magic[3];
    long long total = 1;
    for (int d = 0; d < idx->ndims; d++) {
        uint8_t b[4];
        n = read_exactly(f, b, 4);
        if (n < 0) return damaged(f, path, err, errlen);
        if (n < 4) return bcos_error(err, errlen, path, "the IDX header ends early (truncated)");
        idx->dims[d] = (long)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
        if (idx->dims[d] == 0) return bcos_error(err, errlen, path, "IDX dimension %d is 0", d);
        total *= idx->dims[d];
        if (total > IDX_MAX_BYTES)
            return bcos_error(err, errlen, path, "the IDX header announces over %lld bytes", (long long)IDX_MAX_BYTES);
    }
    return total;
}

int bcos_idx_read(bcos_idx *idx, const char *path, char *err, size_t errlen) {
    memset(idx, 0, sizeof *idx);
    gzFile f = gzopen(path, "rb");
    if (!f) return bcos_error(err, errlen, path, "cannot open: %s", strerror(errno ? errno : ENOMEM));
    long long total = read_header(f, idx, path, err, errlen);
    int rc = total < 0 ? -1 : 0;
    if (rc == 0) {
        idx->data = xmalloc((size_t)total);
        idx->size = (size_t)total;
        long long got = read_exactly(f, idx->data, idx->size), more = 0;
        uint8_t extra;
        if (got == total) more = read_exactly(f, &extra, 1);
        if (got < 0 || more < 0) rc = damaged(f, path, err, errlen);
        else if (got < total)
            rc = bcos_error(err, errlen, path, "ends after %lld of the %lld data bytes its header announces (truncated)",
                            got, total);
        else if (more > 0)
            rc = bcos_error(err, errlen, path, "has bytes past the %lld its header announces", total);
    }
    gzclose(f);
    if (rc != 0) bcos_idx_free(idx);
    return rc;
}

void bcos_idx_free(bcos_idx *idx) {
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
