/* Multi-head softmax attention on the GPU, as src/cpu/attention_impl.h computes it: per head, batched
 * over the images, scores = scale q k^T and out = att v through cuBLASLt, the softmax (and its backward)
 * one warp per row. att[B,NH,T,T] keeps the probabilities. A fused (flash-style) kernel for T <= 257,
 * hd = 64 is the next step (docs/CUDA.md). */
#include <math.h>

#include "cuda_internal.h"

namespace bcos_cuda {

constexpr int ROWS_PER_BLOCK = THREADS / 32;

/* The view of one head of qkv[B,T,3C] (part 0 q, 1 k, 2 v) or of out[B,T,C], batched over b. */
struct head_view {
    long ld;
    long long stride;
};

/* Softmax of each score row in place over its first n_keys (t+1 when causal, row t of T), the rest 0. */
__global__ void softmax_rows(float *att, int rows, int T, int causal) {
    int r = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= rows) return;
    float *row = att + (size_t)r * T;
    int n_keys = causal ? r % T + 1 : T;
    float max = -INFINITY;
    for (int j = lane; j < n_keys; j += 32) max = fmaxf(max, row[j]);
    for (int o = 16; o > 0; o >>= 1) max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, o));
    float sum = 0;
    for (int j = lane; j < n_keys; j += 32) sum += expf(row[j] - max);
    float inv = 1.0f / warp_sum(sum);
    for (int j = lane; j < T; j += 32) row[j] = j < n_keys ? expf(row[j] - max) * inv : 0.0f;
}

/* d_j = p_j (d_j - sum_i p_i d_i), row by row, in place in d. */
__global__ void softmax_rows_backward(float *d, const float *p, int rows, int T) {
    int r = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float *pr = p + (size_t)r * T;
    float *dr = d + (size_t)r * T;
    float dot = 0;
    for (int j = lane; j < T; j += 32) dot += pr[j] * dr[j];
    dot = warp_sum(dot);
    for (int j = lane; j < T; j += 32) dr[j] = pr[j] * (dr[j] - dot);
}

/* C[b] (beta)= alpha op(A[b]) op(B[b]) for the B images of one head. */
static void batched(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, head_view a,
                    const float *B_, head_view b, float beta, float *C, head_view c, int batch) {
    gemm g = {};
    g.trans_a = trans_a, g.trans_b = trans_b, g.M = M, g.N = N, g.K = K;
    g.A = A, g.lda = a.ld, g.stride_a = a.stride;
    g.B = B_, g.ldb = b.ld, g.stride_b = b.stride;
    g.C = C, g.ldc = c.ld, g.stride_c = c.stride;
    g.batch = batch, g.alpha = alpha, g.beta = beta;
    gemm_run(g);
}

static void check_heads(int C, int NH) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
}

static unsigned row_blocks(int rows) { return (unsigned)((rows + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK); }

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int causal) {
    check_heads(C, NH);
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
    head_view in = {3L * C, (long long)T * 3 * C}, o = {C, (long long)T * C}, a = {T, (long long)NH * T * T};
    for (int h = 0; h < NH; h++) {
        const float *q = qkv + (size_t)h * hd;
        float *att_h = att + (size_t)h * T * T;
        batched(0, 1, T, T, hd, scale, q, in, q + C, in, 0, att_h, a, B);
    }
    softmax_rows<<<row_blocks(B * NH * T), THREADS, 0, stream()>>>(att, B * NH * T, T, causal);
    CUDA_LAUNCHED();
    for (int h = 0; h < NH; h++)
        batched(0, 0, T, hd, T, 1, att + (size_t)h * T * T, a, qkv + 2 * (size_t)C + (size_t)h * hd, in, 0,
                out + (size_t)h * hd, o, B);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B, int T, int C,
                        int NH) {
    if (!dqkv) return;
    check_heads(C, NH);
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
    head_view in = {3L * C, (long long)T * 3 * C}, o = {C, (long long)T * C}, a = {T, (long long)NH * T * T};
    float *dscores = (float *)scratch((size_t)B * NH * T * T * sizeof(float));
    for (int h = 0; h < NH; h++) {
        size_t head = (size_t)h * hd;
        /* datt = dout v^T; dv += att^T dout */
        batched(0, 1, T, T, hd, 1, dout + head, o, qkv + 2 * (size_t)C + head, in, 0, dscores + (size_t)h * T * T, a,
                B);
        batched(1, 0, T, hd, T, 1, att + (size_t)h * T * T, a, dout + head, o, 1, dqkv + 2 * (size_t)C + head, in, B);
    }
    softmax_rows_backward<<<row_blocks(B * NH * T), THREADS, 0, stream()>>>(dscores, att, B * NH * T, T);
    CUDA_LAUNCHED();
    for (int h = 0; h < NH; h++) {
        size_t head = (size_t)h * hd;
        const float *ds = dscores + (size_t)h * T * T;
        /* dq += scale dscores k; dk += scale dscores^T q */
        batched(0, 0, T, hd, T, scale, ds, a, qkv + C + head, in, 1, dqkv + head, in, B);
        batched(1, 0, T, hd, T, scale, ds, a, qkv + head, in, 1, dqkv + C + head, in, B);
    }
    scratch_free(dscores);
}

void attention_explain_backward(float *dqkv, const float *dout, const float *att, int B, int T, int C, int NH) {
    if (!dqkv) return;
    check_heads(C, NH);
    int hd = C / NH;
    head_view in = {3L * C, (long long)T * 3 * C}, o = {C, (long long)T * C}, a = {T, (long long)NH * T * T};
    for (int h = 0; h < NH; h++) {
        size_t head = (size_t)h * hd;
        batched(1, 0, T, hd, T, 1, att + (size_t)h * T * T, a, dout + head, o, 1, dqkv + 2 * (size_t)C + head, in, B);
    }
}

} // namespace bcos_cuda
