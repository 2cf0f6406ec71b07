/* The float instantiation of the CPU kernels: the arithmetic of the "cpu" backend. */
#define REAL float
#define KERNEL(name) bcos_cpu_##name##_f32
#define GEMM cblas_sgemm

#include "kernels_api.h"
#include "kernels_impl.h"
