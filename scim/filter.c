/*
 * SCIM filters (RFC 7644 §3.4.2.2): the public API over the syntax tree parse.c builds, and the
 * matcher that runs it against rendered resources. The grammar is in parse.h; the same parser
 * reads PATCH paths (path.h), so value filters in paths behave like filters.
 */
#include "scim/filter.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/parse.h"
#include "scim/schema.h"

_Static_assert(SCIM_FILTER_MAX_LEN == SCIM__PARSE_MAX_LEN, "filter.h and parse.h disagree on the length bound");
_Static_assert(SCIM_FILTER_MAX_DEPTH == SCIM__PARSE_MAX_DEPTH, "filter.h and parse.h disagree on the depth bound");

scim_filter_t *scim_filter_parse(const char *text, size_t len, scim_error_t *err)
{
    return scim__parse_filter(text, len, err);
}

scim_filter_t *scim_filter_parse_resource(scim_resource_t res, const char *text, size_t len, scim_error_t *err)
{
    return scim__parse_filter_in(res, text, len, err);
}

void scim_filter_free(scim_filter_t *filter)
{
    scim__node_free(filter);
}

/* ---- matching ---- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int str_cmp(const char *a, size_t alen, const char *b, size_t blen, int exact)
{
    size_t i, n = alen < blen ? alen : blen;
    for (i = 0; i < n; i++) {
        int ca = exact ? (unsigned char)a[i] : lower((unsigned char)a[i]);
        int cb = exact ? (unsigned char)b[i] : lower((unsigned char)b[i]);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

/* `n` bytes of `s` into `dst`, ASCII letters folded as lower() folds them (nothing else changes). */
static void fold_ascii(char *dst, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        dst[i] = (char)lower((unsigned char)s[i]);
}

/*
 * `co`: linear in the haystack, never a comparison at every position (a long needle against a long
 * stored string would be quadratic). glibc's memmem is linear (two-way for long needles, a bounded
 * shift table for short ones). caseExact=false folds ASCII letters only, exactly as str_cmp does,
 * so both sides are folded into one buffer first and searched the same way.
 */
static int str_contains(const char *h, size_t hlen, const char *n, size_t nlen, int exact)
{
    char small[512];
    char *buf;
    int found;

    if (nlen > hlen)
        return 0;
    if (nlen == 0)
        return 1;
    if (exact)
        return memmem(h, hlen, n, nlen) != NULL;
    buf = hlen + nlen <= sizeof(small) ? small : gw_malloc(hlen + nlen);
    fold_ascii(buf, h, hlen);
    fold_ascii(buf + hlen, n, nlen);
    found = memmem(buf, hlen, buf + hlen, nlen) != NULL;
    if (buf != small)
        free(buf);
    return found;
}

static int order_holds(scim__op_t op, int c)
{
    switch (op) {
    case SCIM__OP_EQ:
        return c == 0;
    case SCIM__OP_GT:
        return c > 0;
    case SCIM__OP_GE:
        return c >= 0;
    case SCIM__OP_LT:
        return c < 0;
    case SCIM__OP_LE:
        return c <= 0;
    default:
        return 0;
    }
}

static int match_string(const scim_filter_t *f, const char *s, size_t n)
{
    size_t tlen = strlen(f->text);

    switch (f->op) {
    case SCIM__OP_CO:
        return str_contains(s, n, f->text, tlen, f->case_exact);
    /* sw and ew: one comparison of tlen bytes at one position, no scan. */
    case SCIM__OP_SW:
        return n >= tlen && str_cmp(s, tlen, f->text, tlen, f->case_exact) == 0;
    case SCIM__OP_EW:
        return n >= tlen && str_cmp(s + n - tlen, tlen, f->text, tlen, f->case_exact) == 0;
    default:
        return order_holds(f->op, str_cmp(s, n, f->text, tlen, f->case_exact));
    }
}

static int match_number(const scim_filter_t *f, const json_t *v)
{
    int c;
    if (!json_is_number(f->value))
        return 0;
    if (json_is_integer(v) && json_is_integer(f->value)) {
        json_int_t a = json_integer_value(v), b = json_integer_value(f->value);
        c = a < b ? -1 : a > b;
    } else {
        double a = json_number_value(v), b = json_number_value(f->value);
        c = a < b ? -1 : a > b;
    }
    return order_holds(f->op, c);
}

/* One scalar attribute value against eq/co/sw/ew/gt/ge/lt/le (ne is handled as "not eq"). */
static int match_scalar(const scim_filter_t *f, const json_t *v)
{
    if (json_is_string(v) && f->is_datetime && f->op != SCIM__OP_CO && f->op != SCIM__OP_SW && f->op != SCIM__OP_EW) {
        scim__datetime_t dt;
        return scim__datetime_parse(json_string_value(v), json_string_length(v), &dt) == 0 &&
               order_holds(f->op, scim__datetime_cmp(&dt, &f->dt));
    }
    if (json_is_string(v))
        return f->text != NULL && match_string(f, json_string_value(v), json_string_length(v));
    if (json_is_number(v))
        return match_number(f, v);
    if (json_is_boolean(v) && f->op == SCIM__OP_EQ && f->text != NULL) {
        /* `primary eq "True"` from Entra is a boolean test. */
        if (scim__str_ieq(f->text, "true"))
            return json_is_true(v);
        if (scim__str_ieq(f->text, "false"))
            return json_is_false(v);
    }
    return 0;
}

/* Any value of the attribute (any element of a multi-valued one) satisfies the comparison. */
static int match_any(const scim_filter_t *f, const json_t *v, const char *sub, int top)
{
    size_t i;
    json_t *e;

    if (json_is_array(v) && top) {
        json_array_foreach(v, i, e)
        {
            if (match_any(f, e, sub, 0))
                return 1;
        }
        return 0;
    }
    if (json_is_object(v)) {
        /* A complex value without a sub-attribute compares by its "value". */
        json_t *x = scim__obj_get_ci(v, sub != NULL ? sub : "value", strlen(sub != NULL ? sub : "value"), NULL);
        return json_is_array(x) ? match_any(f, x, NULL, 1) : !json_is_object(x) && match_scalar(f, x);
    }
    return sub == NULL && match_scalar(f, v);
}

static int present(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (present(e))
                return 1;
        }
        return 0;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e)
        {
            if (present(e))
                return 1;
        }
        return 0;
    }
    return 1;
}

static int present_sub(const json_t *v, const char *sub)
{
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return present(scim__obj_get_ci(v, sub, strlen(sub), NULL));
    json_array_foreach(v, i, e)
    {
        if (json_is_object(e) && present(scim__obj_get_ci(e, sub, strlen(sub), NULL)))
            return 1;
    }
    return 0;
}

static const json_t *resolve(const scim__attr_ref_t *ref, const json_t *ctx)
{
    const json_t *container = ctx;

    if (ref->scope == SCIM__SCOPE_UNKNOWN)
        return NULL;
    if (ref->scope == SCIM__SCOPE_ENTERPRISE)
        container = scim__obj_get_ci(ctx, SCIM_SCHEMA_ENTERPRISE_USER, strlen(SCIM_SCHEMA_ENTERPRISE_USER), NULL);
    return scim__obj_get_ci(container, ref->attr, strlen(ref->attr), NULL);
}

static int match_cmp(const scim_filter_t *f, const json_t *ctx)
{
    const json_t *v = resolve(&f->ref, ctx);
    int pr = f->ref.sub != NULL ? present_sub(v, f->ref.sub) : present(v);

    switch (f->op) {
    case SCIM__OP_PR:
        return pr;
    case SCIM__OP_EQ:
        return json_is_null(f->value) ? !pr : match_any(f, v, f->ref.sub, 1);
    case SCIM__OP_NE:
        if (json_is_null(f->value))
            return pr;
        {
            /* ne is "no value equals": for a multi-valued attribute, not "some value differs". */
            scim_filter_t eq = *f;
            eq.op = SCIM__OP_EQ;
            return !match_any(&eq, v, f->ref.sub, 1);
        }
    default:
        return match_any(f, v, f->ref.sub, 1);
    }
}

static int match_node(const scim_filter_t *f, const json_t *ctx);

static int match_element(const scim_filter_t *f, const json_t *e)
{
    return json_is_object(e) && match_node(f->left, e) && (f->right == NULL || match_node(f->right, e));
}

static int match_value_path(const scim_filter_t *f, const json_t *ctx)
{
    const json_t *v = resolve(&f->ref, ctx);
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return match_element(f, v);
    json_array_foreach(v, i, e)
    {
        if (match_element(f, e))
            return 1;
    }
    return 0;
}

static int match_node(const scim_filter_t *f, const json_t *ctx)
{
    switch (f->kind) {
    case SCIM__NODE_AND:
        return match_node(f->left, ctx) && match_node(f->right, ctx);
    case SCIM__NODE_OR:
        return match_node(f->left, ctx) || match_node(f->right, ctx);
    case SCIM__NODE_NOT:
        return !match_node(f->left, ctx);
    case SCIM__NODE_CMP:
        return match_cmp(f, ctx);
    case SCIM__NODE_VALUE_PATH:
        return match_value_path(f, ctx);
    }
    return 0;
}

int scim_filter_match(const scim_filter_t *filter, const json_t *resource)
{
    return filter != NULL && json_is_object(resource) && match_node(filter, resource);
}

/* ---- index hints ---- */

static int is_eq_literal(const scim_filter_t *f)
{
    return f->kind == SCIM__NODE_CMP && f->op == SCIM__OP_EQ && f->text != NULL && !json_is_boolean(f->value);
}

static int def_is(const scim__attr_t *def, const char *name)
{
    return def != NULL && strcmp(def->name, name) == 0;
}

/* In an emails[...] element filter: an `value eq x` that every matching element satisfies. */
static const char *element_email(const scim_filter_t *f)
{
    const char *v;

    if (f == NULL)
        return NULL;
    if (f->kind == SCIM__NODE_AND) {
        v = element_email(f->left);
        return v != NULL ? v : element_email(f->right);
    }
    if (is_eq_literal(f) && f->ref.sub == NULL && scim__str_ieq(f->ref.attr, "value"))
        return f->text;
    return NULL;
}

static scim_filter_index_t hint(const scim_filter_t *f, const char **value)
{
    scim_filter_index_t h;
    const scim__attr_t *def = f->ref.attr_def;

    if (f->kind == SCIM__NODE_AND) {
        h = hint(f->left, value);
        return h != SCIM_FILTER_INDEX_NONE ? h : hint(f->right, value);
    }
    if (f->ref.scope != SCIM__SCOPE_CORE || def == NULL)
        return SCIM_FILTER_INDEX_NONE;
    if (f->kind == SCIM__NODE_VALUE_PATH && def_is(def, "emails")) {
        *value = element_email(f->right);
        if (*value == NULL)
            *value = element_email(f->left);
        return *value != NULL ? SCIM_FILTER_INDEX_EMAIL : SCIM_FILTER_INDEX_NONE;
    }
    if (!is_eq_literal(f))
        return SCIM_FILTER_INDEX_NONE;
    *value = f->text;
    if (f->ref.sub == NULL && def_is(def, "id"))
        return SCIM_FILTER_INDEX_ID;
    if (f->ref.sub == NULL && def_is(def, "userName"))
        return SCIM_FILTER_INDEX_USERNAME;
    if (f->ref.sub == NULL && def_is(def, "externalId"))
        return SCIM_FILTER_INDEX_EXTERNAL_ID;
    if (def_is(def, "emails") && def_is(f->ref.sub_def, "value"))
        return SCIM_FILTER_INDEX_EMAIL;
    *value = NULL;
    return SCIM_FILTER_INDEX_NONE;
}

scim_filter_index_t scim_filter_index_hint(const scim_filter_t *filter, const char **value)
{
    const char *v = NULL;
    scim_filter_index_t h = filter != NULL && filter->resource == SCIM_RESOURCE_USER ? hint(filter, &v) : SCIM_FILTER_INDEX_NONE;

    if (value != NULL)
        *value = h != SCIM_FILTER_INDEX_NONE ? v : NULL;
    return h;
}

/* members, members.value: what a member comparison tests (a complex attribute compares by its value). */
static int is_member_value(const scim_filter_t *f)
{
    return def_is(f->ref.attr_def, "members") && (f->ref.sub == NULL || def_is(f->ref.sub_def, "value"));
}

static scim_filter_group_index_t group_hint(const scim_filter_t *f, const char **value)
{
    scim_filter_group_index_t h;
    const scim__attr_t *def = f->ref.attr_def;

    if (f->kind == SCIM__NODE_AND) {
        h = group_hint(f->left, value);
        return h != SCIM_FILTER_GROUP_INDEX_NONE ? h : group_hint(f->right, value);
    }
    if (f->ref.scope != SCIM__SCOPE_CORE || def == NULL)
        return SCIM_FILTER_GROUP_INDEX_NONE;
    if (f->kind == SCIM__NODE_VALUE_PATH && def_is(def, "members")) {
        /* inside the brackets (and after them) names are sub-attributes: `value` is the member id */
        *value = element_email(f->right);
        if (*value == NULL)
            *value = element_email(f->left);
        return *value != NULL ? SCIM_FILTER_GROUP_INDEX_MEMBER : SCIM_FILTER_GROUP_INDEX_NONE;
    }
    if (!is_eq_literal(f))
        return SCIM_FILTER_GROUP_INDEX_NONE;
    *value = f->text;
    if (f->ref.sub == NULL && def_is(def, "id"))
        return SCIM_FILTER_GROUP_INDEX_ID;
    if (f->ref.sub == NULL && def_is(def, "displayName"))
        return SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME;
    if (f->ref.sub == NULL && def_is(def, "externalId"))
        return SCIM_FILTER_GROUP_INDEX_EXTERNAL_ID;
    if (is_member_value(f))
        return SCIM_FILTER_GROUP_INDEX_MEMBER;
    *value = NULL;
    return SCIM_FILTER_GROUP_INDEX_NONE;
}

scim_filter_group_index_t scim_filter_group_index_hint(const scim_filter_t *filter, const char **value)
{
    const char *v = NULL;
    scim_filter_group_index_t h =
        filter != NULL && filter->resource == SCIM_RESOURCE_GROUP ? group_hint(filter, &v) : SCIM_FILTER_GROUP_INDEX_NONE;

    if (value != NULL)
        *value = h != SCIM_FILTER_GROUP_INDEX_NONE ? v : NULL;
    return h;
}

/* scim_filter_index_exact of a group filter; see scim_filter_group_index_hint. */
static int group_index_exact(const scim_filter_t *f)
{
    const scim__attr_t *def = f->ref.attr_def;

    if (f->ref.scope != SCIM__SCOPE_CORE)
        return 0;
    if (f->kind == SCIM__NODE_VALUE_PATH)
        return def_is(def, "members") && f->right == NULL && is_eq_literal(f->left) && f->left->ref.sub == NULL &&
               def_is(f->left->ref.attr_def, "value") && f->left->case_exact;
    if (!is_eq_literal(f))
        return 0;
    /* the store folds display names as lower() does and compares ids exactly (see below) */
    if (f->ref.sub == NULL && def_is(def, "displayName"))
        return !f->case_exact;
    if (f->ref.sub == NULL && (def_is(def, "id") || def_is(def, "externalId")))
        return f->case_exact;
    return is_member_value(f) && f->case_exact;
}

int scim_filter_index_exact(const scim_filter_t *f)
{
    const scim__attr_t *def;

    if (f != NULL && f->resource == SCIM_RESOURCE_GROUP)
        return group_index_exact(f);
    if (f == NULL || !is_eq_literal(f) || f->ref.scope != SCIM__SCOPE_CORE || f->ref.sub != NULL)
        return 0;
    def = f->ref.attr_def;
    /*
     * The store compares user_name with COLLATE NOCASE (ASCII letters folded, like lower() above)
     * and id / external_id exactly; the filter compares by the attribute's caseExact. Only where
     * the two agree is the index's answer the filter's answer.
     */
    if (def_is(def, "userName"))
        return !f->case_exact;
    if (def_is(def, "id") || def_is(def, "externalId"))
        return f->case_exact;
    return 0;
}

/* ---- narrowing by columns ---- */

void scim_filter_cond_free(scim_filter_cond_t *c)
{
    if (c == NULL)
        return;
    scim_filter_cond_free(c->left);
    scim_filter_cond_free(c->right);
    free(c);
}

static scim_filter_cond_t *cond_new(scim_filter_cond_op_t op)
{
    scim_filter_cond_t *c = gw_calloc(1, sizeof(*c));
    c->op = op;
    return c;
}

/* l AND r, where NULL is "true": either alone still holds for every match. */
static scim_filter_cond_t *cond_and(scim_filter_cond_t *l, scim_filter_cond_t *r)
{
    if (l == NULL || r == NULL)
        return l != NULL ? l : r;
    scim_filter_cond_t *c = cond_new(SCIM_FILTER_COND_AND);
    c->left = l;
    c->right = r;
    return c;
}

/* l OR r: "true" when either side is. */
static scim_filter_cond_t *cond_or(scim_filter_cond_t *l, scim_filter_cond_t *r)
{
    if (l == NULL || r == NULL) {
        scim_filter_cond_free(l);
        scim_filter_cond_free(r);
        return NULL;
    }
    scim_filter_cond_t *c = cond_new(SCIM_FILTER_COND_OR);
    c->left = l;
    c->right = r;
    return c;
}

/*
 * A comparison `f` whose tested value is the column's string (match_any then match_scalar, or
 * present for pr). `pr_ok`: whether `pr` tests that string alone (`emails pr` tests every
 * sub-attribute of the elements, so it says nothing about their values).
 */
static scim_filter_cond_t *narrow_cmp(const scim_filter_t *f, scim_filter_col_t col, int pr_ok)
{
    static const scim_filter_cond_op_t ops[] = {
        [SCIM__OP_EQ] = SCIM_FILTER_COND_EQ, [SCIM__OP_CO] = SCIM_FILTER_COND_CO, [SCIM__OP_SW] = SCIM_FILTER_COND_SW,
        [SCIM__OP_EW] = SCIM_FILTER_COND_EW, [SCIM__OP_GT] = SCIM_FILTER_COND_GT, [SCIM__OP_GE] = SCIM_FILTER_COND_GE,
        [SCIM__OP_LT] = SCIM_FILTER_COND_LT, [SCIM__OP_LE] = SCIM_FILTER_COND_LE,
    };
    scim_filter_cond_t *c;

    if (col == SCIM_FILTER_COL_ACTIVE) {
        /* match_scalar on a boolean: only eq with a "true"/"false" literal (any case) can hold */
        if (f->op != SCIM__OP_EQ || f->text == NULL || (!scim__str_ieq(f->text, "true") && !scim__str_ieq(f->text, "false")))
            return NULL;
        c = cond_new(SCIM_FILTER_COND_EQ);
        c->col = col;
        c->active = scim__str_ieq(f->text, "true");
        return c;
    }
    /* dateTimes compare as instants, not as text */
    if (f->is_datetime)
        return NULL;
    if (f->op == SCIM__OP_PR) {
        if (!pr_ok)
            return NULL;
        c = cond_new(SCIM_FILTER_COND_PR);
        c->col = col;
        return c;
    }
    /* ne is "no value equals", and eq null is "not present": neither needs a value to hold */
    if (f->op == SCIM__OP_NE || f->text == NULL || json_is_null(f->value) || (size_t)f->op >= sizeof(ops) / sizeof(ops[0]))
        return NULL;
    c = cond_new(ops[f->op]);
    c->col = col;
    c->value = f->text;
    c->fold = !f->case_exact;
    return c;
}

/* Inside emails[...]: what an element that matches must satisfy, as a condition on some email value. */
static scim_filter_cond_t *narrow_element(const scim_filter_t *f)
{
    switch (f->kind) {
    case SCIM__NODE_AND:
        return cond_and(narrow_element(f->left), narrow_element(f->right));
    case SCIM__NODE_OR:
        return cond_or(narrow_element(f->left), narrow_element(f->right));
    case SCIM__NODE_CMP:
        if (f->ref.sub == NULL && scim__str_ieq(f->ref.attr, "value"))
            return narrow_cmp(f, SCIM_FILTER_COL_EMAIL, 1);
        return NULL;
    default:
        return NULL;
    }
}

/* The column a top-level comparison tests, or -1. */
static int column_of(const scim__attr_ref_t *ref, int *pr_ok)
{
    static const struct {
        const char *attr, *sub;
        scim_filter_col_t col;
    } cols[] = {
        {"id", NULL, SCIM_FILTER_COL_ID},
        {"userName", NULL, SCIM_FILTER_COL_USER_NAME},
        {"externalId", NULL, SCIM_FILTER_COL_EXTERNAL_ID},
        {"displayName", NULL, SCIM_FILTER_COL_DISPLAY_NAME},
        {"name", "familyName", SCIM_FILTER_COL_FAMILY_NAME},
        {"name", "givenName", SCIM_FILTER_COL_GIVEN_NAME},
        {"active", NULL, SCIM_FILTER_COL_ACTIVE},
        {"emails", NULL, SCIM_FILTER_COL_EMAIL},
        {"emails", "value", SCIM_FILTER_COL_EMAIL},
    };
    size_t i;

    if (ref->scope != SCIM__SCOPE_CORE || ref->attr_def == NULL)
        return -1;
    for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        if (!def_is(ref->attr_def, cols[i].attr))
            continue;
        if (cols[i].sub == NULL ? ref->sub != NULL : !def_is(ref->sub_def, cols[i].sub))
            continue;
        *pr_ok = cols[i].col != SCIM_FILTER_COL_EMAIL || ref->sub != NULL;
        return (int)cols[i].col;
    }
    return -1;
}

static scim_filter_cond_t *narrow(const scim_filter_t *f)
{
    int col, pr_ok = 0;

    switch (f->kind) {
    case SCIM__NODE_AND:
        return cond_and(narrow(f->left), narrow(f->right));
    case SCIM__NODE_OR:
        return cond_or(narrow(f->left), narrow(f->right));
    case SCIM__NODE_NOT:
        return NULL;
    case SCIM__NODE_CMP:
        col = column_of(&f->ref, &pr_ok);
        return col < 0 ? NULL : narrow_cmp(f, (scim_filter_col_t)col, pr_ok);
    case SCIM__NODE_VALUE_PATH:
        if (f->ref.scope != SCIM__SCOPE_CORE || !def_is(f->ref.attr_def, "emails"))
            return NULL;
        return cond_and(narrow_element(f->left), f->right != NULL ? narrow_element(f->right) : NULL);
    }
    return NULL;
}

scim_filter_cond_t *scim_filter_narrow(const scim_filter_t *filter)
{
    return filter != NULL ? narrow(filter) : NULL;
}
