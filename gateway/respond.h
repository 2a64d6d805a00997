/*
 * One request as the gateway sees it, and every way of answering it. All responses carry
 * Content-Length and, except 204/304, a SCIM JSON body; each answered request is logged once and
 * counted once in the metrics.
 */
#ifndef GATEWAY_RESPOND_H
#define GATEWAY_RESPOND_H

#include <h2o.h>
#include <jansson.h>
#include <stdint.h>

#include "gateway/worker.h"
#include "scim/error.h"

#define GW_SCIM_CONTENT_TYPE "application/scim+json"

typedef struct gw_request gw_request_t;

/** Called when the request goes away (after it was answered, or when the client left first). */
typedef void (*gw_request_dispose_cb)(gw_request_t *r);

struct gw_request {
    h2o_req_t *req; /** NULL once h2o has freed the request */
    gw_worker_t *worker;
    const char *route; /** the route pattern for logs, e.g. "/Users/{id}"; static */
    int64_t start_us;
    char request_id[32];
    const char *upstream;   /** outcome of the Odeus call for the log, static or NULL */
    const char *token_name; /** the authenticated token's name (interned by tokens.h, lives as long as the process), or NULL */
    char *base_url;         /** absolute URL of the SCIM base path (pool memory) */
    int answered;
    void *pending; /** async work of the handler; see on_dispose */
    gw_request_dispose_cb on_dispose;
    h2o_linklist_t held; /** in worker->held_answers while the answer waits for a commit */
    char *held_body;     /** pool memory */
    size_t held_len;
};

/** Writes a new request id ("<boot>-<worker>-<seq>", under 32 bytes) into buf; the worker's thread only. */
void gw_respond_request_id(gw_worker_t *worker, char *buf, size_t len);
/** The reason phrase of an HTTP status the gateway answers with ("Status" for others); static. */
const char *gw_respond_reason(int status);
/**
 * Logs one answered request and counts it in the metrics, for answers given without an h2o
 * request (gateway/preauth); every answer sent through this header is logged by it already.
 * `route` is static; `method` is the client's bytes (escaped in the log); `upstream`, `token` may be NULL.
 */
void gw_respond_log(const char *request_id, const char *method, size_t method_len, const char *route, int status, int64_t start_us,
                    const char *upstream, const char *token);

/** Creates the request context in req->pool (freed with it). */
gw_request_t *gw_request_create(gw_worker_t *worker, h2o_req_t *req);

/** Adds a response header; `value` is copied into the request's pool. */
void gw_respond_header(gw_request_t *r, const h2o_token_t *token, const char *value);

/** Answers with `body` as application/scim+json. Steals `body`. */
void gw_respond_json(gw_request_t *r, int status, json_t *body);
/** Answers with `body`, JSON text already serialised, as application/scim+json; `body` is copied. */
void gw_respond_json_text(gw_request_t *r, int status, const char *body, size_t len);
/** Answers with a SCIM error body (RFC 7644 §3.12). */
void gw_respond_error(gw_request_t *r, const scim_error_t *err);
/** Shorthand: a SCIM error from status, scimType (or NULL) and a detail. */
void gw_respond_errorf(gw_request_t *r, int status, const char *scim_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Answers with a non-SCIM body (e.g. /metrics); `content_type` static, `body` copied. */
void gw_respond_text(gw_request_t *r, int status, const char *content_type, const char *body, size_t len);
/** Answers with no body (204). */
void gw_respond_empty(gw_request_t *r, int status);

/**
 * While worker->hold_answers is set, answers are prepared (status, headers, a copy of the body in
 * the request's pool) but not sent; this sends them, in the order they were given, and logs them.
 * A request that went away meanwhile is skipped.
 */
void gw_respond_release_held(gw_worker_t *w);
/**
 * The same for answers held on another list (`held`, of gw_request_t.held; gateway/batch.h keeps
 * one per flush). With `failure` non-NULL each answer is replaced by a 500 with that detail.
 */
void gw_respond_release(h2o_linklist_t *held, const char *failure);

/** Registers the filter that turns h2o's own text/plain errors (413, 400...) into SCIM errors. */
void gw_respond_register_error_filter(h2o_pathconf_t *fallback);

#endif
