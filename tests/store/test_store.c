/*
 * Black-box tests of the store through store/store.h, against real SQLite files in a fresh temporary
 * directory, or (test_store_pg) a fresh database of a throwaway PostgreSQL server (tests/store/test_db.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/test_db.h"

/* The schema version a new database gets (store/sqlite_db.c, migrations[]). */
#define SCHEMA_NOW 9

typedef struct fixture {
    char dir[64];
    char path[512]; /* the SQLite file, or the PostgreSQL database's URL */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char file[128];
    snprintf(file, sizeof(file), "%s/gateway.db", f->dir);
    test_db_fresh(f->path, sizeof(f->path), file);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    test_db_drop(f->path);
    assert_int_equal(nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(f);
    return 0;
}

static store_t *open_ok(const char *path)
{
    char err[256] = "";
    store_t *s = store_open(path, err, sizeof(err));
    if (s == NULL)
        fail_msg("store_open(%s): %s", path, err);
    return s;
}

/* A user with every field set; `emails` may be NULL. */
static store_user_t make_user(const char *id, const char *user_name, const char **emails, size_t n_emails)
{
    store_user_t u = {
        .id = (char *)id,
        .user_name = (char *)user_name,
        .external_id = "ext-1",
        .odeus_email = "odeus@example.com",
        .active = 1,
        .seat_held = 1,
        .created = "2026-01-02T03:04:05Z",
        .last_modified = "2026-01-02T03:04:05Z",
        .version = 1,
        .resource = "{\"userName\":\"x\"}",
        .rendered = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"x\",\"active\":true}",
        .emails = emails,
        .n_emails = n_emails,
    };
    return u;
}

static void insert_user(store_t *s, const char *id, const char *user_name)
{
    store_user_t u = make_user(id, user_name, NULL, 0);
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
}

/* Collects the ids a scan visits, comma-separated, for one assert_string_equal. */
typedef struct collect {
    char ids[1024];
    int stop_after; /** 0: never stop */
    int seen;
} collect_t;

static int on_user_collect(void *ctx, const store_user_t *u)
{
    collect_t *c = ctx;
    if (c->ids[0] != '\0')
        strcat(c->ids, ",");
    strcat(c->ids, u->id);
    c->seen++;
    return c->stop_after != 0 && c->seen >= c->stop_after;
}

static const char *scan_ids(store_t *s, store_index_t index, const char *value, collect_t *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(store_user_scan(s, index, value, on_user_collect, c), STORE_OK);
    return c->ids;
}

static const char *page_ids(store_t *s, size_t offset, size_t limit, collect_t *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(store_user_page(s, offset, limit, on_user_collect, c), STORE_OK);
    return c->ids;
}

/* Queues a row of `user_id` for seat `email`. */
static int64_t outbox_add_seat(store_t *s, const char *user_id, const char *email, const char *action, int64_t next_attempt_ms)
{
    store_outbox_t row = {
        .user_id = (char *)user_id,
        .action = (char *)action,
        .email = (char *)email,
        .created_at_ms = 1000,
        .next_attempt_ms = next_attempt_ms,
        .result_version = 1,
    };
    int64_t id = 0;
    assert_int_equal(store_outbox_insert(s, &row, &id), STORE_OK);
    assert_true(id > 0);
    return id;
}

/* Queues a row of `user_id` for its own seat, <user_id>@example.com. */
static int64_t outbox_add(store_t *s, const char *user_id, const char *action, int64_t next_attempt_ms)
{
    char email[128];
    snprintf(email, sizeof(email), "%s@example.com", user_id);
    return outbox_add_seat(s, user_id, email, action, next_attempt_ms);
}

/* Calls store_outbox_due and writes the returned ids, comma-separated, into `buf`. */
static const char *due_ids(store_t *s, int64_t now, const int64_t *skip, size_t n_skip, size_t max, char *buf, size_t len)
{
    store_outbox_t rows[16];
    size_t n = 99;
    assert_true(max <= 16);
    assert_int_equal(store_outbox_due(s, now, skip, n_skip, rows, max, &n), STORE_OK);
    assert_true(n <= max);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%lld", i ? "," : "", (long long)rows[i].id);
        assert_int_equal(rows[i].state, STORE_OUTBOX_PENDING);
        store_outbox_clear(&rows[i]);
    }
    return buf;
}

/* Runs `sql` on the SQLite file, or `pg_sql` on the PostgreSQL database: 0 (SQLITE_OK) when it worked. */
static int raw_exec2(const char *path, const char *sql, const char *pg_sql)
{
    if (test_db_pg())
        return test_db_exec(path, pg_sql);
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return rc;
}

static int raw_user_version(const char *path)
{
    if (test_db_pg())
        return (int)test_db_scalar(path, "SELECT version FROM store_schema");
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return v;
}

/* Takes a schema 9 database back to schema 8 (the group mirror's tables), a schema 8 one to 7 (the lease
 * columns), and a schema 7 one to 6 (the batch column). */
#define UNDO_SCHEMA_9 "DROP TABLE mirror_members; DROP TABLE mirror_groups;"
#define UNDO_SCHEMA_8                                                                                                              \
    UNDO_SCHEMA_9 "DROP INDEX outbox_lease; ALTER TABLE outbox DROP COLUMN lease_owner; ALTER TABLE outbox DROP COLUMN "           \
                  "lease_until;"
#define UNDO_SCHEMA_7 UNDO_SCHEMA_8 "ALTER TABLE outbox DROP COLUMN batch_id;"
/* Takes a schema 6 database back to schema 5 (what the 5 -> 6 migration added, removed). */
#define UNDO_SCHEMA_6                                                                                                              \
    "DROP INDEX users_display_name; DROP INDEX users_family_name; DROP INDEX users_given_name;"                                    \
    "DROP INDEX users_primary_email; DROP INDEX users_created; DROP INDEX users_last_modified;"                                    \
    "ALTER TABLE users DROP COLUMN display_name; ALTER TABLE users DROP COLUMN family_name;"                                       \
    "ALTER TABLE users DROP COLUMN given_name; ALTER TABLE users DROP COLUMN primary_email;"
/* SQL that takes schema 5 back to 3: groups and the re-sends' call (5), the seat columns and indexes (4) */
#define UNDO_SCHEMA_5_4                                                                                                            \
    "DROP TABLE group_members; DROP TABLE groups; DROP INDEX users_seat; DROP INDEX outbox_seat;"                                  \
    "DROP INDEX outbox_seat_done; DROP INDEX invitee_recheck_seat; ALTER TABLE users DROP COLUMN odeus_role;"                      \
    "ALTER TABLE users DROP COLUMN seat_held;"                                                                                     \
    "ALTER TABLE outbox DROP COLUMN seat; ALTER TABLE outbox DROP COLUMN cause; ALTER TABLE invitee_recheck DROP COLUMN seat;"     \
    "ALTER TABLE invitee_recheck DROP COLUMN action; ALTER TABLE invitee_recheck DROP COLUMN role;"

/* The same undos on PostgreSQL (dropping a column drops its indexes). */
#define PG_UNDO_SCHEMA_8 UNDO_SCHEMA_9 "ALTER TABLE outbox DROP COLUMN lease_owner, DROP COLUMN lease_until;"
#define PG_UNDO_SCHEMA_7 PG_UNDO_SCHEMA_8 "ALTER TABLE outbox DROP COLUMN batch_id;"
#define PG_UNDO_SCHEMA_6                                                                                                           \
    "ALTER TABLE users DROP COLUMN display_name, DROP COLUMN family_name, DROP COLUMN given_name, DROP COLUMN primary_email;"      \
    "DROP INDEX users_created; DROP INDEX users_last_modified;"
#define PG_UNDO_SCHEMA_5_4                                                                                                         \
    "DROP TABLE group_members; DROP TABLE groups; ALTER TABLE users DROP COLUMN odeus_role, DROP COLUMN seat_held;"                \
    "ALTER TABLE outbox DROP COLUMN seat, DROP COLUMN cause;"                                                                      \
    "ALTER TABLE invitee_recheck DROP COLUMN seat, DROP COLUMN action, DROP COLUMN role;"

/* ---- open ------------------------------------------------------------------------------------- */

static void test_open_creates_schema_and_reopen_keeps_data(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_user(s, "id-1", "alice");
    store_close(s);
    assert_int_equal(raw_user_version(f->path), SCHEMA_NOW);

    /* a second open must not re-run the migration (it would fail on CREATE TABLE) */
    s = open_ok(f->path);
    store_user_t u;
    assert_int_equal(store_user_get(s, "id-1", &u), STORE_OK);
    assert_string_equal(u.user_name, "alice");
    store_user_clear(&u);
    size_t n = 0;
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_close(s);
}

static void test_open_newer_schema_fails(void **state)
{
    fixture_t *f = *state;
    store_close(open_ok(f->path));
    assert_int_equal(raw_exec2(f->path, "PRAGMA user_version = 99", "UPDATE store_schema SET version = 99"), SQLITE_OK);
    char err[256] = "";
    assert_null(store_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    /* and the database was left alone */
    assert_int_equal(raw_user_version(f->path), 99);
}

static void test_open_bad_path_fails(void **state)
{
    (void)state;
    char err[256] = "";
    /* on PostgreSQL: a database that does not exist on the server */
    const char *bad = "/nonexistent-dir/x/y.db";
    char url[600];
    if (test_db_pg()) {
        snprintf(url, sizeof(url), "%s", test_db_server());
        strcpy(strrchr(url, '/'), "/no_such_database");
        bad = url;
    }
    assert_null(store_open(bad, err, sizeof(err)));
    assert_true(strlen(err) > 0);
    /* the URL's password is never in the message */
    if (test_db_pg()) {
        const char *user = strstr(url, "://") + 3, *colon = strchr(user, ':'), *at = strchr(user, '@');
        assert_true(colon != NULL && at != NULL && colon < at);
        char password[128];
        snprintf(password, sizeof(password), "%.*s", (int)(at - colon - 1), colon + 1);
        assert_true(strlen(password) > 0);
        assert_null(strstr(err, password));
    }
    /* a NULL buffer is allowed */
    assert_null(store_open(bad, NULL, 0));
}

typedef struct opener {
    const char *path;
    pthread_barrier_t *barrier;
    int ok;
    char err[256];
} opener_t;

static void *open_thread(void *arg)
{
    opener_t *o = arg;
    pthread_barrier_wait(o->barrier);
    store_t *s = store_open(o->path, o->err, sizeof(o->err));
    o->ok = s != NULL;
    store_close(s);
    return NULL;
}

static void test_open_concurrent_first_open(void **state)
{
    fixture_t *f = *state;
    enum { N = 8 };
    /* several rounds on fresh files: the race is between the very first opens */
    for (int round = 0; round < 5; round++) {
        char file[160], path[512];
        snprintf(file, sizeof(file), "%s/fresh-%d.db", f->dir, round);
        test_db_fresh(path, sizeof(path), file);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, N);
        opener_t o[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
            o[i] = (opener_t){.path = path, .barrier = &barrier};
            assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&barrier);
        for (int i = 0; i < N; i++)
            if (!o[i].ok)
                fail_msg("round %d, opener %d: %s", round, i, o[i].err);
        assert_int_equal(raw_user_version(path), SCHEMA_NOW);
        test_db_drop(path);
    }
}

/* ---- users ------------------------------------------------------------------------------------ */

static void test_user_round_trip(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *emails[] = {"work@example.com", "home@example.com"};
    store_user_t in = make_user("0d6f4b8e-1111-4c7a-9f00-000000000001", "Alice@Example.com", emails, 2);
    assert_int_equal(store_user_insert(s, &in), STORE_OK);

    store_user_t out;
    assert_int_equal(store_user_get(s, in.id, &out), STORE_OK);
    assert_string_equal(out.id, in.id);
    assert_string_equal(out.user_name, "Alice@Example.com");
    assert_string_equal(out.external_id, "ext-1");
    assert_string_equal(out.odeus_email, "odeus@example.com");
    assert_int_equal(out.active, 1);
    assert_string_equal(out.created, in.created);
    assert_string_equal(out.last_modified, in.last_modified);
    assert_int_equal(out.version, 1);
    assert_string_equal(out.resource, in.resource);
    assert_string_equal(out.rendered, in.rendered);
    assert_null(out.emails);
    store_user_clear(&out);
    assert_null(out.id);

    /* every column replaced, nullable ones set to NULL */
    store_user_t up = {
        .id = in.id,
        .user_name = "alice2@example.com",
        .external_id = NULL,
        .odeus_email = NULL,
        .active = 0,
        .created = "2026-01-02T03:04:05Z",
        .last_modified = "2026-02-03T04:05:06Z",
        .version = 7,
        .resource = "{\"userName\":\"alice2@example.com\",\"active\":false}",
    };
    assert_int_equal(store_user_update(s, &up), STORE_OK);
    assert_int_equal(store_user_get(s, in.id, &out), STORE_OK);
    assert_string_equal(out.user_name, "alice2@example.com");
    assert_null(out.external_id);
    assert_null(out.odeus_email);
    assert_int_equal(out.active, 0);
    assert_string_equal(out.last_modified, "2026-02-03T04:05:06Z");
    assert_int_equal(out.version, 7);
    assert_string_equal(out.resource, up.resource);
    assert_null(out.rendered); /* not left stale */
    store_user_clear(&out);

    /* update with no emails dropped the old ones from the index */
    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "work@example.com", &c), "");

    assert_int_equal(store_user_delete(s, in.id), STORE_OK);
    assert_int_equal(store_user_get(s, in.id, &out), STORE_NOT_FOUND);
    assert_null(out.id);
    assert_int_equal(store_user_delete(s, in.id), STORE_NOT_FOUND);
    assert_int_equal(store_user_update(s, &up), STORE_NOT_FOUND);
    store_close(s);
}

/*
 * An update that keeps userName, externalId or the emails skips rewriting their index entries;
 * every lookup must still find exactly what the row now says.
 */
static void test_user_update_index_entries(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *two[] = {"a@example.com", "b@example.com"}, *one[] = {"b@example.com"}, *sparse[] = {NULL, "c@example.com"};
    store_user_t u = make_user("u1", "Ann@example.com", two, 2);
    collect_t c;
    assert_int_equal(store_user_insert(s, &u), STORE_OK);

    u.active = 0; /* keys and emails as they are */
    u.version = 2;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    store_user_t out;
    assert_int_equal(store_user_get(s, "u1", &out), STORE_OK);
    assert_int_equal(out.active, 0);
    assert_int_equal(out.version, 2);
    store_user_clear(&out);
    assert_string_equal(scan_ids(s, STORE_SCAN_USERNAME, "ann@example.com", &c), "u1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EXTERNAL_ID, "ext-1", &c), "u1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "a@example.com", &c), "u1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "b@example.com", &c), "u1");

    u.emails = one; /* one email fewer */
    u.n_emails = 1;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "a@example.com", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "b@example.com", &c), "u1");

    u.emails = sparse; /* NULL entries are skipped, as on insert */
    u.n_emails = 2;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "b@example.com", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "c@example.com", &c), "u1");
    assert_int_equal(store_user_update(s, &u), STORE_OK); /* the same again: nothing to rewrite */
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "c@example.com", &c), "u1");

    u.user_name = "ANN@example.com"; /* only the case changes: the stored spelling follows */
    u.external_id = NULL;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_int_equal(store_user_get(s, "u1", &out), STORE_OK);
    assert_string_equal(out.user_name, "ANN@example.com");
    assert_null(out.external_id);
    store_user_clear(&out);
    assert_string_equal(scan_ids(s, STORE_SCAN_EXTERNAL_ID, "ext-1", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_USERNAME, "ann@EXAMPLE.com", &c), "u1");
    store_close(s);
}

/* Remembers the rendered column of the rows a scan or page visits. */
typedef struct collect_rendered {
    char rendered[4][128];
    int null[4];
    int seen;
} collect_rendered_t;

static int on_user_rendered(void *ctx, const store_user_t *u)
{
    collect_rendered_t *c = ctx;
    if (c->seen < 4) {
        c->null[c->seen] = u->rendered == NULL;
        snprintf(c->rendered[c->seen], sizeof(c->rendered[0]), "%s", u->rendered != NULL ? u->rendered : "");
    }
    c->seen++;
    return 0;
}

/* Schema 3: the rendering without meta round-trips through every read, and every write sets it. */
static void test_user_rendered_column(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    store_user_t u = make_user("id-r", "rita", NULL, 0);
    u.rendered = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"id-r\",\"userName\":\"rita\"}";
    assert_int_equal(store_user_insert(s, &u), STORE_OK);

    store_user_t out;
    assert_int_equal(store_user_get(s, "id-r", &out), STORE_OK);
    assert_string_equal(out.rendered, u.rendered);
    store_user_clear(&out);
    assert_null(out.rendered);

    collect_rendered_t c = {0};
    assert_int_equal(store_user_scan(s, STORE_SCAN_USERNAME, "RITA", on_user_rendered, &c), STORE_OK);
    assert_int_equal(c.seen, 1);
    assert_string_equal(c.rendered[0], u.rendered);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_user_page(s, 0, 10, on_user_rendered, &c), STORE_OK);
    assert_int_equal(c.seen, 1);
    assert_string_equal(c.rendered[0], u.rendered);

    /* an update that gives no rendering clears the old one: it would describe the old resource */
    u.rendered = NULL;
    u.resource = "{\"userName\":\"rita\",\"active\":false}";
    u.version = 2;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_int_equal(store_user_get(s, "id-r", &out), STORE_OK);
    assert_null(out.rendered);
    assert_string_equal(out.resource, u.resource);
    store_user_clear(&out);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_user_scan(s, STORE_SCAN_ID, "id-r", on_user_rendered, &c), STORE_OK);
    assert_int_equal(c.seen, 1);
    assert_true(c.null[0]);

    /* and one that gives a rendering sets it again */
    u.rendered = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"id-r\",\"active\":false}";
    u.version = 3;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_user_page(s, 0, 10, on_user_rendered, &c), STORE_OK);
    assert_int_equal(c.seen, 1);
    assert_string_equal(c.rendered[0], u.rendered);
    store_close(s);
}

/* A schema 2 database (before the rendered column) migrates: its rows read with rendered NULL. */
static void test_open_migrates_v2(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_user(s, "id-old", "olga");
    int64_t queued = outbox_add_seat(s, "id-old", "Olga@Example.com", "invite", 0);
    store_close(s);
    /* take it back to schema 2: sort columns (6), groups (5), seat columns and indexes (4), the rendered column (3) */
    assert_int_equal(raw_exec2(f->path,
                               UNDO_SCHEMA_7 UNDO_SCHEMA_6 UNDO_SCHEMA_5_4
                               "ALTER TABLE users DROP COLUMN rendered; PRAGMA user_version = 2",
                               PG_UNDO_SCHEMA_7 PG_UNDO_SCHEMA_6 PG_UNDO_SCHEMA_5_4
                               "ALTER TABLE users DROP COLUMN rendered; UPDATE store_schema SET version = 2"),
                     SQLITE_OK);
    assert_int_equal(raw_user_version(f->path), 2);
    assert_int_not_equal(raw_exec2(f->path, "SELECT rendered FROM users", "SELECT rendered FROM users"), SQLITE_OK);

    s = open_ok(f->path);
    assert_int_equal(raw_user_version(f->path), SCHEMA_NOW);
    /* a row queued before the seat existed belongs to its email's seat, in any case */
    int any = 0;
    assert_int_equal(store_outbox_seat_pending(s, "olga@example.COM", &any), STORE_OK);
    assert_true(any);
    int64_t later = outbox_add_seat(s, "id-other", "OLGA@example.com", "deactivate", 0);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, queued, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(row.superseded_by, later);
    store_outbox_clear(&row);
    store_user_t out;
    assert_int_equal(store_user_get(s, "id-old", &out), STORE_OK);
    assert_string_equal(out.user_name, "olga");
    assert_null(out.rendered);
    store_user_clear(&out);
    collect_rendered_t c = {0};
    assert_int_equal(store_user_page(s, 0, 10, on_user_rendered, &c), STORE_OK);
    assert_int_equal(c.seen, 1);
    assert_true(c.null[0]);

    /* rows written after the migration carry it */
    store_user_t u = make_user("id-new", "nina", NULL, 0);
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
    assert_int_equal(store_user_get(s, "id-new", &out), STORE_OK);
    assert_string_equal(out.rendered, u.rendered);
    store_user_clear(&out);
    store_close(s);
}

static void test_user_delete_cascades_emails(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *emails[] = {"x@example.com"};
    store_user_t u = make_user("id-1", "x", emails, 1);
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
    assert_int_equal(store_user_delete(s, "id-1"), STORE_OK);
    store_close(s);
    if (test_db_pg()) {
        assert_int_equal(test_db_scalar(f->path, "SELECT count(*) FROM user_emails"), 0);
        return;
    }

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM user_emails", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_user_name_unique_case_insensitive(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_user(s, "id-a", "Alice@Example.com");
    insert_user(s, "id-b", "bob@example.com");

    store_user_t u = make_user("id-c", "alice@EXAMPLE.COM", NULL, 0);
    assert_int_equal(store_user_insert(s, &u), STORE_CONFLICT);
    store_user_t got;
    assert_int_equal(store_user_get(s, "id-c", &got), STORE_NOT_FOUND);

    /* an id collision is not a userName conflict */
    u = make_user("id-a", "carol@example.com", NULL, 0);
    assert_int_equal(store_user_insert(s, &u), STORE_ERROR);
    assert_true(strlen(store_errmsg(s)) > 0);

    /* renaming bob onto alice in another case */
    u = make_user("id-b", "ALICE@example.com", NULL, 0);
    assert_int_equal(store_user_update(s, &u), STORE_CONFLICT);
    assert_int_equal(store_user_get(s, "id-b", &got), STORE_OK);
    assert_string_equal(got.user_name, "bob@example.com");
    store_user_clear(&got);

    /* alice changing the case of her own userName is fine */
    u = make_user("id-a", "alice@example.com", NULL, 0);
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_int_equal(store_user_get(s, "id-a", &got), STORE_OK);
    assert_string_equal(got.user_name, "alice@example.com");
    store_user_clear(&got);

    /* a conflict inside a transaction leaves the transaction usable and its earlier work intact */
    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "id-d", "dave");
    const char *emails[] = {"e@example.com"};
    u = make_user("id-e", "DAVE", emails, 1);
    assert_int_equal(store_user_insert(s, &u), STORE_CONFLICT);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_user_get(s, "id-d", &got), STORE_OK);
    store_user_clear(&got);
    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "e@example.com", &c), "");
    store_close(s);
}

/* A write that fails after its first statement leaves nothing behind, in or out of a transaction. */
/*
 * A deferred commit is visible at once and made durable later, on another connection of the same
 * file (the worker's flush thread); a relaxed connection's commits need no flush (ticket 0).
 */
static void test_commit_deferred_then_sync(void **state)
{
    fixture_t *f = *state;
    store_t *w = open_ok(f->path), *flusher = open_ok(f->path), *relaxed = open_ok(f->path);
    store_user_t got = {0};
    uint64_t t1 = 0, t2 = 0, t3 = 7;

    assert_int_equal(store_begin(w), STORE_OK);
    insert_user(w, "id-a", "alice");
    assert_int_equal(store_commit_deferred(w, &t1), STORE_OK);
    /* PostgreSQL: COMMIT returns flushed (store/pg_query.c), so nothing is left for a ticket */
    if (test_db_pg())
        assert_int_equal(t1, 0);
    else
        assert_true(t1 > 0);
    /* committed: the other connections see it before any flush */
    assert_int_equal(store_user_get(flusher, "id-a", &got), STORE_OK);
    store_user_clear(&got);

    /* the connection goes on writing while the flush of the first commit is still to come */
    assert_int_equal(store_begin(w), STORE_OK);
    insert_user(w, "id-b", "bob");
    assert_int_equal(store_commit_deferred(w, &t2), STORE_OK);
    assert_true(test_db_pg() ? t2 == 0 : t2 > t1);

    assert_int_equal(store_sync(flusher, t2), STORE_OK);
    assert_int_equal(store_sync(flusher, t1), STORE_OK); /* covered by the flush of t2 */
    assert_int_equal(store_sync(w, t2), STORE_OK);
    assert_int_equal(store_sync(flusher, 0), STORE_OK);

    assert_int_equal(store_relax_sync(relaxed), STORE_OK);
    assert_int_equal(store_begin(relaxed), STORE_OK);
    insert_user(relaxed, "id-c", "carol");
    assert_int_equal(store_commit_deferred(relaxed, &t3), STORE_OK);
    assert_int_equal(t3, 0);

    /* a plain commit after deferred ones still returns durable */
    assert_int_equal(store_begin(w), STORE_OK);
    insert_user(w, "id-d", "dave");
    assert_int_equal(store_commit(w), STORE_OK);
    store_close(relaxed);
    store_close(flusher);
    store_close(w);

    store_t *again = open_ok(f->path);
    const char *ids[] = {"id-a", "id-b", "id-c", "id-d"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(store_user_get(again, ids[i], &got), STORE_OK);
        store_user_clear(&got);
    }
    store_close(again);
}

static void test_user_write_failure_is_atomic(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *good[] = {"good@example.com"};
    store_user_t u = make_user("id-1", "alice", good, 1);
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
    /* make the email index refuse one value, so the users row is written and the emails are not */
    assert_int_equal(raw_exec2(f->path,
                               "CREATE TRIGGER boom BEFORE INSERT ON user_emails WHEN NEW.value = 'boom'"
                               " BEGIN SELECT RAISE(ABORT, 'boom'); END",
                               "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'boom'; END$$;"
                               "CREATE TRIGGER boom BEFORE INSERT ON user_emails FOR EACH ROW WHEN (NEW.value = 'boom')"
                               " EXECUTE FUNCTION boom()"),
                     SQLITE_OK);
    const char *bad[] = {"other@example.com", "boom"};
    collect_t c;
    store_user_t got;

    /* autocommit */
    u = make_user("id-2", "bob", bad, 2);
    assert_int_equal(store_user_insert(s, &u), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(s), "boom"));
    assert_int_equal(store_user_get(s, "id-2", &got), STORE_NOT_FOUND);
    u = make_user("id-1", "alice-renamed", bad, 2);
    assert_int_equal(store_user_update(s, &u), STORE_ERROR);

    /* inside a transaction, which stays open and keeps its earlier work */
    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "id-3", "carol");
    u = make_user("id-2", "bob", bad, 2);
    assert_int_equal(store_user_insert(s, &u), STORE_ERROR);
    u = make_user("id-1", "alice-renamed", bad, 2);
    assert_int_equal(store_user_update(s, &u), STORE_ERROR);
    assert_int_equal(store_commit(s), STORE_OK);

    assert_string_equal(scan_ids(s, STORE_SCAN_ALL, NULL, &c), "id-1,id-3");
    assert_int_equal(store_user_get(s, "id-1", &got), STORE_OK);
    assert_string_equal(got.user_name, "alice");
    store_user_clear(&got);
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "good@example.com", &c), "id-1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "other@example.com", &c), "");
    store_close(s);
}

static void test_user_scan_by_index(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *e1[] = {"one@example.com", "ONE@example.com", "shared@example.com"};
    const char *e2[] = {"two@example.com", "Shared@Example.com"};
    store_user_t u = make_user("id-1", "one", e1, 3);
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
    u = make_user("id-2", "two", e2, 2);
    u.external_id = "EXT-1";
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
    u = make_user("id-3", "three", NULL, 0);
    u.external_id = NULL;
    assert_int_equal(store_user_insert(s, &u), STORE_OK);

    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_ALL, NULL, &c), "id-1,id-2,id-3");
    assert_string_equal(scan_ids(s, STORE_SCAN_ID, "id-2", &c), "id-2");
    assert_string_equal(scan_ids(s, STORE_SCAN_ID, "ID-2", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_USERNAME, "TWO", &c), "id-2");
    assert_string_equal(scan_ids(s, STORE_SCAN_USERNAME, "four", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_EXTERNAL_ID, "ext-1", &c), "id-1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EXTERNAL_ID, "EXT-1", &c), "id-2");
    assert_string_equal(scan_ids(s, STORE_SCAN_EXTERNAL_ID, "ext", &c), "");
    /* two matching emails of one user: the user once */
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "one@EXAMPLE.com", &c), "id-1");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "SHARED@example.COM", &c), "id-1,id-2");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "nobody@example.com", &c), "");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, NULL, &c), "");

    /* the callback stops the scan */
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(store_user_scan(s, STORE_SCAN_ALL, NULL, on_user_collect, &c), STORE_OK);
    assert_string_equal(c.ids, "id-1");

    /* update replaces the email index */
    const char *e1b[] = {"uno@example.com"};
    u = make_user("id-1", "one", e1b, 1);
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "shared@example.com", &c), "id-2");
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "UNO@example.com", &c), "id-1");

    assert_int_equal(store_user_scan(s, (store_index_t)42, "x", on_user_collect, &c), STORE_ERROR);
    store_close(s);
}

/* A callback that calls back into the store, as a handler rendering a list might. */
typedef struct reentrant {
    store_t *s;
    int rows;
    int inner_rows;
} reentrant_t;

static int on_inner(void *ctx, const store_user_t *u)
{
    (void)u;
    ((reentrant_t *)ctx)->inner_rows++;
    return 0;
}

static int on_outer(void *ctx, const store_user_t *u)
{
    reentrant_t *r = ctx;
    store_user_t got;
    assert_int_equal(store_user_get(r->s, u->id, &got), STORE_OK);
    assert_string_equal(got.user_name, u->user_name);
    store_user_clear(&got);
    assert_int_equal(store_user_scan(r->s, STORE_SCAN_ALL, NULL, on_inner, r), STORE_OK);
    r->rows++;
    return 0;
}

static void test_user_scan_reentrant(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_user(s, "id-1", "one");
    insert_user(s, "id-2", "two");
    reentrant_t r = {.s = s};
    assert_int_equal(store_user_scan(s, STORE_SCAN_ALL, NULL, on_outer, &r), STORE_OK);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.inner_rows, 4);
    /* and the cached statement still works afterwards */
    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_ALL, NULL, &c), "id-1,id-2");
    store_close(s);
}

static void test_user_page_and_count_stable(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    char id[16], name[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        /* names sort opposite to creation, so an ORDER BY user_name would show */
        snprintf(name, sizeof(name), "name-%d", 9 - i);
        insert_user(s, id, name);
    }
    size_t n = 0;
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 7);

    collect_t c;
    assert_string_equal(page_ids(s, 0, 3, &c), "u0,u1,u2");
    /* an update between pages must not move the row */
    store_user_t u = make_user("u1", "zzz", NULL, 0);
    u.version = 2;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    u = make_user("u4", "aaa", NULL, 0);
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(page_ids(s, 3, 3, &c), "u3,u4,u5");
    assert_string_equal(page_ids(s, 6, 3, &c), "u6");
    assert_string_equal(page_ids(s, 7, 3, &c), "");
    assert_string_equal(page_ids(s, 0, 0, &c), "");
    assert_string_equal(page_ids(s, 0, SIZE_MAX, &c), "u0,u1,u2,u3,u4,u5,u6");
    assert_string_equal(page_ids(s, SIZE_MAX, 3, &c), "");

    assert_int_equal(store_user_delete(s, "u2"), STORE_OK);
    insert_user(s, "u7", "name-new");
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 7);
    assert_string_equal(page_ids(s, 0, 100, &c), "u0,u1,u3,u4,u5,u6,u7");
    store_close(s);
}

/* A page that follows the previous one continues from its last row, but only while nothing changed. */
static void test_user_page_continues_across_changes(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path), *other = open_ok(f->path);
    char id[16], name[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        snprintf(name, sizeof(name), "name-%d", i);
        insert_user(s, id, name);
    }
    collect_t c;
    assert_string_equal(page_ids(s, 0, 3, &c), "u0,u1,u2");
    assert_string_equal(page_ids(s, 3, 3, &c), "u3,u4,u5");
    /* another connection deletes a row before the position: offsets shift by one */
    assert_int_equal(store_user_delete(other, "u1"), STORE_OK);
    assert_string_equal(page_ids(s, 6, 3, &c), "u7,u8,u9");
    assert_string_equal(page_ids(s, 3, 3, &c), "u4,u5,u6");
    assert_string_equal(page_ids(s, 6, 3, &c), "u7,u8,u9");
    /* so does a delete on the same connection */
    assert_string_equal(page_ids(s, 3, 3, &c), "u4,u5,u6");
    assert_int_equal(store_user_delete(s, "u4"), STORE_OK);
    assert_string_equal(page_ids(s, 6, 3, &c), "u8,u9");
    /* a page cut short by the callback continues after the last row it saw */
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    assert_int_equal(store_user_page(s, 0, 5, on_user_collect, &c), STORE_OK);
    assert_string_equal(c.ids, "u0,u2");
    assert_string_equal(page_ids(s, 2, 2, &c), "u3,u5");

    size_t n = 0;
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 8);
    insert_user(other, "u10", "name-10");
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 9);
    assert_int_equal(store_user_delete(s, "u0"), STORE_OK);
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, 8);
    store_close(other);
    store_close(s);
}

/* ---- lists: store_user_select ------------------------------------------------------------------- */

/* The values a select test gives each user; NULL: none. */
typedef struct sel_user {
    char id[16], user_name[16];
    const char *display_name, *family_name, *given_name, *external_id, *primary_email;
    const char *emails[3];
    size_t n_emails;
    int active;
} sel_user_t;

/*
 * Strings built from pieces that trip a careless translation: LIKE's wildcards, the bytes between
 * 'Z' and 'a', upper and lower case, a two-byte UTF-8 letter in both cases (which only ASCII
 * folding leaves apart), and the empty string.
 */
static const char *const pieces[] = {"a", "A", "b", "B", "%", "_", "[", "\xc3\xa9", "\xc3\x89", "z"};
#define N_PIECES (sizeof(pieces) / sizeof(pieces[0]))

static unsigned rng_state = 12345;
static unsigned rng(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 16) % n;
}

/* A random string of 0..max_pieces pieces into buf. */
static const char *random_text(char *buf, size_t len, unsigned max_pieces)
{
    buf[0] = '\0';
    for (unsigned i = rng(max_pieces + 1); i > 0; i--)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s", pieces[rng(N_PIECES)]);
    return buf;
}

/* A value or, one time in four, none (kept in `pool`, which outlives the test). */
static const char *maybe_text(char pool[][16], size_t *used)
{
    if (rng(4) == 0)
        return NULL;
    return random_text(pool[(*used)++], 16, 3);
}

#define SEL_USERS 40
static sel_user_t sel_users[SEL_USERS];
static char sel_pool[SEL_USERS * 12][16];

static void insert_sel_users(store_t *s)
{
    size_t used = 0;
    rng_state = 12345;
    for (int i = 0; i < SEL_USERS; i++) {
        sel_user_t *u = &sel_users[i];
        memset(u, 0, sizeof(*u));
        snprintf(u->id, sizeof(u->id), "id-%02d", (i * 7) % SEL_USERS);
        /* userName is unique case-insensitively: a number each, case varying */
        snprintf(u->user_name, sizeof(u->user_name), "%s%02d", rng(2) ? "U" : "u", SEL_USERS - i);
        u->display_name = maybe_text(sel_pool, &used);
        u->family_name = maybe_text(sel_pool, &used);
        u->given_name = maybe_text(sel_pool, &used);
        u->external_id = maybe_text(sel_pool, &used);
        u->primary_email = maybe_text(sel_pool, &used);
        u->n_emails = rng(4);
        for (size_t e = 0; e < u->n_emails; e++)
            u->emails[e] = random_text(sel_pool[used++], 16, 3);
        u->active = (int)rng(2);
        store_user_t row = make_user(u->id, u->user_name, u->emails, u->n_emails);
        row.external_id = (char *)u->external_id;
        row.active = u->active;
        row.display_name = u->display_name;
        row.family_name = u->family_name;
        row.given_name = u->given_name;
        row.primary_email = u->primary_email;
        assert_int_equal(store_user_insert(s, &row), STORE_OK);
    }
}

/* What store.h promises about comparing strings: unsigned bytes, ASCII letters folded or not, a proper prefix first. */
static int ref_cmp(const char *a, const char *b, int fold)
{
    for (;; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (fold && x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (fold && y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y || x == 0)
            return x < y ? -1 : x > y;
    }
}

static const char *ref_value(const sel_user_t *u, store_user_col_t col)
{
    switch (col) {
    case STORE_COL_ID:
        return u->id;
    case STORE_COL_USER_NAME:
        return u->user_name;
    case STORE_COL_EXTERNAL_ID:
        return u->external_id;
    case STORE_COL_DISPLAY_NAME:
        return u->display_name;
    case STORE_COL_FAMILY_NAME:
        return u->family_name;
    case STORE_COL_GIVEN_NAME:
        return u->given_name;
    case STORE_COL_PRIMARY_EMAIL:
        return u->primary_email;
    default:
        fail_msg("no reference value for column %d", (int)col);
        return NULL;
    }
}

static int ref_folds(store_user_col_t col)
{
    return col != STORE_COL_ID && col != STORE_COL_EXTERNAL_ID;
}

static store_user_col_t ref_order_col;
static int ref_order_desc;

/* Users with a value first, by it (folded or not, either direction), then creation order. */
static int ref_order(const void *pa, const void *pb)
{
    const sel_user_t *a = *(const sel_user_t *const *)pa, *b = *(const sel_user_t *const *)pb;
    const char *x = ref_value(a, ref_order_col), *y = ref_value(b, ref_order_col);
    if ((x == NULL) != (y == NULL))
        return x == NULL ? 1 : -1;
    int c = x == NULL ? 0 : ref_cmp(x, y, ref_folds(ref_order_col));
    if (ref_order_desc)
        c = -c;
    return c != 0 ? c : a < b ? -1 : a > b;
}

/* Appends ",id" (or "id" to an empty list) to `buf`. */
static void append_id(char *buf, size_t len, const char *id)
{
    size_t at = strlen(buf), n = strlen(id);
    assert_true(at + 1 + n < len);
    if (at > 0)
        buf[at++] = ',';
    memcpy(buf + at, id, n + 1);
}

static const char *select_ids(store_t *s, const store_user_query_t *q, char *buf, size_t len)
{
    collect_t c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_user_select(s, q, on_user_collect, &c), STORE_OK);
    buf[0] = '\0';
    if (c.ids[0] != '\0')
        append_id(buf, len, c.ids);
    return buf;
}

/* Every page of every order, against the promise of store.h worked out here. */
static void test_user_select_order(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_sel_users(s);
    static const store_user_col_t cols[] = {STORE_COL_ID,           STORE_COL_USER_NAME,   STORE_COL_EXTERNAL_ID,
                                            STORE_COL_DISPLAY_NAME, STORE_COL_FAMILY_NAME, STORE_COL_GIVEN_NAME,
                                            STORE_COL_PRIMARY_EMAIL};
    static const size_t limits[] = {1, 3, 7, SEL_USERS + 5, SIZE_MAX};
    const sel_user_t *sorted[SEL_USERS];
    char want[1024], got[1024];
    for (size_t ci = 0; ci < sizeof(cols) / sizeof(cols[0]); ci++) {
        for (int desc = 0; desc < 2; desc++) {
            for (int i = 0; i < SEL_USERS; i++)
                sorted[i] = &sel_users[i];
            ref_order_col = cols[ci];
            ref_order_desc = desc;
            qsort(sorted, SEL_USERS, sizeof(sorted[0]), ref_order);
            for (size_t offset = 0; offset <= SEL_USERS + 2; offset++) {
                for (size_t li = 0; li < sizeof(limits) / sizeof(limits[0]); li++) {
                    want[0] = '\0';
                    for (size_t i = offset; i < SEL_USERS && i - offset < limits[li]; i++)
                        append_id(want, sizeof(want), sorted[i]->id);
                    /* both ways a select runs: seqs from the index then rows, and rows with a condition */
                    store_cond_t every = {.op = STORE_COND_PR, .col = STORE_COL_USER_NAME};
                    for (int with_cond = 0; with_cond < 2; with_cond++) {
                        store_user_query_t q = {.where = with_cond ? &every : NULL,
                                                .ordered = 1,
                                                .order = cols[ci],
                                                .descending = desc,
                                                .offset = offset,
                                                .limit = limits[li]};
                        if (strcmp(select_ids(s, &q, got, sizeof(got)), want) != 0)
                            fail_msg("column %d, %s, offset %zu, limit %zu, %s:\n got %s\nwant %s", (int)cols[ci],
                                     desc ? "descending" : "ascending", offset, limits[li], with_cond ? "a condition" : "none", got,
                                     want);
                    }
                }
            }
        }
    }
    /* the callback stops a visit that spans both walks */
    collect_t c;
    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    store_user_query_t q = {.ordered = 1, .order = STORE_COL_DISPLAY_NAME, .offset = 0, .limit = SIZE_MAX};
    assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_OK);
    assert_int_equal(c.seen, 2);
    /* a column that cannot order */
    q.order = STORE_COL_ACTIVE;
    assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_ERROR);
    assert_non_null(strstr(store_errmsg(s), "cannot order"));
    store_close(s);
}

/* The reference of a condition, as store.h defines it. */
static int ref_test(const char *v, const store_cond_t *c)
{
    size_t vl, nl;
    if (v == NULL)
        return 0;
    if (c->op == STORE_COND_PR)
        return v[0] != '\0';
    vl = strlen(v);
    nl = strlen(c->value);
    switch (c->op) {
    case STORE_COND_EQ:
        return ref_cmp(v, c->value, c->fold) == 0;
    case STORE_COND_GT:
        return ref_cmp(v, c->value, c->fold) > 0;
    case STORE_COND_GE:
        return ref_cmp(v, c->value, c->fold) >= 0;
    case STORE_COND_LT:
        return ref_cmp(v, c->value, c->fold) < 0;
    case STORE_COND_LE:
        return ref_cmp(v, c->value, c->fold) <= 0;
    case STORE_COND_SW:
    case STORE_COND_EW:
    case STORE_COND_CO:
        for (size_t at = 0; nl <= vl && at <= vl - nl; at++) {
            if ((c->op == STORE_COND_SW && at != 0) || (c->op == STORE_COND_EW && at != vl - nl))
                continue;
            char part[64];
            snprintf(part, sizeof(part), "%.*s", (int)nl, v + at);
            if (ref_cmp(part, c->value, c->fold) == 0)
                return 1;
        }
        return 0;
    default:
        fail_msg("no reference for operator %d", (int)c->op);
        return 0;
    }
}

static int ref_holds(const sel_user_t *u, const store_cond_t *c)
{
    switch (c->op) {
    case STORE_COND_AND:
        return ref_holds(u, c->left) && ref_holds(u, c->right);
    case STORE_COND_OR:
        return ref_holds(u, c->left) || ref_holds(u, c->right);
    default:
        break;
    }
    if (c->col == STORE_COL_ACTIVE)
        return u->active == c->active;
    if (c->col == STORE_COL_ANY_EMAIL) {
        for (size_t e = 0; e < u->n_emails; e++)
            if (ref_test(u->emails[e], c))
                return 1;
        return 0;
    }
    return ref_test(ref_value(u, c->col), c);
}

/* A random condition of at most `depth` levels into nodes[*used...]; its needles are in `texts`. */
static const store_cond_t *random_cond(store_cond_t *nodes, size_t *used, char texts[][16], size_t *n_texts, int depth)
{
    static const store_user_col_t cols[] = {
        STORE_COL_ID,          STORE_COL_USER_NAME,  STORE_COL_EXTERNAL_ID,   STORE_COL_DISPLAY_NAME,
        STORE_COL_FAMILY_NAME, STORE_COL_GIVEN_NAME, STORE_COL_PRIMARY_EMAIL, STORE_COL_CREATED,
        STORE_COL_ACTIVE,      STORE_COL_ANY_EMAIL,  STORE_COL_DISPLAY_NAME,  STORE_COL_ANY_EMAIL};
    store_cond_t *c = &nodes[(*used)++];
    memset(c, 0, sizeof(*c));
    if (depth > 0 && rng(3) == 0) {
        c->op = rng(2) ? STORE_COND_AND : STORE_COND_OR;
        c->left = random_cond(nodes, used, texts, n_texts, depth - 1);
        c->right = random_cond(nodes, used, texts, n_texts, depth - 1);
        return c;
    }
    c->col = cols[rng(sizeof(cols) / sizeof(cols[0]))];
    if (c->col == STORE_COL_CREATED)
        c->col = STORE_COL_DISPLAY_NAME; /* every row has the same created: no reference needed */
    if (c->col == STORE_COL_ACTIVE) {
        c->op = STORE_COND_EQ;
        c->active = (int)rng(2);
        return c;
    }
    c->op = (store_cond_op_t)(STORE_COND_EQ + rng(STORE_COND_PR - STORE_COND_EQ + 1));
    c->fold = (int)rng(2);
    c->value = random_text(texts[(*n_texts)++], 16, 2);
    return c;
}

/* Random conditions on every column and operator, against the promise of store.h worked out here. */
static void test_user_select_where(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_sel_users(s);
    char want[1024], got[1024];
    int matched_some = 0, matched_none = 0;
    for (int round = 0; round < 600; round++) {
        store_cond_t nodes[64];
        char texts[64][16];
        size_t used = 0, n_texts = 0;
        const store_cond_t *cond = random_cond(nodes, &used, texts, &n_texts, 3);
        want[0] = '\0';
        for (int i = 0; i < SEL_USERS; i++)
            if (ref_holds(&sel_users[i], cond))
                append_id(want, sizeof(want), sel_users[i].id);
        store_user_query_t q = {.where = cond, .limit = SIZE_MAX};
        if (strcmp(select_ids(s, &q, got, sizeof(got)), want) != 0)
            fail_msg("round %d: got %s\nwant %s", round, got, want);
        /* ordered, the same users */
        q.ordered = 1;
        q.order = STORE_COL_DISPLAY_NAME;
        collect_t c;
        memset(&c, 0, sizeof(c));
        assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_OK);
        int n_want = want[0] != '\0';
        for (const char *p = want; *p != '\0'; p++)
            n_want += *p == ',';
        assert_int_equal(c.seen, n_want);
        matched_some += want[0] != '\0';
        matched_none += want[0] == '\0';
    }
    /* the rounds tried both outcomes */
    assert_true(matched_some > 100 && matched_none > 100);

    /* the values LIKE would take as wildcards are plain characters */
    store_cond_t like = {.op = STORE_COND_CO, .col = STORE_COL_DISPLAY_NAME, .value = "%", .fold = 1};
    store_user_query_t q = {.where = &like, .limit = SIZE_MAX};
    collect_t c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_OK);
    int with_percent = 0;
    for (int i = 0; i < SEL_USERS; i++)
        with_percent += sel_users[i].display_name != NULL && strchr(sel_users[i].display_name, '%') != NULL;
    assert_int_equal(c.seen, with_percent);
    assert_true(with_percent > 0 && with_percent < SEL_USERS);

    /* a malformed condition is refused */
    store_cond_t bad = {.op = STORE_COND_AND, .left = &like};
    q.where = &bad;
    assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_ERROR);
    store_cond_t bad_active = {.op = STORE_COND_CO, .col = STORE_COL_ACTIVE, .value = "1"};
    q.where = &bad_active;
    assert_int_equal(store_user_select(s, &q, on_user_collect, &c), STORE_ERROR);
    store_close(s);
}

/* An update keeps the sort columns those of the resource, whichever statement it takes. */
static void test_user_update_sort_columns(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    const char *names[] = {"carol", "alice", "bob"};
    char id[16];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "u%d", i);
        store_user_t u = make_user(id, names[i], NULL, 0);
        u.display_name = names[i];
        assert_int_equal(store_user_insert(s, &u), STORE_OK);
    }
    char got[1024];
    store_user_query_t q = {.ordered = 1, .order = STORE_COL_DISPLAY_NAME, .limit = SIZE_MAX};
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u1,u2,u0");
    /* a new displayName, the same userName */
    store_user_t u = make_user("u0", "carol", NULL, 0);
    u.display_name = "Aaron";
    u.version = 2;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u0,u1,u2");
    /* nothing sorted changes: the order stays */
    u.active = 0;
    u.version = 3;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u0,u1,u2");
    /* a rename and a new displayName at once; then none */
    u = make_user("u1", "alicia", NULL, 0);
    u.display_name = "zed";
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u0,u2,u1");
    u.display_name = NULL;
    assert_int_equal(store_user_update(s, &u), STORE_OK);
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u0,u2,u1");
    q.descending = 1;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u2,u0,u1");
    store_cond_t pr = {.op = STORE_COND_PR, .col = STORE_COL_DISPLAY_NAME};
    q.where = &pr;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u2,u0");
    store_close(s);
}

/* A schema 3 database migrates: the sort columns of its rows are filled from their resources. */
static void test_open_migrates_v3(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    static const struct {
        const char *id, *resource;
    } rows[] = {
        {"u0", "{\"userName\":\"u0\",\"displayName\":\"Zoe\",\"name\":{\"familyName\":\"Young\",\"givenName\":\"Zoe\"},"
               "\"emails\":[{\"value\":\"z@x\"},{\"value\":\"p@x\",\"primary\":true}]}"},
        {"u1", "{\"userName\":\"u1\",\"displayName\":\"adam\",\"emails\":[{\"value\":\"a@x\",\"primary\":false},"
               "{\"type\":\"work\"}]}"},
        {"u2", "{\"userName\":\"u2\",\"name\":{\"familyName\":\"Xu\"},\"emails\":[{\"type\":\"work\",\"primary\":true},"
               "{\"value\":\"b@x\"}]}"},
        {"u3", "{\"userName\":\"u3\",\"displayName\":\"Bea\",\"name\":{\"givenName\":\"Bea\"}}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        store_user_t u = make_user(rows[i].id, rows[i].id, NULL, 0);
        u.resource = (char *)rows[i].resource;
        assert_int_equal(store_user_insert(s, &u), STORE_OK);
    }
    store_close(s);
    assert_int_equal(raw_exec2(f->path, UNDO_SCHEMA_7 UNDO_SCHEMA_6 UNDO_SCHEMA_5_4 "PRAGMA user_version = 3",
                               PG_UNDO_SCHEMA_7 PG_UNDO_SCHEMA_6 PG_UNDO_SCHEMA_5_4 "UPDATE store_schema SET version = 3"),
                     SQLITE_OK);
    assert_int_not_equal(raw_exec2(f->path, "SELECT display_name FROM users", "SELECT display_name FROM users"), SQLITE_OK);

    s = open_ok(f->path);
    assert_int_equal(raw_user_version(f->path), SCHEMA_NOW);
    char got[1024];
    store_user_query_t q = {.ordered = 1, .order = STORE_COL_DISPLAY_NAME, .limit = SIZE_MAX};
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u1,u3,u0,u2");
    q.order = STORE_COL_FAMILY_NAME;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u2,u0,u1,u3");
    q.order = STORE_COL_GIVEN_NAME;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u3,u0,u1,u2");
    /* the primary element's value, else the first element's; a primary without one sorts as none */
    q.order = STORE_COL_PRIMARY_EMAIL;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u1,u0,u2,u3");
    store_cond_t eq = {.op = STORE_COND_EQ, .col = STORE_COL_PRIMARY_EMAIL, .value = "P@X", .fold = 1};
    q.where = &eq;
    assert_string_equal(select_ids(s, &q, got, sizeof(got)), "u0");
    store_close(s);
}

/* ---- outbox ----------------------------------------------------------------------------------- */

static void test_outbox_insert_get(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    store_outbox_t in = {
        .id = 999,
        .user_id = "user-1",
        .action = "update_role",
        .email = "a@example.com",
        .role = "admin",
        .state = STORE_OUTBOX_DONE,
        .attempts = 5,
        .created_at_ms = 1700000000123,
        .next_attempt_ms = 1700000000456,
        .prev_resource = "{\"old\":true}",
        .result_version = 3,
    };
    int64_t id = 0;
    assert_int_equal(store_outbox_insert(s, &in, &id), STORE_OK);
    assert_true(id > 0 && id != 999);

    store_outbox_t out;
    assert_int_equal(store_outbox_get(s, id, &out), STORE_OK);
    assert_int_equal(out.id, id);
    assert_string_equal(out.user_id, "user-1");
    assert_string_equal(out.action, "update_role");
    assert_string_equal(out.email, "a@example.com");
    assert_string_equal(out.role, "admin");
    assert_int_equal(out.state, STORE_OUTBOX_PENDING);
    assert_int_equal(out.attempts, 0);
    assert_int_equal(out.created_at_ms, 1700000000123);
    assert_int_equal(out.next_attempt_ms, 1700000000456);
    assert_null(out.last_error);
    assert_null(out.outcome);
    assert_string_equal(out.prev_resource, "{\"old\":true}");
    assert_int_equal(out.result_version, 3);
    store_outbox_clear(&out);

    /* NULL role and prev_resource */
    int64_t id2 = outbox_add(s, "user-2", "invite", 5);
    assert_true(id2 > id);
    assert_int_equal(store_outbox_get(s, id2, &out), STORE_OK);
    assert_null(out.role);
    assert_null(out.prev_resource);
    store_outbox_clear(&out);

    assert_int_equal(store_outbox_get(s, 12345, &out), STORE_NOT_FOUND);
    store_close(s);
}

typedef struct ids {
    int64_t ids[8];
    size_t n;
} ids_t;

/* store_outbox_superseded_by's visitor: collects up to 8 ids, then fails the test. */
static int collect_id(void *ctx, int64_t id)
{
    ids_t *c = ctx;
    assert_true(c->n < sizeof(c->ids) / sizeof(c->ids[0]));
    c->ids[c->n++] = id;
    return 0;
}

static int64_t state_of(store_t *s, int64_t id, int64_t *superseded_by)
{
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, id, &row), STORE_OK);
    int64_t st = row.state;
    if (superseded_by != NULL)
        *superseded_by = row.superseded_by;
    if (row.state == STORE_OUTBOX_SUPERSEDED)
        assert_string_equal(row.outcome, "superseded");
    store_outbox_clear(&row);
    return st;
}

/* Coalescing: a deactivation supersedes everything older; a role change older role changes; an invite nothing. */
static void test_outbox_coalescing(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    int64_t by = 0;
    int64_t i1 = outbox_add(s, "alice", "invite", 0);
    int64_t r1 = outbox_add(s, "alice", "update_role", 0);
    int64_t r2 = outbox_add(s, "alice", "update_role", 0);
    assert_int_equal(state_of(s, i1, NULL), STORE_OUTBOX_PENDING);
    assert_int_equal(state_of(s, r1, &by), STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(by, r2);
    int64_t other = outbox_add(s, "bob", "invite", 0);
    int64_t d1 = outbox_add(s, "alice", "deactivate", 0);
    /* the invite never goes out after the deactivation; the earlier superseded row follows the newest */
    assert_int_equal(state_of(s, i1, &by), STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(by, d1);
    assert_int_equal(state_of(s, r2, &by), STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(by, d1);
    assert_int_equal(state_of(s, r1, &by), STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(by, d1);
    assert_int_equal(state_of(s, other, NULL), STORE_OUTBOX_PENDING);
    ids_t sup = {0};
    assert_int_equal(store_outbox_superseded_by(s, d1, collect_id, &sup), STORE_OK);
    assert_int_equal(sup.n, 3);
    /* an invite after the deactivation supersedes nothing: both go out, in order */
    int64_t i2 = outbox_add(s, "alice", "invite", 0);
    assert_int_equal(state_of(s, d1, NULL), STORE_OUTBOX_PENDING);
    char buf[128], want[64];
    snprintf(want, sizeof(want), "%lld,%lld", (long long)d1, (long long)other);
    assert_string_equal(due_ids(s, 10, NULL, 0, 16, buf, sizeof(buf)), want);
    /* a superseded row finished by a call that was in flight keeps its state, records its outcome */
    assert_int_equal(store_outbox_finish(s, i1, STORE_OUTBOX_DONE, "done", NULL, 5), STORE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, i1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    assert_string_equal(row.outcome, "done");
    store_outbox_clear(&row);
    /* inside a transaction that rolls back, nothing is superseded */
    assert_int_equal(store_begin(s), STORE_OK);
    outbox_add(s, "alice", "deactivate", 0);
    store_rollback(s);
    assert_int_equal(state_of(s, d1, NULL), STORE_OUTBOX_PENDING);
    assert_int_equal(state_of(s, i2, NULL), STORE_OUTBOX_PENDING);
    store_close(s);
}

/* store_outbox_superseded_by's visitor: sums the ids and counts them; stops after `stop_at` when non-zero. */
typedef struct id_sum {
    size_t n, stop_at;
    int64_t sum;
} id_sum_t;

static int sum_id(void *ctx, int64_t id)
{
    id_sum_t *c = ctx;
    c->n++;
    c->sum += id;
    return c->stop_at != 0 && c->n >= c->stop_at;
}

/* Every superseded row is visited, however many there are (no cap), and the visitor may stop early. */
static void test_outbox_superseded_by_all(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    enum { ROLE_CHANGES = 100 };
    int64_t want = 0;
    assert_int_equal(store_begin(s), STORE_OK);
    for (int i = 0; i < ROLE_CHANGES; i++)
        want += outbox_add(s, "alice", "update_role", 0);
    int64_t d = outbox_add(s, "alice", "deactivate", 0);
    assert_int_equal(store_commit(s), STORE_OK);
    id_sum_t all = {0};
    assert_int_equal(store_outbox_superseded_by(s, d, sum_id, &all), STORE_OK);
    assert_int_equal(all.n, ROLE_CHANGES);
    assert_int_equal(all.sum, want);
    id_sum_t some = {.stop_at = 3};
    assert_int_equal(store_outbox_superseded_by(s, d, sum_id, &some), STORE_OK);
    assert_int_equal(some.n, 3);
    id_sum_t none = {0};
    assert_int_equal(store_outbox_superseded_by(s, 12345, sum_id, &none), STORE_OK);
    assert_int_equal(none.n, 0);
    store_close(s);
}

/* Deactivations go first when several users wait; one user's rows stay in commit order. */
static void test_outbox_due_deactivations_first(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    int64_t a = outbox_add(s, "alice", "invite", 0);
    int64_t b = outbox_add(s, "bob", "update_role", 0);
    int64_t c = outbox_add(s, "carol", "deactivate", 0);
    int64_t d = outbox_add(s, "dave", "deactivate", 0);
    char buf[128], want[96];
    snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld", (long long)c, (long long)d, (long long)a, (long long)b);
    assert_string_equal(due_ids(s, 10, NULL, 0, 16, buf, sizeof(buf)), want);
    snprintf(want, sizeof(want), "%lld,%lld", (long long)c, (long long)d);
    assert_string_equal(due_ids(s, 10, NULL, 0, 2, buf, sizeof(buf)), want);
    store_close(s);
}

/* Pending-invitee re-sends: scheduled, due, rescheduled, cancelled by a newer change. */
static void test_recheck(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    int yes = -1;
    int64_t inv = outbox_add(s, "alice", "invite", 0);
    assert_int_equal(store_outbox_invite_delivered(s, "alice@example.com", &yes), STORE_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(store_outbox_finish(s, inv, STORE_OUTBOX_DONE, "done", NULL, 1), STORE_OK);
    assert_int_equal(store_outbox_invite_delivered(s, "ALICE@example.com", &yes), STORE_OK);
    assert_int_equal(yes, 1);

    store_recheck_t rows[4];
    size_t n = 9;
    int64_t at = 0;
    assert_int_equal(store_recheck_next_due(s, &at), STORE_NOT_FOUND);
    assert_int_equal(store_recheck_schedule(s, "alice", "alice@example.com", 7, 100, 1000, 5000), STORE_OK);
    assert_int_equal(store_recheck_schedule(s, "bob", "bob@example.com", 8, 100, 2000, 5000), STORE_OK);
    assert_int_equal(store_recheck_next_due(s, &at), STORE_OK);
    assert_int_equal(at, 1000);
    assert_int_equal(store_recheck_due(s, 999, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_recheck_due(s, 2000, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].user_id, "alice");
    assert_string_equal(rows[0].email, "alice@example.com");
    assert_int_equal(rows[0].outbox_id, 7);
    assert_int_equal(rows[0].until_ms, 5000);
    assert_int_equal(rows[0].sends, 0);
    for (size_t i = 0; i < n; i++)
        store_recheck_clear(&rows[i]);
    assert_int_equal(store_recheck_reschedule(s, "alice", 3000, "HTTP 404"), STORE_OK);
    assert_int_equal(store_recheck_due(s, 2000, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].user_id, "bob");
    store_recheck_clear(&rows[0]);
    /* a user with a pending change is skipped; a new change cancels the re-sends */
    int64_t pending = outbox_add(s, "bob", "invite", 999999);
    assert_int_equal(store_recheck_due(s, 4000, rows, 4, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].user_id, "alice");
    assert_int_equal(rows[0].sends, 1);
    assert_string_equal(rows[0].last_error, "HTTP 404");
    store_recheck_clear(&rows[0]);
    size_t count = 0;
    assert_int_equal(store_recheck_count(s, &count), STORE_OK);
    assert_int_equal(count, 1);
    (void)pending;
    assert_int_equal(store_recheck_remove(s, "alice"), STORE_OK);
    assert_int_equal(store_recheck_remove(s, "alice"), STORE_OK);
    assert_int_equal(store_recheck_count(s, &count), STORE_OK);
    assert_int_equal(count, 0);
    store_close(s);
}

static int count_row(void *ctx, const store_outbox_t *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

/* Operator commands: stats, list, retry, drop. */
static void test_outbox_operator(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    int64_t a = outbox_add(s, "alice", "invite", 50);
    int64_t b = outbox_add(s, "bob", "deactivate", 60);
    int64_t c = outbox_add(s, "carol", "invite", 70);
    assert_int_equal(store_outbox_finish(s, c, STORE_OUTBOX_FAILED, "refused", "invalidEmails", 80), STORE_OK);
    assert_int_equal(store_outbox_reschedule(s, b, 100000, "auth", "HTTP 401"), STORE_OK);
    store_outbox_stats_t st;
    assert_int_equal(store_outbox_get_stats(s, &st), STORE_OK);
    assert_int_equal(st.by_state[STORE_OUTBOX_PENDING], 2);
    assert_int_equal(st.by_state[STORE_OUTBOX_FAILED], 1);
    assert_int_equal(st.pending_auth, 1);
    assert_int_equal(st.pending_deactivations, 1);
    assert_int_equal(st.max_attempts, 1);
    assert_int_equal(st.next_attempt_ms, 50);
    int seen = 0;
    assert_int_equal(store_outbox_list(s, STORE_OUTBOX_PENDING, 10, count_row, &seen), STORE_OK);
    assert_int_equal(seen, 2);
    seen = 0;
    assert_int_equal(store_outbox_list(s, -1, 2, count_row, &seen), STORE_OK);
    assert_int_equal(seen, 2);

    assert_int_equal(store_outbox_retry(s, b, 5), STORE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, b, &row), STORE_OK);
    assert_int_equal(row.next_attempt_ms, 5);
    store_outbox_clear(&row);
    size_t n = 0;
    assert_int_equal(store_outbox_retry_failed(s, 6, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(s, c, NULL), STORE_OUTBOX_PENDING);
    assert_int_equal(store_outbox_drop(s, a, 7), STORE_OK);
    assert_int_equal(store_outbox_get(s, a, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_FAILED);
    assert_string_equal(row.outcome, "dropped");
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_drop(s, a, 7), STORE_CONFLICT);
    assert_int_equal(store_outbox_drop(s, 999, 7), STORE_NOT_FOUND);
    assert_int_equal(store_outbox_finish(s, b, STORE_OUTBOX_DONE, "done", NULL, 8), STORE_OK);
    assert_int_equal(store_outbox_retry(s, b, 9), STORE_CONFLICT);
    assert_int_equal(store_outbox_retry(s, 999, 9), STORE_NOT_FOUND);
    store_close(s);
}

static int collect_holder(void *ctx, const store_user_t *u)
{
    char *buf = ctx;
    size_t len = strlen(buf);
    snprintf(buf + len, 256 - len, "%s%s:%s", len > 0 ? "," : "", u->id, u->odeus_role != NULL ? u->odeus_role : "-");
    return 0;
}

/*
 * One Odeus seat per email: two users with one email (any case) share one queue. A re-hire's new
 * account waits behind the old account's deactivation, a newer deactivation of the seat by either
 * supersedes the other's older rows, and a new change of the seat cancels the old account's
 * pending-invitee re-sends.
 */
static void test_outbox_seat_is_the_unit(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    char buf[256], want[128];
    int64_t now = 10000;

    /* the old account's deactivation waits for a retry; the new account's invite must not overtake it */
    int64_t old_off = outbox_add_seat(s, "old", "pat@example.com", "deactivate", now + 5000);
    int64_t new_on = outbox_add_seat(s, "new", "Pat@Example.com", "invite", 0);
    int64_t other = outbox_add_seat(s, "sam", "sam@example.com", "invite", 0);
    snprintf(want, sizeof(want), "%lld", (long long)other);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), want);
    snprintf(want, sizeof(want), "%lld,%lld", (long long)old_off, (long long)other);
    assert_string_equal(due_ids(s, now + 5000, NULL, 0, 16, buf, sizeof(buf)), want);
    int any = 0;
    assert_int_equal(store_outbox_seat_pending(s, "PAT@example.com", &any), STORE_OK);
    assert_true(any);

    /* the new account leaves again: its deactivation supersedes both accounts' older rows */
    int64_t new_off = outbox_add_seat(s, "new", "pat@example.com", "deactivate", 0);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, old_off, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(row.superseded_by, new_off);
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_get(s, new_on, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_finish(s, new_off, STORE_OUTBOX_DONE, "already", NULL, now), STORE_OK);

    /* re-sends for the old account's seat: cancelled by any newer change of the seat */
    assert_int_equal(store_recheck_schedule(s, "old", "pat@example.com", old_off, now, now, now + 100000), STORE_OK);
    size_t count = 0, n = 9;
    assert_int_equal(store_recheck_count(s, &count), STORE_OK);
    assert_int_equal(count, 1);
    (void)outbox_add_seat(s, "new", "PAT@EXAMPLE.COM", "invite", 0);
    assert_int_equal(store_recheck_count(s, &count), STORE_OK);
    assert_int_equal(count, 0);

    /* and never due while an active user holds the seat, whoever queued nothing */
    assert_int_equal(store_recheck_schedule(s, "gone", "kim@example.com", 1, now, now, now + 100000), STORE_OK);
    store_recheck_t rc[2];
    assert_int_equal(store_recheck_due(s, now, rc, 2, &n), STORE_OK);
    assert_int_equal(n, 1);
    store_recheck_clear(&rc[0]);
    store_user_t kim = make_user("kim-2", "kim2", NULL, 0);
    kim.odeus_email = "KIM@example.com";
    assert_int_equal(store_user_insert(s, &kim), STORE_OK);
    assert_int_equal(store_recheck_due(s, now, rc, 2, &n), STORE_OK);
    assert_int_equal(n, 0);
    store_close(s);
}

/* The other active holders of a seat, and the note a change leaves when the seat made its call moot. */
static void test_seat_holders_and_note(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    store_user_t a = make_user("a", "a-old", NULL, 0), b = make_user("b", "a-new", NULL, 0), c = make_user("c", "c", NULL, 0);
    a.odeus_email = "Ann@example.com";
    a.odeus_role = "admin";
    b.odeus_email = "ann@EXAMPLE.com";
    c.odeus_email = "ann@example.com";
    c.active = 0;
    c.seat_held = 0;
    assert_int_equal(store_user_insert(s, &a), STORE_OK);
    assert_int_equal(store_user_insert(s, &b), STORE_OK);
    assert_int_equal(store_user_insert(s, &c), STORE_OK);
    char buf[256] = "";
    assert_int_equal(store_seat_holders(s, "ANN@example.com", NULL, collect_holder, buf), STORE_OK);
    assert_string_equal(buf, "a:admin,b:-");
    buf[0] = '\0';
    assert_int_equal(store_seat_holders(s, "ann@example.com", "a", collect_holder, buf), STORE_OK);
    assert_string_equal(buf, "b:-");
    buf[0] = '\0';
    assert_int_equal(store_seat_holders(s, "nobody@example.com", NULL, collect_holder, buf), STORE_OK);
    assert_string_equal(buf, "");

    int64_t pending = outbox_add_seat(s, "a", "ann@example.com", "update_role", 0);
    store_outbox_t note = {.user_id = "b",
                           .action = "deactivate",
                           .email = "ann@example.com",
                           .created_at_ms = 500,
                           .outcome = "seat_shared",
                           .last_error = "no call: 1 other active user holds this Odeus seat",
                           .cause = "group g1"};
    int64_t id = 0;
    assert_int_equal(store_outbox_note(s, &note, &id), STORE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, id, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_DONE);
    assert_string_equal(row.outcome, "seat_shared");
    assert_string_equal(row.cause, "group g1");
    assert_int_equal(row.attempts, 0);
    store_outbox_clear(&row);
    /* it supersedes nothing and is never due */
    assert_int_equal(store_outbox_get(s, pending, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_PENDING);
    store_outbox_clear(&row);
    char want[32];
    snprintf(want, sizeof(want), "%lld", (long long)pending);
    assert_string_equal(due_ids(s, 10000, NULL, 0, 16, buf, sizeof(buf)), want);
    note.outcome = NULL;
    assert_int_equal(store_outbox_note(s, &note, NULL), STORE_ERROR);
    store_close(s);
}

static void test_outbox_due_per_user_order_and_skip(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    char buf[256];
    int64_t now = 10000;

    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), "");
    int64_t a1 = outbox_add(s, "alice", "invite", 100);     /* 1 */
    int64_t b1 = outbox_add(s, "bob", "invite", 200);       /* 2 */
    int64_t a2 = outbox_add(s, "alice", "update_role", 50); /* 3: due earlier, but after a1 */
    int64_t c1 = outbox_add(s, "carol", "invite", 20000);   /* 4: not due yet */
    int64_t c2 = outbox_add(s, "carol", "update_role", 0);  /* 5: due, but waits for c1 */
    int64_t d1 = outbox_add(s, "dave", "invite", 300);      /* 6 */
    char want[128];

    snprintf(want, sizeof(want), "%lld,%lld,%lld", (long long)a1, (long long)b1, (long long)d1);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), want);
    /* max */
    snprintf(want, sizeof(want), "%lld,%lld", (long long)a1, (long long)b1);
    assert_string_equal(due_ids(s, now, NULL, 0, 2, buf, sizeof(buf)), want);
    assert_string_equal(due_ids(s, now, NULL, 0, 0, buf, sizeof(buf)), "");
    /* not yet due */
    snprintf(want, sizeof(want), "%lld", (long long)a1);
    assert_string_equal(due_ids(s, 150, NULL, 0, 16, buf, sizeof(buf)), want);

    /* a1 in flight: alice's a2 must wait; max counts returned rows, not skipped ones */
    int64_t skip[] = {a1, 777};
    snprintf(want, sizeof(want), "%lld,%lld", (long long)b1, (long long)d1);
    assert_string_equal(due_ids(s, now, skip, 2, 2, buf, sizeof(buf)), want);

    /* a1 done: a2 is alice's oldest now */
    assert_int_equal(store_outbox_finish(s, a1, STORE_OUTBOX_DONE, "done", NULL, now), STORE_OK);
    snprintf(want, sizeof(want), "%lld,%lld,%lld", (long long)b1, (long long)a2, (long long)d1);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), want);

    /* b1 rescheduled into the future */
    assert_int_equal(store_outbox_reschedule(s, b1, now + 500, "retry", "HTTP 503"), STORE_OK);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, b1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_PENDING);
    assert_int_equal(row.attempts, 1);
    assert_int_equal(row.next_attempt_ms, now + 500);
    assert_string_equal(row.outcome, "retry");
    assert_string_equal(row.last_error, "HTTP 503");
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_reschedule(s, b1, now + 1000, "network", NULL), STORE_OK);
    assert_int_equal(store_outbox_get(s, b1, &row), STORE_OK);
    assert_int_equal(row.attempts, 2);
    assert_null(row.last_error);
    store_outbox_clear(&row);
    snprintf(want, sizeof(want), "%lld,%lld", (long long)a2, (long long)d1);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), want);

    /* next_due is the earliest pending next attempt, whoever's turn it is */
    int64_t at = 0;
    assert_int_equal(store_outbox_next_due(s, &at), STORE_OK);
    assert_int_equal(at, 0);

    /* pending_for_user: oldest pending, optionally by action */
    int64_t id = 0;
    assert_int_equal(store_outbox_pending_for_user(s, "carol", NULL, &id), STORE_OK);
    assert_int_equal(id, c1);
    assert_int_equal(store_outbox_pending_for_user(s, "carol", "update_role", &id), STORE_OK);
    assert_int_equal(id, c2);
    assert_int_equal(store_outbox_pending_for_user(s, "alice", "invite", &id), STORE_NOT_FOUND);
    assert_int_equal(store_outbox_pending_for_user(s, "nobody", NULL, &id), STORE_NOT_FOUND);

    size_t n = 0;
    assert_int_equal(store_outbox_pending_count(s, &n), STORE_OK);
    assert_int_equal(n, 5);

    /* FAILED ends a row too; c2 stays behind c1 until c1 ends */
    assert_int_equal(store_outbox_finish(s, c1, STORE_OUTBOX_FAILED, "refused", "invalidEmails", now + 1), STORE_OK);
    assert_int_equal(store_outbox_get(s, c1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_FAILED);
    assert_int_equal(row.attempts, 1);
    assert_string_equal(row.outcome, "refused");
    assert_string_equal(row.last_error, "invalidEmails");
    store_outbox_clear(&row);
    snprintf(want, sizeof(want), "%lld,%lld,%lld", (long long)a2, (long long)c2, (long long)d1);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), want);

    assert_int_equal(store_outbox_finish(s, a2, STORE_OUTBOX_PENDING, "done", NULL, now), STORE_ERROR);
    assert_int_equal(store_outbox_finish(s, 4242, STORE_OUTBOX_DONE, "done", NULL, now), STORE_NOT_FOUND);
    assert_int_equal(store_outbox_reschedule(s, 4242, now, "retry", NULL), STORE_NOT_FOUND);

    assert_int_equal(store_outbox_finish(s, a2, STORE_OUTBOX_DONE, "already", NULL, now), STORE_OK);
    assert_int_equal(store_outbox_finish(s, c2, STORE_OUTBOX_DONE, "not_member", NULL, now), STORE_OK);
    assert_int_equal(store_outbox_finish(s, d1, STORE_OUTBOX_DONE, "done", NULL, now), STORE_OK);
    assert_int_equal(store_outbox_next_due(s, &at), STORE_OK);
    assert_int_equal(at, now + 1000);
    assert_int_equal(store_outbox_finish(s, b1, STORE_OUTBOX_DONE, "done", NULL, now), STORE_OK);
    assert_int_equal(store_outbox_next_due(s, &at), STORE_NOT_FOUND);
    assert_int_equal(store_outbox_pending_count(s, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_string_equal(due_ids(s, now, NULL, 0, 16, buf, sizeof(buf)), "");
    store_close(s);
}

/*
 * Leases: two replicas (two connections with different owners) on one database. A claim holds a
 * row against the other replica until it runs out; the per-seat order holds across them; only
 * the holder records the outcome, so a replica whose lease was taken over cannot overwrite the
 * new holder's record.
 */
static void test_outbox_leases(void **state)
{
    fixture_t *f = *state;
    store_t *a = open_ok(f->path), *b = open_ok(f->path);
    char buf[128], want[64];
    const int64_t now = 10000;

    /* without an owner nothing can be claimed */
    int64_t x1 = outbox_add_seat(a, "u1", "x@example.com", "invite", 0);
    assert_int_equal(store_outbox_claim(a, x1, now, now + 100), STORE_ERROR);
    store_outbox_set_owner(a, "replica-a");
    store_outbox_set_owner(b, "replica-b");
    int64_t x2 = outbox_add_seat(a, "u2", "X@example.com", "update_role", 0); /* the same seat, newer */
    int64_t y1 = outbox_add_seat(a, "u3", "y@example.com", "invite", 0);
    int64_t late = outbox_add_seat(a, "u4", "z@example.com", "invite", now + 50000);

    /* A claims x1: B no longer sees it, nor x2 behind it; A still does (its own claim) */
    assert_int_equal(store_outbox_claim(a, x1, now, now + 100), STORE_OK);
    snprintf(want, sizeof(want), "%lld", (long long)y1);
    assert_string_equal(due_ids(b, now, NULL, 0, 16, buf, sizeof(buf)), want);
    snprintf(want, sizeof(want), "%lld,%lld", (long long)x1, (long long)y1);
    assert_string_equal(due_ids(a, now, NULL, 0, 16, buf, sizeof(buf)), want);
    /* B cannot claim x1 while A's lease lives, nor x2 behind it (an older row of its seat is unfinished) */
    assert_int_equal(store_outbox_claim(b, x1, now + 99, now + 200), STORE_CONFLICT);
    assert_int_equal(store_outbox_claim(b, x2, now + 99, now + 200), STORE_CONFLICT);
    assert_int_equal(store_outbox_claim(a, x2, now + 99, now + 200), STORE_CONFLICT);
    /* a row not due yet is not claimed */
    assert_int_equal(store_outbox_claim(b, late, now, now + 100), STORE_CONFLICT);
    /* A renews its own claim */
    assert_int_equal(store_outbox_claim(a, x1, now + 50, now + 150), STORE_OK);
    assert_int_equal(store_outbox_claim(b, x1, now + 120, now + 300), STORE_CONFLICT);

    /* A's lease runs out (A died, or stalls): B sees x1 again and takes it over */
    snprintf(want, sizeof(want), "%lld,%lld", (long long)x1, (long long)y1);
    assert_string_equal(due_ids(b, now + 150, NULL, 0, 16, buf, sizeof(buf)), want);
    assert_int_equal(store_outbox_claim(b, x1, now + 150, now + 400), STORE_OK);
    /* A's late records change nothing: B records the row */
    assert_int_equal(store_outbox_finish(a, x1, STORE_OUTBOX_DONE, "done", NULL, now + 160), STORE_CONFLICT);
    assert_int_equal(store_outbox_reschedule(a, x1, now + 9999, "retry", "HTTP 503"), STORE_CONFLICT);
    assert_int_equal(store_outbox_set_batch(a, x1, 77), STORE_CONFLICT);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(a, x1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_PENDING);
    assert_int_equal(row.attempts, 0);
    assert_int_equal(row.batch_id, 0);
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_claim(a, x1, now + 160, now + 500), STORE_CONFLICT);

    /* B's attempt fails: the record releases the claim; the next attempt is anyone's once due */
    assert_int_equal(store_outbox_reschedule(b, x1, now + 1000, "retry", "HTTP 503"), STORE_OK);
    assert_int_equal(store_outbox_claim(a, x1, now + 500, now + 600), STORE_CONFLICT); /* not due yet */
    assert_int_equal(store_outbox_claim(a, x1, now + 1000, now + 1100), STORE_OK);
    /* ... and then A is the holder whose record counts, B's no longer */
    assert_int_equal(store_outbox_finish(b, x1, STORE_OUTBOX_DONE, "done", NULL, now + 1001), STORE_CONFLICT);
    assert_int_equal(store_outbox_finish(a, x1, STORE_OUTBOX_DONE, "done", NULL, now + 1002), STORE_OK);
    assert_int_equal(store_outbox_get(b, x1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_DONE);
    assert_int_equal(row.attempts, 2);
    store_outbox_clear(&row);

    /* x1 finished: x2 is its seat's oldest, due and claimable, by one replica only */
    snprintf(want, sizeof(want), "%lld,%lld", (long long)x2, (long long)y1);
    assert_string_equal(due_ids(b, now + 1002, NULL, 0, 16, buf, sizeof(buf)), want);
    assert_int_equal(store_outbox_claim(b, x2, now + 1002, now + 2000), STORE_OK);
    assert_int_equal(store_outbox_claim(a, x2, now + 1003, now + 2000), STORE_CONFLICT);
    /* a finished row is not claimed again */
    assert_int_equal(store_outbox_finish(b, x2, STORE_OUTBOX_DONE, "done", NULL, now + 1004), STORE_OK);
    assert_int_equal(store_outbox_claim(b, x2, now + 5000, now + 6000), STORE_CONFLICT);
    /*
     * A claimed row superseded while its call is out: the call may still reach Odeus, so the
     * deactivation that superseded it waits until the holder records it (or its lease runs out).
     */
    int64_t w1 = outbox_add_seat(a, "u5", "w@example.com", "invite", 0);
    assert_int_equal(store_outbox_claim(a, w1, now + 2000, now + 3000), STORE_OK);
    int64_t w2 = outbox_add_seat(b, "u5", "w@example.com", "deactivate", 0);
    assert_int_equal(store_outbox_get(a, w1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    store_outbox_clear(&row);
    snprintf(want, sizeof(want), "%lld", (long long)y1);
    assert_string_equal(due_ids(b, now + 2001, NULL, 0, 16, buf, sizeof(buf)), want);
    assert_string_equal(due_ids(a, now + 2001, NULL, 0, 16, buf, sizeof(buf)), want);
    assert_int_equal(store_outbox_claim(b, w2, now + 2001, now + 4000), STORE_CONFLICT);
    /* past the lease it goes (the holder died: its call ended with its timeout long before) */
    snprintf(want, sizeof(want), "%lld,%lld", (long long)w2, (long long)y1);
    assert_string_equal(due_ids(b, now + 3000, NULL, 0, 16, buf, sizeof(buf)), want);
    /* and as soon as the holder records the call */
    assert_int_equal(store_outbox_finish(a, w1, STORE_OUTBOX_DONE, "done", NULL, now + 2002), STORE_OK);
    assert_string_equal(due_ids(b, now + 2002, NULL, 0, 16, buf, sizeof(buf)), want);
    assert_int_equal(store_outbox_claim(b, w2, now + 2002, now + 4000), STORE_OK);
    assert_int_equal(store_outbox_finish(b, w2, STORE_OUTBOX_DONE, "done", NULL, now + 2003), STORE_OK);

    /* unclaimed rows are recorded by anyone (a store without an owner too); unknown rows are not found */
    store_outbox_set_owner(b, NULL);
    assert_int_equal(store_outbox_finish(b, y1, STORE_OUTBOX_DONE, "done", NULL, now), STORE_OK);
    assert_int_equal(store_outbox_finish(a, 4242, STORE_OUTBOX_DONE, "done", NULL, now), STORE_NOT_FOUND);
    assert_int_equal(store_outbox_claim(a, 4242, now, now + 1), STORE_CONFLICT);
    store_close(b);
    store_close(a);
}

/* Two replicas claiming the same due rows at once: each row is claimed by exactly one of them. */
typedef struct claim_race {
    const char *path;
    const char *owner;
    const int64_t *ids;
    size_t n;
    size_t won;
} claim_race_t;

static void *claim_all(void *arg)
{
    claim_race_t *c = arg;
    char err[256];
    store_t *s = store_open(c->path, err, sizeof(err));
    if (s == NULL)
        return NULL;
    store_outbox_set_owner(s, c->owner);
    for (size_t i = 0; i < c->n; i++)
        if (store_outbox_claim(s, c->ids[i], 100, 100000) == STORE_OK)
            c->won++;
    store_close(s);
    return NULL;
}

static void test_outbox_claim_race(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    int64_t ids[200];
    for (size_t i = 0; i < 200; i++) {
        char user[32];
        snprintf(user, sizeof(user), "race-%zu", i);
        ids[i] = outbox_add(s, user, i % 3 ? "invite" : "deactivate", 0);
    }
    claim_race_t c[2] = {{f->path, "replica-a", ids, 200, 0}, {f->path, "replica-b", ids, 200, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(c[0].won + c[1].won, 200);
    store_close(s);
}

/* ---- transactions and durability -------------------------------------------------------------- */

static void test_transaction_rollback_and_commit(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    store_rollback(s); /* no transaction: a no-op */

    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "id-1", "alice");
    int64_t rolled = outbox_add(s, "id-1", "invite", 0);
    store_rollback(s);
    store_rollback(s);

    store_user_t u;
    assert_int_equal(store_user_get(s, "id-1", &u), STORE_NOT_FOUND);
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, rolled, &row), STORE_NOT_FOUND);
    size_t n = 9;
    assert_int_equal(store_outbox_pending_count(s, &n), STORE_OK);
    assert_int_equal(n, 0);

    /* nested begin is an error, and leaves the outer transaction alone */
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(store_begin(s), STORE_ERROR);
    assert_true(strlen(store_errmsg(s)) > 0);
    insert_user(s, "id-2", "bob");
    int64_t kept = outbox_add(s, "id-2", "invite", 0);
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_commit(s), STORE_ERROR); /* nothing open */
    store_close(s);

    /* committed rows survive close and reopen */
    s = open_ok(f->path);
    assert_int_equal(store_user_get(s, "id-2", &u), STORE_OK);
    assert_string_equal(u.user_name, "bob");
    store_user_clear(&u);
    assert_int_equal(store_outbox_get(s, kept, &row), STORE_OK);
    assert_string_equal(row.user_id, "id-2");
    store_outbox_clear(&row);
    assert_int_equal(store_user_get(s, "id-1", &u), STORE_NOT_FOUND);
    store_close(s);
}

/* Uncommitted work of a store closed mid-transaction is gone on reopen; committed work is not. */
static void test_close_mid_transaction(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    insert_user(s, "id-1", "alice"); /* autocommit */
    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "id-2", "bob");
    store_close(s);

    s = open_ok(f->path);
    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_ALL, NULL, &c), "id-1");
    store_close(s);
}

enum { WRITERS = 2, WRITES = 200 };

typedef struct writer {
    const char *path;
    int n;
    int failures;
    char err[256];
} writer_t;

static void *writer_thread(void *arg)
{
    writer_t *w = arg;
    store_t *s = store_open(w->path, w->err, sizeof(w->err));
    if (s == NULL) {
        w->failures = WRITES;
        return NULL;
    }
    for (int i = 0; i < WRITES; i++) {
        char id[32], name[32];
        snprintf(id, sizeof(id), "w%d-%d", w->n, i);
        snprintf(name, sizeof(name), "user-%d-%d", w->n, i);
        const char *emails[] = {name};
        store_user_t u = make_user(id, name, emails, 1);
        store_outbox_t row = {.user_id = id, .action = "invite", .email = name, .created_at_ms = i, .next_attempt_ms = i};
        int64_t oid;
        /* every other write goes through an explicit transaction, the rest autocommit */
        int tx = i % 2 == 0;
        if ((tx && store_begin(s) != STORE_OK) || store_user_insert(s, &u) != STORE_OK ||
            store_outbox_insert(s, &row, &oid) != STORE_OK || (tx && store_commit(s) != STORE_OK)) {
            snprintf(w->err, sizeof(w->err), "%s", store_errmsg(s));
            store_rollback(s);
            w->failures++;
        }
        /* and a read in between, as a worker would */
        size_t n;
        if (store_user_count(s, &n) != STORE_OK)
            w->failures++;
    }
    store_close(s);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    fixture_t *f = *state;
    store_close(open_ok(f->path));
    writer_t w[WRITERS];
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer_t){.path = f->path, .n = i};
        assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < WRITERS; i++)
        if (w[i].failures != 0)
            fail_msg("writer %d: %d failures, last: %s", i, w[i].failures, w[i].err);

    store_t *s = open_ok(f->path);
    size_t n = 0;
    assert_int_equal(store_user_count(s, &n), STORE_OK);
    assert_int_equal(n, WRITERS * WRITES);
    assert_int_equal(store_outbox_pending_count(s, &n), STORE_OK);
    assert_int_equal(n, WRITERS * WRITES);
    collect_t c;
    assert_string_equal(scan_ids(s, STORE_SCAN_EMAIL, "USER-1-199", &c), "w1-199");
    store_close(s);
}

/* ---- writers of several connections (PostgreSQL: several replicas) ------------------------------------ */

typedef struct late_writer {
    const char *path;
    long long began_ms; /* when its store_begin returned */
    int64_t id;         /* the outbox row it committed */
    int failed;
    char err[256];
} late_writer_t;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *late_writer_thread(void *arg)
{
    late_writer_t *w = arg;
    store_t *s = store_open(w->path, w->err, sizeof(w->err));
    store_outbox_t row = {.user_id = "u-b", .action = "invite", .email = "b@example.com", .created_at_ms = 1, .next_attempt_ms = 1};
    if (s == NULL || store_begin(s) != STORE_OK) {
        w->failed = 1;
    } else {
        w->began_ms = mono_ms();
        if (store_outbox_insert(s, &row, &w->id) != STORE_OK || store_commit(s) != STORE_OK)
            w->failed = 1;
    }
    if (s != NULL && w->failed)
        snprintf(w->err, sizeof(w->err), "%s", store_errmsg(s));
    store_close(s);
    return NULL;
}

/*
 * A writer waits for another connection's open transaction (the SQLite writers' mutex; on
 * PostgreSQL the advisory lock every writer of the database takes), and the outbox ids come in
 * commit order: the per-seat order rule reads that order from the ids.
 */
static void test_writers_take_turns_across_connections(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    assert_int_equal(store_begin(s), STORE_OK);
    late_writer_t w = {.path = f->path};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, late_writer_thread, &w), 0);
    usleep(300 * 1000);
    int64_t first = outbox_add(s, "u-a", "invite", 1);
    long long committed_ms = mono_ms();
    assert_int_equal(store_commit(s), STORE_OK);
    pthread_join(t, NULL);
    if (w.failed)
        fail_msg("the second writer failed: %s", w.err);
    assert_true(w.began_ms >= committed_ms);
    assert_true(w.id > first);
    store_close(s);
}

/*
 * PostgreSQL: the delivery's read of due rows skips a row another transaction holds locked
 * (FOR UPDATE SKIP LOCKED) and, since that row is still pending, keeps its seat's newer rows back.
 */
static void test_pg_due_skips_locked_rows(void **state)
{
    fixture_t *f = *state;
    if (!test_db_pg())
        skip(); /* on SQLite another connection's open transaction is invisible, and there is one writer */
    store_t *writer = open_ok(f->path), *delivery = open_ok(f->path);
    int64_t a1 = outbox_add(writer, "u-a", "invite", 0);
    int64_t b1 = outbox_add(writer, "u-b", "invite", 0);
    int64_t a2 = outbox_add(writer, "u-a", "invite", 0);
    char buf[128], want[64];
    snprintf(want, sizeof(want), "%lld,%lld", (long long)a1, (long long)b1);
    assert_string_equal(due_ids(delivery, 10, NULL, 0, 16, buf, sizeof(buf)), want);

    /* a writer holds a1 (the deactivation guard, say) in its open transaction */
    assert_int_equal(store_begin(writer), STORE_OK);
    assert_int_equal(store_outbox_hold(writer, &a1, 1, "guard"), STORE_OK);
    snprintf(want, sizeof(want), "%lld", (long long)b1);
    assert_string_equal(due_ids(delivery, 10, NULL, 0, 16, buf, sizeof(buf)), want);
    store_rollback(writer);
    snprintf(want, sizeof(want), "%lld,%lld", (long long)a1, (long long)b1);
    assert_string_equal(due_ids(delivery, 10, NULL, 0, 16, buf, sizeof(buf)), want);
    (void)a2;
    store_close(delivery);
    store_close(writer);
}

/* Counts the users a scan visits, reading each one back through the store on the way (re-entrant). */
typedef struct reentrant_count {
    store_t *s;
    int seen, read_back;
} reentrant_count_t;

static int on_count_reading_back(void *ctx, const store_user_t *row)
{
    reentrant_count_t *c = ctx;
    int64_t version;
    c->seen++;
    if (store_user_version(c->s, row->id, &version) == STORE_OK && version == row->version)
        c->read_back++;
    return 0;
}

/*
 * A scan of a whole table larger than PostgreSQL's fetch chunk (256 rows) visits every row once,
 * in order of insertion, while its callback calls back into the store, inside a transaction and
 * outside one, and the store is usable afterwards (the cursor was closed).
 */
static void test_scan_all_large(void **state)
{
    fixture_t *f = *state;
    store_t *s = open_ok(f->path);
    enum { N = 700 };
    assert_int_equal(store_begin(s), STORE_OK);
    for (int i = 0; i < N; i++) {
        char id[32], name[32];
        snprintf(id, sizeof(id), "scan-%04d", i);
        snprintf(name, sizeof(name), "user%04d", i);
        insert_user(s, id, name);
    }
    assert_int_equal(store_commit(s), STORE_OK);
    for (int in_tx = 0; in_tx < 2; in_tx++) {
        if (in_tx)
            assert_int_equal(store_begin(s), STORE_OK);
        reentrant_count_t c = {.s = s};
        assert_int_equal(store_user_scan(s, STORE_SCAN_ALL, NULL, on_count_reading_back, &c), STORE_OK);
        assert_int_equal(c.seen, N);
        assert_int_equal(c.read_back, N);
        collect_t first = {.stop_after = 2};
        assert_int_equal(store_user_scan(s, STORE_SCAN_ALL, NULL, on_user_collect, &first), STORE_OK);
        assert_string_equal(first.ids, "scan-0000,scan-0001");
        if (in_tx) {
            insert_user(s, "scan-late", "late");
            assert_int_equal(store_commit(s), STORE_OK);
        }
    }
    int64_t version;
    assert_int_equal(store_user_version(s, "scan-late", &version), STORE_OK);
    store_close(s);
}

/* Ends every other session on the database of `url` (as a server restart or a failover does). */
static void terminate_sessions(const char *url)
{
    assert_int_equal(test_db_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid()"),
                     0);
}

/*
 * A connection lost inside a transaction is not made again until the transaction ends: what the
 * transaction wrote died with it (the server rolled it back), and nothing after the loss may run
 * outside it. Its COMMIT fails, its ROLLBACK ends it, and the next call connects again by itself,
 * as does a read on a connection lost while idle.
 */
static void test_pg_connection_lost(void **state)
{
    fixture_t *f = *state;
    if (!test_db_pg())
        skip(); /* a SQLite file does not go away */
    store_t *s = open_ok(f->path);
    int retry_s = 0;
    assert_false(store_unavailable(s, &retry_s));

    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "u-lost", "lost");
    terminate_sessions(f->path);
    store_user_t u = make_user("u-after", "after", NULL, 0);
    assert_int_equal(store_user_insert(s, &u), STORE_ERROR); /* not on a new connection, outside the transaction */
    assert_true(store_unavailable(s, &retry_s));
    assert_true(retry_s >= 1);
    assert_int_equal(store_commit(s), STORE_ERROR);
    store_rollback(s);

    /* the next call connects again: neither user was written */
    int64_t version;
    assert_int_equal(store_user_version(s, "u-lost", &version), STORE_NOT_FOUND);
    assert_false(store_unavailable(s, NULL));
    assert_int_equal(store_user_version(s, "u-after", &version), STORE_NOT_FOUND);

    /* lost while idle: the next read, and the next transaction, simply run on a new connection */
    insert_user(s, "u-idle", "idle");
    terminate_sessions(f->path);
    assert_int_equal(store_user_version(s, "u-idle", &version), STORE_OK);
    terminate_sessions(f->path);
    assert_int_equal(store_begin(s), STORE_OK);
    insert_user(s, "u-begun", "begun");
    assert_int_equal(store_commit(s), STORE_OK);
    assert_int_equal(store_user_version(s, "u-begun", &version), STORE_OK);
    assert_false(store_unavailable(s, NULL));
    store_close(s);
}

/* ---- store_copy ------------------------------------------------------------------------------ */

/* Every outbox row of `s` as text, oldest first (for one comparison); `max_id` gets the largest id. */
typedef struct outbox_text {
    char text[4096];
    int64_t max_id;
} outbox_text_t;

static int on_outbox_text(void *ctx, const store_outbox_t *r)
{
    outbox_text_t *o = ctx;
    snprintf(o->text + strlen(o->text), sizeof(o->text) - strlen(o->text), "%lld:%s:%s:%s:%d:%d:%s:%s:%lld:%lld:%s;",
             (long long)r->id, r->user_id, r->action, r->email, (int)r->state, r->attempts, r->outcome ? r->outcome : "-",
             r->last_error ? r->last_error : "-", (long long)r->superseded_by, (long long)r->batch_id, r->cause ? r->cause : "-");
    o->max_id = r->id > o->max_id ? r->id : o->max_id;
    return 0;
}

static const char *outbox_text(store_t *s, outbox_text_t *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(store_outbox_list(s, -1, 1000, on_outbox_text, o), STORE_OK);
    return o->text;
}

static int on_member(void *ctx, const char *user_id, const char *user_name)
{
    (void)user_name;
    char *ids = ctx;
    strcat(ids, user_id);
    strcat(ids, ",");
    return 0;
}

/* What a store holds, as text: users (creation order, with their fields), the email index, members, outbox, re-sends. */
static void store_text(store_t *s, char *out, size_t len)
{
    collect_t c;
    outbox_text_t o;
    char members[256] = "";
    size_t rechecks = 0;
    assert_int_equal(store_group_members(s, "g-1", on_member, members), STORE_OK);
    assert_int_equal(store_recheck_count(s, &rechecks), STORE_OK);
    store_user_t u2 = {0};
    assert_int_equal(store_user_get(s, "u-2", &u2), STORE_OK);
    snprintf(out, len, "users %s | by email %s | u-2 %s %s %s v%lld seat %d | members %s | outbox %s | rechecks %zu",
             scan_ids(s, STORE_SCAN_ALL, NULL, &c), scan_ids(s, STORE_SCAN_EMAIL, "B2@EXAMPLE.COM", &c), u2.user_name, u2.resource,
             u2.odeus_role ? u2.odeus_role : "-", (long long)u2.version, u2.seat_held, members, outbox_text(s, &o), rechecks);
    store_user_clear(&u2);
}

/* A SQLite store with a bit of everything goes into the fixture's (SQLite or PostgreSQL) with its keys. */
static void test_copy(void **state)
{
    fixture_t *f = *state;
    char src_path[128];
    snprintf(src_path, sizeof(src_path), "sqlite:%s/source.db", f->dir);
    store_t *src = open_ok(src_path), *dst = open_ok(f->path);

    const char *emails[] = {"b1@example.com", "b2@example.com"};
    insert_user(src, "u-1", "one");
    store_user_t u = make_user("u-2", "two", emails, 2);
    u.odeus_role = "editor";
    assert_int_equal(store_user_insert(src, &u), STORE_OK);
    insert_user(src, "u-3", "three");
    assert_int_equal(store_user_delete(src, "u-1"), STORE_OK); /* a gap in the seqs */
    store_group_t g = {.id = "g-1",
                       .display_name = "Eng",
                       .created = "2026-01-01T00:00:00Z",
                       .last_modified = "2026-01-01T00:00:00Z",
                       .version = 1,
                       .resource = "{}"};
    assert_int_equal(store_group_insert(src, &g), STORE_OK);
    int added = 0;
    assert_int_equal(store_group_member_add(src, "g-1", "u-3", &added), STORE_OK);
    assert_int_equal(store_group_member_add(src, "g-1", "u-2", &added), STORE_OK);
    int64_t done = outbox_add(src, "u-2", "invite", 0);
    assert_int_equal(store_outbox_finish(src, done, STORE_OUTBOX_DONE, "done", NULL, 2000), STORE_OK);
    int64_t batched = outbox_add(src, "u-3", "invite", 0);
    assert_int_equal(store_outbox_set_batch(src, batched, batched), STORE_OK);
    outbox_add(src, "u-3", "deactivate", 0); /* supersedes the batched invite */
    int64_t failed = outbox_add(src, "u-9", "invite", 0);
    assert_int_equal(store_outbox_finish(src, failed, STORE_OUTBOX_FAILED, "refused", "400", 3000), STORE_OK);
    outbox_add(src, "u-2", "update_role", 5000);
    assert_int_equal(store_recheck_schedule(src, "u-2", "b1@example.com", done, 1000, 2000, 9000), STORE_OK);
    store_mirror_group_t mg = {.group_id = "g-1", .odeus_id = "o-1", .state = STORE_MIRROR_LIVE, .updated_ms = 7};
    assert_int_equal(store_mirror_group_put(src, &mg), STORE_OK);
    assert_int_equal(store_mirror_member_put(src, "g-1", "b1@example.com", 1, 0, 0, NULL), STORE_OK);
    assert_int_equal(store_mirror_member_put(src, "g-1", "gone@example.com", 0, 100, 900, "not found"), STORE_OK);

    char want[8192], got[8192];
    store_text(src, want, sizeof(want));
    store_copy_counts_t n;
    assert_int_equal(store_copy(src, dst, 0, &n), STORE_OK);
    assert_int_equal(n.mirror_groups, 1);
    assert_int_equal(n.mirror_members, 2);
    store_mirror_group_t copied;
    assert_int_equal(store_mirror_group_get(dst, "g-1", &copied), STORE_OK);
    assert_string_equal(copied.odeus_id, "o-1");
    assert_int_equal(copied.state, STORE_MIRROR_LIVE);
    store_mirror_group_clear(&copied);
    assert_int_equal(n.users, 2);
    assert_int_equal(n.emails, 2);
    assert_int_equal(n.groups, 1);
    assert_int_equal(n.members, 2);
    assert_int_equal(n.outbox, 5);
    assert_int_equal(n.rechecks, 1);
    store_text(dst, got, sizeof(got));
    assert_string_equal(got, want);

    /* a second copy finds data: refused, nothing changed; with replace, the same target again */
    assert_int_equal(store_copy(src, dst, 0, &n), STORE_CONFLICT);
    assert_non_null(strstr(store_errmsg(dst), "holds"));
    assert_int_equal(store_copy(src, dst, 1, &n), STORE_OK);
    store_text(dst, got, sizeof(got));
    assert_string_equal(got, want);

    /* the target's next keys come after the copied ones: a new user, a new outbox row after the last */
    outbox_text_t o;
    outbox_text(dst, &o);
    insert_user(dst, "u-4", "four");
    assert_true(outbox_add(dst, "u-4", "invite", 0) > o.max_id);
    collect_t c;
    assert_string_equal(scan_ids(dst, STORE_SCAN_ALL, NULL, &c), "u-2,u-3,u-4");
    /* the copy is the target's: it does not change the source */
    store_text(src, got, sizeof(got));
    assert_string_equal(got, want);
    store_close(src);
    store_close(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema_and_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_newer_schema_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_bad_path_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_rendered_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_update_index_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_migrates_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_delete_cascades_emails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_name_unique_case_insensitive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_write_failure_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_scan_by_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_scan_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_page_and_count_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_page_continues_across_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_select_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_select_where, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_update_sort_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_migrates_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_insert_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_due_per_user_order_and_skip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_seat_is_the_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seat_holders_and_note, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_coalescing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_due_deactivations_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_superseded_by_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recheck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_deferred_then_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_leases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_claim_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transaction_rollback_and_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writers_take_turns_across_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_due_skips_locked_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_connection_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_all_large, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
