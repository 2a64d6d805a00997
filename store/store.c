/*
 * The SQLite store: users, their email index and the outbox in one WAL database.
 *
 * Every statement is prepared once per store_t (lazily, on first use) and kept; a statement that is
 * still running when it is needed again (a scan callback calling back into the store) gets a
 * one-off copy instead, so re-entrant calls are safe.
 */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * Schema migrations: migrations[i] takes the schema from user_version i to i + 1. Append new
 * steps; never edit a released one, since databases in the field already ran it.
 *
 * COLLATE NOCASE folds ASCII letters only, so userName and email comparisons are
 * case-insensitive for A-Z; non-ASCII letters compare exactly. Good enough for identifiers and
 * email addresses in practice, and it keeps the index usable for lookups.
 */
static const char *const migrations[] = {
    /* 0 -> 1: initial schema */
    "CREATE TABLE users ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " user_name TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    " external_id TEXT,"
    " odeus_email TEXT,"
    " active INTEGER NOT NULL,"
    " created TEXT NOT NULL,"
    " last_modified TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " resource TEXT NOT NULL);"
    "CREATE INDEX users_external_id ON users(external_id);"
    "CREATE TABLE user_emails ("
    " user_seq INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
    " value TEXT NOT NULL COLLATE NOCASE);"
    "CREATE INDEX user_emails_value ON user_emails(value);"
    /* the cascade and the delete-before-reinsert on update look rows up by user_seq */
    "CREATE INDEX user_emails_user ON user_emails(user_seq);"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " role TEXT,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " next_attempt_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " outcome TEXT,"
    " done_at INTEGER,"
    " prev_resource TEXT,"
    " result_version INTEGER NOT NULL DEFAULT 0);"
    /*
     * Finished rows are kept (they are the history) and outnumber pending ones; partial indexes on
     * state = 0 keep the delivery queries proportional to the pending rows. Every query on the
     * outbox that should use them says "state = 0" literally, which is what lets SQLite pick them.
     */
    "CREATE INDEX outbox_due ON outbox(state, next_attempt_at) WHERE state = 0;"
    "CREATE INDEX outbox_user ON outbox(user_id, state) WHERE state = 0;",
    /*
     * 1 -> 2: coalescing and pending-invitee re-sends. superseded_by points a superseded row
     * (state 3) at the live row that replaced it, so that a request waiting on the old row can
     * follow the new one. invitee_recheck holds the deactivations that Odeus answered 404 for a
     * user the gateway had invited: they are sent again until the invitation could no longer be
     * accepted (README, "Invitees who never joined").
     */
    "ALTER TABLE outbox ADD COLUMN superseded_by INTEGER;"
    "CREATE INDEX outbox_superseded ON outbox(superseded_by) WHERE superseded_by IS NOT NULL;"
    "CREATE TABLE invitee_recheck ("
    " user_id TEXT PRIMARY KEY,"
    " email TEXT NOT NULL,"
    " outbox_id INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL,"
    " until_at INTEGER NOT NULL,"
    " sends INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT);"
    "CREATE INDEX invitee_recheck_due ON invitee_recheck(next_at);"
    /* "did Odeus ever accept an invite for this user", asked when a deactivation meets a 404 */
    "CREATE INDEX outbox_user_done ON outbox(user_id, action) WHERE state = 1;",
    /*
     * 2 -> 3: the rendering of each user without "meta" (scim_user_render_text of resource), so
     * that reads splice meta into stored text instead of parsing and rendering the resource. Rows
     * written before have NULL there, and readers render them from resource.
     */
    "ALTER TABLE users ADD COLUMN rendered TEXT;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define USER_COLUMNS "id, user_name, external_id, odeus_email, active, created, last_modified, version, resource, rendered"
/* Due rows (?1: now), only the oldest pending one of each user, deactivations first (ST_OUTBOX_DUE). */
#define OUTBOX_DUE_WHERE                                                                                                           \
    "o.state = 0 AND o.next_attempt_at <= ?1"                                                                                      \
    " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.user_id = o.user_id AND p.state = 0 AND p.id < o.id)"                      \
    " ORDER BY o.action <> 'deactivate', o.id"
#define OUTBOX_COLUMNS                                                                                                             \
    "id, user_id, action, email, role, state, attempts, created_at, next_attempt_at, last_error, outcome, prev_resource, "         \
    "result_version, superseded_by"

typedef enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_MARK,
    ST_MARK_RELEASE,
    ST_MARK_ROLLBACK_TO,
    ST_SYNC_NORMAL,
    ST_SYNC_FULL,
    ST_USER_GET,
    ST_USER_INSERT,
    ST_USER_UPDATE,
    ST_USER_KEYS,
    ST_USER_VERSION,
    ST_USER_UPDATE_BODY,
    ST_EMAIL_LIST,
    ST_USER_DELETE,
    ST_EMAIL_DELETE,
    ST_EMAIL_INSERT,
    ST_SCAN_ALL,
    ST_SCAN_USERNAME,
    ST_SCAN_EXTERNAL_ID,
    ST_SCAN_EMAIL,
    ST_USER_PAGE,
    ST_USER_PAGE_AFTER,
    ST_USER_COUNT,
    ST_DATA_VERSION,
    ST_OUTBOX_INSERT,
    ST_OUTBOX_GET,
    ST_OUTBOX_DUE,
    ST_OUTBOX_DUE_AFTER,
    ST_OUTBOX_NEXT_DUE,
    ST_OUTBOX_RESCHEDULE,
    ST_OUTBOX_FINISH,
    ST_OUTBOX_PENDING_FOR_USER,
    ST_OUTBOX_PENDING_COUNT,
    ST_OUTBOX_REPOINT,
    ST_OUTBOX_SUPERSEDE_ALL,
    ST_OUTBOX_OLDER_PENDING,
    ST_OUTBOX_SUPERSEDE_ROLE,
    ST_OUTBOX_SUPERSEDED_BY,
    ST_OUTBOX_DELIVERED_INVITE,
    ST_OUTBOX_STATE_COUNTS,
    ST_OUTBOX_PENDING_STATS,
    ST_OUTBOX_RETRY,
    ST_OUTBOX_RETRY_FAILED,
    ST_OUTBOX_DROP,
    ST_RECHECK_CANCEL,
    ST_RECHECK_SCHEDULE,
    ST_RECHECK_DUE,
    ST_RECHECK_NEXT_DUE,
    ST_RECHECK_RESCHEDULE,
    ST_RECHECK_REMOVE,
    ST_RECHECK_COUNT,
    ST__COUNT
} stmt_id_t;

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [ST_SAVEPOINT] = "SAVEPOINT store_op",
    [ST_RELEASE] = "RELEASE store_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO store_op",
    [ST_MARK] = "SAVEPOINT store_mark",
    [ST_MARK_RELEASE] = "RELEASE store_mark",
    [ST_MARK_ROLLBACK_TO] = "ROLLBACK TO store_mark",
    [ST_USER_GET] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1",
    [ST_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_USER_UPDATE] = "UPDATE users SET user_name = ?2, external_id = ?3, odeus_email = ?4, active = ?5, created = ?6,"
                       " last_modified = ?7, version = ?8, resource = ?9, rendered = ?10 WHERE id = ?1",
    [ST_USER_KEYS] = "SELECT seq, user_name, external_id FROM users WHERE id = ?1",
    [ST_USER_VERSION] = "SELECT version FROM users WHERE id = ?1",
    /* ?2 and ?3 (userName, externalId) are bound but unchanged: their indexes are left alone */
    [ST_USER_UPDATE_BODY] = "UPDATE users SET odeus_email = ?4, active = ?5, created = ?6, last_modified = ?7,"
                            " version = ?8, resource = ?9, rendered = ?10 WHERE id = ?1",
    [ST_EMAIL_LIST] = "SELECT value FROM user_emails WHERE user_seq = ?1 ORDER BY rowid",
    [ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [ST_EMAIL_DELETE] = "DELETE FROM user_emails WHERE user_seq = ?1",
    [ST_EMAIL_INSERT] = "INSERT INTO user_emails (user_seq, value) VALUES (?1, ?2)",
    [ST_SCAN_ALL] = "SELECT " USER_COLUMNS " FROM users ORDER BY seq",
    [ST_SCAN_USERNAME] = "SELECT " USER_COLUMNS " FROM users WHERE user_name = ?1 ORDER BY seq",
    [ST_SCAN_EXTERNAL_ID] = "SELECT " USER_COLUMNS " FROM users WHERE external_id = ?1 ORDER BY seq",
    /* IN (subquery) rather than a join: a user with two matching emails is visited once */
    [ST_SCAN_EMAIL] = "SELECT " USER_COLUMNS " FROM users WHERE seq IN (SELECT user_seq FROM user_emails WHERE value = ?1)"
                      " ORDER BY seq",
    [ST_USER_PAGE] = "SELECT " USER_COLUMNS ", seq FROM users ORDER BY seq LIMIT ?1 OFFSET ?2",
    [ST_USER_PAGE_AFTER] = "SELECT " USER_COLUMNS ", seq FROM users WHERE seq > ?2 ORDER BY seq LIMIT ?1",
    [ST_USER_COUNT] = "SELECT count(*) FROM users",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_OUTBOX_INSERT] = "INSERT INTO outbox (user_id, action, email, role, state, attempts, created_at, next_attempt_at,"
                         " last_error, outcome, prev_resource, result_version)"
                         " VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_OUTBOX_GET] = "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE id = ?1",
    /*
     * Only the oldest pending row of each user qualifies, due or not: a newer change must not
     * overtake an older one that is waiting for its retry or is in flight (the caller drops the
     * in-flight ids from the result, which then also holds back that user's newer rows).
     */
    /*
     * Deactivations first: when Odeus is the bottleneck (a mass offboarding, a rate limit), access
     * removal must not queue behind grants. Within a kind, commit order.
     */
    [ST_OUTBOX_DUE] = "SELECT " OUTBOX_COLUMNS " FROM outbox AS o WHERE " OUTBOX_DUE_WHERE,
    /* The same for rows newer than ?2 only: a range of the rowid, whatever the history's size. */
    [ST_OUTBOX_DUE_AFTER] = "SELECT " OUTBOX_COLUMNS " FROM outbox AS o WHERE o.id > ?2 AND " OUTBOX_DUE_WHERE,
    [ST_OUTBOX_NEXT_DUE] = "SELECT min(next_attempt_at) FROM outbox WHERE state = 0",
    [ST_OUTBOX_RESCHEDULE] = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, outcome = ?3, last_error = ?4"
                             " WHERE id = ?1",
    /* A row superseded while its call was in flight stays superseded; its outcome is still recorded. */
    [ST_OUTBOX_FINISH] = "UPDATE outbox SET state = CASE WHEN state = 0 THEN ?2 ELSE state END, outcome = ?3,"
                         " last_error = ?4, attempts = attempts + 1, done_at = coalesce(done_at, ?5) WHERE id = ?1",
    [ST_OUTBOX_PENDING_FOR_USER] = "SELECT id FROM outbox WHERE user_id = ?1 AND state = 0 AND (?2 IS NULL OR action = ?2)"
                                   " ORDER BY id LIMIT 1",
    [ST_OUTBOX_PENDING_COUNT] = "SELECT count(*) FROM outbox WHERE state = 0",
    /* rows already superseded by a row that is superseded now follow the newest one */
    [ST_OUTBOX_REPOINT] = "UPDATE outbox SET superseded_by = ?2 WHERE state = 3 AND superseded_by IN"
                          " (SELECT id FROM outbox WHERE user_id = ?1 AND state = 0 AND id < ?2 AND (?3 IS NULL OR action = ?3))",
    [ST_OUTBOX_OLDER_PENDING] = "SELECT 1 FROM outbox WHERE user_id = ?1 AND state = 0 AND id < ?2 LIMIT 1",
    [ST_OUTBOX_SUPERSEDE_ALL] = "UPDATE outbox SET state = 3, outcome = 'superseded', superseded_by = ?2, done_at = ?3"
                                " WHERE user_id = ?1 AND state = 0 AND id < ?2",
    [ST_OUTBOX_SUPERSEDE_ROLE] = "UPDATE outbox SET state = 3, outcome = 'superseded', superseded_by = ?2, done_at = ?3"
                                 " WHERE user_id = ?1 AND state = 0 AND id < ?2 AND action = 'update_role'",
    [ST_OUTBOX_SUPERSEDED_BY] = "SELECT id FROM outbox WHERE superseded_by = ?1",
    [ST_OUTBOX_DELIVERED_INVITE] = "SELECT 1 FROM outbox WHERE user_id = ?1 AND action = 'invite' AND state = 1"
                                   " AND outcome = 'done' LIMIT 1",
    [ST_OUTBOX_STATE_COUNTS] = "SELECT state, count(*) FROM outbox GROUP BY state",
    [ST_OUTBOX_PENDING_STATS] = "SELECT min(created_at), min(next_attempt_at), max(attempts),"
                                " sum(outcome = 'auth'), sum(action = 'deactivate') FROM outbox WHERE state = 0",
    [ST_OUTBOX_RETRY] = "UPDATE outbox SET state = 0, next_attempt_at = ?2, done_at = NULL WHERE id = ?1 AND state IN (0, 2)",
    [ST_OUTBOX_RETRY_FAILED] = "UPDATE outbox SET state = 0, next_attempt_at = ?1, done_at = NULL WHERE state = 2",
    [ST_OUTBOX_DROP] = "UPDATE outbox SET state = 2, outcome = 'dropped', last_error = 'dropped by an operator', done_at = ?2"
                       " WHERE id = ?1 AND state = 0",
    [ST_RECHECK_CANCEL] = "DELETE FROM invitee_recheck WHERE user_id = ?1",
    [ST_RECHECK_SCHEDULE] = "INSERT OR REPLACE INTO invitee_recheck (user_id, email, outbox_id, created_at, next_at, until_at,"
                            " sends) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    /* a user with a newer change queued is that change's business, not the re-send's */
    [ST_RECHECK_DUE] = "SELECT user_id, email, outbox_id, created_at, next_at, until_at, sends, last_error"
                       " FROM invitee_recheck AS r WHERE r.next_at <= ?1"
                       " AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.user_id = r.user_id AND o.state = 0)"
                       " ORDER BY r.next_at LIMIT ?2",
    [ST_RECHECK_NEXT_DUE] = "SELECT min(next_at) FROM invitee_recheck",
    [ST_RECHECK_RESCHEDULE] = "UPDATE invitee_recheck SET next_at = ?2, sends = sends + 1, last_error = ?3 WHERE user_id = ?1",
    [ST_RECHECK_REMOVE] = "DELETE FROM invitee_recheck WHERE user_id = ?1",
    [ST_RECHECK_COUNT] = "SELECT count(*) FROM invitee_recheck",
};

struct store {
    sqlite3 *db;
    int writing;              /* holds write_lock (see write_lock_take) */
    int relaxed;              /* store_relax_sync(): synchronous=NORMAL for good, no group sync */
    int grouped;              /* the open transaction runs at synchronous=NORMAL and commits through group_sync() */
    struct sync_group *group; /* NULL for an in-memory database */
    /*
     * Paging a whole directory (an IdP's import: startIndex=1, 101, 201, ...) with OFFSET costs
     * O(offset) per page, O(n^2) in all. The connection remembers where its last page ended (the
     * offset after it and that row's seq) and the user count, valid while the database is unchanged
     * (same data_version for other connections' commits, same total_changes for its own).
     */
    struct {
        int64_t data_version, changes;
        int valid;
    } page_at, count_at;
    size_t page_next_offset;
    int64_t page_last_seq;
    size_t count;
    sqlite3_stmt *stmts[ST__COUNT];
    char errmsg[256];
};

/* ---- errors and statements -------------------------------------------------------------------- */

static void set_error(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
}

/* Records SQLite's message for the last failed call on this connection. */
static store_status_t db_error(store_t *s, const char *what)
{
    set_error(s, "%s: %s", what, sqlite3_errmsg(s->db));
    return STORE_ERROR;
}

static store_status_t oom(store_t *s)
{
    set_error(s, "out of memory");
    return STORE_ERROR;
}

/*
 * Returns the statement `id`, prepared and ready to bind, or NULL (error recorded). The cached
 * copy is handed out unless it is still running, in which case a one-off copy is prepared;
 * stmt_put() tells the two apart.
 */
static sqlite3_stmt *stmt_get(store_t *s, stmt_id_t id)
{
    sqlite3_stmt *st = s->stmts[id];
    if (st != NULL && !sqlite3_stmt_busy(st))
        return st;
    unsigned flags = st == NULL ? SQLITE_PREPARE_PERSISTENT : 0;
    sqlite3_stmt *fresh = NULL;
    if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, flags, &fresh, NULL) != SQLITE_OK) {
        db_error(s, "prepare");
        sqlite3_finalize(fresh);
        return NULL;
    }
    if (st == NULL)
        s->stmts[id] = fresh;
    return fresh;
}

/* Gives a statement from stmt_get() back: the cached one is reset and unbound, a one-off is finalized. */
static void stmt_put(store_t *s, stmt_id_t id, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    if (st == s->stmts[id]) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    } else {
        sqlite3_finalize(st);
    }
}

/* Binds a string or, for NULL, SQL NULL. SQLITE_TRANSIENT: the caller's buffers may go away right after. */
static int bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
}

static int64_t clamp_size(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/*
 * Writers of this process take turns on a mutex before BEGIN IMMEDIATE instead of meeting SQLite's
 * lock: SQLite's busy handler polls with sleeps of 1 to 100 ms, which made a loaded gateway's write
 * latency a lottery (p99 of PATCH ~250 ms); a mutex hands over as soon as the holder commits. SQLite's
 * busy timeout still covers other processes (the outbox CLI). A thread that already holds the mutex
 * through another connection (tests open several) does not wait for itself: it falls back to the
 * busy handler. Released once the connection is back in autocommit (commit, rollback, or an error
 * that rolled back on its own).
 */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int write_lock_held;

static void write_lock_take(store_t *s)
{
    if (s->writing || write_lock_held)
        return;
    pthread_mutex_lock(&write_lock);
    write_lock_held = 1;
    s->writing = 1;
}

static store_status_t exec_stmt_raw(store_t *s, stmt_id_t id);

/*
 * Group commit. A transaction commits at synchronous=NORMAL (its WAL frames are written, not yet
 * fsynced), releases the write lock, and then waits in group_sync() until one fsync of the WAL
 * taken after its commit has finished: whoever finds no fsync running becomes the leader and syncs
 * for every commit made so far; the others wait for it. Concurrent commits thus share one fsync,
 * and store_commit still returns only once the commit is durable, as with synchronous=FULL. Every
 * other write (autocommit statements) keeps synchronous=FULL. One group per database file, shared
 * by the connections of this process (fsync of the WAL covers frames written by any of them).
 */
typedef struct sync_group {
    struct sync_group *next;
    int refs;
    uint64_t committed; /* commits whose frames are written */
    uint64_t synced;    /* commits known durable */
    int syncing;        /* a leader's fsync is under way */
    char path[];
} sync_group_t;

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t group_cond = PTHREAD_COND_INITIALIZER;
static sync_group_t *groups;

static sync_group_t *group_join(const char *path)
{
    pthread_mutex_lock(&group_lock);
    sync_group_t *g = groups;
    while (g != NULL && strcmp(g->path, path) != 0)
        g = g->next;
    if (g == NULL && (g = calloc(1, sizeof(*g) + strlen(path) + 1)) != NULL) {
        strcpy(g->path, path);
        g->next = groups;
        groups = g;
    }
    if (g != NULL)
        g->refs++;
    pthread_mutex_unlock(&group_lock);
    return g;
}

static void group_leave(sync_group_t *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&group_lock);
    if (--g->refs == 0) {
        sync_group_t **pp = &groups;
        while (*pp != g)
            pp = &(*pp)->next;
        *pp = g->next;
        free(g);
    }
    pthread_mutex_unlock(&group_lock);
}

/* fsyncs this connection's WAL file the way synchronous=FULL does at commit */
static store_status_t wal_sync(store_t *s)
{
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK || wal == NULL ||
        wal->pMethods == NULL) {
        set_error(s, "cannot reach the WAL file to sync it");
        return STORE_ERROR;
    }
    int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
        set_error(s, "fsync of the WAL failed: %s", sqlite3_errstr(rc));
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Called right after a COMMIT at synchronous=NORMAL; returns once that commit is durable. */
static store_status_t group_sync(store_t *s)
{
    sync_group_t *g = s->group;
    store_status_t ret = STORE_OK;
    pthread_mutex_lock(&group_lock);
    uint64_t ticket = ++g->committed;
    while (g->synced < ticket) {
        if (g->syncing) {
            pthread_cond_wait(&group_cond, &group_lock);
            continue;
        }
        g->syncing = 1;
        uint64_t upto = g->committed;
        pthread_mutex_unlock(&group_lock);
        ret = wal_sync(s);
        pthread_mutex_lock(&group_lock);
        g->syncing = 0;
        if (ret == STORE_OK && upto > g->synced)
            g->synced = upto;
        pthread_cond_broadcast(&group_cond);
        if (ret != STORE_OK)
            break; /* the commit stands but is not known durable: reported as an error */
    }
    pthread_mutex_unlock(&group_lock);
    return ret;
}

/* After the transaction ended (commit, rollback, or an error that rolled back on its own). */
static store_status_t tx_over(store_t *s, int committed)
{
    store_status_t ret = STORE_OK;
    if (s->writing) {
        s->writing = 0;
        write_lock_held = 0;
        pthread_mutex_unlock(&write_lock);
    }
    if (s->grouped) {
        s->grouped = 0;
        if (committed)
            ret = group_sync(s);
        if (exec_stmt_raw(s, ST_SYNC_FULL) != STORE_OK && ret == STORE_OK)
            ret = STORE_ERROR;
    }
    return ret;
}

static store_status_t exec_stmt(store_t *s, stmt_id_t id)
{
    if (id == ST_BEGIN) {
        write_lock_take(s);
        if (s->group != NULL && !s->relaxed && !s->grouped) {
            if (exec_stmt_raw(s, ST_SYNC_NORMAL) != STORE_OK) {
                tx_over(s, 0);
                return STORE_ERROR;
            }
            s->grouped = 1;
        }
    }
    store_status_t ret = exec_stmt_raw(s, id);
    if ((id == ST_BEGIN || id == ST_COMMIT || id == ST_ROLLBACK) && sqlite3_get_autocommit(s->db)) {
        store_status_t over = tx_over(s, id == ST_COMMIT && ret == STORE_OK);
        if (ret == STORE_OK)
            ret = over;
    }
    return ret;
}

/* Runs a statement that returns no rows. */
static store_status_t exec_stmt_raw(store_t *s, stmt_id_t id)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        ret = db_error(s, stmt_sql[id]);
    stmt_put(s, id, st);
    return ret;
}

/*
 * A user write touches two tables, so it must be atomic on its own. Outside a transaction it gets
 * its own BEGIN IMMEDIATE: the ops write before they read today, but a deferred transaction that
 * ever read first could meet SQLITE_BUSY_SNAPSHOT, which the busy handler does not retry. Inside
 * the caller's transaction a savepoint undoes a half-done change without ending that transaction.
 */
typedef enum op_scope { OP_OWN_TX, OP_SAVEPOINT } op_scope_t;

static store_status_t op_enter(store_t *s, op_scope_t *scope)
{
    *scope = sqlite3_get_autocommit(s->db) ? OP_OWN_TX : OP_SAVEPOINT;
    return exec_stmt(s, *scope == OP_OWN_TX ? ST_BEGIN : ST_SAVEPOINT);
}

/* Ends what op_enter() began: commits when `ret` is STORE_OK (and returns the commit's status), else undoes. */
static store_status_t op_leave(store_t *s, op_scope_t scope, store_status_t ret)
{
    if (ret == STORE_OK) {
        ret = exec_stmt(s, scope == OP_OWN_TX ? ST_COMMIT : ST_RELEASE);
        if (ret == STORE_OK)
            return STORE_OK;
    }
    /* keep the first error message: the undo's own status is of no further use */
    char saved[sizeof(s->errmsg)];
    memcpy(saved, s->errmsg, sizeof(saved));
    if (scope == OP_OWN_TX) {
        store_rollback(s);
    } else if (!sqlite3_get_autocommit(s->db)) {
        /* some errors (e.g. SQLITE_FULL) already rolled the whole transaction back */
        exec_stmt(s, ST_ROLLBACK_TO);
        exec_stmt(s, ST_RELEASE);
    }
    memcpy(s->errmsg, saved, sizeof(saved));
    return ret;
}

/* ---- open and close --------------------------------------------------------------------------- */

static void copy_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void copy_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Runs a one-row PRAGMA and returns its first column as text in `out` (may be NULL). Switching the
 * journal mode can report SQLITE_BUSY without consulting the busy handler while another connection
 * opens the same new file, so BUSY is retried here up to the busy timeout.
 */
static store_status_t pragma(store_t *s, const char *sql, char *out, size_t out_len)
{
    sqlite3_stmt *st = NULL;
    store_status_t ret = STORE_ERROR;
    for (long waited = 0;; waited += 10) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
                if (out != NULL) {
                    const char *text = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
                    snprintf(out, out_len, "%s", text != NULL ? text : "");
                }
                ret = STORE_OK;
                goto out;
            }
        }
        if ((rc & 0xff) != SQLITE_BUSY || waited >= STORE_BUSY_TIMEOUT_MS) {
            db_error(s, sql);
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
        sleep_ms(10);
    }
out:
    sqlite3_finalize(st);
    return ret;
}

static store_status_t read_user_version(store_t *s, int *version)
{
    char buf[32];
    if (pragma(s, "PRAGMA user_version", buf, sizeof(buf)) != STORE_OK)
        return STORE_ERROR;
    *version = atoi(buf);
    return STORE_OK;
}

static store_status_t check_version(store_t *s, int version)
{
    if (version > SCHEMA_VERSION) {
        set_error(s, "database schema version %d is newer than this gateway supports (%d); upgrade the gateway", version,
                  SCHEMA_VERSION);
        return STORE_ERROR;
    }
    if (version < 0) {
        set_error(s, "database schema version %d is invalid", version);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/*
 * Brings the schema to SCHEMA_VERSION in one transaction. BEGIN IMMEDIATE serializes concurrent
 * first opens; the version is read again inside it because another connection may have migrated
 * while this one waited.
 */
static store_status_t migrate(store_t *s)
{
    int version;
    if (read_user_version(s, &version) != STORE_OK || check_version(s, version) != STORE_OK)
        return STORE_ERROR;
    if (version == SCHEMA_VERSION)
        return STORE_OK;

    store_status_t ret = STORE_ERROR;
    if (exec_stmt(s, ST_BEGIN) != STORE_OK)
        return STORE_ERROR;
    if (read_user_version(s, &version) != STORE_OK || check_version(s, version) != STORE_OK)
        goto out;
    for (; version < SCHEMA_VERSION; version++) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, migrations[version], NULL, NULL, &msg) != SQLITE_OK) {
            set_error(s, "schema migration %d -> %d: %s", version, version + 1, msg != NULL ? msg : "unknown error");
            sqlite3_free(msg);
            goto out;
        }
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (pragma(s, sql, NULL, 0) != STORE_OK)
        goto out;
    ret = exec_stmt(s, ST_COMMIT);
out:
    if (ret != STORE_OK) {
        char saved[sizeof(s->errmsg)];
        memcpy(saved, s->errmsg, sizeof(saved));
        store_rollback(s);
        memcpy(s->errmsg, saved, sizeof(saved));
    }
    return ret;
}

store_t *store_open(const char *path, char *err, size_t err_len)
{
    store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        copy_err(err, err_len, "store: out of memory");
        return NULL;
    }
    /* NOMUTEX needs a library built thread-safe: connections are still used from several threads */
    if (!sqlite3_threadsafe()) {
        copy_err(err, err_len, "store: SQLite was built without thread support");
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        copy_err(err, err_len, "store: cannot open %s: %s", path, s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* the timeout first: the pragmas below may already meet another connection's lock */
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

    char mode[16];
    if (pragma(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != STORE_OK)
        goto fail_msg;
    /* an in-memory database reports "memory" and has no WAL; it is only good for one connection anyway */
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        set_error(s, "cannot switch to WAL journal mode (got \"%s\")", mode);
        goto fail_msg;
    }
    if (pragma(s, "PRAGMA synchronous = FULL", NULL, 0) != STORE_OK || pragma(s, "PRAGMA foreign_keys = ON", NULL, 0) != STORE_OK)
        goto fail_msg;
    /*
     * Checkpoints copy the WAL's newest page versions into the database. A busy directory changes
     * the same few pages over and over (the outbox tail, hot users), so a longer WAL means far
     * fewer copies per change: 4000 pages (16 MiB) rather than SQLite's 1000.
     */
    if (strcmp(mode, "wal") == 0 && pragma(s, "PRAGMA wal_autocheckpoint = 4000", NULL, 0) != STORE_OK)
        goto fail_msg;
    if (strcmp(mode, "wal") == 0 && (s->group = group_join(sqlite3_db_filename(s->db, "main"))) == NULL) {
        set_error(s, "out of memory");
        goto fail_msg;
    }
    if (migrate(s) != STORE_OK)
        goto fail_msg;
    return s;

fail_msg:
    copy_err(err, err_len, "store: %s: %s", path, s->errmsg);
fail:
    store_close(s);
    return NULL;
}

void store_close(store_t *store)
{
    if (store == NULL)
        return;
    if (store->db != NULL && !sqlite3_get_autocommit(store->db))
        exec_stmt(store, ST_ROLLBACK);
    for (size_t i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(store->stmts[i]);
    /* every statement is finalized above, so close cannot be refused with SQLITE_BUSY */
    sqlite3_close(store->db);
    group_leave(store->group);
    free(store);
}

store_status_t store_relax_sync(store_t *store)
{
    store_status_t ret = pragma(store, "PRAGMA synchronous = NORMAL", NULL, 0);
    if (ret == STORE_OK)
        store->relaxed = 1;
    return ret;
}

const char *store_errmsg(const store_t *store)
{
    return store->errmsg;
}

/* ---- transactions ----------------------------------------------------------------------------- */

store_status_t store_begin(store_t *store)
{
    return exec_stmt(store, ST_BEGIN);
}

/* On failure the transaction stays open; the caller rolls back. */
store_status_t store_commit(store_t *store)
{
    return exec_stmt(store, ST_COMMIT);
}

store_status_t store_mark(store_t *store)
{
    return exec_stmt(store, ST_MARK);
}

store_status_t store_mark_keep(store_t *store)
{
    return exec_stmt(store, ST_MARK_RELEASE);
}

void store_mark_undo(store_t *store)
{
    /* ROLLBACK TO leaves the savepoint in place; RELEASE then drops it without undoing more. */
    exec_stmt(store, ST_MARK_ROLLBACK_TO);
    exec_stmt(store, ST_MARK_RELEASE);
}

void store_rollback(store_t *store)
{
    if (sqlite3_get_autocommit(store->db)) {
        tx_over(store, 0);
        return;
    }
    exec_stmt(store, ST_ROLLBACK);
}

/* ---- users ------------------------------------------------------------------------------------ */

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
    memset(user, 0, sizeof(*user));
}

/*
 * Reads column `col` as text. A NULL from sqlite3_column_text on a non-NULL value means SQLite ran
 * out of memory converting it; *ok is cleared then. For `nullable` columns SQL NULL is fine.
 */
static const char *col_text(sqlite3_stmt *st, int col, int nullable, int *ok)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        if (!nullable)
            *ok = 0;
        return NULL;
    }
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (text == NULL)
        *ok = 0;
    return text;
}

/* Points `u` at the columns of the current row (USER_COLUMNS); valid until the next step or reset. */
static int user_from_row(sqlite3_stmt *st, store_user_t *u)
{
    int ok = 1;
    memset(u, 0, sizeof(*u));
    u->id = (char *)col_text(st, 0, 0, &ok);
    u->user_name = (char *)col_text(st, 1, 0, &ok);
    u->external_id = (char *)col_text(st, 2, 1, &ok);
    u->odeus_email = (char *)col_text(st, 3, 1, &ok);
    u->active = sqlite3_column_int(st, 4) != 0;
    u->created = (char *)col_text(st, 5, 0, &ok);
    u->last_modified = (char *)col_text(st, 6, 0, &ok);
    u->version = sqlite3_column_int64(st, 7);
    u->resource = (char *)col_text(st, 8, 0, &ok);
    u->rendered = (char *)col_text(st, 9, 1, &ok);
    return ok;
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 1;
    *dst = strdup(src);
    return *dst != NULL;
}

/* Copies column `col` into *dst (NULL for SQL NULL when `nullable`); 0 when out of memory or an unexpected NULL. */
static int dup_col(sqlite3_stmt *st, int col, int nullable, char **dst)
{
    int ok = 1;
    const char *text = col_text(st, col, nullable, &ok);
    return ok && dup_str(dst, text);
}

store_status_t store_user_get(store_t *store, const char *id, store_user_t *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = stmt_get(store, ST_USER_GET);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ret = STORE_NOT_FOUND;
    } else if (rc != SQLITE_ROW) {
        ret = db_error(store, "get user");
    } else if (!dup_col(st, 0, 0, &out->id) || !dup_col(st, 1, 0, &out->user_name) || !dup_col(st, 2, 1, &out->external_id) ||
               !dup_col(st, 3, 1, &out->odeus_email) || !dup_col(st, 5, 0, &out->created) ||
               !dup_col(st, 6, 0, &out->last_modified) || !dup_col(st, 8, 0, &out->resource) ||
               !dup_col(st, 9, 1, &out->rendered)) {
        store_user_clear(out);
        ret = oom(store);
    } else {
        out->active = sqlite3_column_int(st, 4) != 0;
        out->version = sqlite3_column_int64(st, 7);
    }
    stmt_put(store, ST_USER_GET, st);
    return ret;
}

/* Binds ?1..?10 in USER_COLUMNS order; rendered is always bound (NULL clears a stale one). */
static int bind_user(sqlite3_stmt *st, const store_user_t *u)
{
    int rc = bind_text(st, 1, u->id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, u->user_name);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, u->external_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, u->odeus_email);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 5, u->active != 0);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 6, u->created);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 7, u->last_modified);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 8, u->version);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 9, u->resource);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 10, u->rendered);
    return rc;
}

/*
 * Steps an INSERT/UPDATE of a users row. A UNIQUE failure on user_name is the caller's conflict;
 * any other constraint (an id collision, a NULL in a NOT NULL column) is an error.
 */
static store_status_t step_user_write(store_t *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    /* the message text is the only place SQLite names the violated constraint */
    if (rc == SQLITE_CONSTRAINT_UNIQUE && strstr(sqlite3_errmsg(s->db), "users.user_name") != NULL) {
        set_error(s, "userName already taken");
        return STORE_CONFLICT;
    }
    return db_error(s, what);
}

static store_status_t insert_emails(store_t *s, int64_t seq, const store_user_t *u)
{
    if (u->n_emails == 0)
        return STORE_OK;
    sqlite3_stmt *st = stmt_get(s, ST_EMAIL_INSERT);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    for (size_t i = 0; i < u->n_emails && ret == STORE_OK; i++) {
        if (u->emails == NULL || u->emails[i] == NULL)
            continue;
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, seq) != SQLITE_OK || bind_text(st, 2, u->emails[i]) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_DONE)
            ret = db_error(s, "insert email");
    }
    stmt_put(s, ST_EMAIL_INSERT, st);
    return ret;
}

/* Writes the users row of `u` (ST_USER_INSERT or ST_USER_UPDATE); STORE_NOT_FOUND when an update matched no row. */
static store_status_t write_user_row(store_t *s, stmt_id_t id, const store_user_t *u)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret;
    if (bind_user(st, u) != SQLITE_OK) {
        ret = db_error(s, "bind");
        goto out;
    }
    ret = step_user_write(s, st, id == ST_USER_INSERT ? "insert user" : "update user");
    if (ret == STORE_OK && id != ST_USER_INSERT && sqlite3_changes(s->db) == 0) {
        set_error(s, "no such user");
        ret = STORE_NOT_FOUND;
    }
out:
    stmt_put(s, id, st);
    return ret;
}

static store_status_t delete_emails(store_t *s, int64_t seq)
{
    sqlite3_stmt *st = stmt_get(s, ST_EMAIL_DELETE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    if (sqlite3_bind_int64(st, 1, seq) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
        ret = db_error(s, "delete emails");
    stmt_put(s, ST_EMAIL_DELETE, st);
    return ret;
}

store_status_t store_user_insert(store_t *store, const store_user_t *user)
{
    op_scope_t scope;
    if (op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    store_status_t ret = write_user_row(store, ST_USER_INSERT, user);
    if (ret == STORE_OK)
        ret = insert_emails(store, sqlite3_last_insert_rowid(store->db), user);
    return op_leave(store, scope, ret);
}

store_status_t store_user_version(store_t *store, const char *id, int64_t *version)
{
    sqlite3_stmt *st = stmt_get(store, ST_USER_VERSION);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = db_error(store, "user version");
    stmt_put(store, ST_USER_VERSION, st);
    return ret;
}

static int same_text(const unsigned char *stored, const char *given)
{
    return stored == NULL ? given == NULL : given != NULL && strcmp((const char *)stored, given) == 0;
}

/* The row's seq, and whether its userName and externalId are byte for byte those of `u`. */
static store_status_t user_keys(store_t *s, const store_user_t *u, int64_t *seq, int *same)
{
    sqlite3_stmt *st = stmt_get(s, ST_USER_KEYS);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, u->id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        *same = same_text(sqlite3_column_text(st, 1), u->user_name) && same_text(sqlite3_column_text(st, 2), u->external_id);
    } else if (rc == SQLITE_DONE) {
        set_error(s, "no such user");
        ret = STORE_NOT_FOUND;
    } else {
        ret = db_error(s, "user keys");
    }
    stmt_put(s, ST_USER_KEYS, st);
    return ret;
}

/* Whether the email index already holds exactly u's emails, in order. */
static store_status_t emails_same(store_t *s, int64_t seq, const store_user_t *u, int *same)
{
    sqlite3_stmt *st = stmt_get(s, ST_EMAIL_LIST);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    size_t i = 0;
    int rc = sqlite3_bind_int64(st, 1, seq);
    *same = 1;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        while (i < u->n_emails && (u->emails == NULL || u->emails[i] == NULL))
            i++; /* insert_emails skips these too */
        if (i >= u->n_emails || !same_text(sqlite3_column_text(st, 0), u->emails[i]))
            *same = 0;
        i++;
        rc = SQLITE_OK;
    }
    while (i < u->n_emails && (u->emails == NULL || u->emails[i] == NULL))
        i++;
    if (rc != SQLITE_DONE)
        ret = db_error(s, "user emails");
    else if (i < u->n_emails)
        *same = 0;
    stmt_put(s, ST_EMAIL_LIST, st);
    return ret;
}

store_status_t store_user_update(store_t *store, const store_user_t *user)
{
    op_scope_t scope;
    if (op_enter(store, &scope) != STORE_OK)
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
        ret = write_user_row(store, keys_same ? ST_USER_UPDATE_BODY : ST_USER_UPDATE, user);
    if (ret == STORE_OK)
        ret = emails_same(store, seq, user, &mails_same);
    if (ret == STORE_OK && !mails_same)
        ret = delete_emails(store, seq);
    if (ret == STORE_OK && !mails_same)
        ret = insert_emails(store, seq, user);
    return op_leave(store, scope, ret);
}

store_status_t store_user_delete(store_t *store, const char *id)
{
    sqlite3_stmt *st = stmt_get(store, ST_USER_DELETE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    /* one statement, atomic on its own; user_emails rows go with it by ON DELETE CASCADE */
    int rc = bind_text(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(store, "delete user");
    else if (sqlite3_changes(store->db) == 0)
        ret = STORE_NOT_FOUND;
    stmt_put(store, ST_USER_DELETE, st);
    return ret;
}

/* Steps a prepared, bound users query, calling `cb` per row until it asks to stop. Releases `st`. */
static store_status_t run_user_query(store_t *s, stmt_id_t id, sqlite3_stmt *st, store_user_cb cb, void *ctx)
{
    store_status_t ret = STORE_OK;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(s, "scan users");
            break;
        }
        store_user_t row;
        if (!user_from_row(st, &row)) {
            ret = oom(s);
            break;
        }
        if (cb(ctx, &row) != 0)
            break;
    }
    stmt_put(s, id, st);
    return ret;
}

store_status_t store_user_scan(store_t *store, store_index_t index, const char *value, store_user_cb cb, void *ctx)
{
    stmt_id_t id;
    switch (index) {
    case STORE_SCAN_ALL:
        id = ST_SCAN_ALL;
        break;
    case STORE_SCAN_ID:
        id = ST_USER_GET;
        break;
    case STORE_SCAN_USERNAME:
        id = ST_SCAN_USERNAME;
        break;
    case STORE_SCAN_EXTERNAL_ID:
        id = ST_SCAN_EXTERNAL_ID;
        break;
    case STORE_SCAN_EMAIL:
        id = ST_SCAN_EMAIL;
        break;
    default:
        set_error(store, "unknown scan index %d", (int)index);
        return STORE_ERROR;
    }
    sqlite3_stmt *st = stmt_get(store, id);
    if (st == NULL)
        return STORE_ERROR;
    if (id != ST_SCAN_ALL && bind_text(st, 1, value) != SQLITE_OK) {
        store_status_t ret = db_error(store, "bind");
        stmt_put(store, id, st);
        return ret;
    }
    return run_user_query(store, id, st, cb, ctx);
}

/* The database's change marks: PRAGMA data_version (other connections) and total_changes (this one). */
static store_status_t change_marks(store_t *s, int64_t *data_version, int64_t *changes)
{
    sqlite3_stmt *st = stmt_get(s, ST_DATA_VERSION);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *data_version = sqlite3_column_int64(st, 0);
    else
        ret = db_error(s, "data_version");
    stmt_put(s, ST_DATA_VERSION, st);
    *changes = sqlite3_total_changes64(s->db);
    return ret;
}

store_status_t store_user_page(store_t *store, size_t offset, size_t limit, store_user_cb cb, void *ctx)
{
    int64_t version = 0, changes = 0;
    if (change_marks(store, &version, &changes) != STORE_OK)
        return STORE_ERROR;
    /* the page that follows the last one, on an unchanged database: go on from its last row */
    int follows = store->page_at.valid && store->page_at.data_version == version && store->page_at.changes == changes &&
                  offset == store->page_next_offset;
    stmt_id_t id = follows ? ST_USER_PAGE_AFTER : ST_USER_PAGE;
    sqlite3_stmt *st = stmt_get(store, id);
    if (st == NULL)
        return STORE_ERROR;
    if (sqlite3_bind_int64(st, 1, clamp_size(limit)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, follows ? store->page_last_seq : clamp_size(offset)) != SQLITE_OK) {
        store_status_t ret = db_error(store, "bind");
        stmt_put(store, id, st);
        return ret;
    }
    store->page_at.valid = 0;
    store_status_t ret = STORE_OK;
    size_t seen = 0;
    int64_t last_seq = 0;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(store, "page users");
            break;
        }
        store_user_t row;
        if (!user_from_row(st, &row)) {
            ret = oom(store);
            break;
        }
        last_seq = sqlite3_column_int64(st, 10); /* the seq after USER_COLUMNS */
        seen++;
        if (cb(ctx, &row) != 0)
            break;
    }
    stmt_put(store, id, st);
    if (ret == STORE_OK && seen > 0) {
        store->page_at.data_version = version;
        store->page_at.changes = changes;
        store->page_at.valid = 1;
        store->page_next_offset = offset + seen;
        store->page_last_seq = last_seq;
    }
    return ret;
}

/* Runs a query that yields one integer (a count); a NULL result is STORE_NOT_FOUND. */
static store_status_t query_int64(store_t *s, stmt_id_t id, int64_t *out)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        ret = db_error(s, stmt_sql[id]);
    else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        ret = STORE_NOT_FOUND;
    else
        *out = sqlite3_column_int64(st, 0);
    stmt_put(s, id, st);
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
    store_status_t ret = query_int64(store, ST_USER_COUNT, &n);
    if (ret == STORE_OK) {
        *count = store->count = (size_t)n;
        store->count_at.data_version = version;
        store->count_at.changes = changes;
        store->count_at.valid = 1;
    }
    return ret;
}

/* ---- outbox ----------------------------------------------------------------------------------- */

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
    memset(row, 0, sizeof(*row));
}

static store_status_t insert_outbox_row(store_t *store, const store_outbox_t *row, int64_t *id_out)
{
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_INSERT);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, row->user_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, row->action);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, row->email);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, row->role);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, row->created_at_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 6, row->next_attempt_ms);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 7, row->last_error);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 8, row->outcome);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 9, row->prev_resource);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 10, row->result_version);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(store, "insert outbox row");
    else if (id_out != NULL)
        *id_out = sqlite3_last_insert_rowid(store->db);
    stmt_put(store, ST_OUTBOX_INSERT, st);
    return ret;
}

/* Runs a statement bound with (user_id, id[, action|now]) that changes rows. */
static store_status_t exec_user_update(store_t *s, stmt_id_t id, const char *user_id, int64_t new_id, const char *text3,
                                       int64_t int3, int has_int3)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, new_id);
    if (rc == SQLITE_OK)
        rc = has_int3 ? sqlite3_bind_int64(st, 3, int3) : bind_text(st, 3, text3);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(s, stmt_sql[id]);
    stmt_put(s, id, st);
    return ret;
}

static store_status_t exec_by_user(store_t *s, stmt_id_t id, const char *user_id)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(s, stmt_sql[id]);
    stmt_put(s, id, st);
    return ret;
}

/* STORE_OK when the user has a pending row older than `before`, STORE_NOT_FOUND when not. */
static store_status_t older_pending(store_t *s, const char *user_id, int64_t before)
{
    sqlite3_stmt *st = stmt_get(s, ST_OUTBOX_OLDER_PENDING);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, before);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    ret = rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_NOT_FOUND : db_error(s, stmt_sql[ST_OUTBOX_OLDER_PENDING]);
    stmt_put(s, ST_OUTBOX_OLDER_PENDING, st);
    return ret;
}

store_status_t store_outbox_user_pending(store_t *store, const char *user_id, int *any)
{
    store_status_t ret = older_pending(store, user_id, INT64_MAX);
    *any = ret == STORE_OK;
    return ret == STORE_NOT_FOUND ? STORE_OK : ret;
}

store_status_t store_outbox_insert(store_t *store, const store_outbox_t *row, int64_t *id_out)
{
    op_scope_t scope;
    int64_t id = 0;
    if (row->action == NULL || row->user_id == NULL) {
        set_error(store, "outbox row without user or action");
        return STORE_ERROR;
    }
    if (op_enter(store, &scope) != STORE_OK)
        return STORE_ERROR;
    store_status_t ret = insert_outbox_row(store, row, &id);
    int deactivate = strcmp(row->action, "deactivate") == 0, role = strcmp(row->action, "update_role") == 0;
    /* Most changes find nothing queued for their user: one look-up instead of two updates. */
    if (ret == STORE_OK && (deactivate || role) && (ret = older_pending(store, row->user_id, id)) == STORE_NOT_FOUND) {
        ret = STORE_OK;
    } else if (ret == STORE_OK && (deactivate || role)) {
        ret = exec_user_update(store, ST_OUTBOX_REPOINT, row->user_id, id, deactivate ? NULL : "update_role", 0, 0);
        if (ret == STORE_OK)
            ret = exec_user_update(store, deactivate ? ST_OUTBOX_SUPERSEDE_ALL : ST_OUTBOX_SUPERSEDE_ROLE, row->user_id, id, NULL,
                                   row->created_at_ms, 1);
    }
    if (ret == STORE_OK)
        ret = exec_by_user(store, ST_RECHECK_CANCEL, row->user_id);
    ret = op_leave(store, scope, ret);
    if (ret == STORE_OK && id_out != NULL)
        *id_out = id;
    return ret;
}

/* Copies the current row (OUTBOX_COLUMNS) into `out`, which owns the strings afterwards. */
static store_status_t outbox_from_row(store_t *s, sqlite3_stmt *st, store_outbox_t *out)
{
    memset(out, 0, sizeof(*out));
    int64_t state = sqlite3_column_int64(st, 5);
    if (state < STORE_OUTBOX_PENDING || state > STORE_OUTBOX_SUPERSEDED) {
        set_error(s, "outbox row %lld has unknown state %lld", (long long)sqlite3_column_int64(st, 0), (long long)state);
        return STORE_ERROR;
    }
    out->id = sqlite3_column_int64(st, 0);
    out->state = (store_outbox_state_t)state;
    int64_t attempts = sqlite3_column_int64(st, 6);
    out->attempts = attempts > INT32_MAX ? INT32_MAX : attempts < 0 ? 0 : (int)attempts;
    out->created_at_ms = sqlite3_column_int64(st, 7);
    out->next_attempt_ms = sqlite3_column_int64(st, 8);
    out->result_version = sqlite3_column_int64(st, 12);
    out->superseded_by = sqlite3_column_int64(st, 13);
    if (!dup_col(st, 1, 0, &out->user_id) || !dup_col(st, 2, 0, &out->action) || !dup_col(st, 3, 0, &out->email) ||
        !dup_col(st, 4, 1, &out->role) || !dup_col(st, 9, 1, &out->last_error) || !dup_col(st, 10, 1, &out->outcome) ||
        !dup_col(st, 11, 1, &out->prev_resource)) {
        store_outbox_clear(out);
        return oom(s);
    }
    return STORE_OK;
}

store_status_t store_outbox_get(store_t *store, int64_t id, store_outbox_t *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_GET);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        ret = outbox_from_row(store, st, out);
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = db_error(store, "get outbox row");
    stmt_put(store, ST_OUTBOX_GET, st);
    return ret;
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
    stmt_id_t id = after_id > 0 ? ST_OUTBOX_DUE_AFTER : ST_OUTBOX_DUE;
    sqlite3_stmt *st = stmt_get(store, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    size_t n = 0;
    if (sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK || (after_id > 0 && sqlite3_bind_int64(st, 2, after_id) != SQLITE_OK)) {
        ret = db_error(store, "bind");
        goto out;
    }
    /*
     * The in-flight list is short (bounded by the delivery concurrency), so it is filtered here
     * rather than bound into the SQL. Dropping a user's oldest row drops the user: the query never
     * returns a newer row while an older one is pending.
     */
    while (n < max) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(store, "due outbox rows");
            goto out;
        }
        if (skip != NULL && in_list(sqlite3_column_int64(st, 0), skip, n_skip))
            continue;
        ret = outbox_from_row(store, st, &rows[n]);
        if (ret != STORE_OK)
            goto out;
        n++;
    }
out:
    stmt_put(store, id, st);
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
    return query_int64(store, ST_OUTBOX_NEXT_DUE, at_ms);
}

/* Steps an UPDATE of one outbox row by id; STORE_NOT_FOUND when there is no such row. Releases `st`. */
static store_status_t update_outbox(store_t *s, stmt_id_t id, sqlite3_stmt *st, int rc)
{
    store_status_t ret = STORE_OK;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        ret = db_error(s, "update outbox row");
    } else if (sqlite3_changes(s->db) == 0) {
        set_error(s, "no such outbox row");
        ret = STORE_NOT_FOUND;
    }
    stmt_put(s, id, st);
    return ret;
}

store_status_t store_outbox_reschedule(store_t *store, int64_t id, int64_t next_attempt_ms, const char *outcome,
                                       const char *last_error)
{
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_RESCHEDULE);
    if (st == NULL)
        return STORE_ERROR;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, next_attempt_ms);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, outcome);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, last_error);
    return update_outbox(store, ST_OUTBOX_RESCHEDULE, st, rc);
}

store_status_t store_outbox_finish(store_t *store, int64_t id, store_outbox_state_t state, const char *outcome,
                                   const char *last_error, int64_t now_ms)
{
    if (state != STORE_OUTBOX_DONE && state != STORE_OUTBOX_FAILED) {
        set_error(store, "outbox finish: state %d is not an end state", (int)state);
        return STORE_ERROR;
    }
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_FINISH);
    if (st == NULL)
        return STORE_ERROR;
    int rc = sqlite3_bind_int64(st, 1, id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(st, 2, (int)state);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, outcome);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 4, last_error);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, now_ms);
    return update_outbox(store, ST_OUTBOX_FINISH, st, rc);
}

store_status_t store_outbox_pending_for_user(store_t *store, const char *user_id, const char *action, int64_t *id_out)
{
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_PENDING_FOR_USER);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, action);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id_out = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        ret = STORE_NOT_FOUND;
    else
        ret = db_error(store, "pending outbox row");
    stmt_put(store, ST_OUTBOX_PENDING_FOR_USER, st);
    return ret;
}

store_status_t store_outbox_pending_count(store_t *store, size_t *count)
{
    int64_t n = 0;
    store_status_t ret = query_int64(store, ST_OUTBOX_PENDING_COUNT, &n);
    if (ret == STORE_OK)
        *count = (size_t)n;
    return ret;
}

/* Prepared per call rather than cached: it runs once per metrics scrape, not per request. */
store_status_t store_outbox_stats(store_t *s, store_outbox_stat_cb cb, void *ctx)
{
    static const char sql[] = "SELECT action, count(*), min(created_at) FROM outbox WHERE state = 0 GROUP BY action";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, sql);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb(ctx, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
    store_status_t ret = rc == SQLITE_DONE ? STORE_OK : db_error(s, sql);
    sqlite3_finalize(st);
    return ret;
}

store_status_t store_outbox_superseded_by(store_t *store, int64_t id, int64_t *ids, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_SUPERSEDED_BY);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
        ret = db_error(store, "bind");
        goto out;
    }
    while (*n_out < max) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(store, "superseded rows");
            break;
        }
        ids[(*n_out)++] = sqlite3_column_int64(st, 0);
    }
out:
    stmt_put(store, ST_OUTBOX_SUPERSEDED_BY, st);
    return ret;
}

store_status_t store_outbox_invite_delivered(store_t *store, const char *user_id, int *yes)
{
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_DELIVERED_INVITE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        *yes = rc == SQLITE_ROW;
    else
        ret = db_error(store, "delivered invite");
    stmt_put(store, ST_OUTBOX_DELIVERED_INVITE, st);
    return ret;
}

store_status_t store_outbox_get_stats(store_t *store, store_outbox_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_STATE_COUNTS);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t state = sqlite3_column_int64(st, 0);
        if (state >= 0 && state < 4)
            out->by_state[state] = sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE)
        ret = db_error(store, "outbox counts");
    stmt_put(store, ST_OUTBOX_STATE_COUNTS, st);
    if (ret != STORE_OK)
        return ret;
    if ((st = stmt_get(store, ST_OUTBOX_PENDING_STATS)) == NULL)
        return STORE_ERROR;
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->oldest_pending_ms = sqlite3_column_int64(st, 0);
        out->next_attempt_ms = sqlite3_column_int64(st, 1);
        out->max_attempts = sqlite3_column_int64(st, 2);
        out->pending_auth = sqlite3_column_int64(st, 3);
        out->pending_deactivations = sqlite3_column_int64(st, 4);
    } else {
        ret = db_error(store, "outbox pending stats");
    }
    stmt_put(store, ST_OUTBOX_PENDING_STATS, st);
    if (ret == STORE_OK)
        ret = query_int64(store, ST_RECHECK_COUNT, &out->rechecks);
    return ret;
}

store_status_t store_outbox_list(store_t *store, int state, size_t limit, store_outbox_cb cb, void *ctx)
{
    /* built per call: operator commands run once, and the order depends on the state asked for */
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT " OUTBOX_COLUMNS " FROM outbox%s ORDER BY id %s LIMIT ?1",
             state < 0 ? "" : " WHERE state = ?2", state == STORE_OUTBOX_PENDING ? "ASC" : "DESC");
    sqlite3_stmt *st = NULL;
    store_status_t ret = STORE_OK;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ret = db_error(store, "prepare");
        goto out;
    }
    if (sqlite3_bind_int64(st, 1, clamp_size(limit)) != SQLITE_OK || (state >= 0 && sqlite3_bind_int(st, 2, state) != SQLITE_OK)) {
        ret = db_error(store, "bind");
        goto out;
    }
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(store, "list outbox");
            break;
        }
        store_outbox_t row;
        if ((ret = outbox_from_row(store, st, &row)) != STORE_OK)
            break;
        int stop = cb(ctx, &row);
        store_outbox_clear(&row);
        if (stop)
            break;
    }
out:
    sqlite3_finalize(st);
    return ret;
}

/* Changes one row by id and tells "no such row" from "not in a state this applies to". */
static store_status_t change_row(store_t *s, stmt_id_t id, int64_t row_id, int64_t now_ms)
{
    sqlite3_stmt *st = stmt_get(s, id);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = sqlite3_bind_int64(st, 1, row_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, now_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int changed = sqlite3_changes(s->db);
    if (rc != SQLITE_DONE)
        ret = db_error(s, stmt_sql[id]);
    stmt_put(s, id, st);
    if (ret != STORE_OK || changed > 0)
        return ret;
    store_outbox_t row;
    ret = store_outbox_get(s, row_id, &row);
    if (ret == STORE_OK) {
        set_error(s, "outbox row %lld is not in a state this applies to", (long long)row_id);
        ret = STORE_CONFLICT;
    } else if (ret == STORE_NOT_FOUND) {
        set_error(s, "no outbox row %lld", (long long)row_id);
    }
    store_outbox_clear(&row);
    return ret;
}

store_status_t store_outbox_retry(store_t *store, int64_t id, int64_t now_ms)
{
    return change_row(store, ST_OUTBOX_RETRY, id, now_ms);
}

store_status_t store_outbox_drop(store_t *store, int64_t id, int64_t now_ms)
{
    return change_row(store, ST_OUTBOX_DROP, id, now_ms);
}

store_status_t store_outbox_retry_failed(store_t *store, int64_t now_ms, size_t *count)
{
    sqlite3_stmt *st = stmt_get(store, ST_OUTBOX_RETRY_FAILED);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = sqlite3_bind_int64(st, 1, now_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(store, "retry failed rows");
    else
        *count = (size_t)sqlite3_changes(store->db);
    stmt_put(store, ST_OUTBOX_RETRY_FAILED, st);
    return ret;
}

/* ---- pending-invitee re-sends ----------------------------------------------------------------- */

void store_recheck_clear(store_recheck_t *row)
{
    if (row == NULL)
        return;
    free(row->user_id);
    free(row->email);
    free(row->last_error);
    memset(row, 0, sizeof(*row));
}

store_status_t store_recheck_schedule(store_t *store, const char *user_id, const char *email, int64_t outbox_id, int64_t now_ms,
                                      int64_t first_ms, int64_t until_ms)
{
    sqlite3_stmt *st = stmt_get(store, ST_RECHECK_SCHEDULE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 2, email);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 3, outbox_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 4, now_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 5, first_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 6, until_ms);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(store, "schedule re-send");
    stmt_put(store, ST_RECHECK_SCHEDULE, st);
    return ret;
}

store_status_t store_recheck_due(store_t *store, int64_t now_ms, store_recheck_t *rows, size_t max, size_t *n_out)
{
    *n_out = 0;
    sqlite3_stmt *st = stmt_get(store, ST_RECHECK_DUE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    size_t n = 0;
    if (sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK || sqlite3_bind_int64(st, 2, clamp_size(max)) != SQLITE_OK) {
        ret = db_error(store, "bind");
        goto out;
    }
    while (n < max) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = db_error(store, "due re-sends");
            break;
        }
        store_recheck_t *r = &rows[n];
        memset(r, 0, sizeof(*r));
        r->outbox_id = sqlite3_column_int64(st, 2);
        r->created_at_ms = sqlite3_column_int64(st, 3);
        r->next_at_ms = sqlite3_column_int64(st, 4);
        r->until_ms = sqlite3_column_int64(st, 5);
        r->sends = (int)sqlite3_column_int64(st, 6);
        if (!dup_col(st, 0, 0, &r->user_id) || !dup_col(st, 1, 0, &r->email) || !dup_col(st, 7, 1, &r->last_error)) {
            store_recheck_clear(r);
            ret = oom(store);
            break;
        }
        n++;
    }
out:
    stmt_put(store, ST_RECHECK_DUE, st);
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
    return query_int64(store, ST_RECHECK_NEXT_DUE, at_ms);
}

store_status_t store_recheck_reschedule(store_t *store, const char *user_id, int64_t next_ms, const char *last_error)
{
    sqlite3_stmt *st = stmt_get(store, ST_RECHECK_RESCHEDULE);
    if (st == NULL)
        return STORE_ERROR;
    store_status_t ret = STORE_OK;
    int rc = bind_text(st, 1, user_id);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 2, next_ms);
    if (rc == SQLITE_OK)
        rc = bind_text(st, 3, last_error);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        ret = db_error(store, "reschedule re-send");
    stmt_put(store, ST_RECHECK_RESCHEDULE, st);
    return ret;
}

store_status_t store_recheck_remove(store_t *store, const char *user_id)
{
    return exec_by_user(store, ST_RECHECK_REMOVE, user_id);
}

store_status_t store_recheck_count(store_t *store, size_t *count)
{
    int64_t n = 0;
    store_status_t ret = query_int64(store, ST_RECHECK_COUNT, &n);
    if (ret == STORE_OK)
        *count = (size_t)n;
    return ret;
}
