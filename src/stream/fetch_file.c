/* A URL's body into a file, checked against the SHA-256 it must have (bcos/fetch.h): the bytes go
 * through the resumable stream (retries, Range resume) into a temporary file beside the destination
 * and through the digest as they arrive; the file takes its name only once the digest matches. */
#include "bcos/fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/sha256.h"
#include "bcos/urls.h"

/* The stream into fd and the digest: 0, or -1 with err (a transfer that gave up, a failed write). */
static int copy_body(bcos_http_stream *s, int fd, bcos_sha256 *digest, const char *path, char *err, size_t errlen) {
    const void *data;
    long n;
    while ((n = bcos_http_read(s, &data)) > 0) {
        bcos_sha256_update(digest, data, (size_t)n);
        if (bcos_write_all(fd, data, (size_t)n) != 0)
            return bcos_error(err, errlen, path, "cannot write the download: %s", strerror(errno));
    }
    if (n < 0) return snprintf(err, errlen, "%s", bcos_http_error(s)), -1;
    return 0;
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
                         bcos_fetch_stats *stats, char *err, size_t errlen) {
    BCOS_CHECK(url && opt && path && sha256_hex && strlen(sha256_hex) == 64, "bcos_http_fetch_file: invalid arguments");
    char *tmp;
    int fd;
    if (bcos_make_parent_dirs(path, err, errlen) != 0 || (fd = bcos_open_temp_beside(path, &tmp, err, errlen)) < 0)
        return -1;
    bcos_sha256 digest;
    bcos_sha256_init(&digest);
    bcos_http_stream *s = bcos_http_open(url, opt);
    int status = copy_body(s, fd, &digest, path, err, errlen);
    if (stats) *stats = *bcos_http_stats(s);
    bcos_http_close(s);
    if (status == 0) status = check_digest(&digest, url, sha256_hex, err, errlen);
    if (status != 0) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    const char *step = "fsync";
    status = fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    if (close(fd) != 0 && status == 0) status = -1, saved = errno, step = "close";
    return bcos_finish_temp(tmp, path, status, step, saved, err, errlen);
}
