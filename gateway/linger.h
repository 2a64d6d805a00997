/*
 * Lingering close: lets a client that is still sending read the error answer that ended its
 * connection.
 *
 * When h2o 2.2.5 refuses a request body (413 over --max-body-bytes, by Content-Length or while
 * decoding chunks) it writes the answer and closes the socket at once, with the rest of the body
 * still unread. The kernel then answers with a reset, and a client that keeps uploading fails
 * with EPIPE/ECONNRESET before it looks at the answer (and on some stacks the reset also throws
 * away the answer it had already received).
 *
 * gw_linger_arm() keeps a second descriptor of the connection's socket. When h2o closes its own,
 * the socket stays open: its write side is shut down (FIN after the answer, which is already
 * written) and what the client still sends is read and discarded, until the client closes, or
 * GW_LINGER_MAX_BYTES were discarded, or nothing came for GW_LINGER_IDLE_MS, or GW_LINGER_MS have
 * passed, or the worker shuts down (the times are checked on h2o's one-second timer, so they are
 * up to a second longer). Only then is the socket closed. The connection counts as open
 * (gw_worker_t.connections, and against --max-connections) until then, unless a new connection
 * needs its place (gw_linger_evict_oldest).
 */
#ifndef GATEWAY_LINGER_H
#define GATEWAY_LINGER_H

#include <h2o.h>

/** The longest a closed-after-error connection is drained, in milliseconds. */
#define GW_LINGER_MS 5000
/** Such a connection is closed once the client sent nothing for this long, in milliseconds. */
#define GW_LINGER_IDLE_MS 2000
/** The most bytes read and discarded from such a connection. */
#define GW_LINGER_MAX_BYTES (16 * 1024 * 1024)

/**
 * Arms the lingering close for the HTTP/1 connection of `req`, which h2o is going to close after
 * this answer (req->http1_is_persistent is 0). Call before the answer is sent; the socket's
 * on_close callback still runs, at the end of the lingering. Does nothing for HTTP/2, when
 * already armed, or when no descriptor is left.
 */
void gw_linger_arm(h2o_req_t *req);

/** The same for a socket of `ctx`'s loop that the caller is going to close (gateway/preauth's refusals). */
void gw_linger_arm_socket(h2o_context_t *ctx, h2o_socket_t *sock);

/**
 * Ends the draining of the oldest connection of the calling worker thread that is only being
 * drained (its answer was written and h2o has closed its side), which runs its on_close. Its client
 * may then see a reset instead of the end of the answer: under --max-connections a new connection
 * is worth more. Returns 1 when one was ended, 0 when this thread drains none.
 */
int gw_linger_evict_oldest(void);

#endif
