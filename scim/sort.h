/*
 * sortBy / sortOrder (RFC 7644 §3.4.2.3) over rendered User resources.
 *
 * sortBy is an attribute path of the User or enterprise schema (optionally URN-qualified, names
 * case-insensitive): a single-valued attribute ("userName", "externalId", "displayName",
 * "meta.created", "meta.lastModified", "name.familyName", "urn:...:enterprise:2.0:User:department"),
 * or a multi-valued one ("emails", "emails.type"), which sorts by the primary value, else the first.
 * A complex attribute without a sub-attribute sorts by its "value" when it has one (manager).
 * Strings compare by the attribute's caseExact (userName, emails: case-insensitive), dateTimes as
 * instants, booleans false before true. Resources without a value sort last in either order.
 * The sort is stable: equal keys keep creation order, so pages stay stable.
 */
#ifndef SCIM_SORT_H
#define SCIM_SORT_H

#include <jansson.h>

#include "common/attr.h"
#include "scim/error.h"

typedef struct scim_sort scim_sort_t;

/**
 * Parses sortBy (NULL or "": no sort, returns NULL with err->status 0) and sortOrder ("ascending",
 * the default, or "descending", case-insensitive; NULL or "" for the default). On error returns
 * NULL with 400 invalidValue (an unknown or unsortable attribute, a bad sortOrder).
 */
GW_MUST_CHECK scim_sort_t *scim_sort_parse(const char *sort_by, const char *sort_order, scim_error_t *err);
void scim_sort_free(scim_sort_t *sort);

/** Sorts a JSON array of rendered resources in place (stable). */
void scim_sort_apply(const scim_sort_t *sort, json_t *resources);

#endif
