/*
 * Listing Users: GET /Users and POST /Users/.search (RFC 7644 §3.4.2, §3.4.3). Filter (from a
 * store index when the filter allows, else from the rows the store's columns narrow it to), sort
 * (by a store column when the attribute has one, else by keys), page, then trim each resource to
 * the requested attributes. Resources are written as JSON text as they join the page, from the
 * stored renderings when nothing is trimmed, with no JSON tree per row where no filter needs one.
 *
 * Thread: the request's worker; reads its store connection (inside its batch when one is open,
 * so the answer waits for the batch's commit: batch.h). Each call answers the request.
 */
#ifndef GATEWAY_USERS_LIST_H
#define GATEWAY_USERS_LIST_H

#include <jansson.h>

#include "gateway/respond.h"
#include "store/store.h"

/**
 * The most bytes a list page's answer takes: a page ends before the resource that would take it
 * past this, with itemsPerPage telling how many it holds (RFC 7644 §3.4.2.4 allows fewer than
 * `count`), totalResults still the whole count, so that the client pages on by startIndex. A page
 * holds at least one resource, whatever its size. It bounds what one answer holds in memory and
 * unsent: count may be SCIM_LIST_MAX_COUNT (1,000) and a user SCIM_USER_MAX_BYTES (64 KiB) before
 * rendering. README, "Limits".
 */
#define GW_MAX_PAGE_BYTES (4 * 1024 * 1024)

/** GET /Users: the list parameters from the query string. */
void gw_users_list(gw_request_t *r);
/** POST /Users/.search: a SearchRequest body (RFC 7644 §3.4.3), answered as GET /Users would be. */
void gw_users_search(gw_request_t *r);

/**
 * Sets the values a list sorts and narrows by (store_user_t.display_name, family_name, given_name,
 * primary_email) of a row about to be written from the canonical `user`; they borrow from `user`,
 * which must outlive the write. Every writer of a users row calls it (through
 * gw_users_row_set_emails), so that the store's columns are those of the resource.
 */
void gw_users_row_set_sort_values(store_user_t *row, const json_t *user);

#endif
