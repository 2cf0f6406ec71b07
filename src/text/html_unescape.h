/* HTML character reference decoding, as Python's html.unescape and ftfy's unescape_html do it. */
#ifndef BCOS_TEXT_HTML_UNESCAPE_H
#define BCOS_TEXT_HTML_UNESCAPE_H

#include "codepoints.h"
#include "html_entities.h"

/* Python's html.unescape: numeric references (&#65; &#x41;, ';' optional, with the HTML5
 * replacements for invalid numbers), and every HTML5 named reference, including the legacy names
 * without ';' and their longest-prefix matches ("&ampx" -> "&x"). Appends the result to out. */
void bcos_html_unescape(const int32_t *text, size_t n, bcos_cps *out);

/* The UTF-8 value of the entity whose name is exactly name[0..len) in a sorted table, or NULL. */
const char *bcos_html_entity_find(const bcos_html_entity *table, size_t count, const int32_t *name,
                                  size_t len);

/* The Windows-1252 reading of a C1 control code point 0x80..0x9F, as browsers (and ftfy's
 * "sloppy" codec) do; the five bytes that Windows-1252 leaves undefined map to themselves. */
int32_t bcos_cp1252_c1(int32_t c);

#endif
