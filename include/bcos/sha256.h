/* SHA-256 (FIPS 180-4): streaming digest of bytes and of whole files, for the checksums the store
 * records beside every checkpoint file. */
#ifndef BCOS_SHA256_H
#define BCOS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define BCOS_SHA256_BYTES 32
#define BCOS_SHA256_HEX 65 /* 64 lowercase hex digits and the NUL */

typedef struct {
    uint32_t state[8];
    uint64_t total_bytes;
    uint8_t block[64];
    size_t block_used;
} bcos_sha256;

void bcos_sha256_init(bcos_sha256 *ctx);
void bcos_sha256_update(bcos_sha256 *ctx, const void *data, size_t len);
void bcos_sha256_final(bcos_sha256 *ctx, uint8_t digest[BCOS_SHA256_BYTES]);
/* bcos_sha256_final as lowercase hex. */
void bcos_sha256_final_hex(bcos_sha256 *ctx, char hex[BCOS_SHA256_HEX]);
/* One-shot digest of a buffer, as lowercase hex. */
void bcos_sha256_hex(const void *data, size_t len, char hex[BCOS_SHA256_HEX]);
/* Digest of a file's contents as lowercase hex: 0, or -1 with errno set (the file cannot be read). */
int bcos_sha256_file(const char *path, char hex[BCOS_SHA256_HEX]);

#endif
