/*
 * The gateway's TLS server side: OpenSSL 3 contexts for h2o, reloadable on SIGHUP.
 *
 * Policy: TLS 1.2 minimum; for TLS 1.2 only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305
 * (the suites Entra ID offers); TLS 1.3 with OpenSSL's defaults; no renegotiation, no
 * compression; ALPN offers only http/1.1 (h2o 2.2.5 lacks the HTTP/2 rapid-reset mitigation).
 * With a client CA file, clients must present a certificate it signed (mTLS).
 *
 * Reload: gw_tls_reload builds a complete new SSL_CTX from the files and only then publishes it;
 * a failure keeps the old one. Workers pick the new one up before their next accept
 * (gw_tls_refresh); connections already open keep the context they started with, since each
 * SSL object holds its own reference to its SSL_CTX.
 */
#ifndef GATEWAY_TLS_H
#define GATEWAY_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "common/attr.h"
#include "gateway/config.h"

typedef struct gw_tls gw_tls_t;

/** Loads config->tls_cert/tls_key (and tls_client_ca). NULL with a reason in `err`. */
GW_MUST_CHECK gw_tls_t *gw_tls_create(const gw_config_t *config, char *err, size_t err_len);
void gw_tls_free(gw_tls_t *tls);

/** Re-reads the files (any thread). 0 on success; -1 with a reason, the old context staying in use. */
GW_MUST_CHECK int gw_tls_reload(gw_tls_t *tls, char *err, size_t err_len);

/**
 * For a worker: when a newer context was published than the one in *ctx (generation *gen),
 * replaces *ctx (releasing the worker's reference to the old one). Cheap when nothing changed.
 */
void gw_tls_refresh(gw_tls_t *tls, SSL_CTX **ctx, unsigned *gen);

#endif
