/* The CLIP parameter table: every tensor of both towers declared in open_clip naming and shapes
 * (except the two projections, kept as Linear weights [embed, width]), in one allocation; a ResNet
 * image tower declares its own (clip_resnet.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "clip_internal.h"

static void declare_stack(bcos_params *p, bcos_clip_stack *s, const char *prefix, int width, int layers,
                          int heads, int mlp) {
    s->width = width;
    s->layers = layers;
    s->heads = heads;
    s->mlp = mlp;
    s->blocks = xcalloc((size_t)layers, sizeof *s->blocks);
    char name[128];
#define BLOCK(field, suffix, ...)                                                   \
    snprintf(name, sizeof name, "%sresblocks.%d.%s", prefix, l, suffix);           \
    b->field = bcos_params_declare_dims(p, name, __VA_ARGS__)
    for (int l = 0; l < layers; l++) {
        bcos_clip_block *b = &s->blocks[l];
        BLOCK(ln_1_w, "ln_1.weight", 1, width);
        BLOCK(ln_1_b, "ln_1.bias", 1, width);
        BLOCK(in_proj_w, "attn.in_proj_weight", 2, 3 * width, width);
        BLOCK(in_proj_b, "attn.in_proj_bias", 1, 3 * width);
        BLOCK(out_proj_w, "attn.out_proj.weight", 2, width, width);
        BLOCK(out_proj_b, "attn.out_proj.bias", 1, width);
        BLOCK(ln_2_w, "ln_2.weight", 1, width);
        BLOCK(ln_2_b, "ln_2.bias", 1, width);
        BLOCK(c_fc_w, "mlp.c_fc.weight", 2, mlp, width);
        BLOCK(c_fc_b, "mlp.c_fc.bias", 1, mlp);
        BLOCK(c_proj_w, "mlp.c_proj.weight", 2, width, mlp);
        BLOCK(c_proj_b, "mlp.c_proj.bias", 1, width);
    }
#undef BLOCK
}

static void declare_vision(bcos_clip *m) {
    const bcos_clip_config *c = &m->cfg;
    bcos_params *p = &m->params;
    int W = c->vision_width, P = c->patch_size, grid = c->image_size / c->patch_size;
    m->class_embedding = bcos_params_declare_dims(p, "visual.class_embedding", 1, W);
    m->vision_pos = bcos_params_declare_dims(p, "visual.positional_embedding", 2, grid * grid + 1, W);
    m->conv1 = bcos_params_declare_dims(p, "visual.conv1.weight", 4, W, 3, P, P);
    m->ln_pre_w = bcos_params_declare_dims(p, "visual.ln_pre.weight", 1, W);
    m->ln_pre_b = bcos_params_declare_dims(p, "visual.ln_pre.bias", 1, W);
    declare_stack(p, &m->vision, "visual.transformer.", W, c->vision_layers, c->vision_heads, c->vision_mlp);
    m->ln_post_w = bcos_params_declare_dims(p, "visual.ln_post.weight", 1, W);
    m->ln_post_b = bcos_params_declare_dims(p, "visual.ln_post.bias", 1, W);
    m->visual_proj = bcos_params_declare_dims(p, "visual.proj", 2, c->embed_dim, W);
}

static void declare_text(bcos_clip *m) {
    const bcos_clip_config *c = &m->cfg;
    bcos_params *p = &m->params;
    int W = c->text_width;
    m->text_pos = bcos_params_declare_dims(p, "positional_embedding", 2, c->context_length, W);
    declare_stack(p, &m->text, "transformer.", W, c->text_layers, c->text_heads, c->text_mlp);
    m->token_embedding = bcos_params_declare_dims(p, "token_embedding.weight", 2, c->vocab_size, W);
    m->ln_final_w = bcos_params_declare_dims(p, "ln_final.weight", 1, W);
    m->ln_final_b = bcos_params_declare_dims(p, "ln_final.bias", 1, W);
    m->text_projection = bcos_params_declare_dims(p, "text_projection", 2, c->embed_dim, W);
    m->logit_scale = bcos_params_declare_dims(p, "logit_scale", 0);
}

void bcos_clip_declare(bcos_clip *m, const bcos_clip_config *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    bcos_params_init(&m->params);
    if (cfg->vision_tower == BCOS_TOWER_RESNET)
        bcos_clip_declare_resnet(m);
    else
        declare_vision(m);
    declare_text(m);
}

void bcos_clip_init(bcos_clip *m, const bcos_clip_config *cfg, const bcos_backend *backend) {
    bcos_clip_declare(m, cfg);
    m->backend = backend;
    bcos_params_alloc(&m->params);
}

void bcos_clip_free(bcos_clip *m) {
    free(m->vision.blocks);
    free(m->resnet.blocks);
    free(m->text.blocks);
    bcos_params_free(&m->params);
    memset(m, 0, sizeof *m);
}
