/* The tokenizer against open_clip's SimpleTokenizer: every fixture case must give the same ids,
 * except those marked ftfy_changed (ftfy's mojibake repair, which is not ported), which are only
 * counted. Also the vocabulary size, the special ids, a file-loaded vocabulary and bad files. */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/tokenizer.h"
#include "test.h"

#define FIXTURES "tests/fixtures/tokenizer/"
#define VOCAB_FILE "src/text/bpe_simple_vocab_16e6.txt.gz"

static cJSON *read_json(const char *path) {
    char *text = bcos_read_file(path, NULL);
    BCOS_CHECK(text != NULL, "run from the repository root");
    cJSON *json = cJSON_Parse(text);
    free(text);
    BCOS_CHECK(json != NULL, "fixture is not JSON; regenerate it with tools/ref/make_tokenizer_fixtures.py");
    return json;
}

static int json_int(const cJSON *obj, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    BCOS_CHECK(cJSON_IsNumber(item), "fixture field missing");
    return item->valueint;
}

/* The input bytes of a case: bytes_hex when given, else the UTF-8 of text. */
static char *case_bytes(const cJSON *c, size_t *n) {
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(c, "bytes_hex");
    if (cJSON_IsString(hex)) {
        size_t len = strlen(hex->valuestring) / 2;
        char *bytes = xmalloc(len + 1);
        for (size_t i = 0; i < len; i++) {
            unsigned v;
            BCOS_CHECK(sscanf(hex->valuestring + 2 * i, "%2x", &v) == 1, "bad bytes_hex in fixture");
            bytes[i] = (char)v;
        }
        *n = len;
        return bytes;
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
    BCOS_CHECK(cJSON_IsString(text), "fixture case without text");
    *n = strlen(text->valuestring);
    return xstrdup(text->valuestring);
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n && (i == 0 || ids[i - 1] != 49407 || ids[i] != 0); i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

typedef struct {
    int strict, strict_failed, marked, marked_matched, touched_strict;
} tally;

/* Tokenizes one case; returns whether all context_length ids match. */
static bool run_case(const bcos_tokenizer *tok, const cJSON *c, int line) {
    const cJSON *ctx_item = cJSON_GetObjectItemCaseSensitive(c, "context_length");
    int ctx = cJSON_IsNumber(ctx_item) ? ctx_item->valueint : BCOS_CONTEXT_LENGTH;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids");
    BCOS_CHECK(cJSON_IsArray(ids) && cJSON_GetArraySize(ids) == ctx, "fixture ids of the wrong length");
    int32_t *expected = xmalloc((size_t)ctx * sizeof *expected), *got = xmalloc((size_t)ctx * sizeof *got);
    int expected_n = 0;
    for (int i = 0; i < ctx; i++) {
        expected[i] = cJSON_GetArrayItem(ids, i)->valueint;
        if (expected[i] != 0) expected_n = i + 1;
    }
    size_t n;
    char *bytes = case_bytes(c, &n);
    int got_n = bcos_tokenize_bytes(tok, bytes, n, ctx, got);
    bool same = got_n == expected_n && memcmp(got, expected, (size_t)ctx * sizeof *got) == 0;
    if (!same && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ftfy_changed"))) {
        fprintf(stderr, "tokens.jsonl line %d: %s\n", line,
                cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring);
        print_ids("expected", expected, ctx);
        print_ids("got     ", got, ctx);
    }
    free(bytes);
    free(expected);
    free(got);
    return same;
}

static void test_fixture_cases(const bcos_tokenizer *tok) {
    char *text = bcos_read_file(FIXTURES "tokens.jsonl", NULL);
    BCOS_CHECK(text != NULL, "run from the repository root");
    tally t = {0};
    int line = 0;
    for (char *p = text, *eol; *p; p = eol + 1) {
        eol = strchr(p, '\n');
        BCOS_CHECK(eol != NULL, "fixture must end with a newline");
        *eol = '\0';
        line++;
        cJSON *c = cJSON_Parse(p);
        BCOS_CHECK(c != NULL, "fixture line is not JSON");
        bool same = run_case(tok, c, line);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ftfy_changed"))) {
            t.marked++;
            t.marked_matched += same;
        } else {
            t.strict++;
            t.strict_failed += !same;
            t.touched_strict += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ftfy_touched"));
            CHECK_MSG(same, "tokens.jsonl line %d differs from open_clip", line);
        }
        cJSON_Delete(c);
    }
    free(text);
    CHECK(t.strict >= 500);
    printf("tokenizer fixture: %d exact cases (%d of them fixed by ftfy), %d mismatched; "
           "%d cases need ftfy's mojibake repair: %d match anyway, %d do not\n",
           t.strict, t.touched_strict, t.strict_failed, t.marked, t.marked_matched, t.marked - t.marked_matched);
}

static void test_vocabulary(const bcos_tokenizer *tok) {
    cJSON *meta = read_json(FIXTURES "meta.json");
    CHECK(bcos_tokenizer_vocab_size(tok) == json_int(meta, "vocab_size"));
    CHECK(bcos_tokenizer_sot(tok) == json_int(meta, "sot"));
    CHECK(bcos_tokenizer_eot(tok) == json_int(meta, "eot"));
    CHECK(BCOS_CONTEXT_LENGTH == json_int(meta, "context_length"));
    cJSON_Delete(meta);
}

/* The shipped file loaded from disk must give the same ids as the embedded copy. */
static void test_load_from_file(const bcos_tokenizer *embedded) {
    char err[256] = "";
    bcos_tokenizer *tok = bcos_tokenizer_load(VOCAB_FILE, err, sizeof err);
    CHECK_MSG(tok != NULL, "%s", err);
    if (!tok) return;
    const char *text = "A photo of a cat, &amp; an \xc3\x9c" "berraschung!";
    int32_t a[BCOS_CONTEXT_LENGTH], b[BCOS_CONTEXT_LENGTH];
    int na = bcos_tokenize(tok, text, BCOS_CONTEXT_LENGTH, a);
    int nb = bcos_tokenize(embedded, text, BCOS_CONTEXT_LENGTH, b);
    CHECK(na == nb && memcmp(a, b, sizeof a) == 0);
    CHECK(bcos_tokenizer_vocab_size(tok) == bcos_tokenizer_vocab_size(embedded));
    bcos_tokenizer_free(tok);
}

static void test_bad_files(void) {
    char err[256] = "";
    CHECK(bcos_tokenizer_load("tests/fixtures/tokenizer/no-such-file.gz", err, sizeof err) == NULL);
    CHECK(strstr(err, "no-such-file.gz") != NULL);
    err[0] = '\0';
    CHECK(bcos_tokenizer_load(FIXTURES "meta.json", err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "meta.json") != NULL && strstr(err, "gzip") != NULL, "message: %s", err);
}

int main(void) {
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    test_vocabulary(tok);
    test_fixture_cases(tok);
    test_load_from_file(tok);
    test_bad_files();
    bcos_tokenizer_free(tok);
    return test_summary("test_tokenizer");
}
