/*
 * scim/group.c: Group bodies and PATCH plans in the shapes Okta's Group Push and Entra's group
 * provisioning send (../shared/idp-behaviour.md), the errors and caps, rendering, and filters on
 * rendered groups with their index hints (scim/filter.c for SCIM_RESOURCE_GROUP).
 */
#include "scim_test.h"

#include "scim/filter.h"
#include "scim/group.h"
#include "scim/patch.h"

#define GROUP_URN "urn:ietf:params:scim:schemas:core:2.0:Group"
#define PATCH_URN "urn:ietf:params:scim:api:messages:2.0:PatchOp"

/* ---- helpers ---- */

/* The ids of `m` as a JSON array, with "!" before an id flagged is_group. */
static json_t *ids_json(const scim_group_members_t *m)
{
    json_t *a = json_array();
    size_t i;
    char buf[256];
    for (i = 0; i < m->n; i++) {
        snprintf(buf, sizeof(buf), "%s%s", m->is_group[i] ? "!" : "", m->ids[i]);
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

static void assert_ids(const scim_group_members_t *m, const char *expected)
{
    json_t *got = ids_json(m);
    assert_json_equal(got, expected);
    json_decref(got);
    if (m->n == 0) {
        assert_null(m->ids);
        assert_null(m->is_group);
    }
}

static json_t *parse_ok(const char *body, scim_group_members_t *members)
{
    scim_error_t err = {0};
    json_t *in = J(body);
    json_t *g = scim_group_parse(in, &err, members);
    json_decref(in);
    if (g == NULL)
        fail_msg("parse failed: %d %s %s", err.status, err.scim_type, err.detail);
    return g;
}

/* Parses `body`: the canonical group must be `group` and the members `ids` (see ids_json). */
static void parses_to(const char *body, const char *group, const char *ids)
{
    scim_group_members_t m;
    json_t *g = parse_ok(body, &m);
    assert_json_equal(g, group);
    assert_ids(&m, ids);
    scim_group_members_free(&m);
    json_decref(g);
}

static void parse_fails_json(json_t *in, int status, const char *type)
{
    scim_error_t err = {0};
    scim_group_members_t m = {(char **)1, (int *)1, 7}; /* must be zeroed even on failure */
    json_t *g = scim_group_parse(in, &err, &m);
    if (g != NULL) {
        char *text = json_dumps(in, JSON_ENCODE_ANY);
        json_decref(g);
        scim_group_members_free(&m);
        fail_msg("expected %s for %.200s", type, text);
    }
    assert_scim_error(err, status, type);
    assert_int_equal(m.n, 0);
    assert_null(m.ids);
    assert_null(m.is_group);
}

static void parse_fails(const char *body, int status, const char *type)
{
    json_t *in = J(body);
    parse_fails_json(in, status, type);
    json_decref(in);
}

static json_t *patch_body(const char *ops)
{
    char *text = malloc(strlen(ops) + 128);
    json_t *body;
    sprintf(text, "{\"schemas\":[\"" PATCH_URN "\"],\"Operations\":%s}", ops);
    body = J(text);
    free(text);
    return body;
}

/* Plans `ops` on `group` and checks every part of the plan; the input group must stay as it was. */
static void plans_to(const char *group, const char *ops, const char *new_group, int attrs_changed, int clear, const char *add,
                     const char *remove)
{
    scim_error_t err = {0};
    scim_group_patch_t p;
    json_t *g = J(group);
    json_t *before = json_deep_copy(g);
    json_t *body = patch_body(ops);
    if (scim_group_patch_plan(g, body, &p, &err) != 0)
        fail_msg("plan failed: %d %s %s", err.status, err.scim_type, err.detail);
    assert_json_equal(p.group, new_group);
    assert_int_equal(p.attrs_changed, attrs_changed);
    assert_int_equal(p.clear_members, clear);
    assert_ids(&p.add, add);
    assert_ids(&p.remove, remove);
    assert_true(json_equal(g, before));
    scim_group_patch_clear(&p);
    assert_null(p.group);
    assert_int_equal(p.add.n, 0);
    json_decref(body);
    json_decref(before);
    json_decref(g);
}

static void plan_body_fails(const char *group, json_t *body, int status, const char *type)
{
    scim_error_t err = {0};
    scim_group_patch_t p;
    json_t *g = J(group);
    if (scim_group_patch_plan(g, body, &p, &err) == 0) {
        char *text = json_dumps(body, 0);
        scim_group_patch_clear(&p);
        fail_msg("plan should fail with %s: %.300s", type, text);
    }
    assert_scim_error(err, status, type);
    assert_null(p.group);
    assert_int_equal(p.add.n, 0);
    assert_int_equal(p.remove.n, 0);
    assert_int_equal(p.clear_members, 0);
    json_decref(g);
}

static void plan_fails(const char *group, const char *ops, int status, const char *type)
{
    json_t *body = patch_body(ops);
    plan_body_fails(group, body, status, type);
    json_decref(body);
}

#define ENG     "{\"displayName\":\"Engineering\"}"
#define ENG_EXT "{\"displayName\":\"Engineering\",\"externalId\":\"8b1a-obj\"}"

/* ---- POST / PUT bodies ---- */

static void test_parse_okta_push(void **state)
{
    (void)state;
    parses_to("{\"schemas\":[\"" GROUP_URN "\"],\"displayName\":\"Engineering\",\"members\":["
              "{\"value\":\"u-1\",\"display\":\"ann@corp.example\"},{\"value\":\"u-2\",\"display\":\"bob@corp.example\"}]}",
              ENG, "[\"u-1\",\"u-2\"]");
}

static void test_parse_entra_create(void **state)
{
    (void)state;
    parses_to("{\"schemas\":[\"" GROUP_URN "\",\"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group\"],"
              "\"externalId\":\"8b1a-obj\",\"displayName\":\"Engineering\"}",
              ENG_EXT, "[]");
    parses_to("{\"displayName\":\"Engineering\",\"externalId\":\"8b1a-obj\",\"members\":[]}", ENG_EXT, "[]");
    parses_to("{\"displayName\":\"Engineering\",\"members\":null,\"externalId\":null}", ENG, "[]");
}

static void test_parse_names_case_insensitive(void **state)
{
    (void)state;
    parses_to("{\"DISPLAYNAME\":\"Engineering\",\"ExternalID\":\"8b1a-obj\",\"Members\":[{\"VALUE\":\"u-1\",\"Type\":\"group\"}]}",
              ENG_EXT, "[\"!u-1\"]");
    parses_to("{\"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP:displayName\":\"Engineering\","
              "\"" GROUP_URN ":members\":[\"u-1\"]}",
              ENG, "[\"u-1\"]");
}

/* readOnly attributes are the server's and unknown ones another schema's: dropped, as for users. */
static void test_parse_drops_read_only_and_unknown(void **state)
{
    (void)state;
    parses_to("{\"id\":\"g-1\",\"meta\":{\"version\":\"W/\\\"9\\\"\"},\"displayName\":\"Engineering\",\"owner\":\"x\","
              "\"urn:ietf:params:scim:schemas:core:2.0:User:userName\":\"u\",\"urn:example:custom:2.0:Group:size\":3,"
              "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"R&D\"},\"groups\":[]}",
              ENG, "[]");
}

static void test_parse_member_shapes(void **state)
{
    (void)state;
    /* Entra's {"$ref": null}, Microsoft's bare strings, null elements, $ref/display/other type ignored */
    parses_to("{\"displayName\":\"Engineering\",\"members\":[{\"$ref\":null,\"value\":\"u-1\"},\"u-2\",null,"
              "{\"value\":\"u-3\",\"$ref\":\"https://x/Users/u-3\",\"type\":\"User\",\"display\":5},"
              "{\"value\":\"g-4\",\"type\":\"Group\"},{\"value\":\"u-5\",\"type\":7}]}",
              ENG, "[\"u-1\",\"u-2\",\"u-3\",\"!g-4\",\"u-5\"]");
    /* duplicates: the first is kept, in place */
    parses_to("{\"displayName\":\"Engineering\",\"members\":[\"u-2\",{\"value\":\"u-1\"},{\"value\":\"u-2\",\"type\":\"Group\"},"
              "\"u-1\",\"U-1\"]}",
              ENG, "[\"u-2\",\"u-1\",\"U-1\"]");
    /* one member object or one id where a list belongs */
    parses_to("{\"displayName\":\"Engineering\",\"members\":{\"value\":\"u-1\"}}", ENG, "[\"u-1\"]");
    parses_to("{\"displayName\":\"Engineering\",\"members\":\"u-1\"}", ENG, "[\"u-1\"]");
}

/* What scim_group_parse returns parses to itself: the gateway may re-run it on a stored group. */
static void test_parse_canonical_is_fixed_point(void **state)
{
    scim_group_members_t m;
    json_t *g = parse_ok("{\"displayName\":\" Eng \",\"externalId\":\"\",\"members\":[\"u\"]}", &m);
    json_t *again;
    scim_group_members_t m2;
    scim_error_t err = {0};
    (void)state;
    assert_json_equal(g, "{\"displayName\":\" Eng \",\"externalId\":\"\"}");
    again = scim_group_parse(g, &err, &m2);
    assert_non_null(again);
    assert_true(json_equal(again, g));
    assert_int_equal(m2.n, 0);
    assert_string_equal(scim_group_display_name(g), " Eng ");
    assert_string_equal(scim_group_external_id(g), "");
    scim_group_members_free(&m);
    scim_group_members_free(&m2);
    scim_group_members_free(&m2); /* a freed one is fine */
    json_decref(again);
    json_decref(g);
}

static void test_accessors(void **state)
{
    json_t *g = J(ENG_EXT);
    json_t *h = J(ENG);
    (void)state;
    assert_string_equal(scim_group_display_name(g), "Engineering");
    assert_string_equal(scim_group_external_id(g), "8b1a-obj");
    assert_null(scim_group_external_id(h));
    assert_null(scim_group_display_name(NULL));
    json_decref(g);
    json_decref(h);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_fails("[]", 400, SCIM_TYPE_INVALID_SYNTAX);
    parse_fails("\"Engineering\"", 400, SCIM_TYPE_INVALID_SYNTAX);
    parse_fails("{}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"members\":[\"u-1\"]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\" \\t\\n\"}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":null}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":5}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":[\"Engineering\"]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"externalId\":5}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"externalId\":{}}", 400, SCIM_TYPE_INVALID_VALUE);
    /* a member must name its id */
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[{\"display\":\"ann\"}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[{\"value\":\"\"}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[{\"value\":null}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[{\"value\":17}]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[\"u-1\",17]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[[\"u-1\"]]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":[\"\"]}", 400, SCIM_TYPE_INVALID_VALUE);
    parse_fails("{\"displayName\":\"Engineering\",\"members\":true}", 400, SCIM_TYPE_INVALID_VALUE);
}

/* A NUL would cut a stored string short. Request bodies cannot carry one (they are read without
 * JSON_ALLOW_NUL), but a canonical group may come from elsewhere. */
static void test_parse_nul(void **state)
{
    json_t *body;
    (void)state;
    body = json_pack("{s:o}", "displayName", json_stringn("Eng\0ineering", 12));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    body = json_pack("{s:s,s:o}", "displayName", "Engineering", "externalId", json_stringn("a\0", 2));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    body = json_pack("{s:s,s:[o]}", "displayName", "Engineering", "members", json_stringn("u-1\0u-2", 7));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    body = json_pack("{s:s,s:[{s:o}]}", "displayName", "Engineering", "members", "value", json_stringn("u-1\0u-2", 7));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
}

static json_t *string_of(size_t n, char c)
{
    char *s = malloc(n + 1);
    json_t *j;
    memset(s, c, n);
    s[n] = '\0';
    j = json_string(s);
    free(s);
    return j;
}

static void test_parse_string_cap(void **state)
{
    scim_group_members_t m;
    scim_error_t err = {0};
    json_t *body = json_object();
    json_t *g;
    (void)state;
    json_object_set_new(body, "displayName", string_of(SCIM_GROUP_MAX_STRING_BYTES, 'd'));
    json_object_set_new(body, "externalId", string_of(SCIM_GROUP_MAX_STRING_BYTES, 'e'));
    json_object_set_new(body, "members", json_pack("[o]", string_of(SCIM_GROUP_MAX_STRING_BYTES, 'm')));
    g = scim_group_parse(body, &err, &m);
    assert_non_null(g);
    assert_int_equal(m.n, 1);
    assert_int_equal(strlen(m.ids[0]), SCIM_GROUP_MAX_STRING_BYTES);
    scim_group_members_free(&m);
    json_decref(g);

    json_object_set_new(body, "displayName", string_of(SCIM_GROUP_MAX_STRING_BYTES + 1, 'd'));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_object_set_new(body, "displayName", json_string("Engineering"));
    json_object_set_new(body, "externalId", string_of(SCIM_GROUP_MAX_STRING_BYTES + 1, 'e'));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_object_del(body, "externalId");
    json_object_set_new(body, "members", json_pack("[{s:o}]", "value", string_of(SCIM_GROUP_MAX_STRING_BYTES + 1, 'm')));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
}

/* `n` members, ids "u<i>" (or all the same id when `same`). */
static json_t *body_with_members(size_t n, int same)
{
    json_t *body = json_pack("{s:s,s:[]}", "displayName", "Big", "members");
    json_t *members = json_object_get(body, "members");
    char id[32];
    size_t i;
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "u%zu", same ? (size_t)0 : i);
        json_array_append_new(members, json_pack("{s:s,s:s}", "value", id, "display", "someone@corp.example"));
    }
    return body;
}

/* Okta pushes a whole group in one POST: a 10,000-member group, and the cap itself, parse in order. */
static void test_parse_member_cap(void **state)
{
    scim_group_members_t m;
    scim_error_t err = {0};
    json_t *body = body_with_members(SCIM_GROUP_MAX_MEMBERS_PER_REQUEST, 0);
    json_t *g;
    (void)state;
    assert_true(SCIM_GROUP_MAX_MEMBERS_PER_REQUEST >= 10000);
    g = scim_group_parse(body, &err, &m);
    assert_non_null(g);
    assert_int_equal(m.n, SCIM_GROUP_MAX_MEMBERS_PER_REQUEST);
    assert_string_equal(m.ids[0], "u0");
    assert_string_equal(m.ids[12345], "u12345");
    assert_string_equal(m.ids[m.n - 1], "u99999");
    scim_group_members_free(&m);
    json_decref(g);
    json_array_append_new(json_object_get(body, "members"), json_string("one-more"));
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    /* duplicates count too: the cap bounds the work, not the result */
    body = body_with_members(SCIM_GROUP_MAX_MEMBERS_PER_REQUEST + 1, 1);
    parse_fails_json(body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
}

/* ---- PATCH: Okta ---- */

/* The path-less replace Okta sends with every membership update: same name, no change. */
static void test_okta_rename_noop(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"replace\",\"value\":{\"id\":\"g-1\",\"displayName\":\"Engineering\"}}]", ENG_EXT, 0, 0, "[]",
             "[]");
    /* an id that is not the group's is readOnly input: ignored, not an error */
    plans_to(ENG, "[{\"op\":\"replace\",\"value\":{\"id\":\"someone-else\",\"displayName\":\"Engineering\",\"schemas\":[\"x\"]}}]",
             ENG, 0, 0, "[]", "[]");
}

static void test_okta_rename(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"replace\",\"value\":{\"id\":\"g-1\",\"displayName\":\"Platform\"}}]",
             "{\"displayName\":\"Platform\",\"externalId\":\"8b1a-obj\"}", 1, 0, "[]", "[]");
    /* a change of case is a change (the uniqueness check is the gateway's) */
    plans_to(ENG, "[{\"op\":\"replace\",\"value\":{\"displayName\":\"ENGINEERING\"}}]", "{\"displayName\":\"ENGINEERING\"}", 1, 0,
             "[]", "[]");
}

static void test_okta_membership_update(void **state)
{
    (void)state;
    plans_to(ENG,
             "[{\"op\":\"replace\",\"value\":{\"id\":\"g-1\",\"displayName\":\"Engineering\"}},"
             "{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"]\"},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"u-2\",\"display\":\"bob@corp.example\"}]}]",
             ENG, 0, 0, "[\"u-2\"]", "[\"u-1\"]");
}

static void test_okta_push_now(void **state)
{
    (void)state;
    plans_to(ENG,
             "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":\"u-1\",\"display\":\"a\"},"
             "{\"value\":\"u-2\",\"display\":\"b\"}]}]",
             ENG, 0, 1, "[\"u-1\",\"u-2\"]", "[]");
    plans_to(ENG, "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[]}]", ENG, 0, 1, "[]", "[]");
    plans_to(ENG, "[{\"op\":\"replace\",\"path\":\"members\",\"value\":null}]", ENG, 0, 1, "[]", "[]");
}

/* ---- PATCH: Entra ---- */

static void test_entra_add_members(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"$ref\":null,\"value\":\"u-1\"}]}]", ENG_EXT, 0, 0,
             "[\"u-1\"]", "[]");
    plans_to(
        ENG_EXT,
        "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"$ref\":null,\"value\":\"u-1\"},{\"$ref\":null,\"value\":\"u-2\"}]}]",
        ENG_EXT, 0, 0, "[\"u-1\",\"u-2\"]", "[]");
}

/* Without aadOptscim062020 Entra removes by listing the members in the value. */
static void test_entra_remove_members_default(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"u-1\"}]}]", ENG_EXT, 0, 0, "[]",
             "[\"u-1\"]");
    plans_to(ENG_EXT, "[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"u-1\"},{\"value\":\"u-2\"}]}]", ENG_EXT, 0,
             0, "[]", "[\"u-1\",\"u-2\"]");
    /* an empty list removes nobody (it is not "remove all") */
    plans_to(ENG_EXT, "[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[]}]", ENG_EXT, 0, 0, "[]", "[]");
}

static void test_entra_remove_member_filter(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"]\"}]", ENG_EXT, 0, 0, "[]", "[\"u-1\"]");
    /* a value next to the filtered path changes nothing */
    plans_to(ENG_EXT, "[{\"op\":\"Remove\",\"path\":\"members[value eq \\\"u-1\\\"]\",\"value\":[{\"value\":\"u-9\"}]}]", ENG_EXT,
             0, 0, "[]", "[\"u-1\"]");
}

static void test_entra_replace_attributes(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Platform\"}]",
             "{\"displayName\":\"Platform\",\"externalId\":\"8b1a-obj\"}", 1, 0, "[]", "[]");
    plans_to(ENG_EXT, "[{\"op\":\"Replace\",\"path\":\"externalId\",\"value\":\"9c2b-obj\"}]",
             "{\"displayName\":\"Engineering\",\"externalId\":\"9c2b-obj\"}", 1, 0, "[]", "[]");
    plans_to(ENG_EXT, "[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Engineering\"}]", ENG_EXT, 0, 0, "[]", "[]");
    plans_to(ENG, "[{\"op\":\"Add\",\"path\":\"externalId\",\"value\":\"8b1a-obj\"}]", ENG_EXT, 1, 0, "[]", "[]");
}

/* ---- PATCH: the rest of RFC 7644 §3.5.2 ---- */

static void test_op_and_path_names_case_insensitive(void **state)
{
    (void)state;
    plans_to(ENG,
             "[{\"OP\":\"ADD\",\"PATH\":\"MEMBERS\",\"VALUE\":[{\"Value\":\"u-1\"}]},"
             "{\"op\":\"rEmOvE\",\"path\":\"Members[VALUE eq \\\"u-2\\\"]\"},"
             "{\"op\":\"RePlAcE\",\"path\":\"DISPLAYNAME\",\"value\":\"Platform\"}]",
             "{\"displayName\":\"Platform\"}", 1, 0, "[\"u-1\"]", "[\"u-2\"]");
    plans_to(ENG,
             "[{\"op\":\"replace\",\"path\":\"" GROUP_URN ":displayName\",\"value\":\"Platform\"},"
             "{\"op\":\"add\",\"path\":\"urn:ietf:params:scim:schemas:core:2.0:group:members\",\"value\":\"u-1\"}]",
             "{\"displayName\":\"Platform\"}", 1, 0, "[\"u-1\"]", "[]");
}

static void test_bare_string_members(void **state)
{
    (void)state;
    plans_to(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\",\"u-2\"]}]", ENG, 0, 0, "[\"u-1\",\"u-2\"]", "[]");
    plans_to(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":\"u-1\"}]", ENG, 0, 0, "[\"u-1\"]", "[]");
    plans_to(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":{\"value\":\"u-1\"}}]", ENG, 0, 0, "[\"u-1\"]", "[]");
    plans_to(ENG, "[{\"op\":\"remove\",\"path\":\"members\",\"value\":\"u-1\"}]", ENG, 0, 0, "[]", "[\"u-1\"]");
    plans_to(ENG, "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[\"u-3\",null,{\"value\":\"u-4\"}]}]", ENG, 0, 1,
             "[\"u-3\",\"u-4\"]", "[]");
}

static void test_remove_all_members(void **state)
{
    (void)state;
    plans_to(ENG, "[{\"op\":\"remove\",\"path\":\"members\"}]", ENG, 0, 1, "[]", "[]");
    plans_to(ENG, "[{\"op\":\"Remove\",\"path\":\"members\",\"value\":null}]", ENG, 0, 1, "[]", "[]");
    plans_to(ENG, "[{\"op\":\"remove\",\"path\":\"members\"},{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]}]", ENG, 0, 1,
             "[\"u-1\"]", "[]");
}

/* Nested groups are the gateway's to skip: the plan says which ids the request called groups. */
static void test_nested_group_flag(void **state)
{
    (void)state;
    plans_to(ENG,
             "[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"g-2\",\"type\":\"Group\"},"
             "{\"value\":\"u-1\",\"type\":\"User\"},{\"value\":\"g-3\",\"type\":\"GROUP\"}]}]",
             ENG, 0, 0, "[\"!g-2\",\"u-1\",\"!g-3\"]", "[]");
    /* removing never reports a group */
    plans_to(ENG, "[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"g-2\",\"type\":\"Group\"}]}]", ENG, 0, 0, "[]",
             "[\"g-2\"]");
}

/* Operations compose in order with set semantics. */
static void test_set_semantics(void **state)
{
    (void)state;
    /* add then remove: only the remove is left; remove then add: only the add */
    plans_to(ENG,
             "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]},"
             "{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"]\"}]",
             ENG, 0, 0, "[]", "[\"u-1\"]");
    plans_to(ENG,
             "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"]\"},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]}]",
             ENG, 0, 0, "[\"u-1\"]", "[]");
    /* a replace forgets everything before it */
    plans_to(ENG,
             "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]},"
             "{\"op\":\"remove\",\"path\":\"members\",\"value\":[\"u-9\"]},"
             "{\"op\":\"replace\",\"path\":\"members\",\"value\":[\"u-2\"]}]",
             ENG, 0, 1, "[\"u-2\"]", "[]");
    /* after a clear a remove only takes ids out of add */
    plans_to(ENG,
             "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[\"u-1\",\"u-2\"]},"
             "{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"]\"},"
             "{\"op\":\"remove\",\"path\":\"members\",\"value\":[\"u-3\"]}]",
             ENG, 0, 1, "[\"u-2\"]", "[]");
    /* duplicates and re-adds: each id once, in first-seen order */
    plans_to(ENG,
             "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-3\",\"u-1\",\"u-3\"]},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-2\",\"u-1\"]},"
             "{\"op\":\"remove\",\"path\":\"members\",\"value\":[\"u-3\"]},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-3\"]}]",
             ENG, 0, 0, "[\"u-3\",\"u-1\",\"u-2\"]", "[]");
    plans_to(ENG,
             "[{\"op\":\"remove\",\"path\":\"members\",\"value\":[\"u-1\",\"u-1\",\"u-2\"]},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-2\"]},"
             "{\"op\":\"remove\",\"path\":\"members\",\"value\":[\"u-2\"]}]",
             ENG, 0, 0, "[]", "[\"u-1\",\"u-2\"]");
}

static void test_pathless_members(void **state)
{
    (void)state;
    plans_to(ENG, "[{\"op\":\"add\",\"value\":{\"members\":[{\"value\":\"u-1\"}]}}]", ENG, 0, 0, "[\"u-1\"]", "[]");
    plans_to(ENG,
             "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-9\"]},"
             "{\"op\":\"replace\",\"value\":{\"displayName\":\"Platform\",\"members\":[{\"value\":\"u-1\"}],\"meta\":{}}}]",
             "{\"displayName\":\"Platform\"}", 1, 1, "[\"u-1\"]", "[]");
}

static void test_external_id_add_remove(void **state)
{
    (void)state;
    plans_to(ENG_EXT, "[{\"op\":\"remove\",\"path\":\"externalId\"}]", ENG, 1, 0, "[]", "[]");
    plans_to(ENG_EXT, "[{\"op\":\"replace\",\"path\":\"externalId\",\"value\":null}]", ENG, 1, 0, "[]", "[]");
    plans_to(ENG_EXT, "[{\"op\":\"replace\",\"value\":{\"externalId\":null}}]", ENG, 1, 0, "[]", "[]");
    plans_to(ENG, "[{\"op\":\"remove\",\"path\":\"externalId\"}]", ENG, 0, 0, "[]", "[]");
    /* add null adds nothing */
    plans_to(ENG_EXT, "[{\"op\":\"add\",\"path\":\"externalId\",\"value\":null}]", ENG_EXT, 0, 0, "[]", "[]");
    plans_to(ENG_EXT, "[{\"op\":\"add\",\"path\":\"displayName\",\"value\":null}]", ENG_EXT, 0, 0, "[]", "[]");
    /* an attribute that comes back as it was is no change */
    plans_to(ENG_EXT,
             "[{\"op\":\"remove\",\"path\":\"externalId\"},{\"op\":\"add\",\"path\":\"externalId\",\"value\":\"8b1a-obj\"}]",
             ENG_EXT, 0, 0, "[]", "[]");
}

static void test_plan_errors_syntax(void **state)
{
    json_t *body;
    (void)state;
    body = J("[]");
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_SYNTAX);
    json_decref(body);
    body = J("{\"Operations\":[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]}]}");
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_SYNTAX);
    json_decref(body);
    body = J("{\"schemas\":[\"" PATCH_URN "\"]}");
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_SYNTAX);
    json_decref(body);
    plan_fails(ENG, "[]", 400, SCIM_TYPE_INVALID_SYNTAX);
    /* an empty id names no member, whether listed or in a filter (fuzz_scim_group found the filter) */
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"\\\"]\"}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"value\":\"\"}]}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[\"add\"]", 400, SCIM_TYPE_INVALID_SYNTAX);
    plan_fails(ENG, "[{\"op\":\"move\",\"path\":\"members\",\"value\":[]}]", 400, SCIM_TYPE_INVALID_SYNTAX);
    plan_fails(ENG, "[{\"path\":\"members\",\"value\":[]}]", 400, SCIM_TYPE_INVALID_SYNTAX);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members\"}]", 400, SCIM_TYPE_INVALID_SYNTAX);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"displayName\"}]", 400, SCIM_TYPE_INVALID_SYNTAX);
}

static void test_plan_errors_path(void **state)
{
    (void)state;
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"owner\",\"value\":\"x\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members.foo\",\"value\":\"x\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"displayName.value\",\"value\":\"x\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"displayName[value eq \\\"x\\\"]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"urn:ietf:params:scim:schemas:core:2.0:User:userName\",\"value\":\"x\"}]", 400,
               SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"urn:example:x:members\",\"value\":\"x\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":5}]", 400, SCIM_TYPE_INVALID_PATH);
    /* the only member filter is value eq "<id>" */
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[display eq \\\"ann\\\"]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value ne \\\"u-1\\\"]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value sw \\\"u\\\"]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value pr]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq null]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq 17]\"}]", 400, SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"a\\\" or value eq \\\"b\\\"]\"}]", 400,
               SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"a\\\" and type eq \\\"User\\\"]\"}]", 400,
               SCIM_TYPE_INVALID_PATH);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[not (value eq \\\"a\\\")]\"}]", 400, SCIM_TYPE_INVALID_PATH);
}

static void test_plan_errors_target_and_mutability(void **state)
{
    (void)state;
    plan_fails(ENG, "[{\"op\":\"remove\"}]", 400, SCIM_TYPE_NO_TARGET);
    plan_fails(ENG, "[{\"op\":\"Remove\",\"value\":{\"members\":[\"u-1\"]}}]", 400, SCIM_TYPE_NO_TARGET);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"\"}]", 400, SCIM_TYPE_NO_TARGET);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"id\",\"value\":\"g-2\"}]", 400, SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"meta\"}]", 400, SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"meta.lastModified\",\"value\":\"2026-01-01T00:00:00Z\"}]", 400,
               SCIM_TYPE_MUTABILITY);
    /* sub-attributes of members are immutable (RFC 7643 §4.2): members are added or removed whole */
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"members.value\",\"value\":\"u-2\"}]", 400, SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members.display\"}]", 400, SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"u-1\\\"].display\"}]", 400, SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"members[value eq \\\"u-1\\\"]\",\"value\":{\"value\":\"u-2\"}}]", 400,
               SCIM_TYPE_MUTABILITY);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members[value eq \\\"u-1\\\"]\",\"value\":{\"value\":\"u-1\"}}]", 400,
               SCIM_TYPE_MUTABILITY);
    /* a failing operation fails the request, whatever came before */
    plan_fails(
        ENG,
        "[{\"op\":\"add\",\"path\":\"members\",\"value\":[\"u-1\"]},{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"X\"},"
        "{\"op\":\"replace\",\"path\":\"id\",\"value\":\"g-2\"}]",
        400, SCIM_TYPE_MUTABILITY);
}

static void test_plan_errors_values(void **state)
{
    (void)state;
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"\"}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"   \"}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":5}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":null}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"displayName\"}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"value\":{\"id\":\"g-1\",\"displayName\":5}}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"value\":{\"displayName\":\"\"}}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"externalId\",\"value\":[\"x\"]}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"value\":\"Engineering\"}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"display\":\"ann\"}]}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"$ref\":null,\"value\":null}]}]", 400,
               SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":[5]}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"add\",\"path\":\"members\",\"value\":{\"value\":\"\"}}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members\",\"value\":[{\"type\":\"User\"}]}]", 400, SCIM_TYPE_INVALID_VALUE);
    plan_fails(ENG, "[{\"op\":\"replace\",\"path\":\"members\",\"value\":true}]", 400, SCIM_TYPE_INVALID_VALUE);
    {
        json_t *body = json_pack("{s:[s],s:[{s:s,s:s,s:[o]}]}", "schemas", PATCH_URN, "Operations", "op", "add", "path", "members",
                                 "value", json_stringn("u\0v", 3));
        plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_VALUE);
        json_decref(body);
    }
    /* the filter grammar reads no NUL (its strings are read without JSON_ALLOW_NUL) */
    plan_fails(ENG, "[{\"op\":\"remove\",\"path\":\"members[value eq \\\"a\\\\u0000b\\\"]\"}]", 400, SCIM_TYPE_INVALID_PATH);
}

static void test_plan_caps(void **state)
{
    json_t *ops = json_array();
    json_t *body, *g = J(ENG);
    scim_group_patch_t p;
    scim_error_t err = {0};
    size_t i;
    (void)state;
    for (i = 0; i < SCIM_PATCH_MAX_OPERATIONS; i++)
        json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "remove", "path", "members[value eq \"u-1\"]"));
    body = json_pack("{s:[s],s:O}", "schemas", PATCH_URN, "Operations", ops);
    assert_int_equal(scim_group_patch_plan(g, body, &p, &err), 0);
    assert_int_equal(p.remove.n, 1);
    scim_group_patch_clear(&p);
    json_array_append_new(ops, json_pack("{s:s,s:s}", "op", "remove", "path", "members[value eq \"u-1\"]"));
    json_decref(body);
    body = json_pack("{s:[s],s:O}", "schemas", PATCH_URN, "Operations", ops);
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    json_decref(ops);

    /* the member cap counts every member value of the request, across operations */
    {
        json_t *half = body_with_members(SCIM_GROUP_MAX_MEMBERS_PER_REQUEST / 2, 0);
        json_t *list = json_object_get(half, "members");
        body = json_pack("{s:[s],s:[{s:s,s:s,s:O},{s:s,s:s,s:O}]}", "schemas", PATCH_URN, "Operations", "op", "add", "path",
                         "members", "value", list, "op", "remove", "path", "members", "value", list);
        assert_int_equal(scim_group_patch_plan(g, body, &p, &err), 0);
        assert_int_equal(p.add.n, 0);
        assert_int_equal(p.remove.n, SCIM_GROUP_MAX_MEMBERS_PER_REQUEST / 2);
        scim_group_patch_clear(&p);
        json_decref(body);
        body = json_pack("{s:[s],s:[{s:s,s:s,s:O},{s:s,s:s,s:O},{s:s,s:s}]}", "schemas", PATCH_URN, "Operations", "op", "add",
                         "path", "members", "value", list, "op", "remove", "path", "members", "value", list, "op", "remove", "path",
                         "members[value eq \"u-1\"]");
        plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_VALUE);
        json_decref(body);
        json_decref(half);
    }

    /* the string cap on a member id and on displayName */
    body = json_pack("{s:[s],s:[{s:s,s:s,s:[o]}]}", "schemas", PATCH_URN, "Operations", "op", "add", "path", "members", "value",
                     string_of(SCIM_GROUP_MAX_STRING_BYTES + 1, 'm'));
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    body = json_pack("{s:[s],s:[{s:s,s:s,s:o}]}", "schemas", PATCH_URN, "Operations", "op", "replace", "path", "displayName",
                     "value", string_of(SCIM_GROUP_MAX_STRING_BYTES + 1, 'd'));
    plan_body_fails(ENG, body, 400, SCIM_TYPE_INVALID_VALUE);
    json_decref(body);
    json_decref(g);
}

static void test_plan_not_a_group(void **state)
{
    scim_group_patch_t p;
    scim_error_t err = {0};
    json_t *body = patch_body("[{\"op\":\"remove\",\"path\":\"members\"}]");
    (void)state;
    assert_int_equal(scim_group_patch_plan(NULL, body, &p, &err), -1);
    assert_int_equal(err.status, 500);
    assert_null(p.group);
    scim_group_patch_clear(&p);
    scim_group_patch_clear(NULL);
    json_decref(body);
}

/* ---- rendering ---- */

static const scim_group_meta_t META = {"g-1", "2026-11-27T10:00:00.000Z", "2026-11-27T12:00:00.000Z",
                                       "https://scim.example.com/scim/v2/Groups/g-1", 3};

static void test_render(void **state)
{
    json_t *g = J(ENG_EXT);
    json_t *members =
        J("[{\"value\":\"u-1\",\"display\":\"ann@corp.example\",\"$ref\":\"https://x/Users/u-1\",\"type\":\"User\"}]");
    json_t *r = scim_group_render(g, &META, members);
    char *text = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
    (void)state;
    assert_string_equal(text, "{\"schemas\":[\"" GROUP_URN "\"],\"id\":\"g-1\",\"externalId\":\"8b1a-obj\","
                              "\"displayName\":\"Engineering\",\"members\":[{\"value\":\"u-1\",\"display\":\"ann@corp.example\","
                              "\"$ref\":\"https://x/Users/u-1\",\"type\":\"User\"}],\"meta\":{\"resourceType\":\"Group\","
                              "\"created\":\"2026-11-27T10:00:00.000Z\",\"lastModified\":\"2026-11-27T12:00:00.000Z\","
                              "\"location\":\"https://scim.example.com/scim/v2/Groups/g-1\",\"version\":\"W/\\\"3\\\"\"}}");
    /* the rendering owns the members now; changing the group afterwards does not reach it */
    json_object_set_new(g, "displayName", json_string("Other"));
    assert_string_equal(json_string_value(json_object_get(r, "displayName")), "Engineering");
    free(text);
    json_decref(r);
    json_decref(g);
}

static void test_render_members_left_out_or_empty(void **state)
{
    json_t *g = J(ENG);
    json_t *r;
    (void)state;
    r = scim_group_render(g, &META, NULL);
    assert_null(json_object_get(r, "members"));
    assert_null(json_object_get(r, "externalId"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "meta"), "resourceType")), "Group");
    json_decref(r);
    r = scim_group_render(g, &META, json_array());
    assert_json_equal(json_object_get(r, "members"), "[]");
    json_decref(r);
    /* not an array: released (the leak checker would see it) and left out */
    r = scim_group_render(g, &META, json_string("u-1"));
    assert_null(json_object_get(r, "members"));
    json_decref(r);
    json_decref(g);
}

/* ---- filters on rendered groups ---- */

static json_t *rendered_group(void)
{
    json_t *g = J(ENG_EXT);
    json_t *members = J("[{\"value\":\"u-1\",\"display\":\"ann@corp.example\",\"type\":\"User\"},"
                        "{\"value\":\"u-2\",\"display\":\"Bob@corp.example\",\"type\":\"User\"}]");
    json_t *r = scim_group_render(g, &META, members);
    json_decref(g);
    return r;
}

static int group_matches(const char *text)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse_resource(SCIM_RESOURCE_GROUP, text, strlen(text), &err);
    json_t *r = rendered_group();
    int m;
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    m = scim_filter_match(f, r);
    scim_filter_free(f);
    json_decref(r);
    return m;
}

#define GMATCH(t)    assert_true(group_matches(t))
#define GNO_MATCH(t) assert_false(group_matches(t))

static void test_filter_groups(void **state)
{
    (void)state;
    /* Okta and Entra look groups up by name: case-insensitive */
    GMATCH("displayName eq \"Engineering\"");
    GMATCH("displayName eq \"ENGINEERING\"");
    GMATCH("DISPLAYNAME sw \"eng\"");
    GNO_MATCH("displayName eq \"Eng\"");
    GMATCH(GROUP_URN ":displayName eq \"engineering\"");
    /* ids are case-exact */
    GMATCH("externalId eq \"8b1a-obj\"");
    GNO_MATCH("externalId eq \"8B1A-OBJ\"");
    GMATCH("id eq \"g-1\"");
    GNO_MATCH("id eq \"G-1\"");
    GMATCH("members[value eq \"u-2\"]");
    GNO_MATCH("members[value eq \"U-2\"]");
    GMATCH("members.value eq \"u-1\"");
    GMATCH("members eq \"u-1\"");
    GNO_MATCH("members eq \"u-3\"");
    GMATCH("members[type eq \"user\" and value eq \"u-1\"]");
    GMATCH("members.display co \"bob@\"");
    GMATCH("members pr");
    GMATCH("meta.resourceType eq \"Group\"");
    GMATCH("meta.created gt \"2026-11-27T09:00:00Z\" and meta.lastModified le \"2026-11-27T13:00:00+01:00\"");
    GMATCH("displayName eq \"Engineering\" and not (members[value eq \"u-9\"])");
    /* names the Group schema lacks (User attributes, the User URN, manager) match nothing */
    GNO_MATCH("userName eq \"Engineering\"");
    GNO_MATCH("urn:ietf:params:scim:schemas:core:2.0:User:displayName eq \"Engineering\"");
    GNO_MATCH("manager eq \"u-1\"");
    GMATCH("not (userName pr)");
}

/* A name no schema defines is not an error for groups either, and bad syntax is the same error. */
static void test_filter_groups_errors_as_users(void **state)
{
    static const char *const texts[] = {
        "owner eq \"x\"",      "displayName eq", "members[value eq \"x\"", "(displayName eq \"x\"", "meta.created gt \"yesterday\"",
        "displayName xx \"x\""};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        scim_error_t ue = {0}, ge = {0};
        scim_filter_t *u = scim_filter_parse(texts[i], strlen(texts[i]), &ue);
        scim_filter_t *g = scim_filter_parse_resource(SCIM_RESOURCE_GROUP, texts[i], strlen(texts[i]), &ge);
        if ((u == NULL) != (g == NULL))
            fail_msg("[%s]: users %s, groups %s", texts[i], u == NULL ? "fail" : "parse", g == NULL ? "fail" : "parse");
        assert_int_equal(ue.status, ge.status);
        if (u == NULL) {
            assert_string_equal(ue.scim_type, SCIM_TYPE_INVALID_FILTER);
            assert_string_equal(ue.detail, ge.detail);
        }
        scim_filter_free(u);
        scim_filter_free(g);
    }
}

static void group_hint_is(const char *text, scim_filter_group_index_t want, const char *want_value, int want_exact)
{
    scim_error_t err = {0};
    scim_filter_t *f = scim_filter_parse_resource(SCIM_RESOURCE_GROUP, text, strlen(text), &err);
    const char *v = "untouched";
    if (f == NULL)
        fail_msg("parse of [%s] failed: %s", text, err.detail);
    if (scim_filter_group_index_hint(f, &v) != want)
        fail_msg("hint of [%s] != %d", text, (int)want);
    if (want_value == NULL)
        assert_null(v);
    else
        assert_string_equal(v, want_value);
    if (scim_filter_index_exact(f) != want_exact)
        fail_msg("scim_filter_index_exact([%s]) != %d", text, want_exact);
    /* a group filter never drives a user index */
    assert_int_equal(scim_filter_index_hint(f, NULL), SCIM_FILTER_INDEX_NONE);
    scim_filter_free(f);
}

static void test_group_index_hints(void **state)
{
    (void)state;
    group_hint_is("displayName eq \"Engineering\"", SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME, "Engineering", 1);
    group_hint_is(GROUP_URN ":DisplayName eq \"Eng\"", SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME, "Eng", 1);
    group_hint_is("externalId eq \"8b1a-obj\"", SCIM_FILTER_GROUP_INDEX_EXTERNAL_ID, "8b1a-obj", 1);
    group_hint_is("id eq \"g-1\"", SCIM_FILTER_GROUP_INDEX_ID, "g-1", 1);
    group_hint_is("members[value eq \"u-1\"]", SCIM_FILTER_GROUP_INDEX_MEMBER, "u-1", 1);
    group_hint_is("members.value eq \"u-1\"", SCIM_FILTER_GROUP_INDEX_MEMBER, "u-1", 1);
    group_hint_is("members eq \"u-1\"", SCIM_FILTER_GROUP_INDEX_MEMBER, "u-1", 1);
    /* a hint, but more to check */
    group_hint_is("members[value eq \"u-1\" and type eq \"User\"]", SCIM_FILTER_GROUP_INDEX_MEMBER, "u-1", 0);
    group_hint_is("members[type eq \"User\"].value eq \"u-1\"", SCIM_FILTER_GROUP_INDEX_MEMBER, "u-1", 0);
    group_hint_is("displayName eq \"Eng\" and members[value eq \"u-1\"]", SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME, "Eng", 0);
    group_hint_is("meta.created gt \"2026-01-01T00:00:00Z\" and externalId eq \"x\"", SCIM_FILTER_GROUP_INDEX_EXTERNAL_ID, "x", 0);
    /* nothing an index can answer */
    group_hint_is("displayName sw \"Eng\"", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("displayName eq \"a\" or displayName eq \"b\"", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("not (displayName eq \"a\")", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("displayName ne \"a\"", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("displayName eq true", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("displayName eq null", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("members[value ne \"u-1\"]", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("members[value eq \"a\" or value eq \"b\"]", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("members.display eq \"ann\"", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("members[display eq \"ann\"]", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("userName eq \"a\"", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
    group_hint_is("emails[value eq \"a@b.c\"]", SCIM_FILTER_GROUP_INDEX_NONE, NULL, 0);
}

/* User filters keep their own hints, and never give group ones. */
static void test_user_filters_give_no_group_hint(void **state)
{
    static const char *const texts[] = {"userName eq \"a\"", "displayName eq \"a\"", "id eq \"x\"", "externalId eq \"x\"",
                                        "members[value eq \"x\"]"};
    size_t i;
    const char *v = "untouched";
    (void)state;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        scim_error_t err = {0};
        scim_filter_t *f = scim_filter_parse(texts[i], strlen(texts[i]), &err);
        assert_non_null(f);
        assert_int_equal(scim_filter_group_index_hint(f, &v), SCIM_FILTER_GROUP_INDEX_NONE);
        assert_null(v);
        scim_filter_free(f);
    }
    {
        scim_error_t err = {0};
        scim_filter_t *f = scim_filter_parse_resource(SCIM_RESOURCE_USER, "userName eq \"a\"", 15, &err);
        assert_int_equal(scim_filter_index_hint(f, &v), SCIM_FILTER_INDEX_USERNAME);
        assert_string_equal(v, "a");
        assert_int_equal(scim_filter_index_exact(f), 1);
        scim_filter_free(f);
    }
    assert_int_equal(scim_filter_group_index_hint(NULL, NULL), SCIM_FILTER_GROUP_INDEX_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_okta_push),
        cmocka_unit_test(test_parse_entra_create),
        cmocka_unit_test(test_parse_names_case_insensitive),
        cmocka_unit_test(test_parse_drops_read_only_and_unknown),
        cmocka_unit_test(test_parse_member_shapes),
        cmocka_unit_test(test_parse_canonical_is_fixed_point),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_nul),
        cmocka_unit_test(test_parse_string_cap),
        cmocka_unit_test(test_parse_member_cap),
        cmocka_unit_test(test_okta_rename_noop),
        cmocka_unit_test(test_okta_rename),
        cmocka_unit_test(test_okta_membership_update),
        cmocka_unit_test(test_okta_push_now),
        cmocka_unit_test(test_entra_add_members),
        cmocka_unit_test(test_entra_remove_members_default),
        cmocka_unit_test(test_entra_remove_member_filter),
        cmocka_unit_test(test_entra_replace_attributes),
        cmocka_unit_test(test_op_and_path_names_case_insensitive),
        cmocka_unit_test(test_bare_string_members),
        cmocka_unit_test(test_remove_all_members),
        cmocka_unit_test(test_nested_group_flag),
        cmocka_unit_test(test_set_semantics),
        cmocka_unit_test(test_pathless_members),
        cmocka_unit_test(test_external_id_add_remove),
        cmocka_unit_test(test_plan_errors_syntax),
        cmocka_unit_test(test_plan_errors_path),
        cmocka_unit_test(test_plan_errors_target_and_mutability),
        cmocka_unit_test(test_plan_errors_values),
        cmocka_unit_test(test_plan_caps),
        cmocka_unit_test(test_plan_not_a_group),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_members_left_out_or_empty),
        cmocka_unit_test(test_filter_groups),
        cmocka_unit_test(test_filter_groups_errors_as_users),
        cmocka_unit_test(test_group_index_hints),
        cmocka_unit_test(test_user_filters_give_no_group_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
