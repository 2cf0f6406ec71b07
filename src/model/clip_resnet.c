/* CLIP's ResNet image tower, open_clip's ModifiedResNet: its parameters in open_clip naming and its
 * forward on a backend, BatchNorm in evaluation mode (running statistics). The stem is three 3x3
 * convolutions (the first of stride 2), each with BatchNorm and ReLU, then a 2x2 average pool; then
 * the Bottleneck blocks of layer1..layer4 (docs/METHOD.md, "The ResNet teacher"); then the attention
 * pool: the map's mean token in front of its pixels, plus a positional embedding, and multi-head
 * attention of that one token over all of them, through q/k/v projections and c_proj. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "clip_internal.h"

#define BN_EPS 1e-5f
/* Images per pass: the five activation buffers grow with the batch (RN50's largest map is 3 MB an
 * image), so a large batch goes through in chunks of this many. */
#define RN_CHUNK 8

/* prefix + "weight", "bias", "running_mean", "running_var", of C channels */
static bcos_clip_bn declare_bn(bcos_params *p, const char *prefix, int C) {
    char name[160];
    bcos_clip_bn bn;
    snprintf(name, sizeof name, "%sweight", prefix);
    bn.weight = bcos_params_declare_dims(p, name, 1, C);
    snprintf(name, sizeof name, "%sbias", prefix);
    bn.bias = bcos_params_declare_dims(p, name, 1, C);
    snprintf(name, sizeof name, "%srunning_mean", prefix);
    bn.running_mean = bcos_params_declare_dims(p, name, 1, C);
    snprintf(name, sizeof name, "%srunning_var", prefix);
    bn.running_var = bcos_params_declare_dims(p, name, 1, C);
    return bn;
}

/* A convolution's weight [OC, Cin, K, K], prefix + "conv<i>.weight", and its BatchNorm, "bn<i>.". */
static int declare_conv_bn(bcos_params *p, bcos_clip_bn *bn, const char *prefix, int i, int OC, int Cin, int K) {
    char name[160];
    snprintf(name, sizeof name, "%sconv%d.weight", prefix, i);
    int conv = bcos_params_declare_dims(p, name, 4, OC, Cin, K, K);
    snprintf(name, sizeof name, "%sbn%d.", prefix, i);
    *bn = declare_bn(p, name, OC);
    return conv;
}

static void declare_block(bcos_params *p, bcos_clip_bottleneck *b, int layer, int index) {
    char prefix[96], down[128];
    snprintf(prefix, sizeof prefix, "visual.layer%d.%d.", layer, index);
    b->conv1 = declare_conv_bn(p, &b->bn1, prefix, 1, b->planes, b->inplanes, 1);
    b->conv2 = declare_conv_bn(p, &b->bn2, prefix, 2, b->planes, b->planes, 3);
    b->conv3 = declare_conv_bn(p, &b->bn3, prefix, 3, 4 * b->planes, b->planes, 1);
    b->down_conv = -1;
    if (!b->downsample) return;
    snprintf(down, sizeof down, "%sdownsample.0.weight", prefix);
    b->down_conv = bcos_params_declare_dims(p, down, 4, 4 * b->planes, b->inplanes, 1, 1);
    snprintf(down, sizeof down, "%sdownsample.1.", prefix);
    b->down_bn = declare_bn(p, down, 4 * b->planes);
}

void bcos_clip_declare_resnet(bcos_clip *m) {
    const bcos_clip_config *c = &m->cfg;
    bcos_params *p = &m->params;
    bcos_clip_resnet *r = &m->resnet;
    int w = c->vision_width, C = 32 * w, grid = c->image_size / 32;
    int stem_out[3] = {w / 2, w / 2, w}, stem_in[3] = {3, w / 2, w / 2};
    m->conv1 = m->class_embedding = m->vision_pos = m->ln_pre_w = m->ln_pre_b = -1;
    m->ln_post_w = m->ln_post_b = m->visual_proj = -1;
    for (int i = 0; i < 3; i++)
        r->stem_conv[i] = declare_conv_bn(p, &r->stem_bn[i], "visual.", i + 1, stem_out[i], stem_in[i], 3);
    r->nblocks = c->vision_layers;
    r->blocks = xcalloc((size_t)r->nblocks, sizeof *r->blocks);
    int inplanes = w, at = 0;
    for (int layer = 0; layer < 4; layer++)
        for (int i = 0; i < c->resnet_layers[layer]; i++, at++) {
            bcos_clip_bottleneck *b = &r->blocks[at];
            b->inplanes = inplanes;
            b->planes = w << layer;
            b->stride = layer > 0 && i == 0 ? 2 : 1;
            b->downsample = b->stride > 1 || inplanes != 4 * b->planes;
            declare_block(p, b, layer + 1, i);
            inplanes = 4 * b->planes;
        }
    r->pool_pos = bcos_params_declare_dims(p, "visual.attnpool.positional_embedding", 2, grid * grid + 1, C);
    r->k_w = bcos_params_declare_dims(p, "visual.attnpool.k_proj.weight", 2, C, C);
    r->k_b = bcos_params_declare_dims(p, "visual.attnpool.k_proj.bias", 1, C);
    r->q_w = bcos_params_declare_dims(p, "visual.attnpool.q_proj.weight", 2, C, C);
    r->q_b = bcos_params_declare_dims(p, "visual.attnpool.q_proj.bias", 1, C);
    r->v_w = bcos_params_declare_dims(p, "visual.attnpool.v_proj.weight", 2, C, C);
    r->v_b = bcos_params_declare_dims(p, "visual.attnpool.v_proj.bias", 1, C);
    r->c_w = bcos_params_declare_dims(p, "visual.attnpool.c_proj.weight", 2, c->embed_dim, C);
    r->c_b = bcos_params_declare_dims(p, "visual.attnpool.c_proj.bias", 1, c->embed_dim);
}

/* One pass over a chunk of images. Measuring, it calls no kernel and records the largest activation
 * and im2col per image, so that the buffers are sized by the same walk that uses them. */
typedef struct {
    const bcos_clip *m;
    int B, measuring;
    size_t act, cols; /* floats per image (cols: the convolution's own scratch) */
    float *affine; /* scale[Cmax] then shift[Cmax] of the BatchNorm at hand */
} rn_pass;

static void note(size_t *largest, size_t n) {
    if (n > *largest) *largest = n;
}

/* out[B,OC,Ho,Wo] = BatchNorm(conv(inp[B,Cin,H,W])), then ReLU when relu; *H, *W become Ho, Wo. The
 * kernel size and channels come from the weight's shape [OC, Cin, K, K]. */
static void conv_bn(rn_pass *r, float *out, const float *inp, int conv, const bcos_clip_bn *bn, int *H, int *W,
                    int stride, int relu) {
    const bcos_params *p = &r->m->params;
    const bcos_param *wt = &p->items[conv];
    int OC = (int)wt->shape[0], Cin = (int)wt->shape[1], K = (int)wt->shape[2], pad = K / 2;
    int Ho = (*H + 2 * pad - K) / stride + 1, Wo = (*W + 2 * pad - K) / stride + 1;
    size_t n = (size_t)OC * Ho * Wo;
    if (r->measuring) {
        note(&r->act, n);
        note(&r->cols, (size_t)Ho * Wo * Cin * K * K);
    } else {
        const bcos_backend *be = r->m->backend;
        be->conv2d_forward(out, inp, bcos_params_ptr(p, conv), NULL, r->B, Cin, *H, *W, OC, K, stride, pad);
        /* BatchNorm in evaluation mode: scale = gamma / sqrt(var + eps), shift = beta - mean * scale */
        const float *g = bcos_params_ptr(p, bn->weight), *beta = bcos_params_ptr(p, bn->bias);
        const float *mean = bcos_params_ptr(p, bn->running_mean), *var = bcos_params_ptr(p, bn->running_var);
        float *scale = r->affine, *shift = r->affine + OC;
        for (int c = 0; c < OC; c++) {
            scale[c] = g[c] / sqrtf(var[c] + BN_EPS);
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        be->channel_affine_forward(out, out, scale, shift, r->B, OC, Ho * Wo);
        if (relu) be->relu_forward(out, out, (size_t)r->B * n);
    }
    *H = Ho;
    *W = Wo;
}

/* out[B,C,H/k,W/k] = avgpool(inp, k); *H, *W become the pooled sides. */
static void avgpool(rn_pass *r, float *out, const float *inp, int C, int *H, int *W, int k) {
    if (r->measuring)
        note(&r->act, (size_t)C * (*H / k) * (*W / k));
    else
        r->m->backend->avgpool2d_forward(out, inp, r->B, C, *H, *W, k);
    *H /= k;
    *W /= k;
}

/* The four activation buffers a block needs beside its input. */
typedef struct {
    float *x, *y, *t1, *t2, *id;
} rn_buffers;

/* x[B,inplanes,H,W] -> y[B,4*planes,H/stride,W/stride], then x and y swap. */
static void bottleneck(rn_pass *r, rn_buffers *f, const bcos_clip_bottleneck *b, int *H, int *W) {
    int h = *H, w = *W, C = 4 * b->planes;
    conv_bn(r, f->t1, f->x, b->conv1, &b->bn1, &h, &w, 1, 1);
    conv_bn(r, f->t2, f->t1, b->conv2, &b->bn2, &h, &w, 1, 1);
    const float *pooled = f->t2;
    if (b->stride > 1) {
        avgpool(r, f->t1, f->t2, b->planes, &h, &w, b->stride);
        pooled = f->t1;
    }
    conv_bn(r, f->y, pooled, b->conv3, &b->bn3, &h, &w, 1, 0);
    const float *identity = f->x;
    if (b->downsample) {
        int dh = *H, dw = *W;
        const float *down_in = f->x;
        if (b->stride > 1) {
            avgpool(r, f->t2, f->x, b->inplanes, &dh, &dw, b->stride);
            down_in = f->t2;
        }
        conv_bn(r, f->id, down_in, b->down_conv, &b->down_bn, &dh, &dw, 1, 0);
        identity = f->id;
    }
    if (!r->measuring) {
        size_t n = (size_t)r->B * C * h * w;
        r->m->backend->residual_forward(f->y, f->y, identity, n);
        r->m->backend->relu_forward(f->y, f->y, n);
    }
    float *swap = f->x;
    f->x = f->y;
    f->y = swap;
    *H = h;
    *W = w;
}

/* images[B,3,S,S] -> f->x [B, 32*width, S/32, S/32]: the stem and every block. */
static void resnet_trunk(rn_pass *r, rn_buffers *f, const float *images) {
    const bcos_clip_resnet *rn = &r->m->resnet;
    int H = r->m->cfg.image_size, W = H;
    conv_bn(r, f->t1, images, rn->stem_conv[0], &rn->stem_bn[0], &H, &W, 2, 1);
    conv_bn(r, f->t2, f->t1, rn->stem_conv[1], &rn->stem_bn[1], &H, &W, 1, 1);
    conv_bn(r, f->t1, f->t2, rn->stem_conv[2], &rn->stem_bn[2], &H, &W, 1, 1);
    avgpool(r, f->x, f->t1, r->m->cfg.vision_width, &H, &W, 2);
    for (int i = 0; i < rn->nblocks; i++) bottleneck(r, f, &rn->blocks[i], &H, &W);
}

/* Floats of the attention pool's scratch for B images: tokens, k, v [B,T,C]; q_in, q, o [B,C]; att. */
static size_t pool_floats(const bcos_clip_config *c, int B) {
    size_t C = 32 * (size_t)c->vision_width, T = (size_t)(c->image_size / 32) * (c->image_size / 32) + 1;
    return (size_t)B * (3 * T * C + 3 * C + (size_t)c->vision_heads * T);
}

/* out[B,E] = c_proj(attention of the mean token over [mean; pixels] + pos) of x[B,C,G,G]. */
static void attention_pool(const bcos_clip *m, float *out, const float *x, float *scratch, int B) {
    const bcos_backend *be = m->backend;
    const bcos_params *p = &m->params;
    const bcos_clip_resnet *r = &m->resnet;
    int C = 32 * m->cfg.vision_width, G = m->cfg.image_size / 32, HW = G * G, T = HW + 1, NH = m->cfg.vision_heads;
    float *tokens = scratch, *k = tokens + (size_t)B * T * C, *v = k + (size_t)B * T * C;
    float *q_in = v + (size_t)B * T * C, *q = q_in + (size_t)B * C, *o = q + (size_t)B * C, *att = o + (size_t)B * C;
#define P(i) bcos_params_ptr(p, (i))
    be->map_tokens_forward(tokens, x, P(r->pool_pos), B, C, HW);
    int *rows = xcalloc((size_t)B, sizeof(int)); /* the mean token, row 0, is the only query */
    be->gather_rows_forward(q_in, tokens, rows, B, T, C);
    free(rows);
    be->matmul_forward(q, q_in, P(r->q_w), P(r->q_b), B, C, C);
    be->matmul_forward(k, tokens, P(r->k_w), P(r->k_b), B * T, C, C);
    be->matmul_forward(v, tokens, P(r->v_w), P(r->v_b), B * T, C, C);
    be->query_attention_forward(o, att, q, k, v, B, T, C, NH);
    be->matmul_forward(out, o, P(r->c_w), P(r->c_b), B, C, m->cfg.embed_dim);
#undef P
}

/* The largest activation and im2col of one image, from a measuring pass. */
static rn_pass measure(const bcos_clip *m) {
    rn_pass r = {.m = m, .B = 1, .measuring = 1};
    rn_buffers f = {0};
    resnet_trunk(&r, &f, NULL);
    return r;
}

/* Floats of the activations (five buffers), BatchNorm scratch and the pool, per chunk. */
static size_t chunk_floats(const bcos_clip_config *c, const rn_pass *sizes, int chunk) {
    return (size_t)chunk * 5 * sizes->act + 2 * 32 * (size_t)c->vision_width + pool_floats(c, chunk);
}

size_t bcos_clip_resnet_image_floats(const bcos_clip *declared, int B) {
    rn_pass sizes = measure(declared);
    /* and the convolution's own scratch, one image's im2col at a time, for the largest */
    return chunk_floats(&declared->cfg, &sizes, B < RN_CHUNK ? B : RN_CHUNK) + sizes.cols;
}

void bcos_clip_resnet_encode_image(const bcos_clip *m, float *out, const float *images, int B) {
    const bcos_clip_config *c = &m->cfg;
    rn_pass sizes = measure(m);
    int chunk = B < RN_CHUNK ? B : RN_CHUNK;
    float *base = xmalloc(chunk_floats(c, &sizes, chunk) * sizeof(float));
    size_t act = (size_t)chunk * sizes.act, S = (size_t)c->image_size;
    rn_buffers f0 = {base, base + act, base + 2 * act, base + 3 * act, base + 4 * act};
    rn_pass r = {.m = m, .affine = base + 5 * act};
    float *pool = r.affine + 2 * 32 * (size_t)c->vision_width;
    for (int at = 0; at < B; at += chunk) {
        r.B = B - at < chunk ? B - at : chunk;
        rn_buffers f = f0;
        resnet_trunk(&r, &f, images + (size_t)at * 3 * S * S);
        attention_pool(m, out + (size_t)at * c->embed_dim, f.x, pool, r.B);
    }
    free(base);
}
