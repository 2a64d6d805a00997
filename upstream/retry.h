/*
 * When to try an Odeus call again.
 */
#ifndef UPSTREAM_RETRY_H
#define UPSTREAM_RETRY_H

#include <stdint.h>

#include "upstream/odeus.h"

#define UPSTREAM_RETRY_BASE_MS 500
#define UPSTREAM_RETRY_CAP_MS (5 * 60 * 1000)
/** 401/403 is not retried quickly: the key has to be fixed by a person first. */
#define UPSTREAM_RETRY_AUTH_MIN_MS (60 * 1000)

/**
 * Delay before the next attempt after `failures` consecutive failed attempts (1 after the first
 * failure): exponential from UPSTREAM_RETRY_BASE_MS with jitter drawn from `random`, capped at
 * UPSTREAM_RETRY_CAP_MS, never shorter than `retry_after_ms` (when >= 0, itself capped), and at
 * least UPSTREAM_RETRY_AUTH_MIN_MS for ODEUS_OUTCOME_AUTH.
 */
int64_t upstream_retry_delay_ms(unsigned failures, odeus_outcome_t outcome, int64_t retry_after_ms, uint64_t random);

#endif
