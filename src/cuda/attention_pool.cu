/* The pieces of CLIP's ResNet attention pool on the GPU, as src/cpu/attention_pool_impl.h computes
 * them: the feature map as tokens with its mean in front, and multi-head attention of one query per
 * image over those tokens. One query makes each head's product a vector-matrix one (T about 50, head
 * dimension 64), too thin for a GEMM, so each (image, head) is one block: a warp per key for the scores,
 * the softmax over the block, a thread per column for the output. Explanation mode holds the attention
 * weights constant: only v carries gradient. */
#include <math.h>

#include "cuda_internal.h"

namespace bcos_cuda {

/* The maximum over a block of whole warps (at most 1024 threads; every thread gets it). */
__device__ inline float block_max(float v) {
    __shared__ float partial[32];
    __syncthreads(); /* partial may still be read from a previous call */
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Token 1+p of image b: pixel p of every channel, plus its position. */
__global__ void map_pixels_kernel(float *out, const float *inp, const float *pos, int B, int C, int HW) {
    FOR_EACH(i, (size_t)B * HW * C) {
        int c = (int)(i % C), p = (int)(i / C % HW);
        size_t b = i / ((size_t)C * HW);
        size_t t = (size_t)p + 1;
        out[(b * (HW + 1) + t) * C + c] = inp[(b * C + c) * HW + p] + (pos ? pos[t * C + c] : 0.0f);
    }
}

/* Token 0: one warp per (image, channel) takes the mean of its plane. */
__global__ void map_mean_kernel(float *out, const float *inp, const float *pos, int B, int C, int HW) {
    size_t plane = (size_t)blockIdx.x * (THREADS / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (plane >= (size_t)B * C) return;
    const float *x = inp + plane * HW;
    float sum = 0;
    for (int i = lane; i < HW; i += 32) sum += x[i];
    sum = warp_sum(sum);
    int c = (int)(plane % C);
    size_t b = plane / C;
    if (lane == 0) out[b * (HW + 1) * C + c] = sum / (float)HW + (pos ? pos[c] : 0.0f);
}

/* dinp[b,c,p] += dout[b,1+p,c] + dout[b,0,c] / HW */
__global__ void map_tokens_backward_kernel(float *dinp, const float *dout, int B, int C, int HW) {
    FOR_EACH(i, (size_t)B * C * HW) {
        int p = (int)(i % HW), c = (int)(i / HW % C);
        const float *d = dout + i / ((size_t)HW * C) * (HW + 1) * C + c;
        dinp[i] += d[(size_t)(p + 1) * C] + d[0] / (float)HW;
    }
}

void map_tokens_forward(float *out, const float *inp, const float *pos, int B, int C, int HW) {
    size_t planes = (size_t)B * C;
    if (planes == 0 || HW <= 0) return;
    map_pixels_kernel<<<blocks_for(planes * HW), THREADS, 0, stream()>>>(out, inp, pos, B, C, HW);
    CUDA_LAUNCHED();
    unsigned blocks = (unsigned)((planes + THREADS / 32 - 1) / (THREADS / 32));
    map_mean_kernel<<<blocks, THREADS, 0, stream()>>>(out, inp, pos, B, C, HW);
    CUDA_LAUNCHED();
}

void map_tokens_backward(float *dinp, float *dpos, const float *dout, int B, int C, int HW) {
    size_t n = (size_t)B * C * HW;
    if (n == 0) return;
    if (dinp) {
        map_tokens_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, dout, B, C, HW);
        CUDA_LAUNCHED();
    }
    if (dpos) column_sums(dpos, dout, B, (HW + 1) * C, (long)(HW + 1) * C, 1);
}

/* One head of one image: where its columns start in q[B,C] and in the rows of k, v [B,T,C]. */
struct head_at {
    size_t b, col, att;
};

__device__ inline head_at this_head(int T, int C, int NH) {
    int b = blockIdx.x / NH, h = blockIdx.x % NH;
    return {(size_t)b, (size_t)h * (C / NH), (size_t)blockIdx.x * T};
}

/* a[t] = sum_i x[i] * rows[t*C + i] for t < T, i < hd: a warp per row. */
__device__ inline void dot_rows(float *a, const float *x, const float *rows, int T, int C, int hd, float scale) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int t = warp; t < T; t += warps) {
        const float *r = rows + (size_t)t * C;
        float dot = 0;
        for (int i = lane; i < hd; i += 32) dot += x[i] * r[i];
        dot = warp_sum(dot);
        if (lane == 0) a[t] = dot * scale;
    }
}

/* Block b*NH + h: att[b,h,:] = softmax(scale q.k_t), out[b, head] = sum_t att[t] v_t. */
__global__ void query_attention_kernel(float *out, float *att, const float *q, const float *k, const float *v, int T,
                                       int C, int NH, float scale) {
    int hd = C / NH;
    head_at at = this_head(T, C, NH);
    float *a = att + at.att;
    const float *kb = k + at.b * T * C + at.col, *vb = v + at.b * T * C + at.col;
    dot_rows(a, q + at.b * C + at.col, kb, T, C, hd, scale);
    __syncthreads(); /* the scores in global memory, seen by the whole block */
    float max = -INFINITY;
    for (int t = threadIdx.x; t < T; t += blockDim.x) max = fmaxf(max, a[t]);
    max = block_max(max);
    float sum = 0;
    for (int t = threadIdx.x; t < T; t += blockDim.x) sum += expf(a[t] - max);
    float inv = 1.0f / block_sum(sum);
    for (int t = threadIdx.x; t < T; t += blockDim.x) a[t] = expf(a[t] - max) * inv;
    __syncthreads();
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float o = 0;
        for (int t = 0; t < T; t++) o += a[t] * vb[(size_t)t * C + i];
        out[at.b * C + at.col + i] = o;
    }
}

/* dv[b,t,head] += att[t] * dout[b,head]: the gradient through the values. */
__device__ inline void value_backward(float *dv, const float *a, const float *d, int T, int C, int hd) {
    for (int j = threadIdx.x; j < T * hd; j += blockDim.x) {
        int t = j / hd, i = j % hd;
        dv[(size_t)t * C + i] += a[t] * d[i];
    }
}

__global__ void query_attention_explain_kernel(float *dv, const float *dout, const float *att, int T, int C, int NH) {
    head_at at = this_head(T, C, NH);
    value_backward(dv + at.b * T * C + at.col, att + at.att, dout + at.b * C + at.col, T, C, C / NH);
}

/* datt[t] = dout.v_t, then the softmax's backward g[t] = att[t] (datt[t] - att.datt) * scale, kept in
 * g[B*NH*T] (scratch); dq += sum_t g[t] k_t, dk_t += g[t] q. */
__global__ void query_attention_backward_kernel(float *dq, float *dk, float *dv, float *g, const float *dout,
                                                const float *q, const float *k, const float *v, const float *att,
                                                int T, int C, int NH, float scale) {
    int hd = C / NH;
    head_at at = this_head(T, C, NH);
    const float *a = att + at.att, *d = dout + at.b * C + at.col, *qh = q + at.b * C + at.col;
    size_t rows = at.b * T * C + at.col;
    if (dv) value_backward(dv + rows, a, d, T, C, hd);
    if (!dq && !dk) return;
    float *gh = g + at.att;
    dot_rows(gh, d, v + rows, T, C, hd, 1.0f);
    __syncthreads();
    float dot = 0;
    for (int t = threadIdx.x; t < T; t += blockDim.x) dot += a[t] * gh[t];
    dot = block_sum(dot);
    for (int t = threadIdx.x; t < T; t += blockDim.x) gh[t] = a[t] * (gh[t] - dot) * scale;
    __syncthreads();
    if (dq)
        for (int i = threadIdx.x; i < hd; i += blockDim.x) {
            float s = 0;
            for (int t = 0; t < T; t++) s += gh[t] * k[rows + (size_t)t * C + i];
            dq[at.b * C + at.col + i] += s;
        }
    if (dk)
        for (int j = threadIdx.x; j < T * hd; j += blockDim.x) {
            int t = j / hd, i = j % hd;
            dk[rows + (size_t)t * C + i] += gh[t] * qh[i];
        }
}

/* Blocks, one per (image, head); 0 when there is nothing to do. */
static unsigned head_blocks(int B, int T, int C, int NH) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    BCOS_CHECK((size_t)B * NH <= 0x7fffffffu, "at most 2^31 - 1 (image, head) pairs");
    return B > 0 && T > 0 ? (unsigned)(B * NH) : 0;
}

void query_attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                             int C, int NH) {
    unsigned blocks = head_blocks(B, T, C, NH);
    if (!blocks) return;
    float scale = 1.0f / sqrtf((float)(C / NH));
    query_attention_kernel<<<blocks, THREADS, 0, stream()>>>(out, att, q, k, v, T, C, NH, scale);
    CUDA_LAUNCHED();
}

void query_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                              const float *v, const float *att, int B, int T, int C, int NH) {
    unsigned blocks = head_blocks(B, T, C, NH);
    if (!blocks || (!dq && !dk && !dv)) return;
    float scale = 1.0f / sqrtf((float)(C / NH));
    float *g = dq || dk ? (float *)scratch((size_t)blocks * T * sizeof(float)) : NULL;
    query_attention_backward_kernel<<<blocks, THREADS, 0, stream()>>>(dq, dk, dv, g, dout, q, k, v, att, T, C, NH,
                                                                      scale);
    CUDA_LAUNCHED();
    scratch_free(g);
}

void query_attention_explain_backward(float *dv, const float *dout, const float *att, int B, int T, int C, int NH) {
    unsigned blocks = head_blocks(B, T, C, NH);
    if (!blocks || !dv) return;
    query_attention_explain_kernel<<<blocks, THREADS, 0, stream()>>>(dv, dout, att, T, C, NH);
    CUDA_LAUNCHED();
}

} // namespace bcos_cuda
