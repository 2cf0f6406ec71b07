/* The text module's internals, shared by its files and nobody else (the contract is
 * include/bcos/tokenizer.h): a byte-keyed hash map, code-point strings, HTML unescaping, the
 * subset of ftfy the tokenizer needs, open_clip's text cleaning, the vocabulary and byte-pair
 * encoding. One section per file, in the order they build on each other. */
#ifndef BCOS_TEXT_INTERNAL_H
#define BCOS_TEXT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* bytemap.c: an open-addressing hash map from byte strings to 64-bit values (the tokenizer's
 * vocabulary, merge ranks and BPE cache). Keys are copied. */

typedef struct bcos_bytemap bcos_bytemap;

bcos_bytemap *bcos_bytemap_new(size_t expected_count);
void bcos_bytemap_free(bcos_bytemap *map);
/* Removes every entry, keeping the allocations. */
void bcos_bytemap_clear(bcos_bytemap *map);
size_t bcos_bytemap_count(const bcos_bytemap *map);
/* Inserts key, or overwrites its value when it is present. */
void bcos_bytemap_put(bcos_bytemap *map, const void *key, size_t len, int64_t value);
bool bcos_bytemap_get(const bcos_bytemap *map, const void *key, size_t len, int64_t *value);

/* codepoints.c: growable code point strings and their conversion from and to UTF-8: the text
 * cleaning steps work on code points, as Python's str does. */

typedef struct {
    int32_t *cp;
    size_t len, cap;
} bcos_cps;

void bcos_cps_free(bcos_cps *s);
void bcos_cps_reserve(bcos_cps *s, size_t extra);
void bcos_cps_push(bcos_cps *s, int32_t c);
void bcos_cps_append(bcos_cps *s, const int32_t *cp, size_t n);
/* Appends the code points of a valid UTF-8 string. */
void bcos_cps_append_utf8(bcos_cps *s, const char *utf8);
bool bcos_cps_equal(const bcos_cps *a, const bcos_cps *b);
/* Moves `from` into `to`, freeing what `to` held; `from` is left empty. */
void bcos_cps_move(bcos_cps *to, bcos_cps *from);

/* Decodes n bytes of UTF-8 the way Python's bytes.decode("utf-8", errors="replace") does: each
 * maximal ill-formed subpart (a truncated sequence, a stray continuation byte, an overlong or
 * surrogate encoding, a code point above U+10FFFF) becomes one U+FFFD. */
void bcos_cps_from_utf8(bcos_cps *out, const char *bytes, size_t n);

/* Encodes code points (never surrogates) as NUL-terminated UTF-8 in a new heap buffer. */
char *bcos_cps_to_utf8(const int32_t *cp, size_t n, size_t *len_out);

/* html_entities.c: the named character reference tables (generated data), sorted by name. */

typedef struct {
    const char *name;  /* without the leading '&'; ends in ';' where the reference has one */
    const char *value; /* UTF-8 */
} bcos_html_entity;

/* Every HTML5 name that Python's html.unescape decodes, with and without ';'. */
extern const bcos_html_entity bcos_html5_entities[];
extern const size_t bcos_html5_entities_count;

/* All-caps spellings (such as "EACUTE;") that ftfy's unescape_html decodes besides HTML5's. */
extern const bcos_html_entity bcos_ftfy_caps_entities[];
extern const size_t bcos_ftfy_caps_entities_count;

/* html_unescape.c: hTML character reference decoding, as Python's html.unescape and ftfy's
 * unescape_html do it. */

/* Python's html.unescape: numeric references (&#65; &#x41;, ';' optional, with the HTML5
 * replacements for invalid numbers), and every HTML5 named reference, including the legacy names
 * without ';' and their longest-prefix matches ("&ampx" -> "&x"). Appends the result to out. */
void bcos_html_unescape(const int32_t *text, size_t n, bcos_cps *out);

/* The UTF-8 value of the entity whose name is exactly name[0..len) in a sorted table, or NULL. */
const char *bcos_html_entity_find(const bcos_html_entity *table, size_t count, const int32_t *name,
                                  size_t len);

/* The Windows-1252 reading of a C1 control code point 0x80..0x9F, as browsers (and ftfy's
 * "sloppy" codec) do; the five bytes that Windows-1252 leaves undefined map to themselves. */
int32_t bcos_cp1252_c1(int32_t c);

/* ftfy_subset.c: the part of ftfy.fix_text (ftfy 6, default settings) that the tokenizer
 * reproduces. */

/* Fixes text in place as ftfy.fix_text does, except for its mojibake repair (fix_encoding and
 * its helpers), which is left out: per line, and until nothing changes, unescape_html (only
 * while no line so far held a '<'), fix_c1_controls, fix_latin_ligatures, fix_character_width,
 * uncurl_quotes, fix_line_breaks, remove_terminal_escapes, remove_control_chars, then NFC.
 * docs/TOKENIZER.md lists what each step does. */
void bcos_ftfy_fix_text(bcos_cps *text);

/* clean.c: the text cleaning open_clip's SimpleTokenizer applies before splitting ("lower" clean).
 * */

/* Cleans n bytes of UTF-8 (invalid bytes become U+FFFD) as open_clip's _clean_lower does:
 * ftfy.fix_text (our subset, see its section above), html.unescape twice, strip, collapse whitespace
 * runs to one space, lowercase. Returns NUL-terminated UTF-8 on the heap and its length. */
char *bcos_text_clean(const char *bytes, size_t n, size_t *len_out);

/* vocab.c: cLIP's BPE vocabulary, built from the merges file (bpe_simple_vocab_16e6.txt.gz). */

/* Symbols are token ids. Ids are assigned as open_clip does: the 256 byte symbols, the same with
 * "</w>", one per merge in file order, then <start_of_text> and <end_of_text>. Where two entries
 * spell the same string the later id is the string's id, as in open_clip's dict. */
typedef struct {
    bcos_bytemap *ranks;             /* (left id, right id) as two int32 -> merge rank */
    int32_t *merged;                 /* merge rank -> id of the merged symbol */
    int32_t byte_symbol[256];        /* byte -> id of its symbol */
    int32_t byte_symbol_end[256];    /* byte -> id of its symbol with "</w>" */
    int32_t size;                    /* number of ids */
    int32_t sot, eot;
} bcos_vocab;

/* Merge lines open_clip reads: lines 1 .. 49152-256-2 of the file (line 0 is a header). */
#define BCOS_VOCAB_MAX_MERGES (49152 - 256 - 2)

/* Builds the vocabulary from a gzip- (or zlib-) compressed merges file in memory. Returns NULL
 * and a one-line message in err when the data is not such a file. */
bcos_vocab *bcos_vocab_from_gzip(const unsigned char *gz, size_t n, char *err, size_t errlen);
void bcos_vocab_free(bcos_vocab *vocab);

/* The key of the pair (left, right) in vocab->ranks. */
static inline void bcos_vocab_pair_key(int32_t left, int32_t right, int32_t key[2]) {
    key[0] = left;
    key[1] = right;
}

/* bpe.c: byte-pair encoding of one pre-token, and a memo of its results. */

/* Encodes the n > 0 UTF-8 bytes of one pre-token: one symbol per byte, the last one marked
 * end-of-word, then repeatedly the pair of lowest merge rank is merged everywhere (left to right)
 * until no ranked pair is left. Writes the ids to ids (room for n) and returns their count. */
size_t bcos_bpe_encode(const bcos_vocab *vocab, const unsigned char *bytes, size_t n, int32_t *ids);

/* Results of bcos_bpe_encode by pre-token. Bounded: it empties itself when full. Not
 * thread-safe; the tokenizer guards it. */
typedef struct bcos_bpe_cache bcos_bpe_cache;

bcos_bpe_cache *bcos_bpe_cache_new(void);
void bcos_bpe_cache_free(bcos_bpe_cache *cache);
/* The cached ids of a pre-token: returns false when absent. *ids stays valid until the next put. */
bool bcos_bpe_cache_get(const bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t **ids, size_t *count);
void bcos_bpe_cache_put(bcos_bpe_cache *cache, const unsigned char *bytes, size_t n,
                        const int32_t *ids, size_t count);

#endif
