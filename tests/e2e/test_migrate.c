/*
 * `odeus-scim-gateway migrate`: a SQLite data directory a gateway filled (users, a group with
 * members, outbox rows done, failed, superseded and pending) is copied to a database on the
 * throwaway PostgreSQL (MIGRATE_PG_URL_FILE: its maintenance database's URL); a gateway on the
 * copy answers the same reads and delivers the pending rows. A non-empty target is refused
 * without --force; --force gives the same target again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>

#include "harness.h"
#include "mock/mock_odeus.h"

/* The throwaway server's maintenance URL. */
static void server_url(char *buf, size_t len)
{
    const char *file = getenv("MIGRATE_PG_URL_FILE");
    assert_non_null(file);
    FILE *f = fopen(file, "r");
    if (f == NULL || fgets(buf, (int)len, f) == NULL)
        fail_msg("MIGRATE_PG_URL_FILE=%s: cannot read it (did the pg_server fixture start?)", file);
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
}

static void pg_admin(const char *server, const char *sql)
{
    PGconn *c = PQconnectdb(server);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("PostgreSQL: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* The password of a postgresql://user:password@host URL (the throwaway server's has one). */
static void url_password(const char *url, char *out, size_t len)
{
    const char *user = strstr(url, "://") + 3, *colon = strchr(user, ':'), *at = strchr(user, '@');
    assert_true(colon != NULL && at != NULL && colon < at);
    snprintf(out, len, "%.*s", (int)(at - colon - 1), colon + 1);
    assert_true(strlen(out) >= 8);
}

/* A GET's body with this gateway's port taken out (locations name it), as malloc'd text. */
static char *get_normalized(gw_proc_t *gw, const char *path)
{
    http_resp_t r;
    scim(gw, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    char port[32];
    snprintf(port, sizeof(port), "127.0.0.1:%d", gw->port);
    char *out = calloc(1, strlen(r.body) + 1);
    const char *from = r.body;
    for (const char *hit; (hit = strstr(from, port)) != NULL; from = hit + strlen(port)) {
        strncat(out, from, (size_t)(hit - from));
        strcat(out, "HOST");
    }
    strcat(out, from);
    http_resp_clear(&r);
    return out;
}

static void patch_active(gw_proc_t *gw, const char *id, int active)
{
    char path[128], body[256];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", id);
    snprintf(body, sizeof(body),
             "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
             "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":%s}}]}",
             active ? "true" : "false");
    http_resp_t r;
    scim(gw, "PATCH", path, body, &r); /* Odeus may be down: 200 or 503, the change is queued either way */
    assert_true(r.status == 200 || r.status == 204 || r.status == 503);
    http_resp_clear(&r);
}

static json_int_t stat_of(const char *store_arg, const char *key)
{
    static char out[65536];
    assert_int_equal(harness_cli(out, sizeof(out), 0, "outbox stats --json %s", store_arg), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    json_int_t v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

static char *outbox_all(const char *store_arg)
{
    static char out[1 << 20];
    assert_int_equal(harness_cli(out, sizeof(out), 0, "outbox list --state all --limit 10000 --json %s", store_arg), 0);
    assert_non_null(strstr(out, "\"id\""));
    return strdup(out);
}

static void test_migrate_sqlite_to_postgres(void **state)
{
    gw_fixture_t *f = *state;
    const char *dir = f->dir;
    char src_arg[600], users_path[] = "/scim/v2/Users?count=100", groups_path[] = "/scim/v2/Groups?count=100";
    snprintf(src_arg, sizeof(src_arg), "--database sqlite:%s/gateway.db", dir);

    /* delivered: three invites, and a group holding two of them */
    char *done[3];
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"userName\":\"done%d@example.com\",\"active\":true,\"displayName\":\"Done %d\","
                 "\"emails\":[{\"value\":\"done%d@example.com\",\"primary\":true},{\"value\":\"alt%d@example.com\"}]}",
                 i, i, i, i);
        done[i] = create_user(&f->gw, body);
    }
    char group[512];
    snprintf(group, sizeof(group),
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Engineering\","
             "\"members\":[{\"value\":\"%s\"},{\"value\":\"%s\"}]}",
             done[0], done[1]);
    http_resp_t r;
    scim(&f->gw, "POST", "/scim/v2/Groups", group, &r);
    assert_int_equal(r.status, 201);
    http_resp_clear(&r);
    WAIT_FOR_EVERY(gw_drain(&f->gw) && stat_of(src_arg, "pending") == 0, 20000, 100);

    /* Odeus down: a deactivation stays pending; an invite superseded by a deactivation; an invite dropped (failed) */
    mock_odeus_set_default(f->mock, MOCK_500);
    patch_active(&f->gw, done[2], 0);
    char *superseded = create_user(&f->gw, "{\"userName\":\"gone@example.com\",\"active\":true}");
    patch_active(&f->gw, superseded, 0);
    char *dropped = create_user(&f->gw, "{\"userName\":\"dropped@example.com\",\"active\":true}");
    char *waiting = create_user(&f->gw, "{\"userName\":\"waiting@example.com\",\"active\":true}");
    char *users_before = get_normalized(&f->gw, users_path), *groups_before = get_normalized(&f->gw, groups_path);
    assert_int_equal(gw_stop(&f->gw), 0);
    char text[65536];
    char *listed = outbox_all(src_arg);
    json_t *rows = json_loads(listed, 0, NULL);
    free(listed);
    json_int_t drop_id = 0, max_id = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_int_t id = json_integer_value(json_object_get(row, "id"));
        max_id = id > max_id ? id : max_id;
        if (strcmp(json_string_value(json_object_get(row, "user_id")), dropped) == 0)
            drop_id = id;
    }
    json_decref(rows);
    assert_true(drop_id > 0);
    assert_int_equal(harness_cli(text, sizeof(text), 0, "outbox drop %lld --yes %s", (long long)drop_id, src_arg), 0);
    assert_int_equal(stat_of(src_arg, "pending"), 3); /* done2's and gone's deactivations, waiting's invite */
    assert_int_equal(stat_of(src_arg, "done"), 3);
    assert_int_equal(stat_of(src_arg, "failed"), 1);
    assert_int_equal(stat_of(src_arg, "superseded"), 1);
    char *outbox_before = outbox_all(src_arg);
    json_t *all = json_loads(outbox_before, 0, NULL);
    char copied[128];
    snprintf(copied, sizeof(copied), "1 groups (2 memberships), %zu outbox rows", json_array_size(all));
    json_decref(all);

    /* the target: a fresh database on the throwaway server */
    char server[512], target[700], pg_arg[800], password[128], sql[128];
    server_url(server, sizeof(server));
    url_password(server, password, sizeof(password));
    char name[64];
    snprintf(name, sizeof(name), "gw_migrate_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    pg_admin(server, sql);
    snprintf(target, sizeof(target), "%.*s/%s", (int)(strrchr(server, '/') - server), server, name);
    snprintf(pg_arg, sizeof(pg_arg), "--database '%s'", target);

    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:%s/gateway.db --to '%s'", dir, target), 0);
    assert_non_null(strstr(text, "migrated sqlite:"));
    assert_non_null(strstr(text, ": 6 users ("));
    assert_non_null(strstr(text, copied));
    assert_null(strstr(text, password));
    char *outbox_after = outbox_all(pg_arg);
    assert_string_equal(outbox_after, outbox_before); /* ids, states, attempts, outcomes, batches */
    free(outbox_after);

    /* a second run finds data there: refused, nothing changed, the password never shown */
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:%s/gateway.db --to '%s'", dir, target), 3);
    assert_non_null(strstr(text, "not empty"));
    assert_non_null(strstr(text, "--force"));
    assert_null(strstr(text, password));
    /* the target from the environment's secret file, as in a pod; --force: the same target again */
    char url_file[300];
    snprintf(url_file, sizeof(url_file), "%s/target-url", dir);
    FILE *uf = fopen(url_file, "w");
    assert_non_null(uf);
    fprintf(uf, "%s\n", target);
    assert_int_equal(fclose(uf), 0);
    setenv("GATEWAY_DATABASE_URL_FILE", url_file, 1);
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:%s/gateway.db --force", dir), 0);
    unsetenv("GATEWAY_DATABASE_URL_FILE");
    assert_null(strstr(text, password));
    outbox_after = outbox_all(pg_arg);
    assert_string_equal(outbox_after, outbox_before);
    free(outbox_after);
    /* a missing source file is refused, not created empty (which --force would copy over the target) */
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:%s/nope.db --to '%s' --force", dir, target), 1);
    assert_int_equal(stat_of(pg_arg, "done"), 3);

    /* a gateway on the copy: the same reads; it delivers the pending rows; new rows come after the copied ones */
    char dir2[64];
    harness_tmpdir(dir2, sizeof(dir2));
    mock_odeus_set_default(f->mock, MOCK_OK);
    size_t deactivations = mock_odeus_count(f->mock, "/deactivate-user");
    gw_proc_t gw2;
    const char *extra[] = {"--database", target, NULL};
    gw_start(&gw2, dir2, mock_odeus_url(f->mock), extra);
    char *users_after = get_normalized(&gw2, users_path), *groups_after = get_normalized(&gw2, groups_path);
    assert_string_equal(users_after, users_before);
    assert_string_equal(groups_after, groups_before);
    WAIT_FOR_EVERY(gw_drain(&gw2) && stat_of(pg_arg, "pending") == 0, 20000, 100);
    assert_true(mock_odeus_count(f->mock, "/deactivate-user") >= deactivations + 1);
    char *fresh = create_user(&gw2, "{\"userName\":\"fresh@example.com\",\"active\":true}");
    WAIT_FOR_EVERY(gw_drain(&gw2) && stat_of(pg_arg, "pending") == 0, 20000, 100);
    listed = outbox_all(pg_arg);
    rows = json_loads(listed, 0, NULL);
    free(listed);
    json_int_t fresh_id = 0;
    json_array_foreach(rows, i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "user_id")), fresh) == 0)
            fresh_id = json_integer_value(json_object_get(row, "id"));
    }
    json_decref(rows);
    assert_true(fresh_id > max_id);
    assert_int_equal(gw_stop(&gw2), 0);
    free(gw2.log);
    harness_rmdir(dir2);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", name);
    pg_admin(server, sql);

    free(fresh);
    free(users_after);
    free(groups_after);
    free(users_before);
    free(groups_before);
    free(outbox_before);
    free(superseded);
    free(dropped);
    free(waiting);
    for (int k = 0; k < 3; k++)
        free(done[k]);
    /* the fixture's teardown stops f->gw: give it a running gateway on the source again */
    free(f->gw.log);
    gw_start(&f->gw, dir, mock_odeus_url(f->mock), NULL);
}

static void test_migrate_usage(void **state)
{
    (void)state;
    char text[4096];
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --to postgres://u:s3cretpw@127.0.0.1:1/x"), 2);
    assert_non_null(strstr(text, "--from"));
    /* an unknown argument is not echoed: it may be a URL with its password */
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:/tmp/x.db postgres://u:s3cretpw@127.0.0.1:1/x"), 2);
    assert_null(strstr(text, "s3cretpw"));
    /* an unreachable target: a failure that names the database without its password */
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    char db[128];
    snprintf(db, sizeof(db), "%s/src.db", dir);
    FILE *touch = fopen(db, "w");
    assert_non_null(touch);
    assert_int_equal(fclose(touch), 0);
    assert_int_equal(harness_cli(text, sizeof(text), 1, "migrate --from sqlite:%s --to postgres://u:s3cretpw@127.0.0.1:1/x", db),
                     1);
    assert_non_null(strstr(text, "127.0.0.1:1/x"));
    assert_null(strstr(text, "s3cretpw"));
    harness_rmdir(dir);
}

static int setup(void **state)
{
    return gw_fixture_setup(state, NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_usage),
        cmocka_unit_test_setup_teardown(test_migrate_sqlite_to_postgres, setup, gw_fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
