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

/** The kind of a sort key, in the order values of different kinds compare (missing aside). */
typedef enum scim_sort_key_kind {
    SCIM_SORT_KEY_MISSING = -1, /* no value: last, in either order */
    SCIM_SORT_KEY_BOOLEAN = 0,
    SCIM_SORT_KEY_NUMBER = 1,
    SCIM_SORT_KEY_STRING = 2,
} scim_sort_key_kind_t;

/**
 * The value a resource sorts by, detached from its JSON tree (so the tree can be dropped): what
 * scim_sort_apply compares. Filled by scim_sort_key(), released by scim_sort_key_clear().
 */
typedef struct scim_sort_key {
    scim_sort_key_kind_t kind;
    double number; /* NUMBER: the value; BOOLEAN: 0 or 1 */
    char *str;     /* STRING: a copy (may hold NUL bytes), str_len bytes */
    size_t str_len;
    int has_instant; /* STRING of a dateTime attribute that parses as one: compared as instants */
    long long seconds;
    long nanos;
} scim_sort_key_t;

/** Extracts the sort key of a rendered resource into `out` (owned by the caller: scim_sort_key_clear). */
void scim_sort_key(const scim_sort_t *sort, const json_t *resource, scim_sort_key_t *out);
void scim_sort_key_clear(scim_sort_key_t *key);

/**
 * Compares two keys of the same sort: < 0 when `a` comes first, > 0 when `b` does, 0 when they
 * are equal (the caller then keeps the scan order, as scim_sort_apply does). Honours sortOrder;
 * missing values come last in either order.
 */
int scim_sort_key_cmp(const scim_sort_t *sort, const scim_sort_key_t *a, const scim_sort_key_t *b);

#endif
