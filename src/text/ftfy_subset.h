/* The part of ftfy.fix_text (ftfy 6, default settings) that the tokenizer reproduces. */
#ifndef BCOS_TEXT_FTFY_SUBSET_H
#define BCOS_TEXT_FTFY_SUBSET_H

#include "codepoints.h"

/* Fixes text in place as ftfy.fix_text does, except for its mojibake repair (fix_encoding and
 * its helpers), which is left out: per line, and until nothing changes, unescape_html (only
 * while no line so far held a '<'), fix_c1_controls, fix_latin_ligatures, fix_character_width,
 * uncurl_quotes, fix_line_breaks, remove_terminal_escapes, remove_control_chars, then NFC.
 * docs/TOKENIZER.md lists what each step does. */
void bcos_ftfy_fix_text(bcos_cps *text);

#endif
