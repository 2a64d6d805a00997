/*
 * Circuit breaker (see breaker.h). The pause doubles with every open since the last success, so
 * a long Odeus outage costs one probe per pause, not a stream of doomed calls.
 */
#include "upstream/breaker.h"

void upstream_breaker_init(upstream_breaker_t *b, int threshold, int64_t base_open_ms, int64_t max_open_ms)
{
    *b = (upstream_breaker_t){
        .threshold = threshold < 1 ? 1 : threshold,
        .base_open_ms = base_open_ms > 0 ? base_open_ms : 1000,
        .max_open_ms = max_open_ms > 0 ? max_open_ms : 60000,
        .state = UPSTREAM_BREAKER_CLOSED,
    };
    if (b->max_open_ms < b->base_open_ms)
        b->max_open_ms = b->base_open_ms;
}

static void open_for(upstream_breaker_t *b, int64_t now_ms, int64_t retry_after_ms)
{
    int64_t pause = b->base_open_ms;
    for (int i = 0; i < b->opens && pause < b->max_open_ms; i++)
        pause *= 2;
    if (pause > b->max_open_ms)
        pause = b->max_open_ms;
    /* Odeus' own figure wins when longer, but is bounded like any pause */
    if (retry_after_ms > pause)
        pause = retry_after_ms < b->max_open_ms ? retry_after_ms : b->max_open_ms;
    b->state = UPSTREAM_BREAKER_OPEN;
    b->open_until_ms = now_ms + pause;
    b->opens++;
    b->failures = 0;
    b->probe_in_flight = 0;
}

upstream_breaker_allow_t upstream_breaker_allow(upstream_breaker_t *b, int64_t now_ms)
{
    switch (b->state) {
    case UPSTREAM_BREAKER_CLOSED:
        return UPSTREAM_BREAKER_PASS;
    case UPSTREAM_BREAKER_OPEN:
        if (now_ms < b->open_until_ms)
            return UPSTREAM_BREAKER_DENY;
        /* the first call after the pause is the probe */
        b->state = UPSTREAM_BREAKER_HALF_OPEN;
        b->probe_in_flight = 1;
        return UPSTREAM_BREAKER_PROBE;
    case UPSTREAM_BREAKER_HALF_OPEN:
        if (b->probe_in_flight)
            return UPSTREAM_BREAKER_DENY;
        b->probe_in_flight = 1;
        return UPSTREAM_BREAKER_PROBE;
    }
    return UPSTREAM_BREAKER_DENY;
}

int64_t upstream_breaker_wait_ms(const upstream_breaker_t *b, int64_t now_ms)
{
    switch (b->state) {
    case UPSTREAM_BREAKER_CLOSED:
        return 0;
    case UPSTREAM_BREAKER_OPEN:
        return b->open_until_ms > now_ms ? b->open_until_ms - now_ms : 0;
    case UPSTREAM_BREAKER_HALF_OPEN:
        return b->probe_in_flight ? -1 : 0;
    }
    return 0;
}

int upstream_breaker_record(upstream_breaker_t *b, int64_t now_ms, upstream_breaker_result_t result, int64_t retry_after_ms,
                            int is_probe)
{
    if (b->state == UPSTREAM_BREAKER_HALF_OPEN && is_probe) {
        if (result == UPSTREAM_BREAKER_SUCCESS) {
            b->state = UPSTREAM_BREAKER_CLOSED;
            b->failures = 0;
            b->opens = 0;
            b->probe_in_flight = 0;
            return 0;
        }
        open_for(b, now_ms, retry_after_ms);
        return 1;
    }
    if (b->state != UPSTREAM_BREAKER_CLOSED) {
        /* a call that started before the breaker opened: a 429 still pushes the pause out */
        if (result == UPSTREAM_BREAKER_THROTTLED && b->state == UPSTREAM_BREAKER_OPEN && retry_after_ms > 0 &&
            now_ms + retry_after_ms > b->open_until_ms)
            b->open_until_ms = now_ms + (retry_after_ms < b->max_open_ms ? retry_after_ms : b->max_open_ms);
        return 0;
    }
    switch (result) {
    case UPSTREAM_BREAKER_SUCCESS:
        b->failures = 0;
        b->opens = 0;
        return 0;
    case UPSTREAM_BREAKER_THROTTLED:
        open_for(b, now_ms, retry_after_ms);
        return 1;
    case UPSTREAM_BREAKER_FAILURE:
        if (++b->failures < b->threshold)
            return 0;
        open_for(b, now_ms, retry_after_ms);
        return 1;
    }
    return 0;
}

const char *upstream_breaker_state_name(upstream_breaker_state_t state)
{
    switch (state) {
    case UPSTREAM_BREAKER_CLOSED:
        return "closed";
    case UPSTREAM_BREAKER_OPEN:
        return "open";
    case UPSTREAM_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}
