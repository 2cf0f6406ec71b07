/* open_clip's "lower" text cleaning: basic_clean (ftfy, double HTML unescape, strip), then
 * whitespace_clean (split on whitespace and join with single spaces), then str.lower(), which is
 * full Unicode lowercasing as Python does it: utf8proc's simple mappings, the one unconditional
 * multi-character mapping (U+0130), and the Final_Sigma context (Unicode 3.13). */
#include <stdbool.h>
#include <stdlib.h>
#include <utf8proc.h>

#include "text_internal.h"

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs (stable since
 * Unicode 6.3). */
static bool is_python_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* " ".join(text.split()): words separated by one space, no leading or trailing space (this
 * also covers the strip() calls around it). */
static void collapse_whitespace(const bcos_cps *in, bcos_cps *out) {
    bool pending_space = false;
    for (size_t i = 0; i < in->len; i++) {
        int32_t c = in->cp[i];
        if (is_python_space(c)) {
            pending_space = out->len > 0;
            continue;
        }
        if (pending_space) bcos_cps_push(out, ' ');
        pending_space = false;
        bcos_cps_push(out, c);
    }
}

#define CAPITAL_SIGMA 0x03A3
#define SMALL_SIGMA 0x03C3
#define FINAL_SIGMA 0x03C2
#define CAPITAL_I_DOT 0x0130
#define COMBINING_DOT_ABOVE 0x0307

/* Case_Ignorable: categories Mn, Me, Cf, Lm, Sk, and the Word_Break classes MidLetter,
 * MidNumLet and Single_Quote. */
static bool is_case_ignorable(int32_t c) {
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK: return true;
    default: break;
    }
    switch (c) {
    case 0x0027: case 0x002E: case 0x003A: case 0x00B7: case 0x0387: case 0x055F: case 0x05F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55:
    case 0xFF07: case 0xFF0E: case 0xFF1A: return true;
    default: return false;
    }
}

/* Cased: Lu, Ll, Lt, anything with a case mapping, and the Other_Lowercase / Other_Uppercase
 * characters that have none (ª, º and the squared and negative capital letters U+1F130..). */
static bool is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return true;
    if (utf8proc_tolower(c) != c || utf8proc_toupper(c) != c) return true;
    return c == 0x00AA || c == 0x00BA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* The first character that is not case-ignorable, walking from i in direction step; is it cased? */
static bool cased_beyond_ignorables(const int32_t *text, size_t n, size_t i, int step) {
    for (;;) {
        if ((step < 0 && i == 0) || (step > 0 && i + 1 >= n)) return false;
        i = step < 0 ? i - 1 : i + 1;
        if (!is_case_ignorable(text[i])) return is_cased(text[i]);
    }
}

static bool is_final_sigma(const int32_t *text, size_t n, size_t i) {
    return cased_beyond_ignorables(text, n, i, -1) && !cased_beyond_ignorables(text, n, i, +1);
}

/* Appends the full lowercase mapping of text to out: the simple mapping of each character, plus
 * the two rules Python applies beyond it: U+0130 (İ) becomes "i" U+0307, and a capital sigma
 * becomes final ς where Unicode's Final_Sigma context holds. */
static void lowercase(const int32_t *text, size_t n, bcos_cps *out) {
    bcos_cps_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        int32_t c = text[i];
        if (c == CAPITAL_I_DOT) {
            bcos_cps_push(out, 'i');
            bcos_cps_push(out, COMBINING_DOT_ABOVE);
        } else if (c == CAPITAL_SIGMA) {
            bcos_cps_push(out, is_final_sigma(text, n, i) ? FINAL_SIGMA : SMALL_SIGMA);
        } else {
            bcos_cps_push(out, utf8proc_tolower(c));
        }
    }
}

char *bcos_text_clean(const char *bytes, size_t n, size_t *len_out) {
    bcos_cps text = {0}, once = {0}, twice = {0}, words = {0}, lower = {0};
    bcos_cps_from_utf8(&text, bytes, n);
    bcos_ftfy_fix_text(&text);
    bcos_html_unescape(text.cp, text.len, &once);
    bcos_html_unescape(once.cp, once.len, &twice);
    collapse_whitespace(&twice, &words);
    lowercase(words.cp, words.len, &lower);
    char *utf8 = bcos_cps_to_utf8(lower.cp, lower.len, len_out);
    bcos_cps_free(&text);
    bcos_cps_free(&once);
    bcos_cps_free(&twice);
    bcos_cps_free(&words);
    bcos_cps_free(&lower);
    return utf8;
}
