/*
 * The Group resource: canonicalize what IdPs send, plan PATCH requests as membership deltas,
 * render what they read back. See group.h.
 *
 * Names and paths resolve against the Group schema of the one attribute table (schema.h), with the
 * filter grammar (parse.h) for PATCH paths, so /Schemas, filters and PATCH agree on what a Group has.
 */
#include "scim/group.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/parse.h"
#include "scim/patch.h"
#include "scim/patch_op.h"
#include "scim/path.h"
#include "scim/schema.h"

/* ---- sets of member ids ---- */

/*
 * Ids in first-seen order with a hash index: a request may name up to
 * SCIM_GROUP_MAX_MEMBERS_PER_REQUEST ids, and every one is looked up in both sets of a plan, so
 * a linear search would be quadratic. A removed id stays in `entries` (live 0) and in the index;
 * adding it again revives it in place.
 */
typedef struct member_entry {
    char *id;
    size_t len;
    int is_group;
    int live;
} member_entry_t;

typedef struct member_set {
    member_entry_t *entries;
    size_t n, cap;
    size_t *slots;  /* an index into entries + 1; 0 is an empty slot */
    size_t n_slots; /* a power of two, at least twice n */
} member_set_t;

static uint64_t hash_id(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return h;
}

/* The slot that holds `id`, or the empty slot where it would go. */
static size_t set_slot(const member_set_t *set, const char *id, size_t len)
{
    size_t mask = set->n_slots - 1;
    size_t i = (size_t)hash_id(id, len) & mask;

    while (set->slots[i] != 0) {
        const member_entry_t *e = &set->entries[set->slots[i] - 1];
        if (e->len == len && memcmp(e->id, id, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static member_entry_t *set_find(const member_set_t *set, const char *id, size_t len)
{
    size_t slot;

    if (set->n == 0)
        return NULL;
    slot = set_slot(set, id, len);
    return set->slots[slot] != 0 ? &set->entries[set->slots[slot] - 1] : NULL;
}

static void set_grow(member_set_t *set)
{
    size_t i;

    set->n_slots = set->n_slots == 0 ? 16 : set->n_slots * 2;
    free(set->slots);
    set->slots = gw_calloc(set->n_slots, sizeof(*set->slots));
    for (i = 0; i < set->n; i++)
        set->slots[set_slot(set, set->entries[i].id, set->entries[i].len)] = i + 1;
}

/* Makes `id` a live member of the set; one already live keeps its place and flag. */
static void set_add(member_set_t *set, const char *id, size_t len, int is_group)
{
    member_entry_t *e = set_find(set, id, len);

    if (e != NULL) {
        if (!e->live) {
            e->live = 1;
            e->is_group = is_group;
        }
        return;
    }
    if ((set->n + 1) * 2 > set->n_slots)
        set_grow(set);
    if (set->n == set->cap) {
        set->cap = set->cap == 0 ? 16 : set->cap * 2;
        set->entries = gw_realloc(set->entries, set->cap * sizeof(*set->entries));
    }
    set->entries[set->n] = (member_entry_t){gw_strndup(id, len), len, is_group, 1};
    set->slots[set_slot(set, id, len)] = ++set->n;
}

static void set_del(member_set_t *set, const char *id, size_t len)
{
    member_entry_t *e = set_find(set, id, len);
    if (e != NULL)
        e->live = 0;
}

static void set_reset(member_set_t *set)
{
    size_t i;
    for (i = 0; i < set->n; i++)
        free(set->entries[i].id);
    free(set->entries);
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* Moves the live ids, in order, into `out` and empties the set. */
static void set_take(member_set_t *set, scim_group_members_t *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < set->n; i++)
        out->n += set->entries[i].live != 0;
    if (out->n > 0) {
        out->ids = gw_malloc(out->n * sizeof(*out->ids));
        out->is_group = gw_malloc(out->n * sizeof(*out->is_group));
    }
    out->n = 0;
    for (i = 0; i < set->n; i++) {
        member_entry_t *e = &set->entries[i];
        if (!e->live)
            continue;
        out->ids[out->n] = e->id;
        out->is_group[out->n++] = e->is_group;
        e->id = NULL;
    }
    set_reset(set);
}

void scim_group_members_free(scim_group_members_t *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->n; i++)
        free(m->ids[i]);
    free(m->ids);
    free(m->is_group);
    memset(m, 0, sizeof(*m));
}

/* ---- values ---- */

static int is_blank(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!isspace((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* A string the store can keep as one: within the cap, and no NUL that would cut it short. */
static int check_string(const json_t *v, const char *name, scim_error_t *err)
{
    if (!json_is_string(v))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be a string", name);
    if (json_string_length(v) > SCIM_GROUP_MAX_STRING_BYTES)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "%s is %zu bytes; a string may have at most %d (SCIM_GROUP_MAX_STRING_BYTES)", name,
                              json_string_length(v), SCIM_GROUP_MAX_STRING_BYTES);
    if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must not contain a NUL character", name);
    return 0;
}

/* Sets displayName or externalId of `group` from `v` (which must be a string). */
static int put_string(json_t *group, const scim__attr_t *attr, const json_t *v, scim_error_t *err)
{
    if (check_string(v, attr->name, err) != 0)
        return -1;
    if (attr->required && is_blank(json_string_value(v), json_string_length(v)))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be a non-empty string", attr->name);
    json_object_set_new(group, attr->name, json_stringn(json_string_value(v), json_string_length(v)));
    return 0;
}

static int is_members(const scim__attr_t *attr)
{
    return attr != NULL && strcmp(attr->name, "members") == 0;
}

/* What to do with each member id a value names: add it, or remove it, in `ctx`. */
typedef void (*member_fn)(void *ctx, const char *id, size_t len, int is_group);

/* The id and nested-group flag of one member: {"value": "<id>", "type": ...} or a bare "<id>". */
static int read_member(const json_t *e, size_t index, const json_t **id, int *is_group, scim_error_t *err)
{
    const json_t *type = NULL;

    *id = e;
    if (json_is_object(e)) {
        *id = scim__obj_get_ci(e, "value", strlen("value"), NULL);
        type = scim__obj_get_ci(e, "type", strlen("type"), NULL);
    } else if (!json_is_string(e)) {
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "members[%zu] must be an object with a value, or an id", index);
    }
    if (!json_is_string(*id) || json_string_length(*id) == 0)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "members[%zu] has no value (the member's id)", index);
    if (check_string(*id, "members.value", err) != 0)
        return -1;
    *is_group = json_is_string(type) && scim__str_ieq(json_string_value(type), "Group");
    return 0;
}

/* One more member value named by this request; `*count` runs over the whole request. */
static int count_member(size_t *count, scim_error_t *err)
{
    if (++*count > SCIM_GROUP_MAX_MEMBERS_PER_REQUEST)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "the request names more than %d members (SCIM_GROUP_MAX_MEMBERS_PER_REQUEST)",
                              SCIM_GROUP_MAX_MEMBERS_PER_REQUEST);
    return 0;
}

/* Calls `fn` for every member a members value names: an array (null elements skipped), or one member. */
static int each_member(const json_t *v, size_t *count, scim_error_t *err, member_fn fn, void *ctx)
{
    const json_t *id;
    int is_group;
    size_t i;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        if (count_member(count, err) != 0 || read_member(v, 0, &id, &is_group, err) != 0)
            return -1;
        fn(ctx, json_string_value(id), json_string_length(id), is_group);
        return 0;
    }
    json_array_foreach(v, i, e)
    {
        if (json_is_null(e))
            continue;
        if (count_member(count, err) != 0 || read_member(e, i, &id, &is_group, err) != 0)
            return -1;
        fn(ctx, json_string_value(id), json_string_length(id), is_group);
    }
    return 0;
}

/* ---- POST / PUT ---- */

static void parse_add(void *ctx, const char *id, size_t len, int is_group)
{
    set_add(ctx, id, len, is_group);
}

json_t *scim_group_parse(const json_t *body, scim_error_t *err, scim_group_members_t *members)
{
    member_set_t set = {0};
    size_t count = 0;
    json_t *out, *v;
    const char *k;

    memset(members, 0, sizeof(*members));
    if (!json_is_object(body)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the Group resource must be a JSON object");
        return NULL;
    }
    out = json_object();
    json_object_foreach((json_t *)body, k, v)
    {
        scim__scope_t scope;
        const char *name;
        size_t name_len;
        const scim__attr_t *attr;

        scim__split_urn_in(SCIM_RESOURCE_GROUP, k, strlen(k), &scope, &name, &name_len);
        attr = scim__attr_find_in(SCIM_RESOURCE_GROUP, scope, name, name_len);
        /* like users: unknown names are another schema's, readOnly ones (id, meta) the server's */
        if (attr == NULL || attr->mutability == SCIM__MUT_READ_ONLY)
            continue;
        if (is_members(attr)) {
            if (each_member(v, &count, err, parse_add, &set) != 0)
                goto fail;
        } else if (json_is_null(v)) {
            json_object_del(out, attr->name);
        } else if (put_string(out, attr, v, err) != 0) {
            goto fail;
        }
    }
    if (json_object_get(out, "displayName") == NULL) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "displayName is required and must be a non-empty string");
        goto fail;
    }
    set_take(&set, members);
    return out;

fail:
    set_reset(&set);
    json_decref(out);
    return NULL;
}

const char *scim_group_display_name(const json_t *group)
{
    return json_string_value(json_object_get(group, "displayName"));
}

const char *scim_group_external_id(const json_t *group)
{
    return json_string_value(json_object_get(group, "externalId"));
}

/* ---- PATCH ---- */

typedef scim__patch_op_t plan_op_t;

typedef struct plan {
    json_t *group; /* the working copy of the attributes */
    int clear;
    member_set_t add, remove;
    size_t members_named; /* across the whole request, for SCIM_GROUP_MAX_MEMBERS_PER_REQUEST */
} plan_t;

static void plan_add(void *ctx, const char *id, size_t len, int is_group)
{
    plan_t *p = ctx;
    set_del(&p->remove, id, len);
    set_add(&p->add, id, len, is_group);
}

static void plan_remove(void *ctx, const char *id, size_t len, int is_group)
{
    plan_t *p = ctx;
    (void)is_group;
    set_del(&p->add, id, len);
    /* after a clear nothing current is left to remove */
    if (!p->clear)
        set_add(&p->remove, id, len, 0);
}

static void plan_clear(plan_t *p)
{
    p->clear = 1;
    set_reset(&p->add);
    set_reset(&p->remove);
}

/* The id of `members[value eq "<id>"]`, the only member filter: NULL for any other filter. */
static const json_t *member_filter_id(const scim_filter_t *f)
{
    if (f->kind != SCIM__NODE_CMP || f->op != SCIM__OP_EQ || f->ref.sub != NULL || f->ref.attr_def == NULL ||
        strcmp(f->ref.attr_def->name, "value") != 0 || !json_is_string(f->value))
        return NULL;
    return f->value;
}

static int plan_members(plan_t *p, plan_op_t op, const scim__path_t *path, const json_t *value, scim_error_t *err)
{
    const json_t *id;

    /* RFC 7643 §4.2: sub-attributes of members are immutable; a member is added or removed whole. */
    if (path->sub != NULL)
        return scim_error_set(err, 400, SCIM_TYPE_MUTABILITY, "members.%s cannot be changed; add or remove the member instead",
                              path->sub_def->name);
    if (path->filter != NULL) {
        id = member_filter_id(path->filter);
        if (id == NULL)
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "a members filter must be value eq \"<id>\"");
        if (op != SCIM__PATCH_REMOVE)
            return scim_error_set(err, 400, SCIM_TYPE_MUTABILITY,
                                  "members[...] selects members to remove; to add one, add to path members");
        if (count_member(&p->members_named, err) != 0 || check_string(id, "members.value", err) != 0)
            return -1;
        if (json_string_length(id) == 0) /* as a listed member with an empty value: names no one */
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "members[value eq \"\"] names no member (an empty id)");
        plan_remove(p, json_string_value(id), json_string_length(id), 0);
        return 0;
    }
    switch (op) {
    case SCIM__PATCH_ADD:
        return each_member(value, &p->members_named, err, plan_add, p);
    case SCIM__PATCH_REPLACE:
        plan_clear(p);
        return each_member(value, &p->members_named, err, plan_add, p);
    case SCIM__PATCH_REMOVE:
        /* Entra (without aadOptscim062020) removes members by listing them in the value */
        if (value == NULL || json_is_null(value)) {
            plan_clear(p);
            return 0;
        }
        return each_member(value, &p->members_named, err, plan_remove, p);
    }
    return 0;
}

/* displayName or externalId. */
static int plan_string(plan_t *p, plan_op_t op, const scim__attr_t *attr, const json_t *value, scim_error_t *err)
{
    if (op == SCIM__PATCH_REMOVE || (op == SCIM__PATCH_REPLACE && json_is_null(value))) {
        if (attr->required)
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s is required; it cannot be removed", attr->name);
        json_object_del(p->group, attr->name);
        return 0;
    }
    if (json_is_null(value))
        return 0; /* add null adds nothing, as for users */
    return put_string(p->group, attr, value, err);
}

/*
 * One operation on one path. `lenient` is set for a member of a path-less value: there, as on POST,
 * a name that does not parse, that the schema lacks or that is readOnly (Okta sends "id") is
 * ignored rather than refused.
 */
static int plan_path(plan_t *p, plan_op_t op, const char *text, const json_t *value, int lenient, scim_error_t *err)
{
    scim__path_t path;
    scim_error_t ignored;
    const scim__attr_t *attr;
    int rc = -1;

    if (scim__path_parse_in(SCIM_RESOURCE_GROUP, text, strlen(text), &path, lenient ? &ignored : err) != 0) {
        rc = lenient ? 0 : -1;
        goto out;
    }
    attr = path.attr_def;
    if (path.scope != SCIM__SCOPE_CORE || attr == NULL || (path.sub != NULL && path.sub_def == NULL)) {
        rc = lenient
                 ? 0
                 : scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "path '%.64s' names no attribute of the Group schema", text);
        goto out;
    }
    if (attr->mutability == SCIM__MUT_READ_ONLY) {
        rc = lenient ? 0 : scim_error_set(err, 400, SCIM_TYPE_MUTABILITY, "%s is readOnly", attr->name);
        goto out;
    }
    if (is_members(attr))
        rc = plan_members(p, op, &path, value, err);
    else if (path.filter != NULL)
        rc = scim_error_set(err, 400, SCIM_TYPE_INVALID_PATH, "%s is not multi-valued; it takes no value filter", attr->name);
    else
        rc = plan_string(p, op, attr, value, err);

out:
    scim__path_clear(&path);
    return rc;
}

static int plan_operation(plan_t *p, const json_t *op_obj, size_t index, scim_error_t *err)
{
    plan_op_t op;
    const char *path, *key;
    const json_t *value;
    json_t *member;

    if (scim__patch_op_read(op_obj, index, &op, &path, &value, err) != 0)
        return -1;
    if (path != NULL)
        return plan_path(p, op, path, value, 0, err);
    json_object_foreach((json_t *)value, key, member)
    {
        if (plan_path(p, op, key, member, 1, err) != 0)
            return -1;
    }
    return 0;
}

static void plan_free(plan_t *p)
{
    json_decref(p->group);
    set_reset(&p->add);
    set_reset(&p->remove);
}

int scim_group_patch_plan(const json_t *group, const json_t *body, scim_group_patch_t *out, scim_error_t *err)
{
    plan_t p = {0};
    const json_t *ops;
    json_t *op;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(group))
        return scim_error_set(err, 500, NULL, "no group to patch");
    if ((ops = scim__patch_ops(body, SCIM_SCHEMA_PATCH_OP, SCIM_PATCH_MAX_OPERATIONS, err)) == NULL)
        return -1;
    p.group = json_deep_copy(group);
    json_array_foreach((json_t *)ops, i, op)
    {
        if (plan_operation(&p, op, i, err) != 0) {
            plan_free(&p);
            return -1;
        }
    }
    out->attrs_changed = !json_equal(p.group, (json_t *)group);
    out->group = p.group;
    out->clear_members = p.clear;
    set_take(&p.add, &out->add);
    set_take(&p.remove, &out->remove);
    return 0;
}

void scim_group_patch_clear(scim_group_patch_t *p)
{
    if (p == NULL)
        return;
    json_decref(p->group);
    scim_group_members_free(&p->add);
    scim_group_members_free(&p->remove);
    memset(p, 0, sizeof(*p));
}

/* ---- rendering ---- */

static void set_string(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(obj, key, json_string(value));
}

json_t *scim_group_render(const json_t *group, const scim_group_meta_t *meta, json_t *members)
{
    json_t *out = json_pack("{s:[s]}", "schemas", SCIM_SCHEMA_GROUP);
    json_t *m = json_pack("{s:s}", "resourceType", "Group");
    json_t *v;
    char etag[40];

    set_string(out, "id", meta->id);
    v = json_object_get(group, "externalId");
    if (json_is_string(v))
        json_object_set_new(out, "externalId", json_copy(v));
    v = json_object_get(group, "displayName");
    if (json_is_string(v))
        json_object_set_new(out, "displayName", json_copy(v));
    if (json_is_array(members))
        json_object_set_new(out, "members", members);
    else
        json_decref(members);
    set_string(m, "created", meta->created);
    set_string(m, "lastModified", meta->last_modified);
    set_string(m, "location", meta->location);
    set_string(m, "version", scim_user_etag(meta->version, etag, sizeof(etag)));
    json_object_set_new(out, "meta", m);
    return out;
}
