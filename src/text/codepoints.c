/* Growable code point strings, and UTF-8 decoding with Python's error replacement. */

#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "text_internal.h"

void bcos_cps_free(bcos_cps *s) {
    free(s->cp);
    *s = (bcos_cps){0};
}

void bcos_cps_reserve(bcos_cps *s, size_t extra) {
    if (s->len + extra <= s->cap) return;
    size_t cap = s->cap ? s->cap : 16;
    while (cap < s->len + extra) cap *= 2;
    s->cp = xrealloc(s->cp, cap * sizeof *s->cp);
    s->cap = cap;
}

void bcos_cps_push(bcos_cps *s, int32_t c) {
    bcos_cps_reserve(s, 1);
    s->cp[s->len++] = c;
}

void bcos_cps_append(bcos_cps *s, const int32_t *cp, size_t n) {
    if (n == 0) return;
    bcos_cps_reserve(s, n);
    memcpy(s->cp + s->len, cp, n * sizeof *cp);
    s->len += n;
}

void bcos_cps_append_utf8(bcos_cps *s, const char *utf8) {
    bcos_cps_from_utf8(s, utf8, strlen(utf8));
}

bool bcos_cps_equal(const bcos_cps *a, const bcos_cps *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->cp, b->cp, a->len * sizeof *a->cp) == 0);
}

void bcos_cps_move(bcos_cps *to, bcos_cps *from) {
    bcos_cps_free(to);
    *to = *from;
    *from = (bcos_cps){0};
}

/* The allowed range of the second byte of a sequence led by `lead` (Unicode table 3-7), and
 * how many continuation bytes the lead needs; 0 when the lead byte can never start one. */
static int utf8_sequence_shape(unsigned char lead, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) return 1;
    if (lead == 0xE0) *lo = 0xA0;
    if (lead == 0xED) *hi = 0x9F;
    if (lead >= 0xE0 && lead <= 0xEF) return 2;
    if (lead == 0xF0) *lo = 0x90;
    if (lead == 0xF4) *hi = 0x8F;
    if (lead >= 0xF0 && lead <= 0xF4) return 3;
    return 0;
}

void bcos_cps_from_utf8(bcos_cps *out, const char *bytes, size_t n) {
    const unsigned char *b = (const unsigned char *)bytes;
    bcos_cps_reserve(out, n);
    size_t i = 0;
    while (i < n) {
        unsigned char lead = b[i];
        if (lead < 0x80) {
            out->cp[out->len++] = lead;
            i++;
            continue;
        }
        unsigned char lo, hi;
        int need = utf8_sequence_shape(lead, &lo, &hi);
        int32_t c = need == 1 ? lead & 0x1F : need == 2 ? lead & 0x0F : lead & 0x07;
        size_t j = i + 1;
        int got = 0;
        while (got < need && j < n) {
            unsigned char lo_k = got == 0 ? lo : 0x80, hi_k = got == 0 ? hi : 0xBF;
            if (b[j] < lo_k || b[j] > hi_k) break;
            c = (c << 6) | (b[j] & 0x3F);
            got++;
            j++;
        }
        /* A complete sequence is one code point; anything less is one replacement character,
         * and decoding resumes at the first byte that did not fit. */
        out->cp[out->len++] = (need > 0 && got == need) ? c : 0xFFFD;
        i = j;
    }
}

static size_t utf8_encode(int32_t c, char *dst) {
    unsigned char *d = (unsigned char *)dst;
    if (c < 0x80) {
        d[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        d[0] = (unsigned char)(0xC0 | (c >> 6));
        d[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (c >> 12));
        d[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (c >> 18));
    d[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

char *bcos_cps_to_utf8(const int32_t *cp, size_t n, size_t *len_out) {
    char *out = xmalloc(4 * n + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += utf8_encode(cp[i], out + len);
    out[len] = '\0';
    if (len_out) *len_out = len;
    return out;
}
