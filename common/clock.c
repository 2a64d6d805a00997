#include "common/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_clock_unix_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

int64_t gw_clock_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t gw_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_digits(char *at, unsigned value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        at[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

/*
 * Written by hand: it runs three times per change (records, audit, logs), and snprintf plus
 * gmtime_r (which takes glibc's time-zone lock) cost ten times the arithmetic. Days to civil date
 * after Howard Hinnant's days_from_civil inverse, proleptic Gregorian.
 */
char *gw_clock_rfc3339(int64_t unix_ms, char *buf, size_t len)
{
    if (len < GW_RFC3339_LEN) {
        if (len > 0)
            buf[0] = '\0';
        return buf;
    }
    if (unix_ms < 0 || unix_ms >= INT64_C(253402300800000)) { /* outside years 1970-9999 */
        time_t secs = (time_t)(unix_ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
        return buf;
    }
    int64_t secs = unix_ms / 1000, days = secs / 86400;
    unsigned sod = (unsigned)(secs % 86400), ms = (unsigned)(unix_ms % 1000);
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    unsigned year = (unsigned)(yoe + era * 400) + (month <= 2);
    memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
    put_digits(buf, year, 4);
    put_digits(buf + 5, month, 2);
    put_digits(buf + 8, day, 2);
    put_digits(buf + 11, sod / 3600, 2);
    put_digits(buf + 14, sod / 60 % 60, 2);
    put_digits(buf + 17, sod % 60, 2);
    put_digits(buf + 20, ms, 3);
    return buf;
}
