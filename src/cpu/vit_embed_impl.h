/* ViT token assembly (written with REAL, see kernels_impl.h): the class token in front of the patch
 * embeddings, plus the positional embedding. */

static void vit_embed_forward(REAL *out, const REAL *patch_emb, const REAL *cls, const REAL *pos, int B, int NP,
                              int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= NP; t++) {
            REAL *o = out + ((size_t)b * (NP + 1) + t) * C;
            const REAL *x = t == 0 ? cls : patch_emb + ((size_t)b * NP + t - 1) * C;
            const REAL *p = pos + (size_t)t * C;
            for (int c = 0; c < C; c++) o[c] = x[c] + p[c];
        }
    }
}

static void vit_embed_backward(REAL *dpatch_emb, REAL *dcls, REAL *dpos, const REAL *dout, int B, int NP, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= NP; t++) {
            const REAL *d = dout + ((size_t)b * (NP + 1) + t) * C;
            REAL *dx = NULL;
            if (t == 0)
                dx = dcls;
            else if (dpatch_emb)
                dx = dpatch_emb + ((size_t)b * NP + t - 1) * C;
            if (dx)
                for (int c = 0; c < C; c++) dx[c] += d[c];
            if (dpos)
                for (int c = 0; c < C; c++) dpos[(size_t)t * C + c] += d[c];
        }
    }
}
