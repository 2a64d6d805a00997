/*
 * The SCIM /Users endpoints and the lifecycle rules of design.md: every change that must reach
 * Odeus commits with its outbox row before the IdP is answered; a deactivation is answered
 * only after Odeus confirmed it (else 503 + Retry-After, still queued); grants answer once
 * committed, unless Odeus refuses them within the deadline (then 400 and the change is undone).
 */
#ifndef GATEWAY_USERS_H
#define GATEWAY_USERS_H

#include <h2o.h>
#include <h2o/multithread.h>

#include "gateway/respond.h"

void gw_users_list(gw_request_t *r);
/** POST /Users/.search: a SearchRequest body (RFC 7644 §3.4.3), answered as GET /Users would be. */
void gw_users_search(gw_request_t *r);
void gw_users_create(gw_request_t *r);
void gw_users_get(gw_request_t *r, const char *id);
void gw_users_replace(gw_request_t *r, const char *id);
void gw_users_patch(gw_request_t *r, const char *id);
void gw_users_delete(gw_request_t *r, const char *id);

/** The worker's outbox receiver: settled waiters come back here, on the worker thread. */
void gw_users_on_outbox_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
