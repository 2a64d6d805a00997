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

void scim_select_free(scim_select_t *sel);

/**
 * Trims a rendered User resource (as scim_user_render produces it) in place. The enterprise URN
 * leaves "schemas" when nothing of the extension is left. `sel` NULL trims nothing.
 */
void scim_select_apply(const scim_select_t *sel, json_t *resource);

/**
 * 1 when scim_select_apply(sel, r) can never change a rendering r of scim_user_render: neither
 * list names anything (NULL counts as such) and the schema table has no attribute that a
 * selection without names would drop (returned=request, or returned=never where
 * scim_user_render does not already leave it out).
 */
int scim_select_is_identity(const scim_select_t *sel);

#endif
