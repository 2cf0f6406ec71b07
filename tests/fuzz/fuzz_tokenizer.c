/* libFuzzer target: arbitrary bytes through the whole tokenizer (cleaning, split, BPE). The first
 * byte picks the context length; the output must always be framed and padded correctly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "bcos/tokenizer.h"

#define MAX_CONTEXT 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok) {
    if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bcos_tokenizer *tok;
    if (!tok) tok = bcos_tokenizer_load_default();
    if (size == 0) return 0;
    int ctx = 1 + data[0] % MAX_CONTEXT;
    int32_t ids[MAX_CONTEXT];
    int n = bcos_tokenize_bytes(tok, (const char *)data + 1, size - 1, ctx, ids);
    require(n >= (ctx < 2 ? 1 : 2) && n <= ctx);
    require(ids[n - 1] == bcos_tokenizer_eot(tok));
    require(ctx == 1 || ids[0] == bcos_tokenizer_sot(tok));
    for (int i = 0; i < n; i++) require(ids[i] >= 0 && ids[i] < bcos_tokenizer_vocab_size(tok));
    for (int i = n; i < ctx; i++) require(ids[i] == 0);
    return 0;
}
