/* The list of kernel operations, written once. BCOS_BACKEND_OPS(X, R) calls X(name, parameters) for
 * every op, R being the element type (float for a backend, double for the CPU's oracle). From this one
 * list come the backend table's fields (backend.h), the CPU backend's and oracle's tables (src/cpu),
 * and the cases that tests/unit/test_backend_ops.c must have. Each op is a plain function of that
 * name in a backend's sources (src/cpu/layernorm_impl.h defines layernorm_forward, ...).
 *
 * Conventions, as in llm.c: the output comes first, shapes are in the comments, and every backward
 * ACCUMULATES (+=) into its gradient outputs (a NULL gradient pointer means "not needed"). Linear
 * weights use PyTorch's layout: weight[OC, IC], out = inp @ weight^T + bias. Pointers are in the
 * backend's memory. The B-cos ops and the explanation-mode backwards are docs/METHOD.md, "The B-cos
 * unit" and "Explanation mode and completeness".
 *
 * Adding a new op:
 *   1. Add a line X(name, (parameters)) below, with its shapes in a comment.
 *   2. Define `static void name(...)` in the concern's file of src/cpu (written with REAL, see
 *      src/cpu/kernels_impl.h); the compiler then holds its signature to this line, in float and double.
 *   3. Add its case to tests/unit/test_backend_ops.c (the test fails for an op without one), and,
 *      for a backward, a finite-difference check in a tests/unit/test_grad_*.c.
 *   4. Every other backend (src/cuda) needs it too: the table of a backend that lacks it does not compile. */
#ifndef BCOS_BACKEND_OPS_H
#define BCOS_BACKEND_OPS_H

#include <stddef.h>

#define BCOS_BACKEND_OPS(X, R)                                                                                      \
    /* out[N,OC] = inp[N,IC] @ weight[OC,IC]^T + bias[OC] (bias may be NULL) */                                     \
    X(matmul_forward, (R *out, const R *inp, const R *weight, const R *bias, int N, int IC, int OC))                \
    /* dinp[N,IC] += dout @ weight; dweight[OC,IC] += dout^T @ inp; dbias[OC] += sum_n dout */                      \
    X(matmul_backward, (R *dinp, R *dweight, R *dbias, const R *dout, const R *inp, const R *weight, int N,         \
                        int IC, int OC))                                                                            \
                                                                                                                    \
    /* out[N,C] = (inp - mean) * rstd * weight + bias (bias may be NULL); saves mean[N], rstd[N] */                 \
    X(layernorm_forward, (R *out, R *mean, R *rstd, const R *inp, const R *weight, const R *bias, int N,            \
                          int C, R eps))                                                                            \
    X(layernorm_backward, (R *dinp, R *dweight, R *dbias, const R *dout, const R *inp, const R *weight,             \
                           const R *mean, const R *rstd, int N, int C))                                             \
    /* explanation mode, rstd held constant: dinp[N,C] += rstd * (dout*weight - mean_c(dout*weight)) */             \
    X(layernorm_explain_backward, (R *dinp, const R *dout, const R *weight, const R *rstd, int N, int C))           \
                                                                                                                    \
    /* Multi-head softmax attention. qkv[B,T,3C] holds q, k, v (each C = NH*hd, head h at columns h*hd..).          \
     * out[B,T,C]; att[B,NH,T,T] keeps the softmax probabilities for the backward. causal != 0 masks keys           \
     * after the query. Scale 1/sqrt(hd). */                                                                        \
    X(attention_forward, (R *out, R *att, const R *qkv, int B, int T, int C, int NH, int causal))                   \
    X(attention_backward, (R *dqkv, const R *dout, const R *qkv, const R *att, int B, int T, int C, int NH))        \
    /* explanation mode, att held constant: only v gets gradient, the v columns of dqkv += att^T @ dout per         \
     * head; its q and k columns are left as they are */                                                            \
    X(attention_explain_backward, (R *dqkv, const R *dout, const R *att, int B, int T, int C, int NH))              \
                                                                                                                    \
    /* QuickGELU x*sigmoid(1.702x) and GELU (erf form), elementwise over n */                                       \
    X(quickgelu_forward, (R *out, const R *inp, size_t n))                                                          \
    X(quickgelu_backward, (R *dinp, const R *inp, const R *dout, size_t n))                                         \
    X(gelu_forward, (R *out, const R *inp, size_t n))                                                               \
    X(gelu_backward, (R *dinp, const R *inp, const R *dout, size_t n))                                              \
    /* explanation mode, the gate held constant: dinp[n] += dout * sigmoid(1.702 inp), or * Phi(inp) */             \
    X(quickgelu_explain_backward, (R *dinp, const R *inp, const R *dout, size_t n))                                 \
    X(gelu_explain_backward, (R *dinp, const R *inp, const R *dout, size_t n))                                      \
                                                                                                                    \
    /* out[B,T,C] = table[ids[b,t], :] + pos[t, :] */                                                               \
    X(embedding_forward, (R *out, const int *ids, const R *table, const R *pos, int B, int T, int C))               \
    X(embedding_backward, (R *dtable, R *dpos, const R *dout, const int *ids, int B, int T, int C))                 \
                                                                                                                    \
    /* out[n] = a[n] + b[n] */                                                                                      \
    X(residual_forward, (R *out, const R *a, const R *b, size_t n))                                                 \
    X(residual_backward, (R *da, R *db, const R *dout, size_t n))                                                   \
                                                                                                                    \
    /* out[N,C] += scale * bias[C]; dbias[C] += scale * sum_n dout[n,:] */                                          \
    X(bias_add_forward, (R *out, const R *bias, R scale, int N, int C))                                             \
    X(bias_add_backward, (R *dbias, const R *dout, R scale, int N, int C))                                          \
                                                                                                                    \
    /* Patch extraction, a stride-P convolution's im2col: img[B,Cin,H,W] -> out[B, (H/P)*(W/P), Cin*P*P],           \
     * patches in row-major grid order, each flattened as (c, ky, kx) to match conv weight[OC,Cin,P,P]. */          \
    X(patchify_forward, (R *out, const R *img, int B, int Cin, int H, int W, int P))                                \
    X(patchify_backward, (R *dimg, const R *dout, int B, int Cin, int H, int W, int P))                             \
                                                                                                                    \
    /* ViT token assembly: out[B,1+NP,C] = [cls; patch_emb[b]] + pos[1+NP,C] */                                     \
    X(vit_embed_forward, (R *out, const R *patch_emb, const R *cls, const R *pos, int B, int NP, int C))            \
    X(vit_embed_backward, (R *dpatch_emb, R *dcls, R *dpos, const R *dout, int B, int NP, int C))                   \
                                                                                                                    \
    /* out[B,C] = inp[b, rows[b], :] for inp[B,T,C] (class token, end-of-text token) */                             \
    X(gather_rows_forward, (R *out, const R *inp, const int *rows, int B, int T, int C))                            \
    X(gather_rows_backward, (R *dinp, const R *dout, const int *rows, int B, int T, int C))                         \
                                                                                                                    \
    /* B-cos linear unit, no bias, no weight normalisation, b >= 1 the exponent B: z[N,OC] = inp @ weight^T,        \
     * norm[N] = sqrt(sum_i inp[n,i]^2) + 1e-12, out[N,OC] = (|z|/norm + 1e-6)^(b-1) * z; saves z and norm. */      \
    X(bcos_linear_forward, (R *out, R *z, R *norm, const R *inp, const R *weight, int N, int IC, int OC,            \
                            R b))                                                                                   \
    /* exact gradient: dinp[N,IC] += dL/dinp, dweight[OC,IC] += dL/dweight */                                       \
    X(bcos_linear_backward, (R *dinp, R *dweight, const R *dout, const R *inp, const R *weight, const R *z,         \
                             const R *norm, int N, int IC, int OC, R b))                                            \
    /* explanation mode, the factor held constant: dinp[N,IC] += (dout * (|z|/norm + 1e-6)^(b-1)) @ weight */       \
    X(bcos_linear_explain_backward, (R *dinp, const R *dout, const R *weight, const R *z, const R *norm,            \
                                     int N, int IC, int OC, R b))                                                   \
                                                                                                                    \
    /* B-cos patch unit, the student's conv1: img[B,Cin,H,W] (Cin = 6 for x6 = [u, 1-u]), stride = kernel = P,      \
     * weight[OC,Cin,P,P]; per patch (NP = (H/P)*(W/P), in patchify's order) z = the conv, norm = sqrt(sum          \
     * over the Cin*P*P window of x^2 + 1e-6). out[B,NP,OC]; saves cols[B,NP,Cin*P*P] (the patches),                \
     * z[B,NP,OC] and norm[B*NP]. */                                                                                \
    X(bcos_patch_forward, (R *out, R *cols, R *z, R *norm, const R *img, const R *weight, int B, int Cin,           \
                           int H, int W, int P, int OC, R b))                                                       \
    /* exact gradient: dimg[B,Cin,H,W] += dL/dimg, dweight[OC,Cin,P,P] += dL/dweight */                             \
    X(bcos_patch_backward, (R *dimg, R *dweight, const R *dout, const R *cols, const R *weight, const R *z,         \
                            const R *norm, int B, int Cin, int H, int W, int P, int OC, R b))                       \
    /* explanation mode, the factor held constant: dimg[B,Cin,H,W] += dL/dimg */                                    \
    X(bcos_patch_explain_backward, (R *dimg, const R *dout, const R *weight, const R *z, const R *norm, int B,      \
                                    int Cin, int H, int W, int P, int OC, R b))                                     \
                                                                                                                    \
    /* 2-D convolution, NCHW: inp[B,Cin,H,W], weight[OC,Cin,K,K], bias[OC] (may be NULL), out[B,OC,Ho,Wo] with      \
     * Ho = (H + 2pad - K)/stride + 1 (floor), likewise Wo; zero padding. Keeps nothing: the backward takes the    \
     * same inp again (each output pixel's window, flattened (c, ky, kx) like patchify, is recomputed in the        \
     * op's own scratch). */                                                                                        \
    X(conv2d_forward, (R *out, const R *inp, const R *weight, const R *bias, int B, int Cin, int H, int W, int OC,  \
                       int K, int stride, int pad))                                                                 \
    /* dinp[B,Cin,H,W] += dL/dinp, dweight[OC,Cin,K,K] += dL/dweight, dbias[OC] += dL/dbias; inp is the forward's   \
     * input (read only for dweight) */                                                                             \
    X(conv2d_backward, (R *dinp, R *dweight, R *dbias, const R *dout, const R *inp, const R *weight, int B, int Cin, \
                        int H, int W, int OC, int K, int stride, int pad))                                          \
                                                                                                                    \
    /* Average pooling as torch's AvgPool2d(k): kernel = stride = k, no padding, floor mode: inp[B,C,H,W] ->        \
     * out[B,C,H/k,W/k]; the last H % k rows and W % k columns are dropped */                                       \
    X(avgpool2d_forward, (R *out, const R *inp, int B, int C, int H, int W, int k))                                 \
    X(avgpool2d_backward, (R *dinp, const R *dout, int B, int C, int H, int W, int k))                              \
                                                                                                                    \
    /* ReLU over n; the backward reads the forward's OUTPUT (so the forward may run in place) */                    \
    X(relu_forward, (R *out, const R *inp, size_t n))                                                               \
    X(relu_backward, (R *dinp, const R *out, const R *dout, size_t n))                                              \
                                                                                                                    \
    /* Per-channel affine over NCHW (BatchNorm in evaluation mode): out[B,C,HW] = inp * scale[c] + shift[c]         \
     * (shift may be NULL; out may be inp); dinp += dout*scale, dscale[C] += sum dout*inp, dshift[C] += sum dout */ \
    X(channel_affine_forward, (R *out, const R *inp, const R *scale, const R *shift, int B, int C, int HW))         \
    X(channel_affine_backward, (R *dinp, R *dscale, R *dshift, const R *dout, const R *inp, const R *scale, int B,  \
                                int C, int HW))                                                                     \
                                                                                                                    \
    /* CLIP ResNet attention pool's tokens: out[B,1+HW,C] = [mean over the map; the map's pixels as rows]           \
     * of inp[B,C,HW], plus pos[1+HW,C] (may be NULL) */                                                            \
    X(map_tokens_forward, (R *out, const R *inp, const R *pos, int B, int C, int HW))                               \
    X(map_tokens_backward, (R *dinp, R *dpos, const R *dout, int B, int C, int HW))                                 \
    /* One query per image over T tokens, multi-head (head h at columns h*hd.., hd = C/NH), scale 1/sqrt(hd):       \
     * q[B,C], k[B,T,C], v[B,T,C] -> out[B,C]; saves the softmax probabilities att[B,NH,T] */                       \
    X(query_attention_forward, (R *out, R *att, const R *q, const R *k, const R *v, int B, int T, int C, int NH))   \
    X(query_attention_backward, (R *dq, R *dk, R *dv, const R *dout, const R *q, const R *k, const R *v,            \
                                 const R *att, int B, int T, int C, int NH))                                        \
    /* explanation mode, att held constant: only dv[B,T,C] += att * dout per head */                                \
    X(query_attention_explain_backward, (R *dv, const R *dout, const R *att, int B, int T, int C, int NH))          \
                                                                                                                    \
    /* The B-cos convolution = conv2d, then these. Window norms of a K x K convolution (stride, zero padding pad)    \
     * of inp[B,Cin,H,W]: norm[B,Ho,Wo] = sqrt(sum over all Cin channels x the window of x^2 + 1e-6) */             \
    X(bcos_window_norm_forward, (R *norm, const R *inp, int B, int Cin, int H, int W, int K, int stride, int pad))  \
    /* dinp[B,Cin,H,W] += dL/dinp through the norms, from dnorm[B,Ho,Wo] */                                         \
    X(bcos_window_norm_backward, (R *dinp, const R *dnorm, const R *inp, const R *norm, int B, int Cin, int H,      \
                                  int W, int K, int stride, int pad))                                               \
    /* B-cos scaling of a convolution's output z[B,OC,HW] by its window norms norm[B,HW], b >= 1:                   \
     * out[B,OC,HW] = (|z|/norm + 1e-6)^(b-1) * z */                                                                \
    X(bcos_scale_forward, (R *out, const R *z, const R *norm, int B, int OC, int HW, R b))                          \
    /* exact gradient: dz[B,OC,HW] += dL/dz, dnorm[B,HW] += dL/dnorm (either may be NULL) */                        \
    X(bcos_scale_backward, (R *dz, R *dnorm, const R *dout, const R *z, const R *norm, int B, int OC, int HW,       \
                            R b))                                                                                   \
    /* explanation mode, the factor held constant: dz[B,OC,HW] += dout * (|z|/norm + 1e-6)^(b-1) */                 \
    X(bcos_scale_explain_backward, (R *dz, const R *dout, const R *z, const R *norm, int B, int OC, int HW, R b))   \
                                                                                                                    \
    /* Uncentered BatchNorm of inp[B,C,HW]. Batch statistics in steps whose results the ranks may sum: count is     \
     * the number of values per channel the statistics cover (every rank's, or this rank's alone).                  \
     * mean[C] = sum_(b,p) inp / count; var[C] = sum_(b,p) (inp - mean)^2 / count (mean: the whole batch's) */      \
    X(bn_batch_mean, (R *mean, const R *inp, int B, int C, int HW, R count))                                        \
    X(bn_batch_var, (R *var, const R *inp, const R *mean, int B, int C, int HW, R count))                           \
    /* running_var[C] = (1 - momentum) * running_var + momentum * var */                                            \
    X(bn_running_update, (R *running_var, const R *var, int C, R momentum))                                         \
    /* out[B,C,HW] = weight * inp / sqrt(var + eps) + bias_scale * bias (bias may be NULL) */                       \
    X(bn_uncentered_forward, (R *out, const R *inp, const R *weight, const R *bias, const R *var, int B, int C,     \
                              int HW, R eps, R bias_scale))                                                         \
    /* training: dvar[C] = this rank's part of dL/dvar (written; the ranks' parts sum to the whole) */              \
    X(bn_uncentered_dvar, (R *dvar, const R *dout, const R *inp, const R *weight, const R *var, int B, int C,       \
                           int HW, R eps))                                                                          \
    /* dinp += weight * dout / sqrt(var + eps) + dvar * 2 (inp - mean) / count; dweight[C] += dL/dweight;           \
     * dbias[C] += bias_scale * sum dout. dvar NULL: var is a constant (running variance, explanation mode) */      \
    X(bn_uncentered_backward, (R *dinp, R *dweight, R *dbias, const R *dout, const R *inp, const R *weight,         \
                               const R *mean, const R *var, const R *dvar, int B, int C, int HW, R eps, R count,    \
                               R bias_scale))

/* The X that makes an op a field of a table: a pointer to a function of the op's parameters. */
#define BCOS_BACKEND_OP_FIELD(name, params) void(*name) params;

#endif
