/*
 * Mass offboarding: MASS_USERS (default 10,000) active users are deactivated as fast as a
 * many-connection IdP can send, while the mock Odeus accepts 50 calls/s and answers 429 with
 * Retry-After beyond that. Every deactivation must reach Odeus, the gateway's memory must stay
 * bounded, and reads must keep being answered during the drain.
 *
 * The users are created first with the gateway in dry-run (their invites count as delivered),
 * and the mock is told they are active members: that keeps the setup out of the 50/s budget.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

#define SENDERS   16
#define MOCK_RATE 50

static const char deactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";

typedef struct shared {
    gw_proc_t *gw;
    char **ids;
    size_t n;
    atomic_size_t next;
    atomic_size_t ok, unavailable, other;
    int create; /* 1: create users, 0: deactivate them */
} shared_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sender(void *arg)
{
    shared_t *s = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= s->n)
            return NULL;
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
            atomic_fetch_add(&s->unavailable, 1);
        else
            atomic_fetch_add(&s->other, 1);
        http_resp_clear(&r);
    }
}

static long rss_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            kb = atol(line + strlen(key));
    fclose(f);
    return kb;
}

/* Runs the senders while the main thread keeps draining the gateway's log and sampling reads. */
static void run_senders(shared_t *s, const char *probe_id, int64_t *max_get_ms, long *peak_rss_kb)
{
    pthread_t t[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sender, s), 0);
    /*
     * The gateway logs to a pipe (64 KiB) that only this thread drains: at a few hundred
     * requests a second it must be drained every few milliseconds, or the gateway blocks writing
     * its log and the senders time out. Reads are sampled every 100 ms.
     */
    for (unsigned tick = 0; atomic_load(&s->next) < s->n; tick++) {
        gw_read_log(s->gw);
        usleep(5000);
        if (probe_id != NULL && tick % 20 == 0) {
            char path[96];
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", probe_id);
            http_resp_t r;
            int64_t t0 = mono_ms();
            scim(s->gw, "GET", path, NULL, &r);
            int64_t took = mono_ms() - t0;
            assert_int_equal(r.status, 200);
            http_resp_clear(&r);
            if (took > *max_get_ms)
                *max_get_ms = took;
            long kb = rss_kb(s->gw->pid, "VmRSS:");
            if (kb > *peak_rss_kb)
                *peak_rss_kb = kb;
        }
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(t[i], NULL);
}

static void test_mass_offboarding(void **state)
{
    (void)state;
    const char *env = getenv("MASS_USERS");
    size_t n = env != NULL && atoi(env) > 0 ? (size_t)atoi(env) : 10000;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    shared_t s = {.n = n, .ids = calloc(n, sizeof(char *)), .create = 1};
    gw_proc_t gw;
    s.gw = &gw;

    /* setup: n active users, invites delivered (dry-run) */
    /* the IdP side is not what is measured here: no inbound per-token limit */
    const char *const dry[] = {"--odeus-rate-per-sec", "0", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, NULL, dry);
    int64_t t0 = mono_ms();
    int64_t unused = 0;
    long unused_rss = 0;
    run_senders(&s, NULL, &unused, &unused_rss);
    assert_int_equal(atomic_load(&s.ok), n);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    print_message("mass: %zu users created in %lld ms\n", n, (long long)(mono_ms() - t0));

    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    mock_odeus_set_recording(mock, 0);
    mock_odeus_set_stateful(mock, 1);
    for (size_t i = 0; i < n; i++) {
        char email[64];
        snprintf(email, sizeof(email), "mass%05zu@example.com", i);
        mock_odeus_add_member(mock, email, NULL);
    }
    mock_odeus_set_rate_limit(mock, MOCK_RATE, 1);

    /* the gateway is allowed twice what Odeus takes: it must find the real pace itself */
    const char *const extra[] = {
        "--odeus-rate-per-sec", "100", "--odeus-max-concurrency", "8", "--upstream-deadline-ms", "500", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, mock_odeus_url(mock), extra);
    long rss_start = rss_kb(gw.pid, "VmRSS:");
    s.create = 0;
    atomic_store(&s.next, 0);
    atomic_store(&s.ok, 0);
    int64_t max_get_ms = 0;
    long peak_rss = rss_start;
    t0 = mono_ms();
    run_senders(&s, s.ids[n / 2], &max_get_ms, &peak_rss);
    int64_t sent_ms = mono_ms() - t0;

    /* the drain: bounded by several times the ideal n / 50 s */
    int64_t deadline = mono_ms() + (int64_t)(n / MOCK_RATE) * 4000 + 120000;
    mock_odeus_counts_t c;
    for (;;) {
        mock_odeus_counts(mock, &c);
        if (c.deactivate_ok >= n || mono_ms() > deadline)
            break;
        gw_read_log(&gw);
        char path[96];
        snprintf(path, sizeof(path), "/scim/v2/Users/%s", s.ids[(size_t)mono_ms() % n]);
        http_resp_t r;
        int64_t g0 = mono_ms();
        scim(&gw, "GET", path, NULL, &r);
        int64_t took = mono_ms() - g0;
        assert_int_equal(r.status, 200);
        http_resp_clear(&r);
        if (took > max_get_ms)
            max_get_ms = took;
        long kb = rss_kb(gw.pid, "VmRSS:");
        if (kb > peak_rss)
            peak_rss = kb;
        usleep(200000);
    }
    int64_t drain_ms = mono_ms() - t0;
    print_message("mass: %zu deactivations sent in %lld ms (IdP saw %zu x 200, %zu x 503, %zu other); all delivered after "
                  "%lld ms; Odeus saw %zu requests, %zu answered 429; slowest GET %lld ms; gateway RSS %ld kB at start, "
                  "%ld kB peak\n",
                  n, (long long)sent_ms, atomic_load(&s.ok), atomic_load(&s.unavailable), atomic_load(&s.other),
                  (long long)drain_ms, c.requests, c.throttled, (long long)max_get_ms, rss_start, peak_rss);
    assert_int_equal(c.deactivate_ok, n);
    assert_int_equal(mock_odeus_active_count(mock), 0);
    assert_int_equal(atomic_load(&s.other), 0);
    /* liveness, not performance: a read is never stuck behind the drain */
    assert_true(max_get_ms < 5000);
    /* bounded: the queue lives in SQLite, not in memory (generous, also under ASan) */
    assert_true(peak_rss - rss_start < 512 * 1024);

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
        cmocka_unit_test(test_mass_offboarding),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
