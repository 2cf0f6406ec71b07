/* The zero-shot classifier of a dataset, kept in a cache folder so that evaluating many checkpoints
 * (or many processes of a Slurm array) builds it once per text tower: the file is
 * <sha256>.safetensors, keyed by the text tower's tensors (names, shapes, values), the class names
 * and the templates, holding the tensor "classifier" [K, E]. A cached file that does not read back
 * is built again and replaced (with a warning). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/log.h"
#include "bcos/paths.h"
#include "bcos/safetensors.h"
#include "bcos/sha256.h"
#include "eval_internal.h"

static void hash_lines(bcos_sha256 *h, const char *what, char *const *lines, int n) {
    bcos_sha256_update(h, what, strlen(what) + 1);
    for (int i = 0; i < n; i++) bcos_sha256_update(h, lines[i], strlen(lines[i]) + 1);
}

/* The cache file's path for this text tower and dataset (heap). */
static char *cache_path(const char *dir, const bcos_clip *text, const bcos_eval_dataset *d) {
    bcos_clip_export x;
    bcos_clip_export_openclip(&x, text, 1);
    bcos_sha256 h;
    bcos_sha256_init(&h);
    for (int i = 0; i < x.count; i++) {
        const bcos_st_entry *e = &x.entries[i];
        size_t numel = 1;
        for (int k = 0; k < e->ndim; k++) numel *= (size_t)e->shape[k];
        bcos_sha256_update(&h, e->name, strlen(e->name) + 1);
        bcos_sha256_update(&h, e->shape, (size_t)e->ndim * sizeof *e->shape);
        bcos_sha256_update(&h, e->data, numel * sizeof(float));
    }
    bcos_clip_export_free(&x);
    hash_lines(&h, "classes", d->classes, d->n_classes);
    hash_lines(&h, "templates", d->templates, d->n_templates);
    uint8_t digest[BCOS_SHA256_BYTES];
    bcos_sha256_final(&h, digest);
    size_t len = strlen(dir) + 2 * BCOS_SHA256_BYTES + 16;
    char *path = xmalloc(len), *at = path + snprintf(path, len, "%s/", dir);
    for (int i = 0; i < BCOS_SHA256_BYTES; i++) at += sprintf(at, "%02x", digest[i]);
    strcpy(at, ".safetensors");
    return path;
}

/* The cached classifier [K, E] into out: 0, or -1 with err when absent or not usable. */
static int read_cached(float *out, const char *path, int K, int E, char *err, size_t errlen) {
    bcos_safetensors st;
    if (bcos_st_open(&st, path, err, errlen) != 0) return -1;
    const bcos_st_tensor *t = bcos_st_find(&st, "classifier");
    int rc = -1;
    if (!t || t->ndim != 2 || t->shape[0] != K || t->shape[1] != E)
        snprintf(err, errlen, "%s: no classifier [%d, %d]", path, K, E);
    else
        rc = bcos_st_to_f32(t, out, err, errlen);
    bcos_st_close(&st);
    return rc;
}

int eval_classifier(float *out, const bcos_clip *text, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                    const char *cache_dir, int write, char *err, size_t errlen) {
    int K = d->n_classes, E = text->cfg.embed_dim;
    char *path = cache_dir ? cache_path(cache_dir, text, d) : NULL;
    char why[BCOS_ERRLEN];
    int rc = 0;
    if (!path || read_cached(out, path, K, E, why, sizeof why) != 0) {
        if (path && access(path, F_OK) == 0) bcos_warn("classifier cache %s", why);
        rc = bcos_zeroshot_classifier(out, text, tok, (const char *const *)d->classes, K,
                                      (const char *const *)d->templates, d->n_templates, err, errlen);
        if (rc == 0 && path && write) {
            int64_t shape[2] = {K, E};
            bcos_st_entry e = {"classifier", BCOS_F32, 2, shape, out};
            if (bcos_make_parent_dirs(path, why, sizeof why) != 0 || bcos_st_write(path, &e, 1, NULL, 0, why, sizeof why) != 0)
                bcos_warn("classifier cache not written: %s", why);
        }
    }
    free(path);
    return rc;
}
