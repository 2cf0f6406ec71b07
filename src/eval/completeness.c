/* The completeness error of an explanation: how far the linear decomposition misses the score. */
#include <math.h>

#include "bcos/eval.h"

double bcos_completeness_error(const float *x6, const float *w6, size_t n, double const_contrib, double score) {
    double sum = const_contrib, abs_sum = fabs(const_contrib);
    for (size_t i = 0; i < n; i++) {
        double term = (double)x6[i] * w6[i];
        sum += term;
        abs_sum += fabs(term);
    }
    return abs_sum > 0 ? fabs(sum - score) / abs_sum : fabs(sum - score);
}
