/* Residual addition (written with REAL, see kernels_impl.h). */

static void residual_forward_range(void *ctx, size_t begin, size_t end) {
    const elementwise_args *a = ctx;
    for (size_t i = begin; i < end; i++) a->out[i] = a->a[i] + a->b[i];
}

static void residual_forward(REAL *out, const REAL *a, const REAL *b, size_t n) {
    elementwise_args args = {out, a, b};
    cpu_parallel_for(n, ELEMENTWISE_GRAIN, residual_forward_range, &args);
}

static void residual_backward(REAL *da, REAL *db, const REAL *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}
