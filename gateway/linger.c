#include "gateway/linger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"

#define READ_CHUNK         16384
#define READS_PER_CALLBACK 64 /* at most 1 MiB per wake-up, so that one client cannot hold the loop */

typedef struct lingering {
    h2o_context_t *ctx;
    int fd;                       /* our own descriptor of the connection's socket */
    void (*on_close)(void *data); /* the socket's own on_close, called when the lingering ends */
    void *on_close_data;
    h2o_socket_t *sock;  /* the draining socket, once h2o closed its own */
    h2o_linklist_t link; /* in `draining` while sock is set, oldest first */
    h2o_timeout_entry_t tick;
    uint64_t started_ms;
    uint64_t last_data_ms;
    size_t discarded;
} lingering_t;

/* This thread's draining connections: one event loop per thread, so no lock. */
static __thread h2o_linklist_t draining;

static void linger_end(lingering_t *l)
{
    if (h2o_timeout_is_linked(&l->tick))
        h2o_timeout_unlink(&l->tick);
    h2o_linklist_unlink(&l->link);
    h2o_socket_close(l->sock); /* closes l->fd */
    if (l->on_close != NULL)
        l->on_close(l->on_close_data);
    free(l);
}

/* 1 while the client is still sending and the bounds allow more. */
static int drain(lingering_t *l)
{
    char buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_CALLBACK; i++) {
        ssize_t n = read(l->fd, buf, sizeof(buf));
        if (n > 0) {
            l->discarded += (size_t)n;
            l->last_data_ms = h2o_now(l->ctx->loop);
            if (l->discarded >= GW_LINGER_MAX_BYTES)
                return 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); /* 0: the client closed, or an error */
        }
    }
    return 1; /* more is waiting: the loop calls again */
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    lingering_t *l = sock->data;
    if (err != NULL || !drain(l))
        linger_end(l);
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    lingering_t *l = H2O_STRUCT_FROM_MEMBER(lingering_t, tick, entry);
    uint64_t now = h2o_now(l->ctx->loop);
    if (now - l->last_data_ms >= GW_LINGER_IDLE_MS || now - l->started_ms >= GW_LINGER_MS || l->ctx->shutdown_requested) {
        linger_end(l);
        return;
    }
    h2o_timeout_link(l->ctx->loop, &l->ctx->one_sec_timeout, &l->tick);
}

/* h2o has closed its descriptor (after the answer was written); ours keeps the socket open. */
static void on_h2o_closed(void *data)
{
    lingering_t *l = data;
    shutdown(l->fd, SHUT_WR);
    l->sock = h2o_evloop_socket_create(l->ctx->loop, l->fd, H2O_SOCKET_FLAG_DONT_READ);
    l->sock->data = l;
    l->started_ms = l->last_data_ms = h2o_now(l->ctx->loop);
    l->tick.cb = on_tick;
    h2o_timeout_link(l->ctx->loop, &l->ctx->one_sec_timeout, &l->tick);
    if (draining.next == NULL)
        h2o_linklist_init_anchor(&draining);
    h2o_linklist_insert(&draining, &l->link);
    h2o_socket_read_start(l->sock, on_readable);
}

int gw_linger_evict_oldest(void)
{
    if (draining.next == NULL || h2o_linklist_is_empty(&draining))
        return 0;
    linger_end(H2O_STRUCT_FROM_MEMBER(lingering_t, link, draining.next));
    return 1;
}

void gw_linger_arm(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock != NULL)
        gw_linger_arm_socket(req->conn->ctx, sock);
}

void gw_linger_arm_socket(h2o_context_t *ctx, h2o_socket_t *sock)
{
    if (sock->on_close.cb == on_h2o_closed)
        return;
    int fd = h2o_socket_get_fd(sock);
    if (fd < 0)
        return;
    lingering_t *l = gw_calloc(1, sizeof(*l));
    if ((l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(l);
        return;
    }
    l->ctx = ctx;
    l->on_close = sock->on_close.cb;
    l->on_close_data = sock->on_close.data;
    sock->on_close.cb = on_h2o_closed;
    sock->on_close.data = l;
}
