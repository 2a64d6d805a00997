/*
 * The SCIM /Users/{id} endpoints and POST /Users: each parses the request, plans the change
 * (users_lifecycle.h: which Odeus call, which role), commits it into the worker's batch with its
 * outbox row, and leaves the answer to the lifecycle (after the commit, or once Odeus settled
 * the row). Listing is in users_list.h.
 *
 * Concurrency: a change built on a state that another worker thread has changed meanwhile is
 * worked out again on the new state (a few times, then 503 + Retry-After), never written over
 * it; with If-Match, a stale version is 412.
 *
 * Thread: the request's worker. Each call answers the request, now or later.
 */
#ifndef GATEWAY_USERS_ENDPOINTS_H
#define GATEWAY_USERS_ENDPOINTS_H

#include "gateway/respond.h"

/** POST /Users. */
void gw_users_create(gw_request_t *r);
/** GET /Users/{id}, with If-None-Match (304). */
void gw_users_get(gw_request_t *r, const char *id);
/** PUT /Users/{id}; a body without "active" keeps the stored value. */
void gw_users_replace(gw_request_t *r, const char *id);
/** PATCH /Users/{id}. */
void gw_users_patch(gw_request_t *r, const char *id);
/** DELETE /Users/{id}: deactivate-user first when the user is active, then the record goes. */
void gw_users_delete(gw_request_t *r, const char *id);

#endif
