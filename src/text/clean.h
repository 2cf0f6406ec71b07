/* The text cleaning open_clip's SimpleTokenizer applies before splitting ("lower" clean). */
#ifndef BCOS_TEXT_CLEAN_H
#define BCOS_TEXT_CLEAN_H

#include <stddef.h>

/* Cleans n bytes of UTF-8 (invalid bytes become U+FFFD) as open_clip's _clean_lower does:
 * ftfy.fix_text (our subset, see ftfy_subset.h), html.unescape twice, strip, collapse whitespace
 * runs to one space, lowercase. Returns NUL-terminated UTF-8 on the heap and its length. */
char *bcos_text_clean(const char *bytes, size_t n, size_t *len_out);

#endif
