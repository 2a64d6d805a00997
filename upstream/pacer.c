/*
 * Token bucket with AIMD rate (see pacer.h). The burst is a fraction of a second's worth of
 * calls so that a full bucket after a quiet spell cannot trip a limit Odeus enforces per second.
 */
#include "upstream/pacer.h"

static double burst_for(double rate)
{
    double b = rate / 4;
    return b < 1 ? 1 : b;
}

void upstream_pacer_init(upstream_pacer_t *rl, double per_sec, int64_t now_ms)
{
    *rl = (upstream_pacer_t){.max_rate = per_sec > 0 ? per_sec : 0, .rate = per_sec > 0 ? per_sec : 0, .last_ms = now_ms};
    rl->burst = burst_for(rl->rate);
    rl->tokens = rl->burst;
}

static void refill(upstream_pacer_t *rl, int64_t now_ms)
{
    if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
    }
    rl->last_ms = now_ms;
}

int upstream_pacer_take(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->max_rate <= 0)
        return 1;
    refill(rl, now_ms);
    if (rl->tokens < 1.0)
        return 0;
    rl->tokens -= 1.0;
    return 1;
}

int64_t upstream_pacer_wait_ms(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->max_rate <= 0)
        return 0;
    refill(rl, now_ms);
    if (rl->tokens >= 1.0)
        return 0;
    double ms = (1.0 - rl->tokens) * 1000.0 / rl->rate;
    return (int64_t)ms + 1;
}

void upstream_pacer_throttled(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->max_rate <= 0)
        return;
    refill(rl, now_ms);
    double floor = rl->max_rate / 10 > 1 ? rl->max_rate / 10 : 1;
    if (floor > rl->max_rate)
        floor = rl->max_rate;
    rl->rate = rl->rate / 2 > floor ? rl->rate / 2 : floor;
    rl->burst = burst_for(rl->rate);
    rl->tokens = 0;
}

void upstream_pacer_succeeded(upstream_pacer_t *rl)
{
    if (rl->max_rate <= 0 || rl->rate >= rl->max_rate)
        return;
    rl->rate += rl->max_rate / 500;
    if (rl->rate > rl->max_rate)
        rl->rate = rl->max_rate;
    rl->burst = burst_for(rl->rate);
}
