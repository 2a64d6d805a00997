#include "burst.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "mock/mock_odeus.h"

static const char *const roles[] = {"member", "editor", "admin"};

typedef struct burst_user {
    char id[40];
    char email[64];
    /*
     * What the directory must hold, from the last change of it the IdP got a success for; -1
     * unknown: never set, or a later change of it got no definite answer (a request the kill cut
     * off, a 503) and may or may not have been committed.
     */
    int known_active;
    int known_role; /* index into roles */
} burst_user_t;

typedef struct burst_worker {
    burst_t *b;
    burst_user_t *users;
    unsigned seed;
    size_t successes, failures;
    pthread_t thread;
} burst_worker_t;

struct burst {
    burst_config_t cfg;
    burst_worker_t *w;
    atomic_int done;
    atomic_int paused;
};

/*
 * One SCIM call to the gateway the test routes it to, tolerating one killed under it (status 0: the
 * outcome is unknown to the IdP, as after a real crash); harness.c's http_call fails the test on that.
 */
static void burst_call(burst_worker_t *w, const char *method, const char *path, const char *body, http_resp_t *r)
{
    int port = w->b->cfg.route(w->b->cfg.route_arg, &w->seed);
    memset(r, 0, sizeof(*r));
    r->status = harness_call(NULL, port, method, path, body, &r->body);
    if (r->body != NULL)
        r->json = json_loads(r->body, 0, NULL);
}

/* Finds a user created by a request whose answer was lost. */
static void burst_find_id(burst_worker_t *w, burst_user_t *u)
{
    char path[256];
    http_resp_t r;
    snprintf(path, sizeof(path), "/scim/v2/Users?filter=userName%%20eq%%20%%22%s%%22", u->email);
    burst_call(w, "GET", path, NULL, &r);
    json_t *res = json_array_get(json_object_get(r.json, "Resources"), 0);
    if (r.status == 200 && res != NULL)
        snprintf(u->id, sizeof(u->id), "%s", json_string_value(json_object_get(res, "id")));
    http_resp_clear(&r);
}

static void *burst_work(void *arg)
{
    burst_worker_t *w = arg;
    const burst_config_t *cfg = &w->b->cfg;
    for (int op = 0; op < cfg->ops; op++) {
        long long resume_by = harness_now_ms() + 60000;
        while (atomic_load(&w->b->paused) && wait_tick(resume_by, 10))
            ;
        burst_user_t *u = &w->users[rand_r(&w->seed) % cfg->users];
        http_resp_t r;
        char body[512], path[96];
        int role = (int)(rand_r(&w->seed) % 3), active = -1;
        if (u->id[0] == '\0') {
            snprintf(body, sizeof(body), "{\"userName\":\"%s\",\"active\":true,\"roles\":[{\"value\":\"%s\"}]}", u->email,
                     roles[role]);
            burst_call(w, "POST", "/scim/v2/Users", body, &r);
            if (r.status == 201) {
                snprintf(u->id, sizeof(u->id), "%s", json_str(&r, "id"));
                u->known_active = 1;
                u->known_role = role;
            } else if (r.status == 409 || (r.status == 0 && cfg->find_unanswered_creates)) {
                burst_find_id(w, u);
            }
        } else {
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", u->id);
            int kind = (int)(rand_r(&w->seed) % 3);
            if (kind < 2) {
                active = kind;
                snprintf(body, sizeof(body),
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":%s}}]}",
                         active ? "true" : "false");
            } else {
                snprintf(body, sizeof(body),
                         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":"
                         "\"replace\",\"path\":\"roles\",\"value\":[{\"value\":\"%s\"}]}]}",
                         roles[role]);
            }
            burst_call(w, "PATCH", path, body, &r);
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
    atomic_fetch_add(&w->b->done, 1);
    return NULL;
}

burst_t *burst_start(const burst_config_t *cfg)
{
    burst_t *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->cfg = *cfg;
    b->w = calloc((size_t)cfg->workers, sizeof(*b->w));
    assert_non_null(b->w);
    for (int i = 0; i < cfg->workers; i++) {
        burst_worker_t *w = &b->w[i];
        *w = (burst_worker_t){.b = b, .seed = cfg->seed + (unsigned)i};
        w->users = calloc((size_t)cfg->users, sizeof(*w->users));
        assert_non_null(w->users);
        for (int k = 0; k < cfg->users; k++) {
            snprintf(w->users[k].email, sizeof(w->users[k].email), "%s-%d-%d@example.com", cfg->prefix, i, k);
            w->users[k].known_active = w->users[k].known_role = -1;
        }
    }
    for (int i = 0; i < cfg->workers; i++)
        assert_int_equal(pthread_create(&b->w[i].thread, NULL, burst_work, &b->w[i]), 0);
    return b;
}

int burst_done(burst_t *b)
{
    return atomic_load(&b->done) == b->cfg.workers;
}

void burst_pause(burst_t *b, int on)
{
    atomic_store(&b->paused, on);
}

void burst_join(burst_t *b, size_t *ok, size_t *failed)
{
    *ok = *failed = 0;
    for (int i = 0; i < b->cfg.workers; i++) {
        pthread_join(b->w[i].thread, NULL);
        *ok += b->w[i].successes;
        *failed += b->w[i].failures;
    }
}

size_t burst_mismatches(burst_t *b, mock_odeus_t *mock)
{
    size_t n = 0;
    for (int i = 0; i < b->cfg.workers; i++) {
        for (int k = 0; k < b->cfg.users; k++) {
            burst_user_t *u = &b->w[i].users[k];
            if (u->id[0] == '\0')
                burst_find_id(&b->w[i], u);
            char role[16] = "";
            mock_member_t m = mock_odeus_member(mock, u->email, role, sizeof(role));
            if (u->id[0] == '\0') {
                n += m == MOCK_MEMBER_ACTIVE;
                continue;
            }
            char path[96];
            http_resp_t r;
            snprintf(path, sizeof(path), "/scim/v2/Users/%s", u->id);
            burst_call(&b->w[i], "GET", path, NULL, &r);
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

size_t burst_users(const burst_t *b)
{
    return (size_t)b->cfg.workers * (size_t)b->cfg.users;
}

const char *burst_email(const burst_t *b, size_t i)
{
    return b->w[i / (size_t)b->cfg.users].users[i % (size_t)b->cfg.users].email;
}

void burst_free(burst_t *b)
{
    if (b == NULL)
        return;
    for (int i = 0; i < b->cfg.workers; i++)
        free(b->w[i].users);
    free(b->w);
    free(b);
}
