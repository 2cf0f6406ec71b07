/* The B-cos ResNet student's tape of nodes for a batch size and its kept activations, laid out in one
 * allocation: the tape is built twice, once counting the floats and once handing them out. */
#include <stdlib.h>

#include "bcos/check.h"
#include "carve.h"
#include "rn_internal.h"

typedef struct {
    bcos_rn_acts *a;
    const bcos_student *s;
    carver mem;
    int cap;
} builder;

static int push(builder *b, rn_node n) {
    bcos_rn_acts *a = b->a;
    if (a->n_nodes == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        a->nodes = xrealloc(a->nodes, (size_t)b->cap * sizeof *a->nodes);
    }
    a->nodes[a->n_nodes] = n;
    return a->n_nodes++;
}

/* The output shape of node i (-1: the image). */
static void shape_of(const builder *b, int i, int *C, int *H, int *W) {
    if (i < 0) {
        *C = 6;
        *H = *W = b->s->cfg.image_size;
        return;
    }
    const rn_node *n = &b->a->nodes[i];
    *C = n->C, *H = n->H, *W = n->W;
}

/* A node's output and gradient (unless it is a ReLU, which works in place on its input's output). */
static void give_buffers(builder *b, rn_node *n) {
    size_t size = (size_t)b->a->B * n->C * n->H * n->W;
    n->out = n->kind == RN_RELU ? NULL : carve(&b->mem, size);
    n->dout = carve(&b->mem, size);
}

/* The B-cos convolution c on node in, its uncentered BatchNorm, and a ReLU when relu. */
static int conv_unit(builder *b, int in, const bcos_rn_conv *c, int relu) {
    int C, H, W, B = b->a->B;
    shape_of(b, in, &C, &H, &W);
    BCOS_CHECK(C == c->cin, "the convolution's input channels are the tape's");
    rn_node conv = {.kind = RN_CONV,
                    .in = in,
                    .in2 = -1,
                    .C = c->oc,
                    .conv = c,
                    .H = (H + 2 * c->pad - c->k) / c->stride + 1,
                    .W = (W + 2 * c->pad - c->k) / c->stride + 1};
    give_buffers(b, &conv);
    size_t hw = (size_t)conv.H * conv.W;
    conv.z = carve(&b->mem, (size_t)B * c->oc * hw);
    conv.norm = carve(&b->mem, (size_t)B * hw);
    int at = push(b, conv);
    rn_node bn = {.kind = RN_BN, .in = at, .in2 = -1, .C = c->oc, .H = conv.H, .W = conv.W, .conv = c};
    give_buffers(b, &bn);
    bn.mean = carve(&b->mem, (size_t)c->oc);
    bn.var = carve(&b->mem, (size_t)c->oc);
    bn.dvar = carve(&b->mem, (size_t)c->oc);
    at = push(b, bn);
    if (!relu) return at;
    rn_node r = {.kind = RN_RELU, .in = at, .in2 = -1, .C = bn.C, .H = bn.H, .W = bn.W};
    give_buffers(b, &r);
    r.out = bn.out;
    return push(b, r);
}

static int avgpool(builder *b, int in, int k) {
    rn_node n = {.kind = RN_AVGPOOL, .in = in, .in2 = -1, .k = k};
    shape_of(b, in, &n.C, &n.H, &n.W);
    n.H /= k;
    n.W /= k;
    give_buffers(b, &n);
    return push(b, n);
}

/* relu(x + y), in place on the sum. */
static int add_relu(builder *b, int x, int y) {
    rn_node n = {.kind = RN_ADD, .in = x, .in2 = y};
    shape_of(b, x, &n.C, &n.H, &n.W);
    give_buffers(b, &n);
    int at = push(b, n);
    rn_node r = {.kind = RN_RELU, .in = at, .in2 = -1, .C = n.C, .H = n.H, .W = n.W};
    give_buffers(b, &r);
    r.out = n.out;
    return push(b, r);
}

static int block(builder *b, int x, const bcos_rn_block *blk) {
    int y = conv_unit(b, x, &blk->conv1, 1);
    y = conv_unit(b, y, &blk->conv2, 1);
    if (blk->stride > 1) y = avgpool(b, y, blk->stride);
    y = conv_unit(b, y, &blk->conv3, 0);
    int identity = x;
    if (blk->down.weight >= 0) identity = conv_unit(b, blk->stride > 1 ? avgpool(b, x, blk->stride) : x, &blk->down, 0);
    return add_relu(b, y, identity);
}

/* The attention pool's buffers, from the last node's map. */
static void pool_buffers(builder *b) {
    bcos_rn_acts *a = b->a;
    const rn_node *last = &a->nodes[a->n_nodes - 1];
    int B = a->B, E = b->s->cfg.embed_dim, NH = b->s->cfg.vision_heads;
    a->C = last->C;
    a->HW = last->H * last->W;
    a->T = a->HW + 1;
    size_t btc = (size_t)B * a->T * a->C, bc = (size_t)B * a->C;
    a->tokens = carve(&b->mem, btc), a->dtokens = carve(&b->mem, btc);
    a->q_in = carve(&b->mem, bc), a->dq_in = carve(&b->mem, bc), a->q = carve(&b->mem, bc), a->dq = carve(&b->mem, bc);
    a->k = carve(&b->mem, btc), a->dk = carve(&b->mem, btc), a->v = carve(&b->mem, btc), a->dv = carve(&b->mem, btc);
    a->att = carve(&b->mem, (size_t)B * NH * a->T);
    a->pooled = carve(&b->mem, bc), a->dpooled = carve(&b->mem, bc);
    a->c_z = carve(&b->mem, (size_t)B * E), a->c_norm = carve(&b->mem, (size_t)B),
    a->out = carve(&b->mem, (size_t)B * E);
}

/* The largest convolution output of the tape, for the backward's dz and dnorm scratch. */
static void scratch(builder *b) {
    size_t most = 0, most_hw = 0;
    for (int i = 0; i < b->a->n_nodes; i++) {
        const rn_node *n = &b->a->nodes[i];
        if (n->kind != RN_CONV) continue;
        if (rn_node_size(b->a, n) > most) most = rn_node_size(b->a, n);
        if ((size_t)b->a->B * n->H * n->W > most_hw) most_hw = (size_t)b->a->B * n->H * n->W;
    }
    b->a->dz = carve(&b->mem, most);
    b->a->dnorm = carve(&b->mem, most_hw);
}

static void build(builder *b) {
    const bcos_student *s = b->s;
    b->a->n_nodes = 0;
    b->a->x6 = carve(&b->mem, (size_t)b->a->B * 6 * s->cfg.image_size * s->cfg.image_size);
    int x = -1;
    for (int i = 0; i < 3; i++) x = conv_unit(b, x, &s->rn.stem[i], 1);
    x = avgpool(b, x, 2);
    for (int i = 0; i < s->rn.n_blocks; i++) x = block(b, x, &s->rn.blocks[i]);
    pool_buffers(b);
    scratch(b);
}

size_t rn_acts_floats(const bcos_student *s, int B) {
    bcos_rn_acts a = {.B = B, .ranks = 1};
    builder b = {.a = &a, .s = s};
    build(&b);
    free(a.nodes);
    return b.mem.used;
}

bcos_rn_acts *rn_acts_new(const bcos_student *s, int B) {
    bcos_rn_acts *a = xcalloc(1, sizeof *a);
    a->B = B;
    a->ranks = 1;
    builder b = {.a = a, .s = s};
    build(&b);
    a->base = xcalloc(b.mem.used, sizeof(float));
    b.mem = (carver){a->base, 0};
    build(&b);
    a->rows = xcalloc((size_t)B, sizeof(int));
    return a;
}

void rn_acts_free(bcos_rn_acts *a) {
    if (!a) return;
    free(a->nodes);
    free(a->base);
    free(a->rows);
    free(a);
}

void rn_acts_set_reduce(bcos_rn_acts *a, void (*sum)(float *x, size_t n), int ranks) {
    a->sum = sum;
    a->ranks = sum ? ranks : 1;
}
