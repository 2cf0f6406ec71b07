/* Gradient sums across GPUs with NCCL, one GPU per rank of the MPI world (bcos/world.h): the NCCL
 * communicator is bootstrapped by broadcasting rank 0's ncclUniqueId over MPI, and each rank uses the
 * CUDA backend's device (bcos_cuda_device: BCOS_CUDA_DEVICE, else the local rank). Built when CMake
 * finds NCCL beside the CUDA toolkit (BCOS_HAVE_NCCL). NCCL's own variables tune it (NCCL_DEBUG=INFO,
 * NCCL_SOCKET_IFNAME, NCCL_IB_DISABLE, NCCL_P2P_DISABLE: docs/CUDA.md). */
#ifndef BCOS_NCCL_WORLD_H
#define BCOS_NCCL_WORLD_H

#include <stddef.h>

/* Joins every rank of the world into one NCCL communicator, after bcos_world_init; collective. */
void bcos_nccl_init(void);
/* Element-wise sum over the ranks, in place, of n floats in device memory, queued on the CUDA
 * backend's stream (the backend's sync waits for it). */
void bcos_nccl_sum_f32(float *device_x, size_t n);
void bcos_nccl_finalize(void);

#endif
