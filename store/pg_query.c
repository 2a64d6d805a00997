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
 * at a time. The cost is memory proportional to a scan's rows; the store's scans are bounded by
 * their callers (pages, seats, due rows) except the full scans of a small directory.
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

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

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
};

struct store_pgq {
    char **values; /* the parameters, as text (owned); NULL binds NULL */
    char *is_int;
    int n;
    char *oneoff; /* the translated SQL of a statement built at run time (owned) */
    int oneoff_params;
    PGresult *res;
    int row; /* the current row of res; -1 before the first step */
};

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
    if (pq->oneoff != NULL) {
        pq->res = PQexecParams(pg->conn, pq->oneoff, n, types, values, NULL, NULL, 0);
    } else {
        char name[16];
        snprintf(name, sizeof(name), "s%d", (int)q->id);
        if (!pg->prepared[q->id]) {
            PGresult *res = PQprepare(pg->conn, name, pg->text[q->id], n, types);
            int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
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
    free(values);
    free(types);
    ExecStatusType st = PQresultStatus(pq->res);
    if (st == PGRES_COMMAND_OK) {
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
    return pq->row < PQntuples(pq->res) ? Q_ROW : Q_DONE;
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
    PGTransactionStatusType st = PQtransactionStatus(s->pg->conn);
    return st == PQTRANS_IDLE || st == PQTRANS_UNKNOWN;
}

store_status_t store__pg_exec(store_t *s, store_sql_id_t id)
{
    PGconn *conn = s->pg->conn;
    PGTransactionStatusType st = PQtransactionStatus(conn);
    switch (id) {
    case SQL_BEGIN:
        if (st != PQTRANS_IDLE) {
            store__error(s, "begin: %s", st == PQTRANS_UNKNOWN ? "the connection to PostgreSQL is lost" : "a transaction is open");
            return STORE_ERROR;
        }
        if (simple(s, "begin", "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")", PGRES_TUPLES_OK) != STORE_OK) {
            if (!store__pg_autocommit(s))
                (void)simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
            return STORE_ERROR;
        }
        return STORE_OK;
    case SQL_COMMIT: {
        if (st == PQTRANS_IDLE || st == PQTRANS_UNKNOWN) {
            store__error(s, "commit: %s", st == PQTRANS_IDLE ? "no transaction is open" : "the connection to PostgreSQL is lost");
            return STORE_ERROR;
        }
        /* COMMIT of a failed transaction answers ROLLBACK without an error: that is a failure here */
        if (st == PQTRANS_INERROR) {
            store__error(s, "commit: the transaction failed earlier and was rolled back");
            (void)simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
            return STORE_ERROR;
        }
        PGresult *res = PQexec(conn, "COMMIT");
        store_status_t ret = STORE_OK;
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
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
        if (st == PQTRANS_IDLE || st == PQTRANS_UNKNOWN)
            return STORE_OK;
        return simple(s, "rollback", "ROLLBACK", PGRES_COMMAND_OK);
    default: {
        const store_sql_t *sql = store__sql(id);
        if (sql == NULL) {
            store__error(s, "statement %d has no SQL", (int)id);
            return STORE_ERROR;
        }
        return simple(s, sql->name, sql->text, PGRES_COMMAND_OK);
    }
    }
}

store_status_t store__pg_last_id(store_t *s, int64_t *id)
{
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

/* Connects and sets the session up; STORE_ERROR with the message in `s`. */
store_status_t store__pg_connect(store_t *s, const char *url)
{
    s->pg = gw_calloc(1, sizeof(*s->pg));
    if (!PQisthreadsafe()) {
        store__error(s, "libpq was built without thread support");
        return STORE_ERROR;
    }
    s->pg->conn = PQconnectdb(url);
    if (s->pg->conn == NULL || PQstatus(s->pg->conn) != CONNECTION_OK) {
        pg_error(s, "cannot connect to PostgreSQL", NULL);
        return STORE_ERROR;
    }
    PQsetNoticeProcessor(s->pg->conn, ignore_notice, NULL);
    /*
     * synchronous_commit on: a commit returns once its WAL is flushed (the server's own group
     * commit shares the flush among concurrent commits). lock_timeout: as SQLite's busy timeout, a
     * writer waits for another's lock a few seconds, then fails rather than hanging.
     */
    char sql[160];
    snprintf(sql, sizeof(sql), "SET synchronous_commit = on; SET lock_timeout = %d; SET client_min_messages = warning",
             STORE_BUSY_TIMEOUT_MS);
    return simple(s, "session settings", sql, PGRES_COMMAND_OK);
}

void store__pg_close(store_t *s)
{
    if (s->pg->conn != NULL && !store__pg_autocommit(s))
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
