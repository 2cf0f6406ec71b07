/* ftfy.fix_text without its mojibake repair: the fixers and the loop that runs them per line
 * until the text stops changing. Each fixer reads `in` and appends to `out`. */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bcos/check.h"
#include "text_internal.h"

/* ftfy's max_decode_length: a line longer than this is fixed in pieces of this many characters. */
#define FTFY_MAX_SEGMENT 1000000
/* ftfy's entity pattern: &#?[0-9A-Za-z]{1,24}; */
#define FTFY_ENTITY_MAX_NAME 24

static bool is_ascii_alnum(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_alpha(int32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Length of an ftfy entity at in[0] ('&'), or 0: "&" "#"? then 1..24 ASCII letters or digits
 * and ';'. */
static size_t ftfy_entity_length(const int32_t *in, size_t n) {
    size_t i = 1 + (n > 1 && in[1] == '#');
    size_t start = i;
    while (i < n && is_ascii_alnum(in[i])) i++;
    size_t run = i - start;
    if (run == 0 || run > FTFY_ENTITY_MAX_NAME || i >= n || in[i] != ';') return 0;
    return i + 1;
}

/* Replaces one entity: named ones only by exact HTML5 names ending in ';' or ftfy's all-caps
 * spellings; numeric ones through html.unescape, kept when that leaves a ';' behind. */
static void ftfy_replace_entity(const int32_t *entity, size_t len, bcos_cps *out) {
    if (entity[1] == '#') {
        bcos_cps decoded = {0};
        bcos_html_unescape(entity, len, &decoded);
        bool partial = false;
        for (size_t i = 0; i < decoded.len; i++) partial |= decoded.cp[i] == ';';
        if (partial) bcos_cps_append(out, entity, len);
        else bcos_cps_append(out, decoded.cp, decoded.len);
        bcos_cps_free(&decoded);
        return;
    }
    const char *value = bcos_html_entity_find(bcos_html5_entities, bcos_html5_entities_count,
                                              entity + 1, len - 1);
    if (!value) {
        value = bcos_html_entity_find(bcos_ftfy_caps_entities, bcos_ftfy_caps_entities_count,
                                      entity + 1, len - 1);
    }
    if (value) bcos_cps_append_utf8(out, value);
    else bcos_cps_append(out, entity, len);
}

static void unescape_html(const bcos_cps *in, bcos_cps *out) {
    size_t i = 0;
    while (i < in->len) {
        size_t len = in->cp[i] == '&' ? ftfy_entity_length(in->cp + i, in->len - i) : 0;
        if (len) {
            ftfy_replace_entity(in->cp + i, len, out);
            i += len;
        } else {
            bcos_cps_push(out, in->cp[i++]);
        }
    }
}

static void fix_c1_controls(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) bcos_cps_push(out, bcos_cp1252_c1(in->cp[i]));
}

/* The Latin ligatures and legacy digraphs ftfy takes apart (it keeps æ, œ and the like). */
static const char *latin_ligature(int32_t c) {
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\312\274n"; /* ŉ -> ʼn */
    case 0x01F1: return "DZ";
    case 0x01F2: return "Dz";
    case 0x01F3: return "dz";
    case 0x01C4: return "D\305\275"; /* Ǆ -> DŽ */
    case 0x01C5: return "D\305\276"; /* ǅ -> Dž */
    case 0x01C6: return "d\305\276"; /* ǆ -> dž */
    case 0x01C7: return "LJ";
    case 0x01C8: return "Lj";
    case 0x01C9: return "lj";
    case 0x01CA: return "NJ";
    case 0x01CB: return "Nj";
    case 0x01CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\305\277t"; /* ﬅ -> ſt */
    case 0xFB06: return "st";
    default: return NULL;
    }
}

static void fix_latin_ligatures(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) {
        const char *parts = latin_ligature(in->cp[i]);
        if (parts) bcos_cps_append_utf8(out, parts);
        else bcos_cps_push(out, in->cp[i]);
    }
}

/* Halfwidth and fullwidth forms (U+FF01..U+FFEF) become their NFKC form, and the ideographic
 * space a plain space. */
static void fix_character_width(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) {
        int32_t c = in->cp[i];
        if (c == 0x3000) {
            bcos_cps_push(out, ' ');
        } else if (c >= 0xFF01 && c <= 0xFFEF) {
            char utf8[8];
            utf8[utf8proc_encode_char(c, (utf8proc_uint8_t *)utf8)] = '\0';
            char *nfkc = (char *)utf8proc_NFKC((const utf8proc_uint8_t *)utf8);
            BCOS_CHECK(nfkc != NULL, "utf8proc could not normalise a fullwidth character");
            bcos_cps_append_utf8(out, nfkc);
            free(nfkc);
        } else {
            bcos_cps_push(out, c);
        }
    }
}

static void uncurl_quotes(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) {
        int32_t c = in->cp[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        bcos_cps_push(out, c);
    }
}

static void fix_line_breaks(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) {
        int32_t c = in->cp[i];
        if (c == '\r' && i + 1 < in->len && in->cp[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        bcos_cps_push(out, c);
    }
}

/* ESC '[' then decimal digits (any script, as Python's \d) or ';', then an ASCII letter. */
static size_t terminal_escape_length(const int32_t *in, size_t n) {
    if (n < 3 || in[0] != 0x1B || in[1] != '[') return 0;
    size_t i = 2;
    while (i < n && (in[i] == ';' || utf8proc_category(in[i]) == UTF8PROC_CATEGORY_ND)) i++;
    return (i < n && is_ascii_alpha(in[i])) ? i + 1 : 0;
}

static void remove_terminal_escapes(const bcos_cps *in, bcos_cps *out) {
    size_t i = 0;
    while (i < in->len) {
        size_t len = terminal_escape_length(in->cp + i, in->len - i);
        if (len) i += len;
        else bcos_cps_push(out, in->cp[i++]);
    }
}

/* Controls ftfy removes: C0 but the whitespace ones, DEL, the deprecated Arabic format
 * controls, the byte order mark, interlinear annotations and the object replacement character. */
static bool is_unwanted_control(int32_t c) {
    return (c >= 0x00 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static void remove_control_chars(const bcos_cps *in, bcos_cps *out) {
    for (size_t i = 0; i < in->len; i++) {
        if (!is_unwanted_control(in->cp[i])) bcos_cps_push(out, in->cp[i]);
    }
}

static void normalize_nfc(const bcos_cps *in, bcos_cps *out) {
    size_t len;
    char *utf8 = bcos_cps_to_utf8(in->cp, in->len, &len);
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)utf8, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    BCOS_CHECK(n >= 0, "utf8proc rejected text this tokenizer encoded itself");
    bcos_cps_from_utf8(out, (const char *)nfc, (size_t)n);
    free(nfc);
    free(utf8);
}

typedef void (*fixer_fn)(const bcos_cps *in, bcos_cps *out);

/* Runs one fixer over text, replacing it. */
static void apply_fixer(fixer_fn fix, bcos_cps *text) {
    bcos_cps out = {0};
    bcos_cps_reserve(&out, text->len);
    fix(text, &out);
    bcos_cps_move(text, &out);
}

/* ftfy's fix_and_explain on one segment: all fixers in ftfy's order, repeated until a pass
 * changes nothing. */
static void fix_segment(bcos_cps *segment, bool unescape) {
    static const fixer_fn fixers[] = {fix_c1_controls,       fix_latin_ligatures, fix_character_width,
                                      uncurl_quotes,         fix_line_breaks,     remove_terminal_escapes,
                                      remove_control_chars,  normalize_nfc};
    bcos_cps before = {0};
    do {
        before.len = 0;
        bcos_cps_append(&before, segment->cp, segment->len);
        if (unescape) apply_fixer(unescape_html, segment);
        for (size_t k = 0; k < sizeof fixers / sizeof fixers[0]; k++) apply_fixer(fixers[k], segment);
    } while (!bcos_cps_equal(&before, segment));
    bcos_cps_free(&before);
}

static bool contains(const int32_t *cp, size_t n, int32_t c) {
    for (size_t i = 0; i < n; i++) {
        if (cp[i] == c) return true;
    }
    return false;
}

void bcos_ftfy_fix_text(bcos_cps *text) {
    bcos_cps fixed = {0}, segment = {0};
    /* ftfy stops unescaping HTML for good at the first line that holds a '<' (it looks like
     * markup, where entities are meant literally). */
    bool unescape = true;
    size_t pos = 0;
    while (pos < text->len) {
        size_t end = pos;
        while (end < text->len && text->cp[end] != '\n') end++;
        end = end < text->len ? end + 1 : end;
        if (end - pos > FTFY_MAX_SEGMENT) end = pos + FTFY_MAX_SEGMENT;
        if (unescape && contains(text->cp + pos, end - pos, '<')) unescape = false;
        segment.len = 0;
        bcos_cps_append(&segment, text->cp + pos, end - pos);
        fix_segment(&segment, unescape);
        bcos_cps_append(&fixed, segment.cp, segment.len);
        pos = end;
    }
    bcos_cps_free(&segment);
    bcos_cps_move(text, &fixed);
}
