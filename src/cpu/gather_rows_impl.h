/* One row per sequence (written with REAL, see kernels_impl.h): the class token of the image tower, the
 * end-of-text token of the text tower. */

static void gather_rows_forward(REAL *out, const REAL *inp, const int *rows, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        BCOS_CHECK(rows[b] >= 0 && rows[b] < T, "the gathered row must lie inside the sequence");
        memcpy(out + (size_t)b * C, inp + ((size_t)b * T + rows[b]) * C, (size_t)C * sizeof(REAL));
    }
}

static void gather_rows_backward(REAL *dinp, const REAL *dout, const int *rows, int B, int T, int C) {
    if (!dinp) return;
    for (int b = 0; b < B; b++) {
        BCOS_CHECK(rows[b] >= 0 && rows[b] < T, "the gathered row must lie inside the sequence");
        REAL *d = dinp + ((size_t)b * T + rows[b]) * C;
        for (int c = 0; c < C; c++) d[c] += dout[(size_t)b * C + c];
    }
}
