/* Gradient clipping: by global norm, and adaptive (unit-wise, relative to the weights' norm). */
#include <math.h>

#include "bcos/train.h"

double bcos_grad_norm(const float *g, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    return sqrt(ss);
}

double bcos_clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = bcos_grad_norm(g, n);
    double coeff = max_norm / (norm + 1e-6); /* torch's clip_grad_norm_ adds 1e-6 */
    if (coeff < 1)
        for (size_t i = 0; i < n; i++) g[i] = (float)(g[i] * coeff);
    return norm;
}

void bcos_adaptive_clip_grad(float *grads, const bcos_params *p, double clip, double eps) {
    for (int i = 0; i < p->count; i++) {
        const bcos_param *t = &p->items[i];
        size_t units = t->ndim >= 2 ? (size_t)t->shape[0] : 1, width = t->numel / units;
        for (size_t u = 0; u < units; u++) {
            const float *w = p->data + t->offset + u * width;
            float *g = grads + t->offset + u * width;
            double wn = bcos_grad_norm(w, width), gn = bcos_grad_norm(g, width);
            double bound = clip * (wn > eps ? wn : eps);
            if (gn > bound)
                for (size_t k = 0; k < width; k++) g[k] = (float)(g[k] * (bound / (gn > 1e-6 ? gn : 1e-6)));
        }
    }
}

int bcos_all_finite(const float *x, size_t n) { return bcos_first_nonfinite(x, n) < 0; }
