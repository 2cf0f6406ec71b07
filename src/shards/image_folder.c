/* The image folder scan: class folders directly under the root, sorted by name; inside each, every
 * image file at any depth, folders in sorted order and file names sorted within them (torchvision's
 * ImageFolder order). Symbolic links are followed, as ImageFolder follows them. */
#include "shards_internal.h"

#include "bcos/check.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const g_image_exts[] = {".jpg", ".jpeg", ".png", ".webp"};

typedef struct {
    char *dir, *name;
} folder_entry;

typedef struct {
    folder_entry *items;
    long count, cap;
} entry_list;

static void push(entry_list *l, const char *dir, const char *name) {
    if (l->count == l->cap) {
        l->cap = 2 * l->cap + 64;
        l->items = xrealloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->count++] = (folder_entry){xstrdup(dir), xstrdup(name)};
}

static void list_free(entry_list *l) {
    for (long i = 0; i < l->count; i++) {
        free(l->items[i].dir);
        free(l->items[i].name);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof g_image_exts / sizeof g_image_exts[0]; i++)
        if (strcasecmp(dot, g_image_exts[i]) == 0) return 1;
    return 0;
}

static int compare_entries(const void *a, const void *b) {
    const folder_entry *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Adds the image files under dir to files (other files counted in *skipped); -1 with err when a
 * folder cannot be read. */
static int walk(entry_list *files, const char *dir, long *skipped, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) return bcos_error(err, errlen, dir, "cannot read the folder: %s", strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *path = bcos_strfmt("%s/%s", dir, e->d_name);
        if (is_dir(path)) rc = walk(files, path, skipped, err, errlen);
        else if (is_image_name(e->d_name)) push(files, dir, e->d_name);
        else (*skipped)++;
        free(path);
    }
    closedir(d);
    return rc;
}

/* The sorted names of the folders directly under root. */
static int list_classes(bcos_image_folder *f, const char *root, char *err, size_t errlen) {
    DIR *d = opendir(root);
    if (!d) return bcos_error(err, errlen, root, "cannot read the image folder: %s", strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *path = bcos_strfmt("%s/%s", root, e->d_name);
        if (is_dir(path)) {
            f->classes = xrealloc(f->classes, (size_t)(f->n_classes + 1) * sizeof *f->classes);
            f->classes[f->n_classes++] = xstrdup(e->d_name);
        }
        free(path);
    }
    closedir(d);
    if (f->n_classes == 0) return bcos_error(err, errlen, root, "has no class folders (ROOT/CLASS/IMAGE)");
    qsort(f->classes, (size_t)f->n_classes, sizeof *f->classes, compare_strings);
    return 0;
}

static int add_class(bcos_image_folder *f, const char *root, int label, char *err, size_t errlen) {
    entry_list files = {0};
    char *dir = bcos_strfmt("%s/%s", root, f->classes[label]);
    int rc = walk(&files, dir, &f->skipped, err, errlen);
    if (rc == 0 && files.count == 0) rc = bcos_error(err, errlen, dir, "has no .jpg, .jpeg, .png or .webp image");
    if (rc == 0) {
        qsort(files.items, (size_t)files.count, sizeof *files.items, compare_entries);
        f->paths = xrealloc(f->paths, (size_t)(f->count + files.count) * sizeof *f->paths);
        f->labels = xrealloc(f->labels, (size_t)(f->count + files.count) * sizeof *f->labels);
        for (long i = 0; i < files.count; i++, f->count++) {
            f->paths[f->count] = bcos_strfmt("%s/%s", files.items[i].dir, files.items[i].name);
            f->labels[f->count] = label;
        }
    }
    list_free(&files);
    free(dir);
    return rc;
}

int bcos_image_folder_scan(bcos_image_folder *f, const char *root, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    int rc = list_classes(f, root, err, errlen);
    for (int c = 0; rc == 0 && c < f->n_classes; c++) rc = add_class(f, root, c, err, errlen);
    if (rc != 0) bcos_image_folder_free(f);
    return rc;
}

void bcos_image_folder_free(bcos_image_folder *f) {
    for (int c = 0; c < f->n_classes; c++) free(f->classes[c]);
    for (long i = 0; i < f->count; i++) free(f->paths[i]);
    free(f->classes);
    free(f->paths);
    free(f->labels);
    memset(f, 0, sizeof *f);
}
