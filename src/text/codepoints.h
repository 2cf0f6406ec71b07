/* Growable code point strings and their conversion from and to UTF-8: the text cleaning steps
 * work on code points, as Python's str does. */
#ifndef BCOS_TEXT_CODEPOINTS_H
#define BCOS_TEXT_CODEPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
