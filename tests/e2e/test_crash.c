/*
 * Crash safety: a burst of mixed lifecycle changes (create, deactivate, reactivate, role change)
 * from several IdP connections while the gateway is SIGKILLed and restarted at random moments.
 * Afterwards: every change the IdP got a success for is in the directory (the last answered
 * change of each attribute wins, unless a later change of it went unanswered: a request the kill
 * cut off may have been committed), nothing is left queued, and the mock Odeus' member model equals
 * the directory's intent: active users active with their role, everyone else not active.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

#define WORKERS          4
#define USERS_PER_WORKER 40
#define OPS_PER_WORKER   600
#define KILLS            5

static const char *const roles[] = {"member", "editor", "admin"};

typedef struct user {
    char id[40];
    char email[64];
    /*
     * What the directory must hold, from the last change of it the IdP got a success for; -1
     * unknown: never set, or a later change of it got no definite answer (a request the kill cut
     * off, a 503) and may or may not have been committed.
     */
    int known_active;
    int known_role; /* index into roles */
} user_t;

typedef struct worker {
    gw_proc_t *gw;
    pthread_mutex_t *gw_lock; /* the port changes on restart */
    int index;
    user_t users[USERS_PER_WORKER];
    unsigned seed;
    size_t successes, failures;
} worker_t;

static atomic_int stop_workers;
static atomic_int workers_done;

/*
 * One SCIM call that tolerates a gateway killed under it (status 0: the outcome is unknown to
 * the IdP, as after a real crash); harness.c's http_call fails the test on that.
 */
static void call(worker_t *w, const char *method, const char *path, const char *body, http_resp_t *r)
{
    pthread_mutex_lock(w->gw_lock);
    int port = w->gw->port;
    pthread_mutex_unlock(w->gw_lock);
    memset(r, 0, sizeof(*r));
    r->status = harness_call(NULL, port, method, path, body, &r->body);
    if (r->body != NULL)
        r->json = json_loads(r->body, 0, NULL);
}

/* Finds a user created by a request whose answer was lost. */
static void find_id(worker_t *w, user_t *u)
{
    char path[256];
    http_resp_t r;
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=userName%%20eq%%20%%22%s%%22", u->email);
    call(w, "GET", path, NULL, &r);
    json_t *res = json_array_get(json_object_get(r.json, "Resources"), 0);
    if (r.status == 200 && res != NULL)
        snprintf(u->id, sizeof(u->id), "%s", json_string_value(json_object_get(res, "id")));
    http_resp_clear(&r);
}

static void *work(void *arg)
{
    worker_t *w = arg;
    for (int op = 0; op < OPS_PER_WORKER && !atomic_load(&stop_workers); op++) {
        user_t *u = &w->users[rand_r(&w->seed) % USERS_PER_WORKER];
        http_resp_t r;
        char body[512], path[96];
        int role = (int)(rand_r(&w->seed) % 3), active = -1;
        if (u->id[0] == '\0') {
            snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"active\":true,\"roles\":[{\"value\":\"%s\"}]}", u->email,
                     roles[role]);
            call(w, "POST", "/scim/v2/Users", body, &r);
            if (r.status == 201) {
                snprintf(u->id, sizeof(u->id), "%s", json_str(&r, "id"));
                u->known_active = 1;
                u->known_role = role;
            } else if (r.status == 409) {
                find_id(w, u);
            }
        } else {
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", u->id);
            int kind = (int)(rand_r(&w->seed) % 3);
            if (kind == 0) {
                active = 0;
                snprintf(body, sizeof(body),
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}");
            } else if (kind == 1) {
                active = 1;
                snprintf(body, sizeof(body),
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":true}}]}");
            } else {
                snprintf(body, sizeof(body),
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":"
                         "\"replace\",\"path\":\"roles\",\"value\":[{\"value\":\"%s\"}]}]}",
                         roles[role]);
            }
            call(w, "PATCH", path, body, &r);
            int value = r.status == 200 ? 1 : r.status == 0 || r.status >= 500 ? -1 : 0; /* 0: refused, nothing changed */
            if (value != 0 && active >= 0)
                u->known_active = value > 0 ? active : -1;
            else if (value != 0)
                u->known_role = value > 0 ? role : -1;
        }
        if (r.status >= 200 && r.status < 300)
            w->successes++;
        else
            w->failures++;
        http_resp_clear(&r);
    }
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

/*
 * Checks every user: what the IdP was told succeeded is what the directory holds (asserted), and
 * returns how many users Odeus does not hold as the directory does (active with its role, or not).
 */
static size_t mismatches(worker_t *w, mock_odeus_t *mock)
{
    size_t n = 0;
    for (int i = 0; i < WORKERS; i++) {
        for (int k = 0; k < USERS_PER_WORKER; k++) {
            user_t *u = &w[i].users[k];
            if (u->id[0] == '\0')
                find_id(&w[i], u);
            char role[16] = "";
            mock_member_t m = mock_odeus_member(mock, u->email, role, sizeof(role));
            if (u->id[0] == '\0') {
                n += m == MOCK_MEMBER_ACTIVE;
                continue;
            }
            char path[96];
            http_resp_t r;
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", u->id);
            call(&w[i], "GET", path, NULL, &r);
            assert_int_equal(r.status, 200);
            int active = json_is_true(json_object_get(r.json, "active"));
            const char *dir_role = json_string_value(json_object_get(json_array_get(json_object_get(r.json, "roles"), 0), "value"));
            /* what the IdP was told succeeded is what the directory holds */
            if (u->known_active >= 0 && active != u->known_active)
                fail_msg("%s (%s): the IdP was last told it is %s, the directory says %s: %s", u->email, u->id,
                         u->known_active ? "active" : "inactive", active ? "active" : "inactive", r.body);
            if (u->known_role >= 0 && dir_role != NULL && active && strcmp(dir_role, roles[u->known_role]) != 0)
                fail_msg("%s (%s): the IdP was last told its role is %s, the directory says %s", u->email, u->id,
                         roles[u->known_role], dir_role);
            /* and Odeus holds the directory's intent */
            if (active != (m == MOCK_MEMBER_ACTIVE) || (active && dir_role != NULL && strcmp(role, dir_role) != 0))
                n++;
            http_resp_clear(&r);
        }
    }
    return n;
}

/* `outbox stats --json`'s pending count for the data directory `dir`. */
static json_int_t outbox_pending(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s outbox stats --json %s", getenv("GATEWAY_BIN"), harness_store_arg(dir));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    json_t *stats = json_loadf(p, 0, NULL);
    assert_int_equal(pclose(p), 0);
    assert_non_null(stats);
    json_int_t pending = json_integer_value(json_object_get(stats, "pending"));
    json_decref(stats);
    return pending;
}

static void test_crash_burst(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    mock_odeus_set_recording(mock, 0);
    gw_proc_t gw;
    pthread_mutex_t gw_lock = PTHREAD_MUTEX_INITIALIZER;
    const char *const extra[] = {"--upstream-deadline-ms", "1000", "--odeus-rate-per-sec", "0", "--rate-limit", "0", NULL};
    gw_start(&gw, dir, mock_odeus_url(mock), extra);

    static worker_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker_t){.gw = &gw, .gw_lock = &gw_lock, .index = i, .seed = 1234u + (unsigned)i};
        for (int k = 0; k < USERS_PER_WORKER; k++) {
            snprintf(w[i].users[k].email, sizeof(w[i].users[k].email), "crash-%d-%d@example.com", i, k);
            w[i].users[k].known_active = w[i].users[k].known_role = -1;
        }
    }
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    unsigned seed = 99;
    for (int k = 0; k < KILLS; k++) {
        /* a random moment: the gateway serves the burst for 0.3-1.5 s (its log, a pipe, drained) ... */
        EXPECT_STAYS(gw_alive(&gw), 300 + (int)(rand_r(&seed) % 1200));
        /* ... and is killed under it; only the port changes for the workers */
        pthread_mutex_lock(&gw_lock);
        gw_kill(&gw);
        free(gw.log);
        gw_start(&gw, dir, mock_odeus_url(mock), extra);
        pthread_mutex_unlock(&gw_lock);
    }
    WAIT_FOR(gw_drain(&gw) && atomic_load(&workers_done) == WORKERS, 300000);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    size_t ok = 0, failed = 0;
    for (int i = 0; i < WORKERS; i++) {
        ok += w[i].successes;
        failed += w[i].failures;
    }

    /* let the outbox drain: a restart delivers what the kills left queued */
    gw_stop(&gw);
    free(gw.log);
    gw_start(&gw, dir, mock_odeus_url(mock), extra);
    /* the states agree once what the kills left queued is delivered */
    WAIT_FOR_EVERY(gw_drain(&gw) && mismatches(w, mock) == 0, 120000, 200);
    mock_odeus_counts_t c;
    mock_odeus_counts(mock, &c);
    print_message("crash: %zu changes answered 2xx, %zu not (kills, 503s); %d users; Odeus saw %zu requests\n", ok, failed,
                  WORKERS * USERS_PER_WORKER, c.requests);
    assert_true(ok > 1000);

    /* nothing left queued: a row may still be on its way when the states already agree */
    WAIT_FOR_EVERY(gw_drain(&gw) && outbox_pending(dir) == 0, 60000, 200);

    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_burst),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
