/* Residual addition (written with REAL, see kernels_impl.h). */

static void residual_forward(REAL *out, const REAL *a, const REAL *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void residual_backward(REAL *da, REAL *db, const REAL *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}
