#include "gateway/router.h"

#include <string.h>
#include <strings.h>

#include "gateway/auth.h"
#include "common/clock.h"
#include "common/log.h"
#include "gateway/config.h"
#include "gateway/linger.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "gateway/outbox.h"
#include "gateway/ratelimit.h"
#include "gateway/respond.h"
#include "gateway/tokens.h"
#include "gateway/groups.h"
#include "gateway/users_endpoints.h"
#include "gateway/users_list.h"
#include "scim/discovery.h"
#include "scim/list.h"
#include "store/store.h"

/* Ids are UUIDs (36 bytes): a longer path segment names no resource and is answered 404. README, "Limits". */
#define ROUTER_MAX_ID_LEN 128

typedef enum method { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_OTHER } method_t;

static method_t method_of(const h2o_req_t *req)
{
    static const struct {
        const char *name;
        size_t len;
        method_t m;
    } table[] = {{H2O_STRLIT("GET"), M_GET},
                 {H2O_STRLIT("POST"), M_POST},
                 {H2O_STRLIT("PUT"), M_PUT},
                 {H2O_STRLIT("PATCH"), M_PATCH},
                 {H2O_STRLIT("DELETE"), M_DELETE}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (h2o_memis(req->method.base, req->method.len, table[i].name, table[i].len))
            return table[i].m;
    return M_OTHER;
}

static void respond_not_allowed(gw_request_t *r, const char *allow)
{
    gw_respond_header(r, H2O_TOKEN_ALLOW, allow);
    gw_respond_errorf(r, 405, NULL, "method %.*s is not allowed here; allowed: %s", (int)r->req->method.len, r->req->method.base,
                      allow);
}

static void respond_unknown_path(gw_request_t *r)
{
    gw_respond_errorf(r, 404, NULL, "no such endpoint");
}

/* Matches `segment` (case-insensitively) at the start of `rest`; sets *tail to what follows. */
static int match_segment(h2o_iovec_t rest, const char *segment, h2o_iovec_t *tail)
{
    size_t len = strlen(segment);
    if (rest.len < len || strncasecmp(rest.base, segment, len) != 0 || (rest.len > len && rest.base[len] != '/'))
        return 0;
    *tail = h2o_iovec_init(rest.base + len, rest.len - len);
    return 1;
}

/* "/{id}" with one non-empty segment: copies the id into buf. */
static int tail_id(h2o_iovec_t tail, char *buf, size_t buf_len)
{
    if (tail.len < 2 || tail.base[0] != '/' || tail.len - 1 >= buf_len || memchr(tail.base + 1, '/', tail.len - 1) != NULL)
        return 0;
    memcpy(buf, tail.base + 1, tail.len - 1);
    buf[tail.len - 1] = '\0';
    return 1;
}

/* The handlers of one SCIM resource type, and its route names (static: they label metrics). */
typedef struct resource_routes {
    const char *collection, *item, *search_route; /* "/Users", "/Users/{id}", "/Users/.search" */
    void (*list)(gw_request_t *r);
    void (*create)(gw_request_t *r);
    void (*search)(gw_request_t *r);
    void (*get)(gw_request_t *r, const char *id);
    void (*replace)(gw_request_t *r, const char *id);
    void (*patch)(gw_request_t *r, const char *id);
    void (*remove)(gw_request_t *r, const char *id);
} resource_routes_t;

static const resource_routes_t users_routes = {.collection = "/Users",
                                               .item = "/Users/{id}",
                                               .search_route = "/Users/.search",
                                               .list = gw_users_list,
                                               .create = gw_users_create,
                                               .search = gw_users_search,
                                               .get = gw_users_get,
                                               .replace = gw_users_replace,
                                               .patch = gw_users_patch,
                                               .remove = gw_users_delete};
static const resource_routes_t groups_routes = {.collection = "/Groups",
                                                .item = "/Groups/{id}",
                                                .search_route = "/Groups/.search",
                                                .list = gw_groups_list,
                                                .create = gw_groups_create,
                                                .search = gw_groups_search,
                                                .get = gw_groups_get,
                                                .replace = gw_groups_replace,
                                                .patch = gw_groups_patch,
                                                .remove = gw_groups_delete};

static void route_resource(gw_request_t *r, const resource_routes_t *rt, method_t m, h2o_iovec_t tail)
{
    char id[ROUTER_MAX_ID_LEN];
    if (tail.len == 0 || (tail.len == 1 && tail.base[0] == '/')) {
        r->route = rt->collection;
        if (m == M_GET)
            rt->list(r);
        else if (m == M_POST)
            rt->create(r);
        else
            respond_not_allowed(r, "GET, POST");
        return;
    }
    if (!tail_id(tail, id, sizeof(id))) {
        respond_unknown_path(r);
        return;
    }
    r->route = rt->item;
    if (strcmp(id, ".search") == 0) {
        r->route = rt->search_route;
        if (m == M_POST)
            rt->search(r);
        else
            respond_not_allowed(r, "POST");
        return;
    }
    switch (m) {
    case M_GET:
        rt->get(r, id);
        break;
    case M_PUT:
        rt->replace(r, id);
        break;
    case M_PATCH:
        rt->patch(r, id);
        break;
    case M_DELETE:
        rt->remove(r, id);
        break;
    default:
        respond_not_allowed(r, "GET, PUT, PATCH, DELETE");
    }
}

/* The discovery endpoints: a list at the bare path, one document per id below it. */
static void route_discovery(gw_request_t *r, method_t m, h2o_iovec_t tail, int schemas)
{
    char id[ROUTER_MAX_ID_LEN];
    json_t *doc;
    int one = tail.len > 1;
    r->route = schemas ? (one ? "/Schemas/{id}" : "/Schemas") : (one ? "/ResourceTypes/{id}" : "/ResourceTypes");
    if (m != M_GET) {
        respond_not_allowed(r, "GET");
        return;
    }
    if (!one) {
        doc = schemas ? scim_discovery_schemas(r->base_url) : scim_discovery_resource_types(r->base_url);
    } else if (!tail_id(tail, id, sizeof(id))) {
        doc = NULL;
    } else {
        doc = schemas ? scim_discovery_schema(r->base_url, id) : scim_discovery_resource_type(r->base_url, id);
    }
    if (doc == NULL) {
        gw_respond_errorf(r, 404, NULL, "no such %s", schemas ? "schema" : "resource type");
        return;
    }
    gw_respond_json(r, 200, doc);
}

static void route_scim(gw_request_t *r, h2o_iovec_t rest)
{
    method_t m = method_of(r->req);
    h2o_iovec_t tail;
    if (match_segment(rest, "/Users", &tail)) {
        route_resource(r, &users_routes, m, tail);
    } else if (match_segment(rest, "/Groups", &tail)) {
        route_resource(r, &groups_routes, m, tail);
    } else if (match_segment(rest, "/ServiceProviderConfig", &tail) && tail.len <= 1) {
        r->route = "/ServiceProviderConfig";
        if (m != M_GET) {
            respond_not_allowed(r, "GET");
            return;
        }
        scim_discovery_limits_t limits = {.max_results = SCIM_LIST_MAX_COUNT,
                                          .max_payload_size = r->worker->config->max_body_bytes};
        gw_respond_json(r, 200, scim_discovery_service_provider_config(r->base_url, &limits));
    } else if (match_segment(rest, "/ResourceTypes", &tail)) {
        route_discovery(r, m, tail, 0);
    } else if (match_segment(rest, "/Schemas", &tail)) {
        route_discovery(r, m, tail, 1);
    } else {
        respond_unknown_path(r);
    }
}

static void set_base_url(gw_request_t *r)
{
    const gw_config_t *cfg = r->worker->config;
    h2o_req_t *req = r->req;
    if (cfg->public_url[0] != '\0') {
        r->base_url = h2o_concat(&req->pool, h2o_iovec_init(cfg->public_url, strlen(cfg->public_url)),
                                 h2o_iovec_init(cfg->base_path, strlen(cfg->base_path)))
                          .base;
    } else {
        r->base_url = h2o_concat(&req->pool, req->scheme->name, h2o_iovec_init(H2O_STRLIT("://")), req->authority,
                                 h2o_iovec_init(cfg->base_path, strlen(cfg->base_path)))
                          .base;
    }
}

/*
 * A header's field lines as one comma-separated list (RFC 9110 §5.3): two X-Forwarded-For lines
 * mean the same as one line with both values, so the right-most address is the same either way.
 */
static const char *find_header(void *ctx, const char *name, size_t *len)
{
    h2o_req_t *req = ctx;
    size_t name_len = strlen(name);
    ssize_t first = h2o_find_header_by_str(&req->headers, name, name_len, -1);
    if (first == -1)
        return NULL;
    h2o_iovec_t joined = req->headers.entries[first].value;
    for (ssize_t i = first; (i = h2o_find_header_by_str(&req->headers, name, name_len, i)) != -1;)
        joined = h2o_concat(&req->pool, joined, h2o_iovec_init(H2O_STRLIT(",")), req->headers.entries[i].value);
    *len = joined.len;
    return joined.base;
}

/* Prometheus text format; outside the base path and without a token, like the probes. */
static void respond_metrics(gw_request_t *r)
{
    gw_worker_t *w = r->worker;
    r->route = "/metrics";
    if (method_of(r->req) != M_GET) {
        respond_not_allowed(r, "GET");
        return;
    }
    gw_metrics_state_t state = {.config = w->config,
                                .tokens = gw_tokens_acquire(w->tokens),
                                .store = w->store,
                                .odeus_auth_failing = gw_outbox_auth_failing(w->outbox),
                                .connections_open = atomic_load(w->connections_open),
                                .now_ms = gw_clock_unix_ms()};
    size_t len = 0;
    char *text = gw_metrics_render(&state, &len);
    gw_tokens_release(state.tokens);
    gw_respond_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* /readyz: 1 when the gateway should report ready (store reachable, Odeus key not rejected), else 0 with *why set. */
static int ready(gw_worker_t *w, const char **why)
{
    size_t pending;
    if (store_outbox_pending_count(w->store, &pending) != STORE_OK) {
        *why = store_unavailable(w->store, NULL) ? "the database is unreachable (the gateway is connecting again)"
                                                 : "the database cannot be read";
        return 0;
    }
    if (gw_outbox_auth_failing(w->outbox)) {
        *why = "Odeus rejects the API key (401/403): check ODEUS_API_KEY and its USER_MANAGEMENT_API scope";
        return 0;
    }
    *why = NULL;
    return 1;
}

/*
 * The gate in front of the SCIM endpoints, in order: source address, credentials, token expiry,
 * rate limit. Returns 1 when the request may go on (r->token_name set), else it was answered.
 * Once the token is valid the connection may stay open again (`persistent`: as h2o had it).
 */
static int admit(gw_request_t *r, int persistent)
{
    gw_worker_t *w = r->worker;
    const gw_config_t *cfg = w->config;
    h2o_req_t *req = r->req;

    if (cfg->allow_cidrs.n > 0) {
        struct sockaddr_storage peer, client;
        socklen_t plen = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&peer);
        if (plen == 0 || (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)) {
            gw_metrics_auth_failure(GW_METRICS_AUTH_ADDRESS);
            gw_respond_errorf(r, 403, NULL, "%s", GW_AUTH_ADDRESS_UNKNOWN);
            return 0;
        }
        gw_auth_client_address(cfg, (struct sockaddr *)&peer, find_header, req, &client);
        if (!gw_auth_address_allowed(cfg, (struct sockaddr *)&client)) {
            char addr[64];
            gw_cidr_format_addr((struct sockaddr *)&client, addr, sizeof(addr));
            gw_log(GW_LOG_WARN, "address_refused", json_pack("{s:s, s:s}", "request_id", r->request_id, "client", addr));
            gw_metrics_auth_failure(GW_METRICS_AUTH_ADDRESS);
            gw_respond_errorf(r, 403, NULL, "%s", GW_AUTH_ADDRESS_REFUSED);
            return 0;
        }
    }

    /* The live token set (swapped on SIGHUP): this request is judged by one set, held only here. */
    ssize_t auth = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    size_t index = 0;
    const gw_tokenset_t *tokens = gw_tokens_acquire(w->tokens);
    gw_auth_result_t result = auth == -1
                                  ? GW_AUTH_MISSING
                                  : gw_auth_check_tokens(tokens->tokens, tokens->n, req->headers.entries[auth].value.base,
                                                         req->headers.entries[auth].value.len, gw_clock_unix_ms() / 1000, &index);
    const char *token_name = result == GW_AUTH_OK || result == GW_AUTH_EXPIRED ? tokens->names[index] : NULL; /* interned */
    unsigned slot = result == GW_AUTH_OK ? tokens->slots[index] : 0;
    gw_tokens_release(tokens);
    if (result != GW_AUTH_OK) {
        if (result == GW_AUTH_EXPIRED)
            gw_log(GW_LOG_WARN, "token_expired", json_pack("{s:s, s:s}", "request_id", r->request_id, "token", token_name));
        gw_metrics_auth_failure(result == GW_AUTH_MISSING   ? GW_METRICS_AUTH_MISSING
                                : result == GW_AUTH_EXPIRED ? GW_METRICS_AUTH_EXPIRED
                                                            : GW_METRICS_AUTH_INVALID);
        gw_respond_header(r, H2O_TOKEN_WWW_AUTHENTICATE, GW_AUTH_CHALLENGE);
        gw_respond_errorf(r, 401, NULL, "%s", gw_auth_failure_detail(result));
        return 0;
    }
    r->token_name = token_name;
    req->http1_is_persistent = persistent;

    int64_t wait_s = gw_ratelimit_take(w->ratelimit, slot, gw_clock_mono_ms());
    if (wait_s > 0) {
        char retry_after[24];
        snprintf(retry_after, sizeof(retry_after), "%lld", (long long)wait_s);
        gw_metrics_rate_limited(slot);
        gw_respond_header(r, H2O_TOKEN_RETRY_AFTER, retry_after);
        gw_respond_errorf(r, 429, NULL, "too many requests for token %s; retry after %lld s", r->token_name, (long long)wait_s);
        return 0;
    }
    return 1;
}

/*
 * h2o decodes the path before routing, so "/Users/<id>%00.x" would name <id> and "/Users%2F<id>"
 * would route like "/Users/<id>": an encoded NUL or slash in the path (not the query) is refused.
 */
static int has_encoded_separator(h2o_iovec_t raw)
{
    for (size_t i = 0; i + 2 < raw.len && raw.base[i] != '?'; i++) {
        if (raw.base[i] != '%')
            continue;
        char hi = raw.base[i + 1], lo = (char)(raw.base[i + 2] | 0x20);
        if ((hi == '0' && lo == '0') || (hi == '2' && lo == 'f'))
            return 1;
    }
    return 0;
}

/* 1 when `line` (len bytes) is the header field `name` (lower case, with its colon). */
static int field_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len >= n && h2o_lcstris(line, n, name, n);
}

/*
 * Request smuggling (RFC 9112 §6.3): a message with both Content-Length and Transfer-Encoding, or
 * with Content-Length values that differ, frames its body in two ways; a proxy in front may have
 * taken the other one. h2o 2.2.5 keeps neither field in req->headers, so the head is read where
 * h2o parsed it: the socket's input buffer still begins with it until the answer is sent (HTTP/1).
 * Returns 1 when the framing is ambiguous.
 */
static int has_ambiguous_framing(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL)
        return 0;
    const char *p = sock->input->bytes, *end = p + sock->input->size;
    const char *cl = NULL;
    size_t cl_len = 0;
    int n_cl = 0, te = 0;
    const char *eol = memchr(p, '\n', (size_t)(end - p)); /* skip the request line */
    while (eol != NULL && (p = eol + 1) < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((eol != NULL ? eol : end) - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == 0)
            break; /* the empty line: the head ends here */
        if (field_is(p, len, "transfer-encoding:")) {
            te = 1;
        } else if (field_is(p, len, "content-length:")) {
            const char *v = p + sizeof("content-length:") - 1;
            size_t vlen = len - (sizeof("content-length:") - 1);
            while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (n_cl++ > 0 && (vlen != cl_len || memcmp(v, cl, vlen) != 0))
                return 1;
            cl = v;
            cl_len = vlen;
        }
    }
    return te && n_cl > 0;
}

/* The size of the request head as GW_MAX_HEADER_BYTES counts it. */
static size_t head_bytes(const h2o_req_t *req)
{
    size_t n = req->input.method.len + req->input.path.len + req->input.authority.len + req->upgrade.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return n;
}

int gw_router_handle(gw_worker_t *w, h2o_req_t *req)
{
    gw_request_t *r = gw_request_create(w, req);
    const gw_config_t *cfg = w->config;
    h2o_iovec_t path = req->path_normalized;
    /*
     * gateway/preauth judges only a connection's first request before h2o reads its body; a later
     * one is read whole first. So a connection stays open only after a request that presented a
     * valid token: whoever has not shown one gets one answer per connection, and every body on it
     * is judged before it is read (README, Security).
     */
    int persistent = req->http1_is_persistent;
    req->http1_is_persistent = 0;

    if (head_bytes(req) > GW_MAX_HEADER_BYTES) {
        req->http1_is_persistent = 0;
        gw_linger_arm(req);
        gw_respond_errorf(r, 431, NULL, GW_HEAD_TOO_LARGE_DETAIL_FMT, GW_MAX_HEADER_BYTES);
        return 0;
    }

    if (req->authority.len > GW_MAX_HOST_BYTES) {
        gw_respond_errorf(r, 400, NULL, "the Host header is longer than %d bytes", GW_MAX_HOST_BYTES);
        return 0;
    }
    if (has_ambiguous_framing(req)) {
        req->http1_is_persistent = 0;
        gw_linger_arm(req);
        gw_respond_errorf(r, 400, NULL, "%s", GW_FRAMED_TWICE_DETAIL);
        return 0;
    }
    if (has_encoded_separator(req->input.path)) {
        gw_respond_errorf(r, 400, NULL, "the path holds an encoded NUL or slash (%%00, %%2F), which no resource name has");
        return 0;
    }

    /* Like Odeus, the gateway serves no browsers: no CORS, and no request that carries an Origin. */
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1) != -1) {
        gw_respond_errorf(r, 403, NULL, "requests from browsers (with an Origin header) are refused");
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/healthz"))) {
        r->route = "/healthz";
        gw_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
        return 0;
    }
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/readyz"))) {
        const char *why;
        r->route = "/readyz";
        if (ready(w, &why)) {
            json_t *body = json_pack("{s:s, s:b}", "status", "ready", "dry_run", cfg->dry_run);
            /* users and roles go on without the group API: a detail, not a reason to be unready */
            if (cfg->odeus_groups == GW_ODEUS_GROUPS_MIRROR)
                json_object_set_new(body, "odeus_groups",
                                    json_string(gw_mirror_unsupported() ? "unsupported: this Odeus workspace has no group API; "
                                                                          "group mirroring stopped"
                                                                        : "mirror"));
            gw_respond_json(r, 200, body);
        } else
            gw_respond_json(r, 503, json_pack("{s:s, s:s}", "status", "not ready", "reason", why));
        return 0;
    }

    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        respond_metrics(r);
        return 0;
    }

    size_t blen = strlen(cfg->base_path);
    if (path.len < blen || memcmp(path.base, cfg->base_path, blen) != 0 || (path.len > blen && path.base[blen] != '/')) {
        respond_unknown_path(r);
        return 0;
    }
    if (!admit(r, persistent))
        return 0;
    set_base_url(r);
    route_scim(r, h2o_iovec_init(path.base + blen, path.len - blen));
    return 0;
}
