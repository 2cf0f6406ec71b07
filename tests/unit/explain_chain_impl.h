/* One B-cosified ViT block in explanation mode, written once for double and float (template, included by
 * test_explain_chain.c with REAL, OP(name) (the kernel) and CHAIN(name) (the instantiation's name)):
 *     x0 = bcos_patch(img); x1 = x0 + bcos_linear(attention(ln1(x0) @ Wqkv^T));
 *     x2 = x1 + bcos_linear(quickgelu(bcos_linear(ln2(x1))))
 * with LayerNorms without bias, as the student has them (docs/METHOD.md, From a CLIP ViT image tower to the B-cos student). */

typedef struct {
    REAL patch[CH_C * CH_K], ln1[CH_C], qkv[3 * CH_C * CH_C], out[CH_C * CH_C], ln2[CH_C], fc[CH_HID * CH_C];
    REAL proj[CH_C * CH_HID];
} CHAIN(weights);

/* The forward's activations and saved statistics; the backward keeps its gradients in one as well. */
typedef struct {
    REAL cols[CH_ROWS * CH_K], x0[CH_ROWS * CH_C], x0_z[CH_ROWS * CH_C], x0_norm[CH_ROWS];
    REAL h1[CH_ROWS * CH_C], mean1[CH_ROWS], rstd1[CH_ROWS], qkv[CH_ROWS * 3 * CH_C], att[CH_ATT];
    REAL a[CH_ROWS * CH_C], o[CH_ROWS * CH_C], o_z[CH_ROWS * CH_C], o_norm[CH_ROWS], x1[CH_ROWS * CH_C];
    REAL h2[CH_ROWS * CH_C], mean2[CH_ROWS], rstd2[CH_ROWS];
    REAL f[CH_ROWS * CH_HID], f_z[CH_ROWS * CH_HID], f_norm[CH_ROWS], f2[CH_ROWS * CH_HID];
    REAL m[CH_ROWS * CH_C], m_z[CH_ROWS * CH_C], m_norm[CH_ROWS], x2[CH_ROWS * CH_C];
} CHAIN(acts);

static void CHAIN(chain_forward)(CHAIN(acts) *a, const REAL *img, const CHAIN(weights) *w, REAL b) {
    OP(bcos_patch_forward)(a->x0, a->cols, a->x0_z, a->x0_norm, img, w->patch, CH_B, CH_CIN, CH_H, CH_W, CH_P, CH_C,
                           b);
    OP(layernorm_forward)(a->h1, a->mean1, a->rstd1, a->x0, w->ln1, NULL, CH_ROWS, CH_C, (REAL)CH_LN_EPS);
    OP(matmul_forward)(a->qkv, a->h1, w->qkv, NULL, CH_ROWS, CH_C, 3 * CH_C);
    OP(attention_forward)(a->a, a->att, a->qkv, CH_B, CH_T, CH_C, CH_NH, 0);
    OP(bcos_linear_forward)(a->o, a->o_z, a->o_norm, a->a, w->out, CH_ROWS, CH_C, CH_C, b);
    OP(residual_forward)(a->x1, a->x0, a->o, CH_ROWS * CH_C);
    OP(layernorm_forward)(a->h2, a->mean2, a->rstd2, a->x1, w->ln2, NULL, CH_ROWS, CH_C, (REAL)CH_LN_EPS);
    OP(bcos_linear_forward)(a->f, a->f_z, a->f_norm, a->h2, w->fc, CH_ROWS, CH_C, CH_HID, b);
    OP(quickgelu_forward)(a->f2, a->f, CH_ROWS * CH_HID);
    OP(bcos_linear_forward)(a->m, a->m_z, a->m_norm, a->f2, w->proj, CH_ROWS, CH_HID, CH_C, b);
    OP(residual_forward)(a->x2, a->x1, a->m, CH_ROWS * CH_C);
}

/* dimg += the explanation-mode gradient of sum(dx2 * x2), after chain_forward. */
static void CHAIN(chain_explain_backward)(REAL *dimg, const CHAIN(acts) *a, const CHAIN(weights) *w, const REAL *dx2,
                                          REAL b) {
    CHAIN(acts) *d = xcalloc(1, sizeof *d);
    OP(residual_backward)(d->x1, d->m, dx2, CH_ROWS * CH_C);
    OP(bcos_linear_explain_backward)(d->f2, d->m, w->proj, a->m_z, a->m_norm, CH_ROWS, CH_HID, CH_C, b);
    OP(quickgelu_explain_backward)(d->f, a->f, d->f2, CH_ROWS * CH_HID);
    OP(bcos_linear_explain_backward)(d->h2, d->f, w->fc, a->f_z, a->f_norm, CH_ROWS, CH_C, CH_HID, b);
    OP(layernorm_explain_backward)(d->x1, d->h2, w->ln2, a->rstd2, CH_ROWS, CH_C);
    OP(residual_backward)(d->x0, d->o, d->x1, CH_ROWS * CH_C);
    OP(bcos_linear_explain_backward)(d->a, d->o, w->out, a->o_z, a->o_norm, CH_ROWS, CH_C, CH_C, b);
    OP(attention_explain_backward)(d->qkv, d->a, a->att, CH_B, CH_T, CH_C, CH_NH);
    OP(matmul_backward)(d->h1, NULL, NULL, d->qkv, a->h1, w->qkv, CH_ROWS, CH_C, 3 * CH_C);
    OP(layernorm_explain_backward)(d->x0, d->h1, w->ln1, a->rstd1, CH_ROWS, CH_C);
    OP(bcos_patch_explain_backward)(dimg, d->x0, w->patch, a->x0_z, a->x0_norm, CH_B, CH_CIN, CH_H, CH_W, CH_P, CH_C,
                                    b);
    free(d);
}
