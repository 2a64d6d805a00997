/*
 * scim/list.c: query parameters of GET /Users and the ListResponse.
 */
#include "scim_test.h"

#include "scim/list.h"
#include "scim/sort.h"

static scim_list_params_t parse_ok(const char *q)
{
    scim_list_params_t p;
    scim_error_t err = {0};
    if (scim_list_params_parse(q, strlen(q), &p, &err) != 0)
        fail_msg("[%s] failed: %s", q, err.detail);
    return p;
}

static void parse_bad(const char *q)
{
    scim_list_params_t p;
    scim_error_t err = {0};
    int rc = scim_list_params_parse(q, strlen(q), &p, &err);
    scim_list_params_clear(&p);
    if (rc == 0)
        fail_msg("[%s] should fail", q);
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
}

static void test_defaults(void **state)
{
    scim_list_params_t p = parse_ok("");
    scim_error_t err = {0};
    (void)state;
    assert_int_equal(p.start_index, 1);
    assert_int_equal(p.count, SCIM_LIST_DEFAULT_COUNT);
    assert_null(p.filter);
    scim_list_params_clear(&p);
    assert_int_equal(scim_list_params_parse(NULL, 0, &p, &err), 0);
    assert_int_equal(p.start_index, 1);
    scim_list_params_clear(&p);
}

static void test_okta_paging(void **state)
{
    scim_list_params_t p = parse_ok("startIndex=101&count=100");
    (void)state;
    assert_int_equal(p.start_index, 101);
    assert_int_equal(p.count, 100);
    scim_list_params_clear(&p);
    p = parse_ok("startIndex=1&count=2");
    assert_int_equal(p.count, 2);
    scim_list_params_clear(&p);
}

static void test_names_case_insensitive_others_ignored(void **state)
{
    scim_list_params_t p = parse_ok("STARTINDEX=3&Count=7&FILTER=title+pr&attributes=userName&excludedAttributes=members&x");
    (void)state;
    assert_int_equal(p.start_index, 3);
    assert_int_equal(p.count, 7);
    assert_string_equal(p.filter, "title pr");
    assert_int_equal(p.filter_len, 8);
    scim_list_params_clear(&p);
}

static void test_clamping(void **state)
{
    scim_list_params_t p = parse_ok("startIndex=0&count=-5");
    (void)state;
    assert_int_equal(p.start_index, 1);
    assert_int_equal(p.count, 0);
    scim_list_params_clear(&p);
    p = parse_ok("startIndex=-7&count=100000");
    assert_int_equal(p.start_index, 1);
    assert_int_equal(p.count, SCIM_LIST_MAX_COUNT);
    scim_list_params_clear(&p);
    p = parse_ok("count=0");
    assert_int_equal(p.count, 0);
    scim_list_params_clear(&p);
    p = parse_ok("startIndex=99999999999999999999999&count=%2B5");
    assert_true(p.start_index >= 2147483647u);
    assert_int_equal(p.count, 5);
    scim_list_params_clear(&p);
}

static void test_filter_decoding(void **state)
{
    scim_list_params_t p = parse_ok("filter=userName%20eq%20%22alice%40example.com%22&startIndex=1&count=100");
    (void)state;
    assert_string_equal(p.filter, "userName eq \"alice@example.com\"");
    scim_list_params_clear(&p);
    p = parse_ok("filter=userName+eq+%223b9a%2B1%22");
    assert_string_equal(p.filter, "userName eq \"3b9a+1\"");
    scim_list_params_clear(&p);
    p = parse_ok("filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22a%40b.c%22");
    assert_string_equal(p.filter, "emails[type eq \"work\"].value eq \"a@b.c\"");
    scim_list_params_clear(&p);
    p = parse_ok("filter=caf%C3%A9&filter=second");
    assert_string_equal(p.filter, "second"); /* the last one wins, the first is not leaked */
    scim_list_params_clear(&p);
    p = parse_ok("filter=");
    assert_string_equal(p.filter, "");
    assert_int_equal(p.filter_len, 0);
    scim_list_params_clear(&p);
}

static void test_not_nul_terminated(void **state)
{
    const char q[] = "count=12&count=99";
    scim_list_params_t p;
    scim_error_t err = {0};
    (void)state;
    assert_int_equal(scim_list_params_parse(q, 8, &p, &err), 0);
    assert_int_equal(p.count, 12);
    scim_list_params_clear(&p);
}

static void test_errors(void **state)
{
    (void)state;
    parse_bad("count=ten");
    parse_bad("count=");
    parse_bad("count");
    parse_bad("startIndex=1.5");
    parse_bad("startIndex=0x10");
    parse_bad("count=1%");
    parse_bad("filter=a%2");
    parse_bad("filter=a%zz");
    parse_bad("filter=a%00b");
    parse_bad("filter=title+pr&count=x");
    parse_bad("count=+5"); /* "+" is a space */
}

static void test_render(void **state)
{
    json_t *res = J("[{\"id\":\"1\"},{\"id\":\"2\"}]");
    json_t *lr = scim_list_render(res, 250, 101);
    (void)state;
    assert_json_equal(lr, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],"
                          "\"totalResults\":250,\"startIndex\":101,\"itemsPerPage\":2,"
                          "\"Resources\":[{\"id\":\"1\"},{\"id\":\"2\"}]}");
    assert_true(json_is_integer(json_object_get(lr, "totalResults")));
    json_decref(lr);
}

static void test_render_empty(void **state)
{
    json_t *lr = scim_list_render(json_array(), 0, 1);
    json_t *lr2 = scim_list_render(NULL, 0, 1);
    (void)state;
    /* No match is an empty list, never 404 (Entra's connection test). */
    assert_json_equal(lr, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],"
                          "\"totalResults\":0,\"startIndex\":1,\"itemsPerPage\":0,\"Resources\":[]}");
    assert_json_equal(lr2, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],"
                           "\"totalResults\":0,\"startIndex\":1,\"itemsPerPage\":0,\"Resources\":[]}");
    json_decref(lr);
    json_decref(lr2);
}

/* ---- sort keys (the records a sorted list keeps instead of resources) ---- */

static scim_sort_key_t key_of(const scim_sort_t *s, const char *resource)
{
    scim_sort_key_t k;
    json_t *r = J(resource);
    scim_sort_key(s, r, &k);
    json_decref(r); /* the key is detached from the tree */
    return k;
}

/* The sign of scim_sort_key_cmp(a, b) for sortBy `by` / sortOrder `order`. */
static int key_cmp(const char *by, const char *order, const char *a, const char *b)
{
    scim_error_t err = {0};
    scim_sort_t *s = scim_sort_parse(by, order, &err);
    if (s == NULL)
        fail_msg("sortBy %s: %s", by, err.detail);
    scim_sort_key_t ka = key_of(s, a), kb = key_of(s, b);
    int c = scim_sort_key_cmp(s, &ka, &kb);
    scim_sort_key_clear(&ka);
    scim_sort_key_clear(&kb);
    scim_sort_free(s);
    return c < 0 ? -1 : c > 0;
}

static void test_sort_keys(void **state)
{
    scim_error_t err = {0};
    (void)state;
    /* missing values last, in either order; two missing ones are equal (scan order decides) */
    assert_int_equal(key_cmp("displayName", NULL, "{\"displayName\":\"z\"}", "{}"), -1);
    assert_int_equal(key_cmp("displayName", "descending", "{\"displayName\":\"a\"}", "{}"), -1);
    assert_int_equal(key_cmp("displayName", "descending", "{}", "{\"displayName\":\"a\"}"), 1);
    assert_int_equal(key_cmp("displayName", NULL, "{}", "{\"userName\":\"x\"}"), 0);
    assert_int_equal(key_cmp("displayName", NULL, "{\"displayName\":null}", "{\"displayName\":\"a\"}"), 1);
    /* caseExact: userName and emails compare case-insensitively, externalId exactly */
    assert_int_equal(key_cmp("userName", NULL, "{\"userName\":\"ALICE\"}", "{\"userName\":\"alice\"}"), 0);
    assert_int_equal(key_cmp("userName", NULL, "{\"userName\":\"B\"}", "{\"userName\":\"a\"}"), 1);
    assert_int_equal(key_cmp("externalId", NULL, "{\"externalId\":\"B\"}", "{\"externalId\":\"a\"}"), -1);
    assert_int_equal(key_cmp("emails.value", NULL, "{\"emails\":[{\"value\":\"Z@x\"},{\"value\":\"a@x\",\"primary\":true}]}",
                             "{\"emails\":[{\"value\":\"B@x\"}]}"),
                     -1); /* the primary a@x against the first B@x */
    /* a prefix first; descending reverses */
    assert_int_equal(key_cmp("displayName", NULL, "{\"displayName\":\"ab\"}", "{\"displayName\":\"abc\"}"), -1);
    assert_int_equal(key_cmp("displayName", "descending", "{\"displayName\":\"ab\"}", "{\"displayName\":\"abc\"}"), 1);
    /* dateTimes as instants; booleans false first */
    assert_int_equal(key_cmp("meta.created", NULL, "{\"meta\":{\"created\":\"2026-01-01T10:00:00+02:00\"}}",
                             "{\"meta\":{\"created\":\"2026-01-01T09:00:00Z\"}}"),
                     -1);
    assert_int_equal(key_cmp("active", NULL, "{\"active\":true}", "{\"active\":false}"), 1);
    assert_int_equal(key_cmp("active", "descending", "{\"active\":true}", "{\"active\":false}"), -1);

    /* The key outlives its tree and holds a copy. */
    scim_sort_t *s = scim_sort_parse("displayName", NULL, &err);
    assert_non_null(s);
    scim_sort_key_t k = key_of(s, "{\"displayName\":\"Zoe\"}");
    assert_int_equal(k.kind, SCIM_SORT_KEY_STRING);
    assert_int_equal(k.str_len, 3);
    assert_memory_equal(k.str, "Zoe", 3);
    scim_sort_key_clear(&k);
    assert_int_equal(k.kind, SCIM_SORT_KEY_MISSING);
    scim_sort_key_clear(&k);
    scim_sort_free(s);
}

/* Ties keep the input order (stability), in either order: the same rule as a sorted list's records. */
static void test_sort_ties_stable(void **state)
{
    scim_error_t err = {0};
    const char *orders[] = {"ascending", "descending"};
    const char *want[] = {"3142", "1432"};
    (void)state;
    for (size_t o = 0; o < 2; o++) {
        scim_sort_t *s = scim_sort_parse("displayName", orders[o], &err);
        json_t *a = J("[{\"id\":\"1\",\"displayName\":\"b\"},{\"id\":\"2\"},{\"id\":\"3\",\"displayName\":\"A\"},"
                      "{\"id\":\"4\",\"displayName\":\"B\"}]");
        char got[8] = "";
        size_t i;
        json_t *e;
        assert_non_null(s);
        scim_sort_apply(s, a);
        json_array_foreach(a, i, e) strcat(got, json_string_value(json_object_get(e, "id")));
        assert_string_equal(got, want[o]);
        json_decref(a);
        scim_sort_free(s);
    }
}

static scim_sort_attr_t attr_of(const char *by)
{
    scim_error_t err = {0};
    scim_sort_t *s = scim_sort_parse(by, NULL, &err);
    if (s == NULL)
        fail_msg("sortBy %s: %s", by, err.detail);
    scim_sort_attr_t a = scim_sort_attr(s);
    scim_sort_free(s);
    return a;
}

/* The sorts a store column answers, by every spelling; the others by keys. */
static void test_sort_attrs(void **state)
{
    scim_error_t err = {0};
    (void)state;
    assert_int_equal(attr_of("id"), SCIM_SORT_ATTR_ID);
    assert_int_equal(attr_of("USERNAME"), SCIM_SORT_ATTR_USER_NAME);
    assert_int_equal(attr_of("urn:ietf:params:scim:schemas:core:2.0:User:userName"), SCIM_SORT_ATTR_USER_NAME);
    assert_int_equal(attr_of("externalId"), SCIM_SORT_ATTR_EXTERNAL_ID);
    assert_int_equal(attr_of("displayName"), SCIM_SORT_ATTR_DISPLAY_NAME);
    assert_int_equal(attr_of("name.familyName"), SCIM_SORT_ATTR_FAMILY_NAME);
    assert_int_equal(attr_of("Name.GivenName"), SCIM_SORT_ATTR_GIVEN_NAME);
    assert_int_equal(attr_of("emails"), SCIM_SORT_ATTR_EMAIL);
    assert_int_equal(attr_of("emails.value"), SCIM_SORT_ATTR_EMAIL);
    assert_int_equal(attr_of("meta.created"), SCIM_SORT_ATTR_CREATED);
    assert_int_equal(attr_of("meta.lastModified"), SCIM_SORT_ATTR_LAST_MODIFIED);
    assert_int_equal(attr_of("emails.type"), SCIM_SORT_ATTR_OTHER);
    assert_int_equal(attr_of("name.formatted"), SCIM_SORT_ATTR_OTHER);
    assert_int_equal(attr_of("title"), SCIM_SORT_ATTR_OTHER);
    assert_int_equal(attr_of("active"), SCIM_SORT_ATTR_OTHER);
    assert_int_equal(attr_of("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), SCIM_SORT_ATTR_OTHER);
    assert_int_equal(scim_sort_attr(NULL), SCIM_SORT_ATTR_OTHER);
    scim_sort_t *s = scim_sort_parse("displayName", "Descending", &err);
    assert_non_null(s);
    assert_true(scim_sort_descending(s));
    scim_sort_free(s);
    assert_false(scim_sort_descending(NULL));
}

/* The values a store keeps beside a user: what scim_sort_key would take, as a borrowed string. */
static void test_sort_values(void **state)
{
    (void)state;
    json_t *u = J("{\"userName\":\"u\",\"displayName\":\"Zoë\",\"name\":{\"familyName\":\"Young\",\"givenName\":\"Zoe\"},"
                  "\"emails\":[{\"value\":\"z@x\"},{\"value\":\"P@x\",\"primary\":true}]}");
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_DISPLAY_NAME), "Zoë");
    assert_ptr_equal(scim_sort_value(u, SCIM_SORT_ATTR_DISPLAY_NAME), json_string_value(json_object_get(u, "displayName")));
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_FAMILY_NAME), "Young");
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_GIVEN_NAME), "Zoe");
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_EMAIL), "P@x");
    assert_null(scim_sort_value(u, SCIM_SORT_ATTR_OTHER));
    json_decref(u);
    /* the first email when none is primary; a primary without a value has none */
    u = J("{\"emails\":[{\"value\":\"a@x\",\"primary\":false},{\"value\":\"b@x\"}]}");
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_EMAIL), "a@x");
    assert_null(scim_sort_value(u, SCIM_SORT_ATTR_DISPLAY_NAME));
    assert_null(scim_sort_value(u, SCIM_SORT_ATTR_FAMILY_NAME));
    json_decref(u);
    u = J("{\"emails\":[{\"value\":\"a@x\"},{\"type\":\"work\",\"primary\":true}],\"name\":{\"givenName\":\"\"}}");
    assert_null(scim_sort_value(u, SCIM_SORT_ATTR_EMAIL));
    assert_string_equal(scim_sort_value(u, SCIM_SORT_ATTR_GIVEN_NAME), ""); /* empty is a value: it sorts first */
    json_decref(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sort_attrs),
        cmocka_unit_test(test_sort_values),
        cmocka_unit_test(test_okta_paging),
        cmocka_unit_test(test_names_case_insensitive_others_ignored),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_filter_decoding),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_empty),
        cmocka_unit_test(test_sort_keys),
        cmocka_unit_test(test_sort_ties_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
