/* safetensors writer: float32 tensors stored as F32, F16 or BF16, laid out and described the way
 * the Python package does it, and written atomically (temporary file, fsync, rename, directory
 * fsync) so that a crash leaves either the old file or the new one, never a torn one. */
#include "bcos/safetensors.h"

#include "bcos/check.h"
#include "bcos/paths.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_ELEMENTS 16384

static size_t dtype_bytes(bcos_dtype dtype) { return dtype == BCOS_F32 ? 4 : 2; }

/* The Python package orders dtypes by its enum, which lists F16 < BF16 < F32, and writes the
 * later ones first. */
static int python_dtype_rank(bcos_dtype dtype) { return dtype == BCOS_F32 ? 2 : dtype == BCOS_BF16 ? 1 : 0; }

static size_t entry_numel(const bcos_st_entry *e) {
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) numel *= (size_t)e->shape[d];
    return numel;
}

static int compare_entry_names(const void *a, const void *b) {
    return strcmp((*(const bcos_st_entry *const *)a)->name, (*(const bcos_st_entry *const *)b)->name);
}

/* File order: wider dtypes first, then by name. */
static int compare_entries(const void *a, const void *b) {
    int rank = python_dtype_rank((*(const bcos_st_entry *const *)b)->dtype) -
               python_dtype_rank((*(const bcos_st_entry *const *)a)->dtype);
    return rank ? rank : compare_entry_names(a, b);
}

static int compare_meta_keys(const void *a, const void *b) {
    return strcmp(((const bcos_st_meta *)a)->key, ((const bcos_st_meta *)b)->key);
}

/* Entries a reader would refuse, or that collide: reported, not written. */
static int check_entry(const char *path, const bcos_st_entry *e, char *err, size_t errlen) {
    if (!e->name || strcmp(e->name, "__metadata__") == 0)
        return bcos_error(err, errlen, path, "tensor name '%s' is reserved", e->name ? e->name : "(null)");
    if (e->dtype != BCOS_F32 && e->dtype != BCOS_F16 && e->dtype != BCOS_BF16)
        return bcos_error(err, errlen, path, "only F32, F16 and BF16 can be written (tensor '%s')", e->name);
    if (e->ndim < 0 || e->ndim > BCOS_ST_MAX_DIMS || (e->ndim > 0 && !e->shape))
        return bcos_error(err, errlen, path, "%d dimensions is not 0 to %d (tensor '%s')", e->ndim,
                          BCOS_ST_MAX_DIMS, e->name);
    size_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
        if (e->shape[d] < 0) return bcos_error(err, errlen, path, "negative dimension (tensor '%s')", e->name);
        if (e->shape[d] != 0 && numel > SIZE_MAX / 4 / (uint64_t)e->shape[d])
            return bcos_error(err, errlen, path, "shape overflows the byte count (tensor '%s')", e->name);
        numel *= (size_t)e->shape[d];
    }
    if (numel > 0 && !e->data) return bcos_error(err, errlen, path, "no data (tensor '%s')", e->name);
    return 0;
}

/* The entries in file order, or NULL with err set when one is invalid or names repeat. */
static const bcos_st_entry **order_entries(const char *path, const bcos_st_entry *entries, int n, char *err,
                                           size_t errlen) {
    const bcos_st_entry **order = xcalloc((size_t)n, sizeof *order);
    for (int i = 0; i < n; i++) {
        if (check_entry(path, &entries[i], err, errlen)) {
            free(order);
            return NULL;
        }
        order[i] = &entries[i];
    }
    /* Sorted by name first, repeats are neighbours. */
    qsort(order, (size_t)n, sizeof *order, compare_entry_names);
    for (int i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            bcos_error(err, errlen, path, "duplicate tensor name (tensor '%s')", order[i]->name);
            free(order);
            return NULL;
        }
    qsort(order, (size_t)n, sizeof *order, compare_entries);
    return order;
}

/* The caller's pairs plus the format version, sorted by key; NULL with err set on a clash. */
static bcos_st_meta *collect_metadata(const char *path, const bcos_st_meta *meta, int n_meta, char *err,
                                      size_t errlen) {
    bcos_st_meta *all = xcalloc((size_t)n_meta + 1, sizeof *all);
    all[0] = (bcos_st_meta){BCOS_ST_FORMAT_KEY, BCOS_ST_FORMAT_VERSION};
    for (int i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value) {
            free(all);
            bcos_error(err, errlen, path, "metadata pair %d has a NULL key or value", i);
            return NULL;
        }
        all[i + 1] = meta[i];
    }
    qsort(all, (size_t)n_meta + 1, sizeof *all, compare_meta_keys);
    for (int i = 1; i <= n_meta; i++)
        if (strcmp(all[i - 1].key, all[i].key) == 0) {
            bcos_error(err, errlen, path, "metadata key '%s' is %s", all[i].key,
                       strcmp(all[i].key, BCOS_ST_FORMAT_KEY) == 0 ? "reserved" : "given twice");
            free(all);
            return NULL;
        }
    return all;
}

static cJSON *checked_json(cJSON *item) {
    BCOS_CHECK(item != NULL, "the machine is out of memory");
    return item;
}

/* A JSON integer array, printed exactly (cJSON's doubles would turn large sizes into 1e+15). */
static cJSON *json_integers(const uint64_t *values, int n) {
    char text[BCOS_ST_MAX_DIMS * 22 + 3];
    size_t used = (size_t)snprintf(text, sizeof text, "[");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, i ? ",%" PRIu64 : "%" PRIu64, values[i]);
    snprintf(text + used, sizeof text - used, "]");
    return checked_json(cJSON_CreateRaw(text));
}

/* The header JSON in the Python package's compact form, padded with spaces to a multiple of 8
 * bytes so that the data, and with the dtype ordering every tensor, stays aligned. */
static char *build_header(const bcos_st_entry **order, int n, const bcos_st_meta *meta, int n_meta, size_t *len) {
    cJSON *root = checked_json(cJSON_CreateObject());
    cJSON *meta_json = checked_json(cJSON_CreateObject());
    cJSON_AddItemToObject(root, "__metadata__", meta_json);
    for (int i = 0; i < n_meta; i++) cJSON_AddItemToObject(meta_json, meta[i].key, checked_json(cJSON_CreateString(meta[i].value)));
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const bcos_st_entry *e = order[i];
        cJSON *info = checked_json(cJSON_CreateObject());
        cJSON_AddItemToObject(root, e->name, info);
        cJSON_AddItemToObject(info, "dtype", checked_json(cJSON_CreateString(bcos_dtype_name(e->dtype))));
        uint64_t shape[BCOS_ST_MAX_DIMS];
        for (int d = 0; d < e->ndim; d++) shape[d] = (uint64_t)e->shape[d];
        cJSON_AddItemToObject(info, "shape", json_integers(shape, e->ndim));
        uint64_t span[2] = {offset, offset + entry_numel(e) * dtype_bytes(e->dtype)};
        cJSON_AddItemToObject(info, "data_offsets", json_integers(span, 2));
        offset = span[1];
    }
    char *json = cJSON_PrintUnformatted(root);
    BCOS_CHECK(json != NULL, "the machine is out of memory");
    cJSON_Delete(root);
    size_t raw = strlen(json), padded = (raw + 7) / 8 * 8;
    char *header = xmalloc(padded);
    memcpy(header, json, raw);
    memset(header + raw, ' ', padded - raw);
    cJSON_free(json);
    *len = padded;
    return header;
}

static void encode_chunk(bcos_dtype dtype, const float *src, size_t count, uint8_t *dst) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        if (dtype == BCOS_F32) {
            memcpy(&bits, &src[i], sizeof bits);
            for (int b = 0; b < 4; b++) *dst++ = (uint8_t)(bits >> (8 * b));
        } else {
            bits = dtype == BCOS_F16 ? bcos_f32_to_f16(src[i]) : bcos_f32_to_bf16(src[i]);
            *dst++ = (uint8_t)bits;
            *dst++ = (uint8_t)(bits >> 8);
        }
    }
}

/* Header length, header, then each tensor's data converted chunk by chunk. Returns 0 or -1. */
static int write_contents(FILE *f, const char *header, size_t header_len, const bcos_st_entry **order, int n) {
    uint8_t length[8];
    for (int b = 0; b < 8; b++) length[b] = (uint8_t)((uint64_t)header_len >> (8 * b));
    if (fwrite(length, 1, 8, f) != 8 || fwrite(header, 1, header_len, f) != header_len) return -1;
    uint8_t *chunk = xmalloc(CHUNK_ELEMENTS * 4);
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        size_t numel = entry_numel(order[i]), width = dtype_bytes(order[i]->dtype);
        for (size_t done = 0; done < numel && status == 0; done += CHUNK_ELEMENTS) {
            size_t count = numel - done < CHUNK_ELEMENTS ? numel - done : CHUNK_ELEMENTS;
            encode_chunk(order[i]->dtype, order[i]->data + done, count, chunk);
            if (fwrite(chunk, width, count, f) != count) status = -1;
        }
    }
    free(chunk);
    return status;
}

/* Writes the file to a temporary name beside path and renames it into place. */
static int write_atomically(const char *path, const char *header, size_t header_len, const bcos_st_entry **order,
                            int n, char *err, size_t errlen) {
    char *tmp;
    int fd = bcos_open_temp_beside(path, &tmp, err, errlen);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "wb");
    const char *step = "write";
    int status = f ? 0 : -1;
    if (status == 0 && write_contents(f, header, header_len, order, n) != 0) status = -1;
    if (status == 0 && fflush(f) != 0) status = -1;
    bcos_fault_point("st_temp_written");
    if (status == 0 && fsync(fd) != 0) status = -1, step = "fsync";
    int saved = errno;
    if (f ? fclose(f) != 0 : close(fd) != 0) {
        if (status == 0) saved = errno, step = "close";
        status = -1;
    }
    bcos_fault_point("st_before_rename");
    return bcos_finish_temp(tmp, path, status, step, saved, err, errlen);
}

int bcos_st_write(const char *path, const bcos_st_entry *entries, int n, const bcos_st_meta *meta, int n_meta,
                  char *err, size_t errlen) {
    BCOS_CHECK(path && n >= 0 && n_meta >= 0 && (n == 0 || entries) && (n_meta == 0 || meta),
               "bcos_st_write was called with invalid arguments");
    const bcos_st_entry **order = order_entries(path, entries, n, err, errlen);
    if (!order) return -1;
    bcos_st_meta *all_meta = collect_metadata(path, meta, n_meta, err, errlen);
    if (!all_meta) {
        free(order);
        return -1;
    }
    size_t header_len;
    char *header = build_header(order, n, all_meta, n_meta + 1, &header_len);
    int status = write_atomically(path, header, header_len, order, n, err, errlen);
    free(header);
    free(all_meta);
    free(order);
    return status;
}
