/*
 * List requests and ListResponse (RFC 7644 §3.4.2).
 */
#ifndef SCIM_LIST_H
#define SCIM_LIST_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"

#define SCIM_SCHEMA_LIST_RESPONSE "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define SCIM_LIST_DEFAULT_COUNT   100
/** Largest page the gateway returns; a larger count is lowered to this (RFC 7644 allows it). */
#define SCIM_LIST_MAX_COUNT 1000

typedef struct scim_list_params {
    size_t start_index; /** 1-based; values below 1 are taken as 1 */
    size_t count;       /** 0..SCIM_LIST_MAX_COUNT; negative taken as 0 */
    char *filter;       /** URL-decoded filter text (malloc'd) or NULL when absent */
    size_t filter_len;
    char *attributes;          /** comma-separated (malloc'd) or NULL: see scim/select.h */
    char *excluded_attributes; /** comma-separated (malloc'd) or NULL */
    char *sort_by;             /** malloc'd or NULL: see scim/sort.h */
    char *sort_order;          /** malloc'd or NULL */
} scim_list_params_t;

/**
 * Parses a query string (the part after '?', `len` bytes, not NUL-terminated): startIndex,
 * count, filter, attributes, excludedAttributes, sortBy, sortOrder (names case-insensitive;
 * other parameters ignored). Percent-decodes and turns
 * '+' into a space. On error (a non-integer startIndex/count, bad percent-encoding) returns -1
 * with 400 invalidValue. Free with scim_list_params_clear() in both cases.
 */
GW_MUST_CHECK int scim_list_params_parse(const char *query, size_t len, scim_list_params_t *out, scim_error_t *err);
void scim_list_params_clear(scim_list_params_t *params);

/** SearchRequest body (RFC 7644 §3.4.3) for POST .search. */
#define SCIM_SCHEMA_SEARCH_REQUEST "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

/**
 * Fills `out` from a SearchRequest body: "schemas" must list SCIM_SCHEMA_SEARCH_REQUEST;
 * "attributes" and "excludedAttributes" are arrays of strings (joined with ',' into the params),
 * "filter", "sortBy", "sortOrder" strings, "startIndex" and "count" integers (same clamping as the
 * query string). Member names are case-insensitive; unknown members are ignored. On error returns -1
 * with 400 invalidSyntax (not a SearchRequest) or invalidValue (a member of the wrong type, an
 * attribute name containing ','). Free with scim_list_params_clear() in both cases.
 */
GW_MUST_CHECK int scim_list_params_from_search(const json_t *body, scim_list_params_t *out, scim_error_t *err);

/**
 * Builds a ListResponse. Steals `resources` (a JSON array). totalResults, startIndex and
 * itemsPerPage (= the array's size) are JSON integers.
 */
json_t *scim_list_render(json_t *resources, size_t total_results, size_t start_index);

#endif
