/*
 * The flush off the event loop (gateway/flusher.h, README "Durability"): with every flush slowed
 * by an LD_PRELOAD shim (bench/fsync_shim.c), requests arriving while a flush is under way are
 * still read and committed, the next flush carries them all, and none is answered before the flush
 * that made it durable; a flush that fails turns its answers into 500s, and the gateway goes on.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

typedef gw_fixture_t fixture_t;

#define DELAY_MS  300
#define N_PATCHES 4

static const char *const one_thread[] = {"--threads", "1", NULL};
static char fail_flag[300];

/* The gateway started by the fixture inherits the shim and its settings; the test process does not load it. */
static void preload_shim(const char *delay_us, const char *match, const char *flag)
{
    const char *shim = getenv("FSYNC_SHIM");
    assert_non_null(shim);
    assert_int_equal(setenv("LD_PRELOAD", shim, 1), 0);
    assert_int_equal(setenv("FSYNC_DELAY_US", delay_us, 1), 0);
    assert_int_equal(match != NULL ? setenv("FSYNC_MATCH", match, 1) : unsetenv("FSYNC_MATCH"), 0);
    assert_int_equal(flag != NULL ? setenv("FSYNC_FAIL_FLAG", flag, 1) : unsetenv("FSYNC_FAIL_FLAG"), 0);
    /* under ASan the shim comes before the runtime in the library list, which ASan refuses by default */
    assert_int_equal(setenv("ASAN_OPTIONS", "detect_leaks=1:verify_asan_link_order=0", 1), 0);
}

static void unload_shim(void)
{
    unsetenv("LD_PRELOAD");
    unsetenv("FSYNC_DELAY_US");
    unsetenv("FSYNC_MATCH");
    unsetenv("FSYNC_FAIL_FLAG");
}

static int setup_slow(void **state)
{
    char delay[32];
    snprintf(delay, sizeof(delay), "%d", DELAY_MS * 1000);
    preload_shim(delay, NULL, NULL);
    int rc = gw_fixture_setup(state, one_thread);
    unload_shim();
    return rc;
}

static int setup_failing(void **state)
{
    char dir[256];
    harness_tmpdir(dir, sizeof(dir));
    snprintf(fail_flag, sizeof(fail_flag), "%s/fail", dir);
    preload_shim("0", "-wal", fail_flag);
    int rc = gw_fixture_setup(state, one_thread);
    unload_shim();
    return rc;
}

static int teardown_failing(void **state)
{
    unlink(fail_flag);
    char *slash = strrchr(fail_flag, '/');
    *slash = '\0';
    harness_rmdir(fail_flag);
    return gw_fixture_teardown(state);
}

static double metric(gw_proc_t *gw, const char *name)
{
    http_resp_t r;
    http_call(gw, "GET", "/metrics", NULL, TEST_SCIM_TOKEN, NULL, &r);
    assert_int_equal(r.status, 200);
    char needle[128];
    snprintf(needle, sizeof(needle), "\n%s ", name);
    const char *at = strstr(r.body, needle);
    if (at == NULL)
        fail_msg("/metrics has no %s", name);
    double v = strtod(at + strlen(needle), NULL);
    http_resp_clear(&r);
    return v;
}

typedef struct patcher {
    int port;
    const char *id;
    int start_after_ms;
    long status;
    long long took_ms;
} patcher_t;

/* One PATCH of displayName on a connection of its own, `start_after_ms` after the thread starts. */
static void *patch_later(void *arg)
{
    patcher_t *p = arg;
    usleep((useconds_t)p->start_after_ms * 1000);
    const char *body = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                       "\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"flushed\"}]}";
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", p->id);
    long long t0 = harness_now_ms();
    p->status = harness_call(NULL, p->port, "PATCH", path, body, NULL);
    p->took_ms = harness_now_ms() - t0;
    return NULL;
}

/*
 * Four PATCHes 40 ms apart, all inside one 300 ms flush: the loop commits the later three while the
 * first one's flush is under way, and one further flush carries all three. Each answer waited for
 * its flush (at least the shim's delay), and the writes are there.
 */
static void test_passes_committed_during_a_flush_share_the_next(void **state)
{
    fixture_t *f = *state;
    char *ids[N_PATCHES];
    for (int i = 0; i < N_PATCHES; i++) {
        char body[160];
        snprintf(body, sizeof(body), "{\"userName\":\"flush%d@example.com\",\"active\":true}", i);
        ids[i] = create_user(&f->gw, body);
    }
    gw_drain(&f->gw);
    double flushes0 = metric(&f->gw, "gateway_store_flushes_total");
    double passes0 = metric(&f->gw, "gateway_store_flushed_passes_total");

    patcher_t p[N_PATCHES];
    pthread_t t[N_PATCHES];
    for (int i = 0; i < N_PATCHES; i++) {
        p[i] = (patcher_t){.port = f->gw.port, .id = ids[i], .start_after_ms = 40 * i};
        assert_int_equal(pthread_create(&t[i], NULL, patch_later, &p[i]), 0);
    }
    for (int i = 0; i < N_PATCHES; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    gw_drain(&f->gw);

    for (int i = 0; i < N_PATCHES; i++) {
        assert_int_equal(p[i].status, 200);
        /* the flush of its commit sleeps DELAY_MS first: an answer sooner went out before its flush */
        if (p[i].took_ms < DELAY_MS)
            fail_msg("PATCH %d answered after %lld ms, before its %d ms flush ended", i, p[i].took_ms, DELAY_MS);
        http_resp_t r;
        char path[128];
        snprintf(path, sizeof(path), "/scim/v2/Users/%s", ids[i]);
        scim(&f->gw, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_str(&r, "displayName"), "flushed");
        http_resp_clear(&r);
    }
    double flushes = metric(&f->gw, "gateway_store_flushes_total") - flushes0;
    double passes = metric(&f->gw, "gateway_store_flushed_passes_total") - passes0;
    /* the GETs and /metrics reads above write nothing: only the PATCH passes count */
    if (!(passes >= N_PATCHES && flushes < passes))
        fail_msg("%g passes in %g flushes: the passes committed during a flush did not share one", passes, flushes);
    for (int i = 0; i < N_PATCHES; i++)
        free(ids[i]);
}

/*
 * While the WAL's fsync fails, a change is answered 500 saying the disk did not confirm it, not
 * success; the gateway keeps serving, and once the disk recovers the next change is confirmed.
 */
static void test_a_failed_flush_answers_500(void **state)
{
    fixture_t *f = *state;
    char *id = create_user(&f->gw, "{\"userName\":\"disk@example.com\",\"active\":true}");
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    const char *patch = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                        "\"Operations\":[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"%s\"}]}";
    char body[256];

    FILE *flag = fopen(fail_flag, "w");
    assert_non_null(flag);
    fclose(flag);
    http_resp_t r;
    snprintf(body, sizeof(body), patch, "during");
    scim(&f->gw, "PATCH", path, body, &r);
    assert_scim_error(&r, 500, NULL);
    assert_non_null(strstr(r.body, "did not confirm"));
    assert_null(strstr(r.body, "\"displayName\""));
    http_resp_clear(&r);
    assert_true(gw_log_has(&f->gw, "\"step\":\"flush\""));

    assert_int_equal(unlink(fail_flag), 0);
    snprintf(body, sizeof(body), patch, "after");
    scim(&f->gw, "PATCH", path, body, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    scim(&f->gw, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "displayName"), "after");
    http_resp_clear(&r);
    free(id);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_passes_committed_during_a_flush_share_the_next, setup_slow, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_flush_answers_500, setup_failing, teardown_failing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
