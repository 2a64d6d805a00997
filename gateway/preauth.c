#include "gateway/preauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <h2o/http1.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "gateway/linger.h"
#include "gateway/metrics.h"
#include "gateway/respond.h"
#include "scim/error.h"

/*
 * h2o's own request parser. libh2o-evloop exports it (h2o's HTTP/1 uses it), but Debian does not
 * install its header: the declarations below are those of picohttpparser as h2o v2.2.5 bundles
 * it (deps/picohttpparser/picohttpparser.h). Using it, this stage ends the head exactly where h2o
 * will, and sees the same fields h2o will.
 */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path, size_t *path_len,
                      int *minor_version, struct phr_header *headers, size_t *num_headers, size_t last_len);

/* ---- the verdict ------------------------------------------------------------------------------- */

typedef struct head {
    const struct phr_header *fields;
    size_t n;
    char *joined; /* for header(): malloc'd on first use, as long as the head */
    size_t cap;
} head_t;

static int name_is(const struct phr_header *h, const char *name, size_t len)
{
    return h->name != NULL && h->name_len == len && h2o_lcstris(h->name, len, name, len);
}

static h2o_iovec_t trimmed(const char *v, size_t len)
{
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    return h2o_iovec_init(v, len);
}

/* gw_auth_header_fn: all field lines of `name` joined with ',' (RFC 9110 §5.3), as the router reads them. */
static const char *header(void *ctx, const char *name, size_t *len)
{
    head_t *h = ctx;
    size_t name_len = strlen(name), total = 0, n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (name_is(&h->fields[i], name, name_len))
            total += h->fields[i].value_len + 1, n++;
    if (n == 0)
        return NULL;
    if (h->cap < total) {
        free(h->joined);
        h->joined = gw_malloc(total);
        h->cap = total;
    }
    size_t at = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (!name_is(&h->fields[i], name, name_len))
            continue;
        if (at > 0)
            h->joined[at++] = ',';
        memcpy(h->joined + at, h->fields[i].value, h->fields[i].value_len);
        at += h->fields[i].value_len;
    }
    *len = at;
    return h->joined;
}

static gw_preauth_verdict_t refuse(gw_preauth_verdict_t v, int status, const char *detail)
{
    v.state = GW_PREAUTH_REFUSE;
    v.status = status;
    snprintf(v.detail, sizeof(v.detail), "%s", detail);
    return v;
}

/* The client's address may call the SCIM endpoints (router.c admit(), first step); else the 403 detail. */
static const char *address_refusal(const gw_config_t *config, const struct sockaddr *peer, head_t *head)
{
    if (config->allow_cidrs.n == 0)
        return NULL;
    if (peer == NULL || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
        return GW_AUTH_ADDRESS_UNKNOWN;
    struct sockaddr_storage client;
    gw_auth_client_address(config, peer, header, head, &client);
    return gw_auth_address_allowed(config, (struct sockaddr *)&client) ? NULL : GW_AUTH_ADDRESS_REFUSED;
}

gw_preauth_verdict_t gw_preauth_judge(const gw_config_t *config, const gw_tokenset_t *tokens, const struct sockaddr *peer,
                                      int64_t now_s, const char *buf, size_t len, size_t last_len)
{
    gw_preauth_verdict_t v = {.state = GW_PREAUTH_INCOMPLETE};
    struct phr_header fields[H2O_MAX_HEADERS];
    size_t n_fields = H2O_MAX_HEADERS, path_len;
    const char *path;
    int minor;
    int head_len = phr_parse_request(buf, len, &v.method, &v.method_len, &path, &path_len, &minor, fields, &n_fields, last_len);
    if (head_len == -2) {
        v.method = NULL;
        if (len <= GW_PREAUTH_MAX_HEAD_BYTES)
            return v;
        v = refuse(v, 431, "");
        snprintf(v.detail, sizeof(v.detail), GW_HEAD_TOO_LARGE_DETAIL_FMT, GW_MAX_HEADER_BYTES);
        return v;
    }
    v.state = GW_PREAUTH_PASS;
    if (head_len < 0) {
        v.method = NULL;
        return v; /* h2o answers a malformed head itself, without reading further */
    }

    /* Framing as router.c has_ambiguous_framing() sees it; the body, as h2o will read it. */
    h2o_iovec_t cl = {NULL, 0};
    int n_cl = 0, te = 0;
    size_t first_cl = SIZE_MAX;
    for (size_t i = 0; i < n_fields; i++) {
        if (name_is(&fields[i], H2O_STRLIT("transfer-encoding"))) {
            te = 1;
        } else if (name_is(&fields[i], H2O_STRLIT("content-length"))) {
            h2o_iovec_t value = trimmed(fields[i].value, fields[i].value_len);
            if (n_cl++ == 0) {
                cl = value;
                first_cl = h2o_strtosize(value.base, value.len);
            } else if (value.len != cl.len || memcmp(value.base, cl.base, cl.len) != 0) {
                return refuse(v, 400, GW_FRAMED_TWICE_DETAIL);
            }
        }
    }
    if (te && n_cl > 0)
        return refuse(v, 400, GW_FRAMED_TWICE_DETAIL);
    /* An unreadable Content-Length h2o refuses itself (400) before reading anything. */
    if (!te && (n_cl == 0 || first_cl == 0 || first_cl == SIZE_MAX))
        return v;

    head_t head = {.fields = fields, .n = n_fields};
    const char *address = address_refusal(config, peer, &head);
    free(head.joined);
    if (address != NULL)
        return refuse(v, 403, address);
    const struct phr_header *auth = NULL;
    for (size_t i = 0; i < n_fields && auth == NULL; i++)
        if (name_is(&fields[i], H2O_STRLIT("authorization")))
            auth = &fields[i];
    size_t index = 0;
    v.auth = auth == NULL ? GW_AUTH_MISSING
                          : gw_auth_check_tokens(tokens->tokens, tokens->n, auth->value, auth->value_len, now_s, &index);
    if (v.auth == GW_AUTH_OK)
        return v;
    if (v.auth == GW_AUTH_EXPIRED)
        v.token_name = tokens->names[index];
    return refuse(v, 401, gw_auth_failure_detail(v.auth));
}

/* ---- the stage on the socket ------------------------------------------------------------------- */

typedef struct preauth {
    gw_worker_t *worker;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout; /* in ctx.http1.req_timeout from the accept on */
    struct timeval connected_at;
    int64_t start_us;
    size_t last_len; /* of the input judged before */
    char *answer;    /* the refusal being written */
} preauth_t;

static void preauth_free(preauth_t *p)
{
    if (h2o_timeout_is_linked(&p->timeout))
        h2o_timeout_unlink(&p->timeout);
    free(p->answer);
    free(p);
}

/* Closes without an answer: the client left, the handshake failed, or the head did not come in time. */
static void drop(preauth_t *p)
{
    h2o_socket_t *sock = p->sock;
    preauth_free(p);
    h2o_socket_close(sock);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    drop(H2O_STRUCT_FROM_MEMBER(preauth_t, timeout, entry));
}

static void on_answer_written(h2o_socket_t *sock, const char *err)
{
    preauth_t *p = sock->data;
    /* A client still sending its body reads the answer instead of a reset (linger.h). */
    if (err == NULL)
        gw_linger_arm_socket(&p->worker->ctx, sock);
    drop(p);
}

static void answer(preauth_t *p, const gw_preauth_verdict_t *v)
{
    gw_worker_t *w = p->worker;
    char request_id[32];
    gw_respond_request_id(w, request_id, sizeof(request_id));
    if (v->status == 401) {
        if (v->auth == GW_AUTH_EXPIRED)
            gw_log(GW_LOG_WARN, "token_expired", json_pack("{s:s, s:s}", "request_id", request_id, "token", v->token_name));
        gw_metrics_auth_failure(v->auth == GW_AUTH_MISSING   ? GW_METRICS_AUTH_MISSING
                                : v->auth == GW_AUTH_EXPIRED ? GW_METRICS_AUTH_EXPIRED
                                                             : GW_METRICS_AUTH_INVALID);
    } else if (v->status == 403) {
        gw_metrics_auth_failure(GW_METRICS_AUTH_ADDRESS);
    }

    scim_error_t err = {.status = v->status};
    snprintf(err.detail, sizeof(err.detail), "%s", v->detail);
    json_t *json = scim_error_to_json(&err);
    size_t body_len = 0;
    char *body = gw_json_dumps(json, &body_len);
    json_decref(json);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    static const char head_fmt[] = "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: odeus-scim-gateway\r\nConnection: close\r\n"
                                   "Content-Length: %zu\r\nContent-Type: " GW_SCIM_CONTENT_TYPE "\r\nX-Request-Id: %s\r\n%s\r\n";
    const char *challenge = v->status == 401 ? "WWW-Authenticate: " GW_AUTH_CHALLENGE "\r\n" : "";
    int head_len = snprintf(NULL, 0, head_fmt, v->status, gw_respond_reason(v->status), date, body_len, request_id, challenge);
    p->answer = gw_malloc((size_t)head_len + body_len + 1);
    snprintf(p->answer, (size_t)head_len + 1, head_fmt, v->status, gw_respond_reason(v->status), date, body_len, request_id,
             challenge);
    memcpy(p->answer + head_len, body, body_len);
    free(body);

    gw_respond_log(request_id, v->method != NULL ? v->method : "-", v->method != NULL ? v->method_len : 1, "-", v->status,
                   p->start_us, NULL, NULL);
    /* What was read of the body is not needed: give it back now, not when the socket closes. */
    h2o_socket_read_stop(p->sock);
    h2o_buffer_consume(&p->sock->input, p->sock->input->size);
    h2o_iovec_t buf = h2o_iovec_init(p->answer, (size_t)head_len + body_len);
    h2o_socket_write(p->sock, &buf, 1, on_answer_written);
}

static void hand_to_h2o(preauth_t *p)
{
    gw_worker_t *w = p->worker;
    h2o_socket_t *sock = p->sock;
    struct timeval connected_at = p->connected_at;
    preauth_free(p);
    /* h2o_http1_accept parses what sock->input already holds before it reads more. */
    h2o_http1_accept(&w->accept_ctx, sock, connected_at);
}

static void judge(preauth_t *p)
{
    h2o_socket_t *sock = p->sock;
    struct sockaddr_storage peer;
    socklen_t peer_len = h2o_socket_getpeername(sock, (struct sockaddr *)&peer);
    const gw_tokenset_t *tokens = gw_tokens_acquire(p->worker->tokens);
    gw_preauth_verdict_t v = gw_preauth_judge(p->worker->config, tokens, peer_len > 0 ? (struct sockaddr *)&peer : NULL,
                                              gw_clock_unix_ms() / 1000, sock->input->bytes, sock->input->size, p->last_len);
    gw_tokens_release(tokens); /* token names are interned: v.token_name outlives the set */
    p->last_len = sock->input->size;
    switch (v.state) {
    case GW_PREAUTH_INCOMPLETE:
        break;
    case GW_PREAUTH_PASS:
        hand_to_h2o(p);
        break;
    case GW_PREAUTH_REFUSE:
        answer(p, &v);
        break;
    }
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    preauth_t *p = sock->data;
    if (err != NULL) {
        drop(p);
        return;
    }
    judge(p);
}

static void start_reading(preauth_t *p)
{
    h2o_socket_read_start(p->sock, on_read);
    if (p->sock->input->size != 0) /* TLS: the handshake may have brought the head along */
        judge(p);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    preauth_t *p = sock->data;
    /* ALPN offers only http/1.1 (tls.h), so every handshake that succeeded leads to HTTP/1. */
    if (err != NULL) {
        drop(p);
        return;
    }
    start_reading(p);
}

void gw_preauth_accept(gw_worker_t *w, h2o_socket_t *sock)
{
    preauth_t *p = gw_calloc(1, sizeof(*p));
    p->worker = w;
    p->sock = sock;
    p->connected_at = *h2o_get_timestamp(&w->ctx, NULL, NULL);
    p->start_us = gw_clock_mono_us();
    p->timeout.cb = on_timeout;
    h2o_timeout_link(w->loop, &w->ctx.http1.req_timeout, &p->timeout);
    sock->data = p;
    if (w->accept_ctx.ssl_ctx != NULL)
        h2o_socket_ssl_handshake(sock, w->accept_ctx.ssl_ctx, NULL, on_handshake);
    else
        start_reading(p);
}
