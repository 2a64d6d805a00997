/*
 * The statement cache, the query helper's slow paths (store/sqlite.h has the rest) and the error
 * message: every failure of the store is written here.
 */
#include "store/sqlite.h"

#include <stdio.h>

const store_sql_t *store__sql(store_sql_id_t id)
{
    static const store_sql_t *const tables[] = {store__tx_sql,    store__users_sql,  store__outbox_sql, store__recheck_sql,
                                                store__admin_sql, store__groups_sql, store__mirror_sql};
    if ((int)id < 0 || id >= SQL__COUNT)
        return NULL;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (tables[i][id].text != NULL)
            return &tables[i][id];
    return NULL;
}

/* ---- errors ----------------------------------------------------------------------------------- */

void store__verror(store_t *s, const char *fmt, va_list ap)
{
    int n = vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    if (n >= (int)sizeof(s->errmsg))
        memcpy(s->errmsg + sizeof(s->errmsg) - 4, "...", 4);
}

void store__error(store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    store__verror(s, fmt, ap);
    va_end(ap);
}

const char *store_errmsg(const store_t *store)
{
    return store->errmsg;
}

/* ---- the query helper's slow paths -------------------------------------------------------------- */

void store__q_failed(store_q_t *q, int rc)
{
    if (q->fail != STORE_OK)
        return;
    q->fail = STORE_ERROR;
    q->rc = rc;
    const store_sql_t *sql = store__sql(q->id);
    store__error(q->s, "%s: %s", sql != NULL ? sql->name : "statement", sqlite3_errmsg(q->s->db));
}

/*
 * The cached statement is missing (first use) or busy (a caller up the stack is stepping it): the
 * first is prepared for the cache, the second gets a one-off copy that store__q_put finalizes.
 */
void store__q_prepare(store_q_t *q)
{
    store_t *s = q->s;
    const store_sql_t *sql = store__sql(q->id);
    q->st = NULL;
    if (sql == NULL) {
        q_fail(q, STORE_ERROR, "statement %d has no SQL", (int)q->id);
        return;
    }
    int cached = s->stmts[q->id] == NULL;
    sqlite3_stmt *fresh = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql->text, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &fresh, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(fresh);
        store__q_failed(q, rc);
        return;
    }
    if (cached)
        s->stmts[q->id] = fresh;
    q->st = fresh;
}

void store__q_put(store_q_t *q)
{
    if (q->st == q->s->stmts[q->id]) {
        sqlite3_reset(q->st);
        sqlite3_clear_bindings(q->st);
    } else {
        sqlite3_finalize(q->st);
    }
    q->st = NULL;
}

store_q_t store__q_begin_sql(store_t *s, store_sql_id_t id, const char *text)
{
    if (s->pg != NULL)
        return store__pg_q_begin(s, id, text);
    store_q_t q = {s, NULL, id, SQLITE_OK, STORE_OK, NULL};
    int rc = sqlite3_prepare_v3(s->db, text, -1, 0, &q.st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(q.st);
        q.st = NULL;
        store__q_failed(&q, rc);
    }
    return q;
}
