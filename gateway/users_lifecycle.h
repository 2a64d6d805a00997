/*
 * The lifecycle of a User change (README.md, "Lifecycle → Odeus"):
 * - planning: which Odeus call the change needs (invite, deactivate-user, update-user-role or
 *   none) and with which effective role;
 * - the commit: the directory row and, in the same transaction, its outbox row (with a snapshot
 *   of the row before, to undo a change Odeus refuses), into the worker's batch (batch.h);
 * - the answer: once committed and audited; when a call is needed, once the outbox settled its
 *   row or the deadline passed. A deactivation is answered only after Odeus confirmed it (else
 *   503 + Retry-After, still queued); grants answer once committed, unless Odeus refuses them
 *   within the deadline (then 400 and the change is undone).
 *
 * How the endpoints use it: gw_users_plan, then a pending change (gw_users_pending_new, the
 * fields marked "set by the caller"), gw_users_commit, then gw_users_answer_after_commit; a
 * request that writes nothing ends with gw_users_answer.
 *
 * Thread: the request's worker, for everything; settled outbox waiters come back to that worker
 * through gw_users_on_outbox_messages. Ownership: a pending change is malloc'd, because it
 * outlives its request when the client goes away (then its outcome is still audited and a
 * refused change still undone); a function said to take it frees it when it ends.
 */
#ifndef GATEWAY_USERS_LIFECYCLE_H
#define GATEWAY_USERS_LIFECYCLE_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <jansson.h>
#include <stdint.h>

#include "common/attr.h"
#include "gateway/audit.h"
#include "gateway/batch.h"
#include "gateway/config.h"
#include "gateway/outbox.h"
#include "gateway/respond.h"
#include "scim/error.h"
#include "scim/select.h"
#include "scim/user.h"
#include "store/store.h"
#include "upstream/odeus.h"

/**
 * The Odeus call a change needs. gw_users_plan fills it for the user alone; gw_users_commit then
 * applies the seat rule (README, "One seat per email"): a seat is an Odeus email, held while at
 * least one active user maps to it, with the highest effective role among them; only a change of
 * the seat makes a call. Strings are borrowed from the rows planned, or static.
 */
typedef struct gw_users_call {
    int call; /** 0: no call */
    odeus_action_t action;
    const char *email;
    const char *role; /** NULL for deactivate-user */
    /* the user's side of its seat, set with the call (by gw_users_plan, or by hand for a DELETE) */
    const char *seat;        /** the user's Odeus email; NULL when it never had one (then no seat applies) */
    int held_before;         /** the user was active with that email before the change */
    int held_after;          /** and is after it */
    const char *role_before; /** its effective role before (when held_before) and after (when held_after) */
    const char *role_after;
    const char *roles_role; /** the role its `roles` attribute names, or NULL (groups and the default come first/last) */
    /* set by gw_users_commit */
    int own_call; /** the call the user alone would need (its own transition) */
    odeus_action_t own_action;
    int answer_now;         /** a row is queued but the answer does not wait for it: a holder left a seat others keep,
                               or a grant found other rows queued for Odeus */
    gw_audit_seat_t shared; /** why the call differs from the user's own (reason NULL when it does not) */
} gw_users_call_t;

/** The directory write of a change. */
typedef enum gw_users_write { GW_USERS_INSERT, GW_USERS_UPDATE, GW_USERS_DELETE } gw_users_write_t;

/**
 * A change on its way to its answer: written into the worker's batch, then (after the commit)
 * audited and answered, or waiting for its outbox row. Made by gw_users_pending_new, freed by
 * gw_users_pending_free or by the function that takes it, on the worker thread.
 */
typedef struct gw_users_pending {
    /* private */
    gw_outbox_waiter_t waiter;
    h2o_timeout_entry_t timeout; /* the deadline of the outbox wait */
    gw_batch_item_t committed;   /* runs the audit entry and the answer after the commit */
    gw_worker_t *worker;
    gw_request_t *r;        /* NULL once the request went away */
    char request_id[32];    /* the request's, kept for the audit log after it went away */
    const char *token_name; /* config memory */
    const char *event;      /* static: user_created, user_deactivated... */
    int call;               /* the change needs an Odeus call (`action`) */
    int registered;         /* the waiter is registered with the outbox */
    char *role;             /* owned: the role sent with an invite or role change, or NULL */
    char *user_id;          /* owned */
    char *success_text;     /* owned: the answer as JSON text (gw_users_pending_answer_text), or NULL */
    size_t success_len;
    /* set by the caller (the answer's fields by gw_users_answer_after_commit when it is used) */
    odeus_action_t action;  /* the call the answer depends on; gw_users_pending_new's until changed */
    int success_status;     /* 200, 201 or 204 */
    json_t *success_body;   /* owned; NULL for 204 or when success_text holds the answer */
    int64_t version;        /* for the ETag of the success answer */
    int now_inactive;       /* the user is inactive or gone after the change */
    char *location;         /* owned; Location header of a 201 */
    int revertible;         /* 0 when waiting on a row an earlier request committed */
    char *snapshot;         /* owned: the row before the change (gw_users_snapshot_encode), NULL when it created the user */
    int64_t result_version; /* the version the change produced; 0 for a DELETE */
    gw_audit_seat_t shared; /* why the call is not the user's own (static strings), for the audit entry */
    const char *queued;     /* static: the action of a row queued without waiting for it (answer_now), or NULL */
} gw_users_pending_t;

/**
 * Which Odeus call a change of `old` (NULL for a new user; `old_user` its canonical JSON) into
 * `new_user` needs for the user alone, in *ch (with the user's side of its seat): invite when the
 * user becomes active, deactivate-user when an active user with an Odeus email becomes inactive,
 * update-user-role when the effective role (scim_user_odeus_role, else the default role) of an
 * active user changes. `next` gets the Odeus email (borrowed from `old` or `new_user`), chosen at
 * the first invite and kept after, and the effective role (static).
 * 0, or -1 with `err` set (400 invalidValue) when an active user has no email Odeus could use.
 */
GW_MUST_CHECK int gw_users_plan(const gw_config_t *cfg, const store_user_t *old, const json_t *old_user, const json_t *new_user,
                                store_user_t *next, gw_users_call_t *ch, scim_error_t *err);

/**
 * The effective Odeus role of a stored row: its odeus_role, or for rows written before that was
 * kept, the role computed from its resource (`cfg`'s default when none is named). Static string.
 */
const char *gw_users_row_role(const gw_config_t *cfg, const store_user_t *row);

/**
 * What user `user_id`'s groups say, as the current transaction sees them: its effective Odeus role
 * in *role (static: the highest role --group-role-map gives one of its groups; else `roles_role`,
 * what its `roles` attribute names, may be NULL; else the default role), and in *access whether
 * it may hold a seat (1 without --access-groups; with them, 1 when it is in one). 0, or -1 when
 * the store failed.
 */
GW_MUST_CHECK int gw_users_seat_state(gw_worker_t *w, const char *user_id, const char *roles_role, const char **role, int *access);

/** What a group change did to one member's Odeus role (gw_users_role_recompute). */
typedef struct gw_users_role_move {
    int moved;              /** its effective role, or whether it holds its seat, changed */
    const char *role;       /** static: the new effective role */
    int held;               /** it holds its seat now (active, and with --access-groups in one of them) */
    const char *call;       /** static: the action queued for its seat, or NULL (none needed, or the seat made it moot) */
    odeus_action_t action;  /** with `call`: the action */
    int64_t outbox_id;      /** with `call`: its outbox row */
    gw_audit_seat_t shared; /** why the seat's call differs from the user's own */
} gw_users_role_move_t;

/**
 * Inside the worker's open batch savepoint (the caller joined it): the groups of user `user_id`
 * changed, so its effective role, and with --access-groups whether it holds its seat, may have.
 * What moved is stored, and the seat's call (invite, deactivate-user, update-user-role, or none:
 * the seat rule) is queued in the outbox in the same transaction, without a waiter: group requests
 * answer once committed; the rows carry `cause` (e.g. "group <id>", for `outbox list`). An
 * unknown user moves nothing. 0, or -1 when the store failed (the caller drops the savepoint).
 */
GW_MUST_CHECK int gw_users_role_recompute(gw_worker_t *w, const char *user_id, const char *cause, gw_users_role_move_t *out);

/**
 * Fills the email index of `row` from the canonical user: row->emails points at `emails`, which
 * must hold SCIM_USER_MAX_EMAILS (scim_user_parse refuses more) and outlive the row's use; the strings are borrowed from `user`.
 * Sets the row's sort values too (gw_users_row_set_sort_values): every writer of a row calls this.
 */
void gw_users_row_set_emails(store_user_t *row, const json_t *user, const char **emails);

/**
 * A snapshot of `row`, kept in the outbox row so that a change Odeus refuses can be undone.
 * Malloc'd JSON text (the caller's; usually handed to pending->snapshot), or NULL when a required
 * field is missing.
 */
char *gw_users_snapshot_encode(const store_user_t *row);

/**
 * A new pending change for request `r` on user `user_id` (copied), expecting Odeus call
 * `action`.
 */
gw_users_pending_t *gw_users_pending_new(gw_request_t *r, odeus_action_t action, const char *user_id);
/** Frees `p` and what it owns. Only for a change not taken and not registered with the outbox. */
void gw_users_pending_free(gw_users_pending_t *p);

/**
 * The success answer as text when nothing is to be trimmed: `stored` (the stored rendering) with
 * `meta` spliced in, no JSON tree. 0 with p->success_text set, or -1: the caller renders instead.
 */
GW_MUST_CHECK int gw_users_pending_answer_text(gw_users_pending_t *p, const scim_select_t *sel, const char *stored,
                                               const scim_user_meta_t *meta);

/**
 * Writes the user change and, in the same transaction, its outbox row into the worker's batch;
 * registers `p` for that row. Inside the transaction it applies the seat rule to `ch` (the call
 * becomes the seat's: maybe none, or another; see gw_users_call_t), so the other holders it reads
 * cannot change before the commit. A change whose call the seat made moot leaves a finished
 * outbox note (store_outbox_note) saying why. `if_version` (from If-Match; 0 when none) must still be the stored
 * version inside the transaction, else 412: another request may have changed the user since it
 * was read. Without If-Match, `read_version` (the version the request built its change on; 0 for
 * a new user) must be: else another worker thread committed a change of the same user in between,
 * and the request is run again on the new state rather than overwriting it.
 * Returns 0 when the change is in the batch (it commits at the end of the pass: answer through
 * gw_users_answer_after_commit), 1 for "run again" (nothing changed, `err` untouched), or -1
 * with `err` set and nothing changed. `p` stays the caller's whatever the result.
 */
GW_MUST_CHECK int gw_users_commit(gw_request_t *r, gw_users_write_t op, const store_user_t *row, gw_users_call_t *ch,
                                  gw_users_pending_t *p, int64_t if_version, int64_t read_version, scim_error_t *err);

/**
 * A change is in the batch (gw_users_commit returned 0): its audit entry `event` (static) and its
 * answer follow the commit: `status` with `body` (the success answer, taken; NULL for 204 or when
 * p->success_text is set) and the ETag of `version`. `now_inactive`: the user is inactive or gone
 * after the change. Takes `p`.
 */
void gw_users_answer_after_commit(gw_request_t *r, const char *event, const gw_users_call_t *ch, gw_users_pending_t *p, int status,
                                  json_t *body, int64_t version, int now_inactive);

/**
 * The answer of a change that needs no write, or whose write has committed: at once when no
 * Odeus call is needed, else once the outbox settles (or the deadline passes). A user left
 * inactive whose deactivation is still queued from an earlier request waits for that row (the
 * truthful answer). Takes `p` (its success fields set).
 */
void gw_users_answer(gw_users_pending_t *p);

/**
 * When the user p->user_id has a deactivation still queued from an earlier request, the truthful
 * answer waits for it too. Returns 1 when `p` now waits (it is taken and will answer), 0 when
 * nothing is queued (`p` stays the caller's).
 */
GW_MUST_CHECK int gw_users_wait_queued_deactivation(gw_users_pending_t *p);

/**
 * The worker's outbox receiver (h2o_multithread_register_receiver on the worker's queue): settled
 * waiters come back here, on the worker thread, and their requests are audited and answered.
 */
void gw_users_on_outbox_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

#endif
