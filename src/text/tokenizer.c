/* The public tokenizer: vocabulary loading, the pre-token split with CLIP's pattern (PCRE2), BPE
 * with a shared cache, and the SOT/EOT framing, truncation and padding of open_clip. */
#include "bcos/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "text_internal.h"

extern const unsigned char bcos_vocab_gz[];
extern const unsigned char bcos_vocab_gz_end[];

/* CLIP's split pattern, matched case-insensitively as open_clip does, in the form that makes
 * PCRE2 match what Python's regex module matches (checked for every code point of Unicode 14):
 * its \s is written out as the Unicode White_Space set, as regex means it (PCRE2's \s also
 * takes U+180E); and U+0345, whose case partner ι is a letter, matches no alternative in regex
 * (so it is dropped), while PCRE2 would take it as punctuation. */
#define WHITE_SPACE "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
                    "\\x{202F}\\x{205F}\\x{3000}"
static const char SPLIT_PATTERN[] =
    "<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^" WHITE_SPACE "\\x{345}\\p{L}\\p{N}]+";

struct bcos_tokenizer {
    bcos_vocab *vocab;
    pcre2_code *split;
    bcos_bpe_cache *cache;
    pthread_mutex_t *cache_lock;
};

static pcre2_code *compile_split_pattern(void) {
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)SPLIT_PATTERN, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(code, message, sizeof message);
        BCOS_DIE("PCRE2 must be built with Unicode support", "split pattern at %zu: %s", (size_t)offset,
                 (const char *)message);
    }
    /* JIT is only a speed-up; without it PCRE2 interprets the same pattern. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static bcos_tokenizer *tokenizer_from_gzip(const unsigned char *gz, size_t n, char *err, size_t errlen) {
    bcos_vocab *vocab = bcos_vocab_from_gzip(gz, n, err, errlen);
    if (!vocab) return NULL;
    bcos_tokenizer *tok = xcalloc(1, sizeof *tok);
    tok->vocab = vocab;
    tok->split = compile_split_pattern();
    tok->cache = bcos_bpe_cache_new();
    tok->cache_lock = xmalloc(sizeof *tok->cache_lock);
    BCOS_CHECK(pthread_mutex_init(tok->cache_lock, NULL) == 0, "out of resources for a mutex");
    return tok;
}

bcos_tokenizer *bcos_tokenizer_load_default(void) {
    char err[256];
    bcos_tokenizer *tok = tokenizer_from_gzip(bcos_vocab_gz, (size_t)(bcos_vocab_gz_end - bcos_vocab_gz),
                                              err, sizeof err);
    if (!tok) BCOS_DIE("the embedded vocabulary is damaged; rebuild", "%s", err);
    return tok;
}

bcos_tokenizer *bcos_tokenizer_load(const char *path, char *err, size_t errlen) {
    size_t size;
    char *data = bcos_read_file(path, &size);
    if (!data) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char why[200];
    bcos_tokenizer *tok = tokenizer_from_gzip((const unsigned char *)data, size, why, sizeof why);
    if (!tok) snprintf(err, errlen, "%s: %s", path, why);
    free(data);
    return tok;
}

void bcos_tokenizer_free(bcos_tokenizer *tok) {
    if (!tok) return;
    bcos_vocab_free(tok->vocab);
    pcre2_code_free(tok->split);
    bcos_bpe_cache_free(tok->cache);
    pthread_mutex_destroy(tok->cache_lock);
    free(tok->cache_lock);
    free(tok);
}

int bcos_tokenizer_vocab_size(const bcos_tokenizer *tok) {
    return tok->vocab->size;
}

int32_t bcos_tokenizer_sot(const bcos_tokenizer *tok) {
    return tok->vocab->sot;
}

int32_t bcos_tokenizer_eot(const bcos_tokenizer *tok) {
    return tok->vocab->eot;
}

/* Token ids gathered up to a limit; past it the text is truncated anyway. */
typedef struct {
    int32_t *ids;
    size_t count, limit;
} token_list;

static void add_ids(token_list *list, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n && list->count < list->limit; i++) list->ids[list->count++] = ids[i];
}

/* The ids of one pre-token: the special tokens by name, everything else by BPE (cached). */
static void encode_pre_token(const bcos_tokenizer *tok, const unsigned char *bytes, size_t n,
                             int32_t *scratch, token_list *list) {
    if (n == 15 && memcmp(bytes, "<start_of_text>", 15) == 0) {
        add_ids(list, &tok->vocab->sot, 1);
        return;
    }
    if (n == 13 && memcmp(bytes, "<end_of_text>", 13) == 0) {
        add_ids(list, &tok->vocab->eot, 1);
        return;
    }
    const int32_t *cached;
    size_t count;
    pthread_mutex_lock(tok->cache_lock);
    bool hit = bcos_bpe_cache_get(tok->cache, bytes, n, &cached, &count);
    if (hit) add_ids(list, cached, count);
    pthread_mutex_unlock(tok->cache_lock);
    if (hit) return;
    count = bcos_bpe_encode(tok->vocab, bytes, n, scratch);
    add_ids(list, scratch, count);
    pthread_mutex_lock(tok->cache_lock);
    bcos_bpe_cache_put(tok->cache, bytes, n, scratch, count);
    pthread_mutex_unlock(tok->cache_lock);
}

/* Splits cleaned text with the pattern (re.findall) and BPE-encodes each piece, stopping once
 * the list is full. */
static void encode_clean_text(const bcos_tokenizer *tok, const char *text, size_t len, token_list *list) {
    pcre2_match_data *match = pcre2_match_data_create_from_pattern(tok->split, NULL);
    BCOS_CHECK(match != NULL, "out of memory");
    int32_t *scratch = xmalloc((len + 1) * sizeof *scratch);
    size_t offset = 0;
    while (offset < len && list->count < list->limit) {
        int rc = pcre2_match(tok->split, (PCRE2_SPTR)text, len, offset, PCRE2_NO_UTF_CHECK, match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        BCOS_CHECK(rc > 0, "PCRE2 failed on the split pattern");
        const PCRE2_SIZE *span = pcre2_get_ovector_pointer(match);
        encode_pre_token(tok, (const unsigned char *)text + span[0], span[1] - span[0], scratch, list);
        offset = span[1];
    }
    free(scratch);
    pcre2_match_data_free(match);
}

int bcos_tokenize_bytes(const bcos_tokenizer *tok, const char *bytes, size_t n, int context_length,
                        int32_t *ids_out) {
    BCOS_CHECK(context_length >= 1, "context_length must be at least 1");
    size_t ctx = (size_t)context_length;
    /* ids: SOT, tokens, EOT. More than ctx - 2 tokens means truncation, which only needs to
     * know that there was one more. */
    int32_t *ids = xmalloc((ctx + 1) * sizeof *ids);
    token_list list = {ids + 1, 0, ctx - 1};
    size_t len;
    char *clean = bcos_text_clean(bytes, n, &len);
    encode_clean_text(tok, clean, len, &list);
    free(clean);
    ids[0] = tok->vocab->sot;
    ids[1 + list.count] = tok->vocab->eot;
    size_t kept = list.count + 2 > ctx ? ctx : list.count + 2;
    memcpy(ids_out, ids, kept * sizeof *ids);
    ids_out[kept - 1] = tok->vocab->eot;
    memset(ids_out + kept, 0, (ctx - kept) * sizeof *ids_out);
    free(ids);
    return (int)kept;
}

int bcos_tokenize(const bcos_tokenizer *tok, const char *utf8_text, int context_length, int32_t *ids_out) {
    return bcos_tokenize_bytes(tok, utf8_text, strlen(utf8_text), context_length, ids_out);
}
