/* Checked wrappers: every library call on a programming or environment path goes through one of
 * these. On failure they print "file:line: what failed (hint)" and stop the process with exit
 * code 1. Calls on the data and network path return a status instead, so they can retry. */
#ifndef BCOS_CHECK_H
#define BCOS_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#if defined(__GNUC__)
#define BCOS_NORETURN __attribute__((noreturn))
#define BCOS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BCOS_NORETURN
#define BCOS_PRINTF(a, b)
#endif

/* Room for a one-line error message returned by a parser or loader. */
#define BCOS_ERRLEN 512

/* Print "file:line: message (hint: hint)" to stderr and exit(1). hint may be NULL. */
BCOS_NORETURN void bcos_die_at(const char *file, int line, const char *hint, const char *fmt, ...)
    BCOS_PRINTF(4, 5);

/* A user-facing error: one line "bcos: message" and exit(1), no source location. */
BCOS_NORETURN void bcos_fail(const char *fmt, ...) BCOS_PRINTF(1, 2);

/* A user-facing error as a status: writes "culprit: message" into err (when err is not NULL and
 * errlen is not 0) and returns -1. culprit names what was bad: a file, a database, a buffer; NULL
 * writes the message alone. */
int bcos_error(char *err, size_t errlen, const char *culprit, const char *fmt, ...) BCOS_PRINTF(4, 5);
/* bcos_error's first three arguments carried together, for a parser that reports from many places:
 * `return bcos_report(r, "...")` writes "culprit: message" into err and returns -1. */
typedef struct {
    const char *culprit;
    char *err;
    size_t errlen;
} bcos_reporter;
int bcos_report(const bcos_reporter *r, const char *fmt, ...) BCOS_PRINTF(2, 3);
/* bcos_error with a va_list. */
int bcos_verror(char *err, size_t errlen, const char *culprit, const char *fmt, va_list ap);
/* A function bcos_die_at and bcos_fail call with the exit status after printing, instead of
 * exiting (it must not return): a world of several ranks aborts them all (bcos/world.h). NULL:
 * exit. */
void bcos_set_exit_hook(void (*hook)(int status));

#define BCOS_DIE(hint, ...) bcos_die_at(__FILE__, __LINE__, (hint), __VA_ARGS__)
#define BCOS_CHECK(cond, hint)                                                                    \
    do {                                                                                          \
        if (!(cond)) BCOS_DIE((hint), "check failed: %s", #cond);                                 \
    } while (0)

void *bcos_malloc_at(size_t size, const char *file, int line);
void *bcos_calloc_at(size_t count, size_t size, const char *file, int line);
void *bcos_realloc_at(void *ptr, size_t size, const char *file, int line);
char *bcos_strdup_at(const char *s, const char *file, int line);
/* printf into a new heap string ("DIR/NAME" paths and the like); stops the process when out of memory. */
char *bcos_strfmt(const char *fmt, ...) BCOS_PRINTF(1, 2);
char *bcos_vstrfmt(const char *fmt, va_list ap);
FILE *bcos_fopen_at(const char *path, const char *mode, const char *file, int line);
void bcos_fread_at(void *ptr, size_t size, size_t count, FILE *f, const char *file, int line);
void bcos_fwrite_at(const void *ptr, size_t size, size_t count, FILE *f, const char *file, int line);
void bcos_fclose_at(FILE *f, const char *file, int line);

#define xmalloc(size) bcos_malloc_at((size), __FILE__, __LINE__)
#define xcalloc(count, size) bcos_calloc_at((count), (size), __FILE__, __LINE__)
#define xrealloc(ptr, size) bcos_realloc_at((ptr), (size), __FILE__, __LINE__)
#define xstrdup(s) bcos_strdup_at((s), __FILE__, __LINE__)
#define xfopen(path, mode) bcos_fopen_at((path), (mode), __FILE__, __LINE__)
#define xfread(ptr, size, count, f) bcos_fread_at((ptr), (size), (count), (f), __FILE__, __LINE__)
#define xfwrite(ptr, size, count, f) bcos_fwrite_at((ptr), (size), (count), (f), __FILE__, __LINE__)
#define xfclose(f) bcos_fclose_at((f), __FILE__, __LINE__)

/* Read a whole file into a NUL-terminated heap buffer; returns NULL and sets errno on failure. */
char *bcos_read_file(const char *path, size_t *size_out);

/* ---- Crash points
 *
 * Named crash points for fault-injection tests: with BCOS_CRASH_AT=NAME in the environment, the
 * process kills itself with SIGKILL (no cleanup, no flush: as a power cut or an OOM kill would)
 * when it reaches the point NAME. Without the variable a point costs one getenv.
 *
 * The points:
 *   st_temp_written        bcos_st_write: the temporary file is written, not yet fsynced
 *   st_before_rename       bcos_st_write: the temporary file is fsynced and closed, not yet renamed
 *   checkpoint_files_written  every file of a checkpoint is in place, nothing recorded in SQLite yet
 *   checkpoint_commit      inside SQLite's COMMIT of the checkpoint (its commit hook)
 *   checkpoint_committed   the checkpoint is committed, retired checkpoints' files not yet deleted
 */
#define BCOS_CRASH_ENV "BCOS_CRASH_AT"

/* Whether BCOS_CRASH_AT names this point. */
int bcos_fault_armed(const char *point);
/* SIGKILL the process when the point is armed; otherwise return. */
void bcos_fault_point(const char *point);

#endif
