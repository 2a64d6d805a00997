/*
 * The operator's view of the outbox (odeus-scim-gateway outbox ...): counts, listings, and the
 * hand-made changes retry and drop. None of it is on a request's path.
 */
#include "store/sqlite.h"

const store_sql_t store__admin_sql[SQL__COUNT] = {
    [SQL_OUTBOX_STATE_COUNTS] = {"outbox counts", "SELECT state, count(*) FROM outbox GROUP BY state"},
    [SQL_OUTBOX_PENDING_STATS] = {"outbox pending stats", "SELECT min(created_at), min(next_attempt_at), max(attempts),"
                                                          " sum(outcome = 'auth'), sum(action = 'deactivate'),"
                                                          " sum(outcome = 'held')"
                                                          " FROM outbox WHERE state = 0"},
    /* pending rows in queue order, the others newest first */
    [SQL_OUTBOX_LIST_ANY] = {"list outbox", "SELECT " OUTBOX_COLUMNS " FROM outbox ORDER BY id DESC LIMIT ?1"},
    [SQL_OUTBOX_LIST_PENDING] = {"list outbox", "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE state = 0 ORDER BY id LIMIT ?1"},
    [SQL_OUTBOX_LIST_STATE] = {"list outbox", "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE state = ?2 ORDER BY id DESC LIMIT ?1"},
    [SQL_OUTBOX_RETRY] = {"retry outbox row",
                          "UPDATE outbox SET state = 0, next_attempt_at = ?2, done_at = NULL WHERE id = ?1 AND state IN (0, 2)"},
    [SQL_OUTBOX_RETRY_FAILED] = {"retry failed rows",
                                 "UPDATE outbox SET state = 0, next_attempt_at = ?1, done_at = NULL WHERE state = 2"},
    [SQL_OUTBOX_DROP] = {"drop outbox row",
                         "UPDATE outbox SET state = 2, outcome = 'dropped', last_error = 'dropped by an operator', done_at = ?2"
                         " WHERE id = ?1 AND state = 0"},
    /* held rows stay pending, never due: they keep their place at the head of their seat's queue */
    [SQL_OUTBOX_HOLD] = {"hold outbox row", "UPDATE outbox SET next_attempt_at = 9223372036854775807, outcome = 'held',"
                                            " last_error = ?2 WHERE id = ?1 AND state = 0"},
    [SQL_OUTBOX_RELEASE] = {"release outbox rows", "UPDATE outbox SET next_attempt_at = ?2, outcome = NULL, last_error = NULL"
                                                   " WHERE state = 0 AND outcome = 'held' AND (?1 = 0 OR id = ?1)"},
    /* sqlite_copy.c: whether a migration's target is empty */
    [SQL_COPY_COUNT] = {"copy rows", "SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM groups)"
                                     " + (SELECT count(*) FROM outbox) + (SELECT count(*) FROM invitee_recheck)"
                                     " + (SELECT count(*) FROM mirror_groups)"},
};

store_status_t store_outbox_get_stats(store_t *store, store_outbox_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    store_q_t q = q_begin(store, SQL_OUTBOX_STATE_COUNTS);
    while (q_step(&q) == Q_ROW) {
        int64_t state = q_col_int64(&q, 0);
        if (state < 0 || state >= STORE_OUTBOX_STATES)
            q_fail(&q, STORE_ERROR, "%lld outbox rows have unknown state %lld", (long long)q_col_int64(&q, 1), (long long)state);
        else
            out->by_state[state] = q_col_int64(&q, 1);
    }
    if (q_end(&q, STORE_OK) != STORE_OK)
        return STORE_ERROR;

    q = q_begin(store, SQL_OUTBOX_PENDING_STATS);
    if (q_step(&q) == Q_ROW) {
        out->oldest_pending_ms = q_col_int64(&q, 0);
        out->next_attempt_ms = q_col_int64(&q, 1);
        out->max_attempts = q_col_int64(&q, 2);
        out->pending_auth = q_col_int64(&q, 3);
        out->pending_deactivations = q_col_int64(&q, 4);
        out->held = q_col_int64(&q, 5);
    }
    if (q_end(&q, STORE_OK) != STORE_OK)
        return STORE_ERROR;

    size_t rechecks = 0;
    if (store_recheck_count(store, &rechecks) != STORE_OK)
        return STORE_ERROR;
    out->rechecks = (int64_t)rechecks;
    return STORE_OK;
}

store_status_t store_outbox_list(store_t *store, int state, size_t limit, store_outbox_cb cb, void *ctx)
{
    if (state < -1 || state >= STORE_OUTBOX_STATES) {
        store__error(store, "unknown outbox state %d", state);
        return STORE_ERROR;
    }
    store_sql_id_t id = SQL_OUTBOX_LIST_STATE;
    if (state < 0)
        id = SQL_OUTBOX_LIST_ANY;
    else if (state == STORE_OUTBOX_PENDING)
        id = SQL_OUTBOX_LIST_PENDING;
    store_q_t q = q_begin(store, id);
    q_size(&q, 1, limit);
    if (state > STORE_OUTBOX_PENDING)
        q_int64(&q, 2, state);
    while (q_step(&q) == Q_ROW) {
        store_outbox_t row;
        store__outbox_from_row(&q, &row);
        if (!q_ok(&q))
            break;
        int stop = cb(ctx, &row);
        store_outbox_clear(&row);
        if (stop)
            break;
    }
    return q_end(&q, STORE_OK);
}

/* Changes row `row_id` with statement `id` (?1 the row, ?2 now), telling "no such row" from "not in a state this applies to". */
static store_status_t change_row(store_t *s, store_sql_id_t id, int64_t row_id, int64_t now_ms)
{
    store_q_t q = q_begin(s, id);
    q_int64(&q, 1, row_id);
    q_int64(&q, 2, now_ms);
    q_step(&q);
    int changed = q_ok(&q) && q_changes(&q) > 0;
    store_status_t ret = q_end(&q, STORE_OK);
    if (ret != STORE_OK || changed)
        return ret;
    store_outbox_t row;
    ret = store_outbox_get(s, row_id, &row);
    store_outbox_clear(&row);
    if (ret == STORE_OK) {
        store__error(s, "outbox row %lld is not in a state this applies to", (long long)row_id);
        return STORE_CONFLICT;
    }
    if (ret == STORE_NOT_FOUND)
        store__error(s, "no outbox row %lld", (long long)row_id);
    return ret;
}

store_status_t store_outbox_retry(store_t *store, int64_t id, int64_t now_ms)
{
    return change_row(store, SQL_OUTBOX_RETRY, id, now_ms);
}

store_status_t store_outbox_drop(store_t *store, int64_t id, int64_t now_ms)
{
    return change_row(store, SQL_OUTBOX_DROP, id, now_ms);
}

store_status_t store_outbox_hold(store_t *store, const int64_t *ids, size_t n, const char *why)
{
    store_status_t ret = STORE_OK;
    for (size_t i = 0; i < n && ret == STORE_OK; i++) {
        store_q_t q = q_begin(store, SQL_OUTBOX_HOLD);
        q_int64(&q, 1, ids[i]);
        q_text(&q, 2, why);
        q_step(&q);
        ret = q_end(&q, STORE_OK);
    }
    return ret;
}

store_status_t store_outbox_release(store_t *store, int64_t id, int64_t now_ms, size_t *count)
{
    *count = 0;
    store_q_t q = q_begin(store, SQL_OUTBOX_RELEASE);
    q_int64(&q, 1, id);
    q_int64(&q, 2, now_ms);
    if (q_step(&q) == Q_DONE)
        *count = (size_t)q_changes(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_outbox_retry_failed(store_t *store, int64_t now_ms, size_t *count)
{
    store_q_t q = q_begin(store, SQL_OUTBOX_RETRY_FAILED);
    q_int64(&q, 1, now_ms);
    if (q_step(&q) == Q_DONE)
        *count = (size_t)q_changes(&q);
    return q_end(&q, STORE_OK);
}
