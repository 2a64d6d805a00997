/*
 * PATCH attribute paths, read with the filter grammar of parse.c. See path.h.
 */
#include "scim/path.h"

#include <stdlib.h>
#include <string.h>

#include "scim/parse.h"

int scim__path_parse(const char *text, size_t len, scim__path_t *out, scim_error_t *err)
{
    return scim__path_parse_in(SCIM_RESOURCE_USER, text, len, out, err);
}

int scim__path_parse_in(scim_resource_t res, const char *text, size_t len, scim__path_t *out, scim_error_t *err)
{
    scim__path_expr_t pe;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (scim__parse_path_in(res, text, len, &pe, err) != 0)
        goto out;
    if (pe.tail != NULL && pe.ref.sub != NULL) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "two sub-attributes at position 1");
        goto out;
    }
    out->scope = pe.ref.scope;
    out->whole_extension = pe.whole_extension;
    out->attr = pe.ref.attr;
    out->attr_def = pe.ref.attr_def;
    out->sub = pe.tail != NULL ? pe.tail : pe.ref.sub;
    out->sub_def = pe.tail != NULL ? pe.tail_def : pe.ref.sub_def;
    out->filter = pe.filter;
    if (pe.tail != NULL)
        pe.tail = NULL;
    else
        pe.ref.sub = NULL;
    pe.ref.attr = NULL;
    pe.filter = NULL;
    rc = 0;

out:
    scim__path_expr_clear(&pe);
    return rc;
}

void scim__path_clear(scim__path_t *path)
{
    free(path->attr);
    free(path->sub);
    scim_filter_free(path->filter);
    memset(path, 0, sizeof(*path));
}

int scim__path_match_element(const scim__path_t *path, const json_t *element)
{
    /* Inside [ ] names are the element's sub-attributes: the element is the filter's resource. */
    return path->filter != NULL && scim_filter_match(path->filter, element);
}

static int collect_template(const scim__node_t *f, json_t *tmpl)
{
    if (f->kind == SCIM__NODE_AND)
        return collect_template(f->left, tmpl) && collect_template(f->right, tmpl);
    if (f->kind != SCIM__NODE_CMP || f->op != SCIM__OP_EQ || f->ref.sub != NULL || json_is_null(f->value))
        return 0;
    json_object_set(tmpl, f->ref.attr_def != NULL ? f->ref.attr_def->name : f->ref.attr, f->value);
    return 1;
}

json_t *scim__path_template(const scim__path_t *path)
{
    json_t *tmpl;

    if (path->filter == NULL)
        return NULL;
    tmpl = json_object();
    if (!collect_template(path->filter, tmpl)) {
        json_decref(tmpl);
        return NULL;
    }
    return tmpl;
}
