/*
 * Pacing of Odeus calls: a token bucket (a steady rate with a small burst) whose rate adapts
 * to Odeus' answers, additive increase / multiplicative decrease as TCP's congestion control:
 * while calls wait on tokens and Odeus keeps answering, the rate grows by a fixed step per second
 * up to a ceiling; each 429 halves it (down to a floor). Odeus publishes no rate limit, so the
 * gateway finds the sustainable rate itself, starting from a modest one.
 *
 * Pure: no I/O, times passed in (monotonic ms), one owner thread.
 */
#ifndef UPSTREAM_PACER_H
#define UPSTREAM_PACER_H

#include <stdint.h>

typedef struct upstream_pacer {
    double start_rate; /** the configured starting rate, calls per second; 0: unlimited */
    double max_rate;   /** the ceiling of the growth (>= start_rate) */
    double min_rate;   /** the floor of the decrease */
    double step;       /** additive increase, calls per second gained per second of demand */
    double rate;       /** current calls per second */
    double burst;      /** bucket size */
    double tokens;
    int64_t last_ms;
    int64_t decreased_ms; /** when the last 429 lowered the rate (INT64_MIN: never) */
    int limited;          /** a call has waited on a token since the bucket was last full */
} upstream_pacer_t;

/**
 * `per_sec` 0 means unlimited (every take succeeds). `max_per_sec` is the ceiling the rate may
 * grow to; at or below `per_sec` (0 included) the rate never exceeds `per_sec`. The bucket starts full.
 */
void upstream_pacer_init(upstream_pacer_t *rl, double per_sec, double max_per_sec, int64_t now_ms);
/** Takes one token: 1, or 0 when none is left (which counts as demand the rate did not meet). */
int upstream_pacer_take(upstream_pacer_t *rl, int64_t now_ms);
/** Milliseconds until a token is available (0: now); a wait counts as demand the rate did not meet. */
int64_t upstream_pacer_wait_ms(upstream_pacer_t *rl, int64_t now_ms);
/**
 * Odeus answered 429 to a call sent at `sent_ms`: halve the rate (not below 1/s, nor below a tenth
 * of the starting rate) and empty the bucket, unless the rate was already lowered after that call
 * went out (the calls in flight at the first 429 say nothing about the lowered rate). Returns 1
 * when the rate was lowered.
 */
int upstream_pacer_throttled(upstream_pacer_t *rl, int64_t sent_ms, int64_t now_ms);
/**
 * A call went through: while calls are waiting on tokens, the rate grows by `step` per second's
 * worth of calls (step / rate per call), up to the ceiling. Returns 1 when the rate changed.
 */
int upstream_pacer_succeeded(upstream_pacer_t *rl, int64_t now_ms);

#endif
