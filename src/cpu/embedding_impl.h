/* Token plus positional embedding of the text tower (written with REAL, see kernels_impl.h). */

static void embedding_forward(REAL *out, const int *ids, const REAL *table, const REAL *pos, int B, int T,
                              int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            REAL *o = out + ((size_t)b * T + t) * C;
            const REAL *e = table + (size_t)ids[b * T + t] * C;
            const REAL *p = pos + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        }
    }
}

static void embedding_backward(REAL *dtable, REAL *dpos, const REAL *dout, const int *ids, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const REAL *d = dout + ((size_t)b * T + t) * C;
            if (dtable) {
                REAL *de = dtable + (size_t)ids[b * T + t] * C;
                for (int c = 0; c < C; c++) de[c] += d[c];
            }
            if (dpos) {
                REAL *dp = dpos + (size_t)t * C;
                for (int c = 0; c < C; c++) dp[c] += d[c];
            }
        }
    }
}
