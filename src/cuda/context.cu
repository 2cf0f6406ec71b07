/* The CUDA backend's context: whether a device is usable here, which one this process takes (one GPU
 * per rank, from the launcher's local rank), its stream and cuBLASLt handle, the memory operations of
 * the backend table, and stream-ordered scratch memory. Set up on first use, from one thread. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_internal.h"

namespace bcos_cuda {

/* cuBLASLt's workspace: what its Hopper kernels ask for at most. */
constexpr size_t GEMM_WORKSPACE = 32u << 20;

static int g_ready, g_device;
static cudaStream_t g_stream;
static cublasLtHandle_t g_lt;
static void *g_workspace;

/* The first of these variables that is set, as a number; -1 if none. BCOS_CUDA_DEVICE names the
 * device outright; the others are the local ranks of Open MPI, Slurm and MPICH. */
static int device_from_environment(int *explicit_device) {
    static const char *const vars[] = {"BCOS_CUDA_DEVICE", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                                       "MPI_LOCALRANKID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 0) bcos_fail("%s=%s: a device or local rank is a number from 0", vars[i], v);
        *explicit_device = i == 0;
        return (int)n;
    }
    return -1;
}

static void set_up(void) {
    if (g_ready) return;
    int count = 0;
    CUDA_CHECK(cudaGetDeviceCount(&count));
    if (count == 0) bcos_fail("the CUDA backend was asked for, but the driver sees no CUDA device");
    int explicit_device = 0, wanted = device_from_environment(&explicit_device);
    if (explicit_device && wanted >= count)
        bcos_fail("BCOS_CUDA_DEVICE=%d, but this machine has %d CUDA device(s)", wanted, count);
    /* One GPU per rank: local rank r takes device r, wrapping when ranks outnumber devices. */
    g_device = wanted < 0 ? 0 : wanted % count;
    CUDA_CHECK(cudaSetDevice(g_device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasLtCreate(&g_lt));
    CUDA_CHECK(cudaMalloc(&g_workspace, GEMM_WORKSPACE));
    g_ready = 1;
}

cudaStream_t stream() {
    set_up();
    return g_stream;
}

cublasLtHandle_t lt() {
    set_up();
    return g_lt;
}

void *gemm_workspace(size_t *bytes) {
    set_up();
    *bytes = GEMM_WORKSPACE;
    return g_workspace;
}

void *scratch(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocAsync(&p, bytes ? bytes : 1, stream()));
    return p;
}

void scratch_free(void *p) {
    if (p) CUDA_CHECK(cudaFreeAsync(p, stream()));
}

} // namespace bcos_cuda

using namespace bcos_cuda;

extern "C" int bcos_cuda_device(void) {
    set_up();
    return g_device;
}

extern "C" void *bcos_cuda_stream(void) { return stream(); }

/* Asked once: the answer does not change while the process runs. */
extern "C" const char *bcos_cuda_unavailable(void) {
    static int asked;
    static char why[200];
    if (asked) return why[0] ? why : NULL;
    asked = 1;
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess)
        snprintf(why, sizeof why, "no CUDA device: %s", cudaGetErrorString(rc));
    else if (count == 0)
        snprintf(why, sizeof why, "no CUDA device: the driver sees none");
    return why[0] ? why : NULL;
}

extern "C" void *bcos_cuda_alloc(size_t bytes) {
    set_up();
    void *p = NULL;
    CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

/* cudaFree waits for the device, so nothing queued still reads p. */
extern "C" void bcos_cuda_release(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

extern "C" void bcos_cuda_upload(void *dst, const void *host_src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream()));
    CUDA_CHECK(cudaStreamSynchronize(stream())); /* the host buffer may change once this returns */
}

extern "C" void bcos_cuda_download(void *host_dst, const void *src, size_t bytes) {
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream()));
    CUDA_CHECK(cudaStreamSynchronize(stream()));
}

extern "C" void bcos_cuda_zero(void *p, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream())); }

extern "C" void bcos_cuda_sync(void) { CUDA_CHECK(cudaStreamSynchronize(stream())); }
