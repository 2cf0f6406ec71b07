/* The optimiser's pieces, one step's worth: the learning-rate schedule (linear warmup, then cosine
 * decay), gradient clipping (by global norm, and adaptive: unit-wise, relative to the weights' norm)
 * and Adam/AdamW over one flat parameter allocation, with torch.optim's update rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/train.h"

double bcos_lr_at(int64_t step, int64_t warmup, int64_t total, double base_lr, double min_lr) {
    if (warmup > 0 && step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    if (total <= warmup) return base_lr;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    if (progress > 1) progress = 1;
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + cos(M_PI * progress));
}

static double grad_norm(const float *g, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    return sqrt(ss);
}

double bcos_clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = grad_norm(g, n);
    if (max_norm <= 0) return norm;
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
            double wn = grad_norm(w, width), gn = grad_norm(g, width);
            double bound = clip * (wn > eps ? wn : eps);
            if (gn > bound)
                for (size_t k = 0; k < width; k++) g[k] = (float)(g[k] * (bound / (gn > 1e-6 ? gn : 1e-6)));
        }
    }
}

int bcos_all_finite(const float *x, size_t n) { return bcos_first_nonfinite(x, n) < 0; }

void bcos_adam_init(bcos_adam *opt, const bcos_adam_config *cfg, size_t n) {
    memset(opt, 0, sizeof *opt);
    opt->cfg = *cfg;
    opt->n = n;
    opt->m = xcalloc(2 * n, sizeof(float));
    opt->v = opt->m + n;
}

void bcos_adam_exclude_1d_from_decay(bcos_adam *opt, const bcos_params *p) {
    BCOS_CHECK(p->total == opt->n, "the optimiser holds the table's values");
    if (!opt->no_decay) opt->no_decay = xcalloc(opt->n, 1);
    for (int i = 0; i < p->count; i++)
        if (p->items[i].ndim < 2) memset(opt->no_decay + p->items[i].offset, 1, p->items[i].numel);
}

void bcos_adam_step(bcos_adam *opt, float *params, const float *grads, double lr) {
    const bcos_adam_config *c = &opt->cfg;
    opt->step++;
    double bc1 = 1.0 - pow(c->beta1, (double)opt->step), bc2 = 1.0 - pow(c->beta2, (double)opt->step);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2);
    for (size_t i = 0; i < opt->n; i++) {
        double g = grads[i], w = params[i], decay = opt->no_decay && opt->no_decay[i] ? 0.0 : c->weight_decay;
        if (c->decoupled)
            w *= 1.0 - lr * decay;
        else
            g += decay * w;
        double m = c->beta1 * opt->m[i] + (1.0 - c->beta1) * g;
        double v = c->beta2 * opt->v[i] + (1.0 - c->beta2) * g * g;
        opt->m[i] = (float)m;
        opt->v[i] = (float)v;
        params[i] = (float)(w - step_size * m / (sqrt(v) / bc2_sqrt + c->eps));
    }
}

void bcos_adam_free(bcos_adam *opt) {
    free(opt->m);
    free(opt->no_decay);
    memset(opt, 0, sizeof *opt);
}
