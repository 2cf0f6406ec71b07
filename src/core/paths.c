/* Path helpers: creating the directories a file will be written into. */
#include "bcos/paths.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int bcos_make_parent_dirs(const char *path, char *err, size_t errlen) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        snprintf(err, errlen, "%.200s...: path too long", path);
        return -1;
    }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p != '/' && *p != '\0') continue;
        char keep = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(dir, 0777) != 0 && (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
            snprintf(err, errlen, "%s: cannot create the directory: %s", dir,
                     errno == EEXIST ? "a file of that name is in the way" : strerror(errno));
            return -1;
        }
        if (!keep) return 0;
        *p = keep;
    }
}
