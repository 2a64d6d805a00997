/*
 * One worker thread's context: its event loop, its h2o context, its store connection, and the
 * handles it shares with the other workers. gw_server_run (server.h) creates and runs the
 * workers; everything below the server that handles a request (router, respond, batch, the
 * resource handlers) reaches what it needs through the request's worker, and so includes this
 * header rather than server.h.
 *
 * Thread: a worker is touched only by its own thread, except `outbox_receiver`, to which the
 * delivery thread and the main thread send messages (h2o_multithread_send_message).
 * Ownership: the server owns the struct and the shared handles; the worker owns its store
 * connection, loop, context and batch.
 */
#ifndef GATEWAY_WORKER_H
#define GATEWAY_WORKER_H

#include <h2o.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct gw_audit;
struct gw_batch;
struct gw_config;
struct gw_outbox;
struct gw_ratelimit;
struct gw_server;
struct gw_tls;
struct gw_tokens;
struct store;

typedef struct gw_worker {
    unsigned index;
    struct gw_server *server;
    const struct gw_config *config;
    struct gw_outbox *outbox;
    struct gw_audit *audit;         /** shared, thread-safe */
    struct gw_ratelimit *ratelimit; /** shared, thread-safe */
    struct gw_tokens *tokens;       /** shared, thread-safe: the accepted SCIM tokens, swapped on SIGHUP */
    struct gw_tls *tls;             /** shared; NULL without TLS */
    unsigned tls_generation;        /** of the SSL_CTX in accept_ctx.ssl_ctx */
    struct store *store;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_multithread_receiver_t outbox_receiver; /** settled outbox waiters arrive here */
    h2o_timeout_t deadline_timeout;             /** fixed interval: config->upstream_deadline_ms */
    struct gw_batch *batch;                     /** this pass's write transaction (batch.h) */
    int hold_answers;                           /** answers wait for the batch (respond.h) */
    h2o_linklist_t held_answers;                /** gw_request_t.held */
    size_t connections;                         /** this worker's open client connections */
    atomic_uint *connections_open;              /** shared: those of all workers (--max-connections), for /metrics */
    size_t waiting;                             /** requests waiting for the outbox */
    uint64_t request_seq;
    int stopping; /** set when the worker cannot run (its store failed to open) */
    pthread_t thread;
} gw_worker_t;

#endif
