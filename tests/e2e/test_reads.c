/*
 * Reads are answered two ways, and both must give the same bytes:
 * - the text path: the stored rendering (without meta) with meta spliced in, no JSON tree
 *   (GET /Users/{id}, and every list page when there is nothing to trim);
 * - the tree path: parse the stored resource, render, match the filter, trim, json_dumps.
 * Each test asks for the same thing both ways and compares the bodies byte for byte. The tree
 * path is forced with a selection that removes nothing (`excludedAttributes=password`); a filter
 * the index does not answer alone (`... and active eq true`) or a sort by keys parses every row
 * it visits before the page is written either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"
#include "mock/mock_odeus.h"

#define ENT "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

typedef gw_fixture_t fixture_t;

static int setup(void **state)
{
    /* every list is read many ways, many times: more than a token's burst */
    static const char *const args[] = {"--rate-limit", "0", NULL};
    return gw_fixture_setup(state, args);
}

static int teardown(void **state)
{
    return gw_fixture_teardown(state);
}

/* The body of a call that must answer `status` (malloc'd). `host` NULL: the harness's Host. */
static char *body_of(fixture_t *f, const char *method, const char *path, const char *body, const char *host, long status,
                     char *etag, size_t etag_len)
{
    char host_line[256];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (body != NULL)
        headers[n++] = "Content-Type: application/scim+json";
    if (host != NULL) {
        snprintf(host_line, sizeof(host_line), "Host: %s", host);
        headers[n++] = host_line;
    }
    http_resp_t r;
    http_call(&f->gw, method, path, body, TEST_SCIM_TOKEN, headers, &r);
    if (r.status != status)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, status, r.body);
    assert_non_null(r.json);
    if (etag != NULL)
        snprintf(etag, etag_len, "%s", r.etag);
    char *out = strdup(r.body);
    http_resp_clear(&r);
    return out;
}

static void same_bytes(const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) != 0)
        fail_msg("%s: the two paths differ\ntext path: %s\ntree path: %s", what, a, b);
}

/* A JSON string literal of `s` (for filters inside filters and SearchRequest bodies); malloc'd. */
static char *quoted(const char *s)
{
    json_t *j = json_string(s);
    assert_non_null(j);
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    return q;
}

/*
 * userName `name` (its user has id `id`, active `active`) read every way there is: the list by
 * filter (text path) against the same list through the tree path, the search endpoint, and
 * GET by id both ways (same body, same ETag, and the list's one resource). Returns the GET body.
 */
static char *check_user(fixture_t *f, const char *name, const char *id, int active, const char *host)
{
    char path[2048], filter[1024], body[2048], etag_a[64], etag_b[64];
    char *q = quoted(name);

    snprintf(filter, sizeof(filter), "userName eq %s", q);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode(filter));
    char *text = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
    assert_non_null(strstr(text, "\"totalResults\":1,"));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "&excludedAttributes=password");
    char *tree = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
    same_bytes(filter, text, tree);
    free(tree);

    /* the same filter in other spellings and cases: the index folds ASCII like the filter */
    char upper[512];
    snprintf(upper, sizeof(upper), "%s", name);
    for (char *c = upper; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    char *uq = quoted(upper);
    snprintf(filter, sizeof(filter), "USERNAME EQ %s", uq);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode(filter));
    tree = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
    same_bytes(filter, text, tree);
    free(tree);
    free(uq);

    /* .search with a filter only the tree path answers (the index narrows, the match decides) */
    snprintf(filter, sizeof(filter), "userName eq %s and active eq %s", q, active ? "true" : "false");
    char *fq = quoted(filter);
    snprintf(body, sizeof(body), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"filter\":%s}", fq);
    tree = body_of(f, "POST", "/scim/v2/Users/.search", body, host, 200, NULL, 0);
    same_bytes(filter, text, tree);
    free(tree);
    free(fq);

    /* by id: the text path and the tree path, same bytes and ETag; and the list's resource */
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    char *get = body_of(f, "GET", path, NULL, host, 200, etag_a, sizeof(etag_a));
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "?excludedAttributes=password");
    tree = body_of(f, "GET", path, NULL, host, 200, etag_b, sizeof(etag_b));
    same_bytes(id, get, tree);
    assert_string_equal(etag_a, etag_b);
    assert_true(etag_a[0] != '\0');
    free(tree);
    if (strstr(text, get) == NULL)
        fail_msg("the list does not carry the GET body\nlist: %s\nget:  %s", text, get);

    /* id eq is answered exactly by the index too */
    snprintf(filter, sizeof(filter), "id eq \"%s\"", id);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode(filter));
    tree = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
    same_bytes(filter, text, tree);
    free(tree);

    free(text);
    free(q);
    return get;
}

typedef struct user {
    const char *name;
    const char *body;
    int active;
    char *id;
} user_t;

static user_t users[] = {
    {"ann@example.com",
     "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\",\"" ENT "\"],\"userName\":\"ann@example.com\","
     "\"externalId\":\"00u-ann\",\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},\"displayName\":\"Ann Lee\","
     "\"title\":\"Engineer\",\"active\":true,\"password\":\"S3cret!\","
     "\"emails\":[{\"value\":\"ann@example.com\",\"type\":\"work\",\"primary\":true},{\"value\":\"ann@home.example\",\"type\":"
     "\"home\"}],"
     "\"phoneNumbers\":[{\"value\":\"+1 555 0100\",\"type\":\"work\"}],\"roles\":[{\"value\":\"editor\",\"primary\":true}],"
     "\"" ENT "\":{\"department\":\"R&D\",\"employeeNumber\":\"42\",\"manager\":{\"value\":\"00u-boss\"}}}",
     1, NULL},
    {"bob@example.com", "{\"userName\":\"bob@example.com\",\"emails\":[{\"value\":\"bob@example.com\",\"primary\":true}]}", 1,
     NULL},
    /* unicode, a quote, a backslash, '/' and a control character in stored strings */
    {"J\xc3\xb6rg.O\"Brien\\x/y@example.com",
     "{\"userName\":\"J\\u00f6rg.O\\\"Brien\\\\x/y@example.com\",\"displayName\":\"J\\u00f6rg \\u6f22\\ud83d\\ude00\\ttab\","
     "\"active\":false,\"externalId\":\"ext\\u0001\\u001f\"}",
     0, NULL},
};
#define N_USERS (sizeof(users) / sizeof(users[0]))

static void create_all(fixture_t *f)
{
    for (size_t i = 0; i < N_USERS; i++)
        users[i].id = create_user(&f->gw, users[i].body);
}

static void free_all(void)
{
    for (size_t i = 0; i < N_USERS; i++) {
        free(users[i].id);
        users[i].id = NULL;
    }
}

/* Every page of the whole list, with count `count`, both ways; and the sorted list as the tree path. */
static void check_pages(fixture_t *f, const char *host)
{
    char path[256];
    for (size_t count = 0; count <= N_USERS + 1; count++) {
        for (size_t start = 1; start <= N_USERS + 2; start++) {
            snprintf(path, sizeof(path), "/scim/v2/Users?startIndex=%zu&count=%zu", start, count);
            char *text = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
            snprintf(path + strlen(path), sizeof(path) - strlen(path), "&excludedAttributes=password");
            char *tree = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
            same_bytes(path, text, tree);
            free(tree);
            free(text);
        }
    }
    /* creation order is meta.created order: sorting by it (the store's column) gives the same list */
    char *text = body_of(f, "GET", "/scim/v2/Users", NULL, host, 200, NULL, 0);
    char *tree = body_of(f, "GET", "/scim/v2/Users?sortBy=meta.created", NULL, host, 200, NULL, 0);
    same_bytes("sortBy=meta.created", text, tree);
    free(tree);
    free(text);
    /* pages sorted by a store column, both ways; and by keys (title), both ways */
    static const char *const sorts[] = {"sortBy=displayName", "sortBy=userName&sortOrder=descending", "sortBy=emails",
                                        "sortBy=title&sortOrder=descending"};
    for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++) {
        for (size_t start = 1; start <= N_USERS + 1; start++) {
            snprintf(path, sizeof(path), "/scim/v2/Users?%s&startIndex=%zu&count=2", sorts[i], start);
            text = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
            snprintf(path + strlen(path), sizeof(path) - strlen(path), "&excludedAttributes=password");
            tree = body_of(f, "GET", path, NULL, host, 200, NULL, 0);
            same_bytes(path, text, tree);
            free(tree);
            free(text);
            gw_drain(&f->gw); /* a log line per request: the pipe must not fill */
        }
    }
}

static void check_all(fixture_t *f, const char *host)
{
    for (size_t i = 0; i < N_USERS; i++)
        free(check_user(f, users[i].name, users[i].id, users[i].active, host));
    check_pages(f, host);
}

static void test_text_and_tree_paths_agree(void **state)
{
    fixture_t *f = *state;
    create_all(f);
    check_all(f, NULL);

    /* externalId eq is exact in the index as well */
    char path[512];
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode("externalId eq \"00u-ann\""));
    char *text = body_of(f, "GET", path, NULL, NULL, 200, NULL, 0);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode("externalId eq \"00u-ann\" and active pr"));
    char *tree = body_of(f, "GET", path, NULL, NULL, 200, NULL, 0);
    same_bytes("externalId eq", text, tree);
    free(text);
    free(tree);
    free_all();
}

/* After PUT and PATCH (the enterprise extension added, changed, removed) the stored rendering follows. */
static void test_paths_agree_after_changes(void **state)
{
    fixture_t *f = *state;
    char path[256];
    create_all(f);
    const char *bob = users[1].id;
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", bob);

    char *before = check_user(f, users[1].name, bob, 1, NULL);
    char *after = body_of(f, "PATCH", path,
                          "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
                          "{\"op\":\"add\",\"path\":\"" ENT ":department\",\"value\":\"Ops\"},"
                          "{\"op\":\"add\",\"path\":\"" ENT ":manager\",\"value\":\"00u-ann\"},"
                          "{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Bob \\\"B\\\" Builder\"}]}",
                          NULL, 200, NULL, 0);
    assert_non_null(strstr(after, ENT "\"]"));
    char *get = check_user(f, users[1].name, bob, 1, NULL);
    same_bytes("PATCH answer and GET", after, get);
    assert_true(strcmp(before, get) != 0);
    assert_non_null(strstr(get, "\"W/\\\"2\\\"\""));
    free(get);
    free(after);
    free(before);

    after = body_of(f, "PATCH", path,
                    "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
                    "{\"op\":\"remove\",\"path\":\"" ENT ":department\"},{\"op\":\"remove\",\"path\":\"" ENT ":manager\"}]}",
                    NULL, 200, NULL, 0);
    get = check_user(f, users[1].name, bob, 1, NULL);
    same_bytes("PATCH (remove) answer and GET", after, get);
    assert_null(strstr(get, ENT));
    free(get);
    free(after);

    /* a PUT that deactivates */
    after = body_of(f, "PUT", path,
                    "{\"userName\":\"bob@example.com\",\"active\":false,\"emails\":[{\"value\":\"bob@example.com\"}],"
                    "\"" ENT "\":{\"costCenter\":\"cc-9\"}}",
                    NULL, 200, NULL, 0);
    get = check_user(f, users[1].name, bob, 0, NULL);
    same_bytes("PUT answer and GET", after, get);
    free(get);
    free(after);
    check_pages(f, NULL);
    free_all();
}

/* meta.location comes from the Host header: whatever it holds is escaped as jansson escapes it. */
static void test_paths_agree_with_odd_host(void **state)
{
    fixture_t *f = *state;
    create_all(f);
    static const char *const hosts[] = {"scim.example.com:8443", "we\"ird\\host", "h\xc3\xb6st.example", "bad\xff"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        http_resp_t r;
        char line[128];
        snprintf(line, sizeof(line), "Host: %s", hosts[i]);
        const char *headers[] = {line, NULL};
        http_call(&f->gw, "GET", "/scim/v2/Users", NULL, TEST_SCIM_TOKEN, headers, &r);
        long status = r.status;
        http_resp_clear(&r);
        if (status != 200) {
            print_message("Host %s refused (%ld): nothing to compare\n", hosts[i], status);
            continue;
        }
        check_all(f, hosts[i]);
    }
    free_all();
}

/* Rows written before schema 3 have no stored rendering: they are rendered from the resource, the same. */
static void test_rows_without_rendering(void **state)
{
    /* the restarted gateway listens on another port: a fixed Host keeps meta.location comparable */
    static const char HOST[] = "scim.example.com";
    fixture_t *f = *state;
    create_all(f);
    char *before[N_USERS];
    for (size_t i = 0; i < N_USERS; i++)
        before[i] = check_user(f, users[i].name, users[i].id, users[i].active, HOST);
    char *list_before = body_of(f, "GET", "/scim/v2/Users", NULL, HOST, 200, NULL, 0);

    assert_int_equal(gw_stop(&f->gw), 0);
    free(f->gw.log);
    char db_path[128];
    snprintf(db_path, sizeof(db_path), "%s/gateway.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    /* the first and the last user lose theirs: a list mixes both kinds of rows */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE users SET rendered = NULL WHERE id IN ('%s', '%s')", users[0].id, users[N_USERS - 1].id);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 2);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    gw_start(&f->gw, f->dir, mock_odeus_url(f->mock), NULL);

    for (size_t i = 0; i < N_USERS; i++) {
        char *get = check_user(f, users[i].name, users[i].id, users[i].active, HOST);
        same_bytes("GET before and after losing the stored rendering", before[i], get);
        free(get);
        free(before[i]);
    }
    char *list_after = body_of(f, "GET", "/scim/v2/Users", NULL, HOST, 200, NULL, 0);
    same_bytes("list before and after", list_before, list_after);
    free(list_after);
    free(list_before);
    check_pages(f, NULL);
    free_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_and_tree_paths_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_agree_after_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths_agree_with_odd_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_without_rendering, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
