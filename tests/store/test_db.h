/*
 * Which database a store test runs against. By default a SQLite file of the test's own; with
 * GATEWAY_TEST_DATABASE_URL_FILE (a file holding a postgresql:// URL of a maintenance database,
 * written by tests/pg/pg-throwaway.sh) or GATEWAY_TEST_DATABASE_URL, a fresh PostgreSQL database
 * per test on that server, dropped afterwards. ctest registers each store test both ways
 * (test_store and test_store_pg). A variable that is set but unusable fails the test rather than
 * falling back to SQLite, so that the PostgreSQL variant can never pass without PostgreSQL.
 */
#ifndef TESTS_STORE_TEST_DB_H
#define TESTS_STORE_TEST_DB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The maintenance URL, or "" for SQLite. */
static inline const char *test_db_server(void)
{
    static char url[512];
    static int read_once;
    if (read_once)
        return url;
    read_once = 1;
    const char *direct = getenv("GATEWAY_TEST_DATABASE_URL"), *file = getenv("GATEWAY_TEST_DATABASE_URL_FILE");
    if (direct != NULL && direct[0] != '\0') {
        snprintf(url, sizeof(url), "%s", direct);
    } else if (file != NULL && file[0] != '\0') {
        FILE *f = fopen(file, "r");
        if (f == NULL || fgets(url, sizeof(url), f) == NULL) {
            read_once = 0; /* every test that asks fails: none may fall back to SQLite */
            fail_msg("GATEWAY_TEST_DATABASE_URL_FILE=%s: cannot read it (did the pg_server fixture start?)", file);
        }
        fclose(f);
        url[strcspn(url, "\r\n")] = '\0';
    }
    return url;
}

static inline int test_db_pg(void)
{
    return test_db_server()[0] != '\0';
}

/* Runs `sql` on `url`: 0, or -1 with the server's message printed. */
static inline int test_db_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        print_error("connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        print_message("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* The first column of the first row of `sql` on `url` as a number; -1 when there is none. */
static inline long long test_db_scalar(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

/*
 * A fresh database for one test: on PostgreSQL a new database on the server, its URL in `out`;
 * on SQLite `sqlite_path` itself.
 */
static inline void test_db_fresh(char *out, size_t len, const char *sqlite_path)
{
    if (!test_db_pg()) {
        snprintf(out, len, "%s", sqlite_path);
        return;
    }
    static int counter;
    char name[64], sql[128];
    snprintf(name, sizeof(name), "gwt_%ld_%d", (long)getpid(), ++counter);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    if (test_db_exec(test_db_server(), sql) != 0)
        fail_msg("cannot create a test database on the throwaway PostgreSQL");
    const char *server = test_db_server();
    const char *slash = strrchr(server, '/');
    assert_non_null(slash);
    int n = snprintf(out, len, "%.*s/%s", (int)(slash - server), server, name);
    assert_true(n > 0 && (size_t)n < len);
}

/* Drops a database test_db_fresh made (nothing on SQLite: the test's directory goes). */
static inline void test_db_drop(const char *url)
{
    if (!test_db_pg())
        return;
    const char *name = strrchr(url, '/');
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name + 1);
    assert_int_equal(test_db_exec(test_db_server(), sql), 0);
}

#endif
