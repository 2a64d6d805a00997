/*
 * The h2o front end: listeners (HTTP or HTTPS), one event loop per worker thread (worker.h),
 * certificate reload on SIGHUP, graceful shutdown on SIGTERM/SIGINT. Only cli/ includes this
 * header; the modules a worker runs include worker.h.
 */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include "common/attr.h"
#include "gateway/config.h"

typedef struct gw_server gw_server_t;

/**
 * Runs the gateway until SIGTERM or SIGINT: opens the store (creating the data directory) and
 * the audit log, loads the TLS certificate, starts outbox delivery and the workers, and shuts
 * down in order within config->shutdown_grace_ms. SIGHUP re-reads the SCIM tokens (SCIM_TOKEN, SCIM_TOKEN_FILE) and the TLS
 * certificate and key; a set that fails to load keeps the previous one. Returns the process exit
 * code (0 after a clean stop, 1 when start-up failed; the reason has been logged).
 */
GW_MUST_CHECK int gw_server_run(const gw_config_t *config);

#endif
