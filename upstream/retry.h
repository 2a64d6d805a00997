/*
 * When to try an Odeus call again.
 */
#ifndef UPSTREAM_RETRY_H
#define UPSTREAM_RETRY_H

#include <stdint.h>

#include "upstream/odeus.h"

#define UPSTREAM_RETRY_BASE_MS 500
/** The default cap of one delay (--odeus-retry-max-delay-ms). */
#define UPSTREAM_RETRY_CAP_MS (5 * 60 * 1000)
/** 401/403 is not retried quickly: the key has to be fixed by a person first. */
#define UPSTREAM_RETRY_AUTH_MIN_MS (60 * 1000)

/**
 * Delay before the next attempt after `failures` consecutive failed attempts (1 after the first
 * failure): "full jitter", uniform in [0, min(cap, base * 2^(failures-1))] drawn from `random`;
 * never shorter than `retry_after_ms` (when >= 0, itself capped at `cap_ms`), and at least
 * UPSTREAM_RETRY_AUTH_MIN_MS for ODEUS_OUTCOME_AUTH (even above the cap). `cap_ms` <= 0 means
 * UPSTREAM_RETRY_CAP_MS. Pure.
 */
int64_t upstream_retry_delay_capped_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random,
                                       int64_t cap_ms);

/** upstream_retry_delay_capped_ms with the default cap. */
int64_t upstream_retry_delay_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random);

#endif
