/* The one interface between models and kernels: a table of operations, chosen at run time by name
 * (CPU now, CUDA later). The ops, their shapes and conventions are listed once, in backend_ops.h. */
#ifndef BCOS_BACKEND_H
#define BCOS_BACKEND_H

#include "bcos/backend_ops.h"

typedef struct bcos_backend {
    const char *name;
    BCOS_BACKEND_OPS(BCOS_BACKEND_OP_FIELD, float)
} bcos_backend;

/* The fp32 CPU reference backend (src/cpu: OpenBLAS for GEMM, plain loops elsewhere). */
const bcos_backend *bcos_backend_cpu(void);

/* The registry (src/backend): the backend named "cpu" or "cuda" (NULL if not built in), or the best
 * available for "auto". */
const bcos_backend *bcos_backend_get(const char *name);
/* The i-th backend built in, best first (the one "auto" picks), NULL past the last: for tests that run
 * on every backend. */
const bcos_backend *bcos_backend_builtin(int i);

#endif
