/*
 * The SCIM resource types the gateway serves (RFC 7643 §4). Modules whose rules depend on the
 * schema a resource follows (filters, attribute selection) take one of these.
 */
#ifndef SCIM_RESOURCE_H
#define SCIM_RESOURCE_H

typedef enum scim_resource {
    SCIM_RESOURCE_USER,  /** core User schema + enterprise extension (scim/user.h) */
    SCIM_RESOURCE_GROUP, /** core Group schema (scim/group.h) */
} scim_resource_t;

#endif
