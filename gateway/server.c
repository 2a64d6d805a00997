#include "gateway/server.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/audit.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "gateway/batch.h"
#include "gateway/linger.h"
#include "gateway/metrics.h"
#include "gateway/outbox.h"
#include "gateway/preauth.h"
#include "gateway/ratelimit.h"
#include "gateway/respond.h"
#include "gateway/router.h"
#include "gateway/tls.h"
#include "gateway/tokens.h"
#include "gateway/users_lifecycle.h"
#include "gateway/worker.h"
#include "store/store.h"

/* h2o links a 1 s GOAWAY entry on shutdown and asserts it fired before the context is disposed. */
#define SHUTDOWN_MIN_MS 1100
/*
 * Once no request waits for Odeus any more, what still holds a connection is an idle keep-alive
 * client (h2o 2.2.5 closes those only at http1.req_timeout, 10 s) or one sending a request:
 * give those this long, not the whole grace period.
 */
#define SHUTDOWN_IDLE_MS 5000
/*
 * Allocations from this size up are mmapped and unmapped when freed. glibc's default threshold
 * rises to the size of the largest mmapped block freed, after which request bodies of up to
 * --max-body-bytes land in the heap and stay there: 100 held 1 MiB bodies left the RSS at 81 MiB
 * after they were freed; with the fixed threshold it falls back to 13 MiB (README, resource probes).
 */
#define MALLOC_MMAP_THRESHOLD (128 * 1024)
/* The outbox always gets at least this long to finish calls in flight. */
#define OUTBOX_MIN_GRACE_MS 1000

struct gw_server {
    const gw_config_t *config;
    h2o_globalconf_t globalconf;
    gw_outbox_t *outbox;
    gw_worker_t *workers;
    unsigned n_workers;
    atomic_int stopping;
    atomic_uint started;
    atomic_uint connections;      /* open client connections of all workers, against --max-connections */
    int64_t shutdown_deadline_ms; /* monotonic; written before `stopping` is set */
};

typedef struct gw_handler {
    h2o_handler_t super;
} gw_handler_t;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    gw_worker_t *worker = H2O_STRUCT_FROM_MEMBER(gw_worker_t, ctx, req->conn->ctx);
    return gw_router_handle(worker, req);
}

/* The socket's on_close: runs once per accepted connection, whoever closes it (h2o, preauth, linger). */
static void on_connection_close(void *data)
{
    gw_worker_t *w = data;
    w->connections--;
    atomic_fetch_sub(&w->server->connections, 1);
}

/*
 * A place under --max-connections for one more connection. When every place is taken, a
 * connection of this thread that is only draining after an error answer (linger.h) gives up its
 * own; a connection being served is never closed for a new one.
 */
static int take_connection_slot(gw_worker_t *w)
{
    for (;;) {
        if (atomic_fetch_add(&w->server->connections, 1) < w->config->max_connections)
            return 1;
        atomic_fetch_sub(&w->server->connections, 1);
        if (!gw_linger_evict_oldest())
            return 0;
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    gw_worker_t *w = listener->data;
    if (err != NULL)
        return;
    gw_tls_refresh(w->tls, &w->accept_ctx.ssl_ctx, &w->tls_generation);
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        if (!take_connection_slot(w)) {
            /* Closed at once (evloop closes the descriptor in h2o_socket_close): the client sees the
             * end of the connection now. It had no on_close, so nothing is counted twice. */
            gw_metrics_connection_refused();
            h2o_socket_close(sock);
            continue;
        }
        w->connections++;
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = w;
        gw_preauth_accept(w, sock);
    }
}

static void *worker_main(void *arg)
{
    gw_worker_t *w = arg;
    const gw_config_t *config = w->config;
    char err[256];

    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &w->server->globalconf);
    h2o_multithread_register_receiver(w->ctx.queue, &w->outbox_receiver, gw_users_on_outbox_messages);
    h2o_timeout_init(w->loop, &w->deadline_timeout, (uint64_t)config->upstream_deadline_ms);
    gw_batch_init(w);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = w->server->globalconf.hosts;

    if ((w->store = store_open(config->database, err, sizeof(err))) == NULL) {
        gw_log(GW_LOG_ERROR, "worker_store_failed", json_pack("{s:i, s:s}", "worker", w->index, "error", err));
        w->stopping = 1;
    } else {
        gw_batch_start_flusher(w);
        w->listener = h2o_evloop_socket_create(w->loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
        w->listener->data = w;
        h2o_socket_read_start(w->listener, on_accept);
    }
    atomic_fetch_add(&w->server->started, 1);

    /* The main thread wakes the loop with an empty message on outbox_receiver's queue. */
    while (!w->stopping && !atomic_load(&w->server->stopping))
        h2o_evloop_run(w->loop, INT32_MAX);

    /* Stop accepting, let in-flight requests (and their Odeus waits) finish, then dispose. */
    if (w->listener != NULL) {
        h2o_socket_read_stop(w->listener);
        h2o_socket_close(w->listener);
        w->listener = NULL;
    }
    h2o_context_request_shutdown(&w->ctx);
    int64_t start = gw_clock_mono_ms(), deadline = w->server->shutdown_deadline_ms;
    if (deadline < start + SHUTDOWN_MIN_MS)
        deadline = start + SHUTDOWN_MIN_MS;
    for (;;) {
        int64_t now = gw_clock_mono_ms(), elapsed = now - start;
        if (now >= deadline || (elapsed >= SHUTDOWN_MIN_MS && w->connections == 0 && w->waiting == 0) ||
            (elapsed >= SHUTDOWN_IDLE_MS && w->waiting == 0))
            break;
        h2o_evloop_run(w->loop, 50);
    }
    if (w->connections == 0 && w->waiting == 0) {
        h2o_evloop_run(w->loop, 0);
        gw_batch_dispose(w);
        h2o_multithread_unregister_receiver(w->ctx.queue, &w->outbox_receiver);
        h2o_timeout_dispose(w->loop, &w->deadline_timeout);
        h2o_context_dispose(&w->ctx);
        h2o_evloop_destroy(w->loop);
    } else {
        /* h2o 2.2.5 cannot dispose a context with live connections (h2o/h2o#899): the process exits instead. */
        gw_batch_finish(w);
        gw_log(GW_LOG_WARN, "shutdown_connections_left",
               json_pack("{s:i, s:I, s:I}", "worker", w->index, "connections", (json_int_t)w->connections, "waiting",
                         (json_int_t)w->waiting));
    }
    if (w->store != NULL)
        store_close(w->store);
    SSL_CTX_free(w->accept_ctx.ssl_ctx); /* connections still open hold their own references */
    return NULL;
}

/* Creates the parent directories too; the data directory itself is private to the gateway. */
static int make_data_dir(const char *path, char *err, size_t err_len)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "cannot create %.256s: %s", buf, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create %.256s: %s", buf, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_listener(const char *host, uint16_t port, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", port);
    int rc = getaddrinfo(host, port_text, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "cannot listen on %s: %s (give a numeric address)", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        snprintf(err, err_len, "cannot listen on %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A slot of the rate limit now belongs to a new token name: it starts with a full bucket. */
static void on_new_token_slot(void *ctx, unsigned slot)
{
    gw_ratelimit_reset(ctx, slot);
    gw_metrics_rate_limited_reset(slot);
}

/* SIGHUP: the token sources again; on any error the previous set stays. */
static void reload_tokens(gw_tokens_t *tokens, gw_ratelimit_t *ratelimit)
{
    gw_token_t fresh[GW_MAX_TOKENS];
    size_t n = 0;
    char err[512];
    if (gw_config_read_tokens(fresh, &n, err, sizeof(err)) != 0) {
        gw_log(GW_LOG_ERROR, "token_reload_failed", json_pack("{s:s, s:s}", "error", err, "serving", "the previous tokens"));
        return;
    }
    if (gw_tokens_replace(tokens, fresh, n, on_new_token_slot, ratelimit) != 0) {
        OPENSSL_cleanse(fresh, sizeof(fresh));
        gw_log(GW_LOG_ERROR, "token_reload_failed",
               json_pack("{s:s, s:s}", "error", "no token or too many", "serving", "the previous tokens"));
        return;
    }
    json_t *names = json_array(); /* names are not secret: they are in every request log line */
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(fresh[i].name));
    OPENSSL_cleanse(fresh, sizeof(fresh));
    gw_log(GW_LOG_INFO, "tokens_reloaded", json_pack("{s:I, s:o}", "count", (json_int_t)n, "names", names));
}

int gw_server_run(const gw_config_t *config)
{
    gw_server_t server = {.config = config};
    char err[512];
    int exit_code = 1;
    sigset_t signals;
    gw_tls_t *tls = NULL;
    gw_audit_t *audit = NULL;
    gw_ratelimit_t *ratelimit = NULL;
    gw_tokens_t *tokens = NULL;

    signal(SIGPIPE, SIG_IGN);
    mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD); /* fixed: also keeps M_TRIM_THRESHOLD from growing */
    /* Blocked before any thread starts (the delivery thread, curl's resolver, the workers), so
     * that only sigwait below receives them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    gw_log_set_level(config->log_level);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        gw_log(GW_LOG_ERROR, "start_failed", json_pack("{s:s}", "error", "curl_global_init failed"));
        return 1;
    }
    if (make_data_dir(config->data_dir, err, sizeof(err)) != 0)
        goto fail;
    /* Open once here so that a bad file or schema stops the start with a clear reason. */
    store_t *probe = store_open(config->database, err, sizeof(err));
    if (probe == NULL)
        goto fail;
    size_t pending = 0;
    if (store_outbox_pending_count(probe, &pending) != STORE_OK) {
        snprintf(err, sizeof(err), "%s", store_errmsg(probe));
        store_close(probe);
        goto fail;
    }
    store_close(probe);

    server.n_workers = config->threads;
    server.workers = gw_calloc(server.n_workers, sizeof(*server.workers));
    uint16_t port = config->listen_port;
    for (unsigned i = 0; i < server.n_workers; i++) {
        server.workers[i].listen_fd = open_listener(config->listen_host, port, err, sizeof(err));
        if (server.workers[i].listen_fd < 0)
            goto fail_listeners;
        port = bound_port(server.workers[i].listen_fd); /* with port 0, every worker shares the first one's */
    }

    /* One bucket per token slot: a reload may bring new names (tokens.h). */
    ratelimit = gw_ratelimit_create(GW_MAX_TOKENS, config->rate_limit_per_min, config->rate_limit_burst);
    if ((tokens = gw_tokens_create(config->tokens, config->n_tokens)) == NULL) {
        snprintf(err, sizeof(err), "%zu SCIM tokens: between 1 and %d are needed", config->n_tokens, GW_MAX_TOKENS);
        goto fail_listeners;
    }
    if (config->tls_cert[0] != '\0' && (tls = gw_tls_create(config, err, sizeof(err))) == NULL)
        goto fail_listeners;
    if ((audit = gw_audit_open(config->audit_log, err, sizeof(err))) == NULL)
        goto fail_listeners;
    if ((server.outbox = gw_outbox_start(config, err, sizeof(err))) == NULL)
        goto fail_listeners;

    h2o_config_init(&server.globalconf);
    server.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("odeus-scim-gateway"));
    server.globalconf.max_request_entity_size = config->max_body_bytes;
    server.globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&server.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    gw_handler_t *handler = (void *)h2o_create_handler(pathconf, sizeof(*handler));
    handler->super.on_req = on_req;
    gw_respond_register_error_filter(&hostconf->fallback_path);

    unsigned started = 0; /* worker threads running */
    for (unsigned i = 0; i < server.n_workers; i++) {
        gw_worker_t *w = &server.workers[i];
        w->index = i;
        w->server = &server;
        w->config = config;
        w->outbox = server.outbox;
        w->audit = audit;
        w->ratelimit = ratelimit;
        w->tokens = tokens;
        w->tls = tls;
        w->connections_open = &server.connections;
        gw_tls_refresh(tls, &w->accept_ctx.ssl_ctx, &w->tls_generation);
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            snprintf(err, sizeof(err), "cannot start worker thread %u of %u: %s", i + 1, server.n_workers, strerror(rc));
            SSL_CTX_free(w->accept_ctx.ssl_ctx);
            goto fail_workers;
        }
        started++;
    }
    gw_log(GW_LOG_INFO, "listening",
           json_pack("{s:s, s:i, s:s, s:s, s:b, s:i, s:s, s:s, s:s, s:b, s:I, s:s}", "host", config->listen_host, "port", port,
                     "scheme", tls != NULL ? "https" : "http", "base_path", config->base_path[0] != '\0' ? config->base_path : "/",
                     "client_certificates", config->tls_client_ca[0] != '\0', "threads", (int)config->threads, "database",
                     config->database_shown, "replica", config->replica_name, "audit_log", config->audit_log, "dry_run",
                     config->dry_run, "outbox_pending", (json_int_t)pending, "version", GATEWAY_VERSION));

    /* A wakeup needs the worker's queue, which the worker creates: wait until every worker runs. */
    while (atomic_load(&server.started) < server.n_workers)
        usleep(1000);
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
        reload_tokens(tokens, ratelimit);
        if (tls != NULL && gw_tls_reload(tls, err, sizeof(err)) != 0) {
            gw_log(GW_LOG_ERROR, "tls_reload_failed", json_pack("{s:s, s:s}", "error", err, "serving", "the previous certificate"));
        }
    }
    gw_log(GW_LOG_INFO, "shutting_down",
           json_pack("{s:s, s:I}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "grace_ms",
                     (json_int_t)config->shutdown_grace_ms));
    server.shutdown_deadline_ms = gw_clock_mono_ms() + config->shutdown_grace_ms;
    atomic_store(&server.stopping, 1);
    for (unsigned i = 0; i < server.n_workers; i++)
        h2o_multithread_send_message(&server.workers[i].outbox_receiver, NULL);
    for (unsigned i = 0; i < server.n_workers; i++)
        pthread_join(server.workers[i].thread, NULL);
    int64_t left = server.shutdown_deadline_ms - gw_clock_mono_ms();
    gw_outbox_stop(server.outbox, left > OUTBOX_MIN_GRACE_MS ? left : OUTBOX_MIN_GRACE_MS);
    h2o_config_dispose(&server.globalconf);
    free(server.workers);
    gw_audit_close(audit);
    gw_ratelimit_free(ratelimit);
    gw_tokens_free(tokens);
    gw_tls_free(tls);
    curl_global_cleanup();
    gw_log(GW_LOG_INFO, "stopped", NULL);
    return 0;

fail_workers:
    /* Those already running stop at once, as on a signal; their listeners close with them. */
    server.shutdown_deadline_ms = gw_clock_mono_ms();
    while (atomic_load(&server.started) < started)
        usleep(1000);
    atomic_store(&server.stopping, 1);
    for (unsigned i = 0; i < started; i++)
        h2o_multithread_send_message(&server.workers[i].outbox_receiver, NULL);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(server.workers[i].thread, NULL);
        server.workers[i].listen_fd = -1;
    }
    gw_outbox_stop(server.outbox, OUTBOX_MIN_GRACE_MS);
    h2o_config_dispose(&server.globalconf);
fail_listeners:
    for (unsigned i = 0; i < server.n_workers; i++)
        if (server.workers[i].listen_fd > 0)
            close(server.workers[i].listen_fd);
    free(server.workers);
    gw_audit_close(audit);
    gw_ratelimit_free(ratelimit);
    gw_tokens_free(tokens);
    gw_tls_free(tls);
fail:
    gw_log(GW_LOG_ERROR, "start_failed", json_pack("{s:s}", "error", err));
    curl_global_cleanup();
    return exit_code;
}
