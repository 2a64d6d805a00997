/*
 * End to end: the real gateway binary, a real SQLite file, real HTTP to the mock Odeus.
 * An Okta lifecycle and an Entra lifecycle, with what each IdP really sends.
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

/* The i-th request the mock saw on `suffix`, asserting the common Odeus call shape. */
static json_t *odeus_call(fixture_t *f, const char *suffix, size_t nth)
{
    size_t total = mock_odeus_count(f->mock, NULL), seen = 0;
    mock_request_t req;
    for (size_t i = 0; i < total; i++) {
        assert_int_equal(mock_odeus_get(f->mock, i, &req), 0);
        size_t pl = strlen(req.path), sl = strlen(suffix);
        if (pl < sl || strcmp(req.path + pl - sl, suffix) != 0 || seen++ != nth)
            continue;
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.authorization, "Bearer " TEST_ODEUS_KEY);
        assert_non_null(strstr(req.content_type, "application/json"));
        assert_int_equal(req.has_origin, 0);
        json_t *body = json_loads(req.body, 0, NULL);
        assert_non_null(body);
        return body;
    }
    fail_msg("no call %zu on %s", nth, suffix);
    return NULL;
}

static void assert_invite(fixture_t *f, size_t nth, const char *email, const char *role)
{
    json_t *body = odeus_call(f, "/user-management/v1/invite", nth);
    json_t *u = json_array_get(json_object_get(body, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "email")), email);
    assert_string_equal(json_string_value(json_object_get(u, "role")), role);
    json_decref(body);
}

static void assert_deactivate(fixture_t *f, size_t nth, const char *email)
{
    json_t *body = odeus_call(f, "/user-management/v1/deactivate-user", nth);
    assert_string_equal(json_string_value(json_object_get(body, "email")), email);
    json_decref(body);
}

static void assert_active(const http_resp_t *r, int active)
{
    json_t *a = json_object_get(r->json, "active");
    assert_true(json_is_boolean(a));
    assert_int_equal(json_is_true(a), active);
}

static const char okta_alice[] = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\","
                                 "\"name\":{\"givenName\":\"Alice\",\"familyName\":\"Smith\"},"
                                 "\"emails\":[{\"primary\":true,\"value\":\"alice@example.com\",\"type\":\"work\"}],"
                                 "\"displayName\":\"Alice Smith\",\"locale\":\"en-US\",\"externalId\":\"00u1okta\",\"groups\":[],"
                                 "\"password\":\"never-stored-1!\",\"active\":true}";

static void test_okta_lifecycle(void **state)
{
    fixture_t *f = *state;
    gw_proc_t *p = &f->gw;
    http_resp_t r;
    char path[512];

    /* Connection test, then lookup before create: no match is an empty list, not a 404. */
    scim(p, "GET", "/scim/v2/Users?startIndex=1&count=2", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/scim+json");
    assert_int_equal(list_total(&r), 0);
    http_resp_clear(&r);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s&startIndex=1&count=100",
             url_encode("userName eq \"alice@example.com\""));
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(list_total(&r), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "Resources")), 0);
    assert_true(json_is_integer(json_object_get(r.json, "startIndex")));
    assert_true(json_is_integer(json_object_get(r.json, "itemsPerPage")));
    http_resp_clear(&r);

    /* Create → invite with the primary email and the default role. */
    scim(p, "POST", "/scim/v2/Users", okta_alice, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/scim+json");
    assert_true(strlen(r.content_length) > 0);
    char *id = strdup(json_str(&r, "id"));
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4'); /* UUID version 4 */
    assert_non_null(strstr(r.location, id));
    assert_non_null(strstr(r.location, "/scim/v2/Users/"));
    assert_null(json_object_get(r.json, "password"));
    assert_null(json_object_get(r.json, "groups"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "meta"), "resourceType")), "User");
    assert_active(&r, 1);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", 1, 5000), 0);
    assert_invite(f, 0, "alice@example.com", "member");

    /* Reads never call Odeus; filters compare userName case-insensitively. */
    size_t calls = mock_odeus_count(f->mock, NULL);
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_str(&r, "userName"), "alice@example.com");
    assert_true(strlen(r.etag) > 0);
    http_resp_clear(&r);
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s&startIndex=1&count=100",
             url_encode("userName eq \"ALICE@Example.COM\""));
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(list_total(&r), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "Resources"), 0), "id")), id);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, NULL), calls);

    /* A profile PUT changes no Odeus state. */
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(p, "PUT", path,
         "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\","
         "\"name\":{\"givenName\":\"Alice\",\"familyName\":\"Jones\"},"
         "\"emails\":[{\"primary\":true,\"value\":\"alice@example.com\",\"type\":\"work\"}],\"active\":true}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "name"), "familyName")), "Jones");
    assert_string_equal(json_str(&r, "id"), id);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, NULL), calls);

    /* Okta's deactivation PATCH: no path, value {"active":false}. Answered after Odeus confirmed. */
    scim(p, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 0);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, "/deactivate-user"), 1);
    assert_deactivate(f, 0, "alice@example.com");

    /* A deactivated user stays readable. */
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 0);
    http_resp_clear(&r);

    /* Reactivation re-invites. */
    scim(p, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":true}}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 1);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", 2, 5000), 0);
    assert_invite(f, 1, "alice@example.com", "member");

    /* Okta custom apps deactivate with a full PUT. */
    scim(p, "PUT", path,
         "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\","
         "\"emails\":[{\"primary\":true,\"value\":\"alice@example.com\",\"type\":\"work\"}],\"active\":false}",
         &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 0);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, "/deactivate-user"), 2);
    assert_deactivate(f, 1, "alice@example.com");

    /* A duplicate create, even in another case, is a uniqueness conflict. */
    scim(p, "POST", "/scim/v2/Users", "{\"userName\":\"Alice@Example.com\",\"active\":true}", &r);
    assert_scim_error(&r, 409, "uniqueness");
    http_resp_clear(&r);

    /* Import: pages are stable. */
    char *second = create_user(p, "{\"userName\":\"bob@example.com\",\"active\":true}");
    scim(p, "GET", "/scim/v2/Users?startIndex=2&count=1", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(list_total(&r), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "startIndex")), 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "itemsPerPage")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "Resources"), 0), "id")), second);
    http_resp_clear(&r);
    free(second);
    free(id);
}

static void test_entra_lifecycle(void **state)
{
    fixture_t *f = *state;
    gw_proc_t *p = &f->gw;
    http_resp_t r;
    char path[512];

    /* Test Connection: a random GUID as userName. */
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode("userName eq \"3b9a1c52-7c1e-4c8e-9a51-0d4b2f6e8a11\""));
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(list_total(&r), 0);
    http_resp_clear(&r);

    char *id = create_user(
        p, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
           "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
           "\"externalId\":\"carol-ext-1\",\"userName\":\"carol@contoso.com\",\"active\":true,"
           "\"displayName\":\"Carol\",\"emails\":[{\"primary\":true,\"type\":\"work\",\"value\":\"carol@contoso.com\"}],"
           "\"roles\":[{\"primary\":\"True\",\"value\":\"Editor\"}],"
           "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"Sales\","
           "\"manager\":\"mgr-1\"}}");
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", 1, 5000), 0);
    assert_invite(f, 0, "carol@contoso.com", "editor");

    /* Entra's matching queries. */
    const char *filters[] = {"externalId eq \"carol-ext-1\"", "emails[type eq \"work\"].value eq \"CAROL@contoso.com\"",
                             "userName eq \"carol@contoso.com\" and externalId eq \"carol-ext-1\""};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        snprintf(path, sizeof(path), "/scim/v2/Users?filter=%s", url_encode(filters[i]));
        scim(p, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        if (list_total(&r) != 1)
            fail_msg("filter %s: %s", filters[i], r.body);
        http_resp_clear(&r);
    }

    /* A role change on an active user → update-user-role. */
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(p, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"Replace\",\"path\":\"roles\",\"value\":[{\"primary\":\"True\",\"value\":\"admin\"}]},"
         "{\"op\":\"Replace\",\"value\":{\"name.givenName\":\"Caroline\"}}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "name"), "givenName")), "Caroline");
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_wait(f->mock, "/update-user-role", 1, 5000), 0);
    json_t *body = odeus_call(f, "/update-user-role", 0);
    assert_string_equal(json_string_value(json_object_get(body, "email")), "carol@contoso.com");
    assert_string_equal(json_string_value(json_object_get(body, "role")), "admin");
    json_decref(body);

    /* Entra disables a user with a capitalised op and a string boolean. */
    scim(p, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 0);
    http_resp_clear(&r);
    assert_deactivate(f, 0, "carol@contoso.com");
    scim(p, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 0);
    http_resp_clear(&r);

    /* Entra adds a work email to a user that has none; the user gets its Odeus email from it. */
    char *dave = create_user(p, "{\"userName\":\"dave\",\"active\":false,\"externalId\":\"dave-ext\"}");
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", dave);
    scim(p, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":["
         "{\"op\":\"Add\",\"path\":\"emails[type eq \\\"work\\\"].value\",\"value\":\"dave@contoso.com\"},"
         "{\"op\":\"Replace\",\"path\":\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager\",\"value\":\"mgr-2\"},"
         "{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"True\"}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_active(&r, 1);
    json_t *emails = json_object_get(r.json, "emails");
    assert_string_equal(json_string_value(json_object_get(json_array_get(emails, 0), "value")), "dave@contoso.com");
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", 2, 5000), 0);
    assert_invite(f, 1, "dave@contoso.com", "member");

    /* DELETE of an active user: deactivate-user, then the record is gone. */
    size_t before = mock_odeus_count(f->mock, "/deactivate-user");
    scim(p, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_count(f->mock, "/deactivate-user"), before + 1);
    assert_deactivate(f, before, "dave@contoso.com");
    scim(p, "GET", path, NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
    scim(p, "DELETE", path, NULL, &r);
    assert_scim_error(&r, 404, NULL);
    http_resp_clear(&r);
    free(dave);
    free(id);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_okta_lifecycle, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_entra_lifecycle, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
