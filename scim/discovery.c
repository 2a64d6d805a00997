/*
 * Discovery documents (RFC 7643 §5-§7, RFC 7644 §4). /Schemas is generated from the same
 * attribute table the parser uses (schema.c), so it describes what the gateway really does.
 */
#include "scim/discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/list.h"
#include "scim/schema.h"

/* base_url + "/" + a + ["/" + b], without doubling a trailing '/' of base_url. */
static json_t *location(const char *base_url, const char *a, const char *b)
{
    size_t blen;

    if (base_url == NULL)
        base_url = "";
    blen = strlen(base_url);
    size_t n;
    char *s;
    json_t *j;

    while (blen > 0 && base_url[blen - 1] == '/')
        blen--;
    n = blen + strlen(a) + (b != NULL ? strlen(b) : 0) + 3;
    s = gw_malloc(n);
    snprintf(s, n, "%.*s/%s%s%s", (int)blen, base_url, a, b != NULL ? "/" : "", b != NULL ? b : "");
    j = json_string(s);
    free(s);
    return j;
}

static json_t *meta(const char *resource_type, json_t *loc)
{
    return json_pack("{s:s,s:o}", "resourceType", resource_type, "location", loc);
}

json_t *scim_discovery_service_provider_config(const char *base_url, const scim_discovery_limits_t *limits)
{
    size_t max_results = limits != NULL && limits->max_results > 0 ? limits->max_results : SCIM_LIST_MAX_COUNT;
    size_t max_payload = limits != NULL ? limits->max_payload_size : 0;

    return json_pack("{s:[s],s:s,s:{s:b},s:{s:b,s:i,s:I},s:{s:b,s:I},s:{s:b},s:{s:b},s:{s:b},"
                     "s:[{s:s,s:s,s:s,s:b}],s:o}",
                     "schemas", SCIM_SCHEMA_SERVICE_PROVIDER_CONFIG, "documentationUri",
                     "https://datatracker.ietf.org/doc/html/rfc7644", "patch", "supported", 1, "bulk", "supported", 0,
                     "maxOperations", 0, "maxPayloadSize", (json_int_t)max_payload, "filter", "supported", 1, "maxResults",
                     (json_int_t)max_results, "changePassword", "supported", 0, "sort", "supported", 1, "etag", "supported", 1,
                     "authenticationSchemes", "type", "oauthbearertoken", "name", "Bearer token", "description",
                     "A bearer token in the Authorization header (RFC 6750).", "primary", 1, "meta",
                     meta("ServiceProviderConfig", location(base_url, "ServiceProviderConfig", NULL)));
}

static json_t *user_resource_type(const char *base_url)
{
    return json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:b}],s:o}", "schemas", SCIM_SCHEMA_RESOURCE_TYPE, "id", "User", "name",
                     "User", "endpoint", "/Users", "description", "User Account", "schema", SCIM_SCHEMA_USER, "schemaExtensions",
                     "schema", SCIM_SCHEMA_ENTERPRISE_USER, "required", 0, "meta",
                     meta("ResourceType", location(base_url, "ResourceTypes", "User")));
}

static json_t *group_resource_type(const char *base_url)
{
    return json_pack("{s:[s],s:s,s:s,s:s,s:s,s:s,s:o}", "schemas", SCIM_SCHEMA_RESOURCE_TYPE, "id", "Group", "name", "Group",
                     "endpoint", "/Groups", "description", "Group", "schema", SCIM_SCHEMA_GROUP, "meta",
                     meta("ResourceType", location(base_url, "ResourceTypes", "Group")));
}

json_t *scim_discovery_resource_types(const char *base_url)
{
    return scim_list_render(json_pack("[oo]", user_resource_type(base_url), group_resource_type(base_url)), 2, 1);
}

json_t *scim_discovery_resource_type(const char *base_url, const char *id)
{
    if (id != NULL && scim__str_ieq(id, "User"))
        return user_resource_type(base_url);
    if (id != NULL && scim__str_ieq(id, "Group"))
        return group_resource_type(base_url);
    return NULL;
}

static const char *type_name(scim__attr_type_t t)
{
    static const char *const names[] = {"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"};
    return names[t];
}

static const char *mutability_name(scim__mutability_t m)
{
    static const char *const names[] = {"readWrite", "readOnly", "immutable", "writeOnly"};
    return names[m];
}

static const char *returned_name(scim__returned_t r)
{
    static const char *const names[] = {"default", "always", "never", "request"};
    return names[r];
}

static const char *uniqueness_name(scim__uniqueness_t u)
{
    static const char *const names[] = {"none", "server", "global"};
    return names[u];
}

static json_t *string_list(const char *const *list)
{
    json_t *a = json_array();
    for (; *list != NULL; list++)
        json_array_append_new(a, json_string(*list));
    return a;
}

static json_t *attr_definitions(const scim__attr_t *attrs, size_t n);

static json_t *attr_definition(const scim__attr_t *a)
{
    json_t *d = json_pack("{s:s,s:s,s:b,s:s,s:b,s:b,s:s,s:s,s:s}", "name", a->name, "type", type_name(a->type), "multiValued",
                          a->multi_valued, "description", a->description, "required", a->required, "caseExact", a->case_exact,
                          "mutability", mutability_name(a->mutability), "returned", returned_name(a->returned), "uniqueness",
                          uniqueness_name(a->uniqueness));

    if (a->canonical_values != NULL)
        json_object_set_new(d, "canonicalValues", string_list(a->canonical_values));
    if (a->reference_types != NULL)
        json_object_set_new(d, "referenceTypes", string_list(a->reference_types));
    if (a->type == SCIM__TYPE_COMPLEX)
        json_object_set_new(d, "subAttributes", attr_definitions(a->sub_attrs, a->n_sub_attrs));
    return d;
}

static json_t *attr_definitions(const scim__attr_t *attrs, size_t n)
{
    json_t *a = json_array();
    size_t i;
    for (i = 0; i < n; i++)
        json_array_append_new(a, attr_definition(&attrs[i]));
    return a;
}

static json_t *schema_document(const char *base_url, const scim__schema_t *s)
{
    return json_pack("{s:[s],s:s,s:s,s:s,s:o,s:o}", "schemas", SCIM_SCHEMA_SCHEMA, "id", s->id, "name", s->name, "description",
                     s->description, "attributes", attr_definitions(s->attrs, s->n_attrs), "meta",
                     meta("Schema", location(base_url, "Schemas", s->id)));
}

/* What /Schemas lists, in its order. */
static const scim__schema_t *const published[] = {&scim__schema_user, &scim__schema_enterprise, &scim__schema_group};

json_t *scim_discovery_schemas(const char *base_url)
{
    json_t *all = json_array();
    size_t i;

    for (i = 0; i < sizeof(published) / sizeof(published[0]); i++)
        json_array_append_new(all, schema_document(base_url, published[i]));
    return scim_list_render(all, json_array_size(all), 1);
}

json_t *scim_discovery_schema(const char *base_url, const char *urn)
{
    size_t i;

    for (i = 0; urn != NULL && i < sizeof(published) / sizeof(published[0]); i++) {
        if (scim__str_ieq(urn, published[i]->id))
            return schema_document(base_url, published[i]);
    }
    return NULL;
}
