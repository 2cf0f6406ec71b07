/* The B-cos student's parameter table, B-cosification of a CLIP image tower (weights copied, the
 * normalisation folded into the six-channel patch unit), and the B ramp and bias decay schedules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/student.h"
#include "bcos/check.h"
#include "rn_internal.h"

bcos_student_options bcos_student_default_options(void) {
    return (bcos_student_options){.b = 2.0f, .b_ramp_steps = 0, .keep_biases = 0, .bias_decay_steps = 0,
                                  .plain_proj = 0};
}

static int declare(bcos_params *p, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    return bcos_params_declare(p, name, ndim, shape);
}

/* A bias, or -1 when biases are removed. */
static int declare_bias(bcos_student *s, const char *name, int64_t n) {
    return s->opt.keep_biases ? declare(&s->params, name, 1, n, 0, 0, 0) : -1;
}

static void declare_block(bcos_student *s, bcos_clip_block *b, int l) {
    bcos_params *p = &s->params;
    int64_t W = s->cfg.vision_width, M = s->cfg.vision_mlp;
    char name[128];
#define NAME(suffix) (snprintf(name, sizeof name, "visual.transformer.resblocks.%d.%s", l, suffix), name)
    b->ln_1_w = declare(p, NAME("ln_1.weight"), 1, W, 0, 0, 0);
    b->ln_1_b = declare_bias(s, NAME("ln_1.bias"), W);
    b->in_proj_w = declare(p, NAME("attn.in_proj_weight"), 2, 3 * W, W, 0, 0);
    b->in_proj_b = declare_bias(s, NAME("attn.in_proj_bias"), 3 * W);
    b->out_proj_w = declare(p, NAME("attn.out_proj.weight"), 2, W, W, 0, 0);
    b->out_proj_b = declare_bias(s, NAME("attn.out_proj.bias"), W);
    b->ln_2_w = declare(p, NAME("ln_2.weight"), 1, W, 0, 0, 0);
    b->ln_2_b = declare_bias(s, NAME("ln_2.bias"), W);
    b->c_fc_w = declare(p, NAME("mlp.c_fc.weight"), 2, M, W, 0, 0);
    b->c_fc_b = declare_bias(s, NAME("mlp.c_fc.bias"), M);
    b->c_proj_w = declare(p, NAME("mlp.c_proj.weight"), 2, W, M, 0, 0);
    b->c_proj_b = declare_bias(s, NAME("mlp.c_proj.bias"), W);
#undef NAME
}

void bcos_student_init(bcos_student *s, const bcos_clip_config *cfg, const bcos_student_options *opt,
                       const bcos_backend *backend) {
    BCOS_CHECK(opt->b >= 1.0f, "B-cos exponent B >= 1");
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->opt = *opt;
    s->backend = backend;
    bcos_params *p = &s->params;
    bcos_params_init(p);
    s->saved_b = opt->b;
    s->saved_bias_scale = bcos_student_bias_scale_at(s, INT64_MAX);
    s->saved_step = -1;
    if (cfg->vision_tower == BCOS_TOWER_RESNET) {
        rn_student_declare(s);
        bcos_params_alloc(p);
        return;
    }
    int64_t W = cfg->vision_width, P = cfg->patch_size, grid = cfg->image_size / cfg->patch_size;
    s->class_embedding = declare(p, "visual.class_embedding", 1, W, 0, 0, 0);
    s->pos = declare(p, "visual.positional_embedding", 2, grid * grid + 1, W, 0, 0);
    s->conv1 = declare(p, "visual.conv1.weight", 4, W, 6, P, P);
    s->ln_pre_w = declare(p, "visual.ln_pre.weight", 1, W, 0, 0, 0);
    s->ln_pre_b = declare_bias(s, "visual.ln_pre.bias", W);
    s->stack = (bcos_clip_stack){.width = (int)W, .layers = cfg->vision_layers, .heads = cfg->vision_heads,
                                 .mlp = cfg->vision_mlp};
    s->stack.blocks = xcalloc((size_t)cfg->vision_layers, sizeof *s->stack.blocks);
    for (int l = 0; l < cfg->vision_layers; l++) declare_block(s, &s->stack.blocks[l], l);
    s->ln_post_w = declare(p, "visual.ln_post.weight", 1, W, 0, 0, 0);
    s->ln_post_b = declare_bias(s, "visual.ln_post.bias", W);
    s->proj = declare(p, "visual.proj", 2, cfg->embed_dim, W, 0, 0);
    bcos_params_alloc(p);
}

void bcos_student_free(bcos_student *s) {
    free(s->stack.blocks);
    free(s->rn.blocks);
    bcos_params_free(&s->params);
    bcos_params_free(&s->buffers);
    memset(s, 0, sizeof *s);
}

/* dst <- the teacher's tensor src (same numel); dst may be -1 (a removed bias: nothing to copy). */
static void copy_param(bcos_student *s, int dst, const bcos_clip *t, int src) {
    if (dst < 0) return;
    BCOS_CHECK(s->params.items[dst].numel == t->params.items[src].numel, "student and teacher share the config");
    memcpy(bcos_params_ptr(&s->params, dst), bcos_params_ptr(&t->params, src),
           s->params.items[dst].numel * sizeof(float));
}

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

void bcos_student_from_clip(bcos_student *s, const bcos_clip *t) {
    BCOS_CHECK(s->cfg.vision_tower == t->cfg.vision_tower, "init the student with the teacher's config");
    if (s->cfg.vision_tower == BCOS_TOWER_RESNET) {
        rn_student_from_clip(s, t);
        return;
    }
    BCOS_CHECK(s->cfg.vision_width == t->cfg.vision_width && s->cfg.vision_layers == t->cfg.vision_layers,
               "init the student with the teacher's config");
    bcos_fold_normalisation(bcos_params_ptr(&s->params, s->conv1), bcos_params_ptr(&t->params, t->conv1),
                       s->cfg.vision_width, s->cfg.patch_size);
    copy_param(s, s->class_embedding, t, t->class_embedding);
    copy_param(s, s->pos, t, t->vision_pos);
    copy_param(s, s->ln_pre_w, t, t->ln_pre_w);
    copy_param(s, s->ln_pre_b, t, t->ln_pre_b);
    for (int l = 0; l < s->stack.layers; l++) {
        const bcos_clip_block *tb = &t->vision.blocks[l];
        bcos_clip_block *sb = &s->stack.blocks[l];
        copy_param(s, sb->ln_1_w, t, tb->ln_1_w);
        copy_param(s, sb->ln_1_b, t, tb->ln_1_b);
        copy_param(s, sb->in_proj_w, t, tb->in_proj_w);
        copy_param(s, sb->in_proj_b, t, tb->in_proj_b);
        copy_param(s, sb->out_proj_w, t, tb->out_proj_w);
        copy_param(s, sb->out_proj_b, t, tb->out_proj_b);
        copy_param(s, sb->ln_2_w, t, tb->ln_2_w);
        copy_param(s, sb->ln_2_b, t, tb->ln_2_b);
        copy_param(s, sb->c_fc_w, t, tb->c_fc_w);
        copy_param(s, sb->c_fc_b, t, tb->c_fc_b);
        copy_param(s, sb->c_proj_w, t, tb->c_proj_w);
        copy_param(s, sb->c_proj_b, t, tb->c_proj_b);
    }
    copy_param(s, s->ln_post_w, t, t->ln_post_w);
    copy_param(s, s->ln_post_b, t, t->ln_post_b);
    copy_param(s, s->proj, t, t->visual_proj);
}

float bcos_student_options_b_at(const bcos_student_options *o, int64_t step) {
    if (o->b_ramp_steps <= 0 || step >= o->b_ramp_steps) return o->b;
    return 1.0f + (o->b - 1.0f) * (float)step / (float)o->b_ramp_steps;
}

float bcos_student_options_bias_scale_at(const bcos_student_options *o, int64_t step) {
    if (!o->keep_biases) return 0.0f;
    if (o->bias_decay_steps <= 0) return 1.0f;
    if (step >= o->bias_decay_steps) return 0.0f;
    return 1.0f - (float)step / (float)o->bias_decay_steps;
}

float bcos_student_b_at(const bcos_student *s, int64_t step) { return bcos_student_options_b_at(&s->opt, step); }

float bcos_student_bias_scale_at(const bcos_student *s, int64_t step) {
    return bcos_student_options_bias_scale_at(&s->opt, step);
}
