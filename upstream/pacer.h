/*
 * Pacing of Odeus calls: a token bucket (a steady rate with a small burst) whose rate adapts
 * to Odeus' answers, additive increase / multiplicative decrease: each 429 halves the rate
 * (down to a floor), each success wins a little of it back (up to the configured rate). Odeus
 * publishes no rate limits, so the gateway finds the sustainable rate itself instead of
 * meeting the limit over and over.
 *
 * Pure: no I/O, times passed in (monotonic ms), one owner thread.
 */
#ifndef UPSTREAM_PACER_H
#define UPSTREAM_PACER_H

#include <stdint.h>

typedef struct upstream_pacer {
    double max_rate; /** configured calls per second; 0: unlimited */
    double rate;     /** current calls per second */
    double burst;    /** bucket size */
    double tokens;
    int64_t last_ms;
} upstream_pacer_t;

/** `per_sec` 0 means unlimited (every take succeeds). The bucket starts full. */
void upstream_pacer_init(upstream_pacer_t *rl, double per_sec, int64_t now_ms);
/** Takes one token: 1, or 0 when none is left. */
int upstream_pacer_take(upstream_pacer_t *rl, int64_t now_ms);
/** Milliseconds until a token is available (0: now). */
int64_t upstream_pacer_wait_ms(upstream_pacer_t *rl, int64_t now_ms);
/** Odeus answered 429: halve the rate (not below 1/s, nor below a tenth of the configured rate), empty the bucket. */
void upstream_pacer_throttled(upstream_pacer_t *rl, int64_t now_ms);
/** A call went through: win back max_rate/500 of the rate, up to max_rate (slowly: a few seconds from half to full). */
void upstream_pacer_succeeded(upstream_pacer_t *rl);

#endif
