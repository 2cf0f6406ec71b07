/* The named character reference tables (generated data in html_entities.c), sorted by name. */
#ifndef BCOS_TEXT_HTML_ENTITIES_H
#define BCOS_TEXT_HTML_ENTITIES_H

#include <stddef.h>

typedef struct {
    const char *name;  /* without the leading '&'; ends in ';' where the reference has one */
    const char *value; /* UTF-8 */
} bcos_html_entity;

/* Every HTML5 name that Python's html.unescape decodes, with and without ';'. */
extern const bcos_html_entity bcos_html5_entities[];
extern const size_t bcos_html5_entities_count;

/* All-caps spellings (such as "EACUTE;") that ftfy's unescape_html decodes besides HTML5's. */
extern const bcos_html_entity bcos_ftfy_caps_entities[];
extern const size_t bcos_ftfy_caps_entities_count;

#endif
