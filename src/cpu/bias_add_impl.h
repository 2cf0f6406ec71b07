/* A scaled bias added to every row (written with REAL, see kernels_impl.h): the student's kept biases
 * are added after its B-cos units and decayed through the scale. */

static void bias_add_forward(REAL *out, const REAL *bias, REAL scale, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] += scale * bias[c];
}

static void bias_add_backward(REAL *dbias, const REAL *dout, REAL scale, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) dbias[c] += scale * dout[(size_t)n * C + c];
}
