/*
 * The workspace group calls: their wire form and answers (upstream/odeus.c, pure), and the same
 * calls through the client against the mock Odeus, whose group model they also check: names unique
 * ignoring case, paging, notFound for whoever is not an active member, SCIM-managed groups, a
 * workspace without the API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "mock/mock_odeus.h"
#include "upstream/client.h"
#include "upstream/odeus.h"

/* ---- wire form and answers --------------------------------------------------------------------- */

static void expect_http(const odeus_group_request_t *req, const char *method, const char *path, const char *body)
{
    odeus_http_t h;
    assert_int_equal(odeus_group_http(req, &h), 0);
    assert_string_equal(h.method, method);
    assert_string_equal(h.path, path);
    if (body == NULL)
        assert_null(h.body);
    else
        assert_string_equal(h.body, body);
    odeus_http_clear(&h);
}

static void test_wire_form(void **state)
{
    (void)state;
    const char *emails[] = {"a@x.io", "B@x.io"};
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_LIST}, "GET", "/user-management/v1/groups?limit=250", NULL);
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_LIST, .name = "R&D Team", .cursor = "c/1", .limit = 10}, "GET",
                "/user-management/v1/groups?limit=10&cursor=c%2F1&name=R%26D%20Team", NULL);
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "Eng"}, "POST", "/user-management/v1/groups",
                "{\"name\":\"Eng\"}");
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "Eng", .description = "from SCIM"}, "POST",
                "/user-management/v1/groups", "{\"name\":\"Eng\",\"description\":\"from SCIM\"}");
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_RENAME, .group_id = "g1", .name = "Eng 2"}, "PATCH",
                "/user-management/v1/groups/g1", "{\"name\":\"Eng 2\"}");
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_DELETE, .group_id = "g1"}, "DELETE", "/user-management/v1/groups/g1",
                NULL);
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_MEMBERS, .group_id = "g1", .cursor = "a+b@x.io"}, "GET",
                "/user-management/v1/groups/g1/members?limit=250&cursor=a%2Bb%40x.io", NULL);
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = "g1", .emails = emails, .n_emails = 2}, "POST",
                "/user-management/v1/groups/g1/members", "{\"emails\":[\"a@x.io\",\"B@x.io\"]}");
    expect_http(&(odeus_group_request_t){.call = ODEUS_GROUP_REMOVE, .group_id = "g1", .emails = emails, .n_emails = 1}, "DELETE",
                "/user-management/v1/groups/g1/members", "{\"emails\":[\"a@x.io\"]}");

    /* what the API cannot take is refused before it is sent */
    odeus_http_t h;
    const char *many[ODEUS_GROUP_BATCH_MAX + 1];
    for (size_t i = 0; i <= ODEUS_GROUP_BATCH_MAX; i++)
        many[i] = "a@x.io";
    assert_int_equal(odeus_group_http(&(odeus_group_request_t){.call = ODEUS_GROUP_CREATE}, &h), -1);
    assert_int_equal(odeus_group_http(&(odeus_group_request_t){.call = ODEUS_GROUP_DELETE}, &h), -1);
    assert_int_equal(odeus_group_http(&(odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = "g", .emails = many}, &h), -1);
    assert_int_equal(
        odeus_group_http(&(odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = "g", .emails = many, .n_emails = 251}, &h),
        -1);
    assert_int_equal(odeus_group_http(&(odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "\xff"}, &h), -1);
    assert_null(h.path);
}

static odeus_group_result_t classify(odeus_group_call_t call, long status, const char *body)
{
    odeus_group_request_t req = {.call = call, .group_id = "g1"};
    odeus_group_result_t res;
    odeus_group_classify(&req, status, body, body != NULL ? strlen(body) : 0, NULL, 0, NULL, &res);
    return res;
}

static void test_answers(void **state)
{
    (void)state;
    static const struct {
        odeus_group_call_t call;
        long status;
        const char *body;
        odeus_outcome_t outcome;
        const char *code;
    } table[] = {
        {ODEUS_GROUP_CREATE, 201, "{\"group\":{\"id\":\"g9\",\"name\":\"Eng\",\"isScimManaged\":false}}", ODEUS_OUTCOME_DONE, ""},
        {ODEUS_GROUP_CREATE, 201, "<html>", ODEUS_OUTCOME_RETRY, ""},
        {ODEUS_GROUP_CREATE, 409, "{\"code\":\"GROUP_NAME_TAKEN\",\"message\":\"taken\"}", ODEUS_OUTCOME_CONFLICT,
         "GROUP_NAME_TAKEN"},
        {ODEUS_GROUP_RENAME, 409, "{\"code\":\"GROUP_SCIM_MANAGED\",\"message\":\"scim\"}", ODEUS_OUTCOME_CONFLICT,
         "GROUP_SCIM_MANAGED"},
        {ODEUS_GROUP_DELETE, 404, "{\"code\":\"GROUP_NOT_FOUND\",\"message\":\"gone\"}", ODEUS_OUTCOME_ALREADY, "GROUP_NOT_FOUND"},
        {ODEUS_GROUP_REMOVE, 404, "{\"code\":\"GROUP_NOT_FOUND\"}", ODEUS_OUTCOME_ALREADY, "GROUP_NOT_FOUND"},
        {ODEUS_GROUP_ADD, 404, "{\"code\":\"GROUP_NOT_FOUND\"}", ODEUS_OUTCOME_REFUSED, "GROUP_NOT_FOUND"},
        /* a 404 that is not about a group: the route is missing, the workspace has no group API */
        {ODEUS_GROUP_CREATE, 404, "{\"message\":\"Not found\"}", ODEUS_OUTCOME_UNSUPPORTED, ""},
        {ODEUS_GROUP_LIST, 404, NULL, ODEUS_OUTCOME_UNSUPPORTED, ""},
        {ODEUS_GROUP_LIST, 405, NULL, ODEUS_OUTCOME_UNSUPPORTED, ""},
        {ODEUS_GROUP_ADD, 400, "{\"code\":\"INVALID_REQUEST\"}", ODEUS_OUTCOME_REFUSED, "INVALID_REQUEST"},
        {ODEUS_GROUP_ADD, 401, NULL, ODEUS_OUTCOME_AUTH, ""},
        {ODEUS_GROUP_ADD, 429, NULL, ODEUS_OUTCOME_RETRY, ""},
        {ODEUS_GROUP_ADD, 503, NULL, ODEUS_OUTCOME_RETRY, ""},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        odeus_group_result_t res = classify(table[i].call, table[i].status, table[i].body);
        if (res.result.outcome != table[i].outcome || strcmp(res.code, table[i].code) != 0)
            fail_msg("row %zu: outcome %s code %s", i, odeus_outcome_name(res.result.outcome), res.code);
        assert_true(odeus_outcome_is_final(res.result.outcome) ==
                    (table[i].outcome != ODEUS_OUTCOME_RETRY && table[i].outcome != ODEUS_OUTCOME_AUTH));
        odeus_group_result_clear(&res);
    }

    odeus_group_result_t res = classify(ODEUS_GROUP_ADD, 200,
                                        "{\"added\":[{\"id\":\"m1\",\"email\":\"a@x.io\"}],\"alreadyMembers\":[{\"id\":\"m2\","
                                        "\"email\":\"b@x.io\"}],\"notFound\":[\"c@x.io\",7,\"d@x.io\"]}");
    assert_int_equal(res.result.outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(res.n_items, 2);
    assert_string_equal(res.items[1].email, "b@x.io");
    assert_int_equal(res.n_not_found, 2);
    assert_string_equal(res.not_found[1], "d@x.io");
    odeus_group_result_clear(&res);

    res =
        classify(ODEUS_GROUP_LIST, 200,
                 "{\"groups\":[{\"id\":\"g1\",\"name\":\"A\",\"isScimManaged\":true},{\"name\":\"no id\"}],\"nextCursor\":\"g1\"}");
    assert_int_equal(res.n_items, 1);
    assert_true(res.items[0].scim_managed);
    assert_string_equal(res.next_cursor, "g1");
    odeus_group_result_clear(&res);

    odeus_group_request_t req = {.call = ODEUS_GROUP_LIST};
    odeus_group_classify(&req, 0, NULL, 0, NULL, 0, "connection refused", &res);
    assert_int_equal(res.result.outcome, ODEUS_OUTCOME_RETRY);
    odeus_group_result_clear(&res);
}

/* ---- through the client, against the mock ----------------------------------------------------- */

typedef struct got {
    int calls;
    odeus_group_result_t res;
} got_t;

static void on_done(void *user, const odeus_group_result_t *res)
{
    got_t *g = user;
    g->calls++;
    odeus_group_result_clear(&g->res);
    g->res = *res;
    /* deep copies of what the tests read */
    g->res.items = calloc(res->n_items + 1, sizeof(*g->res.items));
    for (size_t i = 0; i < res->n_items; i++) {
        g->res.items[i].id = res->items[i].id != NULL ? strdup(res->items[i].id) : NULL;
        g->res.items[i].name = res->items[i].name != NULL ? strdup(res->items[i].name) : NULL;
        g->res.items[i].email = res->items[i].email != NULL ? strdup(res->items[i].email) : NULL;
        g->res.items[i].scim_managed = res->items[i].scim_managed;
    }
    g->res.not_found = calloc(res->n_not_found + 1, sizeof(*g->res.not_found));
    for (size_t i = 0; i < res->n_not_found; i++)
        g->res.not_found[i] = strdup(res->not_found[i]);
    g->res.next_cursor = res->next_cursor != NULL ? strdup(res->next_cursor) : NULL;
}

typedef struct fixture {
    mock_odeus_t *mock;
    upstream_client_t *client;
    got_t got;
} fixture_t;

static const odeus_group_result_t *call(fixture_t *f, odeus_group_request_t req)
{
    int before = f->got.calls;
    assert_int_equal(upstream_client_submit_group(f->client, &req, on_done, &f->got), 0);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (f->got.calls == before) {
        assert_int_equal(upstream_client_poll(f->client, 50), 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            fail_msg("no answer to %s", odeus_group_call_name(req.call));
    }
    return &f->got.res;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    f->mock = mock_odeus_start();
    assert_non_null(f->mock);
    char err[256];
    upstream_config_t cfg = {.base_url = mock_odeus_url(f->mock), .api_key = "k", .timeout_ms = 5000, .max_connections = 2};
    f->client = upstream_client_create(&cfg, err, sizeof(err));
    assert_non_null(f->client);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    odeus_group_result_clear(&f->got.res);
    upstream_client_destroy(f->client);
    mock_odeus_stop(f->mock);
    free(f);
    return 0;
}

static void test_mock_groups(void **state)
{
    fixture_t *f = *state;
    const odeus_group_result_t *r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "  Eng  "});
    assert_int_equal(r->result.http_status, 201);
    assert_string_equal(r->items[0].name, "Eng"); /* trimmed */
    char eng[64];
    snprintf(eng, sizeof(eng), "%s", r->items[0].id);
    /* unique ignoring case, for creates and renames */
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "ENG"});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_CONFLICT);
    assert_string_equal(r->code, "GROUP_NAME_TAKEN");
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_CREATE, .name = "Ops"});
    char ops[64];
    snprintf(ops, sizeof(ops), "%s", r->items[0].id);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_RENAME, .group_id = ops, .name = "eng"});
    assert_string_equal(r->code, "GROUP_NAME_TAKEN");
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_RENAME, .group_id = eng, .name = "Eng"});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE); /* its own name again */

    /* only active members are added; the rest is notFound */
    mock_odeus_add_member(f->mock, "a@x.io", NULL);
    mock_odeus_add_member(f->mock, "b@x.io", "admin");
    mock_odeus_set_invites_pending(f->mock, 1);
    mock_odeus_set_stateful(f->mock, 1);
    const char *emails[] = {"A@x.io", "b@x.io", "pending@x.io", "nobody@x.io"};
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = eng, .emails = emails, .n_emails = 4});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE);
    assert_int_equal(r->n_items, 2);
    assert_int_equal(r->n_not_found, 2);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = eng, .emails = emails, .n_emails = 1});
    assert_int_equal(r->n_items, 1); /* alreadyMembers */
    assert_int_equal(r->n_not_found, 0);

    /* paging by email */
    mock_odeus_set_group_page_max(f->mock, 1);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_MEMBERS, .group_id = eng});
    assert_int_equal(r->n_items, 1);
    assert_string_equal(r->items[0].email, "a@x.io");
    assert_non_null(r->next_cursor);
    char cursor[64];
    snprintf(cursor, sizeof(cursor), "%s", r->next_cursor);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_MEMBERS, .group_id = eng, .cursor = cursor});
    assert_string_equal(r->items[0].email, "b@x.io");
    assert_null(r->next_cursor);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_LIST});
    assert_int_equal(r->n_items, 1);
    assert_non_null(r->next_cursor);
    mock_odeus_set_group_page_max(f->mock, 0);
    mock_odeus_group_create(f->mock, "eng", 0, NULL, 0); /* made in the UI: names may repeat */
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_LIST, .name = "ENG"});
    assert_int_equal(r->n_items, 2);

    /* remove, idempotent; delete, then 404 */
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_REMOVE, .group_id = eng, .emails = emails, .n_emails = 1});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_REMOVE, .group_id = eng, .emails = emails, .n_emails = 1});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE);
    char *dump = mock_odeus_groups_json(f->mock);
    assert_non_null(strstr(dump, "\"members\":[\"b@x.io\"]"));
    free(dump);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_DELETE, .group_id = eng});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_DELETE, .group_id = eng});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_ALREADY);

    /* SCIM-managed: readable, not changeable */
    char hr[64];
    mock_odeus_group_create(f->mock, "HR", 1, hr, sizeof(hr));
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_MEMBERS, .group_id = hr});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_DONE);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_ADD, .group_id = hr, .emails = emails, .n_emails = 1});
    assert_string_equal(r->code, "GROUP_SCIM_MANAGED");

    /* a workspace without the API */
    mock_odeus_set_groups_api(f->mock, 0);
    r = call(f, (odeus_group_request_t){.call = ODEUS_GROUP_LIST});
    assert_int_equal(r->result.outcome, ODEUS_OUTCOME_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_form),
        cmocka_unit_test(test_answers),
        cmocka_unit_test_setup_teardown(test_mock_groups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
