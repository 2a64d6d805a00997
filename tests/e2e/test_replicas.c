/*
 * Two replicas on one PostgreSQL database (README, "Database"): a burst of lifecycle changes
 * (creates, deactivations, reactivations, role changes of the same users) sent to either replica
 * at random, while replica A is SIGKILLed with calls of its own on the wire (Odeus hangs for a
 * moment, so that A holds leases when it dies). Replica B takes A's rows over once their leases
 * end. Afterwards: what the IdP was told succeeded is in the directory, the mock Odeus holds the
 * directory's intent, nothing is left queued, the rows A held were delivered by B, and no seat's
 * calls reached Odeus out of commit order. PostgreSQL only (registered as test_gateway_replicas_pg).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#include "burst.h"
#include "harness.h"
#include "mock/mock_odeus.h"

#define WORKERS          4
#define USERS_PER_WORKER 20
#define OPS_PER_WORKER   400
/* the seat calls compared per user: far more than the burst makes for one user */
#define CALLS_MAX 512

/* The two replicas; A (0) is killed mid-burst, after which only B (1) serves. */
typedef struct replicas {
    gw_proc_t gw[2];
    pthread_mutex_t lock;
    int alive[2];
    size_t on_a; /* the burst's calls sent to A */
} replicas_t;

/* The burst's calls go to a live replica chosen at random. */
static int route(void *arg, unsigned *seed)
{
    replicas_t *rs = arg;
    pthread_mutex_lock(&rs->lock);
    int which = rs->alive[0] && rs->alive[1] ? (int)(rand_r(seed) % 2) : rs->alive[0] ? 0 : 1;
    int port = rs->gw[which].port;
    rs->on_a += which == 0;
    pthread_mutex_unlock(&rs->lock);
    return port;
}

static size_t sent_to_a(replicas_t *rs)
{
    pthread_mutex_lock(&rs->lock);
    size_t n = rs->on_a;
    pthread_mutex_unlock(&rs->lock);
    return n;
}

/* ---- the shared database, read directly ------------------------------------------------------- */

static PGresult *db_query(const char *url, const char *sql, const char *param)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, param != NULL ? &param : NULL, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQfinish(c);
    return r;
}

static long long db_count(const char *url, const char *sql, const char *param)
{
    PGresult *r = db_query(url, sql, param);
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* The replica id a gateway logged at start ("outbox_replica"). */
static void replica_id(gw_proc_t *gw, char *out, size_t len)
{
    WAIT_FOR(gw_log_has(gw, "\"event\":\"outbox_replica\""), 10000);
    const char *at = strstr(gw->log, "\"event\":\"outbox_replica\"");
    const char *line = at;
    while (line > gw->log && line[-1] != '\n')
        line--;
    json_t *j = json_loadb(line, strcspn(line, "\n"), 0, NULL);
    assert_non_null(j);
    const char *id = json_string_value(json_object_get(j, "replica"));
    assert_non_null(id);
    snprintf(out, len, "%s", id);
    json_decref(j);
}

/* ---- order per seat ------------------------------------------------------------------------------ */

/* One seat call: "invite member", "deactivate", "update_role admin". */
typedef struct seat_calls {
    char call[CALLS_MAX][32];
    size_t n;
} seat_calls_t;

static void calls_add(seat_calls_t *c, const char *action, const char *role)
{
    char one[32];
    snprintf(one, sizeof(one), "%s%s%s", action, role != NULL ? " " : "", role != NULL ? role : "");
    for (char *p = one; *p != '\0'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    /* consecutive repeats are one: a call re-sent because its answer was lost with A */
    if (c->n > 0 && strcmp(c->call[c->n - 1], one) == 0)
        return;
    assert_true(c->n < CALLS_MAX);
    snprintf(c->call[c->n++], sizeof(c->call[0]), "%s", one);
}

/* The calls Odeus carried out for `email`, in the order it received them. */
static void odeus_calls(mock_odeus_t *mock, const char *email, seat_calls_t *out)
{
    out->n = 0;
    mock_request_t req;
    for (size_t i = 0, n = mock_odeus_count(mock, NULL); i < n; i++) {
        if (mock_odeus_get(mock, i, &req) != 0 || req.fault != MOCK_OK)
            continue;
        json_t *body = json_loads(req.body, 0, NULL);
        assert_non_null(body);
        if (strstr(req.path, "/invite") != NULL) {
            size_t k;
            json_t *u;
            json_array_foreach(json_object_get(body, "users"), k, u)
            {
                if (strcasecmp(json_string_value(json_object_get(u, "email")), email) == 0)
                    calls_add(out, "invite", json_string_value(json_object_get(u, "role")));
            }
        } else if (strcasecmp(json_string_value(json_object_get(body, "email")), email) == 0) {
            if (strstr(req.path, "/deactivate-user") != NULL)
                calls_add(out, "deactivate", NULL);
            else
                calls_add(out, "update_role", json_string_value(json_object_get(body, "role")));
        }
        json_decref(body);
    }
}

/* The calls the outbox sent for seat `email`, in commit order: the rows whose call Odeus answered. */
static void outbox_calls(const char *url, const char *email, seat_calls_t *out)
{
    out->n = 0;
    PGresult *r = db_query(url,
                           "SELECT action, role FROM outbox WHERE seat = lower($1)"
                           " AND outcome IN ('done', 'already', 'not_member', 'refused') ORDER BY id",
                           email);
    for (int i = 0; i < PQntuples(r); i++)
        calls_add(out, PQgetvalue(r, i, 0), PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1));
    PQclear(r);
}

/*
 * The rows' calls reached Odeus in commit order: the outbox's sequence is a subsequence of what
 * Odeus received (which may hold more: a superseded row's call that was already out), and both
 * end with the same call.
 */
static void check_order(const char *url, mock_odeus_t *mock, const char *email)
{
    static seat_calls_t want, got;
    outbox_calls(url, email, &want);
    odeus_calls(mock, email, &got);
    size_t j = 0;
    for (size_t i = 0; i < got.n && j < want.n; i++)
        if (strcmp(got.call[i], want.call[j]) == 0)
            j++;
    if (j < want.n || (want.n > 0 && strcmp(got.call[got.n - 1], want.call[want.n - 1]) != 0)) {
        for (size_t i = 0; i < want.n; i++)
            print_message("  outbox %zu: %s\n", i, want.call[i]);
        for (size_t i = 0; i < got.n; i++)
            print_message("  odeus  %zu: %s\n", i, got.call[i]);
        fail_msg("%s: Odeus received its calls out of commit order", email);
    }
}

static void test_two_replicas_one_killed(void **state)
{
    (void)state;
    char dir_a[64], dir_b[64], url[600];
    harness_tmpdir(dir_a, sizeof(dir_a));
    harness_tmpdir(dir_b, sizeof(dir_b));
    if (harness_database(dir_a, url, sizeof(url)) == NULL)
        skip(); /* registered on PostgreSQL only */
    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    /* small invite batches: a recorded body holds 4 KiB */
    const char *const extra[] = {"--upstream-deadline-ms",
                                 "1000",
                                 "--odeus-rate-per-sec",
                                 "0",
                                 "--rate-limit",
                                 "0",
                                 "--odeus-invite-batch",
                                 "8",
                                 "--database",
                                 url,
                                 NULL};
    static replicas_t rs = {.lock = PTHREAD_MUTEX_INITIALIZER, .alive = {1, 1}};
    /* each replica its own data directory (its audit log), both on A's database */
    gw_start(&rs.gw[0], dir_a, mock_odeus_url(mock), extra);
    gw_start(&rs.gw[1], dir_b, mock_odeus_url(mock), extra);
    char id_a[128], id_b[128];
    replica_id(&rs.gw[0], id_a, sizeof(id_a));
    replica_id(&rs.gw[1], id_b, sizeof(id_b));
    assert_string_not_equal(id_a, id_b);

    /* a create whose replica died under it is looked up at once: it may have been committed */
    burst_t *b = burst_start(&(burst_config_t){.workers = WORKERS,
                                               .users = USERS_PER_WORKER,
                                               .ops = OPS_PER_WORKER,
                                               .prefix = "ha",
                                               .seed = 4321u,
                                               .route = route,
                                               .route_arg = &rs,
                                               .find_unanswered_creates = 1});

    /* both replicas serve and deliver for a while (counted in calls: a sanitizer build is slower) ... */
    EXPECT_STAYS(gw_drain(&rs.gw[0]) && gw_drain(&rs.gw[1]) && gw_alive(&rs.gw[0]) && gw_alive(&rs.gw[1]), 1000);
    WAIT_FOR_EVERY(gw_drain(&rs.gw[0]) && gw_drain(&rs.gw[1]) && gw_alive(&rs.gw[0]) && gw_alive(&rs.gw[1]) && sent_to_a(&rs) > 100,
                   60000, 20);
    /* ... then Odeus stops answering until A holds live leases: calls of A's are on the wire */
    mock_odeus_set_default(mock, MOCK_HANG);
    WAIT_FOR_EVERY(gw_drain(&rs.gw[0]) && gw_drain(&rs.gw[1]) &&
                       db_count(url,
                                "SELECT count(*) FROM outbox WHERE lease_owner = $1 AND lease_until >"
                                " (extract(epoch from clock_timestamp()) * 1000)::bigint",
                                id_a) > 0,
                   15000, 20);
    /* no new changes while B takes A's rows over: none supersedes them meanwhile, so each is B's to deliver */
    burst_pause(b, 1);
    pthread_mutex_lock(&rs.lock);
    gw_kill(&rs.gw[0]);
    rs.alive[0] = 0;
    pthread_mutex_unlock(&rs.lock);
    mock_odeus_set_default(mock, MOCK_OK);
    PGresult *held = db_query(url, "SELECT id FROM outbox WHERE state = 0 AND lease_owner = $1 AND lease_until IS NOT NULL", id_a);
    int n_held = PQntuples(held);
    assert_true(n_held > 0);
    /* B takes them over once A's leases end (3 x the 1 s call timeout + 2 s), then the burst goes on */
    char held_list[4096] = "0";
    for (int i = 0; i < n_held; i++)
        snprintf(held_list + strlen(held_list), sizeof(held_list) - strlen(held_list), ",%s", PQgetvalue(held, i, 0));
    char pending_sql[4200];
    snprintf(pending_sql, sizeof(pending_sql), "SELECT count(*) FROM outbox WHERE state = 0 AND id IN (%s)", held_list);
    long long killed_at = harness_now_ms();
    WAIT_FOR_EVERY(gw_drain(&rs.gw[1]) && db_count(url, pending_sql, NULL) == 0, 30000, 100);
    long long takeover_ms = harness_now_ms() - killed_at;
    burst_pause(b, 0);

    WAIT_FOR_EVERY(gw_drain(&rs.gw[1]) && burst_done(b), 300000, 50);
    size_t ok, failed;
    burst_join(b, &ok, &failed);
    size_t on_a = rs.on_a;

    /* B delivers everything, A's rows included once their leases ended */
    WAIT_FOR_EVERY(gw_drain(&rs.gw[1]) && burst_mismatches(b, mock) == 0, 120000, 200);
    WAIT_FOR_EVERY(gw_drain(&rs.gw[1]) && db_count(url, "SELECT count(*) FROM outbox WHERE state = 0", NULL) == 0, 60000, 200);
    /* the rows A held were claimed and recorded by B (a few may have been superseded first) */
    int taken_over = 0;
    for (int i = 0; i < n_held; i++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE id = %s AND state <> 0 AND lease_owner = $1",
                 PQgetvalue(held, i, 0));
        taken_over += db_count(url, sql, id_b) > 0;
    }
    PQclear(held);
    assert_true(taken_over > 0);
    /* not before A's leases ended */
    assert_true(takeover_ms >= 3000);

    for (size_t i = 0; i < burst_users(b); i++)
        check_order(url, mock, burst_email(b, i));

    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    print_message("replicas: %zu changes answered 2xx, %zu not; %zu sent to A; %d rows A held at its kill, %d taken over "
                  "by B within %lld ms; Odeus saw %zu requests\n",
                  ok, failed, on_a, n_held, taken_over, takeover_ms, c.requests);
    assert_true(ok > 300);
    assert_true(on_a > 50);

    assert_int_equal(gw_stop(&rs.gw[1]), 0);
    free(rs.gw[0].log);
    free(rs.gw[1].log);
    burst_free(b);
    mock_odeus_stop(mock);
    harness_rmdir(dir_b);
    harness_rmdir(dir_a);
}

/* A create sent on a connection of its own: for a request the test does not wait for. */
typedef struct bg_create {
    int port;
    long status;
} bg_create_t;

static void *create_in_background(void *arg)
{
    bg_create_t *c = arg;
    c->status = harness_call(NULL, c->port, "POST", "/scim/v2/Users", "{\"userName\":\"slot@example.com\",\"active\":true}", NULL);
    return NULL;
}

/*
 * A deactivation sent to replica A is delivered by replica B, and A's request learns it from the
 * database (the waiters' poll): 200, not 503 at its deadline. A cannot send it itself: its one
 * call slot (--odeus-max-concurrency 1) is taken by an invite its Odeus never answers.
 */
static void test_waiter_learns_outcome_from_other_replica(void **state)
{
    (void)state;
    char dir_a[64], dir_b[64], url[600];
    harness_tmpdir(dir_a, sizeof(dir_a));
    harness_tmpdir(dir_b, sizeof(dir_b));
    if (harness_database(dir_a, url, sizeof(url)) == NULL)
        skip();
    mock_odeus_t *mock = mock_odeus_start(), *stuck = mock_odeus_start();
    assert_non_null(mock);
    assert_non_null(stuck);
    mock_odeus_set_default(stuck, MOCK_HANG);
    const char *const extra_a[] = {"--rate-limit", "0", "--odeus-max-concurrency", "1", "--database", url, NULL};
    const char *const extra_b[] = {"--rate-limit", "0", "--database", url, NULL};
    gw_proc_t a, b;
    gw_start_ex(&b, dir_b, mock_odeus_url(mock), NULL, 6000, extra_b);
    char id_b[128];
    replica_id(&b, id_b, sizeof(id_b));
    char *id = create_user(&b, "{\"userName\":\"far@example.com\",\"active\":true}");
    WAIT_FOR(gw_drain(&b) && mock_odeus_member(mock, "far@example.com", NULL, 0) == MOCK_MEMBER_ACTIVE, 20000);

    gw_start_ex(&a, dir_a, mock_odeus_url(stuck), NULL, 6000, extra_a);
    bg_create_t bg = {.port = a.port};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, create_in_background, &bg), 0);
    WAIT_FOR(gw_drain(&a) && gw_drain(&b) && mock_odeus_count(stuck, "/invite") == 1, 10000);

    char path[96];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    http_resp_t r;
    scim(&a, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}",
         &r);
    assert_int_equal(r.status, 200);
    http_resp_clear(&r);
    assert_int_equal(mock_odeus_member(mock, "far@example.com", NULL, 0), MOCK_MEMBER_INACTIVE);
    /* B delivered it */
    assert_int_equal(
        db_count(url, "SELECT count(*) FROM outbox WHERE action = 'deactivate' AND state = 1 AND lease_owner = $1", id_b), 1);
    assert_int_equal(mock_odeus_count(stuck, "/deactivate-user"), 0);

    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(bg.status, 201);
    free(id);
    assert_int_equal(gw_stop(&a), 0);
    assert_int_equal(gw_stop(&b), 0);
    free(a.log);
    free(b.log);
    mock_odeus_stop(stuck);
    mock_odeus_stop(mock);
    harness_rmdir(dir_b);
    harness_rmdir(dir_a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waiter_learns_outcome_from_other_replica),
        cmocka_unit_test(test_two_replicas_one_killed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
