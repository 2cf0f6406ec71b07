/* File-system path helpers shared by the commands that write files, and the atomic replacement of a
 * file (temporary file beside it, fsync, rename, fsync of the folder). */
#ifndef BCOS_PATHS_H
#define BCOS_PATHS_H

#include <stddef.h>

/* Create every missing directory above path ("a/b/c.txt" creates a/ and a/b/). Returns 0, or -1
 * with a one-line message in err naming the directory. */
int bcos_make_parent_dirs(const char *path, char *err, size_t errlen);

/* 0 when a file written to path may take its place: nothing is there, or a regular file (through a
 * symbolic link too). -1 with "PATH: is a character device, not a regular file; ..." otherwise: a
 * rename would replace a device, pipe or socket by a regular file. */
int bcos_check_replaceable(const char *path, char *err, size_t errlen);

/* Creates a private-named temporary file beside path (PATH.tmp.XXXXXX, mode 0644) to be renamed over it:
 * returns its descriptor and sets *tmp (heap), or -1 with a one-line message naming path (also when
 * path is there and is not a regular file, bcos_check_replaceable). Every file bcos writes goes
 * through here, but for a download's PATH.part, which outlives its process to be resumed and is
 * renamed with bcos_finish_temp (bcos_http_fetch_file). */
int bcos_open_temp_beside(const char *path, char **tmp, char *err, size_t errlen);

/* Ends that replacement once the caller has written, flushed, synced and closed the temporary file:
 * with status 0 renames tmp over path and syncs the folder; on a failure there or before (status -1,
 * step and saved_errno naming what failed) removes tmp and writes "PATH: cannot STEP it: why". Frees
 * tmp; returns 0 or -1. */
int bcos_finish_temp(char *tmp, const char *path, int status, const char *step, int saved_errno, char *err,
                     size_t errlen);

/* Writes all len bytes to fd (again after EINTR and short writes): 0, or -1 with errno set. */
int bcos_write_all(int fd, const void *data, size_t len);

/* Replaces path by len bytes of data atomically: readers see the old file or the whole new one, and
 * after a crash one of the two. Returns 0, or -1 with a one-line message naming path. */
int bcos_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
