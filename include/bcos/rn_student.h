/* The B-cos ResNet student (docs/METHOD.md, "The ResNet student"): the bcos_student of a config whose
 * image tower is open_clip's ModifiedResNet. Its input is x6 = [u, 1-u]; the stem's first convolution
 * takes it with CLIP's normalisation folded into its weights; every convolution is a B-cos convolution
 * (the norm of its input window); BatchNorm is uncentered (gamma x / sqrt(var + eps)), from the batch in
 * training (bcos_student.training) and from the running variance otherwise; ReLUs and average pools
 * stay; the attention pool is the B-cos pool (no positional embedding, q from the mean token, k and v
 * from every token, c_proj plain or a B-cos unit). Biases (BatchNorm betas, with the running mean folded
 * in, and the pool's q/k/v/c_proj biases) are removed, or kept and decayed on the ViT student's schedule.
 * The running variances are buffers beside the parameters: saved with them, never given to the
 * optimiser. bcos_student_init, _from_clip, _forward, _backward and _explain take either kind; this
 * header adds what only a ResNet student has. */
#ifndef BCOS_RN_STUDENT_H
#define BCOS_RN_STUDENT_H

#include <stddef.h>

#include "bcos/student.h"

/* The teacher's tensor called name (open_clip's visual.* names, BatchNorm running_mean and running_var
 * included) with numel floats, or NULL when it has none. */
typedef const float *(*bcos_rn_teacher_lookup)(void *ctx, const char *name, size_t numel);
/* B-cosify a ResNet teacher given by its tensors: copy them into s (folding CLIP's mean/std into the
 * stem's six-channel conv1, and each BatchNorm's running mean into its kept bias: beta - gamma mean /
 * sqrt(var + eps)). Returns 0, or -1 with err naming the tensor the teacher lacks. */
int bcos_rn_student_from_teacher(bcos_student *s, bcos_rn_teacher_lookup find, void *ctx, char *err, size_t errlen);

/* The sum over the ranks of n floats in place (bcos_world_sum_f32) and the number of ranks, for a
 * ResNet student's global batch statistics in training; without it (or with per_rank_bn) each rank
 * uses its own images' statistics. Nothing to do for a ViT student. */
void bcos_student_acts_set_reduce(bcos_student_acts *a, void (*sum)(float *x, size_t n), int ranks);

#endif
