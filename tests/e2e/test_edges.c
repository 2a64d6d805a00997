/*
 * The HTTP edge, against the real binary with a raw socket client (so that the test controls the
 * pacing): a client that keeps uploading a body over --max-body-bytes still reads the SCIM 413;
 * request heads over GW_MAX_HEADER_BYTES (16 KiB) get a SCIM 431; SIGHUP re-reads the token file
 * (a new token works at once, a removed one is refused, a broken file keeps the previous set, and
 * rate-limit buckets follow the token names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e2e/harness.h"

#define IO_TIMEOUT_MS  10000
#define MAX_RESPONSE   (256 * 1024)
#define BODY_BYTES     (10 * 1024 * 1024) /* what the streaming clients announce and send */
#define BODY_CHUNK     (64 * 1024)
#define HEADER_CAP     (16 * 1024) /* GW_MAX_HEADER_BYTES */
#define TOKEN_A        "alpha-secret-0123456789abcdef"
#define TOKEN_B        "beta-secret-0123456789abcdef"
#define TOKEN_C        "gamma-secret-0123456789abcdef"
#define SCIM_ERROR_URN "urn:ietf:params:scim:api:messages:2.0:Error"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a raw HTTP/1.1 client --------------------------------------------------------------------- */

typedef struct raw_resp {
    char buf[MAX_RESPONSE + 1];
    size_t len;
    int status;
    char content_type[128];
    int connection_close;
    const char *body; /* into buf, once complete */
    size_t body_len;
    int complete;
    int eof;        /* the gateway closed its side cleanly (read returned 0) */
    int read_errno; /* a read failed (e.g. ECONNRESET), 0 if none */
} raw_resp_t;

static int connect_gateway(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Parses what arrived so far; sets complete once the head and Content-Length body bytes are in. */
static void parse_response(raw_resp_t *r)
{
    r->buf[r->len] = '\0';
    const char *end = strstr(r->buf, "\r\n\r\n");
    if (end == NULL || r->complete)
        return;
    assert_int_equal(sscanf(r->buf, "HTTP/1.1 %d", &r->status), 1);
    long content_length = -1;
    for (const char *line = strstr(r->buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
        const char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "content-length:", 15) == 0)
            content_length = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "content-type:", 13) == 0)
            snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)(eol - line - 14), line + 14);
        else if (strncasecmp(line, "connection: close", 17) == 0)
            r->connection_close = 1;
    }
    assert_true(content_length >= 0); /* every gateway answer carries Content-Length */
    size_t head = (size_t)(end + 4 - r->buf);
    if (r->len >= head + (size_t)content_length) {
        r->body = r->buf + head;
        r->body_len = (size_t)content_length;
        r->complete = 1;
    }
}

/* Reads what is there without blocking. Returns 0 while the connection is open, else -1 (EOF or error noted). */
static int read_available(int fd, raw_resp_t *r)
{
    for (;;) {
        if (r->len == MAX_RESPONSE)
            fail_msg("response larger than %d bytes", MAX_RESPONSE);
        ssize_t n = recv(fd, r->buf + r->len, MAX_RESPONSE - r->len, MSG_DONTWAIT);
        if (n > 0) {
            r->len += (size_t)n;
            parse_response(r);
            continue;
        }
        if (n == 0) {
            r->eof = 1;
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        r->read_errno = errno;
        return -1;
    }
}

/* Reads until the answer is complete and the gateway has closed (or the connection failed). */
static void read_to_end(int fd, raw_resp_t *r)
{
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    while (!r->eof && r->read_errno == 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("no end of the answer within %d ms (got %zu bytes)", IO_TIMEOUT_MS, r->len);
        poll(&p, 1, (int)left);
        read_available(fd, r);
    }
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("send failed: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* One request with `head` (which ends in an empty line and asks for Connection: close); the answer in `r`. */
static void raw_request(int port, const char *head, raw_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_gateway(port);
    send_all(fd, head, strlen(head));
    read_to_end(fd, r);
    close(fd);
    if (!r->complete)
        fail_msg("incomplete answer (%zu bytes, read error %s): %s", r->len, strerror(r->read_errno), r->buf);
}

static int get_status(int port, const char *path, const char *token)
{
    char head[1024];
    snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sConnection: close\r\n\r\n", path,
             token != NULL ? "Authorization: Bearer " : "", token != NULL ? token : "", token != NULL ? "\r\n" : "");
    raw_resp_t *r = malloc(sizeof(*r));
    raw_request(port, head, r);
    int status = r->status;
    free(r);
    return status;
}

/* A gateway in dry-run on a fresh directory and an answer buffer: the fixture of one test. */
typedef struct edge_fx {
    char dir[64];
    gw_proc_t gw;
    raw_resp_t *r;
} edge_fx_t;

static void edge_start(edge_fx_t *fx)
{
    harness_tmpdir(fx->dir, sizeof(fx->dir));
    gw_start_ex(&fx->gw, fx->dir, NULL, NULL, 1500, NULL);
    fx->r = malloc(sizeof(*fx->r));
    assert_non_null(fx->r);
}

/* The gateway still serves after what the test sent; then it stops cleanly and its directory goes. */
static void edge_stop(edge_fx_t *fx)
{
    free(fx->r);
    assert_int_equal(get_status(fx->gw.port, "/healthz", NULL), 200);
    assert_int_equal(get_status(fx->gw.port, "/scim/v2/Users", TEST_SCIM_TOKEN), 200);
    assert_int_equal(gw_stop(&fx->gw), 0);
    free(fx->gw.log);
    harness_rmdir(fx->dir);
}

/* A SCIM error answer (RFC 7644 §3.12) with `status` and no scimType. */
static void assert_scim_error_body(const raw_resp_t *r, int status)
{
    assert_true(r->complete);
    assert_int_equal(r->status, status);
    assert_string_equal(r->content_type, "application/scim+json");
    json_error_t jerr;
    json_t *body = json_loadb(r->body, r->body_len, 0, &jerr);
    if (body == NULL)
        fail_msg("answer body is not JSON: %s", r->body);
    assert_string_equal(json_string_value(json_array_get(json_object_get(body, "schemas"), 0)), SCIM_ERROR_URN);
    char text[8];
    snprintf(text, sizeof(text), "%d", status);
    assert_string_equal(json_string_value(json_object_get(body, "status")), text);
    assert_null(json_object_get(body, "scimType"));
    assert_non_null(json_string_value(json_object_get(body, "detail")));
    json_decref(body);
}

/* ---- 413 to a client that keeps sending -------------------------------------------------------- */

/*
 * Announces a BODY_BYTES body (by Content-Length, or chunked) and sends all of it in BODY_CHUNK
 * pieces, reading whatever arrives meanwhile, the way a client that does not watch for an early
 * answer uploads. Every send and every read must succeed: a reset before the client is done is
 * the bug. Then the answer must be complete and the gateway's side closed cleanly.
 */
static void stream_oversized_body(int port, int chunked, raw_resp_t *r)
{
    char head[512];
    snprintf(head, sizeof(head),
             "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/scim+json\r\n%s\r\n",
             TEST_SCIM_TOKEN, chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: 10485760\r\n");
    static char chunk[BODY_CHUNK + 16];
    size_t chunk_len = 0;
    if (chunked)
        chunk_len = (size_t)snprintf(chunk, sizeof(chunk), "%x\r\n", BODY_CHUNK);
    memset(chunk + chunk_len, 'x', BODY_CHUNK);
    chunk_len += BODY_CHUNK;
    if (chunked) {
        memcpy(chunk + chunk_len, "\r\n", 2);
        chunk_len += 2;
    }

    memset(r, 0, sizeof(*r));
    int fd = connect_gateway(port);
    send_all(fd, head, strlen(head));
    size_t body_sent = 0, off = 0; /* body bytes sent in whole chunks; offset into the current chunk */
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    while (body_sent < BODY_BYTES || (chunked && off < 5)) {
        int last = body_sent == BODY_BYTES; /* only the chunked terminator is left */
        const char *piece = last ? "0\r\n\r\n" : chunk;
        size_t piece_len = last ? 5 : chunk_len;
        struct pollfd p = {.fd = fd, .events = r->eof ? POLLOUT : POLLIN | POLLOUT};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("the gateway stopped taking the body after %zu bytes", body_sent);
        poll(&p, 1, (int)left);
        if ((p.revents & POLLIN) != 0 && !r->eof && read_available(fd, r) != 0 && r->read_errno != 0)
            fail_msg("read failed after %zu body bytes sent: %s (answer so far: %zu bytes)", body_sent, strerror(r->read_errno),
                     r->len);
        if ((p.revents & (POLLOUT | POLLERR | POLLHUP)) == 0)
            continue;
        ssize_t n = send(fd, piece + off, piece_len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0)
            fail_msg("send failed after %zu body bytes: %s (answer so far: %zu bytes, complete %d)", body_sent, strerror(errno),
                     r->len, r->complete);
        off += (size_t)n;
        if (!last && off == piece_len) {
            body_sent += BODY_CHUNK;
            off = 0;
        }
    }
    read_to_end(fd, r);
    close(fd);
    if (r->read_errno != 0)
        fail_msg("read failed after the whole body was sent: %s (answer so far: %zu bytes)", strerror(r->read_errno), r->len);
}

static void check_413_while_sending(int chunked)
{
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;
    for (int i = 0; i < 2; i++) { /* twice: the first lingering connection must not disturb the next */
        stream_oversized_body(fx.gw.port, chunked, r);
        assert_scim_error_body(r, 413);
        assert_true(r->connection_close);
        assert_true(r->eof);
    }
    edge_stop(&fx);
}

static void test_413_to_a_client_that_keeps_sending(void **state)
{
    (void)state;
    check_413_while_sending(0); /* Content-Length: 10 MiB, streamed */
}

static void test_413_to_a_chunked_client_that_keeps_sending(void **state)
{
    (void)state;
    check_413_while_sending(1); /* Transfer-Encoding: chunked, 10 MiB of chunks */
}

/* ---- request heads over 16 KiB: 431 ------------------------------------------------------------ */

/* An authorised GET /scim/v2/Users whose head carries `pad_headers` X-Pad-N fields, `pad_bytes` in all. */
static void padded_request(int port, size_t pad_headers, size_t pad_bytes, raw_resp_t *r)
{
    size_t cap = pad_bytes + pad_headers * 32 + 512;
    char *head = malloc(cap);
    size_t len = (size_t)snprintf(head, cap, "GET /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n",
                                  TEST_SCIM_TOKEN);
    for (size_t i = 0; i < pad_headers; i++) {
        size_t value = pad_bytes / pad_headers;
        len += (size_t)snprintf(head + len, cap - len, "X-Pad-%zu: ", i);
        memset(head + len, 'a', value);
        len += value;
        memcpy(head + len, "\r\n", 2);
        len += 2;
    }
    snprintf(head + len, cap - len, "Connection: close\r\n\r\n");
    raw_request(port, head, r);
    free(head);
}

static void test_431_for_large_headers(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;

    padded_request(fx.gw.port, 1, 15 * 1024, r); /* one 15 KiB field: served */
    assert_int_equal(r->status, 200);
    padded_request(fx.gw.port, 15, 15 * 1024, r); /* fifteen fields of 1 KiB: served */
    assert_int_equal(r->status, 200);

    padded_request(fx.gw.port, 1, 17 * 1024, r); /* one 17 KiB field */
    assert_scim_error_body(r, 431);
    assert_true(r->connection_close);
    padded_request(fx.gw.port, 17, 17 * 1024, r); /* the sum counts: seventeen fields of 1 KiB */
    assert_scim_error_body(r, 431);
    padded_request(fx.gw.port, 1, HEADER_CAP, r); /* just over: the name, Host and Authorization count too */
    assert_scim_error_body(r, 431);
    /* Outside the SCIM base path too, and before authentication. */
    char *head = malloc(32 * 1024);
    int n = snprintf(head, 32 * 1024, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ");
    memset(head + n, 'c', 17 * 1024);
    snprintf(head + n + 17 * 1024, 64, "\r\nConnection: close\r\n\r\n");
    raw_request(fx.gw.port, head, r);
    assert_scim_error_body(r, 431);
    free(head);
    edge_stop(&fx);
}

/* ---- the Host header ---------------------------------------------------------------------------------- */

/* The Host header is copied into every meta.location: one longer than a DNS name and a port is 400. */
static void test_long_host_is_refused(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;
    char host[400], head[1024];
    memset(host, 'h', sizeof(host));
    snprintf(host + 250, 8, ":8080");
    snprintf(head, sizeof(head), "GET /scim/v2/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
             host, TEST_SCIM_TOKEN);
    raw_request(fx.gw.port, head, r);
    assert_int_equal(r->status, 200); /* 255 bytes: a DNS name and a port */
    memset(host, 'h', sizeof(host));
    host[300] = '\0';
    snprintf(head, sizeof(head), "GET /scim/v2/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
             host, TEST_SCIM_TOKEN);
    raw_request(fx.gw.port, head, r);
    assert_scim_error_body(r, 400);
    edge_stop(&fx);
}

/* ---- a body framed twice ---------------------------------------------------------------------------- */

/*
 * Request smuggling primitives (RFC 9112 §6.3): Content-Length with Transfer-Encoding, or two
 * different Content-Length values, get a SCIM 400 and the connection is closed (the requests ask to
 * keep it open). Two equal Content-Length values frame the body one way and are served.
 */
static void test_ambiguous_framing_is_refused(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;

    static const char *const twice_framed[] = {
        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    };
    for (size_t i = 0; i < sizeof(twice_framed) / sizeof(twice_framed[0]); i++) {
        raw_request(fx.gw.port, twice_framed[i], r);
        assert_scim_error_body(r, 400);
        assert_true(r->connection_close);
    }
    /* (A body is read only from a client with a token.) */
    raw_request(fx.gw.port,
                "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " TEST_SCIM_TOKEN
                "\r\nContent-Length: 2\r\nContent-Length:  2\r\nConnection: close\r\n\r\nab",
                r);
    assert_int_equal(r->status, 200);

    edge_stop(&fx);
}

/* ---- a method that is not valid UTF-8 -------------------------------------------------------------- */

/* The request line is the client's: a method with bytes that are not UTF-8 is still logged, escaped,
 * with every other field of the line. */
static void test_invalid_method_is_logged_escaped(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;
    raw_request(fx.gw.port, "G\xff\xfeT /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", r);
    assert_true(r->status > 0);
    WAIT_FOR(gw_log_has(&fx.gw, "\"method\":\"G\\\\xff\\\\xfeT\",\"route\":\"/healthz\""), 5000);
    edge_stop(&fx);
}

/* ---- bodies without a token are refused before they are read ------------------------------------- */

/* 1 when the answer's head has the field line `line` (compared without regard to case). */
static int answer_has(const raw_resp_t *r, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = r->buf; *p != '\0'; p++)
        if (strncasecmp(p, line, n) == 0)
            return 1;
    return 0;
}

/* Reads until one whole answer is in (the connection may stay open). */
static void read_answer(int fd, raw_resp_t *r)
{
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    while (!r->complete) {
        if (r->eof || r->read_errno != 0)
            fail_msg("connection ended before the answer was complete (%zu bytes): %s", r->len, r->buf);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            fail_msg("no complete answer within %d ms (got %zu bytes)", IO_TIMEOUT_MS, r->len);
        poll(&p, 1, (int)left);
        read_available(fd, r);
    }
}

/*
 * Only the head of a 1 MB upload is sent: the gateway must answer 401 (the router's SCIM error and
 * challenge) and close without waiting for the body. h2o alone would wait for the body first.
 */
static void test_body_without_token_is_refused_unread(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;
    static const struct {
        const char *head;
        const char *detail;
    } cases[] = {
        {"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n", "authentication required"},
        {"PUT /scim/v2/Users/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong-token-0123456789abcdef\r\n"
         "Content-Length: 1000000\r\n\r\n",
         "the token is not valid"},
        {"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n", "authentication required"},
        /* Not only under the base path: nothing else takes a body. */
        {"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n", "authentication required"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_request(fx.gw.port, cases[i].head, r);
        assert_scim_error_body(r, 401);
        assert_non_null(strstr(r->body, cases[i].detail));
        assert_true(answer_has(r, "www-authenticate: Bearer realm=\"odeus-scim-gateway\"\r\n"));
        assert_true(r->connection_close);
        assert_true(r->eof);
    }
    /* Twice framed is still 400, before the token, as the router says it. */
    raw_request(fx.gw.port, "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\nContent-Length: 8\r\n\r\n", r);
    assert_scim_error_body(r, 400);
    assert_non_null(strstr(r->body, "framed twice"));

    /* A head that has not ended after GW_PREAUTH_MAX_HEAD_BYTES (20 KiB) is 431 at once. */
    size_t cap = 24 * 1024;
    char *head = malloc(cap + 1);
    int n = snprintf(head, cap + 1, "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ");
    memset(head + n, 'p', cap - (size_t)n);
    head[cap] = '\0';
    raw_request(fx.gw.port, head, r);
    free(head);
    assert_scim_error_body(r, 431);

    /* With the token the same upload is read and served. */
    static const char user[] = "{\"userName\":\"preauth@example.com\"}";
    char req[512];
    snprintf(req, sizeof(req),
             "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nContent-Type: "
             "application/scim+json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             TEST_SCIM_TOKEN, sizeof(user) - 1, user);
    raw_request(fx.gw.port, req, r);
    assert_int_equal(r->status, 201);
    WAIT_FOR(gw_log_has(&fx.gw, "\"route\":\"-\",\"status\":401"), 5000);
    edge_stop(&fx);
}

/* Keep-alive and pipelining for token holders; one answer per connection for everyone else. */
static void test_only_token_holders_keep_the_connection(void **state)
{
    (void)state;
    edge_fx_t fx;
    edge_start(&fx);
    raw_resp_t *r = fx.r;
    char req[512];
    snprintf(req, sizeof(req), "GET /scim/v2/Users?count=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
             TEST_SCIM_TOKEN);

    /* Two pipelined requests with the token, then one more on the same connection. */
    int fd = connect_gateway(fx.gw.port);
    char two[1024];
    snprintf(two, sizeof(two), "%s%s", req, req);
    send_all(fd, two, strlen(two));
    for (int i = 0; i < 3; i++) {
        memset(r, 0, sizeof(*r));
        if (i == 2)
            send_all(fd, req, strlen(req));
        read_answer(fd, r);
        assert_int_equal(r->status, 200);
        assert_false(r->connection_close);
        /* the second pipelined answer may have come with the first: parse what is left */
        if (r->len > (size_t)(r->body - r->buf) + r->body_len) {
            size_t used = (size_t)(r->body - r->buf) + r->body_len, rest = r->len - used;
            memmove(r->buf, r->buf + used, rest);
            memset(r->buf + rest, 0, r->len - rest);
            r->len = rest;
            r->complete = 0;
            parse_response(r);
            assert_true(r->complete);
            assert_int_equal(r->status, 200);
            i++;
        }
    }
    close(fd);

    /* Without a token: the first answer closes the connection; the pipelined second gets none. */
    memset(r, 0, sizeof(*r));
    fd = connect_gateway(fx.gw.port);
    static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    send_all(fd, hz, sizeof(hz) - 1);
    send_all(fd, hz, sizeof(hz) - 1);
    read_to_end(fd, r);
    close(fd);
    assert_true(r->complete);
    assert_int_equal(r->status, 200);
    assert_true(r->connection_close);
    assert_int_equal(r->len, (size_t)(r->body - r->buf) + r->body_len); /* one answer only */
    edge_stop(&fx);
}

/* ---- --max-connections ------------------------------------------------------------------------------- */

/* A connection that showed the token and stays open (keep-alive): certainly accepted and counted. */
static int held_connection(int port, raw_resp_t *r)
{
    int fd = connect_gateway(port);
    char req[256];
    snprintf(req, sizeof(req), "GET /scim/v2/Users?count=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
             TEST_SCIM_TOKEN);
    send_all(fd, req, strlen(req));
    memset(r, 0, sizeof(*r));
    read_answer(fd, r);
    assert_int_equal(r->status, 200);
    return fd;
}

/* 1 when a new connection's /healthz is answered 200; 0 when the gateway ends it unanswered. */
static int healthz_served(int port, raw_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_gateway(port);
    static const char head[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(head) - 1)
        read_to_end(fd, r);
    assert_int_equal(close(fd), 0);
    return r->complete && r->status == 200;
}

/* The value of the metric line `name ` in a /metrics answer, or -1. */
static long metric(const raw_resp_t *r, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *p = r->body != NULL ? strstr(r->body, needle) : NULL;
    return p != NULL ? strtol(p + strlen(needle), NULL, 10) : -1;
}

/*
 * With --max-connections 3 and three connections held open (each answered, so each surely accepted,
 * whichever worker thread took it), a fourth is closed unanswered and counted; once one closes, new
 * connections are served again.
 */
static void test_connection_cap(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    gw_proc_t gw;
    const char *const extra[] = {"--max-connections", "3", NULL};
    gw_start_ex(&gw, dir, NULL, NULL, 1500, extra);
    raw_resp_t *r = malloc(sizeof(*r));
    int held[3];
    for (int i = 0; i < 3; i++)
        held[i] = held_connection(gw.port, r);

    assert_false(healthz_served(gw.port, r));
    assert_false(r->complete);
    assert_true(r->len == 0);

    /* On a held connection: the refusal is counted, and all three are open. */
    char req[256];
    snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n", TEST_SCIM_TOKEN);
    send_all(held[2], req, strlen(req));
    memset(r, 0, sizeof(*r));
    read_answer(held[2], r);
    assert_int_equal(r->status, 200);
    assert_int_equal(metric(r, "gateway_connections_refused_total"), 1);
    assert_int_equal(metric(r, "gateway_connections_open"), 3);
    assert_int_equal(metric(r, "gateway_connections_max"), 3);

    /* One closes (and /metrics, outside the base path, closed the other): there is room again. */
    assert_int_equal(close(held[0]), 0);
    assert_int_equal(close(held[2]), 0);
    WAIT_FOR(gw_drain(&gw) && healthz_served(gw.port, r), 5000);
    assert_int_equal(close(held[1]), 0);
    WAIT_FOR(gw_drain(&gw) && healthz_served(gw.port, r), 5000);
    free(r);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/*
 * At the cap, a connection that is only draining after a refusal (the client sent a body without a
 * token and keeps its socket open) gives its place to a new connection. One worker thread: places
 * are taken back on the thread that accepts.
 */
static void test_cap_takes_back_draining_connections(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    gw_proc_t gw;
    const char *const extra[] = {"--max-connections", "2", "--threads", "1", NULL};
    gw_start_ex(&gw, dir, NULL, NULL, 1500, extra);
    raw_resp_t *r = malloc(sizeof(*r));

    memset(r, 0, sizeof(*r));
    int draining = connect_gateway(gw.port);
    static const char upload[] = "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\n";
    send_all(draining, upload, sizeof(upload) - 1);
    read_to_end(draining, r); /* the 401, then the gateway's FIN: it drains what else comes */
    assert_int_equal(r->status, 401);
    int held = held_connection(gw.port, r);

    assert_true(healthz_served(gw.port, r));
    close(draining);
    close(held);
    free(r);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* ---- SIGHUP re-reads the token file ------------------------------------------------------------- */

/* Replaces `path` atomically (write a temporary file, rename it over) with `text`. */
static void replace_file(const char *path, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

/* Waits (polling, with a deadline) until `token` gets `status` on GET /scim/v2/Users. */
static void wait_for_status(gw_proc_t *gw, const char *token, int status)
{
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    int got;
    while ((got = get_status(gw->port, "/scim/v2/Users", token)) != status) {
        gw_read_log(gw); /* the gateway logs each request to a pipe: keep it from filling up */
        if (now_ms() > deadline)
            fail_msg("token still gets %d, not %d, %d ms after SIGHUP", got, status, IO_TIMEOUT_MS);
        poll(NULL, 0, 20);
    }
}

static size_t count_in_log(gw_proc_t *gw, const char *needle)
{
    gw_read_log(gw);
    size_t n = 0;
    for (const char *p = gw->log; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Waits until the log holds `n` occurrences of `needle`. */
static void wait_for_log(gw_proc_t *gw, const char *needle, size_t n)
{
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    while (count_in_log(gw, needle) < n) {
        if (now_ms() > deadline)
            fail_msg("no %zu× %s in the log within %d ms:\n%s", n, needle, IO_TIMEOUT_MS, gw->log);
        poll(NULL, 0, 20);
    }
}

static void test_sighup_reloads_tokens(void **state)
{
    (void)state;
    char dir[64], file[128];
    harness_tmpdir(dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/tokens", dir);
    replace_file(file, "alpha:plain:" TOKEN_A "\n");
    gw_proc_t gw;
    gw_start_ex(&gw, dir, NULL, file, 1500, NULL);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_B), 401);

    /* A new file: B works as soon as the reload is done, A no longer. */
    replace_file(file, "# rotated\nbeta:plain:" TOKEN_B "\n");
    kill(gw.pid, SIGHUP);
    wait_for_status(&gw, TOKEN_B, 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 401);
    wait_for_log(&gw, "\"event\":\"tokens_reloaded\"", 1);

    /* The metrics name the live tokens only. */
    raw_resp_t *r = malloc(sizeof(*r));
    raw_request(gw.port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", r);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "gateway_rate_limited_total{token=\"beta\"}"));
    assert_null(strstr(r->body, "token=\"alpha\""));
    free(r);

    /* A broken file, an empty one, a missing one: each is refused and B keeps working. */
    static const char *const broken[] = {"beta:plain:too-short\n", "# no token left\n", NULL};
    size_t failures = 0;
    for (size_t i = 0; i < 3; i++) {
        if (broken[i] != NULL)
            replace_file(file, broken[i]);
        else
            assert_int_equal(unlink(file), 0);
        kill(gw.pid, SIGHUP);
        wait_for_log(&gw, "\"event\":\"token_reload_failed\"", ++failures);
        assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_B), 200);
        assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 401);
    }

    /* SIGHUP without TLS still reloads (no "ignored"); secrets never reach the log. */
    gw_read_log(&gw);
    assert_null(strstr(gw.log, "sighup_ignored"));
    assert_null(strstr(gw.log, TOKEN_A));
    assert_null(strstr(gw.log, TOKEN_B));
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* Rate-limit buckets follow token names across reloads: kept names keep theirs, new names start full. */
static void test_sighup_keeps_rate_limits_sane(void **state)
{
    (void)state;
    char dir[64], file[128];
    harness_tmpdir(dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/tokens", dir);
    replace_file(file, "alpha:plain:" TOKEN_A "\n");
    gw_proc_t gw;
    const char *limits[] = {"--rate-limit", "1", "--rate-limit-burst", "2", NULL}; /* 2 at once, then 1 a minute */
    gw_start_ex(&gw, dir, NULL, file, 1500, limits);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 429);

    /* alpha stays (same name): still limited; beta is new: a full bucket of its own. */
    replace_file(file, "beta:plain:" TOKEN_B "\nalpha:plain:" TOKEN_A "\n");
    kill(gw.pid, SIGHUP);
    wait_for_status(&gw, TOKEN_B, 200); /* 401s until the reload; they take nothing from a bucket */
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 429);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_B), 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_B), 429);

    /* Both go; gamma takes a slot an exhausted token had, and must find it full. */
    replace_file(file, "gamma:plain:" TOKEN_C "\n");
    kill(gw.pid, SIGHUP);
    wait_for_status(&gw, TOKEN_C, 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_C), 200);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_C), 429);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_A), 401);
    assert_int_equal(get_status(gw.port, "/scim/v2/Users", TOKEN_B), 401);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* e.g. "*sighup*" */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_413_to_a_client_that_keeps_sending),
        cmocka_unit_test(test_413_to_a_chunked_client_that_keeps_sending),
        cmocka_unit_test(test_431_for_large_headers),
        cmocka_unit_test(test_invalid_method_is_logged_escaped),
        cmocka_unit_test(test_ambiguous_framing_is_refused),
        cmocka_unit_test(test_long_host_is_refused),
        cmocka_unit_test(test_body_without_token_is_refused_unread),
        cmocka_unit_test(test_only_token_holders_keep_the_connection),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_cap_takes_back_draining_connections),
        cmocka_unit_test(test_sighup_reloads_tokens),
        cmocka_unit_test(test_sighup_keeps_rate_limits_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
