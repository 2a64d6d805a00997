/*
 * Inbound rate limit: one token bucket per configured SCIM token, shared by all workers.
 * A bucket holds at most `burst` requests and refills at `per_minute`/60 per second.
 */
#ifndef GATEWAY_RATELIMIT_H
#define GATEWAY_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw_ratelimit gw_ratelimit_t;

/** `n_keys` buckets, full at start. per_minute 0 disables the limit. */
gw_ratelimit_t *gw_ratelimit_create(size_t n_keys, unsigned per_minute, unsigned burst);
void gw_ratelimit_free(gw_ratelimit_t *rl);

/**
 * Takes one request from bucket `key` at monotonic time `now_ms`. Returns 0 when allowed, else
 * the whole seconds (at least 1) after which one request will be allowed again (Retry-After).
 * Thread-safe; a short mutex per bucket.
 */
int64_t gw_ratelimit_take(gw_ratelimit_t *rl, size_t key, int64_t now_ms);

/** Fills bucket `key` again, as at start (for a key given to another token). Thread-safe. */
void gw_ratelimit_reset(gw_ratelimit_t *rl, size_t key);

#endif
