#include "groups_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "mock/mock_odeus.h"

char *groups_user(gw_proc_t *gw, const char *name)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"%s@example.com\",\"active\":true,"
             "\"emails\":[{\"value\":\"%s@example.com\",\"primary\":true}]}",
             name, name);
    return create_user(gw, body);
}

char *groups_group(gw_proc_t *gw, const char *body)
{
    return create_resource(gw, "/scim/v2/Groups", body);
}

void groups_patch(gw_proc_t *gw, const char *path, const char *ops)
{
    char body[4096];
    http_resp_t r;
    int n =
        snprintf(body, sizeof(body), "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":%s}", ops);
    assert_true(n > 0 && (size_t)n < sizeof(body));
    scim(gw, "PATCH", path, body, &r);
    if (r.status != 200 && r.status != 204)
        fail_msg("PATCH %s: expected 200 or 204, got %ld: %s", path, r.status, r.body);
    http_resp_clear(&r);
}

const char *groups_of_mock(struct mock_odeus *mock, char *buf, size_t len)
{
    char *text = mock_odeus_groups_json(mock);
    json_t *list = json_loads(text, 0, NULL), *g;
    size_t i, off = 0;
    buf[0] = '\0';
    json_array_foreach(list, i, g)
    {
        off += (size_t)snprintf(buf + off, len - off, "%s%s:", i > 0 ? ";" : "", json_string_value(json_object_get(g, "name")));
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(g, "members"), k, e)
        {
            off += (size_t)snprintf(buf + off, len - off, "%s%s", k > 0 ? "," : "", json_string_value(e));
            assert_true(off < len);
        }
        assert_true(off < len);
    }
    json_decref(list);
    free(text);
    return buf;
}

static int cmp_text(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

const char *groups_of_directory(gw_proc_t *gw, char *buf, size_t len)
{
    http_resp_t r;
    scim(gw, "GET", "/scim/v2/Groups?count=100", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "Resources"), *g;
    size_t i, n = json_array_size(list), off = 0;
    char **lines = calloc(n + 1, sizeof(*lines));
    json_array_foreach(list, i, g)
    {
        char *emails[64];
        size_t k, m = 0;
        json_t *member;
        json_array_foreach(json_object_get(g, "members"), k, member)
        {
            char path[128];
            http_resp_t u;
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", json_string_value(json_object_get(member, "value")));
            scim(gw, "GET", path, NULL, &u);
            if (u.status == 200 && json_is_true(json_object_get(u.json, "active")) && m < 64)
                emails[m++] =
                    strdup(json_string_value(json_object_get(json_array_get(json_object_get(u.json, "emails"), 0), "value")));
            http_resp_clear(&u);
        }
        qsort(emails, m, sizeof(*emails), cmp_text);
        char line[1024];
        size_t at = (size_t)snprintf(line, sizeof(line), "%s:", json_string_value(json_object_get(g, "displayName")));
        for (k = 0; k < m; k++) {
            at += (size_t)snprintf(line + at, sizeof(line) - at, "%s%s", k > 0 ? "," : "", emails[k]);
            free(emails[k]);
        }
        lines[i] = strdup(line);
    }
    qsort(lines, n, sizeof(*lines), cmp_text);
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i > 0 ? ";" : "", lines[i]);
        assert_true(off < len);
        free(lines[i]);
    }
    free(lines);
    http_resp_clear(&r);
    return buf;
}
