/* Every matrix product of the CUDA backend, through cuBLASLt. The row-major product C = op(A) op(B) is
 * the column-major C^T = op(B)^T op(A)^T, so B goes first and no data moves. fp32 mode computes in
 * exact fp32 (CUBLAS_COMPUTE_32F, never TF32); bf16 mode rounds A and B to bf16 into scratch first and
 * lets the tensor cores accumulate in fp32 into the fp32 C. A bias rides in the epilogue. Plans (the
 * descriptors and the algorithm cuBLASLt's heuristic picks) are kept per shape, so a step's repeated
 * shapes ask the heuristic once; the ops are issued from one thread, as they share one stream. */
#include <cuda_bf16.h>
#include <string.h>

#include "cuda_internal.h"

namespace bcos_cuda {

static thread_local int g_bf16;

void set_bf16(int on) { g_bf16 = on; }

/* Elements a strided operand spans: its batches, each rows x cols at row stride ld. */
static size_t span(int rows, int cols, long ld, int batch, long long stride) {
    return (size_t)(batch - 1) * (size_t)stride + (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

__global__ void to_bf16(__nv_bfloat16 *out, const float *in, size_t n) { FOR_EACH(i, n) out[i] = __float2bfloat16(in[i]); }

/* The operand as bf16 in scratch (the caller frees it), gaps between strided rows included. */
static __nv_bfloat16 *rounded(const float *x, size_t n) {
    __nv_bfloat16 *out = (__nv_bfloat16 *)scratch(n * sizeof(__nv_bfloat16));
    to_bf16<<<blocks_for(n), THREADS, 0, stream()>>>(out, x, n);
    CUDA_LAUNCHED();
    return out;
}

/* A column-major layout of rows x cols at leading dimension ld, repeated batch times at stride. */
static cublasLtMatrixLayout_t layout(cudaDataType type, int rows, int cols, long ld, int batch, long long stride) {
    cublasLtMatrixLayout_t l;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, (uint64_t)rows, (uint64_t)cols, ld));
    if (batch > 1) {
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                      sizeof stride));
    }
    return l;
}

/* A planned product: the descriptors and the algorithm cuBLASLt's heuristic picked, or found = 0. */
struct plan {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t first, second, c;
    cublasLtMatmulHeuristicResult_t heuristic;
    int found;
};

/* The largest power of two, up to 256, that divides the address: cuBLASLt's heuristic assumes 256 unless
 * told, and the views of one head of qkv, or of a row, are less aligned than that. */
static uint32_t alignment(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

static void set_alignment(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t which,
                          const void *p) {
    uint32_t a = alignment(p);
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, which, &a, sizeof a));
}

/* first and second: the operands as the product will read them (the rounded copies in bf16 mode). */
static plan make_plan(const gemm &g, cudaDataType in_type, const void *first, const void *second,
                      size_t ws_bytes) {
    plan p = {};
    /* Column-major: the first operand is B viewed as op(B)^T (N x K), the second A as op(A)^T (K x M). */
    p.first = layout(in_type, g.trans_b ? g.K : g.N, g.trans_b ? g.N : g.K, g.ldb, g.batch, g.stride_b);
    p.second = layout(in_type, g.trans_a ? g.M : g.K, g.trans_a ? g.K : g.M, g.lda, g.batch, g.stride_a);
    p.c = layout(CUDA_R_32F, g.N, g.M, g.ldc, g.batch, g.stride_c);
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t op_first = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_second = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second));
    if (g.bias) {
        cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
        cudaDataType bias_type = CUDA_R_32F;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                    sizeof epilogue));
        /* a bias pointer for the heuristic; each call sets its own (gemm_run) */
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                    sizeof g.bias));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                    sizeof bias_type));
    }
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                                      sizeof ws_bytes));
    set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, first);
    set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, second);
    set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.C);
    set_alignment(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.C);
    /* No algorithm is a status of its own here (NOT_SUPPORTED or found = 0), not an error. */
    cublasStatus_t rc = cublasLtMatmulAlgoGetHeuristic(lt(), p.desc, p.first, p.second, p.c, p.c, pref, 1,
                                                       &p.heuristic, &p.found);
    if (rc == CUBLAS_STATUS_NOT_SUPPORTED) p.found = 0;
    else CUBLAS_CHECK(rc);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    return p;
}

static void destroy_plan(plan &p) {
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p.desc));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p.c));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p.second));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p.first));
}

__global__ void round_to_bf16(float *out, const float *in, size_t n) {
    FOR_EACH(i, n) out[i] = __bfloat162float(__float2bfloat16(in[i]));
}

/* The operand rounded to bf16 but kept in fp32, for a shape the bf16 kernels do not take (rows not 16
 * bytes apart): the fp32 product of rounded operands is what the tensor cores compute. */
static float *rounded_fp32(const float *x, size_t n) {
    float *out = (float *)scratch(n * sizeof(float));
    round_to_bf16<<<blocks_for(n), THREADS, 0, stream()>>>(out, x, n);
    CUDA_LAUNCHED();
    return out;
}

/* What a plan depends on: the shape, strides, types, epilogue and the operands' alignment. */
struct plan_key {
    int trans_a, trans_b, M, N, K, batch, in_type, has_bias;
    long lda, ldb, ldc;
    long long stride_a, stride_b, stride_c;
    uint32_t align_first, align_second, align_c;
};

struct cached_plan {
    plan_key key;
    plan p;
};

/* Plans of distinct shapes kept; past that, one more slot is planned anew at each call. A ViT step has
 * a few dozen shapes. */
constexpr int PLANS = 256;
static cached_plan g_plans[PLANS + 1];
static int g_n_plans;

static plan &plan_for(const gemm &g, cudaDataType in_type, const void *first, const void *second, size_t ws_bytes) {
    plan_key k;
    memset(&k, 0, sizeof k); /* padding too: keys are compared as bytes */
    k.trans_a = g.trans_a, k.trans_b = g.trans_b, k.M = g.M, k.N = g.N, k.K = g.K, k.batch = g.batch;
    k.in_type = (int)in_type, k.has_bias = g.bias != NULL;
    k.lda = g.lda, k.ldb = g.ldb, k.ldc = g.ldc;
    k.stride_a = g.batch > 1 ? g.stride_a : 0, k.stride_b = g.batch > 1 ? g.stride_b : 0;
    k.stride_c = g.batch > 1 ? g.stride_c : 0;
    k.align_first = alignment(first), k.align_second = alignment(second), k.align_c = alignment(g.C);
    for (int i = 0; i < g_n_plans; i++)
        if (memcmp(&g_plans[i].key, &k, sizeof k) == 0) return g_plans[i].p;
    int slot = g_n_plans < PLANS ? g_n_plans++ : PLANS;
    if (slot == PLANS && g_plans[slot].p.desc) destroy_plan(g_plans[slot].p);
    g_plans[slot].key = k;
    g_plans[slot].p = make_plan(g, in_type, first, second, ws_bytes);
    return g_plans[slot].p;
}

void gemm_run(const gemm &g) {
    if (g.M <= 0 || g.N <= 0 || g.K <= 0 || g.batch <= 0) return;
    int bf16 = g_bf16;
    size_t ws_bytes;
    void *ws = gemm_workspace(&ws_bytes);
    size_t b_span = span(g.trans_b ? g.N : g.K, g.trans_b ? g.K : g.N, g.ldb, g.batch, g.stride_b);
    size_t a_span = span(g.trans_a ? g.K : g.M, g.trans_a ? g.M : g.K, g.lda, g.batch, g.stride_a);
    const void *first = g.B, *second = g.A;
    void *first_copy = NULL, *second_copy = NULL;
    if (bf16) {
        first = first_copy = rounded(g.B, b_span);
        second = second_copy = rounded(g.A, a_span);
    }
    plan *p = &plan_for(g, bf16 ? CUDA_R_16BF : CUDA_R_32F, first, second, ws_bytes);
    if (bf16 && !p->found) {
        scratch_free(first_copy);
        scratch_free(second_copy);
        first = first_copy = rounded_fp32(g.B, b_span);
        second = second_copy = rounded_fp32(g.A, a_span);
        p = &plan_for(g, CUDA_R_32F, first, second, ws_bytes);
    }
    if (!p->found)
        bcos_die_at(__FILE__, __LINE__, "cuBLASLt has no kernel for this shape, type and alignment",
                    "no GEMM algorithm for %dx%dx%d (batch %d)", g.M, g.N, g.K, g.batch);
    if (g.bias)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias,
                                                    sizeof g.bias));
    CUBLAS_CHECK(cublasLtMatmul(lt(), p->desc, &g.alpha, first, p->first, second, p->second, &g.beta, g.C, p->c,
                                g.C, p->c, &p->heuristic.algo, ws, ws_bytes, stream()));
    scratch_free(first_copy);
    scratch_free(second_copy);
}

/* The bias in the epilogue when it is 16-byte aligned (what vectorised epilogues may load), else added by
 * a kernel after the product (a bias inside the parameter table can start anywhere). */
void linear(float *out, const float *inp, const float *weight, const float *bias, int N, int IC, int OC,
            float beta) {
    int epilogue = bias && alignment(bias) >= 16;
    gemm g = {};
    g.trans_b = 1;
    g.M = N, g.N = OC, g.K = IC;
    g.A = inp, g.lda = IC, g.B = weight, g.ldb = IC, g.C = out, g.ldc = OC;
    g.batch = 1, g.alpha = 1, g.beta = beta, g.bias = epilogue ? bias : NULL;
    gemm_run(g);
    if (bias && !epilogue) bias_add_forward(out, bias, 1.0f, N, OC);
}

/* dinp[N,IC] += dout[N,OC] @ weight[OC,IC] */
void linear_backward_inputs(float *dinp, const float *dout, const float *weight, int N, int IC, int OC) {
    gemm g = {};
    g.M = N, g.N = IC, g.K = OC;
    g.A = dout, g.lda = OC, g.B = weight, g.ldb = IC, g.C = dinp, g.ldc = IC;
    g.batch = 1, g.alpha = 1, g.beta = 1;
    gemm_run(g);
}

/* dweight[OC,IC] += dout[N,OC]^T @ inp[N,IC] */
void linear_backward_weights(float *dweight, const float *dout, const float *inp, int N, int IC, int OC) {
    gemm g = {};
    g.trans_a = 1;
    g.M = OC, g.N = IC, g.K = N;
    g.A = dout, g.lda = OC, g.B = inp, g.ldb = IC, g.C = dweight, g.ldc = IC;
    g.batch = 1, g.alpha = 1, g.beta = 1;
    gemm_run(g);
}

} // namespace bcos_cuda
