#include "scim/patch_op.h"

#include "scim/schema.h"

static int has_patch_schema(const json_t *body, const char *urn)
{
    json_t *schemas = scim__obj_get_ci(body, "schemas", 7, NULL);
    size_t i;
    json_t *s;

    json_array_foreach(schemas, i, s)
    {
        if (json_is_string(s) && scim__str_ieq(json_string_value(s), urn))
            return 1;
    }
    return 0;
}

const json_t *scim__patch_ops(const json_t *body, const char *urn, size_t max_ops, scim_error_t *err)
{
    if (!json_is_object(body) || !has_patch_schema(body, urn)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the body must be a PatchOp with schemas [\"%s\"]", urn);
        return NULL;
    }
    const json_t *ops = scim__obj_get_ci(body, "Operations", 10, NULL);
    if (!json_is_array(ops) || json_array_size(ops) == 0) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "Operations must be a non-empty array");
        return NULL;
    }
    if (json_array_size(ops) > max_ops) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "more than %zu operations", max_ops);
        return NULL;
    }
    return ops;
}

int scim__patch_op_read(const json_t *op_obj, size_t index, scim__patch_op_t *op, const char **path, const json_t **value,
                        scim_error_t *err)
{
    if (!json_is_object(op_obj))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "Operations[%zu] must be an object", index);
    const char *name = json_string_value(scim__obj_get_ci(op_obj, "op", 2, NULL));
    if (name != NULL && scim__str_ieq(name, "add"))
        *op = SCIM__PATCH_ADD;
    else if (name != NULL && scim__str_ieq(name, "replace"))
        *op = SCIM__PATCH_REPLACE;
    else if (name != NULL && scim__str_ieq(name, "remove"))
        *op = SCIM__PATCH_REMOVE;
    else
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "Operations[%zu].op must be add, replace or remove", index);
    const json_t *p = scim__obj_get_ci(op_obj, "path", 4, NULL);
    *value = scim__obj_get_ci(op_obj, "value", 5, NULL);
    if (p != NULL && !json_is_null(p) && !json_is_string(p))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "Operations[%zu].path must be a string", index);
    if (*op != SCIM__PATCH_REMOVE && *value == NULL)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "Operations[%zu] needs a value", index);
    *path = json_string_length(p) > 0 ? json_string_value(p) : NULL;
    if (*path == NULL && *op == SCIM__PATCH_REMOVE)
        return scim_error_set(err, 400, SCIM_TYPE_NO_TARGET, "Operations[%zu]: remove needs a path", index);
    if (*path == NULL && !json_is_object(*value))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "Operations[%zu]: without a path the value must be an object",
                              index);
    return 0;
}
