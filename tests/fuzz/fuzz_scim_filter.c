/*
 * Fuzzes scim_filter_parse with arbitrary bytes, then matches what parsed against a fixed,
 * rich resource and asks for the index hint, so the matcher sees every shape the parser accepts.
 * It also checks the promise of scim_filter_narrow on a user the store could hold (parsed and
 * rendered): when the filter matches it, the narrowing holds on its column values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scim/filter.h"
#include "scim/user.h"

static const char RESOURCE[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"2819c223-7f76-453a-919d-413861904646\",\"externalId\":\"ExtID-1\","
    "\"userName\":\"Alice.Smith@Example.com\",\"name\":{\"familyName\":\"Employee\",\"givenName\":\"Ollie\"},"
    "\"title\":\"Engineer\",\"active\":true,\"n\":5,\"x\":2.5,\"nul\":null,"
    "\"emails\":[{\"value\":\"alice@corp.example\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"alice@home.example\",\"type\":\"home\"},\"odd\",[1,2],null,{}],"
    "\"roles\":[{\"value\":[\"nested\"]},{\"value\":{\"deep\":1}}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"R&D\","
    "\"manager\":{\"value\":\"m-1\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"created\":\"2026-11-27T10:00:00.000Z\","
    "\"lastModified\":\"2026-11-27T12:00:00.000Z\",\"location\":\"https://h/Users/1\",\"version\":\"W/\\\"1\\\"\"}}";

static json_t *resource;

/* Mixed case, LIKE's wildcards, a backslash and a non-ASCII letter in both cases, in every column. */
static const char USER[] =
    "{\"userName\":\"Al%_ce\\\\@Ex.com\",\"externalId\":\"Ext_1%\",\"displayName\":\"\u00c9mile O'Brien_%\","
    "\"name\":{\"familyName\":\"\u00e9MILE\",\"givenName\":\"\"},\"active\":false,\"title\":\"T\","
    "\"emails\":[{\"value\":\"A%b@X.org\",\"type\":\"work\",\"primary\":true},{\"value\":\"\",\"type\":\"home\"},"
    "{\"type\":\"other\"}]}";

static json_t *user;

/* filter.h's comparison: unsigned bytes, ASCII letters folded or not, a proper prefix first. */
static int cmp(const char *a, size_t an, const char *b, size_t bn, int fold)
{
    for (size_t i = 0; i < an && i < bn; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (fold && x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (fold && y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return x < y ? -1 : 1;
    }
    return an == bn ? 0 : an < bn ? -1 : 1;
}

static int test(const char *v, const scim_filter_cond_t *c)
{
    size_t vl, nl;
    if (v == NULL)
        return 0;
    vl = strlen(v);
    if (c->op == SCIM_FILTER_COND_PR)
        return vl > 0;
    nl = strlen(c->value);
    switch (c->op) {
    case SCIM_FILTER_COND_EQ:
        return cmp(v, vl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_GT:
        return cmp(v, vl, c->value, nl, c->fold) > 0;
    case SCIM_FILTER_COND_GE:
        return cmp(v, vl, c->value, nl, c->fold) >= 0;
    case SCIM_FILTER_COND_LT:
        return cmp(v, vl, c->value, nl, c->fold) < 0;
    case SCIM_FILTER_COND_LE:
        return cmp(v, vl, c->value, nl, c->fold) <= 0;
    case SCIM_FILTER_COND_SW:
        return nl <= vl && cmp(v, nl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_EW:
        return nl <= vl && cmp(v + vl - nl, nl, c->value, nl, c->fold) == 0;
    case SCIM_FILTER_COND_CO:
        for (size_t at = 0; nl <= vl && at <= vl - nl; at++)
            if (cmp(v + at, nl, c->value, nl, c->fold) == 0)
                return 1;
        return 0;
    default:
        abort();
    }
}

/* Whether `c` holds on the column values of the rendered user `r`, as the store keeps them. */
static int holds(const scim_filter_cond_t *c, const json_t *r)
{
    const json_t *name = json_object_get(r, "name");
    size_t i;
    json_t *e;
    switch (c->op) {
    case SCIM_FILTER_COND_AND:
        return holds(c->left, r) && holds(c->right, r);
    case SCIM_FILTER_COND_OR:
        return holds(c->left, r) || holds(c->right, r);
    default:
        break;
    }
    switch (c->col) {
    case SCIM_FILTER_COL_ID:
        return test(json_string_value(json_object_get(r, "id")), c);
    case SCIM_FILTER_COL_USER_NAME:
        return test(json_string_value(json_object_get(r, "userName")), c);
    case SCIM_FILTER_COL_EXTERNAL_ID:
        return test(json_string_value(json_object_get(r, "externalId")), c);
    case SCIM_FILTER_COL_DISPLAY_NAME:
        return test(json_string_value(json_object_get(r, "displayName")), c);
    case SCIM_FILTER_COL_FAMILY_NAME:
        return test(json_string_value(json_object_get(name, "familyName")), c);
    case SCIM_FILTER_COL_GIVEN_NAME:
        return test(json_string_value(json_object_get(name, "givenName")), c);
    case SCIM_FILTER_COL_ACTIVE:
        return json_is_true(json_object_get(r, "active")) == (c->active != 0);
    case SCIM_FILTER_COL_EMAIL:
        json_array_foreach(json_object_get(r, "emails"), i, e)
        {
            if (test(json_string_value(json_object_get(e, "value")), c))
                return 1;
        }
        return 0;
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scim_error_t err = {0};
    scim_filter_t *f;
    const char *value;

    if (resource == NULL)
        resource = json_loads(RESOURCE, 0, NULL);
    if (user == NULL) {
        json_t *body = json_loads(USER, 0, NULL);
        json_t *canonical = scim_user_parse(body, &err);
        scim_user_meta_t meta = {.id = "2819c223-7f76-453a-919d-413861904646",
                                 .created = "2026-11-27T10:00:00.000Z",
                                 .last_modified = "2026-11-27T12:00:00.000Z",
                                 .location = "https://h/Users/2819c223-7f76-453a-919d-413861904646",
                                 .version = 1};
        if (canonical == NULL)
            abort();
        user = scim_user_render(canonical, &meta);
        json_decref(canonical);
        json_decref(body);
    }
    f = scim_filter_parse((const char *)data, size, &err);
    if (f == NULL) {
        if (err.status != 400)
            abort();
        return 0;
    }
    (void)scim_filter_match(f, resource);
    scim_filter_cond_t *narrowed = scim_filter_narrow(f);
    if (narrowed != NULL && scim_filter_match(f, user) && !holds(narrowed, user))
        abort(); /* the store would leave out a match */
    scim_filter_cond_free(narrowed);
    if (scim_filter_index_hint(f, &value) != SCIM_FILTER_INDEX_NONE && value == NULL)
        abort();
    scim_filter_free(f);
    return 0;
}
