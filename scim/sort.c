/*
 * sortBy / sortOrder. See sort.h.
 */
#include "scim/sort.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/schema.h"

struct scim_sort {
    scim__scope_t scope;
    const scim__attr_t *attr_def;
    const scim__attr_t *sub_def; /* the sub-attribute compared, or NULL for a simple attribute */
    const scim__attr_t *key_def; /* the attribute whose type and caseExact decide the comparison */
    int descending;
};

typedef struct item {
    json_t *resource;
    scim_sort_key_t key;
    size_t index;
    const scim_sort_t *sort;
} item_t;

/* Resolves the attribute path `sort_by` into `s` (its direction untouched): 0, or -1 when it names none to sort by. */
static int resolve(const char *sort_by, scim_sort_t *s)
{
    const char *rest, *dot;
    size_t rest_len, len = strlen(sort_by);

    scim__split_urn(sort_by, len, &s->scope, &rest, &rest_len);
    dot = memchr(rest, '.', rest_len);
    if (s->scope != SCIM__SCOPE_UNKNOWN)
        s->attr_def = scim__attr_find_scoped(s->scope, rest, dot != NULL ? (size_t)(dot - rest) : rest_len);
    if (s->attr_def != NULL && dot != NULL)
        s->sub_def = scim__sub_attr_find(s->attr_def, dot + 1, rest_len - (size_t)(dot - rest) - 1);
    else if (s->attr_def != NULL && s->attr_def->type == SCIM__TYPE_COMPLEX)
        s->sub_def = scim__sub_attr_find(s->attr_def, "value", 5);
    s->key_def = s->attr_def != NULL && s->attr_def->type == SCIM__TYPE_COMPLEX ? s->sub_def : s->attr_def;
    if (s->key_def == NULL || (dot != NULL && s->attr_def->type != SCIM__TYPE_COMPLEX) || s->key_def->returned == SCIM__RET_NEVER)
        return -1;
    return 0;
}

scim_sort_t *scim_sort_parse(const char *sort_by, const char *sort_order, scim_error_t *err)
{
    scim_sort_t s = {0};

    if (sort_by == NULL || *sort_by == '\0')
        return NULL;
    if (sort_order != NULL && *sort_order != '\0') {
        if (scim__str_ieq(sort_order, "descending"))
            s.descending = 1;
        else if (!scim__str_ieq(sort_order, "ascending")) {
            scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "sortOrder must be \"ascending\" or \"descending\"");
            return NULL;
        }
    }
    if (resolve(sort_by, &s) != 0) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "sortBy '%.64s' names no attribute the gateway can sort by", sort_by);
        return NULL;
    }
    scim_sort_t *out = gw_malloc(sizeof(*out));
    *out = s;
    return out;
}

void scim_sort_free(scim_sort_t *sort)
{
    free(sort);
}

static const json_t *sort_key(const scim_sort_t *s, const json_t *resource)
{
    const json_t *c = resource, *v;
    size_t i;
    json_t *e;

    if (s->scope == SCIM__SCOPE_ENTERPRISE)
        c = scim__obj_get_ci(resource, SCIM_SCHEMA_ENTERPRISE_USER, strlen(SCIM_SCHEMA_ENTERPRISE_USER), NULL);
    v = scim__obj_get_ci(c, s->attr_def->name, strlen(s->attr_def->name), NULL);
    if (json_is_array(v)) {
        /* RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else the first. */
        const json_t *pick = json_array_get(v, 0);
        json_array_foreach(v, i, e)
        {
            if (json_is_true(json_object_get(e, "primary"))) {
                pick = e;
                break;
            }
        }
        v = pick;
    }
    if (s->sub_def != NULL)
        v = scim__obj_get_ci(v, s->sub_def->name, strlen(s->sub_def->name), NULL);
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ? v : NULL;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

void scim_sort_key(const scim_sort_t *sort, const json_t *resource, scim_sort_key_t *out)
{
    const json_t *v = sort_key(sort, resource);
    scim__datetime_t dt;

    memset(out, 0, sizeof(*out));
    if (v == NULL) {
        out->kind = SCIM_SORT_KEY_MISSING;
    } else if (json_is_boolean(v)) {
        out->kind = SCIM_SORT_KEY_BOOLEAN;
        out->number = json_is_true(v);
    } else if (json_is_number(v)) {
        out->kind = SCIM_SORT_KEY_NUMBER;
        out->number = json_number_value(v);
    } else {
        out->kind = SCIM_SORT_KEY_STRING;
        out->str_len = json_string_length(v);
        out->str = gw_malloc(out->str_len + 1);
        memcpy(out->str, json_string_value(v), out->str_len + 1);
        if (sort->key_def->type == SCIM__TYPE_DATETIME && scim__datetime_parse(out->str, out->str_len, &dt) == 0) {
            out->has_instant = 1;
            out->seconds = dt.seconds;
            out->nanos = dt.nanos;
        }
    }
}

void scim_sort_key_clear(scim_sort_key_t *key)
{
    if (key == NULL)
        return;
    free(key->str);
    memset(key, 0, sizeof(*key));
    key->kind = SCIM_SORT_KEY_MISSING;
}

static int compare_strings(const scim_sort_t *s, const scim_sort_key_t *a, const scim_sort_key_t *b)
{
    const char *x = a->str, *y = b->str;
    size_t xl = a->str_len, yl = b->str_len, i;

    /* a dateTime attribute: as instants when both parse, else as strings */
    if (a->has_instant && b->has_instant) {
        scim__datetime_t dx = {.seconds = a->seconds, .nanos = a->nanos}, dy = {.seconds = b->seconds, .nanos = b->nanos};
        return scim__datetime_cmp(&dx, &dy);
    }
    for (i = 0; i < xl && i < yl; i++) {
        int cx = (unsigned char)x[i], cy = (unsigned char)y[i];
        if (!s->key_def->case_exact)
            cx = lower(cx), cy = lower(cy);
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    return xl == yl ? 0 : xl < yl ? -1 : 1;
}

static int compare_values(const scim_sort_t *s, const scim_sort_key_t *a, const scim_sort_key_t *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->kind == SCIM_SORT_KEY_STRING)
        return compare_strings(s, a, b);
    return a->number < b->number ? -1 : a->number > b->number;
}

int scim_sort_key_cmp(const scim_sort_t *sort, const scim_sort_key_t *a, const scim_sort_key_t *b)
{
    int am = a->kind == SCIM_SORT_KEY_MISSING, bm = b->kind == SCIM_SORT_KEY_MISSING;

    if (am || bm)
        return am - bm; /* no value: last, in either order */
    return sort->descending ? compare_values(sort, b, a) : compare_values(sort, a, b);
}

static int compare_items(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    int c = scim_sort_key_cmp(a->sort, &a->key, &b->key);

    if (c == 0)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

void scim_sort_apply(const scim_sort_t *sort, json_t *resources)
{
    size_t n = json_array_size(resources), i;
    item_t *items;

    if (sort == NULL || n < 2)
        return;
    items = gw_malloc(n * sizeof(*items));
    for (i = 0; i < n; i++) {
        items[i].resource = json_incref(json_array_get(resources, i));
        scim_sort_key(sort, items[i].resource, &items[i].key);
        items[i].index = i;
        items[i].sort = sort;
    }
    /* The index tie-break makes qsort's order total, hence stable. */
    qsort(items, n, sizeof(*items), compare_items);
    json_array_clear(resources);
    for (i = 0; i < n; i++) {
        json_array_append_new(resources, items[i].resource);
        scim_sort_key_clear(&items[i].key);
    }
    free(items);
}

/* ---- sorts a directory answers from its columns ---- */

/*
 * The attributes of scim_sort_attr_t, by path, with the caseExact their column's order assumes
 * (store/store.h: folded or bytewise). A schema whose caseExact differed would make the column's
 * order wrong, so such an attribute is then sorted by keys instead (scim_sort_attr gives OTHER).
 */
static const struct column_attr {
    scim_sort_attr_t attr;
    const char *path;
    int case_exact;
} column_attrs[] = {
    {SCIM_SORT_ATTR_ID, "id", 1},
    {SCIM_SORT_ATTR_USER_NAME, "userName", 0},
    {SCIM_SORT_ATTR_EXTERNAL_ID, "externalId", 1},
    {SCIM_SORT_ATTR_DISPLAY_NAME, "displayName", 0},
    {SCIM_SORT_ATTR_FAMILY_NAME, "name.familyName", 0},
    {SCIM_SORT_ATTR_GIVEN_NAME, "name.givenName", 0},
    {SCIM_SORT_ATTR_EMAIL, "emails", 0},
    {SCIM_SORT_ATTR_CREATED, "meta.created", 0},
    {SCIM_SORT_ATTR_LAST_MODIFIED, "meta.lastModified", 0},
};

scim_sort_attr_t scim_sort_attr(const scim_sort_t *sort)
{
    size_t i;
    scim_sort_t s;

    if (sort == NULL)
        return SCIM_SORT_ATTR_OTHER;
    for (i = 0; i < sizeof(column_attrs) / sizeof(column_attrs[0]); i++) {
        memset(&s, 0, sizeof(s));
        if (resolve(column_attrs[i].path, &s) == 0 && s.scope == sort->scope && s.attr_def == sort->attr_def &&
            s.sub_def == sort->sub_def)
            return s.key_def->case_exact == column_attrs[i].case_exact ? column_attrs[i].attr : SCIM_SORT_ATTR_OTHER;
    }
    return SCIM_SORT_ATTR_OTHER;
}

int scim_sort_descending(const scim_sort_t *sort)
{
    return sort != NULL && sort->descending;
}

const char *scim_sort_value(const json_t *user, scim_sort_attr_t attr)
{
    size_t i;
    scim_sort_t s = {0};

    for (i = 0; i < sizeof(column_attrs) / sizeof(column_attrs[0]); i++) {
        if (column_attrs[i].attr == attr)
            return resolve(column_attrs[i].path, &s) == 0 ? json_string_value(sort_key(&s, user)) : NULL;
    }
    return NULL;
}
