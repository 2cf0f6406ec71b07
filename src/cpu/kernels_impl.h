/* The bodies of every CPU kernel, written once for any element type. An instantiation file (cpu_f32.c,
 * cpu_f64.c) defines REAL (float or double) and GEMM (cblas_sgemm or cblas_dgemm), includes this header
 * once, and makes its table of the ops from the list in include/bcos/backend_ops.h. Each op is a static
 * function of the op's own name (layernorm_forward, ...), so the table's entry `.layernorm_forward =
 * layernorm_forward` holds each body to the op's signature. <tgmath.h> makes exp, sqrt and erf follow
 * REAL, so the float kernels compute in float and the double ones in double. Each included file is one
 * concern. The forward loops that run between GEMMs go over threads (parallel.h), each item (row,
 * plane, softmax row, element) computed exactly as one thread computes it. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "bcos/check.h"
#include "parallel.h"

/* An elementwise loop's arrays, out[i] = f(a[i], b[i]); a loop on threads takes at least this many
 * elements a thread (about what a thread hand-off costs). */
typedef struct {
    REAL *out;
    const REAL *a, *b;
} elementwise_args;
#define ELEMENTWISE_GRAIN 16384

#include "matmul_impl.h"
#include "layernorm_impl.h"
#include "attention_impl.h"
#include "activations_impl.h"
#include "embedding_impl.h"
#include "residual_impl.h"
#include "bias_add_impl.h"
#include "patchify_impl.h"
#include "bcos_unit_impl.h"
#include "bcos_patch_impl.h"
#include "vit_embed_impl.h"
#include "gather_rows_impl.h"
#include "conv2d_impl.h"
#include "bcos_conv_impl.h"
#include "bn_uncentered_impl.h"
#include "avgpool2d_impl.h"
#include "channel_affine_impl.h"
#include "attention_pool_impl.h"
