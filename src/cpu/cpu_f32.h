/* The float CPU kernels (bcos_cpu_<op>_f32), the arithmetic behind the "cpu" backend table.
 * Internal to src/cpu: models reach them through include/bcos/backend.h. */
#ifndef BCOS_CPU_F32_H
#define BCOS_CPU_F32_H

#define REAL float
#define KERNEL(name) bcos_cpu_##name##_f32
#include "kernels_api.h"
#undef REAL
#undef KERNEL

#endif
