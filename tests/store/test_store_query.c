/*
 * White-box tests of the query helper (store/sqlite.h): a failure at any step surfaces once, as the
 * right status with a message, and the cached statement is back in the cache, ready for reuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite.h"

typedef struct fixture {
    char dir[64];
    store_t *s;
} fixture_t;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_store_query.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/query.db", f->dir);
    f->s = store_open(path, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(f->s);
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Inserts a users row through the helper; `user_name` NULL breaks the NOT NULL constraint. */
static store_status_t insert_row(store_t *s, const char *id, const char *user_name)
{
    store_q_t q = q_begin(s, SQL_USER_INSERT);
    q_text(&q, 1, id);
    q_text(&q, 2, user_name);
    q_int64(&q, 5, 1);
    q_text(&q, 6, "2026-01-01T00:00:00Z");
    q_text(&q, 7, "2026-01-01T00:00:00Z");
    q_int64(&q, 8, 1);
    q_text(&q, 9, "{}");
    q_int64(&q, 12, 0);
    q_step(&q);
    return q_end(&q, STORE_OK);
}

/* The cached statement `id` exists and is reset (not running), so the next q_begin takes it. */
static void assert_back_in_cache(store_t *s, store_sql_id_t id)
{
    assert_non_null(s->stmts[id]);
    assert_false(sqlite3_stmt_busy(s->stmts[id]));
    store_q_t q = q_begin(s, id);
    assert_ptr_equal(q.st, s->stmts[id]);
    assert_int_equal(q_end(&q, STORE_OK), STORE_OK);
}

/* A constraint violation: STORE_ERROR naming the statement and the constraint; the statement is reused. */
static void test_constraint_violation(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(insert_row(f->s, "id-1", NULL), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "insert user: "));
    assert_non_null(strstr(store_errmsg(f->s), "NOT NULL constraint failed: users.user_name"));
    assert_back_in_cache(f->s, SQL_USER_INSERT);
    sqlite3_stmt *cached = f->s->stmts[SQL_USER_INSERT];
    /* no binding of the failed use is left over: ?3, ?4, ?10 are NULL again */
    assert_int_equal(insert_row(f->s, "id-1", "alice"), STORE_OK);
    assert_ptr_equal(f->s->stmts[SQL_USER_INSERT], cached);
    /* the same id again: UNIQUE on users.id is an error, not the userName conflict */
    assert_int_equal(insert_row(f->s, "id-1", "bob"), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "UNIQUE constraint failed: users.id"));
    assert_int_equal(insert_row(f->s, "id-2", "bob"), STORE_OK);
    assert_ptr_equal(f->s->stmts[SQL_USER_INSERT], cached);
}

/* q_conflict_on turns the named UNIQUE failure, and only that one, into STORE_CONFLICT. */
static void test_conflict_on(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(insert_row(f->s, "id-1", "alice"), STORE_OK);
    const char *cases[][2] = {{"id-2", "ALICE"}, {"id-1", "carol"}};
    store_status_t want[] = {STORE_CONFLICT, STORE_ERROR};
    for (size_t i = 0; i < 2; i++) {
        store_q_t q = q_begin(f->s, SQL_USER_INSERT);
        q_text(&q, 1, cases[i][0]);
        q_text(&q, 2, cases[i][1]);
        q_int64(&q, 5, 1);
        q_text(&q, 6, "t");
        q_text(&q, 7, "t");
        q_int64(&q, 8, 1);
        q_text(&q, 9, "{}");
        q_int64(&q, 12, 0);
        assert_int_equal(q_step(&q), Q_ERROR);
        q_conflict_on(&q, "users.user_name", "userName already taken");
        assert_int_equal(q_end(&q, STORE_OK), want[i]);
    }
    /* the public call says the same */
    store_user_t u = {.id = "id-3", .user_name = "Alice", .created = "t", .last_modified = "t", .version = 1, .resource = "{}"};
    assert_int_equal(store_user_insert(f->s, &u), STORE_CONFLICT);
    assert_string_equal(store_errmsg(f->s), "userName already taken");
    assert_back_in_cache(f->s, SQL_USER_INSERT);
    u.user_name = "dave";
    assert_int_equal(store_user_insert(f->s, &u), STORE_OK);
}

/* The first failure sticks: later binds do nothing, q_step says Q_ERROR, and the message is the first one. */
static void test_first_failure_sticks(void **state)
{
    fixture_t *f = *state;
    store_q_t q = q_begin(f->s, SQL_USER_VERSION);
    q_text(&q, 7, "no such parameter");
    assert_false(q_ok(&q));
    assert_int_equal(q.rc, SQLITE_RANGE);
    char first[STORE_ERRMSG_MAX];
    snprintf(first, sizeof(first), "%s", store_errmsg(f->s));
    assert_non_null(strstr(first, "user version: "));
    q_text(&q, 1, "id-1");
    assert_int_equal(q_step(&q), Q_ERROR);
    q_fail(&q, STORE_NOT_FOUND, "a later failure");
    assert_string_equal(store_errmsg(f->s), first);
    assert_int_equal(q_end(&q, STORE_OK), STORE_ERROR);
    assert_back_in_cache(f->s, SQL_USER_VERSION);
    int64_t version = 0;
    assert_int_equal(store_user_version(f->s, "id-1", &version), STORE_NOT_FOUND);
}

/* q_fail with a status of the caller's: q_end returns it, with its message. */
static void test_q_fail(void **state)
{
    fixture_t *f = *state;
    store_q_t q = q_begin(f->s, SQL_USER_COUNT);
    assert_int_equal(q_step(&q), Q_ROW);
    q_fail(&q, STORE_CONFLICT, "row %d is odd", 7);
    assert_int_equal(q_step(&q), Q_ERROR);
    assert_int_equal(q_end(&q, STORE_OK), STORE_CONFLICT);
    assert_string_equal(store_errmsg(f->s), "row 7 is odd");
    assert_back_in_cache(f->s, SQL_USER_COUNT);
}

/* A statement that cannot be prepared: STORE_ERROR with SQLite's reason, and nothing cached. */
static void test_prepare_failure(void **state)
{
    fixture_t *f = *state;
    assert_null(f->s->stmts[SQL_RECHECK_COUNT]);
    assert_int_equal(sqlite3_exec(f->s->db, "DROP TABLE invitee_recheck", NULL, NULL, NULL), SQLITE_OK);
    size_t n = 0;
    assert_int_equal(store_recheck_count(f->s, &n), STORE_ERROR);
    assert_string_equal(store_errmsg(f->s), "count re-sends: no such table: invitee_recheck");
    assert_null(f->s->stmts[SQL_RECHECK_COUNT]);
    store_q_t q = q_begin(f->s, SQL_RECHECK_REMOVE);
    assert_null(q.st);
    q_text(&q, 1, "id-1");
    assert_int_equal(q_step(&q), Q_ERROR);
    assert_int_equal(q_end(&q, STORE_OK), STORE_ERROR);
}

/* A statement in use is not handed out twice: the second use gets a one-off copy, finalized at q_end. */
static void test_reentrant_use(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(insert_row(f->s, "id-1", "alice"), STORE_OK);
    assert_int_equal(insert_row(f->s, "id-2", "bob"), STORE_OK);
    store_q_t outer = q_begin(f->s, SQL_SCAN_ALL);
    assert_int_equal(q_step(&outer), Q_ROW);
    store_q_t inner = q_begin(f->s, SQL_SCAN_ALL);
    assert_non_null(inner.st);
    assert_ptr_not_equal(inner.st, outer.st);
    assert_int_equal(q_step(&inner), Q_ROW);
    assert_string_equal(q_col_text(&inner, 0), "id-1");
    assert_int_equal(q_end(&inner, STORE_OK), STORE_OK);
    assert_int_equal(q_step(&outer), Q_ROW);
    assert_string_equal(q_col_text(&outer, 0), "id-2");
    assert_int_equal(q_step(&outer), Q_DONE);
    assert_int_equal(q_end(&outer, STORE_OK), STORE_OK);
    assert_back_in_cache(f->s, SQL_SCAN_ALL);
}

/* q_scalar: a NULL result is STORE_NOT_FOUND, a number STORE_OK. */
static void test_scalar(void **state)
{
    fixture_t *f = *state;
    int64_t v = -1;
    assert_int_equal(q_scalar(f->s, SQL_OUTBOX_NEXT_DUE, &v), STORE_NOT_FOUND);
    assert_int_equal(v, -1);
    assert_int_equal(q_scalar(f->s, SQL_OUTBOX_PENDING_COUNT, &v), STORE_OK);
    assert_int_equal(v, 0);
}

/* An outbox write that fails inside the caller's transaction undoes itself and leaves the transaction usable. */
static void test_failure_inside_transaction(void **state)
{
    fixture_t *f = *state;
    store_outbox_t good = {.user_id = "u1", .action = "invite", .email = "a@example.com", .created_at_ms = 1};
    store_outbox_t bad = {.user_id = "u1", .action = "deactivate", .email = NULL, .created_at_ms = 2};
    int64_t id = 0;
    assert_int_equal(store_begin(f->s), STORE_OK);
    assert_int_equal(store_outbox_insert(f->s, &good, &id), STORE_OK);
    assert_int_equal(store_outbox_insert(f->s, &bad, NULL), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "insert outbox row: NOT NULL constraint failed: outbox.email"));
    assert_back_in_cache(f->s, SQL_OUTBOX_INSERT);
    assert_int_equal(store_commit(f->s), STORE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(f->s, id, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_PENDING); /* the failed deactivation superseded nothing */
    store_outbox_clear(&row);
    size_t n = 0;
    assert_int_equal(store_outbox_pending_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 1);
}

/* A corrupt row (a state no store function writes) is STORE_ERROR, not a row with a bogus state. */
static void test_corrupt_row(void **state)
{
    fixture_t *f = *state;
    store_outbox_t good = {.user_id = "u1", .action = "invite", .email = "a@example.com", .created_at_ms = 1};
    int64_t id = 0;
    assert_int_equal(store_outbox_insert(f->s, &good, &id), STORE_OK);
    assert_int_equal(sqlite3_exec(f->s->db, "UPDATE outbox SET state = 9", NULL, NULL, NULL), SQLITE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(f->s, id, &row), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "unknown state 9"));
    assert_null(row.user_id);
    store_outbox_stats_t st;
    assert_int_equal(store_outbox_get_stats(f->s, &st), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(f->s), "unknown state 9"));
    assert_int_equal(store_outbox_list(f->s, 9, 10, NULL, NULL), STORE_ERROR);
}

/* A message longer than STORE_ERRMSG_MAX is cut visibly. */
static void test_errmsg_cut(void **state)
{
    fixture_t *f = *state;
    char long_text[2 * STORE_ERRMSG_MAX];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    store__error(f->s, "%s", long_text);
    const char *msg = store_errmsg(f->s);
    assert_int_equal(strlen(msg), STORE_ERRMSG_MAX - 1);
    assert_string_equal(msg + STORE_ERRMSG_MAX - 4, "...");
    store__error(f->s, "short");
    assert_string_equal(store_errmsg(f->s), "short");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_constraint_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_failure_sticks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_q_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reentrant_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scalar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_inside_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errmsg_cut, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
