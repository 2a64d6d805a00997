/*
 * Inbound authentication: `Authorization: Bearer <token>` against the configured tokens.
 */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stddef.h>

#include "gateway/config.h"

/**
 * 1 when `header` (the Authorization value, `len` bytes, not NUL-terminated; NULL when absent)
 * carries one of the configured tokens, else 0. The comparison is of SHA-256 digests with
 * CRYPTO_memcmp over every configured token, so its time depends on neither the token nor
 * which one matched.
 */
int gw_auth_check(const gw_config_t *config, const char *header, size_t len);

#endif
