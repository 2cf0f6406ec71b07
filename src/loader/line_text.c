/* Writing and strictly scanning the loader's one-line texts (bcos data cursor, epoch rest). */
#include "line_text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

line_text line_text_in(char *buf, size_t size) { return (line_text){buf, size, 0, size == 0}; }

void line_put(line_text *t, const char *fmt, ...) {
    if (t->overflowed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->used, t->size - t->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->used)
        t->overflowed = true;
    else
        t->used += (size_t)n;
}

int line_text_length(const line_text *t) { return t->overflowed ? -1 : (int)t->used; }

bool line_scan_char(const char **p, char ch) {
    if (**p != ch) return false;
    (*p)++;
    return true;
}

bool line_scan_number(const char **p, long max, long *out) {
    if (!isdigit((unsigned char)**p)) return false;
    errno = 0;
    char *end;
    long v = strtol(*p, &end, 10);
    if (errno || v > max) return false;
    *p = end;
    *out = v;
    return true;
}
