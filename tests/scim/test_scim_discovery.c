/*
 * scim/discovery.c: ServiceProviderConfig, ResourceTypes and Schemas tell the truth.
 */
#include "scim_test.h"

#include "scim/discovery.h"
#include "scim/schema.h"

#define BASE "https://scim.example.com/scim/v2"
#define ENT  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static json_t *find_by(json_t *array, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(array, i, e)
    {
        const char *v = json_string_value(json_object_get(e, key));
        if (v != NULL && strcmp(v, value) == 0)
            return e;
    }
    return NULL;
}

static void test_service_provider_config(void **state)
{
    scim_discovery_limits_t limits = {200, 1048576};
    json_t *spc = scim_discovery_service_provider_config(BASE "/", &limits);
    json_t *auth;
    (void)state;
    assert_string_equal(json_string_value(json_array_get(json_object_get(spc, "schemas"), 0)),
                        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig");
    assert_json_equal(json_object_get(spc, "patch"), "{\"supported\":true}");
    assert_json_equal(json_object_get(spc, "bulk"), "{\"supported\":false,\"maxOperations\":0,\"maxPayloadSize\":1048576}");
    assert_json_equal(json_object_get(spc, "filter"), "{\"supported\":true,\"maxResults\":200}");
    assert_json_equal(json_object_get(spc, "changePassword"), "{\"supported\":false}");
    assert_json_equal(json_object_get(spc, "sort"), "{\"supported\":true}");
    assert_json_equal(json_object_get(spc, "etag"), "{\"supported\":true}");
    auth = json_object_get(spc, "authenticationSchemes");
    assert_int_equal(json_array_size(auth), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(auth, 0), "type")), "oauthbearertoken");
    assert_string_equal(json_string_value(json_object_get(json_array_get(auth, 0), "name")), "Bearer token");
    assert_json_equal(json_object_get(spc, "meta"), "{\"resourceType\":\"ServiceProviderConfig\","
                                                    "\"location\":\"" BASE "/ServiceProviderConfig\"}");
    json_decref(spc);
}

static void test_resource_types(void **state)
{
    json_t *list = scim_discovery_resource_types(BASE);
    json_t *user = json_array_get(json_object_get(list, "Resources"), 0);
    json_t *group = json_array_get(json_object_get(list, "Resources"), 1);
    (void)state;
    assert_int_equal(json_integer_value(json_object_get(list, "totalResults")), 2);
    assert_int_equal(json_array_size(json_object_get(list, "Resources")), 2);
    assert_string_equal(json_string_value(json_object_get(user, "id")), "User");
    assert_string_equal(json_string_value(json_object_get(user, "endpoint")), "/Users");
    assert_string_equal(json_string_value(json_object_get(user, "schema")), SCIM_SCHEMA_USER);
    assert_json_equal(json_object_get(user, "schemaExtensions"), "[{\"schema\":\"" ENT "\",\"required\":false}]");
    assert_string_equal(json_string_value(json_object_get(json_object_get(user, "meta"), "location")), BASE "/ResourceTypes/User");
    assert_string_equal(json_string_value(json_object_get(group, "id")), "Group");
    assert_string_equal(json_string_value(json_object_get(group, "name")), "Group");
    assert_string_equal(json_string_value(json_object_get(group, "endpoint")), "/Groups");
    assert_string_equal(json_string_value(json_object_get(group, "schema")), SCIM_SCHEMA_GROUP);
    assert_null(json_object_get(group, "schemaExtensions"));
    assert_json_equal(json_object_get(group, "meta"),
                      "{\"resourceType\":\"ResourceType\",\"location\":\"" BASE "/ResourceTypes/Group\"}");
    json_decref(list);
}

static void test_resource_type_by_id(void **state)
{
    json_t *a = scim_discovery_resource_type(BASE, "User");
    json_t *b = scim_discovery_resource_type(BASE, "user");
    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    assert_null(scim_discovery_resource_type(BASE, "Users"));
    assert_null(scim_discovery_resource_type(BASE, "Groups"));
    assert_null(scim_discovery_resource_type(BASE, NULL));
    json_decref(a);
    json_decref(b);
    a = scim_discovery_resource_type(BASE, "Group");
    b = scim_discovery_resource_type(BASE, "GROUP");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    assert_string_equal(json_string_value(json_object_get(a, "endpoint")), "/Groups");
    json_decref(a);
    json_decref(b);
}

static void test_schemas_user_name(void **state)
{
    json_t *list = scim_discovery_schemas(BASE);
    json_t *core = find_by(json_object_get(list, "Resources"), "id", SCIM_SCHEMA_USER);
    json_t *attrs = json_object_get(core, "attributes");
    json_t *user_name = find_by(attrs, "name", "userName");
    (void)state;
    assert_int_equal(json_integer_value(json_object_get(list, "totalResults")), 3);
    assert_non_null(find_by(json_object_get(list, "Resources"), "id", ENT));
    assert_non_null(find_by(json_object_get(list, "Resources"), "id", SCIM_SCHEMA_GROUP));
    assert_non_null(user_name);
    assert_json_equal(user_name, "{\"name\":\"userName\",\"type\":\"string\",\"multiValued\":false,"
                                 "\"description\":\"Unique identifier for the User, typically used by the user to "
                                 "directly authenticate to the service provider. Compared case-insensitively.\","
                                 "\"required\":true,\"caseExact\":false,\"mutability\":\"readWrite\","
                                 "\"returned\":\"default\",\"uniqueness\":\"server\"}");
    assert_string_equal(json_string_value(json_object_get(json_object_get(core, "meta"), "location")),
                        BASE "/Schemas/" SCIM_SCHEMA_USER);
    json_decref(list);
}

static void test_schemas_full_definitions(void **state)
{
    json_t *core = scim_discovery_schema(BASE, "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER");
    json_t *attrs = json_object_get(core, "attributes");
    json_t *emails = find_by(attrs, "name", "emails");
    json_t *type = find_by(json_object_get(emails, "subAttributes"), "name", "type");
    json_t *password = find_by(attrs, "name", "password");
    json_t *groups = find_by(attrs, "name", "groups");
    json_t *active = find_by(attrs, "name", "active");
    (void)state;
    assert_non_null(core);
    assert_true(json_is_true(json_object_get(emails, "multiValued")));
    assert_string_equal(json_string_value(json_object_get(emails, "type")), "complex");
    assert_json_equal(json_object_get(type, "canonicalValues"), "[\"work\",\"home\",\"other\"]");
    assert_string_equal(json_string_value(json_object_get(password, "mutability")), "writeOnly");
    assert_string_equal(json_string_value(json_object_get(password, "returned")), "never");
    assert_string_equal(json_string_value(json_object_get(groups, "mutability")), "readOnly");
    assert_string_equal(json_string_value(json_object_get(active, "type")), "boolean");
    /* id, externalId and meta are common attributes, not part of the User schema (RFC 7643 §3.1). */
    assert_null(find_by(attrs, "name", "id"));
    json_decref(core);
}

static void test_schema_enterprise(void **state)
{
    json_t *ent = scim_discovery_schema(BASE, ENT);
    json_t *manager = find_by(json_object_get(ent, "attributes"), "name", "manager");
    json_t *subs = json_object_get(manager, "subAttributes");
    (void)state;
    assert_non_null(manager);
    assert_non_null(find_by(subs, "name", "value"));
    assert_string_equal(json_string_value(json_object_get(find_by(subs, "name", "displayName"), "mutability")), "readOnly");
    assert_json_equal(json_object_get(find_by(subs, "name", "$ref"), "referenceTypes"), "[\"User\"]");
    assert_null(scim_discovery_schema(BASE, "urn:example:unknown"));
    assert_null(scim_discovery_schema(BASE, NULL));
    json_decref(ent);
}

/* The Group schema comes from the same table the Group parser reads (RFC 7643 §4.2, §8.7.1). */
static void test_schema_group(void **state)
{
    json_t *g = scim_discovery_schema(BASE, "urn:ietf:params:scim:schemas:core:2.0:group");
    json_t *attrs = json_object_get(g, "attributes");
    json_t *members = find_by(attrs, "name", "members");
    json_t *subs = json_object_get(members, "subAttributes");
    (void)state;
    assert_non_null(g);
    assert_string_equal(json_string_value(json_object_get(g, "id")), SCIM_SCHEMA_GROUP);
    assert_string_equal(json_string_value(json_object_get(g, "name")), "Group");
    assert_int_equal(json_array_size(attrs), 2);
    assert_json_equal(find_by(attrs, "name", "displayName"),
                      "{\"name\":\"displayName\",\"type\":\"string\",\"multiValued\":false,"
                      "\"description\":\"A human-readable name for the Group. Unique, compared case-insensitively.\","
                      "\"required\":true,\"caseExact\":false,\"mutability\":\"readWrite\","
                      "\"returned\":\"default\",\"uniqueness\":\"server\"}");
    assert_true(json_is_true(json_object_get(members, "multiValued")));
    assert_string_equal(json_string_value(json_object_get(members, "type")), "complex");
    assert_string_equal(json_string_value(json_object_get(members, "mutability")), "readWrite");
    assert_int_equal(json_array_size(subs), 4);
    assert_string_equal(json_string_value(json_object_get(find_by(subs, "name", "value"), "mutability")), "immutable");
    assert_true(json_is_true(json_object_get(find_by(subs, "name", "value"), "caseExact")));
    assert_json_equal(json_object_get(find_by(subs, "name", "$ref"), "referenceTypes"), "[\"User\",\"Group\"]");
    assert_string_equal(json_string_value(json_object_get(find_by(subs, "name", "display"), "mutability")), "readOnly");
    assert_json_equal(json_object_get(find_by(subs, "name", "type"), "canonicalValues"), "[\"User\",\"Group\"]");
    assert_string_equal(json_string_value(json_object_get(json_object_get(g, "meta"), "location")),
                        BASE "/Schemas/" SCIM_SCHEMA_GROUP);
    assert_null(find_by(attrs, "name", "id"));
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_provider_config),
        cmocka_unit_test(test_resource_types),
        cmocka_unit_test(test_resource_type_by_id),
        cmocka_unit_test(test_schemas_user_name),
        cmocka_unit_test(test_schemas_full_definitions),
        cmocka_unit_test(test_schema_enterprise),
        cmocka_unit_test(test_schema_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
