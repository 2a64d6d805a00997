/*
 * Copying a whole store into another (`odeus-scim-gateway migrate`, cli/migrate_cli.c): every row
 * of every table, raw, with its keys.
 *
 * Why raw rows rather than store_user_insert and friends: the store functions make new keys (seq,
 * outbox ids) and write the outbox as a side effect of changes, while a move must keep what the
 * rows say about each other: memberships and email index entries point at user and group seqs,
 * superseded_by and batch_id and the re-sends' outbox_id at outbox ids, and the outbox's id order
 * is the per-seat delivery order. Copying the rows with their keys keeps all of it, and it holds
 * for finished rows (the history `outbox list` shows) as for pending ones.
 *
 * One transaction on the target: a failed copy leaves it as it was. The source is read inside a
 * transaction of its own too (on SQLite, BEGIN IMMEDIATE: no writer changes it mid-copy).
 * Rows go in by COPY_BATCH per INSERT to spare PostgreSQL a round trip per row.
 */
#include "store/sqlite.h"

#define COPY_BATCH 100

/* One table: its columns in the order both backends' schemas have them at STORE_SCHEMA_VERSION,
 * `types` holding 'i' (integer) or 't' (text) per column, and the order its rows are read in. */
typedef struct copy_table {
    const char *name;
    const char *columns;
    const char *types;
    const char *order_sqlite;
    const char *order_pg;
} copy_table_t;

/*
 * Parents before children. The lease columns of the outbox, if the schema has them, are not
 * copied: a moved row belongs to no replica yet. user_emails keeps its insertion order (rowid on
 * SQLite, pos on PostgreSQL), which is the order a user's emails were given in.
 */
static const copy_table_t tables[] = {
    {"users",
     "seq, id, user_name, external_id, odeus_email, active, created, last_modified, version, resource, rendered, odeus_role, "
     "seat_held, display_name, family_name, given_name, primary_email",
     "ittttittitttitttt", "seq", "seq"},
    {"user_emails", "user_seq, value", "it", "rowid", "pos"},
    {"groups", "seq, id, display_name, external_id, created, last_modified, version, resource", "itttttit", "seq", "seq"},
    {"group_members", "group_seq, user_seq", "ii", "group_seq, user_seq", "group_seq, user_seq"},
    {"outbox",
     "id, user_id, action, email, role, state, attempts, created_at, next_attempt_at, last_error, outcome, done_at, "
     "prev_resource, result_version, superseded_by, seat, cause, batch_id",
     "ittttiiiittitiitti", "id", "id"},
    {"invitee_recheck", "user_id, email, outbox_id, created_at, next_at, until_at, sends, last_error, seat, action, role",
     "ttiiiiitttt", "user_id", "user_id"},
    /* the Odeus group mirror: its links to Odeus groups, and what Odeus holds */
    {"mirror_groups", "group_id, odeus_id, state, reason, updated_at", "tttti", "group_id", "group_id"},
    {"mirror_members", "group_id, email, have, next_at, until_at, sends, last_error", "ttiiiit", "group_id, email",
     "group_id, email"},
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

/* The number of columns of `t` (its commas + 1). */
static int column_count(const copy_table_t *t)
{
    int n = 1;
    for (const char *c = t->columns; *c != '\0'; c++)
        n += *c == ',';
    return n;
}

/* Binds one value read as text: integers as integers (PostgreSQL types the parameter by it, NULL included). */
static void bind_value(store_q_t *q, int idx, const char *text, int is_int)
{
    if (q->pq != NULL) {
        if (q_ok(q))
            store__pg_bind(q, idx, text, is_int);
    } else if (text != NULL && is_int) {
        q_int64(q, idx, strtoll(text, NULL, 10));
    } else {
        q_text(q, idx, text);
    }
}

/* Inserts the `n_rows` rows of `values` (n_rows * n_cols, owned; freed and zeroed here) into `t` on `to`. */
static store_status_t insert_batch(store_t *to, const copy_table_t *t, int n_cols, char **values, int n_rows)
{
    size_t cap = strlen(t->columns) + strlen(t->name) + 64 + (size_t)n_rows * (size_t)n_cols * 8;
    char *sql = gw_malloc(cap);
    size_t len = (size_t)snprintf(sql, cap, "INSERT INTO %s (%s) VALUES ", t->name, t->columns);
    for (int r = 0; r < n_rows; r++) {
        len += (size_t)snprintf(sql + len, cap - len, "%s(", r > 0 ? ", " : "");
        for (int c = 0; c < n_cols; c++)
            len += (size_t)snprintf(sql + len, cap - len, "%s?%d", c > 0 ? ", " : "", r * n_cols + c + 1);
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    store_q_t q = store__q_begin_sql(to, SQL_COPY_COUNT, sql);
    free(sql);
    for (int i = 0; i < n_rows * n_cols; i++)
        bind_value(&q, i + 1, values[i], t->types[i % n_cols] == 'i');
    q_step(&q);
    store_status_t ret = q_end(&q, STORE_OK);
    for (int i = 0; i < n_rows * n_cols; i++) {
        free(values[i]);
        values[i] = NULL;
    }
    if (ret != STORE_OK)
        store__error(to, "copying %s: %s", t->name, store_errmsg(to));
    return ret;
}

/* Copies every row of table `t` from `from` into `to`; *count says how many. */
static store_status_t copy_table(store_t *from, store_t *to, const copy_table_t *t, int64_t *count)
{
    int n_cols = column_count(t);
    if ((size_t)n_cols != strlen(t->types)) { /* a column added to the list without its type */
        store__error(to, "copying %s: %d columns but %zu types", t->name, n_cols, strlen(t->types));
        return STORE_ERROR;
    }
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", t->columns, t->name,
             from->pg != NULL ? t->order_pg : t->order_sqlite);
    char **values = gw_calloc((size_t)n_cols * COPY_BATCH, sizeof(*values));
    int n_rows = 0;
    store_status_t ret = STORE_OK;
    *count = 0;
    store_q_t q = store__q_begin_sql(from, SQL_COPY_COUNT, sql);
    q_step_t r;
    while (ret == STORE_OK && (r = q_step(&q)) == Q_ROW) {
        for (int c = 0; c < n_cols; c++)
            q_col_dup(&q, c, &values[n_rows * n_cols + c]);
        n_rows++;
        (*count)++;
        if (n_rows == COPY_BATCH) {
            ret = insert_batch(to, t, n_cols, values, n_rows);
            n_rows = 0;
        }
    }
    store_status_t read = q_end(&q, STORE_OK);
    if (read != STORE_OK && ret == STORE_OK) {
        store__error(to, "reading %s: %s", t->name, store_errmsg(from));
        ret = read;
    }
    if (ret == STORE_OK && n_rows > 0)
        ret = insert_batch(to, t, n_cols, values, n_rows);
    for (int i = 0; i < n_rows * n_cols; i++)
        free(values[i]);
    free(values);
    return ret;
}

/*
 * PostgreSQL hands out seqs and ids from sequences, which rows inserted with their keys do not
 * advance: each is set past the largest key copied, so that the next user or outbox row comes
 * after every copied one (the outbox's order is its id order). SQLite's AUTOINCREMENT follows
 * explicit keys by itself.
 */
static store_status_t advance_sequences(store_t *to)
{
    if (to->pg == NULL)
        return STORE_OK;
    static const char *const keys[][2] = {{"users", "seq"}, {"user_emails", "pos"}, {"groups", "seq"}, {"outbox", "id"}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE((SELECT max(%s) FROM %s), 0) + 1, false)", keys[i][0],
                 keys[i][1], keys[i][1], keys[i][0]);
        if (store__pg_run_script(to, "advance the sequences", sql) != STORE_OK)
            return STORE_ERROR;
    }
    return STORE_OK;
}

/* Empties every table of `to`, children first. */
static store_status_t empty_tables(store_t *to)
{
    for (size_t i = N_TABLES; i-- > 0;) {
        char sql[64];
        snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i].name);
        store_q_t q = store__q_begin_sql(to, SQL_COPY_COUNT, sql);
        q_step(&q);
        if (q_end(&q, STORE_OK) != STORE_OK)
            return STORE_ERROR;
    }
    return STORE_OK;
}

store_status_t store_row_count(store_t *store, int64_t *count)
{
    return q_scalar(store, SQL_COPY_COUNT, count) == STORE_ERROR ? STORE_ERROR : STORE_OK;
}

store_status_t store_copy(store_t *from, store_t *to, int replace, store_copy_counts_t *counts)
{
    memset(counts, 0, sizeof(*counts));
    if (store_begin(from) != STORE_OK) {
        store__error(to, "reading the source: %s", store_errmsg(from));
        return STORE_ERROR;
    }
    store_status_t ret = store_begin(to);
    int64_t present = 0;
    if (ret == STORE_OK)
        ret = store_row_count(to, &present);
    if (ret == STORE_OK && present > 0 && !replace) {
        store__error(to, "the target holds %lld rows (users, groups, outbox rows, re-sends, group mirrors)", (long long)present);
        ret = STORE_CONFLICT;
    }
    if (ret == STORE_OK && present > 0)
        ret = empty_tables(to);
    int64_t *slots[N_TABLES] = {&counts->users,  &counts->emails,   &counts->groups,        &counts->members,
                                &counts->outbox, &counts->rechecks, &counts->mirror_groups, &counts->mirror_members};
    for (size_t i = 0; ret == STORE_OK && i < N_TABLES; i++)
        ret = copy_table(from, to, &tables[i], slots[i]);
    if (ret == STORE_OK)
        ret = advance_sequences(to);
    if (ret == STORE_OK)
        ret = store_commit(to);
    if (ret != STORE_OK) {
        char saved[STORE_ERRMSG_MAX];
        memcpy(saved, to->errmsg, sizeof(saved));
        store_rollback(to);
        memcpy(to->errmsg, saved, sizeof(saved));
    }
    store_rollback(from); /* it only read */
    return ret;
}
