/*
 * scim/select.c, scim/sort.c and the other read-side parameters: attributes / excludedAttributes
 * with `returned`, sortBy / sortOrder, SearchRequest bodies, ETag matching, dateTime filters.
 */
#include "scim_test.h"

#include "scim/filter.h"
#include "scim/list.h"
#include "scim/select.h"
#include "scim/sort.h"
#include "scim/user.h"

#define ENT "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static const char RESOURCE[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\",\"" ENT "\"],"
    "\"id\":\"u1\",\"externalId\":\"x1\",\"userName\":\"ann@example.com\","
    "\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},\"active\":true,"
    "\"emails\":[{\"value\":\"ann@example.com\",\"type\":\"work\",\"primary\":true},{\"value\":\"a@home.example\",\"type\":"
    "\"home\"}],"
    "\"" ENT "\":{\"department\":\"R&D\",\"manager\":{\"value\":\"m1\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"created\":\"2026-11-27T10:00:00.000Z\",\"lastModified\":\"2026-11-27T12:00:00.000Z\","
    "\"location\":\"https://h/scim/v2/Users/u1\",\"version\":\"W/\\\"3\\\"\"}}";

/* The resource trimmed by the two lists (NULL: absent). */
static json_t *selected(const char *attributes, const char *excluded)
{
    scim_error_t err = {0};
    scim_select_t *sel = scim_select_parse(attributes, excluded, &err);
    json_t *r = J(RESOURCE);
    if (sel == NULL)
        fail_msg("select [%s] [%s]: %s", attributes, excluded, err.detail);
    scim_select_apply(sel, r);
    scim_select_free(sel);
    return r;
}

static void check(const char *attributes, const char *excluded, const char *want)
{
    json_t *r = selected(attributes, excluded);
    assert_json_equal(r, want);
    json_decref(r);
}

static void test_attributes(void **state)
{
    (void)state;
    /* id and schemas are returned always; the extension URN leaves schemas with the extension */
    check("userName", NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\",\"userName\":\"ann@example.com\"}");
    check("USERNAME, name.givenName", NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\",\"userName\":\"ann@example.com\","
          "\"name\":{\"givenName\":\"Ann\"}}");
    check("emails.value,meta.lastModified", NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\","
          "\"emails\":[{\"value\":\"ann@example.com\"},{\"value\":\"a@home.example\"}],"
          "\"meta\":{\"lastModified\":\"2026-11-27T12:00:00.000Z\"}}");
    check("urn:ietf:params:scim:schemas:core:2.0:User:userName," ENT ":department", NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\",\"" ENT "\"],\"id\":\"u1\","
          "\"userName\":\"ann@example.com\",\"" ENT "\":{\"department\":\"R&D\"}}");
    check(ENT, NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\",\"" ENT "\"],\"id\":\"u1\","
          "\"" ENT "\":{\"department\":\"R&D\",\"manager\":{\"value\":\"m1\"}}}");
    /* id asked for explicitly, unknown names: nothing more, no error */
    check("id,noSuchThing,urn:example:other:2.0:User:x,name.nope", NULL,
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\"}");
}

static void test_excluded(void **state)
{
    json_t *r;
    (void)state;
    r = selected(NULL, "emails,meta,name.familyName,id," ENT);
    assert_null(json_object_get(r, "emails"));
    assert_null(json_object_get(r, "meta"));
    assert_null(json_object_get(r, ENT));
    assert_json_equal(json_object_get(r, "name"), "{\"givenName\":\"Ann\"}");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "u1"); /* always */
    assert_json_equal(json_object_get(r, "schemas"), "[\"urn:ietf:params:scim:schemas:core:2.0:User\"]");
    assert_non_null(json_object_get(r, "userName"));
    json_decref(r);
    r = selected(NULL, "emails.type, ENT_NONE");
    assert_json_equal(json_object_get(r, "emails"),
                      "[{\"value\":\"ann@example.com\",\"primary\":true},{\"value\":\"a@home.example\"}]");
    json_decref(r);
    /* both: attributes picks, excludedAttributes removes */
    check("userName,emails", "emails",
          "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u1\","
          "\"userName\":\"ann@example.com\"}");
    /* neither: unchanged */
    r = selected(NULL, NULL);
    assert_json_equal(r, RESOURCE);
    json_decref(r);
}

static void test_never_returned(void **state)
{
    scim_error_t err = {0};
    scim_select_t *sel = scim_select_parse("password,userName", NULL, &err);
    json_t *r = J("{\"schemas\":[],\"id\":\"u\",\"userName\":\"a\",\"password\":\"secret\"}");
    (void)state;
    scim_select_apply(sel, r);
    assert_null(json_object_get(r, "password"));
    scim_select_free(sel);
    sel = scim_select_parse(NULL, NULL, &err);
    json_object_set_new(r, "password", json_string("secret"));
    scim_select_apply(sel, r);
    assert_null(json_object_get(r, "password"));
    scim_select_free(sel);
    json_decref(r);
}

static void identity_is(const char *attributes, const char *excluded, int want)
{
    scim_error_t err = {0};
    scim_select_t *sel = scim_select_parse(attributes, excluded, &err);
    if (sel == NULL)
        fail_msg("select [%s] [%s]: %s", attributes, excluded, err.detail);
    if (scim_select_is_identity(sel) != want)
        fail_msg("scim_select_is_identity([%s] [%s]) != %d", attributes, excluded, want);
    if (want) {
        /* and it really changes nothing */
        json_t *r = J(RESOURCE);
        scim_select_apply(sel, r);
        assert_json_equal(r, RESOURCE);
        json_decref(r);
    }
    scim_select_free(sel);
}

static void test_select_identity(void **state)
{
    scim_error_t err = {0};
    (void)state;
    assert_true(scim_select_is_identity(NULL));
    identity_is(NULL, NULL, 1);
    identity_is("", "", 1);
    /* names no schema defines select nothing to exclude */
    identity_is(NULL, "urn:example:other:1.0:User:foo", 1);
    identity_is(NULL, "userName", 0);
    identity_is(NULL, "emails.type", 0);
    identity_is("userName", NULL, 0);
    /* attributes naming only unknown names returns only the always ones */
    identity_is("urn:example:other:1.0:User:foo", NULL, 0);
    /* SearchRequest bodies */
    scim_select_t *sel = scim_select_from_json(NULL, NULL, &err);
    assert_non_null(sel);
    assert_true(scim_select_is_identity(sel));
    scim_select_free(sel);
    json_t *empty = J("[]"), *names = J("[\"title\"]");
    sel = scim_select_from_json(empty, empty, &err);
    assert_true(scim_select_is_identity(sel));
    scim_select_free(sel);
    sel = scim_select_from_json(NULL, names, &err);
    assert_false(scim_select_is_identity(sel));
    scim_select_free(sel);
    json_decref(empty);
    json_decref(names);
}

static void test_select_bad(void **state)
{
    scim_error_t err = {0};
    char many[SCIM_SELECT_MAX_NAMES * 4 + 16] = "";
    (void)state;
    assert_null(scim_select_parse("userName,", NULL, &err));
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    memset(&err, 0, sizeof(err));
    assert_null(scim_select_parse(NULL, ",,", &err));
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    for (int i = 0; i <= SCIM_SELECT_MAX_NAMES; i++)
        strcat(many, "x,");
    strcat(many, "x");
    memset(&err, 0, sizeof(err));
    assert_null(scim_select_parse(many, NULL, &err));
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    json_t *a = J("[\"userName\", 5]");
    memset(&err, 0, sizeof(err));
    assert_null(scim_select_from_json(a, NULL, &err));
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(a);
}

/* ---- sort ---- */

static const char USERS[] =
    "[{\"id\":\"1\",\"userName\":\"bob\",\"emails\":[{\"value\":\"z@x\"},{\"value\":\"b@x\",\"primary\":true}],"
    "\"meta\":{\"created\":\"2026-11-27T10:00:00.500Z\"},\"" ENT "\":{\"department\":\"b\"}},"
    "{\"id\":\"2\",\"userName\":\"Alice\",\"emails\":[{\"value\":\"a@x\"}],\"meta\":{\"created\":\"2026-11-27T11:00:00+02:00\"}},"
    "{\"id\":\"3\",\"userName\":\"carol\",\"meta\":{\"created\":\"2026-11-27T10:00:00Z\"},\"" ENT "\":{\"department\":\"a\"}},"
    "{\"id\":\"4\",\"userName\":\"alice2\",\"emails\":[{\"value\":\"B@x\"}],\"meta\":{\"created\":\"2026-11-27T10:00:00.5Z\"}}]";

static void sorted(const char *by, const char *order, const char *want_ids)
{
    scim_error_t err = {0};
    scim_sort_t *s = scim_sort_parse(by, order, &err);
    json_t *a = J(USERS);
    char got[64] = "";
    size_t i;
    json_t *e;
    if (s == NULL)
        fail_msg("sortBy %s: %s", by, err.detail);
    scim_sort_apply(s, a);
    json_array_foreach(a, i, e) strcat(got, json_string_value(json_object_get(e, "id")));
    if (strcmp(got, want_ids) != 0)
        fail_msg("sortBy %s %s: got %s, want %s", by, order != NULL ? order : "", got, want_ids);
    scim_sort_free(s);
    json_decref(a);
}

static void test_sort(void **state)
{
    (void)state;
    sorted("userName", NULL, "2413"); /* case-insensitive */
    sorted("username", "DESCENDING", "3142");
    sorted("meta.created", "ascending", "2314");  /* instants: 09:00Z, 10:00, 10:00.5 (twice, stable) */
    sorted("meta.created", "descending", "1432"); /* equal keys keep creation order */
    sorted("emails", NULL, "2143");               /* primary, else first; case-insensitive; none last */
    sorted("emails.value", "descending", "1423"); /* b@x = B@x keeps creation order; no value still last */
    sorted(ENT ":department", NULL, "3124");
    sorted("id", "descending", "4321");
}

static void test_sort_bad(void **state)
{
    scim_error_t err = {0};
    (void)state;
    assert_null(scim_sort_parse(NULL, "descending", &err));
    assert_int_equal(err.status, 0);
    assert_null(scim_sort_parse("", NULL, &err));
    assert_int_equal(err.status, 0);
    const char *bad[][2] = {{"nope", NULL},     {"name", NULL},     {"userName.x", NULL},
                            {"password", NULL}, {"userName", "up"}, {"urn:x:y:User:userName", NULL},
                            {"meta", NULL}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (scim_sort_parse(bad[i][0], bad[i][1], &err) != NULL)
            fail_msg("sortBy %s / %s should fail", bad[i][0], bad[i][1]);
        assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    }
}

/* ---- SearchRequest and query parameters ---- */

static void test_query_params(void **state)
{
    scim_list_params_t p;
    scim_error_t err = {0};
    const char *q = "attributes=userName%2Cemails&EXCLUDEDATTRIBUTES=meta&sortBy=meta.created&sortorder=descending";
    (void)state;
    assert_int_equal(scim_list_params_parse(q, strlen(q), &p, &err), 0);
    assert_string_equal(p.attributes, "userName,emails");
    assert_string_equal(p.excluded_attributes, "meta");
    assert_string_equal(p.sort_by, "meta.created");
    assert_string_equal(p.sort_order, "descending");
    scim_list_params_clear(&p);
}

static void test_search_body(void **state)
{
    scim_list_params_t p;
    scim_error_t err = {0};
    json_t *b = J("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],"
                  "\"attributes\":[\"userName\",\"emails.value\"],\"excludedAttributes\":[\"meta\"],"
                  "\"Filter\":\"userName sw \\\"a\\\"\",\"sortBy\":\"userName\",\"sortOrder\":\"descending\","
                  "\"startIndex\":2,\"count\":5000}");
    (void)state;
    assert_int_equal(scim_list_params_from_search(b, &p, &err), 0);
    assert_string_equal(p.attributes, "userName,emails.value");
    assert_string_equal(p.excluded_attributes, "meta");
    assert_string_equal(p.filter, "userName sw \"a\"");
    assert_int_equal(p.filter_len, strlen(p.filter));
    assert_string_equal(p.sort_by, "userName");
    assert_string_equal(p.sort_order, "descending");
    assert_int_equal(p.start_index, 2);
    assert_int_equal(p.count, SCIM_LIST_MAX_COUNT);
    scim_list_params_clear(&p);
    json_decref(b);

    b = J("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"]}");
    assert_int_equal(scim_list_params_from_search(b, &p, &err), 0);
    assert_int_equal(p.start_index, 1);
    assert_int_equal(p.count, SCIM_LIST_DEFAULT_COUNT);
    assert_null(p.filter);
    scim_list_params_clear(&p);
    json_decref(b);

    const char *bad[] = {"[]",
                         "{\"filter\":\"x pr\"}",
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"count\":\"10\"}",
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"filter\":5}",
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"attributes\":\"userName\"}",
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:SearchRequest\"],\"attributes\":[\"a,b\"]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        b = J(bad[i]);
        if (scim_list_params_from_search(b, &p, &err) == 0)
            fail_msg("%s should fail", bad[i]);
        assert_int_equal(err.status, 400);
        scim_list_params_clear(&p);
        json_decref(b);
    }
}

/* ---- ETags ---- */

static void test_etag_matches(void **state)
{
    (void)state;
#define M(h, v) scim_etag_matches(h, strlen(h), v)
    assert_true(M("W/\"3\"", 3));
    assert_true(M("\"3\"", 3)); /* weak comparison */
    assert_true(M("*", 99));
    assert_true(M("W/\"1\", W/\"3\"", 3));
    assert_false(M("W/\"3\"", 4));
    assert_false(M("W/\"33\"", 3));
    assert_false(M("W/\"3", 3));
    assert_false(M("3", 3));
    assert_false(M("", 3));
    assert_false(M("W/", 3));
#undef M
}

/* ---- dateTime filters ---- */

static int filter_matches(const char *text, const json_t *r)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    if (f == NULL)
        fail_msg("[%s]: %s", text, err.detail);
    int m = scim_filter_match(f, r);
    scim_filter_free(f);
    return m;
}

static void test_datetime_filters(void **state)
{
    json_t *r = J(RESOURCE);
    scim_error_t err = {0};
    (void)state;
    assert_true(filter_matches("meta.created eq \"2026-11-27T10:00:00Z\"", r));
    assert_true(filter_matches("meta.created eq \"2026-11-27T11:00:00+01:00\"", r));
    assert_true(filter_matches("meta.created lt \"2026-11-27T10:00:00.001Z\"", r)); /* not text order */
    assert_false(filter_matches("meta.created gt \"2026-11-27T10:00:00Z\"", r));
    assert_true(filter_matches("meta.lastModified gt \"2026-11-27T10:00:00Z\" and meta.created le 2026-11-27T10:00:00Z", r));
    assert_true(filter_matches("META.LASTMODIFIED ge \"2026-11-27T06:30:00-05:30\"", r));
    assert_false(filter_matches("meta.lastModified gt \"2026-11-27T06:30:00.1-05:30\"", r));
    assert_true(filter_matches("meta.lastModified ne \"2026-11-27T12:00:00.0001Z\"", r));
    assert_true(filter_matches("urn:ietf:params:scim:schemas:core:2.0:User:meta.created sw \"2026-11\"", r));
    assert_true(filter_matches("meta.created pr", r));
    const char *bad[] = {"meta.created gt \"yesterday\"",
                         "meta.created eq \"2026-02-30T00:00:00Z\"",
                         "meta.created lt \"2026-11-27T25:00:00Z\"",
                         "meta.created gt \"2026-11-27T10:00:00+1:00\"",
                         "meta.created gt \"2026-11-27T10:00:00.Z\"",
                         "meta.lastModified le \"2025-02-29T00:00:00Z\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        scim_filter_t *f = scim_filter_parse(bad[i], strlen(bad[i]), &err);
        if (f != NULL)
            fail_msg("[%s] should fail", bad[i]);
        assert_scim_error(err, 400, SCIM_TYPE_INVALID_FILTER);
    }
    json_decref(r);
}

#define GROUP_URN "urn:ietf:params:scim:schemas:core:2.0:Group"

static const char GROUP[] =
    "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"externalId\":\"x1\",\"displayName\":\"Eng\","
    "\"members\":[{\"value\":\"u1\",\"display\":\"ann\",\"$ref\":\"https://h/scim/v2/Users/u1\",\"type\":\"User\"}],"
    "\"meta\":{\"resourceType\":\"Group\",\"version\":\"W/\\\"1\\\"\"}}";

/* A group selection resolves names against the Group schema (Entra: excludedAttributes=members). */
static void group_check(const char *attributes, const char *excluded, const char *want, int returns_members)
{
    scim_error_t err = {0};
    scim_select_t *sel = scim_select_parse_resource(SCIM_RESOURCE_GROUP, attributes, excluded, &err);
    json_t *r = J(GROUP);
    if (sel == NULL)
        fail_msg("select [%s] [%s]: %s", attributes, excluded, err.detail);
    scim_select_apply(sel, r);
    assert_json_equal(r, want);
    assert_int_equal(scim_select_returns(sel, "members"), returns_members);
    assert_int_equal(returns_members, json_object_get(r, "members") != NULL);
    scim_select_free(sel);
    json_decref(r);
}

static void test_select_group(void **state)
{
    scim_error_t err = {0};
    scim_select_t *sel;
    json_t *r;
    (void)state;
    group_check(NULL, "members",
                "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"externalId\":\"x1\",\"displayName\":\"Eng\","
                "\"meta\":{\"resourceType\":\"Group\",\"version\":\"W/\\\"1\\\"\"}}",
                0);
    group_check(NULL, "Members,meta",
                "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"externalId\":\"x1\",\"displayName\":\"Eng\"}", 0);
    group_check("displayName", NULL, "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"displayName\":\"Eng\"}", 0);
    group_check(GROUP_URN ":displayName,members.value", NULL,
                "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"displayName\":\"Eng\",\"members\":[{\"value\":\"u1\"}]}", 1);
    group_check(
        NULL, "members.display,members.$ref",
        "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\",\"externalId\":\"x1\",\"displayName\":\"Eng\","
        "\"members\":[{\"value\":\"u1\",\"type\":\"User\"}],\"meta\":{\"resourceType\":\"Group\",\"version\":\"W/\\\"1\\\"\"}}",
        1);
    /* User names select nothing in a group */
    group_check("userName", NULL, "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g1\"}", 0);
    group_check(NULL, "userName,emails", GROUP, 1);

    /* a user selection does not know members: excluding it trims nothing (why groups need their own) */
    sel = scim_select_parse(NULL, "members", &err);
    r = J(GROUP);
    scim_select_apply(sel, r);
    assert_non_null(json_object_get(r, "members"));
    json_decref(r);
    scim_select_free(sel);

    r = J("[\"members\"]");
    sel = scim_select_from_json_resource(SCIM_RESOURCE_GROUP, NULL, r, &err);
    json_decref(r);
    assert_non_null(sel);
    assert_int_equal(scim_select_returns(sel, "members"), 0);
    assert_int_equal(scim_select_returns(sel, "displayName"), 1);
    assert_int_equal(scim_select_returns(sel, "id"), 1);
    assert_int_equal(scim_select_is_identity(sel), 0);
    scim_select_free(sel);
    sel = scim_select_parse_resource(SCIM_RESOURCE_GROUP, NULL, NULL, &err);
    assert_int_equal(scim_select_is_identity(sel), 1);
    assert_int_equal(scim_select_returns(sel, "members"), 1);
    scim_select_free(sel);
    assert_int_equal(scim_select_returns(NULL, "members"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attributes),      cmocka_unit_test(test_excluded),         cmocka_unit_test(test_never_returned),
        cmocka_unit_test(test_select_identity), cmocka_unit_test(test_select_bad),       cmocka_unit_test(test_sort),
        cmocka_unit_test(test_sort_bad),        cmocka_unit_test(test_query_params),     cmocka_unit_test(test_search_body),
        cmocka_unit_test(test_etag_matches),    cmocka_unit_test(test_datetime_filters), cmocka_unit_test(test_select_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
