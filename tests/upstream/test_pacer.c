/*
 * upstream/pacer.c: the token bucket and its AIMD rate, driven with explicit times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upstream/pacer.h"

/*
 * A backlog for `ms` milliseconds from `*t`: every call the pacer lets out is answered at once
 * without 429, and every millisecond a call is waiting. Returns the calls made.
 */
static int backlog(upstream_pacer_t *rl, int64_t *t, int64_t ms)
{
    int calls = 0;
    for (int64_t end = *t + ms; *t < end; (*t)++) {
        while (upstream_pacer_wait_ms(rl, *t) == 0) {
            assert_int_equal(upstream_pacer_take(rl, *t), 1);
            upstream_pacer_succeeded(rl, *t);
            calls++;
        }
    }
    return calls;
}

static void test_token_bucket(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    upstream_pacer_init(&rl, 40, 0, 0);
    /* the burst is a quarter second's worth */
    int taken = 0;
    while (upstream_pacer_take(&rl, 0))
        taken++;
    assert_int_equal(taken, 10);
    assert_int_equal(upstream_pacer_wait_ms(&rl, 0), 26);
    assert_int_equal(upstream_pacer_take(&rl, 24), 0);
    assert_int_equal(upstream_pacer_take(&rl, 25), 1);
    /* over a long run the rate holds: 40/s for 10 s gives 400 (+ the burst), not more */
    taken = 0;
    for (int64_t t = 25; t <= 10025; t++)
        while (upstream_pacer_take(&rl, t))
            taken++;
    assert_in_range(taken, 399, 401);
    /* unlimited, whatever the ceiling */
    upstream_pacer_init(&rl, 0, 200, 0);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(upstream_pacer_take(&rl, 0), 1);
    assert_int_equal(upstream_pacer_wait_ms(&rl, 0), 0);
    upstream_pacer_succeeded(&rl, 0);
    assert_true(rl.rate == 0);
}

static void test_grows_linearly_under_backlog(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    int64_t t = 0;
    upstream_pacer_init(&rl, 20, 200, t);
    /* a quarter of the start per second: 20 + 5 x 6 = 50 after 6 s */
    int calls = backlog(&rl, &t, 6000);
    assert_in_range((int64_t)rl.rate, 48, 51);
    /* the calls made follow the ramp: 6 s at 35/s on average */
    assert_in_range(calls, 190, 225);
    /* and on up to the ceiling, not beyond */
    backlog(&rl, &t, 60000);
    assert_true(rl.rate == 200);
    int64_t t0 = t;
    calls = backlog(&rl, &t, 10000);
    assert_in_range(calls, 1995, 2055);
    assert_int_equal(t - t0, 10000);
}

static void test_no_growth_without_backlog(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    upstream_pacer_init(&rl, 20, 200, 0);
    /* 10 calls a second for a minute, under the rate: no call ever waits, the rate stays */
    for (int64_t t = 0; t < 60000; t += 100) {
        assert_int_equal(upstream_pacer_wait_ms(&rl, t), 0);
        assert_int_equal(upstream_pacer_take(&rl, t), 1);
        assert_int_equal(upstream_pacer_succeeded(&rl, t), 0);
    }
    assert_true(rl.rate == 20);
    /* a short backlog grows it; once the bucket has filled again (demand below the rate), the
     * successes of the last calls grow it no more */
    int64_t t = 60000;
    backlog(&rl, &t, 1000);
    double grown = rl.rate;
    assert_true(grown > 24 && grown < 26);
    t += 1000;
    assert_int_equal(upstream_pacer_take(&rl, t), 1);
    assert_int_equal(upstream_pacer_succeeded(&rl, t + 1), 0);
    assert_true(rl.rate == grown);
    /* a burst that fits in the bucket is no backlog either */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(upstream_pacer_take(&rl, t + 2000), 1);
        upstream_pacer_succeeded(&rl, t + 2000);
    }
    assert_true(rl.rate == grown);
}

static void test_no_growth_when_ceiling_is_start(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    int64_t t = 0;
    upstream_pacer_init(&rl, 20, 0, t);
    assert_true(rl.max_rate == 20);
    backlog(&rl, &t, 10000);
    assert_true(rl.rate == 20);
    upstream_pacer_init(&rl, 20, 20, t);
    backlog(&rl, &t, 10000);
    assert_true(rl.rate == 20);
    /* a ceiling below the start is no ceiling below it */
    upstream_pacer_init(&rl, 20, 5, t);
    assert_true(rl.max_rate == 20 && rl.rate == 20);
    /* after a 429 the rate wins its way back to the start, and stops there */
    upstream_pacer_throttled(&rl, t, t);
    assert_true(rl.rate == 10);
    backlog(&rl, &t, 10000);
    assert_true(rl.rate == 20);
}

static void test_multiplicative_decrease(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    upstream_pacer_init(&rl, 100, 200, 0);
    assert_int_equal(upstream_pacer_throttled(&rl, 0, 10), 1);
    assert_true(rl.rate == 50);
    /* the bucket is empty */
    assert_int_equal(upstream_pacer_take(&rl, 10), 0);
    /* the other calls already on the wire at the first 429 were sent at the old rate: no second halving */
    assert_int_equal(upstream_pacer_throttled(&rl, 5, 12), 0);
    assert_int_equal(upstream_pacer_throttled(&rl, 10, 14), 0);
    assert_true(rl.rate == 50);
    /* a call sent at the new rate and refused again halves it again */
    assert_int_equal(upstream_pacer_throttled(&rl, 11, 30), 1);
    assert_true(rl.rate == 25);
    for (int64_t t = 40; t < 100; t++)
        upstream_pacer_throttled(&rl, t, t + 1);
    /* the floor: a tenth of the starting rate */
    assert_true(rl.rate == 10);
    assert_int_equal(upstream_pacer_throttled(&rl, 200, 201), 0);
    /* a slow starting rate never falls below 1/s */
    upstream_pacer_init(&rl, 2, 0, 0);
    for (int64_t t = 0; t < 10; t++)
        upstream_pacer_throttled(&rl, t, t + 1);
    assert_true(rl.rate == 1);
}

/*
 * The target of issue 14, as a model: 1,500 calls through an Odeus that admits 50 a second
 * (a token bucket holding a second's worth, 429 beyond, as the mock's rate-limited mode), where a
 * 429 also pauses every call for the second Retry-After asks (the breaker's part). Calls are
 * answered at once. From the defaults (20/s, ceiling 200) they finish within 1.3 x the 30 s floor,
 * with under 2% refused.
 */
static void test_finds_a_limit(void **state)
{
    (void)state;
    upstream_pacer_t rl;
    int64_t t = 0;
    upstream_pacer_init(&rl, 20, 200, t);
    double odeus_tokens = 50;
    int done = 0, refused = 0;
    int64_t paused_until = 0;
    for (; done < 1500 && t < 60000; t++) {
        if (t > 0) {
            odeus_tokens += 50.0 / 1000;
            if (odeus_tokens > 50)
                odeus_tokens = 50;
        }
        if (t < paused_until)
            continue;
        while (done < 1500 && t >= paused_until && upstream_pacer_wait_ms(&rl, t) == 0) {
            assert_int_equal(upstream_pacer_take(&rl, t), 1);
            if (odeus_tokens >= 1) {
                odeus_tokens -= 1;
                upstream_pacer_succeeded(&rl, t);
                done++;
            } else {
                upstream_pacer_throttled(&rl, t, t);
                refused++;
                paused_until = t + 1000;
            }
        }
    }
    print_message("model: 1500 calls in %lld ms, %d refused, rate %.1f/s at the end\n", (long long)t, refused, rl.rate);
    assert_int_equal(done, 1500);
    assert_true(t <= 39000);
    assert_true(refused * 50 < done + refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_grows_linearly_under_backlog),
        cmocka_unit_test(test_no_growth_without_backlog),
        cmocka_unit_test(test_no_growth_when_ceiling_is_start),
        cmocka_unit_test(test_multiplicative_decrease),
        cmocka_unit_test(test_finds_a_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
