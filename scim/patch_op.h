/*
 * Internal to scim/: one operation of a PatchOp request (RFC 7644 §3.5.2) as both PATCH readers
 * see it — users (patch.c, which applies it) and groups (group.c, which plans membership deltas).
 * The shapes IdPs send are read here once: op names in any case (Entra's "Add", "Replace",
 * "Remove"), a path that is a string or absent, a value required except on remove, and a
 * path-less operation whose value must then be an object (Okta's {"op":"replace","value":{...}}).
 */
#ifndef SCIM_PATCH_OP_H
#define SCIM_PATCH_OP_H

#include <jansson.h>
#include <stddef.h>

#include "scim/error.h"

typedef enum scim__patch_op {
    SCIM__PATCH_ADD,
    SCIM__PATCH_REPLACE,
    SCIM__PATCH_REMOVE,
} scim__patch_op_t;

/**
 * The Operations array of a PatchOp body (borrowed), after the checks every PATCH shares: an
 * object whose "schemas" lists `urn` (the PatchOp URN, scim/patch.h), a non-empty "Operations"
 * array, at most `max_ops` of them (SCIM_PATCH_MAX_OPERATIONS). NULL with 400 invalidSyntax or
 * invalidValue in `err`.
 */
const json_t *scim__patch_ops(const json_t *body, const char *urn, size_t max_ops, scim_error_t *err);

/**
 * Reads Operations[`index`] = `op_obj`: *op, *path (a non-empty path string, or NULL for a
 * path-less operation) and *value (NULL when absent; borrowed from `op_obj`). 0, or -1 with `err`:
 * 400 invalidSyntax (not an object, an unknown op, a value missing on add/replace), 400 invalidPath
 * (a path that is not a string), 400 noTarget (remove without a path), 400 invalidValue (a
 * path-less value that is not an object).
 */
int scim__patch_op_read(const json_t *op_obj, size_t index, scim__patch_op_t *op, const char **path, const json_t **value,
                        scim_error_t *err);

#endif
