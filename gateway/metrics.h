/*
 * Process-wide metrics in the Prometheus text format (version 0.0.4), served at /metrics.
 *
 * Recording is lock-free: counters are atomics. A (route, method, status) series is created
 * once under a mutex the first time it is seen and then only incremented; routes are the static
 * route patterns of router.c, so the number of series is small and bounded (extra series beyond
 * the table size are counted in one overflow series instead of being dropped silently).
 * The audit log counts its own entries (audit.h); the renderer reads them from there.
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/config.h"
#include "store/store.h"
#include "upstream/odeus.h"

typedef enum gw_metrics_auth_failure {
    GW_METRICS_AUTH_MISSING,
    GW_METRICS_AUTH_INVALID,
    GW_METRICS_AUTH_EXPIRED,
    GW_METRICS_AUTH_ADDRESS, /** source address not in the allow-list */
    GW_METRICS_AUTH_N
} gw_metrics_auth_failure_t;

/** One answered request. `route` must be a static string (the route pattern). */
void gw_metrics_request(const char *route, const char *method, size_t method_len, int status, int64_t latency_us);
/** One finished Odeus call, or one address of a batched invite; a non-final outcome also counts as a retry. */
void gw_metrics_odeus_call(odeus_action_t action, odeus_outcome_t outcome);
/** One invite call that carried `invites` addresses (a batch of invite rows; 1 when unbatched). */
void gw_metrics_invite_call(size_t invites);
/** One round of a worker's flush thread (flusher.h): `passes` event-loop passes made durable in `us` microseconds. */
void gw_metrics_flush(size_t passes, int64_t us);
void gw_metrics_auth_failure(gw_metrics_auth_failure_t why);
/** A connection closed at accept because --max-connections were open. */
void gw_metrics_connection_refused(void);
/** One 429 for the token in rate-limit slot `token_slot` (tokens.h). */
void gw_metrics_rate_limited(size_t token_slot);
/** Zeroes the 429 count of `token_slot` (the slot went to another token name). */
void gw_metrics_rate_limited_reset(size_t token_slot);
/**
 * One user change whose Odeus call the seat rule changed: none (another active user holds the
 * same email) or a different one (the seat's role moved instead of the user's). `planned` is the
 * call the user alone would have needed.
 */
void gw_metrics_seat_shared(odeus_action_t planned);
/** A member a group request named that cannot be one: `nested` 1 for a group, 0 for no such user. */
void gw_metrics_group_member_skipped(int nested);
/** A TLS certificate was (re)loaded (ok = 1, with its notAfter in unix seconds) or failed to. */
void gw_metrics_tls_loaded(int ok, int64_t not_after_s);

/**
 * The Odeus circuit breaker's state, by name (a static string such as
 * upstream_breaker_state_name() returns); exported as gateway_odeus_circuit_state{state} 1 once
 * it has been set. For the delivery thread: one call wherever the state changes.
 */
void gw_metrics_circuit(const char *state_name);
/**
 * The pacer's current rate towards Odeus (calls per second; 0: unpaced), exported as
 * gateway_odeus_rate_per_second once set. For the delivery thread, whenever the rate changes.
 */
void gw_metrics_odeus_rate(double per_sec);

/** One finished group call of the mirror (gateway/mirror.h), by call and outcome. */
void gw_metrics_group_call(odeus_group_call_t call, odeus_outcome_t outcome);
/** One mirror row that ended in a conflict (409: the name is taken, or the group is managed by Odeus' SCIM). */
void gw_metrics_group_conflict(void);
/** The workspace has no group API: exported as gateway_odeus_groups_unsupported 1 from then on. */
void gw_metrics_groups_unsupported(void);

/** The figures of the last drift check of the mirrored groups (gw_mirror_check), exported as gauges once set. */
typedef struct gw_metrics_drift {
    size_t groups, groups_drifted, groups_missing, groups_conflict, extra;
    size_t missing_pending_invitee, missing_queued, missing_refused, missing_removed;
    int64_t checked_at_ms;
} gw_metrics_drift_t;
void gw_metrics_groups_drift(const gw_metrics_drift_t *drift);

/** What the renderer needs from the running server. */
typedef struct gw_metrics_state {
    const gw_config_t *config;
    const struct gw_tokenset *tokens; /** the live token set (tokens.h), for the per-token series */
    store_t *store;                   /** for the outbox gauges; may be NULL */
    int odeus_auth_failing;
    unsigned connections_open; /** client connections open now, all workers */
    int64_t now_ms;            /** unix ms, for ages */
} gw_metrics_state_t;

/** Renders every metric; returns malloc'd text (free()) and its length. */
char *gw_metrics_render(const gw_metrics_state_t *state, size_t *len);

#endif
