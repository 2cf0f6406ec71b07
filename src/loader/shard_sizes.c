/* Known sample counts: the URLs are grouped by folder; each folder's sizes.json is read once (a file, or
 * an http(s) body of at most SIZES_MAX_BYTES), then its entry in the count cache, and the shards neither
 * knows are read through the sample reader and counted. The cache file of a folder is replaced
 * atomically, so that ranks counting at once leave a whole file (the last one written). */
#include "bcos/shard_sizes.h"

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "bcos/paths.h"
#include "bcos/samples.h"
#include "bcos/urls.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIZES_MAX_BYTES (64L << 20)
#define CACHE_FORMAT "bcos-shard-sizes 1"

const char *bcos_size_source_name(bcos_size_source s) {
    switch (s) {
    case BCOS_SIZE_FROM_SIZES_JSON: return "sizes.json";
    case BCOS_SIZE_FROM_CACHE: return "cache";
    case BCOS_SIZE_COUNTED: return "counted";
    }
    return "unknown";
}

char *bcos_cache_dir(void) {
    const char *own = getenv("BCOS_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (own && *own) return xstrdup(own);
    if (xdg && *xdg) return bcos_strfmt("%s/bcos", xdg);
    if (home && *home) return bcos_strfmt("%s/.cache/bcos", home);
    return NULL;
}

static bool is_remote(const char *url) {
    bcos_url_kind k = bcos_url_kind_of(url);
    return k == BCOS_URL_HTTP || k == BCOS_URL_HTTPS;
}

/* The folder part of a URL, up to its last "/" ("" for a bare file name). */
static char *folder_of(const char *url) {
    const char *slash = strrchr(url, '/');
    size_t len = slash ? (size_t)(slash - url) + 1 : 0;
    char *dir = xmalloc(len + 1);
    memcpy(dir, url, len);
    dir[len] = '\0';
    return dir;
}

/* ---- sizes.json */

/* The body of an http(s) URL, or NULL (why in err) when it cannot be fetched or is too large;
 * *missing says whether the server said that it does not exist (404 or 410). The transfer's counts
 * are added to *fetched. */
static char *fetch_small(const char *url, const bcos_fetch_options *opt, bcos_fetch_stats *fetched, size_t *len,
                         bool *missing, char *err, size_t errlen) {
    bcos_http_stream *s = bcos_http_open(url, opt);
    char *body = NULL;
    size_t used = 0;
    const void *data;
    long n;
    while ((n = bcos_http_read(s, &data)) > 0 && used + (size_t)n <= SIZES_MAX_BYTES) {
        body = xrealloc(body, used + (size_t)n + 1);
        memcpy(body + used, data, (size_t)n);
        used += (size_t)n;
    }
    *missing = n < 0 && (bcos_http_status(s) == 404 || bcos_http_status(s) == 410);
    if (n != 0) {
        bcos_error(err, errlen, NULL, "%s", n < 0 ? bcos_http_error(s) : "larger than 64 MiB");
        free(body);
        body = NULL;
    } else if (!body) {
        body = xcalloc(1, 1);
    } else {
        body[used] = '\0';
    }
    bcos_fetch_stats_add(fetched, bcos_http_stats(s));
    bcos_http_close(s);
    *len = used;
    return body;
}

/* The folder's sizes.json as a JSON object: NULL when there is none (*failed stays 0), or NULL with
 * *failed set and err when it exists but is not a mapping of names to counts, or when the server
 * fails to answer for it (after the retries): an error is not an absence, and taking it for one
 * would read every shard once to count it. */
static cJSON *read_sizes_json(const char *dir, const bcos_fetch_options *opt, bcos_fetch_stats *fetched, int *failed,
                              char *err, size_t errlen) {
    char *url = bcos_strfmt("%ssizes.json", dir);
    size_t len = 0;
    char *text, why[BCOS_ERRLEN] = "";
    if (is_remote(url)) {
        bool missing;
        text = fetch_small(url, opt, fetched, &len, &missing, why, sizeof why);
        if (!text && missing) {
            char *shown = bcos_url_redact(url);
            bcos_info("no sizes.json at %s (%s)", shown, why);
            free(shown);
        }
        if (!text && !missing)
            *failed = bcos_error(err, errlen, NULL, "cannot read the shards' sample counts: %s (only a 404 or 410 "
                                 "means that there is no sizes.json; fix the server or retry later)", why);
    } else {
        text = bcos_read_file(bcos_url_path(url), &len);
    }
    cJSON *sizes = text ? cJSON_ParseWithLength(text, len) : NULL;
    if (text && !cJSON_IsObject(sizes)) {
        *failed = bcos_error(err, errlen, url, "not a JSON object of shard sample counts");
        cJSON_Delete(sizes);
        sizes = NULL;
    }
    free(text);
    free(url);
    return sizes;
}

/* A count from sizes.json: a non-negative integer, as a number or a decimal string (open_clip takes
 * both). Returns the count, -1 when the name is absent, -2 when the value is not a count. */
static long sizes_entry(const cJSON *sizes, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sizes, name);
    if (!v) return -1;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble; /* whole numbers up to 2^53 are exact in a double */
        return d >= 0 && d <= 9007199254740992.0 && d == (double)(long long)d ? (long)d : -2;
    }
    if (!cJSON_IsString(v)) return -2;
    char *end;
    errno = 0;
    long n = strtol(v->valuestring, &end, 10);
    return end != v->valuestring && !*end && !errno && n >= 0 ? n : -2;
}

/* ---- the count cache */

typedef struct {
    char *path;     /* NULL: no cache */
    char *folder;   /* the folder's identity: an absolute path, or the URL's folder */
    cJSON *root;    /* {"format", "folder", "shards": {name: {"samples", "bytes", "mtime", "mtime_ns"}}} */
    bool dirty;
} count_cache;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return h;
}

static void cache_open(count_cache *c, const char *cache_dir, const char *dir) {
    memset(c, 0, sizeof *c);
    if (is_remote(dir)) {
        c->folder = xstrdup(dir);
    } else {
        char *real = realpath(*dir ? bcos_url_path(dir) : ".", NULL);
        c->folder = real ? real : xstrdup(dir);
    }
    if (cache_dir) {
        c->path = bcos_strfmt("%s/shard-sizes/%016llx.json", cache_dir, (unsigned long long)fnv1a(c->folder));
        char *text = bcos_read_file(c->path, NULL);
        c->root = text ? cJSON_Parse(text) : NULL;
        free(text);
    }
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(c->root, "format");
    const cJSON *folder = cJSON_GetObjectItemCaseSensitive(c->root, "folder");
    bool ours = cJSON_IsString(format) && strcmp(format->valuestring, CACHE_FORMAT) == 0 && cJSON_IsString(folder) &&
                strcmp(folder->valuestring, c->folder) == 0 &&
                cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(c->root, "shards"));
    if (!ours) {
        /* absent, damaged, of another format or of another folder with the same hash: start afresh */
        cJSON_Delete(c->root);
        c->root = cJSON_CreateObject();
        cJSON_AddStringToObject(c->root, "format", CACHE_FORMAT);
        cJSON_AddStringToObject(c->root, "folder", c->folder);
        cJSON_AddObjectToObject(c->root, "shards");
    }
}

/* What identifies the version of a shard that was counted: for a local file its size and
 * modification time; a remote shard is taken as unchanged. */
typedef struct {
    bool local;
    double bytes, mtime, mtime_ns;
} shard_stamp;

static int stamp_of(shard_stamp *st, const char *url) {
    memset(st, 0, sizeof *st);
    if (is_remote(url)) return 0;
    struct stat sb;
    if (stat(bcos_url_path(url), &sb) != 0) return -1;
    *st = (shard_stamp){true, (double)sb.st_size, (double)sb.st_mtim.tv_sec, (double)sb.st_mtim.tv_nsec};
    return 0;
}

static double number_in(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static long cache_lookup(const count_cache *c, const char *name, const shard_stamp *st) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c->root, "shards"), name);
    double samples = number_in(e, "samples");
    if (samples < 0) return -1;
    if (st->local && (number_in(e, "bytes") != st->bytes || number_in(e, "mtime") != st->mtime ||
                      number_in(e, "mtime_ns") != st->mtime_ns))
        return -1;
    return (long)samples;
}

static void cache_store(count_cache *c, const char *name, long samples, double bytes, const shard_stamp *st) {
    cJSON *shards = cJSON_GetObjectItemCaseSensitive(c->root, "shards");
    cJSON *e = cJSON_CreateObject();
    BCOS_CHECK(e, "out of memory");
    cJSON_AddNumberToObject(e, "samples", (double)samples);
    cJSON_AddNumberToObject(e, "bytes", bytes);
    if (st->local) {
        cJSON_AddNumberToObject(e, "mtime", st->mtime);
        cJSON_AddNumberToObject(e, "mtime_ns", st->mtime_ns);
    }
    if (cJSON_GetObjectItemCaseSensitive(shards, name)) cJSON_ReplaceItemInObjectCaseSensitive(shards, name, e);
    else cJSON_AddItemToObject(shards, name, e);
    c->dirty = true;
}

/* Writes the cache back when it changed. A cache that cannot be written costs a recount later, not the
 * run: it is reported and passed over. */
static void cache_close(count_cache *c) {
    if (c->path && c->dirty) {
        char err[BCOS_ERRLEN];
        char *text = cJSON_Print(c->root);
        BCOS_CHECK(text, "out of memory");
        if (bcos_make_parent_dirs(c->path, err, sizeof err) != 0 ||
            bcos_write_file_atomic(c->path, text, strlen(text), err, sizeof err) != 0)
            bcos_warn("shard sample counts not cached: %s", err);
        free(text);
    }
    cJSON_Delete(c->root);
    free(c->path);
    free(c->folder);
}

/* ---- counting */

static int count_samples(const char *url, const bcos_fetch_options *opt, bcos_fetch_stats *fetched, long *count,
                         double *bytes, char *err, size_t errlen) {
    bcos_data_counters counters = {0};
    bcos_sample_reader *r = bcos_samples_open(url, opt, &counters);
    bcos_sample s;
    long n = 0;
    int rc;
    while ((rc = bcos_samples_next(r, &s)) == 1) {
        n++;
        bcos_sample_clear(&s);
    }
    if (rc < 0) bcos_error(err, errlen, NULL, "cannot count the samples of %s", bcos_samples_error(r));
    bcos_samples_close(r);
    bcos_fetch_stats_add(fetched, &counters.http);
    *count = n;
    *bytes = (double)counters.http.bytes;
    return rc < 0 ? -1 : 0;
}

/* Counts of the URLs idx[0..m) that share the folder dir. */
static int folder_sizes(long *counts, bcos_size_source *sources, const char *const *urls, const int *idx, int m,
                        const char *dir, const bcos_fetch_options *opt, bcos_fetch_stats *fetched,
                        const char *cache_dir, char *err, size_t errlen) {
    int failed = 0;
    cJSON *sizes = read_sizes_json(dir, opt, fetched, &failed, err, errlen);
    if (failed) return -1;
    count_cache cache;
    cache_open(&cache, cache_dir, dir);
    bcos_progress progress = {0};
    int rc = 0, counted = 0;
    for (int k = 0; k < m && rc == 0; k++) {
        int i = idx[k];
        const char *name = urls[i] + strlen(dir);
        long n = sizes_entry(sizes, name);
        bcos_size_source from = BCOS_SIZE_FROM_SIZES_JSON;
        shard_stamp st;
        if (n == -2) rc = bcos_error(err, errlen, dir, "sizes.json: \"%s\" is not a sample count", name);
        if (n == -1 && stamp_of(&st, urls[i]) != 0)
            rc = bcos_error(err, errlen, urls[i], "cannot count its samples: %s", strerror(errno));
        if (n == -1 && rc == 0) {
            n = cache_lookup(&cache, name, &st);
            from = BCOS_SIZE_FROM_CACHE;
        }
        if (n == -1 && rc == 0) {
            if (counted++ == 0) bcos_progress_start(&progress, "counting shard samples", 0);
            double bytes;
            rc = count_samples(urls[i], opt, fetched, &n, &bytes, err, errlen);
            if (rc == 0) cache_store(&cache, name, n, st.local ? st.bytes : bytes, &st);
            from = BCOS_SIZE_COUNTED;
            bcos_progress_step(&progress, 1, NULL);
        }
        counts[i] = n;
        if (sources) sources[i] = from;
    }
    if (counted > 1) bcos_progress_finish(&progress, NULL);
    cache_close(&cache);
    cJSON_Delete(sizes);
    return rc;
}

typedef struct {
    char *dir;
    int index;
} url_folder;

/* URLs by folder, then by position. */
static int compare_folders(const void *a, const void *b) {
    const url_folder *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

int bcos_shard_sizes(long *counts, bcos_size_source *sources, const char *const *urls, int n,
                     const bcos_fetch_options *opt, const char *cache_dir, bcos_fetch_stats *fetched, char *err,
                     size_t errlen) {
    bcos_fetch_options defaults;
    bcos_fetch_stats ignored = {0};
    if (!fetched) fetched = &ignored;
    if (!opt) bcos_fetch_options_default(&defaults), opt = &defaults;
    char *own_cache = cache_dir ? NULL : bcos_cache_dir();
    url_folder *order = xmalloc(((size_t)n + 1) * sizeof *order);
    int *idx = xmalloc(((size_t)n + 1) * sizeof *idx);
    for (int i = 0; i < n; i++) order[i] = (url_folder){folder_of(urls[i]), i};
    qsort(order, (size_t)n, sizeof *order, compare_folders);
    for (int i = 0; i < n; i++) idx[i] = order[i].index;
    int rc = 0;
    for (int start = 0, end; start < n && rc == 0; start = end) {
        for (end = start + 1; end < n && strcmp(order[end].dir, order[start].dir) == 0;) end++;
        rc = folder_sizes(counts, sources, urls, idx + start, end - start, order[start].dir, opt, fetched,
                          cache_dir ? cache_dir : own_cache, err, errlen);
    }
    for (int i = 0; i < n; i++) free(order[i].dir);
    free(order);
    free(idx);
    free(own_cache);
    /* messages name URLs; their credentials stay out of every log and store */
    if (rc != 0 && err && errlen) bcos_url_redact_buffer(err, errlen);
    return rc;
}
