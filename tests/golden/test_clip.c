/* Golden test: the tiny CLIP's image and text embeddings against open_clip (computed in float64
 * by tools/ref/make_clip_fixtures.py), loading the same weights from open_clip naming (F32) and
 * from Hugging Face transformers naming (F16), for QuickGELU and GELU models; a prompt encoded alone
 * equals its row of the batch. */
#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/clip.h"
#include "test.h"

#define FIX "tests/fixtures/clip/"

static float *read_f32(const bcos_safetensors *st, const char *name, size_t expect_numel) {
    const bcos_st_tensor *t = bcos_st_find(st, name);
    BCOS_CHECK(t != NULL, "regenerate the fixtures with tools/ref/make_clip_fixtures.py");
    BCOS_CHECK(t->numel == expect_numel, "fixture shape matches the tiny config");
    float *out = xmalloc(t->numel * sizeof(float));
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_st_to_f32(t, out, err, sizeof err) == 0, err);
    return out;
}

static void check_model(const char *weights, const char *model_name, const char *expected_file) {
    bcos_clip m;
    char err[BCOS_ERRLEN];
    int rc = bcos_clip_load_file(&m, weights, model_name, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc != 0) return;
    bcos_safetensors ref;
    BCOS_CHECK(bcos_st_open(&ref, expected_file, err, sizeof err) == 0, err);
    const bcos_clip_config *c = &m.cfg;
    int NI = (int)bcos_st_find(&ref, "images")->shape[0], NT = (int)bcos_st_find(&ref, "text_ids")->shape[0];
    size_t E = (size_t)c->embed_dim, S = (size_t)c->image_size, L = (size_t)c->context_length;

    float *images = read_f32(&ref, "images", (size_t)NI * 3 * S * S);
    float *want_img = read_f32(&ref, "image_embeddings", (size_t)NI * E);
    float *got_img = xmalloc((size_t)NI * E * sizeof(float));
    bcos_clip_encode_image(&m, got_img, images, NI);
    double e_img = test_rel_error_f32(got_img, want_img, (size_t)NI * E);
    CHECK_MSG(e_img < 1e-5, "%s image embeddings rel error %.3g", weights, e_img);

    const bcos_st_tensor *ids_t = bcos_st_find(&ref, "text_ids");
    BCOS_CHECK(ids_t->dtype == BCOS_I32 && ids_t->numel == (size_t)NT * L, "text_ids is I32 [N, context]");
    float *want_txt = read_f32(&ref, "text_embeddings", (size_t)NT * E);
    float *got_txt = xmalloc((size_t)NT * E * sizeof(float));
    int32_t *ids = xmalloc(ids_t->nbytes);
    memcpy(ids, ids_t->data, ids_t->nbytes);
    bcos_clip_encode_text(&m, got_txt, ids, NT);
    double e_txt = test_rel_error_f32(got_txt, want_txt, (size_t)NT * E);
    CHECK_MSG(e_txt < 1e-5, "%s text embeddings rel error %.3g", weights, e_txt);
    /* The text tower runs only through the batch's last end-of-text token: a prompt alone (the
     * shortest run) agrees with its row in the batch, whose longest prompt sets the length. */
    float *alone = xmalloc(E * sizeof(float));
    for (int i = 0; i < NT; i++) {
        bcos_clip_encode_text(&m, alone, ids + (size_t)i * L, 1);
        double e_alone = test_rel_error_f32(alone, got_txt + (size_t)i * E, E);
        CHECK_MSG(e_alone < 1e-6, "%s prompt %d alone: rel error %.3g against its row of the batch", weights, i,
                  e_alone);
    }
    free(alone);

    float *want_scale = read_f32(&ref, "logit_scale", 1);
    CHECK(*want_scale == bcos_params_ptr(&m.params, m.logit_scale)[0]);
    printf("%-44s image rel err %.2e, text rel err %.2e\n", weights, e_img, e_txt);

    free(want_scale);
    free(ids);
    free(got_txt);
    free(want_txt);
    free(got_img);
    free(want_img);
    free(images);
    bcos_st_close(&ref);
    bcos_clip_free(&m);
}

/* Saving in open_clip naming and reloading gives back the same parameters, bit for bit. */
static void check_save_roundtrip(void) {
    bcos_clip a, b;
    char err[BCOS_ERRLEN], path[] = "/tmp/bcos_test_clip_XXXXXX";
    BCOS_CHECK(bcos_clip_load_file(&a, FIX "tiny_hf.safetensors", "bcos-tiny", bcos_backend_cpu(), err,
                                   sizeof err) == 0, err);
    int fd = mkstemp(path);
    BCOS_CHECK(fd >= 0, "/tmp is writable");
    close(fd);
    CHECK(bcos_clip_save(&a, path, err, sizeof err) == 0);
    /* no --model: the saved file names its config in its metadata */
    int rc = bcos_clip_load_file(&b, path, NULL, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(a.params.total == b.params.total);
        CHECK(memcmp(a.params.data, b.params.data, a.params.total * sizeof(float)) == 0);
        bcos_clip_free(&b);
    }
    unlink(path);
    bcos_clip_free(&a);
}

int main(void) {
    check_model(FIX "tiny_openclip.safetensors", "bcos-tiny", FIX "tiny_embeddings.safetensors");
    check_model(FIX "tiny_hf.safetensors", "bcos-tiny", FIX "tiny_embeddings.safetensors");
    check_model(FIX "tiny_openclip.safetensors", "bcos-tiny-gelu", FIX "tiny_gelu_embeddings.safetensors");
    check_save_roundtrip();
    return test_summary("test_clip");
}
