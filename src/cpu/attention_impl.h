/* Multi-head softmax attention (written with REAL, see kernels_impl.h), as torch.nn.MultiheadAttention
 * computes it for open_clip: scores q.k / sqrt(head_dim), keys after the query masked when causal,
 * softmax over keys, weighted sum of values. Each (batch, head) is a handful of GEMMs on strided views
 * of qkv[B,T,3C]: head h of q, k, v starts at columns h*hd, C + h*hd, 2C + h*hd, row stride 3C.
 * Explanation mode (docs/METHOD.md, "Explanation mode and completeness") holds the attention matrix
 * constant: only v carries gradient. */

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

/* dv += att^T @ dout for one head: the gradient through the values, the only one of explanation mode. */
static void attention_head_value_backward(REAL *dv, const REAL *dout, const REAL *att, int T, int hd, int ld_qkv,
                                          int ld_out) {
    GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1, att, T, dout, ld_out, 1, dv, ld_qkv);
}

/* Softmax backward rows [begin, end) of one image's NH * T rows: dscore_j = att_j * (datt_j - sum_i att_i
 * datt_i), in place over datt. Masked probabilities are 0, so their scores get no gradient without
 * looking at the mask again. */
typedef struct {
    REAL *dscores;
    const REAL *att;
    int T;
} softmax_backward_rows;

static void softmax_backward_range(void *ctx, size_t begin, size_t end) {
    const softmax_backward_rows *a = ctx;
    for (size_t r = begin; r < end; r++) {
        const REAL *p = a->att + r * a->T;
        REAL *d = a->dscores + r * a->T;
        REAL dot = 0;
        for (int j = 0; j < a->T; j++) dot += p[j] * d[j];
        for (int j = 0; j < a->T; j++) d[j] = p[j] * (d[j] - dot);
    }
}

/* Softmax rows [begin, end) of one image's NH * T score rows (row h * T + t). */
typedef struct {
    REAL *att;
    int T, causal;
} softmax_rows;

static void softmax_rows_range(void *ctx, size_t begin, size_t end) {
    const softmax_rows *a = ctx;
    for (size_t r = begin; r < end; r++) {
        int t = (int)(r % (size_t)a->T);
        softmax_row(a->att + r * a->T, a->causal ? t + 1 : a->T, a->T);
    }
}

/* Per image: every head's scores, their softmax rows over the threads, then every head's weighted sum.
 * The GEMMs run one at a time from this thread, so that OpenBLAS spreads each over its own threads
 * (GEMMs called from several threads at once queue for OpenBLAS's workers and spin). */
static void attention_forward(REAL *out, REAL *att, const REAL *qkv, int B, int T, int C, int NH, int causal) {
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    size_t TT = (size_t)T * T;
    for (int b = 0; b < B; b++) {
        REAL *ab = att + (size_t)b * NH * TT;
        const REAL *x = qkv + (size_t)b * T * 3 * C;
        for (int h = 0; h < NH; h++)
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, x + h * hd, 3 * C, x + C + h * hd, 3 * C, 0,
                 ab + h * TT, T);
        softmax_rows rows = {ab, T, causal};
        cpu_parallel_for((size_t)NH * T, 1 + ELEMENTWISE_GRAIN / (size_t)T, softmax_rows_range, &rows);
        for (int h = 0; h < NH; h++)
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1, ab + h * TT, T, x + 2 * C + h * hd, 3 * C, 0,
                 out + (size_t)b * T * C + h * hd, C);
    }
}

/* Per image, as the forward: each head's GEMMs one at a time from this thread, the softmax backward of
 * all its heads' rows over the threads; dscores [NH, T, T] is scratch. */
static void attention_backward(REAL *dqkv, const REAL *dout, const REAL *qkv, const REAL *att, int B, int T,
                               int C, int NH) {
    if (!dqkv) return;
    BCOS_CHECK(NH > 0 && C % NH == 0, "the width must be a multiple of the number of heads");
    int hd = C / NH;
    REAL scale = 1 / sqrt((REAL)hd);
    size_t TT = (size_t)T * T;
    REAL *dscores = xmalloc((size_t)NH * TT * sizeof(REAL));
    for (int b = 0; b < B; b++) {
        const REAL *x = qkv + (size_t)b * T * 3 * C, *ab = att + (size_t)b * NH * TT, *db = dout + (size_t)b * T * C;
        REAL *dx = dqkv + (size_t)b * T * 3 * C;
        /* datt = dout @ v^T, then dv += att^T @ dout */
        for (int h = 0; h < NH; h++) {
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1, db + h * hd, C, x + 2 * C + h * hd, 3 * C, 0,
                 dscores + h * TT, T);
            attention_head_value_backward(dx + 2 * C + h * hd, db + h * hd, ab + h * TT, T, hd, 3 * C, C);
        }
        softmax_backward_rows rows = {dscores, ab, T};
        cpu_parallel_for((size_t)NH * T, 1 + ELEMENTWISE_GRAIN / (size_t)T, softmax_backward_range, &rows);
        /* dq += scale * dscores @ k, dk += scale * dscores^T @ q */
        for (int h = 0; h < NH; h++) {
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dscores + h * TT, T, x + C + h * hd, 3 * C,
                 1, dx + h * hd, 3 * C);
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dscores + h * TT, T, x + h * hd, 3 * C, 1,
                 dx + C + h * hd, 3 * C);
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
