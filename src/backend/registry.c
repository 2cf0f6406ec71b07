/* The backend registry: the backends built into this binary, found by name at run time, and the choice
 * of a run's --device. It sits above every backend (src/cpu, src/cuda), so that no backend knows
 * another. */
#include <stdio.h>
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"

/* The CPU first: "auto" is the backend the models can use, and their tensors are host memory. */
static const bcos_backend *(*const builtins[])(void) = {
    bcos_backend_cpu,
#ifdef BCOS_HAVE_CUDA
    bcos_backend_cuda,
    bcos_backend_cuda_bf16,
#endif
};
#define BUILTINS ((int)(sizeof builtins / sizeof builtins[0]))

const bcos_backend *bcos_backend_builtin(int i) { return i >= 0 && i < BUILTINS ? builtins[i]() : NULL; }

const bcos_backend *bcos_backend_get(const char *name) {
    BCOS_CHECK(name != NULL, "name a backend: cpu, cuda, cuda-bf16 or auto");
    if (strcmp(name, "auto") == 0)
        return bcos_backend_cpu();
    for (int i = 0; i < BUILTINS; i++)
        if (strcmp(builtins[i]()->name, name) == 0)
            return builtins[i]();
    return NULL;
}

/* Why this binary cannot run a model on CUDA here: not built in, no device, or the model not ready. */
static void why_not_cuda(char *out, size_t len) {
    const bcos_backend *cuda = bcos_backend_get("cuda");
    const char *unavailable = cuda ? cuda->unavailable() : NULL;
    if (!cuda)
        snprintf(out, len, "this binary has no CUDA backend (built with BCOS_CUDA=OFF or without nvcc)");
    else if (unavailable)
        snprintf(out, len, "%s", unavailable);
    else
        snprintf(out, len, "the distill step is not yet on cuda (its model runs on host memory; the cuda "
                           "backend's ops are tested alone, see docs/CUDA.md)");
}

const bcos_backend *bcos_backend_for_host_model(const char *device, char *note, size_t notelen, char *err,
                                                size_t errlen) {
    if (notelen) note[0] = '\0';
    if (strcmp(device, "cpu") == 0) return bcos_backend_cpu();
    char why[256];
    if (strcmp(device, "auto") == 0) {
        why_not_cuda(why, sizeof why);
        snprintf(note, notelen, "device auto: running on the cpu: %s", why);
        return bcos_backend_cpu();
    }
    if (strcmp(device, "cuda") == 0) {
        why_not_cuda(why, sizeof why);
        bcos_error(err, errlen, NULL, "device cuda: %s; use the cpu (--device cpu)", why);
        return NULL;
    }
    bcos_error(err, errlen, NULL, "device '%s': use cpu, cuda or auto", device);
    return NULL;
}
