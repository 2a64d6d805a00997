/*
 * Listing Users: GET /Users and POST /Users/.search (RFC 7644 §3.4.2, §3.4.3). Filter (from a
 * store index when the filter allows), sort, page, then trim each resource to the requested
 * attributes. Without a sort, with nothing to trim and with every row the store visits a match,
 * the page is written as text from the stored renderings, with no JSON tree per row.
 *
 * Thread: the request's worker; reads its store connection (inside its batch when one is open,
 * so the answer waits for the batch's commit: batch.h). Each call answers the request.
 */
#ifndef GATEWAY_USERS_LIST_H
#define GATEWAY_USERS_LIST_H

#include "gateway/respond.h"

/** GET /Users: the list parameters from the query string. */
void gw_users_list(gw_request_t *r);
/** POST /Users/.search: a SearchRequest body (RFC 7644 §3.4.3), answered as GET /Users would be. */
void gw_users_search(gw_request_t *r);

#endif
