/* The WebDataset shard writer: libarchive's pax writer in its restricted form (plain ustar headers, a pax
 * extended header only where ustar cannot hold a name) over a temporary file per shard, renamed into
 * place once complete (bcos_open_temp_beside); the byte cap is checked before each sample from the sizes its members will take;
 * sizes.json and nshards.txt are written atomically at the end. */
#include "bcos/shards.h"

#include "bcos/check.h"
#include "bcos/paths.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAR_BLOCK 512LL
#define TAR_END_BYTES (2 * TAR_BLOCK)

static const char *const g_writable_exts[] = {"jpg", "jpeg", "png", "webp", "txt", "cls", "json"};

struct bcos_shard_writer {
    char *dir;
    bcos_shard_limits limits;
    struct archive *a; /* the shard in progress; NULL between shards */
    int fd;
    char *tmp_path;
    long shard_samples;
    long long shard_bytes; /* of the shard in progress, up to the end of its last member */
    long *counts;          /* samples of each complete shard */
    int n_shards, cap_shards;
    long samples;
    char *last_key;
};

/* DIR/N.tar and the like; fmt takes the number n ("%ld.tar") or ignores it ("sizes.json"). */
static char *path_in(const bcos_shard_writer *w, const char *fmt, long n) {
    char name[64];
    snprintf(name, sizeof name, fmt, n);
    return bcos_strfmt("%s/%s", w->dir, name);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Whether dir holds the output of an earlier run. */
static bool holds_shards(const bcos_shard_writer *w) {
    const char *names[] = {"nshards.txt", "sizes.json", "0.tar"};
    bool found = false;
    for (int i = 0; i < 3 && !found; i++) {
        char *path = path_in(w, names[i], 0);
        found = exists(path);
        free(path);
    }
    return found;
}

bcos_shard_writer *bcos_shard_writer_open(const char *dir, const bcos_shard_limits *limits, char *err,
                                          size_t errlen) {
    BCOS_CHECK(limits->max_samples >= 1 && limits->max_bytes >= 0, "shard limits: at least one sample per shard");
    bcos_shard_writer *w = xcalloc(1, sizeof *w);
    w->dir = xstrdup(dir);
    w->limits = *limits;
    w->fd = -1;
    char *probe = path_in(w, "%ld.tar", 0);
    int rc = bcos_make_parent_dirs(probe, err, errlen);
    free(probe);
    if (rc == 0 && !limits->overwrite && holds_shards(w))
        rc = bcos_error(err, errlen, dir, "holds shards already (nshards.txt, sizes.json or 0.tar); "
                                          "choose another folder or overwrite");
    if (rc != 0) {
        free(w->dir);
        free(w);
        return NULL;
    }
    /* nshards.txt says the folder is complete: while it is rewritten, it is not. */
    char *marker = path_in(w, "nshards.txt", 0);
    unlink(marker);
    free(marker);
    return w;
}

/* Bytes a member named name of size bytes takes: its header, a pax header when ustar cannot hold the
 * name (a generous bound: a header block and twice the name in records), and the padded payload. */
static long long member_bytes(const char *name, size_t size) {
    size_t len = strlen(name);
    bool ascii = true;
    for (const char *p = name; *p; p++) ascii &= (unsigned char)*p < 0x80;
    const char *slash = len > 100 ? strchr(name + len - 101, '/') : NULL;
    bool fits_ustar = ascii && (len <= 100 || (slash && slash - name <= 155 && len - (size_t)(slash - name) - 1 <= 100));
    long long pad = (long long)((size + TAR_BLOCK - 1) / TAR_BLOCK) * TAR_BLOCK;
    long long pax = fits_ustar ? 0 : 2 * TAR_BLOCK + (long long)((2 * len + TAR_BLOCK - 1) / TAR_BLOCK) * TAR_BLOCK;
    return TAR_BLOCK + pax + pad;
}

static bool ext_writable(const char *ext) {
    for (size_t i = 0; i < sizeof g_writable_exts / sizeof g_writable_exts[0]; i++)
        if (strcmp(ext, g_writable_exts[i]) == 0) return true;
    return false;
}

/* The reader's rules, checked on the writing side: a key and members the reader gives back as written. */
static int check_sample(const bcos_shard_writer *w, const char *key, const bcos_sample_member *members, int n,
                        char *err, size_t errlen) {
    const char *base = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
    size_t base_len = strlen(base);
    if (!*key || key[0] == '/' || strstr(key, "//") || !*base)
        return bcos_error(err, errlen, "shard writer", "key '%s' is not a relative path", key);
    if (strstr(key, "../") == key || strstr(key, "/../") || strcmp(base, "..") == 0)
        return bcos_error(err, errlen, "shard writer", "key '%s' climbs out with '..'", key);
    if (strchr(base, '.'))
        return bcos_error(err, errlen, "shard writer", "key '%s' has a '.' in its last part (readers split there)",
                          key);
    size_t top_len = strcspn(key, "/");
    if ((base_len >= 4 && strncmp(base, "__", 2) == 0 && strcmp(base + base_len - 2, "__") == 0) ||
        (top_len >= 4 && strncmp(key, "__", 2) == 0 && strncmp(key + top_len - 2, "__", 2) == 0))
        return bcos_error(err, errlen, "shard writer", "key '%s' looks like __metadata__", key);
    if (w->last_key && strcmp(w->last_key, key) == 0)
        return bcos_error(err, errlen, "shard writer", "key '%s' repeats the previous sample's", key);
    if (n < 1 || n > BCOS_SAMPLE_MAX_MEMBERS)
        return bcos_error(err, errlen, "shard writer", "sample '%s' has %d members (1 to %d)", key, n,
                          BCOS_SAMPLE_MAX_MEMBERS);
    for (int i = 0; i < n; i++) {
        if (!ext_writable(members[i].ext))
            return bcos_error(err, errlen, "shard writer", "sample '%s': extension '%s' is not one readers keep", key,
                              members[i].ext);
        for (int j = 0; j < i; j++)
            if (strcmp(members[i].ext, members[j].ext) == 0)
                return bcos_error(err, errlen, "shard writer", "sample '%s' has two .%s members", key, members[i].ext);
        if (members[i].size > (size_t)BCOS_MEMBER_MAX_BYTES)
            return bcos_error(err, errlen, "shard writer", "sample '%s': .%s of %zu bytes is over the readers' "
                              "limit of %ld", key, members[i].ext, members[i].size, (long)BCOS_MEMBER_MAX_BYTES);
    }
    if (strlen(key) + 1 + sizeof members[0].ext > BCOS_NAME_MAX)
        return bcos_error(err, errlen, "shard writer", "key of %zu bytes is over the readers' limit", strlen(key));
    return 0;
}

static int archive_failed(bcos_shard_writer *w, const char *what, char *err, size_t errlen) {
    const char *why = w->a ? archive_error_string(w->a) : NULL;
    return bcos_error(err, errlen, w->tmp_path, "%s: %s", what, why ? why : strerror(errno));
}

static int begin_shard(bcos_shard_writer *w, char *err, size_t errlen) {
    char *final_path = path_in(w, "%ld.tar", w->n_shards);
    w->fd = bcos_open_temp_beside(final_path, &w->tmp_path, err, errlen);
    free(final_path);
    if (w->fd < 0) return -1;
    w->a = archive_write_new();
    BCOS_CHECK(w->a != NULL, "libarchive could not allocate a writer");
    if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK || archive_write_open_fd(w->a, w->fd) != ARCHIVE_OK)
        return archive_failed(w, "cannot start the tar", err, errlen);
    w->shard_samples = 0;
    w->shard_bytes = 0;
    return 0;
}

static int write_member(bcos_shard_writer *w, const char *key, const bcos_sample_member *m, char *err,
                        size_t errlen) {
    char *name = bcos_strfmt("%s.%s", key, m->ext);
    struct archive_entry *e = archive_entry_new();
    BCOS_CHECK(e != NULL, "libarchive could not allocate an entry");
    /* The name's bytes as given (UTF-8 keys stay UTF-8). libarchive cannot translate non-ASCII names
     * in the C locale and warns; it then stores them unchanged in a pax header marked
     * hdrcharset=BINARY, which Python's tarfile and libarchive read back as the same bytes. */
    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)m->size);
    archive_entry_set_mtime(e, 0, 0);
    int rc = archive_write_header(w->a, e) >= ARCHIVE_WARN ? 0 : archive_failed(w, "cannot write a header", err, errlen);
    if (rc == 0 && m->size > 0 && archive_write_data(w->a, m->data, m->size) != (la_ssize_t)m->size)
        rc = archive_failed(w, "cannot write a member", err, errlen);
    w->shard_bytes += member_bytes(name, m->size);
    archive_entry_free(e);
    free(name);
    return rc;
}

/* Closes the shard in progress, flushes it to disk and gives it its final name. */
static int finish_shard(bcos_shard_writer *w, char *err, size_t errlen) {
    int rc = archive_write_close(w->a) == ARCHIVE_OK ? 0 : archive_failed(w, "cannot complete the tar", err, errlen);
    archive_write_free(w->a);
    w->a = NULL;
    if (rc == 0 && fsync(w->fd) != 0) rc = archive_failed(w, "cannot flush", err, errlen);
    if (close(w->fd) != 0 && rc == 0) rc = archive_failed(w, "cannot close", err, errlen);
    w->fd = -1;
    if (rc != 0) return rc; /* the temporary file stays for bcos_shard_writer_abort to remove */
    char *final_path = path_in(w, "%ld.tar", w->n_shards);
    rc = bcos_finish_temp(w->tmp_path, final_path, 0, NULL, 0, err, errlen);
    w->tmp_path = NULL;
    free(final_path);
    if (rc != 0) return rc;
    if (w->n_shards == w->cap_shards) {
        w->cap_shards = 2 * w->cap_shards + 16;
        w->counts = xrealloc(w->counts, (size_t)w->cap_shards * sizeof *w->counts);
    }
    w->counts[w->n_shards++] = w->shard_samples;
    return 0;
}

static bool shard_full(const bcos_shard_writer *w, long long sample_bytes) {
    if (!w->a || w->shard_samples == 0) return false;
    if (w->shard_samples >= w->limits.max_samples) return true;
    return w->limits.max_bytes > 0 && w->shard_bytes + sample_bytes + TAR_END_BYTES > w->limits.max_bytes;
}

int bcos_shard_writer_add(bcos_shard_writer *w, const char *key, const bcos_sample_member *members, int n,
                          char *err, size_t errlen) {
    if (check_sample(w, key, members, n, err, errlen) != 0) return -1;
    long long sample_bytes = 0;
    for (int i = 0; i < n; i++) {
        char *name = bcos_strfmt("%s.%s", key, members[i].ext);
        sample_bytes += member_bytes(name, members[i].size);
        free(name);
    }
    if (shard_full(w, sample_bytes) && finish_shard(w, err, errlen) != 0) return -1;
    if (!w->a && begin_shard(w, err, errlen) != 0) return -1;
    for (int i = 0; i < n; i++)
        if (write_member(w, key, &members[i], err, errlen) != 0) return -1;
    w->shard_samples++;
    w->samples++;
    free(w->last_key);
    w->last_key = xstrdup(key);
    return 0;
}

long bcos_shard_writer_samples(const bcos_shard_writer *w) { return w->samples; }

int bcos_shard_writer_shards(const bcos_shard_writer *w) { return w->n_shards + (w->a != NULL); }

static int write_sizes(const bcos_shard_writer *w, char *err, size_t errlen) {
    cJSON *sizes = cJSON_CreateObject();
    for (int i = 0; i < w->n_shards; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d.tar", i);
        BCOS_CHECK(cJSON_AddNumberToObject(sizes, name, (double)w->counts[i]), "out of memory");
    }
    char *text = cJSON_Print(sizes);
    BCOS_CHECK(text, "out of memory");
    cJSON_Delete(sizes);
    char *sizes_path = path_in(w, "sizes.json", 0), *nshards_path = path_in(w, "nshards.txt", 0);
    char nshards[32];
    int len = snprintf(nshards, sizeof nshards, "%d\n", w->n_shards);
    int rc = bcos_write_file_atomic(sizes_path, text, strlen(text), err, errlen);
    if (rc == 0) rc = bcos_write_file_atomic(nshards_path, nshards, (size_t)len, err, errlen);
    free(sizes_path);
    free(nshards_path);
    free(text);
    return rc;
}

/* Removes the numbered shards an earlier, longer run left past the last one written now. */
static void remove_stale_shards(const bcos_shard_writer *w) {
    for (long i = w->n_shards;; i++) {
        char *path = path_in(w, "%ld.tar", i);
        int rc = unlink(path);
        free(path);
        if (rc != 0) break;
    }
}

static void writer_free(bcos_shard_writer *w) {
    free(w->dir);
    free(w->tmp_path);
    free(w->counts);
    free(w->last_key);
    free(w);
}

int bcos_shard_writer_close(bcos_shard_writer *w, char *err, size_t errlen) {
    int rc = 0;
    if (w->samples == 0) rc = bcos_error(err, errlen, w->dir, "no samples to write");
    if (rc == 0 && w->a) rc = finish_shard(w, err, errlen);
    if (rc == 0) rc = write_sizes(w, err, errlen);
    if (rc == 0 && w->limits.overwrite) remove_stale_shards(w);
    if (rc != 0) {
        bcos_shard_writer_abort(w);
        return -1;
    }
    writer_free(w);
    return 0;
}

void bcos_shard_writer_abort(bcos_shard_writer *w) {
    if (!w) return;
    if (w->a) archive_write_free(w->a);
    if (w->fd >= 0) close(w->fd);
    if (w->tmp_path) unlink(w->tmp_path);
    writer_free(w);
}
