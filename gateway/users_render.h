/*
 * A stored User as an answer: its location, its rendering (the stored resource with meta), its
 * ETag, and the errors every Users endpoint answers alike. Shared by the endpoints
 * (users_endpoints.c), the list (users_list.c) and the answers of the lifecycle
 * (users_lifecycle.c).
 *
 * Thread: the request's worker. Rows are borrowed; what is returned is the caller's, as stated.
 */
#ifndef GATEWAY_USERS_RENDER_H
#define GATEWAY_USERS_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/json.h"
#include "gateway/respond.h"
#include "store/store.h"

/** r->base_url + "/Users/" + `id`, malloc'd (free()). */
char *gw_users_location(gw_request_t *r, const char *id);

/** Adds the ETag header of `version` to the answer. */
void gw_users_set_etag(gw_request_t *r, int64_t version);

/** The rendered resource of a stored row (the caller's), or NULL when its JSON is unreadable. */
json_t *gw_users_render_row(gw_request_t *r, const store_user_t *row);

/**
 * The meta.location of the rows of one request: r->base_url + "/Users/" written once, the id
 * per row. On the caller's stack; set `p = stack` before anything may fail so that
 * gw_users_loc_free is always safe.
 */
typedef struct gw_users_loc {
    char *p;
    size_t prefix, cap;
    char stack[512];
} gw_users_loc_t;

/** Writes the prefix; gw_users_loc_free is due after. */
void gw_users_loc_init(gw_users_loc_t *l, gw_request_t *r);
void gw_users_loc_free(gw_users_loc_t *l);

/**
 * Appends the JSON text of the rendered resource of `row` to `b`, byte for byte what
 * json_dumps(gw_users_render_row(r, row), JSON_COMPACT | JSON_PRESERVE_ORDER) gives: from the
 * stored rendering with meta spliced in (no JSON tree: the fast path of GET and of list pages),
 * or, for a row without one, rendered the slow way. `l` was set up by gw_users_loc_init.
 * -1 when the row is unreadable.
 */
GW_MUST_CHECK int gw_users_append_row_text(gw_request_t *r, gw_users_loc_t *l, const store_user_t *row, gw_json_buf_t *b);

/**
 * The error for a failure of the worker's store, logged: while the database is unreachable
 * (store_unavailable) a 503 with detail `unreachable`, with Retry-After added to r's answer (the
 * IdP's connector retries those, and the store is making its connection again meanwhile), else a
 * 500 with detail `failed`. Fills `err`; -1, as scim_error_set.
 */
int gw_users_store_failure(gw_request_t *r, scim_error_t *err, const char *unreachable, const char *failed);
/**
 * Logs the store's error (store_failed) and answers 500: nothing was changed. While the database
 * is unreachable (store_unavailable) it logs store_unavailable and answers 503 with Retry-After.
 */
void gw_users_respond_store_error(gw_request_t *r);
/** The same for a batch whose commit failed: the 503 says the change may not have been made. */
void gw_users_respond_commit_failed(gw_request_t *r);

/** Answers 404: no User `id`. */
void gw_users_respond_not_found(gw_request_t *r, const char *id);

#endif
