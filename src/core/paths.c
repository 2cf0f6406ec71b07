/* Path helpers: creating the directories a file will be written into, and replacing a file atomically. */
#include "bcos/paths.h"

#include "bcos/check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* fsync of the folder holding path, so that a rename into it survives a crash. 0, or -1 with errno. */
static int sync_parent_dir(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *name = ".";
    if (slash == dir) name = "/";
    else if (slash) *slash = '\0', name = dir;
    int fd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int status = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    int saved = errno;
    if (fd >= 0) close(fd);
    free(dir);
    errno = saved;
    return status;
}

/* What a rename over path would put a regular file in place of, or NULL when nothing (or a regular
 * file) is there. Follows a symbolic link: the link is what the user named, its target what is meant. */
static const char *not_a_regular_file(const struct stat *st) {
    if (S_ISREG(st->st_mode)) return NULL;
    if (S_ISDIR(st->st_mode)) return "a directory";
    if (S_ISCHR(st->st_mode)) return "a character device";
    if (S_ISBLK(st->st_mode)) return "a block device";
    if (S_ISFIFO(st->st_mode)) return "a named pipe (FIFO)";
    if (S_ISSOCK(st->st_mode)) return "a socket";
    return "not a regular file";
}

int bcos_check_replaceable(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* nothing there (or a dangling link): a new file */
    const char *what = not_a_regular_file(&st);
    if (!what) return 0;
    return bcos_error(err, errlen, path, "is %s, not a regular file; refusing to replace it (name a file)", what);
}

int bcos_open_temp_beside(const char *path, char **tmp, char *err, size_t errlen) {
    *tmp = NULL;
    if (bcos_check_replaceable(path, err, errlen) != 0) return -1;
    *tmp = bcos_strfmt("%s.tmp.XXXXXX", path);
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        int saved = errno;
        free(*tmp);
        *tmp = NULL;
        return bcos_error(err, errlen, path, "cannot create a temporary file beside it: %s", strerror(saved));
    }
    /* mkstemp makes the file private (0600); what it replaces is an ordinary file. Best effort: a
     * file only its owner can read is still a correct file. */
    (void)fchmod(fd, 0644);
    return fd;
}

int bcos_write_all(int fd, const void *data, size_t len) {
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

int bcos_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    char *tmp;
    int fd = bcos_open_temp_beside(path, &tmp, err, errlen);
    if (fd < 0) return -1;
    const char *step = "write";
    int status = bcos_write_all(fd, data, len);
    if (status == 0 && fsync(fd) != 0) status = -1, step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && status == 0) status = -1, saved = errno, step = "close";
    return bcos_finish_temp(tmp, path, status, step, saved, err, errlen);
}

int bcos_finish_temp(char *tmp, const char *path, int status, const char *step, int saved_errno, char *err,
                     size_t errlen) {
    if (status == 0 && rename(tmp, path) != 0) status = -1, saved_errno = errno, step = "rename";
    if (status == 0 && sync_parent_dir(path) != 0) status = -1, saved_errno = errno, step = "fsync the folder of";
    if (status != 0) {
        unlink(tmp);
        bcos_error(err, errlen, path, "cannot %s it: %s", step, strerror(saved_errno));
    }
    free(tmp);
    return status;
}
