/*
 * Routing of one request: the Origin check, /healthz, /readyz (ready while the store can be
 * read and Odeus has not rejected the API key), /metrics, authentication of everything under the
 * base path, and dispatch to the SCIM endpoints. Unknown paths and methods get SCIM 404/405
 * errors, never h2o's text pages.
 *
 * Thread: the worker's; the request is answered now or later by the handler it reaches.
 */
#ifndef GATEWAY_ROUTER_H
#define GATEWAY_ROUTER_H

#include <h2o.h>

#include "gateway/worker.h"

/**
 * The largest request head the gateway serves, in bytes: the method, the request target, and the
 * name and value of every header field (Host included), separators and line ends not counted.
 * A larger head gets a SCIM 431 (no scimType) and the connection is closed. h2o's own limits lie
 * beyond it (100 header fields, about 417 KiB): there it answers a plain 400 itself.
 */
#define GW_MAX_HEADER_BYTES (16 * 1024)
/** The detail of that 431 (printf format with GW_MAX_HEADER_BYTES); gateway/preauth answers with it too. */
#define GW_HEAD_TOO_LARGE_DETAIL_FMT "the request line and headers are larger than %d bytes"
/** The detail of the 400 for a body framed twice (RFC 9112 §6.3), from the router and gateway/preauth alike. */
#define GW_FRAMED_TWICE_DETAIL "the body is framed twice (Content-Length with Transfer-Encoding, or two Content-Length)"
/**
 * The Host header (the authority) at most: a DNS name is at most 253 bytes, plus a port. It is
 * copied into every meta.location of an answer when --public-url is not set, so a long one would
 * multiply into every resource of a page; a longer one is answered 400.
 */
#define GW_MAX_HOST_BYTES 260

/** h2o on_req body: always takes the request (returns 0). */
int gw_router_handle(gw_worker_t *worker, h2o_req_t *req);

#endif
