/* CLIP's input normalisation folded into a first layer that takes x6 = [u, 1 - u] (the ViT student's
 * patch unit, the ResNet student's first convolution): docs/METHOD.md, "From a CLIP ViT image tower
 * to the B-cos student" and "The ResNet student". */
#include <stddef.h>

#include "bcos/student.h"

void bcos_fold_normalisation(float *v, const float *w, int width, int P) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    size_t window = (size_t)P * P;
    for (int o = 0; o < width; o++)
        for (int c = 0; c < 3; c++) {
            const float *wc = w + ((size_t)o * 3 + c) * window;
            float *vu = v + ((size_t)o * 6 + c) * window, *vinv = v + ((size_t)o * 6 + 3 + c) * window;
            for (size_t k = 0; k < window; k++) {
                vu[k] = (float)((double)wc[k] * (1.0 - mean[c]) / std[c]);
                vinv[k] = (float)(-(double)wc[k] * mean[c] / std[c]);
            }
        }
}
