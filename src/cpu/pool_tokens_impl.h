/* The attention pool's tokens (written with REAL, see kernels_impl.h): a map inp[B,C,HW] becomes
 * out[B,1+HW,C], the mean over the positions first, then each position's features (NCHW to tokens), plus a
 * positional embedding pos[1+HW,C] when one is given (CLIP's pool; the B-cos student's has none). */

static void pool_tokens_forward(REAL *out, const REAL *inp, const REAL *pos, int B, int C, int HW) {
    int T = HW + 1;
    for (int b = 0; b < B; b++) {
        REAL *o = out + (size_t)b * T * C;
        for (int c = 0; c < C; c++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW;
            REAL sum = 0;
            for (int p = 0; p < HW; p++) {
                o[(size_t)(p + 1) * C + c] = x[p];
                sum += x[p];
            }
            o[c] = sum / HW;
        }
        if (pos)
            for (size_t i = 0; i < (size_t)T * C; i++) o[i] += pos[i];
    }
}

static void pool_tokens_backward(REAL *dinp, REAL *dpos, const REAL *dout, int B, int C, int HW) {
    int T = HW + 1;
    for (int b = 0; b < B; b++) {
        const REAL *d = dout + (size_t)b * T * C;
        if (dinp)
            for (int c = 0; c < C; c++) {
                REAL *dx = dinp + ((size_t)b * C + c) * HW, share = d[c] / HW;
                for (int p = 0; p < HW; p++) dx[p] += d[(size_t)(p + 1) * C + c] + share;
            }
        if (dpos)
            for (size_t i = 0; i < (size_t)T * C; i++) dpos[i] += d[i];
    }
}
