/*
 * Backoff for Odeus calls: exponential with "equal jitter" (half fixed, half random), so that
 * many rows failing together (an Odeus outage) do not come back in lockstep, while each row
 * still waits at least half its nominal delay.
 */
#include "upstream/retry.h"

int64_t upstream_retry_delay_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random)
{
    int64_t delay = UPSTREAM_RETRY_CAP_MS, low, span;
    unsigned exponent = failures > 0 ? failures - 1 : 0;

    /* base << 30 already dwarfs the cap; stopping there keeps the shift defined */
    if (exponent < 30) {
        int64_t grown = (int64_t)UPSTREAM_RETRY_BASE_MS << exponent;
        if (grown < delay)
            delay = grown;
    }

    low = delay / 2;
    span = delay - low;
    delay = low + (int64_t)(random % (uint64_t)(span + 1));

    if (retry_after_ms >= 0) {
        int64_t floor = retry_after_ms < UPSTREAM_RETRY_CAP_MS ? retry_after_ms : UPSTREAM_RETRY_CAP_MS;
        if (delay < floor)
            delay = floor;
    }
    if (outcome == ODEUS_OUTCOME_AUTH && delay < UPSTREAM_RETRY_AUTH_MIN_MS)
        delay = UPSTREAM_RETRY_AUTH_MIN_MS;
    return delay;
}
