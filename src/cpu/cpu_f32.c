/* The "cpu" backend: the CPU kernels (kernels_impl.h) in float, and their table. */
#include "bcos/backend.h"

#define REAL float
#define GEMM cblas_sgemm
#include "kernels_impl.h"

#define CPU_OP(name, params) .name = name,
static const bcos_backend cpu_backend = {.name = "cpu", BCOS_BACKEND_OPS(CPU_OP, float)};

const bcos_backend *bcos_backend_cpu(void) { return &cpu_backend; }
