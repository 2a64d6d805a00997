/*
 * upstream/breaker.c: the circuit breaker's state machine, driven with explicit times (the pacer: test_pacer.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upstream/breaker.h"

static void test_closed_until_threshold(void **state)
{
    (void)state;
    upstream_breaker_t b;
    upstream_breaker_init(&b, 3, 1000, 8000);
    assert_int_equal(upstream_breaker_allow(&b, 0), UPSTREAM_BREAKER_PASS);
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_FAILURE, -1, 0), 0);
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_FAILURE, -1, 0), 0);
    /* a success in between resets the count */
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_SUCCESS, -1, 0), 0);
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_FAILURE, -1, 0), 0);
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_FAILURE, -1, 0), 0);
    assert_int_equal(b.state, UPSTREAM_BREAKER_CLOSED);
    assert_int_equal(upstream_breaker_record(&b, 10, UPSTREAM_BREAKER_FAILURE, -1, 0), 1);
    assert_int_equal(b.state, UPSTREAM_BREAKER_OPEN);
    assert_int_equal(upstream_breaker_allow(&b, 500), UPSTREAM_BREAKER_DENY);
    assert_int_equal(upstream_breaker_wait_ms(&b, 500), 510);
}

static void test_half_open_probe(void **state)
{
    (void)state;
    upstream_breaker_t b;
    upstream_breaker_init(&b, 1, 1000, 8000);
    assert_int_equal(upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_FAILURE, -1, 0), 1);
    assert_int_equal(upstream_breaker_allow(&b, 999), UPSTREAM_BREAKER_DENY);
    /* the pause is over: exactly one probe */
    assert_int_equal(upstream_breaker_allow(&b, 1000), UPSTREAM_BREAKER_PROBE);
    assert_int_equal(b.state, UPSTREAM_BREAKER_HALF_OPEN);
    assert_int_equal(upstream_breaker_allow(&b, 1001), UPSTREAM_BREAKER_DENY);
    assert_int_equal(upstream_breaker_wait_ms(&b, 1001), -1);
    /* a late result of an older call does not decide */
    assert_int_equal(upstream_breaker_record(&b, 1002, UPSTREAM_BREAKER_SUCCESS, -1, 0), 0);
    assert_int_equal(b.state, UPSTREAM_BREAKER_HALF_OPEN);
    /* the probe fails: open again, for twice as long */
    assert_int_equal(upstream_breaker_record(&b, 1100, UPSTREAM_BREAKER_FAILURE, -1, 1), 1);
    assert_int_equal(b.state, UPSTREAM_BREAKER_OPEN);
    assert_int_equal(b.open_until_ms, 3100);
    assert_int_equal(upstream_breaker_allow(&b, 3100), UPSTREAM_BREAKER_PROBE);
    assert_int_equal(upstream_breaker_record(&b, 3200, UPSTREAM_BREAKER_FAILURE, -1, 1), 1);
    assert_int_equal(b.open_until_ms, 3200 + 4000);
    assert_int_equal(upstream_breaker_allow(&b, 7200), UPSTREAM_BREAKER_PROBE);
    assert_int_equal(upstream_breaker_record(&b, 7300, UPSTREAM_BREAKER_FAILURE, -1, 1), 1);
    assert_int_equal(upstream_breaker_allow(&b, 15300), UPSTREAM_BREAKER_PROBE);
    assert_int_equal(upstream_breaker_record(&b, 15300, UPSTREAM_BREAKER_FAILURE, -1, 1), 1);
    /* capped at the maximum pause */
    assert_int_equal(b.open_until_ms, 15300 + 8000);
    /* the probe succeeds: closed, and the next opening starts from the base pause again */
    assert_int_equal(upstream_breaker_allow(&b, 23300), UPSTREAM_BREAKER_PROBE);
    assert_int_equal(upstream_breaker_record(&b, 23400, UPSTREAM_BREAKER_SUCCESS, -1, 1), 0);
    assert_int_equal(b.state, UPSTREAM_BREAKER_CLOSED);
    assert_int_equal(upstream_breaker_allow(&b, 23400), UPSTREAM_BREAKER_PASS);
    assert_int_equal(upstream_breaker_record(&b, 30000, UPSTREAM_BREAKER_FAILURE, -1, 0), 1);
    assert_int_equal(b.open_until_ms, 31000);
}

static void test_throttled_opens_at_once_for_retry_after(void **state)
{
    (void)state;
    upstream_breaker_t b;
    upstream_breaker_init(&b, 5, 1000, 60000);
    assert_int_equal(upstream_breaker_record(&b, 100, UPSTREAM_BREAKER_THROTTLED, 3000, 0), 1);
    assert_int_equal(b.state, UPSTREAM_BREAKER_OPEN);
    assert_int_equal(b.open_until_ms, 3100);
    /* a 429 of a call that was already in flight pushes the pause out, never in */
    assert_int_equal(upstream_breaker_record(&b, 200, UPSTREAM_BREAKER_THROTTLED, 5000, 0), 0);
    assert_int_equal(b.open_until_ms, 5200);
    assert_int_equal(upstream_breaker_record(&b, 300, UPSTREAM_BREAKER_THROTTLED, 1000, 0), 0);
    assert_int_equal(b.open_until_ms, 5200);
    /* an absurd Retry-After is bounded by the longest pause */
    upstream_breaker_init(&b, 5, 1000, 60000);
    upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_THROTTLED, 3600 * 1000, 0);
    assert_int_equal(b.open_until_ms, 60000);
    /* without Retry-After: the base pause */
    upstream_breaker_init(&b, 5, 1000, 60000);
    upstream_breaker_record(&b, 0, UPSTREAM_BREAKER_THROTTLED, -1, 0);
    assert_int_equal(b.open_until_ms, 1000);
    assert_string_equal(upstream_breaker_state_name(b.state), "open");
}

static void test_init_defaults(void **state)
{
    (void)state;
    upstream_breaker_t b;
    upstream_breaker_init(&b, 0, 0, -5);
    assert_int_equal(b.threshold, 1);
    assert_int_equal(b.base_open_ms, 1000);
    assert_int_equal(b.max_open_ms, 60000);
    upstream_breaker_init(&b, 2, 5000, 100);
    assert_int_equal(b.max_open_ms, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_until_threshold),
        cmocka_unit_test(test_half_open_probe),
        cmocka_unit_test(test_throttled_opens_at_once_for_retry_after),
        cmocka_unit_test(test_init_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
