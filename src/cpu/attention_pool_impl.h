/* The pieces of CLIP's ResNet attention pool (written with REAL, see kernels_impl.h): the feature map
 * as tokens with its mean in front, and multi-head attention of one query per image over those
 * tokens. The projections around them are matmuls. Explanation mode (docs/METHOD.md, "Explanation
 * mode and completeness") holds the attention weights constant: only v carries gradient. */

/* out[B,1+HW,C]: token 0 = the mean over the map inp[B,C,HW], token 1+i = pixel i; plus pos[1+HW,C]
 * when pos is given. */
static void map_tokens_forward(REAL *out, const REAL *inp, const REAL *pos, int B, int C, int HW) {
    int T = HW + 1;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW;
            REAL *o = out + (size_t)b * T * C + c;
            REAL sum = 0;
            for (int i = 0; i < HW; i++) {
                sum += x[i];
                o[(size_t)(i + 1) * C] = x[i] + (pos ? pos[(size_t)(i + 1) * C + c] : 0);
            }
            o[0] = sum / (REAL)HW + (pos ? pos[c] : 0);
        }
}

static void map_tokens_backward(REAL *dinp, REAL *dpos, const REAL *dout, int B, int C, int HW) {
    int T = HW + 1;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            const REAL *d = dout + (size_t)b * T * C + c;
            if (dpos)
                for (int t = 0; t < T; t++) dpos[(size_t)t * C + c] += d[(size_t)t * C];
            if (!dinp) continue;
            REAL *dx = dinp + ((size_t)b * C + c) * HW, dmean = d[0] / (REAL)HW;
            for (int i = 0; i < HW; i++) dx[i] += d[(size_t)(i + 1) * C] + dmean;
        }
}

static void query_attention_forward(REAL *out, REAL *att, const REAL *q, const REAL *k, const REAL *v, int B, int T,
                                    int C, int NH) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t col = (size_t)h * hd;
            const REAL *qh = q + (size_t)b * C + col;
            REAL *a = att + ((size_t)b * NH + h) * T, *o = out + (size_t)b * C + col;
            for (int t = 0; t < T; t++) {
                const REAL *kt = k + ((size_t)b * T + t) * C + col;
                REAL dot = 0;
                for (int i = 0; i < hd; i++) dot += qh[i] * kt[i];
                a[t] = dot * scale;
            }
            softmax_row(a, T, T);
            for (int i = 0; i < hd; i++) o[i] = 0;
            for (int t = 0; t < T; t++) {
                const REAL *vt = v + ((size_t)b * T + t) * C + col;
                for (int i = 0; i < hd; i++) o[i] += a[t] * vt[i];
            }
        }
}

/* dv[b,t] += att[b,h,t] * dout[b] per head: the gradient through the values. */
static void query_attention_value_backward(REAL *dv, const REAL *dout, const REAL *att, int B, int T, int C, int NH) {
    if (!dv) return;
    int hd = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t col = (size_t)h * hd;
            const REAL *a = att + ((size_t)b * NH + h) * T, *d = dout + (size_t)b * C + col;
            for (int t = 0; t < T; t++) {
                REAL *dvt = dv + ((size_t)b * T + t) * C + col;
                for (int i = 0; i < hd; i++) dvt[i] += a[t] * d[i];
            }
        }
}

static void query_attention_backward(REAL *dq, REAL *dk, REAL *dv, const REAL *dout, const REAL *q, const REAL *k,
                                     const REAL *v, const REAL *att, int B, int T, int C, int NH) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    query_attention_value_backward(dv, dout, att, B, T, C, NH);
    if (!dq && !dk) return;
    REAL *dscore = xmalloc((size_t)T * sizeof(REAL));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            size_t col = (size_t)h * hd;
            const REAL *a = att + ((size_t)b * NH + h) * T, *d = dout + (size_t)b * C + col;
            const REAL *qh = q + (size_t)b * C + col;
            /* datt[t] = dout . v[t], then the softmax's backward: dscore = att * (datt - att . datt) */
            REAL dot = 0;
            for (int t = 0; t < T; t++) {
                const REAL *vt = v + ((size_t)b * T + t) * C + col;
                REAL s = 0;
                for (int i = 0; i < hd; i++) s += d[i] * vt[i];
                dscore[t] = s;
                dot += a[t] * s;
            }
            for (int t = 0; t < T; t++) {
                REAL g = a[t] * (dscore[t] - dot) * scale;
                const REAL *kt = k + ((size_t)b * T + t) * C + col;
                if (dq)
                    for (int i = 0; i < hd; i++) dq[(size_t)b * C + col + i] += g * kt[i];
                if (dk)
                    for (int i = 0; i < hd; i++) dk[((size_t)b * T + t) * C + col + i] += g * qh[i];
            }
        }
    free(dscore);
}

static void query_attention_explain_backward(REAL *dv, const REAL *dout, const REAL *att, int B, int T, int C,
                                             int NH) {
    query_attention_value_backward(dv, dout, att, B, T, C, NH);
}
