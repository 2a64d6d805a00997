/*
 * mock-odeus: the test mock as a program, for trying the gateway by hand and for
 * bench/mass-offboarding.sh.
 *   mock-odeus [--fault ok|404|400|invalid_email|401|500|503|429|hang|drop] [--rate-limit PER_SEC] [--quiet]
 * Prints its base URL on stdout, logs each request on stderr (not with --quiet, which also stops
 * recording them), stops on SIGTERM or SIGINT and then prints its counters as one JSON line on
 * stdout: {"requests":N,"ok":N,"throttled":N,"invite_ok":N,"deactivate_ok":N,"update_ok":N}.
 * --rate-limit: at most PER_SEC calls a second get their answer, the others 429 with Retry-After: 1.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock/mock_odeus.h"

static const char *const fault_names[] = {
    [MOCK_OK] = "ok",
    [MOCK_404] = "404",
    [MOCK_400] = "400",
    [MOCK_INVALID_EMAIL] = "invalid_email",
    [MOCK_401] = "401",
    [MOCK_500] = "500",
    [MOCK_503] = "503",
    [MOCK_429] = "429",
    [MOCK_HANG] = "hang",
    [MOCK_DROP] = "drop",
    [MOCK_DONE_HANG] = "done_hang",
};
#define FAULT_COUNT (sizeof(fault_names) / sizeof(fault_names[0]))

static int parse_fault(const char *name, mock_fault_t *out)
{
    for (size_t i = 0; i < FAULT_COUNT; i++) {
        if (strcasecmp(fault_names[i], name) == 0) {
            *out = (mock_fault_t)i;
            return 0;
        }
    }
    return -1;
}

static void on_signal(int sig)
{
    (void)sig;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mock-odeus [--fault NAME] [--rate-limit PER_SEC] [--quiet]\n  NAME:");
    for (size_t i = 0; i < FAULT_COUNT; i++)
        fprintf(f, " %s", fault_names[i]);
    fprintf(f, "\n");
}

int main(int argc, char **argv)
{
    mock_fault_t fault = MOCK_OK;
    unsigned rate = 0;
    int quiet = 0;
    mock_odeus_t *mock;
    sigset_t set;
    size_t logged = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc) {
            if (parse_fault(argv[++i], &fault) != 0) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--rate-limit") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || v == 0 || v > 1000000) {
                usage(stderr);
                return 2;
            }
            rate = (unsigned)v;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is discarded
     * rather than left for sigtimedwait: give both a handler, which is never run. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* Blocked before the server thread starts, so it inherits the mask and sigtimedwait below
     * is the only place the signals are taken. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    mock = mock_odeus_start();
    if (mock == NULL) {
        fprintf(stderr, "mock-odeus: could not start\n");
        return 1;
    }
    mock_odeus_set_default(mock, fault);
    if (rate > 0)
        mock_odeus_set_rate_limit(mock, rate, 1);
    if (quiet)
        mock_odeus_set_recording(mock, 0);
    if (printf("%s\n", mock_odeus_url(mock)) < 0 || fflush(stdout) != 0) {
        mock_odeus_stop(mock);
        return 1;
    }

    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        mock_request_t r;

        if (sigtimedwait(&set, NULL, &tick) > 0)
            break;
        while (mock_odeus_get(mock, logged, &r) == 0) {
            fprintf(stderr, "%s %s fault=%s body=%s\n", r.method, r.path,
                    (size_t)r.fault < FAULT_COUNT ? fault_names[r.fault] : "?", r.body);
            logged++;
        }
    }
    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    mock_odeus_stop(mock);
    if (printf("{\"requests\":%zu,\"ok\":%zu,\"throttled\":%zu,\"invite_ok\":%zu,\"deactivate_ok\":%zu,\"update_ok\":%zu}\n",
               c.requests, c.ok, c.throttled, c.invite_ok, c.deactivate_ok, c.update_ok) < 0 ||
        fflush(stdout) != 0)
        return 1;
    return 0;
}
