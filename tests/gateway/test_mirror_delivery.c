/*
 * gateway/outbox with gateway/mirror: a group_members row against a real store file and the mock
 * Odeus. One sync sends every address the directory has and Odeus lacks, at most
 * ODEUS_GROUP_BATCH_MAX per call; addresses Odeus does not find are kept and sent again on the
 * pending-invitee schedule until they land.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "gateway/config.h"
#include "gateway/outbox.h"
#include "mock/mock_odeus.h"
#include "store/store.h"
#include "upstream/odeus.h"

#define MEMBERS  (ODEUS_GROUP_BATCH_MAX + 12)
#define INVITEES 5 /* of the members, the last ones have not joined Odeus yet */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The members of the mock's only group, or -1 when it has none. */
static int mock_members(mock_odeus_t *mock)
{
    char *text = mock_odeus_groups_json(mock);
    json_t *list = json_loads(text, 0, NULL);
    int n = json_array_size(list) == 1 ? (int)json_array_size(json_object_get(json_array_get(list, 0), "members")) : -1;
    json_decref(list);
    free(text);
    return n;
}

static size_t add_calls(mock_odeus_t *mock)
{
    size_t n = 0;
    for (size_t i = 0; i < mock_odeus_count(mock, NULL); i++) {
        mock_request_t r;
        if (mock_odeus_get(mock, i, &r) == 0 && strcmp(r.method, "POST") == 0 && strstr(r.path, "/members") != NULL)
            n++;
    }
    return n;
}

/* A mirroring gateway's configuration over a fresh data directory and a mock Odeus, its store open. */
typedef struct env {
    char dir[64];
    mock_odeus_t *mock;
    gw_config_t config;
    store_t *store;
} env_t;

/* `extra`: further arguments (NULL-terminated, may be NULL). */
static void env_setup(env_t *e, const char *const *extra)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/gw-mirror-delivery-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    e->mock = mock_odeus_start();
    assert_non_null(e->mock);
    setenv("SCIM_TOKEN", "a-token-long-enough-for-the-gateway", 1);
    setenv("ODEUS_API_KEY", "test-odeus-key-fedcba9876543210", 1);
    char *argv[16] = {"odeus-scim-gateway",
                      "--data-dir",
                      e->dir,
                      "--odeus-base-url",
                      (char *)mock_odeus_url(e->mock),
                      "--odeus-groups",
                      "mirror",
                      "--odeus-rate-per-sec",
                      "0"};
    int argc = 9;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && argc < 15; i++)
        argv[argc++] = (char *)extra[i];
    assert_int_equal(gw_config_load(&e->config, argc, argv), GW_CONFIG_OK);
    char db[128], err[256];
    snprintf(db, sizeof(db), "%s/gateway.db", e->dir);
    e->store = store_open(db, err, sizeof(err));
    assert_non_null(e->store);
}

static void env_teardown(env_t *e)
{
    store_close(e->store);
    gw_config_clear(&e->config);
    mock_odeus_stop(e->mock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
}

static void test_sync_batches_and_resends(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, (const char *const[]){"--pending-invitee-recheck-interval", "1", NULL});
    mock_odeus_t *mock = e.mock;
    store_t *s = e.store;

    /* the directory: one group of MEMBERS users holding their seats; the Odeus group exists, empty */
    store_group_t g = {.id = "g1",
                       .display_name = "Eng",
                       .created = "2026-01-01T00:00:00Z",
                       .last_modified = "2026-01-01T00:00:00Z",
                       .version = 1,
                       .resource = "{\"displayName\":\"Eng\"}"};
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(store_group_insert(s, &g), STORE_OK);
    for (int i = 0; i < MEMBERS; i++) {
        char id[32], email[64];
        snprintf(id, sizeof(id), "u%03d", i);
        snprintf(email, sizeof(email), "user%03d@example.com", i);
        store_user_t u = {.id = id,
                          .user_name = email,
                          .odeus_email = email,
                          .active = 1,
                          .seat_held = 1,
                          .created = "2026-01-01T00:00:00Z",
                          .last_modified = "2026-01-01T00:00:00Z",
                          .version = 1,
                          .resource = "{}"};
        int added;
        assert_int_equal(store_user_insert(s, &u), STORE_OK);
        assert_int_equal(store_group_member_add(s, "g1", id, &added), STORE_OK);
        if (i < MEMBERS - INVITEES)
            mock_odeus_add_member(mock, email, NULL);
    }
    char odeus_id[64];
    mock_odeus_group_create(mock, "Eng", 0, odeus_id, sizeof(odeus_id));
    store_mirror_group_t mg = {.group_id = "g1", .odeus_id = odeus_id, .state = STORE_MIRROR_LIVE, .updated_ms = now_ms()};
    assert_int_equal(store_mirror_group_put(s, &mg), STORE_OK);
    store_outbox_t row = {
        .user_id = "g1", .action = "group_members", .email = "group:g1", .created_at_ms = now_ms(), .next_attempt_ms = now_ms()};
    assert_int_equal(store_outbox_insert(s, &row, NULL), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);

    char err[256];
    gw_outbox_t *ob = gw_outbox_start(&e.config, err, sizeof(err));
    assert_non_null(ob);
    int64_t until = now_ms() + 10000;
    while (mock_members(mock) != MEMBERS - INVITEES && now_ms() < until)
        sleep_ms(20);
    assert_int_equal(mock_members(mock), MEMBERS - INVITEES);
    /* 250, then the rest: two calls; the not-found addresses are not sent again at once */
    assert_int_equal(add_calls(mock), 2);

    /* the invitees join: their re-send lands within the interval */
    for (int i = MEMBERS - INVITEES; i < MEMBERS; i++) {
        char email[64];
        snprintf(email, sizeof(email), "user%03d@example.com", i);
        mock_odeus_add_member(mock, email, NULL);
    }
    until = now_ms() + 10000;
    while (mock_members(mock) != MEMBERS && now_ms() < until)
        sleep_ms(20);
    assert_int_equal(mock_members(mock), MEMBERS);
    /* one re-send per interval: more than one only if this thread was slower than the interval */
    assert_true(add_calls(mock) >= 3);
    gw_outbox_stop(ob, 1000);
    env_teardown(&e);
}

static int64_t queue_row(store_t *s, const char *group_id, const char *action, const char *name)
{
    int64_t id = 0;
    char seat[64];
    snprintf(seat, sizeof(seat), "group:%s", group_id);
    store_outbox_t row = {.user_id = (char *)group_id,
                          .action = (char *)action,
                          .email = seat,
                          .role = (char *)name,
                          .created_at_ms = now_ms(),
                          .next_attempt_ms = now_ms()};
    assert_int_equal(store_outbox_insert(s, &row, &id), STORE_OK);
    return id;
}

static store_mirror_state_t mirror_state(store_t *s, const char *group_id)
{
    store_mirror_group_t g;
    store_status_t rc = store_mirror_group_get(s, group_id, &g);
    store_mirror_state_t state = rc == STORE_OK ? g.state : (store_mirror_state_t)-1;
    store_mirror_group_clear(&g);
    return state;
}

/*
 * A name still held by the Odeus group of another mirrored SCIM group (deleted or renamed in the
 * directory, its call not out yet) makes a create wait, not end in a conflict; once the other
 * group is gone the create goes through.
 */
static void test_name_held_by_another_mirror(void **state)
{
    (void)state;
    env_t e;
    env_setup(&e, NULL);
    mock_odeus_t *mock = e.mock;
    store_t *s = e.store;
    for (const char *const *id = (const char *const[]){"old", "new", NULL}; *id != NULL; id++) {
        store_mirror_group_t mg = {.group_id = (char *)*id, .state = STORE_MIRROR_PENDING, .updated_ms = now_ms()};
        assert_int_equal(store_mirror_group_put(s, &mg), STORE_OK);
    }
    queue_row(s, "old", "group_create", "Eng");
    char err[256];
    gw_outbox_t *ob = gw_outbox_start(&e.config, err, sizeof(err));
    assert_non_null(ob);
    int64_t until = now_ms() + 10000;
    while (mirror_state(s, "old") != STORE_MIRROR_LIVE && now_ms() < until)
        sleep_ms(20);
    assert_int_equal(mirror_state(s, "old"), STORE_MIRROR_LIVE);

    int64_t create = queue_row(s, "new", "group_create", "ENG");
    gw_outbox_kick(ob);
    until = now_ms() + 10000;
    store_outbox_t row = {0};
    for (;;) {
        store_outbox_clear(&row);
        assert_int_equal(store_outbox_get(s, create, &row), STORE_OK);
        if ((row.outcome != NULL && strcmp(row.outcome, "name_held") == 0) || now_ms() > until)
            break;
        sleep_ms(20);
    }
    assert_string_equal(row.outcome, "name_held");
    assert_int_equal(row.state, STORE_OUTBOX_PENDING);
    store_outbox_clear(&row);
    assert_int_equal(mirror_state(s, "new"), STORE_MIRROR_PENDING);

    queue_row(s, "old", "group_delete", NULL);
    gw_outbox_kick(ob);
    until = now_ms() + 15000;
    while (mirror_state(s, "new") != STORE_MIRROR_LIVE && now_ms() < until)
        sleep_ms(50);
    assert_int_equal(mirror_state(s, "new"), STORE_MIRROR_LIVE);
    assert_int_equal((int)mirror_state(s, "old"), -1);
    char *text = mock_odeus_groups_json(mock);
    assert_non_null(strstr(text, "\"name\":\"ENG\""));
    assert_null(strstr(text, "\"name\":\"Eng\""));
    free(text);
    gw_outbox_stop(ob, 1000);
    env_teardown(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_batches_and_resends),
        cmocka_unit_test(test_name_held_by_another_mirror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
