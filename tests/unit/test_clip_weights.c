/* Bad weights and configs get a one-line error that names the culprit: a missing tensor (with
 * its expected shape), a wrong shape, an unexpected tensor, an unsupported dtype, an unknown
 * naming, a file no built-in config matches (naming the nearest), and config files with wrong keys
 * or values (ViT and ResNet). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/model/clip_internal.h"
#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/rng.h"
#include "test.h"

static char g_dir[] = "/tmp/bcos_test_weights_XXXXXX";

/* Writes the tiny model's tensors in open_clip naming, letting the caller alter one entry. */
typedef void (*mutator)(bcos_st_entry *entries, int *n, int64_t *shape_store);

static const char *write_variant(const bcos_clip *m, const char *file, mutator mutate) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, file);
    const bcos_params *p = &m->params;
    bcos_st_entry *entries = xcalloc((size_t)p->count + 1, sizeof *entries);
    int n = p->count;
    for (int i = 0; i < n; i++)
        entries[i] = (bcos_st_entry){p->items[i].name, BCOS_F32, p->items[i].ndim, p->items[i].shape,
                                     bcos_params_ptr(p, i)};
    /* open_clip stores the projections as [width, embed]: transposed shape and data */
    static int64_t proj_shapes[2][2];
    float *transposed[2] = {NULL, NULL};
    int k = 0;
    for (int i = 0; i < n; i++)
        if (i == m->visual_proj || i == m->text_projection) {
            int64_t rows = p->items[i].shape[0], cols = p->items[i].shape[1];
            proj_shapes[k][0] = cols;
            proj_shapes[k][1] = rows;
            transposed[k] = xmalloc((size_t)(rows * cols) * sizeof(float));
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) transposed[k][c * rows + r] = entries[i].data[r * cols + c];
            entries[i].shape = proj_shapes[k];
            entries[i].data = transposed[k++];
        }
    static int64_t shape_store[4];
    if (mutate) mutate(entries, &n, shape_store);
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_write(path, entries, n, NULL, 0, err, sizeof err) == 0, err);
    free(transposed[0]);
    free(transposed[1]);
    free(entries);
    return path;
}

static void drop_ln_post_bias(bcos_st_entry *e, int *n, int64_t *s) {
    (void)s;
    for (int i = 0; i < *n; i++)
        if (strcmp(e[i].name, "visual.ln_post.bias") == 0) e[i] = e[--(*n)];
}

static void shrink_conv1(bcos_st_entry *e, int *n, int64_t *s) {
    for (int i = 0; i < *n; i++)
        if (strcmp(e[i].name, "visual.conv1.weight") == 0) {
            memcpy(s, e[i].shape, 4 * sizeof *s);
            s[3] -= 1; /* fewer floats than the original: the data pointer stays valid */
            e[i].shape = s;
        }
}

static void add_extra(bcos_st_entry *e, int *n, int64_t *s) {
    s[0] = 2;
    e[*n] = (bcos_st_entry){"visual.extra_head.weight", BCOS_F32, 1, s, e[0].data};
    (*n)++;
}

static void expect_load_error(const bcos_clip_config *cfg, const char *path, const char *needle1,
                              const char *needle2) {
    bcos_clip m;
    char err[BCOS_ERRLEN] = "";
    int rc = bcos_clip_load_file(&m, path, cfg->name, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == -1, "%s must be refused", path);
    if (rc == 0) bcos_clip_free(&m);
    CHECK_MSG(strstr(err, needle1) != NULL, "error '%s' names '%s'", err, needle1);
    CHECK_MSG(strstr(err, needle2) != NULL, "error '%s' names '%s'", err, needle2);
    CHECK_MSG(strchr(err, '\n') == NULL, "error '%s' is one line", err);
}

static void check_bad_weights(void) {
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, "bcos-tiny", err, sizeof err) == 0, err);
    bcos_clip m;
    bcos_clip_init(&m, &cfg, bcos_backend_cpu());
    bcos_rng rng;
    bcos_rng_seed(&rng, 7);
    bcos_rng_fill_normal(&rng, m.params.data, m.params.total, 0.0f, 0.02f);

    /* the untouched file loads, and gives back the same numbers */
    const char *good = write_variant(&m, "good.safetensors", NULL);
    bcos_clip back;
    int rc = bcos_clip_load_file(&back, good, "bcos-tiny", bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(memcmp(back.params.data, m.params.data, m.params.total * sizeof(float)) == 0);
        bcos_clip_free(&back);
    }
    expect_load_error(&cfg, write_variant(&m, "missing.safetensors", drop_ln_post_bias), "visual.ln_post.bias",
                      "[64]");
    expect_load_error(&cfg, write_variant(&m, "shape.safetensors", shrink_conv1), "visual.conv1.weight",
                      "expected [64, 3, 8, 8]");
    expect_load_error(&cfg, write_variant(&m, "extra.safetensors", add_extra), "visual.extra_head.weight",
                      "unexpected");
    /* the wrong config for the file: ViT-B-32 expects width 768 */
    bcos_clip_config big;
    BCOS_CHECK(bcos_clip_config_load(&big, "ViT-B-32", err, sizeof err) == 0, err);
    expect_load_error(&big, good, "ViT-B-32", "expected [");
    /* shapes shared by bcos-tiny and bcos-tiny-gelu: automatic choice must refuse and ask */
    CHECK(bcos_clip_load_file(&back, good, NULL, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "--model") != NULL, "ambiguity error '%s' suggests --model", err);
    bcos_clip_free(&m);
}

static void expect_config_error(const char *json, const char *needle) {
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN] = "";
    CHECK_MSG(bcos_clip_config_parse(&cfg, "test", json, err, sizeof err) == -1, "config %s refused", json);
    CHECK_MSG(strstr(err, needle) != NULL, "config error '%s' names '%s'", err, needle);
}

static void check_bad_configs(void) {
    const char *vision = "\"vision_cfg\": {\"image_size\": 32, \"layers\": 1, \"width\": 64, \"patch_size\": 8}";
    char json[512];
    snprintf(json, sizeof json, "{\"embed_dim\": 8, %s, \"text_cfg\": {}}", vision);
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    CHECK_MSG(bcos_clip_config_parse(&cfg, "ok", json, err, sizeof err) == 0, "%s", err);
    CHECK(cfg.vision_heads == 1 && cfg.vision_mlp == 256 && cfg.text_width == 512 && cfg.context_length == 77);
    expect_config_error("[1, 2]", "not a JSON object");
    expect_config_error("{\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}", "image_size");
    snprintf(json, sizeof json, "{\"embed_dim\": 8, %s, \"text_cfg\": {}, \"timm_model_name\": \"x\"}", vision);
    expect_config_error(json, "timm_model_name");
    snprintf(json, sizeof json, "{\"embed_dim\": -3, %s, \"text_cfg\": {}}", vision);
    expect_config_error(json, "embed_dim");
    expect_config_error("{\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": 30, \"layers\": 1, \"width\": 64, "
                        "\"patch_size\": 8}, \"text_cfg\": {}}",
                        "multiple of patch_size");
    expect_config_error("{\"embed_dim\": 8, \"quick_gelu\": 1}", "quick_gelu");
    CHECK(bcos_clip_config_load(&cfg, "no-such-model", err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "ViT-B-16") != NULL, "unknown config error '%s' lists the built-in ones", err);
}

/* open_clip's ResNet configs: four block counts, the pool's heads from width * 32 / head_width, and the
 * JSON we write parsing back to the same config. */
static void check_resnet_configs(void) {
    bcos_clip_config cfg, back;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, "RN50x4-quickgelu", err, sizeof err) == 0, err);
    CHECK(cfg.vision_tower == BCOS_TOWER_RESNET && cfg.quick_gelu && cfg.image_size == 288);
    CHECK(cfg.resnet_layers[0] == 4 && cfg.resnet_layers[1] == 6 && cfg.resnet_layers[2] == 10 &&
          cfg.resnet_layers[3] == 6 && cfg.vision_layers == 26);
    CHECK(cfg.vision_width == 80 && cfg.vision_heads == 40 && cfg.patch_size == 0 && cfg.embed_dim == 640);
    char *json = bcos_clip_config_to_json(&cfg);
    CHECK_MSG(bcos_clip_config_parse(&back, cfg.name, json, err, sizeof err) == 0, "%s", err);
    CHECK(memcmp(&back, &cfg, sizeof cfg) == 0);
    free(json);
    BCOS_CHECK(bcos_clip_config_load(&cfg, "ViT-B-32", err, sizeof err) == 0, err);
    CHECK(cfg.vision_tower == BCOS_TOWER_VIT);
    const char *head = "{\"embed_dim\": 8, \"text_cfg\": {}, \"vision_cfg\": ";
    char bad[512];
    snprintf(bad, sizeof bad, "%s{\"image_size\": 64, \"layers\": [1, 1, 1], \"width\": 8}}", head);
    expect_config_error(bad, "four 'layers'");
    snprintf(bad, sizeof bad, "%s{\"image_size\": 64, \"layers\": [1, 1, 1, 1], \"width\": 8, \"patch_size\": 16}}",
             head);
    expect_config_error(bad, "null 'patch_size'");
    snprintf(bad, sizeof bad, "%s{\"image_size\": 80, \"layers\": [1, 1, 1, 1], \"width\": 8}}", head);
    expect_config_error(bad, "not a multiple of 32");
    snprintf(bad, sizeof bad, "%s{\"image_size\": 64, \"layers\": [1, 0, 1, 1], \"width\": 8}}", head);
    expect_config_error(bad, "four positive integers");
}

static void drop_bn1_running_var(bcos_st_entry *e, int *n, int64_t *s) {
    (void)s;
    for (int i = 0; i < *n; i++)
        if (strcmp(e[i].name, "visual.bn1.running_var") == 0) e[i] = e[--(*n)];
}

/* A ResNet file without a BatchNorm's running variance is refused, naming it; a ViT config refuses it. */
static void check_bad_resnet_weights(void) {
    bcos_clip_config cfg, vit;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, "bcos-tiny-rn", err, sizeof err) == 0, err);
    bcos_clip m;
    bcos_clip_init(&m, &cfg, bcos_backend_cpu());
    const char *missing = write_variant(&m, "rn_missing.safetensors", drop_bn1_running_var);
    expect_load_error(&cfg, missing, "visual.bn1.running_var", "[4]");
    /* with no config named, the automatic choice finds none and names the nearest and what it lacks */
    bcos_clip back;
    CHECK(bcos_clip_load_file(&back, missing, NULL, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "nearest is bcos-tiny-rn") && strstr(err, "'visual.bn1.running_var' is missing"),
              "no-match error '%s' names the nearest config and the missing tensor", err);
    BCOS_CHECK(bcos_clip_config_load(&vit, "bcos-tiny", err, sizeof err) == 0, err);
    expect_load_error(&vit, write_variant(&m, "rn.safetensors", NULL), "tensor 'visual.", "bcos-tiny");
    bcos_clip_free(&m);
}

int main(void) {
    BCOS_CHECK(mkdtemp(g_dir) != NULL, "/tmp is writable");
    check_bad_weights();
    check_bad_configs();
    check_resnet_configs();
    check_bad_resnet_weights();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    return test_summary("test_clip_weights");
}
