/* Linear layer (written with REAL, see kernels_impl.h): out = inp @ weight^T + bias with PyTorch's
 * weight[OC, IC] layout, and its backward. Each of the three products is a single GEMM. */

static void matmul_forward(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias, int N, int IC,
                           int OC) {
    REAL beta = 0;
    if (bias) {
        /* Start every row at the bias and let the GEMM add the product onto it. */
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(REAL));
        beta = 1;
    }
    GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1, inp, IC, weight, IC, beta, out, OC);
}

static void matmul_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                            const REAL *weight, int N, int IC, int OC) {
    if (dinp) GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1, dout, OC, weight, IC, 1, dinp, IC);
    if (dweight) GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1, dout, OC, inp, IC, 1, dweight, IC);
    if (dbias) {
        for (int n = 0; n < N; n++) {
            const REAL *row = dout + (size_t)n * OC;
            for (int o = 0; o < OC; o++) dbias[o] += row[o];
        }
    }
}
