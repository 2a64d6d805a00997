/*
 * Crash safety: a burst of mixed lifecycle changes (create, deactivate, reactivate, role change)
 * from several IdP connections while the gateway is SIGKILLed and restarted at random moments.
 * Afterwards: every change the IdP got a success for is in the directory (the last answered
 * change of each attribute wins, unless a later change of it went unanswered: a request the kill
 * cut off may have been committed), nothing is left queued, and the mock Odeus' member model equals
 * the directory's intent: active users active with their role, everyone else not active.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "burst.h"
#include "harness.h"
#include "mock/mock_odeus.h"

#define WORKERS          4
#define USERS_PER_WORKER 40
#define OPS_PER_WORKER   600
#define KILLS            5

/* The one gateway the burst goes to; a restart changes its port, under the lock. */
typedef struct target {
    gw_proc_t *gw;
    pthread_mutex_t *lock;
} target_t;

static int route(void *arg, unsigned *seed)
{
    target_t *t = arg;
    (void)seed;
    pthread_mutex_lock(t->lock);
    int port = t->gw->port;
    pthread_mutex_unlock(t->lock);
    return port;
}

/* `outbox stats --json`'s pending count for the data directory `dir`. */
static json_int_t outbox_pending(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s outbox stats --json %s", getenv("GATEWAY_BIN"), harness_store_arg(dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *stats = json_loadf(p, 0, NULL);
    assert_int_equal(pclose(p), 0);
    assert_non_null(stats);
    json_int_t pending = json_integer_value(json_object_get(stats, "pending"));
    json_decref(stats);
    return pending;
}

static void test_crash_burst(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    mock_odeus_set_recording(mock, 0);
    gw_proc_t gw;
    pthread_mutex_t gw_lock = PTHREAD_MUTEX_INITIALIZER;
    const char *const extra[] = {"--upstream-deadline-ms", "1000", "--odeus-rate-per-sec", "0", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, mock_odeus_url(mock), extra);

    target_t target = {.gw = &gw, .lock = &gw_lock};
    burst_t *b = burst_start(&(burst_config_t){.workers = WORKERS,
                                               .users = USERS_PER_WORKER,
                                               .ops = OPS_PER_WORKER,
                                               .prefix = "crash",
                                               .seed = 1234u,
                                               .route = route,
                                               .route_arg = &target});
    unsigned seed = 99;
    for (int k = 0; k < KILLS; k++) {
        /* a random moment: the gateway serves the burst for 0.3-1.5 s (its log, a pipe, drained) ... */
        EXPECT_STAYS(gw_alive(&gw), 300 + (int)(rand_r(&seed) % 1200));
        /* ... and is killed under it; only the port changes for the workers */
        pthread_mutex_lock(&gw_lock);
        gw_kill(&gw);
        free(gw.log);
        gw_start(&gw, dir, mock_odeus_url(mock), extra);
        pthread_mutex_unlock(&gw_lock);
    }
    WAIT_FOR(gw_drain(&gw) && burst_done(b), 300000);
    size_t ok, failed;
    burst_join(b, &ok, &failed);

    /* let the outbox drain: a restart delivers what the kills left queued */
    gw_stop(&gw);
    free(gw.log);
    gw_start(&gw, dir, mock_odeus_url(mock), extra);
    /* the states agree once what the kills left queued is delivered */
    WAIT_FOR_EVERY(gw_drain(&gw) && burst_mismatches(b, mock) == 0, 120000, 200);
    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    print_message("crash: %zu changes answered 2xx, %zu not (kills, 503s); %d users; Odeus saw %zu requests\n", ok, failed,
                  WORKERS * USERS_PER_WORKER, c.requests);
    assert_true(ok > 1000);

    /* nothing left queued: a row may still be on its way when the states already agree */
    WAIT_FOR_EVERY(gw_drain(&gw) && outbox_pending(dir) == 0, 60000, 200);

    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    burst_free(b);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_burst),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
