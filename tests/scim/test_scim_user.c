/*
 * scim/user.c: canonicalization of what IdPs POST/PUT, rendering, and the Odeus mappings.
 */
#include "scim_test.h"

#include "scim/user.h"

#define ENT "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

/* Parses `body` and asserts the canonical result equals `expected`. */
static void parses_to(const char *body, const char *expected)
{
    scim_error_t err = {0};
    json_t *in = J(body);
    json_t *out = scim_user_parse(in, &err);
    if (out == NULL)
        fail_msg("parse failed: %d %s %s", err.status, err.scim_type, err.detail);
    assert_json_equal(out, expected);
    json_decref(out);
    json_decref(in);
}

static void parse_fails(const char *body, int status, const char *type)
{
    scim_error_t err = {0};
    json_t *in = J(body);
    json_t *out = scim_user_parse(in, &err);
    if (out != NULL) {
        json_decref(out);
        json_decref(in);
        fail_msg("expected %s for %s", type, body);
    }
    assert_scim_error(err, status, type);
    json_decref(in);
}

static json_t *parse_ok(const char *body)
{
    scim_error_t err = {0};
    json_t *in = J(body);
    json_t *out = scim_user_parse(in, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("parse failed: %s", err.detail);
    return out;
}

static void test_parse_minimal(void **state)
{
    (void)state;
    parses_to("{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"alice@example.com\"}",
              "{\"userName\":\"alice@example.com\"}");
}

static void test_parse_case_insensitive_names(void **state)
{
    (void)state;
    parses_to("{\"USERNAME\":\"a@b.co\",\"Name\":{\"GivenName\":\"Ann\",\"familyname\":\"Lee\"},"
              "\"EMAILS\":[{\"VALUE\":\"a@b.co\",\"Type\":\"work\",\"PRIMARY\":true}],\"ExternalID\":\"x1\","
              "\"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER\":{\"Department\":\"R&D\"}}",
              "{\"userName\":\"a@b.co\",\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},"
              "\"emails\":[{\"value\":\"a@b.co\",\"type\":\"work\",\"primary\":true}],\"externalId\":\"x1\","
              "\"" ENT "\":{\"department\":\"R&D\"}}");
}

static void test_parse_drops_unknown(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"foo\":1,\"name\":{\"givenName\":\"x\",\"bar\":2},"
              "\"emails\":[{\"value\":\"a@b.co\",\"label\":\"x\"}],\"urn:example:custom:1.0:User\":{\"a\":1},"
              "\"" ENT "\":{\"shoeSize\":44,\"costCenter\":\"c1\"}}",
              "{\"userName\":\"a\",\"name\":{\"givenName\":\"x\"},\"emails\":[{\"value\":\"a@b.co\"}],"
              "\"" ENT "\":{\"costCenter\":\"c1\"}}");
}

static void test_parse_drops_read_only_and_password(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"id\":\"forged\",\"meta\":{\"version\":\"W/\\\"9\\\"\"},"
              "\"groups\":[{\"value\":\"g1\"}],\"schemas\":[\"x\"],\"password\":\"hunter2\","
              "\"" ENT "\":{\"manager\":{\"value\":\"m1\",\"displayName\":\"Boss\"}}}",
              "{\"userName\":\"a\",\"" ENT "\":{\"manager\":{\"value\":\"m1\"}}}");
}

static void test_parse_string_booleans(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"active\":\"False\"}", "{\"userName\":\"a\",\"active\":false}");
    parses_to("{\"userName\":\"a\",\"active\":\"True\"}", "{\"userName\":\"a\",\"active\":true}");
    parses_to("{\"userName\":\"a\",\"active\":\"false\"}", "{\"userName\":\"a\",\"active\":false}");
    parses_to("{\"userName\":\"a\",\"active\":true}", "{\"userName\":\"a\",\"active\":true}");
    parses_to("{\"userName\":\"a\",\"emails\":[{\"value\":\"a@b.co\",\"primary\":\"True\"}]}",
              "{\"userName\":\"a\",\"emails\":[{\"value\":\"a@b.co\",\"primary\":true}]}");
}

static void test_parse_manager_forms(void **state)
{
    (void)state;
    /* Entra sends the manager as a bare string. */
    parses_to("{\"userName\":\"a\",\"" ENT "\":{\"manager\":\"m-42\"}}",
              "{\"userName\":\"a\",\"" ENT "\":{\"manager\":{\"value\":\"m-42\"}}}");
    parses_to("{\"userName\":\"a\",\"" ENT "\":{\"manager\":{\"value\":\"m-42\"}}}",
              "{\"userName\":\"a\",\"" ENT "\":{\"manager\":{\"value\":\"m-42\"}}}");
    /* URN-qualified key at the top level. */
    parses_to("{\"userName\":\"a\",\"" ENT ":department\":\"Ops\",\"urn:ietf:params:scim:schemas:core:2.0:User:title\":\"CTO\"}",
              "{\"userName\":\"a\",\"title\":\"CTO\",\"" ENT "\":{\"department\":\"Ops\"}}");
}

static void test_parse_lenient_single_object(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"emails\":{\"value\":\"a@b.co\",\"type\":\"work\"}}",
              "{\"userName\":\"a\",\"emails\":[{\"value\":\"a@b.co\",\"type\":\"work\"}]}");
}

static void test_parse_drops_nothing_values(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"title\":null,\"emails\":[],\"name\":{},\"phoneNumbers\":[null,{}],\"" ENT "\":{}}",
              "{\"userName\":\"a\"}");
}

static void test_parse_primary_first_wins(void **state)
{
    (void)state;
    parses_to("{\"userName\":\"a\",\"emails\":[{\"value\":\"1@b.co\",\"primary\":true},"
              "{\"value\":\"2@b.co\",\"primary\":\"True\"},{\"value\":\"3@b.co\",\"primary\":false}]}",
              "{\"userName\":\"a\",\"emails\":[{\"value\":\"1@b.co\",\"primary\":true},"
              "{\"value\":\"2@b.co\",\"primary\":false},{\"value\":\"3@b.co\",\"primary\":false}]}");
}

static void test_parse_user_name_required(void **state)
{
    (void)state;
    parse_fails("{}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"   \"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":null}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":42}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":[\"a\"]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"name\":{\"givenName\":\"x\"}}", 400, SCIM_TYPE_INVALID_VALUE);
}

/* The emails cap is loud: exactly SCIM_USER_MAX_EMAILS parse, one more is a 400, never a silent cut. */
static void test_parse_emails_cap(void **state)
{
    (void)state;
    json_t *body = J("{\"userName\":\"many@example.com\",\"emails\":[]}");
    json_t *emails = json_object_get(body, "emails");
    for (int i = 0; i < SCIM_USER_MAX_EMAILS; i++) {
        char value[32];
        snprintf(value, sizeof(value), "a%d@example.com", i);
        json_array_append_new(emails, json_pack("{s:s}", "value", value));
    }
    scim_error_t err = {0};
    json_t *user = scim_user_parse(body, &err);
    assert_non_null(user);
    const char *values[SCIM_USER_MAX_EMAILS];
    assert_int_equal(scim_user_email_values(user, values, SCIM_USER_MAX_EMAILS), SCIM_USER_MAX_EMAILS);
    json_decref(user);
    json_array_append_new(emails, json_pack("{s:s}", "value", "one-more@example.com"));
    assert_null(scim_user_parse(body, &err));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.scim_type, SCIM_TYPE_INVALID_VALUE);
    assert_non_null(strstr(err.detail, "at most 64 emails"));
    json_decref(body);
}

/* `n` bytes of `c`, NUL-terminated; free(). */
static char *filled(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* scim_user_parse of `body` fails with 400 invalidValue and a detail holding each of the NULL-ended `words`. */
static void refused_naming(const json_t *body, ...)
{
    scim_error_t err = {0};
    json_t *user = scim_user_parse(body, &err);
    va_list ap;
    const char *w;
    if (user != NULL) {
        json_decref(user);
        fail_msg("parse should have failed");
    }
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_VALUE);
    va_start(ap, body);
    while ((w = va_arg(ap, const char *)) != NULL) {
        if (strstr(err.detail, w) == NULL)
            fail_msg("detail [%s] does not name [%s]", err.detail, w);
    }
    va_end(ap);
}

/* `body` parses, and the string at `pointer` (a/b/c, numbers index arrays) keeps `len` bytes. */
static void accepted_with(const json_t *body, const char *a, const char *b, const char *c, size_t len)
{
    scim_error_t err = {0};
    json_t *user = scim_user_parse(body, &err);
    json_t *v;
    if (user == NULL)
        fail_msg("parse failed: %s", err.detail);
    v = json_object_get(user, a);
    if (b != NULL)
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(b)) : json_object_get(v, b);
    if (c != NULL)
        v = json_object_get(v, c);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), len);
    json_decref(user);
}

/* Every string, wherever it is, holds exactly SCIM_USER_MAX_STRING_BYTES bytes; one byte more is a 400 naming it and the cap. */
static void test_parse_string_cap(void **state)
{
    char *at = filled('x', SCIM_USER_MAX_STRING_BYTES), *over = filled('x', SCIM_USER_MAX_STRING_BYTES + 1);
    char *utf8_over = filled('y', SCIM_USER_MAX_STRING_BYTES + 1);
    json_t *body;
    (void)state;

    body = json_pack("{s:s, s:s}", "userName", "u", "displayName", at);
    accepted_with(body, "displayName", NULL, NULL, SCIM_USER_MAX_STRING_BYTES);
    json_object_set_new(body, "displayName", json_string(over));
    refused_naming(body, "displayName", "4097 bytes", "at most 4096", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_decref(body);

    body = json_pack("{s:s}", "userName", over);
    refused_naming(body, "userName", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_decref(body);

    body = json_pack("{s:s, s:{s:s}}", "userName", "u", "name", "givenName", at);
    accepted_with(body, "name", "givenName", NULL, SCIM_USER_MAX_STRING_BYTES);
    json_object_set_new(json_object_get(body, "name"), "givenName", json_string(over));
    refused_naming(body, "name.givenName", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_decref(body);

    body = json_pack("{s:s, s:[{s:s}, {s:s}]}", "userName", "u", "phoneNumbers", "value", "1", "value", at);
    accepted_with(body, "phoneNumbers", "1", "value", SCIM_USER_MAX_STRING_BYTES);
    json_object_set_new(json_array_get(json_object_get(body, "phoneNumbers"), 1), "value", json_string(over));
    refused_naming(body, "phoneNumbers.value", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_decref(body);

    body = json_pack("{s:s, s:{s:s, s:{s:s}}}", "userName", "u", ENT, "department", at, "manager", "value", "m");
    accepted_with(body, ENT, "department", NULL, SCIM_USER_MAX_STRING_BYTES);
    json_object_set_new(json_object_get(body, ENT), "department", json_string(over));
    refused_naming(body, ENT ":department", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_object_set_new(json_object_get(body, ENT), "department", json_string("d"));
    json_object_set_new(json_object_get(json_object_get(body, ENT), "manager"), "value", json_string(over));
    refused_naming(body, ENT ":manager.value", "SCIM_USER_MAX_STRING_BYTES", NULL);
    json_decref(body);

    /* bytes, not characters: 4095 ASCII bytes and one two-byte é are 4097 */
    memcpy(utf8_over + SCIM_USER_MAX_STRING_BYTES - 1, "\xc3\xa9", 3);
    body = json_pack("{s:s, s:s}", "userName", "u", "title", utf8_over);
    refused_naming(body, "title", "4097 bytes", NULL);
    json_decref(body);
    free(at);
    free(over);
    free(utf8_over);
}

/* Every multi-valued attribute but emails (64) holds SCIM_USER_MAX_VALUES entries; one more is a 400 naming it and the cap. */
static void test_parse_values_cap(void **state)
{
    static const char *const attrs[] = {"phoneNumbers", "addresses", "roles", "entitlements", "ims", "photos", "x509Certificates"};
    (void)state;
    for (size_t a = 0; a < sizeof(attrs) / sizeof(attrs[0]); a++) {
        json_t *body = json_pack("{s:s, s:[]}", "userName", "u", attrs[a]);
        json_t *values = json_object_get(body, attrs[a]);
        scim_error_t err = {0};
        json_t *user;
        for (int i = 0; i < SCIM_USER_MAX_VALUES; i++) {
            char v[32];
            snprintf(v, sizeof(v), "v%d", i);
            json_array_append_new(values, strcmp(attrs[a], "addresses") == 0 ? json_pack("{s:s}", "locality", v)
                                                                             : json_pack("{s:s}", "value", v));
        }
        user = scim_user_parse(body, &err);
        if (user == NULL)
            fail_msg("%s: %s", attrs[a], err.detail);
        assert_int_equal(json_array_size(json_object_get(user, attrs[a])), SCIM_USER_MAX_VALUES);
        json_decref(user);
        json_array_append_new(values, json_pack("{s:s}", strcmp(attrs[a], "addresses") == 0 ? "locality" : "value", "one more"));
        refused_naming(body, attrs[a], "101 values", "at most 100", "SCIM_USER_MAX_VALUES", NULL);
        json_decref(body);
    }
}

static size_t compact_size(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(text);
    free(text);
    return n;
}

/* A user of exactly SCIM_USER_MAX_BYTES as compact JSON parses; one byte more is a 400 naming the cap. */
static void test_parse_size_cap(void **state)
{
    json_t *body = json_pack("{s:s, s:[]}", "userName", "u", "roles");
    json_t *roles = json_object_get(body, "roles");
    char *chunk = filled('r', SCIM_USER_MAX_STRING_BYTES - 100);
    scim_error_t err = {0};
    json_t *user;
    size_t size;
    char *last;
    (void)state;
    /* whole strings below the string cap while they fit, then a last one that brings the user to the cap exactly */
    json_array_append_new(roles, json_pack("{s:s}", "value", ""));
    for (;;) {
        user = scim_user_parse(body, &err);
        assert_non_null(user);
        size = compact_size(user);
        json_decref(user);
        if (SCIM_USER_MAX_BYTES - size <= SCIM_USER_MAX_STRING_BYTES)
            break;
        json_array_insert_new(roles, 0, json_pack("{s:s}", "value", chunk));
    }
    last = filled('z', SCIM_USER_MAX_BYTES - size);
    json_object_set_new(json_array_get(roles, json_array_size(roles) - 1), "value", json_string(last));
    user = scim_user_parse(body, &err);
    if (user == NULL)
        fail_msg("at the cap: %s", err.detail);
    assert_int_equal(compact_size(user), SCIM_USER_MAX_BYTES);
    json_decref(user);
    json_array_append_new(roles, json_pack("{s:s}", "value", ""));
    refused_naming(body, "65536 bytes", "SCIM_USER_MAX_BYTES", NULL);
    json_decref(body);
    free(chunk);
    free(last);
}

static void test_parse_user_name_error_detail(void **state)
{
    scim_error_t err = {0};
    json_t *in = J("{\"displayName\":\"x\"}");
    (void)state;
    assert_null(scim_user_parse(in, &err));
    assert_non_null(strstr(err.detail, "userName"));
    json_decref(in);
}

static void test_parse_non_object(void **state)
{
    scim_error_t err = {0};
    (void)state;
    parse_fails("[]", 400, SCIM_TYPE_INVALID_SYNTAX);
    parse_fails("\"alice\"", 400, SCIM_TYPE_INVALID_SYNTAX);
    parse_fails("null", 400, SCIM_TYPE_INVALID_SYNTAX);
    assert_null(scim_user_parse(NULL, &err));
    assert_scim_error(err, 400, SCIM_TYPE_INVALID_SYNTAX);
}

static void test_parse_wrong_types(void **state)
{
    (void)state;
    parse_fails("{\"userName\":\"a\",\"emails\":\"a@b.co\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"emails\":[\"a@b.co\"]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"active\":1}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"active\":\"yes\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"name\":\"Ann Lee\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"displayName\":{\"x\":1}}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"emails\":[{\"value\":\"a@b.co\",\"primary\":1}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"emails\":[{\"value\":5}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"" ENT "\":\"x\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"" ENT "\":{\"manager\":7}}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"userName\":\"a\",\"externalId\":12}", 400, SCIM_TYPE_INVALID_VALUE);
}

static void test_parse_idempotent(void **state)
{
    scim_error_t err = {0};
    json_t *once = parse_ok("{\"userName\":\"a\",\"Emails\":[{\"Value\":\"1@b.co\",\"primary\":\"true\"},"
                            "{\"value\":\"2@b.co\",\"primary\":true}],\"" ENT "\":{\"manager\":\"m\"},\"active\":\"False\"}");
    json_t *twice = scim_user_parse(once, &err);
    (void)state;
    assert_non_null(twice);
    assert_true(json_equal(once, twice));
    json_decref(once);
    json_decref(twice);
}

static void test_accessors(void **state)
{
    json_t *u = parse_ok("{\"userName\":\"Alice\",\"externalId\":\"E1\",\"active\":false}");
    json_t *v = parse_ok("{\"userName\":\"Bob\"}");
    (void)state;
    assert_string_equal(scim_user_name(u), "Alice");
    assert_string_equal(scim_user_external_id(u), "E1");
    assert_int_equal(scim_user_active(u), 0);
    assert_null(scim_user_external_id(v));
    assert_int_equal(scim_user_active(v), 1);
    json_decref(u);
    json_decref(v);
}

static const scim_user_meta_t META = {"2819c223-7f76-453a-919d-413861904646", "2026-11-27T10:00:00.123Z",
                                      "2026-11-27T11:00:00.000Z",
                                      "https://scim.example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646", 3};

static void test_render_core_only(void **state)
{
    json_t *u = parse_ok("{\"userName\":\"a@b.co\",\"externalId\":\"e1\",\"password\":\"p\"}");
    json_t *r = scim_user_render(u, &META);
    (void)state;
    assert_json_equal(r, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],"
                         "\"id\":\"2819c223-7f76-453a-919d-413861904646\",\"externalId\":\"e1\","
                         "\"userName\":\"a@b.co\",\"active\":true,"
                         "\"meta\":{\"resourceType\":\"User\",\"created\":\"2026-11-27T10:00:00.123Z\","
                         "\"lastModified\":\"2026-11-27T11:00:00.000Z\","
                         "\"location\":\"https://scim.example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646\","
                         "\"version\":\"W/\\\"3\\\"\"}}");
    json_decref(r);
    json_decref(u);
}

static void test_render_enterprise_and_inactive(void **state)
{
    json_t *u = parse_ok("{\"userName\":\"a\",\"active\":false,\"" ENT "\":{\"department\":\"Ops\"}}");
    json_t *r = scim_user_render(u, &META);
    json_t *schemas = json_object_get(r, "schemas");
    (void)state;
    assert_int_equal(json_array_size(schemas), 2);
    assert_string_equal(json_string_value(json_array_get(schemas, 0)), "urn:ietf:params:scim:schemas:core:2.0:User");
    assert_string_equal(json_string_value(json_array_get(schemas, 1)), ENT);
    assert_true(json_is_false(json_object_get(r, "active")));
    assert_json_equal(json_object_get(r, ENT), "{\"department\":\"Ops\"}");
    assert_null(json_object_get(r, "externalId"));
    /* The rendering is a copy: changing it leaves the stored user alone. */
    json_object_set_new(json_object_get(r, ENT), "department", json_string("changed"));
    assert_json_equal(json_object_get(u, ENT), "{\"department\":\"Ops\"}");
    json_decref(r);
    json_decref(u);
}

static void test_etag(void **state)
{
    char buf[32];
    (void)state;
    assert_string_equal(scim_user_etag(0, buf, sizeof(buf)), "W/\"0\"");
    assert_string_equal(scim_user_etag(1234567890123LL, buf, sizeof(buf)), "W/\"1234567890123\"");
}

/* ---- stored renderings: scim_user_render_text + scim_user_splice_meta ---- */

/* What the gateway sent before there were stored renderings: the reference. */
static char *dumped_render(const json_t *u, const scim_user_meta_t *meta)
{
    json_t *r = scim_user_render(u, meta);
    char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(r);
    assert_non_null(text);
    return text;
}

/* Splices `meta` into the stored text of `u` and asserts the bytes equal json_dumps of the rendering. */
static void splice_matches(const json_t *u, const scim_user_meta_t *meta)
{
    char *want = dumped_render(u, meta);
    char *stored = scim_user_render_text(u, meta->id);
    size_t want_len = strlen(want), stored_len;
    assert_non_null(stored);
    stored_len = strlen(stored);

    gw_json_buf_t out = {.p = NULL};
    gw_json_buf_put(&out, "[", 1); /* appends after what the buffer holds */
    assert_int_equal(scim_user_splice_meta(&out, stored, stored_len, meta), 0);
    char *text = gw_json_buf_take(&out, NULL);
    assert_non_null(text);
    if (text[0] != '[' || strcmp(text + 1, want) != 0)
        fail_msg("spliced:\n%s\njansson:\n%s", text + 1, want);
    assert_int_equal(strlen(text), want_len + 1);
    free(text);
    free(stored);
    free(want);
}

static void test_render_text_has_no_meta(void **state)
{
    json_t *u = parse_ok("{\"userName\":\"a@b.co\",\"externalId\":\"e1\",\"" ENT "\":{\"department\":\"Ops\"}}");
    char *text = scim_user_render_text(u, META.id);
    json_t *full = scim_user_render(u, &META);
    (void)state;
    assert_non_null(text);
    assert_null(strstr(text, "\"meta\""));
    /* exactly the rendering without meta, in the same order */
    json_object_del(full, "meta");
    char *want = json_dumps(full, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text, want);
    /* the stored user is untouched (the text rendering shares its values) */
    assert_json_equal(u, "{\"userName\":\"a@b.co\",\"externalId\":\"e1\",\"" ENT "\":{\"department\":\"Ops\"}}");
    free(want);
    free(text);
    json_decref(full);
    json_decref(u);
}

static void test_splice_meta_byte_identical(void **state)
{
    static const char *const bodies[] = {
        "{\"userName\":\"a@b.co\"}",
        "{\"userName\":\"a@b.co\",\"externalId\":\"e1\",\"active\":false}",
        ("{\"userName\":\"ann@corp.example\",\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},"
         "\"emails\":[{\"value\":\"ann@corp.example\",\"type\":\"work\",\"primary\":true},{\"value\":\"a@home.example\"}],"
         "\"roles\":[{\"value\":\"admin\",\"primary\":true}],\"title\":\"Eng\","
         "\"" ENT "\":{\"department\":\"R&D\",\"employeeNumber\":\"42\",\"manager\":\"m-1\"}}"),
        /* unicode (BMP and beyond), escapes and '/' inside the stored part */
        ("{\"userName\":\"J\\u00f6rg \\u6f22\\ud83d\\ude00 \\\"q\\\" back\\\\slash a/b \\u0001\\u001f\\u007f\","
         "\"displayName\":\"tab\\there\\nnl\"}"),
    };
    const char *locations[] = {
        "https://scim.example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
        "http://h\"o\\st:80/a/b/Users/x",                                   /* quote and backslash */
        "http://\x01\b\f\n\r\t\x1f\x7f/Users/x",                            /* every kind of control */
        "http://h\xc3\xb6st.example/\xe6\xbc\xa2/\xf0\x9f\x98\x80/Users/x", /* valid UTF-8 */
        "http://bad\xff\xfe/Users/x",                                       /* not UTF-8: jansson drops it */
        "http://overlong\xc0\xaf/Users/x",
        "http://surrogate\xed\xa0\x80/Users/x",
        "http://short\xe6\xbc/Users/x",
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_t *u = parse_ok(bodies[i]);
        for (size_t k = 0; k < sizeof(locations) / sizeof(locations[0]); k++) {
            scim_user_meta_t meta = META;
            meta.location = locations[k];
            meta.version = (int64_t)k * 1000003;
            splice_matches(u, &meta);
        }
        /* members that are absent */
        scim_user_meta_t meta = {META.id, NULL, NULL, NULL, 0};
        splice_matches(u, &meta);
        meta = (scim_user_meta_t){META.id, "created\"\\", "\xff", "loc", -5};
        splice_matches(u, &meta);
        meta = (scim_user_meta_t){META.id, "", "", "", INT64_MAX};
        splice_matches(u, &meta);
        meta.version = INT64_MIN;
        splice_matches(u, &meta);
        json_decref(u);
    }
}

/* Each kind of byte that needs care, at every position of a string (the scan goes 8 bytes at a time). */
static void test_splice_meta_every_position(void **state)
{
    static const char *const specials[] = {
        "\"",   "\\",   "\x1f",         "\x01", "\n", "\x7f", "/", "\xc3\xb6", "\xe6\xbc\xa2", "\xf0\x9f\x98\x80",
        "\xff", "\xc3", "\xed\xa0\x80", "\x80", "~",  " "};
    json_t *u = parse_ok("{\"userName\":\"a@b.co\"}");
    char loc[64];
    (void)state;
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        for (size_t pos = 0; pos <= 24; pos++) {
            memset(loc, 'a', pos);
            snprintf(loc + pos, sizeof(loc) - pos, "%s%.*s", specials[k], (int)(24 - pos), "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            scim_user_meta_t meta = META;
            meta.location = loc;
            meta.created = loc + pos; /* the special first */
            splice_matches(u, &meta);
        }
    }
    json_decref(u);
}

static void test_splice_meta_rejects_non_objects(void **state)
{
    gw_json_buf_t buf = {0};
    (void)state;
    assert_int_equal(scim_user_splice_meta(&buf, "[1]", 3, &META), -1);
    assert_int_equal(scim_user_splice_meta(&buf, "}", 1, &META), -1);
    assert_int_equal(scim_user_splice_meta(&buf, "", 0, &META), -1);
    assert_int_equal(buf.len, 0); /* nothing appended */
    /* an empty object gets meta without a leading comma */
    assert_int_equal(scim_user_splice_meta(&buf, "{}", 2, &META), 0);
    char *out = gw_json_buf_take(&buf, NULL);
    assert_non_null(out);
    assert_true(strncmp(out, "{\"meta\":{\"resourceType\":\"User\",", 31) == 0);
    json_t *j = J(out);
    assert_non_null(json_object_get(j, "meta"));
    json_decref(j);
    free(out);
}

static void email_is(const char *body, scim_email_source_t source, const char *expected)
{
    json_t *u = parse_ok(body);
    const char *got = scim_user_odeus_email(u, source);
    if (expected == NULL) {
        if (got != NULL)
            fail_msg("expected no email, got %s", got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, expected);
    }
    json_decref(u);
}

#define TWO_EMAILS                                                                                                                 \
    "{\"userName\":\"un@corp.example\",\"emails\":[{\"value\":\"work@corp.example\",\"type\":\"WORK\"},"                           \
    "{\"value\":\"home@mail.example\",\"type\":\"home\",\"primary\":true}]}"

static void test_odeus_email_default(void **state)
{
    (void)state;
    email_is(TWO_EMAILS, SCIM_EMAIL_PRIMARY_WORK_USERNAME, "home@mail.example");
    email_is("{\"userName\":\"un@corp.example\",\"emails\":[{\"value\":\"h@m.example\",\"type\":\"home\"},"
             "{\"value\":\"w@corp.example\",\"type\":\"Work\"}]}",
             SCIM_EMAIL_PRIMARY_WORK_USERNAME, "w@corp.example");
    email_is("{\"userName\":\"un@corp.example\",\"emails\":[{\"value\":\"h@m.example\",\"type\":\"home\"}]}",
             SCIM_EMAIL_PRIMARY_WORK_USERNAME, "un@corp.example");
    email_is("{\"userName\":\"un@corp.example\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, "un@corp.example");
    email_is("{\"userName\":\"alice\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    /* A primary that is not an address is skipped. */
    email_is("{\"userName\":\"alice\",\"emails\":[{\"value\":\"not-an-email\",\"primary\":true},"
             "{\"value\":\"w@corp.example\",\"type\":\"work\"}]}",
             SCIM_EMAIL_PRIMARY_WORK_USERNAME, "w@corp.example");
}

static void test_odeus_email_other_orders(void **state)
{
    (void)state;
    email_is(TWO_EMAILS, SCIM_EMAIL_WORK_PRIMARY_USERNAME, "work@corp.example");
    email_is("{\"userName\":\"un@corp.example\",\"emails\":[{\"value\":\"p@m.example\",\"primary\":true}]}",
             SCIM_EMAIL_WORK_PRIMARY_USERNAME, "p@m.example");
    email_is(TWO_EMAILS, SCIM_EMAIL_USERNAME, "un@corp.example");
    email_is("{\"userName\":\"alice\",\"emails\":[{\"value\":\"p@m.example\",\"primary\":true}]}", SCIM_EMAIL_USERNAME, NULL);
}

static void test_odeus_email_validation(void **state)
{
    (void)state;
    email_is("{\"userName\":\"a@localhost\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    email_is("{\"userName\":\"@corp.example\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    email_is("{\"userName\":\"a@b@corp.example\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    email_is("{\"userName\":\"a b@corp.example\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    email_is("{\"userName\":\"a@corp.\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, NULL);
    email_is("{\"userName\":\"a@b.c\"}", SCIM_EMAIL_PRIMARY_WORK_USERNAME, "a@b.c");
}

static void role_is(const char *roles, const char *expected)
{
    char body[512];
    json_t *u;
    snprintf(body, sizeof(body), "{\"userName\":\"a\"%s%s}", roles[0] ? ",\"roles\":" : "", roles);
    u = parse_ok(body);
    assert_string_equal(scim_user_odeus_role(u, "member"), expected);
    json_decref(u);
}

static void test_odeus_role(void **state)
{
    (void)state;
    role_is("[{\"value\":\"member\"},{\"value\":\"Admin\",\"primary\":true}]", "admin");
    role_is("[{\"value\":\"EDITOR\"}]", "editor");
    role_is("{\"value\":\"editor\"}", "editor");
    /* every value counts, primary or not: the highest wins (Entra AppRoleAssignmentsComplex) */
    role_is("[{\"value\":\"editor\"},{\"value\":\"admin\"}]", "admin");
    role_is("[{\"value\":\"admin\",\"primary\":false},{\"value\":\"editor\",\"primary\":false}]", "admin");
    role_is("[{\"value\":\"member\",\"primary\":true},{\"value\":\"Editor\"}]", "editor");
    role_is("[{\"value\":\"owner\",\"primary\":true},{\"value\":\"admin\"}]", "admin");
    role_is("[{\"value\":\"owner\"}]", "member");
    role_is("", "member");
}

/* The role from roles alone (NULL when none), as the gateway's fallback chain needs it. */
static void from_roles_is(const char *roles, const char *expected)
{
    char body[1024];
    json_t *u;
    const char *got;
    snprintf(body, sizeof(body), "{\"userName\":\"a\"%s%s}", roles[0] ? ",\"roles\":" : "", roles);
    u = parse_ok(body);
    got = scim_user_odeus_role_from_roles(u);
    if (expected == NULL && got != NULL)
        fail_msg("expected no role for %s, got %s", roles, got);
    if (expected != NULL)
        assert_string_equal(got != NULL ? got : "(null)", expected);
    json_decref(u);
}

static void test_odeus_role_from_roles(void **state)
{
    (void)state;
    from_roles_is("", NULL);
    from_roles_is("[]", NULL);
    from_roles_is("[{\"value\":\"owner\"},{\"value\":\"viewer\",\"primary\":true}]", NULL);
    from_roles_is("[{\"display\":\"Admin\"}]", NULL);
    from_roles_is("[{\"value\":\"member\"}]", "member");
    from_roles_is("[{\"value\":\"admin\"},{\"value\":\"member\",\"primary\":true}]", "admin");
    from_roles_is("[{\"value\":\"MEMBER\"},{\"value\":\"eDiToR\"},{\"value\":\"nobody\"}]", "editor");
    /* a name must be the whole value */
    from_roles_is("[{\"value\":\" admin\"},{\"value\":\"administrator\"}]", NULL);
    /* Entra AppRoleAssignmentsComplex on PATCH: JSON text; "value" names the role... */
    from_roles_is("[{\"value\":\"{\\\"id\\\":\\\"06b0\\\",\\\"value\\\":\\\"Admin\\\","
                  "\\\"displayName\\\":\\\"Administrators\\\"}\"}]",
                  "admin");
    /* ...else its displayName (an app role whose value is an opaque code) */
    from_roles_is("[{\"value\":\"{\\\"id\\\":\\\"06b0\\\",\\\"value\\\":\\\"25\\\",\\\"displayName\\\":\\\"Editor\\\"}\"}]",
                  "editor");
    /* value wins over displayName when both name a role */
    from_roles_is("[{\"value\":\"{\\\"value\\\":\\\"member\\\",\\\"displayName\\\":\\\"Admin\\\"}\"}]", "member");
    /* mixed: a plain name and JSON text, the highest wins either way round */
    from_roles_is("[{\"value\":\"editor\"},{\"value\":\"{\\\"value\\\":\\\"Member\\\"}\"}]", "editor");
    from_roles_is("[{\"value\":\"member\"},{\"value\":\"{\\\"value\\\":\\\"ADMIN\\\"}\"}]", "admin");
    /* a JSON array of roles or names */
    from_roles_is("[{\"value\":\"[{\\\"value\\\":\\\"editor\\\"},\\\"admin\\\",7]\"}]", "admin");
    /* JSON text naming nothing, broken JSON, JSON of another shape: ignored */
    from_roles_is("[{\"value\":\"{\\\"id\\\":\\\"x\\\",\\\"value\\\":\\\"Owner\\\"}\"}]", NULL);
    from_roles_is("[{\"value\":\"{\\\"value\\\":\\\"admin\\\"\"}]", NULL);
    from_roles_is("[{\"value\":\"{\\\"value\\\":{\\\"value\\\":\\\"admin\\\"}}\"}]", NULL);
    from_roles_is("[{\"value\":\"[[\\\"admin\\\"]]\"}]", NULL);
    from_roles_is("[{\"value\":\"{\\\"value\\\":\\\"admin\\\"}\"},{\"value\":\"{nope\"}]", "admin");
}

static void test_odeus_role_default_passthrough(void **state)
{
    json_t *u = parse_ok("{\"userName\":\"a\"}");
    (void)state;
    assert_string_equal(scim_user_odeus_role(u, "viewer"), "viewer");
    assert_null(scim_user_odeus_role(u, NULL));
    json_decref(u);
}

static void test_email_values(void **state)
{
    const char *out[2];
    json_t *u = parse_ok("{\"userName\":\"a\",\"emails\":[{\"value\":\"1@b.co\"},{\"type\":\"x\"},"
                         "{\"value\":\"2@b.co\"},{\"value\":\"3@b.co\"}]}");
    (void)state;
    assert_int_equal(scim_user_email_values(u, out, 2), 3);
    assert_string_equal(out[0], "1@b.co");
    assert_string_equal(out[1], "2@b.co");
    json_decref(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_minimal),
        cmocka_unit_test(test_parse_case_insensitive_names),
        cmocka_unit_test(test_parse_drops_unknown),
        cmocka_unit_test(test_parse_drops_read_only_and_password),
        cmocka_unit_test(test_parse_string_booleans),
        cmocka_unit_test(test_parse_manager_forms),
        cmocka_unit_test(test_parse_lenient_single_object),
        cmocka_unit_test(test_parse_drops_nothing_values),
        cmocka_unit_test(test_parse_primary_first_wins),
        cmocka_unit_test(test_parse_user_name_required),
        cmocka_unit_test(test_parse_emails_cap),
        cmocka_unit_test(test_parse_string_cap),
        cmocka_unit_test(test_parse_values_cap),
        cmocka_unit_test(test_parse_size_cap),
        cmocka_unit_test(test_parse_user_name_error_detail),
        cmocka_unit_test(test_parse_non_object),
        cmocka_unit_test(test_parse_wrong_types),
        cmocka_unit_test(test_parse_idempotent),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_render_core_only),
        cmocka_unit_test(test_render_enterprise_and_inactive),
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_render_text_has_no_meta),
        cmocka_unit_test(test_splice_meta_byte_identical),
        cmocka_unit_test(test_splice_meta_every_position),
        cmocka_unit_test(test_splice_meta_rejects_non_objects),
        cmocka_unit_test(test_odeus_email_default),
        cmocka_unit_test(test_odeus_email_other_orders),
        cmocka_unit_test(test_odeus_email_validation),
        cmocka_unit_test(test_odeus_role),
        cmocka_unit_test(test_odeus_role_from_roles),
        cmocka_unit_test(test_odeus_role_default_passthrough),
        cmocka_unit_test(test_email_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
