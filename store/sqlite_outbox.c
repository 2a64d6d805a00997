/*
 * The outbox as the request handlers and the delivery loop use it: a change queued in the same
 * transaction as the directory change (coalescing its seat's queue), the due rows, and the
 * outcome of each attempt.
 *
 * The unit of order is the seat (column seat: the Odeus email in lower case), not the SCIM user:
 * Odeus knows a person by email only, so two users with one email (a re-hire's old and new IdP
 * account) share one queue. Every query below that orders, coalesces or cancels says "seat".
 *
 * Leases (several replicas on one PostgreSQL database; harmless with one): a replica claims a row
 * right before each call (store_outbox_claim: lease_owner, lease_until), in one conditional
 * UPDATE that re-checks everything that made the row due, so two replicas never both hold it and
 * a row is never claimed while an older row of its seat is unfinished, whoever holds that one.
 * Why at the call and not when the due rows are read: a scan reads more rows than pacing and the
 * concurrency cap let start, and rows claimed but not sent would wait on one replica's pacer while
 * another sits idle. A claim covers one attempt: the record of the attempt releases it
 * (lease_until NULL) and the next attempt claims again, by whichever replica is free then. A
 * lease that runs out (its replica died, or hangs) lets another replica claim the row; the old
 * holder's late record then changes nothing (the records' "lease_owner = ?" test), so it cannot
 * overwrite the new holder's.
 */
#include "store/sqlite.h"

#include <stdlib.h>

const store_sql_t store__outbox_sql[SQL__COUNT] = {
    [SQL_OUTBOX_INSERT] = {"insert outbox row",
                           "INSERT INTO outbox (user_id, action, email, seat, role, state, attempts, created_at, next_attempt_at,"
                           " last_error, outcome, prev_resource, result_version, cause)"
                           " VALUES (?1, ?2, ?3, lower(?3), ?4, 0, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    /* a change that needed no call: finished as it is written, so that `outbox list` says why */
    [SQL_OUTBOX_INSERT_NOTE] = {"insert outbox note",
                                "INSERT INTO outbox (user_id, action, email, seat, role, state, attempts, created_at,"
                                " next_attempt_at, last_error, outcome, done_at, prev_resource, result_version, cause)"
                                " VALUES (?1, ?2, ?3, lower(?3), ?4, 1, 0, ?5, ?5, ?6, ?7, ?5, NULL, ?8, ?9)"},
    [SQL_OUTBOX_GET] = {"get outbox row", "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE id = ?1"},
    /*
     * Only the oldest pending row of each seat qualifies, due or not: a newer change must not
     * overtake an older one that is waiting for its retry or is in flight (the caller drops the
     * in-flight ids from the result, which then also holds back that seat's newer rows).
     * Deactivations first: when Odeus is the bottleneck (a mass offboarding, a rate limit), access
     * removal must not queue behind grants. Within a kind, commit order.
     */
    [SQL_OUTBOX_DUE] = {"due outbox rows", "SELECT " OUTBOX_COLUMNS " FROM outbox AS o WHERE " OUTBOX_DUE_WHERE},
    /* The same for rows newer than ?2 only: a range of the rowid, whatever the history's size. */
    [SQL_OUTBOX_DUE_AFTER] = {"due outbox rows",
                              "SELECT " OUTBOX_COLUMNS " FROM outbox AS o WHERE o.id > ?2 AND " OUTBOX_DUE_WHERE},
    [SQL_OUTBOX_NEXT_DUE] = {"next due outbox row", "SELECT min(next_attempt_at) FROM outbox WHERE state = 0"},
    /* Records of an attempt: only by the lease holder (?5, ?6, ?3: NULL matches unclaimed rows only). */
    [SQL_OUTBOX_RESCHEDULE] = {"reschedule outbox row",
                               "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, outcome = ?3, last_error = ?4,"
                               " lease_until = NULL WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?5)"},
    [SQL_OUTBOX_SET_BATCH] = {"note outbox batch",
                              "UPDATE outbox SET batch_id = ?2 WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?3)"},
    /* A row superseded while its call was in flight stays superseded; its outcome is still recorded. */
    [SQL_OUTBOX_FINISH] = {"finish outbox row",
                           "UPDATE outbox SET state = CASE WHEN state = 0 THEN ?2 ELSE state END, outcome = ?3,"
                           " last_error = ?4, attempts = attempts + 1, done_at = coalesce(done_at, ?5), lease_until = NULL"
                           " WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?6)"},
    /*
     * The claim re-checks, on the row as it is now, what made it due: pending, its attempt time
     * come, no live lease of another owner, no older pending row of its seat and no older call of
     * its seat on the wire.
     */
    [SQL_OUTBOX_CLAIM] = {"claim outbox row",
                          "UPDATE outbox SET lease_owner = ?2, lease_until = ?4 WHERE id = ?1 AND state = 0"
                          " AND next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until <= ?3 OR lease_owner = ?2)"
                          " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.seat = outbox.seat AND p.state = 0"
                          " AND p.id < outbox.id) AND NOT " OUTBOX_OLDER_ON_WIRE("outbox", "?3")},
    [SQL_OUTBOX_EXISTS] = {"outbox row", "SELECT 1 FROM outbox WHERE id = ?1"},
    [SQL_OUTBOX_PENDING_FOR_USER] = {"pending outbox row",
                                     "SELECT id FROM outbox WHERE user_id = ?1 AND state = 0 AND (?2 IS NULL OR action = ?2)"
                                     " ORDER BY id LIMIT 1"},
    [SQL_OUTBOX_PENDING_COUNT] = {"count pending outbox rows", "SELECT count(*) FROM outbox WHERE state = 0"},
    [SQL_OUTBOX_ACTION_STATS] =
        {"outbox stats",
         "SELECT action, count(*), min(created_at), sum(outcome = 'held') FROM outbox WHERE state = 0 GROUP BY action"},
    [SQL_OUTBOX_OLDER_PENDING] = {"older pending outbox row",
                                  "SELECT 1 FROM outbox WHERE seat = lower(?1) AND state = 0 AND id < ?2 LIMIT 1"},
    /* rows already superseded by a row that is superseded now follow the newest one */
    [SQL_OUTBOX_REPOINT] =
        {"repoint superseded rows",
         "UPDATE outbox SET superseded_by = ?2 WHERE state = 3 AND superseded_by IN"
         " (SELECT id FROM outbox WHERE seat = lower(?1) AND state = 0 AND id < ?2 AND (?3 IS NULL OR action = ?3))"},
    [SQL_OUTBOX_SUPERSEDE_ALL] = {"supersede outbox rows",
                                  "UPDATE outbox SET state = 3, outcome = 'superseded', superseded_by = ?2, done_at = ?3"
                                  " WHERE seat = lower(?1) AND state = 0 AND id < ?2"},
    [SQL_OUTBOX_SUPERSEDE_ROLE] = {"supersede outbox rows",
                                   "UPDATE outbox SET state = 3, outcome = 'superseded', superseded_by = ?2, done_at = ?3"
                                   " WHERE seat = lower(?1) AND state = 0 AND id < ?2 AND action = ?4"},
    [SQL_OUTBOX_SUPERSEDED_BY] = {"superseded rows", "SELECT id FROM outbox WHERE superseded_by = ?1"},
    [SQL_OUTBOX_DELIVERED_INVITE] = {"delivered invite", "SELECT 1 FROM outbox WHERE seat = lower(?1) AND action = 'invite'"
                                                         " AND state = 1 AND outcome = 'done' LIMIT 1"},
};

void store_outbox_clear(store_outbox_t *row)
{
    if (row == NULL)
        return;
    free(row->user_id);
    free(row->action);
    free(row->email);
    free(row->role);
    free(row->last_error);
    free(row->outcome);
    free(row->prev_resource);
    free(row->cause);
    memset(row, 0, sizeof(*row));
}

void store__outbox_from_row(store_q_t *q, store_outbox_t *out)
{
    memset(out, 0, sizeof(*out));
    int64_t id = q_col_int64(q, 0), state = q_col_int64(q, 5), attempts = q_col_int64(q, 6);
    /* values no store function writes: the database was changed by something else */
    if (state < 0 || state >= STORE_OUTBOX_STATES) {
        q_fail(q, STORE_ERROR, "outbox row %lld has unknown state %lld", (long long)id, (long long)state);
        return;
    }
    if (attempts < 0 || attempts > INT32_MAX) {
        q_fail(q, STORE_ERROR, "outbox row %lld has %lld attempts", (long long)id, (long long)attempts);
        return;
    }
    out->id = id;
    out->state = (store_outbox_state_t)state;
    out->attempts = (int)attempts;
    out->created_at_ms = q_col_int64(q, 7);
    out->next_attempt_ms = q_col_int64(q, 8);
    out->result_version = q_col_int64(q, 12);
    out->superseded_by = q_col_int64(q, 13);
    q_col_dup(q, 1, &out->user_id);
    q_col_dup(q, 2, &out->action);
    q_col_dup(q, 3, &out->email);
    q_col_dup(q, 4, &out->role);
    q_col_dup(q, 9, &out->last_error);
    q_col_dup(q, 10, &out->outcome);
    q_col_dup(q, 11, &out->prev_resource);
    q_col_dup(q, 14, &out->cause);
    out->batch_id = q_col_int64(q, 15);
    if (!q_ok(q))
        store_outbox_clear(out);
}

static store_status_t insert_row(store_t *s, const store_outbox_t *row, int64_t *id)
{
    store_q_t q = q_begin(s, SQL_OUTBOX_INSERT);
    q_text(&q, 1, row->user_id);
    q_text(&q, 2, row->action);
    q_text(&q, 3, row->email);
    q_text(&q, 4, row->role);
    q_int64(&q, 5, row->created_at_ms);
    q_int64(&q, 6, row->next_attempt_ms);
    q_text(&q, 7, row->last_error);
    q_text(&q, 8, row->outcome);
    q_text(&q, 9, row->prev_resource);
    q_int64(&q, 10, row->result_version);
    q_text(&q, 11, row->cause);
    if (q_step(&q) == Q_DONE)
        *id = q_last_id(&q);
    return q_end(&q, STORE_OK);
}

/* STORE_OK when seat `email` has a pending row older than `before`, STORE_NOT_FOUND when not. */
static store_status_t older_pending(store_t *s, const char *email, int64_t before)
{
    store_q_t q = q_begin(s, SQL_OUTBOX_OLDER_PENDING);
    q_text(&q, 1, email);
    q_int64(&q, 2, before);
    return q_end(&q, q_step(&q) == Q_ROW ? STORE_OK : STORE_NOT_FOUND);
}

/*
 * Supersedes the seat's pending rows older than `new_id`: all of them for a deactivation (or a
 * group's deletion), only those of the same action for a role change (or a group's membership
 * sync). The rows those had superseded are re-pointed at `new_id` first.
 */
static store_status_t supersede(store_t *s, const store_outbox_t *row, int64_t new_id, int deactivate)
{
    store_q_t q = q_begin(s, SQL_OUTBOX_REPOINT);
    q_text(&q, 1, row->email);
    q_int64(&q, 2, new_id);
    q_text(&q, 3, deactivate ? NULL : row->action);
    q_step(&q);
    if (q_end(&q, STORE_OK) != STORE_OK)
        return STORE_ERROR;
    q = q_begin(s, deactivate ? SQL_OUTBOX_SUPERSEDE_ALL : SQL_OUTBOX_SUPERSEDE_ROLE);
    q_text(&q, 1, row->email);
    q_int64(&q, 2, new_id);
    q_int64(&q, 3, row->created_at_ms);
    if (!deactivate)
        q_text(&q, 4, row->action);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_outbox_insert(store_t *store, const store_outbox_t *row, int64_t *id_out)
{
    if (row->action == NULL || row->user_id == NULL) {
        store__error(store, "outbox row without user or action");
        return STORE_ERROR;
    }
    store_op_scope_t scope;
    if (store__op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    int64_t id = 0;
    /* a group's queue (seat "group:<id>") coalesces as a user's: its deletion makes every older
       change moot, and its newest membership sync reads the directory as the older ones would */
    int deactivate = strcmp(row->action, "deactivate") == 0 || strcmp(row->action, "group_delete") == 0;
    int role = strcmp(row->action, "update_role") == 0 || strcmp(row->action, "group_members") == 0;
    store_status_t ret = insert_row(store, row, &id);
    /* Most changes find nothing queued for their seat: one look-up instead of two updates. */
    if (ret == STORE_OK && (deactivate || role)) {
        ret = older_pending(store, row->email, id);
        if (ret == STORE_OK)
            ret = supersede(store, row, id, deactivate);
        else if (ret == STORE_NOT_FOUND)
            ret = STORE_OK;
    }
    if (ret == STORE_OK)
        ret = store__recheck_remove_seat(store, row->email);
    ret = store__op_leave(store, scope, ret);
    if (ret == STORE_OK && id_out != NULL)
        *id_out = id;
    return ret;
}

store_status_t store_outbox_get(store_t *store, int64_t id, store_outbox_t *out)
{
    memset(out, 0, sizeof(*out));
    store_q_t q = q_begin(store, SQL_OUTBOX_GET);
    q_int64(&q, 1, id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW)
        store__outbox_from_row(&q, out);
    return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
}

static int in_list(int64_t id, const int64_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == id)
            return 1;
    return 0;
}

store_status_t store_outbox_due(store_t *store, int64_t now_ms, const int64_t *skip, size_t n_skip, store_outbox_t *rows,
                                size_t max, size_t *n_out)
{
    return store_outbox_due_after(store, now_ms, 0, skip, n_skip, rows, max, n_out);
}

store_status_t store_outbox_due_after(store_t *store, int64_t now_ms, int64_t after_id, const int64_t *skip, size_t n_skip,
                                      store_outbox_t *rows, size_t max, size_t *n_out)
{
    *n_out = 0;
    if (max == 0)
        return STORE_OK;
    store_q_t q = q_begin(store, after_id > 0 ? SQL_OUTBOX_DUE_AFTER : SQL_OUTBOX_DUE);
    q_int64(&q, 1, now_ms);
    if (after_id > 0)
        q_int64(&q, 2, after_id);
    q_text(&q, 4, store->owner);
    /* PostgreSQL locks the rows it returns (FOR UPDATE SKIP LOCKED): no more than can be used */
    if (store->pg != NULL)
        q_size(&q, 3, max + n_skip);
    /*
     * The in-flight list is short (bounded by the delivery concurrency), so it is filtered here
     * rather than bound into the SQL. Dropping a user's oldest row drops the user: the query never
     * returns a newer row while an older one is pending.
     */
    size_t n = 0;
    while (n < max && q_step(&q) == Q_ROW) {
        if (skip != NULL && in_list(q_col_int64(&q, 0), skip, n_skip))
            continue;
        store__outbox_from_row(&q, &rows[n]);
        if (q_ok(&q))
            n++;
    }
    store_status_t ret = q_end(&q, STORE_OK);
    if (ret != STORE_OK) {
        for (size_t i = 0; i < n; i++)
            store_outbox_clear(&rows[i]);
        n = 0;
    }
    *n_out = n;
    return ret;
}

store_status_t store_outbox_next_due(store_t *store, int64_t *at_ms)
{
    return q_scalar(store, SQL_OUTBOX_NEXT_DUE, at_ms);
}

/* STORE_OK when row `id` exists, STORE_NOT_FOUND when not. */
static store_status_t row_exists(store_t *s, int64_t id)
{
    store_q_t q = q_begin(s, SQL_OUTBOX_EXISTS);
    q_int64(&q, 1, id);
    return q_end(&q, q_step(&q) == Q_ROW ? STORE_OK : STORE_NOT_FOUND);
}

/*
 * Ends the UPDATE of outbox row `id` by its lease holder: STORE_NOT_FOUND when there was no such
 * row, STORE_CONFLICT when another owner holds its lease.
 */
static store_status_t end_row_update(store_q_t *q, int64_t id)
{
    int none = q_step(q) == Q_DONE && q_changes(q) == 0;
    store_t *s = q->s;
    store_status_t ret = q_end(q, STORE_OK);
    if (ret != STORE_OK || !none)
        return ret;
    ret = row_exists(s, id);
    if (ret == STORE_NOT_FOUND)
        store__error(s, "no such outbox row");
    else if (ret == STORE_OK) {
        store__error(s, "outbox row %lld is leased by another replica, which records its outcome", (long long)id);
        ret = STORE_CONFLICT;
    }
    return ret;
}

void store_outbox_set_owner(store_t *store, const char *owner)
{
    free(store->owner);
    store->owner = owner != NULL ? gw_strdup(owner) : NULL;
}

store_status_t store_outbox_claim(store_t *store, int64_t id, int64_t now_ms, int64_t until_ms)
{
    if (store->owner == NULL) {
        store__error(store, "outbox claim without a lease owner");
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, SQL_OUTBOX_CLAIM);
    q_int64(&q, 1, id);
    q_text(&q, 2, store->owner);
    q_int64(&q, 3, now_ms);
    q_int64(&q, 4, until_ms);
    if (q_step(&q) == Q_DONE && q_changes(&q) == 0)
        q_fail(&q, STORE_CONFLICT,
               "outbox row %lld cannot be claimed now (not due, leased by another replica, or behind an "
               "older row of its seat)",
               (long long)id);
    return q_end(&q, STORE_OK);
}

int store_shared(const store_t *store)
{
    return store->pg != NULL;
}

store_status_t store_outbox_reschedule(store_t *store, int64_t id, int64_t next_attempt_ms, const char *outcome,
                                       const char *last_error)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_RESCHEDULE);
    q_int64(&q, 1, id);
    q_int64(&q, 2, next_attempt_ms);
    q_text(&q, 3, outcome);
    q_text(&q, 4, last_error);
    q_text(&q, 5, store->owner);
    return end_row_update(&q, id);
}

store_status_t store_outbox_finish(store_t *store, int64_t id, store_outbox_state_t state, const char *outcome,
                                   const char *last_error, int64_t now_ms)
{
    if (state != STORE_OUTBOX_DONE && state != STORE_OUTBOX_FAILED) {
        store__error(store, "outbox finish: state %d is not an end state", (int)state);
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, SQL_OUTBOX_FINISH);
    q_int64(&q, 1, id);
    q_int64(&q, 2, state);
    q_text(&q, 3, outcome);
    q_text(&q, 4, last_error);
    q_int64(&q, 5, now_ms);
    q_text(&q, 6, store->owner);
    return end_row_update(&q, id);
}

store_status_t store_outbox_set_batch(store_t *store, int64_t id, int64_t batch_id)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_SET_BATCH);
    q_int64(&q, 1, id);
    if (batch_id > 0)
        q_int64(&q, 2, batch_id);
    else
        q_text(&q, 2, NULL);
    q_text(&q, 3, store->owner);
    return end_row_update(&q, id);
}

store_status_t store_outbox_note(store_t *store, const store_outbox_t *row, int64_t *id_out)
{
    if (row->action == NULL || row->user_id == NULL || row->email == NULL || row->outcome == NULL) {
        store__error(store, "outbox note without user, action, email or outcome");
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, SQL_OUTBOX_INSERT_NOTE);
    q_text(&q, 1, row->user_id);
    q_text(&q, 2, row->action);
    q_text(&q, 3, row->email);
    q_text(&q, 4, row->role);
    q_int64(&q, 5, row->created_at_ms);
    q_text(&q, 6, row->last_error);
    q_text(&q, 7, row->outcome);
    q_int64(&q, 8, row->result_version);
    q_text(&q, 9, row->cause);
    if (q_step(&q) == Q_DONE && id_out != NULL)
        *id_out = q_last_id(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_outbox_seat_pending(store_t *store, const char *email, int *any)
{
    store_status_t ret = older_pending(store, email, INT64_MAX);
    *any = ret == STORE_OK;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

store_status_t store_outbox_pending_for_user(store_t *store, const char *user_id, const char *action, int64_t *id_out)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_PENDING_FOR_USER);
    q_text(&q, 1, user_id);
    q_text(&q, 2, action);
    q_step_t r = q_step(&q);
    if (r == Q_ROW)
        *id_out = q_col_int64(&q, 0);
    return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
}

store_status_t store_outbox_pending_count(store_t *store, size_t *count)
{
    int64_t n = 0;
    store_status_t ret = q_scalar(store, SQL_OUTBOX_PENDING_COUNT, &n);
    if (ret == STORE_OK)
        *count = (size_t)n;
    return ret;
}

store_status_t store_outbox_stats(store_t *store, store_outbox_stat_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_ACTION_STATS);
    while (q_step(&q) == Q_ROW) {
        const char *action = q_col_text(&q, 0);
        if (!q_ok(&q))
            break;
        cb(ctx, action, (size_t)q_col_int64(&q, 1), (size_t)q_col_int64(&q, 3), q_col_int64(&q, 2));
    }
    return q_end(&q, STORE_OK);
}

store_status_t store_outbox_superseded_by(store_t *store, int64_t id, store_outbox_id_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_SUPERSEDED_BY);
    q_int64(&q, 1, id);
    while (q_step(&q) == Q_ROW && cb(ctx, q_col_int64(&q, 0)) == 0)
        ;
    return q_end(&q, STORE_OK);
}

store_status_t store_outbox_invite_delivered(store_t *store, const char *email, int *yes)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_DELIVERED_INVITE);
    q_text(&q, 1, email);
    *yes = q_step(&q) == Q_ROW;
    return q_end(&q, STORE_OK);
}
