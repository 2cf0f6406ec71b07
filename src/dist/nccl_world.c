/* NCCL across the MPI world (bcos/nccl_world.h): rank 0's ncclUniqueId reaches every rank through
 * bcos_world_bcast, each rank's communicator lives on the CUDA backend's device, and the sums run on the
 * backend's stream so that they follow the ops that made the gradients. Compiled with NCCL only. */
#ifdef BCOS_HAVE_NCCL
#include "bcos/nccl_world.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/world.h"

#define NCCL_CHECK(call)                                                                                     \
    do {                                                                                                     \
        ncclResult_t nccl_rc_ = (call);                                                                      \
        if (nccl_rc_ != ncclSuccess)                                                                         \
            bcos_die_at(__FILE__, __LINE__, "an NCCL call failed: run with NCCL_DEBUG=INFO to see why "      \
                        "(a peer died, a network interface NCCL cannot use: NCCL_SOCKET_IFNAME)",            \
                        "%s: %s", #call, ncclGetErrorString(nccl_rc_));                                      \
    } while (0)

static ncclComm_t g_comm;
static int g_joined;

void bcos_nccl_init(void) {
    if (g_joined) return;
    ncclUniqueId id;
    if (bcos_world_rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    bcos_world_bcast(&id, sizeof id);
    bcos_cuda_device(); /* sets this rank's device up and current, as ncclCommInitRank needs */
    NCCL_CHECK(ncclCommInitRank(&g_comm, bcos_world_size(), id, bcos_world_rank()));
    g_joined = 1;
}

void bcos_nccl_sum_f32(float *device_x, size_t n) {
    BCOS_CHECK(g_joined, "call bcos_nccl_init before an NCCL sum");
    NCCL_CHECK(ncclAllReduce(device_x, device_x, n, ncclFloat32, ncclSum, g_comm,
                             (cudaStream_t)bcos_cuda_stream()));
}

void bcos_nccl_finalize(void) {
    if (!g_joined) return;
    NCCL_CHECK(ncclCommDestroy(g_comm));
    g_joined = 0;
}
#endif
