/* The token ops on the GPU, as src/cpu computes them: the text tower's embedding, patch extraction
 * (im2col of a stride-P convolution), the ViT's class and positional tokens, and the gather of one row
 * per sequence. Sums over the batch (positional gradients) are column sums; the gradients scattered
 * by token ids use atomics, since ids repeat. */
#include "cuda_internal.h"

namespace bcos_cuda {

__global__ void embedding_kernel(float *out, const int *ids, const float *table, const float *pos, int B, int T,
                                 int C) {
    FOR_EACH(i, (size_t)B * T * C) {
        size_t bt = i / C;
        int c = (int)(i % C), t = (int)(bt % T);
        out[i] = table[(size_t)ids[bt] * C + c] + pos[(size_t)t * C + c];
    }
}

__global__ void embedding_table_grad(float *dtable, const float *dout, const int *ids, int B, int T, int C) {
    FOR_EACH(i, (size_t)B * T * C) atomicAdd(&dtable[(size_t)ids[i / C] * C + i % C], dout[i]);
}

void embedding_forward(float *out, const int *ids, const float *table, const float *pos, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    if (n == 0) return;
    embedding_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, ids, table, pos, B, T, C);
    CUDA_LAUNCHED();
}

void embedding_backward(float *dtable, float *dpos, const float *dout, const int *ids, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    if (n == 0) return;
    if (dtable) {
        embedding_table_grad<<<blocks_for(n), THREADS, 0, stream()>>>(dtable, dout, ids, B, T, C);
        CUDA_LAUNCHED();
    }
    if (dpos) column_sums(dpos, dout, B, T * C, (long)T * C, 1);
}

/* Element k of cols[B, NP, Cin*P*P] and the pixel of img[B,Cin,H,W] it copies. */
__device__ inline size_t patch_pixel(size_t k, int Cin, int H, int W, int P) {
    int GW = W / P, GH = H / P, window = Cin * P * P;
    int within = (int)(k % window);
    size_t patch = k / window;
    int gx = (int)(patch % GW), gy = (int)(patch / GW % GH);
    size_t b = patch / ((size_t)GW * GH);
    int c = within / (P * P), ky = within / P % P, kx = within % P;
    return (((b * Cin + c) * H + (size_t)gy * P + ky) * W + (size_t)gx * P + kx);
}

__global__ void patchify_kernel(float *cols, const float *img, size_t n, int Cin, int H, int W, int P) {
    FOR_EACH(k, n) cols[k] = img[patch_pixel(k, Cin, H, W, P)];
}

/* Patches do not overlap: each pixel gets at most one element, so no atomics. */
__global__ void patchify_backward_kernel(float *dimg, const float *dcols, size_t n, int Cin, int H, int W, int P) {
    FOR_EACH(k, n) dimg[patch_pixel(k, Cin, H, W, P)] += dcols[k];
}

void patchify_forward(float *out, const float *img, int B, int Cin, int H, int W, int P) {
    size_t n = (size_t)B * (H / P) * (W / P) * Cin * P * P;
    if (n == 0) return;
    patchify_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, img, n, Cin, H, W, P);
    CUDA_LAUNCHED();
}

void patchify_backward(float *dimg, const float *dout, int B, int Cin, int H, int W, int P) {
    size_t n = (size_t)B * (H / P) * (W / P) * Cin * P * P;
    if (!dimg || n == 0) return;
    patchify_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dimg, dout, n, Cin, H, W, P);
    CUDA_LAUNCHED();
}

__global__ void vit_embed_kernel(float *out, const float *patch_emb, const float *cls, const float *pos, int B,
                                 int NP, int C) {
    FOR_EACH(i, (size_t)B * (NP + 1) * C) {
        int c = (int)(i % C), t = (int)(i / C % (NP + 1));
        size_t b = i / ((size_t)(NP + 1) * C);
        float x = t == 0 ? cls[c] : patch_emb[(b * NP + t - 1) * C + c];
        out[i] = x + pos[(size_t)t * C + c];
    }
}

__global__ void vit_embed_patch_grad(float *dpatch_emb, const float *dout, int B, int NP, int C) {
    FOR_EACH(i, (size_t)B * NP * C) {
        size_t b = i / ((size_t)NP * C), rest = i % ((size_t)NP * C);
        dpatch_emb[i] += dout[b * (NP + 1) * C + C + rest];
    }
}

void vit_embed_forward(float *out, const float *patch_emb, const float *cls, const float *pos, int B, int NP,
                       int C) {
    size_t n = (size_t)B * (NP + 1) * C;
    if (n == 0) return;
    vit_embed_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, patch_emb, cls, pos, B, NP, C);
    CUDA_LAUNCHED();
}

void vit_embed_backward(float *dpatch_emb, float *dcls, float *dpos, const float *dout, int B, int NP, int C) {
    long row = (long)(NP + 1) * C;
    if (dpatch_emb && NP > 0) {
        size_t n = (size_t)B * NP * C;
        vit_embed_patch_grad<<<blocks_for(n), THREADS, 0, stream()>>>(dpatch_emb, dout, B, NP, C);
        CUDA_LAUNCHED();
    }
    if (dcls) column_sums(dcls, dout, B, C, row, 1);
    if (dpos) column_sums(dpos, dout, B, (int)row, row, 1);
}

/* A row outside the sequence writes NaN (the CPU backend stops there; a kernel cannot): the output
 * then shows it. */
__global__ void gather_rows_kernel(float *out, const float *inp, const int *rows, int B, int T, int C) {
    FOR_EACH(i, (size_t)B * C) {
        size_t b = i / C;
        int r = rows[b];
        out[i] = r >= 0 && r < T ? inp[(b * T + r) * C + i % C] : __int_as_float(0x7fc00000);
    }
}

/* Each sequence's row is its own: no two b write one element. */
__global__ void gather_rows_backward_kernel(float *dinp, const float *dout, const int *rows, int B, int T, int C) {
    FOR_EACH(i, (size_t)B * C) {
        size_t b = i / C;
        int r = rows[b];
        if (r >= 0 && r < T) dinp[(b * T + r) * C + i % C] += dout[i];
    }
}

void gather_rows_forward(float *out, const float *inp, const int *rows, int B, int T, int C) {
    size_t n = (size_t)B * C;
    if (n == 0) return;
    gather_rows_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, rows, B, T, C);
    CUDA_LAUNCHED();
}

void gather_rows_backward(float *dinp, const float *dout, const int *rows, int B, int T, int C) {
    size_t n = (size_t)B * C;
    if (!dinp || n == 0) return;
    gather_rows_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, dout, rows, B, T, C);
    CUDA_LAUNCHED();
}

} // namespace bcos_cuda
