/*
 * Mirroring SCIM groups into Odeus workspace groups (--odeus-groups mirror; README, "Mirroring
 * groups into Odeus"). Three parts, one rule: the directory says who should be in each group, the
 * store remembers what Odeus holds, and the outbox carries every call.
 *
 * - Queueing (request workers, inside the change's transaction): a group created, renamed, deleted
 *   or whose members moved, and a seat that moved (an invite, a deactivation), become outbox rows of
 *   the group's queue (email "group:<SCIM group id>"): group_create, group_rename, group_delete,
 *   group_members. A group_members row carries no addresses: it makes the Odeus group equal to the
 *   directory when it goes out, up to ODEUS_GROUP_BATCH_MAX addresses per call, so the changes of
 *   one group batch and cancel out by themselves (added then removed before delivery: no call).
 * - Delivery (the delivery thread, gateway/outbox.c): gw_mirror_prepare plans a row's next call
 *   (or ends it without one), gw_mirror_record reads the answer into the store and says how the
 *   row goes on. A member whose seat has a pending row (its invite) waits for it.
 * - The drift check (`groups check`, and the server every --odeus-groups-check-interval):
 *   gw_mirror_check reads every mirrored group's members from Odeus and compares.
 *
 * Errors are values: the queueing functions return 1 when they queued rows, 0 when there was
 * nothing to queue, -1 when the store failed (store_errmsg); the others 0 or -1.
 */
#ifndef GATEWAY_MIRROR_H
#define GATEWAY_MIRROR_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "common/attr.h"
#include "gateway/config.h"
#include "store/store.h"
#include "upstream/client.h"
#include "upstream/odeus.h"

/* ---- queueing (request workers, inside the open transaction) ---------------------------------- */

/** SCIM group `group_id` was created with this name and externalId, with members (`has_members`) or not. */
GW_MUST_CHECK int gw_mirror_group_created(const gw_config_t *config, store_t *store, const char *group_id, const char *name,
                                          const char *external_id, int has_members);

/**
 * SCIM group `group_id` changed: its name from `old_name` to `name` (equal when it did not), and
 * its members when `members_changed`. A group that was not mirrored and now is (renamed into
 * --odeus-groups-only) is created.
 */
GW_MUST_CHECK int gw_mirror_group_changed(const gw_config_t *config, store_t *store, const char *group_id, const char *old_name,
                                          const char *name, const char *external_id, int members_changed);

/** SCIM group `group_id` was deleted: its Odeus group goes too. */
GW_MUST_CHECK int gw_mirror_group_deleted(const gw_config_t *config, store_t *store, const char *group_id);

/**
 * User `user_id`'s seat `email` was taken or given up (an invite, a deactivation, a deletion): the
 * groups it is in, or the mirror knows the address in, are synced after the seat's own call.
 */
GW_MUST_CHECK int gw_mirror_seat_moved(const gw_config_t *config, store_t *store, const char *user_id, const char *email);

/* ---- delivery (the delivery thread) ----------------------------------------------------------- */

/** 1 for the outbox actions of the mirror (group_create, group_rename, group_delete, group_members). */
int gw_mirror_is_action(const char *action);

typedef enum gw_mirror_step {
    GW_MIRROR_SEND,  /** make the call in `req` */
    GW_MIRROR_END,   /** the row ends: `state`, `outcome`, `message` */
    GW_MIRROR_LATER, /** the row is looked at again at `at_ms` (outcome says why) */
    GW_MIRROR_RETRY, /** the call failed in a way worth retrying with the outbox's backoff */
} gw_mirror_step_t;

/**
 * The plan of one mirror row's next step, and after gw_mirror_record its end. Owned by the caller
 * (usually on the heap, with the call in flight); gw_mirror_plan_clear releases what it holds.
 */
typedef struct gw_mirror_plan {
    gw_mirror_step_t step;
    odeus_group_request_t req;  /** SEND: the call; its strings point into the plan */
    store_outbox_state_t state; /** END: STORE_OUTBOX_DONE or STORE_OUTBOX_FAILED */
    const char *outcome;        /** END, LATER: a static name for the outbox (done, conflict, in_sync, ...) */
    char message[256];          /** END, LATER: the detail, for the log and `outbox list` */
    int64_t at_ms;              /** LATER: unix ms */
    /* private: what the call is about */
    char *group_id, *odeus_id, *name, *description;
    char **emails;
    int64_t *until; /** per email of an add: the end of its re-sends so far (0: none) */
    int attempts;   /** the row's attempts so far */
    size_t n_emails;
} gw_mirror_plan_t;

void gw_mirror_plan_clear(gw_mirror_plan_t *plan);

/** Plans the next step of mirror row `row` (the due oldest row of its group) at `now_ms`. Reads, and may write, `store`. */
void gw_mirror_prepare(const gw_config_t *config, store_t *store, const store_outbox_t *row, int64_t now_ms,
                       gw_mirror_plan_t *plan);

/**
 * Records the answer `res` to the call of `plan` (inside the delivery thread's transaction): the
 * store learns what Odeus holds, and `plan` says how the row goes on (END, LATER or RETRY). An
 * answer that shows the workspace has no group API stops the mirror (gw_mirror_unsupported).
 */
void gw_mirror_record(const gw_config_t *config, store_t *store, const store_outbox_t *row, gw_mirror_plan_t *plan,
                      const odeus_group_result_t *res, int64_t now_ms);

/** Queues the due re-sends of addresses Odeus did not find (pending invitees): a group_members row per group. 0 or -1. */
GW_MUST_CHECK int gw_mirror_resend_due(const gw_config_t *config, store_t *store, int64_t now_ms);

/** 1 once Odeus answered a group call with 404 on the route or 405: mirroring has stopped in this process. Any thread. */
int gw_mirror_unsupported(void);

/* ---- the drift check --------------------------------------------------------------------------- */

typedef struct gw_mirror_check_opts {
    int apply;          /** queue the calls that bring Odeus back in line */
    int remove_extra;   /** with apply: also remove the members Odeus has and the directory does not */
    atomic_int *cancel; /** may be NULL; set (by any thread) to end the check early, as a failure */
} gw_mirror_check_opts_t;

/** The figures of one check, also exported as gauges by the server. */
typedef struct gw_mirror_totals {
    size_t groups;          /** mirrored groups looked at */
    size_t groups_drifted;  /** of which differ from the directory */
    size_t groups_missing;  /** linked to an Odeus group that no longer exists */
    size_t groups_conflict; /** not mirrored: conflict */
    size_t extra;           /** members in Odeus who are not in the SCIM group (or hold no seat) */
    size_t missing_pending_invitee, missing_queued, missing_refused, missing_removed; /** SCIM members missing in Odeus, by why */
    size_t queued; /** with apply: groups whose calls were queued */
} gw_mirror_totals_t;

/**
 * Runs one check with `client` (its owner thread: the caller's; calls are made one at a time and
 * waited for) against `store`. Fills `totals` and returns the report as JSON (the caller's:
 * json_decref), or NULL when the store or Odeus failed, with the reason in `err`.
 */
json_t *gw_mirror_check(const gw_config_t *config, store_t *store, upstream_client_t *client, const gw_mirror_check_opts_t *opts,
                        gw_mirror_totals_t *totals, char *err, size_t err_len);

/**
 * The drift check inside the server (--odeus-groups-check-interval): a thread of its own, with its
 * own store connection and Odeus client, that runs gw_mirror_check (never --apply) every interval
 * and publishes its figures as gauges (gw_metrics_groups_drift). Started and stopped by the
 * delivery loop's owner. NULL when there is nothing to run (mode off, interval 0, dry-run) or on failure,
 * with the reason in `err` (empty when there was nothing to run). `config` must outlive it.
 */
typedef struct gw_mirror_checker gw_mirror_checker_t;
GW_MUST_CHECK gw_mirror_checker_t *gw_mirror_checker_start(const gw_config_t *config, char *err, size_t err_len);
/** Ends the thread (a check under way is cut short) and frees it. NULL is accepted. */
void gw_mirror_checker_stop(gw_mirror_checker_t *checker);

#endif
