/*
 * Internal to scim/: the one attribute table of the User and Group resources (RFC 7643 §3.1
 * common attributes, §4.1 core User, §4.2 core Group, §4.3 enterprise extension) and the value
 * rules derived from it.
 *
 * Every other scim/ file asks this table: user.c and group.c to canonicalize bodies, patch.c and
 * group.c to resolve paths, parse.c for caseExact, discovery.c to publish /Schemas. Keeping one
 * table is what makes /Schemas tell the truth about what the parser does.
 *
 * Internal non-static names carry the `scim__` prefix; nothing here is part of the public API.
 */
#ifndef SCIM_SCHEMA_H
#define SCIM_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/resource.h"

/** The schema URNs (RFC 7643 §8.2, §8.3, §8.7): resources, the enterprise extension, discovery. */
#define SCIM_SCHEMA_USER                    "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIM_SCHEMA_GROUP                   "urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIM_SCHEMA_ENTERPRISE_USER         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#define SCIM_SCHEMA_SERVICE_PROVIDER_CONFIG "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
#define SCIM_SCHEMA_RESOURCE_TYPE           "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
#define SCIM_SCHEMA_SCHEMA                  "urn:ietf:params:scim:schemas:core:2.0:Schema"

typedef enum scim__attr_type {
    SCIM__TYPE_STRING,
    SCIM__TYPE_BOOLEAN,
    SCIM__TYPE_DECIMAL,
    SCIM__TYPE_INTEGER,
    SCIM__TYPE_DATETIME,
    SCIM__TYPE_BINARY,
    SCIM__TYPE_REFERENCE,
    SCIM__TYPE_COMPLEX,
} scim__attr_type_t;

typedef enum scim__mutability {
    SCIM__MUT_READ_WRITE,
    SCIM__MUT_READ_ONLY,
    SCIM__MUT_IMMUTABLE,
    SCIM__MUT_WRITE_ONLY,
} scim__mutability_t;

typedef enum scim__returned {
    SCIM__RET_DEFAULT,
    SCIM__RET_ALWAYS,
    SCIM__RET_NEVER,
    SCIM__RET_REQUEST,
} scim__returned_t;

typedef enum scim__uniqueness {
    SCIM__UNIQ_NONE,
    SCIM__UNIQ_SERVER,
    SCIM__UNIQ_GLOBAL,
} scim__uniqueness_t;

typedef struct scim__attr {
    const char *name; /** canonical spelling */
    scim__attr_type_t type;
    int multi_valued;
    int required;
    int case_exact;
    scim__mutability_t mutability;
    scim__returned_t returned;
    scim__uniqueness_t uniqueness;
    const char *description;
    const char *const *canonical_values; /** NULL-terminated or NULL */
    const char *const *reference_types;  /** NULL-terminated or NULL */
    const struct scim__attr *sub_attrs;  /** complex only */
    size_t n_sub_attrs;
} scim__attr_t;

typedef struct scim__schema {
    const char *id; /** the schema URN */
    const char *name;
    const char *description;
    const scim__attr_t *attrs;
    size_t n_attrs;
} scim__schema_t;

/** Where an attribute lives in a resource. */
typedef enum scim__scope {
    SCIM__SCOPE_CORE,       /** top level of the resource (core and common attributes) */
    SCIM__SCOPE_ENTERPRISE, /** inside the enterprise extension object (users only) */
    SCIM__SCOPE_UNKNOWN,    /** a schema URN the gateway does not know */
} scim__scope_t;

extern const scim__schema_t scim__schema_user;
extern const scim__schema_t scim__schema_enterprise;
extern const scim__schema_t scim__schema_group;
/** id, externalId, meta (RFC 7643 §3.1): in every resource, in no schema's attribute list. */
extern const scim__attr_t scim__common_attrs[];
extern const size_t scim__n_common_attrs;

/** ASCII case-insensitive equality of a NUL-terminated `a` and `len` bytes of `b`. */
int scim__strn_ieq(const char *a, const char *b, size_t len);
int scim__str_ieq(const char *a, const char *b);

/** Looks `len` bytes of `name` up (case-insensitively) among `n` attributes; NULL if absent. */
const scim__attr_t *scim__attr_find(const scim__attr_t *attrs, size_t n, const char *name, size_t len);
/** A top-level attribute of `scope` (core scope includes the common attributes) of a User. */
const scim__attr_t *scim__attr_find_scoped(scim__scope_t scope, const char *name, size_t len);
/** The same for a resource of type `res`: a Group's core scope is the Group schema; it has no extension. */
const scim__attr_t *scim__attr_find_in(scim_resource_t res, scim__scope_t scope, const char *name, size_t len);
/** A sub-attribute of a complex attribute, or NULL. */
const scim__attr_t *scim__sub_attr_find(const scim__attr_t *parent, const char *name, size_t len);

/**
 * Splits an optional schema-URN prefix off an attribute path ("urn:...:User:name.givenName").
 * Sets *scope, and *rest and *rest_len to what follows the URN and its ':'. A path that is exactly
 * the enterprise URN gives SCOPE_ENTERPRISE with *rest_len 0 ("the whole extension").
 */
void scim__split_urn(const char *path, size_t len, scim__scope_t *scope, const char **rest, size_t *rest_len);
/**
 * scim__split_urn for a resource of type `res`: the core URN is that resource's schema
 * (urn:...:core:2.0:Group for groups); every other URN, the enterprise one included for a Group,
 * is SCOPE_UNKNOWN.
 */
void scim__split_urn_in(scim_resource_t res, const char *path, size_t len, scim__scope_t *scope, const char **rest,
                        size_t *rest_len);

/** Case-insensitive member lookup; sets *key (when not NULL) to the key as stored. Borrowed. */
json_t *scim__obj_get_ci(const json_t *obj, const char *name, size_t len, const char **key);
/** Removes every member whose key equals `name` case-insensitively. */
void scim__obj_del_ci(json_t *obj, const char *name);

/** 1 for JSON true or a "true" string in any case; 0 otherwise. */
int scim__is_true(const json_t *v);

/**
 * The canonical form of one value of `attr` (one element when it is multi-valued): booleans from
 * "True"/"False" strings, complex values with canonical sub-attribute names and unknown and
 * readOnly sub-attributes dropped, a bare string taken as {"value": s} for a single complex
 * attribute that has a "value" sub-attribute (the enterprise manager). `parent` names the
 * enclosing attribute in error details (or NULL). Returns a new reference, json_null() when
 * nothing is left (an empty complex value), or NULL with 400 invalidValue.
 */
json_t *scim__value_canon_one(const scim__attr_t *attr, const scim__attr_t *parent, const json_t *v, scim_error_t *err);
/**
 * The canonical form of the whole attribute: for a multi-valued attribute an array (a single
 * object is accepted as a one-element array), null and empty elements dropped, at most one
 * primary (the first). Returns json_null() when the value amounts to nothing (null, [], {}).
 */
json_t *scim__value_canon(const scim__attr_t *attr, const scim__attr_t *parent, const json_t *v, scim_error_t *err);

/** An xsd:dateTime as an instant: seconds since 1970-01-01T00:00:00Z and nanoseconds. */
typedef struct scim__datetime {
    long long seconds;
    long nanos;
} scim__datetime_t;

/**
 * Parses `len` bytes of an xsd:dateTime (RFC 7643 §2.3.5): YYYY-MM-DDTHH:MM:SS[.fraction]
 * [Z|±HH:MM]; without a zone it is taken as UTC. Returns 0, or -1 when it is not one.
 */
GW_MUST_CHECK int scim__datetime_parse(const char *s, size_t len, scim__datetime_t *out);
/** -1, 0 or 1 as `a` is before, at or after `b`. */
int scim__datetime_cmp(const scim__datetime_t *a, const scim__datetime_t *b);

/** Sets "primary" false on every element of `array` that has it true, except `keep`. */
void scim__primary_keep_only(json_t *array, const json_t *keep);

#endif
