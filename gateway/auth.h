/*
 * Inbound authentication and source-address checks for the SCIM endpoints.
 *
 * Credentials: `Authorization: Bearer <token>`, or `Authorization: Basic base64(name:token)`
 * (Okta's "Basic Auth" option: the user name is the token's configured name, the password the
 * token). Only SHA-256 digests of the tokens are kept (config.h).
 */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/config.h"

typedef enum gw_auth_result {
    GW_AUTH_OK,
    GW_AUTH_MISSING, /** no Authorization header, or a scheme other than Bearer/Basic */
    GW_AUTH_INVALID, /** no configured token matches */
    GW_AUTH_EXPIRED, /** it matches a token whose expiry has passed */
} gw_auth_result_t;

/** The WWW-Authenticate value of every 401 (RFC 6750 §3), from the router and from gateway/preauth alike. */
#define GW_AUTH_CHALLENGE "Bearer realm=\"odeus-scim-gateway\""

/** SCIM error details of the 403s for a source address, shared by the router and gateway/preauth. */
#define GW_AUTH_ADDRESS_UNKNOWN "the source address cannot be determined"
#define GW_AUTH_ADDRESS_REFUSED "this source address may not call the SCIM endpoints"

/** The SCIM error detail of a 401 for `result` (not GW_AUTH_OK); static. It names no token. */
const char *gw_auth_failure_detail(gw_auth_result_t result);

/**
 * Checks the Authorization value `header` (`len` bytes, not NUL-terminated; NULL when absent) at
 * unix time `now_s`. On GW_AUTH_OK and GW_AUTH_EXPIRED *token_index is the matching entry of
 * config->tokens. Digests are compared with CRYPTO_memcmp against every configured token, so the
 * time taken depends on neither the token nor which one matched.
 */
gw_auth_result_t gw_auth_check(const gw_config_t *config, const char *header, size_t len, int64_t now_s, size_t *token_index);
/** The same against `n_tokens` tokens (e.g. the live set of tokens.h); *token_index is into `tokens`. */
gw_auth_result_t gw_auth_check_tokens(const gw_token_t *tokens, size_t n_tokens, const char *header, size_t len, int64_t now_s,
                                      size_t *token_index);

/** Reads one request header, all its field lines joined with ',': returns the value and sets *len, or NULL when absent. */
typedef const char *(*gw_auth_header_fn)(void *ctx, const char *name, size_t *len);

/**
 * The client address of a request whose TCP peer is `peer`: the peer itself, unless the peer is
 * in config->trusted_proxies and config->proxy_header is set, in which case the header names the
 * client (for X-Forwarded-For the right-most address that is not itself a trusted proxy).
 * A missing or malformed header leaves the peer as the client. Writes `out`.
 */
void gw_auth_client_address(const gw_config_t *config, const struct sockaddr *peer, gw_auth_header_fn get_header, void *ctx,
                            struct sockaddr_storage *out);

/** 1 when `client` may call the SCIM endpoints (an empty allow-list allows everyone). */
int gw_auth_address_allowed(const gw_config_t *config, const struct sockaddr *client);

#endif
