/*
 * One Odeus seat per email (README, "One seat per email"): Odeus knows a person by email only, so
 * two SCIM users with one email (a re-hire's old and new IdP account) hold one seat. The lifecycle
 * of one must never cut off the other: re-sends of a deleted invitee, a holder leaving while
 * another stays, and the order of calls across the two accounts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

typedef gw_fixture_t fixture_t;

static const char *const recheck_fast[] = {"--pending-invitee-recheck-interval", "1", "--pending-invitee-recheck-for", "60", NULL};
static const char *const short_deadline[] = {"--upstream-deadline-ms", "300", NULL};

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

static int setup_recheck(void **state)
{
    return gw_fixture_setup(state, recheck_fast);
}

static int setup_short(void **state)
{
    return gw_fixture_setup(state, short_deadline);
}

/* A new active user `user_name` whose primary email (the Odeus email) is `email`, with `role` (NULL: none). */
static char *create_holder(fixture_t *f, const char *user_name, const char *email, const char *role)
{
    char body[512], roles[96] = "";
    if (role != NULL)
        snprintf(roles, sizeof(roles), ",\"roles\":[{\"value\":\"%s\",\"primary\":true}]", role);
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"active\":true,\"emails\":[{\"value\":\"%s\",\"primary\":true}]%s}",
             user_name, email, roles);
    return create_user(&f->gw, body);
}

static long delete_user(fixture_t *f, const char *id)
{
    char path[128];
    http_resp_t r;
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&f->gw, "DELETE", path, NULL, &r);
    long status = r.status;
    http_resp_clear(&r);
    return status;
}

static long patch_user(fixture_t *f, const char *id, const char *body)
{
    char path[128];
    http_resp_t r;
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&f->gw, "PATCH", path, body, &r);
    long status = r.status;
    http_resp_clear(&r);
    return status;
}

static int member_is(fixture_t *f, const char *email, mock_member_t state, const char *role)
{
    char got[16] = "";
    if (mock_odeus_member(f->mock, email, got, sizeof(got)) != state)
        return 0;
    return role == NULL || strcmp(got, role) == 0;
}

/* The value of the metric line starting with `series` (e.g. `name{label="x"}`), or -1. */
static long long metric(fixture_t *f, const char *series)
{
    http_resp_t r;
    gw_drain(&f->gw);
    http_call(&f->gw, "GET", "/metrics", NULL, TEST_SCIM_TOKEN, NULL, &r);
    long long v = -1;
    size_t len = strlen(series);
    for (const char *line = r.body; line != NULL && *line != '\0';) {
        if (strncmp(line, series, len) == 0 && line[len] == ' ')
            v = atoll(line + len + 1);
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    http_resp_clear(&r);
    return v;
}

/*
 * A pending invitee is deleted (deactivate-user: 404, so it is re-sent on a schedule); a new SCIM
 * user gets the same email; the person then accepts the invitation. The deleted user's re-sends
 * must not deactivate the new owner of the seat.
 */
static void test_resends_of_deleted_invitee_spare_the_next_owner(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    mock_odeus_set_invites_pending(f->mock, 1);
    char *old = create_holder(f, "pat.old", "pat@example.com", NULL);
    WAIT_FOR(member_is(f, "pat@example.com", MOCK_MEMBER_INVITED, NULL), 5000);
    assert_int_equal(delete_user(f, old), 204);
    WAIT_FOR(gw_log_has(&f->gw, "\"event\":\"invitee_recheck_scheduled\""), 5000);

    size_t invites = mock_odeus_count(f->mock, "/invite");
    char *next = create_holder(f, "pat.new", "Pat@Example.com", NULL);
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", invites + 1, 5000), 0);
    assert_int_equal(mock_odeus_accept(f->mock, "pat@example.com"), 0);
    /* three re-send intervals (1 s each): the old user's re-sends are gone, the new owner keeps the seat */
    EXPECT_STAYS(member_is(f, "pat@example.com", MOCK_MEMBER_ACTIVE, NULL), 3500);
    assert_false(gw_log_has(&f->gw, "\"event\":\"late_invitee_removed\""));
    free(old);
    free(next);
}

/*
 * Two active users with one email share one seat: the second one's create makes no call; its role
 * counts only when it is the highest; deleting one keeps the seat (its role follows the one left);
 * the last one out deactivates. outbox list, the audit log and /metrics say why no call was made.
 */
static void test_two_holders_share_one_seat(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    char *first = create_holder(f, "ann.old", "ann@example.com", "admin");
    WAIT_FOR(member_is(f, "ann@example.com", MOCK_MEMBER_ACTIVE, "admin"), 5000);

    size_t calls = mock_odeus_count(f->mock, NULL);
    char *second = create_holder(f, "ann.new", "ANN@example.com", "member");
    static const char to_editor[] =
        "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":"
        "[{\"op\":\"replace\",\"path\":\"roles\",\"value\":[{\"value\":\"editor\",\"primary\":true}]}]}";
    assert_int_equal(patch_user(f, second, to_editor), 200);
    EXPECT_STAYS(mock_odeus_count(f->mock, NULL) == calls, 500);
    assert_true(member_is(f, "ann@example.com", MOCK_MEMBER_ACTIVE, "admin"));
    assert_int_equal(metric(f, "gateway_seat_shared_changes_total{planned=\"invite\"}"), 1);

    /* the admin leaves: the seat stays, with the highest role left (editor); the answer does not wait */
    assert_int_equal(delete_user(f, first), 204);
    WAIT_FOR(member_is(f, "ann@example.com", MOCK_MEMBER_ACTIVE, "editor"), 5000);
    EXPECT_STAYS(member_is(f, "ann@example.com", MOCK_MEMBER_ACTIVE, "editor"), 500);
    assert_int_equal(mock_odeus_count(f->mock, "/deactivate-user"), 0);
    assert_int_equal(metric(f, "gateway_seat_shared_changes_total{planned=\"deactivate\"}"), 1);

    /* the last one out deactivates */
    assert_int_equal(delete_user(f, second), 204);
    assert_true(member_is(f, "ann@example.com", MOCK_MEMBER_INACTIVE, NULL));

    /* the audit log says why the create made no call */
    char audit[512];
    harness_audit_path(f->dir, audit, sizeof(audit));
    FILE *a = fopen(audit, "r");
    assert_non_null(a);
    char line[2048];
    int said = 0;
    while (fgets(line, sizeof(line), a) != NULL)
        said += strstr(line, "\"user_created\"") != NULL && strstr(line, "\"seat\":\"seat_shared\"") != NULL &&
                strstr(line, "\"planned_call\":\"invite\"") != NULL && strstr(line, "\"seat_other_holders\":1") != NULL;
    fclose(a);
    assert_int_equal(said, 1);

    /* and so does outbox list */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s outbox list --state done %s 2>&1", getenv("GATEWAY_BIN"), harness_store_arg(f->dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    if (strstr(out, "seat") == NULL)
        fail_msg("outbox list does not say why no call was made:\n%s", out);
    free(first);
    free(second);
}

/*
 * The old account is deleted while Odeus answers 503 (its deactivation waits for a retry), and the
 * new account with the same email is created meanwhile: the new invite must wait for the old
 * deactivation, or the new person ends up inactive.
 */
static void test_calls_are_ordered_per_seat(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    char *old = create_holder(f, "lee.old", "lee@example.com", NULL);
    WAIT_FOR(member_is(f, "lee@example.com", MOCK_MEMBER_ACTIVE, NULL), 5000);
    mock_odeus_push_fault(f->mock, MOCK_503); /* Retry-After: 1, past the 300 ms deadline */
    assert_int_equal(delete_user(f, old), 503);
    char *next = create_holder(f, "lee.new", "lee@example.com", NULL);
    WAIT_FOR(mock_odeus_count(f->mock, "/deactivate-user") >= 2 && mock_odeus_count(f->mock, "/invite") >= 2, 10000);
    EXPECT_STAYS(member_is(f, "lee@example.com", MOCK_MEMBER_ACTIVE, NULL), 1500);
    /* on the wire: the deactivation's retry before the new invite */
    mock_request_t req;
    size_t last_deactivate = 0, last_invite = 0;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++) {
        assert_int_equal(mock_odeus_get(f->mock, i, &req), 0);
        if (strstr(req.path, "/deactivate-user") != NULL)
            last_deactivate = i;
        else if (strstr(req.path, "/invite") != NULL)
            last_invite = i;
    }
    assert_true(last_deactivate < last_invite);
    free(old);
    free(next);
}

/*
 * A role given to an invitee who has not joined yet: Odeus answers update-user-role with 404, so
 * the role is kept and re-sent on the pending-invitee schedule; when the invitee joins, the next
 * re-send gives them the role (it used to end as not_member, the invite's role for good).
 */
static void test_invitee_role_is_resent_until_it_lands(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    mock_odeus_set_invites_pending(f->mock, 1);
    char *id = create_holder(f, "ivy", "ivy@example.com", NULL);
    WAIT_FOR(member_is(f, "ivy@example.com", MOCK_MEMBER_INVITED, NULL), 5000);
    static const char to_admin[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":"
                                   "[{\"op\":\"replace\",\"path\":\"roles\",\"value\":[{\"value\":\"admin\"}]}]}";
    assert_int_equal(patch_user(f, id, to_admin), 200);
    /* re-sent while the invitation is pending: 404 each time */
    assert_int_equal(mock_odeus_wait(f->mock, "/update-user-role", 3, 20000), 0);
    assert_true(member_is(f, "ivy@example.com", MOCK_MEMBER_INVITED, NULL));
    assert_int_equal(mock_odeus_accept(f->mock, "ivy@example.com"), 0);
    WAIT_FOR(member_is(f, "ivy@example.com", MOCK_MEMBER_ACTIVE, "admin"), 20000);
    WAIT_FOR(gw_log_has(&f->gw, "\"event\":\"late_invitee_role_applied\""), 10000);
    size_t n = mock_odeus_count(f->mock, "/update-user-role");
    EXPECT_STAYS(mock_odeus_count(f->mock, "/update-user-role") == n, 2500);
    free(id);
}

static const char *const access_args[] = {"--access-groups", "Odeus Users", "--deactivation-guard", "1", NULL};

static int setup_access(void **state)
{
    return gw_fixture_setup(state, access_args);
}

static char *create_group(fixture_t *f, const char *name, char *const *members, size_t n)
{
    char body[2048];
    size_t len = (size_t)snprintf(body, sizeof(body),
                                  "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
                                  "\"displayName\":\"%s\",\"members\":[",
                                  name);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s{\"value\":\"%s\"}", i > 0 ? "," : "", members[i]);
    snprintf(body + len, sizeof(body) - len, "]}");
    http_resp_t r;
    scim(&f->gw, "POST", "/scim/v2/Groups", body, &r);
    assert_int_equal(r.status, 201);
    char *id = strdup(json_str(&r, "id"));
    http_resp_clear(&r);
    return id;
}

/*
 * --access-groups: a seat needs SCIM active and membership of an access group. Users created
 * outside one are not invited; joining invites, leaving deactivates. One request that would
 * deactivate more users than --deactivation-guard holds them for an operator, whose
 * `outbox release --all` lets them go out.
 */
static void test_access_groups_and_the_guard(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    char *u[3] = {create_holder(f, "ada", "ada@example.com", NULL), create_holder(f, "ben", "ben@example.com", NULL),
                  create_holder(f, "cy", "cy@example.com", "editor")};
    EXPECT_STAYS(mock_odeus_count(f->mock, NULL) == 0, 300);

    char *g = create_group(f, "Odeus Users", u, 3);
    WAIT_FOR(member_is(f, "ada@example.com", MOCK_MEMBER_ACTIVE, "member") &&
                 member_is(f, "ben@example.com", MOCK_MEMBER_ACTIVE, NULL) &&
                 member_is(f, "cy@example.com", MOCK_MEMBER_ACTIVE, "editor"),
             10000);

    /* leaving the last access group deactivates: one deactivation is within the guard */
    char path[160], body[512];
    snprintf(path, sizeof(path), "/scim/v2/Groups/%s", g);
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"remove\","
             "\"path\":\"members[value eq \\\"%s\\\"]\"}]}",
             u[0]);
    http_resp_t r;
    scim(&f->gw, "PATCH", path, body, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    WAIT_FOR(member_is(f, "ada@example.com", MOCK_MEMBER_INACTIVE, NULL), 10000);

    /* deleting the group would deactivate two: more than the guard (1), so they are held */
    scim(&f->gw, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    EXPECT_STAYS(member_is(f, "ben@example.com", MOCK_MEMBER_ACTIVE, NULL) &&
                     member_is(f, "cy@example.com", MOCK_MEMBER_ACTIVE, NULL),
                 1000);
    assert_int_equal(metric(f, "gateway_outbox_held"), 2);
    assert_true(gw_log_has(&f->gw, "\"event\":\"deactivations_held\""));

    /* outbox list says which group caused them */
    char cmd[512], out[8192];
    snprintf(cmd, sizeof(cmd), "%s outbox list %s 2>&1", getenv("GATEWAY_BIN"), harness_store_arg(f->dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    char cause[64];
    snprintf(cause, sizeof(cause), "(group %s)", g);
    if (strstr(out, cause) == NULL || strstr(out, "held by the deactivation guard") == NULL)
        fail_msg("outbox list does not show the held rows and their cause %s:\n%s", cause, out);

    /* the operator releases them */
    snprintf(cmd, sizeof(cmd), "%s outbox release --all %s >/dev/null 2>&1", getenv("GATEWAY_BIN"), harness_store_arg(f->dir));
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    WAIT_FOR(member_is(f, "ben@example.com", MOCK_MEMBER_INACTIVE, NULL) &&
                 member_is(f, "cy@example.com", MOCK_MEMBER_INACTIVE, NULL),
             20000);
    assert_int_equal(metric(f, "gateway_outbox_held"), 0);
    for (int i = 0; i < 3; i++)
        free(u[i]);
    free(g);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resends_of_deleted_invitee_spare_the_next_owner, setup_recheck, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_two_holders_share_one_seat, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_calls_are_ordered_per_seat, setup_short, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invitee_role_is_resent_until_it_lands, setup_recheck, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_access_groups_and_the_guard, setup_access, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
