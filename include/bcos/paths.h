/* File-system path helpers shared by the commands that write files, and the atomic replacement of a
 * file (temporary file beside it, fsync, rename, fsync of the folder). */
#ifndef BCOS_PATHS_H
#define BCOS_PATHS_H

#include <stddef.h>

/* Create every missing directory above path ("a/b/c.txt" creates a/ and a/b/). Returns 0, or -1
 * with a one-line message in err naming the directory. */
int bcos_make_parent_dirs(const char *path, char *err, size_t errlen);

/* fsync of the folder holding path, so that a rename into it survives a crash. 0, or -1 with errno. */
int bcos_sync_parent_dir(const char *path);

/* Replaces path by len bytes of data atomically: readers see the old file or the whole new one, and
 * after a crash one of the two. Returns 0, or -1 with a one-line message naming path. */
int bcos_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
