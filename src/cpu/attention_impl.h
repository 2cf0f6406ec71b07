/* Multi-head softmax attention (written with REAL, see kernels_impl.h), as torch.nn.MultiheadAttention
 * computes it for open_clip: scores q.k / sqrt(head_dim), keys after the query masked when causal,
 * softmax over keys, weighted sum of values. Each (batch, head) is a handful of GEMMs on strided views
 * of qkv[B,T,3C]: head h of q, k, v starts at columns h*hd, C + h*hd, 2C + h*hd, row stride 3C.
 * Explanation mode (docs/METHOD.md, "Explanation mode and completeness") holds the attention matrix
 * constant: only v carries gradient. The forward's heads go over threads, each head's GEMMs on one. */

/* Softmax in place over the first n_keys entries of a score row; the masked rest becomes 0. */
static void softmax_row(REAL *row, int n_keys, int T) {
    REAL max = row[0];
    for (int j = 1; j < n_keys; j++) max = row[j] > max ? row[j] : max;
    REAL sum = 0;
    for (int j = 0; j < n_keys; j++) {
        row[j] = exp(row[j] - max);
        sum += row[j];
    }
    for (int j = 0; j < n_keys; j++) row[j] /= sum;
    for (int j = n_keys; j < T; j++) row[j] = 0;
}

/* One head: att[T,T] = softmax(scale * q k^T), out[T,hd] = att @ v; q, k, v rows are ld_qkv apart,
 * out rows ld_out apart. */
static void attention_head_forward(REAL *out, REAL *att, const REAL *q, const REAL *k, const REAL *v, int T,
                                   int hd, int ld_qkv, int ld_out, REAL scale, int causal) {
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld_qkv, k, ld_qkv, 0, att, T);
    for (int t = 0; t < T; t++) softmax_row(att + (size_t)t * T, causal ? t + 1 : T, T);
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1, att, T, v, ld_qkv, 0, out, ld_out);
}

/* dv += att^T @ dout for one head: the gradient through the values, the only one of explanation mode. */
static void attention_head_value_backward(REAL *dv, const REAL *dout, const REAL *att, int T, int hd, int ld_qkv,
                                          int ld_out) {
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1, att, T, dout, ld_out, 1, dv, ld_qkv);
}

/* One head's backward; dscores[T,T] is scratch. Masked probabilities are 0, so their scores get no
 * gradient without looking at the mask again. */
static void attention_head_backward(REAL *dq, REAL *dk, REAL *dv, REAL *dscores, const REAL *dout, const REAL *q,
                                    const REAL *k, const REAL *v, const REAL *att, int T, int hd, int ld_qkv,
                                    int ld_out, REAL scale) {
    /* datt = dout @ v^T, then dv += att^T @ dout */
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1, dout, ld_out, v, ld_qkv, 0, dscores, T);
    attention_head_value_backward(dv, dout, att, T, hd, ld_qkv, ld_out);
    /* Softmax backward, row by row: dscore_j = att_j * (datt_j - sum_i att_i * datt_i) */
    for (int t = 0; t < T; t++) {
        const REAL *p = att + (size_t)t * T;
        REAL *d = dscores + (size_t)t * T;
        REAL dot = 0;
        for (int j = 0; j < T; j++) dot += p[j] * d[j];
        for (int j = 0; j < T; j++) d[j] = p[j] * (d[j] - dot);
    }
    /* dq += scale * dscores @ k, dk += scale * dscores^T @ q */
    GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dscores, T, k, ld_qkv, 1, dq, ld_qkv);
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dscores, T, q, ld_qkv, 1, dk, ld_qkv);
}

typedef struct {
    REAL *out, *att;
    const REAL *qkv;
    int T, C, NH, causal;
} attention_heads;

/* Heads [begin, end) of the B * NH, numbered b * NH + h. */
static void attention_forward_heads(void *ctx, size_t begin, size_t end) {
    const attention_heads *a = ctx;
    int T = a->T, C = a->C, NH = a->NH, hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    for (size_t i = begin; i < end; i++) {
        size_t b = i / (size_t)NH, h = i % (size_t)NH;
        const REAL *q = a->qkv + b * T * 3 * C + h * hd;
        attention_head_forward(a->out + b * T * C + h * hd, a->att + i * T * T, q, q + C, q + 2 * C, T, hd, 3 * C, C,
                               scale, a->causal);
    }
}

static void attention_forward(REAL *out, REAL *att, const REAL *qkv, int B, int T, int C, int NH, int causal) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    attention_heads a = {out, att, qkv, T, C, NH, causal};
    cpu_parallel_for((size_t)B * NH, 1, attention_forward_heads, &a);
}

static void attention_backward(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att, int B, int T,
                               int C, int NH) {
    if (!dqkv) return;
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    REAL *dscores = xmalloc((size_t)T * T * sizeof(REAL));
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t head = (size_t)b * T * 3 * C + (size_t)h * hd;
            REAL *dq = dqkv + head;
            const REAL *q = qkv + head;
            attention_head_backward(dq, dq + C, dq + 2 * C, dscores, dout + (size_t)b * T * C + (size_t)h * hd, q,
                                    q + C, q + 2 * C, att + ((size_t)b * NH + h) * T * T, T, hd, 3 * C, C, scale);
        }
    }
    free(dscores);
}

/* Explanation mode: with att constant, out = att @ v per head, so dv += att^T @ dout; q and k get no
 * gradient (their columns of dqkv are left as they are). */
static void attention_explain_backward(REAL *dqkv, const REAL *dout, const REAL *att, int B, int T, int C, int NH) {
    if (!dqkv) return;
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            REAL *dv = dqkv + (size_t)b * T * 3 * C + 2 * (size_t)C + (size_t)h * hd;
            attention_head_value_backward(dv, dout + (size_t)b * T * C + (size_t)h * hd,
                                          att + ((size_t)b * NH + h) * T * T, T, hd, 3 * C, C);
        }
    }
}
