/* The B-cos student on the tiny fixture CLIP:
 *  - B-cosification with B = 1 and biases kept reproduces the teacher's image embedding;
 *  - every parameter gradient of the whole student (B = 2 and B = 1.5, with and without biases,
 *    B-cos and plain proj) agrees with central differences of its forward;
 *  - explanation mode is complete: sum x6 * W(x) + constants' share = the score e . t, per image;
 *  - saving and loading keeps options and parameters, and the teacher's text tower beside them;
 *  - the file records the B and bias scale of its step, and refuses a NaN. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/explain.h"
#include "bcos/rng.h"
#include "test.h"

static const float MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

static void load_teacher(bcos_clip *t) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_load_file(t, "tests/fixtures/clip/tiny_openclip.safetensors", "bcos-tiny",
                                   bcos_backend_cpu(), err, sizeof err) == 0, err);
}

/* Random pixels u in [0,1]: x6[B,6,S,S] = [u, 1-u] and the teacher's input (u - mean) / std. */
static void random_images(bcos_rng *rng, float *x6, float *normalized, int B, int S) {
    size_t plane = (size_t)S * S;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < 3; c++)
            for (size_t i = 0; i < plane; i++) {
                float u = bcos_rng_uniform(rng);
                x6[((size_t)b * 6 + c) * plane + i] = u;
                x6[((size_t)b * 6 + 3 + c) * plane + i] = 1.0f - u;
                if (normalized) normalized[((size_t)b * 3 + c) * plane + i] = (u - MEAN[c]) / STD[c];
            }
}

static void check_reproduces_teacher(const bcos_clip *t, bcos_rng *rng) {
    bcos_student_options opt = bcos_student_default_options();
    opt.b = 1.0f;
    opt.keep_biases = 1;
    bcos_student s;
    bcos_student_init(&s, &t->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(&s, t);
    enum { B = 3 };
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    float *x6 = xmalloc((size_t)B * 6 * S * S * sizeof(float)), *img = xmalloc((size_t)B * 3 * S * S * sizeof(float));
    float student[B * 64], teacher[B * 64];
    random_images(rng, x6, img, B, S);
    bcos_student_acts *a = bcos_student_acts_new(&s, B);
    bcos_student_forward(&s, a, student, x6, 1.0f, 1.0f);
    bcos_clip_encode_image(t, teacher, img, B);
    double e = test_rel_error_f32(student, teacher, (size_t)B * E);
    CHECK_MSG(e < 1e-5, "B=1 student with biases vs teacher: rel error %.3g", e);
    /* and B = 2 without biases is a different function */
    bcos_student_forward(&s, a, student, x6, 2.0f, 0.0f);
    CHECK(test_rel_error_f32(student, teacher, (size_t)B * E) > 1e-2);
    bcos_student_acts_free(a);
    free(img);
    free(x6);
    bcos_student_free(&s);
}

/* s <- the teacher B-cosified with these options. */
static void bcosify(bcos_student *s, const bcos_clip *t, float b, int keep_biases, int plain_proj) {
    bcos_student_options opt = bcos_student_default_options();
    opt.b = b;
    opt.keep_biases = keep_biases;
    opt.plain_proj = plain_proj;
    bcos_student_init(s, &t->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(s, t);
}

/* L = sum(out * R) in double. */
static double loss_of(const bcos_student *s, bcos_student_acts *a, const float *x6, const float *R, float b,
                      float bs, int B) {
    float out[4 * 64];
    bcos_student_forward(s, a, out, x6, b, bs);
    double L = 0;
    for (int i = 0; i < B * s->cfg.embed_dim; i++) L += (double)out[i] * R[i];
    return L;
}

/* Central differences on a few coordinates of every parameter tensor and of the input. */
static void check_gradients(const bcos_clip *t, bcos_rng *rng, float b, int keep_biases, int plain_proj) {
    bcos_student s;
    bcosify(&s, t, b, keep_biases, plain_proj);
    enum { B = 2 };
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    size_t nx = (size_t)B * 6 * S * S;
    float *x6 = xmalloc(nx * sizeof(float)), R[B * 64];
    random_images(rng, x6, NULL, B, S);
    bcos_rng_fill_normal(rng, R, (size_t)B * E, 0.0f, 1.0f);
    float bs = keep_biases ? 0.6f : 0.0f;
    bcos_student_acts *a = bcos_student_acts_new(&s, B);
    float out[B * 64];
    bcos_student_forward(&s, a, out, x6, b, bs);
    float *grads = xcalloc(s.params.total, sizeof(float)), *dx6 = xcalloc(nx, sizeof(float));
    bcos_student_backward(&s, a, grads, dx6, R);
    double worst = 0;
    const char *worst_name = "";
    for (int i = -1; i < s.params.count; i++) {
        float *base = i < 0 ? x6 : bcos_params_ptr(&s.params, i);
        const float *g = i < 0 ? dx6 : grads + s.params.items[i].offset;
        size_t n = i < 0 ? nx : s.params.items[i].numel;
        double scale = 0;
        for (size_t k = 0; k < n; k++) scale = fmax(scale, fabs(g[k]));
        for (int probe = 0; probe < 3; probe++) {
            size_t k = (size_t)bcos_rng_below(rng, n);
            float keep = base[k], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
            base[k] = keep + h;
            double up = loss_of(&s, a, x6, R, b, bs, B);
            base[k] = keep - h;
            double down = loss_of(&s, a, x6, R, b, bs, B);
            base[k] = keep;
            double fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
            double err = fabs(fd - g[k]) / fmax(scale, 1e-3);
            if (err > worst) worst = err, worst_name = i < 0 ? "x6" : s.params.items[i].name;
        }
    }
    CHECK_MSG(worst < 2e-2, "B=%.2g biases=%d plain_proj=%d: worst gradient error %.3g at %s", b, keep_biases,
              plain_proj, worst, worst_name);
    bcos_student_acts_free(a);
    free(dx6);
    free(grads);
    free(x6);
    bcos_student_free(&s);
}

/* Completeness: |sum terms - score| / sum |terms| < 1e-4, terms in double. */
static void check_completeness(const bcos_clip *t, bcos_rng *rng, float b, int keep_biases, int plain_proj) {
    bcos_student s;
    bcosify(&s, t, b, keep_biases, plain_proj);
    enum { B = 3 };
    int S = t->cfg.image_size, E = t->cfg.embed_dim;
    size_t per = (size_t)6 * S * S;
    float *x6 = xmalloc(B * per * sizeof(float)), *dx6 = xmalloc(B * per * sizeof(float));
    float out[B * 64], dir[B * 64];
    double contrib[B];
    random_images(rng, x6, NULL, B, S);
    bcos_rng_fill_normal(rng, dir, (size_t)B * E, 0.0f, 1.0f);
    bcos_student_acts *a = bcos_student_acts_new(&s, B);
    bcos_student_forward(&s, a, out, x6, b, keep_biases ? 0.5f : 0.0f);
    bcos_student_explain(&s, a, dx6, contrib, dir);
    for (int i = 0; i < B; i++) {
        double score = 0;
        for (int e = 0; e < E; e++) score += (double)out[i * E + e] * dir[i * E + e];
        double err = bcos_completeness_error(x6 + i * per, dx6 + i * per, per, contrib[i], score);
        CHECK_MSG(err < 1e-4, "B=%.2g biases=%d plain_proj=%d image %d: completeness error %.3g (score %.6g)", b,
                  keep_biases, plain_proj, i, err, score);
        if (!keep_biases) CHECK(fabs(contrib[i]) > 0); /* the class and positional embeddings carry a share */
    }
    bcos_student_acts_free(a);
    free(dx6);
    free(x6);
    bcos_student_free(&s);
}

/* Save and reload: same options, same parameters bit for bit; a CLIP file is refused. */
static void check_save_load(const bcos_clip *t) {
    bcos_student_options opt = bcos_student_default_options();
    opt.b = 2.5f;
    opt.keep_biases = 1;
    opt.bias_decay_steps = 40;
    bcos_student s, back;
    bcos_student_init(&s, &t->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(&s, t);
    char dir[] = "/tmp/bcos_student_XXXXXX", path[128], json[128], err[BCOS_ERRLEN];
    BCOS_CHECK(mkdtemp(dir) != NULL, "/tmp is writable");
    snprintf(path, sizeof path, "%s/student.safetensors", dir);
    snprintf(json, sizeof json, "%s/student.json", dir);
    CHECK(bcos_student_save(&s, t, 0, path, json, err, sizeof err) == 0);
    int rc = bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(back.opt.b == 2.5f && back.opt.keep_biases == 1 && back.opt.bias_decay_steps == 40);
        CHECK(back.params.total == s.params.total &&
              memcmp(back.params.data, s.params.data, s.params.total * sizeof(float)) == 0);
        CHECK(back.cfg.vision_width == s.cfg.vision_width && back.cfg.quick_gelu == s.cfg.quick_gelu);
        bcos_student_free(&back);
    }
    /* the teacher's text tower travels in the same file */
    bcos_clip text_tower;
    rc = bcos_student_load_text(&text_tower, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        int32_t ids[77] = {49406, 320, 1125, 539, 320, 2368, 49407};
        float a[64], b[64];
        bcos_clip_encode_text(&text_tower, a, ids, 1);
        bcos_clip_encode_text(t, b, ids, 1);
        CHECK(memcmp(a, b, (size_t)t->cfg.embed_dim * sizeof(float)) == 0);
        bcos_clip_free(&text_tower);
    }
    char *text = bcos_read_file(json, NULL);
    CHECK(text && strstr(text, "\"keep_biases\":true") && strstr(text, "\"clip_config\""));
    free(text);
    CHECK(bcos_student_load_file(&back, "tests/fixtures/clip/tiny_openclip.safetensors", bcos_backend_cpu(), err,
                                 sizeof err) == -1);
    CHECK_MSG(strstr(err, "not a B-cos student") != NULL, "%s", err);
    remove(path);
    remove(json);
    remove(dir);
    bcos_student_free(&s);
}

/* Writes s's file (as of `step`) to path with its metadata pair `key` given `value` (NULL: left out). */
static void write_with_meta(const bcos_student *s, const bcos_clip *t, int64_t step, const char *path,
                            const char *key, const char *value) {
    bcos_student_file f;
    bcos_student_file_make(&f, s, t, step);
    int n = 0;
    for (int i = 0; i < f.n_meta; i++) {
        if (strcmp(f.meta[i].key, key) == 0 && !value) continue;
        f.meta[n] = f.meta[i];
        if (strcmp(f.meta[i].key, key) == 0) f.meta[n].value = value;
        n++;
    }
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_write(path, f.entries, f.count, f.meta, n, err, sizeof err) == 0, err);
    bcos_student_file_free(&f);
}

/* A file saved in the middle of a B ramp and a bias decay loads with that step's B and bias scale;
 * an old file (no version) with the schedule's end; an unknown version is refused; a student
 * holding a NaN is neither saved nor loaded. */
static void check_saved_step(const bcos_clip *t) {
    bcos_student_options opt = bcos_student_default_options();
    opt.b = 2.5f;
    opt.b_ramp_steps = 20;
    opt.keep_biases = 1;
    opt.bias_decay_steps = 40;
    bcos_student s, back;
    bcos_student_init(&s, &t->cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(&s, t);
    char dir[] = "/tmp/bcos_student_XXXXXX", path[128], err[BCOS_ERRLEN];
    BCOS_CHECK(mkdtemp(dir) != NULL, "/tmp is writable");
    snprintf(path, sizeof path, "%s/student.safetensors", dir);
    CHECK(bcos_student_save(&s, t, 10, path, NULL, err, sizeof err) == 0);
    int rc = bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_MSG(back.saved_b == bcos_student_b_at(&s, 10) && back.saved_b > 1.0f && back.saved_b < 2.5f,
                  "B of step 10: %g", back.saved_b);
        CHECK_MSG(back.saved_bias_scale == bcos_student_bias_scale_at(&s, 10) && back.saved_bias_scale > 0,
                  "bias scale of step 10: %g", back.saved_bias_scale);
        bcos_student_free(&back);
    }
    write_with_meta(&s, t, 10, path, "bcos_student_version", NULL);
    rc = bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(back.saved_b == 2.5f && back.saved_bias_scale == 0.0f); /* version 1: the schedule's end */
        bcos_student_free(&back);
    }
    write_with_meta(&s, t, 10, path, "bcos_student_version", "2"); /* a ViT student of version 2 loads as it was */
    rc = bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(back.saved_b == bcos_student_b_at(&s, 10) && back.buffers.count == 0);
        bcos_student_free(&back);
    }
    write_with_meta(&s, t, 10, path, "bcos_student_version", "4");
    CHECK(bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "version '4'") != NULL, "%s", err);
    write_with_meta(&s, t, 10, path, "bcos_student_step", "{\"step\": 10}");
    CHECK(bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "bcos_student_step") != NULL, "%s", err);
    /* a NaN in one tensor: not saved, and a file holding it is not loaded */
    bcos_params_ptr(&s.params, s.stack.blocks[1].c_fc_w)[5] = NAN;
    remove(path);
    CHECK(bcos_student_save(&s, t, 10, path, NULL, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "visual.transformer.resblocks.1.mlp.c_fc.weight") && strstr(err, "NaN"), "%s", err);
    CHECK_MSG(access(path, F_OK) != 0, "nothing written");
    write_with_meta(&s, t, 10, path, "unused", NULL);
    CHECK(bcos_student_load_file(&back, path, bcos_backend_cpu(), err, sizeof err) == -1);
    CHECK_MSG(strstr(err, path) && strstr(err, "visual.transformer.resblocks.1.mlp.c_fc.weight") &&
                  strstr(err, "NaN"),
              "%s", err);
    remove(path);
    remove(dir);
    bcos_student_free(&s);
}

int main(void) {
    bcos_clip teacher;
    load_teacher(&teacher);
    bcos_rng rng;
    bcos_rng_seed(&rng, 11);
    check_reproduces_teacher(&teacher, &rng);
    check_gradients(&teacher, &rng, 2.0f, 0, 0);
    check_gradients(&teacher, &rng, 1.5f, 1, 0);
    check_gradients(&teacher, &rng, 2.5f, 0, 1);
    const float bs[] = {1.0f, 1.5f, 2.0f, 3.0f};
    for (int i = 0; i < 4; i++) check_completeness(&teacher, &rng, bs[i], 0, 0);
    check_completeness(&teacher, &rng, 2.0f, 1, 0);
    check_completeness(&teacher, &rng, 2.0f, 0, 1);
    check_save_load(&teacher);
    check_saved_step(&teacher);
    bcos_clip_free(&teacher);
    return test_summary("test_bcos_student");
}
