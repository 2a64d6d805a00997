/*
 * A circuit breaker for the Odeus client: when Odeus says "too many requests" (429) or keeps
 * failing (5xx, network errors), every call waits, not just the one that failed, and after the
 * pause a single probe call decides whether traffic resumes (closed) or the pause grows (open).
 *
 * Pure: no I/O, no clock of its own (times are passed in, monotonic ms), one owner thread.
 */
#ifndef UPSTREAM_BREAKER_H
#define UPSTREAM_BREAKER_H

#include <stdint.h>

typedef enum upstream_breaker_state {
    UPSTREAM_BREAKER_CLOSED,    /** calls flow */
    UPSTREAM_BREAKER_OPEN,      /** no call starts before `open_until_ms` */
    UPSTREAM_BREAKER_HALF_OPEN, /** one probe call is allowed; its result decides */
} upstream_breaker_state_t;

typedef enum upstream_breaker_result {
    UPSTREAM_BREAKER_SUCCESS,   /** Odeus answered (any answer but 429 and 5xx: 2xx, 4xx, 401/403 too) */
    UPSTREAM_BREAKER_THROTTLED, /** 429: opens at once, for at least Retry-After */
    UPSTREAM_BREAKER_FAILURE,   /** 5xx or no answer: opens after `threshold` in a row */
} upstream_breaker_result_t;

typedef enum upstream_breaker_allow {
    UPSTREAM_BREAKER_DENY,  /** wait (upstream_breaker_wait_ms) */
    UPSTREAM_BREAKER_PASS,  /** start the call */
    UPSTREAM_BREAKER_PROBE, /** start the call; it is the half-open probe: pass is_probe = 1 with its result */
} upstream_breaker_allow_t;

typedef struct upstream_breaker {
    /* settings */
    int threshold;        /** consecutive failures that open the breaker */
    int64_t base_open_ms; /** first pause */
    int64_t max_open_ms;  /** longest pause (the pause doubles with each failed probe) */
    /* state, read-only for callers */
    upstream_breaker_state_t state;
    int failures; /** consecutive failures while closed */
    int opens;    /** opens since the last success (for the doubling) */
    int probe_in_flight;
    int64_t open_until_ms;
} upstream_breaker_t;

/** Sets up a closed breaker. threshold < 1 is taken as 1; base/max <= 0 as 1000/60000 ms. */
void upstream_breaker_init(upstream_breaker_t *b, int threshold, int64_t base_open_ms, int64_t max_open_ms);

/** May a call start at `now_ms`? Moves OPEN to HALF_OPEN once the pause is over. */
upstream_breaker_allow_t upstream_breaker_allow(upstream_breaker_t *b, int64_t now_ms);

/** Milliseconds until upstream_breaker_allow could pass (0: now; while a probe is out, -1: when it ends). */
int64_t upstream_breaker_wait_ms(const upstream_breaker_t *b, int64_t now_ms);

/**
 * Records a call's result. `retry_after_ms` (-1 when absent) lengthens the pause of a THROTTLED
 * result. `is_probe` says whether the call was the half-open probe. Returns 1 when this result
 * opened (or re-opened) the breaker, else 0.
 */
int upstream_breaker_record(upstream_breaker_t *b, int64_t now_ms, upstream_breaker_result_t result, int64_t retry_after_ms,
                            int is_probe);

/** "closed", "open", "half_open". */
const char *upstream_breaker_state_name(upstream_breaker_state_t state);

#endif
