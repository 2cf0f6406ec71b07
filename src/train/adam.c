/* Adam and AdamW over one flat parameter allocation, with torch.optim's update rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/train.h"

void bcos_adam_init(bcos_adam *opt, const bcos_adam_config *cfg, size_t n) {
    memset(opt, 0, sizeof *opt);
    opt->cfg = *cfg;
    opt->n = n;
    opt->m = xcalloc(2 * n, sizeof(float));
    opt->v = opt->m + n;
}

void bcos_adam_step(bcos_adam *opt, float *params, const float *grads, double lr) {
    const bcos_adam_config *c = &opt->cfg;
    opt->step++;
    double bc1 = 1.0 - pow(c->beta1, (double)opt->step), bc2 = 1.0 - pow(c->beta2, (double)opt->step);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2);
    for (size_t i = 0; i < opt->n; i++) {
        double g = grads[i], w = params[i];
        if (c->decoupled)
            w *= 1.0 - lr * c->weight_decay;
        else
            g += c->weight_decay * w;
        double m = c->beta1 * opt->m[i] + (1.0 - c->beta1) * g;
        double v = c->beta2 * opt->v[i] + (1.0 - c->beta2) * g * g;
        opt->m[i] = (float)m;
        opt->v[i] = (float)v;
        params[i] = (float)(w - step_size * m / (sqrt(v) / bc2_sqrt + c->eps));
    }
}

void bcos_adam_free(bcos_adam *opt) {
    free(opt->m);
    memset(opt, 0, sizeof *opt);
}
