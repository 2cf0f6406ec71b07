/* The per-step learning rate: linear warmup, then cosine decay. */
#include <math.h>

#include "bcos/train.h"

double bcos_lr_at(int64_t step, int64_t warmup, int64_t total, double base_lr, double min_lr) {
    if (warmup > 0 && step < warmup) return base_lr * (double)(step + 1) / (double)warmup;
    if (total <= warmup) return base_lr;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    if (progress > 1) progress = 1;
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + cos(M_PI * progress));
}
