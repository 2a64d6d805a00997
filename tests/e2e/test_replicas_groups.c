/*
 * Group flows on two replicas of the gateway sharing one PostgreSQL database (README, "High
 * availability"), with --odeus-groups mirror and roles from group membership: an Okta Group Push
 * sequence (create with members, membership PATCHes, an If-Match made on one replica and checked
 * on the other, renames in and out of the role map, "Push now", PUT), Entra's group PATCHes, a
 * member deactivated and reactivated, then a burst of membership changes of both groups sent to
 * both replicas at once, then a group deleted. Every request goes to the other replica than the one
 * before (the burst: one thread per replica). After each step: the mock Odeus' workspace groups
 * equal the directory's, and every seat is active with the effective role the directory gives it,
 * or inactive. At the end: each group was created in Odeus once, and no membership change reached
 * Odeus twice (a row sent by both replicas would). PostgreSQL only (test_gateway_replicas_groups_pg).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "groups_util.h"
#include "harness.h"
#include "mock/mock_odeus.h"

#define SETTLE_MS      20000
#define N_USERS        5
#define BURST_OPS      30 /* per replica */
#define MAX_SEEN_CALLS 4096

/* A group maps to a role by its displayName or its externalId (README, "Odeus roles from groups"). */
static const struct {
    const char *group, *role;
} role_map[] = {{"Odeus Admins", "admin"}, {"Editors", "editor"}, {"e7-entra-editors", "editor"}};
static const char *const args[] = {"--odeus-groups",
                                   "mirror",
                                   "--group-role-map",
                                   "Odeus Admins=admin,Editors=editor,e7-entra-editors=editor",
                                   "--rate-limit",
                                   "0",
                                   NULL};
static const char *const rank_names[] = {"member", "editor", "admin"};
static const char *const names[N_USERS] = {"ann", "bob", "cat", "dan", "eve"};

/* The replica the next request goes to: each in turn. */
static gw_proc_t *next(gw_fixture_t *f)
{
    static unsigned turn;
    return turn++ % 2 == 0 ? &f->gw : &f->gw2;
}

static int rank_of(const char *group_key)
{
    for (size_t i = 0; group_key != NULL && i < sizeof(role_map) / sizeof(role_map[0]); i++)
        if (strcasecmp(group_key, role_map[i].group) == 0)
            for (int r = 0; r < 3; r++)
                if (strcmp(role_map[i].role, rank_names[r]) == 0)
                    return r;
    return 0;
}

/*
 * Every user of the directory holds the seat it should at the mock: active ones with their
 * effective role (the highest of their mapped groups, else member: these users name no role),
 * inactive ones deactivated. 1 when so, else 0 with the first difference in `why`.
 */
static int roles_in_line(gw_fixture_t *f, char *why, size_t len)
{
    http_resp_t g, u;
    scim(next(f), "GET", "/scim/v2/Groups?count=100", NULL, &g);
    scim(next(f), "GET", "/scim/v2/Users?count=100", NULL, &u);
    assert_int_equal(g.status, 200);
    assert_int_equal(u.status, 200);
    int ok = 1;
    size_t i, k;
    json_t *user, *group, *member;
    json_array_foreach(json_object_get(u.json, "Resources"), i, user)
    {
        const char *id = json_string_value(json_object_get(user, "id"));
        const char *email = json_string_value(json_object_get(json_array_get(json_object_get(user, "emails"), 0), "value"));
        int active = json_is_true(json_object_get(user, "active")), want = 0;
        json_array_foreach(json_object_get(g.json, "Resources"), k, group)
        {
            size_t m;
            json_array_foreach(json_object_get(group, "members"), m, member)
            {
                if (strcmp(json_string_value(json_object_get(member, "value")), id) != 0)
                    continue;
                int r = rank_of(json_string_value(json_object_get(group, "displayName")));
                int by_ext = rank_of(json_string_value(json_object_get(group, "externalId")));
                want = r > want ? r : want;
                want = by_ext > want ? by_ext : want;
            }
        }
        char role[16] = "";
        mock_member_t seat = mock_odeus_member(f->mock, email, role, sizeof(role));
        if (active && (seat != MOCK_MEMBER_ACTIVE || strcmp(role, rank_names[want]) != 0)) {
            snprintf(why, len, "%s: the directory gives it %s, Odeus has %s", email, rank_names[want],
                     seat == MOCK_MEMBER_ACTIVE ? role : "no active seat");
            ok = 0;
            break;
        }
        if (!active && seat != MOCK_MEMBER_INACTIVE) {
            snprintf(why, len, "%s: inactive in the directory, not deactivated in Odeus", email);
            ok = 0;
            break;
        }
    }
    http_resp_clear(&g);
    http_resp_clear(&u);
    return ok;
}

/* The mock's groups equal the directory's, and its seats hold the directory's roles; else 0 with why. */
static int in_line(gw_fixture_t *f, char *why, size_t len)
{
    char mock[4096], dir[4096];
    gw_drain(&f->gw);
    gw_drain(&f->gw2);
    groups_of_mock(f->mock, mock, sizeof(mock));
    groups_of_directory(next(f), dir, sizeof(dir));
    if (strcmp(mock, dir) != 0) {
        snprintf(why, len, "Odeus has the groups %s\nthe directory %s", mock, dir);
        return 0;
    }
    return roles_in_line(f, why, len);
}

/* Waits until Odeus is in line with the directory after step `after`. */
static void settle(gw_fixture_t *f, const char *after)
{
    char why[9000];
    for (long long deadline = harness_now_ms() + SETTLE_MS; !in_line(f, why, sizeof(why));)
        if (!wait_tick(deadline, 100))
            fail_msg("after %s, Odeus is not in line with the directory within %d ms: %s", after, SETTLE_MS, why);
}

/*
 * Each group was created in Odeus once (the test never creates one name twice), and each
 * membership change reached it once: for every Odeus group and address, adds and removals
 * alternate. Every call here is answered 200, so nothing is sent again for a lost answer.
 */
static void assert_each_call_once(gw_fixture_t *f)
{
    /* per Odeus group and address, the last membership call ('A' add, 'R' remove); 'C' a group's name at its creation */
    static struct {
        char sign;
        char key[400];
    } seen[MAX_SEEN_CALLS];
    size_t n_seen = 0, n = mock_odeus_count(f->mock, NULL);
    for (size_t i = 0; i < n; i++) {
        mock_request_t r;
        assert_int_equal(mock_odeus_get(f->mock, i, &r), 0);
        assert_int_equal(r.fault, MOCK_OK);
        const char *members = strstr(r.path, "/members");
        int create = strcmp(r.path, "/user-management/v1/groups") == 0 && strcmp(r.method, "POST") == 0;
        if (!create && (members == NULL || strcmp(r.method, "GET") == 0))
            continue;
        json_t *body = json_loads(r.body, 0, NULL), *e;
        assert_non_null(body);
        if (create) {
            const char *name = json_string_value(json_object_get(body, "name"));
            for (size_t k = 0; k < n_seen; k++)
                if (seen[k].sign == 'C' && strcasecmp(seen[k].key, name) == 0)
                    fail_msg("the Odeus group %s was created twice", name);
            assert_true(n_seen < MAX_SEEN_CALLS);
            seen[n_seen].sign = 'C';
            snprintf(seen[n_seen++].key, sizeof(seen[0].key), "%s", name);
        }
        size_t j;
        json_array_foreach(json_object_get(body, "emails"), j, e)
        {
            char key[sizeof(seen[0].key)];
            snprintf(key, sizeof(key), "%.*s %s", (int)(members - r.path), r.path, json_string_value(e));
            char sign = strcmp(r.method, "POST") == 0 ? 'A' : 'R';
            size_t k = 0;
            while (k < n_seen && (seen[k].sign == 'C' || strcmp(seen[k].key, key) != 0))
                k++;
            if (k < n_seen && seen[k].sign == sign)
                fail_msg("call %zu: %s %s sent again without a change in between: %s", i, r.method, r.path, r.body);
            if (k == n_seen && sign == 'R')
                fail_msg("call %zu: %s removed before it was ever added: %s", i, json_string_value(e), r.path);
            if (k == n_seen) {
                assert_true(n_seen < MAX_SEEN_CALLS);
                snprintf(seen[n_seen++].key, sizeof(seen[0].key), "%s", key);
            }
            seen[k].sign = sign;
        }
        json_decref(body);
    }
}

/* ---- the burst: one thread per replica ----------------------------------------------------- */

typedef struct burst {
    int port;
    unsigned seed;
    char *const *users;   /* ids, N_USERS */
    const char *group[2]; /* ids */
    atomic_int done;
    int failures;
    char last_failure[512];
} burst_t;

static void *burst_main(void *arg)
{
    burst_t *b = arg;
    for (int op = 0; op < BURST_OPS; op++) {
        char path[128], body[512];
        /*
         * Okta's membership PATCHes: an add, or a remove by filter. No deactivations here: a member
         * deactivated while its add is on the wire comes back in notFound and is sent again later,
         * which assert_each_call_once could not tell from a row sent twice.
         */
        const char *user = b->users[rand_r(&b->seed) % N_USERS];
        int add = rand_r(&b->seed) % 5 < 3;
        snprintf(path, sizeof(path), "/scim/v2/Groups/%s", b->group[rand_r(&b->seed) % 2]);
        if (add)
            snprintf(body, sizeof(body),
                     "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\","
                     "\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]}",
                     user);
        else
            snprintf(body, sizeof(body),
                     "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\","
                     "\"path\":\"members[value eq \\\"%s\\\"]\"}]}",
                     user);
        char *resp = NULL;
        long status = harness_call(NULL, b->port, "PATCH", path, body, &resp);
        if (status != 200 && status != 204) {
            b->failures++;
            snprintf(b->last_failure, sizeof(b->last_failure), "PATCH %s: %ld %s", path, status, resp != NULL ? resp : "");
        }
        free(resp);
    }
    atomic_store(&b->done, 1);
    return NULL;
}

/* ---- the test ------------------------------------------------------------------------------- */

static int setup(void **state)
{
    return gw_fixture_setup_replicas(state, args);
}

static void test_group_flows_across_replicas(void **state)
{
    gw_fixture_t *f = *state;
    char *users[N_USERS], body[2048], ops[2048], path[128];
    for (int i = 0; i < N_USERS; i++)
        users[i] = groups_user(next(f), names[i]);
    enum { ANN, BOB, CAT, DAN, EVE };
    settle(f, "the users' creation");

    /* ---- Okta Group Push ---- */
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Odeus Admins\","
             "\"members\":[{\"value\":\"%s\",\"display\":\"ann@example.com\"},{\"value\":\"%s\"}]}",
             users[ANN], users[BOB]);
    char *admins = groups_group(next(f), body);
    char admins_path[128];
    snprintf(admins_path, sizeof(admins_path), "/scim/v2/Groups/%s", admins);
    settle(f, "Okta's POST of a group with members");

    /* the unchanged name with the update, a remove and an add in one PATCH */
    snprintf(ops, sizeof(ops),
             "[{\"op\":\"replace\",\"value\":{\"id\":\"%s\",\"displayName\":\"Odeus Admins\"}},"
             "{\"op\":\"remove\",\"path\":\"members[value eq \\\"%s\\\"]\"},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\",\"display\":\"cat@example.com\"}]}]",
             admins, users[BOB], users[CAT]);
    groups_patch(next(f), admins_path, ops);
    settle(f, "Okta's membership PATCH");

    /* a version read on one replica holds on the other, and is stale on both once used */
    gw_proc_t *reader = next(f), *writer = next(f);
    http_resp_t r;
    scim(reader, "GET", admins_path, NULL, &r);
    assert_int_equal(r.status, 200);
    char etag[64], if_match[96];
    snprintf(etag, sizeof(etag), "%s", r.etag);
    assert_true(etag[0] != '\0');
    http_resp_clear(&r);
    snprintf(if_match, sizeof(if_match), "If-Match: %s", etag);
    const char *const cond[] = {if_match, NULL};
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\",\"path\":"
             "\"members\",\"value\":[{\"value\":\"%s\"}]}]}",
             users[DAN]);
    http_call(writer, "PATCH", admins_path, body, TEST_SCIM_TOKEN, cond, &r);
    if (r.status != 204 && r.status != 200)
        fail_msg("PATCH with the If-Match of the other replica: %ld %s", r.status, r.body);
    http_resp_clear(&r);
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"add\",\"path\":"
             "\"members\",\"value\":[{\"value\":\"%s\"}]}]}",
             users[EVE]);
    http_call(reader, "PATCH", admins_path, body, TEST_SCIM_TOKEN, cond, &r);
    assert_scim_error(&r, 412, NULL);
    http_resp_clear(&r);
    scim(next(f), "GET", admins_path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_not_equal(r.etag, etag);
    assert_int_equal(json_array_size(json_object_get(r.json, "members")), 3); /* ann, cat, dan; not eve */
    http_resp_clear(&r);
    settle(f, "a PATCH under If-Match");

    /* renamed out of the role map (its members lose admin) and back */
    snprintf(ops, sizeof(ops), "[{\"op\":\"replace\",\"value\":{\"id\":\"%s\",\"displayName\":\"Platform Admins\"}}]", admins);
    groups_patch(next(f), admins_path, ops);
    settle(f, "a rename out of the role map");
    snprintf(ops, sizeof(ops), "[{\"op\":\"replace\",\"value\":{\"id\":\"%s\",\"displayName\":\"Odeus Admins\"}}]", admins);
    groups_patch(next(f), admins_path, ops);
    settle(f, "a rename into the role map");

    /* "Push now": the members replaced by a list, then a PUT */
    snprintf(ops, sizeof(ops), "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]", users[BOB]);
    groups_patch(next(f), admins_path, ops);
    settle(f, "Okta's replace of the members");
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Odeus Admins\","
             "\"members\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}",
             users[BOB], users[EVE]);
    scim(next(f), "PUT", admins_path, body, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    settle(f, "a PUT of the group");

    /* ---- Entra ---- */
    char *editors = groups_group(next(f), "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                                          "\"displayName\":\"Editors Team\",\"externalId\":\"e7-entra-editors\"}");
    char editors_path[128];
    snprintf(editors_path, sizeof(editors_path), "/scim/v2/Groups/%s", editors);
    snprintf(ops, sizeof(ops),
             "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"$ref\":null,\"value\":\"%s\"},{\"$ref\":null,\"value\":\"%s\"},"
             "{\"$ref\":null,\"value\":\"%s\"}]}]",
             users[ANN], users[CAT], users[BOB]);
    groups_patch(next(f), editors_path, ops);
    settle(f, "Entra's Add of members (mapped by externalId; bob keeps admin, the higher)");
    groups_patch(next(f), editors_path, "[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Editors EMEA\"}]");
    settle(f, "Entra's Replace of displayName");
    snprintf(ops, sizeof(ops), "[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]", users[CAT]);
    groups_patch(next(f), editors_path, ops);
    settle(f, "Entra's Remove of a member");

    /* a member deactivated leaves the Odeus group; reactivated, it is back with its group's role */
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", users[ANN]);
    groups_patch(next(f), path, "[{\"op\":\"replace\",\"value\":{\"active\":false}}]");
    settle(f, "a member's deactivation");
    groups_patch(next(f), path, "[{\"op\":\"replace\",\"value\":{\"active\":true}}]");
    settle(f, "a member's reactivation");

    /* ---- both replicas at once ---- */
    burst_t b[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        atomic_init(&b[i].done, 0);
        b[i].port = (i == 0 ? &f->gw : &f->gw2)->port;
        b[i].seed = 97u + (unsigned)i;
        b[i].users = users;
        b[i].group[0] = admins;
        b[i].group[1] = editors;
        assert_int_equal(pthread_create(&t[i], NULL, burst_main, &b[i]), 0);
    }
    /* the test's thread keeps the replicas' log pipes drained meanwhile */
    WAIT_FOR_EVERY(gw_drain(&f->gw) && gw_drain(&f->gw2) && atomic_load(&b[0].done) && atomic_load(&b[1].done), 120000, 20);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (b[i].failures > 0)
            fail_msg("%d change(s) of the burst on replica %d failed, the last: %s", b[i].failures, i + 1, b[i].last_failure);
    }
    settle(f, "a burst of changes on both replicas");

    /* ---- the end of a group ---- */
    scim(next(f), "DELETE", admins_path, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    settle(f, "the deletion of a group");

    assert_each_call_once(f);
    char groups[4096];
    print_message("replicas and groups: Odeus received %zu calls; its groups at the end: %s\n", mock_odeus_count(f->mock, NULL),
                  groups_of_mock(f->mock, groups, sizeof(groups)));

    for (int i = 0; i < N_USERS; i++)
        free(users[i]);
    free(admins);
    free(editors);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_flows_across_replicas, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
