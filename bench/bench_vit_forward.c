/* Benchmark: CLIP image-tower forward on the CPU backend with random weights (default ViT-B/16),
 * median images per second over several batches. bench/vit_forward.sh runs it beside PyTorch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/log.h"
#include "bcos/rng.h"
#include "bench_common.h"

int main(int argc, char **argv) {
    bench_args args = bench_parse(argc, argv, "ViT-B-16", 8);
    const char *model = args.model;
    int batch = args.batch, iters = args.iters;
    bcos_clip_config cfg;
    char err[BCOS_ERRLEN];
    if (bcos_clip_config_load(&cfg, model, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_clip m;
    bcos_clip_init(&m, &cfg, bcos_backend_cpu());
    bcos_rng rng;
    bcos_rng_seed(&rng, 1);
    bcos_rng_fill_normal(&rng, m.params.data, m.params.total, 0.0f, 0.02f);
    size_t S = (size_t)cfg.image_size;
    float *images = xmalloc((size_t)batch * 3 * S * S * sizeof(float));
    float *out = xmalloc((size_t)batch * cfg.embed_dim * sizeof(float));
    bcos_rng_fill_normal(&rng, images, (size_t)batch * 3 * S * S, 0.0f, 1.0f);
    bcos_clip_encode_image(&m, out, images, batch); /* warm-up: page in weights, start BLAS threads */
    double *times = xmalloc((size_t)iters * sizeof(double));
    for (int i = 0; i < iters; i++) {
        double t0 = bcos_now_seconds();
        bcos_clip_encode_image(&m, out, images, batch);
        times[i] = bcos_now_seconds() - t0;
    }
    double median = bench_median(times, iters);
    printf("bcos %s forward: batch %d, median %.3f s, %.2f img/s\n", model, batch, median, batch / median);
    free(times);
    free(out);
    free(images);
    bcos_clip_free(&m);
    return 0;
}
