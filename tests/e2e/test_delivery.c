/*
 * Delivery to Odeus under faults: strict deactivation, lenient grants, refusals undone,
 * nothing lost across SIGKILL, dry-run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

typedef gw_fixture_t fixture_t;

static const char *const long_deadline[] = {"--upstream-deadline-ms", "4000", NULL};

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

static int setup_long(void **state)
{
    return gw_fixture_setup(state, long_deadline);
}

static const char deactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";

static char *create_active(fixture_t *f, const char *email)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"active\":true}", email);
    size_t invites = mock_odeus_count(f->mock, "/invite");
    char *id = create_user(&f->gw, body);
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", invites + 1, 5000), 0);
    return id;
}

/* Number of requests on `endpoint` the mock answered with `fault`. */
static size_t answered(fixture_t *f, const char *endpoint, mock_fault_t fault)
{
    size_t n = 0, total = mock_odeus_count(f->mock, NULL);
    mock_request_t req;
    for (size_t i = 0; i < total; i++)
        if (mock_odeus_get(f->mock, i, &req) == 0 && strstr(req.path, endpoint) != NULL && req.fault == (int)fault)
            n++;
    return n;
}

static size_t deactivations_answered(fixture_t *f, mock_fault_t fault)
{
    return answered(f, "/deactivate-user", fault);
}

static void wait_delivered(fixture_t *f, const char *endpoint, int timeout_ms)
{
    WAIT_FOR(answered(f, endpoint, MOCK_OK) >= 1, timeout_ms);
}

static void wait_deactivation_delivered(fixture_t *f, int timeout_ms)
{
    wait_delivered(f, "/deactivate-user", timeout_ms);
}

static void patch_user(fixture_t *f, const char *id, const char *body, http_resp_t *r)
{
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&f->gw, "PATCH", path, body, r);
}

/* One 503 (Retry-After: 1) inside the deadline: retried, and the IdP gets its 200. */
static void test_deactivate_503_once_is_retried(void **state)
{
    fixture_t *f = *state;
    char *id = create_active(f, "retry@example.com");
    mock_odeus_push_fault(f->mock, MOCK_503);
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    assert_int_equal(deactivations_answered(f, MOCK_503), 1);
    assert_int_equal(deactivations_answered(f, MOCK_OK), 1);
    free(id);
}

/* Odeus down past the deadline: SCIM 503 + Retry-After, queued, delivered once Odeus is back. */
static void test_deactivate_odeus_down(void **state)
{
    fixture_t *f = *state;
    char *id = create_active(f, "down@example.com");
    mock_odeus_set_default(f->mock, MOCK_500);
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_scim_error(&r, 503, NULL);
    assert_true(atoi(r.retry_after) >= 1);
    http_resp_clear(&r);
    assert_int_equal(deactivations_answered(f, MOCK_OK), 0);

    /* The IdP's retry while Odeus is still down: the truth is still 503. */
    patch_user(f, id, deactivate_patch, &r);
    assert_scim_error(&r, 503, NULL);
    http_resp_clear(&r);

    mock_odeus_set_default(f->mock, MOCK_OK);
    wait_deactivation_delivered(f, 15000);
    /* Now the IdP's retry finds it done. */
    patch_user(f, id, deactivate_patch, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    http_resp_clear(&r);
    free(id);
}

/* A hanging Odeus is a failure too: the request is answered at its deadline. */
static void test_deactivate_odeus_hangs(void **state)
{
    fixture_t *f = *state;
    char *id = create_active(f, "hang@example.com");
    mock_odeus_push_fault(f->mock, MOCK_HANG);
    mock_odeus_push_fault(f->mock, MOCK_DROP);
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_scim_error(&r, 503, NULL);
    http_resp_clear(&r);
    wait_deactivation_delivered(f, 15000);
    free(id);
}

/* The gateway killed while a deactivation is queued: delivered after restart, nothing lost. */
static void test_sigkill_keeps_queued_deactivation(void **state)
{
    fixture_t *f = *state;
    char *id = create_active(f, "crash@example.com");
    mock_odeus_set_default(f->mock, MOCK_503);
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_scim_error(&r, 503, NULL);
    http_resp_clear(&r);
    gw_kill(&f->gw);
    free(f->gw.log);

    mock_odeus_set_default(f->mock, MOCK_OK);
    size_t before = deactivations_answered(f, MOCK_OK);
    assert_int_equal(before, 0);
    gw_start(&f->gw, f->dir, mock_odeus_url(f->mock), NULL);
    wait_deactivation_delivered(f, 10000);
    json_t *body = NULL;
    mock_request_t req;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++)
        if (mock_odeus_get(f->mock, i, &req) == 0 && req.fault == MOCK_OK && strstr(req.path, "deactivate-user") != NULL)
            body = json_loads(req.body, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "email")), "crash@example.com");
    json_decref(body);

    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&f->gw, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "active")));
    http_resp_clear(&r);
    free(id);
}

/* Grants are lenient: Odeus down → the create still succeeds, and the invite follows later. */
static void test_invite_when_odeus_down_is_delivered_later(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_default(f->mock, MOCK_500);
    char *id = create_user(&f->gw, "{\"userName\":\"later@example.com\",\"active\":true}");
    assert_int_equal(answered(f, "/invite", MOCK_OK), 0);
    mock_odeus_set_default(f->mock, MOCK_OK);
    wait_delivered(f, "/invite", 15000);
    free(id);
}

static const char *const recheck_fast[] = {"--pending-invitee-recheck-interval", "1", "--pending-invitee-recheck-for", "60", NULL};

static int setup_recheck(void **state)
{
    return gw_fixture_setup(state, recheck_fast);
}

/*
 * An invitee who never joined: deactivate-user gets 404 (the IdP still gets its success), the
 * gateway keeps re-sending it, and when the invitee accepts late they are removed and it is logged.
 */
static void test_pending_invitee_removed_after_late_acceptance(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_stateful(f->mock, 1);
    mock_odeus_set_invites_pending(f->mock, 1);
    char *id = create_active(f, "late@example.com");
    assert_int_equal(mock_odeus_member(f->mock, "late@example.com", NULL, 0), MOCK_MEMBER_INVITED);
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    /* re-sent while the invitation is pending: still 404 each time */
    assert_int_equal(mock_odeus_wait(f->mock, "/deactivate-user", 3, 20000), 0);
    assert_int_equal(mock_odeus_member(f->mock, "late@example.com", NULL, 0), MOCK_MEMBER_INVITED);
    /* the invitee accepts late: the next re-send removes them */
    assert_int_equal(mock_odeus_accept(f->mock, "late@example.com"), 0);
    WAIT_FOR(mock_odeus_member(f->mock, "late@example.com", NULL, 0) == MOCK_MEMBER_INACTIVE, 20000);
    WAIT_FOR(gw_log_has(&f->gw, "\"event\":\"late_invitee_removed\""), 10000);
    /* and the re-sends stop: none in 2.5 re-send intervals (1 s each) */
    size_t n = mock_odeus_count(f->mock, "/deactivate-user");
    EXPECT_STAYS(mock_odeus_count(f->mock, "/deactivate-user") == n, 2500);
    free(id);
}

/* Coalescing: an invite still queued when the deactivation comes is never sent after it. */
static void test_deactivation_supersedes_queued_invite(void **state)
{
    fixture_t *f = *state;
    mock_odeus_set_default(f->mock, MOCK_500);
    char *id = create_user(&f->gw, "{\"userName\":\"moot@example.com\",\"active\":true}");
    http_resp_t r;
    patch_user(f, id, deactivate_patch, &r);
    assert_scim_error(&r, 503, NULL);
    http_resp_clear(&r);
    size_t before = mock_odeus_count(f->mock, NULL);
    mock_odeus_set_default(f->mock, MOCK_OK);
    wait_deactivation_delivered(f, 20000);
    /* after the outage: only the deactivation went out, no invite */
    mock_request_t req;
    for (size_t i = before, n = mock_odeus_count(f->mock, NULL); i < n; i++) {
        assert_int_equal(mock_odeus_get(f->mock, i, &req), 0);
        assert_null(strstr(req.path, "/invite"));
    }
    free(id);
}

/*
 * 1 when GET /readyz answers `status` and, when given, a reason containing `reason_part`. Polled:
 * drains the log, which gets a line per request.
 */
static int readyz_is(fixture_t *f, long status, const char *reason_part)
{
    http_resp_t r;
    gw_drain(&f->gw);
    http_call(&f->gw, "GET", "/readyz", NULL, NULL, NULL, &r);
    int match = r.status == status;
    if (match && reason_part != NULL)
        match = strcmp(json_str(&r, "status"), "not ready") == 0 && strstr(json_str(&r, "reason"), reason_part) != NULL;
    http_resp_clear(&r);
    return match;
}

/* While Odeus answers 401 to the API key /readyz says 503 and why; once a call succeeds, 200 again. */
static void test_readyz_while_odeus_rejects_the_key(void **state)
{
    fixture_t *f = *state;
    assert_true(readyz_is(f, 200, NULL));
    mock_odeus_set_default(f->mock, MOCK_401);
    char *first = create_user(&f->gw, "{\"userName\":\"key-1@example.com\",\"active\":true}");
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", 1, 5000), 0);
    WAIT_FOR(readyz_is(f, 503, "Odeus rejects the API key (401/403)"), 5000);

    /* the key is fixed: the next call succeeds (the refused invite waits at least a minute for its retry) */
    mock_odeus_set_default(f->mock, MOCK_OK);
    char *second = create_user(&f->gw, "{\"userName\":\"key-2@example.com\",\"active\":true}");
    WAIT_FOR(answered(f, "/invite", MOCK_OK) >= 1, 10000);
    WAIT_FOR(readyz_is(f, 200, NULL), 5000);
    free(first);
    free(second);
}

/* Dry-run: no Odeus call, each call logged (without the key), counted as delivered. */
static void test_dry_run(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    mock_odeus_t *mock = mock_odeus_start();
    gw_proc_t gw;
    gw_start(&gw, dir, NULL, NULL);
    char *id = create_user(&gw, "{\"userName\":\"dry@example.com\",\"active\":true}");
    http_resp_t r;
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&gw, "PATCH", path, deactivate_patch, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    assert_int_equal(gw_stop(&gw), 0);
    assert_non_null(strstr(gw.log, "\"event\":\"dry_run_call\""));
    assert_non_null(strstr(gw.log, "deactivate-user"));
    assert_non_null(strstr(gw.log, "dry@example.com"));
    assert_null(strstr(gw.log, TEST_SCIM_TOKEN));
    assert_int_equal(mock_odeus_count(mock, NULL), 0);
    free(gw.log);
    free(id);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deactivate_503_once_is_retried, setup_long, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deactivate_odeus_down, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deactivate_odeus_hangs, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_keeps_queued_deactivation, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invite_when_odeus_down_is_delivered_later, setup, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_readyz_while_odeus_rejects_the_key, setup, gw_fixture_teardown),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test_setup_teardown(test_pending_invitee_removed_after_late_acceptance, setup_recheck, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deactivation_supersedes_queued_invite, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
