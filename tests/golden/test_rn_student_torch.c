/* Golden test of the B-cos ResNet student against its torch reference (tools/ref/make_rn_student_fixtures.py:
 * open_clip's ModifiedResNet as the teacher, the bcos package's uncentered BatchNorm and window norm, the
 * reference's B-cos attention pool written from the method, float64 autograd). The fixture's random teacher
 * is B-cosified by bcos_rn_student_from_teacher, then:
 *   - conversion: with B = 1, biases and the positional embedding kept, the evaluation-mode student equals
 *     open_clip's tower on (u - mean) / std (rel error < 1e-5): the weights are copied, the normalisation and
 *     the running means folded exactly;
 *   - per case (B = 2, 1.5, 3, 1; biases removed or kept at scale 0.6; c_proj plain or B-cos): in evaluation
 *     and explanation mode the embeddings, d(score)/dx6 and the constants' share (rel error < 2e-6), and
 *     completeness (< 1e-4); in training mode (batch statistics) the embeddings, the gradient of
 *     L = sum(out * R) for every parameter (and x6), and the running variances after the step.
 * Training mode cannot be held to 2e-6 by any float32 implementation: batch statistics and the B-cos
 * exponent amplify rounding, and the gradients of the BatchNorm weights and the query projection are small
 * differences of large terms. The fixture records per case how far a float64 step lands when only each
 * module's output is rounded to float32 ("f32_floor": 4e-6 to 3e-5 on the worst gradient) and how far
 * torch's own float32 step lands ("torch_f32_error": 2e-5 to 6e-5). The training tensors are held to
 * TRAIN_MARGIN times torch's float32 error: the error of a float32 step moves by 2x and more with any change
 * of rounding (another GEMM kernel, another CPU), so twice torch's would hold on one machine only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/rn_student.h"
#include "bcos/safetensors.h"
#include "test.h"

#define FIXTURE "tests/fixtures/rn_student/rn_student.safetensors"
/* float32 against the float64 reference, per tensor max|a - b| / max|b| (docs/METHOD.md) */
#define TOL 2e-6
#define CONVERSION_TOL 1e-5
#define COMPLETENESS_TOL 1e-4
#define TRAIN_MARGIN 4
/* A gradient that vanishes in exact arithmetic (k_proj's bias: softmax ignores a shift shared by every key)
 * has no relative error; its float32 value must stay at rounding level instead. */
#define VANISHING 1e-12
#define ROUNDING_LEVEL 1e-5

/* The generator's ModifiedResNet (its metadata "config"); only the image tower is used. */
static const bcos_clip_config CONFIG = {.name = "rn-student-fixture",
                                        .embed_dim = 16,
                                        .quick_gelu = 1,
                                        .vision_tower = BCOS_TOWER_RESNET,
                                        .image_size = 64,
                                        .vision_width = 4,
                                        .vision_layers = 5,
                                        .vision_heads = 4,
                                        .resnet_layers = {2, 1, 1, 1}};
enum { IMAGES = 2 };

static bcos_safetensors g_fix;
static double g_worst; /* the largest rel error seen over the cases' compared tensors */

/* The fixture tensor name as float32 (a new buffer), or NULL when absent; its size must be numel. */
static float *fixture_or_null(const char *name, size_t numel) {
    const bcos_st_tensor *t = bcos_st_find(&g_fix, name);
    if (!t) return NULL;
    BCOS_CHECK(t->numel == numel, "regenerate with tools/ref/make_rn_student_fixtures.py");
    float *out = xmalloc(numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    return out;
}

static float *fixture(const char *name, size_t numel) {
    float *x = fixture_or_null(name, numel);
    BCOS_CHECK(x != NULL, "regenerate with tools/ref/make_rn_student_fixtures.py");
    return x;
}

static void compare(const char *what, const char *name, const float *got, size_t numel, double tol) {
    float *want = fixture(name, numel);
    double most = 0, got_most = 0;
    for (size_t i = 0; i < numel; i++) most = fmax(most, fabs(want[i])), got_most = fmax(got_most, fabs(got[i]));
    if (most < VANISHING) {
        CHECK_MSG(got_most < ROUNDING_LEVEL, "%s: %s vanishes, yet reaches %.3g", what, name, got_most);
        free(want);
        return;
    }
    double e = test_rel_error_f32(got, want, numel);
    if (e > g_worst) g_worst = e;
    if (getenv("RN_VERBOSE")) printf("    %-60s %.2e\n", name, e);
    CHECK_MSG(e < tol, "%s: %s rel error %.3g (tolerance %g)", what, name, e, tol);
    free(want);
}

/* The teacher's tensors from the fixture ("teacher.<name>"), kept until the test ends. */
typedef struct {
    float **held;
    int n;
} teacher_store;

static const float *teacher_lookup(void *ctx, const char *name, size_t numel) {
    teacher_store *t = ctx;
    char key[256];
    snprintf(key, sizeof key, "teacher.%s", name);
    float *x = fixture_or_null(key, numel);
    if (x) {
        t->held = xrealloc(t->held, (size_t)(t->n + 1) * sizeof *t->held);
        t->held[t->n++] = x;
    }
    return x;
}

static void student_of(bcos_student *s, const bcos_student_options *opt, teacher_store *t) {
    bcos_student_init(s, &CONFIG, opt, bcos_backend_cpu());
    char err[BCOS_ERRLEN];
    int rc = bcos_rn_student_from_teacher(s, teacher_lookup, t, err, sizeof err);
    CHECK_MSG(rc == 0, "B-cosify the fixture's teacher: %s", err);
}

static size_t x6_size(void) { return (size_t)IMAGES * 6 * CONFIG.image_size * CONFIG.image_size; }

static void test_conversion(teacher_store *t, const float *x6) {
    bcos_student_options opt = bcos_student_default_options();
    opt.b = 1;
    opt.keep_biases = 1;
    opt.keep_pos = 1;
    bcos_student s;
    student_of(&s, &opt, t);
    bcos_student_acts *a = bcos_student_acts_new(&s, IMAGES);
    float out[IMAGES * 16];
    bcos_student_forward(&s, a, out, x6, 1, 1);
    compare("conversion (B = 1, biases and positional embedding kept) vs open_clip", "convert.out", out,
            sizeof out / sizeof out[0], CONVERSION_TOL);
    bcos_student_acts_free(a);
    bcos_student_free(&s);
}

/* Explanation mode on the evaluation forward: dx6, the constants' share, and completeness. */
static void check_explanation(bcos_student *s, bcos_student_acts *a, const char *kase, const float *x6, float b,
                              float bias_scale) {
    char name[160];
    enum { E = 16 };
    float out[IMAGES * E];
    s->training = 0;
    bcos_student_forward(s, a, out, x6, b, bias_scale);
    snprintf(name, sizeof name, "%s.eval.out", kase);
    compare(kase, name, out, IMAGES * E, TOL);
    snprintf(name, sizeof name, "%s.explain.D", kase);
    float *D = fixture(name, IMAGES * E), *dx6 = xmalloc(x6_size() * sizeof(float));
    double contrib[IMAGES];
    bcos_student_explain(s, a, dx6, contrib, D);
    snprintf(name, sizeof name, "%s.explain.dx6", kase);
    compare(kase, name, dx6, x6_size(), TOL);
    float got_const[IMAGES];
    for (int i = 0; i < IMAGES; i++) got_const[i] = (float)contrib[i];
    snprintf(name, sizeof name, "%s.explain.const", kase);
    float *want_const = fixture(name, IMAGES);
    int has_const = want_const[0] != 0 || want_const[1] != 0;
    if (has_const)
        compare(kase, name, got_const, IMAGES, TOL);
    else
        CHECK_MSG(contrib[0] == 0 && contrib[1] == 0, "%s: no constants, yet a share of %g", kase, contrib[0]);
    size_t per = x6_size() / IMAGES;
    for (int i = 0; i < IMAGES; i++) {
        double sum = contrib[i], mass = fabs(contrib[i]), score = 0;
        for (size_t j = 0; j < per; j++) {
            double term = (double)x6[i * per + j] * dx6[i * per + j];
            sum += term;
            mass += fabs(term);
        }
        for (int e = 0; e < E; e++) score += (double)out[i * E + e] * D[i * E + e];
        double completeness = fabs(sum - score) / mass;
        CHECK_MSG(completeness < COMPLETENESS_TOL, "%s image %d: completeness error %.3g", kase, i, completeness);
        printf("  case %s image %d: completeness error %.2e\n", kase, i, completeness);
    }
    free(D);
    free(dx6);
    free(want_const);
}

/* Training mode: embeddings, every parameter's gradient, dx6 where the fixture has it, running variances. */
static void check_training(bcos_student *s, bcos_student_acts *a, const char *kase, const float *x6, float b,
                           float bias_scale) {
    char name[200];
    enum { E = 16 };
    snprintf(name, sizeof name, "%s.torch_f32_error", kase);
    float *torch_error = fixture(name, 2);
    snprintf(name, sizeof name, "%s.f32_floor", kase);
    float *floor32 = fixture(name, 2);
    double out_tol = fmax(TOL, TRAIN_MARGIN * torch_error[0]), grad_tol = fmax(TOL, TRAIN_MARGIN * torch_error[1]);
    printf("case %s: float32 activations alone %.2e (embeddings), %.2e (worst gradient); torch float32 %.2e, %.2e\n",
           kase, floor32[0], floor32[1], torch_error[0], torch_error[1]);
    free(torch_error);
    free(floor32);
    float out[IMAGES * E];
    s->training = 1;
    bcos_student_forward(s, a, out, x6, b, bias_scale);
    snprintf(name, sizeof name, "%s.out", kase);
    compare(kase, name, out, IMAGES * E, out_tol);
    snprintf(name, sizeof name, "%s.R", kase);
    float *R = fixture(name, IMAGES * E), *grads = xcalloc(s->params.total, sizeof(float));
    float *dx6 = xcalloc(x6_size(), sizeof(float));
    bcos_student_backward(s, a, grads, dx6, R);
    snprintf(name, sizeof name, "%s.dx6", kase);
    if (bcos_st_find(&g_fix, name)) compare(kase, name, dx6, x6_size(), grad_tol);
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%s.grad.", kase), in_fixture = 0;
    for (int i = 0; i < g_fix.count; i++) in_fixture += strncmp(g_fix.tensors[i].name, prefix, (size_t)n) == 0;
    CHECK_MSG(in_fixture == s->params.count, "case %s: %d gradients in the fixture, %d parameters", kase, in_fixture,
              s->params.count);
    for (int i = 0; i < s->params.count; i++) {
        const bcos_param *p = &s->params.items[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        compare(kase, name, grads + p->offset, p->numel, grad_tol);
    }
    for (int i = 0; i < s->buffers.count; i++) {
        const bcos_param *p = &s->buffers.items[i];
        snprintf(name, sizeof name, "%s.running_var.%s", kase, p->name);
        compare(kase, name, bcos_params_ptr(&s->buffers, i), p->numel, out_tol);
    }
    free(R);
    free(grads);
    free(dx6);
}

static void test_case(teacher_store *t, const char *kase, const float *x6) {
    char name[64];
    snprintf(name, sizeof name, "%s.config", kase);
    float *config = fixture(name, 4);
    bcos_student_options opt = bcos_student_default_options();
    opt.b = config[0];
    opt.keep_biases = config[1] != 0;
    opt.bcos_c_proj = config[3] != 0;
    bcos_student s;
    student_of(&s, &opt, t);
    bcos_student_acts *a = bcos_student_acts_new(&s, IMAGES);
    double before = g_worst;
    g_worst = 0;
    check_explanation(&s, a, kase, x6, config[0], config[2]);
    check_training(&s, a, kase, x6, config[0], config[2]);
    printf("case %s (B = %g, biases %s, c_proj %s): worst rel error %.2e\n", kase, config[0],
           opt.keep_biases ? "kept" : "removed", opt.bcos_c_proj ? "B-cos" : "plain", g_worst);
    if (before > g_worst) g_worst = before;
    bcos_student_acts_free(a);
    bcos_student_free(&s);
    free(config);
}

int main(void) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_open(&g_fix, FIXTURE, err, sizeof err) == 0, err);
    teacher_store t = {NULL, 0};
    float *x6 = fixture("x6", x6_size());
    test_conversion(&t, x6);
    const char *cases[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&t, cases[i], x6);
    free(x6);
    for (int i = 0; i < t.n; i++) free(t.held[i]);
    free(t.held);
    bcos_st_close(&g_fix);
    return test_summary("test_rn_student_torch");
}
