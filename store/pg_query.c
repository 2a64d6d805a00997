/*
 * The PostgreSQL side of the query helper (store/sqlite.h) and of the transaction statements.
 *
 * Why not a second store: the ~85 functions of store/store.h are written once (store/sqlite_*.c),
 * as statement tables plus the q_* helper; what differs between SQLite and PostgreSQL is how a
 * statement is prepared, bound, stepped and read, and some SQL text. So the helper dispatches on
 * the store's backend, and this file implements it with libpq; store/pg_db.c holds the SQL that
 * differs and the schema. A copy of the 3,000 lines of store functions would have to follow every
 * change of the SQLite ones by hand, and would drift.
 *
 * How a statement runs: the SQLite text of its table entry (or its store__pg_sql override) is
 * translated once per connection (?N to $N; lower(), which SQLite folds in ASCII only, to the
 * schema's store_fold(), which does the same whatever the server's locale) and prepared under the
 * name "s<id>" on first use, with the types of that first call's parameters (integers as int8,
 * text as text). Results are read whole (PQexecPrepared), not row by row: a scan's
 * callback may call back into the store, as on SQLite, and one connection can only run one query
 * at a time. The store's scans are bounded by their callers (pages, seats, due rows), except the
 * scans of a whole table (a filter no index narrows, a sort by an unindexed attribute): those are
 * streamed through a cursor, PG_SCAN_CHUNK rows at a time, so that a directory of 100,000 users is
 * never in the client's memory at once (see streamed()).
 *
 * Transactions: store_begin is BEGIN plus a transaction-scoped advisory lock (PG_WRITE_LOCK), the
 * same lock for every writer of the database, replicas included. That is the SQLite writers'
 * mutex made database-wide, and it is what keeps the SQLite code's semantics true unchanged: a
 * writer reads (If-Match versions, seat holders, a seat's older pending rows) and writes without
 * another writer in between, and outbox ids are handed out in commit order, which the per-seat
 * order rule (store_outbox_due: never a row while an older one of its seat is pending) relies on.
 * SERIALIZABLE would also keep reads and writes consistent, but it fails transactions at commit
 * and needs a retry loop around every caller's transaction, which the interface does not have;
 * row locks (SELECT ... FOR UPDATE) alone would not order the ids of two seats' concurrent
 * inserts. Single-statement writes outside a transaction (the delivery thread's outcomes) take no
 * advisory lock: row locks order them against the writers.
 *
 * Durability: every session runs synchronous_commit=on, so COMMIT returns once its WAL is flushed,
 * and the server shares one flush among concurrent commits (its own group commit). A client cannot
 * wait for another session's commit to be flushed, so store_commit_deferred commits durably here
 * and hands out ticket 0 (nothing left to flush), and store_sync has nothing to wait for.
 */
#include "store/sqlite.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"

/* The advisory lock key of writers (pg_advisory_xact_lock): "odeu" in ASCII, for pg_locks readers. */
#define PG_WRITE_LOCK "1868850549"

/*
 * The types parameters are prepared with: int8 for q_int64, text for q_text (NULL included, so that
 * "?2 IS NULL OR action = ?2" is typed), and text for a parameter the SQL does not use (the SQLite
 * texts leave some bound but unused, which PostgreSQL cannot type).
 */
#define PG_INT8_OID 20
#define PG_TEXT_OID 25

struct store_pg {
    PGconn *conn;
    char *text[SQL__COUNT]; /* translated SQL, once per connection */
    int n_params[SQL__COUNT];
    char prepared[SQL__COUNT];
    int relaxed; /* store_relax_sync: set again on a new session */
    int opened;  /* store__pg_open is done: from then on a broken connection is made again */
    int in_tx;   /* between a BEGIN that worked and its COMMIT or ROLLBACK */
    /* Reconnecting (see usable()): the attempt under way, and when the next may start. */
    int lost;       /* the connection broke and no new one is up yet */
    int connecting; /* PQresetStart done, the handshake goes on with PQresetPoll */
    PostgresPollingStatusType polling;
    int64_t deadline_ms; /* of the handshake under way (monotonic) */
    int64_t next_try_ms; /* no attempt before (monotonic); the backoff */
    int backoff_ms;
    int64_t connect_timeout_ms; /* the URL's connect_timeout, else PG_CONNECT_TIMEOUT_S */
    char why[160];              /* libpq's word on the last failure, for store_errmsg */
    unsigned cursors;           /* cursors declared on this connection, for their names */
    int64_t total_changes;      /* rows its statements changed (the page cache's own-writes mark) */
};

struct store_pgq {
    char **values; /* the parameters, as text (owned); NULL binds NULL */
    char *is_int;
    int n;
    char *oneoff; /* the translated SQL of a statement built at run time (owned) */
    int oneoff_params;
    PGresult *res;
    int row;         /* the current row of res; -1 before the first step */
    char cursor[16]; /* a streamed scan's cursor ("" for a statement read whole) */
};

static int usable(store_t *s);

/* ---- SQL translation ---------------------------------------------------------------------------- */

/* The PostgreSQL text of `sql` (owned by the caller) and its highest parameter number. */
static char *translate(const char *sql, int *n_params)
{
    size_t len = strlen(sql);
    /* "lower(" (6) becomes "store_fold(" (11); "?" becomes "$": at most 5 more bytes per 6 */
    char *out = gw_malloc(len + len + 1), *o = out;
    *n_params = 0;
    for (const char *p = sql; *p != '\0';) {
        if (*p == '?') {
            *o++ = '$';
            p++;
            int n = 0;
            while (*p >= '0' && *p <= '9') {
                n = n * 10 + (*p - '0');
                *o++ = *p++;
            }
            if (n > *n_params)
                *n_params = n;
        } else if (strncmp(p, "lower(", 6) == 0 && (p == sql || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))) {
            memcpy(o, "store_fold(", 11);
            o += 11;
            p += 6;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* The first line of libpq's message for `res` (or of the connection's), without its newline. */
static void pg_error(store_t *s, const char *what, const PGresult *res)
{
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(s->pg->conn);
    if (msg == NULL || msg[0] == '\0')
        msg = "unknown error";
    size_t n = strcspn(msg, "\n");
    store__error(s, "%s: %.*s", what, (int)n, msg);
}

/* ---- the query helper -------------------------------------------------------------------------- */

store_q_t store__pg_q_begin(store_t *s, store_sql_id_t id, const char *text)
{
    store_q_t q = {s, NULL, id, 0, STORE_OK, gw_calloc(1, sizeof(struct store_pgq))};
    q.pq->row = -1;
    if (text != NULL) {
        q.pq->oneoff = translate(text, &q.pq->oneoff_params);
        return q;
    }
    if ((int)id < 0 || id >= SQL__COUNT || store__sql(id) == NULL) {
        q_fail(&q, STORE_ERROR, "statement %d has no SQL", (int)id);
        return q;
    }
    struct store_pg *pg = s->pg;
    if (pg->text[id] == NULL) {
        const char *sql = store__pg_sql[id].text != NULL ? store__pg_sql[id].text : store__sql(id)->text;
        pg->text[id] = translate(sql, &pg->n_params[id]);
    }
    return q;
}

void store__pg_bind(store_q_t *q, int idx, const char *text, int is_int)
{
    struct store_pgq *pq = q->pq;
    if (idx < 1) {
        q_fail(q, STORE_ERROR, "parameter %d out of range", idx);
        return;
    }
    if (idx > pq->n) {
        pq->values = gw_realloc(pq->values, (size_t)idx * sizeof(*pq->values));
        pq->is_int = gw_realloc(pq->is_int, (size_t)idx);
        for (int i = pq->n; i < idx; i++) {
            pq->values[i] = NULL;
            pq->is_int[i] = 0;
        }
        pq->n = idx;
    }
    free(pq->values[idx - 1]);
    pq->values[idx - 1] = text != NULL ? gw_strdup(text) : NULL;
    pq->is_int[idx - 1] = (char)is_int;
}

/*
 * Statements that may return a whole table. They run as a cursor WITH HOLD, fetched in chunks:
 * between two fetches the connection is free for the scan's callback to call back into the store,
 * and WITH HOLD lets the cursor outlive the statement's own implicit transaction outside a
 * transaction (the server then keeps the result, not the client); inside one it is an ordinary
 * cursor, closed by q_end before the commit.
 */
#define PG_SCAN_CHUNK 256

static int streamed(store_sql_id_t id)
{
    return id == SQL_SCAN_ALL || id == SQL_GROUP_SCAN_ALL || id == SQL_USER_SELECT;
}

/* The next chunk of q's cursor into pq->res: Q_ROW, Q_DONE or Q_ERROR (recorded). */
static q_step_t fetch_chunk(store_q_t *q)
{
    struct store_pgq *pq = q->pq;
    char sql[64];
    snprintf(sql, sizeof(sql), "FETCH %d FROM %s", PG_SCAN_CHUNK, pq->cursor);
    PQclear(pq->res);
    pq->res = PQexec(q->s->pg->conn, sql);
    pq->row = 0;
    if (PQresultStatus(pq->res) != PGRES_TUPLES_OK) {
        pg_error(q->s, "fetch", pq->res);
        q->fail = STORE_ERROR;
        return Q_ERROR;
    }
    return PQntuples(pq->res) > 0 ? Q_ROW : Q_DONE;
}

/* Runs the query with its parameters; Q_ROW, Q_DONE or Q_ERROR (recorded). */
static q_step_t run(store_q_t *q)
{
    struct store_pg *pg = q->s->pg;
    struct store_pgq *pq = q->pq;
    int n = pq->oneoff != NULL ? pq->oneoff_params : pg->n_params[q->id];
    if (pq->n > n)
        n = pq->n;
    const char **values = gw_calloc((size_t)n + 1, sizeof(*values));
    Oid *types = gw_calloc((size_t)n + 1, sizeof(*types));
    for (int i = 0; i < pq->n; i++) {
        values[i] = pq->values[i];
        types[i] = pq->is_int[i] ? PG_INT8_OID : PG_TEXT_OID;
    }
    for (int i = pq->n; i < n; i++)
        types[i] = PG_TEXT_OID;
    const store_sql_t *entry = store__sql(q->id);
    const char *what = entry != NULL ? entry->name : "statement";
    const char *sql = pq->oneoff != NULL ? pq->oneoff : pg->text[q->id];
    /*
     * A read outside a transaction that finds the connection broken (the server restarted while it
     * sat idle) runs once more on a new one: it changed nothing, so running it again is safe.
     */
    int retry = strncmp(sql, "SELECT", 6) == 0 && !pg->in_tx;
again:
    if (usable(q->s) != 0) {
        free(values);
        free(types);
        q->fail = STORE_ERROR;
        return Q_ERROR;
    }
    if (streamed(q->id)) {
        snprintf(pq->cursor, sizeof(pq->cursor), "c%u", ++pg->cursors);
        size_t len = strlen(sql) + 64;
        char *declare = gw_malloc(len);
        snprintf(declare, len, "DECLARE %s NO SCROLL CURSOR WITH HOLD FOR %s", pq->cursor, sql);
        pq->res = PQexecParams(pg->conn, declare, n, types, values, NULL, NULL, 0);
        free(declare);
        if (PQresultStatus(pq->res) != PGRES_COMMAND_OK)
            pq->cursor[0] = '\0'; /* none to fetch from or close */
    } else if (pq->oneoff != NULL) {
        pq->res = PQexecParams(pg->conn, pq->oneoff, n, types, values, NULL, NULL, 0);
    } else {
        char name[16];
        snprintf(name, sizeof(name), "s%d", (int)q->id);
        if (!pg->prepared[q->id]) {
            PGresult *res = PQprepare(pg->conn, name, pg->text[q->id], n, types);
            int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            if (!ok && retry && PQstatus(pg->conn) == CONNECTION_BAD) {
                retry = 0;
                PQclear(res);
                goto again;
            }
            if (!ok) {
                pg_error(q->s, what, res);
                q->fail = STORE_ERROR;
            }
            PQclear(res);
            if (!ok) {
                free(values);
                free(types);
                return Q_ERROR;
            }
            pg->prepared[q->id] = 1;
        }
        pq->res = PQexecPrepared(pg->conn, name, n, values, NULL, NULL, 0);
    }
    ExecStatusType st = PQresultStatus(pq->res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && retry && PQstatus(pg->conn) == CONNECTION_BAD) {
        retry = 0;
        PQclear(pq->res);
        pq->res = NULL;
        goto again;
    }
    free(values);
    free(types);
    if (st == PGRES_COMMAND_OK && pq->cursor[0] != '\0')
        return fetch_chunk(q);
    if (st == PGRES_COMMAND_OK) {
        pg->total_changes += store__pg_changes(q);
        pq->row = 0;
        return Q_DONE;
    }
    if (st == PGRES_TUPLES_OK) {
        pq->row = 0;
        return PQntuples(pq->res) > 0 ? Q_ROW : Q_DONE;
    }
    pg_error(q->s, what, pq->res);
    q->fail = STORE_ERROR;
    return Q_ERROR;
}

q_step_t store__pg_step(store_q_t *q)
{
    struct store_pgq *pq = q->pq;
    if (pq->res == NULL)
        return run(q);
    if (pq->row < PQntuples(pq->res))
        pq->row++;
    if (pq->row < PQntuples(pq->res))
        return Q_ROW;
    /* a chunk shorter than asked for was the cursor's last */
    if (pq->cursor[0] != '\0' && PQntuples(pq->res) == PG_SCAN_CHUNK && q->fail == STORE_OK)
        return fetch_chunk(q);
    return Q_DONE;
}

const char *store__pg_col(store_q_t *q, int col)
{
    struct store_pgq *pq = q->pq;
    if (pq->res == NULL || pq->row < 0 || pq->row >= PQntuples(pq->res) || col < 0 || col >= PQnfields(pq->res) ||
        PQgetisnull(pq->res, pq->row, col))
        return NULL;
    return PQgetvalue(pq->res, pq->row, col);
}

int64_t store__pg_changes(store_q_t *q)
{
    const char *n = q->pq->res != NULL ? PQcmdTuples(q->pq->res) : "";
    return n[0] != '\0' ? strtoll(n, NULL, 10) : 0;
}

/*
 * A unique violation of the index on `column` ("table.column"): the schema names each unique
 * index it maps a conflict from "table_column" (store/pg_db.c).
 */
int store__pg_conflict_on(store_q_t *q, const char *column)
{
    const PGresult *res = q->pq->res;
    if (res == NULL)
        return 0;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    if (state == NULL || strcmp(state, "23505") != 0 || constraint == NULL || strlen(column) != strlen(constraint))
        return 0;
    for (size_t i = 0; column[i] != '\0'; i++)
        if ((column[i] == '.' ? '_' : column[i]) != constraint[i])
            return 0;
    return 1;
}

void store__pg_q_end(store_q_t *q)
{
    struct store_pgq *pq = q->pq;
    PGconn *conn = q->s->pg->conn;
    if (pq->cursor[0] != '\0' && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_INERROR) {
        char sql[32];
        snprintf(sql, sizeof(sql), "CLOSE %s", pq->cursor);
        PQclear(PQexec(conn, sql)); /* a failure leaves a cursor the session's end drops */
    }
    for (int i = 0; i < pq->n; i++)
        free(pq->values[i]);
    free(pq->values);
    free(pq->is_int);
    free(pq->oneoff);
    PQclear(pq->res);
    free(pq);
    q->pq = NULL;
}

/* ---- transactions ------------------------------------------------------------------------------ */

/* Runs `sql` (no parameters) and expects `want`; STORE_OK or STORE_ERROR with the message. */
static store_status_t simple(store_t *s, const char *what, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(s->pg->conn, sql);
    store_status_t ret = STORE_OK;
    if (PQresultStatus(res) != want) {
        pg_error(s, what, res);
        ret = STORE_ERROR;
    }
    PQclear(res);
    return ret;
}

int store__pg_autocommit(store_t *s)
{
    /* not the server's word: a transaction whose connection broke is still the caller's to end */
    return !s->pg->in_tx;
}

store_status_t store__pg_exec(store_t *s, store_sql_id_t id)
{
    struct store_pg *pg = s->pg;
    switch (id) {
    case SQL_BEGIN:
        for (int attempt = 0;; attempt++) {
            if (usable(s) != 0)
                return STORE_ERROR;
            PGTransactionStatusType st = PQtransactionStatus(pg->conn);
            if (st != PQTRANS_IDLE) {
                store__error(s, "begin: a transaction is open");
                return STORE_ERROR;
            }
            if (simple(s, "begin", "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")", PGRES_TUPLES_OK) == STORE_OK) {
                pg->in_tx = 1;
                return STORE_OK;
            }
            /* a connection that broke while idle is found here: nothing was begun, begin on a new one */
            if (attempt == 0 && PQstatus(pg->conn) == CONNECTION_BAD)
                continue;
            if (PQstatus(pg->conn) == CONNECTION_OK && PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
                (void)simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
            return STORE_ERROR;
        }
    case SQL_COMMIT: {
        if (!pg->in_tx) {
            store__error(s, "commit: no transaction is open");
            return STORE_ERROR;
        }
        if (usable(s) != 0) {
            pg->in_tx = 0;
            return STORE_ERROR;
        }
        pg->in_tx = 0;
        /* COMMIT of a failed transaction answers ROLLBACK without an error: that is a failure here */
        if (PQtransactionStatus(pg->conn) == PQTRANS_INERROR) {
            store__error(s, "commit: the transaction failed earlier and was rolled back");
            (void)simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
            return STORE_ERROR;
        }
        PGresult *res = PQexec(pg->conn, "COMMIT");
        store_status_t ret = STORE_OK;
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (PQstatus(pg->conn) == CONNECTION_BAD)
                store__error(s, "commit: the connection to PostgreSQL was lost before the commit was confirmed");
            else
                pg_error(s, "commit", res);
            ret = STORE_ERROR;
        } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            store__error(s, "commit: PostgreSQL rolled the transaction back (%s)", PQcmdStatus(res));
            ret = STORE_ERROR;
        }
        PQclear(res);
        return ret;
    }
    case SQL_ROLLBACK:
        pg->in_tx = 0;
        /* a broken connection took its transaction with it: the server rolled it back */
        if (PQstatus(pg->conn) != CONNECTION_OK || pg->lost || PQtransactionStatus(pg->conn) == PQTRANS_IDLE)
            return STORE_OK;
        return simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
    default: {
        const store_sql_t *sql = store__sql(id);
        if (sql == NULL) {
            store__error(s, "statement %d has no SQL", (int)id);
            return STORE_ERROR;
        }
        if (usable(s) != 0)
            return STORE_ERROR;
        return simple(s, sql->name, sql->text, PGRES_COMMAND_OK);
    }
    }
}

store_status_t store__pg_last_id(store_t *s, int64_t *id)
{
    if (usable(s) != 0)
        return STORE_ERROR;
    PGresult *res = PQexec(s->pg->conn, "SELECT lastval()");
    store_status_t ret = STORE_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        pg_error(s, "last insert id", res);
        ret = STORE_ERROR;
    } else {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return ret;
}

store_status_t store__pg_relax_sync(store_t *s)
{
    s->pg->relaxed = 1;
    if (usable(s) != 0)
        return STORE_ERROR;
    return simple(s, "synchronous_commit=off", "SET synchronous_commit = off", PGRES_COMMAND_OK);
}

/* ---- connections -------------------------------------------------------------------------------- */

int store__pg_url(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

int store__pg_url_check(const char *url, char *why, size_t why_len)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (opts == NULL) {
        /* libpq may quote a piece of the URL back, and that piece may be the password */
        snprintf(why, why_len, "is not a PostgreSQL URL libpq can read (see libpq's connection URIs)");
        PQfreemem(msg);
        return -1;
    }
    PQconninfoFree(opts);
    return 0;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg, (void)message; /* "relation already exists, skipping" and the like: nothing for the log */
}

/*
 * Connection defaults a URL may override (libpq's later keywords win, and the URL is expanded in
 * place of "dbname"): without connect_timeout libpq waits for the system's TCP timeout, minutes;
 * the keepalives find a server that vanished while the connection was idle within about half a
 * minute, and tcp_user_timeout bounds a query whose packets nobody acknowledges.
 */
static const char *const connect_keywords[] = {
    "connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", NULL};
#define PG_CONNECT_TIMEOUT_S 5
#define PG_STR_(x)           #x
#define PG_STR(x)            PG_STR_(x)

/* The session's settings, on every new connection. */
static store_status_t session_setup(store_t *s)
{
    PQsetNoticeProcessor(s->pg->conn, ignore_notice, NULL);
    /*
     * synchronous_commit on: a commit returns once its WAL is flushed (the server's own group
     * commit shares the flush among concurrent commits). lock_timeout: as SQLite's busy timeout, a
     * writer waits for another's lock a few seconds, then fails rather than hanging.
     */
    char sql[200];
    snprintf(sql, sizeof(sql), "SET synchronous_commit = %s; SET lock_timeout = %d; SET client_min_messages = warning",
             s->pg->relaxed ? "off" : "on", STORE_BUSY_TIMEOUT_MS);
    return simple(s, "session settings", sql, PGRES_COMMAND_OK);
}

/* Connects and sets the session up; STORE_ERROR with the message in `s`. */
store_status_t store__pg_connect(store_t *s, const char *url)
{
    s->pg = gw_calloc(1, sizeof(*s->pg));
    if (!PQisthreadsafe()) {
        store__error(s, "libpq was built without thread support");
        return STORE_ERROR;
    }
    const char *values[] = {PG_STR(PG_CONNECT_TIMEOUT_S), "15", "5", "3", "15000", url, NULL};
    s->pg->conn = PQconnectdbParams(connect_keywords, values, 1);
    if (s->pg->conn == NULL || PQstatus(s->pg->conn) != CONNECTION_OK) {
        pg_error(s, "cannot connect to PostgreSQL", NULL);
        return STORE_ERROR;
    }
    s->pg->connect_timeout_ms = 1000 * (int64_t)PG_CONNECT_TIMEOUT_S;
    PQconninfoOption *opts = PQconninfo(s->pg->conn);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL && atoi(o->val) > 0)
            s->pg->connect_timeout_ms = 1000 * (int64_t)atoi(o->val);
    PQconninfoFree(opts);
    return session_setup(s);
}

void store__pg_opened(store_t *s)
{
    s->pg->opened = 1;
}

/* ---- reconnecting --------------------------------------------------------------------------------- */

#define PG_BACKOFF_FIRST_MS 250
#define PG_BACKOFF_MAX_MS   8000
/* How long one store call may drive a handshake before it answers "unavailable" and lets its caller go on. */
#define PG_HANDSHAKE_SLICE_MS 200

static void note_why(struct store_pg *pg, const char *msg)
{
    if (msg == NULL || msg[0] == '\0')
        msg = "the connection was closed";
    snprintf(pg->why, sizeof(pg->why), "%.*s", (int)strcspn(msg, "\n"), msg);
}

static void attempt_failed(struct store_pg *pg, const char *msg)
{
    note_why(pg, msg);
    pg->connecting = 0;
    pg->backoff_ms = pg->backoff_ms == 0 ? PG_BACKOFF_FIRST_MS : pg->backoff_ms * 2;
    if (pg->backoff_ms > PG_BACKOFF_MAX_MS)
        pg->backoff_ms = PG_BACKOFF_MAX_MS;
    pg->next_try_ms = gw_clock_mono_ms() + pg->backoff_ms;
}

/*
 * Drives the handshake under way for at most PG_HANDSHAKE_SLICE_MS: 1 when the connection is up,
 * 0 when it goes on (or failed: then the backoff is set).
 */
static int drive_handshake(struct store_pg *pg)
{
    int64_t slice_end = gw_clock_mono_ms() + PG_HANDSHAKE_SLICE_MS;
    for (;;) {
        if (pg->polling == PGRES_POLLING_OK)
            return 1;
        if (pg->polling == PGRES_POLLING_FAILED) {
            attempt_failed(pg, PQerrorMessage(pg->conn));
            return 0;
        }
        int64_t now = gw_clock_mono_ms();
        if (now >= pg->deadline_ms) {
            attempt_failed(pg, "timeout expired while connecting");
            return 0;
        }
        int64_t until = slice_end < pg->deadline_ms ? slice_end : pg->deadline_ms;
        int fd = PQsocket(pg->conn);
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = pg->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT};
            int ready = poll(&pfd, 1, until > now ? (int)(until - now) : 0);
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready == 0) {
                if (gw_clock_mono_ms() < pg->deadline_ms)
                    return 0; /* the next call goes on from here */
                continue;     /* the deadline check above ends the attempt */
            }
        }
        pg->polling = PQresetPoll(pg->conn);
    }
}

/*
 * Whether the connection can take a statement now. A connection that broke is made again here,
 * lazily, by whichever call comes next: without blocking the caller longer than one handshake
 * slice, and with a growing pause between failed attempts, during which every call fails at once
 * and store_unavailable() tells callers when to try again. Never inside a transaction: its
 * statements so far died with the old connection (the server rolled them back), and running the
 * rest on a new one would write half of it; the caller's COMMIT fails and its ROLLBACK ends it.
 * 0, or -1 with the message set.
 */
static int usable(store_t *s)
{
    struct store_pg *pg = s->pg;
    if (!pg->connecting && !pg->lost && PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (!pg->lost) {
        pg->lost = 1;
        note_why(pg, PQerrorMessage(pg->conn));
    }
    if (!pg->opened || pg->in_tx) {
        store__error(s, "the connection to PostgreSQL was lost (%s)%s", pg->why,
                     pg->in_tx ? "; the transaction was rolled back" : "");
        return -1;
    }
    if (!pg->connecting && gw_clock_mono_ms() >= pg->next_try_ms) {
        if (PQresetStart(pg->conn)) {
            pg->connecting = 1;
            pg->polling = PGRES_POLLING_WRITING;
            pg->deadline_ms = gw_clock_mono_ms() + pg->connect_timeout_ms;
        } else {
            attempt_failed(pg, PQerrorMessage(pg->conn));
        }
    }
    if (pg->connecting && drive_handshake(pg)) {
        pg->connecting = 0;
        memset(pg->prepared, 0, sizeof(pg->prepared)); /* a new session has none of the old one's */
        if (session_setup(s) == STORE_OK) {
            pg->lost = 0;
            pg->backoff_ms = 0;
            pg->next_try_ms = 0;
            return 0;
        }
        attempt_failed(pg, s->errmsg); /* still lost: the next attempt starts a fresh connection */
    }
    store__error(s, "PostgreSQL is unreachable (%s)", pg->why);
    return -1;
}

int64_t store__pg_total_changes(store_t *s)
{
    return s->pg->total_changes;
}

int store__pg_unavailable(store_t *s, int *retry_after_s)
{
    struct store_pg *pg = s->pg;
    if (!pg->lost && !pg->connecting && PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (retry_after_s != NULL) {
        int64_t wait = pg->connecting ? 0 : pg->next_try_ms - gw_clock_mono_ms();
        *retry_after_s = wait > 1000 ? (int)((wait + 999) / 1000) : 1;
    }
    return 1;
}

void store__pg_close(store_t *s)
{
    if (s->pg->conn != NULL && PQstatus(s->pg->conn) == CONNECTION_OK && PQtransactionStatus(s->pg->conn) != PQTRANS_IDLE)
        (void)simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
    PQfinish(s->pg->conn);
    for (size_t i = 0; i < SQL__COUNT; i++)
        free(s->pg->text[i]);
    free(s->pg);
    free(s);
}

/* Runs a migration step (several statements, no parameters): STORE_OK or STORE_ERROR. */
store_status_t store__pg_run_script(store_t *s, const char *what, const char *sql)
{
    if (usable(s) != 0)
        return STORE_ERROR;
    PGresult *res = PQexec(s->pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    store_status_t ret = STORE_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_error(s, what, res);
        ret = STORE_ERROR;
    }
    PQclear(res);
    return ret;
}

/* Reads one integer (NULL: STORE_NOT_FOUND) with `sql`. */
store_status_t store__pg_scalar(store_t *s, const char *what, const char *sql, int64_t *out)
{
    if (usable(s) != 0)
        return STORE_ERROR;
    PGresult *res = PQexec(s->pg->conn, sql);
    store_status_t ret = STORE_OK;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_error(s, what, res);
        ret = STORE_ERROR;
    } else if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
        ret = STORE_NOT_FOUND;
    } else {
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    return ret;
}
