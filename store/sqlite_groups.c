/*
 * Groups and their memberships: displayName (unique, case-insensitive), externalId, and the
 * membership table group_members (group, user) with an index each way, so that a membership
 * change costs the members it touches, not the group's size, and a user's groups are one lookup.
 */
#include "store/sqlite.h"

#include <stdlib.h>

const store_sql_t store__groups_sql[SQL__COUNT] = {
    [SQL_GROUP_GET] = {"get group", "SELECT " GROUP_COLUMNS " FROM groups WHERE id = ?1"},
    [SQL_GROUP_INSERT] = {"insert group", "INSERT INTO groups (" GROUP_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    [SQL_GROUP_UPDATE] = {"update group", "UPDATE groups SET display_name = ?2, external_id = ?3, created = ?4,"
                                          " last_modified = ?5, version = ?6, resource = ?7 WHERE id = ?1"},
    [SQL_GROUP_DELETE] = {"delete group", "DELETE FROM groups WHERE id = ?1"},
    [SQL_GROUP_VERSION] = {"group version", "SELECT version FROM groups WHERE id = ?1"},
    [SQL_GROUP_SCAN_ALL] = {"scan groups", "SELECT " GROUP_COLUMNS " FROM groups ORDER BY seq"},
    [SQL_GROUP_SCAN_NAME] = {"scan groups", "SELECT " GROUP_COLUMNS " FROM groups WHERE display_name = ?1 ORDER BY seq"},
    [SQL_GROUP_SCAN_EXTERNAL_ID] = {"scan groups", "SELECT " GROUP_COLUMNS " FROM groups WHERE external_id = ?1 ORDER BY seq"},
    [SQL_GROUP_SCAN_MEMBER] = {"scan groups", "SELECT " GROUP_COLUMNS " FROM groups WHERE seq IN (SELECT m.group_seq FROM"
                                              " group_members AS m JOIN users AS u ON u.seq = m.user_seq WHERE u.id = ?1)"
                                              " ORDER BY seq"},
    [SQL_GROUP_PAGE] = {"page groups", "SELECT " GROUP_COLUMNS " FROM groups ORDER BY seq LIMIT ?1 OFFSET ?2"},
    [SQL_GROUP_COUNT] = {"count groups", "SELECT count(*) FROM groups"},
    /* set semantics: a member already present changes nothing (OR IGNORE on the primary key) */
    [SQL_MEMBER_ADD] = {"add member", "INSERT OR IGNORE INTO group_members (group_seq, user_seq)"
                                      " SELECT g.seq, u.seq FROM groups AS g, users AS u WHERE g.id = ?1 AND u.id = ?2"},
    [SQL_MEMBER_REMOVE] = {"remove member", "DELETE FROM group_members WHERE group_seq = (SELECT seq FROM groups WHERE id = ?1)"
                                            " AND user_seq = (SELECT seq FROM users WHERE id = ?2)"},
    [SQL_MEMBER_CLEAR] = {"clear members", "DELETE FROM group_members WHERE group_seq = (SELECT seq FROM groups WHERE id = ?1)"},
    [SQL_USER_EXISTS] = {"user exists", "SELECT 1 FROM users WHERE id = ?1"},
    /* members in the order they were created as users: stable pages for the IdP */
    [SQL_MEMBER_LIST] = {"list members", "SELECT u.id, u.user_name FROM group_members AS m JOIN users AS u ON u.seq = m.user_seq"
                                         " WHERE m.group_seq = (SELECT seq FROM groups WHERE id = ?1) ORDER BY m.user_seq"},
    [SQL_MEMBER_COUNT] = {"count members", "SELECT count(*) FROM group_members WHERE group_seq = (SELECT seq FROM groups"
                                           " WHERE id = ?1)"},
    [SQL_USER_GROUPS] = {"user groups", "SELECT g.id, g.display_name, g.external_id FROM group_members AS m"
                                        " JOIN groups AS g ON g.seq = m.group_seq"
                                        " WHERE m.user_seq = (SELECT seq FROM users WHERE id = ?1) ORDER BY g.seq"},
};

void store_group_clear(store_group_t *group)
{
    if (group == NULL)
        return;
    free(group->id);
    free(group->display_name);
    free(group->external_id);
    free(group->created);
    free(group->last_modified);
    free(group->resource);
    memset(group, 0, sizeof(*group));
}

/* Points `g` at the columns of the current row (GROUP_COLUMNS), valid until the next step. */
static void group_from_row(store_q_t *q, store_group_t *g)
{
    memset(g, 0, sizeof(*g));
    g->id = (char *)q_col_text(q, 0);
    g->display_name = (char *)q_col_text(q, 1);
    g->external_id = (char *)q_col_text(q, 2);
    g->created = (char *)q_col_text(q, 3);
    g->last_modified = (char *)q_col_text(q, 4);
    g->version = q_col_int64(q, 5);
    g->resource = (char *)q_col_text(q, 6);
}

store_status_t store_group_get(store_t *store, const char *id, store_group_t *out)
{
    memset(out, 0, sizeof(*out));
    store_q_t q = q_begin(store, SQL_GROUP_GET);
    q_text(&q, 1, id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW) {
        q_col_dup(&q, 0, &out->id);
        q_col_dup(&q, 1, &out->display_name);
        q_col_dup(&q, 2, &out->external_id);
        q_col_dup(&q, 3, &out->created);
        q_col_dup(&q, 4, &out->last_modified);
        out->version = q_col_int64(&q, 5);
        q_col_dup(&q, 6, &out->resource);
    }
    store_status_t ret = q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
    if (ret != STORE_OK)
        store_group_clear(out);
    return ret;
}

store_status_t store_group_version(store_t *store, const char *id, int64_t *version)
{
    store_q_t q = q_begin(store, SQL_GROUP_VERSION);
    q_text(&q, 1, id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW)
        *version = q_col_int64(&q, 0);
    return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
}

static store_status_t write_group_row(store_t *s, store_sql_id_t id, const store_group_t *g)
{
    store_q_t q = q_begin(s, id);
    q_text(&q, 1, g->id);
    q_text(&q, 2, g->display_name);
    q_text(&q, 3, g->external_id);
    q_text(&q, 4, g->created);
    q_text(&q, 5, g->last_modified);
    q_int64(&q, 6, g->version);
    q_text(&q, 7, g->resource);
    if (q_step(&q) == Q_ERROR)
        q_conflict_on(&q, "groups.display_name", "displayName already taken");
    else if (id != SQL_GROUP_INSERT && q_changes(&q) == 0)
        q_fail(&q, STORE_NOT_FOUND, "no such group");
    return q_end(&q, STORE_OK);
}

store_status_t store_group_insert(store_t *store, const store_group_t *group)
{
    return write_group_row(store, SQL_GROUP_INSERT, group);
}

store_status_t store_group_update(store_t *store, const store_group_t *group)
{
    return write_group_row(store, SQL_GROUP_UPDATE, group);
}

store_status_t store_group_delete(store_t *store, const char *id)
{
    store_q_t q = q_begin(store, SQL_GROUP_DELETE);
    q_text(&q, 1, id);
    if (q_step(&q) == Q_DONE && q_changes(&q) == 0)
        q_fail(&q, STORE_NOT_FOUND, "no such group");
    return q_end(&q, STORE_OK);
}

static store_status_t visit_groups(store_q_t *q, store_group_cb cb, void *ctx)
{
    while (q_step(q) == Q_ROW) {
        store_group_t row;
        group_from_row(q, &row);
        if (!q_ok(q) || cb(ctx, &row) != 0)
            break;
    }
    return q_end(q, STORE_OK);
}

store_status_t store_group_scan(store_t *store, store_group_index_t index, const char *value, store_group_cb cb, void *ctx)
{
    static const store_sql_id_t by_index[] = {
        [STORE_GROUP_SCAN_ALL] = SQL_GROUP_SCAN_ALL,           [STORE_GROUP_SCAN_ID] = SQL_GROUP_GET,
        [STORE_GROUP_SCAN_DISPLAY_NAME] = SQL_GROUP_SCAN_NAME, [STORE_GROUP_SCAN_EXTERNAL_ID] = SQL_GROUP_SCAN_EXTERNAL_ID,
        [STORE_GROUP_SCAN_MEMBER] = SQL_GROUP_SCAN_MEMBER,
    };
    if ((unsigned)index >= sizeof(by_index) / sizeof(by_index[0])) {
        store__error(store, "unknown group scan index %d", (int)index);
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, by_index[index]);
    if (index != STORE_GROUP_SCAN_ALL)
        q_text(&q, 1, value);
    return visit_groups(&q, cb, ctx);
}

store_status_t store_group_page(store_t *store, size_t offset, size_t limit, store_group_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_GROUP_PAGE);
    q_size(&q, 1, limit);
    q_size(&q, 2, offset);
    return visit_groups(&q, cb, ctx);
}

store_status_t store_group_count(store_t *store, size_t *count)
{
    int64_t n = 0;
    store_status_t ret = q_scalar(store, SQL_GROUP_COUNT, &n);
    if (ret == STORE_OK)
        *count = (size_t)n;
    return ret;
}

/* ---- membership ------------------------------------------------------------------------------ */

/* STORE_OK when user `id` exists, STORE_NOT_FOUND when not. */
static store_status_t user_exists(store_t *s, const char *id)
{
    store_q_t q = q_begin(s, SQL_USER_EXISTS);
    q_text(&q, 1, id);
    return q_end(&q, q_step(&q) == Q_ROW ? STORE_OK : STORE_NOT_FOUND);
}

store_status_t store_group_member_add(store_t *store, const char *group_id, const char *user_id, int *added)
{
    *added = 0;
    store_q_t q = q_begin(store, SQL_MEMBER_ADD);
    q_text(&q, 1, group_id);
    q_text(&q, 2, user_id);
    if (q_step(&q) == Q_DONE)
        *added = q_changes(&q) == 1;
    store_status_t ret = q_end(&q, STORE_OK);
    /* nothing inserted: already a member (fine), or no such user (the caller's to report) */
    if (ret == STORE_OK && !*added)
        ret = user_exists(store, user_id);
    return ret;
}

store_status_t store_group_member_remove(store_t *store, const char *group_id, const char *user_id, int *removed)
{
    *removed = 0;
    store_q_t q = q_begin(store, SQL_MEMBER_REMOVE);
    q_text(&q, 1, group_id);
    q_text(&q, 2, user_id);
    if (q_step(&q) == Q_DONE)
        *removed = q_changes(&q) == 1;
    return q_end(&q, STORE_OK);
}

store_status_t store_group_members(store_t *store, const char *group_id, store_member_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_MEMBER_LIST);
    q_text(&q, 1, group_id);
    while (q_step(&q) == Q_ROW) {
        const char *id = q_col_text(&q, 0), *name = q_col_text(&q, 1);
        if (!q_ok(&q) || cb(ctx, id, name) != 0)
            break;
    }
    return q_end(&q, STORE_OK);
}

store_status_t store_group_members_clear(store_t *store, const char *group_id)
{
    store_q_t q = q_begin(store, SQL_MEMBER_CLEAR);
    q_text(&q, 1, group_id);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_group_member_count(store_t *store, const char *group_id, size_t *count)
{
    store_q_t q = q_begin(store, SQL_MEMBER_COUNT);
    q_text(&q, 1, group_id);
    if (q_step(&q) == Q_ROW)
        *count = (size_t)q_col_int64(&q, 0);
    return q_end(&q, STORE_OK);
}

store_status_t store_user_groups(store_t *store, const char *user_id, store_group_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_USER_GROUPS);
    q_text(&q, 1, user_id);
    while (q_step(&q) == Q_ROW) {
        store_group_t g = {
            .id = (char *)q_col_text(&q, 0), .display_name = (char *)q_col_text(&q, 1), .external_id = (char *)q_col_text(&q, 2)};
        if (!q_ok(&q) || cb(ctx, &g) != 0)
            break;
    }
    return q_end(&q, STORE_OK);
}
