/*
 * A burst of lifecycle changes from several IdP connections, for the tests that kill gateways under
 * it (test_crash.c: one gateway restarted; test_replicas.c: two replicas, one killed). Worker threads,
 * each with users of its own, send creates, deactivations, reactivations and role changes, and keep
 * what the IdP was told succeeded; afterwards burst_mismatches compares that with the directory, and
 * the directory with the mock Odeus. Test code only.
 */
#ifndef TESTS_E2E_BURST_H
#define TESTS_E2E_BURST_H

#include <stddef.h>

struct mock_odeus;

/*
 * The port of the gateway a worker's next call goes to, from the worker's thread. It may draw on
 * `seed`, the worker's own, so that a run's choices follow from the configured seeds.
 */
typedef int (*burst_route_fn)(void *arg, unsigned *seed);

typedef struct burst_config {
    int workers;
    int users;          /* per worker */
    int ops;            /* changes per worker */
    const char *prefix; /* the users' emails: PREFIX-WORKER-USER@example.com */
    unsigned seed;      /* worker i's is seed + i */
    burst_route_fn route;
    void *route_arg;
    /* a create that got no answer (status 0) is looked up at once, as after a 409; else the user's
     * next change is the create again */
    int find_unanswered_creates;
} burst_config_t;

typedef struct burst burst_t;

/** Starts the workers' threads. */
burst_t *burst_start(const burst_config_t *cfg);
/** 1 once every worker has sent all its changes. */
int burst_done(burst_t *b);
/** While `on`, the workers start no new change (each waits for at most 60 s before its next one). */
void burst_pause(burst_t *b, int on);
/** Joins the workers; `ok` gets how many changes were answered 2xx, `failed` how many were not. */
void burst_join(burst_t *b, size_t *ok, size_t *failed);
/**
 * Checks every user: what the IdP was last told succeeded (its create, activity and role) is what
 * the directory holds, asserted; returns how many users Odeus does not hold as the directory does
 * (active with its role, or not active).
 */
size_t burst_mismatches(burst_t *b, struct mock_odeus *mock);
/** How many users the burst has (workers x users), and the email of the i-th. */
size_t burst_users(const burst_t *b);
const char *burst_email(const burst_t *b, size_t i);
/** Frees a joined burst. */
void burst_free(burst_t *b);

#endif
