/* File-system path helpers shared by the commands that write files. */
#ifndef BCOS_PATHS_H
#define BCOS_PATHS_H

#include <stddef.h>

/* Create every missing directory above path ("a/b/c.txt" creates a/ and a/b/). Returns 0, or -1
 * with a one-line message in err naming the directory. */
int bcos_make_parent_dirs(const char *path, char *err, size_t errlen);

#endif
