/* A URL's body into a file, checked against the SHA-256 it must have (bcos/fetch.h). The bytes go
 * through the resumable stream (retries, Range resume) into PATH.part and through the digest as
 * they arrive; the file takes its name only once the digest matches. PATH.part outlives a download
 * that gives up or a process that is killed, and the next call goes on from its end (a weights file
 * is large); an exclusive lock on it keeps two processes from writing it at once. */
#include "bcos/fetch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/sha256.h"
#include "bcos/urls.h"

#define HTTP_RANGE_NOT_SATISFIABLE 416

/* Whether the file at path has the SHA-256 hex (lowercase). */
static int has_digest(const char *path, const char *hex) {
    char have[BCOS_SHA256_HEX];
    return bcos_sha256_file(path, have) == 0 && strcmp(have, hex) == 0;
}

/* Whether fd is still the file named path (the lock's earlier holder renames it into place). */
static int still_named(int fd, const char *path) {
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* part opened and locked, once no other process holds it: its descriptor, or -1 with err. */
static int lock_part(const char *part, char *err, size_t errlen) {
    for (;;) {
        int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return bcos_error(err, errlen, part, "cannot open it: %s", strerror(errno));
        if (flock(fd, LOCK_EX) != 0) {
            int saved = errno;
            close(fd);
            return bcos_error(err, errlen, part, "cannot lock it: %s", strerror(saved));
        }
        if (still_named(fd, part)) return fd;
        close(fd);
    }
}

/* The bytes part holds already into the digest, fd left at their end: their count, or -1 with err. */
static long long hash_kept(int fd, bcos_sha256 *digest, const char *part, char *err, size_t errlen) {
    char chunk[1 << 16];
    long long kept = 0;
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return bcos_error(err, errlen, part, "cannot read it: %s", strerror(errno));
        bcos_sha256_update(digest, chunk, (size_t)n);
        kept += n;
    }
    return kept;
}

/* The body from byte `from` on, appended to fd and the digest: 0, or -1 with err and the HTTP status
 * of the answer that failed it (0: none) in *http_status. */
static int download(const char *url, const bcos_fetch_options *opt, long long from, int fd, bcos_sha256 *digest,
                    bcos_fetch_file_result *result, const char *part, long *http_status, char *err, size_t errlen) {
    bcos_http_stream *s = bcos_http_open_at(url, opt, (uint64_t)from);
    const void *data;
    long n = 0;
    int status = 0;
    while (status == 0 && (n = bcos_http_read(s, &data)) > 0) {
        bcos_sha256_update(digest, data, (size_t)n);
        if (bcos_write_all(fd, data, (size_t)n) != 0)
            status = bcos_error(err, errlen, part, "cannot write the download: %s", strerror(errno));
    }
    if (status == 0 && n < 0) {
        snprintf(err, errlen, "%s", bcos_http_error(s));
        status = -1;
    }
    *http_status = bcos_http_status(s);
    bcos_fetch_stats_add(&result->stats, bcos_http_stats(s));
    bcos_http_close(s);
    return status;
}

/* Inside the lock: the rest of the body into part, from what it keeps (or from the start when the
 * server says that is past the end: another file is at the URL now). 0, or -1 with err. */
static int complete_part(const char *url, const bcos_fetch_options *opt, int fd, bcos_sha256 *digest,
                         bcos_fetch_file_result *result, const char *part, char *err, size_t errlen) {
    long long kept = hash_kept(fd, digest, part, err, errlen);
    if (kept < 0) return -1;
    result->resumed_from = kept;
    long http_status = 0;
    int status = download(url, opt, kept, fd, digest, result, part, &http_status, err, errlen);
    if (status != 0 && kept > 0 && http_status == HTTP_RANGE_NOT_SATISFIABLE) {
        if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
            return bcos_error(err, errlen, part, "cannot empty it: %s", strerror(errno));
        bcos_sha256_init(digest);
        result->resumed_from = 0;
        status = download(url, opt, 0, fd, digest, result, part, &http_status, err, errlen);
    }
    if (status != 0 && lseek(fd, 0, SEEK_END) > 0) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, " (the bytes fetched so far are kept in %s: the same command goes on "
                 "from there)", part);
    }
    return status;
}

/* Whether the digest is the expected one: 0, or -1 with err naming both. */
static int check_digest(bcos_sha256 *digest, const char *url, const char *expected, char *err, size_t errlen) {
    char got[BCOS_SHA256_HEX];
    bcos_sha256_final_hex(digest, got);
    if (strcasecmp(got, expected) == 0) return 0;
    char *shown = bcos_url_redact(url);
    snprintf(err, errlen, "%s: the download's sha256 is %s, not %s: it was removed (a wrong --sha256, or another "
             "file at that URL)", shown, got, expected);
    free(shown);
    return -1;
}

int bcos_http_fetch_file(const char *url, const bcos_fetch_options *opt, const char *path, const char *sha256_hex,
                         bcos_fetch_file_result *result, char *err, size_t errlen) {
    BCOS_CHECK(url && opt && path && sha256_hex && strlen(sha256_hex) == 64 && result,
               "bcos_http_fetch_file: invalid arguments");
    char hex[BCOS_SHA256_HEX];
    for (int i = 0; i < BCOS_SHA256_HEX; i++) hex[i] = (char)tolower((unsigned char)sha256_hex[i]);
    *result = (bcos_fetch_file_result){.had_it = has_digest(path, hex)};
    if (result->had_it) return 0;
    if (bcos_check_replaceable(path, err, errlen) != 0 || bcos_make_parent_dirs(path, err, errlen) != 0) return -1;
    char *part = bcos_strfmt("%s.part", path);
    int fd = lock_part(part, err, errlen);
    if (fd < 0) {
        free(part);
        return -1;
    }
    /* A process that held the lock before may have put the file in place meanwhile. */
    if ((result->had_it = has_digest(path, hex))) {
        unlink(part);
        free(part);
        close(fd);
        return 0;
    }
    bcos_sha256 digest;
    bcos_sha256_init(&digest);
    int status = complete_part(url, opt, fd, &digest, result, part, err, errlen);
    int mismatch = status == 0 && check_digest(&digest, url, hex, err, errlen) != 0;
    if (mismatch || (status != 0 && lseek(fd, 0, SEEK_END) <= 0)) unlink(part); /* nothing worth keeping */
    if (status != 0 || mismatch) {
        free(part);
        close(fd);
        return -1;
    }
    /* Renamed while the lock is held: a waiting process then finds the file in place. */
    status = fsync(fd) == 0 ? 0 : -1;
    status = bcos_finish_temp(part, path, status, "fsync", errno, err, errlen);
    close(fd);
    return status;
}
