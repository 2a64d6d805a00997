/*
 * scim/filter.c and scim/parse.c: the RFC 7644 §3.4.2.2 grammar, matching semantics, IdP query shapes and bounds.
 */
#include "scim_test.h"

#include "scim/filter.h"
#include "scim/user.h"

#define ENT "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static const char RESOURCE[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\",\"" ENT "\"],"
    "\"id\":\"2819c223-7f76-453a-919d-413861904646\",\"externalId\":\"ExtID-1\","
    "\"userName\":\"Alice.Smith@Example.com\",\"name\":{\"familyName\":\"Employee\",\"givenName\":\"Ollie\"},"
    "\"displayName\":\"Ollie Employee\",\"title\":\"Engineer\",\"active\":true,"
    "\"emails\":[{\"value\":\"alice@corp.example\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"alice@home.example\",\"type\":\"home\"}],"
    "\"roles\":[{\"value\":\"admin\"}],"
    "\"" ENT "\":{\"department\":\"R&D\",\"employeeNumber\":\"12345\",\"manager\":{\"value\":\"m-1\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"created\":\"2026-11-27T10:00:00.000Z\","
    "\"lastModified\":\"2026-11-27T12:00:00.000Z\","
    "\"location\":\"https://scim.example.com/Users/2819c223-7f76-453a-919d-413861904646\",\"version\":\"W/\\\"1\\\"\"}}";

static json_t *resource;

static int setup(void **state)
{
    (void)state;
    resource = J(RESOURCE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(resource);
    return 0;
}

static int matches_on(const char *text, const json_t *r)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    int m;
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    m = scim_filter_match(f, r);
    scim_filter_free(f);
    return m;
}

static int matches(const char *text)
{
    return matches_on(text, resource);
}

#define MATCH(t)    assert_true(matches(t))
#define NO_MATCH(t) assert_false(matches(t))

static void bad_n(const char *text, size_t len)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse(text, len, &err);
    if (f != NULL) {
        scim_filter_free(f);
        fail_msg("[%.*s] should not parse", (int)len, text);
    }
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_FILTER);
    /* Every parse error says where. */
    assert_non_null(strstr(err.detail, "position "));
}

static void bad(const char *text)
{
    bad_n(text, strlen(text));
}

static void test_eq_ne(void **state)
{
    (void)state;
    MATCH("userName eq \"Alice.Smith@Example.com\"");
    MATCH("userName eq \"alice.smith@example.com\""); /* caseExact false */
    NO_MATCH("userName eq \"alice\"");
    MATCH("userName ne \"bob@example.com\"");
    NO_MATCH("userName ne \"ALICE.SMITH@EXAMPLE.COM\"");
    MATCH("nickName ne \"x\""); /* absent: no value equals */
}

static void test_substring_ops(void **state)
{
    (void)state;
    MATCH("userName co \"smith\"");
    NO_MATCH("userName co \"jones\"");
    MATCH("userName sw \"ALICE\"");
    NO_MATCH("userName sw \"smith\"");
    MATCH("userName ew \"example.COM\"");
    NO_MATCH("userName ew \"example\"");
    MATCH("title co \"\"");
}

/* co/sw/ew against a caseExact attribute (externalId) and one that is not (displayName), by the substring matcher's edges. */
static void test_substring_edges(void **state)
{
    json_t *r = J("{\"externalId\":\"Hello World\",\"displayName\":\"Hello World\",\"title\":\"CAF\xc3\x89\","
                  "\"emails\":[{\"value\":\"bob@CORP.example\"}]}");
    (void)state;
    /* case-insensitive: ASCII letters fold, at the start, inside, at the end */
    assert_true(matches_on("displayName co \"hello\"", r));
    assert_true(matches_on("displayName co \"LO wO\"", r));
    assert_true(matches_on("displayName co \"WORLD\"", r));
    assert_true(matches_on("displayName co \"d\"", r));
    assert_false(matches_on("displayName co \"worlds\"", r));
    assert_true(matches_on("displayName sw \"HELLO W\"", r));
    assert_false(matches_on("displayName sw \"ello\"", r));
    assert_true(matches_on("displayName ew \"O WORLD\"", r));
    assert_false(matches_on("displayName ew \"worl\"", r));
    /* case-exact: the same needles only in their own case */
    assert_true(matches_on("externalId co \"lo Wo\"", r));
    assert_false(matches_on("externalId co \"LO wO\"", r));
    assert_true(matches_on("externalId co \"World\"", r));
    assert_false(matches_on("externalId co \"world\"", r));
    assert_true(matches_on("externalId sw \"Hell\"", r));
    assert_false(matches_on("externalId sw \"hell\"", r));
    assert_true(matches_on("externalId ew \"rld\"", r));
    assert_false(matches_on("externalId ew \"RLD\"", r));
    /* the empty needle is in every string */
    assert_true(matches_on("displayName co \"\"", r));
    assert_true(matches_on("externalId co \"\"", r));
    assert_true(matches_on("displayName sw \"\" and displayName ew \"\"", r));
    assert_true(matches_on("externalId sw \"\" and externalId ew \"\"", r));
    /* the whole string matches; one byte more (before or after) does not */
    assert_true(matches_on("externalId co \"Hello World\" and externalId sw \"Hello World\" and externalId ew \"Hello World\"", r));
    assert_true(
        matches_on("displayName co \"hello world\" and displayName sw \"HELLO WORLD\" and displayName ew \"hello world\"", r));
    assert_false(
        matches_on("externalId co \"Hello World!\" or externalId sw \"Hello World!\" or externalId ew \"!Hello World\"", r));
    assert_false(
        matches_on("displayName co \"hello world!\" or displayName sw \"hello world!\" or displayName ew \"!hello world\"", r));
    /* only ASCII letters fold: U+00C9 and U+00E9 stay different */
    assert_true(matches_on("title co \"caf\xc3\x89\"", r));
    assert_false(matches_on("title co \"caf\xc3\xa9\"", r));
    assert_false(matches_on("title ew \"\xc3\xa9\"", r));
    /* the same matcher in a value path */
    assert_true(matches_on("emails[value co \"corp\"]", r));
    assert_true(matches_on("emails[value ew \"@corp.EXAMPLE\"]", r));
    assert_false(matches_on("emails[value co \"corp.examples\"]", r));
    json_decref(r);
}

/* Long strings (beyond the matcher's stack buffer), and the periodic needles a naive search is slowest on. */
static void test_substring_long(void **state)
{
    char *hay = malloc(3001), *filter = malloc(3100), *needle = malloc(1001);
    json_t *r;
    (void)state;
    memset(hay, 'a', 2999);
    hay[2999] = 'B';
    hay[3000] = '\0';
    r = json_pack("{s:s, s:s}", "displayName", hay, "externalId", hay);
    memset(needle, 'A', 999);
    needle[999] = 'b';
    needle[1000] = '\0';
    snprintf(filter, 3100, "displayName co \"%s\"", needle);
    assert_true(matches_on(filter, r));
    snprintf(filter, 3100, "displayName ew \"%s\"", needle);
    assert_true(matches_on(filter, r));
    snprintf(filter, 3100, "displayName sw \"%s\"", needle);
    assert_false(matches_on(filter, r));
    snprintf(filter, 3100, "externalId co \"%s\"", needle);
    assert_false(matches_on(filter, r));
    memset(needle, 'a', 999);
    needle[999] = 'B';
    snprintf(filter, 3100, "externalId co \"%s\"", needle);
    assert_true(matches_on(filter, r));
    snprintf(filter, 3100, "externalId sw \"%.999s\" and externalId ew \"%s\"", needle, needle);
    assert_true(matches_on(filter, r));
    needle[999] = 'C';
    snprintf(filter, 3100, "externalId co \"%s\" or displayName co \"%s\"", needle, needle);
    assert_false(matches_on(filter, r));
    json_decref(r);
    free(hay);
    free(filter);
    free(needle);
}

static void test_ordering_ops(void **state)
{
    (void)state;
    MATCH("title gt \"Emperor\"");
    NO_MATCH("title gt \"engineer\"");
    MATCH("title ge \"engineer\"");
    MATCH("title lt \"Fisher\"");
    NO_MATCH("title lt \"ENGINEER\"");
    MATCH("title le \"ENGINEER\"");
    /* RFC 3339 UTC timestamps order lexicographically. */
    MATCH("meta.lastModified gt \"2026-11-27T11:00:00Z\"");
    NO_MATCH("meta.lastModified gt \"2026-11-27T12:00:00.001Z\"");
    MATCH("meta.created lt \"2027-01-01T00:00:00Z\" and meta.created ge \"2026-11-27T10:00:00.000Z\"");
}

static void test_numbers(void **state)
{
    json_t *r = J("{\"n\":5,\"x\":2.5,\"s\":\"12345\"}");
    (void)state;
    assert_true(matches_on("n eq 5", r));
    assert_true(matches_on("n gt 4", r));
    assert_false(matches_on("n gt 5", r));
    assert_true(matches_on("n le 5.0", r));
    assert_true(matches_on("x lt 3", r));
    assert_true(matches_on("x ge -1e3", r));
    assert_false(matches_on("n eq \"5\"", r));
    /* A number literal still compares with a string attribute by its text. */
    assert_true(matches_on("s eq 12345", r));
    json_decref(r);
    MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq 12345");
}

static void test_booleans_and_null(void **state)
{
    (void)state;
    MATCH("active eq true");
    NO_MATCH("active eq false");
    MATCH("active ne false");
    MATCH("active eq \"True\"");
    MATCH("emails[primary eq true].value eq \"alice@corp.example\"");
    MATCH("nickName eq null");
    NO_MATCH("title eq null");
    MATCH("title ne null");
    bad("active gt true");
    bad("active co false");
    bad("title sw null");
}

static void test_present(void **state)
{
    (void)state;
    MATCH("title pr");
    MATCH("emails pr");
    MATCH("name pr");
    MATCH("name.givenName pr");
    MATCH("emails.type pr");
    NO_MATCH("nickName pr");
    NO_MATCH("name.middleName pr");
    NO_MATCH("phoneNumbers pr");
    MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr");
}

static void test_logic_precedence(void **state)
{
    (void)state;
    /* `and` binds tighter: true or (false and false) = true; (true or false) and false would be false. */
    MATCH("title pr or nickName pr and userName eq \"nobody\"");
    NO_MATCH("(title pr or nickName pr) and userName eq \"nobody\"");
    NO_MATCH("userName eq \"nobody\" and title pr or nickName pr");
    MATCH("userName eq \"nobody\" or title pr and displayName pr");
    MATCH("title pr and displayName pr and userName pr");
    NO_MATCH("title pr and displayName pr and nickName pr");
}

static void test_not_and_parens(void **state)
{
    (void)state;
    MATCH("not (userName eq \"bob\")");
    NO_MATCH("not (userName co \"alice\")");
    MATCH("not(title eq \"x\") and (userName sw \"a\" or title eq \"x\")");
    MATCH("((((title pr))))");
    MATCH("not (not (title pr))");
    MATCH("title pr and not (emails[type eq \"other\"])");
}

static void test_keywords_case_insensitive(void **state)
{
    (void)state;
    MATCH("USERNAME EQ \"alice.smith@example.com\" AND Title PR");
    MATCH("title Eq \"x\" Or NOT (title eq \"x\")");
    MATCH("userName eq \"x\" or title eq TRUE or title pr");
}

static void test_value_paths(void **state)
{
    (void)state;
    MATCH("emails[type eq \"work\" and value co \"@corp\"]");
    NO_MATCH("emails[type eq \"home\" and value co \"@corp\"]");
    MATCH("emails[TYPE eq \"WORK\"]");
    MATCH("emails[not (type eq \"work\")]");
    NO_MATCH("phoneNumbers[type eq \"work\"]");
    MATCH("emails[value ew \"home.example\" or primary eq true] and title pr");
    MATCH("roles[value eq \"ADMIN\"]");
}

static void test_value_path_with_sub_attribute(void **state)
{
    (void)state;
    /* Entra's matching query. */
    MATCH("emails[type eq \"work\"].value eq \"alice@corp.example\"");
    MATCH("emails[type eq \"work\"].value eq \"ALICE@corp.example\"");
    NO_MATCH("emails[type eq \"work\"].value eq \"alice@home.example\"");
    MATCH("emails[type eq \"home\"].value eq \"alice@home.example\"");
    MATCH("emails[type eq \"work\"].primary eq true");
    MATCH("emails[type eq \"work\"].value pr");
    MATCH("emails[type eq \"work\"].value eq \"alice@corp.example\" and userName pr");
}

static void test_sub_attributes(void **state)
{
    (void)state;
    MATCH("name.familyName eq \"employee\"");
    MATCH("NAME.FAMILYNAME eq \"Employee\"");
    NO_MATCH("name.familyName eq \"Ollie\"");
    /* Multi-valued: any element. */
    MATCH("emails.value eq \"alice@home.example\"");
    MATCH("emails.type eq \"work\"");
    NO_MATCH("emails.value eq \"bob@corp.example\"");
    MATCH("emails co \"home.example\""); /* a complex value compares by its "value" */
    MATCH("meta.resourceType eq \"user\"");
}

static void test_urn_paths(void **state)
{
    (void)state;
    MATCH("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"alice.smith@example.com\"");
    MATCH("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.givenName eq \"ollie\"");
    MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"r&d\"");
    MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m-1\"");
    MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"m-1\"");
    NO_MATCH("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\"");
    NO_MATCH("department eq \"R&D\""); /* unqualified: a core attribute, which does not exist */
    MATCH("manager eq \"m-1\"");       /* the one exception: Entra sends it unqualified */
    NO_MATCH("urn:example:custom:1.0:User:department eq \"R&D\"");
    bad("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User eq \"x\"");
}

static void test_bare_words(void **state)
{
    (void)state;
    MATCH("userName sw A");
    MATCH("userName sw O or userName sw a");
    MATCH("name.familyName eq Employee");
    MATCH("(name.familyName eq Employee)");
    MATCH("userName eq Alice.Smith@Example.com");
    NO_MATCH("userName sw O");
    MATCH("title eq and or title pr"); /* "and" in value position is a word */
}

static void test_case_exact(void **state)
{
    (void)state;
    MATCH("externalId eq \"ExtID-1\"");
    NO_MATCH("externalId eq \"extid-1\"");
    NO_MATCH("externalId sw \"ext\"");
    MATCH("externalId sw \"Ext\"");
    MATCH("id eq \"2819c223-7f76-453a-919d-413861904646\"");
    NO_MATCH("id eq \"2819C223-7F76-453A-919D-413861904646\"");
    MATCH("meta.location co \"/Users/\"");
    NO_MATCH("meta.location co \"/USERS/\"");
    MATCH("emails.value eq \"ALICE@CORP.EXAMPLE\"");
    MATCH("unknownAttr eq \"x\" or schemas eq \"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER\"");
}

static void test_string_escapes(void **state)
{
    json_t *r = J("{\"userName\":\"a\\\"b\\\\c\",\"title\":\"caf\\u00e9\"}");
    (void)state;
    assert_true(matches_on("userName eq \"a\\\"b\\\\c\"", r));
    assert_true(matches_on("userName eq \"\\u0061\\\"b\\\\c\"", r));
    assert_true(matches_on("title eq \"caf\xc3\xa9\"", r));
    assert_true(matches_on("title eq caf\xc3\xa9", r));
    assert_true(matches_on("userName eq \"a\\\"b\\\\c\" and title pr", r));
    json_decref(r);
    bad("userName eq \"a\\qb\"");
    bad("userName eq \"\\u00\"");
    bad("userName eq caf\xc3");
}

static void test_random_guid_lookup(void **state)
{
    const char *v = NULL;
    scim_error_t err = {0};
    const char *text = "userName eq \"3b9a1c2e-5d4f-4e6a-8b7c-9d0e1f2a3b4c\"";
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    (void)state;
    assert_non_null(f);
    assert_false(scim_filter_match(f, resource));
    assert_int_equal(scim_filter_index_hint(f, &v), SCIM_FILTER_INDEX_USERNAME);
    assert_string_equal(v, "3b9a1c2e-5d4f-4e6a-8b7c-9d0e1f2a3b4c");
    scim_filter_free(f);
    /* Bare GUIDs that start with digits are words, not numbers. */
    MATCH("userName ne 3b9a1c2e-5d4f-4e6a-8b7c-9d0e1f2a3b4c");
}

static void test_not_nul_terminated(void **state)
{
    scim_error_t err = {0};
    const char text[] = "title pr GARBAGE";
    scim_filter_t *f = scim_filter_parse(text, 8, &err);
    (void)state;
    assert_non_null(f);
    assert_true(scim_filter_match(f, resource));
    scim_filter_free(f);
}

static void test_bad_filters(void **state)
{
    scim_error_t err = {0};
    scim_filter_t *f;
    (void)state;
    bad("");
    bad("   ");
    bad("userName");
    bad("userName eq");
    bad("userName xx \"a\"");
    bad("userName eq \"a\" title pr");
    bad("(userName eq \"a\"");
    bad("userName eq \"a\")");
    bad("userName eq \"abc");
    bad("emails[type eq \"work\"");
    bad("emails[type eq \"work\"]]");
    bad("emails[type eq \"work\"] eq \"x\"");
    bad("emails[type[value eq 1] pr]");
    bad("emails.value[type eq \"work\"]");
    bad("emails[value.x eq 1]");
    bad("not userName eq \"a\"");
    bad("not (userName eq \"a\"");
    bad("userName eq \"a\" and");
    bad("or userName eq \"a\"");
    bad("1userName eq \"a\"");
    bad("name.givenName.x eq \"a\"");
    bad("userName eq ()");
    bad("userName eq \"a\" \x01");
    bad_n("userName eq \"a\0\"", 16);
    bad("emails[type eq \"work\"].1bad pr");
    bad("emails[type eq \"work\"] .value pr");
    /* The detail says where. */
    f = scim_filter_parse("userName zz \"a\"", 15, &err);
    assert_null(f);
    assert_non_null(strstr(err.detail, "position 10"));
}

static void test_length_bound(void **state)
{
    size_t n = SCIM_FILTER_MAX_LEN + 1;
    char *text = malloc(n + 1);
    scim_error_t err = {0};
    scim_filter_t *f;
    (void)state;
    memset(text, ' ', n);
    memcpy(text, "title pr", 8);
    text[n] = '\0';
    bad_n(text, n);
    f = scim_filter_parse(text, n - 1, &err); /* exactly at the limit: fine */
    assert_non_null(f);
    scim_filter_free(f);
    free(text);
}

static char *nested(int depth, const char *open, const char *core, const char *close)
{
    size_t n = (size_t)depth * (strlen(open) + strlen(close)) + strlen(core) + 1;
    char *s = malloc(n);
    int i;
    s[0] = '\0';
    for (i = 0; i < depth; i++)
        strcat(s, open);
    strcat(s, core);
    for (i = 0; i < depth; i++)
        strcat(s, close);
    return s;
}

static void test_depth_bound(void **state)
{
    scim_error_t err = {0};
    char *ok = nested(SCIM_FILTER_MAX_DEPTH, "(", "title pr", ")");
    char *deep = nested(SCIM_FILTER_MAX_DEPTH + 1, "(", "title pr", ")");
    char *deep_not = nested(SCIM_FILTER_MAX_DEPTH + 1, "not (", "title pr", ")");
    char *very_deep = nested(2000, "(", "", "");
    scim_filter_t *f = scim_filter_parse(ok, strlen(ok), &err);
    (void)state;
    assert_non_null(f);
    assert_true(scim_filter_match(f, resource));
    scim_filter_free(f);
    bad(deep);
    bad(deep_not);
    bad(very_deep);
    f = scim_filter_parse(deep, strlen(deep), &err);
    assert_non_null(strstr(err.detail, "deep"));
    free(ok);
    free(deep);
    free(deep_not);
    free(very_deep);
}

static void test_long_chain(void **state)
{
    /* A long flat and-chain is no nesting: it parses and evaluates. */
    char *text = malloc(SCIM_FILTER_MAX_LEN + 1);
    scim_error_t err = {0};
    scim_filter_t *f;
    (void)state;
    strcpy(text, "title pr");
    while (strlen(text) + 13 < SCIM_FILTER_MAX_LEN)
        strcat(text, " and title pr");
    f = scim_filter_parse(text, strlen(text), &err);
    assert_non_null(f);
    assert_true(scim_filter_match(f, resource));
    scim_filter_free(f);
    free(text);
}

static void hint_is(const char *text, scim_filter_index_t want, const char *want_value)
{
    scim_error_t err = {0};
    const char *v = "unset";
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    assert_int_equal(scim_filter_index_hint(f, &v), want);
    if (want_value == NULL)
        assert_null(v);
    else
        assert_string_equal(v, want_value);
    scim_filter_free(f);
}

static void test_index_hints(void **state)
{
    (void)state;
    hint_is("userName eq \"Alice@X.com\"", SCIM_FILTER_INDEX_USERNAME, "Alice@X.com");
    hint_is("USERNAME EQ bob", SCIM_FILTER_INDEX_USERNAME, "bob");
    hint_is("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"u\"", SCIM_FILTER_INDEX_USERNAME, "u");
    hint_is("externalId eq \"E-1\"", SCIM_FILTER_INDEX_EXTERNAL_ID, "E-1");
    hint_is("id eq \"2819c223\"", SCIM_FILTER_INDEX_ID, "2819c223");
    hint_is("emails.value eq \"a@b.co\"", SCIM_FILTER_INDEX_EMAIL, "a@b.co");
    hint_is("emails[type eq \"work\"].value eq \"a@b.co\"", SCIM_FILTER_INDEX_EMAIL, "a@b.co");
    hint_is("emails[value eq \"a@b.co\"]", SCIM_FILTER_INDEX_EMAIL, "a@b.co");
    hint_is("emails[type eq \"work\" and value eq \"a@b.co\"]", SCIM_FILTER_INDEX_EMAIL, "a@b.co");
    hint_is("userName eq \"u\" and externalId eq \"e\"", SCIM_FILTER_INDEX_USERNAME, "u");
    hint_is("title pr and externalId eq \"e\"", SCIM_FILTER_INDEX_EXTERNAL_ID, "e");
    hint_is("userName eq \"u\" or externalId eq \"e\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("not (userName eq \"u\")", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("userName ne \"u\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("userName sw \"u\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("displayName eq \"u\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("emails[type eq \"work\"]", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("emails[type eq \"work\" or value eq \"a@b.co\"]", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("emails.type eq \"work\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("userName eq null", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("name.userName eq \"x\"", SCIM_FILTER_INDEX_NONE, NULL);
    hint_is("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq \"x\"", SCIM_FILTER_INDEX_NONE, NULL);
}

static void exact_is(const char *text, int want)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    if (scim_filter_index_exact(f) != want)
        fail_msg("scim_filter_index_exact([%s]) != %d", text, want);
    /* exact implies an index the store can answer from */
    if (want)
        assert_int_not_equal(scim_filter_index_hint(f, NULL), SCIM_FILTER_INDEX_NONE);
    scim_filter_free(f);
}

static void test_index_exact(void **state)
{
    (void)state;
    /* the index returns precisely the matches */
    exact_is("userName eq \"x\"", 1);
    exact_is("USERNAME EQ \"x\"", 1);
    exact_is("username eq Bob", 1);
    exact_is("userName eq 123", 1);
    exact_is("urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"u\"", 1);
    exact_is("(userName eq \"x\")", 1);
    exact_is("id eq \"2819c223\"", 1);
    exact_is("externalId eq \"E-1\"", 1);
    exact_is("EXTERNALID eq \"E-1\"", 1);
    /* the filter says more than the index, or something else */
    exact_is("userName eq \"x\" and active eq true", 0);
    exact_is("active eq true and userName eq \"x\"", 0);
    exact_is("userName eq \"x\" or userName eq \"y\"", 0);
    exact_is("not (userName eq \"x\")", 0);
    exact_is("emails.value eq \"a@b.co\"", 0);
    exact_is("emails[value eq \"a@b.co\"]", 0);
    exact_is("userName co \"x\"", 0);
    exact_is("userName sw \"x\"", 0);
    exact_is("userName ne \"x\"", 0);
    exact_is("userName pr", 0);
    exact_is("userName eq null", 0);
    exact_is("userName eq true", 0);
    exact_is("name.givenName eq \"x\"", 0);
    exact_is("displayName eq \"x\"", 0);
    exact_is("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq \"x\"", 0);
    exact_is("urn:example:other:1.0:User:userName eq \"x\"", 0);
    assert_int_equal(scim_filter_index_exact(NULL), 0);
}

/* ---- narrowing by columns ---- */

static const char *const col_names[] = {"id",         "userName",  "externalId", "displayName",
                                        "familyName", "givenName", "active",     "email"};
static const char *const op_names[] = {"and", "or", "eq", "gt", "ge", "lt", "le", "sw", "ew", "co", "pr"};

/* A condition as text: (l and r), col op "value"/i (i: folded), col pr, active eq 1. */
static void cond_text(const scim_filter_cond_t *c, char *buf, size_t len)
{
    if (c == NULL) {
        snprintf(buf + strlen(buf), len - strlen(buf), "-");
    } else if (c->op == SCIM_FILTER_COND_AND || c->op == SCIM_FILTER_COND_OR) {
        snprintf(buf + strlen(buf), len - strlen(buf), "(");
        cond_text(c->left, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), " %s ", op_names[c->op]);
        cond_text(c->right, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), ")");
    } else if (c->col == SCIM_FILTER_COL_ACTIVE) {
        snprintf(buf + strlen(buf), len - strlen(buf), "active eq %d", c->active);
    } else if (c->op == SCIM_FILTER_COND_PR) {
        snprintf(buf + strlen(buf), len - strlen(buf), "%s pr", col_names[c->col]);
    } else {
        snprintf(buf + strlen(buf), len - strlen(buf), "%s %s \"%s\"%s", col_names[c->col], op_names[c->op], c->value,
                 c->fold ? "/i" : "");
    }
}

static void narrows_to(const char *text, const char *want)
{
    scim_error_t err = {0};
    char got[512] = "";
    scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    scim_filter_cond_t *c = scim_filter_narrow(f);
    cond_text(c, got, sizeof(got));
    scim_filter_cond_free(c);
    scim_filter_free(f);
    if (strcmp(got, want) != 0)
        fail_msg("[%s] narrows to\n got %s\nwant %s", text, got, want);
}

static void test_narrow_shapes(void **state)
{
    (void)state;
    narrows_to("displayName co \"ab%_\"", "displayName co \"ab%_\"/i");
    narrows_to("userName sw \"A\"", "userName sw \"A\"/i");
    narrows_to("externalId ew \"x\"", "externalId ew \"x\"");
    narrows_to("id gt \"a\" and id le \"b\"", "(id gt \"a\" and id le \"b\")");
    narrows_to("name.familyName ge \"K\" or name.givenName lt \"K\"", "(familyName ge \"K\"/i or givenName lt \"K\"/i)");
    narrows_to("displayName eq 12", "displayName eq \"12\"/i");
    narrows_to("displayName pr", "displayName pr");
    narrows_to("active eq true", "active eq 1");
    narrows_to("active eq \"False\"", "active eq 0");
    narrows_to("emails co \"@corp\"", "email co \"@corp\"/i");
    narrows_to("emails.value eq \"a@b\"", "email eq \"a@b\"/i");
    narrows_to("emails.value pr", "email pr");
    narrows_to("emails[type eq \"work\" and value sw \"a\"]", "email sw \"a\"/i");
    narrows_to("emails[type eq \"work\"].value ew \"@x\"", "email ew \"@x\"/i");
    narrows_to("emails[value co \"a\" or value co \"b\"]", "(email co \"a\"/i or email co \"b\"/i)");
    narrows_to("urn:ietf:params:scim:schemas:core:2.0:User:displayName sw \"x\"", "displayName sw \"x\"/i");
    /* an unknown part leaves its side of an `and` out, and a whole `or` */
    narrows_to("title eq \"x\" and displayName co \"y\"", "displayName co \"y\"/i");
    narrows_to("title eq \"x\" or displayName co \"y\"", "-");
    /* nothing said about a column's value */
    narrows_to("not (displayName co \"y\")", "-");
    narrows_to("displayName ne \"y\"", "-");
    narrows_to("displayName eq null", "-");
    narrows_to("emails pr", "-");
    narrows_to("emails[type eq \"work\"]", "-");
    narrows_to("emails.type eq \"work\"", "-");
    narrows_to("name co \"x\"", "-");
    narrows_to("displayName.x eq \"y\"", "-");
    narrows_to("meta.created gt \"2026-01-01T00:00:00Z\"", "-");
    narrows_to("active eq \"yes\"", "-");
    narrows_to("active pr", "-");
    narrows_to("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\"", "-");
    assert_null(scim_filter_narrow(NULL));
}

/* The column values of a rendered user, as the store keeps them. */
static const char *col_value(const json_t *r, scim_filter_col_t col)
{
    switch (col) {
    case SCIM_FILTER_COL_ID:
        return json_string_value(json_object_get(r, "id"));
    case SCIM_FILTER_COL_USER_NAME:
        return json_string_value(json_object_get(r, "userName"));
    case SCIM_FILTER_COL_EXTERNAL_ID:
        return json_string_value(json_object_get(r, "externalId"));
    case SCIM_FILTER_COL_DISPLAY_NAME:
        return json_string_value(json_object_get(r, "displayName"));
    case SCIM_FILTER_COL_FAMILY_NAME:
        return json_string_value(json_object_get(json_object_get(r, "name"), "familyName"));
    case SCIM_FILTER_COL_GIVEN_NAME:
        return json_string_value(json_object_get(json_object_get(r, "name"), "givenName"));
    default:
        return NULL;
    }
}

/* filter.h's definition of comparing strings: unsigned bytes, ASCII letters folded or not, a proper prefix first. */
static int fold_cmp(const char *a, size_t an, const char *b, size_t bn, int fold)
{
    for (size_t i = 0; i < an && i < bn; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (fold && x >= 'A' && x <= 'Z')
            x += 32;
        if (fold && y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return x < y ? -1 : 1;
    }
    return an == bn ? 0 : an < bn ? -1 : 1;
}

static int cond_test(const char *v, const scim_filter_cond_t *c)
{
    if (v == NULL)
        return 0;
    size_t vl = strlen(v), nl = c->value != NULL ? strlen(c->value) : 0;
    switch (c->op) {
    case SCIM_FILTER_COND_PR:
        return vl > 0;
    case SCIM_FILTER_COND_EQ:
        return fold_cmp(v, vl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_GT:
        return fold_cmp(v, vl, c->value, nl, c->fold) > 0;
    case SCIM_FILTER_COND_GE:
        return fold_cmp(v, vl, c->value, nl, c->fold) >= 0;
    case SCIM_FILTER_COND_LT:
        return fold_cmp(v, vl, c->value, nl, c->fold) < 0;
    case SCIM_FILTER_COND_LE:
        return fold_cmp(v, vl, c->value, nl, c->fold) <= 0;
    case SCIM_FILTER_COND_SW:
        return nl <= vl && fold_cmp(v, nl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_EW:
        return nl <= vl && fold_cmp(v + vl - nl, nl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_CO:
        for (size_t at = 0; nl <= vl && at <= vl - nl; at++)
            if (fold_cmp(v + at, nl, c->value, nl, c->fold) == 0)
                return 1;
        return 0;
    default:
        fail_msg("operator %d", (int)c->op);
        return 0;
    }
}

static int cond_holds(const scim_filter_cond_t *c, const json_t *r)
{
    size_t i;
    json_t *e;
    switch (c->op) {
    case SCIM_FILTER_COND_AND:
        return cond_holds(c->left, r) && cond_holds(c->right, r);
    case SCIM_FILTER_COND_OR:
        return cond_holds(c->left, r) || cond_holds(c->right, r);
    default:
        break;
    }
    if (c->col == SCIM_FILTER_COL_ACTIVE)
        return json_is_true(json_object_get(r, "active")) == (c->active != 0);
    if (c->col == SCIM_FILTER_COL_EMAIL) {
        json_array_foreach(json_object_get(r, "emails"), i, e)
        {
            if (cond_test(json_string_value(json_object_get(e, "value")), c))
                return 1;
        }
        return 0;
    }
    return cond_test(col_value(r, c->col), c);
}

static const char *const narrow_pieces[] = {"a", "A", "b", "B", "%", "_", "[", "\xc3\xa9", "\xc3\x89", "@", ""};
#define N_NARROW_PIECES (sizeof(narrow_pieces) / sizeof(narrow_pieces[0]))

static unsigned narrow_rng = 7;
static unsigned nrand(unsigned n)
{
    narrow_rng = narrow_rng * 1103515245u + 12345u;
    return (narrow_rng >> 16) % n;
}

/* A JSON string literal of 0..3 random pieces, into buf. */
static void random_literal(char *buf, size_t len)
{
    char raw[64] = "";
    for (unsigned i = nrand(4); i > 0; i--)
        strcat(raw, narrow_pieces[nrand(N_NARROW_PIECES)]);
    json_t *j = json_string(raw);
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    snprintf(buf, len, "%s", q);
    free(q);
    json_decref(j);
}

/* A random filter of at most `depth` levels, appended to buf. */
static void random_filter(char *buf, size_t len, int depth)
{
    static const char *const paths[] = {"userName", "displayName",  "externalId", "id",    "name.familyName", "name.givenName",
                                        "emails",   "emails.value", "active",     "title", "DISPLAYNAME",     "emails.type"};
    static const char *const ops[] = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"};
    char lit[128];
    unsigned k = depth > 0 ? nrand(8) : 7;
    if (k < 2) {
        snprintf(buf + strlen(buf), len - strlen(buf), "(");
        random_filter(buf, len, depth - 1);
        snprintf(buf + strlen(buf), len - strlen(buf), k == 0 ? " and " : " or ");
        random_filter(buf, len, depth - 1);
        snprintf(buf + strlen(buf), len - strlen(buf), ")");
        return;
    }
    if (k == 2) {
        snprintf(buf + strlen(buf), len - strlen(buf), "not (");
        random_filter(buf, len, depth - 1);
        snprintf(buf + strlen(buf), len - strlen(buf), ")");
        return;
    }
    if (k == 3) {
        /* an element filter, sometimes with Entra's sub-attribute after it */
        random_literal(lit, sizeof(lit));
        const char *op = ops[2 + nrand(7)];
        switch (nrand(3)) {
        case 0:
            snprintf(buf + strlen(buf), len - strlen(buf), "emails[value %s %s]", op, lit);
            break;
        case 1:
            snprintf(buf + strlen(buf), len - strlen(buf), "emails[type eq \"work\" %s value %s %s]", nrand(2) ? "and" : "or", op,
                     lit);
            break;
        default:
            snprintf(buf + strlen(buf), len - strlen(buf), "emails[type eq \"work\"].value %s %s", op, lit);
            break;
        }
        return;
    }
    const char *path = paths[nrand(sizeof(paths) / sizeof(paths[0]))];
    const char *op = ops[nrand(sizeof(ops) / sizeof(ops[0]))];
    if (strcmp(op, "pr") == 0) {
        snprintf(buf + strlen(buf), len - strlen(buf), "%s pr", path);
        return;
    }
    switch (nrand(8)) {
    case 0:
        snprintf(lit, sizeof(lit), "%s", nrand(2) ? "true" : "False");
        if (strcmp(op, "eq") != 0 && strcmp(op, "ne") != 0)
            op = "eq";
        break;
    case 1:
        snprintf(lit, sizeof(lit), "null");
        if (strcmp(op, "eq") != 0 && strcmp(op, "ne") != 0)
            op = "ne";
        break;
    case 2:
        snprintf(lit, sizeof(lit), "%u", nrand(20));
        break;
    default:
        random_literal(lit, sizeof(lit));
        break;
    }
    snprintf(buf + strlen(buf), len - strlen(buf), "%s %s %s", path, op, lit);
}

/* A rendered user whose strings come from the same pieces. */
static json_t *random_user(int n)
{
    char text[64];
    json_t *r = json_pack("{s:s, s:s, s:b}", "id", n % 2 ? "Ab%_" : "ab", "userName", "u", "active", (int)nrand(2));
    const char *keys[] = {"userName", "displayName", "externalId", "title"};
    for (size_t i = 0; i < 4; i++) {
        if (nrand(4) == 0)
            continue;
        text[0] = '\0';
        for (unsigned p = nrand(4); p > 0; p--)
            strcat(text, narrow_pieces[nrand(N_NARROW_PIECES)]);
        json_object_set_new(r, keys[i], json_string(text));
    }
    json_t *name = json_object();
    text[0] = '\0';
    for (unsigned p = nrand(3); p > 0; p--)
        strcat(text, narrow_pieces[nrand(N_NARROW_PIECES)]);
    json_object_set_new(name, nrand(2) ? "familyName" : "givenName", json_string(text));
    json_object_set_new(r, "name", name);
    json_t *emails = json_array();
    for (unsigned e = nrand(4); e > 0; e--) {
        text[0] = '\0';
        for (unsigned p = nrand(4); p > 0; p--)
            strcat(text, narrow_pieces[nrand(N_NARROW_PIECES)]);
        json_array_append_new(emails, nrand(5) == 0 ? json_pack("{s:s}", "type", "work")
                                                    : json_pack("{s:s, s:s}", "value", text, "type", nrand(2) ? "work" : "home"));
    }
    json_object_set_new(r, "emails", emails);
    return r;
}

/*
 * The promise that lets the store leave users out: every user the filter matches satisfies its
 * narrowing. Random filters over random users, with strings that mix case, LIKE's wildcards and
 * non-ASCII letters (which the filter does not fold).
 */
static void test_narrow_never_narrower(void **state)
{
    (void)state;
    enum { USERS = 60, FILTERS = 3000 };
    json_t *users[USERS];
    int narrowed = 0, excluded = 0;
    for (int i = 0; i < USERS; i++)
        users[i] = random_user(i);
    for (int round = 0; round < FILTERS; round++) {
        char text[2048] = "";
        random_filter(text, sizeof(text), 3);
        scim_error_t err = {0};
        scim_filter_t *f = scim_filter_parse(text, strlen(text), &err);
        if (f == NULL)
            fail_msg("parse of [%s] failed: %s", text, err.detail);
        scim_filter_cond_t *c = scim_filter_narrow(f);
        narrowed += c != NULL;
        for (int i = 0; i < USERS && c != NULL; i++) {
            int holds = cond_holds(c, users[i]);
            if (scim_filter_match(f, users[i]) && !holds) {
                char *u = json_dumps(users[i], 0), got[1024] = "";
                cond_text(c, got, sizeof(got));
                fail_msg("[%s] matches %s but its narrowing %s does not hold", text, u, got);
            }
            excluded += !holds;
        }
        scim_filter_cond_free(c);
        scim_filter_free(f);
    }
    /* the narrowing did narrow */
    assert_true(narrowed > FILTERS / 4);
    assert_true(excluded > FILTERS * USERS / 10);
    for (int i = 0; i < USERS; i++)
        json_decref(users[i]);
}

static void test_match_rendered_user(void **state)
{
    /* End to end with what scim_user_render produces: the shape the gateway matches against. */
    scim_error_t err = {0};
    json_t *body = J(
        "{\"userName\":\"ann@corp.example\",\"externalId\":\"X\",\"emails\":[{\"value\":\"ann@corp.example\",\"type\":\"work\"}]}");
    json_t *u = scim_user_parse(body, &err);
    scim_user_meta_t meta = {"id-1", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z", "https://h/Users/id-1", 1};
    json_t *r = scim_user_render(u, &meta);
    (void)state;
    assert_true(matches_on("active eq true and emails[type eq \"work\"].value eq \"Ann@Corp.Example\"", r));
    assert_true(matches_on("meta.resourceType eq \"User\" and id eq \"id-1\"", r));
    assert_false(matches_on("externalId eq \"x\"", r));
    json_decref(r);
    json_decref(u);
    json_decref(body);
}

/* A rendered user parsed from `body` (as POST would store it) with id `id`. */
static json_t *rendered(const char *body_text, const char *id)
{
    scim_error_t err = {0};
    json_t *body = J(body_text);
    json_t *u = scim_user_parse(body, &err);
    scim_user_meta_t meta = {id, "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z", "https://h/Users/x", 1};
    json_t *r;

    assert_non_null(u);
    r = scim_user_render(u, &meta);
    json_decref(u);
    json_decref(body);
    return r;
}

static void test_manager(void **state)
{
    /* Entra sends the manager as a bare string and checks it with `id eq "…" and manager eq "…"`:
     * the complex manager compared without a sub-attribute compares its value. */
    json_t *with = rendered("{\"userName\":\"ann@corp.example\",\"" ENT "\":{\"manager\":\"Mgr-9\"}}", "id-1");
    json_t *without = rendered("{\"userName\":\"bob@corp.example\",\"" ENT "\":{\"department\":\"Ops\"}}", "id-2");
    json_t *bare = rendered("{\"userName\":\"cat@corp.example\"}", "id-3");
    (void)state;

    assert_true(matches_on("id eq \"id-1\" and manager eq \"Mgr-9\"", with));
    assert_true(matches_on("id eq \"id-1\" and " ENT ":manager eq \"Mgr-9\"", with));
    assert_true(matches_on("manager eq \"Mgr-9\"", with));
    assert_true(matches_on("MANAGER eq \"mgr-9\"", with)); /* manager.value is not caseExact */
    assert_true(matches_on(ENT ":manager eq \"Mgr-9\"", with));
    assert_true(matches_on("manager.value eq \"Mgr-9\"", with));
    assert_true(matches_on("manager sw \"mgr\"", with));
    assert_false(matches_on("manager eq \"Mgr-8\"", with));
    assert_false(matches_on("id eq \"id-1\" and manager eq \"Mgr-8\"", with));
    assert_false(matches_on("id eq \"id-2\" and manager eq \"Mgr-9\"", with));
    assert_true(matches_on("manager ne \"Mgr-8\"", with));
    assert_false(matches_on("manager ne \"MGR-9\"", with));
    assert_false(matches_on(ENT ":manager ne \"Mgr-9\"", with));
    assert_true(matches_on("manager pr", with));
    assert_true(matches_on(ENT ":manager pr", with));
    assert_false(matches_on("manager eq null", with));
    /* An explicit core URN means the core schema, which has no manager. */
    assert_false(matches_on("urn:ietf:params:scim:schemas:core:2.0:User:manager eq \"Mgr-9\"", with));

    /* No manager: nothing equals, so ne matches and pr does not, with or without an extension. */
    for (int i = 0; i < 2; i++) {
        const json_t *r = i == 0 ? without : bare;
        assert_false(matches_on("manager eq \"Mgr-9\"", r));
        assert_false(matches_on(ENT ":manager eq \"Mgr-9\"", r));
        assert_false(matches_on("id eq \"id-2\" and manager eq \"Mgr-9\"", r));
        assert_true(matches_on("manager ne \"Mgr-9\"", r));
        assert_true(matches_on(ENT ":manager ne \"Mgr-9\"", r));
        assert_false(matches_on("manager pr", r));
        assert_false(matches_on(ENT ":manager pr", r));
        assert_true(matches_on("manager eq null", r));
    }

    /* The id still narrows the store lookup; the manager test runs on the candidate. */
    hint_is("id eq \"id-1\" and manager eq \"Mgr-9\"", SCIM_FILTER_INDEX_ID, "id-1");
    exact_is("id eq \"id-1\" and manager eq \"Mgr-9\"", 0);
    hint_is("manager eq \"Mgr-9\"", SCIM_FILTER_INDEX_NONE, NULL);
    exact_is("manager eq \"Mgr-9\"", 0);

    json_decref(with);
    json_decref(without);
    json_decref(bare);
}

static void test_null_arguments(void **state)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse("title pr", 8, &err);
    (void)state;
    assert_null(scim_filter_parse(NULL, 0, &err));
    assert_false(scim_filter_match(f, NULL));
    assert_false(scim_filter_match(NULL, resource));
    assert_int_equal(scim_filter_index_hint(NULL, NULL), SCIM_FILTER_INDEX_NONE);
    scim_filter_free(f);
    scim_filter_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_ne),
        cmocka_unit_test(test_substring_ops),
        cmocka_unit_test(test_substring_edges),
        cmocka_unit_test(test_substring_long),
        cmocka_unit_test(test_ordering_ops),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_booleans_and_null),
        cmocka_unit_test(test_present),
        cmocka_unit_test(test_logic_precedence),
        cmocka_unit_test(test_not_and_parens),
        cmocka_unit_test(test_keywords_case_insensitive),
        cmocka_unit_test(test_value_paths),
        cmocka_unit_test(test_value_path_with_sub_attribute),
        cmocka_unit_test(test_sub_attributes),
        cmocka_unit_test(test_urn_paths),
        cmocka_unit_test(test_bare_words),
        cmocka_unit_test(test_case_exact),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_random_guid_lookup),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_bad_filters),
        cmocka_unit_test(test_length_bound),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_long_chain),
        cmocka_unit_test(test_index_hints),
        cmocka_unit_test(test_index_exact),
        cmocka_unit_test(test_narrow_shapes),
        cmocka_unit_test(test_narrow_never_narrower),
        cmocka_unit_test(test_match_rendered_user),
        cmocka_unit_test(test_manager),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
