/*
 * Fuzzes the Group resource: each input is tried as a POST/PUT body (scim_group_parse), as a PATCH
 * body planned on a fixed group (scim_group_patch_plan), and, as raw text, as a PATCH member path
 * and as a group filter. Checks the contracts of scim/group.h the gateway relies on: a parsed group
 * is canonical and a fixed point, its rendering parses back to it; member lists hold each id once,
 * none empty; a plan's add and remove share no id, remove is empty after a clear, attrs_changed
 * says whether the attributes changed; every failure is a 400 and leaves the outputs zeroed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scim/filter.h"
#include "scim/group.h"
#include "scim/patch.h"

static const char GROUP[] = "{\"displayName\":\"Engineering\",\"externalId\":\"8b1a-obj\"}";

static json_t *base_group;
static json_t *rendered;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each id once and non-empty; with `other`, no id of `m` is in it either. */
static void check_members(const scim_group_members_t *m, const scim_group_members_t *other)
{
    size_t n = m->n + (other != NULL ? other->n : 0);
    char **all;
    size_t i, k = 0;

    if (m->n == 0 ? m->ids != NULL || m->is_group != NULL : m->ids == NULL || m->is_group == NULL)
        abort();
    if (n == 0)
        return;
    all = malloc(n * sizeof(*all));
    for (i = 0; i < m->n; i++) {
        if (m->ids[i] == NULL || m->ids[i][0] == '\0' || (m->is_group[i] != 0 && m->is_group[i] != 1))
            abort();
        all[k++] = m->ids[i];
    }
    for (i = 0; other != NULL && i < other->n; i++)
        all[k++] = other->ids[i];
    qsort(all, n, sizeof(*all), cmp_str);
    for (i = 1; i < n; i++) {
        if (strcmp(all[i - 1], all[i]) == 0)
            abort();
    }
    free(all);
}

static int is_canonical(const json_t *g)
{
    const char *k;
    json_t *v;

    if (!json_is_object(g) || !json_is_string(json_object_get(g, "displayName")))
        return 0;
    json_object_foreach((json_t *)g, k, v)
    {
        if (strcmp(k, "displayName") != 0 && strcmp(k, "externalId") != 0)
            return 0;
        if (!json_is_string(v) || json_string_length(v) > SCIM_GROUP_MAX_STRING_BYTES)
            return 0;
    }
    return 1;
}

/* A canonical group parses to itself, and so does its rendering (which adds schemas, id, meta). */
static void check_group(const json_t *g)
{
    scim_group_meta_t meta = {"g-1", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z", "https://h/Groups/g-1", 3};
    scim_group_members_t m;
    scim_error_t err = {0};
    json_t *r, *again;

    if (!is_canonical(g))
        abort();
    again = scim_group_parse(g, &err, &m);
    if (again == NULL || !json_equal(again, (json_t *)g) || m.n != 0)
        abort();
    json_decref(again);
    r = scim_group_render(g, &meta, json_pack("[{s:s}]", "value", "u-1"));
    again = scim_group_parse(r, &err, &m);
    if (again == NULL || !json_equal(again, (json_t *)g) || m.n != 1 || strcmp(m.ids[0], "u-1") != 0)
        abort();
    scim_group_members_free(&m);
    json_decref(again);
    json_decref(r);
}

static void fuzz_parse(const json_t *body)
{
    scim_group_members_t m;
    scim_error_t err = {0};
    json_t *g = scim_group_parse(body, &err, &m);

    if (g == NULL) {
        if (err.status != 400 || m.n != 0 || m.ids != NULL)
            abort();
        return;
    }
    check_group(g);
    check_members(&m, NULL);
    scim_group_members_free(&m);
    json_decref(g);
}

static void fuzz_plan(const json_t *body)
{
    scim_group_patch_t p;
    scim_error_t err = {0};

    if (scim_group_patch_plan(base_group, body, &p, &err) != 0) {
        if (err.status != 400 || p.group != NULL || p.add.n != 0 || p.remove.n != 0 || p.clear_members != 0)
            abort();
        return;
    }
    check_group(p.group);
    if (p.attrs_changed != !json_equal(p.group, base_group))
        abort();
    if (p.clear_members && p.remove.n != 0)
        abort();
    check_members(&p.remove, NULL);
    check_members(&p.add, &p.remove);
    scim_group_patch_clear(&p);
}

/* The raw text as a remove path, and as a group filter matched against a rendered group. */
static void fuzz_text(const uint8_t *data, size_t size)
{
    scim_error_t err = {0};
    json_t *path = json_stringn((const char *)data, size);
    scim_filter_t *f;
    const char *value;

    if (path != NULL) {
        json_t *body =
            json_pack("{s:[s],s:[{s:s,s:o}]}", "schemas", SCIM_SCHEMA_PATCH_OP, "Operations", "op", "remove", "path", path);
        fuzz_plan(body);
        json_decref(body);
    }
    f = scim_filter_parse_resource(SCIM_RESOURCE_GROUP, (const char *)data, size, &err);
    if (f == NULL) {
        if (err.status != 400)
            abort();
        return;
    }
    (void)scim_filter_match(f, rendered);
    if (scim_filter_group_index_hint(f, &value) != SCIM_FILTER_GROUP_INDEX_NONE && value == NULL)
        abort();
    if (scim_filter_index_hint(f, NULL) != SCIM_FILTER_INDEX_NONE)
        abort();
    /* an exact index answer is the filter's answer: the filter must then match what the index finds */
    if (scim_filter_index_exact(f) && scim_filter_group_index_hint(f, NULL) == SCIM_FILTER_GROUP_INDEX_NONE)
        abort();
    scim_filter_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body;

    if (base_group == NULL) {
        scim_group_meta_t meta = {"g-1", "2026-11-27T10:00:00Z", "2026-11-27T12:00:00Z", "https://h/Groups/g-1", 3};
        base_group = json_loads(GROUP, 0, NULL);
        rendered = scim_group_render(base_group, &meta,
                                     json_pack("[{s:s,s:s,s:s},{s:s,s:s}]", "value", "u-1", "display", "ann@corp.example", "type",
                                               "User", "value", "u-2", "type", "User"));
    }
    body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (body != NULL) {
        fuzz_parse(body);
        fuzz_plan(body);
        json_decref(body);
    }
    fuzz_text(data, size);
    return 0;
}
