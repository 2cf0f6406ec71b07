/* The fp32 CPU reference backend: the table of the float kernels, and the lookup of a backend by name. */
#include <string.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "cpu_f32.h"

static const bcos_backend cpu_backend = {
    .name = "cpu",
    .matmul_forward = bcos_cpu_matmul_forward_f32,
    .matmul_backward = bcos_cpu_matmul_backward_f32,
    .layernorm_forward = bcos_cpu_layernorm_forward_f32,
    .layernorm_backward = bcos_cpu_layernorm_backward_f32,
    .attention_forward = bcos_cpu_attention_forward_f32,
    .attention_backward = bcos_cpu_attention_backward_f32,
    .quickgelu_forward = bcos_cpu_quickgelu_forward_f32,
    .quickgelu_backward = bcos_cpu_quickgelu_backward_f32,
    .gelu_forward = bcos_cpu_gelu_forward_f32,
    .gelu_backward = bcos_cpu_gelu_backward_f32,
    .embedding_forward = bcos_cpu_embedding_forward_f32,
    .embedding_backward = bcos_cpu_embedding_backward_f32,
    .residual_forward = bcos_cpu_residual_forward_f32,
    .residual_backward = bcos_cpu_residual_backward_f32,
    .bias_add_forward = bcos_cpu_bias_add_forward_f32,
    .bias_add_backward = bcos_cpu_bias_add_backward_f32,
    .patchify_forward = bcos_cpu_patchify_forward_f32,
    .patchify_backward = bcos_cpu_patchify_backward_f32,
    .vit_embed_forward = bcos_cpu_vit_embed_forward_f32,
    .vit_embed_backward = bcos_cpu_vit_embed_backward_f32,
    .gather_rows_forward = bcos_cpu_gather_rows_forward_f32,
    .gather_rows_backward = bcos_cpu_gather_rows_backward_f32,
    .bcos_linear_forward = bcos_cpu_bcos_linear_forward_f32,
    .bcos_linear_backward = bcos_cpu_bcos_linear_backward_f32,
    .bcos_linear_explain_backward = bcos_cpu_bcos_linear_explain_backward_f32,
    .bcos_patch_forward = bcos_cpu_bcos_patch_forward_f32,
    .bcos_patch_backward = bcos_cpu_bcos_patch_backward_f32,
    .bcos_patch_explain_backward = bcos_cpu_bcos_patch_explain_backward_f32,
    .layernorm_explain_backward = bcos_cpu_layernorm_explain_backward_f32,
    .attention_explain_backward = bcos_cpu_attention_explain_backward_f32,
    .quickgelu_explain_backward = bcos_cpu_quickgelu_explain_backward_f32,
    .gelu_explain_backward = bcos_cpu_gelu_explain_backward_f32,
};

const bcos_backend *bcos_backend_cpu(void) { return &cpu_backend; }

/* No CUDA backend is built in yet, so "cuda" has none and "auto" is the CPU. */
const bcos_backend *bcos_backend_get(const char *name) {
    BCOS_CHECK(name != NULL, "name a backend: cpu, cuda or auto");
    if (strcmp(name, "cpu") == 0 || strcmp(name, "auto") == 0) return &cpu_backend;
    return NULL;
}
