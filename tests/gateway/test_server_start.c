/*
 * gateway/server: a thread that cannot be started stops the start-up with a logged reason and
 * exit code 1, and the threads already running are stopped and joined (no hang, no join of a
 * thread that never ran). pthread_create is wrapped at link time (-Wl,--wrap=pthread_create) so
 * that its Nth call fails with EAGAIN; the delivery thread is the first call, workers follow.
 * Only the calls of the thread that runs gw_server_run count: a worker starts its flush thread
 * from its own thread, at a moment that races with the next worker's start.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/config.h"
#include "gateway/server.h"

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

static atomic_int calls;
static atomic_int fail_at; /* the call (from 1) that fails; 0: none */
static pthread_t test_thread;

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (!pthread_equal(pthread_self(), test_thread))
        return __real_pthread_create(thread, attr, fn, arg);
    int n = atomic_fetch_add(&calls, 1) + 1;
    if (n == atomic_load(&fail_at))
        return EAGAIN;
    return __real_pthread_create(thread, attr, fn, arg);
}

static gw_config_t config;
static char data_dir[] = "/tmp/gw-server-start-XXXXXX";

static int setup(void **state)
{
    (void)state;
    if (mkdtemp(data_dir) == NULL)
        return -1;
    char *argv[] = {"odeus-scim-gateway", "--dry-run", "--listen", "127.0.0.1:0", "--threads", "3", "--data-dir", data_dir, NULL};
    setenv("SCIM_TOKEN", "a-token-long-enough-for-the-gateway", 1);
    unsetenv("SCIM_TOKEN_FILE");
    unsetenv("ODEUS_API_KEY");
    unsetenv("ODEUS_API_KEY_FILE");
    return gw_config_load(&config, 8, argv) == GW_CONFIG_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    gw_config_clear(&config);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the server with pthread_create call `n` failing; returns its exit code, its log (stdout) in `log`. */
static int run_failing_at(int n, char *log, size_t log_len, int64_t *elapsed_ms)
{
    char path[] = "/tmp/gw-server-start-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);

    atomic_store(&calls, 0);
    atomic_store(&fail_at, n);
    int64_t start = now_ms();
    int rc = gw_server_run(&config);
    *elapsed_ms = now_ms() - start;
    atomic_store(&fail_at, 0);

    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    ssize_t got = pread(fd, log, log_len - 1, 0);
    log[got > 0 ? got : 0] = '\0';
    close(fd);
    fputs(log, stdout); /* for the test's own output */
    return rc;
}

static void test_delivery_thread_fails(void **state)
{
    (void)state;
    char log[16384];
    int64_t elapsed;
    assert_int_equal(run_failing_at(1, log, sizeof(log), &elapsed), 1);
    assert_non_null(strstr(log, "\"start_failed\""));
    assert_non_null(strstr(log, "cannot start the delivery thread"));
    assert_int_equal(atomic_load(&calls), 1);
}

static void test_first_worker_fails(void **state)
{
    (void)state;
    char log[16384];
    int64_t elapsed;
    assert_int_equal(run_failing_at(2, log, sizeof(log), &elapsed), 1);
    assert_non_null(strstr(log, "\"start_failed\""));
    assert_non_null(strstr(log, "cannot start worker thread 1 of 3"));
    assert_null(strstr(log, "\"listening\""));
    assert_int_equal(atomic_load(&calls), 2); /* no later worker was tried */
}

static void test_later_worker_fails_after_one_started(void **state)
{
    (void)state;
    char log[16384];
    int64_t elapsed;
    assert_int_equal(run_failing_at(3, log, sizeof(log), &elapsed), 1);
    assert_non_null(strstr(log, "\"start_failed\""));
    assert_non_null(strstr(log, "cannot start worker thread 2 of 3"));
    assert_null(strstr(log, "\"listening\""));
    assert_int_equal(atomic_load(&calls), 3);
    /* the running worker and the delivery thread were stopped at once, not after the grace period */
    assert_true(elapsed < config.shutdown_grace_ms);
}

int main(void)
{
    test_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_thread_fails),
        cmocka_unit_test(test_first_worker_fails),
        cmocka_unit_test(test_later_worker_fails_after_one_started),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
