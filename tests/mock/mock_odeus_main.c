/*
 * mock-odeus: the test mock as a program, for trying the gateway by hand.
 *   mock-odeus [--fault ok|404|400|invalid_email|401|500|503|429|hang|drop]
 * Prints its base URL on stdout, logs each request on stderr, stops on SIGTERM or SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock/mock_odeus.h"

static const char *const fault_names[] = {
    [MOCK_OK] = "ok",     [MOCK_404] = "404",   [MOCK_400] = "400", [MOCK_INVALID_EMAIL] = "invalid_email",
    [MOCK_401] = "401",   [MOCK_500] = "500",   [MOCK_503] = "503", [MOCK_429] = "429",
    [MOCK_HANG] = "hang", [MOCK_DROP] = "drop",
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
    fprintf(f, "usage: mock-odeus [--fault NAME]\n  NAME:");
    for (size_t i = 0; i < FAULT_COUNT; i++)
        fprintf(f, " %s", fault_names[i]);
    fprintf(f, "\n");
}

int main(int argc, char **argv)
{
    mock_fault_t fault = MOCK_OK;
    mock_odeus_t *mock;
    sigset_t set;
    size_t logged = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc) {
            if (parse_fault(argv[++i], &fault) != 0) {
                usage(stderr);
                return 2;
            }
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
    printf("%s\n", mock_odeus_url(mock));
    fflush(stdout);

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
    mock_odeus_stop(mock);
    return 0;
}
