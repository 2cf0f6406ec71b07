/* Loads CLIP's merges file: gunzip, split into lines, and give every symbol and merge its id. */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bcos/check.h"
#include "text_internal.h"

#define END_OF_WORD "</w>"

/* Inflates a whole gzip or zlib stream; NULL when it is corrupt or truncated. */
static char *inflate_all(const unsigned char *gz, size_t n, size_t *len_out) {
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return NULL;
    size_t cap = 4 * n + 1024, len = 0;
    char *out = xmalloc(cap);
    zs.next_in = (Bytef *)gz;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        if (len == cap) {
            cap *= 2;
            out = xrealloc(out, cap);
        }
        zs.next_out = (Bytef *)out + len;
        zs.avail_out = (uInt)(cap - len);
        rc = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    *len_out = len;
    return out;
}

/* CLIP's reversible byte -> character map: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes for U+0100.. in byte order, so that no symbol is whitespace or a control. */
static int32_t byte_char(int b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) return b;
    int rank = 0;
    for (int k = 0; k < b; k++) {
        bool k_printable = (k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF);
        rank += !k_printable;
    }
    return 256 + rank;
}

/* The byte symbols in vocabulary order: printable ones first, then the remapped ones. */
static void byte_symbol_order(int order[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        if (byte_char(b) == b) order[n++] = b;
    }
    for (int b = 0; b < 256; b++) {
        if (byte_char(b) != b) order[n++] = b;
    }
}

/* The UTF-8 spelling of a byte's symbol (two bytes at most), optionally with "</w>". */
static size_t byte_symbol_text(int b, bool end_of_word, char out[8]) {
    int32_t c = byte_char(b);
    size_t len = 0;
    if (c < 0x80) {
        out[len++] = (char)c;
    } else {
        out[len++] = (char)(0xC0 | (c >> 6));
        out[len++] = (char)(0x80 | (c & 0x3F));
    }
    if (end_of_word) {
        memcpy(out + len, END_OF_WORD, 4);
        len += 4;
    }
    return len;
}

typedef struct {
    const char *left, *right;
    size_t left_len, right_len;
} merge_line;

/* Splits the merge lines out of the file text (modified in place); returns their count or -1. */
static long parse_merge_lines(char *text, size_t len, merge_line *merges, char *err, size_t errlen) {
    char *end = text + len, *line = memchr(text, '\n', len);
    if (!line) {
        snprintf(err, errlen, "merges file has no header line");
        return -1;
    }
    line++;
    long count = 0;
    while (line < end && count < BCOS_VOCAB_MAX_MERGES) {
        char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        const char *fields[3];
        size_t lens[3];
        int nfields = 0;
        for (char *p = line; p < eol;) {
            while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
            if (p == eol) break;
            char *start = p;
            while (p < eol && *p != ' ' && *p != '\t' && *p != '\r') p++;
            if (nfields < 3) {
                fields[nfields] = start;
                lens[nfields] = (size_t)(p - start);
            }
            nfields++;
        }
        if (nfields != 2) {
            snprintf(err, errlen, "merges file line %ld: expected two symbols, found %d", count + 2, nfields);
            return -1;
        }
        merges[count++] = (merge_line){fields[0], fields[1], lens[0], lens[1]};
        line = eol + 1;
    }
    return count;
}

static int32_t lookup_id(const bcos_bytemap *encoder, const void *text, size_t len) {
    int64_t id;
    return bcos_bytemap_get(encoder, text, len, &id) ? (int32_t)id : -1;
}

/* Gives every vocabulary string its id (later entries overwrite earlier equal strings). */
static bcos_bytemap *build_encoder(const merge_line *merges, long count) {
    bcos_bytemap *encoder = bcos_bytemap_new(512 + (size_t)count + 2);
    int order[256];
    byte_symbol_order(order);
    char sym[8];
    for (int i = 0; i < 256; i++) bcos_bytemap_put(encoder, sym, byte_symbol_text(order[i], false, sym), i);
    for (int i = 0; i < 256; i++) bcos_bytemap_put(encoder, sym, byte_symbol_text(order[i], true, sym), 256 + i);
    char *joined = NULL;
    size_t joined_cap = 0;
    for (long r = 0; r < count; r++) {
        size_t len = merges[r].left_len + merges[r].right_len;
        if (len > joined_cap) joined = xrealloc(joined, joined_cap = 2 * len);
        memcpy(joined, merges[r].left, merges[r].left_len);
        memcpy(joined + merges[r].left_len, merges[r].right, merges[r].right_len);
        bcos_bytemap_put(encoder, joined, len, 512 + r);
    }
    free(joined);
    bcos_bytemap_put(encoder, "<start_of_text>", 15, 512 + count);
    bcos_bytemap_put(encoder, "<end_of_text>", 13, 512 + count + 1);
    return encoder;
}

/* Ranks every merge whose two halves are vocabulary strings (others can never apply). */
static void build_ranks(bcos_vocab *vocab, const bcos_bytemap *encoder, const merge_line *merges, long count) {
    vocab->ranks = bcos_bytemap_new((size_t)count);
    vocab->merged = xmalloc(((size_t)count + 1) * sizeof *vocab->merged);
    char *joined = NULL;
    size_t joined_cap = 0;
    for (long r = 0; r < count; r++) {
        size_t len = merges[r].left_len + merges[r].right_len;
        if (len > joined_cap) joined = xrealloc(joined, joined_cap = 2 * len);
        memcpy(joined, merges[r].left, merges[r].left_len);
        memcpy(joined + merges[r].left_len, merges[r].right, merges[r].right_len);
        vocab->merged[r] = lookup_id(encoder, joined, len);
        int32_t left = lookup_id(encoder, merges[r].left, merges[r].left_len);
        int32_t right = lookup_id(encoder, merges[r].right, merges[r].right_len);
        if (left < 0 || right < 0) continue;
        int32_t key[2];
        bcos_vocab_pair_key(left, right, key);
        bcos_bytemap_put(vocab->ranks, key, sizeof key, r);
    }
    free(joined);
}

bcos_vocab *bcos_vocab_from_gzip(const unsigned char *gz, size_t n, char *err, size_t errlen) {
    size_t len;
    char *text = inflate_all(gz, n, &len);
    if (!text) {
        snprintf(err, errlen, "merges file is not valid gzip or zlib data");
        return NULL;
    }
    merge_line *merges = xmalloc(BCOS_VOCAB_MAX_MERGES * sizeof *merges);
    long count = parse_merge_lines(text, len, merges, err, errlen);
    bcos_vocab *vocab = NULL;
    if (count >= 0) {
        vocab = xcalloc(1, sizeof *vocab);
        bcos_bytemap *encoder = build_encoder(merges, count);
        build_ranks(vocab, encoder, merges, count);
        char sym[8];
        for (int b = 0; b < 256; b++) {
            vocab->byte_symbol[b] = lookup_id(encoder, sym, byte_symbol_text(b, false, sym));
            vocab->byte_symbol_end[b] = lookup_id(encoder, sym, byte_symbol_text(b, true, sym));
        }
        vocab->sot = lookup_id(encoder, "<start_of_text>", 15);
        vocab->eot = lookup_id(encoder, "<end_of_text>", 13);
        vocab->size = (int32_t)(512 + count + 2);
        bcos_bytemap_free(encoder);
    }
    free(merges);
    free(text);
    return vocab;
}

void bcos_vocab_free(bcos_vocab *vocab) {
    if (!vocab) return;
    bcos_bytemap_free(vocab->ranks);
    free(vocab->merged);
    free(vocab);
}
