/* libFuzzer target: arbitrary text through the parsers of the loader's checkpointed lines, the
 * data cursor and the epoch rest. Whatever parses must format back to text that parses to the same
 * line again (a checkpoint's cursor or rest survives its round trip), and a refusal must leave an
 * empty value and a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/shard_plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok) {
    if (!ok) abort();
}

static void fuzz_cursor(const char *text, size_t size) {
    bcos_data_cursor cursor, again;
    char err[512] = "";
    if (bcos_data_cursor_parse(&cursor, text, err, sizeof err) != 0) {
        require(err[0] != '\0' && cursor.workers[0].held == NULL);
        return;
    }
    size_t cap = 64 + 80 * (size_t)cursor.n_workers + 2 * size;
    char *line = malloc(cap), *line2 = malloc(cap);
    require(bcos_data_cursor_format(&cursor, line, cap) > 0);
    require(bcos_data_cursor_parse(&again, line, err, sizeof err) == 0);
    require(bcos_data_cursor_format(&again, line2, cap) > 0 && strcmp(line, line2) == 0);
    bcos_data_cursor_free(&cursor);
    bcos_data_cursor_free(&again);
    free(line);
    free(line2);
}

static void fuzz_rest(const char *text, size_t size) {
    bcos_epoch_rest rest, again;
    char err[512] = "";
    if (bcos_epoch_rest_parse(&rest, text, err, sizeof err) != 0) {
        require(err[0] != '\0' && rest.n == 0 && rest.pieces == NULL);
        return;
    }
    size_t cap = 64 + 2 * size;
    char *line = malloc(cap), *line2 = malloc(cap);
    require(bcos_epoch_rest_format(&rest, line, cap) > 0);
    require(bcos_epoch_rest_parse(&again, line, err, sizeof err) == 0);
    require(bcos_epoch_rest_format(&again, line2, cap) > 0 && strcmp(line, line2) == 0);
    bcos_epoch_rest_free(&rest);
    bcos_epoch_rest_free(&again);
    free(line);
    free(line2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_cursor(text, size);
    fuzz_rest(text, size);
    free(text);
    return 0;
}
