/*
 * Reading a request, as the SCIM endpoints need it: its JSON body, its query string, the
 * attribute selection of a single-resource answer, a header. The request context itself, and
 * every way of answering, are in respond.h.
 *
 * Thread: the request's worker. Nothing here answers: errors come back in `err` (scim/error.h)
 * for the caller to answer with.
 */
#ifndef GATEWAY_REQUEST_H
#define GATEWAY_REQUEST_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "gateway/respond.h"
#include "scim/error.h"
#include "scim/list.h"
#include "scim/select.h"

/**
 * The body as JSON, duplicate keys refused; the caller's (json_decref). NULL with `err` set
 * (400 invalidSyntax) when there is no body or it is not JSON.
 */
GW_MUST_CHECK json_t *gw_request_body_json(gw_request_t *r, scim_error_t *err);

/** The query string (after '?'), possibly empty: *query points into the request, *len bytes, no NUL. */
void gw_request_query(gw_request_t *r, const char **query, size_t *len);

/**
 * The attributes / excludedAttributes of the query string, for single-resource answers (GET and
 * the answers to POST, PUT, PATCH); the caller's (scim_select_free). NULL with `err` set when
 * they are malformed.
 */
GW_MUST_CHECK scim_select_t *gw_request_select(gw_request_t *r, scim_error_t *err);

/**
 * Runs `list` with the list parameters of the request: from the query string (GET), or with
 * `search` from the SearchRequest body (POST .search); a malformed one is answered with its
 * error instead. `list` answers the request.
 */
void gw_request_run_list(gw_request_t *r, int search, void (*list)(gw_request_t *r, const scim_list_params_t *params));

/** The value of request header `token` (NUL-terminated, in the request's pool), or NULL when absent. */
const char *gw_request_header(gw_request_t *r, const h2o_token_t *token);

#endif
