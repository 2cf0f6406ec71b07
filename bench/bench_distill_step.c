/* Benchmark: one distillation step on the CPU backend (teacher forward, student forward and
 * backward, cosine loss, AdamW) with random weights, median images per second over several steps.
 * bench/distill_step.sh (a ViT) and bench/rn50_distill_step.sh (a ResNet, its student in training mode)
 * run it beside the same step in PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/rng.h"
#include "bench_common.h"
#include "bcos/train.h"

int main(int argc, char **argv) {
    bench_args args = bench_parse(argc, argv, "bcos-tiny", 32);
    const char *model = args.model;
    int batch = args.batch, iters = args.iters;
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    if (bcos_clip_config_load(&cfg, model, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_clip teacher;
    bcos_clip_init(&teacher, &cfg, bcos_backend_cpu());
    bcos_rng rng;
    bcos_rng_seed(&rng, 1);
    bcos_rng_fill_normal(&rng, teacher.params.data, teacher.params.total, 0.0f, 0.02f);
    bcos_student_options opt = bcos_student_default_options();
    bcos_student student;
    bcos_student_init(&student, &cfg, &opt, bcos_backend_cpu());
    bcos_student_from_clip(&student, &teacher);
    student.training = 1; /* a ResNet student normalises with the batch's statistics, as in distill */
    size_t S = (size_t)cfg.image_size, E = (size_t)cfg.embed_dim, n = student.params.total;
    float *x6 = xmalloc((size_t)batch * 6 * S * S * sizeof(float));
    float *img = xmalloc((size_t)batch * 3 * S * S * sizeof(float));
    float *t = xmalloc((size_t)batch * E * sizeof(float)), *s = xmalloc((size_t)batch * E * sizeof(float));
    float *ds = xmalloc((size_t)batch * E * sizeof(float)), *grads = xmalloc(n * sizeof(float));
    bcos_rng_fill_uniform(&rng, x6, (size_t)batch * 6 * S * S, 0.0f, 1.0f);
    bcos_rng_fill_normal(&rng, img, (size_t)batch * 3 * S * S, 0.0f, 1.0f);
    bcos_student_acts *acts = bcos_student_acts_new(&student, batch);
    bcos_adam_config ac = {.lr = 1e-4, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0, .decoupled = 1};
    bcos_adam adam;
    bcos_adam_init(&adam, &ac, n);
    double *times = xmalloc((size_t)(iters + 1) * sizeof(double));
    for (int i = 0; i <= iters; i++) { /* step 0 warms up */
        double t0 = bcos_now_seconds();
        bcos_clip_encode_image(&teacher, t, img, batch);
        bcos_student_forward(&student, acts, s, x6, opt.b, 0.0f);
        memset(ds, 0, (size_t)batch * E * sizeof(float));
        bcos_cosine_loss(ds, NULL, s, t, batch, (int)E, 1.0);
        memset(grads, 0, n * sizeof(float));
        bcos_student_backward(&student, acts, grads, NULL, ds);
        bcos_adam_step(&adam, student.params.data, grads, 1e-4);
        times[i] = bcos_now_seconds() - t0;
    }
    double median = bench_median(times + 1, iters);
    printf("bcos %s distill step: batch %d, median %.3f s, %.2f img/s\n", model, batch, median, batch / median);
    free(times);
    bcos_adam_free(&adam);
    bcos_student_acts_free(acts);
    free(grads);
    free(ds);
    free(s);
    free(t);
    free(img);
    free(x6);
    bcos_student_free(&student);
    bcos_clip_free(&teacher);
    return 0;
}
