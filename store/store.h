/*
 * The directory and its outbox in one SQLite file (WAL, synchronous=FULL).
 *
 * One store_t is one SQLite connection and belongs to one thread (each worker and the delivery
 * thread open their own). Writers use store_begin/store_commit so that a directory change and
 * its outbox row commit together, before the IdP is answered (design.md, "Nothing is lost").
 *
 * Errors: functions return STORE_OK or a negative store_status_t and, for STORE_ERROR, put a
 * message in the store (store_errmsg). A busy database is waited for (busy_timeout) before
 * STORE_ERROR is returned.
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1,
    STORE_CONFLICT = -2, /** userName already taken (case-insensitively) */
    STORE_ERROR = -3,
} store_status_t;

typedef struct store store_t;

/**
 * Opens (creating if needed) the database at `path`, sets WAL, synchronous=FULL, foreign keys and
 * a busy timeout, and creates or migrates the schema by PRAGMA user_version. Returns NULL with a
 * message in `err` on failure. Safe to call from several threads on the same file.
 */
store_t *store_open(const char *path, char *err, size_t err_len);
void store_close(store_t *store);
/**
 * Switches this connection to synchronous=NORMAL: its commits survive a crash of the process but
 * not of the machine until the next synchronous=FULL commit of any connection (which makes the
 * whole WAL durable, theirs included). Only for writes whose loss is harmless: the delivery
 * thread's outcome records (a lost one means the row is sent again, and Odeus calls are idempotent
 * in effect). STORE_ERROR on failure.
 */
store_status_t store_relax_sync(store_t *store);
const char *store_errmsg(const store_t *store);

/**
 * BEGIN IMMEDIATE / COMMIT / ROLLBACK. store_rollback is safe to call when no transaction is open.
 * Writers of one process take turns on a mutex (no busy-wait sleeps between them). store_commit
 * returns once the commit is durable, as with synchronous=FULL, but concurrent commits share one
 * fsync of the WAL (group commit); STORE_ERROR if that fsync fails (the commit then stands but may
 * not survive a power loss). Other writes outside a transaction stay synchronous=FULL.
 */
store_status_t store_begin(store_t *store);
store_status_t store_commit(store_t *store);
void store_rollback(store_t *store);
/**
 * A savepoint inside the open transaction, for one request's writes among others (gateway/batch.h):
 * store_mark sets it, store_mark_keep folds its writes into the transaction, store_mark_undo undoes
 * them alone and leaves the transaction open. Marks do not nest.
 */
store_status_t store_mark(store_t *store);
store_status_t store_mark_keep(store_t *store);
void store_mark_undo(store_t *store);

/**
 * A user row. In results every pointer is owned by the struct: release with store_user_clear().
 * As input the pointers are borrowed.
 */
typedef struct store_user {
    char *id;          /** UUID v4 text */
    char *user_name;   /** unique, case-insensitively */
    char *external_id; /** may be NULL */
    char *odeus_email; /** the email used at invite time; NULL until the first invite */
    int active;
    char *created; /** RFC 3339 UTC */
    char *last_modified;
    int64_t version;     /** meta.version; grows with every change */
    char *resource;      /** the canonical user as JSON text */
    char *rendered;      /** scim_user_render_text() of resource and id: the rendering without "meta". May be
                             NULL (rows written before schema 3, or out of memory): readers then render from
                             resource. Writers must give the one of this resource (or NULL), never a stale one. */
    const char **emails; /** input only: the emails[].value strings, for the email index */
    size_t n_emails;
} store_user_t;

void store_user_clear(store_user_t *user);

store_status_t store_user_get(store_t *store, const char *id, store_user_t *out);
/** Only the version (meta.version) of the user: STORE_OK, STORE_NOT_FOUND. */
store_status_t store_user_version(store_t *store, const char *id, int64_t *version);
/** STORE_CONFLICT when the userName is taken. */
store_status_t store_user_insert(store_t *store, const store_user_t *user);
/** Replaces every column of the row with user->id. STORE_NOT_FOUND, STORE_CONFLICT (rename onto a taken userName). */
store_status_t store_user_update(store_t *store, const store_user_t *user);
store_status_t store_user_delete(store_t *store, const char *id);

/** Which rows a scan visits. */
typedef enum store_index {
    STORE_SCAN_ALL,
    STORE_SCAN_ID,
    STORE_SCAN_USERNAME,    /** case-insensitive */
    STORE_SCAN_EXTERNAL_ID, /** exact */
    STORE_SCAN_EMAIL,       /** any email value, case-insensitive */
} store_index_t;

/**
 * Called per row in stable order (creation order); `user` is borrowed for the call only.
 * Return 0 to go on, non-zero to stop the scan.
 */
typedef int (*store_user_cb)(void *ctx, const store_user_t *user);

/** Visits the users matching `index` = `value` (value ignored for STORE_SCAN_ALL), in creation order. */
store_status_t store_user_scan(store_t *store, store_index_t index, const char *value, store_user_cb cb, void *ctx);
/** Visits at most `limit` users after skipping `offset`, in creation order. */
store_status_t store_user_page(store_t *store, size_t offset, size_t limit, store_user_cb cb, void *ctx);
store_status_t store_user_count(store_t *store, size_t *count);

/* ---- outbox ---------------------------------------------------------------------------------- */

typedef enum store_outbox_state {
    STORE_OUTBOX_PENDING,    /** waiting for (another) attempt */
    STORE_OUTBOX_DONE,       /** Odeus reached the goal state (outcome done/already/not_member) */
    STORE_OUTBOX_FAILED,     /** Odeus refused it permanently (outcome refused), or an operator dropped it (outcome dropped) */
    STORE_OUTBOX_SUPERSEDED, /** a newer change for the user made it moot before it was delivered (superseded_by) */
} store_outbox_state_t;

/** An outbox row. In results strings are owned (store_outbox_clear); as input, borrowed. */
typedef struct store_outbox {
    int64_t id;
    char *user_id;
    char *action; /** odeus_action_name(): invite, deactivate, update_role */
    char *email;
    char *role; /** may be NULL */
    store_outbox_state_t state;
    int attempts;
    int64_t created_at_ms;   /** unix ms */
    int64_t next_attempt_ms; /** unix ms */
    char *last_error;        /** may be NULL */
    char *outcome;           /** odeus_outcome_name() of the last attempt, may be NULL */
    char *prev_resource;     /** the user's canonical JSON before this change; NULL when the change created the user */
    int64_t result_version;  /** the user's version this change produced (0 for DELETE) */
    int64_t superseded_by;   /** results only: the row that superseded this one, 0 when none */
} store_outbox_t;

void store_outbox_clear(store_outbox_t *row);

/**
 * Inserts a pending row (id, state, attempts ignored) and returns its id. Atomic on its own, and
 * inside the caller's transaction part of it. In the same step it coalesces the user's queue:
 * - a deactivate supersedes every older pending row of the user (an invite or role change that
 *   has not gone out yet must never go out after the deactivation);
 * - an update_role supersedes older pending update_role rows (the newest role is what counts);
 * - an invite supersedes nothing: Odeus skips invites of active members, so a deactivation it
 *   follows must still go out first or the invite's role would be lost.
 * Superseded rows get state STORE_OUTBOX_SUPERSEDED, outcome "superseded" and superseded_by = the
 * new id (rows they had superseded are re-pointed too). Any pending-invitee re-send of the user is
 * cancelled: the new change is the user's current intent.
 */
store_status_t store_outbox_insert(store_t *store, const store_outbox_t *row, int64_t *id_out);
store_status_t store_outbox_get(store_t *store, int64_t id, store_outbox_t *out);

/**
 * Fills `rows` with up to `max` pending rows due at `now_ms`, oldest first, but only the oldest
 * pending row of each user (so one user's changes go out in commit order), skipping ids listed
 * in `skip` (rows already in flight). *n_out is how many were filled; clear each row.
 */
/** The same among the rows with an id above `after_id` only (0: all): the rows committed since a scan. */
store_status_t store_outbox_due_after(store_t *store, int64_t now_ms, int64_t after_id, const int64_t *skip, size_t n_skip,
                                      store_outbox_t *rows, size_t max, size_t *n_out);
store_status_t store_outbox_due(store_t *store, int64_t now_ms, const int64_t *skip, size_t n_skip, store_outbox_t *rows,
                                size_t max, size_t *n_out);

/** Earliest next_attempt_ms of any pending row; STORE_NOT_FOUND when none is pending. */
store_status_t store_outbox_next_due(store_t *store, int64_t *at_ms);

/** Records a failed attempt: attempts+1, next attempt time, outcome, last error. */
store_status_t store_outbox_reschedule(store_t *store, int64_t id, int64_t next_attempt_ms, const char *outcome,
                                       const char *last_error);
/**
 * Ends the row: state DONE or FAILED, outcome, attempts+1, done time. A row that was superseded
 * while its call was in flight keeps STORE_OUTBOX_SUPERSEDED (the outcome is still recorded).
 */
store_status_t store_outbox_finish(store_t *store, int64_t id, store_outbox_state_t state, const char *outcome,
                                   const char *last_error, int64_t now_ms);

/** The oldest pending row of `user_id` with `action` (NULL: any action); STORE_NOT_FOUND if none. */
/** *any = 1 when the user has a pending outbox row (of any kind). */
store_status_t store_outbox_user_pending(store_t *store, const char *user_id, int *any);
store_status_t store_outbox_pending_for_user(store_t *store, const char *user_id, const char *action, int64_t *id_out);

/** Number of pending rows. */
store_status_t store_outbox_pending_count(store_t *store, size_t *count);

/** Called once per action that has pending rows: how many, and the oldest one's created_at (unix ms). */
typedef void (*store_outbox_stat_cb)(void *ctx, const char *action, size_t count, int64_t oldest_created_ms);
/** Pending rows grouped by action (for metrics). */
store_status_t store_outbox_stats(store_t *store, store_outbox_stat_cb cb, void *ctx);

/** Ids of the rows superseded by row `id` (up to `max`; *n_out how many). */
store_status_t store_outbox_superseded_by(store_t *store, int64_t id, int64_t *ids, size_t max, size_t *n_out);

/** *yes = 1 when Odeus accepted an invite for `user_id` (a row invite/done/done), else 0. */
store_status_t store_outbox_invite_delivered(store_t *store, const char *user_id, int *yes);

/* ---- operator view (outbox_cli) ---- */

typedef struct store_outbox_stats {
    int64_t by_state[4];       /** indexed by store_outbox_state_t */
    int64_t oldest_pending_ms; /** created_at of the oldest pending row; 0 when none */
    int64_t next_attempt_ms;   /** earliest next attempt; 0 when none */
    int64_t max_attempts;      /** of pending rows */
    int64_t pending_auth;      /** pending rows whose last attempt met 401/403 */
    int64_t pending_deactivations;
    int64_t rechecks; /** pending-invitee re-sends scheduled */
} store_outbox_stats_t;

store_status_t store_outbox_get_stats(store_t *store, store_outbox_stats_t *out);

/**
 * Visits up to `limit` rows in state `state` (-1: any), pending rows in queue order (oldest first),
 * the others newest first. `row` is borrowed for the call; return non-zero to stop.
 */
typedef int (*store_outbox_cb)(void *ctx, const store_outbox_t *row);
store_status_t store_outbox_list(store_t *store, int state, size_t limit, store_outbox_cb cb, void *ctx);

/** Makes a pending row due at `now_ms`, or puts a failed row back in the queue. STORE_NOT_FOUND: no such row;
 * STORE_CONFLICT: the row is done or superseded. */
store_status_t store_outbox_retry(store_t *store, int64_t id, int64_t now_ms);
/** Puts every failed row back in the queue, due at `now_ms`; *count how many. */
store_status_t store_outbox_retry_failed(store_t *store, int64_t now_ms, size_t *count);
/** Takes a pending row out of the queue for good (state FAILED, outcome "dropped"). STORE_NOT_FOUND / STORE_CONFLICT
 * (not pending) as for store_outbox_retry. */
store_status_t store_outbox_drop(store_t *store, int64_t id, int64_t now_ms);

/* ---- pending-invitee re-sends ---------------------------------------------------------------- */

/**
 * A scheduled re-send of deactivate-user for a user Odeus answered 404 for while the gateway had
 * invited them: the invitation may still be accepted later. Strings owned (store_recheck_clear).
 */
typedef struct store_recheck {
    char *user_id;
    char *email;
    int64_t outbox_id; /** the deactivation that met the 404 */
    int64_t created_at_ms;
    int64_t next_at_ms;
    int64_t until_ms; /** no re-send after this */
    int sends;
    char *last_error; /** may be NULL */
} store_recheck_t;

void store_recheck_clear(store_recheck_t *row);
/** Schedules (or restarts) the re-sends of `user_id`: first at `first_ms`, none after `until_ms`. */
store_status_t store_recheck_schedule(store_t *store, const char *user_id, const char *email, int64_t outbox_id, int64_t now_ms,
                                      int64_t first_ms, int64_t until_ms);
/** Up to `max` re-sends due at `now_ms`, skipping users with a pending outbox row. */
store_status_t store_recheck_due(store_t *store, int64_t now_ms, store_recheck_t *rows, size_t max, size_t *n_out);
/** Earliest next re-send; STORE_NOT_FOUND when none is scheduled. */
store_status_t store_recheck_next_due(store_t *store, int64_t *at_ms);
/** Records a send (sends+1) and the next time. */
store_status_t store_recheck_reschedule(store_t *store, const char *user_id, int64_t next_ms, const char *last_error);
/** Ends the re-sends of `user_id` (STORE_OK also when there were none). */
store_status_t store_recheck_remove(store_t *store, const char *user_id);
store_status_t store_recheck_count(store_t *store, size_t *count);

#endif
