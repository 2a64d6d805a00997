/*
 * gateway/outbox, batch building and splitting: the delivery loop against a real store file and
 * the mock Odeus, with the rows written before it starts so that its first scan finds them all
 * due. Batches are filled up to --odeus-invite-batch, one row per seat, only a seat's oldest
 * row; a whole-batch 400 is halved until the refused address is alone. As
 * test_gateway_outbox_batch_pg, on a fresh database of the throwaway PostgreSQL (store/test_db.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "gateway/config.h"
#include "gateway/outbox.h"
#include "mock/mock_odeus.h"
#include "store/store.h"
#include "store/test_db.h"

typedef struct fx {
    char dir[64];
    char db[512];
    mock_odeus_t *mock;
    gw_config_t config;
    store_t *store;
} fx_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh data directory, a mock Odeus and a configuration with `batch` invites per call. */
static fx_t *fx_new(const char *batch)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/gw-outbox-batch-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char file[128];
    snprintf(file, sizeof(file), "%s/gateway.db", f->dir);
    test_db_fresh(f->db, sizeof(f->db), file);
    f->mock = mock_odeus_start();
    assert_non_null(f->mock);
    setenv("SCIM_TOKEN", "a-token-long-enough-for-the-gateway", 1);
    setenv("ODEUS_API_KEY", "test-odeus-key-fedcba9876543210", 1);
    unsetenv("SCIM_TOKEN_FILE");
    unsetenv("ODEUS_API_KEY_FILE");
    char *argv[] = {"odeus-scim-gateway",
                    "--data-dir",
                    f->dir,
                    "--odeus-base-url",
                    (char *)mock_odeus_url(f->mock),
                    "--odeus-invite-batch",
                    (char *)batch,
                    "--odeus-rate-per-sec",
                    "0",
                    test_db_pg() ? "--database" : NULL,
                    f->db,
                    NULL};
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    assert_int_equal(gw_config_load(&f->config, argc, argv), GW_CONFIG_OK);
    char err[256];
    f->store = store_open(f->db, err, sizeof(err));
    if (f->store == NULL)
        fail_msg("store_open: %s", err);
    return f;
}

static void fx_free(fx_t *f)
{
    store_close(f->store);
    test_db_drop(f->db);
    gw_config_clear(&f->config);
    mock_odeus_stop(f->mock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

static int64_t queue(fx_t *f, const char *user_id, const char *action, const char *email)
{
    int64_t now = now_ms(), id = 0;
    store_outbox_t row = {.user_id = (char *)user_id,
                          .action = (char *)action,
                          .email = (char *)email,
                          .role = strcmp(action, "invite") == 0 ? (char *)"member" : NULL,
                          .created_at_ms = now,
                          .next_attempt_ms = now};
    assert_int_equal(store_outbox_insert(f->store, &row, &id), STORE_OK);
    return id;
}

/* Starts the delivery loop and waits until nothing is pending, then stops it. */
static void deliver_all(fx_t *f)
{
    char err[256] = "";
    gw_outbox_t *ob = gw_outbox_start(&f->config, err, sizeof(err));
    if (ob == NULL)
        fail_msg("gw_outbox_start: %s", err);
    gw_outbox_kick(ob);
    size_t pending = 1;
    for (int i = 0; i < 1000 && pending > 0; i++) {
        assert_int_equal(store_outbox_pending_count(f->store, &pending), STORE_OK);
        struct timespec ts = {0, 10 * 1000 * 1000};
        if (pending > 0)
            nanosleep(&ts, NULL);
    }
    gw_outbox_stop(ob, 1000);
    assert_int_equal(pending, 0);
}

static store_outbox_t get_row(fx_t *f, int64_t id)
{
    store_outbox_t row;
    assert_int_equal(store_outbox_get(f->store, id, &row), STORE_OK);
    return row;
}

/* Ten seats' invites at a batch of 4: three calls (4, 4, 2); a seat's deactivation goes first and alone. */
static void test_batches_fill_up_to_the_cap(void **state)
{
    (void)state;
    fx_t *f = fx_new("4");
    int64_t ids[10];
    char email[32], user[24];
    for (int i = 0; i < 10; i++) {
        snprintf(email, sizeof(email), "u%d@example.com", i);
        snprintf(user, sizeof(user), "user-%d", i);
        ids[i] = queue(f, user, "invite", email);
    }
    /* one seat with an invite behind its deactivation: the invite waits for it */
    int64_t deact = queue(f, "user-s", "deactivate", "Seat@example.com");
    int64_t again = queue(f, "user-s", "invite", "seat@EXAMPLE.com");
    deliver_all(f);

    assert_int_equal(mock_odeus_count(f->mock, "/deactivate-user"), 1);
    size_t invites = mock_odeus_count(f->mock, "/invite");
    assert_int_equal(invites, 3 + 1); /* the seat's invite was not yet due at the first scan */
    mock_request_t req;
    int seen_deactivation = 0, sizes[8] = {0};
    size_t n_sizes = 0;
    for (size_t i = 0, n = mock_odeus_count(f->mock, NULL); i < n; i++) {
        assert_int_equal(mock_odeus_get(f->mock, i, &req), 0);
        if (strstr(req.path, "/deactivate-user") != NULL) {
            seen_deactivation = 1;
            continue;
        }
        if (strstr(req.body, "seat@EXAMPLE.com") != NULL)
            assert_true(seen_deactivation);
        assert_true(req.invitees <= 4);
        sizes[n_sizes++] = req.invitees;
    }
    int total = 0;
    for (size_t i = 0; i < n_sizes; i++)
        total += sizes[i];
    assert_int_equal(total, 11);

    /* every row done; the rows of a multi-row call name its first row */
    for (int i = 0; i < 10; i++) {
        store_outbox_t row = get_row(f, ids[i]);
        assert_int_equal(row.state, STORE_OUTBOX_DONE);
        assert_string_equal(row.outcome, "done");
        assert_true(row.batch_id > 0);
        store_outbox_t first = get_row(f, row.batch_id);
        assert_int_equal(first.batch_id, row.batch_id);
        store_outbox_clear(&first);
        store_outbox_clear(&row);
    }
    store_outbox_t d = get_row(f, deact), a = get_row(f, again);
    assert_int_equal(d.state, STORE_OUTBOX_DONE);
    assert_int_equal(d.batch_id, 0);
    assert_int_equal(a.state, STORE_OUTBOX_DONE);
    store_outbox_clear(&d);
    store_outbox_clear(&a);
    fx_free(f);
}

/* --odeus-invite-batch 1: one call per invite, as before batching. */
static void test_batch_of_one_is_off(void **state)
{
    (void)state;
    fx_t *f = fx_new("1");
    char email[32];
    for (int i = 0; i < 5; i++) {
        snprintf(email, sizeof(email), "one%d@example.com", i);
        (void)queue(f, "user-1", "invite", email);
    }
    deliver_all(f);
    assert_int_equal(mock_odeus_count(f->mock, "/invite"), 5);
    mock_request_t req;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(mock_odeus_get(f->mock, i, &req), 0);
        assert_int_equal(req.invitees, 1);
    }
    fx_free(f);
}

/*
 * Eight invites, Odeus refusing any call that carries one of them: 8 -> 4 + 4 -> 2 + 2 -> 1 + 1,
 * seven calls; the culprit's row ends refused, the other seven are done.
 */
static void test_whole_batch_400_is_bisected(void **state)
{
    (void)state;
    fx_t *f = fx_new("8");
    int64_t ids[8];
    char email[32];
    for (int i = 0; i < 8; i++) {
        snprintf(email, sizeof(email), "b%d@example.com", i);
        ids[i] = queue(f, "user-b", "invite", email);
    }
    mock_odeus_set_reject_email(f->mock, "b5@example.com");
    deliver_all(f);

    assert_int_equal(mock_odeus_count(f->mock, "/invite"), 7);
    mock_request_t req;
    assert_int_equal(mock_odeus_get(f->mock, 0, &req), 0);
    assert_int_equal(req.invitees, 8);
    assert_int_equal(req.fault, MOCK_400);
    for (int i = 0; i < 8; i++) {
        store_outbox_t row = get_row(f, ids[i]);
        if (i == 5) {
            assert_int_equal(row.state, STORE_OUTBOX_FAILED);
            assert_string_equal(row.outcome, "refused");
        } else {
            assert_int_equal(row.state, STORE_OUTBOX_DONE);
            assert_int_equal(mock_odeus_member(f->mock, row.email, NULL, 0), MOCK_MEMBER_ACTIVE);
        }
        store_outbox_clear(&row);
    }
    assert_int_equal(mock_odeus_member(f->mock, "b5@example.com", NULL, 0), MOCK_MEMBER_NONE);
    fx_free(f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_fill_up_to_the_cap),
        cmocka_unit_test(test_batch_of_one_is_off),
        cmocka_unit_test(test_whole_batch_400_is_bisected),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
