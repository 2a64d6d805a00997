/*
 * Lists of many or large users, against the real binary:
 * - a page ends at GW_MAX_PAGE_BYTES with fewer resources than `count` (itemsPerPage says how
 *   many, totalResults stays the whole count), and paging on by startIndex returns every user
 *   exactly once, whichever way the page is made (creation order, a sort by a store column, a
 *   filter the columns narrow, a sort by keys, attributes trimmed);
 * - a database written before the sort columns existed (schema 5) is filled in when it is opened:
 *   its sorted and filtered lists are the same bytes as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"
#include "mock/mock_odeus.h"

/* GW_MAX_PAGE_BYTES (gateway/users_list.h): the test talks HTTP only, so it states the number. */
#define PAGE_CAP (4 * 1024 * 1024)

typedef gw_fixture_t fixture_t;

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

static int teardown(void **state)
{
    return gw_fixture_teardown(state);
}

/* The body of an authorized call that must answer `status` (malloc'd). */
static char *body_of(fixture_t *f, const char *method, const char *path, const char *body, long status)
{
    const char *headers[] = {"Content-Type: application/scim+json", NULL};
    http_resp_t r;
    http_call(&f->gw, method, path, body, TEST_SCIM_TOKEN, body != NULL ? headers : NULL, &r);
    if (r.status != status)
        fail_msg("%s %s: %ld, want %ld: %.300s", method, path, r.status, status, r.body);
    char *out = strdup(r.body);
    http_resp_clear(&r);
    return out;
}

/* ---- the page byte cap ---- */

#define BIG_USERS 100
#define ADDRESSES 14

static char *big_ids[BIG_USERS];

/*
 * BIG_USERS users of ~57 KB each (14 addresses of 4,000 bytes: under the string and user caps),
 * so that a page of them all would be ~5.7 MB. Inactive, so that no Odeus call is made. Their
 * displayNames and titles run against creation order, so that the sorted pages differ from it.
 */
static void create_big_users(fixture_t *f)
{
    static char filler[4001];
    memset(filler, 'x', 4000);
    size_t cap = ADDRESSES * 4100 + 512;
    char *body = malloc(cap);
    assert_non_null(body);
    for (int i = 0; i < BIG_USERS; i++) {
        int n = snprintf(body, cap,
                         "{\"userName\":\"big%03d@example.com\",\"displayName\":\"Big %03d\",\"title\":\"t%03d\",\"active\":false,"
                         "\"addresses\":[",
                         i, BIG_USERS - i, (i * 37) % BIG_USERS);
        for (int a = 0; a < ADDRESSES; a++)
            n += snprintf(body + n, cap - (size_t)n, "%s{\"formatted\":\"%s\"}", a ? "," : "", filler);
        snprintf(body + n, cap - (size_t)n, "]}");
        big_ids[i] = create_user(&f->gw, body);
        gw_drain(&f->gw); /* a log line per request: the pipe must not fill */
    }
    free(body);
}

/*
 * Pages through `query` with count=BIG_USERS by startIndex: every page within the cap, short of
 * `count`, totalResults BIG_USERS; all pages together hold every user once. Returns the pages.
 */
static int page_through(fixture_t *f, const char *query)
{
    int seen[BIG_USERS] = {0}, pages = 0;
    size_t start = 1;
    char path[512];
    while (start <= BIG_USERS) {
        snprintf(path, sizeof(path), "/scim/v2/Users?%s%sstartIndex=%zu&count=%d", query, query[0] ? "&" : "", start, BIG_USERS);
        http_resp_t r;
        scim(&f->gw, "GET", path, NULL, &r);
        if (r.status != 200)
            fail_msg("%s: %ld", path, r.status);
        size_t len = strlen(r.body);
        if (len > PAGE_CAP)
            fail_msg("%s: %zu bytes, over the cap", path, len);
        assert_int_equal(list_total(&r), BIG_USERS);
        json_t *resources = json_object_get(r.json, "Resources");
        size_t items = json_array_size(resources);
        assert_int_equal(json_integer_value(json_object_get(r.json, "itemsPerPage")), items);
        assert_int_equal(json_integer_value(json_object_get(r.json, "startIndex")), start);
        /* a page holds at least one; the full count would not fit */
        assert_true(items >= 1);
        assert_true(items < BIG_USERS);
        /* and it was cut at the cap, not earlier: one more resource would not have fitted */
        assert_true(start + items > BIG_USERS || len + len / items > PAGE_CAP);
        for (size_t i = 0; i < items; i++) {
            const char *id = json_string_value(json_object_get(json_array_get(resources, i), "id"));
            int found = 0;
            for (int u = 0; u < BIG_USERS && !found; u++) {
                if (id != NULL && strcmp(id, big_ids[u]) == 0) {
                    found = 1;
                    if (seen[u]++)
                        fail_msg("%s: user %d twice", query, u);
                }
            }
            if (!found)
                fail_msg("%s: an unknown id %s", query, id != NULL ? id : "(none)");
        }
        start += items;
        pages++;
        http_resp_clear(&r);
        gw_drain(&f->gw);
    }
    for (int u = 0; u < BIG_USERS; u++)
        if (seen[u] != 1)
            fail_msg("%s: user %d seen %d times", query, u, seen[u]);
    return pages;
}

static void test_page_byte_cap(void **state)
{
    fixture_t *f = *state;
    create_big_users(f);
    static const char *const queries[] = {
        "",                                         /* the store pages in creation order */
        "sortBy=displayName",                       /* a store column */
        "sortBy=userName&sortOrder=descending",     /* another, backwards */
        "filter=displayName%20sw%20%22big%22",      /* narrowed by a column, then matched */
        "sortBy=title",                             /* sorted by keys */
        "attributes=userName,addresses",            /* trimmed: written from JSON trees */
        "filter=title%20pr&sortBy=meta.created",    /* matched, in a column's order */
        "excludedAttributes=password&sortBy=title", /* keys and trees */
    };
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++)
        assert_true(page_through(f, queries[q]) >= 2);

    /* a short count is not affected, and count=0 still counts */
    char *small = body_of(f, "GET", "/scim/v2/Users?sortBy=displayName&count=3", NULL, 200);
    assert_non_null(strstr(small, "\"totalResults\":100,\"startIndex\":1,\"itemsPerPage\":3,"));
    free(small);
    char *none = body_of(f, "GET", "/scim/v2/Users?count=0", NULL, 200);
    assert_non_null(strstr(none, "\"totalResults\":100,\"startIndex\":1,\"itemsPerPage\":0,\"Resources\":[]"));
    free(none);
    for (int i = 0; i < BIG_USERS; i++)
        free(big_ids[i]);
}

/* ---- a schema 5 database gets its sort columns ---- */

static const char *const upgrade_lists[] = {
    "/scim/v2/Users?sortBy=displayName",
    "/scim/v2/Users?sortBy=displayName&sortOrder=descending&startIndex=2&count=3",
    "/scim/v2/Users?sortBy=name.familyName",
    "/scim/v2/Users?sortBy=name.givenName&sortOrder=descending",
    "/scim/v2/Users?sortBy=emails",
    "/scim/v2/Users?filter=displayName%20co%20%22E%22",
    "/scim/v2/Users?filter=name.familyName%20sw%20%22k%22%20or%20emails%20ew%20%22.ORG%22",
};
#define N_UPGRADE_LISTS (sizeof(upgrade_lists) / sizeof(upgrade_lists[0]))

static void test_sort_columns_after_upgrade(void **state)
{
    /* the restarted gateway listens on another port: lists compare with the Host they were given */
    static const char *const host[] = {"Host: scim.example.com", NULL};
    fixture_t *f = *state;
    static const char *const bodies[] = {
        "{\"userName\":\"u1\",\"displayName\":\"Eve\",\"name\":{\"familyName\":\"Kim\",\"givenName\":\"eve\"},"
        "\"emails\":[{\"value\":\"b@x.org\"},{\"value\":\"e@x.com\",\"primary\":true}],\"active\":false}",
        "{\"userName\":\"u2\",\"displayName\":\"ada\",\"name\":{\"familyName\":\"lovelace\"},"
        "\"emails\":[{\"value\":\"a@x.org\"}],\"active\":false}",
        "{\"userName\":\"u3\",\"name\":{\"givenName\":\"Zed\"},\"active\":false}",
        "{\"userName\":\"u4\",\"displayName\":\"bEn\",\"name\":{\"familyName\":\"Kay\",\"givenName\":\"Ben\"},"
        "\"emails\":[{\"type\":\"work\",\"primary\":true},{\"value\":\"c@x.com\"}],\"active\":false}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        free(create_user(&f->gw, bodies[i]));
    char *before[N_UPGRADE_LISTS];
    for (size_t i = 0; i < N_UPGRADE_LISTS; i++) {
        http_resp_t r;
        http_call(&f->gw, "GET", upgrade_lists[i], NULL, TEST_SCIM_TOKEN, host, &r);
        assert_int_equal(r.status, 200);
        assert_true(list_total(&r) > 0);
        before[i] = strdup(r.body);
        http_resp_clear(&r);
    }
    /* the sorted list is not creation order, or the comparison below would prove little */
    assert_true(strstr(before[0], "\"userName\":\"u2\"") < strstr(before[0], "\"userName\":\"u1\""));

    assert_int_equal(gw_stop(&f->gw), 0);
    free(f->gw.log);
    char db_path[128];
    snprintf(db_path, sizeof(db_path), "%s/gateway.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    /* what the 5 -> 6, 6 -> 7 and 7 -> 8 migrations added, removed */
    const char *undo =
        "DROP INDEX users_display_name; DROP INDEX users_family_name; DROP INDEX users_given_name;"
        "DROP INDEX users_primary_email; DROP INDEX users_created; DROP INDEX users_last_modified;"
        "ALTER TABLE users DROP COLUMN display_name; ALTER TABLE users DROP COLUMN family_name;"
        "ALTER TABLE users DROP COLUMN given_name; ALTER TABLE users DROP COLUMN primary_email;"
        "ALTER TABLE outbox DROP COLUMN batch_id; DROP INDEX outbox_lease; ALTER TABLE outbox DROP COLUMN lease_owner;"
        "ALTER TABLE outbox DROP COLUMN lease_until; DROP TABLE mirror_members; DROP TABLE mirror_groups;"
        "PRAGMA user_version = 5;";
    char *err = NULL;
    if (sqlite3_exec(db, undo, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("undoing schema 6: %s", err);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    gw_start(&f->gw, f->dir, mock_odeus_url(f->mock), NULL);

    for (size_t i = 0; i < N_UPGRADE_LISTS; i++) {
        http_resp_t r;
        http_call(&f->gw, "GET", upgrade_lists[i], NULL, TEST_SCIM_TOKEN, host, &r);
        assert_int_equal(r.status, 200);
        if (strcmp(r.body, before[i]) != 0)
            fail_msg("%s differs after the upgrade\nbefore: %s\nafter:  %s", upgrade_lists[i], before[i], r.body);
        http_resp_clear(&r);
        free(before[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_byte_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_columns_after_upgrade, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
