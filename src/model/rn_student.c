/* The B-cos ResNet student's parameter table and its B-cosification from a CLIP ModifiedResNet teacher
 * (weights copied; CLIP's normalisation folded into the stem's six-channel conv1; each BatchNorm's
 * running mean folded into its kept bias). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/rn_student.h"
#include "rn_internal.h"

static int declare(bcos_params *p, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    return bcos_params_declare(p, name, ndim, shape);
}

/* A bias, or -1 when biases are removed. */
static int declare_bias(bcos_student *s, const char *name, int64_t n) {
    return s->opt.keep_biases ? declare(&s->params, name, 1, n, 0, 0, 0) : -1;
}

/* The convolution "<prefix><conv>.weight" and its BatchNorm "<prefix><bn>.*". */
static bcos_rn_conv declare_conv(bcos_student *s, const char *prefix, const char *conv, const char *bn, int cin, int oc,
                                 int k, int stride, int pad) {
    char name[160];
    bcos_rn_conv c = {.cin = cin, .oc = oc, .k = k, .stride = stride, .pad = pad};
    snprintf(name, sizeof name, "%s%s.weight", prefix, conv);
    c.weight = declare(&s->params, name, 4, oc, cin, k, k);
    snprintf(name, sizeof name, "%s%s.weight", prefix, bn);
    c.bn_weight = declare(&s->params, name, 1, oc, 0, 0, 0);
    snprintf(name, sizeof name, "%s%s.bias", prefix, bn);
    c.bn_bias = declare_bias(s, name, oc);
    snprintf(name, sizeof name, "%s%s.running_var", prefix, bn);
    c.running_var = declare(&s->buffers, name, 1, oc, 0, 0, 0);
    return c;
}

/* open_clip's Bottleneck: 1x1, 3x3, the stride's average pool, 1x1 (x4); a downsample path (average
 * pool, 1x1, BatchNorm) when the stride or the width changes. */
static void declare_block(bcos_student *s, bcos_rn_block *blk, int stage, int index, int inplanes, int planes,
                          int stride) {
    char prefix[96];
    snprintf(prefix, sizeof prefix, "visual.layer%d.%d.", stage + 1, index);
    blk->stride = stride;
    blk->conv1 = declare_conv(s, prefix, "conv1", "bn1", inplanes, planes, 1, 1, 0);
    blk->conv2 = declare_conv(s, prefix, "conv2", "bn2", planes, planes, 3, 1, 1);
    blk->conv3 = declare_conv(s, prefix, "conv3", "bn3", planes, planes * 4, 1, 1, 0);
    blk->down.weight = -1;
    if (stride > 1 || inplanes != planes * 4)
        blk->down = declare_conv(s, prefix, "downsample.0", "downsample.1", inplanes, planes * 4, 1, 1, 0);
}

static void declare_pool(bcos_student *s) {
    const bcos_clip_config *c = &s->cfg;
    int64_t C = rn_features(c), grid = c->image_size / 32;
    s->rn.pos =
        s->opt.keep_pos ? declare(&s->params, "visual.attnpool.positional_embedding", 2, grid * grid + 1, C, 0, 0) : -1;
    s->rn.q_w = declare(&s->params, "visual.attnpool.q_proj.weight", 2, C, C, 0, 0);
    s->rn.q_b = declare_bias(s, "visual.attnpool.q_proj.bias", C);
    s->rn.k_w = declare(&s->params, "visual.attnpool.k_proj.weight", 2, C, C, 0, 0);
    s->rn.k_b = declare_bias(s, "visual.attnpool.k_proj.bias", C);
    s->rn.v_w = declare(&s->params, "visual.attnpool.v_proj.weight", 2, C, C, 0, 0);
    s->rn.v_b = declare_bias(s, "visual.attnpool.v_proj.bias", C);
    s->rn.c_w = declare(&s->params, "visual.attnpool.c_proj.weight", 2, c->embed_dim, C, 0, 0);
    s->rn.c_b = declare_bias(s, "visual.attnpool.c_proj.bias", c->embed_dim);
}

void rn_student_declare(bcos_student *s) {
    const bcos_clip_config *cfg = &s->cfg;
    BCOS_CHECK(cfg->image_size % 32 == 0 && cfg->vision_width % 2 == 0 &&
                   (cfg->vision_width * 32) % cfg->vision_heads == 0,
               "a ResNet config: image size a multiple of 32, even width, heads dividing width * 32");
    bcos_params_init(&s->buffers);
    s->conv1 = s->class_embedding = s->pos = s->ln_pre_w = s->ln_pre_b = s->ln_post_w = s->ln_post_b = s->proj = -1;
    int w = cfg->vision_width;
    s->rn.stem[0] = declare_conv(s, "visual.", "conv1", "bn1", 6, w / 2, 3, 2, 1);
    s->rn.stem[1] = declare_conv(s, "visual.", "conv2", "bn2", w / 2, w / 2, 3, 1, 1);
    s->rn.stem[2] = declare_conv(s, "visual.", "conv3", "bn3", w / 2, w, 3, 1, 1);
    for (int stage = 0; stage < 4; stage++) s->rn.n_blocks += cfg->resnet_layers[stage];
    s->rn.blocks = xcalloc((size_t)s->rn.n_blocks, sizeof *s->rn.blocks);
    int inplanes = w, at = 0;
    for (int stage = 0; stage < 4; stage++) {
        int planes = w << stage;
        for (int i = 0; i < cfg->resnet_layers[stage]; i++, at++) {
            declare_block(s, &s->rn.blocks[at], stage, i, inplanes, planes, i == 0 && stage > 0 ? 2 : 1);
            inplanes = planes * 4;
        }
    }
    declare_pool(s);
    bcos_params_alloc(&s->buffers);
}

/* ---- B-cosification */

typedef struct {
    bcos_rn_teacher_lookup find;
    void *ctx;
    char *err;
    size_t errlen;
} teacher;

/* The teacher's tensor called name with n floats, or NULL with err naming it. */
static const float *teacher_tensor(teacher *t, const char *name, size_t n) {
    const float *x = t->find(t->ctx, name, n);
    if (!x) snprintf(t->err, t->errlen, "the ResNet teacher has no tensor %s of %zu values", name, n);
    return x;
}

/* Copies the teacher's tensor of the same name into the student's parameter or buffer i of table p. */
static int copy_same(teacher *t, bcos_params *p, int i) {
    if (i < 0) return 0;
    const float *x = teacher_tensor(t, p->items[i].name, p->items[i].numel);
    if (!x) return -1;
    memcpy(bcos_params_ptr(p, i), x, p->items[i].numel * sizeof(float));
    return 0;
}

/* The stem's conv1 on x6, CLIP's normalisation folded in; zero padding stays exact (0 in both spaces). */
static int fold_normalisation(teacher *t, bcos_student *s, const bcos_rn_conv *c) {
    const float *w = teacher_tensor(t, "visual.conv1.weight", (size_t)c->oc * 3 * c->k * c->k);
    if (!w) return -1;
    bcos_fold_normalisation(bcos_params_ptr(&s->params, c->weight), w, c->oc, c->k);
    return 0;
}

/* The name of BatchNorm tensor `what` ("running_mean", "bias") beside the running variance rv_name. */
static void bn_sibling(char *name, size_t len, const char *rv_name, const char *what) {
    size_t stem = strlen(rv_name) - strlen("running_var");
    snprintf(name, len, "%.*s%s", (int)stem, rv_name, what);
}

/* gamma and the running variance copied; a kept bias takes beta - gamma mean / sqrt(var + eps), the
 * teacher's centring folded in (exact at B = 1). */
static int copy_bn(teacher *t, bcos_student *s, const bcos_rn_conv *c) {
    if (copy_same(t, &s->params, c->bn_weight) || copy_same(t, &s->buffers, c->running_var)) return -1;
    if (c->bn_bias < 0) return 0;
    char name[192];
    const char *rv_name = s->buffers.items[c->running_var].name;
    bn_sibling(name, sizeof name, rv_name, "running_mean");
    const float *mean = teacher_tensor(t, name, (size_t)c->oc);
    bn_sibling(name, sizeof name, rv_name, "bias");
    const float *beta = mean ? teacher_tensor(t, name, (size_t)c->oc) : NULL;
    if (!beta) return -1;
    const float *gamma = bcos_params_ptr(&s->params, c->bn_weight), *var = bcos_params_ptr(&s->buffers, c->running_var);
    float *bias = bcos_params_ptr(&s->params, c->bn_bias);
    for (int o = 0; o < c->oc; o++)
        bias[o] = (float)(beta[o] - (double)gamma[o] * mean[o] / sqrt((double)var[o] + RN_BN_EPS));
    return 0;
}

static int copy_conv(teacher *t, bcos_student *s, const bcos_rn_conv *c) {
    if (c->weight < 0) return 0;
    return copy_same(t, &s->params, c->weight) || copy_bn(t, s, c) ? -1 : 0;
}

/* The teacher's own parameter table, looked up by name. */
static const float *clip_lookup(void *ctx, const char *name, size_t numel) {
    const bcos_clip *t = ctx;
    int i = bcos_params_find(&t->params, name);
    return i >= 0 && t->params.items[i].numel == numel ? bcos_params_ptr(&t->params, i) : NULL;
}

void rn_student_from_clip(bcos_student *s, const bcos_clip *teacher) {
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_rn_student_from_teacher(s, clip_lookup, (void *)teacher, err, sizeof err) == 0, err);
}

int bcos_rn_student_from_teacher(bcos_student *s, bcos_rn_teacher_lookup find, void *ctx, char *err, size_t errlen) {
    teacher t = {find, ctx, err, errlen};
    if (fold_normalisation(&t, s, &s->rn.stem[0]) || copy_bn(&t, s, &s->rn.stem[0])) return -1;
    for (int i = 1; i < 3; i++)
        if (copy_conv(&t, s, &s->rn.stem[i])) return -1;
    for (int i = 0; i < s->rn.n_blocks; i++) {
        const bcos_rn_block *b = &s->rn.blocks[i];
        if (copy_conv(&t, s, &b->conv1) || copy_conv(&t, s, &b->conv2) || copy_conv(&t, s, &b->conv3) ||
            copy_conv(&t, s, &b->down))
            return -1;
    }
    int pool[] = {s->rn.pos, s->rn.q_w, s->rn.q_b, s->rn.k_w, s->rn.k_b, s->rn.v_w, s->rn.v_b, s->rn.c_w, s->rn.c_b};
    for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++)
        if (copy_same(&t, &s->params, pool[i])) return -1;
    return 0;
}
