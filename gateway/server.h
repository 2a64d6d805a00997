/*
 * The h2o front end: listeners (HTTP or HTTPS), one event loop per worker thread, certificate
 * reload on SIGHUP, graceful shutdown on SIGTERM/SIGINT.
 */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <h2o.h>
#include <pthread.h>
#include <stdint.h>

#include "gateway/batch.h"
#include "gateway/config.h"
#include "gateway/outbox.h"
#include "store/store.h"

struct gw_audit;
struct gw_ratelimit;
struct gw_tls;
struct gw_tokens;

typedef struct gw_server gw_server_t;

/** One worker thread: its loop, its h2o context, its store connection. Touched only by its thread. */
typedef struct gw_worker {
    unsigned index;
    gw_server_t *server;
    const gw_config_t *config;
    gw_outbox_t *outbox;
    struct gw_audit *audit;         /** shared, thread-safe */
    struct gw_ratelimit *ratelimit; /** shared, thread-safe */
    struct gw_tokens *tokens;       /** shared, thread-safe: the accepted SCIM tokens, swapped on SIGHUP */
    struct gw_tls *tls;             /** shared; NULL without TLS */
    unsigned tls_generation;        /** of the SSL_CTX in accept_ctx.ssl_ctx */
    store_t *store;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t outbox_receiver; /** settled outbox waiters arrive here */
    h2o_timeout_t deadline_timeout;             /** fixed interval: config->upstream_deadline_ms */
    gw_batch_t batch;                           /** this pass's write transaction (batch.h) */
    int hold_answers;                           /** answers wait for the batch (respond.h) */
    h2o_linklist_t held_answers;                /** gw_request_t.held */
    size_t connections;
    size_t waiting; /** requests waiting for the outbox */
    uint64_t request_seq;
    int stopping; /** set when the worker cannot run (its store failed to open) */
    pthread_t thread;
} gw_worker_t;

/**
 * Runs the gateway until SIGTERM or SIGINT: opens the store (creating the data directory) and
 * the audit log, loads the TLS certificate, starts outbox delivery and the workers, and shuts
 * down in order within config->shutdown_grace_ms. SIGHUP re-reads the SCIM tokens (SCIM_TOKEN, SCIM_TOKEN_FILE) and the TLS
 * certificate and key; a set that fails to load keeps the previous one. Returns the process exit
 * code (0 after a clean stop, 1 when start-up failed; the reason has been logged).
 */
int gw_server_run(const gw_config_t *config);

/** 1 when the gateway should report ready (store reachable, Odeus key not rejected). */
int gw_server_ready(gw_worker_t *worker, const char **why);

#endif
