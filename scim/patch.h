/*
 * SCIM PATCH (RFC 7644 §3.5.2) on a canonical user, including the shapes real IdPs send:
 * - op names case-insensitive ("Add", "Replace", "Remove" from Entra);
 * - Okta's path-less {"op":"replace","value":{"active":false}};
 * - path-less values whose keys are dotted paths ("name.givenName") or URN-qualified
 *   ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department");
 * - string booleans ("False") for boolean attributes;
 * - value-filtered paths (emails[type eq "work"].value), creating the multi-valued element when
 *   add/replace finds none;
 * - the enterprise manager as a bare string or as {"value": "..."}.
 */
#ifndef SCIM_PATCH_H
#define SCIM_PATCH_H

#include <jansson.h>

#include "common/attr.h"
#include "scim/error.h"

#define SCIM_SCHEMA_PATCH_OP "urn:ietf:params:scim:api:messages:2.0:PatchOp"
/** More operations than this in one request → 400 invalidValue. */
#define SCIM_PATCH_MAX_OPERATIONS 1000

/**
 * Applies the PatchOp request `body` to `user` (a canonical user, modified in place; borrowed).
 * On success returns 0; the caller re-validates the result with scim_user_parse().
 * On error returns -1, fills `err` (400 invalidSyntax: not a PatchOp body; 400 invalidPath: a path
 * that names no attribute or does not parse; 400 noTarget: remove without path, or a value filter
 * that matches nothing on remove; 400 invalidValue: a value of the wrong type; 400 mutability:
 * a readOnly attribute such as id or meta), and `user` may be partly modified — callers patch a
 * copy (json_deep_copy) and discard it on error.
 */
GW_MUST_CHECK int scim_patch_apply(json_t *user, const json_t *body, scim_error_t *err);

#endif
