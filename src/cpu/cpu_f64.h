/* The double CPU kernels (bcos_cpu_<op>_f64): the same code as the float backend, instantiated in
 * double so that tests can check every backward against finite differences and then the float
 * kernels against these. Signatures are the backend's (kernels_api.h) with double for float. */
#ifndef BCOS_CPU_F64_H
#define BCOS_CPU_F64_H

#define REAL double
#define KERNEL(name) bcos_cpu_##name##_f64
#include "kernels_api.h"
#undef REAL
#undef KERNEL

#endif
