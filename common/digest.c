#include "common/digest.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* One context per thread, reused: creating one per hash costs as much as hashing an audit line. */
static _Thread_local EVP_MD_CTX *thread_ctx;
static pthread_key_t ctx_key;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void fetch_sha256(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&ctx_key, free_ctx) != 0)
        sha256 = NULL;
}

static EVP_MD_CTX *ctx_get(void)
{
    if (thread_ctx == NULL && (thread_ctx = EVP_MD_CTX_new()) != NULL)
        pthread_setspecific(ctx_key, thread_ctx); /* freed when the thread ends */
    return thread_ctx;
}

void gw_digest(const void *data, size_t len, unsigned char out[GW_DIGEST_LEN])
{
    pthread_once(&sha256_once, fetch_sha256);
    EVP_MD_CTX *ctx = sha256 != NULL ? ctx_get() : NULL;
    if (ctx == NULL || EVP_DigestInit_ex2(ctx, sha256, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, NULL) != 1) {
        fputs("odeus-scim-gateway: OpenSSL cannot compute SHA-256\n", stderr);
        abort();
    }
}

void gw_digest_hex(const void *data, size_t len, char out[GW_DIGEST_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[GW_DIGEST_LEN];
    gw_digest(data, len, d);
    for (size_t i = 0; i < GW_DIGEST_LEN; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * GW_DIGEST_LEN] = '\0';
}
