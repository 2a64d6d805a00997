#include "gateway/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

int gw_auth_check(const gw_config_t *config, const char *header, size_t len)
{
    static const char scheme[] = "bearer ";
    if (header == NULL || len <= sizeof(scheme) - 1 || strncasecmp(header, scheme, sizeof(scheme) - 1) != 0)
        return 0;
    const char *token = header + sizeof(scheme) - 1;
    size_t token_len = len - (sizeof(scheme) - 1);
    while (token_len > 0 && *token == ' ') {
        token++;
        token_len--;
    }
    while (token_len > 0 && token[token_len - 1] == ' ')
        token_len--;

    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, token_len, digest);
    int match = 0;
    for (size_t i = 0; i < config->n_tokens; i++)
        match |= CRYPTO_memcmp(digest, config->token_hashes[i], sizeof(digest)) == 0;
    return match;
}
