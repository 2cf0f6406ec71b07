/* libFuzzer target for the safetensors reader: any input must parse or be refused with a
 * message, and every tensor of a parsed one must convert (or be refused) without touching
 * memory outside the input. */
#include "bcos/safetensors.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bcos_safetensors st;
    char err[BCOS_ERRLEN];
    if (bcos_st_parse(&st, data, size, err, sizeof err) != 0) {
        /* A refusal always says why, on one line. */
        if (err[0] == '\0' || strchr(err, '\n')) abort();
        return 0;
    }
    for (int i = 0; i < st.count; i++) {
        const bcos_st_tensor *t = &st.tensors[i];
        if (t->data < data || t->data + t->nbytes > data + size) abort();
        if (bcos_st_find(&st, t->name) != t) abort();
        float *out = malloc(t->numel ? t->numel * sizeof *out : 1);
        bcos_st_to_f32(t, out, err, sizeof err);
        free(out);
    }
    for (int i = 0; i < st.meta_count; i++)
        if (!bcos_st_meta_get(&st, st.meta[i].key)) abort();
    bcos_st_close(&st);
    return 0;
}
