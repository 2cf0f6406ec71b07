/* Golden test: CLIP's ResNet image tower against open_clip's ModifiedResNet (embeddings computed in
 * float64 by tools/ref/make_rn_fixtures.py): the tiny RN config with random weights (BatchNorm running
 * statistics included) from its committed file, and RN50 under weights that this test computes from the
 * generator's formula (too large to commit). Also: saving the tiny RN model and loading it back is bit
 * exact, and its config is found from the file's shapes alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "test.h"

#define FIX "tests/fixtures/clip/"
#define REL_TOL 1e-5

static float *read_f32(const bcos_safetensors *st, const char *name, size_t expect_numel) {
    const bcos_st_tensor *t = bcos_st_find(st, name);
    BCOS_CHECK(t != NULL, "regenerate the fixtures with tools/ref/make_rn_fixtures.py");
    BCOS_CHECK(t->numel == expect_numel, "the fixture's shape matches its config");
    float *out = xmalloc(t->numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    return out;
}

/* Encodes the first n images and compares with the fixture's embeddings; returns the relative error. */
static double image_error(const bcos_clip *m, const bcos_safetensors *ref, const float *images, int n) {
    size_t E = (size_t)m->cfg.embed_dim;
    const bcos_st_tensor *t = bcos_st_find(ref, "image_embeddings");
    BCOS_CHECK(t && t->numel >= (size_t)n * E, "the fixture holds an embedding for each image");
    float *want = read_f32(ref, "image_embeddings", t->numel);
    float *got = xmalloc((size_t)n * E * sizeof(float));
    bcos_clip_encode_image(m, got, images, n);
    double err = test_rel_error_f32(got, want, (size_t)n * E);
    free(got);
    free(want);
    return err;
}

/* ---- the tiny RN config: weights, image and text embeddings from the committed files */

/* A batch larger than the tower's chunk of images: each embedding is that of its image alone. */
static void check_chunks(const bcos_clip *m, const float *images, int n_images) {
    enum { N = 19 };
    size_t image = 3 * (size_t)m->cfg.image_size * m->cfg.image_size, E = (size_t)m->cfg.embed_dim;
    float *batch = xmalloc(N * image * sizeof(float)), *all = xmalloc(N * E * sizeof(float));
    float *alone = xmalloc(E * sizeof(float));
    for (int i = 0; i < N; i++) memcpy(batch + i * image, images + (size_t)(i % n_images) * image, image * sizeof(float));
    bcos_clip_encode_image(m, all, batch, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        bcos_clip_encode_image(m, alone, batch + i * image, 1);
        double e = test_rel_error_f32(all + i * E, alone, E);
        worst = e > worst ? e : worst;
    }
    CHECK_MSG(worst < REL_TOL, "a batch of %d gives each image's own embedding (rel error %.3g)", N, worst);
    free(alone);
    free(all);
    free(batch);
}

static void check_tiny(const char *config) {
    bcos_clip m;
    char err[BCOS_ERRLEN];
    int rc = bcos_clip_load_file(&m, FIX "tiny_rn_openclip.safetensors", config, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) return;
    CHECK_MSG(strcmp(m.cfg.name, "bcos-tiny-rn") == 0, "the file's config is bcos-tiny-rn, not %s", m.cfg.name);
    CHECK(m.cfg.vision_tower == BCOS_TOWER_RESNET);
    bcos_safetensors ref;
    BCOS_CHECK(bcos_st_open(&ref, FIX "tiny_rn_embeddings.safetensors", err, sizeof err) == 0, err);
    int NI = (int)bcos_st_find(&ref, "images")->shape[0], NT = (int)bcos_st_find(&ref, "text_ids")->shape[0];
    size_t S = (size_t)m.cfg.image_size, E = (size_t)m.cfg.embed_dim;
    float *images = read_f32(&ref, "images", (size_t)NI * 3 * S * S);
    double e_img = image_error(&m, &ref, images, NI);
    CHECK_MSG(e_img < REL_TOL, "bcos-tiny-rn image embeddings rel error %.3g", e_img);
    /* one image at a time gives the same embeddings as the batch */
    double e_one = image_error(&m, &ref, images, 1);
    CHECK_MSG(e_one < REL_TOL, "bcos-tiny-rn first image alone rel error %.3g", e_one);
    check_chunks(&m, images, NI);

    const bcos_st_tensor *ids_t = bcos_st_find(&ref, "text_ids");
    int32_t *ids = xmalloc(ids_t->nbytes);
    memcpy(ids, ids_t->data, ids_t->nbytes);
    float *want_txt = read_f32(&ref, "text_embeddings", (size_t)NT * E);
    float *got_txt = xmalloc((size_t)NT * E * sizeof(float));
    bcos_clip_encode_text(&m, got_txt, ids, NT);
    double e_txt = test_rel_error_f32(got_txt, want_txt, (size_t)NT * E);
    CHECK_MSG(e_txt < REL_TOL, "bcos-tiny-rn text embeddings rel error %.3g", e_txt);
    printf("bcos-tiny-rn (config %s): image rel err %.2e, text rel err %.2e\n", config ? config : "from shapes",
           e_img, e_txt);
    free(got_txt);
    free(want_txt);
    free(ids);
    free(images);
    bcos_st_close(&ref);
    bcos_clip_free(&m);
}

/* Saving in open_clip naming and loading back gives the same parameters, bit for bit. */
static void check_save_roundtrip(void) {
    bcos_clip a, b;
    char err[BCOS_ERRLEN], path[] = "/tmp/bcos_test_clip_rn_XXXXXX";
    BCOS_CHECK(bcos_clip_load_file(&a, FIX "tiny_rn_openclip.safetensors", "bcos-tiny-rn", bcos_backend_cpu(), err,
                                   sizeof err) == 0, err);
    int fd = mkstemp(path);
    BCOS_CHECK(fd >= 0, "/tmp is writable");
    close(fd);
    CHECK(bcos_clip_save(&a, path, err, sizeof err) == 0);
    int rc = bcos_clip_load_file(&b, path, NULL, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.params.total == b.params.total);
        CHECK(memcmp(a.params.data, b.params.data, a.params.total * sizeof(float)) == 0);
        bcos_clip_free(&b);
    }
    unlink(path);
    bcos_clip_free(&a);
}

/* ---- RN50 under formula weights: the generator's formula, written again here */

static uint64_t fnv1a64(const char *name) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) h = (h ^ *c) * 0x100000001B3ull;
    return h;
}

static uint64_t splitmix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* make_rn_fixtures.py's formula_rule: a range [lo, hi] (is_range) or a scale of u. */
static void formula_rule(const char *name, int ndim, const int64_t *shape, double *a, double *b, int *is_range) {
    int is_bn = strstr(name, ".bn") != NULL || strstr(name, "downsample.1.") != NULL;
    double fan_in = 1;
    for (int d = 1; d < ndim; d++) fan_in *= (double)shape[d];
    *is_range = 0;
    if (strcmp(name, "images") == 0) {
        *a = 2.0;
    } else if (ends_with(name, "running_var")) {
        *a = 0.5, *b = 1.5, *is_range = 1;
    } else if (ends_with(name, "running_mean") || ends_with(name, "bias")) {
        *a = 0.1;
    } else if (is_bn && ends_with(name, "weight")) {
        *is_range = 1;
        if (strstr(name, ".bn3.")) *a = 0.1, *b = 0.3;
        else *a = 0.5, *b = 1.0;
    } else if (ndim == 4) {
        *a = sqrt(6.0 / fan_in);
    } else if (ends_with(name, "positional_embedding")) {
        *a = sqrt(1.0 / (double)shape[1]);
    } else {
        BCOS_CHECK(ndim == 2, "every tensor of the ResNet tower has a formula rule");
        *a = sqrt(3.0 / fan_in);
    }
}

static void formula_fill(float *out, const char *name, int ndim, const int64_t *shape) {
    double a, b;
    int is_range;
    formula_rule(name, ndim, shape, &a, &b, &is_range);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    uint64_t seed = fnv1a64(name);
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(seed + i) >> 40) * 0x1p-23 - 1.0;
        out[i] = (float)(is_range ? a + (b - a) * ((u + 1.0) / 2.0) : u * a);
    }
}

/* The fixture's probes (first values of a few tensors) equal ours exactly: a wrong formula fails
 * here, before it could pass for a wrong forward. */
static void check_probes(const bcos_safetensors *ref, const bcos_clip *m, const float *images) {
    int probes = 0;
    for (int i = 0; i < ref->count; i++) {
        const char *name = ref->tensors[i].name;
        if (strncmp(name, "probe.", 6) != 0) continue;
        const char *what = name + 6;
        int index = bcos_params_find(&m->params, what);
        BCOS_CHECK(index >= 0 || strcmp(what, "images") == 0, "a probe names a tensor of the model or the images");
        const float *ours = index >= 0 ? bcos_params_ptr(&m->params, index) : images;
        float *want = read_f32(ref, name, ref->tensors[i].numel);
        CHECK_MSG(memcmp(ours, want, ref->tensors[i].numel * sizeof(float)) == 0, "formula values of %s match", what);
        free(want);
        probes++;
    }
    CHECK(probes >= 3);
}

static void check_rn50_formula(void) {
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, "RN50", err, sizeof err) == 0, err);
    bcos_clip m;
    bcos_clip_init(&m, &cfg, bcos_backend_cpu());
    for (int i = 0; i < m.params.count; i++) {
        const bcos_param *t = &m.params.items[i];
        if (strncmp(t->name, "visual.", 7) == 0) formula_fill(bcos_params_ptr(&m.params, i), t->name, t->ndim, t->shape);
    }
    enum { N = 2 };
    int64_t shape[4] = {N, 3, cfg.image_size, cfg.image_size};
    float *images = xmalloc((size_t)N * 3 * cfg.image_size * cfg.image_size * sizeof(float));
    formula_fill(images, "images", 4, shape);
    bcos_safetensors ref;
    BCOS_CHECK(bcos_st_open(&ref, FIX "rn50_formula.safetensors", err, sizeof err) == 0, err);
    check_probes(&ref, &m, images);
    double e = image_error(&m, &ref, images, N);
    CHECK_MSG(e < REL_TOL, "RN50 (formula weights) image embeddings rel error %.3g", e);
    printf("RN50 formula weights: image rel err %.2e\n", e);
    bcos_st_close(&ref);
    free(images);
    bcos_clip_free(&m);
}

int main(void) {
    check_tiny("bcos-tiny-rn");
    check_tiny(NULL); /* the only built-in config of these shapes */
    check_save_roundtrip();
    check_rn50_formula();
    return test_summary("test_clip_resnet");
}
