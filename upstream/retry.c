/*
 * Backoff for Odeus calls: exponential with "full jitter" (uniform in [0, nominal]). When many
 * rows fail together (an Odeus outage, a mass offboarding meeting a rate limit) full jitter
 * spreads their retries over the whole window instead of bunching them in its upper half, which
 * is what keeps a recovering Odeus from being hit by a wave. Retry-After is a floor: Odeus said
 * when it wants to hear from us again.
 */
#include "upstream/retry.h"

int64_t upstream_retry_delay_capped_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random,
                                       int64_t cap_ms)
{
    int64_t cap = cap_ms > 0 ? cap_ms : UPSTREAM_RETRY_CAP_MS;
    int64_t delay = cap;
    unsigned exponent = failures > 0 ? failures - 1 : 0;

    /* base << 40 already dwarfs any sane cap; stopping there keeps the shift defined */
    if (exponent < 40) {
        int64_t grown = (int64_t)UPSTREAM_RETRY_BASE_MS << exponent;
        if (grown < delay)
            delay = grown;
    }
    delay = (int64_t)(random % ((uint64_t)delay + 1));

    if (retry_after_ms >= 0) {
        int64_t floor = retry_after_ms < cap ? retry_after_ms : cap;
        if (delay < floor)
            delay = floor;
    }
    if (outcome == ODEUS_OUTCOME_AUTH && delay < UPSTREAM_RETRY_AUTH_MIN_MS)
        delay = UPSTREAM_RETRY_AUTH_MIN_MS;
    return delay;
}

int64_t upstream_retry_delay_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random)
{
    return upstream_retry_delay_capped_ms(failures, outcome, retry_after_ms, random, UPSTREAM_RETRY_CAP_MS);
}
