/*
 * Discovery documents (RFC 7643 §5-§7, RFC 7644 §4): what the gateway supports, truthfully.
 * All return new references; `base_url` is the absolute URL of the SCIM base path
 * (e.g. "https://scim.example.com/scim/v2"), used for meta.location.
 */
#ifndef SCIM_DISCOVERY_H
#define SCIM_DISCOVERY_H

#include <jansson.h>
#include <stddef.h>

typedef struct scim_discovery_limits {
    size_t max_results;      /** filter.maxResults and the list page cap */
    size_t max_payload_size; /** bulk is not supported, but maxPayloadSize reports the body cap */
} scim_discovery_limits_t;

json_t *scim_discovery_service_provider_config(const char *base_url, const scim_discovery_limits_t *limits);
/** ListResponse of all resource types: "User" (with the enterprise extension) and "Group". */
json_t *scim_discovery_resource_types(const char *base_url);
/** One resource type by id (case-insensitive), or NULL when unknown. */
json_t *scim_discovery_resource_type(const char *base_url, const char *id);
/** ListResponse of the User, enterprise-extension and Group schemas, with full attribute definitions. */
json_t *scim_discovery_schemas(const char *base_url);
/** One schema by URN (case-insensitive), or NULL when unknown. */
json_t *scim_discovery_schema(const char *base_url, const char *urn);

#endif
