#include "gateway/tls.h"

#include <h2o.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gateway/metrics.h"

/* TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only. Entra ID's client offers the GCM ones. */
#define TLS12_CIPHERS                                                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                                     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct gw_tls {
    const gw_config_t *config;
    pthread_mutex_t lock;
    SSL_CTX *current; /* guarded by lock */
    atomic_uint generation;
};

static void openssl_error(char *err, size_t err_len, const char *what, const char *file)
{
    char detail[256] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    snprintf(err, err_len, "%s %s: %s", what, file, detail[0] != '\0' ? detail : "failed");
}

static int64_t not_after(SSL_CTX *ctx)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    struct tm tm;
    if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

static SSL_CTX *build(const gw_config_t *config, char *err, size_t err_len)
{
    static const h2o_iovec_t alpn[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        openssl_error(err, err_len, "cannot create a TLS context", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        openssl_error(err, err_len, "cannot set the TLS 1.2 ciphers", "");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, config->tls_cert) != 1) {
        openssl_error(err, err_len, "cannot load the certificate", config->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, config->tls_key, SSL_FILETYPE_PEM) != 1) {
        openssl_error(err, err_len, "cannot load the private key", config->tls_key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        openssl_error(err, err_len, "the private key does not match the certificate", config->tls_cert);
        goto fail;
    }
    if (config->tls_client_ca[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(config->tls_client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, config->tls_client_ca, NULL) != 1) {
            if (names != NULL)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            openssl_error(err, err_len, "cannot load the client CA file", config->tls_client_ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    h2o_ssl_register_alpn_protocols(ctx, alpn);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

gw_tls_t *gw_tls_create(const gw_config_t *config, char *err, size_t err_len)
{
    gw_tls_t *tls = gw_calloc(1, sizeof(*tls));
    tls->config = config;
    if ((tls->current = build(config, err, err_len)) == NULL) {
        gw_metrics_tls_loaded(0, 0);
        free(tls);
        return NULL;
    }
    gw_metrics_tls_loaded(1, not_after(tls->current));
    pthread_mutex_init(&tls->lock, NULL);
    atomic_store(&tls->generation, 1);
    return tls;
}

void gw_tls_free(gw_tls_t *tls)
{
    if (tls == NULL)
        return;
    SSL_CTX_free(tls->current);
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}

int gw_tls_reload(gw_tls_t *tls, char *err, size_t err_len)
{
    SSL_CTX *fresh = build(tls->config, err, err_len);
    if (fresh == NULL) {
        gw_metrics_tls_loaded(0, 0);
        return -1;
    }
    int64_t expiry = not_after(fresh);
    pthread_mutex_lock(&tls->lock);
    SSL_CTX *old = tls->current;
    tls->current = fresh;
    atomic_fetch_add(&tls->generation, 1);
    pthread_mutex_unlock(&tls->lock);
    SSL_CTX_free(old); /* workers and open connections still hold their own references */
    gw_metrics_tls_loaded(1, expiry);
    gw_log(GW_LOG_INFO, "tls_reloaded",
           json_pack("{s:s, s:I}", "certificate", tls->config->tls_cert, "not_after", (json_int_t)expiry));
    return 0;
}

void gw_tls_refresh(gw_tls_t *tls, SSL_CTX **ctx, unsigned *gen)
{
    if (tls == NULL || atomic_load(&tls->generation) == *gen)
        return;
    pthread_mutex_lock(&tls->lock);
    SSL_CTX *fresh = tls->current;
    SSL_CTX_up_ref(fresh);
    *gen = atomic_load(&tls->generation);
    pthread_mutex_unlock(&tls->lock);
    if (*ctx != NULL)
        SSL_CTX_free(*ctx);
    *ctx = fresh;
}
