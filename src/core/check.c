/* Checked wrappers and the ways the process stops: bcos_die_at for programming and environment
 * errors (with file:line and a hint), bcos_fail for bad user input, and the named crash points of
 * fault-injection tests; and bcos_error (and bcos_report), the one-line message of a user-facing
 * error returned as a status. */
#include "bcos/check.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void (*g_exit_hook)(int status);

void bcos_set_exit_hook(void (*hook)(int status)) { g_exit_hook = hook; }

BCOS_NORETURN static void stop(int status) {
    fflush(stderr);
    if (g_exit_hook) g_exit_hook(status);
    exit(status);
}

void bcos_die_at(const char *file, int line, const char *hint, const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (hint) fprintf(stderr, " (hint: %s)", hint);
    fputc('\n', stderr);
    stop(1);
}

void bcos_fail(const char *fmt, ...) {
    fflush(stdout);
    fputs("bcos: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    stop(1);
}

int bcos_fault_armed(const char *point) {
    const char *armed = getenv(BCOS_CRASH_ENV);
    return armed && strcmp(armed, point) == 0;
}

void bcos_fault_point(const char *point) {
    if (bcos_fault_armed(point)) raise(SIGKILL);
}

int bcos_verror(char *err, size_t errlen, const char *culprit, const char *fmt, va_list ap) {
    if (!err || errlen == 0) return -1;
    int used = culprit ? snprintf(err, errlen, "%s: ", culprit) : 0;
    if (used >= 0 && (size_t)used < errlen) vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
    return -1;
}

int bcos_error(char *err, size_t errlen, const char *culprit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bcos_verror(err, errlen, culprit, fmt, ap);
    va_end(ap);
    return -1;
}

int bcos_report(const bcos_reporter *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bcos_verror(r->err, r->errlen, r->culprit, fmt, ap);
    va_end(ap);
    return -1;
}

void *bcos_malloc_at(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) bcos_die_at(file, line, "the machine is out of memory", "malloc(%zu) failed", size);
    return p;
}

void *bcos_calloc_at(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) bcos_die_at(file, line, "the machine is out of memory", "calloc(%zu, %zu) failed", count, size);
    return p;
}

void *bcos_realloc_at(void *ptr, size_t size, const char *file, int line) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) bcos_die_at(file, line, "the machine is out of memory", "realloc(%zu) failed", size);
    return p;
}

char *bcos_strdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = bcos_malloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

char *bcos_vstrfmt(const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    BCOS_CHECK(n >= 0, "a format string that vsnprintf accepts");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *bcos_strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = bcos_vstrfmt(fmt, ap);
    va_end(ap);
    return s;
}

FILE *bcos_fopen_at(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) bcos_die_at(file, line, "check the path and its permissions", "cannot open '%s': %s", path, strerror(errno));
    return f;
}

void bcos_fread_at(void *ptr, size_t size, size_t count, FILE *f, const char *file, int line) {
    if (fread(ptr, size, count, f) != count)
        bcos_die_at(file, line, "the file is shorter than expected", "fread of %zu x %zu bytes failed", count, size);
}

void bcos_fwrite_at(const void *ptr, size_t size, size_t count, FILE *f, const char *file, int line) {
    if (fwrite(ptr, size, count, f) != count)
        bcos_die_at(file, line, "is the disk full?", "fwrite of %zu x %zu bytes failed: %s", count, size, strerror(errno));
}

void bcos_fclose_at(FILE *f, const char *file, int line) {
    if (fclose(f) != 0) bcos_die_at(file, line, "is the disk full?", "fclose failed: %s", strerror(errno));
}

char *bcos_read_file(const char *path, size_t *size_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) buf = xrealloc(buf, cap *= 2);
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = '\0';
    if (size_out) *size_out = len;
    return buf;
}
