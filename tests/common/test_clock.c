/* common/clock: the hand-written RFC 3339 formatter agrees with gmtime_r + snprintf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"

static void reference(int64_t unix_ms, char *buf, size_t len)
{
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, (int)(unix_ms % 1000));
}

static void check(int64_t unix_ms)
{
    char want[64], got[GW_RFC3339_LEN];
    reference(unix_ms, want, sizeof(want));
    assert_ptr_equal(gw_clock_rfc3339(unix_ms, got, sizeof(got)), got);
    assert_string_equal(got, want);
}

static void test_rfc3339_fixed_points(void **state)
{
    (void)state;
    char buf[GW_RFC3339_LEN];
    assert_string_equal(gw_clock_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(gw_clock_rfc3339(INT64_C(951782400123), buf, sizeof(buf)), "2000-02-29T00:00:00.123Z");
    assert_string_equal(gw_clock_rfc3339(INT64_C(1795780799999), buf, sizeof(buf)), "2026-11-27T11:59:59.999Z");
    assert_string_equal(gw_clock_rfc3339(INT64_C(4107542400000), buf, sizeof(buf)), "2100-03-01T00:00:00.000Z");
    assert_string_equal(gw_clock_rfc3339(INT64_C(253402300799999), buf, sizeof(buf)), "9999-12-31T23:59:59.999Z");
}

/* Every day boundary from 1970 to 2200, and a pseudo-random spread of instants up to year 9999. */
static void test_rfc3339_against_gmtime(void **state)
{
    (void)state;
    for (int64_t day = 0; day < 84000; day++) {
        check(day * 86400000);
        check(day * 86400000 + 86399999);
    }
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        check((int64_t)(x % UINT64_C(253402300800000)));
    }
}

static void test_rfc3339_short_buffer(void **state)
{
    (void)state;
    char buf[8] = "xxxxxxx";
    assert_string_equal(gw_clock_rfc3339(0, buf, sizeof(buf)), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_fixed_points),
        cmocka_unit_test(test_rfc3339_against_gmtime),
        cmocka_unit_test(test_rfc3339_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
