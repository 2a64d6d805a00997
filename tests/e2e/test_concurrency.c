/*
 * Writes of one user from many connections at once, on several worker threads: each PATCH is
 * built on the state it read, so a change committed by another worker in between must not be
 * overwritten (a lost update). Every email added by a PATCH that was answered 200 must be in the
 * final user; one answered otherwise must not.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "mock/mock_odeus.h"

#define CLIENTS 8
#define PATCHES 6 /* 1 + 8 * 6 emails stay under the gateway's 64 per user */

typedef gw_fixture_t fixture_t;

static int setup(void **state)
{
    static const char *const extra[] = {"--threads", "4", NULL};
    return gw_fixture_setup(state, extra);
}

static int teardown(void **state)
{
    return gw_fixture_teardown(state);
}

typedef struct client {
    gw_proc_t *gw;
    const char *id;
    int n;
    long status[PATCHES];
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    char path[128], body[256];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", c->id);
    for (int i = 0; i < PATCHES; i++) {
        snprintf(body, sizeof(body),
                 "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\","
                 "\"path\":\"emails\",\"value\":[{\"value\":\"c%d-%d@example.com\",\"type\":\"other\"}]}]}",
                 c->n, i);
        http_resp_t r;
        scim(c->gw, "PATCH", path, body, &r);
        c->status[i] = r.status;
        http_resp_clear(&r);
    }
    return NULL;
}

static int has_email(const json_t *user, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(user, "emails"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "value")), value) == 0)
            return 1;
    }
    return 0;
}

static void test_concurrent_patches_lose_nothing(void **state)
{
    fixture_t *f = *state;
    char *id = create_user(&f->gw, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":"
                                   "\"many@example.com\",\"active\":true,\"emails\":[{\"value\":\"many@example.com\","
                                   "\"primary\":true}]}");
    client_t c[CLIENTS];
    pthread_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client_t){.gw = &f->gw, .id = id, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(t[i], NULL);

    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    http_resp_t r;
    scim(&f->gw, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    size_t ok = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (int k = 0; k < PATCHES; k++) {
            char email[64];
            snprintf(email, sizeof(email), "c%d-%d@example.com", i, k);
            /* 503 (changed under it too often) is allowed and changes nothing */
            if (c[i].status[k] != 200 && c[i].status[k] != 503)
                fail_msg("PATCH %s: %ld", email, c[i].status[k]);
            if (c[i].status[k] == 200 && !has_email(r.json, email))
                fail_msg("%s was answered 200 but is gone: a lost update", email);
            if (c[i].status[k] != 200 && has_email(r.json, email))
                fail_msg("%s was answered %ld but is there", email, c[i].status[k]);
            ok += c[i].status[k] == 200;
        }
    }
    assert_int_equal(json_array_size(json_object_get(r.json, "emails")), ok + 1);
    assert_true(ok >= CLIENTS * PATCHES / 2);
    /* the version counts the changes: one per PATCH answered 200, after the create's 1 */
    char etag[32];
    snprintf(etag, sizeof(etag), "W/\"%zu\"", ok + 1);
    assert_string_equal(r.etag, etag);
    http_resp_clear(&r);
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_patches_lose_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
