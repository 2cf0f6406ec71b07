/* The double CPU kernels: the same code as the "cpu" backend, instantiated in double, so that tests can
 * check every backward against finite differences and then any backend against these. A table of the
 * ops of include/bcos/backend_ops.h with double for float; internal to src/cpu and the tests. */
#ifndef BCOS_CPU_F64_H
#define BCOS_CPU_F64_H

#include "bcos/backend_ops.h"

typedef struct {
    BCOS_BACKEND_OPS(BCOS_BACKEND_OP_FIELD, double)
} bcos_cpu_f64_ops;

const bcos_cpu_f64_ops *bcos_cpu_f64(void);

#endif
