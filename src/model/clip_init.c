/* A fresh CLIP's weights for pretraining, drawn from a seed: open_clip's rule for the text tower
 * (token embedding std 0.02, positions std 0.01, attention in_proj std width^-1/2, out_proj and
 * c_proj std width^-1/2 (2 layers)^-1/2, c_fc std (2 width)^-1/2, the projection std width^-1/2)
 * applied to both towers' blocks; the image tower's class and positional embeddings and projection
 * std width^-1/2 and conv1 uniform in ±1/sqrt(fan-in) (torch's default), as open_clip draws them;
 * LayerNorm gains 1, every bias 0, logit_scale ln(1/0.07). */
#include <math.h>

#include "bcos/clip_train.h"
#include "bcos/rng.h"

static void normal(bcos_clip *m, bcos_rng *rng, int index, double std) {
    const bcos_param *t = &m->params.items[index];
    bcos_rng_fill_normal(rng, bcos_params_ptr(&m->params, index), t->numel, 0.0f, (float)std);
}

static void fill(bcos_clip *m, int index, float value) {
    const bcos_param *t = &m->params.items[index];
    float *x = bcos_params_ptr(&m->params, index);
    for (size_t i = 0; i < t->numel; i++) x[i] = value;
}

static void init_stack(bcos_clip *m, bcos_rng *rng, const bcos_clip_stack *s) {
    double attn_std = 1.0 / sqrt(s->width), proj_std = attn_std / sqrt(2.0 * s->layers);
    double fc_std = 1.0 / sqrt(2.0 * s->width);
    for (int l = 0; l < s->layers; l++) {
        const bcos_clip_block *b = &s->blocks[l];
        fill(m, b->ln_1_w, 1.0f);
        fill(m, b->ln_2_w, 1.0f);
        normal(m, rng, b->in_proj_w, attn_std);
        normal(m, rng, b->out_proj_w, proj_std);
        normal(m, rng, b->c_fc_w, fc_std);
        normal(m, rng, b->c_proj_w, proj_std);
    }
}

void bcos_clip_init_weights(bcos_clip *m, uint64_t seed) {
    const bcos_clip_config *c = &m->cfg;
    bcos_params *p = &m->params;
    for (size_t i = 0; i < p->total; i++) p->data[i] = 0.0f; /* biases */
    bcos_rng rng;
    bcos_rng_seed(&rng, seed);
    double vscale = 1.0 / sqrt(c->vision_width), bound = 1.0 / sqrt(3.0 * c->patch_size * c->patch_size);
    bcos_rng_fill_uniform(&rng, bcos_params_ptr(p, m->conv1), p->items[m->conv1].numel, (float)-bound, (float)bound);
    normal(m, &rng, m->class_embedding, vscale);
    normal(m, &rng, m->vision_pos, vscale);
    fill(m, m->ln_pre_w, 1.0f);
    init_stack(m, &rng, &m->vision);
    fill(m, m->ln_post_w, 1.0f);
    normal(m, &rng, m->visual_proj, vscale);
    normal(m, &rng, m->token_embedding, 0.02);
    normal(m, &rng, m->text_pos, 0.01);
    init_stack(m, &rng, &m->text);
    fill(m, m->ln_final_w, 1.0f);
    normal(m, &rng, m->text_projection, 1.0 / sqrt(c->text_width));
    fill(m, m->logit_scale, (float)log(1 / 0.07));
}
