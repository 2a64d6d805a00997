#include "gateway/respond.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/linger.h"
#include "gateway/metrics.h"
#include "common/json.h"

static char boot_id[9];
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

static void init_boot_id(void)
{
    unsigned char b[4] = {0};
    if (RAND_bytes(b, sizeof(b)) != 1)
        b[0] = (unsigned char)gw_clock_mono_us();
    snprintf(boot_id, sizeof(boot_id), "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

static void on_pool_dispose(void *obj)
{
    gw_request_t *r = obj;
    if (h2o_linklist_is_linked(&r->held))
        h2o_linklist_unlink(&r->held);
    r->req = NULL;
    if (r->on_dispose != NULL)
        r->on_dispose(r);
}

void gw_respond_request_id(gw_worker_t *worker, char *buf, size_t len)
{
    pthread_once(&boot_once, init_boot_id);
    snprintf(buf, len, "%s-%u-%llu", boot_id, worker->index, (unsigned long long)++worker->request_seq);
}

gw_request_t *gw_request_create(gw_worker_t *worker, h2o_req_t *req)
{
    gw_request_t *r = h2o_mem_alloc_shared(&req->pool, sizeof(*r), on_pool_dispose);
    *r = (gw_request_t){.req = req, .worker = worker, .route = "-", .start_us = gw_clock_mono_us()};
    gw_respond_request_id(worker, r->request_id, sizeof(r->request_id));
    return r;
}

const char *gw_respond_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

void gw_respond_log(const char *request_id, const char *method, size_t method_len, const char *route, int status, int64_t start_us,
                    const char *upstream, const char *token)
{
    int64_t latency_us = gw_clock_mono_us() - start_us;
    gw_metrics_request(route, method, method_len, status, latency_us);
    gw_log_level_t level = status >= 500 ? GW_LOG_WARN : GW_LOG_INFO;
    if (!gw_log_enabled(level))
        return; /* building the line costs more than answering a lookup */
    /* The method is the client's bytes: a valid one is a token (RFC 9110 §9.1); anything else is
     * logged with every byte outside printable ASCII escaped, so the line keeps all its fields. */
    char method_text[64];
    size_t n = 0;
    for (size_t i = 0; i < method_len && n + 5 < sizeof(method_text); i++) {
        unsigned char c = (unsigned char)method[i];
        if (c > 0x20 && c < 0x7f && c != '\\')
            method_text[n++] = (char)c;
        else
            n += (size_t)snprintf(method_text + n, sizeof(method_text) - n, "\\x%02x", c);
    }
    method_text[n] = '\0';
    json_t *fields = json_pack("{s:s, s:s, s:s, s:i, s:f}", "request_id", request_id, "method", method_text, "route", route,
                               "status", status, "latency_ms", (double)latency_us / 1000.0);
    json_object_set_new(fields, "upstream", upstream != NULL ? json_string(upstream) : json_null());
    if (token != NULL)
        json_object_set_new(fields, "token", json_string(token));
    gw_log(level, "request", fields);
}

void gw_respond_header(gw_request_t *r, const h2o_token_t *token, const char *value)
{
    if (r->req == NULL)
        return;
    h2o_iovec_t v = h2o_strdup(&r->req->pool, value, SIZE_MAX);
    h2o_add_header(&r->req->pool, &r->req->res.headers, token, NULL, v.base, v.len);
}

static void send_typed(gw_request_t *r, int status, const char *content_type, const char *body, size_t len)
{
    h2o_req_t *req = r->req;
    if (req == NULL || r->answered)
        return;
    r->answered = 1;
    req->res.status = status;
    req->res.reason = gw_respond_reason(status);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, "X-Request-Id", r->request_id,
                          strlen(r->request_id));
    if (body != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    /* h2o_send_inline leaves content_length unset, which would make HTTP/1.1 answers chunked. */
    req->res.content_length = len;
    if (r->worker->hold_answers) {
        /* The pass's write batch is not durable yet (gateway/batch.h): keep the answer until it is. */
        r->held_body = h2o_mem_alloc_pool(&req->pool, len + 1);
        if (len > 0)
            memcpy(r->held_body, body, len);
        r->held_len = len;
        h2o_linklist_insert(&r->worker->held_answers, &r->held);
        return;
    }
    gw_respond_log(r->request_id, req->method.base, req->method.len, r->route, status, r->start_us, r->upstream, r->token_name);
    h2o_send_inline(req, body != NULL ? body : "", len);
}

/*
 * A held answer whose writes could not be made durable becomes a 500 saying so; its headers go
 * too (no ETag or Location of a change that may not stand).
 */
static void replace_held_with_failure(gw_request_t *r, const char *failure)
{
    h2o_req_t *req = r->req;
    scim_error_t err = {.status = 500};
    snprintf(err.detail, sizeof(err.detail), "%s", failure);
    size_t len = 0;
    json_t *body = scim_error_to_json(&err);
    char *text = gw_json_dumps(body, &len);
    json_decref(body);
    req->res.headers = (h2o_headers_t){NULL, 0, 0};
    req->res.status = 500;
    req->res.reason = gw_respond_reason(500);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, "X-Request-Id", r->request_id,
                          strlen(r->request_id));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, GW_SCIM_CONTENT_TYPE, strlen(GW_SCIM_CONTENT_TYPE));
    r->held_body = h2o_mem_alloc_pool(&req->pool, len + 1);
    if (len > 0)
        memcpy(r->held_body, text, len);
    r->held_len = len;
    req->res.content_length = len;
    free(text);
}

void gw_respond_release(h2o_linklist_t *held, const char *failure)
{
    while (!h2o_linklist_is_empty(held)) {
        gw_request_t *r = H2O_STRUCT_FROM_MEMBER(gw_request_t, held, held->next);
        h2o_linklist_unlink(&r->held);
        h2o_req_t *req = r->req;
        if (failure != NULL)
            replace_held_with_failure(r, failure);
        gw_respond_log(r->request_id, req->method.base, req->method.len, r->route, req->res.status, r->start_us, r->upstream,
                       r->token_name);
        h2o_send_inline(req, r->held_body, r->held_len);
    }
}

void gw_respond_release_held(gw_worker_t *w)
{
    gw_respond_release(&w->held_answers, NULL);
}

static void send_body(gw_request_t *r, int status, const char *body, size_t len)
{
    send_typed(r, status, GW_SCIM_CONTENT_TYPE, body, len);
}

void gw_respond_text(gw_request_t *r, int status, const char *content_type, const char *body, size_t len)
{
    send_typed(r, status, content_type, body, len);
}

void gw_respond_json(gw_request_t *r, int status, json_t *body)
{
    size_t len = 0;
    char *text = body != NULL ? gw_json_dumps(body, &len) : NULL;
    json_decref(body);
    if (text == NULL) {
        /* no body, or one json_dumps would refuse: a bug, answered as one */
        static const char fallback[] =
            "{\"schemas\":[\"" SCIM_SCHEMA_ERROR "\"],\"status\":\"500\",\"detail\":\"the answer could not be rendered\"}";
        send_body(r, 500, fallback, sizeof(fallback) - 1);
        return;
    }
    send_body(r, status, text, len); /* h2o_send_inline copies the body */
    free(text);
}

void gw_respond_json_text(gw_request_t *r, int status, const char *body, size_t len)
{
    send_body(r, status, body, len);
}

void gw_respond_error(gw_request_t *r, const scim_error_t *err)
{
    gw_respond_json(r, err->status, scim_error_to_json(err));
}

void gw_respond_errorf(gw_request_t *r, int status, const char *scim_type, const char *fmt, ...)
{
    scim_error_t err = {.status = status, .scim_type = scim_type};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.detail, sizeof(err.detail), fmt, ap);
    va_end(ap);
    gw_respond_error(r, &err);
}

void gw_respond_empty(gw_request_t *r, int status)
{
    send_body(r, status, NULL, 0);
}

/* ---- h2o's own errors ------------------------------------------------------------------------ */

/*
 * h2o answers some requests itself before any handler runs: 413 for a body over the limit, 400
 * for a malformed request. Those answers are text/plain and bound to the host's fallback path;
 * this filter on that path swaps the body for a SCIM error with the same status.
 */
typedef struct error_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    int sent;
} error_ostream_t;

static void error_do_send(h2o_ostream_t *_self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt, h2o_send_state_t state)
{
    error_ostream_t *self = (void *)_self;
    (void)bufs;
    (void)bufcnt;
    if (self->sent) {
        h2o_ostream_send_next(&self->super, req, NULL, 0, state);
        return;
    }
    self->sent = 1;
    h2o_ostream_send_next(&self->super, req, &self->body, 1, state);
}

static void error_on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status >= 400) {
        scim_error_t err = {.status = req->res.status};
        snprintf(err.detail, sizeof(err.detail), "%s",
                 req->res.status == 413 ? "request body is larger than the configured limit" : req->res.reason);
        if (req->res.status == 400)
            err.scim_type = SCIM_TYPE_INVALID_SYNTAX;
        json_t *json = scim_error_to_json(&err);
        char *text = json_dumps(json, JSON_COMPACT);
        json_decref(json);
        error_ostream_t *os = (void *)h2o_add_ostream(req, sizeof(*os), slot);
        os->super.do_send = error_do_send;
        os->body = h2o_strdup(&req->pool, text, SIZE_MAX);
        os->sent = 0;
        free(text);
        memset(&req->res.headers, 0, sizeof(req->res.headers));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT(GW_SCIM_CONTENT_TYPE));
        req->res.content_length = os->body.len;
        slot = &os->super.next;
        gw_respond_log("-", req->method.base, req->method.len, "-", req->res.status, gw_clock_mono_us(), NULL, NULL);
        /* A refused body (413) or a broken one (400) closes the connection with the rest unread. */
        if (!req->http1_is_persistent)
            gw_linger_arm(req);
    }
    h2o_setup_next_ostream(req, slot);
}

void gw_respond_register_error_filter(h2o_pathconf_t *fallback)
{
    h2o_filter_t *filter = h2o_create_filter(fallback, sizeof(*filter));
    filter->on_setup_ostream = error_on_setup_ostream;
}
