/*
 * Mass offboarding, a smoke test: MASS_USERS (default 2,000) active users are deactivated as fast
 * as a 16-connection IdP can send, while the mock Odeus accepts MOCK_RATE calls a second and
 * answers 429 with Retry-After beyond that. It checks behaviour, not speed: the drain completes,
 * nothing is lost, every user is deactivated in Odeus exactly once, and reads keep being answered
 * during the drain. How fast reads stay and how much memory the drain takes are measured by
 * bench/mass-offboarding.sh (10,000 users), not asserted here.
 *
 * The users are created first with the gateway in dry-run (their invites count as delivered),
 * and the mock is told they are active members: that keeps the setup out of the Odeus budget.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

#define SENDERS   16
#define MOCK_RATE 50 /* Odeus' budget a second; the gateway is allowed twice that and must find the pace */

static const char deactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";

typedef struct shared {
    gw_proc_t *gw;
    char **ids;
    size_t n;
    atomic_size_t next;
    atomic_size_t ok, unavailable, other;
    atomic_int done; /* senders finished */
    int create;      /* 1: create users, 0: deactivate them */
} shared_t;

static void *sender(void *arg)
{
    shared_t *s = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n)
            break;
        http_resp_t r;
        if (s->create) {
            char body[160];
            snprintf(body, sizeof(body), "{\"userName\":\"mass%05zu@example.com\",\"active\":true}", i);
            scim(s->gw, "POST", "/scim/v2/Users", body, &r);
            if (r.status == 201)
                s->ids[i] = strdup(json_str(&r, "id"));
        } else {
            char path[96];
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", s->ids[i]);
            scim(s->gw, "PATCH", path, deactivate_patch, &r);
        }
        if (r.status == 200 || r.status == 201)
            atomic_fetch_add(&s->ok, 1);
        else if (r.status == 503)
            atomic_fetch_add(&s->unavailable, 1); /* Odeus did not confirm within the deadline: queued */
        else
            atomic_fetch_add(&s->other, 1);
        http_resp_clear(&r);
    }
    atomic_fetch_add(&s->done, 1);
    return NULL;
}

/* A read during the drain: at most one every 100 ms, each asserted to be answered 200. */
typedef struct reader {
    shared_t *s;
    int on; /* reads only once every user exists */
    long long last_ms;
    size_t reads;
} reader_t;

/*
 * Drains the gateway's log (at hundreds of requests a second its pipe fills within a second) and
 * reads a user when it is time; always 1, so that it can head a waited-for condition.
 */
static int keep_reading(reader_t *rd)
{
    gw_drain(rd->s->gw);
    long long now = harness_now_ms();
    if (!rd->on || now - rd->last_ms < 100)
        return 1;
    rd->last_ms = now;
    char path[96];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", rd->s->ids[(size_t)now % rd->s->n]);
    http_resp_t r;
    scim(rd->s->gw, "GET", path, NULL, &r);
    if (r.status != 200)
        fail_msg("a read during the drain was answered %ld: %s", r.status, r.body);
    http_resp_clear(&r);
    rd->reads++;
    return 1;
}

/* Runs the senders to the end while the main thread keeps the log drained (and reads, when the reader is on). */
static void run_senders(shared_t *s, reader_t *rd)
{
    pthread_t t[SENDERS];
    atomic_store(&s->next, 0);
    atomic_store(&s->ok, 0);
    atomic_store(&s->done, 0);
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sender, s), 0);
    WAIT_FOR(keep_reading(rd) && atomic_load(&s->done) == SENDERS, 300000);
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
}

static size_t deactivations_ok(mock_odeus_t *mock)
{
    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    return c.deactivate_ok;
}

static void test_mass_offboarding_smoke(void **state)
{
    (void)state;
    const char *env = getenv("MASS_USERS");
    size_t n = env != NULL && atoi(env) > 0 ? (size_t)atoi(env) : 2000;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    shared_t s = {.n = n, .ids = calloc(n, sizeof(char *)), .create = 1};
    assert_non_null(s.ids);
    gw_proc_t gw;
    s.gw = &gw;
    reader_t rd = {.s = &s};

    /* setup: n active users, invites delivered (dry-run); no inbound per-token limit */
    const char *const dry[] = {"--odeus-rate-per-sec", "0", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, NULL, dry);
    long long t0 = harness_now_ms();
    run_senders(&s, &rd);
    assert_int_equal(atomic_load(&s.ok), n);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    print_message("mass: %zu users created in %lld ms\n", n, harness_now_ms() - t0);

    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    mock_odeus_set_recording(mock, 0);
    mock_odeus_set_stateful(mock, 1); /* a second deactivation of someone would be answered 404 */
    for (size_t i = 0; i < n; i++) {
        char email[64];
        snprintf(email, sizeof(email), "mass%05zu@example.com", i);
        mock_odeus_add_member(mock, email, NULL);
    }
    mock_odeus_set_rate_limit(mock, MOCK_RATE, 1);

    char rate[16];
    snprintf(rate, sizeof(rate), "%d", 2 * MOCK_RATE);
    const char *const extra[] = {
        "--odeus-rate-per-sec", rate, "--odeus-max-concurrency", "8", "--upstream-deadline-ms", "500", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, mock_odeus_url(mock), extra);
    s.create = 0;
    rd.on = 1;
    t0 = harness_now_ms();
    run_senders(&s, &rd);
    long long sent_ms = harness_now_ms() - t0;

    /* the drain completes, with reads answered all along; bounded by several times the ideal n / MOCK_RATE s */
    WAIT_FOR(keep_reading(&rd) && deactivations_ok(mock) >= n, (int)(n / MOCK_RATE) * 4000 + 60000);
    long long drain_ms = harness_now_ms() - t0;
    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    print_message("mass: %zu deactivations sent in %lld ms (IdP saw %zu x 200, %zu x 503, %zu other); all delivered after "
                  "%lld ms; Odeus saw %zu requests, %zu answered 429; %zu reads during it\n",
                  n, sent_ms, atomic_load(&s.ok), atomic_load(&s.unavailable), atomic_load(&s.other), drain_ms, c.requests,
                  c.throttled, rd.reads);
    assert_int_equal(atomic_load(&s.other), 0);
    /* nothing lost, each exactly once: every request Odeus did not throttle was a first deactivation */
    assert_int_equal(c.deactivate_ok, n);
    assert_int_equal(c.requests - c.throttled, n);
    assert_int_equal(mock_odeus_active_count(mock), 0);
    /* the throttled path was taken (otherwise this would not test the drain under a limit) */
    assert_true(c.throttled > 0);
    assert_true(rd.reads > 0);

    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    for (size_t i = 0; i < n; i++)
        free(s.ids[i]);
    free(s.ids);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mass_offboarding_smoke),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
