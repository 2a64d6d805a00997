/*
 * The SCIM Group resource (RFC 7643 §4.2): what Okta's Group Push and Entra's group provisioning
 * send, read into a form the gateway stores, and rendered back.
 *
 * A *canonical group* is a jansson object with only "displayName" (a non-empty string) and, when
 * given, "externalId" (a string). It holds no "members": a group's members live in the store's
 * membership table and travel as lists of ids (scim_group_members_t), so that one membership change
 * costs in proportion to the members it names, not to the group's size. It holds no "schemas",
 * "id" or "meta" either (the gateway keeps those itself).
 *
 * Member ids are taken as given: whether an id names a known user (or a group: nested groups are
 * not supported) is the gateway's question, as is whether adding a present member or removing an
 * absent one changes anything (it never is an error here).
 *
 * Ownership: every json_t * returned is a new reference the caller must json_decref(); `const
 * json_t *` arguments are borrowed; const char * results point into the borrowed object and live as
 * long as it does. A scim_group_members_t owns its arrays and strings (scim_group_members_free); a
 * scim_group_patch_t owns everything in it (scim_group_patch_clear). Nothing here keeps state: any
 * thread may call any function.
 */
#ifndef SCIM_GROUP_H
#define SCIM_GROUP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/user.h"

/**
 * displayName, externalId and every member id have at most this many bytes (UTF-8, after JSON
 * unescaping): the user string cap, so that every stored value can be named in full by an `eq`
 * filter. Beyond it: 400 invalidValue. README, "Limits".
 */
#define SCIM_GROUP_MAX_STRING_BYTES SCIM_USER_MAX_STRING_BYTES

/**
 * One request (a POST or PUT body, or all the operations of one PATCH together) names at most
 * this many member values, duplicates included. Okta pushes a group with all its members in one
 * POST/PUT ("Push now" replaces them all); the large group has 10,000 members, and ten
 * times that leaves room. At the default --max-body-bytes (1 MiB) the body cap binds first (about
 * 20,000 bare ids); this bounds what one request costs when an operator raises it. Beyond it:
 * 400 invalidValue. README, "Limits".
 */
#define SCIM_GROUP_MAX_MEMBERS_PER_REQUEST 100000

/** Member ids in the order the request names them, each once (the first occurrence is kept). */
typedef struct scim_group_members {
    char **ids;    /** n NUL-terminated ids (malloc'd, owned), or NULL when n is 0 */
    int *is_group; /** n flags: 1 when the request said "type": "Group" (a nested group), or NULL when n is 0 */
    size_t n;
} scim_group_members_t;

/** Frees what `m` holds and zeroes it (a zeroed or freed one is fine). */
void scim_group_members_free(scim_group_members_t *m);

/**
 * Turns a POST/PUT body (or a canonical group) into a canonical group, and its "members" into
 * `members` (zeroed first; the caller frees it with scim_group_members_free() on success).
 * Attribute names and the core Group URN prefix match case-insensitively; readOnly attributes
 * (id, meta, schemas) and attributes the Group schema does not define are dropped, as for users.
 * Each member is {"value": "<id>", ...} or a bare string "<id>" (Microsoft's reference collection);
 * "$ref" and "display" are ignored, "type" is read only to flag nested groups (is_group); null
 * elements are skipped; "members": null or [] is no member. A single member object where an array
 * is expected is taken as a one-element array.
 * On error returns NULL, fills `err` and leaves `members` empty: 400 invalidSyntax for a body that
 * is not an object; 400 invalidValue for a missing or blank displayName, a value of the wrong type,
 * a member without a non-empty string value, a string with a NUL character, or beyond
 * SCIM_GROUP_MAX_STRING_BYTES or SCIM_GROUP_MAX_MEMBERS_PER_REQUEST.
 */
GW_MUST_CHECK json_t *scim_group_parse(const json_t *body, scim_error_t *err, scim_group_members_t *members);

/** displayName of a canonical group (never NULL for a parsed one). */
const char *scim_group_display_name(const json_t *group);
/** externalId or NULL. */
const char *scim_group_external_id(const json_t *group);

/**
 * What a PATCH request does to a group, worked out without its member list. The new membership is
 * (clear_members ? {} : the current members) minus `remove`, plus `add`; `add` and `remove` never
 * share an id, and `remove` is empty when clear_members is set, so the gateway may apply them in
 * either order.
 */
typedef struct scim_group_patch {
    json_t *group;               /** the canonical group after the attribute operations (owned) */
    int attrs_changed;           /** 1 when displayName or externalId differ from the input group */
    int clear_members;           /** every current member goes before `add` is applied */
    scim_group_members_t add;    /** ids to make members, with their is_group flags */
    scim_group_members_t remove; /** ids to make non-members (is_group all 0) */
} scim_group_patch_t;

/** Frees what `p` holds and zeroes it (a zeroed or cleared one is fine). */
void scim_group_patch_clear(scim_group_patch_t *p);

/**
 * Plans the PatchOp request `body` (RFC 7644 §3.5.2) on `group` (a canonical group, not modified)
 * into `out` (zeroed first; the caller clears it with scim_group_patch_clear() on success).
 *
 * Operations apply in order, op names in any case ("Add", "Replace", "Remove" from Entra), paths
 * optionally prefixed with the core Group URN:
 * - displayName, externalId: add/replace set (null: externalId is removed, displayName refused),
 *   remove drops externalId and is refused for displayName (it is required);
 * - members: add adds the listed ids; replace clears and adds the list ([] or null: clears);
 *   remove without a value (or with null) clears, remove with a value removes the listed ids
 *   (Entra's default shape). A list holds {"value": "<id>", ...} objects or bare id strings (a
 *   single object or string is a one-element list); "$ref" (Entra sends null), "display" and
 *   "type" are handled as in scim_group_parse;
 * - members[value eq "<id>"]: remove removes that id (Okta; Entra with aadOptscim062020);
 * - no path: add/replace take an object whose members are handled as paths (Okta's
 *   {"op":"replace","value":{"id":"…","displayName":"…"}}); names that are readOnly (id, meta,
 *   schemas) or that the schema lacks are ignored as on POST — a different "id" is not an error.
 * Set semantics across operations: adding x takes it out of `remove`, removing x takes it out of
 * `add`, a clear empties both.
 *
 * attrs_changed is 0 when the attributes end as they began (Okta's path-less replace with the
 * current displayName), whatever the membership operations do.
 *
 * On error returns -1 with `out` zeroed and `err` filled: 400 invalidSyntax (not a PatchOp body, an
 * op that is not add/replace/remove, a value missing on add/replace); 400 invalidPath (a path that
 * does not parse or names no attribute of the Group schema, a value filter on anything but members
 * or on members other than one `value eq "<string>"`); 400 noTarget (remove without a path); 400
 * mutability (id, meta, a sub-attribute of members, add/replace on members[...]); 400 invalidValue
 * (a value of the wrong type, a blank or removed displayName, a member without a value, beyond
 * SCIM_PATCH_MAX_OPERATIONS, SCIM_GROUP_MAX_STRING_BYTES or SCIM_GROUP_MAX_MEMBERS_PER_REQUEST).
 */
GW_MUST_CHECK int scim_group_patch_plan(const json_t *group, const json_t *body, scim_group_patch_t *out, scim_error_t *err);

/** What the gateway keeps beside the canonical group, for rendering; as scim_user_meta_t. All borrowed. */
typedef struct scim_group_meta {
    const char *id;            /** UUID v4 */
    const char *created;       /** RFC 3339 UTC, e.g. 2026-11-27T10:00:00.123Z */
    const char *last_modified; /** same format */
    const char *location;      /** absolute URL of the resource */
    int64_t version;           /** rendered as meta.version W/"<version>" (scim_user_etag; ETags work as for users) */
} scim_group_meta_t;

/**
 * The resource as the IdP sees it: "schemas" [core Group URN], "id", "externalId" (when set),
 * "displayName", "members", and "meta" {resourceType "Group", created, lastModified, location,
 * version}. `members` is taken (its reference becomes the rendering's): the gateway builds each
 * element ({"value", "display", "$ref", "type"}) from its own records; an array is rendered as
 * given ([] included), NULL (or anything but an array, which is released) leaves the attribute
 * out — excludedAttributes=members then costs no member look-up.
 */
json_t *scim_group_render(const json_t *group, const scim_group_meta_t *meta, json_t *members);

#endif
