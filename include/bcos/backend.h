/* The one interface between models and kernels: a table of operations, chosen at run time by name
 * ("cpu", "cuda", "cuda-bf16"). The ops, their shapes and conventions are listed once, in
 * backend_ops.h; their pointers are in the backend's memory, which the memory operations below
 * reach from the host. */
#ifndef BCOS_BACKEND_H
#define BCOS_BACKEND_H

#include <stddef.h>

#include "bcos/backend_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bcos_backend {
    const char *name;
    /* The arithmetic: "fp32", or "bf16" (bf16 GEMM operands, fp32 accumulation and storage). */
    const char *precision;
    /* NULL when the backend can run here, else why not ("no CUDA device: ..."), one line. */
    const char *(*unavailable)(void);
    /* Memory the ops' pointers live in. On the CPU these are malloc, free, memcpy and memset. alloc
     * stops the process when out of memory; download and sync wait for the ops queued before them. */
    void *(*alloc)(size_t bytes);
    void (*release)(void *p);
    void (*upload)(void *dst, const void *host_src, size_t bytes);
    void (*download)(void *host_dst, const void *src, size_t bytes);
    void (*zero)(void *p, size_t bytes);
    void (*sync)(void);
    BCOS_BACKEND_OPS(BCOS_BACKEND_OP_FIELD, float)
} bcos_backend;

/* The fp32 CPU reference backend (src/cpu: OpenBLAS for GEMM, plain loops elsewhere). */
const bcos_backend *bcos_backend_cpu(void);
#ifdef BCOS_HAVE_CUDA
/* The CUDA backends (src/cuda): fp32 throughout, and bf16 GEMM operands with fp32 accumulation. */
const bcos_backend *bcos_backend_cuda(void);
const bcos_backend *bcos_backend_cuda_bf16(void);
/* The device this process computes on, set up on first use: BCOS_CUDA_DEVICE if set, else the
 * launcher's local rank (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID) modulo the devices
 * seen, else 0. */
int bcos_cuda_device(void);
/* The stream the CUDA backends' ops run on (a cudaStream_t), for work that must follow them. */
void *bcos_cuda_stream(void);
#endif

/* The registry (src/backend): the backend of that name built into this binary (NULL if none), usable
 * here or not. "auto" is the backend the models run on: their tensors are host memory today, so it is
 * the CPU. */
const bcos_backend *bcos_backend_get(const char *name);
/* The i-th backend built in, NULL past the last: for tests that run on every backend. */
const bcos_backend *bcos_backend_builtin(int i);

/* A run's --device (cpu, cuda or auto) for a model that runs on host memory only: the CPU backend, or
 * NULL with a one-line reason in err. "cuda" is refused (not built in, no device here, or the model not
 * yet on the device); "auto" takes the CPU and writes into note (empty if none) why it did not take
 * a GPU. */
const bcos_backend *bcos_backend_for_host_model(const char *device, char *note, size_t notelen, char *err,
                                                size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
