/*
 * Users and their indexes: userName (unique, case-insensitive), externalId, and every email value
 * (table user_emails), plus the paging and counting that the IdP's list requests use.
 */
#include "store/sqlite.h"

#include <stdlib.h>

#define USER_COLUMNS                                                                                                               \
    "id, user_name, external_id, odeus_email, active, created, last_modified, version, resource, rendered, odeus_role"
/* how many columns USER_COLUMNS names: a query's next column (the paging seq) has this index */
#define USER_N_COLUMNS 11

const store_sql_t store__users_sql[SQL__COUNT] = {
    [SQL_USER_GET] = {"get user", "SELECT " USER_COLUMNS " FROM users WHERE id = ?1"},
    [SQL_USER_INSERT] = {"insert user",
                         "INSERT INTO users (" USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    [SQL_USER_UPDATE] = {"update user",
                         "UPDATE users SET user_name = ?2, external_id = ?3, odeus_email = ?4, active = ?5, created = ?6,"
                         " last_modified = ?7, version = ?8, resource = ?9, rendered = ?10, odeus_role = ?11 WHERE id = ?1"},
    /* ?2 and ?3 (userName, externalId) are bound but unchanged: their indexes are left alone */
    [SQL_USER_UPDATE_BODY] = {"update user", "UPDATE users SET odeus_email = ?4, active = ?5, created = ?6, last_modified = ?7,"
                                             " version = ?8, resource = ?9, rendered = ?10, odeus_role = ?11 WHERE id = ?1"},
    [SQL_USER_KEYS] = {"user keys", "SELECT seq, user_name, external_id FROM users WHERE id = ?1"},
    [SQL_USER_VERSION] = {"user version", "SELECT version FROM users WHERE id = ?1"},
    /* one statement, atomic on its own; user_emails rows go with it by ON DELETE CASCADE */
    [SQL_USER_DELETE] = {"delete user", "DELETE FROM users WHERE id = ?1"},
    [SQL_EMAIL_LIST] = {"user emails", "SELECT value FROM user_emails WHERE user_seq = ?1 ORDER BY rowid"},
    [SQL_EMAIL_DELETE] = {"delete emails", "DELETE FROM user_emails WHERE user_seq = ?1"},
    [SQL_EMAIL_INSERT] = {"insert email", "INSERT INTO user_emails (user_seq, value) VALUES (?1, ?2)"},
    [SQL_SCAN_ALL] = {"scan users", "SELECT " USER_COLUMNS " FROM users ORDER BY seq"},
    [SQL_SCAN_USERNAME] = {"scan users", "SELECT " USER_COLUMNS " FROM users WHERE user_name = ?1 ORDER BY seq"},
    [SQL_SCAN_EXTERNAL_ID] = {"scan users", "SELECT " USER_COLUMNS " FROM users WHERE external_id = ?1 ORDER BY seq"},
    /* IN (subquery) rather than a join: a user with two matching emails is visited once */
    [SQL_SCAN_EMAIL] = {"scan users", "SELECT " USER_COLUMNS " FROM users"
                                      " WHERE seq IN (SELECT user_seq FROM user_emails WHERE value = ?1) ORDER BY seq"},
    /* the seq after USER_COLUMNS tells the next page where to go on */
    [SQL_USER_PAGE] = {"page users", "SELECT " USER_COLUMNS ", seq FROM users ORDER BY seq LIMIT ?1 OFFSET ?2"},
    [SQL_USER_PAGE_AFTER] = {"page users", "SELECT " USER_COLUMNS ", seq FROM users WHERE seq > ?2 ORDER BY seq LIMIT ?1"},
    [SQL_USER_COUNT] = {"count users", "SELECT count(*) FROM users"},
    /* a role moved by a group change: the resource (and its version) is unchanged */
    [SQL_USER_SET_ROLE] = {"set user role", "UPDATE users SET odeus_role = ?2 WHERE id = ?1"},
    /* "active = 1" literally, so that the partial index users_seat answers it */
    [SQL_SEAT_HOLDERS] = {"seat holders", "SELECT " USER_COLUMNS " FROM users WHERE active = 1 AND odeus_email = ?1 COLLATE NOCASE"
                                          " AND id <> ?2 ORDER BY seq"},
    [SQL_DATA_VERSION] = {"data_version", "PRAGMA data_version"},
};

void store_user_clear(store_user_t *user)
{
    if (user == NULL)
        return;
    free(user->id);
    free(user->user_name);
    free(user->external_id);
    free(user->odeus_email);
    free(user->created);
    free(user->last_modified);
    free(user->resource);
    free(user->rendered);
    free(user->odeus_role);
    memset(user, 0, sizeof(*user));
}

/* Points `u` at the columns of the current row (USER_COLUMNS), valid until the next step; a failure is recorded in `q`. */
static void user_from_row(store_q_t *q, store_user_t *u)
{
    memset(u, 0, sizeof(*u));
    u->id = (char *)q_col_text(q, 0);
    u->user_name = (char *)q_col_text(q, 1);
    u->external_id = (char *)q_col_text(q, 2);
    u->odeus_email = (char *)q_col_text(q, 3);
    u->active = q_col_int64(q, 4) != 0;
    u->created = (char *)q_col_text(q, 5);
    u->last_modified = (char *)q_col_text(q, 6);
    u->version = q_col_int64(q, 7);
    u->resource = (char *)q_col_text(q, 8);
    u->rendered = (char *)q_col_text(q, 9);
    u->odeus_role = (char *)q_col_text(q, 10);
}

store_status_t store_user_get(store_t *store, const char *id, store_user_t *out)
{
    memset(out, 0, sizeof(*out));
    store_q_t q = q_begin(store, SQL_USER_GET);
    q_text(&q, 1, id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW) {
        q_col_dup(&q, 0, &out->id);
        q_col_dup(&q, 1, &out->user_name);
        q_col_dup(&q, 2, &out->external_id);
        q_col_dup(&q, 3, &out->odeus_email);
        out->active = q_col_int64(&q, 4) != 0;
        q_col_dup(&q, 5, &out->created);
        q_col_dup(&q, 6, &out->last_modified);
        out->version = q_col_int64(&q, 7);
        q_col_dup(&q, 8, &out->resource);
        q_col_dup(&q, 9, &out->rendered);
        q_col_dup(&q, 10, &out->odeus_role);
    }
    store_status_t ret = q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
    if (ret != STORE_OK)
        store_user_clear(out);
    return ret;
}

store_status_t store_user_version(store_t *store, const char *id, int64_t *version)
{
    store_q_t q = q_begin(store, SQL_USER_VERSION);
    q_text(&q, 1, id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW)
        *version = q_col_int64(&q, 0);
    return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
}

/*
 * Writes the users row of `u` (SQL_USER_INSERT, SQL_USER_UPDATE or SQL_USER_UPDATE_BODY, which
 * all take ?1..?11 in USER_COLUMNS order; rendered is always bound, NULL clears a stale one).
 * STORE_CONFLICT when the userName is taken, STORE_NOT_FOUND when an update matched no row.
 */
static store_status_t write_user_row(store_t *s, store_sql_id_t id, const store_user_t *u)
{
    store_q_t q = q_begin(s, id);
    q_text(&q, 1, u->id);
    q_text(&q, 2, u->user_name);
    q_text(&q, 3, u->external_id);
    q_text(&q, 4, u->odeus_email);
    q_int64(&q, 5, u->active != 0);
    q_text(&q, 6, u->created);
    q_text(&q, 7, u->last_modified);
    q_int64(&q, 8, u->version);
    q_text(&q, 9, u->resource);
    q_text(&q, 10, u->rendered);
    q_text(&q, 11, u->odeus_role);
    /* a UNIQUE failure on user_name is the caller's conflict; any other (an id collision, a NULL) an error */
    if (q_step(&q) == Q_ERROR)
        q_conflict_on(&q, "users.user_name", "userName already taken");
    else if (id != SQL_USER_INSERT && q_changes(&q) == 0)
        q_fail(&q, STORE_NOT_FOUND, "no such user");
    return q_end(&q, STORE_OK);
}

/* Indexes u's emails under the row `seq`; NULL entries are skipped. */
static store_status_t insert_emails(store_t *s, int64_t seq, const store_user_t *u)
{
    store_status_t ret = STORE_OK;
    for (size_t i = 0; i < u->n_emails && u->emails != NULL && ret == STORE_OK; i++) {
        if (u->emails[i] == NULL)
            continue;
        store_q_t q = q_begin(s, SQL_EMAIL_INSERT);
        q_int64(&q, 1, seq);
        q_text(&q, 2, u->emails[i]);
        q_step(&q);
        ret = q_end(&q, STORE_OK);
    }
    return ret;
}

static store_status_t delete_emails(store_t *s, int64_t seq)
{
    store_q_t q = q_begin(s, SQL_EMAIL_DELETE);
    q_int64(&q, 1, seq);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

store_status_t store_user_insert(store_t *store, const store_user_t *user)
{
    store_op_scope_t scope;
    if (store__op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    store_status_t ret = write_user_row(store, SQL_USER_INSERT, user);
    if (ret == STORE_OK)
        ret = insert_emails(store, sqlite3_last_insert_rowid(store->db), user);
    return store__op_leave(store, scope, ret);
}

static int same_text(const char *stored, const char *given)
{
    return stored == NULL ? given == NULL : given != NULL && strcmp(stored, given) == 0;
}

/* The row's seq, and whether its userName and externalId are byte for byte those of `u`. */
static store_status_t user_keys(store_t *s, const store_user_t *u, int64_t *seq, int *same)
{
    store_q_t q = q_begin(s, SQL_USER_KEYS);
    q_text(&q, 1, u->id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW) {
        *seq = q_col_int64(&q, 0);
        *same = same_text(q_col_text(&q, 1), u->user_name) && same_text(q_col_text(&q, 2), u->external_id);
    } else if (r == Q_DONE) {
        q_fail(&q, STORE_NOT_FOUND, "no such user");
    }
    return q_end(&q, STORE_OK);
}

/* The index of the next non-NULL email of `u` from `i` (insert_emails skips the NULL ones too). */
static size_t next_email(const store_user_t *u, size_t i)
{
    while (i < u->n_emails && (u->emails == NULL || u->emails[i] == NULL))
        i++;
    return i;
}

/* Whether the email index already holds exactly u's emails, in order. */
static store_status_t emails_same(store_t *s, int64_t seq, const store_user_t *u, int *same)
{
    store_q_t q = q_begin(s, SQL_EMAIL_LIST);
    q_int64(&q, 1, seq);
    size_t i = next_email(u, 0);
    *same = 1;
    while (q_step(&q) == Q_ROW) {
        if (i >= u->n_emails || !same_text(q_col_text(&q, 0), u->emails[i]))
            *same = 0;
        i = next_email(u, i + 1);
    }
    if (i < u->n_emails)
        *same = 0;
    return q_end(&q, STORE_OK);
}

store_status_t store_user_update(store_t *store, const store_user_t *user)
{
    store_op_scope_t scope;
    if (store__op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    int64_t seq = 0;
    int keys_same = 0, mails_same = 0;
    /*
     * UPDATE keeps the row's seq, so its place in listings does not move. Most updates (a
     * deactivation, a role, a name) leave userName, externalId and the emails as they are: then
     * their index entries are not rewritten, and a batch of commits dirties a third of the pages.
     */
    store_status_t ret = user_keys(store, user, &seq, &keys_same);
    if (ret == STORE_OK)
        ret = write_user_row(store, keys_same ? SQL_USER_UPDATE_BODY : SQL_USER_UPDATE, user);
    if (ret == STORE_OK)
        ret = emails_same(store, seq, user, &mails_same);
    if (ret == STORE_OK && !mails_same)
        ret = delete_emails(store, seq);
    if (ret == STORE_OK && !mails_same)
        ret = insert_emails(store, seq, user);
    return store__op_leave(store, scope, ret);
}

store_status_t store_user_delete(store_t *store, const char *id)
{
    store_q_t q = q_begin(store, SQL_USER_DELETE);
    q_text(&q, 1, id);
    q_step(&q);
    return q_end(&q, q_ok(&q) && q_changes(&q) == 0 ? STORE_NOT_FOUND : STORE_OK);
}

/*
 * Steps the bound users query `q`, calling `cb` per row until it asks to stop, and ends `q`. The
 * seq of the last row visited goes to *last_seq (queries that return it after USER_COLUMNS only).
 */
static store_status_t visit_users(store_q_t *q, store_user_cb cb, void *ctx, size_t *seen, int64_t *last_seq)
{
    while (q_step(q) == Q_ROW) {
        store_user_t row;
        user_from_row(q, &row);
        if (!q_ok(q))
            break;
        if (last_seq != NULL)
            *last_seq = q_col_int64(q, USER_N_COLUMNS);
        if (seen != NULL)
            (*seen)++;
        if (cb(ctx, &row) != 0)
            break;
    }
    return q_end(q, STORE_OK);
}

store_status_t store_user_scan(store_t *store, store_index_t index, const char *value, store_user_cb cb, void *ctx)
{
    store_sql_id_t id;
    switch (index) {
    case STORE_SCAN_ALL:
        id = SQL_SCAN_ALL;
        break;
    case STORE_SCAN_ID:
        id = SQL_USER_GET;
        break;
    case STORE_SCAN_USERNAME:
        id = SQL_SCAN_USERNAME;
        break;
    case STORE_SCAN_EXTERNAL_ID:
        id = SQL_SCAN_EXTERNAL_ID;
        break;
    case STORE_SCAN_EMAIL:
        id = SQL_SCAN_EMAIL;
        break;
    default:
        store__error(store, "unknown scan index %d", (int)index);
        return STORE_ERROR;
    }
    store_q_t q = q_begin(store, id);
    if (id != SQL_SCAN_ALL)
        q_text(&q, 1, value);
    return visit_users(&q, cb, ctx, NULL, NULL);
}

store_status_t store_user_set_role(store_t *store, const char *id, const char *role)
{
    store_q_t q = q_begin(store, SQL_USER_SET_ROLE);
    q_text(&q, 1, id);
    q_text(&q, 2, role);
    if (q_step(&q) == Q_DONE && q_changes(&q) == 0)
        q_fail(&q, STORE_NOT_FOUND, "no such user");
    return q_end(&q, STORE_OK);
}

store_status_t store_seat_holders(store_t *store, const char *email, const char *exclude_id, store_user_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_SEAT_HOLDERS);
    q_text(&q, 1, email);
    q_text(&q, 2, exclude_id != NULL ? exclude_id : "");
    return visit_users(&q, cb, ctx, NULL, NULL);
}

/* The database's change marks: PRAGMA data_version (other connections) and total_changes (this one). */
static store_status_t change_marks(store_t *s, int64_t *data_version, int64_t *changes)
{
    *changes = sqlite3_total_changes64(s->db);
    return q_scalar(s, SQL_DATA_VERSION, data_version) == STORE_ERROR ? STORE_ERROR : STORE_OK;
}

store_status_t store_user_page(store_t *store, size_t offset, size_t limit, store_user_cb cb, void *ctx)
{
    int64_t version = 0, changes = 0;
    if (change_marks(store, &version, &changes) != STORE_OK)
        return STORE_ERROR;
    /* the page that follows the last one, on an unchanged database: go on from its last row */
    int follows = store->page_at.valid && store->page_at.data_version == version && store->page_at.changes == changes &&
                  offset == store->page_next_offset;
    store_q_t q = q_begin(store, follows ? SQL_USER_PAGE_AFTER : SQL_USER_PAGE);
    q_size(&q, 1, limit);
    if (follows)
        q_int64(&q, 2, store->page_last_seq);
    else
        q_size(&q, 2, offset);
    store->page_at.valid = 0;
    size_t seen = 0;
    int64_t last_seq = 0;
    store_status_t ret = visit_users(&q, cb, ctx, &seen, &last_seq);
    if (ret == STORE_OK && seen > 0) {
        store->page_at.data_version = version;
        store->page_at.changes = changes;
        store->page_at.valid = 1;
        store->page_next_offset = offset + seen;
        store->page_last_seq = last_seq;
    }
    return ret;
}

store_status_t store_user_count(store_t *store, size_t *count)
{
    int64_t version = 0, changes = 0;
    if (change_marks(store, &version, &changes) != STORE_OK)
        return STORE_ERROR;
    if (store->count_at.valid && store->count_at.data_version == version && store->count_at.changes == changes) {
        *count = store->count;
        return STORE_OK;
    }
    int64_t n = 0;
    if (q_scalar(store, SQL_USER_COUNT, &n) != STORE_OK)
        return STORE_ERROR;
    *count = store->count = (size_t)n;
    store->count_at.data_version = version;
    store->count_at.changes = changes;
    store->count_at.valid = 1;
    return STORE_OK;
}
