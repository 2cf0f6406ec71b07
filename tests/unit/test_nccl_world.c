/* The NCCL sum across the ranks (bcos/nccl_world.h) on the CUDA backend's device memory: each rank
 * uploads its own values, the sum is queued on the backend's stream, and every rank must read back the
 * exact sum over ranks (small whole numbers, so float sums are exact). Runs alone (a world of one) or
 * under mpirun (one GPU per rank, from the local rank). Exit 77, reported by ctest as skipped, where
 * NCCL is not built in or no GPU can be used: it then checks nothing and says so. */
#include <stdio.h>
#include <stdlib.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/world.h"
#include "test.h"
#ifdef BCOS_HAVE_NCCL
#include "bcos/nccl_world.h"
#endif

#define TEST_SKIPPED 77
#define COUNT 100003 /* not a multiple of anything NCCL chunks by */

int main(int argc, char **argv) {
#ifndef BCOS_HAVE_NCCL
    (void)argc, (void)argv;
    printf("test_nccl_world: NOT RUN: this build has no NCCL (BCOS_CUDA, NCCL beside the CUDA toolkit)\n");
    return TEST_SKIPPED;
#else
    const bcos_backend *be = bcos_backend_get("cuda");
    const char *why = be->unavailable();
    if (why) {
        printf("test_nccl_world: NOT RUN: %s\n", why);
        return TEST_SKIPPED;
    }
    bcos_world_init(&argc, &argv);
    bcos_nccl_init();
    int rank = bcos_world_rank(), size = bcos_world_size();
    float *host = xmalloc(COUNT * sizeof(float));
    for (int i = 0; i < COUNT; i++) host[i] = (float)((i % 7) * (rank + 1));
    float *dev = be->alloc(COUNT * sizeof(float));
    be->upload(dev, host, COUNT * sizeof(float));
    bcos_nccl_sum_f32(dev, COUNT);
    be->download(host, dev, COUNT * sizeof(float));
    int wrong = 0;
    float ranks_sum = (float)size * (size + 1) / 2;
    for (int i = 0; i < COUNT; i++) wrong += host[i] != (float)(i % 7) * ranks_sum;
    CHECK_MSG(wrong == 0, "rank %d of %d: %d of %d sums wrong", rank, size, wrong, COUNT);
    printf("  rank %d of %d on device %d: %d sums checked\n", rank, size, bcos_cuda_device(), COUNT);
    be->release(dev);
    free(host);
    bcos_nccl_finalize();
    bcos_world_finalize();
    return test_summary("test_nccl_world");
#endif
}
