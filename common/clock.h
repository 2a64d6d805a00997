/*
 * Time for the gateway: wall clock for records and logs, monotonic for deadlines.
 */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define GW_RFC3339_LEN 32

/** Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t gw_clock_unix_ms(void);
/** Milliseconds on CLOCK_MONOTONIC, for deadlines and latencies. */
int64_t gw_clock_mono_ms(void);
/** Microseconds on CLOCK_MONOTONIC. */
int64_t gw_clock_mono_us(void);
/** Writes unix_ms as RFC 3339 UTC with milliseconds ("2026-11-27T10:00:00.123Z") into buf (>= GW_RFC3339_LEN). */
char *gw_clock_rfc3339(int64_t unix_ms, char *buf, size_t len);

#endif
