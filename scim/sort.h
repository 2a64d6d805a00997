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

/**
 * The sorts a directory can answer from values it keeps in columns (store/store.h), so that a
 * sorted page need not read every user. For each, scim_sort_key_cmp orders by the attribute's
 * string, a user without one last in either order, and compares strings with ASCII letters folded
 * (userName, displayName, name.familyName, name.givenName, emails: caseExact false) or bytewise
 * (id, externalId: caseExact true); meta.created and meta.lastModified compare as instants, which
 * for the gateway's fixed-width UTC timestamps (common/clock.h) is their bytewise order. EMAIL is
 * the primary email's value, else the first email's (sortBy "emails" or "emails.value").
 */
typedef enum scim_sort_attr {
    SCIM_SORT_ATTR_OTHER, /** none of these: sort by keys */
    SCIM_SORT_ATTR_ID,
    SCIM_SORT_ATTR_USER_NAME,
    SCIM_SORT_ATTR_EXTERNAL_ID,
    SCIM_SORT_ATTR_DISPLAY_NAME,
    SCIM_SORT_ATTR_FAMILY_NAME,
    SCIM_SORT_ATTR_GIVEN_NAME,
    SCIM_SORT_ATTR_EMAIL,
    SCIM_SORT_ATTR_CREATED,
    SCIM_SORT_ATTR_LAST_MODIFIED,
} scim_sort_attr_t;

/** Which of those `sort` sorts by (OTHER for NULL). */
scim_sort_attr_t scim_sort_attr(const scim_sort_t *sort);
/** 1 when sortOrder was descending. */
int scim_sort_descending(const scim_sort_t *sort);

/**
 * The string a canonical (or rendered) user sorts by for `attr`, one of DISPLAY_NAME, FAMILY_NAME,
 * GIVEN_NAME and EMAIL (the values a directory keeps beside the user): borrowed from `user`, NULL
 * when the user sorts as having none. These attributes are strings in every parsed user, so the
 * string is the whole key.
 */
const char *scim_sort_value(const json_t *user, scim_sort_attr_t attr);

#endif
