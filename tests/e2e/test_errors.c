/*
 * Every bad input gets a clear SCIM answer, changes nothing, and the gateway keeps serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

typedef gw_fixture_t fixture_t;

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

static void assert_still_serving(gw_proc_t *p)
{
    http_resp_t r;
    scim(p, "GET", "/scim/v2/Users", NULL, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
}

static void test_auth(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    http_call(&f->gw, "GET", "/scim/v2/Users", NULL, NULL, NULL, &r);
    assert_scim_error(&r, 401, NULL);
    assert_non_null(strstr(r.www_authenticate, "Bearer"));
    http_resp_clear(&r);
    http_call(&f->gw, "GET", "/scim/v2/Users", NULL, "wrong-token-0123456789abcdef", NULL, &r);
    assert_scim_error(&r, 401, NULL);
    http_resp_clear(&r);
    http_call(&f->gw, "GET", "/scim/v2/Users", NULL, TEST_SCIM_TOKEN "x", NULL, &r);
    assert_scim_error(&r, 401, NULL);
    http_resp_clear(&r);
    const char *basic[] = {"Authorization: Basic dGVzdDp0ZXN0", NULL};
    http_call(&f->gw, "GET", "/scim/v2/Users", NULL, NULL, basic, &r);
    assert_scim_error(&r, 401, NULL);
    http_resp_clear(&r);
    /* Writes are refused too, and nothing reaches Odeus. */
    http_call(&f->gw, "POST", "/scim/v2/Users", "{\"userName\":\"x@example.com\"}", "nope-nope-nope-nope-nope", NULL, &r);
    assert_scim_error(&r, 401, NULL);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, NULL), 0);
    /* Health endpoints need no token. */
    http_call(&f->gw, "GET", "/healthz", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    http_call(&f->gw, "GET", "/readyz", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
}

static void test_origin_refused(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *origin[] = {"Origin: https://evil.example", NULL};
    http_call(&f->gw, "POST", "/scim/v2/Users", "{\"userName\":\"o@example.com\"}", TEST_SCIM_TOKEN, origin, &r);
    assert_scim_error(&r, 403, NULL);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, NULL), 0);
    assert_still_serving(&f->gw);
}

static void test_bad_bodies(void **state)
{
    fixture_t *f = *state;
    gw_proc_t *p = &f->gw;
    http_resp_t r;
    static const struct {
        const char *body;
        const char *scim_type;
    } cases[] = {
        {"{\"userName\": \"a@example.com\",", "invalidSyntax"},
        {"not json at all", "invalidSyntax"},
        {"[1,2,3]", "invalidSyntax"},
        {"{}", "invalidValue"},
        {"{\"userName\": \"\"}", "invalidValue"},
        {"{\"userName\": 42}", "invalidValue"},
        {"{\"userName\": \"a@example.com\", \"active\": 7}", "invalidValue"},
        {"{\"userName\": \"a@example.com\", \"emails\": \"a@example.com\"}", "invalidValue"},
        {"{\"userName\": \"no-email-at-all\", \"active\": true}", "invalidValue"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scim(p, "POST", "/scim/v2/Users", cases[i].body, &r);
        if (r.status != 400)
            fail_msg("body %s: expected 400, got %ld %s", cases[i].body, r.status, r.body);
        assert_scim_error(&r, 400, cases[i].scim_type);
        http_resp_clear(&r);
    }
    scim(p, "POST", "/scim/v2/Users", "", &r);
    assert_scim_error(&r, 400, "invalidSyntax");
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, NULL), 0);

    /* Unknown attributes are ignored, not stored. */
    scim(p, "POST", "/scim/v2/Users", "{\"userName\":\"u@example.com\",\"favouriteColour\":\"blue\",\"active\":false}", &r);
    assert_int_equal(r.status, 201);
    assert_null(json_object_get(r.json, "favouriteColour"));
    char id[64];
    snprintf(id, sizeof(id), "%s", json_str(&r, "id"));
    http_resp_clear(&r);

    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    static const struct {
        const char *body;
        const char *scim_type;
    } patches[] = {
        {"{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":"
         "\"noSuchAttribute\",\"value\":1}]}",
         "invalidPath"},
        {"{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\"}]}", "noTarget"},
        {"{\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}", "invalidSyntax"},
        {"{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"frobnicate\","
         "\"path\":\"active\",\"value\":false}]}",
         NULL},
        {"{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":"
         "\"emails[type eq\",\"value\":1}]}",
         "invalidPath"},
    };
    for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
        scim(p, "PATCH", path, patches[i].body, &r);
        if (r.status != 400)
            fail_msg("patch %s: expected 400, got %ld %s", patches[i].body, r.status, r.body);
        if (patches[i].scim_type != NULL)
            assert_scim_error(&r, 400, patches[i].scim_type);
        http_resp_clear(&r);
    }
    /* The user is as it was. */
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "userName"), "u@example.com");
    assert_true(json_is_false(json_object_get(r.json, "active")));
    http_resp_clear(&r);
    assert_still_serving(p);
}

static void test_bad_filters(void **state)
{
    fixture_t *f = *state;
    http_resp_t r;
    const char *filters[] = {"userName eq",           "userName zz \"x\"",       "(userName eq \"x\"",
                             "userName eq \"x\" and", "emails[type eq \"work\"", "\"x\" eq userName"};
    char path[512];
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode(filters[i]));
        scim(&f->gw, "GET", path, NULL, &r);
        if (r.status != 400)
            fail_msg("filter %s: expected 400, got %ld %s", filters[i], r.status, r.body);
        assert_scim_error(&r, 400, "invalidFilter");
        http_resp_clear(&r);
    }
    /* Too long. */
    char *longf = malloc(6000);
    strcpy(longf, "/scim/v2/Users?filter=userName%20eq%20%22");
    size_t n = strlen(longf);
    memset(longf + n, 'a', 5000);
    strcpy(longf + n + 5000, "%22");
    scim(&f->gw, "GET", longf, NULL, &r);
    assert_scim_error(&r, 400, "invalidFilter");
    http_resp_clear(&r);
    free(longf);
    scim(&f->gw, "GET", "/scim/v2/Users?count=many", NULL, &r);
    assert_scim_error(&r, 400, "invalidValue");
    http_resp_clear(&r);
    assert_still_serving(&f->gw);
}

static void test_routes(void **state)
{
    fixture_t *f = *state;
    gw_proc_t *p = &f->gw;
    http_resp_t r;
    scim(p, "GET", "/scim/v2/Groupz", NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
    http_call(p, "GET", "/favicon.ico", NULL, NULL, NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/Users/00000000-0000-4000-8000-000000000000", NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
    scim(p, "DELETE", "/scim/v2/Users", NULL, &r);
    assert_scim_error(&r, 405, NULL);
    http_resp_clear(&r);
    scim(p, "POST", "/scim/v2/ServiceProviderConfig", "{}", &r);
    assert_scim_error(&r, 405, NULL);
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/ServiceProviderConfig", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(json_object_get(r.json, "patch"), "supported")));
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/ResourceTypes/User", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "endpoint"), "/Users");
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "id"), "urn:ietf:params:scim:schemas:core:2.0:User");
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/Schemas", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(list_total(&r) >= 2);
    http_resp_clear(&r);
    scim(p, "GET", "/scim/v2/Schemas/urn:nope", NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
}

static void test_oversized_body(void **state)
{
    fixture_t *f = *state;
    size_t size = 2 * 1024 * 1024;
    char *body = malloc(size + 64);
    strcpy(body, "{\"userName\":\"big@example.com\",\"displayName\":\"");
    size_t n = strlen(body);
    memset(body + n, 'x', size);
    strcpy(body + n + size, "\"}");
    http_resp_t r;
    scim(&f->gw, "POST", "/scim/v2/Users", body, &r);
    assert_scim_error(&r, 413, NULL);
    http_resp_clear(&r);
    free(body);
    assert_int_equal(mock_odeus_count(f->mock, NULL), 0);
    assert_still_serving(&f->gw);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_origin_refused, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_bodies, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_filters, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_routes, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_body, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
