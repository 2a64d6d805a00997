/*
 * White-box: checks with EXPLAIN QUERY PLAN that the store's lookups use their indexes, so that
 * delivery stays proportional to the pending rows however many finished rows the outbox keeps.
 * Uses the SQLite implementation's internal header to see the statement tables and the connection.
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

static char dir[64];
static store_t *store;

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/test_store_plan.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/plan.db", dir);
    store = store_open(path, err, sizeof(err));
    if (store == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    /* enough finished rows that ANALYZE-free cost guesses would matter if an index were missing */
    if (sqlite3_exec(store->db,
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                     " INSERT INTO outbox (user_id, action, email, state, created_at, next_attempt_at)"
                     " SELECT 'u' || (i % 50), 'invite', 'a@example.com', 1, i, i FROM n",
                     NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(store);
    return nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* The plan of statement `id`, one detail per line. */
static void plan_of(store_sql_id_t id, char *buf, size_t len)
{
    char sql[2048];
    assert_non_null(store__sql(id));
    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", store__sql(id)->text);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store->db, sql, -1, &st, NULL), SQLITE_OK);
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s\n", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
}

/* Fails when any plan line scans a table without an index (a full scan). */
static void assert_no_full_scan(store_sql_id_t id)
{
    char plan[4096];
    plan_of(id, plan, sizeof(plan));
    for (char *line = plan; *line != '\0';) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        if (strncmp(line, "SCAN ", 5) == 0 && strstr(line, "INDEX") == NULL)
            fail_msg("statement %d does a full scan: \"%s\" in\n%s", (int)id, line, store__sql(id)->text);
        line = nl + 1;
    }
}

static void assert_plan_uses(store_sql_id_t id, const char *index)
{
    char plan[4096];
    plan_of(id, plan, sizeof(plan));
    if (strstr(plan, index) == NULL)
        fail_msg("statement %d does not use %s; plan:\n%s", (int)id, index, plan);
}

/* The mirror's look-ups per seat move and per scan are index look-ups, whatever the directory's size. */
static void test_mirror_plans(void **state)
{
    (void)state;
    assert_no_full_scan(SQL_MIRROR_OF_SEAT);
    assert_plan_uses(SQL_MIRROR_OF_SEAT, "group_members_user");
    assert_plan_uses(SQL_MIRROR_OF_SEAT, "mirror_members_email");
    assert_no_full_scan(SQL_MIRROR_RESEND_DUE);
    assert_plan_uses(SQL_MIRROR_RESEND_DUE, "mirror_members_next");
    assert_plan_uses(SQL_MIRROR_MEMBERS, "outbox_seat");
}

static void test_outbox_plans(void **state)
{
    (void)state;
    assert_no_full_scan(SQL_OUTBOX_DUE);
    assert_plan_uses(SQL_OUTBOX_DUE, "outbox_due");
    /* order, coalescing and cancelling are per seat (the Odeus email), whichever user wrote the row */
    assert_plan_uses(SQL_OUTBOX_DUE, "outbox_seat");
    assert_no_full_scan(SQL_OUTBOX_NEXT_DUE);
    assert_plan_uses(SQL_OUTBOX_NEXT_DUE, "outbox_due");
    assert_no_full_scan(SQL_OUTBOX_PENDING_FOR_USER);
    assert_plan_uses(SQL_OUTBOX_PENDING_FOR_USER, "outbox_user");
    assert_no_full_scan(SQL_OUTBOX_PENDING_COUNT);
    assert_no_full_scan(SQL_OUTBOX_GET);
    assert_no_full_scan(SQL_OUTBOX_RESCHEDULE);
    assert_no_full_scan(SQL_OUTBOX_FINISH);
    assert_no_full_scan(SQL_OUTBOX_SUPERSEDE_ALL);
    assert_plan_uses(SQL_OUTBOX_SUPERSEDE_ALL, "outbox_seat");
    assert_plan_uses(SQL_OUTBOX_SUPERSEDE_ROLE, "outbox_seat");
    assert_plan_uses(SQL_OUTBOX_REPOINT, "outbox_seat");
    assert_no_full_scan(SQL_OUTBOX_OLDER_PENDING);
    assert_no_full_scan(SQL_OUTBOX_DUE_AFTER);
    assert_plan_uses(SQL_OUTBOX_OLDER_PENDING, "outbox_seat");
    assert_no_full_scan(SQL_OUTBOX_SUPERSEDE_ROLE);
    assert_no_full_scan(SQL_OUTBOX_SUPERSEDED_BY);
    assert_plan_uses(SQL_OUTBOX_SUPERSEDED_BY, "outbox_superseded");
    assert_plan_uses(SQL_OUTBOX_DELIVERED_INVITE, "outbox_seat_done");
    assert_no_full_scan(SQL_RECHECK_NEXT_DUE);
    assert_plan_uses(SQL_RECHECK_DUE, "outbox_seat");
    assert_plan_uses(SQL_RECHECK_DUE, "users_seat");
    assert_plan_uses(SQL_RECHECK_REMOVE_SEAT, "invitee_recheck_seat");
    /* metrics and the operator's pending list read the pending rows only */
    assert_no_full_scan(SQL_OUTBOX_ACTION_STATS);
    assert_no_full_scan(SQL_OUTBOX_PENDING_STATS);
    assert_no_full_scan(SQL_OUTBOX_LIST_PENDING);
}

static void test_user_plans(void **state)
{
    (void)state;
    assert_no_full_scan(SQL_USER_GET);
    assert_no_full_scan(SQL_USER_GET_SEQ);
    assert_no_full_scan(SQL_USER_KEYS);
    assert_no_full_scan(SQL_USER_VERSION);
    assert_no_full_scan(SQL_USER_UPDATE);
    assert_no_full_scan(SQL_USER_UPDATE_BODY);
    assert_no_full_scan(SQL_EMAIL_LIST);
    assert_plan_uses(SQL_EMAIL_LIST, "user_emails_user");
    assert_no_full_scan(SQL_USER_DELETE);
    assert_no_full_scan(SQL_EMAIL_DELETE);
    assert_no_full_scan(SQL_SCAN_USERNAME);
    assert_no_full_scan(SQL_SCAN_EXTERNAL_ID);
    assert_plan_uses(SQL_SCAN_EXTERNAL_ID, "users_external_id");
    assert_plan_uses(SQL_SEAT_HOLDERS, "users_seat");
    /* groups: every look-up and membership change by an index, none proportional to the group's size */
    assert_no_full_scan(SQL_GROUP_GET);
    assert_no_full_scan(SQL_GROUP_UPDATE);
    assert_no_full_scan(SQL_GROUP_DELETE);
    assert_no_full_scan(SQL_GROUP_SCAN_NAME);
    assert_no_full_scan(SQL_GROUP_SCAN_EXTERNAL_ID);
    assert_plan_uses(SQL_GROUP_SCAN_EXTERNAL_ID, "groups_external_id");
    assert_no_full_scan(SQL_GROUP_SCAN_MEMBER);
    assert_plan_uses(SQL_GROUP_SCAN_MEMBER, "group_members_user");
    assert_no_full_scan(SQL_MEMBER_ADD);
    assert_no_full_scan(SQL_MEMBER_REMOVE);
    assert_no_full_scan(SQL_MEMBER_LIST);
    assert_no_full_scan(SQL_USER_GROUPS);
    assert_plan_uses(SQL_USER_GROUPS, "group_members_user");
    assert_no_full_scan(SQL_SCAN_EMAIL);
    assert_plan_uses(SQL_SCAN_EMAIL, "user_emails_value");
}

/* The plan of one statement of store_user_select(q), one detail per line. */
static void select_plan(const store_user_query_t *q, store_select_part_t part, char *buf, size_t len)
{
    char *sql = NULL, explain[4096];
    store_param_t *params = NULL;
    size_t n = 0;
    assert_int_equal(store__users_select_sql(store, q, part, &sql, &params, &n), STORE_OK);
    snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, explain, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(store->db));
    buf[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s\n", (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    free(sql);
    free(params);
}

/*
 * A sorted page walks the order column's index alone (its values, then its NULL entries: a
 * covering walk, no record read while skipping the offset) and reads the page's rows by seq after
 * it: no scan of the table, no sort of all of it (only runs of equal values are sorted, by
 * creation, when descending).
 */
static void test_select_plans(void **state)
{
    (void)state;
    /* the users without a value (the second walk and its count) exist only for nullable columns */
    static const struct {
        store_user_col_t col;
        const char *index;
        int nullable;
    } cols[] = {
        {STORE_COL_ID, "sqlite_autoindex_users_1", 0},       {STORE_COL_USER_NAME, "sqlite_autoindex_users_2", 0},
        {STORE_COL_EXTERNAL_ID, "users_external_id", 1},     {STORE_COL_DISPLAY_NAME, "users_display_name", 1},
        {STORE_COL_FAMILY_NAME, "users_family_name", 1},     {STORE_COL_GIVEN_NAME, "users_given_name", 1},
        {STORE_COL_PRIMARY_EMAIL, "users_primary_email", 1}, {STORE_COL_CREATED, "users_created", 0},
        {STORE_COL_LAST_MODIFIED, "users_last_modified", 0},
    };
    char plan[4096];
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        for (int desc = 0; desc < 2; desc++) {
            store_user_query_t q = {.ordered = 1, .order = cols[i].col, .descending = desc, .limit = 10};
            int last = cols[i].nullable ? STORE_SELECT_COUNT : STORE_SELECT_VALUES;
            for (int part = STORE_SELECT_VALUES; part <= last; part++) {
                select_plan(&q, (store_select_part_t)part, plan, sizeof(plan));
                char covering[128];
                snprintf(covering, sizeof(covering), "COVERING INDEX %s", cols[i].index);
                if (strstr(plan, covering) == NULL || strstr(plan, "SCAN users\n") != NULL ||
                    (strstr(plan, "TEMP B-TREE FOR ORDER BY") != NULL))
                    fail_msg("column %d, part %d, %s: plan\n%s", (int)cols[i].col, part, desc ? "descending" : "ascending", plan);
            }
        }
    }
    /* a condition on one column is tested on that column's index, not on every row of the table */
    store_cond_t co = {.op = STORE_COND_CO, .col = STORE_COL_DISPLAY_NAME, .value = "ab", .fold = 1};
    store_user_query_t narrowed = {.where = &co, .limit = 10};
    select_plan(&narrowed, STORE_SELECT_VALUES, plan, sizeof(plan));
    if (strstr(plan, "COVERING INDEX users_display_name") == NULL || strstr(plan, "SCAN users\n") != NULL)
        fail_msg("displayName co: plan\n%s", plan);
    /* an email equality looks the email index up */
    store_cond_t eq = {.op = STORE_COND_EQ, .col = STORE_COL_ANY_EMAIL, .value = "a@example.com", .fold = 1};
    store_user_query_t q = {.where = &eq, .limit = 10};
    select_plan(&q, STORE_SELECT_VALUES, plan, sizeof(plan));
    if (strstr(plan, "user_emails_value") == NULL)
        fail_msg("email equality: plan\n%s", plan);
}

/* Every statement id has its SQL in exactly one table, with a name for error messages. */
static void test_every_statement_in_one_table(void **state)
{
    (void)state;
    const store_sql_t *tables[] = {store__tx_sql,    store__users_sql,  store__outbox_sql, store__recheck_sql,
                                   store__admin_sql, store__groups_sql, store__mirror_sql};
    for (int i = 0; i < SQL__COUNT; i++) {
        int holders = 0;
        for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
            holders += tables[t][i].text != NULL;
        if (holders != 1)
            fail_msg("statement %d is in %d tables", i, holders);
        assert_non_null(store__sql((store_sql_id_t)i)->name);
    }
    assert_null(store__sql(SQL__COUNT));
}

/* Every cached statement prepares against the current schema. */
static void test_all_statements_prepare(void **state)
{
    (void)state;
    for (int i = 0; i < SQL__COUNT; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(store->db, store__sql((store_sql_id_t)i)->text, -1, &st, NULL) != SQLITE_OK)
            fail_msg("statement %d: %s", i, sqlite3_errmsg(store->db));
        sqlite3_finalize(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbox_plans),           cmocka_unit_test(test_user_plans),
        cmocka_unit_test(test_select_plans),           cmocka_unit_test(test_every_statement_in_one_table),
        cmocka_unit_test(test_all_statements_prepare), cmocka_unit_test(test_mirror_plans),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
