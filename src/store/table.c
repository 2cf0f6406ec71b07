/* Plain-text output of the store's queries: aligned tables for people; for programs, CSV fields
 * quoted as RFC 4180 says (but lines end in "\n", as Unix tools expect) and numbers printed in
 * digits that read back exactly. */
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void store_table_init(store_table *t, int n_cols, const char *const *headers, const char *align) {
    BCOS_CHECK((int)strlen(align) == n_cols, "one alignment letter per column");
    t->n_cols = n_cols;
    t->headers = headers;
    t->align = align;
    t->n_cells = 0;
    t->cells = NULL;
}

void store_table_cell(store_table *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cell = bcos_vstrfmt(fmt, ap);
    va_end(ap);
    t->cells = xrealloc(t->cells, (size_t)(t->n_cells + 1) * sizeof *t->cells);
    t->cells[t->n_cells++] = cell;
}

static void print_row(const store_table *t, const char *const *row, const int *width, FILE *out) {
    for (int c = 0; c < t->n_cols; c++) {
        int last = c == t->n_cols - 1;
        if (t->align[c] == 'r') fprintf(out, "%*s", width[c], row[c]);
        else if (last) fputs(row[c], out); /* no trailing blanks */
        else fprintf(out, "%-*s", width[c], row[c]);
        fputs(last ? "\n" : "  ", out);
    }
}

void store_table_print(const store_table *t, FILE *out) {
    BCOS_CHECK(t->n_cells % t->n_cols == 0, "a table row is incomplete");
    int *width = xcalloc((size_t)t->n_cols, sizeof *width);
    for (int c = 0; c < t->n_cols; c++) width[c] = (int)strlen(t->headers[c]);
    for (int i = 0; i < t->n_cells; i++) {
        int len = (int)strlen(t->cells[i]);
        if (len > width[i % t->n_cols]) width[i % t->n_cols] = len;
    }
    print_row(t, t->headers, width, out);
    for (int i = 0; i < t->n_cells; i += t->n_cols) print_row(t, (const char *const *)t->cells + i, width, out);
    free(width);
}

void store_table_free(store_table *t) {
    for (int i = 0; i < t->n_cells; i++) free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_cells = 0;
}

void store_csv_field(FILE *out, const char *field, int last) {
    if (strpbrk(field, ",\"\r\n")) {
        fputc('"', out);
        for (const char *c = field; *c; c++) {
            if (*c == '"') fputc('"', out);
            fputc(*c, out);
        }
        fputc('"', out);
    } else {
        fputs(field, out);
    }
    fputs(last ? "\n" : ",", out);
}

void store_format_double(char *buf, size_t len, double value) {
    /* The shortest of %.15g and %.17g that reads back as the same double. */
    snprintf(buf, len, "%.15g", value);
    if (strtod(buf, NULL) != value) snprintf(buf, len, "%.17g", value);
}
