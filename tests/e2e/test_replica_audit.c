/*
 * The audit log per replica (README, "High availability"). On PostgreSQL (the _pg variant) two
 * gateways share one database and one data directory, as replicas with a shared volume would:
 * each writes its own chain, DATA_DIR/audit-NAME.jsonl, and each verifies on its own. On SQLite
 * the log stays DATA_DIR/audit.jsonl whatever the replica's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "mock/mock_odeus.h"

static int verify(const char *file)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s audit verify '%s' >/dev/null 2>&1", getenv("GATEWAY_BIN"), file);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * The number of lines of `file` that contain `needle`, leaving out the outcomes of Odeus calls
 * (whichever replica delivers a row records them); 0 when it does not exist.
 */
static int lines_with(const char *file, const char *needle)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL && strstr(line, "odeus_result") == NULL;
    fclose(f);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_one_chain_per_replica(void **state)
{
    (void)state;
    char dir[64], path_a[160], path_b[160], shared[160];
    harness_tmpdir(dir, sizeof(dir));
    const char *pg = getenv("GATEWAY_TEST_DATABASE_URL_FILE");
    int on_pg = pg != NULL && pg[0] != '\0';
    mock_odeus_t *mock = mock_odeus_start();
    snprintf(path_a, sizeof(path_a), "%s/audit-replica-a.jsonl", dir);
    snprintf(path_b, sizeof(path_b), "%s/audit-replica-b.jsonl", dir);
    snprintf(shared, sizeof(shared), "%s/audit.jsonl", dir);

    gw_proc_t a, b;
    gw_start(&a, dir, mock_odeus_url(mock), (const char *const[]){"--replica-name", "replica-a", NULL});
    WAIT_FOR(gw_log_has(&a, "\"replica\":\"replica-a\""), 5000);
    if (!on_pg) {
        /* SQLite: one writer, the one log it always had */
        char *id = create_user(&a, "{\"userName\":\"solo@example.com\",\"active\":true}");
        assert_int_equal(gw_stop(&a), 0);
        assert_true(lines_with(shared, id) >= 1);
        assert_false(exists(path_a));
        assert_int_equal(verify(shared), 0);
        free(id);
        free(a.log);
        mock_odeus_stop(mock);
        harness_rmdir(dir);
        return;
    }
    gw_start(&b, dir, mock_odeus_url(mock), (const char *const[]){"--replica-name", "replica-b", NULL});
    char *ids[4];
    for (int i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"userName\":\"r%d@example.com\",\"active\":true}", i);
        ids[i] = create_user(i % 2 == 0 ? &a : &b, body);
    }
    /* a change made on one replica to a user created on the other is audited by the one that made it */
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", ids[0]);
    http_resp_t r;
    scim(&b, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    http_resp_clear(&r);
    assert_int_equal(gw_stop(&a), 0);
    assert_int_equal(gw_stop(&b), 0);

    assert_false(exists(shared));
    for (int i = 0; i < 4; i++) {
        assert_true(lines_with(i % 2 == 0 ? path_a : path_b, ids[i]) >= 1);
        /* the request's own entries are in its replica's file only; the delete of ids[0] went to b */
        assert_int_equal(lines_with(i % 2 == 0 ? path_b : path_a, ids[i]) > 0, i == 0);
    }
    assert_int_equal(verify(path_a), 0);
    assert_int_equal(verify(path_b), 0);

    /* a restarted replica of the same name continues its chain */
    free(a.log);
    gw_start(&a, dir, mock_odeus_url(mock), (const char *const[]){"--replica-name", "replica-a", NULL});
    char *more = create_user(&a, "{\"userName\":\"again@example.com\",\"active\":true}");
    assert_int_equal(gw_stop(&a), 0);
    assert_true(lines_with(path_a, more) >= 1);
    assert_int_equal(verify(path_a), 0);

    /* without a name, the host's */
    char path_host[512];
    harness_audit_path(dir, path_host, sizeof(path_host));
    free(a.log);
    gw_start(&a, dir, mock_odeus_url(mock), NULL);
    char *last = create_user(&a, "{\"userName\":\"host@example.com\",\"active\":true}");
    assert_int_equal(gw_stop(&a), 0);
    assert_true(lines_with(path_host, last) >= 1);

    for (int i = 0; i < 4; i++)
        free(ids[i]);
    free(more);
    free(last);
    free(a.log);
    free(b.log);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_chain_per_replica)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
