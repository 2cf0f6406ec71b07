/* COCO-style caption annotations: the "images" array gives the images and their order, the
 * "annotations" array their captions (by "image_id"); each image keeps its entry as JSON with its
 * captions added, for the shard's .json member. */
#include "shards_internal.h"

#include "bcos/check.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double id;
    long index;
} id_entry;

static int compare_ids(const void *a, const void *b) {
    double x = ((const id_entry *)a)->id, y = ((const id_entry *)b)->id;
    return (x > y) - (x < y);
}

/* A caption as one line: newlines and carriage returns become spaces. */
static char *one_line(const char *text) {
    char *s = xstrdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return s;
}

static int read_images(bcos_coco *c, const cJSON *images, id_entry *ids, const char *path, char *err, size_t errlen) {
    c->count = cJSON_GetArraySize(images);
    c->images = xcalloc((size_t)c->count + 1, sizeof *c->images);
    long i = 0;
    for (const cJSON *e = images->child; e; e = e->next, i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "file_name");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(name) || !*name->valuestring)
            return bcos_error(err, errlen, path, "images[%ld] lacks a numeric \"id\" or a \"file_name\"", i);
        c->images[i].file_name = xstrdup(name->valuestring);
        ids[i] = (id_entry){id->valuedouble, i};
    }
    qsort(ids, (size_t)c->count, sizeof *ids, compare_ids);
    for (long k = 1; k < c->count; k++)
        if (ids[k].id == ids[k - 1].id)
            return bcos_error(err, errlen, path, "images[%ld] repeats the id %.17g", ids[k].index, ids[k].id);
    return 0;
}

static int read_captions(bcos_coco *c, const cJSON *annotations, const id_entry *ids, const char *path, char *err,
                         size_t errlen) {
    long j = 0;
    for (const cJSON *a = annotations->child; a; a = a->next, j++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "image_id");
        const cJSON *caption = cJSON_GetObjectItemCaseSensitive(a, "caption");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(caption))
            return bcos_error(err, errlen, path, "annotations[%ld] lacks a numeric \"image_id\" or a \"caption\"", j);
        id_entry key = {id->valuedouble, 0};
        const id_entry *found = bsearch(&key, ids, (size_t)c->count, sizeof *ids, compare_ids);
        if (!found)
            return bcos_error(err, errlen, path, "annotations[%ld] is about image %.17g, which \"images\" lacks", j,
                              id->valuedouble);
        bcos_coco_image *im = &c->images[found->index];
        im->captions = xrealloc(im->captions, (size_t)(im->n_captions + 1) * sizeof *im->captions);
        im->captions[im->n_captions++] = one_line(caption->valuestring);
    }
    return 0;
}

/* Each image's entry with its captions added, printed compactly. */
static void attach_json(bcos_coco *c, const cJSON *images) {
    long i = 0;
    for (const cJSON *e = images->child; e; e = e->next, i++) {
        cJSON *copy = cJSON_Duplicate(e, 1);
        cJSON *caps = cJSON_CreateArray();
        BCOS_CHECK(copy && caps, "out of memory");
        for (int k = 0; k < c->images[i].n_captions; k++)
            cJSON_AddItemToArray(caps, cJSON_CreateString(c->images[i].captions[k]));
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "captions");
        cJSON_AddItemToObject(copy, "captions", caps);
        c->images[i].json = cJSON_PrintUnformatted(copy);
        BCOS_CHECK(c->images[i].json, "out of memory");
        cJSON_Delete(copy);
    }
}

int bcos_coco_read(bcos_coco *c, const char *path, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    size_t len = 0;
    char *text = bcos_read_file(path, &len);
    if (!text) return bcos_error(err, errlen, path, "cannot read: %s", strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = 0;
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long offset = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        rc = bcos_error(err, errlen, path, "not JSON (it breaks near byte %ld)", offset);
    }
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(root, "images");
    const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(root, "annotations");
    if (rc == 0 && (!cJSON_IsArray(images) || !cJSON_IsArray(annotations)))
        rc = bcos_error(err, errlen, path, "lacks the \"images\" or \"annotations\" array of COCO captions");
    id_entry *ids = NULL;
    if (rc == 0) {
        ids = xmalloc(((size_t)cJSON_GetArraySize(images) + 1) * sizeof *ids);
        rc = read_images(c, images, ids, path, err, errlen);
    }
    if (rc == 0) rc = read_captions(c, annotations, ids, path, err, errlen);
    if (rc == 0) attach_json(c, images);
    free(ids);
    cJSON_Delete(root);
    free(text);
    if (rc != 0) bcos_coco_free(c);
    return rc;
}

void bcos_coco_free(bcos_coco *c) {
    for (long i = 0; i < c->count && c->images; i++) {
        bcos_coco_image *im = &c->images[i];
        for (int k = 0; k < im->n_captions; k++) free(im->captions[k]);
        free(im->captions);
        free(im->file_name);
        free(im->json);
    }
    free(c->images);
    memset(c, 0, sizeof *c);
}
