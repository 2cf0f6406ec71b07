/* The double instantiation of the CPU kernels: the finite-difference oracle of the tests (cpu_f64.h). */
#define REAL double
#define KERNEL(name) bcos_cpu_##name##_f64
#define GEMM cblas_dgemm

#include "kernels_api.h"
#include "kernels_impl.h"
