/* The CPU kernels (kernels_impl.h) in double: the oracle of the tests (cpu_f64.h). */
#include "cpu_f64.h"

#define REAL double
#define GEMM cblas_dgemm
#include "kernels_impl.h"

#define CPU_OP(name, params) .name = name,
static const bcos_cpu_f64_ops cpu_f64 = {BCOS_BACKEND_OPS(CPU_OP, double)};

const bcos_cpu_f64_ops *bcos_cpu_f64(void) { return &cpu_f64; }
