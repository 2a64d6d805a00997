/*
 * The pending-invitee re-sends: Odeus cannot revoke a pending invitation, so a deactivation it
 * answered 404 for, for a user the gateway had invited, is sent again on a schedule until the
 * invitation could no longer be accepted (README, "Invitees who never joined").
 */
#include "store/sqlite.h"

#include <stdlib.h>

const store_sql_t store__recheck_sql[SQL__COUNT] = {
    [SQL_RECHECK_SCHEDULE] = {"schedule re-send",
                              "INSERT OR REPLACE INTO invitee_recheck (user_id, email, seat, outbox_id, created_at, next_at,"
                              " until_at, sends, action, role) VALUES (?1, ?2, lower(?2), ?3, ?4, ?5, ?6, 0, ?7, ?8)"},
    /*
     * A seat with a newer change queued is that change's business, not the re-send's; a seat that
     * an active user holds again must never be deactivated by a re-send (store_outbox_insert
     * cancels them when that user's change is queued; this is the second lock on the door).
     */
    [SQL_RECHECK_DUE] = {"due re-sends", "SELECT user_id, email, outbox_id, created_at, next_at, until_at, sends, last_error,"
                                         " action, role"
                                         " FROM invitee_recheck AS r WHERE r.next_at <= ?1"
                                         " AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.seat = r.seat AND o.state = 0)"
                                         " AND (r.action <> 'deactivate' OR NOT EXISTS (SELECT 1 FROM users AS u"
                                         " WHERE u.seat_held = 1 AND u.odeus_email = r.email COLLATE NOCASE))"
                                         " ORDER BY r.next_at LIMIT ?2"},
    [SQL_RECHECK_REMOVE_SEAT] = {"cancel re-sends", "DELETE FROM invitee_recheck WHERE seat = lower(?1)"},
    [SQL_RECHECK_NEXT_DUE] = {"next re-send", "SELECT min(next_at) FROM invitee_recheck"},
    [SQL_RECHECK_RESCHEDULE] = {"reschedule re-send",
                                "UPDATE invitee_recheck SET next_at = ?2, sends = sends + 1, last_error = ?3 WHERE user_id = ?1"},
    [SQL_RECHECK_REMOVE] = {"remove re-send", "DELETE FROM invitee_recheck WHERE user_id = ?1"},
    [SQL_RECHECK_COUNT] = {"count re-sends", "SELECT count(*) FROM invitee_recheck"},
};

void store_recheck_clear(store_recheck_t *row)
{
    if (row == NULL)
        return;
    free(row->user_id);
    free(row->email);
    free(row->last_error);
    free(row->action);
    free(row->role);
    memset(row, 0, sizeof(*row));
}

static store_status_t schedule(store_t *store, const char *user_id, const char *email, const char *action, const char *role,
                               int64_t outbox_id, int64_t now_ms, int64_t first_ms, int64_t until_ms)
{
    store_q_t q = q_begin(store, SQL_RECHECK_SCHEDULE);
    q_text(&q, 7, action);
    q_text(&q, 8, role);
    q_text(&q, 1, user_id);
    q_text(&q, 2, email);
    q_int64(&q, 3, outbox_id);
    q_int64(&q, 4, now_ms);
    q_int64(&q, 5, first_ms);
    q_int64(&q, 6, until_ms);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_recheck_schedule(store_t *store, const char *user_id, const char *email, int64_t outbox_id, int64_t now_ms,
                                      int64_t first_ms, int64_t until_ms)
{
    return schedule(store, user_id, email, "deactivate", NULL, outbox_id, now_ms, first_ms, until_ms);
}

store_status_t store_recheck_schedule_role(store_t *store, const char *user_id, const char *email, const char *role,
                                           int64_t outbox_id, int64_t now_ms, int64_t first_ms, int64_t until_ms)
{
    return schedule(store, user_id, email, "update_role", role, outbox_id, now_ms, first_ms, until_ms);
}

/* Copies the current row of SQL_RECHECK_DUE into `r`, which owns the strings afterwards; a failure is recorded in `q`. */
static void recheck_from_row(store_q_t *q, store_recheck_t *r)
{
    memset(r, 0, sizeof(*r));
    int64_t sends = q_col_int64(q, 6);
    if (sends < 0 || sends > INT32_MAX) {
        q_fail(q, STORE_ERROR, "re-send of user %s has %lld sends", q_col_text(q, 0), (long long)sends);
        return;
    }
    r->sends = (int)sends;
    r->outbox_id = q_col_int64(q, 2);
    r->created_at_ms = q_col_int64(q, 3);
    r->next_at_ms = q_col_int64(q, 4);
    r->until_ms = q_col_int64(q, 5);
    q_col_dup(q, 0, &r->user_id);
    q_col_dup(q, 1, &r->email);
    q_col_dup(q, 7, &r->last_error);
    q_col_dup(q, 8, &r->action);
    q_col_dup(q, 9, &r->role);
    if (!q_ok(q))
        store_recheck_clear(r);
}

store_status_t store_recheck_due(store_t *store, int64_t now_ms, store_recheck_t *rows, size_t max, size_t *n_out)
{
    *n_out = 0;
    store_q_t q = q_begin(store, SQL_RECHECK_DUE);
    q_int64(&q, 1, now_ms);
    q_size(&q, 2, max);
    size_t n = 0;
    while (n < max && q_step(&q) == Q_ROW) {
        recheck_from_row(&q, &rows[n]);
        if (q_ok(&q))
            n++;
    }
    store_status_t ret = q_end(&q, STORE_OK);
    if (ret != STORE_OK) {
        for (size_t i = 0; i < n; i++)
            store_recheck_clear(&rows[i]);
        n = 0;
    }
    *n_out = n;
    return ret;
}

store_status_t store_recheck_next_due(store_t *store, int64_t *at_ms)
{
    return q_scalar(store, SQL_RECHECK_NEXT_DUE, at_ms);
}

store_status_t store_recheck_reschedule(store_t *store, const char *user_id, int64_t next_ms, const char *last_error)
{
    store_q_t q = q_begin(store, SQL_RECHECK_RESCHEDULE);
    q_text(&q, 1, user_id);
    q_int64(&q, 2, next_ms);
    q_text(&q, 3, last_error);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_recheck_remove(store_t *store, const char *user_id)
{
    store_q_t q = q_begin(store, SQL_RECHECK_REMOVE);
    q_text(&q, 1, user_id);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store__recheck_remove_seat(store_t *store, const char *email)
{
    store_q_t q = q_begin(store, SQL_RECHECK_REMOVE_SEAT);
    q_text(&q, 1, email);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_recheck_count(store_t *store, size_t *count)
{
    int64_t n = 0;
    store_status_t ret = q_scalar(store, SQL_RECHECK_COUNT, &n);
    if (ret == STORE_OK)
        *count = (size_t)n;
    return ret;
}
