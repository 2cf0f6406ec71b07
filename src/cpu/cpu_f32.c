/* The "cpu" backend: the CPU kernels (kernels_impl.h) in float, and their table. Its memory is the
 * host's, so the memory operations are malloc, free, memcpy and memset. */
#include <stdlib.h>
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"

#define REAL float
#define GEMM cblas_sgemm
#include "kernels_impl.h"

static const char *cpu_unavailable(void) { return NULL; }
static void *cpu_alloc(size_t bytes) { return xmalloc(bytes ? bytes : 1); }
static void cpu_release(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_zero(void *p, size_t bytes) { memset(p, 0, bytes); }
static void cpu_sync(void) {}

#define CPU_OP(name, params) .name = name,
static const bcos_backend cpu_backend = {
    .name = "cpu",
    .precision = "fp32",
    .unavailable = cpu_unavailable,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    BCOS_BACKEND_OPS(CPU_OP, float)};

const bcos_backend *bcos_backend_cpu(void) { return &cpu_backend; }
