/*
 * upstream/retry.c: backoff growth, jitter, caps and floors.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "upstream/retry.h"

/* The nominal (un-jittered) delay after `failures` failures. */
static int64_t nominal(unsigned failures)
{
    int64_t d = UPSTREAM_RETRY_BASE_MS;
    for (unsigned i = 1; i < failures && d < UPSTREAM_RETRY_CAP_MS; i++)
        d *= 2;
    return d < UPSTREAM_RETRY_CAP_MS ? d : UPSTREAM_RETRY_CAP_MS;
}

static uint64_t next_random(uint64_t *s)
{
    /* splitmix64: deterministic, and covers the whole 64-bit range */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_growth(void **state)
{
    (void)state;
    /* random == nominal gives the top of the full-jitter range: the nominal delay itself */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, -1, 500), 500);
    assert_int_equal(upstream_retry_delay_ms(2, ODEUS_OUTCOME_RETRY, -1, 1000), 1000);
    assert_int_equal(upstream_retry_delay_ms(3, ODEUS_OUTCOME_RETRY, -1, 2000), 2000);
    assert_int_equal(upstream_retry_delay_ms(4, ODEUS_OUTCOME_RETRY, -1, 4000), 4000);
    for (unsigned f = 1; f <= 12; f++) {
        int64_t d = nominal(f);
        assert_int_equal(upstream_retry_delay_ms(f, ODEUS_OUTCOME_RETRY, -1, (uint64_t)d), d);
        /* random 0 gives the bottom: no wait at all */
        assert_int_equal(upstream_retry_delay_ms(f, ODEUS_OUTCOME_RETRY, -1, 0), 0);
        /* one past the top wraps to the bottom: the range is [0, d], both ends included */
        assert_int_equal(upstream_retry_delay_ms(f, ODEUS_OUTCOME_RETRY, -1, (uint64_t)d + 1), 0);
    }
    assert_int_equal(nominal(3), 2000);
    /* 0 failures is treated as the first */
    assert_int_equal(upstream_retry_delay_ms(0, ODEUS_OUTCOME_RETRY, -1, 500), 500);
}

static void test_jitter_range(void **state)
{
    (void)state;
    uint64_t seed = 42;

    for (unsigned f = 1; f <= 14; f++) {
        int64_t d = nominal(f), lo = INT64_MAX, hi = INT64_MIN, sum = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t v = upstream_retry_delay_ms(f, ODEUS_OUTCOME_RETRY, -1, next_random(&seed));
            assert_in_range(v, 0, d);
            if (v < lo)
                lo = v;
            if (v > hi)
                hi = v;
            sum += v;
        }
        /* full jitter: spread over the whole range, both quarters reached, mean near d/2 */
        assert_true(lo < d / 4);
        assert_true(hi > d - d / 4);
        assert_in_range(sum / 2000, d / 2 - d / 8, d / 2 + d / 8);
    }
    /* deterministic in its random input */
    assert_int_equal(upstream_retry_delay_ms(5, ODEUS_OUTCOME_RETRY, -1, 12345),
                     upstream_retry_delay_ms(5, ODEUS_OUTCOME_RETRY, -1, 12345));
}

static void test_cap(void **state)
{
    (void)state;
    /* 500 << 9 = 256000 is still below the cap, 500 << 10 is not */
    assert_int_equal(upstream_retry_delay_ms(10, ODEUS_OUTCOME_RETRY, -1, 256000), 256000);
    assert_int_equal(upstream_retry_delay_ms(11, ODEUS_OUTCOME_RETRY, -1, UPSTREAM_RETRY_CAP_MS), UPSTREAM_RETRY_CAP_MS);
    assert_in_range(upstream_retry_delay_ms(11, ODEUS_OUTCOME_RETRY, -1, UINT64_MAX), 0, UPSTREAM_RETRY_CAP_MS);
    assert_int_equal(upstream_retry_delay_ms(20, ODEUS_OUTCOME_RETRY, -1, UPSTREAM_RETRY_CAP_MS), UPSTREAM_RETRY_CAP_MS);
    assert_int_equal(upstream_retry_delay_ms(20, ODEUS_OUTCOME_RETRY, -1, 0), 0);
    /* a configured cap */
    assert_int_equal(upstream_retry_delay_capped_ms(20, ODEUS_OUTCOME_RETRY, -1, 10000, 10000), 10000);
    assert_int_equal(upstream_retry_delay_capped_ms(20, ODEUS_OUTCOME_RETRY, -1, 10001, 10000), 0);
    assert_int_equal(upstream_retry_delay_capped_ms(2, ODEUS_OUTCOME_RETRY, -1, 1000, 10000), 1000);
    /* Retry-After beyond the configured cap is capped too */
    assert_int_equal(upstream_retry_delay_capped_ms(1, ODEUS_OUTCOME_RETRY, 60000, 0, 10000), 10000);
    /* 0 or negative: the default */
    assert_int_equal(upstream_retry_delay_capped_ms(30, ODEUS_OUTCOME_RETRY, -1, UPSTREAM_RETRY_CAP_MS, 0), UPSTREAM_RETRY_CAP_MS);
}

static void test_huge_failure_counts(void **state)
{
    (void)state;
    const unsigned counts[] = {29, 30, 31, 32, 33, 39, 40, 41, 63, 64, 65, 1000, UINT_MAX - 1, UINT_MAX};
    uint64_t seed = 7;

    /* no shift overflow (UBSan would abort) and still within [0, cap] */
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        for (int k = 0; k < 100; k++) {
            int64_t v = upstream_retry_delay_ms(counts[i], ODEUS_OUTCOME_RETRY, -1, next_random(&seed));
            assert_in_range(v, 0, UPSTREAM_RETRY_CAP_MS);
        }
        assert_int_equal(upstream_retry_delay_ms(counts[i], ODEUS_OUTCOME_RETRY, -1, UINT64_MAX),
                         (int64_t)(UINT64_MAX % (UPSTREAM_RETRY_CAP_MS + 1)));
        /* a huge cap: the shift is still bounded, the result within it */
        assert_in_range(upstream_retry_delay_capped_ms(counts[i], ODEUS_OUTCOME_RETRY, -1, UINT64_MAX, INT64_MAX / 2), 0,
                        INT64_MAX / 2);
    }
}

static void test_retry_after_floor(void **state)
{
    (void)state;
    /* longer than the backoff: honoured */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, 1000, 0), 1000);
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, 120000, 250), 120000);
    /* shorter than the drawn backoff: the backoff wins */
    assert_int_equal(upstream_retry_delay_ms(6, ODEUS_OUTCOME_RETRY, 1000, 16000), 16000);
    assert_int_equal(upstream_retry_delay_ms(6, ODEUS_OUTCOME_RETRY, 1000, 0), 1000);
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, 0, 250), 250);
    /* absent */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, -1, 250), 250);
    /* absurd: capped */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, INT64_MAX, 0), UPSTREAM_RETRY_CAP_MS);
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, 3600 * 1000, 0), UPSTREAM_RETRY_CAP_MS);
    assert_int_equal(upstream_retry_delay_ms(UINT_MAX, ODEUS_OUTCOME_RETRY, INT64_MAX, UINT64_MAX), UPSTREAM_RETRY_CAP_MS);
}

static void test_auth_floor(void **state)
{
    (void)state;
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_AUTH, -1, 0), UPSTREAM_RETRY_AUTH_MIN_MS);
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_AUTH, 1000, 0), UPSTREAM_RETRY_AUTH_MIN_MS);
    /* the floor does not shorten longer delays */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_AUTH, 200000, 0), 200000);
    assert_int_equal(upstream_retry_delay_ms(30, ODEUS_OUTCOME_AUTH, -1, UPSTREAM_RETRY_CAP_MS), UPSTREAM_RETRY_CAP_MS);
    /* even above a short configured cap: a broken key is never hammered */
    assert_int_equal(upstream_retry_delay_capped_ms(1, ODEUS_OUTCOME_AUTH, -1, 0, 5000), UPSTREAM_RETRY_AUTH_MIN_MS);
    /* other outcomes have no such floor */
    assert_int_equal(upstream_retry_delay_ms(1, ODEUS_OUTCOME_RETRY, -1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_jitter_range),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_huge_failure_counts),
        cmocka_unit_test(test_retry_after_floor),
        cmocka_unit_test(test_auth_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
