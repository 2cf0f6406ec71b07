/* SHA-256 against the FIPS 180-2 example vectors (empty, "abc", the 448- and 896-bit messages, one
 * million 'a'), the same messages fed in uneven pieces, lengths around the padding boundary
 * against the one-shot digest, and the digest of a file. */
#include "bcos/sha256.h"

#include "test.h"

#include <string.h>
#include <unistd.h>

typedef struct {
    const char *message;
    size_t repeat;
    const char *digest;
} vector;

static const vector VECTORS[] = {
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};
#define N_VECTORS (int)(sizeof VECTORS / sizeof VECTORS[0])

static char *expand(const vector *v, size_t *len) {
    size_t one = strlen(v->message);
    *len = one * v->repeat;
    char *buf = malloc(*len + 1);
    for (size_t i = 0; i < v->repeat; i++) memcpy(buf + i * one, v->message, one);
    return buf;
}

static void hex_of(const uint8_t digest[BCOS_SHA256_BYTES], char hex[BCOS_SHA256_HEX]) {
    for (int i = 0; i < BCOS_SHA256_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static void test_vectors_one_shot(void) {
    for (int i = 0; i < N_VECTORS; i++) {
        size_t len;
        char *msg = expand(&VECTORS[i], &len);
        char hex[BCOS_SHA256_HEX];
        bcos_sha256_hex(msg, len, hex);
        CHECK_MSG(strcmp(hex, VECTORS[i].digest) == 0, "vector %d: %s", i, hex);
        free(msg);
    }
}

/* Pieces of 1, 2, 3, ... 97 bytes, then again: crosses block boundaries at every offset. */
static void test_vectors_in_pieces(void) {
    for (int i = 0; i < N_VECTORS; i++) {
        size_t len;
        char *msg = expand(&VECTORS[i], &len);
        bcos_sha256 ctx;
        bcos_sha256_init(&ctx);
        size_t piece = 1;
        for (size_t done = 0; done < len; piece = piece % 97 + 1) {
            size_t take = len - done < piece ? len - done : piece;
            bcos_sha256_update(&ctx, msg + done, take);
            done += take;
        }
        uint8_t digest[BCOS_SHA256_BYTES];
        char hex[BCOS_SHA256_HEX];
        bcos_sha256_final(&ctx, digest);
        hex_of(digest, hex);
        CHECK_MSG(strcmp(hex, VECTORS[i].digest) == 0, "vector %d in pieces: %s", i, hex);
        free(msg);
    }
}

/* Lengths 50..130 put the length field in the same block or the next: streaming byte by byte
 * must agree with one-shot for each (both paths share the padding, so this checks buffering). */
static void test_padding_boundaries(void) {
    unsigned char msg[130];
    for (int i = 0; i < 130; i++) msg[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 50; len <= 130; len++) {
        char one_shot[BCOS_SHA256_HEX], streamed[BCOS_SHA256_HEX];
        bcos_sha256_hex(msg, len, one_shot);
        bcos_sha256 ctx;
        bcos_sha256_init(&ctx);
        for (size_t i = 0; i < len; i++) bcos_sha256_update(&ctx, msg + i, 1);
        uint8_t digest[BCOS_SHA256_BYTES];
        bcos_sha256_final(&ctx, digest);
        hex_of(digest, streamed);
        CHECK_MSG(strcmp(one_shot, streamed) == 0, "length %zu", len);
    }
}

static void test_file_digest(void) {
    char path[] = "/tmp/bcos_test_sha256_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    size_t len;
    char *msg = expand(&VECTORS[4], &len);
    CHECK(write(fd, msg, len) == (ssize_t)len);
    close(fd);
    char hex[BCOS_SHA256_HEX];
    CHECK(bcos_sha256_file(path, hex) == 0);
    CHECK_MSG(strcmp(hex, VECTORS[4].digest) == 0, "file digest %s", hex);
    unlink(path);
    CHECK(bcos_sha256_file(path, hex) == -1);
    free(msg);
}

int main(void) {
    test_vectors_one_shot();
    test_vectors_in_pieces();
    test_padding_boundaries();
    test_file_digest();
    return test_summary("sha256");
}
