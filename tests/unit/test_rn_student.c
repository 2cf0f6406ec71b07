/* The B-cos ResNet student on the tiny RN teacher (bcos-tiny-rn, tests/fixtures/clip/tiny_rn_openclip.safetensors):
 *  - exact conversion: with B = 1, biases and the positional embedding kept, the untrained student in
 *    evaluation mode equals the teacher's bcos_clip_encode_image (rel error < 1e-5), and B = 2 without biases
 *    does not: the weights are copied, the normalisation and the running means folded in;
 *  - completeness in explanation mode at B = 1, 1.5, 2, 3 (biases kept at a scale, c_proj plain and B-cos);
 *  - the student file: training moves the running variances, which are saved and loaded with the weights (a
 *    file lacking one is refused, naming it);
 *  - distillation: a short run raises the held-out cosine to the teacher; a run stopped after its first
 *    step and resumed saves the uninterrupted run's student bit for bit (the running variances travel in
 *    the checkpoint);
 *  - memory: RN50's activations at 224 px keep no im2col per convolution. */
#include "store_helpers.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/distill.h"
#include "bcos/rn_student.h"
#include "bcos/rng.h"
#include "test.h"

#define TEACHER "tests/fixtures/clip/tiny_rn_openclip.safetensors"
#define CONFIG "bcos-tiny-rn"
enum { IMAGES = 3 };

static const float MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};
static char g_dir[] = "/tmp/bcos_test_rn_student_XXXXXX";

/* Random pixels u as x6 = [u, 1 - u] and as the teacher's normalised input. */
static void random_images(bcos_rng *rng, float *x6, float *normalised, int S) {
    size_t plane = (size_t)S * S;
    for (int i = 0; i < IMAGES; i++)
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < plane; p++) {
                float u = bcos_rng_uniform(rng);
                x6[((size_t)i * 6 + c) * plane + p] = u;
                x6[((size_t)i * 6 + 3 + c) * plane + p] = 1 - u;
                if (normalised) normalised[((size_t)i * 3 + c) * plane + p] = (u - MEAN[c]) / STD[c];
            }
}

static void student_of(bcos_student *s, const bcos_clip *t, const bcos_student_options *opt) {
    bcos_student_init(s, &t->cfg, opt, t->backend);
    bcos_student_from_clip(s, t);
}

static void test_conversion(const bcos_clip *t, bcos_rng *rng) {
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    float *x6 = xmalloc((size_t)IMAGES * 6 * S * S * sizeof(float));
    float *normalised = xmalloc((size_t)IMAGES * 3 * S * S * sizeof(float));
    float *want = xmalloc((size_t)IMAGES * E * sizeof(float)), *got = xmalloc((size_t)IMAGES * E * sizeof(float));
    random_images(rng, x6, normalised, S);
    bcos_clip_encode_image(t, want, normalised, IMAGES);
    bcos_student_options opt = bcos_student_default_options();
    opt.b = 1;
    opt.keep_biases = 1;
    opt.keep_pos = 1;
    bcos_student s;
    student_of(&s, t, &opt);
    bcos_student_acts *a = bcos_student_acts_new(&s, IMAGES);
    bcos_student_forward(&s, a, got, x6, 1, 1);
    double e = test_rel_error_f32(got, want, (size_t)IMAGES * E);
    CHECK_MSG(e < 1e-5, "B = 1 student with biases and positional embedding vs the teacher: rel error %.3g", e);
    printf("  conversion: rel error %.2e\n", e);
    bcos_student_acts_free(a);
    bcos_student_free(&s);
    opt = bcos_student_default_options();
    student_of(&s, t, &opt);
    a = bcos_student_acts_new(&s, IMAGES);
    bcos_student_forward(&s, a, got, x6, 2, 0);
    e = test_rel_error_f32(got, want, (size_t)IMAGES * E);
    CHECK_MSG(e > 1e-2, "the B = 2 student without biases is another model: rel error %.3g", e);
    bcos_student_acts_free(a);
    bcos_student_free(&s);
    free(x6);
    free(normalised);
    free(want);
    free(got);
}

/* |sum x6 . dx6 + constants - score| / (sum |terms| + |constants|) per image, for random directions. */
static void check_completeness(const bcos_clip *t, bcos_rng *rng, float b, int bcos_c_proj) {
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    size_t per = (size_t)6 * S * S;
    bcos_student_options opt = bcos_student_default_options();
    opt.b = b;
    opt.keep_biases = 1;
    opt.bcos_c_proj = bcos_c_proj;
    bcos_student s;
    student_of(&s, t, &opt);
    bcos_student_acts *a = bcos_student_acts_new(&s, IMAGES);
    float *x6 = xmalloc(IMAGES * per * sizeof(float)), *dx6 = xmalloc(IMAGES * per * sizeof(float));
    float *out = xmalloc((size_t)IMAGES * E * sizeof(float)), *D = xmalloc((size_t)IMAGES * E * sizeof(float));
    random_images(rng, x6, NULL, S);
    bcos_rng_fill_normal(rng, D, (size_t)IMAGES * E, 0, 1);
    bcos_student_forward(&s, a, out, x6, b, 0.5f);
    double contrib[IMAGES], worst = 0;
    bcos_student_explain(&s, a, dx6, contrib, D);
    for (int i = 0; i < IMAGES; i++) {
        double sum = contrib[i], mass = fabs(contrib[i]), score = 0;
        for (size_t j = 0; j < per; j++) {
            double term = (double)x6[i * per + j] * dx6[i * per + j];
            sum += term;
            mass += fabs(term);
        }
        for (int e = 0; e < E; e++) score += (double)out[i * E + e] * D[i * E + e];
        worst = fmax(worst, fabs(sum - score) / mass);
        CHECK_MSG(contrib[i] != 0, "B %g: the kept biases carry a share of the score", b);
    }
    CHECK_MSG(worst < 1e-4, "B %g, c_proj %s: completeness error %.3g", b, bcos_c_proj ? "B-cos" : "plain", worst);
    printf("  completeness B = %g, c_proj %s: %.2e\n", b, bcos_c_proj ? "B-cos" : "plain", worst);
    free(x6);
    free(dx6);
    free(out);
    free(D);
    bcos_student_acts_free(a);
    bcos_student_free(&s);
}

static void test_save_load(const bcos_clip *t, bcos_rng *rng) {
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    bcos_student_options opt = bcos_student_default_options();
    bcos_student s, back;
    student_of(&s, t, &opt);
    CHECK(s.buffers.count > 0 && s.proj == -1);
    float *x6 = xmalloc((size_t)IMAGES * 6 * S * S * sizeof(float));
    float *out = xmalloc((size_t)IMAGES * E * sizeof(float)), *again = xmalloc((size_t)IMAGES * E * sizeof(float));
    random_images(rng, x6, NULL, S);
    float *before = xmalloc(s.buffers.total * sizeof(float));
    memcpy(before, s.buffers.data, s.buffers.total * sizeof(float));
    bcos_student_acts *a = bcos_student_acts_new(&s, IMAGES);
    s.training = 1;
    bcos_student_forward(&s, a, out, x6, 2, 0);
    CHECK_MSG(memcmp(before, s.buffers.data, s.buffers.total * sizeof(float)) != 0,
              "a training forward moves the running variances");
    s.training = 0;
    bcos_student_forward(&s, a, out, x6, 2, 0);
    char path[160], err[BCOS_ERRLEN];
    snprintf(path, sizeof path, "%s/rn.safetensors", g_dir);
    CHECK(bcos_student_save(&s, t, 7, path, NULL, err, sizeof err) == 0);
    int rc = bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(back.cfg.vision_tower == BCOS_TOWER_RESNET && back.saved_step == 7);
        CHECK(memcmp(back.params.data, s.params.data, s.params.total * sizeof(float)) == 0);
        CHECK_MSG(memcmp(back.buffers.data, s.buffers.data, s.buffers.total * sizeof(float)) == 0,
                  "the running variances are saved and loaded");
        bcos_student_acts *b = bcos_student_acts_new(&back, IMAGES);
        bcos_student_forward(&back, b, again, x6, 2, 0);
        CHECK(memcmp(out, again, (size_t)IMAGES * E * sizeof(float)) == 0);
        bcos_student_acts_free(b);
        bcos_student_free(&back);
    }
    bcos_safetensors st;
    BCOS_CHECK(bcos_st_open(&st, path, err, sizeof err) == 0, err);
    CHECK(strcmp(bcos_st_meta_get(&st, "bcos_student_version"), "3") == 0);
    CHECK(bcos_st_find(&st, "visual.layer1.0.bn1.running_var") != NULL);
    bcos_st_close(&st);
    /* a file without one of the running variances is refused, naming it */
    bcos_student_file f;
    bcos_student_file_make(&f, &s, t, 7);
    int n = 0;
    for (int i = 0; i < f.count; i++)
        if (strcmp(f.entries[i].name, "visual.layer2.0.bn3.running_var") != 0) f.entries[n++] = f.entries[i];
    CHECK(n == f.count - 1);
    BCOS_CHECK(bcos_st_write(path, f.entries, n, f.meta, f.n_meta, err, sizeof err) == 0, err);
    bcos_student_file_free(&f);
    CHECK(bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "visual.layer2.0.bn3.running_var") && strstr(err, "missing"), "%s", err);
    free(before);
    free(x6);
    free(out);
    free(again);
    bcos_student_acts_free(a);
    bcos_student_free(&s);
}

/* Smooth colour patterns, as tests/unit/test_distill.c draws them, at the teacher's size. */
static void pattern_images(bcos_image_set *set, int count, int size, uint64_t seed) {
    bcos_image_set_alloc(set, count, size);
    bcos_rng rng;
    bcos_rng_seed(&rng, seed);
    for (int i = 0; i < count; i++) {
        float f[3][2], phase[3], amp[3];
        for (int c = 0; c < 3; c++) {
            f[c][0] = 6.0f * bcos_rng_uniform(&rng);
            f[c][1] = 6.0f * bcos_rng_uniform(&rng);
            phase[c] = 6.28f * bcos_rng_uniform(&rng);
            amp[c] = 0.5f * bcos_rng_uniform(&rng);
        }
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                for (int c = 0; c < 3; c++) {
                    float v = 0.5f + amp[c] * sinf((f[c][0] * x + f[c][1] * y) / size * 6.28f + phase[c]);
                    set->crops[(((size_t)i * size + y) * size + x) * 3 + c] = (uint8_t)(255.0f * v);
                }
        set->captions[i] = NULL;
    }
}

static void rn_config(bcos_distill_config *cfg, const char *out) {
    bcos_distill_defaults(cfg);
    snprintf(cfg->teacher, sizeof cfg->teacher, TEACHER);
    snprintf(cfg->teacher_model, sizeof cfg->teacher_model, CONFIG);
    snprintf(cfg->images, sizeof cfg->images, "(in memory)");
    snprintf(cfg->out, sizeof cfg->out, "%s", out);
    cfg->steps = 30;
    cfg->warmup_steps = 3;
    cfg->batch_size = 8;
    cfg->holdout = 8;
    cfg->lr = 1e-3;
    cfg->log_every = 10;
    cfg->seed = 5;
}

static void test_distill(void) {
    bcos_image_set set;
    pattern_images(&set, 40, 64, 9);
    char a[160], out[160], err[BCOS_ERRLEN];
    snprintf(a, sizeof a, "%s/a.safetensors", g_dir);
    snprintf(out, sizeof out, "%s/resumed.safetensors", g_dir);
    bcos_distill_config cfg;
    bcos_distill_report r;
    rn_config(&cfg, a);
    int rc = bcos_distill_run(&cfg, &set, &r, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    CHECK_MSG(rc == 0 && r.holdout_cos_after > r.holdout_cos_before + 0.02, "held-out cosine rises: %.4f -> %.4f",
              r.holdout_cos_before, r.holdout_cos_after);
    printf("  distill: held-out cosine %.4f -> %.4f\n", r.holdout_cos_before, r.holdout_cos_after);
    rn_config(&cfg, out);
    snprintf(cfg.run, sizeof cfg.run, "rn-preempted");
    snprintf(cfg.db, sizeof cfg.db, "%s/bcos.db", g_dir);
    cfg.checkpoint_every = 10;
    bcos_train_request(SIGTERM, 1);
    rc = bcos_distill_run(&cfg, &set, &r, err, sizeof err);
    CHECK_MSG(rc == 0 && r.preempted && r.steps_done == 1, "%s", err);
    rc = bcos_distill_run(&cfg, &set, &r, err, sizeof err);
    CHECK_MSG(rc == 0 && r.resumed_step == 1 && r.steps_done == 30, "%s", err);
    size_t na, nb;
    char *x = bcos_read_file(a, &na), *y = bcos_read_file(out, &nb);
    CHECK_MSG(x && y && na == nb && memcmp(x, y, na) == 0, "the resumed run saves the uninterrupted run's student");
    free(x);
    free(y);
    bcos_image_set_free(&set);
}

/* The floats a convolution unit of the tape keeps for B images beside any im2col (maps: the conv's z, out
 * and dout, its BatchNorm's out and dout, and its ReLU's dout, each of the output's shape) and the floats
 * of its im2col [B, Ho*Wo, cin*k*k], which the tape kept before. */
typedef struct {
    double maps, cols;
} unit_floats;

/* Adds the unit of convolution c on a side x side map; returns its output side. */
static int add_unit(unit_floats *f, const bcos_rn_conv *c, int relu, int side, int B) {
    int out = (side + 2 * c->pad - c->k) / c->stride + 1;
    double pixels = (double)B * out * out;
    f->cols += pixels * c->cin * c->k * c->k;
    f->maps += (5 + relu) * pixels * c->oc;
    return out;
}

/* The stem, its pool and every bottleneck (the stride's pool before conv3 and the downsample). */
static unit_floats rn_unit_floats(const bcos_student *s, int B) {
    unit_floats f = {0, 0};
    int side = s->cfg.image_size;
    for (int i = 0; i < 3; i++) side = add_unit(&f, &s->rn.stem[i], 1, side, B);
    side /= 2;
    for (int i = 0; i < s->rn.n_blocks; i++) {
        const bcos_rn_block *blk = &s->rn.blocks[i];
        int y = add_unit(&f, &blk->conv2, 1, add_unit(&f, &blk->conv1, 1, side, B), B) / blk->stride;
        if (blk->down.weight >= 0) add_unit(&f, &blk->down, 0, side / blk->stride, B);
        side = add_unit(&f, &blk->conv3, 0, y, B);
    }
    return f;
}

/* The student's activations for RN50 at 224 px, batch 8: every convolution unit's maps are kept, but not
 * the convolution's im2col (1.04 GB there, a quarter of what the tape held): the backward recomputes it
 * from the convolution's input. */
static void test_activation_memory(void) {
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_config_load(&cfg, "RN50", err, sizeof err) == 0, err);
    bcos_student_options opt = bcos_student_default_options();
    bcos_student s;
    bcos_student_init(&s, &cfg, &opt, bcos_backend_cpu());
    enum { B = 8 };
    unit_floats f = rn_unit_floats(&s, B);
    double acts = (double)bcos_student_acts_floats(&s, B), gb = 4e-9;
    CHECK_MSG(acts >= f.maps, "the activations (%.2f GB) hold every convolution unit's maps (%.2f GB)", acts * gb,
              f.maps * gb);
    CHECK_MSG(acts < f.maps + f.cols, "the activations (%.2f GB) are under the maps and im2col the tape kept (%.2f GB)",
              acts * gb, (f.maps + f.cols) * gb);
    printf("  memory: RN50 at batch 8 keeps %.2f GB of activations; the im2col no longer kept was %.2f GB\n",
           acts * gb, f.cols * gb);
    bcos_student_free(&s);
}

int main(void) {
    BCOS_CHECK(mkdtemp(g_dir) != NULL, "/tmp is writable");
    test_activation_memory();
    bcos_clip t;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_load_file(&t, TEACHER, CONFIG, bcos_backend_cpu(), err, sizeof err) == 0, err);
    bcos_rng rng;
    bcos_rng_seed(&rng, 21);
    test_conversion(&t, &rng);
    const float exponents[] = {1, 1.5f, 2, 3};
    for (int i = 0; i < 4; i++) check_completeness(&t, &rng, exponents[i], i % 2);
    test_save_load(&t, &rng);
    bcos_clip_free(&t);
    test_distill();
    helper_remove_tree(g_dir);
    return test_summary("test_rn_student");
}
