/*
 * Which attributes a response carries: the `attributes` and `excludedAttributes` parameters
 * (RFC 7644 §3.4.2.5, §3.9) applied with each attribute's `returned` characteristic
 * (RFC 7643 §2.4, taken from the schema table that /Schemas publishes):
 * - always (id, schemas): returned whatever the parameters say;
 * - never (password): never returned;
 * - default: returned unless excluded, or unless `attributes` is given and does not name it;
 * - request: returned only when `attributes` names it.
 *
 * Both parameters are comma-separated attribute paths: "userName", "name.givenName", "emails",
 * "emails.value", schema-URN-qualified forms ("urn:...:core:2.0:User:userName",
 * "urn:...:enterprise:2.0:User:department") and an extension URN alone (the whole extension).
 * Names compare case-insensitively. A name no schema defines selects nothing (it is not an
 * error: a client may ask for attributes of another service provider's schema). When both are
 * given, `attributes` picks and `excludedAttributes` then removes.
 */
#ifndef SCIM_SELECT_H
#define SCIM_SELECT_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/resource.h"

/** More names than this in one parameter → 400 invalidValue. */
#define SCIM_SELECT_MAX_NAMES 256

typedef struct scim_select scim_select_t;

/**
 * Parses the two lists (each NULL or "" when absent). Returns a selection the caller frees with
 * scim_select_free(); NULL with `err` set (400 invalidValue: an empty or malformed name, too many).
 * A selection with neither list still enforces `never` and `request`.
 */
GW_MUST_CHECK scim_select_t *scim_select_parse(const char *attributes, const char *excluded, scim_error_t *err);

/**
 * As scim_select_parse, from the JSON arrays of strings of a SearchRequest body (RFC 7644 §3.4.3);
 * either may be NULL. Non-string members → 400 invalidValue.
 */
GW_MUST_CHECK scim_select_t *scim_select_from_json(const json_t *attributes, const json_t *excluded, scim_error_t *err);

/**
 * scim_select_parse and scim_select_from_json for resources of type `res` (the two above are the
 * SCIM_RESOURCE_USER case): names resolve against that resource's schema ("members",
 * "members.display", "urn:...:core:2.0:Group:displayName" for groups), and scim_select_apply
 * then trims renderings of that resource (scim_group_render for groups).
 */
GW_MUST_CHECK scim_select_t *scim_select_parse_resource(scim_resource_t res, const char *attributes, const char *excluded,
                                                        scim_error_t *err);
GW_MUST_CHECK scim_select_t *scim_select_from_json_resource(scim_resource_t res, const json_t *attributes, const json_t *excluded,
                                                            scim_error_t *err);

void scim_select_free(scim_select_t *sel);

/**
 * Trims a rendered resource (as scim_user_render, or scim_group_render for a group selection,
 * produces it) in place. The enterprise URN
 * leaves "schemas" when nothing of the extension is left. `sel` NULL trims nothing.
 */
void scim_select_apply(const scim_select_t *sel, json_t *resource);

/**
 * 1 when scim_select_apply(sel, r) can never change a rendering r of scim_user_render (of
 * scim_group_render for a group selection): neither
 * list names anything (NULL counts as such) and the schema table has no attribute that a
 * selection without names would drop (returned=request, or returned=never where
 * scim_user_render does not already leave it out).
 */
int scim_select_is_identity(const scim_select_t *sel);

/**
 * 0 when scim_select_apply would remove the top-level core attribute `attr` (a NUL-terminated name
 * of the selection's schema) from every rendering, else 1 — so that the gateway can leave out what
 * would be trimmed before it is built: with excludedAttributes=members (Entra's group look-ups), or
 * attributes naming neither members nor a sub-attribute of it, scim_select_returns(sel, "members")
 * is 0 and scim_group_render needs no member list. `sel` NULL returns everything (1).
 */
int scim_select_returns(const scim_select_t *sel, const char *attr);

#endif
