/*
 * SCIM PATCH (RFC 7644 §3.5.2) on a canonical user. See patch.h.
 *
 * Paths are parsed by the filter grammar (path.h, parse.h) and resolved against the schema table; values
 * are canonicalized by the same rules as POST (schema.h), so a PATCH cannot store what a POST
 * would have refused. The caller re-runs scim_user_parse() on the result for the whole-resource
 * rules (userName required).
 */
#include "scim/patch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/patch_op.h"
#include "scim/path.h"
#include "scim/schema.h"

typedef scim__patch_op_t patch_op_t;

static int apply_member(json_t *user, patch_op_t op, const char *key, const json_t *value, scim_error_t *err);

/* The object that holds the path's attribute: the user, or the enterprise extension object
 * (created on demand). NULL when it does not exist and `create` is 0. */
static json_t *container_of(json_t *user, scim__scope_t scope, int create)
{
    json_t *ext;

    if (scope != SCIM__SCOPE_ENTERPRISE)
        return user;
    ext = json_object_get(user, SCIM_SCHEMA_ENTERPRISE_USER);
    if (ext == NULL && create) {
        ext = json_object();
        json_object_set_new(user, SCIM_SCHEMA_ENTERPRISE_USER, ext);
    }
    return ext;
}

/* Removes an emptied complex value or array so that the user stays canonical. */
static void drop_if_empty(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if ((json_is_object(v) && json_object_size(v) == 0) || (json_is_array(v) && json_array_size(v) == 0))
        json_object_del(obj, key);
}

static void merge_into(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)src, k, v)
    {
        json_object_set_new(dst, k, json_deep_copy(v));
    }
}

/* A new element with primary true takes the role from every other element. */
static void settle_primary(json_t *array, json_t *candidate)
{
    if (candidate != NULL && json_is_true(json_object_get(candidate, "primary")))
        scim__primary_keep_only(array, candidate);
}

static int array_has_equal(const json_t *array, const json_t *e)
{
    size_t i;
    json_t *x;

    json_array_foreach(array, i, x)
    {
        if (json_equal(x, e))
            return 1;
    }
    return 0;
}

/* remove with a value on a multi-valued attribute: drop the elements it lists (equal, or with
 * the same "value"), as Okta and Entra do for group members. */
static int remove_listed(json_t *c, const scim__attr_t *attr, const json_t *value, scim_error_t *err)
{
    json_t *arr = json_object_get(c, attr->name);
    json_t *listed = scim__value_canon(attr, NULL, value, err);
    size_t i;

    if (listed == NULL)
        return -1;
    for (i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        json_t *ev = json_object_get(e, "value");
        size_t j;
        json_t *l;
        json_array_foreach(listed, j, l)
        {
            if (json_equal(e, l) || (json_is_string(ev) && json_equal(ev, json_object_get(l, "value")))) {
                json_array_remove(arr, i);
                break;
            }
        }
    }
    json_decref(listed);
    drop_if_empty(c, attr->name);
    return 0;
}

/* add/replace/remove of a whole attribute (`emails`, `name`, `active`). */
static int apply_attr(json_t *c, const scim__attr_t *attr, patch_op_t op, const json_t *value, scim_error_t *err)
{
    json_t *canon, *existing, *e, *winner = NULL;
    size_t i;

    if (op == SCIM__PATCH_REMOVE) {
        if (attr->multi_valued && (json_is_array(value) || json_is_object(value)))
            return remove_listed(c, attr, value, err);
        json_object_del(c, attr->name);
        return 0;
    }
    canon = scim__value_canon(attr, NULL, value, err);
    if (canon == NULL)
        return -1;
    existing = json_object_get(c, attr->name);
    if (json_is_null(canon)) {
        if (op == SCIM__PATCH_REPLACE)
            json_object_del(c, attr->name);
    } else if (attr->multi_valued && op == SCIM__PATCH_ADD && json_is_array(existing)) {
        /* add appends to a multi-valued attribute; an identical value is not added twice. */
        json_array_foreach(canon, i, e)
        {
            if (array_has_equal(existing, e))
                continue;
            json_array_append(existing, e);
            if (winner == NULL && json_is_true(json_object_get(e, "primary")))
                winner = e;
        }
        settle_primary(existing, winner);
    } else if (attr->type == SCIM__TYPE_COMPLEX && !attr->multi_valued && json_is_object(existing)) {
        /* add and replace on a complex attribute both merge sub-attributes (§3.5.2.1, §3.5.2.3). */
        merge_into(existing, canon);
    } else {
        json_object_set(c, attr->name, canon);
    }
    json_decref(canon);
    return 0;
}

/* `name.givenName`, `manager.value`, or `emails.value` without a filter (every element). */
static int apply_sub(json_t *c, const scim__path_t *path, patch_op_t op, const json_t *value, scim_error_t *err)
{
    const scim__attr_t *attr = path->attr_def, *sub = path->sub_def;
    json_t *target = json_object_get(c, attr->name);
    json_t *canon, *e;
    size_t i;

    if (op == SCIM__PATCH_REMOVE) {
        if (json_is_object(target))
            json_object_del(target, sub->name);
        json_array_foreach(target, i, e)
        {
            json_object_del(e, sub->name);
        }
        drop_if_empty(c, attr->name);
        return 0;
    }
    canon = scim__value_canon_one(sub, attr, value, err);
    if (canon == NULL)
        return -1;
    if (attr->multi_valued && json_array_size(target) > 0) {
        json_array_foreach(target, i, e)
        {
            json_object_set(e, sub->name, canon);
        }
        settle_primary(target, json_array_get(target, 0));
    } else if (!attr->multi_valued && json_is_object(target)) {
        json_object_set(target, sub->name, canon);
    } else {
        e = json_pack("{s:O}", sub->name, canon);
        json_object_set_new(c, attr->name, attr->multi_valued ? json_pack("[o]", e) : e);
    }
    json_decref(canon);
    return 0;
}

/* A new element for add/replace on a value filter that matched nothing: the filter's own
 * `eq` tests (`type eq "work"`) plus the value. Entra relies on this for a user without emails. */
static int create_element(json_t *c, const scim__path_t *path, const json_t *value, scim_error_t *err)
{
    const scim__attr_t *attr = path->attr_def;
    json_t *tmpl = scim__path_template(path);
    json_t *e, *arr;

    if (tmpl == NULL)
        return scim_error_set(err, 400, SCIM_TYPE_NO_TARGET, "no %s value matches the path filter", attr->name);
    if (path->sub != NULL)
        json_object_set_new(tmpl, path->sub_def->name, json_deep_copy(value));
    else if (json_is_object(value))
        merge_into(tmpl, value);
    e = scim__value_canon_one(attr, NULL, tmpl, err);
    json_decref(tmpl);
    if (e == NULL)
        return -1;
    if (json_is_null(e)) {
        json_decref(e);
        return 0;
    }
    arr = json_object_get(c, attr->name);
    if (!json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(c, attr->name, arr);
    }
    json_array_append_new(arr, e);
    settle_primary(arr, e);
    return 0;
}

static int remove_filtered(json_t *c, const scim__path_t *path, scim_error_t *err)
{
    const scim__attr_t *attr = path->attr_def;
    json_t *arr = json_object_get(c, attr->name);
    size_t i, hits = 0;

    for (i = json_array_size(arr); i-- > 0;) {
        json_t *e = json_array_get(arr, i);
        if (!scim__path_match_element(path, e))
            continue;
        hits++;
        if (path->sub != NULL)
            json_object_del(e, path->sub_def->name);
        if (path->sub == NULL || json_object_size(e) == 0)
            json_array_remove(arr, i);
    }
    if (hits == 0)
        return scim_error_set(err, 400, SCIM_TYPE_NO_TARGET, "no %s value matches the path filter", attr->name);
    drop_if_empty(c, attr->name);
    return 0;
}

/* `emails[type eq "work"]` or `emails[type eq "work"].value`. */
static int apply_filtered(json_t *c, const scim__path_t *path, patch_op_t op, const json_t *value, scim_error_t *err)
{
    const scim__attr_t *attr = path->attr_def;
    json_t *arr = json_object_get(c, attr->name);
    json_t *canon, *e, *winner = NULL;
    size_t i, hits = 0;
    int rc = -1;

    if (op == SCIM__PATCH_REMOVE)
        return remove_filtered(c, path, err);
    canon =
        path->sub != NULL ? scim__value_canon_one(path->sub_def, attr, value, err) : scim__value_canon_one(attr, NULL, value, err);
    if (canon == NULL)
        return -1;
    json_array_foreach(arr, i, e)
    {
        if (!scim__path_match_element(path, e))
            continue;
        hits++;
        if (path->sub != NULL)
            json_object_set(e, path->sub_def->name, canon);
        else if (op == SCIM__PATCH_REPLACE)
            json_array_set_new(arr, i, e = json_is_null(canon) ? json_object() : json_deep_copy(canon));
        else if (json_is_object(canon))
            merge_into(e, canon);
        if (winner == NULL && json_is_true(json_object_get(e, "primary")))
            winner = e;
    }
    if (hits == 0) {
        rc = create_element(c, path, canon, err);
        goto out;
    }
    settle_primary(arr, winner);
    rc = 0;

out:
    json_decref(canon);
    return rc;
}

/* Checks what the path names before anything is touched. */
static int check_target(const scim__path_t *path, const char *text, scim_error_t *err)
{
    const scim__attr_t *attr = path->attr_def;

    if (path->scope == SCIM__SCOPE_UNKNOWN || attr == NULL || (path->sub != NULL && path->sub_def == NULL))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "path '%.64s' names no attribute", text);
    if (attr->mutability == SCIM__MUT_READ_ONLY || (path->sub_def != NULL && path->sub_def->mutability == SCIM__MUT_READ_ONLY))
        return scim_error_set(err, 400, SCIM_TYPE_MUTABILITY, "%s is readOnly", attr->name);
    if (path->filter != NULL && !(attr->multi_valued && attr->type == SCIM__TYPE_COMPLEX))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "%s is not multi-valued; it takes no value filter", attr->name);
    return 0;
}

static int apply_target(json_t *user, const scim__path_t *path, patch_op_t op, const json_t *value, scim_error_t *err)
{
    json_t *c;
    int rc;

    /* The password is accepted and dropped, as on POST: the gateway never stores one. */
    if (path->attr_def->mutability == SCIM__MUT_WRITE_ONLY)
        return 0;
    if (op == SCIM__PATCH_REPLACE && json_is_null(value) && path->filter == NULL)
        op = SCIM__PATCH_REMOVE;
    if (op == SCIM__PATCH_ADD && json_is_null(value))
        return 0;
    c = container_of(user, path->scope, op != SCIM__PATCH_REMOVE);
    if (c == NULL)
        return path->filter != NULL
                   ? scim_error_set(err, 400, SCIM_TYPE_NO_TARGET, "no %s value matches the path filter", path->attr_def->name)
                   : 0;
    if (path->filter != NULL)
        rc = apply_filtered(c, path, op, value, err);
    else if (path->sub != NULL)
        rc = apply_sub(c, path, op, value, err);
    else
        rc = apply_attr(c, path->attr_def, op, value, err);
    if (c != user)
        drop_if_empty(user, SCIM_SCHEMA_ENTERPRISE_USER);
    return rc;
}

/* The members of an extension object value, each taken as "<URN>:<member>". */
static int apply_extension_object(json_t *user, patch_op_t op, const json_t *value, scim_error_t *err)
{
    const char *k;
    json_t *v;

    if (!json_is_object(value))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an object", SCIM_SCHEMA_ENTERPRISE_USER);
    json_object_foreach((json_t *)value, k, v)
    {
        size_t n = strlen(SCIM_SCHEMA_ENTERPRISE_USER) + strlen(k) + 2;
        char *key = gw_malloc(n);
        int rc;
        snprintf(key, n, "%s:%s", SCIM_SCHEMA_ENTERPRISE_USER, k);
        rc = apply_member(user, op, key, v, err);
        free(key);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* One member of a path-less add/replace value. Like POST, names no schema defines and readOnly
 * attributes are ignored rather than refused: Okta sends "id" and "schemas" in such values. */
static int apply_member(json_t *user, patch_op_t op, const char *key, const json_t *value, scim_error_t *err)
{
    scim__path_t path;
    scim_error_t ignored;
    int rc = 0;

    if (scim__path_parse(key, strlen(key), &path, &ignored) != 0)
        goto out;
    if (path.whole_extension) {
        rc = apply_extension_object(user, op, value, err);
        goto out;
    }
    if (check_target(&path, key, &ignored) != 0)
        goto out;
    rc = apply_target(user, &path, op, value, err);

out:
    scim__path_clear(&path);
    return rc;
}

static int apply_path(json_t *user, patch_op_t op, const char *text, const json_t *value, scim_error_t *err)
{
    scim__path_t path;
    int rc = -1;

    if (scim__path_parse(text, strlen(text), &path, err) != 0)
        goto out;
    if (path.whole_extension) {
        if (op == SCIM__PATCH_REMOVE || (op == SCIM__PATCH_REPLACE && json_is_null(value))) {
            json_object_del(user, SCIM_SCHEMA_ENTERPRISE_USER);
            rc = 0;
        } else {
            rc = apply_extension_object(user, op, value, err);
        }
        goto out;
    }
    if (check_target(&path, text, err) != 0)
        goto out;
    rc = apply_target(user, &path, op, value, err);

out:
    scim__path_clear(&path);
    return rc;
}

static int apply_operation(json_t *user, const json_t *op_obj, size_t index, scim_error_t *err)
{
    patch_op_t op;
    const char *path, *key;
    const json_t *value;
    json_t *member;

    if (scim__patch_op_read(op_obj, index, &op, &path, &value, err) != 0)
        return -1;
    if (path != NULL)
        return apply_path(user, op, path, value, err);
    json_object_foreach((json_t *)value, key, member)
    {
        if (apply_member(user, op, key, member, err) != 0)
            return -1;
    }
    return 0;
}

int scim_patch_apply(json_t *user, const json_t *body, scim_error_t *err)
{
    const json_t *ops;
    json_t *op;
    size_t i;

    if (!json_is_object(user))
        return scim_error_set(err, 500, NULL, "no user to patch");
    if ((ops = scim__patch_ops(body, SCIM_SCHEMA_PATCH_OP, SCIM_PATCH_MAX_OPERATIONS, err)) == NULL)
        return -1;
    json_array_foreach((json_t *)ops, i, op)
    {
        if (apply_operation(user, op, i, err) != 0)
            return -1;
    }
    return 0;
}
