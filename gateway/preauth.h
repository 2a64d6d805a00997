/*
 * The first request of every client connection, judged from its head before h2o reads its body.
 *
 * h2o 2.2.5 reads a whole request body (up to --max-body-bytes) before any handler sees the
 * request, so the router's token check came after the memory was spent. This stage runs on an
 * accepted socket before h2o has it: the TLS handshake (when TLS is on), then reading until the
 * end of the first request head (h2o's own parser, picohttpparser, decides where it ends). A head
 * that announces a body (Content-Length above 0, or Transfer-Encoding) is answered here, with the
 * router's own SCIM error, and the connection closed without its body being read, when:
 *   - the body is framed twice (Content-Length with Transfer-Encoding, or two Content-Length): 400;
 *   - with --allow-cidrs, the client address may not call the SCIM endpoints: 403;
 *   - no valid token is in Authorization (missing, wrong, expired; the live set of tokens.h): 401
 *     with WWW-Authenticate.
 * A head not complete within GW_PREAUTH_MAX_HEAD_BYTES is answered 431. Anything else (every head
 * without a body, /healthz and the other token-free endpoints included, and every head that
 * presents a valid token) goes to h2o with the bytes already read, exactly as if h2o had read them
 * itself (h2o_http1_accept parses what is already in the socket's input first).
 *
 * Only the first request of a connection passes here. The router keeps a connection open only
 * after a request that presented a valid token, so whoever has not shown one gets one answer per
 * connection, and a later body on a kept connection comes from a client that did.
 *
 * The handshake and the head must arrive within h2o's http1.req_timeout (10 s, the time h2o allows
 * every later head too) from the accept; otherwise the connection is closed without an answer.
 *
 * Ownership: gw_preauth_accept takes the accepted socket; it belongs to this module until it is
 * handed to h2o or closed. sock->on_close, set by the caller before, is left as it is and so runs
 * exactly once when the connection ends, whoever closes it.
 * Thread: the worker's own (the socket belongs to its loop).
 */
#ifndef GATEWAY_PREAUTH_H
#define GATEWAY_PREAUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway/auth.h"
#include "gateway/router.h"
#include "gateway/tokens.h"
#include "gateway/worker.h"

/**
 * The longest first request head read before it must be complete: GW_MAX_HEADER_BYTES of method,
 * target, names and values, plus 4 KiB for what that cap does not count (line ends, separators,
 * spaces of up to h2o's 100 fields and the request line).
 */
#define GW_PREAUTH_MAX_HEAD_BYTES (GW_MAX_HEADER_BYTES + 4096)

typedef enum gw_preauth_state {
    GW_PREAUTH_INCOMPLETE, /** the head has not ended yet: read more */
    GW_PREAUTH_PASS,       /** hand the connection to h2o */
    GW_PREAUTH_REFUSE,     /** answer `status` and close without reading the body */
} gw_preauth_state_t;

typedef struct gw_preauth_verdict {
    gw_preauth_state_t state;
    int status;             /** with GW_PREAUTH_REFUSE: 400, 401, 403 or 431 */
    gw_auth_result_t auth;  /** with 401: why */
    const char *token_name; /** with an expired token: its interned name (tokens.h), else NULL */
    const char *method;     /** into the judged bytes (for the log), or NULL before the head ended */
    size_t method_len;
    char detail[128]; /** with GW_PREAUTH_REFUSE: the SCIM error detail */
} gw_preauth_verdict_t;

/**
 * Judges the first `len` bytes a connection sent (`last_len`: how many of them the previous call
 * saw, 0 at first; only for speed) from `peer` at unix time `now_s`, against `config` (allow-list,
 * proxy header) and the token set `tokens`. Pure: reads nothing but its arguments.
 */
gw_preauth_verdict_t gw_preauth_judge(const gw_config_t *config, const gw_tokenset_t *tokens, const struct sockaddr *peer,
                                      int64_t now_s, const char *buf, size_t len, size_t last_len);

/** Takes an accepted socket of worker `w` (see above); on_close must already be set. */
void gw_preauth_accept(gw_worker_t *w, h2o_socket_t *sock);

#endif
