/*
 * --odeus-groups mirror end to end: Okta Group Push and Entra group provisioning against the real
 * binary leave the mock Odeus' workspace groups equal to the directory's (names and member emails),
 * invitees included once they join; `groups check` finds hand-made drift and --apply fixes it;
 * conflicts and a workspace without the group API.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "groups_util.h"
#include "harness.h"
#include "mock/mock_odeus.h"

static const char *const mirror_args[] = {"--odeus-groups", "mirror", "--pending-invitee-recheck-interval", "1", NULL};

/* The mock's groups are `want`, and so are the directory's (the groups this test mirrors: all of them). */
static int groups_are(gw_fixture_t *f, const char *want)
{
    char buf[2048];
    gw_drain(&f->gw);
    return strcmp(groups_of_mock(f->mock, buf, sizeof(buf)), want) == 0;
}

/* The mock's workspace groups equal the directory's: names, and the emails of members holding a seat. */
static void assert_mirrored(gw_fixture_t *f)
{
    char mock[2048], dir[2048];
    groups_of_mock(f->mock, mock, sizeof(mock));
    groups_of_directory(&f->gw, dir, sizeof(dir));
    if (strcmp(mock, dir) != 0)
        fail_msg("Odeus has %s\nthe directory %s", mock, dir);
}

static char *user(gw_fixture_t *f, const char *name)
{
    return groups_user(&f->gw, name);
}

static char *group(gw_fixture_t *f, const char *body)
{
    return groups_group(&f->gw, body);
}

static void patch(gw_fixture_t *f, const char *path, const char *ops)
{
    groups_patch(&f->gw, path, ops);
}

/* Runs the binary as `groups check` against the fixture's data and mock; stdout into out. The exit code. */
static int groups_check(gw_fixture_t *f, const char *flags, char *out, size_t out_len)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "SCIM_TOKEN=%s ODEUS_API_KEY=%s %s groups check %s --data-dir %s"
             " --odeus-base-url %s --odeus-groups mirror 2>/dev/null",
             TEST_SCIM_TOKEN, TEST_ODEUS_KEY, getenv("GATEWAY_BIN"), flags, f->dir, mock_odeus_url(f->mock));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, out_len - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
    return gw_fixture_setup(state, mirror_args);
}

static void test_okta_and_entra_groups_are_mirrored(void **state)
{
    gw_fixture_t *f = *state;
    char *alice = user(f, "alice"), *bob = user(f, "bob"), *carol = user(f, "carol");
    char body[1024], path[128];

    /* Okta Group Push: a group with its members */
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Engineering\","
             "\"members\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}",
             alice, bob);
    char *eng = group(f, body);
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com,bob@example.com"), 10000);

    /* Okta's membership PATCH: the unchanged name with every update, a remove and an add */
    snprintf(path, sizeof(path), "/scim/v2/Groups/%s", eng);
    snprintf(body, sizeof(body),
             "[{\"op\":\"replace\",\"value\":{\"id\":\"%s\",\"displayName\":\"Engineering\"}},"
             "{\"op\":\"remove\",\"path\":\"members[value eq \\\"%s\\\"]\"},"
             "{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\",\"display\":\"carol@example.com\"}]}]",
             eng, bob, carol);
    patch(f, path, body);
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com,carol@example.com"), 10000);

    /* Entra: created without members, then members added, then renamed */
    char *sales = group(f, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Sales\","
                           "\"externalId\":\"0b1c\"}");
    char spath[128];
    snprintf(spath, sizeof(spath), "/scim/v2/Groups/%s", sales);
    snprintf(body, sizeof(body), "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"$ref\":null,\"value\":\"%s\"}]}]", bob);
    patch(f, spath, body);
    patch(f, spath, "[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Sales EMEA\"}]");
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com,carol@example.com;Sales EMEA:bob@example.com"), 10000);
    assert_mirrored(f);

    /* added and removed again before delivery is no call, whatever the order of the rows */
    size_t calls = mock_odeus_count(f->mock, NULL);
    snprintf(body, sizeof(body),
             "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]},"
             "{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]",
             alice, alice);
    patch(f, spath, body);
    EXPECT_STAYS(groups_are(f, "Engineering:alice@example.com,carol@example.com;Sales EMEA:bob@example.com"), 1500);
    for (size_t i = calls; i < mock_odeus_count(f->mock, NULL); i++) {
        mock_request_t r;
        assert_int_equal(mock_odeus_get(f->mock, i, &r), 0);
        if (strstr(r.path, "/members") != NULL && strcmp(r.method, "GET") != 0)
            fail_msg("a membership call for a change that cancelled out: %s %s %s", r.method, r.path, r.body);
    }

    /* an inactive member leaves the Odeus group, and is back on reactivation */
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", carol);
    patch(f, path, "[{\"op\":\"replace\",\"value\":{\"active\":false}}]");
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com;Sales EMEA:bob@example.com"), 10000);
    assert_mirrored(f);
    patch(f, path, "[{\"op\":\"replace\",\"value\":{\"active\":true}}]");
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com,carol@example.com;Sales EMEA:bob@example.com"), 10000);

    /* an invitee who has not joined: not found by Odeus, kept, and in the group once they join */
    mock_odeus_set_invites_pending(f->mock, 1);
    char *dave = user(f, "dave");
    snprintf(body, sizeof(body), "[{\"op\":\"Add\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]", dave);
    patch(f, spath, body);
    WAIT_FOR(mock_odeus_member(f->mock, "dave@example.com", NULL, 0) == MOCK_MEMBER_INVITED, 10000);
    EXPECT_STAYS(groups_are(f, "Engineering:alice@example.com,carol@example.com;Sales EMEA:bob@example.com"), 1500);
    assert_int_equal(mock_odeus_accept(f->mock, "dave@example.com"), 0);
    WAIT_FOR(groups_are(f, "Engineering:alice@example.com,carol@example.com;Sales EMEA:bob@example.com,dave@example.com"), 15000);
    assert_mirrored(f);

    /* Okta's "Push now" replace, then the group's deletion */
    snprintf(body, sizeof(body), "[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":\"%s\"}]}]", bob);
    snprintf(path, sizeof(path), "/scim/v2/Groups/%s", eng);
    patch(f, path, body);
    WAIT_FOR(groups_are(f, "Engineering:bob@example.com;Sales EMEA:bob@example.com,dave@example.com"), 10000);
    http_resp_t r;
    scim(&f->gw, "DELETE", spath, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    WAIT_FOR(groups_are(f, "Engineering:bob@example.com"), 10000);
    assert_mirrored(f);

    /* drift made by hand: found, then fixed */
    char out[8192];
    assert_int_equal(groups_check(f, "--json", out, sizeof(out)), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *odeus_id = json_string_value(json_object_get(json_array_get(json_object_get(j, "groups"), 0), "odeus_group_id"));
    assert_non_null(odeus_id);
    mock_odeus_set_group_page_max(f->mock, 1); /* the check pages */
    assert_int_equal(mock_odeus_group_member(f->mock, odeus_id, "bob@example.com", 0), 0);
    assert_int_equal(mock_odeus_group_member(f->mock, odeus_id, "eve@example.com", 1), 0);
    assert_int_equal(mock_odeus_group_member(f->mock, odeus_id, "zed@example.com", 1), 0);
    json_decref(j);
    assert_int_equal(groups_check(f, "--json", out, sizeof(out)), 3);
    j = json_loads(out, 0, NULL);
    json_t *g = json_array_get(json_object_get(j, "groups"), 0);
    assert_string_equal(json_string_value(json_object_get(g, "status")), "drift");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(g, "missing"), 0), "email")),
                        "bob@example.com");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(g, "missing"), 0), "reason")),
                        "removed_by_hand");
    assert_int_equal(json_array_size(json_object_get(g, "extra")), 2);
    json_decref(j);
    /* --apply alone puts back what is missing and leaves what someone added */
    assert_int_equal(groups_check(f, "--apply", out, sizeof(out)), 0);
    WAIT_FOR(groups_are(f, "Engineering:bob@example.com,eve@example.com,zed@example.com"), 10000);
    assert_int_equal(groups_check(f, "--apply --remove-extra", out, sizeof(out)), 0);
    WAIT_FOR(groups_are(f, "Engineering:bob@example.com"), 10000);
    assert_int_equal(groups_check(f, "", out, sizeof(out)), 0);

    free(alice);
    free(bob);
    free(carol);
    free(dave);
    free(eng);
    free(sales);
}

static void test_conflicts_and_no_group_api(void **state)
{
    gw_fixture_t *f = *state;
    mock_odeus_group_create(f->mock, "Finance", 0, NULL, 0);
    mock_odeus_group_create(f->mock, "HR", 1, NULL, 0);
    char *fin = group(f, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"finance\"}");
    /* the name is taken: not adopted, the row ends in conflict and says why */
    char out[8192];
    int found = 0;
    for (long long deadline = harness_now_ms() + 10000; !found && wait_tick(deadline, 100);) {
        harness_cli(out, sizeof(out), 0, "outbox list --state failed --json --data-dir %s", f->dir);
        found = strstr(out, "GROUP_NAME_TAKEN") != NULL && strstr(out, "\"conflict\"") != NULL;
        gw_drain(&f->gw);
    }
    assert_true(found);
    assert_true(groups_are(f, "Finance:;HR:"));
    /* the group still works in the directory */
    http_resp_t r;
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Groups/%s", fin);
    scim(&f->gw, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    http_call(&f->gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_non_null(strstr(r.body, "gateway_odeus_group_conflicts_total 1"));
    http_resp_clear(&r);
    /* renamed in the IdP, a group whose creation was refused is created under its new name */
    patch(f, path, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Finance Team\"}]");
    WAIT_FOR(groups_are(f, "Finance:;Finance Team:;HR:"), 10000);

    /* a create whose answer is lost (Odeus made the group, the gateway never heard): sent again, it
       meets 409 GROUP_NAME_TAKEN, and the group is recognised as the gateway's own, not a conflict */
    char *kim = user(f, "kim");
    WAIT_FOR(mock_odeus_member(f->mock, "kim@example.com", NULL, 0) == MOCK_MEMBER_ACTIVE, 10000);
    mock_odeus_push_fault(f->mock, MOCK_DONE_HANG);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Lost\","
             "\"members\":[{\"value\":\"%s\"}]}",
             kim);
    char *lost = group(f, body);
    for (long long deadline = harness_now_ms() + 20000; !groups_are(f, "Finance:;Finance Team:;HR:;Lost:kim@example.com");)
        if (!wait_tick(deadline, 50)) {
            char buf[1024], cmd2[512];
            snprintf(cmd2, sizeof(cmd2), "%s outbox list --state all --data-dir %s >&2", getenv("GATEWAY_BIN"), f->dir);
            if (system(cmd2) != 0)
                fprintf(stderr, "outbox list failed\n");
            fail_msg("groups: %s", groups_of_mock(f->mock, buf, sizeof(buf)));
        }
    /* a group deleted and one of the same name created at once: the new one waits for the old one's
       deletion instead of ending in a conflict, whichever call goes first */
    char lpath[128];
    snprintf(lpath, sizeof(lpath), "/scim/v2/Groups/%s", lost);
    mock_odeus_push_fault(f->mock, MOCK_503); /* the first of the two calls to arrive is retried later */
    scim(&f->gw, "DELETE", lpath, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"LOST\","
             "\"members\":[{\"value\":\"%s\"}]}",
             kim);
    char *again = group(f, body);
    WAIT_FOR(groups_are(f, "Finance:;Finance Team:;HR:;LOST:kim@example.com"), 20000);
    http_call(&f->gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_non_null(strstr(r.body, "gateway_odeus_group_conflicts_total 1\n"));
    http_resp_clear(&r);
    free(again);
    free(kim);
    free(lost);

    /* a workspace without the group API: one loud stop, users go on */
    mock_odeus_set_groups_api(f->mock, 0);
    char *other = group(f, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Ops\"}");
    for (long long deadline = harness_now_ms() + 10000; wait_tick(deadline, 50);) {
        http_call(&f->gw, "GET", "/readyz", NULL, NULL, NULL, &r);
        int stopped = r.status == 200 && strstr(r.body, "unsupported") != NULL;
        http_resp_clear(&r);
        gw_drain(&f->gw);
        if (stopped)
            break;
    }
    http_call(&f->gw, "GET", "/readyz", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "unsupported"));
    http_resp_clear(&r);
    http_call(&f->gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_non_null(strstr(r.body, "gateway_odeus_groups_unsupported 1"));
    http_resp_clear(&r);
    char *erin = user(f, "erin");
    WAIT_FOR(mock_odeus_member(f->mock, "erin@example.com", NULL, 0) == MOCK_MEMBER_ACTIVE, 10000);
    gw_read_log(&f->gw);
    assert_non_null(strstr(f->gw.log, "odeus_groups_unsupported"));
    free(erin);
    free(other);
    free(fin);
}

/* The value of the /metrics line starting with `series` (name, labels and a space), or -1. */
static double metric(gw_fixture_t *f, const char *series)
{
    http_resp_t r;
    char line[256];
    snprintf(line, sizeof(line), "\n%s", series);
    http_call(&f->gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    gw_drain(&f->gw);
    double v = -1;
    const char *at = r.body != NULL ? strstr(r.body, line) : NULL;
    if (at != NULL)
        v = strtod(at + strlen(line), NULL);
    http_resp_clear(&r);
    return v;
}

static const char *const adopt_args[] = {"--odeus-groups",
                                         "mirror",
                                         "--odeus-groups-adopt",
                                         "--odeus-groups-only",
                                         "Design,0a9f",
                                         "--odeus-groups-check-interval",
                                         "1",
                                         NULL};

static int setup_adopt(void **state)
{
    return gw_fixture_setup(state, adopt_args);
}

/* --odeus-groups-adopt links to a group made by hand (its members stay); SCIM-managed groups are
 * left alone; --odeus-groups-only by name or externalId; the check in the server exports gauges. */
static void test_adopt_only_and_server_check(void **state)
{
    gw_fixture_t *f = *state;
    char design[64];
    mock_odeus_group_create(f->mock, "DESIGN", 0, design, sizeof(design));
    mock_odeus_group_member(f->mock, design, "hand@example.com", 1);
    mock_odeus_group_create(f->mock, "Legal", 1, NULL, 0);
    char *ann = user(f, "ann");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Design\","
             "\"members\":[{\"value\":\"%s\"}]}",
             ann);
    char *d = group(f, body);
    /* not in --odeus-groups-only: no Odeus group */
    char *misc = group(f, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Misc\"}");
    /* in it by externalId; its name is taken by a group Odeus' SCIM manages */
    char *legal = group(f, "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"legal\","
                           "\"externalId\":\"0a9f\"}");
    WAIT_FOR(groups_are(f, "DESIGN:ann@example.com,hand@example.com;Legal:"), 10000);
    WAIT_FOR(metric(f, "gateway_odeus_group_conflicts_total ") == 1, 10000);
    /* the check in the server sees the hand-made member as extra */
    WAIT_FOR_EVERY(metric(f, "gateway_odeus_groups_drift_members{kind=\"extra\"} ") == 1, 10000, 100);
    assert_true(metric(f, "gateway_odeus_groups_checked{status=\"conflict\"} ") == 1);
    assert_true(metric(f, "gateway_odeus_groups_checked{status=\"all\"} ") == 2);
    assert_true(metric(f, "gateway_outbox_group_pending ") == 0);
    /* the command's usage errors */
    char out[256];
    assert_int_equal(groups_check(f, "--remove-extra", out, sizeof(out)), 2);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s groups frobnicate >/dev/null 2>&1", getenv("GATEWAY_BIN"));
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    free(ann);
    free(d);
    free(misc);
    free(legal);
}

/* --dry-run shows every group call in full, as for the users' calls. */
static void test_dry_run_shows_group_calls(void **state)
{
    (void)state;
    gw_fixture_t f = {0};
    harness_tmpdir(f.dir, sizeof(f.dir));
    gw_start(&f.gw, f.dir, NULL, mirror_args);
    char *amy = user(&f, "amy");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Dry Group\","
             "\"members\":[{\"value\":\"%s\"}]}",
             amy);
    char *g = group(&f, body);
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Groups/%s", g);
    /* each step waits for its call: a later delete would make the earlier ones moot (superseded) */
    WAIT_FOR((gw_read_log(&f.gw), strstr(f.gw.log, "\"call\":\"group_add\"") != NULL), 10000);
    patch(&f, path, "[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"Wet Group\"}]");
    WAIT_FOR((gw_read_log(&f.gw), strstr(f.gw.log, "\"call\":\"group_rename\"") != NULL), 10000);
    http_resp_t r;
    scim(&f.gw, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    WAIT_FOR((gw_read_log(&f.gw), strstr(f.gw.log, "\"call\":\"group_delete\"") != NULL), 10000);
    const char *want[] = {"\"call\":\"group_create\"",
                          "\"body\":\"{\\\"name\\\":\\\"Dry Group\\\",\\\"description\\\":\\\"Mirrored from SCIM group ",
                          "\"call\":\"group_add\"",
                          "{\\\"emails\\\":[\\\"amy@example.com\\\"]}",
                          "\"method\":\"PATCH\"",
                          "\"body\":\"{\\\"name\\\":\\\"Wet Group\\\"}\"",
                          "/user-management/v1/groups/dry-run-"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(f.gw.log, want[i]) == NULL)
            fail_msg("dry-run log lacks %s:\n%s", want[i], f.gw.log);
    assert_int_equal(gw_stop(&f.gw), 0);
    free(f.gw.log);
    harness_rmdir(f.dir);
    free(amy);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_okta_and_entra_groups_are_mirrored, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_no_group_api, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_adopt_only_and_server_check, setup_adopt, gw_fixture_teardown),
        cmocka_unit_test(test_dry_run_shows_group_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
