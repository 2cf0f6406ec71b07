/* Benchmark: the ViT-B/16 distill step's transformer blocks on one backend (cuda, cuda-bf16 or cpu),
 * through the backend table and its memory: one teacher block forward (plain linear layers) and one
 * B-cos student block (docs/METHOD.md: q, k, v plain, the other linear layers B-cos units) forward and
 * backward, at BATCH images of 197 tokens, width 768, 12 heads, MLP
 * 3072, random weights. The step's estimate is 12 times a block pair (the patch units, the loss and
 * AdamW are left out: under 2% of the FLOPs); one block's buffers are reused, so memory is not the
 * step's. Prints the median times, the images per second this implies and the TFLOP/s of the GEMMs.
 * Exits 77 when the backend cannot run here. Usage: bench_cuda_block [BACKEND=cuda] [BATCH=256] [ITERS=5] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/rng.h"
#include "bench_common.h"

enum { T = 197, C = 768, NH = 12, MLP = 3072, LAYERS = 12 };
#define EXPONENT 2.0f

#define MAX_TENSORS 64

typedef struct {
    const bcos_backend *be;
    bcos_rng rng;
    float *tensors[MAX_TENSORS]; /* released at the end */
    int n_tensors;
} bench;

/* n floats in the backend's memory, uniform in [-scale, scale). */
static float *tensor(bench *b, size_t n, float scale) {
    BCOS_CHECK(b->n_tensors < MAX_TENSORS, "raise MAX_TENSORS");
    float *host = xmalloc(n * sizeof(float));
    bcos_rng_fill_uniform(&b->rng, host, n, -scale, scale);
    float *dev = b->tensors[b->n_tensors++] = b->be->alloc(n * sizeof(float));
    b->be->upload(dev, host, n * sizeof(float));
    free(host);
    return dev;
}

/* One block's weights, activations and gradients (weights and activations of both towers share shapes). */
typedef struct {
    float *ln_w, *ln_b, *w_qkv, *w_proj, *w_fc1, *w_fc2;
    float *x, *ln1, *mean1, *rstd1, *qkv, *att, *attn, *proj, *z_proj, *n_proj, *h;
    float *ln2, *mean2, *rstd2, *fc1, *z_fc1, *n_fc1, *act, *fc2, *z_fc2, *n_fc2, *out;
    float *d_out, *d_fc2, *d_act, *d_fc1, *d_ln2, *d_h, *d_proj, *d_attn, *d_qkv, *d_ln1, *d_x;
    float *g_qkv, *g_proj, *g_fc1, *g_fc2, *g_ln_w, *g_ln_b;
} block;

static void block_init(bench *b, block *k, int N) {
    size_t nc = (size_t)N * C;
    k->ln_w = tensor(b, C, 1), k->ln_b = tensor(b, C, 0.1f);
    k->w_qkv = tensor(b, 3 * C * C, 0.03f), k->w_proj = tensor(b, C * C, 0.03f);
    k->w_fc1 = tensor(b, (size_t)MLP * C, 0.03f), k->w_fc2 = tensor(b, (size_t)C * MLP, 0.02f);
    k->x = tensor(b, nc, 1), k->ln1 = tensor(b, nc, 0), k->mean1 = tensor(b, N, 0), k->rstd1 = tensor(b, N, 0);
    k->qkv = tensor(b, 3 * nc, 0);
    k->att = tensor(b, (size_t)N / T * NH * T * T, 0), k->attn = tensor(b, nc, 0);
    k->proj = tensor(b, nc, 0), k->z_proj = tensor(b, nc, 0), k->n_proj = tensor(b, N, 0), k->h = tensor(b, nc, 0);
    k->ln2 = tensor(b, nc, 0), k->mean2 = tensor(b, N, 0), k->rstd2 = tensor(b, N, 0);
    k->fc1 = tensor(b, (size_t)N * MLP, 0), k->z_fc1 = tensor(b, (size_t)N * MLP, 0), k->n_fc1 = tensor(b, N, 0);
    k->act = tensor(b, (size_t)N * MLP, 0), k->fc2 = tensor(b, nc, 0), k->z_fc2 = tensor(b, nc, 0);
    k->n_fc2 = tensor(b, N, 0), k->out = tensor(b, nc, 0);
    k->d_out = tensor(b, nc, 1), k->d_fc2 = tensor(b, nc, 0), k->d_act = tensor(b, (size_t)N * MLP, 0);
    k->d_fc1 = tensor(b, (size_t)N * MLP, 0), k->d_ln2 = tensor(b, nc, 0), k->d_h = tensor(b, nc, 0);
    k->d_proj = tensor(b, nc, 0), k->d_attn = tensor(b, nc, 0), k->d_qkv = tensor(b, 3 * nc, 0);
    k->d_ln1 = tensor(b, nc, 0), k->d_x = tensor(b, nc, 0);
    k->g_qkv = tensor(b, 3 * C * C, 0), k->g_proj = tensor(b, C * C, 0), k->g_fc1 = tensor(b, (size_t)MLP * C, 0);
    k->g_fc2 = tensor(b, (size_t)C * MLP, 0), k->g_ln_w = tensor(b, C, 0), k->g_ln_b = tensor(b, C, 0);
}

/* The teacher's block: pre-LN, plain linear layers with biases, GELU. */
static void teacher_forward(const bcos_backend *be, block *k, int N) {
    int B = N / T;
    be->layernorm_forward(k->ln1, k->mean1, k->rstd1, k->x, k->ln_w, k->ln_b, N, C, 1e-5f);
    be->matmul_forward(k->qkv, k->ln1, k->w_qkv, NULL, N, C, 3 * C);
    be->attention_forward(k->attn, k->att, k->qkv, B, T, C, NH, 0);
    be->matmul_forward(k->proj, k->attn, k->w_proj, k->ln_b, N, C, C);
    be->residual_forward(k->h, k->x, k->proj, (size_t)N * C);
    be->layernorm_forward(k->ln2, k->mean2, k->rstd2, k->h, k->ln_w, k->ln_b, N, C, 1e-5f);
    be->matmul_forward(k->fc1, k->ln2, k->w_fc1, NULL, N, C, MLP);
    be->gelu_forward(k->act, k->fc1, (size_t)N * MLP);
    be->matmul_forward(k->fc2, k->act, k->w_fc2, k->ln_b, N, MLP, C);
    be->residual_forward(k->out, k->h, k->fc2, (size_t)N * C);
}

/* The student's block: q, k, v a plain bias-free linear map, the other linear layers B-cos units. */
static void student_forward(const bcos_backend *be, block *k, int N) {
    int B = N / T;
    be->layernorm_forward(k->ln1, k->mean1, k->rstd1, k->x, k->ln_w, NULL, N, C, 1e-5f);
    be->matmul_forward(k->qkv, k->ln1, k->w_qkv, NULL, N, C, 3 * C);
    be->attention_forward(k->attn, k->att, k->qkv, B, T, C, NH, 0);
    be->bcos_linear_forward(k->proj, k->z_proj, k->n_proj, k->attn, k->w_proj, N, C, C, EXPONENT);
    be->residual_forward(k->h, k->x, k->proj, (size_t)N * C);
    be->layernorm_forward(k->ln2, k->mean2, k->rstd2, k->h, k->ln_w, NULL, N, C, 1e-5f);
    be->bcos_linear_forward(k->fc1, k->z_fc1, k->n_fc1, k->ln2, k->w_fc1, N, C, MLP, EXPONENT);
    be->gelu_forward(k->act, k->fc1, (size_t)N * MLP);
    be->bcos_linear_forward(k->fc2, k->z_fc2, k->n_fc2, k->act, k->w_fc2, N, MLP, C, EXPONENT);
    be->residual_forward(k->out, k->h, k->fc2, (size_t)N * C);
}

static void student_backward(const bcos_backend *be, block *k, int N) {
    int B = N / T;
    size_t nc = (size_t)N * C, nm = (size_t)N * MLP;
    be->zero(k->d_fc2, nc * sizeof(float));
    be->zero(k->d_h, nc * sizeof(float));
    be->residual_backward(k->d_h, k->d_fc2, k->d_out, nc);
    be->zero(k->d_act, nm * sizeof(float));
    be->bcos_linear_backward(k->d_act, k->g_fc2, k->d_fc2, k->act, k->w_fc2, k->z_fc2, k->n_fc2, N, MLP, C, EXPONENT);
    be->zero(k->d_fc1, nm * sizeof(float));
    be->gelu_backward(k->d_fc1, k->fc1, k->d_act, nm);
    be->zero(k->d_ln2, nc * sizeof(float));
    be->bcos_linear_backward(k->d_ln2, k->g_fc1, k->d_fc1, k->ln2, k->w_fc1, k->z_fc1, k->n_fc1, N, C, MLP, EXPONENT);
    be->layernorm_backward(k->d_h, k->g_ln_w, NULL, k->d_ln2, k->h, k->ln_w, k->mean2, k->rstd2, N, C);
    be->zero(k->d_x, nc * sizeof(float));
    be->zero(k->d_proj, nc * sizeof(float));
    be->residual_backward(k->d_x, k->d_proj, k->d_h, nc);
    be->zero(k->d_attn, nc * sizeof(float));
    be->bcos_linear_backward(k->d_attn, k->g_proj, k->d_proj, k->attn, k->w_proj, k->z_proj, k->n_proj, N, C, C,
                             EXPONENT);
    be->zero(k->d_qkv, 3 * nc * sizeof(float));
    be->attention_backward(k->d_qkv, k->d_attn, k->qkv, k->att, B, T, C, NH);
    be->zero(k->d_ln1, nc * sizeof(float));
    be->matmul_backward(k->d_ln1, k->g_qkv, NULL, k->d_qkv, k->ln1, k->w_qkv, N, C, 3 * C);
    be->layernorm_backward(k->d_x, k->g_ln_w, NULL, k->d_ln1, k->x, k->ln_w, k->mean1, k->rstd1, N, C);
}

/* Median seconds of fn over iters runs after one warm-up, each ended by the backend's sync. */
static double timed(const bcos_backend *be, block *k, int N, int iters, void (*fn)(const bcos_backend *, block *, int)) {
    double *times = xmalloc((size_t)iters * sizeof(double));
    fn(be, k, N);
    be->sync();
    for (int i = 0; i < iters; i++) {
        double t0 = bcos_now_seconds();
        fn(be, k, N);
        be->sync();
        times[i] = bcos_now_seconds() - t0;
    }
    double median = bench_median(times, iters);
    free(times);
    return median;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "cuda";
    int batch = argc > 2 ? atoi(argv[2]) : 256, iters = argc > 3 ? atoi(argv[3]) : 5;
    if (batch < 1 || iters < 1) bcos_fail("usage: %s [BACKEND] [BATCH] [ITERS]", argv[0]);
    bench b = {.be = bcos_backend_get(name)};
    if (!b.be) bcos_fail("no backend named %s is built in", name);
    const char *why = b.be->unavailable();
    if (why) {
        printf("bench_cuda_block %s: NOT RUN: %s\n", name, why);
        return 77;
    }
    bcos_rng_seed(&b.rng, 1);
    int N = batch * T;
    block k;
    block_init(&b, &k, N);
    double teacher = timed(b.be, &k, N, iters, teacher_forward);
    double student_f = timed(b.be, &k, N, iters, student_forward);
    double student_b = timed(b.be, &k, N, iters, student_backward);
    double step = LAYERS * (teacher + student_f + student_b);
    /* GEMM FLOPs of one block forward: 2 N (3C^2 + C^2 + 2 C MLP) + attention 4 N T C; backward twice that. */
    double fwd = 2.0 * N * (4.0 * C * C + 2.0 * C * MLP) + 4.0 * N * T * C;
    double tflops = LAYERS * 4 * fwd / step / 1e12;
    printf("bench_cuda_block %s (%s): batch %d, per block: teacher fwd %.2f ms, student fwd %.2f ms, bwd %.2f ms\n",
           b.be->name, b.be->precision, batch, teacher * 1e3, student_f * 1e3, student_b * 1e3);
    printf("bench_cuda_block %s: 12-block step estimate %.1f ms, %.1f img/s, %.1f TFLOP/s in the blocks\n", b.be->name,
           step * 1e3, batch / step, tflops);
    for (int i = 0; i < b.n_tensors; i++) b.be->release(b.tensors[i]);
    return 0;
}
