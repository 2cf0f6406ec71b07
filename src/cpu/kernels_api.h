/* Prototypes of the CPU kernels, written once for any element type. Include it with REAL (the element
 * type) and KERNEL(name) (the exported name) defined: cpu_f32.h does so for float, the backend's type,
 * and cpu_f64.h for double, the finite-difference oracle of the tests. Shapes and the accumulate (+=)
 * convention are those of include/bcos/backend.h; a NULL gradient pointer is skipped. */
#include <stddef.h>

/* out[N,OC] = inp[N,IC] @ weight[OC,IC]^T + bias[OC] (bias may be NULL) */
void KERNEL(matmul_forward)(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias, int N, int IC,
                            int OC);
/* dinp[N,IC] += dout @ weight; dweight[OC,IC] += dout^T @ inp; dbias[OC] += sum_n dout */
void KERNEL(matmul_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                             const REAL *weight, int N, int IC, int OC);

/* out[N,C] = (inp - mean) * rstd * weight + bias (bias may be NULL); saves mean[N], rstd[N] */
void KERNEL(layernorm_forward)(REAL *out, REAL *mean, REAL *rstd, const REAL *inp, const REAL *weight,
                               const REAL *bias, int N, int C, REAL eps);
void KERNEL(layernorm_backward)(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                                const REAL *weight, const REAL *mean, const REAL *rstd, int N, int C);
/* explanation mode, rstd held constant: dinp[N,C] += rstd * (dout*weight - mean(dout*weight)) */
void KERNEL(layernorm_explain_backward)(REAL *dinp, const REAL *dout, const REAL *weight, const REAL *rstd, int N,
                                        int C);

/* qkv[B,T,3C] -> out[B,T,C], att[B,NH,T,T] (softmax probabilities); causal masks later keys */
void KERNEL(attention_forward)(REAL *out, REAL *att, const REAL *qkv, int B, int T, int C, int NH, int causal);
void KERNEL(attention_backward)(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att, int B, int T,
                                int C, int NH);
/* explanation mode, att held constant: the v columns of dqkv[B,T,3C] += att^T @ dout per head */
void KERNEL(attention_explain_backward)(REAL *dqkv, const REAL *dout, const REAL *att, int B, int T, int C, int NH);

/* QuickGELU x*sigmoid(1.702x) and GELU (erf form), elementwise over n */
void KERNEL(quickgelu_forward)(REAL *out, const REAL *inp, size_t n);
void KERNEL(quickgelu_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n);
void KERNEL(gelu_forward)(REAL *out, const REAL *inp, size_t n);
void KERNEL(gelu_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n);
/* explanation mode, gate held constant: dinp += dout * sigmoid(1.702 inp) or dout * Phi(inp) */
void KERNEL(quickgelu_explain_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n);
void KERNEL(gelu_explain_backward)(REAL *dinp, const REAL *inp, const REAL *dout, size_t n);

/* out[B,T,C] = table[ids[b,t], :] + pos[t, :] */
void KERNEL(embedding_forward)(REAL *out, const int *ids, const REAL *table, const REAL *pos, int B, int T, int C);
void KERNEL(embedding_backward)(REAL *dtable, REAL *dpos, const REAL *dout, const int *ids, int B, int T, int C);

/* out[n] = a[n] + b[n] */
void KERNEL(residual_forward)(REAL *out, const REAL *a, const REAL *b, size_t n);
void KERNEL(residual_backward)(REAL *da, REAL *db, const REAL *dout, size_t n);
void KERNEL(bias_add_forward)(REAL *out, const REAL *bias, REAL scale, int N, int C);
void KERNEL(bias_add_backward)(REAL *dbias, const REAL *dout, REAL scale, int N, int C);

/* img[B,Cin,H,W] -> out[B,(H/P)*(W/P),Cin*P*P], each patch flattened as (c, ky, kx) */
void KERNEL(patchify_forward)(REAL *out, const REAL *img, int B, int Cin, int H, int W, int P);
void KERNEL(patchify_backward)(REAL *dimg, const REAL *dout, int B, int Cin, int H, int W, int P);

/* out[B,1+NP,C] = [cls; patch_emb[b]] + pos[1+NP,C] */
void KERNEL(vit_embed_forward)(REAL *out, const REAL *patch_emb, const REAL *cls, const REAL *pos, int B, int NP,
                               int C);
void KERNEL(vit_embed_backward)(REAL *dpatch_emb, REAL *dcls, REAL *dpos, const REAL *dout, int B, int NP, int C);

/* out[B,C] = inp[b, rows[b], :] for inp[B,T,C] */
void KERNEL(gather_rows_forward)(REAL *out, const REAL *inp, const int *rows, int B, int T, int C);
void KERNEL(gather_rows_backward)(REAL *dinp, const REAL *dout, const int *rows, int B, int T, int C);

/* B-cos linear unit, no bias: z = inp @ weight^T, norm[n] = ||inp[n]|| + 1e-12,
 * out[N,OC] = (|z|/norm + 1e-6)^(b-1) * z; saves z[N,OC] and norm[N] */
void KERNEL(bcos_linear_forward)(REAL *out, REAL *z, REAL *norm, const REAL *inp, const REAL *weight, int N, int IC,
                                 int OC, REAL b);
/* dinp[N,IC] += exact dL/dinp; dweight[OC,IC] += dL/dweight */
void KERNEL(bcos_linear_backward)(REAL *dinp, REAL *dweight, const REAL *dout, const REAL *inp, const REAL *weight,
                                  const REAL *z, const REAL *norm, int N, int IC, int OC, REAL b);
/* explanation mode, the factor held constant: dinp[N,IC] += (dout * (|z|/norm + 1e-6)^(b-1)) @ weight */
void KERNEL(bcos_linear_explain_backward)(REAL *dinp, const REAL *dout, const REAL *weight, const REAL *z,
                                          const REAL *norm, int N, int IC, int OC, REAL b);

/* B-cos patch unit: stride-P size-P conv of img[B,Cin,H,W] with weight[OC,Cin,P,P], no bias, B-cos scaled
 * with norm = sqrt(sum over the window of x^2 + 1e-6); out[B,NP,OC], saves cols[B,NP,Cin*P*P] (patchify),
 * z[B,NP,OC], norm[B*NP] */
void KERNEL(bcos_patch_forward)(REAL *out, REAL *cols, REAL *z, REAL *norm, const REAL *img, const REAL *weight,
                                int B, int Cin, int H, int W, int P, int OC, REAL b);
/* dimg[B,Cin,H,W] += exact dL/dimg; dweight[OC,Cin*P*P] += dL/dweight */
void KERNEL(bcos_patch_backward)(REAL *dimg, REAL *dweight, const REAL *dout, const REAL *cols, const REAL *weight,
                                 const REAL *z, const REAL *norm, int B, int Cin, int H, int W, int P, int OC, REAL b);
/* explanation mode, the factor held constant: dimg[B,Cin,H,W] += dL/dimg */
void KERNEL(bcos_patch_explain_backward)(REAL *dimg, const REAL *dout, const REAL *weight, const REAL *z,
                                         const REAL *norm, int B, int Cin, int H, int W, int P, int OC, REAL b);
