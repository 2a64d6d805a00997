/*
 * The Odeus group mirror (store.h, "the Odeus group mirror"): the link from each mirrored SCIM
 * group to its Odeus group, and what Odeus is known to hold. Who should be in an Odeus group is
 * read from the directory each time (group_members, users.odeus_email and seat_held), so that a
 * sync always sends the directory as it is when the call goes out, never a stale copy.
 */
#include "store/sqlite.h"

#include <stdlib.h>

static const char *const state_names[] = {"pending", "adopting", "live", "conflict"};
#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

#define MIRROR_COLUMNS "group_id, odeus_id, state, reason, updated_at"

/*
 * The directory's side of group ?1: per Odeus email (lower case) of its members, whether one of
 * them holds the seat. Users without an Odeus email were never invited and cannot be in a group.
 */
#define DIRECTORY_SIDE                                                                                                             \
    "SELECT lower(u.odeus_email) AS email, min(u.id) AS user_id, max(u.seat_held) AS held"                                         \
    " FROM groups AS g JOIN group_members AS gm ON gm.group_seq = g.seq JOIN users AS u ON u.seq = gm.user_seq"                    \
    " WHERE g.id = ?1 AND u.odeus_email IS NOT NULL GROUP BY lower(u.odeus_email)"

const store_sql_t store__mirror_sql[SQL__COUNT] = {
    [SQL_MIRROR_GET] = {"get group mirror", "SELECT " MIRROR_COLUMNS " FROM mirror_groups WHERE group_id = ?1"},
    /* upserts (and integers, never booleans, in results) written as both SQLite (3.24+) and PostgreSQL
       take them, so that the SQL carries over to store/pg_query.c unchanged */
    [SQL_MIRROR_PUT] = {"put group mirror", "INSERT INTO mirror_groups (" MIRROR_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)"
                                            " ON CONFLICT (group_id) DO UPDATE SET odeus_id = excluded.odeus_id,"
                                            " state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at"},
    [SQL_MIRROR_FORGET] = {"forget group mirror", "DELETE FROM mirror_groups WHERE group_id = ?1"},
    [SQL_MIRROR_FORGET_MEMBERS] = {"forget group mirror members", "DELETE FROM mirror_members WHERE group_id = ?1"},
    [SQL_MIRROR_ALL] = {"group mirrors", "SELECT " MIRROR_COLUMNS " FROM mirror_groups ORDER BY group_id"},
    /* by the user's memberships (group_members_user) and the mirror's addresses (mirror_members_email): no scan */
    [SQL_MIRROR_OF_SEAT] = {"group mirrors of a seat",
                            "SELECT " MIRROR_COLUMNS " FROM mirror_groups WHERE group_id IN ("
                            " SELECT g.id FROM group_members AS gm JOIN groups AS g ON g.seq = gm.group_seq"
                            " WHERE gm.user_seq = (SELECT seq FROM users WHERE id = ?1)"
                            " UNION SELECT group_id FROM mirror_members WHERE email = lower(?2))"},
    [SQL_MIRROR_RESEND_DUE] = {"group mirrors with re-sends due",
                               "SELECT " MIRROR_COLUMNS " FROM mirror_groups AS mg WHERE mg.group_id IN ("
                               " SELECT group_id FROM mirror_members WHERE have = 0 AND next_at > 0 AND next_at <= ?1)"
                               " AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.seat = 'group:' || lower(mg.group_id)"
                               " AND o.state = 0)"},
    [SQL_MIRROR_MEMBERS] = {"group mirror members",
                            "WITH d AS (" DIRECTORY_SIDE "),"
                            " e AS (SELECT email FROM d UNION SELECT email FROM mirror_members WHERE group_id = ?1)"
                            " SELECT e.email, d.user_id, coalesce(d.held, 0), coalesce(m.have, 0), coalesce(m.next_at, 0),"
                            " coalesce(m.until_at, 0), coalesce(m.sends, 0), m.last_error,"
                            " CASE WHEN EXISTS (SELECT 1 FROM outbox AS o WHERE o.seat = e.email AND o.state = 0) THEN 1 ELSE 0 END"
                            " FROM e LEFT JOIN d ON d.email = e.email"
                            " LEFT JOIN mirror_members AS m ON m.group_id = ?1 AND m.email = e.email ORDER BY e.email"},
    [SQL_MIRROR_MEMBER_PUT] = {"put group mirror member",
                               "INSERT INTO mirror_members (group_id, email, have, next_at, until_at, sends, last_error)"
                               " VALUES (?1, lower(?2), ?3, ?4, ?5, CASE WHEN ?3 = 0 THEN 1 ELSE 0 END, ?6)"
                               " ON CONFLICT (group_id, email) DO UPDATE SET have = excluded.have, next_at = excluded.next_at,"
                               " until_at = CASE WHEN excluded.have = 0 AND mirror_members.have = 0 AND mirror_members.until_at > 0"
                               "  THEN mirror_members.until_at ELSE excluded.until_at END,"
                               " sends = CASE WHEN excluded.have = 0 THEN mirror_members.sends + 1 ELSE 0 END,"
                               " last_error = excluded.last_error"},
    [SQL_MIRROR_MEMBER_FORGET] = {"forget group mirror member",
                                  "DELETE FROM mirror_members WHERE group_id = ?1 AND email = lower(?2)"},
};

void store_mirror_group_clear(store_mirror_group_t *g)
{
    if (g == NULL)
        return;
    free(g->group_id);
    free(g->odeus_id);
    free(g->reason);
    memset(g, 0, sizeof(*g));
}

/* The current row of `q` (MIRROR_COLUMNS) into `out`, owned; a state no store function writes is a failure. */
static void group_from_row(store_q_t *q, store_mirror_group_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *state = q_col_text(q, 2);
    size_t k = 0;
    while (state != NULL && k < N_STATES && strcmp(state_names[k], state) != 0)
        k++;
    if (state == NULL || k == N_STATES) {
        q_fail(q, STORE_ERROR, "group mirror has an unknown state \"%s\"", state != NULL ? state : "");
        return;
    }
    out->state = (store_mirror_state_t)k;
    q_col_dup(q, 0, &out->group_id);
    q_col_dup(q, 1, &out->odeus_id);
    q_col_dup(q, 3, &out->reason);
    out->updated_ms = q_col_int64(q, 4);
    if (!q_ok(q))
        store_mirror_group_clear(out);
}

store_status_t store_mirror_group_get(store_t *store, const char *group_id, store_mirror_group_t *out)
{
    memset(out, 0, sizeof(*out));
    store_q_t q = q_begin(store, SQL_MIRROR_GET);
    q_text(&q, 1, group_id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW)
        group_from_row(&q, out);
    return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
}

store_status_t store_mirror_group_put(store_t *store, const store_mirror_group_t *g)
{
    if (g->group_id == NULL || (unsigned)g->state >= N_STATES) {
        store__error(store, "group mirror without a group id or with an unknown state");
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, SQL_MIRROR_PUT);
    q_text(&q, 1, g->group_id);
    q_text(&q, 2, g->odeus_id);
    q_text(&q, 3, state_names[g->state]);
    q_text(&q, 4, g->reason);
    q_int64(&q, 5, g->updated_ms);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_mirror_group_forget(store_t *store, const char *group_id)
{
    store_op_scope_t scope;
    if (store__op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    static const store_sql_id_t ids[] = {SQL_MIRROR_FORGET_MEMBERS, SQL_MIRROR_FORGET};
    for (size_t i = 0; i < 2 && ret == STORE_OK; i++) {
        store_q_t q = q_begin(store, ids[i]);
        q_text(&q, 1, group_id);
        q_step(&q);
        ret = q_end(&q, STORE_OK);
    }
    return store__op_leave(store, scope, ret);
}

store_status_t store_mirror_groups(store_t *store, const char *user_id, const char *email, int64_t due_ms, store_mirror_group_cb cb,
                                   void *ctx)
{
    int of_seat = user_id != NULL || email != NULL;
    store_q_t q = q_begin(store, of_seat ? SQL_MIRROR_OF_SEAT : due_ms > 0 ? SQL_MIRROR_RESEND_DUE : SQL_MIRROR_ALL);
    if (of_seat) {
        q_text(&q, 1, user_id);
        q_text(&q, 2, email);
    } else if (due_ms > 0)
        q_int64(&q, 1, due_ms);
    while (q_step(&q) == Q_ROW) {
        store_mirror_group_t g;
        group_from_row(&q, &g);
        if (!q_ok(&q))
            break;
        int stop = cb(ctx, &g);
        store_mirror_group_clear(&g);
        if (stop)
            break;
    }
    return q_end(&q, STORE_OK);
}

store_status_t store_mirror_members(store_t *store, const char *group_id, store_mirror_member_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_MIRROR_MEMBERS);
    q_text(&q, 1, group_id);
    while (q_step(&q) == Q_ROW) {
        store_mirror_member_t m = {
            .email = q_col_text(&q, 0),
            .user_id = q_col_text(&q, 1),
            .want = q_col_int64(&q, 2) != 0,
            .have = q_col_int64(&q, 3) != 0,
            .next_at = q_col_int64(&q, 4),
            .until_at = q_col_int64(&q, 5),
            .sends = (int)q_col_int64(&q, 6),
            .last_error = q_col_text(&q, 7),
            .seat_pending = q_col_int64(&q, 8) != 0,
        };
        if (!q_ok(&q) || m.email == NULL || cb(ctx, &m) != 0)
            break;
    }
    return q_end(&q, STORE_OK);
}

store_status_t store_mirror_member_put(store_t *store, const char *group_id, const char *email, int have, int64_t next_at,
                                       int64_t until_at, const char *last_error)
{
    store_q_t q;
    if (!have && next_at == 0) {
        q = q_begin(store, SQL_MIRROR_MEMBER_FORGET);
        q_text(&q, 1, group_id);
        q_text(&q, 2, email);
    } else {
        q = q_begin(store, SQL_MIRROR_MEMBER_PUT);
        q_text(&q, 1, group_id);
        q_text(&q, 2, email);
        q_int64(&q, 3, have ? 1 : 0);
        q_int64(&q, 4, have ? 0 : next_at);
        q_int64(&q, 5, have ? 0 : until_at);
        q_text(&q, 6, last_error);
    }
    q_step(&q);
    return q_end(&q, STORE_OK);
}
