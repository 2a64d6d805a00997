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

/** h2o on_req body: always takes the request (returns 0). */
int gw_router_handle(gw_worker_t *worker, h2o_req_t *req);

#endif
