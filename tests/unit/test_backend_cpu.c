/* Backend lookup by name: "cpu" and "auto" give the CPU table, which is complete; "cuda" (not built in
 * yet) and unknown names give NULL. */
#include <string.h>

#include "bcos/backend.h"
#include "test.h"

/* Every operation of the table is set: a missing entry would crash a model only when first used. */
static void test_table_complete(const bcos_backend *be) {
    CHECK(be->name && strcmp(be->name, "cpu") == 0);
    CHECK(be->matmul_forward && be->matmul_backward);
    CHECK(be->layernorm_forward && be->layernorm_backward);
    CHECK(be->attention_forward && be->attention_backward);
    CHECK(be->quickgelu_forward && be->quickgelu_backward);
    CHECK(be->gelu_forward && be->gelu_backward);
    CHECK(be->embedding_forward && be->embedding_backward);
    CHECK(be->residual_forward && be->residual_backward);
    CHECK(be->patchify_forward && be->patchify_backward);
    CHECK(be->vit_embed_forward && be->vit_embed_backward);
    CHECK(be->gather_rows_forward && be->gather_rows_backward);
    CHECK(be->bcos_linear_forward && be->bcos_linear_backward && be->bcos_linear_explain_backward);
    CHECK(be->bcos_patch_forward && be->bcos_patch_backward && be->bcos_patch_explain_backward);
    CHECK(be->layernorm_explain_backward && be->attention_explain_backward);
    CHECK(be->quickgelu_explain_backward && be->gelu_explain_backward);
}

int main(void) {
    const bcos_backend *cpu = bcos_backend_cpu();
    CHECK(cpu != NULL);
    test_table_complete(cpu);
    CHECK(bcos_backend_get("cpu") == cpu);
    CHECK(bcos_backend_get("auto") == cpu);
    CHECK(bcos_backend_get("cuda") == NULL);
    CHECK(bcos_backend_get("tpu") == NULL);
    return test_summary("test_backend_cpu");
}
