/* Tar member streaming for WebDataset shards: libarchive reads the tar from a local file, from a
 * resumable HTTP stream through its read callback, or from memory. Every header is checked before
 * its payload is read: only regular files with a sane name and a kept extension get read. */
#include "tar_stream.h"

#include "bcos/check.h"
#include "bcos/urls.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FILE_BLOCK_BYTES (64 << 10)

static const char *const g_kept_exts[] = {"jpg", "jpeg", "png", "webp", "txt", "cls", "json"};
#define N_KEPT_EXTS (sizeof g_kept_exts / sizeof g_kept_exts[0])

static void open_common(tar_stream *t, const char *url, bcos_data_counters *counters) {
    memset(t, 0, sizeof *t);
    t->url = xstrdup(url);
    t->shown_url = bcos_url_redact(url);
    t->counters = counters;
    counters->shards++;
}

void tar_stream_open_url(tar_stream *t, const char *url, const bcos_fetch_options *opt, bcos_data_counters *counters) {
    open_common(t, url, counters);
    t->opt = *opt;
}

void tar_stream_open_memory(tar_stream *t, const void *data, size_t size, const char *label,
                            bcos_data_counters *counters) {
    open_common(t, label, counters);
    t->memory = data;
    t->memory_size = size;
}

/* Adds what the http stream did since the last call to the counters, as it happens: a reader that
 * is stopped or abandoned mid-shard has its retries counted all the same. */
static void count_http(tar_stream *t) {
    const bcos_fetch_stats *now = bcos_http_stats(t->http);
    bcos_fetch_stats delta = {now->attempts - t->http_counted.attempts, now->retries - t->http_counted.retries,
                              now->resumes - t->http_counted.resumes, now->restarts - t->http_counted.restarts,
                              now->bytes - t->http_counted.bytes};
    bcos_fetch_stats_add(&t->counters->http, &delta);
    t->http_counted = *now;
}

static la_ssize_t read_http(struct archive *a, void *user, const void **buffer) {
    tar_stream *t = user;
    long n = bcos_http_read(t->http, buffer);
    count_http(t);
    if (n < 0) archive_set_error(a, EIO, "%s", bcos_http_error(t->http));
    return n;
}

/* Opens the archive on the shard's bytes; 0, or -1 with the error set. */
static int open_archive(tar_stream *t) {
    t->opened = true;
    t->a = archive_read_new();
    BCOS_CHECK(t->a != NULL, "libarchive could not allocate a reader");
    archive_read_support_format_tar(t->a);
    int rc;
    bcos_url_kind kind = bcos_url_kind_of(t->url);
    if (t->memory) {
        rc = archive_read_open_memory(t->a, t->memory, t->memory_size);
    } else if (kind == BCOS_URL_HTTP || kind == BCOS_URL_HTTPS) {
        t->http = bcos_http_open(t->url, &t->opt);
        rc = archive_read_open(t->a, t, NULL, read_http, NULL);
    } else {
        rc = archive_read_open_filename(t->a, bcos_url_path(t->url), FILE_BLOCK_BYTES);
    }
    if (rc == ARCHIVE_OK) return 0;
    snprintf(t->error, sizeof t->error, "%s: %s", t->shown_url, archive_error_string(t->a));
    return -1;
}

static tar_status fail(tar_stream *t, const char *what) {
    const char *why = archive_error_string(t->a);
    snprintf(t->error, sizeof t->error, "%s: %s%s%s", t->shown_url, what, why ? ": " : "", why ? why : "");
    t->ended = true;
    t->counters->shards_failed++;
    return TAR_FAILED;
}

/* Names a tar may carry but a sample must not: over-long, absolute, climbing out with "..". */
static bool name_is_unsafe(const char *name) {
    if (!name || !*name || strlen(name) > BCOS_NAME_MAX || name[0] == '/') return true;
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') return true;
        p += len;
        if (*p == '/') p++;
    }
    return false;
}

/* Whether the n bytes at name are a "__*__" metadata name. */
static bool is_metadata_part(const char *name, size_t n) {
    return n >= 4 && strncmp(name, "__", 2) == 0 && strncmp(name + n - 2, "__", 2) == 0;
}

/* Metadata: a "__*__" file anywhere, or anything in a top-level "__*__" folder (webdataset skips
 * those too). */
static bool is_metadata(const char *name) {
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    return is_metadata_part(base, strlen(base)) || is_metadata_part(name, strcspn(name, "/"));
}

/* Splits name into key and extension (lower-cased, "" unless kept); false when it has neither. */
static bool split_name(const char *name, tar_member *m) {
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base || dot[1] == '\0') return false;
    size_t key_len = (size_t)(dot - name);
    memcpy(m->key, name, key_len);
    m->key[key_len] = '\0';
    char ext[sizeof m->ext];
    size_t ext_len = strlen(dot + 1);
    m->ext[0] = '\0';
    if (ext_len >= sizeof ext) return true;
    for (size_t i = 0; i <= ext_len; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    for (size_t i = 0; i < N_KEPT_EXTS; i++)
        if (strcmp(ext, g_kept_exts[i]) == 0) memcpy(m->ext, ext, ext_len + 1);
    return true;
}

/* Which counter a header's member is skipped under, or NULL when it is to be taken. */
static long *skip_reason(tar_stream *t, struct archive_entry *e, tar_member *m) {
    const char *name = archive_entry_pathname(e);
    if (name_is_unsafe(name)) return &t->counters->members_bad_name;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) return &t->counters->members_not_file;
    if (is_metadata(name)) return &t->counters->members_metadata;
    if (!split_name(name, m)) return &t->counters->members_ignored;
    return NULL;
}

/* Reads the current entry's payload into m; the size is bounded before anything is allocated. */
static tar_status read_payload(tar_stream *t, struct archive_entry *e, tar_member *m) {
    la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    /* only a corrupt header gives one: the rest of the shard cannot be trusted */
    if (size < 0) return fail(t, "a member's header gives a negative size");
    if (size > BCOS_MEMBER_MAX_BYTES) {
        t->counters->members_too_large++;
        m->ext[0] = '\0';
        return TAR_MEMBER;
    }
    m->data = xmalloc((size_t)size);
    m->size = (size_t)size;
    size_t got = 0;
    while (got < m->size) {
        la_ssize_t n = archive_read_data(t->a, m->data + got, m->size - got);
        if (n <= 0) {
            free(m->data);
            m->data = NULL;
            return fail(t, n == 0 ? "member shorter than its header says" : "reading a member");
        }
        got += (size_t)n;
    }
    return TAR_MEMBER;
}

tar_status tar_stream_next(tar_stream *t, tar_member *m) {
    m->key[0] = '\0';
    if (t->ended) return t->error[0] ? TAR_FAILED : TAR_END;
    if (!t->opened && open_archive(t)) {
        t->ended = true;
        t->counters->shards_failed++;
        return TAR_FAILED;
    }
    m->data = NULL;
    m->size = 0;
    for (;;) {
        m->key[0] = '\0';
        struct archive_entry *e;
        int rc = archive_read_next_header(t->a, &e);
        if (rc == ARCHIVE_EOF) {
            t->ended = true;
            return TAR_END;
        }
        if (rc == ARCHIVE_RETRY) {
            bool first = !t->in_damage;
            if (first) t->counters->headers_damaged++;
            t->in_damage = true;
            if (first) return TAR_DAMAGED;
            continue;
        }
        if (rc < ARCHIVE_WARN) return fail(t, "reading a tar header");
        t->in_damage = false;
        long *skipped = skip_reason(t, e, m);
        if (skipped) {
            (*skipped)++;
            continue;
        }
        if (m->ext[0] == '\0') {
            t->counters->members_ignored++;
            return TAR_MEMBER;
        }
        return read_payload(t, e, m);
    }
}

void tar_stream_close(tar_stream *t) {
    if (t->a) archive_read_free(t->a);
    if (t->http) {
        count_http(t);
        bcos_http_close(t->http);
    }
    free(t->url);
    free(t->shown_url);
    memset(t, 0, sizeof *t);
}
