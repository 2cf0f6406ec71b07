/* Python's str.lower() on code points. */
#ifndef BCOS_TEXT_LOWER_H
#define BCOS_TEXT_LOWER_H

#include "codepoints.h"

/* Appends the full lowercase mapping of text to out: the simple mapping of each character, plus
 * the two rules Python applies beyond it: U+0130 (İ) becomes "i" U+0307, and a capital sigma
 * becomes final ς where Unicode's Final_Sigma context holds. */
void bcos_lower(const int32_t *text, size_t n, bcos_cps *out);

#endif
