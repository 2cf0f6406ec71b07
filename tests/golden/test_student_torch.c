/* Golden test of the whole B-cos student against an independent torch reference
 * (tools/ref/make_student_fixtures.py: docs/METHOD.md's formulas, the bcos package's ViT block and
 * detachable LayerNorm, float64 autograd). The tiny CLIP is B-cosified by bcos_student_from_clip and,
 * per case (B, biases kept or removed, B-cos or plain proj, QuickGELU or, in case d, the exact GELU
 * of the bcos-tiny-gelu config), its embeddings, the gradient of
 * L = sum(out * R) for every parameter and for x6, and in explanation mode the input gradient of each
 * image's score out . D and the constants' share of that score must match with rel error < 1e-4. */
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/safetensors.h"
#include "test.h"

#define TOL 1e-4

static bcos_safetensors g_fix;

/* The fixture tensor "<case>.<key>" as float32; its element count must be numel. */
static float *fixture(const char *case_name, const char *key, size_t numel) {
    char name[256];
    snprintf(name, sizeof name, "%s.%s", case_name, key);
    const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
    BCOS_CHECK(t != NULL, "regenerate with tools/ref/make_student_fixtures.py");
    BCOS_CHECK(t->numel == numel, "the fixture was written for the bcos-tiny config");
    float *out = xmalloc(numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    return out;
}

/* got vs the fixture's "<case>.<key>"; returns the rel error. */
static double compare(const char *case_name, const char *key, const float *got, size_t numel) {
    float *want = fixture(case_name, key, numel);
    double e = test_rel_error_f32(got, want, numel);
    CHECK_MSG(e < TOL, "case %s: %s rel error %.3g", case_name, key, e);
    free(want);
    return e;
}

/* The fixture holds a gradient for exactly the student's parameters, in the student's shapes. */
static void check_gradient_names(const bcos_student *s, const char *case_name) {
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "%s.grad.", case_name), in_fixture = 0;
    for (int i = 0; i < g_fix.count; i++) in_fixture += strncmp(g_fix.tensors[i].name, prefix, (size_t)n) == 0;
    CHECK_MSG(in_fixture == s->params.count, "case %s: %d gradients in the fixture, %d parameters", case_name,
              in_fixture, s->params.count);
    for (int i = 0; i < s->params.count; i++) {
        const bcos_param *p = &s->params.items[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
        int same = t && t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        CHECK_MSG(same, "case %s: no gradient of the same shape for %s in the fixture", case_name, p->name);
    }
}

/* Explanation mode: d(score)/dx6 and the constants' share, per image, for the fixture's directions D. */
static void check_explain(const bcos_student *s, bcos_student_acts *a, const char *case_name, int B) {
    int S = s->cfg.image_size, E = s->cfg.embed_dim;
    size_t nx = (size_t)B * 6 * S * S;
    float *D = fixture(case_name, "explain.D", (size_t)B * E), *dx6 = xmalloc(nx * sizeof(float));
    float *want_const = fixture(case_name, "explain.const", (size_t)B);
    double *got_const = xmalloc((size_t)B * sizeof(double)), *want = xmalloc((size_t)B * sizeof(double));
    bcos_student_explain(s, a, dx6, got_const, D);
    double e_dx6 = compare(case_name, "explain.dx6", dx6, nx);
    for (int i = 0; i < B; i++) want[i] = want_const[i];
    double e_const = test_rel_error_f64(got_const, want, (size_t)B);
    CHECK_MSG(e_const < TOL, "case %s: explanation constants' share rel error %.3g", case_name, e_const);
    printf("  explanation: dx6 rel err %.2e, constants' share rel err %.2e\n", e_dx6, e_const);
    free(want);
    free(got_const);
    free(want_const);
    free(dx6);
    free(D);
}

static void check_case(const bcos_clip *teacher, const char *case_name) {
    float *config = fixture(case_name, "config", 4); /* B, keep_biases, bias_scale, plain_proj */
    bcos_student_options opt = bcos_student_default_options();
    opt.b = config[0];
    opt.keep_biases = config[1] != 0.0f;
    opt.plain_proj = config[3] != 0.0f;
    float bias_scale = config[2];
    bcos_student s;
    bcos_student_init(&s, &teacher->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(&s, teacher);
    check_gradient_names(&s, case_name);

    char x6_name[64];
    snprintf(x6_name, sizeof x6_name, "%s.x6", case_name);
    const bcos_st_tensor *x6_t = bcos_st_find(&g_fix, x6_name);
    BCOS_CHECK(x6_t != NULL && x6_t->ndim == 4, "regenerate with tools/ref/make_student_fixtures.py");
    int B = (int)x6_t->shape[0], S = s.cfg.image_size, E = s.cfg.embed_dim;
    size_t nx = (size_t)B * 6 * S * S;
    float *x6 = fixture(case_name, "x6", nx), *R = fixture(case_name, "R", (size_t)B * E);
    float *out = xmalloc((size_t)B * E * sizeof(float));
    float *grads = xcalloc(s.params.total, sizeof(float)), *dx6 = xcalloc(nx, sizeof(float));
    bcos_student_acts *a = bcos_student_acts_new(&s, B);
    bcos_student_forward(&s, a, out, x6, opt.b, bias_scale);
    bcos_student_backward(&s, a, grads, dx6, R);

    printf("case %s: B=%g keep_biases=%d bias_scale=%g plain_proj=%d\n", case_name, opt.b, opt.keep_biases,
           bias_scale, opt.plain_proj);
    double e_out = compare(case_name, "out", out, (size_t)B * E), e_dx6 = compare(case_name, "dx6", dx6, nx);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < s.params.count; i++) {
        const bcos_param *p = &s.params.items[i];
        char key[256];
        snprintf(key, sizeof key, "grad.%s", p->name);
        double e = compare(case_name, key, grads + p->offset, p->numel);
        if (e >= worst) worst = e, worst_name = p->name;
    }
    printf("  out rel err %.2e, dx6 rel err %.2e, worst of %d parameter gradients %.2e (%s)\n", e_out, e_dx6,
           s.params.count, worst, worst_name);
    char d_name[64];
    snprintf(d_name, sizeof d_name, "%s.explain.D", case_name);
    if (bcos_st_find(&g_fix, d_name)) check_explain(&s, a, case_name, B);

    bcos_student_acts_free(a);
    free(dx6);
    free(grads);
    free(out);
    free(R);
    free(x6);
    free(config);
    bcos_student_free(&s);
}

int main(void) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_open(&g_fix, "tests/fixtures/student/student.safetensors", err, sizeof err) == 0, err);
    bcos_clip teacher, gelu_teacher; /* the same weights with QuickGELU and with the exact GELU */
    BCOS_CHECK(bcos_clip_load_file(&teacher, "tests/fixtures/clip/tiny_openclip.safetensors", "bcos-tiny",
                                   bcos_backend_cpu(), err, sizeof err) == 0, err);
    BCOS_CHECK(bcos_clip_load_file(&gelu_teacher, "tests/fixtures/clip/tiny_openclip.safetensors", "bcos-tiny-gelu",
                                   bcos_backend_cpu(), err, sizeof err) == 0, err);
    const char *cases[] = {"a", "b", "c"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_case(&teacher, cases[i]);
    check_case(&gelu_teacher, "d");
    /* cases a, b and d carry explanation fixtures: make sure they were not silently skipped */
    CHECK(bcos_st_find(&g_fix, "a.explain.D") != NULL && bcos_st_find(&g_fix, "b.explain.D") != NULL &&
          bcos_st_find(&g_fix, "d.explain.D") != NULL);
    bcos_clip_free(&gelu_teacher);
    bcos_clip_free(&teacher);
    bcos_st_close(&g_fix);
    return test_summary("test_student_torch");
}
