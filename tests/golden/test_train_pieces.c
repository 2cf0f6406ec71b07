/* Golden test of the training pieces against torch (tools/ref/make_train_fixtures.py): the cosine
 * and SigLIP losses and their gradients (float64 autograd), Adam and AdamW over five steps with
 * changing learning rates (torch.optim), clip_grad_norm_ and timm's adaptive_clip_grad. Also finite
 * differences for the loss gradients and the zero-norm guard. */
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/safetensors.h"
#include "bcos/train.h"
#include "test.h"

static bcos_safetensors g_fix;

static float *get(const char *name, size_t *n) {
    const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
    BCOS_CHECK(t != NULL, "regenerate with tools/ref/make_train_fixtures.py");
    float *out = xmalloc(t->numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    if (n) *n = t->numel;
    return out;
}

typedef double (*loss_fn)(float *ds, const float *s, const float *t);
enum { B = 5, N = 12, E = 16 };

static double cos_fn(float *ds, const float *s, const float *t) { return bcos_cosine_loss(ds, NULL, s, t, B, E, 0.7); }
static double sig_fn(float *ds, const float *s, const float *t) {
    return bcos_siglip_loss(ds, s, t, B, N, E, 4, 10.0, 10.0);
}

/* Central differences on the float inputs (the loss is computed in double from them). */
static double fd_error(loss_fn f, const float *s, const float *t, const float *grad) {
    float *x = xmalloc(B * E * sizeof(float));
    memcpy(x, s, B * E * sizeof(float));
    double worst = 0, scale = 0;
    for (int i = 0; i < B * E; i++) {
        float keep = x[i], h = 1e-2f;
        x[i] = keep + h;
        double up = f(NULL, x, t);
        x[i] = keep - h;
        double down = f(NULL, x, t);
        x[i] = keep;
        double fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
        if (fabs(fd - grad[i]) > worst) worst = fabs(fd - grad[i]);
        if (fabs(grad[i]) > scale) scale = fabs(grad[i]);
    }
    free(x);
    return worst / scale;
}

static void check_loss(const char *prefix, loss_fn f) {
    char name[64];
    snprintf(name, sizeof name, "%s_s", prefix);
    float *s = get(name, NULL);
    snprintf(name, sizeof name, "%s_t", prefix);
    float *t = get(name, NULL);
    snprintf(name, sizeof name, "%s_loss", prefix);
    float *want_loss = get(name, NULL);
    snprintf(name, sizeof name, "%s_grad", prefix);
    float *want_grad = get(name, NULL);
    float *grad = xcalloc(B * E, sizeof(float));
    double loss = f(grad, s, t);
    CHECK_MSG(fabs(loss - want_loss[0]) <= 1e-6 * fabs(want_loss[0]), "%s loss %.9g vs torch %.9g", prefix, loss,
              want_loss[0]);
    double e = test_rel_error_f32(grad, want_grad, B * E);
    CHECK_MSG(e < 1e-5, "%s gradient rel error %.3g vs torch", prefix, e);
    double fd = fd_error(f, s, t, grad);
    CHECK_MSG(fd < 1e-3, "%s gradient vs finite differences %.3g", prefix, fd);
    f(grad, s, t); /* accumulates */
    for (int i = 0; i < B * E; i++) grad[i] *= 0.5f;
    CHECK(test_rel_error_f32(grad, want_grad, B * E) < 1e-5);
    free(grad);
    free(want_grad);
    free(want_loss);
    free(t);
    free(s);
}

static void check_zero_norm_guard(void) {
    float s[2 * 4] = {0}, t[2 * 4] = {1, 2, 3, 4, 0, 0, 0, 0}, ds[2 * 4] = {0};
    double mean_cos;
    double loss = bcos_cosine_loss(ds, &mean_cos, s, t, 2, 4, 1.0);
    CHECK(isfinite(loss) && loss == 1.0 && mean_cos == 0.0);
    CHECK(bcos_all_finite(ds, 8));
    float sig_ds[2 * 4] = {0};
    CHECK(isfinite(bcos_siglip_loss(sig_ds, s, t, 2, 2, 4, 0, 10, 10)) && bcos_all_finite(sig_ds, 8));
}

static void check_adam(const char *prefix, int decoupled, double wd) {
    char name[64];
    snprintf(name, sizeof name, "%s_p0", prefix);
    size_t n;
    float *p = get(name, &n);
    snprintf(name, sizeof name, "%s_lrs", prefix);
    float *lrs = get(name, NULL);
    bcos_adam_config cfg = {.lr = 0, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .weight_decay = wd,
                            .decoupled = decoupled};
    bcos_adam opt;
    bcos_adam_init(&opt, &cfg, n);
    for (int k = 0; k < 5; k++) {
        snprintf(name, sizeof name, "%s_g%d", prefix, k);
        float *g = get(name, NULL);
        bcos_adam_step(&opt, p, g, lrs[k]);
        snprintf(name, sizeof name, "%s_p%d", prefix, k + 1);
        float *want = get(name, NULL);
        double e = test_rel_error_f32(p, want, n);
        CHECK_MSG(e < 1e-6, "%s step %d rel error %.3g vs torch.optim", prefix, k + 1, e);
        free(want);
        free(g);
    }
    bcos_adam_free(&opt);
    free(lrs);
    free(p);
}

static void check_clipping(void) {
    size_t n;
    float *g = get("clip_g", &n), *want = get("clip_out", NULL), *want_norm = get("clip_norm", NULL);
    /* max_norm 0 measures only: the norm, g untouched */
    float *before = get("clip_g", NULL);
    double unclipped = bcos_clip_grad_norm(g, n, 0);
    CHECK(fabs(unclipped - want_norm[0]) < 1e-5 * want_norm[0] && memcmp(g, before, n * sizeof *g) == 0);
    free(before);
    double norm = bcos_clip_grad_norm(g, n, 1.5);
    CHECK(fabs(norm - want_norm[0]) < 1e-5 * want_norm[0]);
    CHECK(test_rel_error_f32(g, want, n) < 1e-6);
    free(want_norm);
    free(want);
    free(g);

    /* AGC over a two-tensor table laid out as the fixture: w [6, 5] then b [5] */
    bcos_params p;
    bcos_params_init(&p);
    bcos_params_declare(&p, "w", 2, (int64_t[]){6, 5});
    bcos_params_declare(&p, "b", 1, (int64_t[]){5});
    bcos_params_alloc(&p);
    float *w = get("agc_w", &n), *ag = get("agc_g", NULL), *agc_want = get("agc_out", NULL);
    BCOS_CHECK(n == p.total, "fixture matches the table");
    memcpy(p.data, w, n * sizeof(float));
    bcos_adaptive_clip_grad(ag, &p, 0.02, 1e-3);
    CHECK_MSG(test_rel_error_f32(ag, agc_want, n) < 1e-6, "AGC vs timm %.3g", test_rel_error_f32(ag, agc_want, n));
    free(agc_want);
    free(ag);
    free(w);
    bcos_params_free(&p);
}

static void check_schedule(void) {
    CHECK(fabs(bcos_lr_at(0, 10, 110, 1e-3, 0) - 1e-4) < 1e-15);    /* first warmup step */
    CHECK(fabs(bcos_lr_at(9, 10, 110, 1e-3, 0) - 1e-3) < 1e-15);    /* warmup reaches the base */
    CHECK(fabs(bcos_lr_at(10, 10, 110, 1e-3, 0) - 1e-3) < 1e-15);   /* cosine starts at the base */
    CHECK(fabs(bcos_lr_at(60, 10, 110, 1e-3, 1e-5) - 0.505e-3) < 1e-12); /* halfway */
    CHECK(fabs(bcos_lr_at(110, 10, 110, 1e-3, 1e-5) - 1e-5) < 1e-15);   /* the end */
    CHECK(bcos_lr_at(500, 10, 110, 1e-3, 1e-5) == bcos_lr_at(110, 10, 110, 1e-3, 1e-5));
}

int main(void) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_open(&g_fix, "tests/fixtures/train/train.safetensors", err, sizeof err) == 0, err);
    check_loss("cos", cos_fn);
    check_loss("sig", sig_fn);
    check_zero_norm_guard();
    check_adam("adamw", 1, 0.1);
    check_adam("adam", 0, 0.01);
    check_clipping();
    check_schedule();
    float bad[3] = {1, NAN, 2};
    CHECK(!bcos_all_finite(bad, 3) && bcos_all_finite(bad, 1));
    bcos_st_close(&g_fix);
    return test_summary("test_train_pieces");
}
