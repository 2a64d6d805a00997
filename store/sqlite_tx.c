/*
 * Transactions: BEGIN/COMMIT/ROLLBACK, the savepoints of store_mark and of multi-row writes, the
 * mutex writers of one process take turns on, and the group commit that lets concurrent commits
 * share one fsync.
 */
#include "store/sqlite.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/alloc.h"

const store_sql_t store__tx_sql[SQL__COUNT] = {
    [SQL_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
    [SQL_COMMIT] = {"commit", "COMMIT"},
    [SQL_ROLLBACK] = {"rollback", "ROLLBACK"},
    [SQL_OP_SAVEPOINT] = {"savepoint", "SAVEPOINT store_op"},
    [SQL_OP_RELEASE] = {"release savepoint", "RELEASE store_op"},
    [SQL_OP_ROLLBACK_TO] = {"roll back to savepoint", "ROLLBACK TO store_op"},
    [SQL_MARK] = {"mark", "SAVEPOINT store_mark"},
    [SQL_MARK_RELEASE] = {"keep mark", "RELEASE store_mark"},
    [SQL_MARK_ROLLBACK_TO] = {"undo mark", "ROLLBACK TO store_mark"},
    [SQL_SYNC_NORMAL] = {"synchronous=NORMAL", "PRAGMA synchronous = NORMAL"},
    [SQL_SYNC_FULL] = {"synchronous=FULL", "PRAGMA synchronous = FULL"},
};

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

/*
 * Group commit. A transaction commits at synchronous=NORMAL (its WAL frames are written, not yet
 * fsynced), releases the write lock, and then waits in group_wait() until one fsync of the WAL
 * taken after its commit has finished: whoever finds no fsync running becomes the leader and syncs
 * for every commit made so far; the others wait for it. Concurrent commits thus share one fsync,
 * and store_commit still returns only once the commit is durable, as with synchronous=FULL. Every
 * other write (autocommit statements) keeps synchronous=FULL. One group per database file, used
 * by all the connections of this process to it (fsync of the WAL covers frames written by any of them).
 * store_commit_deferred splits the two halves: the commit hands out its ticket, and store_sync
 * waits for it later, on any connection of the group, so a worker's loop need not sit in the fsync.
 */
typedef struct store_sync_group {
    struct store_sync_group *next;
    int refs;
    uint64_t committed; /* commits whose frames are written */
    uint64_t synced;    /* commits known durable */
    int syncing;        /* a leader's fsync is under way */
    char path[];
} sync_group_t;

static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t group_cond = PTHREAD_COND_INITIALIZER;
static sync_group_t *groups;

void store__group_join(store_t *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    pthread_mutex_lock(&group_lock);
    sync_group_t *g = groups;
    while (g != NULL && strcmp(g->path, path) != 0)
        g = g->next;
    if (g == NULL) {
        g = gw_calloc(1, sizeof(*g) + strlen(path) + 1);
        strcpy(g->path, path);
        g->next = groups;
        groups = g;
    }
    g->refs++;
    pthread_mutex_unlock(&group_lock);
    s->group = g;
}

void store__group_leave(store_t *s)
{
    sync_group_t *g = s->group;
    if (g == NULL)
        return;
    s->group = NULL;
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
        store__error(s, "cannot reach the WAL file to sync it");
        return STORE_ERROR;
    }
    int rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
        store__error(s, "fsync of the WAL failed: %s", sqlite3_errstr(rc));
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Called right after a COMMIT at synchronous=NORMAL: the ticket group_wait takes for that commit. */
static uint64_t group_ticket(sync_group_t *g)
{
    pthread_mutex_lock(&group_lock);
    uint64_t ticket = ++g->committed;
    pthread_mutex_unlock(&group_lock);
    return ticket;
}

/*
 * Returns once commit `ticket` of group `g` is durable. `s` is any connection of the group: the
 * fsync goes through its WAL handle, which covers the frames every connection wrote.
 */
static store_status_t group_wait(store_t *s, sync_group_t *g, uint64_t ticket)
{
    store_status_t ret = STORE_OK;
    pthread_mutex_lock(&group_lock);
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

/* Runs a statement that returns no rows. */
static store_status_t exec_raw(store_t *s, store_sql_id_t id)
{
    store_q_t q = q_begin(s, id);
    q_step(&q);
    return q_end(&q, STORE_OK);
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
        if (committed) {
            uint64_t ticket = group_ticket(s->group);
            if (s->defer_sync)
                s->deferred_ticket = ticket;
            else
                ret = group_wait(s, s->group, ticket);
        }
        if (exec_raw(s, SQL_SYNC_FULL) != STORE_OK && ret == STORE_OK)
            ret = STORE_ERROR;
    }
    return ret;
}

/* Runs a transaction statement, taking the writers' mutex before BEGIN and releasing it once the transaction is over. */
static store_status_t exec(store_t *s, store_sql_id_t id)
{
    if (s->pg != NULL)
        return store__pg_exec(s, id);
    if (id == SQL_BEGIN) {
        write_lock_take(s);
        if (s->group != NULL && !s->relaxed && !s->grouped) {
            if (exec_raw(s, SQL_SYNC_NORMAL) != STORE_OK) {
                (void)tx_over(s, 0); /* nothing was committed: no sync to report */
                return STORE_ERROR;
            }
            s->grouped = 1;
        }
    }
    store_status_t ret = exec_raw(s, id);
    if ((id == SQL_BEGIN || id == SQL_COMMIT || id == SQL_ROLLBACK) && sqlite3_get_autocommit(s->db)) {
        store_status_t over = tx_over(s, id == SQL_COMMIT && ret == STORE_OK);
        if (ret == STORE_OK)
            ret = over;
    }
    return ret;
}

store_status_t store_begin(store_t *store)
{
    return exec(store, SQL_BEGIN);
}

store_status_t store_commit(store_t *store)
{
    return exec(store, SQL_COMMIT);
}

store_status_t store_commit_deferred(store_t *store, uint64_t *ticket)
{
    store->defer_sync = 1;
    store->deferred_ticket = 0;
    store_status_t ret = exec(store, SQL_COMMIT);
    store->defer_sync = 0;
    *ticket = ret == STORE_OK ? store->deferred_ticket : 0;
    return ret;
}

store_status_t store_sync(store_t *store, uint64_t ticket)
{
    if (ticket == 0)
        return STORE_OK;
    if (store->group == NULL) {
        store__error(store, "this connection cannot sync others' commits (it has no sync group)");
        return STORE_ERROR;
    }
    return group_wait(store, store->group, ticket);
}

void store__rollback_keeping_error(store_t *s)
{
    char saved[sizeof(s->errmsg)];
    memcpy(saved, s->errmsg, sizeof(saved));
    store_rollback(s);
    memcpy(s->errmsg, saved, sizeof(saved));
}

void store_rollback(store_t *store)
{
    if (store->pg != NULL) {
        (void)store__pg_exec(store, SQL_ROLLBACK); /* a no-op when no transaction is open */
        return;
    }
    if (sqlite3_get_autocommit(store->db)) {
        (void)tx_over(store, 0); /* nothing open: only the mutex and the sync mode to restore */
        return;
    }
    (void)exec(store, SQL_ROLLBACK); /* a failed ROLLBACK leaves nothing the caller could do */
}

store_status_t store_mark(store_t *store)
{
    return exec(store, SQL_MARK);
}

store_status_t store_mark_keep(store_t *store)
{
    return exec(store, SQL_MARK_RELEASE);
}

void store_mark_undo(store_t *store)
{
    /* ROLLBACK TO leaves the savepoint in place; RELEASE then drops it without undoing more. */
    (void)exec(store, SQL_MARK_ROLLBACK_TO);
    (void)exec(store, SQL_MARK_RELEASE);
}

/*
 * Outside a transaction a multi-row write gets its own BEGIN IMMEDIATE: the writes come before
 * the reads today, but a deferred transaction that ever read first could meet SQLITE_BUSY_SNAPSHOT,
 * which the busy handler does not retry.
 */
store_status_t store__op_enter(store_t *s, store_op_scope_t *scope)
{
    *scope = store__autocommit(s) ? STORE_OP_OWN_TX : STORE_OP_SAVEPOINT;
    return exec(s, *scope == STORE_OP_OWN_TX ? SQL_BEGIN : SQL_OP_SAVEPOINT);
}

store_status_t store__op_leave(store_t *s, store_op_scope_t scope, store_status_t ret)
{
    if (ret == STORE_OK) {
        ret = exec(s, scope == STORE_OP_OWN_TX ? SQL_COMMIT : SQL_OP_RELEASE);
        if (ret == STORE_OK)
            return STORE_OK;
    }
    /* keep the first error message: the undo's own status is of no further use */
    char saved[sizeof(s->errmsg)];
    memcpy(saved, s->errmsg, sizeof(saved));
    if (scope == STORE_OP_OWN_TX) {
        store_rollback(s);
    } else if (!store__autocommit(s)) {
        /* some errors (e.g. SQLITE_FULL) already rolled the whole transaction back */
        (void)exec(s, SQL_OP_ROLLBACK_TO);
        (void)exec(s, SQL_OP_RELEASE);
    }
    memcpy(s->errmsg, saved, sizeof(saved));
    return ret;
}
