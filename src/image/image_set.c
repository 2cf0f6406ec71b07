/* The in-memory image set: a folder walk, decode, center crop, and sibling captions. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "bcos/check.h"
#include "image_internal.h"
#include "bcos/log.h"
#include "bcos/progress.h"

void bcos_image_set_alloc(bcos_image_set *set, int count, int size) {
    memset(set, 0, sizeof *set);
    set->count = count;
    set->size = size;
    set->crops = xcalloc((size_t)count * size * size * 3, 1);
    set->paths = xcalloc((size_t)count + 1, sizeof *set->paths);
    set->captions = xcalloc((size_t)count + 1, sizeof *set->captions);
}

void bcos_image_set_free(bcos_image_set *set) {
    for (int i = 0; i < set->count; i++) {
        free(set->paths[i]);
        free(set->captions[i]);
    }
    free(set->paths);
    free(set->captions);
    free(set->crops);
    memset(set, 0, sizeof *set);
}

typedef struct {
    char **items;
    int count, cap;
} path_list;

static int has_image_extension(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0;
}

static int walk(path_list *list, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *path = xmalloc(n);
        snprintf(path, n, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            walk(list, path);
            free(path);
        } else if (has_image_extension(e->d_name)) {
            if (list->count == list->cap) {
                list->cap = list->cap * 2 + 64;
                list->items = xrealloc(list->items, (size_t)list->cap * sizeof(char *));
            }
            list->items[list->count++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
    return 0;
}

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The caption beside an image ("x.jpg" -> "x.txt"), first line, or NULL. */
static char *read_caption(const char *image_path) {
    size_t n = strlen(image_path) + 5;
    char *txt = xmalloc(n);
    snprintf(txt, n, "%s", image_path);
    char *dot = strrchr(txt, '.');
    strcpy(dot, ".txt");
    char *text = bcos_read_file(txt, NULL);
    free(txt);
    if (!text) return NULL;
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}

/* Decode path and center-crop it into crop[size, size, 3]. Returns 0 or -1 with why set. */
static int load_crop(uint8_t *crop, const char *path, int size, char *why, size_t whylen) {
    bcos_image img;
    if (bcos_image_load(&img, path, why, whylen) != 0) return -1;
    int rc = bcos_clip_eval_crop(crop, &img, size, why, whylen);
    bcos_image_free(&img);
    return rc;
}

int bcos_image_set_load_dir(bcos_image_set *set, const char *dir, int size, char *err, size_t errlen) {
    path_list list = {0};
    if (walk(&list, dir) != 0) {
        snprintf(err, errlen, "%s: cannot read the image folder", dir);
        return -1;
    }
    /* qsort's array must be valid even for no items, and an empty folder has none allocated */
    if (list.count > 0) qsort(list.items, (size_t)list.count, sizeof *list.items, compare_paths);
    bcos_image_set_alloc(set, list.count, size);
    bcos_progress progress;
    bcos_progress_start(&progress, "decoding images", list.count);
    int kept = 0;
    for (int i = 0; i < list.count; i++) {
        char why[BCOS_ERRLEN];
        if (load_crop(set->crops + (size_t)kept * size * size * 3, list.items[i], size, why, sizeof why) != 0) {
            bcos_warn("skipping %s", why);
            set->skipped++;
            free(list.items[i]);
        } else {
            set->paths[kept] = list.items[i];
            set->captions[kept] = read_caption(list.items[i]);
            kept++;
        }
        bcos_progress_step(&progress, 1, NULL);
    }
    if (list.count > 100) bcos_progress_finish(&progress, NULL);
    free(list.items);
    set->count = kept;
    if (kept == 0) {
        snprintf(err, errlen, "%s: no decodable .jpg/.jpeg/.png image in the folder (%d skipped)", dir, set->skipped);
        bcos_image_set_free(set);
        return -1;
    }
    return 0;
}
