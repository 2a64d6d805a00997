/*
 * The operator commands `odeus-scim-gateway outbox list|stats|retry|drop` against a real data
 * directory the gateway left rows in.
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

static json_t *cli_json(const char *dir, const char *what)
{
    static char out[65536];
    assert_int_equal(harness_cli(out, sizeof(out), 0, "outbox %s --json %s", what, harness_store_arg(dir)), 0);
    json_t *j = json_loads(out, 0, NULL);
    if (j == NULL)
        fail_msg("outbox %s --json printed no JSON: %s", what, out);
    return j;
}

static json_int_t stat_of(const char *dir, const char *key)
{
    json_t *stats = cli_json(dir, "stats");
    json_int_t v = json_integer_value(json_object_get(stats, key));
    json_decref(stats);
    return v;
}

/* `outbox stats` through --database sqlite:DIR/gateway.db: its exit code */
static int stat_of_url(const char *dir)
{
    static char out[65536];
    return harness_cli(out, sizeof(out), 0, "outbox stats --json --database sqlite:%s/gateway.db", dir);
}

static void test_outbox_commands(void **state)
{
    gw_fixture_t *f = *state;
    const char *dir = f->dir;
    http_resp_t r;

    /* Odeus is down: the invite and then the deactivation stay queued. */
    mock_odeus_set_default(f->mock, MOCK_500);
    char *id = create_user(&f->gw, "{\"userName\":\"queued@example.com\",\"active\":true}");
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    scim(&f->gw, "PATCH", path,
         "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
         "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}",
         &r);
    assert_scim_error(&r, 503, NULL);
    http_resp_clear(&r);
    assert_int_equal(gw_stop(&f->gw), 0);

    /* The newer deactivation superseded the undelivered invite. */
    assert_int_equal(stat_of(dir, "pending"), 1);
    assert_int_equal(stat_of(dir, "pending_deactivations"), 1);
    assert_int_equal(stat_of(dir, "superseded"), 1);
    json_t *rows = cli_json(dir, "list --state pending");
    assert_int_equal(json_array_size(rows), 1);
    json_t *row = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(row, "action")), "deactivate");
    assert_string_equal(json_string_value(json_object_get(row, "user_id")), id);
    assert_true(json_integer_value(json_object_get(row, "attempts")) >= 1);
    json_int_t row_id = json_integer_value(json_object_get(row, "id"));
    json_decref(rows);
    char text[4096];
    assert_int_equal(harness_cli(text, sizeof(text), 0, "outbox list %s", harness_store_arg(dir)), 0);
    assert_non_null(strstr(text, "deactivate"));

    /* drop needs --yes: a dropped deactivation means a person keeps access. */
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox drop %lld %s", (long long)row_id, harness_store_arg(dir)), 2);
    assert_int_equal(stat_of(dir, "pending"), 1);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox drop 999999 --yes %s", harness_store_arg(dir)), 1);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox frobnicate %s", harness_store_arg(dir)), 2);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox retry %lld %s", (long long)row_id, harness_store_arg(dir)), 0);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox drop %lld --yes %s", (long long)row_id, harness_store_arg(dir)), 0);
    assert_int_equal(stat_of(dir, "pending"), 0);
    assert_int_equal(stat_of(dir, "failed"), 1);
    rows = cli_json(dir, "list --state failed");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "outcome")), "dropped");
    json_decref(rows);

    /* retry brings a failed row back, and a running gateway delivers it. */
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox retry --all-failed %s", harness_store_arg(dir)), 0);
    assert_int_equal(stat_of(dir, "pending"), 1);
    mock_odeus_set_default(f->mock, MOCK_OK);
    free(f->gw.log); /* gw_start starts a fresh gw_proc_t */
    gw_start(&f->gw, dir, mock_odeus_url(f->mock), NULL);
    WAIT_FOR_EVERY(gw_drain(&f->gw) && stat_of(dir, "pending") == 0, 20000, 100);
    assert_true(mock_odeus_count(f->mock, "/deactivate-user") >= 1);

    /* A wrong data directory is refused, not silently created. */
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox stats --data-dir %s/nope", dir), 1);
    /* --database names the same file as a URL (SQLite runs); a URL that is none is a usage error, and so is a bare path */
    char url[600];
    if (harness_database(dir, url, sizeof(url)) == NULL)
        assert_int_equal(stat_of_url(dir), 0);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox stats --database sqlite:%s/nope/gateway.db", dir), 1);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox stats --database %s/gateway.db", dir), 2);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox stats --database mysql://localhost/gw"), 2);
    setenv("GATEWAY_DATABASE_URL", "sqlite:", 1);
    assert_int_equal(harness_cli(NULL, 0, 0, "outbox stats"), 2);
    unsetenv("GATEWAY_DATABASE_URL");
    free(id);
}

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox_commands, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
