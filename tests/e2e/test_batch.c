/*
 * Batched invites (README, "Batched invites"): due invites of different seats share one call;
 * per-address answers, a whole-call 400 split down to the address Odeus refuses, a 429 retried,
 * a seat's order kept across a deactivation, a SIGKILL between a batch's call and its records,
 * and a bulk load from 8 connections that needs fewer calls than users.
 *
 * Most tests pace Odeus at 2 calls/s and spend the token first ("prime"): the creates that follow
 * from several connections all commit inside the half second before the next token, so their
 * invites are due together when the next call may start.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

typedef gw_fixture_t fixture_t;

#define MAX_USERS 96

static const char *const paced[] = {"--odeus-rate-per-sec", "2", NULL};

static int setup_paced(void **state)
{
    return gw_fixture_setup(state, paced);
}

static int setup_default(void **state)
{
    return gw_fixture_setup(state, NULL);
}

/* ---- creates from several connections ---- */

typedef struct creates {
    int port;
    const char *emails[MAX_USERS];
    long status[MAX_USERS];
    char id[MAX_USERS][64];
    size_t n, next;
    pthread_mutex_t lock;
} creates_t;

/*
 * One POST /Users on the connection `e`; its status (0: no answer, e.g. the gateway was killed)
 * and the new id. Not harness.c's http_call, which fails the test on a lost answer.
 */
static void create_on(CURL *e, creates_t *c, size_t i)
{
    char body[256], *resp = NULL;
    snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"active\":true}", c->emails[i]);
    long status = harness_call(e, c->port, "POST", "/scim/v2/Users", body, &resp);
    json_t *j = resp != NULL ? json_loads(resp, 0, NULL) : NULL;
    pthread_mutex_lock(&c->lock);
    c->status[i] = status;
    if (json_is_string(json_object_get(j, "id")))
        snprintf(c->id[i], sizeof(c->id[i]), "%s", json_string_value(json_object_get(j, "id")));
    pthread_mutex_unlock(&c->lock);
    json_decref(j);
    free(resp);
}

static void *create_worker(void *arg)
{
    creates_t *c = arg;
    CURL *e = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&c->lock);
        size_t i = c->next < c->n ? c->next++ : c->n;
        pthread_mutex_unlock(&c->lock);
        if (i == c->n)
            break;
        create_on(e, c, i);
    }
    curl_easy_cleanup(e);
    return NULL;
}

/* Creates every user of `c` from `connections` connections at once; returns when all are answered. */
static void create_parallel(fixture_t *f, creates_t *c, int connections)
{
    pthread_t t[16];
    c->port = f->gw.port;
    c->next = 0;
    pthread_mutex_init(&c->lock, NULL);
    for (int i = 0; i < connections; i++)
        assert_int_equal(pthread_create(&t[i], NULL, create_worker, c), 0);
    for (int i = 0; i < connections; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&c->lock);
    gw_drain(&f->gw);
}

/* Spends the pacer's token with one delivered create, so that the next call waits for the next token. */
static void prime(fixture_t *f)
{
    size_t invites = mock_odeus_count(f->mock, "/invite");
    char *id = create_user(&f->gw, "{\"userName\":\"prime@example.com\",\"active\":true}");
    assert_int_equal(mock_odeus_wait(f->mock, "/invite", invites + 1, 5000), 0);
    free(id);
}

/* The largest number of users one recorded invite call carried, among those answered `fault` (-1: any). */
static int largest_invite(fixture_t *f, int fault)
{
    int most = 0;
    mock_request_t req;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++)
        if (mock_odeus_get(f->mock, i, &req) == 0 && req.invitees > most && (fault < 0 || req.fault == fault))
            most = req.invitees;
    return most;
}

static int all_active(fixture_t *f, const creates_t *c, const char *except_suffix)
{
    for (size_t i = 0; i < c->n; i++) {
        size_t len = strlen(c->emails[i]), k = except_suffix != NULL ? strlen(except_suffix) : 0;
        if (k > 0 && len >= k && strcasecmp(c->emails[i] + len - k, except_suffix) == 0)
            continue;
        if (mock_odeus_member(f->mock, c->emails[i], NULL, 0) != MOCK_MEMBER_ACTIVE)
            return 0;
    }
    return 1;
}

/* The number of log lines of `event` for the user `id`. */
static int events_for(fixture_t *f, const char *event, const char *id)
{
    int n = 0;
    gw_drain(&f->gw);
    char needle[128];
    snprintf(needle, sizeof(needle), "\"event\":\"%s\"", event);
    for (const char *p = f->gw.log; (p = strstr(p, needle)) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, id);
        if (hit != NULL && (eol == NULL || hit < eol))
            n++;
    }
    return n;
}

/* Pending outbox rows, from `outbox stats --json` against the live data directory. */
static long pending_rows(fixture_t *f)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof(cmd), "%s outbox stats --json %s 2>/dev/null", getenv("GATEWAY_BIN"), harness_store_arg(f->dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    json_t *j = json_loads(out, 0, NULL);
    long pending = json_is_integer(json_object_get(j, "pending")) ? (long)json_integer_value(json_object_get(j, "pending")) : -1;
    json_decref(j);
    return pending;
}

/* ---- the tests ---- */

/*
 * Some addresses of a batch in invalidEmails: those rows end refused (the create answered 400 and
 * undone if it was still waiting, else odeus_refused logged after its 201); the others are members.
 */
static void test_batch_with_invalid_addresses(void **state)
{
    fixture_t *f = *state;
    static const char *const emails[] = {"v1@example.com",  "x1@invalid.test", "v2@example.com", "v3@example.com",
                                         "x2@invalid.test", "v4@example.com",  "v5@example.com", "x3@invalid.test"};
    creates_t c = {.n = 8};
    memcpy(c.emails, emails, sizeof(emails));
    mock_odeus_set_invalid_suffix(f->mock, "@invalid.test");
    prime(f);
    create_parallel(f, &c, 8);

    WAIT_FOR(gw_drain(&f->gw) && all_active(f, &c, "@invalid.test"), 10000);
    assert_true(largest_invite(f, MOCK_OK) >= 4);
    for (size_t i = 0; i < c.n; i++) {
        int invalid = strstr(c.emails[i], "@invalid.test") != NULL;
        if (!invalid) {
            assert_int_equal(c.status[i], 201);
            continue;
        }
        assert_true(c.status[i] == 201 || c.status[i] == 400);
        assert_int_equal(mock_odeus_member(f->mock, c.emails[i], NULL, 0), MOCK_MEMBER_NONE);
        WAIT_FOR(events_for(f, "odeus_refused", c.id[i]) == 1 || c.status[i] == 400, 10000);
    }
    WAIT_FOR(pending_rows(f) == 0, 10000);
}

static int culprit_alone(fixture_t *f, const char *email)
{
    mock_request_t req;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++)
        if (mock_odeus_get(f->mock, i, &req) == 0 && req.invitees == 1 && strstr(req.body, email) != NULL)
            return req.fault == MOCK_400;
    return 0;
}

/* A 400 for the whole call: halved until the address Odeus refuses is alone; the others are delivered. */
static void test_whole_batch_400_is_split_to_the_culprit(void **state)
{
    fixture_t *f = *state;
    static const char *const emails[] = {"s1@example.com", "s2@example.com", "s3@example.com", "culprit@example.com",
                                         "s5@example.com", "s6@example.com", "s7@example.com", "s8@example.com"};
    creates_t c = {.n = 8};
    memcpy(c.emails, emails, sizeof(emails));
    mock_odeus_set_reject_email(f->mock, "culprit@example.com");
    prime(f);
    create_parallel(f, &c, 8);

    WAIT_FOR(gw_drain(&f->gw) && all_active(f, &c, "culprit@example.com"), 20000);
    assert_int_equal(mock_odeus_member(f->mock, "culprit@example.com", NULL, 0), MOCK_MEMBER_NONE);
    assert_true(largest_invite(f, MOCK_400) >= 4);
    assert_true(gw_log_has(&f->gw, "\"event\":\"odeus_invite_batch_split\""));
    /* the culprit ends alone: a call carried it and nobody else, and was refused */
    WAIT_FOR(culprit_alone(f, "culprit@example.com"), 10000);
    size_t culprit = 3;
    WAIT_FOR(events_for(f, "odeus_refused", c.id[culprit]) == 1 || c.status[culprit] == 400, 10000);
    WAIT_FOR(pending_rows(f) == 0, 10000);
}

/* A 429 to a batch: every row of it is retried with the backoff, and all are delivered. */
static void test_batch_429_is_retried(void **state)
{
    fixture_t *f = *state;
    static const char *const emails[] = {"t1@example.com", "t2@example.com", "t3@example.com",
                                         "t4@example.com", "t5@example.com", "t6@example.com"};
    creates_t c = {.n = 6};
    memcpy(c.emails, emails, sizeof(emails));
    prime(f);
    mock_odeus_push_fault(f->mock, MOCK_429);
    create_parallel(f, &c, 6);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.status[i], 201); /* grants are lenient */
    WAIT_FOR(gw_drain(&f->gw) && all_active(f, &c, NULL), 20000);
    assert_true(largest_invite(f, MOCK_429) >= 2);
    WAIT_FOR(pending_rows(f) == 0, 10000);
}

static const char deactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";
static const char reactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":true}}]}";

typedef struct patch_job {
    gw_proc_t *gw;
    const char *path;
    long status;
} patch_job_t;

static void *patch_deactivate(void *arg)
{
    patch_job_t *j = arg;
    j->status = harness_call(NULL, j->gw->port, "PATCH", j->path, deactivate_patch, NULL);
    return NULL;
}

/*
 * Invite, deactivation, invite of one seat, the reactivation queued while the deactivation still
 * waits and other seats' invites are due: the seat's calls reach Odeus in commit order (no batch
 * lets the reactivation overtake the deactivation), and it ends a member.
 */
static void test_deactivation_between_two_invites_keeps_order(void **state)
{
    fixture_t *f = *state;
    static const char *const emails[] = {"o1@example.com", "o2@example.com", "o3@example.com", "o4@example.com"};
    static const char *const later[] = {"o5@example.com", "o6@example.com", "o7@example.com", "o8@example.com"};
    creates_t c = {.n = 4}, d = {.n = 4};
    memcpy(c.emails, emails, sizeof(emails));
    memcpy(d.emails, later, sizeof(later));
    prime(f);
    create_parallel(f, &c, 4);
    char *id = create_user(&f->gw, "{\"userName\":\"seat@example.com\",\"active\":true}");
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);

    /* the deactivation waits for Odeus on its own connection; once it is committed, the reactivation */
    patch_job_t deact = {.gw = &f->gw, .path = path};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, patch_deactivate, &deact), 0);
    WAIT_FOR(gw_log_has(&f->gw, "\"event\":\"user_deactivated\""), 10000);
    http_resp_t r;
    scim(&f->gw, "PATCH", path, reactivate_patch, &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    create_parallel(f, &d, 4); /* more invites due next to the reactivation's */
    pthread_join(t, NULL);
    assert_int_equal(deact.status, 200); /* deactivations wait for Odeus */
    WAIT_FOR(gw_drain(&f->gw) && mock_odeus_member(f->mock, "seat@example.com", NULL, 0) == MOCK_MEMBER_ACTIVE, 10000);
    WAIT_FOR(all_active(f, &c, NULL) && all_active(f, &d, NULL), 10000);

    /* the seat's calls in arrival order: any invites, one deactivation, then the reactivation's invite */
    mock_request_t req;
    int deactivated_at = -1, invites_after = 0;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++) {
        if (mock_odeus_get(f->mock, i, &req) != 0 || strstr(req.body, "seat@example.com") == NULL || req.fault != MOCK_OK)
            continue;
        if (strstr(req.path, "/deactivate-user") != NULL) {
            assert_int_equal(deactivated_at, -1);
            deactivated_at = (int)i;
        } else if (deactivated_at >= 0) {
            invites_after++;
        }
    }
    assert_true(deactivated_at >= 0);
    assert_int_equal(invites_after, 1);
    WAIT_FOR(pending_rows(f) == 0, 10000);
    free(id);
}

/*
 * SIGKILL after Odeus carried out a batch's call and before the gateway heard of it (the mock
 * acts, then never answers): after the restart the rows are still pending and go out again, which
 * is harmless (Odeus skips active members), and every user ends a member.
 */
static void test_sigkill_between_batch_call_and_records(void **state)
{
    fixture_t *f = *state;
    static const char *const emails[] = {"k1@example.com", "k2@example.com", "k3@example.com",
                                         "k4@example.com", "k5@example.com", "k6@example.com"};
    creates_t c = {.n = 6};
    memcpy(c.emails, emails, sizeof(emails));
    prime(f);
    /* the next call is carried out by Odeus and never answered; the kill comes while it hangs */
    mock_odeus_push_fault(f->mock, MOCK_DONE_HANG);
    size_t before = mock_odeus_count(f->mock, "/invite");
    pthread_t t;
    c.port = f->gw.port;
    pthread_mutex_init(&c.lock, NULL);
    /* one connection at a time would wait on the first create: four connections at once */
    pthread_t more[3];
    assert_int_equal(pthread_create(&t, NULL, create_worker, &c), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&more[i], NULL, create_worker, &c), 0);
    WAIT_FOR(gw_drain(&f->gw) && mock_odeus_count(f->mock, "/invite") > before && largest_invite(f, MOCK_DONE_HANG) >= 2, 10000);
    gw_kill(&f->gw);
    size_t sent_before_restart = mock_odeus_count(f->mock, NULL);
    pthread_join(t, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(more[i], NULL);
    pthread_mutex_destroy(&c.lock);
    free(f->gw.log);
    f->gw.log = NULL;

    gw_start(&f->gw, f->dir, mock_odeus_url(f->mock), paced);
    /* the users whose create was answered are members; a create the kill cut off may not exist */
    creates_t answered = {.n = 0};
    for (size_t i = 0; i < c.n; i++)
        if (c.status[i] == 201)
            answered.emails[answered.n++] = c.emails[i];
    assert_true(answered.n >= 2);
    WAIT_FOR(gw_drain(&f->gw) && all_active(f, &answered, NULL), 15000);
    WAIT_FOR(pending_rows(f) == 0, 10000);
    /* the batch Odeus had carried out went again, for members it already had, and ended done */
    assert_true(mock_odeus_count(f->mock, NULL) > sent_before_restart);
    mock_request_t req;
    int resent = 0;
    for (size_t i = sent_before_restart, n = mock_odeus_count(f->mock, NULL); i < n; i++)
        if (mock_odeus_get(f->mock, i, &req) == 0 && req.fault == MOCK_OK && req.invitees >= 2)
            resent = 1;
    assert_true(resent);
    assert_false(gw_log_has(&f->gw, "\"event\":\"odeus_refused\""));
}

/* A bulk load from 8 connections at the default pace needs fewer invite calls than users. */
static void test_bulk_load_needs_fewer_calls_than_users(void **state)
{
    fixture_t *f = *state;
    static char names[80][48];
    creates_t c = {.n = 80};
    for (size_t i = 0; i < c.n; i++) {
        snprintf(names[i], sizeof(names[i]), "bulk%02zu@example.com", i);
        c.emails[i] = names[i];
    }
    create_parallel(f, &c, 8);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.status[i], 201);
    WAIT_FOR(gw_drain(&f->gw) && all_active(f, &c, NULL), 20000);
    size_t calls = mock_odeus_count(f->mock, "/invite");
    mock_odeus_counts_t counts;
    mock_odeus_counts(f->mock, &counts);
    assert_true(calls < c.n);
    assert_true(counts.invitees >= c.n);

    /* the mock has seen every invitee; the gateway records each answer a moment later */
    WAIT_FOR(pending_rows(f) == 0, 10000);

    /* /metrics: invites per call */
    http_resp_t r;
    http_call(&f->gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    const char *sum = strstr(r.body, "gateway_odeus_invites_per_call_sum "),
               *count = strstr(r.body, "gateway_odeus_invites_per_call_count ");
    long invitees = sum != NULL ? atol(sum + strlen("gateway_odeus_invites_per_call_sum ")) : -1;
    long invite_calls = count != NULL ? atol(count + strlen("gateway_odeus_invites_per_call_count ")) : -1;
    http_resp_clear(&r);
    assert_true(invitees >= (long)c.n);
    assert_true(invite_calls > 0 && invite_calls < (long)c.n);

    /* `outbox list` names the batch of the rows that went out together */
    char cmd[512], out[65536];
    snprintf(cmd, sizeof(cmd), "%s outbox list --state all --json --limit 100 %s 2>/dev/null", getenv("GATEWAY_BIN"),
             harness_store_arg(f->dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    assert_non_null(strstr(out, "\"batch_id\""));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_with_invalid_addresses, setup_paced, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_whole_batch_400_is_split_to_the_culprit, setup_paced, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_batch_429_is_retried, setup_paced, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_deactivation_between_two_invites_keeps_order, setup_paced, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_between_batch_call_and_records, setup_paced, gw_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_load_needs_fewer_calls_than_users, setup_default, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
