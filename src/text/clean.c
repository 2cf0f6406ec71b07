/* open_clip's "lower" text cleaning: basic_clean (ftfy, double HTML unescape, strip), then
 * whitespace_clean (split on whitespace and join with single spaces), then str.lower(). */
#include "clean.h"

#include <stdbool.h>
#include <stdlib.h>

#include "codepoints.h"
#include "ftfy_subset.h"
#include "html_unescape.h"
#include "lower.h"

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

char *bcos_text_clean(const char *bytes, size_t n, size_t *len_out) {
    bcos_cps text = {0}, once = {0}, twice = {0}, words = {0}, lower = {0};
    bcos_cps_from_utf8(&text, bytes, n);
    bcos_ftfy_fix_text(&text);
    bcos_html_unescape(text.cp, text.len, &once);
    bcos_html_unescape(once.cp, once.len, &twice);
    collapse_whitespace(&twice, &words);
    bcos_lower(words.cp, words.len, &lower);
    char *utf8 = bcos_cps_to_utf8(lower.cp, lower.len, len_out);
    bcos_cps_free(&text);
    bcos_cps_free(&once);
    bcos_cps_free(&twice);
    bcos_cps_free(&words);
    bcos_cps_free(&lower);
    return utf8;
}
