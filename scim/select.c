/*
 * attributes / excludedAttributes with the `returned` characteristic. See select.h.
 */
#include "scim/select.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/schema.h"

typedef struct sel_name {
    scim__scope_t scope;
    int whole_extension;          /* the enterprise URN alone */
    const scim__attr_t *attr_def; /* NULL only with whole_extension */
    const scim__attr_t *sub_def;  /* NULL: the whole attribute */
} sel_name_t;

typedef struct sel_list {
    sel_name_t *names;
    size_t n;
} sel_list_t;

struct scim_select {
    scim_resource_t res; /* whose schema the names and the rendering follow */
    int has_attributes;  /* `attributes` was given (even if none of its names is known) */
    sel_list_t attrs, excluded;
};

/* Parses one name into `out`; 1 when it names something, 0 when unknown (ignored), -1 on error. */
static int parse_name(scim_resource_t res, const char *s, size_t len, sel_name_t *out, scim_error_t *err)
{
    const char *rest, *dot;
    size_t rest_len;

    while (len > 0 && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "an attribute name in the list is empty");
    memset(out, 0, sizeof(*out));
    scim__split_urn_in(res, s, len, &out->scope, &rest, &rest_len);
    if (out->scope == SCIM__SCOPE_UNKNOWN)
        return 0;
    if (out->scope == SCIM__SCOPE_ENTERPRISE && rest_len == 0) {
        out->whole_extension = 1;
        return 1;
    }
    dot = memchr(rest, '.', rest_len);
    out->attr_def = scim__attr_find_in(res, out->scope, rest, dot != NULL ? (size_t)(dot - rest) : rest_len);
    if (out->attr_def == NULL)
        return 0;
    if (dot != NULL) {
        out->sub_def = scim__sub_attr_find(out->attr_def, dot + 1, rest_len - (size_t)(dot - rest) - 1);
        if (out->sub_def == NULL)
            return 0;
    }
    return 1;
}

static int list_add(scim_resource_t res, sel_list_t *list, const char *s, size_t len, scim_error_t *err)
{
    sel_name_t name;
    int rc = parse_name(res, s, len, &name, err);

    if (rc <= 0)
        return rc;
    if (list->n >= SCIM_SELECT_MAX_NAMES)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "more than %d attribute names", SCIM_SELECT_MAX_NAMES);
    if (list->names == NULL)
        list->names = gw_malloc(SCIM_SELECT_MAX_NAMES * sizeof(*list->names));
    list->names[list->n++] = name;
    return 0;
}

static int list_parse(scim_resource_t res, sel_list_t *list, const char *text, scim_error_t *err)
{
    size_t count = 0;

    while (text != NULL && *text != '\0') {
        const char *comma = strchr(text, ',');
        size_t len = comma != NULL ? (size_t)(comma - text) : strlen(text);
        /* Unknown names are not kept, so count them here to bound the work. */
        if (++count > SCIM_SELECT_MAX_NAMES)
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "more than %d attribute names", SCIM_SELECT_MAX_NAMES);
        if (list_add(res, list, text, len, err) != 0)
            return -1;
        text = comma != NULL ? comma + 1 : text + len;
        if (comma != NULL && *text == '\0')
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "an attribute name in the list is empty");
    }
    return 0;
}

static int list_from_json(scim_resource_t res, sel_list_t *list, const json_t *array, const char *what, scim_error_t *err)
{
    size_t i;
    json_t *e;

    if (array == NULL || json_is_null(array))
        return 0;
    if (!json_is_array(array))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an array of strings", what);
    if (json_array_size(array) > SCIM_SELECT_MAX_NAMES)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "more than %d attribute names", SCIM_SELECT_MAX_NAMES);
    json_array_foreach(array, i, e)
    {
        if (!json_is_string(e))
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an array of strings", what);
        if (list_add(res, list, json_string_value(e), json_string_length(e), err) != 0)
            return -1;
    }
    return 0;
}

void scim_select_free(scim_select_t *sel)
{
    if (sel == NULL)
        return;
    free(sel->attrs.names);
    free(sel->excluded.names);
    free(sel);
}

scim_select_t *scim_select_parse(const char *attributes, const char *excluded, scim_error_t *err)
{
    return scim_select_parse_resource(SCIM_RESOURCE_USER, attributes, excluded, err);
}

scim_select_t *scim_select_parse_resource(scim_resource_t res, const char *attributes, const char *excluded, scim_error_t *err)
{
    scim_select_t *sel = gw_calloc(1, sizeof(*sel));

    sel->res = res;
    sel->has_attributes = attributes != NULL && *attributes != '\0';
    if (list_parse(res, &sel->attrs, attributes, err) != 0 || list_parse(res, &sel->excluded, excluded, err) != 0) {
        scim_select_free(sel);
        return NULL;
    }
    return sel;
}

scim_select_t *scim_select_from_json(const json_t *attributes, const json_t *excluded, scim_error_t *err)
{
    return scim_select_from_json_resource(SCIM_RESOURCE_USER, attributes, excluded, err);
}

scim_select_t *scim_select_from_json_resource(scim_resource_t res, const json_t *attributes, const json_t *excluded,
                                              scim_error_t *err)
{
    scim_select_t *sel = gw_calloc(1, sizeof(*sel));

    sel->res = res;
    sel->has_attributes = json_array_size(attributes) > 0;
    if (list_from_json(res, &sel->attrs, attributes, "attributes", err) != 0 ||
        list_from_json(res, &sel->excluded, excluded, "excludedAttributes", err) != 0) {
        scim_select_free(sel);
        return NULL;
    }
    return sel;
}

/* ---- applying ---- */

/* Does `list` name attribute `def` of `scope`: as a whole (whole=1), or any part of it (whole=0)? */
static int names_attr(const sel_list_t *list, scim__scope_t scope, const scim__attr_t *def, int whole)
{
    size_t i;
    for (i = 0; i < list->n; i++) {
        const sel_name_t *n = &list->names[i];
        if (n->scope != scope)
            continue;
        if (n->whole_extension || (n->attr_def == def && (!whole || n->sub_def == NULL)))
            return 1;
    }
    return 0;
}

static int names_sub(const sel_list_t *list, scim__scope_t scope, const scim__attr_t *def, const scim__attr_t *sub)
{
    size_t i;
    for (i = 0; i < list->n; i++) {
        const sel_name_t *n = &list->names[i];
        if (n->scope == scope && n->attr_def == def && n->sub_def == sub)
            return 1;
    }
    return 0;
}

/* Trims the sub-attributes of one complex value; 1 when something is left. */
static int trim_complex(const scim_select_t *sel, scim__scope_t scope, const scim__attr_t *def, json_t *obj, int pick_subs)
{
    const char *k;
    json_t *v, *tmp;

    if (!json_is_object(obj))
        return 1;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        const scim__attr_t *sub = scim__sub_attr_find(def, k, strlen(k));
        int keep;
        if (sub == NULL)
            keep = !pick_subs;
        else if (sub->returned == SCIM__RET_ALWAYS)
            keep = 1;
        else if (sub->returned == SCIM__RET_NEVER)
            keep = 0;
        else if (names_sub(&sel->excluded, scope, def, sub))
            keep = 0;
        else if (pick_subs || sub->returned == SCIM__RET_REQUEST)
            keep = names_sub(&sel->attrs, scope, def, sub);
        else
            keep = 1;
        if (!keep)
            json_object_del(obj, k);
    }
    return json_object_size(obj) > 0;
}

/* 1 when the member stays (possibly trimmed), 0 when it must go. */
static int trim_attr(const scim_select_t *sel, scim__scope_t scope, const scim__attr_t *def, json_t *v)
{
    int pick_subs = 0;

    if (def->returned == SCIM__RET_ALWAYS)
        return 1;
    if (def->returned == SCIM__RET_NEVER || names_attr(&sel->excluded, scope, def, 1))
        return 0;
    if (sel->has_attributes || def->returned == SCIM__RET_REQUEST) {
        if (!names_attr(&sel->attrs, scope, def, 0))
            return 0;
        pick_subs = !names_attr(&sel->attrs, scope, def, 1);
    }
    if (def->type != SCIM__TYPE_COMPLEX)
        return 1;
    if (json_is_array(v)) {
        size_t i = 0;
        while (i < json_array_size(v)) {
            if (trim_complex(sel, scope, def, json_array_get(v, i), pick_subs))
                i++;
            else
                json_array_remove(v, i);
        }
        return json_array_size(v) > 0;
    }
    return trim_complex(sel, scope, def, v, pick_subs);
}

static void trim_object(const scim_select_t *sel, scim__scope_t scope, json_t *obj)
{
    const char *k;
    json_t *v, *tmp;

    json_object_foreach_safe(obj, tmp, k, v)
    {
        const scim__attr_t *def = scim__attr_find_in(sel->res, scope, k, strlen(k));
        int keep;
        if (def != NULL)
            keep = trim_attr(sel, scope, def, v);
        else
            keep = !sel->has_attributes; /* nothing undefined is rendered; be safe if it ever is */
        if (!keep)
            json_object_del(obj, k);
    }
}

void scim_select_apply(const scim_select_t *sel, json_t *resource)
{
    const char *k;
    json_t *v, *tmp, *schemas;
    size_t i;

    if (sel == NULL || !json_is_object(resource))
        return;
    json_object_foreach_safe(resource, tmp, k, v)
    {
        const scim__attr_t *def;
        if (strcmp(k, "schemas") == 0)
            continue; /* returned always (RFC 7643 §3) */
        if (scim__str_ieq(k, SCIM_SCHEMA_ENTERPRISE_USER)) {
            trim_object(sel, SCIM__SCOPE_ENTERPRISE, v);
            if (json_object_size(v) == 0)
                json_object_del(resource, k);
            continue;
        }
        def = scim__attr_find_in(sel->res, SCIM__SCOPE_CORE, k, strlen(k));
        if (def != NULL ? !trim_attr(sel, SCIM__SCOPE_CORE, def, v) : sel->has_attributes)
            json_object_del(resource, k);
    }
    /* "schemas" lists the extensions the resource carries: not one that was trimmed away. */
    if (json_object_get(resource, SCIM_SCHEMA_ENTERPRISE_USER) == NULL) {
        schemas = json_object_get(resource, "schemas");
        for (i = 0; i < json_array_size(schemas); i++) {
            if (scim__str_ieq(json_string_value(json_array_get(schemas, i)) != NULL ? json_string_value(json_array_get(schemas, i))
                                                                                    : "",
                              SCIM_SCHEMA_ENTERPRISE_USER)) {
                json_array_remove(schemas, i);
                break;
            }
        }
    }
}

/* 1 when no attribute of `attrs` (nor a sub-attribute) could be trimmed by a selection that names nothing. */
static int attrs_untouched(const scim__attr_t *attrs, size_t n, int top_never_ok)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const scim__attr_t *a = &attrs[i];
        if (a->returned == SCIM__RET_REQUEST || (a->returned == SCIM__RET_NEVER && !top_never_ok))
            return 0;
        if (a->sub_attrs != NULL && !attrs_untouched(a->sub_attrs, a->n_sub_attrs, 0))
            return 0;
    }
    return 1;
}

int scim_select_is_identity(const scim_select_t *sel)
{
    /* what the (constant) schema table says, worked out once per resource type: -1 until then */
    static atomic_int table_untouched[2] = {-1, -1};
    scim_resource_t res = sel != NULL ? sel->res : SCIM_RESOURCE_USER;
    int untouched;

    if (sel != NULL && (sel->has_attributes || sel->attrs.n > 0 || sel->excluded.n > 0))
        return 0;
    untouched = atomic_load_explicit(&table_untouched[res], memory_order_relaxed);
    if (untouched < 0) {
        /*
         * Without names, scim_select_apply drops only returned=request attributes and
         * returned=never ones. scim_user_render leaves out the top-level core attributes that are
         * never returned (password); never ones anywhere else (sub-attributes, the extension,
         * common attributes) would be copied and then trimmed, so they too make the selection matter.
         */
        if (res == SCIM_RESOURCE_GROUP)
            untouched = attrs_untouched(scim__schema_group.attrs, scim__schema_group.n_attrs, 0);
        else
            untouched = attrs_untouched(scim__schema_user.attrs, scim__schema_user.n_attrs, 1) &&
                        attrs_untouched(scim__schema_enterprise.attrs, scim__schema_enterprise.n_attrs, 0);
        untouched = untouched && attrs_untouched(scim__common_attrs, scim__n_common_attrs, 0);
        atomic_store_explicit(&table_untouched[res], untouched, memory_order_relaxed);
    }
    return untouched;
}

int scim_select_returns(const scim_select_t *sel, const char *attr)
{
    const scim__attr_t *def;

    if (sel == NULL)
        return 1;
    def = scim__attr_find_in(sel->res, SCIM__SCOPE_CORE, attr, strlen(attr));
    if (def == NULL)
        return !sel->has_attributes;
    if (def->returned == SCIM__RET_ALWAYS)
        return 1;
    if (def->returned == SCIM__RET_NEVER || names_attr(&sel->excluded, SCIM__SCOPE_CORE, def, 1))
        return 0;
    if (sel->has_attributes || def->returned == SCIM__RET_REQUEST)
        return names_attr(&sel->attrs, SCIM__SCOPE_CORE, def, 0);
    return 1;
}
