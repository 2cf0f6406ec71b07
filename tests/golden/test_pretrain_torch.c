/* Golden test of contrastive pretraining against open_clip (tools/ref/make_pretrain_fixtures.py):
 * on a micro CLIP config and a batch of 6 image-caption pairs, the symmetric InfoNCE loss of
 * open_clip's ClipLoss, the gradient of every parameter (logit_scale included) from both towers'
 * backward, and three AdamW steps with open_clip's parameter groups and logit_scale clamp, all
 * against float64 references. Also finite differences for the loss's own gradient (features and
 * logit_scale), and the clamp at ln 100. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/clip_train.h"
#include "bcos/safetensors.h"
#include "../../src/train/pretrain_internal.h"
#include "test.h"

#define DIR "tests/fixtures/pretrain/"
#define HINT "regenerate with tools/ref/make_pretrain_fixtures.py"
/* Float32 passes against float64 references: max|ours - ref| / max|ref| per tensor. */
#define GRAD_TOLERANCE 1e-4
#define LOSS_TOLERANCE 1e-5

static bcos_safetensors g_batch;

static float *get(const char *name, size_t *n) {
    const bcos_st_tensor *t = bcos_st_find(&g_batch, name);
    if (!t) BCOS_DIE(HINT, "no tensor '%s' in the fixture", name);
    float *out = xmalloc(t->numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    if (n) *n = t->numel;
    return out;
}

static double meta_double(const char *key) {
    const char *v = bcos_st_meta_get(&g_batch, key);
    if (!v) BCOS_DIE(HINT, "no '%s' in the fixture's metadata", key);
    return strtod(v, NULL);
}

static void load_model(bcos_clip *m) {
    char err[BCOS_ERRLEN];
    if (bcos_clip_load_file(m, DIR "model.safetensors", DIR "pretrain-micro.json", bcos_backend_get("cpu"), err,
                            sizeof err) != 0)
        BCOS_DIE(HINT, "%s", err);
}

/* The batch: images, and the ids the fixture holds as floats. */
static int load_batch(const bcos_clip *m, float **images, int32_t **ids) {
    size_t n_img, n_ids;
    *images = get("images", &n_img);
    float *f = get("ids", &n_ids);
    int B = (int)(n_ids / (size_t)m->cfg.context_length);
    BCOS_CHECK(n_img == (size_t)B * 3 * m->cfg.image_size * m->cfg.image_size, HINT);
    *ids = xmalloc(n_ids * sizeof(int32_t));
    for (size_t i = 0; i < n_ids; i++) (*ids)[i] = (int32_t)f[i];
    free(f);
    return B;
}

/* The key bias has no gradient in exact arithmetic (softmax ignores q·b_k, the same for every key),
 * so after Adam (which divides by sqrt(v)) it holds rounding noise in float32 and float64 alike:
 * the query and value thirds of an in_proj bias[3W] are compared, the key third is not. */
static double key_bias_excluded(const float *ours, const float *ref, size_t n) {
    size_t W = n / 3;
    float *a = xmalloc(2 * W * sizeof(float)), *b = xmalloc(2 * W * sizeof(float));
    memcpy(a, ours, W * sizeof(float));
    memcpy(a + W, ours + 2 * W, W * sizeof(float));
    memcpy(b, ref, W * sizeof(float));
    memcpy(b + W, ref + 2 * W, W * sizeof(float));
    double rel = test_rel_error_f32(a, b, 2 * W);
    free(a);
    free(b);
    return rel;
}

/* Every tensor of flat (laid out as m's parameters, in open_clip's layout through the export)
 * against the fixture's "<prefix><name>". Returns the worst relative error. */
static double compare_all(const bcos_clip *m, const float *flat, const char *prefix, double tolerance,
                          int skip_key_bias) {
    bcos_clip_export x;
    bcos_clip_export_buffer(&x, m, flat, "");
    double worst = 0;
    for (int i = 0; i < x.count; i++) {
        char name[200];
        snprintf(name, sizeof name, "%s%s", prefix, x.entries[i].name);
        size_t n;
        float *ref = get(name, &n);
        double rel = test_rel_error_f32(x.entries[i].data, ref, n);
        if (skip_key_bias && strstr(name, "attn.in_proj_bias")) rel = key_bias_excluded(x.entries[i].data, ref, n);
        CHECK_MSG(rel < tolerance, "%s: relative error %.3g", name, rel);
        if (rel > worst) worst = rel;
        free(ref);
    }
    bcos_clip_export_free(&x);
    return worst;
}

static void test_loss_and_gradients(void) {
    bcos_clip m;
    load_model(&m);
    float *images;
    int32_t *ids;
    int B = load_batch(&m, &images, &ids);
    float *grads = xcalloc(m.params.total, sizeof(float));
    pretrain_pass p;
    pretrain_pass_init(&p, &m, grads, B, B, 0);
    double loss = pretrain_gradients(&p, images, ids);
    float *ref = get("loss", NULL);
    CHECK_MSG(fabs(loss - ref[0]) / fabs(ref[0]) < LOSS_TOLERANCE, "loss %.8f, open_clip %.8f", loss, ref[0]);
    double worst = compare_all(&m, p.grads, "grad.", GRAD_TOLERANCE, 0);
    printf("loss %.8f (open_clip %.8f), gradients: worst relative error %.3g over %d tensors\n", loss, ref[0], worst,
           m.params.count);
    /* the training forward is the inference forward */
    float *img = xmalloc((size_t)B * m.cfg.embed_dim * sizeof(float)), *txt = xmalloc((size_t)B * m.cfg.embed_dim * sizeof(float));
    bcos_clip_encode_image(&m, img, images, B);
    bcos_clip_encode_text(&m, txt, ids, B);
    CHECK_MSG(memcmp(img, p.img, (size_t)B * m.cfg.embed_dim * sizeof(float)) == 0, "image features as encode_image's");
    CHECK_MSG(memcmp(txt, p.txt, (size_t)B * m.cfg.embed_dim * sizeof(float)) == 0, "text features as encode_text's");
    free(img);
    free(txt);
    free(ref);
    pretrain_pass_free(&p);
    free(grads);
    free(ids);
    free(images);
    bcos_clip_free(&m);
}

/* Three AdamW steps on the same batch at the fixture's learning rates: the loss before each, and
 * the weights after the last (the key biases' thirds aside, see key_bias_excluded). */
#define STEP_TOLERANCE 1e-4
static void test_adamw_steps(void) {
    bcos_clip m;
    load_model(&m);
    float *images;
    int32_t *ids;
    int B = load_batch(&m, &images, &ids);
    size_t n_steps;
    float *lrs = get("step_lr", &n_steps), *losses = get("step_loss", NULL);
    bcos_adam_config ac = {.beta1 = meta_double("beta1"), .beta2 = meta_double("beta2"), .eps = meta_double("eps"),
                           .weight_decay = meta_double("weight_decay"), .decoupled = 1};
    bcos_adam opt;
    bcos_adam_init(&opt, &ac, m.params.total);
    bcos_adam_exclude_1d_from_decay(&opt, &m.params);
    float *grads = xcalloc(m.params.total, sizeof(float));
    pretrain_pass p;
    pretrain_pass_init(&p, &m, grads, B, B, 0);
    for (size_t k = 0; k < n_steps; k++) {
        double loss = pretrain_gradients(&p, images, ids);
        CHECK_MSG(fabs(loss - losses[k]) / fabs(losses[k]) < LOSS_TOLERANCE, "step %zu: loss %.8f, open_clip %.8f", k,
              loss, losses[k]);
        pretrain_update(&m, &opt, p.grads, lrs[k]);
    }
    double worst = compare_all(&m, m.params.data, "after.", STEP_TOLERANCE, 1);
    printf("%zu AdamW steps: worst relative error of the weights %.3g\n", n_steps, worst);
    pretrain_pass_free(&p);
    free(grads);
    bcos_adam_free(&opt);
    free(lrs);
    free(losses);
    free(ids);
    free(images);
    bcos_clip_free(&m);
}

/* The loss's gradient against central differences on its float inputs (it computes in double). */
static void test_loss_finite_differences(void) {
    enum { N = 5, E = 7, ROW0 = 1, LB = 3 };
    float img[N * E], txt[N * E];
    for (int i = 0; i < N * E; i++) img[i] = (float)sin(1.3 * i + 0.2), txt[i] = (float)cos(0.7 * i * i + 0.5);
    double scale = 2.1, dscale = 0;
    float dimg[LB * E] = {0}, dtxt[LB * E] = {0};
    bcos_clip_loss(dimg, dtxt, &dscale, img, txt, N, E, scale, ROW0, LB);
    double worst = 0;
    for (int which = 0; which < 2; which++) {
        float *x = which ? txt : img, *g = which ? dtxt : dimg;
        for (int i = ROW0 * E; i < (ROW0 + LB) * E; i++) {
            float keep = x[i], h = 1e-2f;
            x[i] = keep + h;
            double up = bcos_clip_loss(NULL, NULL, NULL, img, txt, N, E, scale, 0, 0);
            x[i] = keep - h;
            double down = bcos_clip_loss(NULL, NULL, NULL, img, txt, N, E, scale, 0, 0);
            x[i] = keep;
            double fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
            worst = fmax(worst, fabs(fd - g[i - ROW0 * E]));
        }
    }
    double h = 1e-5;
    double fd_scale = (bcos_clip_loss(NULL, NULL, NULL, img, txt, N, E, scale + h, 0, 0) -
                       bcos_clip_loss(NULL, NULL, NULL, img, txt, N, E, scale - h, 0, 0)) / (2 * h);
    /* h = 1e-2 on the features: the second-order error bounds what central differences can show */
    CHECK_MSG(worst < 1e-4, "feature gradients against finite differences: %.3g", worst);
    CHECK_MSG(fabs(fd_scale - dscale) < 1e-8, "dL/dlogit_scale %.10f, finite differences %.10f", dscale, fd_scale);
}

/* A step that would push logit_scale past ln 100 leaves it at ln 100. */
static void test_logit_scale_clamp(void) {
    bcos_clip m;
    load_model(&m);
    float *grads = xcalloc(m.params.total, sizeof(float));
    size_t k = m.params.items[m.logit_scale].offset;
    m.params.data[k] = 4.6f;
    grads[k] = -1.0f; /* descent raises it */
    bcos_adam_config ac = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .decoupled = 1};
    bcos_adam opt;
    bcos_adam_init(&opt, &ac, m.params.total);
    pretrain_update(&m, &opt, grads, 0.1);
    CHECK_MSG(m.params.data[k] == (float)log(100.0), "logit_scale %.7f, clamped to ln 100 %.7f", m.params.data[k],
          log(100.0));
    bcos_adam_free(&opt);
    free(grads);
    bcos_clip_free(&m);
}

int main(void) {
    char err[BCOS_ERRLEN];
    if (bcos_st_open(&g_batch, DIR "batch.safetensors", err, sizeof err) != 0) BCOS_DIE(HINT, "%s", err);
    test_loss_and_gradients();
    test_adamw_steps();
    test_loss_finite_differences();
    test_logit_scale_clamp();
    bcos_st_close(&g_batch);
    return test_summary("test_pretrain_torch");
}
