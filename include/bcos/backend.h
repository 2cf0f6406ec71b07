/* The one interface between models and kernels: a table of operations, chosen at run time
 * (CPU now, CUDA later). Pointers are in the backend's memory. Conventions, as in llm.c:
 * the output comes first, shapes are in the comments, and every backward ACCUMULATES (+=) into
 * its gradient outputs (a NULL gradient pointer means "not needed"). Linear weights use
 * PyTorch's layout: weight[OC, IC], out = inp @ weight^T + bias. */
#ifndef BCOS_BACKEND_H
#define BCOS_BACKEND_H

#include <stddef.h>

typedef struct bcos_backend {
    const char *name;

    /* out[N,OC] = inp[N,IC] @ weight[OC,IC]^T + bias[OC] (bias may be NULL) */
    void (*matmul_forward)(float *out, const float *inp, const float *weight, const float *bias, int N,
                           int IC, int OC);
    /* dinp[N,IC] += dout @ weight; dweight[OC,IC] += dout^T @ inp; dbias[OC] += sum_n dout */
    void (*matmul_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int N, int IC, int OC);

    /* out[N,C] = (inp - mean) * rstd * weight + bias (bias may be NULL); saves mean[N], rstd[N] */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                              const float *bias, int N, int C, float eps);
    void (*layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                               const float *weight, const float *mean, const float *rstd, int N, int C);

    /* Multi-head softmax attention. qkv[B,T,3C] holds q, k, v (each C = NH*hd, head h at columns
     * h*hd..). out[B,T,C]; att[B,NH,T,T] keeps the softmax probabilities for the backward.
     * causal != 0 masks keys after the query. Scale 1/sqrt(hd). */
    void (*attention_forward)(float *out, float *att, const float *qkv, int B, int T, int C, int NH, int causal);
    void (*attention_backward)(float *dqkv, const float *dout, const float *qkv, const float *att, int B, int T,
                               int C, int NH);

    /* QuickGELU x*sigmoid(1.702x) and GELU (erf form), elementwise over n */
    void (*quickgelu_forward)(float *out, const float *inp, size_t n);
    void (*quickgelu_backward)(float *dinp, const float *inp, const float *dout, size_t n);
    void (*gelu_forward)(float *out, const float *inp, size_t n);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n);

    /* out[B,T,C] = table[ids[b,t], :] + pos[t, :] */
    void (*embedding_forward)(float *out, const int *ids, const float *table, const float *pos, int B, int T, int C);
    void (*embedding_backward)(float *dtable, float *dpos, const float *dout, const int *ids, int B, int T, int C);

    /* out[n] = a[n] + b[n] */
    void (*residual_forward)(float *out, const float *a, const float *b, size_t n);
    void (*residual_backward)(float *da, float *db, const float *dout, size_t n);

    /* out[N,C] += scale * bias[C]; dbias[C] += scale * sum_n dout[n,:] */
    void (*bias_add_forward)(float *out, const float *bias, float scale, int N, int C);
    void (*bias_add_backward)(float *dbias, const float *dout, float scale, int N, int C);

    /* Patch extraction, a stride-P convolution's im2col: img[B,Cin,H,W] -> out[B, (H/P)*(W/P), Cin*P*P],
     * patches in row-major grid order, each flattened as (c, ky, kx) to match conv weight[OC,Cin,P,P]. */
    void (*patchify_forward)(float *out, const float *img, int B, int Cin, int H, int W, int P);
    void (*patchify_backward)(float *dimg, const float *dout, int B, int Cin, int H, int W, int P);

    /* ViT token assembly: out[B,1+NP,C] = [cls; patch_emb[b]] + pos[1+NP,C] */
    void (*vit_embed_forward)(float *out, const float *patch_emb, const float *cls, const float *pos, int B, int NP,
                              int C);
    void (*vit_embed_backward)(float *dpatch_emb, float *dcls, float *dpos, const float *dout, int B, int NP, int C);

    /* out[B,C] = inp[b, rows[b], :] for inp[B,T,C] (class token, end-of-text token) */
    void (*gather_rows_forward)(float *out, const float *inp, const int *rows, int B, int T, int C);
    void (*gather_rows_backward)(float *dinp, const float *dout, const int *rows, int B, int T, int C);

    /* B-cos units (DESIGN.md section 4), B-cosified form: no bias, no weight normalisation; b >= 1 is the
     * exponent B. With c = |z|/norm, out = (c + 1e-6)^(b-1) * z. The explain backwards are explanation
     * mode: the dynamic factor (c + 1e-6)^(b-1) held constant, so out is linear in the input. */

    /* Linear unit: z[N,OC] = inp[N,IC] @ weight[OC,IC]^T, norm[N] = sqrt(sum_i inp[n,i]^2) + 1e-12,
     * out[N,OC]; saves z and norm for the backwards. */
    void (*bcos_linear_forward)(float *out, float *z, float *norm, const float *inp, const float *weight, int N,
                                int IC, int OC, float b);
    /* exact gradient: dinp[N,IC] += dL/dinp, dweight[OC,IC] += dL/dweight */
    void (*bcos_linear_backward)(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                                 const float *z, const float *norm, int N, int IC, int OC, float b);
    /* explanation mode: dinp[N,IC] += (dout * factor) @ weight */
    void (*bcos_linear_explain_backward)(float *dinp, const float *dout, const float *weight, const float *z,
                                         const float *norm, int N, int IC, int OC, float b);

    /* Patch unit (the student's conv1): img[B,Cin,H,W] (Cin = 6 for x6 = [u, 1-u]), stride = kernel = P,
     * weight[OC,Cin,P,P]; per patch (NP = (H/P)*(W/P) in row-major grid order, as patchify) z = the conv,
     * norm = sqrt(sum over the Cin*P*P window of x^2 + 1e-6). out[B,NP,OC]; saves cols[B,NP,Cin*P*P]
     * (the patches), z[B,NP,OC] and norm[B*NP] for the backwards. */
    void (*bcos_patch_forward)(float *out, float *cols, float *z, float *norm, const float *img, const float *weight,
                               int B, int Cin, int H, int W, int P, int OC, float b);
    /* exact gradient: dimg[B,Cin,H,W] += dL/dimg, dweight[OC,Cin,P,P] += dL/dweight */
    void (*bcos_patch_backward)(float *dimg, float *dweight, const float *dout, const float *cols, const float *weight,
                                const float *z, const float *norm, int B, int Cin, int H, int W, int P, int OC,
                                float b);
    /* explanation mode: dimg[B,Cin,H,W] += dL/dimg */
    void (*bcos_patch_explain_backward)(float *dimg, const float *dout, const float *weight, const float *z,
                                        const float *norm, int B, int Cin, int H, int W, int P, int OC, float b);

    /* Explanation-mode backwards of the other dynamic factors; their forwards are the ordinary ones. */
    /* LayerNorm with rstd = 1/sigma held constant: dinp[N,C] += rstd * (dout*weight - mean_c(dout*weight)) */
    void (*layernorm_explain_backward)(float *dinp, const float *dout, const float *weight, const float *rstd, int N,
                                       int C);
    /* Attention with att[B,NH,T,T] held constant: only v gets gradient, dqkv[B,T,3C]'s v columns += att^T @ dout
     * per head; its q and k columns are left as they are. */
    void (*attention_explain_backward)(float *dqkv, const float *dout, const float *att, int B, int T, int C, int NH);
    /* Activations with the gate held constant: dinp[n] += dout * sigmoid(1.702 inp) (QuickGELU), * Phi(inp) (GELU) */
    void (*quickgelu_explain_backward)(float *dinp, const float *inp, const float *dout, size_t n);
    void (*gelu_explain_backward)(float *dinp, const float *inp, const float *dout, size_t n);
} bcos_backend;

/* The fp32 CPU reference backend (OpenBLAS for GEMM, OpenMP-free plain loops elsewhere). */
const bcos_backend *bcos_backend_cpu(void);
/* The backend named "cpu" or "cuda" (NULL if not built in), or the best available for "auto". */
const bcos_backend *bcos_backend_get(const char *name);

#endif
