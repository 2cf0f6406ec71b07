/* The B-cos patch unit (written with REAL, see kernels_impl.h), the student's conv1 (docs/METHOD.md,
 * "The B-cos unit"): a stride-P, size-P convolution without bias on img[B,Cin,H,W] (Cin = 6 for
 * x6 = [u, 1-u]) whose output is B-cos scaled with the norm of each patch window, sqrt(sum x^2 + 1e-6).
 * It is patchify followed by the B-cos unit of bcos_unit_impl.h on the patch rows, with the window norm. */

/* The unit's rows: one per patch, Cin*P*P wide. */
static void bcos_patch_rows(int *rows, int *width, int B, int Cin, int H, int W, int P) {
    *rows = B * (H / P) * (W / P);
    *width = Cin * P * P;
}

static void bcos_patch_forward(REAL *out, REAL *cols, REAL *z, REAL *norm, const REAL *img, const REAL *weight, int B,
                               int Cin, int H, int W, int P, int OC, REAL b) {
    int rows, width;
    bcos_patch_rows(&rows, &width, B, Cin, H, W, P);
    patchify_forward(cols, img, B, Cin, H, W, P);
    bcos_unit_forward(out, z, norm, cols, weight, rows, width, OC, b, BCOS_NORM_WINDOW);
}

static void bcos_patch_backward(REAL *dimg, REAL *dweight, const REAL *dout, const REAL *cols, const REAL *weight,
                                const REAL *z, const REAL *norm, int B, int Cin, int H, int W, int P, int OC, REAL b) {
    int rows, width;
    bcos_patch_rows(&rows, &width, B, Cin, H, W, P);
    REAL *dcols = dimg ? xcalloc((size_t)rows * width, sizeof(REAL)) : NULL;
    bcos_unit_backward(dcols, dweight, dout, cols, weight, z, norm, rows, width, OC, b, BCOS_NORM_WINDOW);
    patchify_backward(dimg, dcols, B, Cin, H, W, P);
    free(dcols);
}

static void bcos_patch_explain_backward(REAL *dimg, const REAL *dout, const REAL *weight, const REAL *z,
                                        const REAL *norm, int B, int Cin, int H, int W, int P, int OC, REAL b) {
    if (!dimg) return;
    int rows, width;
    bcos_patch_rows(&rows, &width, B, Cin, H, W, P);
    REAL *dcols = xcalloc((size_t)rows * width, sizeof(REAL));
    bcos_linear_explain_backward(dcols, dout, weight, z, norm, rows, width, OC, b);
    patchify_backward(dimg, dcols, B, Cin, H, W, P);
    free(dcols);
}
