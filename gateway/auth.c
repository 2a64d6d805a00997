#include "gateway/auth.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "common/digest.h"
#include <string.h>
#include <strings.h>

#define MAX_BASIC_DECODED 512

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && **s == ' ') {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && (*s)[*len - 1] == ' ')
        (*len)--;
}

/* Index of the token whose digest matches (every token is compared), or -1. */
static long match_digest(const gw_token_t *tokens, size_t n_tokens, const unsigned char digest[GW_SHA256_LEN], const char *name,
                         size_t name_len)
{
    long found = -1;
    for (size_t i = 0; i < n_tokens; i++) {
        int same = CRYPTO_memcmp(digest, tokens[i].hash, GW_SHA256_LEN) == 0;
        /* With Basic the name must match too; names are not secret, so strcmp is fine. */
        if (name != NULL)
            same &= strlen(tokens[i].name) == name_len && memcmp(tokens[i].name, name, name_len) == 0;
        if (same && found < 0)
            found = (long)i;
    }
    return found;
}

const char *gw_auth_failure_detail(gw_auth_result_t result)
{
    switch (result) {
    case GW_AUTH_MISSING:
        return "authentication required: send Authorization: Bearer <token>";
    case GW_AUTH_EXPIRED:
        return "the token has expired";
    default:
        return "the token is not valid";
    }
}

gw_auth_result_t gw_auth_check(const gw_config_t *config, const char *header, size_t len, int64_t now_s, size_t *token_index)
{
    return gw_auth_check_tokens(config->tokens, config->n_tokens, header, len, now_s, token_index);
}

gw_auth_result_t gw_auth_check_tokens(const gw_token_t *tokens, size_t n_tokens, const char *header, size_t len, int64_t now_s,
                                      size_t *token_index)
{
    static const char bearer[] = "bearer ", basic[] = "basic ";
    unsigned char digest[GW_DIGEST_LEN];
    long found;
    if (header == NULL)
        return GW_AUTH_MISSING;
    if (len > sizeof(bearer) - 1 && strncasecmp(header, bearer, sizeof(bearer) - 1) == 0) {
        const char *token = header + sizeof(bearer) - 1;
        size_t token_len = len - (sizeof(bearer) - 1);
        trim(&token, &token_len);
        gw_digest(token, token_len, digest);
        found = match_digest(tokens, n_tokens, digest, NULL, 0);
    } else if (len > sizeof(basic) - 1 && strncasecmp(header, basic, sizeof(basic) - 1) == 0) {
        const char *b64 = header + sizeof(basic) - 1;
        size_t b64_len = len - (sizeof(basic) - 1);
        unsigned char decoded[MAX_BASIC_DECODED + 4];
        trim(&b64, &b64_len);
        if (b64_len == 0 || b64_len % 4 != 0 || b64_len / 4 * 3 > MAX_BASIC_DECODED)
            return GW_AUTH_INVALID;
        int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)b64_len);
        if (n < 0)
            return GW_AUTH_INVALID;
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        if (b64[b64_len - 1] == '=')
            n--;
        if (b64[b64_len - 2] == '=')
            n--;
        const unsigned char *colon = memchr(decoded, ':', (size_t)n);
        if (colon == NULL) {
            OPENSSL_cleanse(decoded, sizeof(decoded));
            return GW_AUTH_INVALID;
        }
        size_t name_len = (size_t)(colon - decoded);
        gw_digest(colon + 1, (size_t)n - name_len - 1, digest);
        found = match_digest(tokens, n_tokens, digest, (const char *)decoded, name_len);
        OPENSSL_cleanse(decoded, sizeof(decoded));
    } else {
        return GW_AUTH_MISSING;
    }
    if (found < 0)
        return GW_AUTH_INVALID;
    *token_index = (size_t)found;
    const gw_token_t *t = &tokens[found];
    return t->expires_s != 0 && now_s >= t->expires_s ? GW_AUTH_EXPIRED : GW_AUTH_OK;
}

void gw_auth_client_address(const gw_config_t *config, const struct sockaddr *peer, gw_auth_header_fn get_header, void *ctx,
                            struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    if (config->proxy_header == GW_PROXY_HEADER_NONE || !gw_cidr_list_contains(&config->trusted_proxies, peer))
        return;
    size_t len;
    struct sockaddr_storage candidate;
    if (config->proxy_header == GW_PROXY_HEADER_X_REAL_IP) {
        const char *v = get_header(ctx, "x-real-ip", &len);
        if (v != NULL && gw_cidr_parse_addr(v, len, &candidate) == 0)
            *out = candidate;
        return;
    }
    const char *v = get_header(ctx, "x-forwarded-for", &len);
    if (v == NULL)
        return;
    /*
     * Each proxy appends the address it saw, so only the right end is trustworthy: walk from the
     * right past trusted proxies; the first other address is the client. Anything to its left
     * was written by the client and is ignored.
     */
    while (len > 0) {
        const char *comma = NULL;
        for (size_t i = len; i > 0; i--) {
            if (v[i - 1] == ',') {
                comma = v + i - 1;
                break;
            }
        }
        const char *item = comma != NULL ? comma + 1 : v;
        size_t item_len = len - (size_t)(item - v);
        if (gw_cidr_parse_addr(item, item_len, &candidate) != 0)
            return; /* garbage: keep the last good address */
        *out = candidate;
        if (!gw_cidr_list_contains(&config->trusted_proxies, (struct sockaddr *)&candidate))
            return;
        if (comma == NULL)
            return;
        len = (size_t)(comma - v);
    }
}

int gw_auth_address_allowed(const gw_config_t *config, const struct sockaddr *client)
{
    return config->allow_cidrs.n == 0 || gw_cidr_list_contains(&config->allow_cidrs, client);
}
