/* Python's html.unescape on code points (numeric and HTML5 named references), the entity table
 * look-up it shares with ftfy's step, and the Windows-1252 reading of C1 controls. */
#include <stdbool.h>

#include "text_internal.h"

/* Longest named reference candidate Python's pattern takes: [^\t\n\f <&#;]{1,32}. */
#define NAME_MAX_CHARS 32

int32_t bcos_cp1252_c1(int32_t c) {
    static const int32_t table[32] = {
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    };
    return (c >= 0x80 && c <= 0x9F) ? table[c - 0x80] : c;
}

/* strcmp between code points and an ASCII name. */
static int compare_name(const int32_t *name, size_t len, const char *key) {
    for (size_t i = 0; i < len; i++) {
        unsigned char k = (unsigned char)key[i];
        if (k == 0) return 1;
        if (name[i] != k) return name[i] < k ? -1 : 1;
    }
    return key[len] == 0 ? 0 : -1;
}

const char *bcos_html_entity_find(const bcos_html_entity *table, size_t count, const int32_t *name,
                                  size_t len) {
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_name(name, len, table[mid].name);
        if (c == 0) return table[mid].value;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* HTML5 marks these numbers as parse errors that decode to nothing (Python's _invalid_codepoints):
 * C0 controls but tab, newline, form feed and carriage return; DEL and C1; the noncharacters. */
static bool is_dropped_codepoint(uint32_t v) {
    if ((v >= 0x01 && v <= 0x08) || v == 0x0B || (v >= 0x0E && v <= 0x1F)) return true;
    if (v >= 0x7F && v <= 0x9F) return true;
    if (v >= 0xFDD0 && v <= 0xFDEF) return true;
    return (v & 0xFFFE) == 0xFFFE && v <= 0x10FFFF;
}

/* What the number of a numeric reference decodes to; -1 for nothing. */
static int32_t numeric_reference_value(uint32_t v) {
    if (v == 0x00) return 0xFFFD;
    if (v == 0x0D) return 0x0D;
    if (v >= 0x80 && v <= 0x9F) return bcos_cp1252_c1((int32_t)v);
    if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) return 0xFFFD;
    if (is_dropped_codepoint(v)) return -1;
    return (int32_t)v;
}

static int hex_digit_value(int32_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes "&#digits;?" or "&#xhex;?" at text[0] ('&'). Returns the length consumed, 0 when
 * the text is no numeric reference. Python's int() is unbounded; saturating above U+10FFFF
 * gives the same result. */
static size_t decode_numeric(const int32_t *text, size_t n, bcos_cps *out) {
    bool hex = n > 2 && (text[2] == 'x' || text[2] == 'X');
    size_t i = hex ? 3 : 2;
    uint32_t v = 0;
    size_t start = i;
    for (; i < n; i++) {
        int d = hex ? hex_digit_value(text[i]) : (text[i] >= '0' && text[i] <= '9' ? text[i] - '0' : -1);
        if (d < 0) break;
        v = v * (hex ? 16u : 10u) + (uint32_t)d;
        if (v > 0x110000) v = 0x110000;
    }
    if (i == start) return 0;
    if (i < n && text[i] == ';') i++;
    int32_t c = numeric_reference_value(v);
    if (c >= 0) bcos_cps_push(out, c);
    return i;
}

static bool ends_name(int32_t c) {
    return c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' ||
           c == ';';
}

/* Decodes a named reference at text[0] ('&'): the whole candidate when it is a name, else its
 * longest prefix of two or more characters that is one (legacy names need no ';'), else
 * nothing. Returns the length consumed (the candidate's, always), 0 when there is none. */
static size_t decode_named(const int32_t *text, size_t n, bcos_cps *out) {
    size_t len = 0;
    while (1 + len < n && len < NAME_MAX_CHARS && !ends_name(text[1 + len])) len++;
    if (len == 0) return 0;
    if (1 + len < n && text[1 + len] == ';') len++;
    const int32_t *name = text + 1;
    const char *value = bcos_html_entity_find(bcos_html5_entities, bcos_html5_entities_count, name, len);
    size_t used = len;
    for (size_t x = len - 1; !value && x >= 2; x--) {
        value = bcos_html_entity_find(bcos_html5_entities, bcos_html5_entities_count, name, x);
        used = x;
    }
    if (value) {
        bcos_cps_append_utf8(out, value);
        bcos_cps_append(out, name + used, len - used);
    } else {
        bcos_cps_append(out, text, 1 + len);
    }
    return 1 + len;
}

void bcos_html_unescape(const int32_t *text, size_t n, bcos_cps *out) {
    bcos_cps_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        size_t used = 0;
        if (text[i] == '&') {
            used = (i + 1 < n && text[i + 1] == '#') ? decode_numeric(text + i, n - i, out)
                                                     : decode_named(text + i, n - i, out);
        }
        if (used == 0) {
            bcos_cps_push(out, text[i]);
            used = 1;
        }
        i += used;
    }
}
