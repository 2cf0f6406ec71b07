/* safetensors reader: maps a file, parses its JSON header with cJSON and checks every claim the
 * header makes against the file before any tensor byte is handed out. A bad file is user input:
 * each check ends in a one-line message "FILE: what is wrong (tensor 'NAME')", never a crash. */
#include "bcos/safetensors.h"

#include "bcos/check.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The Python package refuses larger headers too; a real header is a few hundred kilobytes. */
#define MAX_HEADER_BYTES 100000000u
/* Integers above 2^53 cannot be told apart once cJSON holds them as doubles. */
#define MAX_JSON_INTEGER 9007199254740992.0

/* Every dtype of the safetensors specification, with its element width in bits. */
static const struct {
    const char *name;
    bcos_dtype dtype;
    unsigned bits;
} g_dtypes[] = {
    {"F32", BCOS_F32, 32},          {"F16", BCOS_F16, 16},          {"BF16", BCOS_BF16, 16},
    {"I64", BCOS_I64, 64},          {"I32", BCOS_I32, 32},          {"F64", BCOS_DTYPE_OTHER, 64},
    {"U64", BCOS_DTYPE_OTHER, 64},  {"C64", BCOS_DTYPE_OTHER, 64},  {"U32", BCOS_DTYPE_OTHER, 32},
    {"I16", BCOS_DTYPE_OTHER, 16},  {"U16", BCOS_DTYPE_OTHER, 16},  {"I8", BCOS_DTYPE_OTHER, 8},
    {"U8", BCOS_DTYPE_OTHER, 8},    {"BOOL", BCOS_DTYPE_OTHER, 8},  {"F8_E5M2", BCOS_DTYPE_OTHER, 8},
    {"F8_E4M3", BCOS_DTYPE_OTHER, 8}, {"F8_E8M0", BCOS_DTYPE_OTHER, 8},
    {"F8_E4M3FNUZ", BCOS_DTYPE_OTHER, 8}, {"F8_E5M2FNUZ", BCOS_DTYPE_OTHER, 8},
    {"F6_E2M3", BCOS_DTYPE_OTHER, 6}, {"F6_E3M2", BCOS_DTYPE_OTHER, 6}, {"F4", BCOS_DTYPE_OTHER, 4},
};
#define N_DTYPES (sizeof g_dtypes / sizeof g_dtypes[0])

const char *bcos_dtype_name(bcos_dtype dtype) {
    if (dtype == BCOS_DTYPE_OTHER) return NULL;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (g_dtypes[i].dtype == dtype) return g_dtypes[i].name;
    return NULL;
}

/* A name from the file, made safe for a one-line message: control bytes become '?', and long
 * names are cut (on a UTF-8 character boundary) with "...". */
typedef struct {
    char text[80];
} quoted;

static quoted quote(const char *s) {
    quoted q;
    size_t n = strlen(s), keep = n;
    if (n > 64) {
        keep = 64;
        while (keep > 0 && ((unsigned char)s[keep] & 0xC0) == 0x80) keep--;
    }
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        q.text[i] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    strcpy(q.text + keep, keep < n ? "..." : "");
    return q;
}

static uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and code points above
 * U+10FFFF included), or len when the text is valid. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= extra) return i;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += extra + 1;
    }
    return len;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int json_to_count(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= MAX_JSON_INTEGER) || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

static void format_shape(const bcos_st_tensor *t, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

/* The tensor's dtype: known name, enum value and width, or an error. */
static int parse_dtype(const bcos_reporter *r, const cJSON *entry, bcos_st_tensor *t, unsigned *bits) {
    const char *name = t->name;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!dtype) return bcos_report(r, "entry has no \"dtype\" (tensor '%s')", quote(name).text);
    if (!cJSON_IsString(dtype)) return bcos_report(r, "\"dtype\" is not a string (tensor '%s')", quote(name).text);
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strcmp(dtype->valuestring, g_dtypes[i].name) == 0) {
            t->dtype = g_dtypes[i].dtype;
            strcpy(t->dtype_name, g_dtypes[i].name);
            *bits = g_dtypes[i].bits;
            return 0;
        }
    }
    return bcos_report(r, "unknown dtype '%s' (tensor '%s')", quote(dtype->valuestring).text, quote(name).text);
}

/* Shape and element count, refusing dimensions that are not counts and products that overflow. */
static int parse_shape(const bcos_reporter *r, const cJSON *entry, bcos_st_tensor *t) {
    const char *name = t->name;
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!shape) return bcos_report(r, "entry has no \"shape\" (tensor '%s')", quote(name).text);
    if (!cJSON_IsArray(shape)) return bcos_report(r, "\"shape\" is not an array (tensor '%s')", quote(name).text);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > BCOS_ST_MAX_DIMS)
        return bcos_report(r, "shape has %d dimensions, at most %d are supported (tensor '%s')", ndim,
                    BCOS_ST_MAX_DIMS, quote(name).text);
    t->ndim = ndim;
    size_t numel = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t extent;
        if (json_to_count(dim, &extent) != 0)
            return bcos_report(r, "shape dimension %d is not a non-negative integer (tensor '%s')", d, quote(name).text);
        t->shape[d] = (int64_t)extent;
        if (extent != 0 && numel > SIZE_MAX / extent)
            return bcos_report(r, "shape overflows the element count (tensor '%s')", quote(name).text);
        numel *= (size_t)extent;
    }
    t->numel = numel;
    return 0;
}

/* A tensor's place in the data: its offsets and its index in the name-sorted table. */
typedef struct {
    uint64_t begin, end;
    int tensor;
} extent;

static int parse_offsets(const bcos_reporter *r, const cJSON *entry, const char *name, extent *e) {
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!pair) return bcos_report(r, "entry has no \"data_offsets\" (tensor '%s')", quote(name).text);
    if (!cJSON_IsArray(pair) || cJSON_GetArraySize(pair) != 2 || json_to_count(pair->child, &e->begin) != 0 ||
        json_to_count(pair->child->next, &e->end) != 0)
        return bcos_report(r, "\"data_offsets\" is not a pair of non-negative integers (tensor '%s')", quote(name).text);
    if (e->end < e->begin)
        return bcos_report(r, "data_offsets [%llu, %llu] are reversed (tensor '%s')", (unsigned long long)e->begin,
                    (unsigned long long)e->end, quote(name).text);
    return 0;
}

/* One header entry: dtype, shape and offsets, checked against each other and the data size. */
static int parse_tensor(const bcos_reporter *r, const cJSON *entry, size_t data_len, bcos_st_tensor *t, extent *e) {
    const char *name = t->name;
    if (!cJSON_IsObject(entry)) return bcos_report(r, "entry is not a JSON object (tensor '%s')", quote(name).text);
    unsigned bits = 0;
    if (parse_dtype(r, entry, t, &bits) || parse_shape(r, entry, t) || parse_offsets(r, entry, name, e))
        return -1;
    char shape[160];
    format_shape(t, shape, sizeof shape);
    if (t->numel > SIZE_MAX / bits)
        return bcos_report(r, "shape %s of %s overflows the byte count (tensor '%s')", shape, t->dtype_name, quote(name).text);
    size_t nbits = t->numel * bits;
    if (nbits % 8 != 0)
        return bcos_report(r, "shape %s of %s is not a whole number of bytes (tensor '%s')", shape, t->dtype_name,
                    quote(name).text);
    t->nbytes = nbits / 8;
    if (e->end > data_len)
        return bcos_report(r, "data_offsets [%llu, %llu] run past the %zu data bytes (tensor '%s')",
                    (unsigned long long)e->begin, (unsigned long long)e->end, data_len, quote(name).text);
    if (e->end - e->begin != t->nbytes)
        return bcos_report(r, "data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %zu (tensor '%s')",
                    (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)(e->end - e->begin), shape, t->dtype_name, t->nbytes, quote(name).text);
    return 0;
}

static int is_metadata_key(const cJSON *item) { return strcmp(item->string, "__metadata__") == 0; }

/* "__metadata__" must map strings to strings; its pairs are copied into st->strings later. */
static int check_metadata(const bcos_reporter *r, const cJSON *meta) {
    if (!cJSON_IsObject(meta)) return bcos_report(r, "\"__metadata__\" is not a JSON object");
    for (const cJSON *pair = meta->child; pair; pair = pair->next)
        if (!cJSON_IsString(pair))
            return bcos_report(r, "\"__metadata__\" value of key '%s' is not a string", quote(pair->string).text);
    return 0;
}

/* Copies s into the string storage at *cursor and returns the copy. */
static char *store_string(char **cursor, const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*cursor, s, n);
    *cursor += n;
    return copy;
}

/* Counts tensors and metadata pairs, checks the metadata, and sizes the string storage. */
static int survey_header(const bcos_reporter *r, const cJSON *root, bcos_safetensors *st, size_t *string_bytes) {
    int seen_metadata = 0;
    *string_bytes = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (!is_metadata_key(item)) {
            st->count++;
            *string_bytes += strlen(item->string) + 1;
            continue;
        }
        if (seen_metadata++) return bcos_report(r, "\"__metadata__\" appears twice");
        if (check_metadata(r, item)) return -1;
        for (const cJSON *pair = item->child; pair; pair = pair->next, st->meta_count++)
            *string_bytes += strlen(pair->string) + strlen(pair->valuestring) + 2;
    }
    return 0;
}

static int compare_tensor_names(const void *a, const void *b) {
    return strcmp(((const bcos_st_tensor *)a)->name, ((const bcos_st_tensor *)b)->name);
}

static int compare_meta_keys(const void *a, const void *b) {
    return strcmp(((const bcos_st_meta *)a)->key, ((const bcos_st_meta *)b)->key);
}

static int compare_extents(const void *a, const void *b) {
    const extent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The safetensors specification: the tensors tile the data, in some order, with no overlap and
 * no byte left over. Sorted by offset, each must start where the previous one ended. */
static int check_coverage(const bcos_reporter *r, const bcos_safetensors *st, extent *extents, size_t data_len) {
    qsort(extents, (size_t)st->count, sizeof *extents, compare_extents);
    uint64_t covered = 0;
    for (int i = 0; i < st->count; i++) {
        const extent *e = &extents[i];
        const char *name = st->tensors[e->tensor].name;
        if (e->begin > covered)
            return bcos_report(r, "data bytes [%llu, %llu) before tensor '%s' belong to no tensor", (unsigned long long)covered,
                        (unsigned long long)e->begin, quote(name).text);
        if (e->begin < covered)
            return bcos_report(r, "data_offsets [%llu, %llu] overlap tensor '%s' (tensor '%s')", (unsigned long long)e->begin,
                        (unsigned long long)e->end, quote(st->tensors[extents[i - 1].tensor].name).text,
                        quote(name).text);
        covered = e->end;
    }
    if (covered != data_len)
        return bcos_report(r, "data bytes [%llu, %zu) at the end belong to no tensor", (unsigned long long)covered, data_len);
    return 0;
}

/* Fills st's tables from a parsed header; data holds data_len bytes after the header. */
static int load_header(const bcos_reporter *r, const cJSON *root, const uint8_t *data, size_t data_len,
                       bcos_safetensors *st) {
    size_t string_bytes;
    if (survey_header(r, root, st, &string_bytes)) return -1;
    st->tensors = xcalloc((size_t)st->count, sizeof *st->tensors);
    st->meta = xcalloc((size_t)st->meta_count, sizeof *st->meta);
    st->strings = xmalloc(string_bytes);
    extent *extents = xcalloc((size_t)st->count, sizeof *extents);
    char *cursor = st->strings;
    int t = 0, m = 0, status = 0;
    for (const cJSON *item = root->child; item && status == 0; item = item->next) {
        if (is_metadata_key(item)) {
            for (const cJSON *pair = item->child; pair; pair = pair->next, m++) {
                st->meta[m].key = store_string(&cursor, pair->string);
                st->meta[m].value = store_string(&cursor, pair->valuestring);
            }
            continue;
        }
        bcos_st_tensor *tensor = &st->tensors[t++];
        tensor->name = store_string(&cursor, item->string);
        status = parse_tensor(r, item, data_len, tensor, &extents[t - 1]);
    }
    if (status == 0) {
        /* Sorted by name, repeated names become neighbours and bcos_st_find can bisect. Each
         * tensor's offset travels through the sort as its data pointer. */
        for (int i = 0; i < st->count; i++) st->tensors[i].data = data + extents[i].begin;
        qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, compare_tensor_names);
        for (int i = 1; i < st->count && status == 0; i++)
            if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0)
                status = bcos_report(r, "duplicate tensor name (tensor '%s')", quote(st->tensors[i].name).text);
    }
    if (status == 0) {
        qsort(st->meta, (size_t)st->meta_count, sizeof *st->meta, compare_meta_keys);
        for (int i = 1; i < st->meta_count && status == 0; i++)
            if (strcmp(st->meta[i - 1].key, st->meta[i].key) == 0)
                status = bcos_report(r, "\"__metadata__\" key '%s' appears twice", quote(st->meta[i].key).text);
    }
    if (status == 0) {
        for (int i = 0; i < st->count; i++) {
            extents[i].begin = (uint64_t)(st->tensors[i].data - data);
            extents[i].end = extents[i].begin + st->tensors[i].nbytes;
            extents[i].tensor = i;
        }
        status = check_coverage(r, st, extents, data_len);
    }
    free(extents);
    return status;
}

/* Offset of a "\u0000" escape, or len: cJSON would silently cut the string there. Backslashes
 * only occur inside strings in valid JSON, so the scan does not need to track strings. */
static size_t escaped_nul_at(const char *text, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\') continue;
        if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0) return i;
        i++; /* skip the escaped character, which may itself be a backslash */
    }
    return len;
}

/* Header bytes as a NUL-terminated copy, so cJSON can never read past them, after the checks
 * JSON text itself cannot make: no NUL byte, raw or escaped, and valid UTF-8. */
static char *header_text(const bcos_reporter *r, const uint8_t *bytes, size_t len) {
    const uint8_t *nul = memchr(bytes, 0, len);
    if (nul) {
        bcos_report(r, "header contains a NUL byte (at header byte %zu)", (size_t)(nul - bytes));
        return NULL;
    }
    size_t bad = utf8_invalid_at(bytes, len);
    if (bad != len) {
        bcos_report(r, "header is not valid UTF-8 (at header byte %zu)", bad);
        return NULL;
    }
    bad = escaped_nul_at((const char *)bytes, len);
    if (bad != len) {
        bcos_report(r, "header escapes a NUL character (at header byte %zu), which names cannot hold", bad);
        return NULL;
    }
    char *text = xmalloc(len + 1);
    memcpy(text, bytes, len);
    text[len] = '\0';
    return text;
}

static cJSON *parse_json(const bcos_reporter *r, const char *text, size_t len) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        bcos_report(r, "header is not valid JSON (near header byte %zu)", at);
        return NULL;
    }
    /* Writers pad the header with spaces to align the data; anything else is damage. */
    end += strspn(end, " \t\r\n");
    if (*end != '\0') {
        bcos_report(r, "header has bytes after its JSON value (at header byte %zu)", (size_t)(end - text));
    } else if (!cJSON_IsObject(root)) {
        bcos_report(r, "header is not a JSON object");
    } else {
        return root;
    }
    cJSON_Delete(root);
    return NULL;
}

static int parse_labeled(bcos_safetensors *st, const uint8_t *buf, size_t len, const bcos_reporter *r) {
    memset(st, 0, sizeof *st);
    if (len < 8) return bcos_report(r, "file is %zu bytes, too short for the 8-byte header length", len);
    uint64_t header_len = load_le64(buf);
    if (header_len > MAX_HEADER_BYTES)
        return bcos_report(r, "header length %llu is beyond the %u-byte limit (not a safetensors file?)",
                    (unsigned long long)header_len, MAX_HEADER_BYTES);
    if (header_len > len - 8)
        return bcos_report(r, "header length %llu runs past the end of the %zu-byte file (truncated?)",
                    (unsigned long long)header_len, len);
    char *text = header_text(r, buf + 8, (size_t)header_len);
    if (!text) return -1;
    cJSON *root = parse_json(r, text, (size_t)header_len);
    int status = -1;
    if (root) {
        size_t data_start = 8 + (size_t)header_len;
        status = load_header(r, root, buf + data_start, len - data_start, st);
        cJSON_Delete(root);
    }
    free(text);
    if (status != 0) bcos_st_close(st);
    return status;
}

int bcos_st_parse(bcos_safetensors *st, const uint8_t *buf, size_t len, char *err, size_t errlen) {
    bcos_reporter r = {"buffer", err, errlen};
    return parse_labeled(st, buf, len, &r);
}

int bcos_st_open(bcos_safetensors *st, const char *path, char *err, size_t errlen) {
    bcos_reporter r = {path, err, errlen};
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bcos_report(&r, "cannot open: %s", strerror(errno));
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int saved = errno;
        close(fd);
        return bcos_report(&r, "cannot stat: %s", strerror(saved));
    }
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        return bcos_report(&r, "not a regular file");
    }
    size_t size = (size_t)info.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int saved = errno;
            close(fd);
            return bcos_report(&r, "cannot map: %s", strerror(saved));
        }
    }
    close(fd); /* the mapping keeps the file alive */
    if (parse_labeled(st, map ? map : (const void *)"", size, &r) != 0) {
        if (map) munmap(map, size);
        return -1;
    }
    st->map = map;
    st->map_size = size;
    return 0;
}

void bcos_st_close(bcos_safetensors *st) {
    if (st->map) munmap(st->map, st->map_size);
    free(st->tensors);
    free(st->meta);
    free(st->strings);
    memset(st, 0, sizeof *st);
}

const bcos_st_tensor *bcos_st_find(const bcos_safetensors *st, const char *name) {
    bcos_st_tensor key = {.name = (char *)name};
    return bsearch(&key, st->tensors, (size_t)st->count, sizeof key, compare_tensor_names);
}

const char *bcos_st_meta_get(const bcos_safetensors *st, const char *key) {
    bcos_st_meta wanted = {.key = key};
    const bcos_st_meta *found = bsearch(&wanted, st->meta, (size_t)st->meta_count, sizeof wanted, compare_meta_keys);
    return found ? found->value : NULL;
}

int bcos_st_to_f32(const bcos_st_tensor *t, float *out, char *err, size_t errlen) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case BCOS_F32:
        for (size_t i = 0; i < t->numel; i++, p += 4) {
            uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&out[i], &bits, sizeof bits);
        }
        return 0;
    case BCOS_F16:
        for (size_t i = 0; i < t->numel; i++, p += 2) out[i] = bcos_f16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 0;
    case BCOS_BF16:
        for (size_t i = 0; i < t->numel; i++, p += 2) out[i] = bcos_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        return 0;
    default:
        if (err && errlen)
            snprintf(err, errlen, "tensor '%s' has dtype %s, which does not convert to float32 (expected F32, F16 or BF16)",
                     quote(t->name).text, t->dtype_name);
        return -1;
    }
}
