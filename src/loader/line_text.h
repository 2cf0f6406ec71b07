/* One-line texts of the loader's checkpointed state (data cursor, epoch rest): writing into a
 * caller's buffer that reports overflow instead of truncating, and strict scanning (digits only). */
#ifndef BCOS_LINE_TEXT_H
#define BCOS_LINE_TEXT_H

#include "bcos/check.h"

#include <stdbool.h>
#include <stddef.h>

/* A text being written into a caller's buffer; overflowed once it did not fit. */
typedef struct {
    char *buf;
    size_t size, used;
    bool overflowed;
} line_text;

/* An empty text in buf of size bytes. */
line_text line_text_in(char *buf, size_t size);
void line_put(line_text *t, const char *fmt, ...) BCOS_PRINTF(2, 3);
/* The length written, or -1 when it overflowed. */
int line_text_length(const line_text *t);

/* Whether *p starts with ch; advances past it when it does. */
bool line_scan_char(const char **p, char ch);
/* A non-negative decimal at *p (digits only), at most max; advances *p past it. */
bool line_scan_number(const char **p, long max, long *out);

#endif
