/* HTML output of the report: escaped text, numbers for people and base64 for embedded pictures. */
#include <math.h>

#include "report_internal.h"

void html_text(FILE *out, const char *text) {
    for (const char *c = text; c && *c; c++) {
        switch (*c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*c, out);
        }
    }
}

void html_base64(FILE *out, const unsigned char *data, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < n) v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < n) v |= data[i + 2];
        char quad[4] = {digits[(v >> 18) & 63], digits[(v >> 12) & 63], i + 1 < n ? digits[(v >> 6) & 63] : '=',
                        i + 2 < n ? digits[v & 63] : '='};
        fwrite(quad, 1, 4, out);
    }
}

void html_number(FILE *out, double value) {
    if (isnan(value)) fputs("-", out);
    else if (isinf(value)) fputs(value > 0 ? "inf" : "-inf", out);
    else fprintf(out, "%.4g", value);
}
