/*
 * upstream/client.c against the mock Odeus (tests/mock) over real sockets on 127.0.0.1,
 * plus a one-shot canned server for answers the mock does not give (oversized bodies, odd
 * header spellings).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "mock/mock_odeus.h"
#include "upstream/client.h"

#define KEY "test-key-123"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

typedef struct box {
    int calls;
    odeus_result_t r;
} box_t;

static void on_done(void *user, const odeus_result_t *r)
{
    box_t *b = user;
    b->calls++;
    b->r = *r;
}

/* Polls until *counter reaches want; fails the test after timeout_ms. */
static void run_until(upstream_client_t *c, const int *counter, int want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (*counter < want) {
        assert_int_equal(upstream_client_poll(c, 50), 0);
        if (now_ms() > deadline)
            fail_msg("only %d of %d calls completed within %d ms", *counter, want, timeout_ms);
    }
}

typedef struct fx {
    mock_odeus_t *mock;
    upstream_client_t *client;
} fx_t;

static upstream_config_t config_for(const char *url)
{
    upstream_config_t cfg = {
        .base_url = url,
        .api_key = KEY,
        .timeout_ms = 5000,
        .connect_timeout_ms = 2000,
        .max_connections = 4,
    };
    return cfg;
}

static upstream_client_t *client_for(const char *url)
{
    char err[256] = "";
    upstream_config_t cfg = config_for(url);
    upstream_client_t *c = upstream_client_create(&cfg, err, sizeof(err));
    if (c == NULL)
        fail_msg("upstream_client_create: %s", err);
    return c;
}

static int group_setup(void **state)
{
    (void)state;
    /* a proxy from the environment would swallow requests meant for 127.0.0.1 */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    curl_global_cleanup();
    return 0;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->mock = mock_odeus_start();
    if (fx->mock == NULL)
        return -1;
    fx->client = client_for(mock_odeus_url(fx->mock));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    upstream_client_destroy(fx->client);
    mock_odeus_stop(fx->mock);
    free(fx);
    return 0;
}

static json_t *recorded_body(mock_odeus_t *mock, size_t i, mock_request_t *req)
{
    json_t *j;
    assert_int_equal(mock_odeus_get(mock, i, req), 0);
    j = json_loads(req->body, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j))
        fail_msg("recorded body is not a JSON object: %s", req->body);
    return j;
}

static void assert_common_headers(const mock_request_t *req)
{
    assert_string_equal(req->method, "POST");
    assert_string_equal(req->authorization, "Bearer " KEY);
    assert_string_equal(req->content_type, "application/json");
    assert_int_equal(req->has_origin, 0);
}

static void test_invite(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};
    mock_request_t req;
    json_t *j, *user;

    assert_int_equal(upstream_client_submit(fx->client, ODEUS_INVITE, "Alice@Example.com", "Editor", on_done, &b), 0);
    assert_int_equal(upstream_client_inflight(fx->client), 1);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.calls, 1);
    assert_int_equal(upstream_client_inflight(fx->client), 0);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(b.r.http_status, 200);
    assert_int_equal(b.r.retry_after_ms, -1);

    assert_int_equal(mock_odeus_count(fx->mock, NULL), 1);
    j = recorded_body(fx->mock, 0, &req);
    assert_common_headers(&req);
    assert_string_equal(req.path, "/user-management/v1/invite");
    assert_int_equal(json_object_size(j), 1);
    assert_int_equal(json_array_size(json_object_get(j, "users")), 1);
    user = json_array_get(json_object_get(j, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(user, "email")), "Alice@Example.com");
    assert_string_equal(json_string_value(json_object_get(user, "role")), "editor");
    json_decref(j);
}

static void test_deactivate(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};
    mock_request_t req;
    json_t *j;

    assert_int_equal(upstream_client_submit(fx->client, ODEUS_DEACTIVATE, "bob@example.com", NULL, on_done, &b), 0);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(b.r.http_status, 200);
    j = recorded_body(fx->mock, 0, &req);
    assert_common_headers(&req);
    assert_string_equal(req.path, "/user-management/v1/deactivate-user");
    assert_int_equal(json_object_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(j, "email")), "bob@example.com");
    json_decref(j);
}

static void test_update_role(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};
    mock_request_t req;
    json_t *j;

    assert_int_equal(upstream_client_submit(fx->client, ODEUS_UPDATE_ROLE, "carol@example.com", "admin", on_done, &b), 0);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_DONE);
    j = recorded_body(fx->mock, 0, &req);
    assert_common_headers(&req);
    assert_string_equal(req.path, "/user-management/v1/update-user-role");
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "email")), "carol@example.com");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "admin");
    json_decref(j);
}

/* A dedicated deployment's base URL carries a path; a trailing slash must not double up. */
static void test_base_url_prefix(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};
    mock_request_t req;
    char url[256];
    upstream_client_t *c;

    snprintf(url, sizeof(url), "%s/api/public//", mock_odeus_url(fx->mock));
    c = client_for(url);
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(mock_odeus_get(fx->mock, 0, &req), 0);
    assert_string_equal(req.path, "/api/public/user-management/v1/deactivate-user");
    upstream_client_destroy(c);
}

/* Every fault the mock can answer with, for every action: the outcome the gateway acts on. */
static void test_fault_table(void **state)
{
    fx_t *fx = *state;
    static const struct {
        mock_fault_t fault;
        long status;
        int64_t retry_after_ms;
        odeus_outcome_t outcome[3]; /* invite, deactivate, update-role */
    } rows[] = {
        {MOCK_OK, 200, -1, {ODEUS_OUTCOME_DONE, ODEUS_OUTCOME_DONE, ODEUS_OUTCOME_DONE}},
        {MOCK_404, 404, -1, {ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_ALREADY, ODEUS_OUTCOME_NOT_MEMBER}},
        {MOCK_400, 400, -1, {ODEUS_OUTCOME_REFUSED, ODEUS_OUTCOME_REFUSED, ODEUS_OUTCOME_REFUSED}},
        {MOCK_INVALID_EMAIL, 200, -1, {ODEUS_OUTCOME_REFUSED, ODEUS_OUTCOME_DONE, ODEUS_OUTCOME_DONE}},
        {MOCK_401, 401, -1, {ODEUS_OUTCOME_AUTH, ODEUS_OUTCOME_AUTH, ODEUS_OUTCOME_AUTH}},
        {MOCK_500, 500, -1, {ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY}},
        {MOCK_503, 503, 1000, {ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY}},
        {MOCK_429, 429, 1000, {ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY, ODEUS_OUTCOME_RETRY}},
    };
    const odeus_action_t actions[] = {ODEUS_INVITE, ODEUS_DEACTIVATE, ODEUS_UPDATE_ROLE};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (size_t a = 0; a < 3; a++) {
            box_t b = {0};
            mock_odeus_push_fault(fx->mock, rows[i].fault);
            assert_int_equal(upstream_client_submit(fx->client, actions[a], "dora@example.com", "member", on_done, &b), 0);
            run_until(fx->client, &b.calls, 1, 5000);
            if (b.r.outcome != rows[i].outcome[a] || b.r.http_status != rows[i].status ||
                b.r.retry_after_ms != rows[i].retry_after_ms)
                fail_msg("fault row %zu, %s: got %s/%ld/%lld (%s)", i, odeus_action_name(actions[a]),
                         odeus_outcome_name(b.r.outcome), b.r.http_status, (long long)b.r.retry_after_ms, b.r.message);
            assert_null(strstr(b.r.message, KEY));
            assert_null(strstr(b.r.message, "http://"));
        }
    }
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 3 * sizeof(rows) / sizeof(rows[0]));
}

/*
 * A connection closed without an answer. On a reused connection curl itself tries once more on a
 * fresh one (the server may just have timed the idle connection out), so every request drops here.
 */
static void test_drop(void **state)
{
    fx_t *fx = *state;
    const odeus_action_t actions[] = {ODEUS_INVITE, ODEUS_DEACTIVATE, ODEUS_UPDATE_ROLE};

    mock_odeus_set_default(fx->mock, MOCK_DROP);
    for (size_t a = 0; a < 3; a++) {
        box_t b = {0};
        assert_int_equal(upstream_client_submit(fx->client, actions[a], "dora@example.com", "member", on_done, &b), 0);
        run_until(fx->client, &b.calls, 1, 5000);
        assert_int_equal(b.r.outcome, ODEUS_OUTCOME_RETRY);
        assert_int_equal(b.r.http_status, 0);
        assert_int_equal(b.r.retry_after_ms, -1);
        assert_non_null(strstr(b.r.message, "network: "));
        assert_null(strstr(b.r.message, KEY));
    }
    assert_true(mock_odeus_count(fx->mock, NULL) >= 3);
}

/* A single dropped request on a fresh connection is not retried by curl: that is ours to do. */
static void test_drop_once(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};

    mock_odeus_push_fault(fx->mock, MOCK_DROP);
    assert_int_equal(upstream_client_submit(fx->client, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b), 0);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(b.r.http_status, 0);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 1);
}

static void test_hang_times_out(void **state)
{
    fx_t *fx = *state;
    upstream_config_t cfg = config_for(mock_odeus_url(fx->mock));
    upstream_client_t *c;
    box_t b = {0};
    int64_t t0, elapsed;

    cfg.timeout_ms = 300;
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    mock_odeus_push_fault(fx->mock, MOCK_HANG);
    t0 = now_ms();
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    elapsed = now_ms() - t0;
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(b.r.http_status, 0);
    assert_non_null(strstr(b.r.message, "network: "));
    assert_null(strstr(b.r.message, "/user-management"));
    assert_in_range(elapsed, 250, 3000);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 1);

    /* the mock is still serving others, on a fresh connection */
    b.calls = 0;
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_DONE);
    upstream_client_destroy(c);
}

static void test_connection_refused(void **state)
{
    (void)state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char url[64];
    upstream_client_t *c;
    box_t b = {0};

    /* a port that was just free and has no listener */
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    assert_int_equal(close(fd), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));

    c = client_for(url);
    assert_int_equal(upstream_client_submit(c, ODEUS_INVITE, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    assert_int_equal(b.r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(b.r.http_status, 0);
    assert_int_equal(b.r.retry_after_ms, -1);
    assert_non_null(strstr(b.r.message, "network: "));
    assert_null(strstr(b.r.message, KEY));
    assert_null(strstr(b.r.message, url));
    upstream_client_destroy(c);
}

typedef struct many {
    int calls;
    int done;
} many_t;

static void on_many(void *user, const odeus_result_t *r)
{
    many_t *m = user;
    m->calls++;
    m->done += r->outcome == ODEUS_OUTCOME_DONE;
}

static void run_batch(upstream_client_t *c, size_t first, size_t n)
{
    many_t m = {0};
    char email[64];

    for (size_t i = first; i < first + n; i++) {
        snprintf(email, sizeof(email), "user%zu@example.com", i);
        assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, email, NULL, on_many, &m), 0);
    }
    assert_int_equal(upstream_client_inflight(c), n);
    run_until(c, &m.calls, (int)n, 10000);
    assert_int_equal(m.calls, (int)n);
    assert_int_equal(m.done, (int)n);
    assert_int_equal(upstream_client_inflight(c), 0);
}

static void test_concurrent_calls_reuse_connections(void **state)
{
    fx_t *fx = *state;
    char *seen = calloc(100, 1);
    mock_request_t req;

    run_batch(fx->client, 0, 50);
    assert_int_equal(mock_odeus_count(fx->mock, "/deactivate-user"), 50);
    /* max_connections is 4: at most that many were opened, and they were kept */
    assert_in_range(mock_odeus_connections(fx->mock), 1, 4);

    run_batch(fx->client, 50, 50);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 100);
    assert_in_range(mock_odeus_connections(fx->mock), 1, 4);

    /* each call arrived once, with its own body */
    for (size_t i = 0; i < 100; i++) {
        json_t *j = recorded_body(fx->mock, i, &req);
        unsigned n;
        assert_int_equal(sscanf(json_string_value(json_object_get(j, "email")), "user%u@", &n), 1);
        assert_true(n < 100);
        assert_int_equal(seen[n], 0);
        seen[n] = 1;
        json_decref(j);
    }
    free(seen);
}

/*
 * curl's default connection cache holds 4 per handle in the multi, so after a burst a lone call
 * makes it close all but 4 idle connections and the next burst reconnects. Only
 * CURLMOPT_MAXCONNECTS keeps the burst's connections for the next one.
 */
static void test_connection_cache_survives_idle(void **state)
{
    fx_t *fx = *state;
    upstream_config_t cfg = config_for(mock_odeus_url(fx->mock));
    upstream_client_t *c;
    size_t opened;

    cfg.max_connections = 16;
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    run_batch(c, 0, 50);
    opened = mock_odeus_connections(fx->mock);
    assert_in_range(opened, 1, 16);
    /* one call at a time: curl's default would now shrink the cache to 4 */
    for (int i = 0; i < 8; i++)
        run_batch(c, 0, 1);
    run_batch(c, 0, 50);
    assert_in_range(mock_odeus_connections(fx->mock), opened, 16);
    upstream_client_destroy(c);
}

static void *wake_later(void *arg)
{
    sleep_ms(150);
    upstream_client_wakeup(arg);
    return NULL;
}

static void test_wakeup(void **state)
{
    fx_t *fx = *state;
    pthread_t t;
    int64_t t0, elapsed;

    /* from another thread, while the owner is blocked in poll */
    t0 = now_ms();
    assert_int_equal(pthread_create(&t, NULL, wake_later, fx->client), 0);
    assert_int_equal(upstream_client_poll(fx->client, 10000), 0);
    elapsed = now_ms() - t0;
    pthread_join(t, NULL);
    assert_in_range(elapsed, 100, 2000);

    /* before the poll: the next one returns at once */
    upstream_client_wakeup(fx->client);
    t0 = now_ms();
    assert_int_equal(upstream_client_poll(fx->client, 10000), 0);
    assert_in_range(now_ms() - t0, 0, 1000);

    /* and without a wakeup, poll does wait */
    t0 = now_ms();
    assert_int_equal(upstream_client_poll(fx->client, 200), 0);
    assert_in_range(now_ms() - t0, 150, 2000);
}

static void test_dry_run(void **state)
{
    fx_t *fx = *state;
    upstream_config_t cfg = config_for(mock_odeus_url(fx->mock));
    upstream_client_t *c;
    box_t b[3] = {{0}};
    int64_t t0;

    cfg.dry_run = 1;
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    assert_int_equal(upstream_client_submit(c, ODEUS_INVITE, "a@example.com", "admin", on_done, &b[0]), 0);
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b[1]), 0);
    assert_int_equal(upstream_client_submit(c, ODEUS_UPDATE_ROLE, "a@example.com", "member", on_done, &b[2]), 0);
    assert_int_equal(upstream_client_inflight(c), 3);
    /* nothing happens before the poll */
    assert_int_equal(b[0].calls + b[1].calls + b[2].calls, 0);

    t0 = now_ms();
    assert_int_equal(upstream_client_poll(c, 5000), 0);
    assert_in_range(now_ms() - t0, 0, 1000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b[i].calls, 1);
        assert_int_equal(b[i].r.outcome, ODEUS_OUTCOME_DONE);
        assert_int_equal(b[i].r.http_status, 0);
        assert_int_equal(b[i].r.retry_after_ms, -1);
        assert_string_equal(b[i].r.message, "dry-run");
    }
    assert_int_equal(upstream_client_inflight(c), 0);
    /* an invalid call is refused in dry-run as it would be for real */
    assert_int_equal(upstream_client_submit(c, ODEUS_UPDATE_ROLE, "a@example.com", NULL, on_done, &b[0]), -1);
    upstream_client_destroy(c);

    sleep_ms(100);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 0);
    assert_int_equal(mock_odeus_connections(fx->mock), 0);

    /* dry-run needs neither a URL nor a key */
    cfg.base_url = NULL;
    cfg.api_key = NULL;
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    /* destroyed with a queued call: no callback, no leak */
    b[0].calls = 0;
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b[0]), 0);
    upstream_client_destroy(c);
    assert_int_equal(b[0].calls, 0);
}

static void test_destroy_in_flight(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};
    int64_t deadline = now_ms() + 5000;
    char email[64];

    mock_odeus_set_default(fx->mock, MOCK_HANG);
    for (int i = 0; i < 6; i++) {
        snprintf(email, sizeof(email), "hang%d@example.com", i);
        assert_int_equal(upstream_client_submit(fx->client, i % 2 ? ODEUS_INVITE : ODEUS_DEACTIVATE, email, "member", on_done, &b),
                         0);
    }
    /* 4 connections at most: the other 2 calls wait inside curl */
    while (mock_odeus_count(fx->mock, NULL) < 4 && now_ms() < deadline)
        assert_int_equal(upstream_client_poll(fx->client, 20), 0);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 4);
    assert_int_equal(upstream_client_inflight(fx->client), 6);
    upstream_client_destroy(fx->client);
    fx->client = NULL;
    assert_int_equal(b.calls, 0);
}

typedef struct chain {
    upstream_client_t *client;
    int calls;
    odeus_outcome_t outcomes[2];
} chain_t;

static void on_chain(void *user, const odeus_result_t *r)
{
    chain_t *ch = user;
    ch->outcomes[ch->calls++] = r->outcome;
    if (ch->calls == 1)
        assert_int_equal(upstream_client_submit(ch->client, ODEUS_UPDATE_ROLE, "e@example.com", "editor", on_chain, ch), 0);
}

/* A callback may submit the next call (the outbox does exactly that). */
static void test_submit_from_callback(void **state)
{
    fx_t *fx = *state;
    chain_t ch = {.client = fx->client};

    assert_int_equal(upstream_client_submit(fx->client, ODEUS_INVITE, "e@example.com", NULL, on_chain, &ch), 0);
    run_until(fx->client, &ch.calls, 2, 5000);
    assert_int_equal(ch.outcomes[0], ODEUS_OUTCOME_DONE);
    assert_int_equal(ch.outcomes[1], ODEUS_OUTCOME_DONE);
    assert_int_equal(mock_odeus_count(fx->mock, "/update-user-role"), 1);
}

/* Over its threshold (1 KiB in older curls, 1 MiB in 7.88) curl sends Expect: 100-continue and
 * waits a second for a 100 the mock never sends; with the empty Expect: the body goes at once. */
static void test_large_body_no_expect_stall(void **state)
{
    fx_t *fx = *state;
    upstream_config_t cfg = config_for(mock_odeus_url(fx->mock));
    upstream_client_t *c;
    box_t b = {0};
    const size_t local = 1100 * 1024;
    char *email = malloc(local + 32);

    memset(email, 'x', local);
    strcpy(email + local, "@example.com");
    cfg.timeout_ms = 700;
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    /* deactivate: its answer does not echo the email, which would overflow the response cap */
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, email, NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    if (b.r.outcome != ODEUS_OUTCOME_DONE)
        fail_msg("outcome %s: %s", odeus_outcome_name(b.r.outcome), b.r.message);
    upstream_client_destroy(c);
    free(email);
}

static void test_create_errors(void **state)
{
    (void)state;
    char err[256];
    upstream_config_t cfg = config_for("http://127.0.0.1:1");

    assert_null(upstream_client_create(NULL, err, sizeof(err)));

    cfg.base_url = "ftp://127.0.0.1/";
    err[0] = '\0';
    assert_null(upstream_client_create(&cfg, err, sizeof(err)));
    assert_true(strlen(err) > 0);

    cfg.base_url = NULL;
    assert_null(upstream_client_create(&cfg, err, sizeof(err)));

    cfg.base_url = "https://api.odeus.ai";
    cfg.api_key = NULL;
    assert_null(upstream_client_create(&cfg, err, sizeof(err)));

    cfg.api_key = "sec\r\nX-Injected: ret";
    err[0] = '\0';
    assert_null(upstream_client_create(&cfg, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    assert_null(strstr(err, "sec"));

    cfg.api_key = " \n";
    assert_null(upstream_client_create(&cfg, err, sizeof(err)));

    /* a NULL err buffer is allowed */
    assert_null(upstream_client_create(&cfg, NULL, 0));
}

/* A key read from a secret file keeps its trailing newline; it must not reach the header. */
static void test_key_trailing_newline(void **state)
{
    fx_t *fx = *state;
    upstream_config_t cfg = config_for(mock_odeus_url(fx->mock));
    upstream_client_t *c;
    box_t b = {0};
    mock_request_t req;

    cfg.api_key = KEY "\n";
    c = upstream_client_create(&cfg, NULL, 0);
    assert_non_null(c);
    assert_int_equal(upstream_client_submit(c, ODEUS_DEACTIVATE, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    assert_int_equal(mock_odeus_get(fx->mock, 0, &req), 0);
    assert_string_equal(req.authorization, "Bearer " KEY);
    upstream_client_destroy(c);
}

static void test_submit_errors(void **state)
{
    fx_t *fx = *state;
    box_t b = {0};

    assert_int_equal(upstream_client_submit(fx->client, ODEUS_DEACTIVATE, NULL, NULL, on_done, &b), -1);
    assert_int_equal(upstream_client_submit(fx->client, ODEUS_DEACTIVATE, "a@example.com", NULL, NULL, &b), -1);
    assert_int_equal(upstream_client_submit(fx->client, (odeus_action_t)9, "a@example.com", NULL, on_done, &b), -1);
    assert_int_equal(upstream_client_submit(fx->client, ODEUS_UPDATE_ROLE, "a@example.com", NULL, on_done, &b), -1);
    assert_int_equal(upstream_client_inflight(fx->client), 0);
    assert_int_equal(upstream_client_poll(fx->client, 50), 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(mock_odeus_count(fx->mock, NULL), 0);
}

/* A one-shot HTTP server that answers the first request with canned bytes. */
typedef struct canned {
    int listen_fd;
    int port;
    pthread_t thread;
    const char *head;
    size_t body_len; /* that many bytes of `fill` follow the head */
    char fill;
    int io_failed; /* set by the server thread (no cmocka assertion there), checked by canned_stop */
} canned_t;

static void *canned_main(void *arg)
{
    canned_t *cn = arg;
    char buf[8192];
    size_t len = 0;
    struct timeval tv = {.tv_sec = 5};
    int fd = accept(cn->listen_fd, NULL, NULL);
    char *resp;
    size_t head_len = strlen(cn->head), off = 0;

    if (fd < 0)
        return NULL;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        cn->io_failed = 1;
    /* the request bodies here are small: headers and body arrive within a few reads */
    while (len < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        char *end;
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            char *cl = strcasestr(buf, "content-length:");
            size_t want = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (len >= want)
                break;
        }
    }
    resp = malloc(head_len + cn->body_len);
    memcpy(resp, cn->head, head_len);
    memset(resp + head_len, cn->fill, cn->body_len);
    while (off < head_len + cn->body_len) {
        ssize_t n = send(fd, resp + off, head_len + cn->body_len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(resp);
    if (close(fd) != 0)
        cn->io_failed = 1;
    return NULL;
}

static void canned_start(canned_t *cn, const char *head, size_t body_len, char fill)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    cn->head = head;
    cn->io_failed = 0;
    cn->body_len = body_len;
    cn->fill = fill;
    cn->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cn->listen_fd >= 0);
    assert_int_equal(bind(cn->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(cn->listen_fd, 4), 0);
    assert_int_equal(getsockname(cn->listen_fd, (struct sockaddr *)&addr, &len), 0);
    cn->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&cn->thread, NULL, canned_main, cn), 0);
}

static void canned_stop(canned_t *cn)
{
    assert_int_equal(pthread_join(cn->thread, NULL), 0);
    assert_int_equal(cn->io_failed, 0);
    assert_int_equal(close(cn->listen_fd), 0);
}

static odeus_result_t call_canned(const char *head, size_t body_len, char fill, odeus_action_t action)
{
    canned_t cn;
    char url[64];
    upstream_client_t *c;
    box_t b = {0};

    canned_start(&cn, head, body_len, fill);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", cn.port);
    c = client_for(url);
    assert_int_equal(upstream_client_submit(c, action, "a@example.com", NULL, on_done, &b), 0);
    run_until(c, &b.calls, 1, 5000);
    upstream_client_destroy(c);
    canned_stop(&cn);
    return b.r;
}

static void test_response_cap(void **state)
{
    (void)state;
    char head[256];
    odeus_result_t r;
    const size_t cap = 256 * 1024; /* upstream/client.c RESPONSE_MAX */

    /* over the cap: aborted, whatever it was going to say */
    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", cap + 1);
    r = call_canned(head, cap + 1, ' ', ODEUS_DEACTIVATE);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_RETRY);
    assert_string_equal(r.message, "response too large");

    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", (size_t)1 << 20);
    r = call_canned(head, (size_t)1 << 20, 'x', ODEUS_DEACTIVATE);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_RETRY);
    assert_string_equal(r.message, "response too large");

    /* exactly at the cap: read whole. "{}" followed by whitespace is a JSON object. */
    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n{}", cap);
    r = call_canned(head, cap - 2, ' ', ODEUS_DEACTIVATE);
    if (r.outcome != ODEUS_OUTCOME_DONE)
        fail_msg("outcome %s: %s", odeus_outcome_name(r.outcome), r.message);
    assert_int_equal(r.http_status, 200);
}

static void test_retry_after_header(void **state)
{
    (void)state;
    odeus_result_t r;

    /* header names are case-insensitive */
    r = call_canned("HTTP/1.1 503 Service Unavailable\r\nrEtRy-AfTeR:   7  \r\nContent-Length: 0\r\n\r\n", 0, ' ',
                    ODEUS_DEACTIVATE);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(r.http_status, 503);
    assert_int_equal(r.retry_after_ms, 7000);

    /* an HTTP-date in the past means now */
    r = call_canned("HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                    "Content-Length: 0\r\n\r\n",
                    0, ' ', ODEUS_INVITE);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(r.retry_after_ms, 0);

    /* a 200 that is not Odeus speaking */
    r = call_canned("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n", 5, '<', ODEUS_DEACTIVATE);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(r.http_status, 200);
}

typedef struct batch_box {
    int calls;
    size_t n;
    odeus_result_t r[4];
} batch_box_t;

static void on_batch(void *user, const odeus_result_t *results, size_t n)
{
    batch_box_t *b = user;
    b->calls++;
    b->n = n;
    for (size_t i = 0; i < n && i < 4; i++)
        b->r[i] = results[i];
}

/* One invite call for several users, answered per address in the order submitted. */
static void test_invite_batch(void **state)
{
    fx_t *fx = *state;
    batch_box_t b = {0};
    mock_request_t req;
    const odeus_invitee_t users[] = {{"a@example.com", "member"}, {"b@invalid.test", NULL}, {"c@example.com", "Admin"}};

    mock_odeus_set_invalid_suffix(fx->mock, "@invalid.test");
    assert_int_equal(upstream_client_submit_invites(fx->client, users, 3, on_batch, &b), 0);
    assert_int_equal(upstream_client_inflight(fx->client), 1);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.n, 3);
    assert_int_equal(b.r[0].outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(b.r[1].outcome, ODEUS_OUTCOME_REFUSED);
    assert_int_equal(b.r[2].outcome, ODEUS_OUTCOME_DONE);

    assert_int_equal(mock_odeus_count(fx->mock, NULL), 1);
    json_t *j = recorded_body(fx->mock, 0, &req);
    assert_common_headers(&req);
    assert_string_equal(req.path, "/user-management/v1/invite");
    assert_int_equal(req.invitees, 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "users"), 2), "role")), "admin");
    json_decref(j);

    /* a 400 for the whole call reaches every address; a 429 too */
    mock_odeus_set_reject_email(fx->mock, "c@example.com");
    memset(&b, 0, sizeof(b));
    assert_int_equal(upstream_client_submit_invites(fx->client, users, 3, on_batch, &b), 0);
    run_until(fx->client, &b.calls, 1, 5000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(b.r[i].http_status, 400);
    mock_odeus_push_fault(fx->mock, MOCK_429);
    memset(&b, 0, sizeof(b));
    assert_int_equal(upstream_client_submit_invites(fx->client, users, 2, on_batch, &b), 0);
    run_until(fx->client, &b.calls, 1, 5000);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.r[0].outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(b.r[1].outcome, ODEUS_OUTCOME_RETRY);

    assert_int_equal(upstream_client_submit_invites(fx->client, users, 0, on_batch, &b), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_invite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invite_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deactivate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_url_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_times_out, setup, teardown),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test_setup_teardown(test_concurrent_calls_reuse_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cache_survives_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wakeup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_body_no_expect_stall, setup, teardown),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test_setup_teardown(test_key_trailing_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_errors, setup, teardown),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_retry_after_header),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
