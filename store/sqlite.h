/*
 * The SQLite implementation of store/store.h: internals shared by store/sqlite_*.c (and by the
 * PostgreSQL backend, store/pg_*.c, which reuses every store function above the query helper).
 * Callers of the store use store/store.h; tests/store may look in here.
 *
 * Two backends, one set of store functions: a store_t opened on a postgres:// URL has `pg` set,
 * and the query helper below (q_begin, q_text, q_step, q_col_*, q_end), the transaction
 * statements (sqlite_tx.c exec) and open/close hand their work to store/pg_query.c instead of
 * SQLite. The statement tables stay the one place the SQL lives; PostgreSQL runs the same text
 * (?N becomes $N, lower() the ASCII-only store_fold()) except where store/pg_db.c overrides an
 * entry because the dialects differ.
 *
 * Files, one concern each:
 *   sqlite_query.c    the statement cache, the query helper's slow paths, the error message
 *   sqlite_db.c       open and close, pragmas, schema migrations
 *   sqlite_tx.c       transactions, savepoints, the writers' mutex, group commit
 *   sqlite_users.c    users and their indexes (userName, externalId, emails)
 *   sqlite_outbox.c   the outbox as the delivery loop and the request handlers use it
 *   sqlite_recheck.c  the pending-invitee re-sends
 *   sqlite_admin.c    the operator's view of the outbox (list, stats, retry, drop)
 *   sqlite_mirror.c   the Odeus group mirror (links to Odeus groups, what Odeus holds)
 *   sqlite_copy.c     copying a whole store into another (migrate)
 *
 * Statements. Every statement is named by a store_sql_id_t and prepared once per store_t, lazily
 * on first use, then kept in the store's cache. Its SQL sits in the table of its concern's file
 * (store__users_sql, ...). A statement that is still running when it is needed again (a scan
 * callback calling back into the store) gets a one-off copy instead, so re-entrant calls are safe.
 *
 * The query helper (store_q_t) is the one way to run a cached statement (only the pragmas and
 * migrations of store_open run uncached):
 *
 *     store_q_t q = q_begin(s, SQL_USER_VERSION);
 *     q_text(&q, 1, id);
 *     q_step_t r = q_step(&q);
 *     if (r == Q_ROW)
 *         *version = q_col_int64(&q, 0);
 *     return q_end(&q, r == Q_DONE ? STORE_NOT_FOUND : STORE_OK);
 *
 * The first failure (prepare, bind, step, SQLite out of memory, or q_fail) is recorded once, with
 * its message in the store; every later call on the query is then a no-op and q_step returns
 * Q_ERROR, so a call site checks once. q_end always puts the statement back (reset, bindings
 * cleared, or a one-off finalized) and returns the failure's status, else the `ok` status given.
 * The helper allocates nothing of its own and never re-prepares a cached statement: a call costs an
 * array look-up, the binds (SQLite copies bound text), the steps and a reset. Only q_col_dup
 * allocates, the caller's owned copy.
 */
#ifndef STORE_SQLITE_H
#define STORE_SQLITE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "store/store.h"

/*
 * The schema version both backends migrate to: sqlite_db.c and pg_db.c each check at compile time
 * that their migration list ends there, so that a step added to one is added to the other.
 */
#define STORE_SCHEMA_VERSION 9

/** How long a connection waits for another process's lock before STORE_ERROR. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Every cached statement, by the file that holds its SQL. */
typedef enum store_sql_id {
    /* sqlite_tx.c */
    SQL_BEGIN,
    SQL_COMMIT,
    SQL_ROLLBACK,
    SQL_OP_SAVEPOINT,
    SQL_OP_RELEASE,
    SQL_OP_ROLLBACK_TO,
    SQL_MARK,
    SQL_MARK_RELEASE,
    SQL_MARK_ROLLBACK_TO,
    SQL_SYNC_NORMAL,
    SQL_SYNC_FULL,
    /* sqlite_users.c */
    SQL_USER_GET,
    SQL_USER_GET_SEQ,
    SQL_USER_INSERT,
    SQL_USER_UPDATE,
    SQL_USER_UPDATE_BODY,
    SQL_USER_UPDATE_SORT,
    SQL_USER_KEYS,
    SQL_USER_VERSION,
    SQL_USER_DELETE,
    SQL_EMAIL_LIST,
    SQL_EMAIL_DELETE,
    SQL_EMAIL_INSERT,
    SQL_SCAN_ALL,
    SQL_SCAN_USERNAME,
    SQL_SCAN_EXTERNAL_ID,
    SQL_SCAN_EMAIL,
    SQL_USER_PAGE,
    SQL_USER_PAGE_AFTER,
    SQL_USER_COUNT,
    SQL_SEAT_HOLDERS,
    SQL_USER_SET_ROLE,
    SQL_USER_SELECT,
    SQL_DATA_VERSION,
    /* sqlite_outbox.c */
    /* sqlite_groups.c */
    SQL_GROUP_GET,
    SQL_GROUP_INSERT,
    SQL_GROUP_UPDATE,
    SQL_GROUP_DELETE,
    SQL_GROUP_VERSION,
    SQL_GROUP_SCAN_ALL,
    SQL_GROUP_SCAN_NAME,
    SQL_GROUP_SCAN_EXTERNAL_ID,
    SQL_GROUP_SCAN_MEMBER,
    SQL_GROUP_PAGE,
    SQL_GROUP_COUNT,
    SQL_MEMBER_ADD,
    SQL_MEMBER_REMOVE,
    SQL_MEMBER_CLEAR,
    SQL_USER_EXISTS,
    SQL_MEMBER_LIST,
    SQL_MEMBER_COUNT,
    SQL_USER_GROUPS,
    SQL_OUTBOX_INSERT,
    SQL_OUTBOX_INSERT_NOTE,
    SQL_OUTBOX_GET,
    SQL_OUTBOX_DUE,
    SQL_OUTBOX_DUE_AFTER,
    SQL_OUTBOX_NEXT_DUE,
    SQL_OUTBOX_RESCHEDULE,
    SQL_OUTBOX_FINISH,
    SQL_OUTBOX_SET_BATCH,
    SQL_OUTBOX_PENDING_FOR_USER,
    SQL_OUTBOX_PENDING_COUNT,
    SQL_OUTBOX_ACTION_STATS,
    SQL_OUTBOX_OLDER_PENDING,
    SQL_OUTBOX_REPOINT,
    SQL_OUTBOX_SUPERSEDE_ALL,
    SQL_OUTBOX_SUPERSEDE_ROLE,
    SQL_OUTBOX_SUPERSEDED_BY,
    SQL_OUTBOX_DELIVERED_INVITE,
    SQL_OUTBOX_CLAIM,
    SQL_OUTBOX_EXISTS,
    /* sqlite_recheck.c */
    SQL_RECHECK_SCHEDULE,
    SQL_RECHECK_DUE,
    SQL_RECHECK_NEXT_DUE,
    SQL_RECHECK_RESCHEDULE,
    SQL_RECHECK_REMOVE,
    SQL_RECHECK_REMOVE_SEAT,
    SQL_RECHECK_COUNT,
    /* sqlite_admin.c */
    SQL_OUTBOX_STATE_COUNTS,
    SQL_OUTBOX_PENDING_STATS,
    SQL_OUTBOX_LIST_ANY,
    SQL_OUTBOX_LIST_PENDING,
    SQL_OUTBOX_LIST_STATE,
    SQL_OUTBOX_RETRY,
    SQL_OUTBOX_RETRY_FAILED,
    SQL_OUTBOX_DROP,
    SQL_OUTBOX_HOLD,
    SQL_OUTBOX_RELEASE,
    /* sqlite_mirror.c */
    SQL_MIRROR_GET,
    SQL_MIRROR_PUT,
    SQL_MIRROR_FORGET,
    SQL_MIRROR_FORGET_MEMBERS,
    SQL_MIRROR_ALL,
    SQL_MIRROR_OF_SEAT,
    SQL_MIRROR_RESEND_DUE,
    SQL_MIRROR_MEMBERS,
    SQL_MIRROR_MEMBER_PUT,
    SQL_MIRROR_MEMBER_FORGET,
    SQL_COPY_COUNT, /* also names sqlite_copy.c's run-time statements in errors */
    SQL__COUNT
} store_sql_id_t;

typedef struct store_sql {
    const char *name; /* what the statement does, for error messages ("insert user") */
    const char *text;
} store_sql_t;

/*
 * The statement tables, indexed by store_sql_id_t. Each file fills the entries of its own
 * statements and leaves the others zero; every id is in exactly one table (tests/store checks).
 */
extern const store_sql_t store__tx_sql[SQL__COUNT];
extern const store_sql_t store__users_sql[SQL__COUNT];
extern const store_sql_t store__outbox_sql[SQL__COUNT];
extern const store_sql_t store__recheck_sql[SQL__COUNT];
extern const store_sql_t store__admin_sql[SQL__COUNT];
extern const store_sql_t store__groups_sql[SQL__COUNT];
extern const store_sql_t store__mirror_sql[SQL__COUNT];

/* The entry of statement `id`, from whichever table holds it; NULL if none does. */
const store_sql_t *store__sql(store_sql_id_t id);

/* The columns every user read returns (sqlite_users.c), and every group read (sqlite_groups.c). */
#define USER_COLUMNS                                                                                                               \
    "id, user_name, external_id, odeus_email, active, created, last_modified, version, resource, rendered, odeus_role, seat_held"
#define GROUP_COLUMNS "id, display_name, external_id, created, last_modified, version, resource"

/* The columns every outbox read returns, in the order store__outbox_from_row() expects. */
#define OUTBOX_COLUMNS                                                                                                             \
    "id, user_id, action, email, role, state, attempts, created_at, next_attempt_at, last_error, outcome, prev_resource, "         \
    "result_version, superseded_by, cause, batch_id"

/*
 * A row of the seat of `o` older than it whose call may still be on the wire (`now`: the parameter
 * holding the time): under a live lease though no longer pending, because a newer deactivation
 * superseded it while its call was out (the call's record ends the lease). That call may still
 * reach Odeus, so the seat's newer rows wait for it, whichever replica sent it (a replica knows
 * its own calls; of the others' it knows only the lease).
 */
#define OUTBOX_OLDER_ON_WIRE(o, now)                                                                                               \
    "EXISTS (SELECT 1 FROM outbox AS l WHERE l.seat = " o ".seat AND l.lease_until > " now " AND l.id < " o ".id)"
/*
 * Due rows (?1: now, ?4: this connection's lease owner, store_outbox_set_owner): only the oldest
 * pending row of each seat (a row another replica has claimed is pending, so it holds its seat's
 * newer rows back), behind no older call of the seat still on the wire, and not a row under
 * another replica's live lease; deactivations first, then commit order.
 */
#define OUTBOX_DUE_WHERE                                                                                                           \
    "o.state = 0 AND o.next_attempt_at <= ?1 AND (o.lease_until IS NULL OR o.lease_until <= ?1 OR o.lease_owner = ?4)"             \
    " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.seat = o.seat AND p.state = 0 AND p.id < o.id)"                            \
    " AND NOT " OUTBOX_OLDER_ON_WIRE("o", "?1") " ORDER BY o.action <> 'deactivate', o.id"

struct store_sync_group; /* sqlite_tx.c */
struct store_pg;         /* store/pg_query.c: the libpq connection and its prepared statements */
struct store_pgq;        /* store/pg_query.c: one query's parameters and result */

struct store {
    sqlite3 *db;         /* NULL on PostgreSQL */
    struct store_pg *pg; /* NULL on SQLite */
    /* transactions (sqlite_tx.c) */
    int writing;                    /* holds the writers' mutex */
    int relaxed;                    /* store_relax_sync(): synchronous=NORMAL for good, no group sync */
    int grouped;                    /* the open transaction runs at synchronous=NORMAL and commits through the group */
    int defer_sync;                 /* store_commit_deferred: the commit hands out a ticket instead of waiting */
    uint64_t deferred_ticket;       /* that ticket */
    struct store_sync_group *group; /* NULL for an in-memory database */
    /*
     * Paging (sqlite_users.c). Paging a whole directory (an IdP's import: startIndex=1, 101, 201,
     * ...) with OFFSET costs O(offset) per page, O(n^2) in all. The connection remembers where its
     * last page ended (the offset after it and that row's seq) and the user count, valid while the
     * database is unchanged (same data_version for other connections' commits, same total_changes
     * for its own).
     */
    struct {
        int64_t data_version, changes;
        int valid;
    } page_at, count_at;
    size_t page_next_offset;
    int64_t page_last_seq;
    size_t count;
    sqlite3_stmt *stmts[SQL__COUNT]; /* the statement cache (sqlite_query.c) */
    char *owner;                     /* the outbox lease owner (store_outbox_set_owner); NULL: none */
    char errmsg[STORE_ERRMSG_MAX];
};

/* ---- errors (sqlite_query.c) ------------------------------------------------------------------ */

/* Sets the store's message (cut to STORE_ERRMSG_MAX, ending in "..." when cut). */
void store__error(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void store__verror(store_t *s, const char *fmt, va_list ap);

/* ---- transactions (sqlite_tx.c) ------------------------------------------------------------------ */

/* store_rollback, keeping the message of the failure that made the caller roll back. */
void store__rollback_keeping_error(store_t *s);

/*
 * A write that touches several rows runs inside store__op_enter/store__op_leave, which make it
 * atomic on its own: outside a transaction it gets its own BEGIN IMMEDIATE, inside the caller's
 * transaction a savepoint that undoes a half-done change without ending that transaction.
 */
typedef enum store_op_scope { STORE_OP_OWN_TX, STORE_OP_SAVEPOINT } store_op_scope_t;

store_status_t store__op_enter(store_t *s, store_op_scope_t *scope);
/* Ends what store__op_enter began: commits when `ret` is STORE_OK (returning the commit's status), else
 * undoes and returns `ret` with the first failure's message. */
store_status_t store__op_leave(store_t *s, store_op_scope_t scope, store_status_t ret);

/* Joins the group commit of the store's database file (store_open, WAL only) and leaves it (store_close). */
void store__group_join(store_t *s);
void store__group_leave(store_t *s);

/* ---- the query helper ------------------------------------------------------------------------- */

typedef struct store_q {
    store_t *s;
    sqlite3_stmt *st; /* NULL when the prepare failed */
    store_sql_id_t id;
    int rc;               /* the SQLite result code of the failure; SQLITE_OK when none */
    store_status_t fail;  /* STORE_OK, or the status q_end returns (the message is in s->errmsg) */
    struct store_pgq *pq; /* PostgreSQL only: the parameters, then the result */
} store_q_t;

typedef enum q_step { Q_ROW, Q_DONE, Q_ERROR } q_step_t;

/* Takes statement `id` from the cache, preparing it on first use (or a one-off copy if it is busy). */
static store_q_t q_begin(store_t *s, store_sql_id_t id);
/*
 * A statement built at run time (a list's condition and order), prepared for this query alone and
 * finalized by q_end. `id` names it in error messages; its table entry is never prepared by it.
 */
store_q_t store__q_begin_sql(store_t *s, store_sql_id_t id, const char *text);
/* Binders: ?`idx` (from 1). Text is copied; NULL binds SQL NULL. A size_t above INT64_MAX binds INT64_MAX. */
static void q_text(store_q_t *q, int idx, const char *text);
static void q_int64(store_q_t *q, int idx, int64_t value);
static void q_size(store_q_t *q, int idx, size_t value);
/* Steps: Q_ROW (a row is current), Q_DONE, or Q_ERROR (recorded; also after any earlier failure). */
static q_step_t q_step(store_q_t *q);
/* Columns of the current row, from 0. */
static int q_col_null(store_q_t *q, int col);
static int64_t q_col_int64(store_q_t *q, int col);
/* Borrowed until the next q_step or q_end; NULL for SQL NULL (SQLite out of memory records a failure). */
static const char *q_col_text(store_q_t *q, int col);
/* An owned copy into *dst (NULL for SQL NULL); SQLite out of memory records a failure and sets *dst to NULL. */
static void q_col_dup(store_q_t *q, int col, char **dst);
/* Rows changed by the last write statement / the rowid it inserted. */
static int64_t q_changes(store_q_t *q);
static int64_t q_last_id(store_q_t *q);
/* 1 while no failure is recorded. */
static int q_ok(const store_q_t *q);
/* Records a failure of the caller's own (a corrupt row, ...): q_end will return `status` (not STORE_OK). */
static void q_fail(store_q_t *q, store_status_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* After a failed step: when it broke the UNIQUE constraint on `column` ("table.column"), the failure
 * becomes STORE_CONFLICT with message `msg`. */
static void q_conflict_on(store_q_t *q, const char *column, const char *msg);
/* Puts the statement back and returns the recorded failure's status, else `ok`. */
static store_status_t q_end(store_q_t *q, store_status_t ok);
/* Runs statement `id`, which takes no parameters and yields one integer: STORE_NOT_FOUND when it is NULL. */
static store_status_t q_scalar(store_t *s, store_sql_id_t id, int64_t *out);

/* The slow paths of the helper (sqlite_query.c). */
void store__q_prepare(store_q_t *q);
void store__q_failed(store_q_t *q, int rc);
void store__q_put(store_q_t *q);

/* ---- users (sqlite_users.c) ------------------------------------------------------------------------ */

/*
 * Registers the SQL functions that conditions on users use (store_co, store_sw, store_ew: contains,
 * starts with, ends with, with an ASCII-folding flag) on the connection. STORE_OK or STORE_ERROR.
 */
store_status_t store__users_register(store_t *s);

/* Which of the statements store_user_select runs. */
typedef enum store_select_part {
    STORE_SELECT_VALUES,  /* ordered: the users with a value in the order column (all of them when not ordered) */
    STORE_SELECT_MISSING, /* ordered: the users without one */
    STORE_SELECT_COUNT,   /* ordered: how many users have one */
} store_select_part_t;

/*
 * The SQL of one statement of store_user_select(query) into *sql and its parameters into *params
 * (*n_params of them), both malloc'd (free()); tests/store checks the plans. ?1 is the limit and ?2
 * the offset (unused by STORE_SELECT_COUNT); the condition's values are ?3 onwards. Without a
 * condition the statement gives seqs only (the rows are read by seq after it), else USER_COLUMNS.
 * STORE_OK, or STORE_ERROR for a query store_user_select refuses (errmsg set, nothing to free).
 */
typedef struct store_param {
    const char *text; /* NULL: the integer */
    int64_t integer;
} store_param_t;
store_status_t store__users_select_sql(store_t *s, const store_user_query_t *query, store_select_part_t part, char **sql,
                                       store_param_t **params, size_t *n_params);

/* ---- outbox rows (sqlite_outbox.c) ---------------------------------------------------------------- */

/* Copies the current row of `q` (OUTBOX_COLUMNS) into `out`, which owns the strings afterwards; on
 * failure (SQLite out of memory, an unknown state) `out` is zeroed and the failure recorded in `q`. */
void store__outbox_from_row(store_q_t *q, store_outbox_t *out);

/* Cancels the pending-invitee re-sends of seat `email` (sqlite_recheck.c): STORE_OK or STORE_ERROR. */
store_status_t store__recheck_remove_seat(store_t *s, const char *email);

/* ---- PostgreSQL (store/pg_query.c, store/pg_db.c) ------------------------------------------------ */

/*
 * The PostgreSQL text of the statements whose SQLite text does not carry over (store/pg_db.c);
 * the other entries are NULL and the SQLite text runs, translated.
 */
extern const store_sql_t store__pg_sql[SQL__COUNT];

/* Whether `url` names a PostgreSQL database (postgres:// or postgresql://). */
int store__pg_url(const char *url);
/* store_url_check of a postgres:// URL: whether libpq can parse it. */
int store__pg_url_check(const char *url, char *why, size_t why_len);
/* store_open, store_close and store_relax_sync of a PostgreSQL store. */
store_t *store__pg_open(const char *url, char *err, size_t err_len);
void store__pg_close(store_t *s);
store_status_t store__pg_relax_sync(store_t *s);
int store__pg_unavailable(store_t *s, int *retry_after_s);
/* The rows this connection's statements changed so far (sqlite3_total_changes64's twin). */
int64_t store__pg_total_changes(store_t *s);
/*
 * pg_query.c for pg_db.c: connect (and set the session up), say the store is open (from then on a
 * broken connection is made again on the next use), run a script, read one integer.
 */
store_status_t store__pg_connect(store_t *s, const char *url);
void store__pg_opened(store_t *s);
store_status_t store__pg_run_script(store_t *s, const char *what, const char *sql);
store_status_t store__pg_scalar(store_t *s, const char *what, const char *sql, int64_t *out);
/* Runs transaction statement `id` (SQL_BEGIN, SQL_COMMIT, SQL_ROLLBACK, the savepoints). */
store_status_t store__pg_exec(store_t *s, store_sql_id_t id);
/* 1 when no transaction is open on the connection. */
int store__pg_autocommit(store_t *s);
/* The seq or id the last INSERT of this connection gave its row. */
store_status_t store__pg_last_id(store_t *s, int64_t *id);
/* The query helper's PostgreSQL side: the same contracts as the q_* functions they stand for. */
store_q_t store__pg_q_begin(store_t *s, store_sql_id_t id, const char *text);
void store__pg_bind(store_q_t *q, int idx, const char *text, int is_int);
q_step_t store__pg_step(store_q_t *q);
const char *store__pg_col(store_q_t *q, int col);
int64_t store__pg_changes(store_q_t *q);
int store__pg_conflict_on(store_q_t *q, const char *column);
void store__pg_q_end(store_q_t *q);

/* 1 when no transaction is open on the store's connection, whichever the backend. */
static inline int store__autocommit(store_t *s)
{
    return s->pg != NULL ? store__pg_autocommit(s) : sqlite3_get_autocommit(s->db);
}

/* The rowid (seq, id) the last INSERT on this store gave its row: STORE_OK or STORE_ERROR. */
static inline store_status_t store__last_insert_id(store_t *s, int64_t *id)
{
    if (s->pg != NULL)
        return store__pg_last_id(s, id);
    *id = sqlite3_last_insert_rowid(s->db);
    return STORE_OK;
}

/* ---- inline defs -------------------------------------------------------------------------------- */

inline store_q_t q_begin(store_t *s, store_sql_id_t id)
{
    if (s->pg != NULL)
        return store__pg_q_begin(s, id, NULL);
    store_q_t q = {s, s->stmts[id], id, SQLITE_OK, STORE_OK, NULL};
    if (q.st == NULL || sqlite3_stmt_busy(q.st))
        store__q_prepare(&q);
    return q;
}

inline void q_text(store_q_t *q, int idx, const char *text)
{
    if (q->fail != STORE_OK)
        return;
    if (q->pq != NULL) {
        store__pg_bind(q, idx, text, 0);
        return;
    }
    int rc = text == NULL ? sqlite3_bind_null(q->st, idx) : sqlite3_bind_text(q->st, idx, text, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK)
        store__q_failed(q, rc);
}

inline void q_int64(store_q_t *q, int idx, int64_t value)
{
    if (q->fail != STORE_OK)
        return;
    if (q->pq != NULL) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)value);
        store__pg_bind(q, idx, num, 1);
        return;
    }
    int rc = sqlite3_bind_int64(q->st, idx, value);
    if (rc != SQLITE_OK)
        store__q_failed(q, rc);
}

inline void q_size(store_q_t *q, int idx, size_t value)
{
    q_int64(q, idx, value > (size_t)INT64_MAX ? INT64_MAX : (int64_t)value);
}

inline q_step_t q_step(store_q_t *q)
{
    if (q->fail != STORE_OK)
        return Q_ERROR;
    if (q->pq != NULL)
        return store__pg_step(q);
    int rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW)
        return Q_ROW;
    if (rc == SQLITE_DONE)
        return Q_DONE;
    store__q_failed(q, rc);
    return Q_ERROR;
}

inline int q_col_null(store_q_t *q, int col)
{
    if (q->pq != NULL)
        return store__pg_col(q, col) == NULL;
    return sqlite3_column_type(q->st, col) == SQLITE_NULL;
}

inline int64_t q_col_int64(store_q_t *q, int col)
{
    if (q->pq != NULL) {
        const char *text = store__pg_col(q, col);
        return text != NULL ? strtoll(text, NULL, 10) : 0;
    }
    return sqlite3_column_int64(q->st, col);
}

inline const char *q_col_text(store_q_t *q, int col)
{
    if (q->pq != NULL)
        return store__pg_col(q, col);
    if (q_col_null(q, col))
        return NULL;
    const char *text = (const char *)sqlite3_column_text(q->st, col);
    if (text == NULL) /* a NULL for a non-NULL value: SQLite ran out of memory converting it */
        q_fail(q, STORE_ERROR, "out of memory");
    return text;
}

inline void q_col_dup(store_q_t *q, int col, char **dst)
{
    const char *text = q_col_text(q, col);
    *dst = text != NULL ? gw_strdup(text) : NULL;
}

inline int64_t q_changes(store_q_t *q)
{
    if (q->pq != NULL)
        return store__pg_changes(q);
    return sqlite3_changes64(q->s->db);
}

inline int64_t q_last_id(store_q_t *q)
{
    int64_t id = 0;
    if (q->fail == STORE_OK && store__last_insert_id(q->s, &id) != STORE_OK)
        q->fail = STORE_ERROR; /* the message is in the store */
    return id;
}

inline int q_ok(const store_q_t *q)
{
    return q->fail == STORE_OK;
}

inline void q_fail(store_q_t *q, store_status_t status, const char *fmt, ...)
{
    if (q->fail != STORE_OK)
        return;
    q->fail = status;
    va_list ap;
    va_start(ap, fmt);
    store__verror(q->s, fmt, ap);
    va_end(ap);
}

inline void q_conflict_on(store_q_t *q, const char *column, const char *msg)
{
    if (q->pq != NULL) {
        if (q->fail == STORE_ERROR && store__pg_conflict_on(q, column)) {
            q->fail = STORE_CONFLICT;
            store__error(q->s, "%s", msg);
        }
        return;
    }
    /* the message text is the only place SQLite names the violated constraint */
    if (q->fail == STORE_ERROR && q->rc == SQLITE_CONSTRAINT_UNIQUE && strstr(sqlite3_errmsg(q->s->db), column) != NULL) {
        q->fail = STORE_CONFLICT;
        store__error(q->s, "%s", msg);
    }
}

inline store_status_t q_end(store_q_t *q, store_status_t ok)
{
    if (q->pq != NULL)
        store__pg_q_end(q);
    else if (q->st != NULL)
        store__q_put(q);
    return q->fail != STORE_OK ? q->fail : ok;
}

inline store_status_t q_scalar(store_t *s, store_sql_id_t id, int64_t *out)
{
    store_q_t q = q_begin(s, id);
    q_step_t r = q_step(&q);
    if (r == Q_DONE)
        q_fail(&q, STORE_ERROR, "%s: no row", store__sql(id)->name);
    int null = r != Q_ROW || q_col_null(&q, 0);
    if (!null)
        *out = q_col_int64(&q, 0);
    return q_end(&q, null ? STORE_NOT_FOUND : STORE_OK);
}

#endif
