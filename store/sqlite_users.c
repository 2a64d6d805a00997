/*
 * Users and their indexes: userName (unique, case-insensitive), externalId, and every email value
 * (table user_emails), plus the paging and counting that the IdP's list requests use.
 */
#include "store/sqlite.h"

#include <stdio.h>
#include <stdlib.h>

/* how many columns USER_COLUMNS names: a query's next column (the paging seq) has this index */
#define USER_N_COLUMNS 12
/* Input only (store_user_t): bound as ?13..?16 by the statements that write them. */
#define SORT_COLUMNS "display_name, family_name, given_name, primary_email"

const store_sql_t store__users_sql[SQL__COUNT] = {
    [SQL_USER_GET] = {"get user", "SELECT " USER_COLUMNS " FROM users WHERE id = ?1"},
    [SQL_USER_GET_SEQ] = {"get user", "SELECT " USER_COLUMNS " FROM users WHERE seq = ?1"},
    [SQL_USER_INSERT] = {"insert user", "INSERT INTO users (" USER_COLUMNS ", " SORT_COLUMNS
                                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"},
    [SQL_USER_UPDATE] = {"update user",
                         "UPDATE users SET user_name = ?2, external_id = ?3, odeus_email = ?4, active = ?5, created = ?6,"
                         " last_modified = ?7, version = ?8, resource = ?9, rendered = ?10, odeus_role = ?11, seat_held = ?12,"
                         " display_name = ?13, family_name = ?14, given_name = ?15, primary_email = ?16 WHERE id = ?1"},
    /*
     * ?2 and ?3 (userName, externalId) are bound but unchanged: their indexes are left alone, and so
     * are those of the sort columns, which SQLite rewrites whenever an UPDATE names them.
     */
    [SQL_USER_UPDATE_BODY] = {"update user", "UPDATE users SET odeus_email = ?4, active = ?5, created = ?6, last_modified = ?7,"
                                             " version = ?8, resource = ?9, rendered = ?10, odeus_role = ?11, seat_held = ?12"
                                             " WHERE id = ?1"},
    [SQL_USER_UPDATE_SORT] = {"update user", "UPDATE users SET odeus_email = ?4, active = ?5, created = ?6, last_modified = ?7,"
                                             " version = ?8, resource = ?9, rendered = ?10, odeus_role = ?11, seat_held = ?12,"
                                             " display_name = ?13, family_name = ?14, given_name = ?15, primary_email = ?16"
                                             " WHERE id = ?1"},
    [SQL_USER_KEYS] = {"user keys", "SELECT seq, user_name, external_id, " SORT_COLUMNS " FROM users WHERE id = ?1"},
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
    [SQL_USER_SET_ROLE] = {"set user seat", "UPDATE users SET odeus_role = ?2, seat_held = ?3 WHERE id = ?1"},
    /* "seat_held = 1" literally, so that the partial index users_seat answers it */
    [SQL_SEAT_HOLDERS] = {"seat holders", "SELECT " USER_COLUMNS " FROM users WHERE seat_held = 1 AND odeus_email = ?1"
                                          " COLLATE NOCASE AND id <> ?2 ORDER BY seq"},
    /* built at run time by store__users_select_sql(); this is its fixed part */
    [SQL_USER_SELECT] = {"select users", "SELECT " USER_COLUMNS " FROM users"},
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
    u->seat_held = q_col_int64(q, 11) != 0;
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
        out->seat_held = q_col_int64(&q, 11) != 0;
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
 * Writes the users row of `u` (SQL_USER_INSERT, SQL_USER_UPDATE, SQL_USER_UPDATE_SORT or
 * SQL_USER_UPDATE_BODY, which all take ?1..?12 in USER_COLUMNS order, and but the last ?13..?16 in
 * SORT_COLUMNS order; rendered is always bound, NULL clears a stale one). STORE_CONFLICT when the
 * userName is taken, STORE_NOT_FOUND when an update matched no row.
 */
static store_status_t write_user_row(store_t *s, store_sql_id_t id, const store_user_t *u)
{
    store_q_t q = q_begin(s, id);
    if (id != SQL_USER_UPDATE_BODY) {
        q_text(&q, 13, u->display_name);
        q_text(&q, 14, u->family_name);
        q_text(&q, 15, u->given_name);
        q_text(&q, 16, u->primary_email);
    }
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
    q_int64(&q, 12, u->seat_held != 0);
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
    int64_t seq = 0;
    if (ret == STORE_OK)
        ret = store__last_insert_id(store, &seq);
    if (ret == STORE_OK)
        ret = insert_emails(store, seq, user);
    return store__op_leave(store, scope, ret);
}

static int same_text(const char *stored, const char *given)
{
    return stored == NULL ? given == NULL : given != NULL && strcmp(stored, given) == 0;
}

/*
 * The row's seq, whether its userName and externalId are byte for byte those of `u` (*same), and
 * whether its sort columns are (*sort_same).
 */
static store_status_t user_keys(store_t *s, const store_user_t *u, int64_t *seq, int *same, int *sort_same)
{
    store_q_t q = q_begin(s, SQL_USER_KEYS);
    q_text(&q, 1, u->id);
    q_step_t r = q_step(&q);
    if (r == Q_ROW) {
        *seq = q_col_int64(&q, 0);
        *same = same_text(q_col_text(&q, 1), u->user_name) && same_text(q_col_text(&q, 2), u->external_id);
        *sort_same = same_text(q_col_text(&q, 3), u->display_name) && same_text(q_col_text(&q, 4), u->family_name) &&
                     same_text(q_col_text(&q, 5), u->given_name) && same_text(q_col_text(&q, 6), u->primary_email);
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
    int keys_same = 0, sort_same = 0, mails_same = 0;
    /*
     * UPDATE keeps the row's seq, so its place in listings does not move. Most updates (a
     * deactivation, a role, a name) leave userName, externalId, the sort columns and the emails as
     * they are: then their index entries are not rewritten, and a batch of commits dirties a third
     * of the pages.
     */
    store_status_t ret = user_keys(store, user, &seq, &keys_same, &sort_same);
    store_sql_id_t write = !keys_same ? SQL_USER_UPDATE : !sort_same ? SQL_USER_UPDATE_SORT : SQL_USER_UPDATE_BODY;
    if (ret == STORE_OK)
        ret = write_user_row(store, write, user);
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
 * Steps the bound users query `q`, calling `cb` per row until it asks to stop (*stopped set, when
 * not NULL), and ends `q`. The seq of the last row visited goes to *last_seq (queries that return
 * it after USER_COLUMNS only).
 */
static store_status_t visit_users(store_q_t *q, store_user_cb cb, void *ctx, size_t *seen, int64_t *last_seq, int *stopped)
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
        if (cb(ctx, &row) != 0) {
            if (stopped != NULL)
                *stopped = 1;
            break;
        }
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
    return visit_users(&q, cb, ctx, NULL, NULL, NULL);
}

/*
 * The database's change marks: PRAGMA data_version (other connections) and total_changes (this
 * one); on PostgreSQL a hash of the current snapshot and the rows this connection changed.
 */
static store_status_t change_marks(store_t *s, int64_t *data_version, int64_t *changes)
{
    *changes = s->pg != NULL ? store__pg_total_changes(s) : sqlite3_total_changes64(s->db);
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
    store_status_t ret = visit_users(&q, cb, ctx, &seen, &last_seq, NULL);
    if (ret == STORE_OK && seen > 0) {
        store->page_at.data_version = version;
        store->page_at.changes = changes;
        store->page_at.valid = 1;
        store->page_next_offset = offset + seen;
        store->page_last_seq = last_seq;
    }
    return ret;
}

store_status_t store_user_set_seat(store_t *store, const char *id, int held, const char *role)
{
    store_q_t q = q_begin(store, SQL_USER_SET_ROLE);
    q_text(&q, 1, id);
    q_text(&q, 2, role);
    q_int64(&q, 3, held != 0);
    if (q_step(&q) == Q_DONE && q_changes(&q) == 0)
        q_fail(&q, STORE_NOT_FOUND, "no such user");
    return q_end(&q, STORE_OK);
}

store_status_t store_seat_holders(store_t *store, const char *email, const char *exclude_id, store_user_cb cb, void *ctx)
{
    store_q_t q = q_begin(store, SQL_SEAT_HOLDERS);
    q_text(&q, 1, email);
    q_text(&q, 2, exclude_id != NULL ? exclude_id : "");
    return visit_users(&q, cb, ctx, NULL, NULL, NULL);
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

/* ---- text tests for conditions: store_co, store_sw, store_ew ---------------------------------- */

typedef enum text_test { TEXT_CONTAINS, TEXT_STARTS, TEXT_ENDS } text_test_t;

static int fold_ascii(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int same_bytes(const unsigned char *a, const unsigned char *b, size_t n, int fold)
{
    if (!fold)
        return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (fold_ascii(a[i]) != fold_ascii(b[i]))
            return 0;
    return 1;
}

/*
 * Linear in the haystack (memmem), never a comparison at every position: a long needle against
 * long stored strings would be quadratic. Folding copies both sides first, as the SCIM filter does.
 */
static int contains(const unsigned char *h, size_t hl, const unsigned char *n, size_t nl, int fold)
{
    if (nl > hl)
        return 0;
    if (nl == 0)
        return 1;
    if (!fold)
        return memmem(h, hl, n, nl) != NULL;
    unsigned char small[512];
    unsigned char *buf = hl + nl <= sizeof(small) ? small : gw_malloc(hl + nl);
    for (size_t i = 0; i < hl; i++)
        buf[i] = (unsigned char)fold_ascii(h[i]);
    for (size_t i = 0; i < nl; i++)
        buf[hl + i] = (unsigned char)fold_ascii(n[i]);
    int found = memmem(buf, hl, buf + hl, nl) != NULL;
    if (buf != small)
        free(buf);
    return found;
}

/* store_co(text, needle, fold) and its siblings: NULL when either text is NULL, else 0 or 1. */
static void text_test_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(cx);
        return;
    }
    /* text before bytes: the length is that of the UTF-8 form text() made */
    const unsigned char *h = sqlite3_value_text(argv[0]);
    size_t hl = (size_t)sqlite3_value_bytes(argv[0]);
    const unsigned char *n = sqlite3_value_text(argv[1]);
    size_t nl = (size_t)sqlite3_value_bytes(argv[1]);
    if (h == NULL || n == NULL) {
        sqlite3_result_error_nomem(cx);
        return;
    }
    int fold = sqlite3_value_int(argv[2]) != 0, r = 0;
    switch ((text_test_t)(intptr_t)sqlite3_user_data(cx)) {
    case TEXT_CONTAINS:
        r = contains(h, hl, n, nl, fold);
        break;
    case TEXT_STARTS:
        r = nl <= hl && same_bytes(h, n, nl, fold);
        break;
    case TEXT_ENDS:
        r = nl <= hl && same_bytes(h + hl - nl, n, nl, fold);
        break;
    }
    sqlite3_result_int(cx, r);
}

store_status_t store__users_register(store_t *s)
{
    static const struct {
        const char *name;
        text_test_t test;
    } fns[] = {{"store_co", TEXT_CONTAINS}, {"store_sw", TEXT_STARTS}, {"store_ew", TEXT_ENDS}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        int rc = sqlite3_create_function_v2(s->db, fns[i].name, 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                            (void *)(intptr_t)fns[i].test, text_test_fn, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            store__error(s, "registering %s: %s", fns[i].name, sqlite3_errmsg(s->db));
            return STORE_ERROR;
        }
    }
    return STORE_OK;
}

/* ---- lists: conditions and orders -------------------------------------------------------------- */

static const struct user_col {
    const char *name; /* NULL: not a column of users */
    int nullable;
    int orderable;
    const char *pg_order; /* PostgreSQL: the expression a NOCASE column orders by (SQLite: the column's collation) */
} user_cols[] = {
    [STORE_COL_ID] = {"id", 0, 1, NULL},
    [STORE_COL_USER_NAME] = {"user_name", 0, 1, "store_fold(user_name)"},
    [STORE_COL_EXTERNAL_ID] = {"external_id", 1, 1, NULL},
    [STORE_COL_DISPLAY_NAME] = {"display_name", 1, 1, "store_fold(display_name)"},
    [STORE_COL_FAMILY_NAME] = {"family_name", 1, 1, "store_fold(family_name)"},
    [STORE_COL_GIVEN_NAME] = {"given_name", 1, 1, "store_fold(given_name)"},
    [STORE_COL_PRIMARY_EMAIL] = {"primary_email", 1, 1, "store_fold(primary_email)"},
    [STORE_COL_CREATED] = {"created", 0, 1, NULL},
    [STORE_COL_LAST_MODIFIED] = {"last_modified", 0, 1, NULL},
    [STORE_COL_ACTIVE] = {"active", 0, 0, NULL},
    [STORE_COL_ANY_EMAIL] = {NULL, 0, 0, NULL},
};
#define N_USER_COLS (sizeof(user_cols) / sizeof(user_cols[0]))

typedef struct sql_build {
    store_t *s;
    char *sql;
    size_t len, cap;
    store_param_t *params;
    size_t n_params, cap_params;
    int failed;
} sql_build_t;

/* Appends `text` and keeps the SQL NUL-terminated. */
static void put(sql_build_t *b, const char *text)
{
    size_t n = strlen(text);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->sql = gw_realloc(b->sql, b->cap);
    }
    memcpy(b->sql + b->len, text, n + 1);
    b->len += n;
}

/* Appends the next parameter (?3 onwards: ?1 and ?2 are the limit and the offset). */
static void put_param(sql_build_t *b, const char *text, int64_t integer)
{
    if (b->n_params == b->cap_params) {
        b->cap_params = b->cap_params != 0 ? b->cap_params * 2 : 8;
        b->params = gw_realloc(b->params, b->cap_params * sizeof(*b->params));
    }
    b->params[b->n_params++] = (store_param_t){text, integer};
    char num[32];
    snprintf(num, sizeof(num), "?%zu", b->n_params + 2);
    put(b, num);
}

static int build_fail(sql_build_t *b, const char *what)
{
    if (!b->failed)
        store__error(b->s, "select users: %s", what);
    b->failed = 1;
    return -1;
}

/* `expr` (a column, or the email index's value) against the node's value. */
static int put_compare(sql_build_t *b, const char *expr, const store_cond_t *c)
{
    static const char *const ops[] = {
        [STORE_COND_EQ] = " = ", [STORE_COND_GT] = " > ",  [STORE_COND_GE] = " >= ",
        [STORE_COND_LT] = " < ", [STORE_COND_LE] = " <= ",
    };
    static const char *const fns[] = {[STORE_COND_SW] = "store_sw(", [STORE_COND_EW] = "store_ew(", [STORE_COND_CO] = "store_co("};
    if (c->op == STORE_COND_PR) {
        put(b, expr);
        put(b, " <> ''");
        return 0;
    }
    if (c->value == NULL)
        return build_fail(b, "a comparison without a value");
    switch (c->op) {
    case STORE_COND_EQ:
    case STORE_COND_GT:
    case STORE_COND_GE:
    case STORE_COND_LT:
    case STORE_COND_LE:
        if (b->s->pg != NULL) {
            /* PostgreSQL: store_fold() is SQLite's NOCASE (ASCII letters only); "C" its BINARY */
            put(b, c->fold ? "store_fold(" : "");
            put(b, expr);
            put(b, c->fold ? ")" : "");
            put(b, ops[c->op]);
            put(b, c->fold ? "store_fold(" : "");
            put_param(b, c->value, 0);
            put(b, c->fold ? ") COLLATE \"C\"" : " COLLATE \"C\"");
            return 0;
        }
        /* an explicit collation on either side decides the comparison, whatever the column's own */
        put(b, expr);
        put(b, ops[c->op]);
        put_param(b, c->value, 0);
        put(b, c->fold ? " COLLATE NOCASE" : " COLLATE BINARY");
        return 0;
    case STORE_COND_SW:
    case STORE_COND_EW:
    case STORE_COND_CO:
        put(b, fns[c->op]);
        put(b, expr);
        put(b, ", ");
        put_param(b, c->value, 0);
        put(b, c->fold ? ", 1)" : ", 0)");
        return 0;
    default:
        return build_fail(b, "an unknown operator");
    }
}

static int put_cond(sql_build_t *b, const store_cond_t *c)
{
    if (c == NULL)
        return build_fail(b, "a missing operand");
    if (c->op == STORE_COND_AND || c->op == STORE_COND_OR) {
        put(b, "(");
        if (put_cond(b, c->left) != 0)
            return -1;
        put(b, c->op == STORE_COND_AND ? " AND " : " OR ");
        if (put_cond(b, c->right) != 0)
            return -1;
        put(b, ")");
        return 0;
    }
    if ((unsigned)c->col >= N_USER_COLS)
        return build_fail(b, "an unknown column");
    if (c->col == STORE_COL_ACTIVE) {
        if (c->op != STORE_COND_EQ)
            return build_fail(b, "active compares only with EQ");
        put(b, "active = ");
        put_param(b, NULL, c->active != 0);
        return 0;
    }
    if (c->col == STORE_COL_ANY_EMAIL) {
        /* IN (subquery): the email index's own index answers an equality */
        put(b, "seq IN (SELECT user_seq FROM user_emails WHERE ");
        if (put_compare(b, "value", c) != 0)
            return -1;
        put(b, ")");
        return 0;
    }
    return put_compare(b, user_cols[c->col].name, c);
}

store_status_t store__users_select_sql(store_t *s, const store_user_query_t *query, store_select_part_t part, char **sql,
                                       store_param_t **params, size_t *n_params)
{
    sql_build_t b = {.s = s};
    const char *col = NULL;
    *sql = NULL;
    *params = NULL;
    *n_params = 0;
    if (query->ordered) {
        if ((unsigned)query->order >= N_USER_COLS || !user_cols[query->order].orderable) {
            store__error(s, "select users: column %d cannot order", (int)query->order);
            return STORE_ERROR;
        }
        col = user_cols[query->order].name;
    } else if (part != STORE_SELECT_VALUES) {
        store__error(s, "select users: part %d of an unordered query", (int)part);
        return STORE_ERROR;
    }
    /*
     * Without a condition the users of a page are found on the order column's index alone (a
     * covering walk: no record is read while the offset is skipped or a run of equal values is
     * sorted), and select_part reads the page's rows by seq afterwards. With one, the rows come
     * with the walk, which reads every candidate anyway.
     */
    put(&b, part == STORE_SELECT_COUNT ? "SELECT count(*) FROM users WHERE "
            : query->where == NULL     ? "SELECT seq FROM users WHERE "
                                       : "SELECT " USER_COLUMNS " FROM users WHERE ");
    if (col != NULL) {
        put(&b, col);
        put(&b, part == STORE_SELECT_MISSING ? " IS NULL AND " : " IS NOT NULL AND ");
    }
    if (query->where != NULL) {
        /*
         * A subquery of seqs, so that a condition on one column is tested on that column's index
         * (a covering scan of small entries) rather than on every row of the table, whose records
         * carry the resource and its rendering; only the candidates' rows are then read.
         */
        put(&b, "seq IN (SELECT seq FROM users WHERE ");
        put_cond(&b, query->where);
        put(&b, ")");
    } else {
        put(&b, s->pg != NULL ? "TRUE" : "1");
    }
    if (part == STORE_SELECT_VALUES && col != NULL && s->pg != NULL) {
        /* the order column's collation is SQLite's alone: PostgreSQL is told how to compare */
        const char *order = user_cols[query->order].pg_order;
        put(&b, " ORDER BY ");
        put(&b, order != NULL ? order : col);
        put(&b, " COLLATE \"C\"");
        put(&b, query->descending ? " DESC, seq LIMIT ?1 OFFSET ?2" : ", seq LIMIT ?1 OFFSET ?2");
    } else if (part == STORE_SELECT_VALUES && col != NULL) {
        /*
         * The index on the column is walked, backwards when descending; equal values keep creation
         * order both ways, which SQLite sorts within each run of equal values only.
         */
        put(&b, " ORDER BY ");
        put(&b, col);
        put(&b, query->descending ? " DESC, seq LIMIT ?1 OFFSET ?2" : ", seq LIMIT ?1 OFFSET ?2");
    } else if (part != STORE_SELECT_COUNT) {
        put(&b, " ORDER BY seq LIMIT ?1 OFFSET ?2");
    }
    if (b.failed) {
        free(b.sql);
        free(b.params);
        return STORE_ERROR;
    }
    *sql = b.sql;
    *params = b.params;
    *n_params = b.n_params;
    return STORE_OK;
}

/* Visits the users with the seqs `seqs` in that order (one deleted meanwhile is skipped). */
static store_status_t visit_seqs(store_t *s, const int64_t *seqs, size_t n, store_user_cb cb, void *ctx, int *stopped)
{
    store_status_t ret = STORE_OK;
    for (size_t i = 0; i < n && ret == STORE_OK && !*stopped; i++) {
        store_q_t q = q_begin(s, SQL_USER_GET_SEQ);
        q_int64(&q, 1, seqs[i]);
        ret = visit_users(&q, cb, ctx, NULL, NULL, stopped);
    }
    return ret;
}

/*
 * Runs one part of a select: COUNT sets *count; the others visit their rows (stopping when the
 * callback asks: *stopped) and set *found to how many the part's statement gave.
 */
static store_status_t select_part(store_t *s, const store_user_query_t *query, store_select_part_t part, size_t limit,
                                  size_t offset, store_user_cb cb, void *ctx, size_t *found, int *stopped, int64_t *count)
{
    char *sql;
    store_param_t *params;
    size_t n_params;
    if (store__users_select_sql(s, query, part, &sql, &params, &n_params) != STORE_OK)
        return STORE_ERROR;
    store_q_t q = store__q_begin_sql(s, SQL_USER_SELECT, sql);
    if (part != STORE_SELECT_COUNT) {
        q_size(&q, 1, limit);
        q_size(&q, 2, offset);
    }
    for (size_t i = 0; i < n_params; i++) {
        if (params[i].text != NULL)
            q_text(&q, (int)i + 3, params[i].text);
        else
            q_int64(&q, (int)i + 3, params[i].integer);
    }
    store_status_t ret;
    if (part == STORE_SELECT_COUNT) {
        q_step_t r = q_step(&q);
        if (r == Q_ROW)
            *count = q_col_int64(&q, 0);
        else if (r == Q_DONE)
            q_fail(&q, STORE_ERROR, "select users: count gave no row");
        ret = q_end(&q, STORE_OK);
    } else if (query->where == NULL) {
        /* the statement gives seqs (store__users_select_sql): the page's rows are read after it */
        int64_t *seqs = NULL;
        size_t n = 0, cap = 0;
        while (q_step(&q) == Q_ROW) {
            if (n == cap) {
                cap = cap != 0 ? cap * 2 : 64;
                seqs = gw_realloc(seqs, cap * sizeof(*seqs));
            }
            seqs[n++] = q_col_int64(&q, 0);
        }
        ret = q_end(&q, STORE_OK);
        *found = n;
        if (ret == STORE_OK)
            ret = visit_seqs(s, seqs, n, cb, ctx, stopped);
        free(seqs);
    } else {
        *found = 0;
        ret = visit_users(&q, cb, ctx, found, NULL, stopped);
    }
    free(sql);
    free(params);
    return ret;
}

store_status_t store_user_select(store_t *store, const store_user_query_t *query, store_user_cb cb, void *ctx)
{
    size_t found = 0, more = 0;
    int stopped = 0;
    if (query->limit == 0)
        return STORE_OK;
    store_status_t ret =
        select_part(store, query, STORE_SELECT_VALUES, query->limit, query->offset, cb, ctx, &found, &stopped, NULL);
    if (ret != STORE_OK || stopped || found >= query->limit || !query->ordered || !user_cols[query->order].nullable)
        return ret;
    /*
     * The users without a value come after every other, in creation order, whichever the direction:
     * a second walk of the same index (its NULL entries), skipping what the offset has not used up.
     * Having given a row, the first walk used it all; having given none, a count says how much.
     */
    size_t skip = 0;
    if (found == 0 && query->offset > 0) {
        int64_t with_value = 0;
        ret = select_part(store, query, STORE_SELECT_COUNT, 0, 0, cb, ctx, NULL, NULL, &with_value);
        if (ret != STORE_OK)
            return ret;
        skip = (uint64_t)with_value >= query->offset ? 0 : query->offset - (size_t)with_value;
    }
    return select_part(store, query, STORE_SELECT_MISSING, query->limit - found, skip, cb, ctx, &more, &stopped, NULL);
}
