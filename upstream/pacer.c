/*
 * Token bucket with AIMD rate (see pacer.h). The burst is a fraction of a second's worth of
 * calls so that a full bucket after a quiet spell cannot trip a limit Odeus enforces per second.
 *
 * Growth is linear, not TCP's slow start: doubling overshoots a limit enforced with a bucket of
 * its own by as much as that bucket holds before the first 429 arrives, and halving from the
 * overshoot lands the rate no nearer the limit than it started. The step is a quarter of the
 * starting rate per second (20/s: 5/s more each second, 50/s reached in 6 s of backlog), so a
 * deployment that starts low also probes gently.
 *
 * Growth needs demand: the rate only grows while calls wait on tokens (`limited`, cleared when
 * the bucket is found full again). An idle or lightly loaded gateway keeps its rate, so it cannot
 * drift to the ceiling during a quiet spell and then burst into Odeus at a rate it never tried.
 */
#include "upstream/pacer.h"

static double burst_for(double rate)
{
    double b = rate / 4;
    return b < 1 ? 1 : b;
}

void upstream_pacer_init(upstream_pacer_t *rl, double per_sec, double max_per_sec, int64_t now_ms)
{
    double start = per_sec > 0 ? per_sec : 0;
    *rl = (upstream_pacer_t){.start_rate = start, .rate = start, .last_ms = now_ms, .decreased_ms = INT64_MIN};
    rl->max_rate = max_per_sec > start ? max_per_sec : start;
    rl->min_rate = start / 10 > 1 ? start / 10 : 1;
    if (rl->min_rate > start)
        rl->min_rate = start;
    rl->step = start / 4 > 0.5 ? start / 4 : 0.5;
    rl->burst = burst_for(rl->rate);
    rl->tokens = rl->burst;
}

static void refill(upstream_pacer_t *rl, int64_t now_ms)
{
    if (now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
        if (rl->tokens >= rl->burst) {
            rl->tokens = rl->burst;
            rl->limited = 0; /* demand fell below the rate: the backlog that justified growth is gone */
        }
    }
    rl->last_ms = now_ms;
}

int upstream_pacer_take(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->start_rate <= 0)
        return 1;
    refill(rl, now_ms);
    if (rl->tokens < 1.0) {
        rl->limited = 1;
        return 0;
    }
    rl->tokens -= 1.0;
    return 1;
}

int64_t upstream_pacer_wait_ms(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->start_rate <= 0)
        return 0;
    refill(rl, now_ms);
    if (rl->tokens >= 1.0)
        return 0;
    rl->limited = 1;
    double ms = (1.0 - rl->tokens) * 1000.0 / rl->rate;
    return (int64_t)ms + 1;
}

int upstream_pacer_throttled(upstream_pacer_t *rl, int64_t sent_ms, int64_t now_ms)
{
    if (rl->start_rate <= 0)
        return 0;
    refill(rl, now_ms);
    rl->tokens = 0;
    if (rl->decreased_ms != INT64_MIN && sent_ms <= rl->decreased_ms)
        return 0;
    rl->decreased_ms = now_ms;
    double before = rl->rate;
    rl->rate = rl->rate / 2 > rl->min_rate ? rl->rate / 2 : rl->min_rate;
    rl->burst = burst_for(rl->rate);
    return rl->rate != before;
}

int upstream_pacer_succeeded(upstream_pacer_t *rl, int64_t now_ms)
{
    if (rl->start_rate <= 0 || rl->rate >= rl->max_rate)
        return 0;
    refill(rl, now_ms);
    if (!rl->limited)
        return 0;
    rl->rate += rl->step / rl->rate;
    if (rl->rate > rl->max_rate)
        rl->rate = rl->max_rate;
    rl->burst = burst_for(rl->rate);
    return 1;
}
