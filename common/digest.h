/*
 * SHA-256 for the hot paths (every request's token, every audit entry). OpenSSL 3's SHA256()
 * fetches the algorithm from the provider on each call, which costs more than hashing a token;
 * this fetches it once per process.
 */
#ifndef COMMON_DIGEST_H
#define COMMON_DIGEST_H

#include <stddef.h>

#define GW_DIGEST_LEN     32
#define GW_DIGEST_HEX_LEN (2 * GW_DIGEST_LEN + 1)

/** out = SHA-256(data). Thread-safe. Aborts if OpenSSL has no SHA-256 (a broken installation). */
void gw_digest(const void *data, size_t len, unsigned char out[GW_DIGEST_LEN]);
/** The same as lowercase hex, NUL-terminated. */
void gw_digest_hex(const void *data, size_t len, char out[GW_DIGEST_HEX_LEN]);

#endif
