/*
 * Opening and closing the database: the connection's pragmas and the schema, created or migrated
 * by PRAGMA user_version.
 */
#include "store/sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/alloc.h"

/*
 * Schema migrations: migrations[i] takes the schema from user_version i to i + 1. Append new
 * steps; never edit a released one, since databases in the field already ran it.
 *
 * COLLATE NOCASE folds ASCII letters only, so userName and email comparisons are
 * case-insensitive for A-Z; non-ASCII letters compare exactly. Good enough for identifiers and
 * email addresses in practice, and it keeps the index usable for lookups.
 */
static const char *const migrations[] = {
    /* 0 -> 1: initial schema */
    "CREATE TABLE users ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " user_name TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    " external_id TEXT,"
    " odeus_email TEXT,"
    " active INTEGER NOT NULL,"
    " created TEXT NOT NULL,"
    " last_modified TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " resource TEXT NOT NULL);"
    "CREATE INDEX users_external_id ON users(external_id);"
    "CREATE TABLE user_emails ("
    " user_seq INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
    " value TEXT NOT NULL COLLATE NOCASE);"
    "CREATE INDEX user_emails_value ON user_emails(value);"
    /* the cascade and the delete-before-reinsert on update look rows up by user_seq */
    "CREATE INDEX user_emails_user ON user_emails(user_seq);"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " role TEXT,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " next_attempt_at INTEGER NOT NULL,"
    " last_error TEXT,"
    " outcome TEXT,"
    " done_at INTEGER,"
    " prev_resource TEXT,"
    " result_version INTEGER NOT NULL DEFAULT 0);"
    /*
     * Finished rows are kept (they are the history) and outnumber pending ones; partial indexes on
     * state = 0 keep the delivery queries proportional to the pending rows. Every query on the
     * outbox that should use them says "state = 0" literally, which is what lets SQLite pick them.
     */
    "CREATE INDEX outbox_due ON outbox(state, next_attempt_at) WHERE state = 0;"
    "CREATE INDEX outbox_user ON outbox(user_id, state) WHERE state = 0;",
    /*
     * 1 -> 2: coalescing and pending-invitee re-sends. superseded_by points a superseded row
     * (state 3) at the live row that replaced it, so that a request waiting on the old row can
     * follow the new one. invitee_recheck holds the deactivations that Odeus answered 404 for a
     * user the gateway had invited: they are sent again until the invitation could no longer be
     * accepted (README, "Invitees who never joined").
     */
    "ALTER TABLE outbox ADD COLUMN superseded_by INTEGER;"
    "CREATE INDEX outbox_superseded ON outbox(superseded_by) WHERE superseded_by IS NOT NULL;"
    "CREATE TABLE invitee_recheck ("
    " user_id TEXT PRIMARY KEY,"
    " email TEXT NOT NULL,"
    " outbox_id INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL,"
    " until_at INTEGER NOT NULL,"
    " sends INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT);"
    "CREATE INDEX invitee_recheck_due ON invitee_recheck(next_at);"
    /* "did Odeus ever accept an invite for this user", asked when a deactivation meets a 404 */
    "CREATE INDEX outbox_user_done ON outbox(user_id, action) WHERE state = 1;",
    /*
     * 2 -> 3: the rendering of each user without "meta" (scim_user_render_text of resource), so
     * that reads splice meta into stored text instead of parsing and rendering the resource. Rows
     * written before have NULL there, and readers render them from resource.
     */
    "ALTER TABLE users ADD COLUMN rendered TEXT;",
    /*
     * 3 -> 4: one Odeus seat per email (README, "One seat per email"). Odeus knows a person by
     * email only, so the outbox orders, coalesces and cancels per seat (the email, folded to lower
     * case: COLLATE NOCASE folds ASCII only, as lower() does), and a change asks which other
     * active users hold its seat, and with which effective role (odeus_role: the role computed at
     * the user's last write; NULL in older rows, whose role is read from resource instead).
     */
    "ALTER TABLE users ADD COLUMN odeus_role TEXT;"
    /* whether the user holds its seat: active, with an Odeus email, and (with --access-groups) in one of them */
    "ALTER TABLE users ADD COLUMN seat_held INTEGER NOT NULL DEFAULT 0;"
    "UPDATE users SET seat_held = (active = 1 AND odeus_email IS NOT NULL);"
    "CREATE INDEX users_seat ON users(odeus_email COLLATE NOCASE) WHERE seat_held = 1;"
    "ALTER TABLE outbox ADD COLUMN seat TEXT;"
    "UPDATE outbox SET seat = lower(email);"
    "CREATE INDEX outbox_seat ON outbox(seat, state) WHERE state = 0;"
    "CREATE INDEX outbox_seat_done ON outbox(seat, action) WHERE state = 1;"
    "ALTER TABLE invitee_recheck ADD COLUMN seat TEXT;"
    "UPDATE invitee_recheck SET seat = lower(email);"
    "CREATE INDEX invitee_recheck_seat ON invitee_recheck(seat);",
    /*
     * 4 -> 5: groups (README, "Groups"). Members are rows of group_members, keyed both ways, so
     * that adding one member to a large group touches one row, and a user's groups (its `groups`
     * attribute, its role from --group-role-map) are one index lookup. Deleting a user or a group
     * drops its memberships by cascade.
     */
    "CREATE TABLE groups ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " display_name TEXT NOT NULL COLLATE NOCASE UNIQUE,"
    " external_id TEXT,"
    " created TEXT NOT NULL,"
    " last_modified TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " resource TEXT NOT NULL);"
    "CREATE INDEX groups_external_id ON groups(external_id);"
    "CREATE TABLE group_members ("
    " group_seq INTEGER NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,"
    " user_seq INTEGER NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
    " PRIMARY KEY (group_seq, user_seq)) WITHOUT ROWID;"
    "CREATE INDEX group_members_user ON group_members(user_seq, group_seq);"
    /*
     * The pending-invitee re-sends carry the call they repeat: a deactivation, or (new) a role
     * change Odeus answered 404 for because the invitee has not joined yet.
     */
    "ALTER TABLE invitee_recheck ADD COLUMN action TEXT NOT NULL DEFAULT 'deactivate';"
    "ALTER TABLE invitee_recheck ADD COLUMN role TEXT;"
    /* why a change was queued when it is not the user's own (a group: "group <id>"), for `outbox list` */
    "ALTER TABLE outbox ADD COLUMN cause TEXT;",
    /*
     * 5 -> 6: the values lists sort and narrow by, so that a sorted page reads the index and that
     * page's rows rather than parsing every user. NOCASE folds ASCII letters only, as the SCIM sort
     * and filter compare these case-insensitive attributes. Existing rows are filled from their
     * canonical JSON here, by the rule scim_sort_value() applies to new ones: a string value or
     * NULL; for the email, the value of the first primary element, else of the first element.
     */
    "ALTER TABLE users ADD COLUMN display_name TEXT COLLATE NOCASE;"
    "ALTER TABLE users ADD COLUMN family_name TEXT COLLATE NOCASE;"
    "ALTER TABLE users ADD COLUMN given_name TEXT COLLATE NOCASE;"
    "ALTER TABLE users ADD COLUMN primary_email TEXT COLLATE NOCASE;"
    "UPDATE users SET"
    " display_name = CASE json_type(resource, '$.displayName') WHEN 'text' THEN json_extract(resource, '$.displayName') END,"
    " family_name = CASE json_type(resource, '$.name.familyName') WHEN 'text' THEN json_extract(resource, '$.name.familyName') END,"
    " given_name = CASE json_type(resource, '$.name.givenName') WHEN 'text' THEN json_extract(resource, '$.name.givenName') END,"
    " primary_email = (SELECT CASE json_type(e.value, '$.value') WHEN 'text' THEN json_extract(e.value, '$.value') END"
    "  FROM json_each(resource, '$.emails') AS e"
    "  ORDER BY json_type(e.value, '$.primary') IS 'true' DESC, e.key LIMIT 1);"
    /* an index on a column ends in the rowid (seq): equal values come in creation order */
    "CREATE INDEX users_display_name ON users(display_name);"
    "CREATE INDEX users_family_name ON users(family_name);"
    "CREATE INDEX users_given_name ON users(given_name);"
    "CREATE INDEX users_primary_email ON users(primary_email);"
    "CREATE INDEX users_created ON users(created);"
    "CREATE INDEX users_last_modified ON users(last_modified);",
    /*
     * 6 -> 7: the batch an invite last went out in (the id of the batch's first row), so that
     * `outbox list` shows which rows one call carried; NULL for a row sent alone.
     */
    "ALTER TABLE outbox ADD COLUMN batch_id INTEGER;",
    /*
     * 7 -> 8: outbox leases, for several replicas on one database (README, "Database"): the
     * replica that claimed a pending row for its next call (lease_owner) and until when
     * (lease_until, unix ms; NULL once the attempt is recorded). Another replica takes a row over
     * only once lease_until has passed, only lease_owner records the row's outcome, and a seat's
     * newer rows wait while an older row's lease lives, superseded or not (its call may be out).
     */
    "ALTER TABLE outbox ADD COLUMN lease_owner TEXT;"
    "ALTER TABLE outbox ADD COLUMN lease_until INTEGER;"
    /* the calls on the wire, per seat: a record ends the lease, so this index holds those rows only */
    "CREATE INDEX outbox_lease ON outbox(seat) WHERE lease_until IS NOT NULL;",
    /*
     * 8 -> 9: the Odeus workspace groups mirrored from SCIM groups (README, "Mirroring groups into
     * Odeus"). mirror_groups holds, per SCIM group id, the Odeus group's id once created or adopted
     * and whether the mirror is live or ended in a conflict; it outlives the SCIM group until the
     * Odeus group is deleted. mirror_members holds what the gateway knows of each Odeus group's
     * members (lower-case email): `have` 1 when Odeus confirmed the membership; 0 with next_at for
     * an address Odeus did not find (a pending invitee), re-sent until until_at. The directory's
     * side (who should be a member) is group_members itself, never copied.
     */
    "CREATE TABLE mirror_groups ("
    " group_id TEXT PRIMARY KEY,"
    " odeus_id TEXT,"
    " state TEXT NOT NULL,"
    " reason TEXT,"
    " updated_at INTEGER NOT NULL);"
    "CREATE TABLE mirror_members ("
    " group_id TEXT NOT NULL,"
    " email TEXT NOT NULL,"
    " have INTEGER NOT NULL,"
    " next_at INTEGER NOT NULL DEFAULT 0,"
    " until_at INTEGER NOT NULL DEFAULT 0,"
    " sends INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " PRIMARY KEY (group_id, email)) WITHOUT ROWID;"
    "CREATE INDEX mirror_members_email ON mirror_members(email);"
    "CREATE INDEX mirror_members_next ON mirror_members(next_at) WHERE have = 0;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(SCHEMA_VERSION == STORE_SCHEMA_VERSION, "a migration step needs its PostgreSQL twin in store/pg_db.c");

static void copy_err(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void copy_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Runs a one-row PRAGMA and returns its first column as text in `out` (may be NULL; a value that
 * does not fit in `out_len` is an error). Not a cached statement: each runs once per connection.
 * Switching the journal mode can report SQLITE_BUSY without consulting the busy handler while
 * another connection opens the same new file, so BUSY is retried here up to the busy timeout.
 */
static store_status_t pragma(store_t *s, const char *sql, char *out, size_t out_len)
{
    sqlite3_stmt *st = NULL;
    store_status_t ret = STORE_ERROR;
    for (long waited = 0;; waited += 10) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
                ret = STORE_OK;
                const char *text = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
                if (out != NULL && snprintf(out, out_len, "%s", text != NULL ? text : "") >= (int)out_len) {
                    store__error(s, "%s: unexpected answer \"%s\"", sql, text);
                    ret = STORE_ERROR;
                }
                goto out;
            }
        }
        if ((rc & 0xff) != SQLITE_BUSY || waited >= STORE_BUSY_TIMEOUT_MS) {
            store__error(s, "%s: %s", sql, sqlite3_errmsg(s->db));
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
        sleep_ms(10);
    }
out:
    sqlite3_finalize(st);
    return ret;
}

static store_status_t read_user_version(store_t *s, int *version)
{
    char buf[32];
    if (pragma(s, "PRAGMA user_version", buf, sizeof(buf)) != STORE_OK)
        return STORE_ERROR;
    *version = atoi(buf);
    return STORE_OK;
}

static store_status_t check_version(store_t *s, int version)
{
    if (version > SCHEMA_VERSION) {
        store__error(s, "database schema version %d is newer than this gateway supports (%d); upgrade the gateway", version,
                     SCHEMA_VERSION);
        return STORE_ERROR;
    }
    if (version < 0) {
        store__error(s, "database schema version %d is invalid", version);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/*
 * Brings the schema to SCHEMA_VERSION in one transaction. BEGIN IMMEDIATE serializes concurrent
 * first opens; the version is read again inside it because another connection may have migrated
 * while this one waited.
 */
static store_status_t migrate(store_t *s)
{
    int version;
    if (read_user_version(s, &version) != STORE_OK || check_version(s, version) != STORE_OK)
        return STORE_ERROR;
    if (version == SCHEMA_VERSION)
        return STORE_OK;

    store_status_t ret = STORE_ERROR;
    if (store_begin(s) != STORE_OK)
        return STORE_ERROR;
    if (read_user_version(s, &version) != STORE_OK || check_version(s, version) != STORE_OK)
        goto out;
    for (; version < SCHEMA_VERSION; version++) {
        char *msg = NULL;
        if (sqlite3_exec(s->db, migrations[version], NULL, NULL, &msg) != SQLITE_OK) {
            store__error(s, "schema migration %d -> %d: %s", version, version + 1, msg != NULL ? msg : "unknown error");
            sqlite3_free(msg);
            goto out;
        }
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (pragma(s, sql, NULL, 0) != STORE_OK)
        goto out;
    ret = store_commit(s);
out:
    if (ret != STORE_OK)
        store__rollback_keeping_error(s);
    return ret;
}

int store_url_check(const char *url, char *why, size_t why_len)
{
    if (store__pg_url(url))
        return store__pg_url_check(url, why, why_len);
    if (strncmp(url, "sqlite:", 7) != 0) {
        snprintf(why, why_len, "must be sqlite:PATH or a postgres:// (postgresql://) URL");
        return -1;
    }
    if (url[7] == '\0' || strncmp(url + 7, "//", 2) == 0) {
        snprintf(why, why_len, "sqlite: needs a file path, as sqlite:/var/lib/gateway/gateway.db or sqlite:data/gateway.db");
        return -1;
    }
    return 0;
}

store_t *store_open(const char *path, char *err, size_t err_len)
{
    if (store__pg_url(path))
        return store__pg_open(path, err, err_len);
    /* "sqlite:PATH" is the URL form of a path (--database); a bare path is still taken as one */
    if (strncmp(path, "sqlite:", 7) == 0)
        path += 7;
    store_t *s = gw_calloc(1, sizeof(*s));
    /* NOMUTEX needs a library built thread-safe: connections are still used from several threads */
    if (!sqlite3_threadsafe()) {
        copy_err(err, err_len, "store: SQLite was built without thread support");
        goto fail;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        copy_err(err, err_len, "store: cannot open %s: %s", path, s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* the timeout first: the pragmas below may already meet another connection's lock */
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

    char mode[16];
    if (pragma(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != STORE_OK)
        goto fail_msg;
    /* an in-memory database reports "memory" and has no WAL; it is only good for one connection anyway */
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        store__error(s, "cannot switch to WAL journal mode (got \"%s\")", mode);
        goto fail_msg;
    }
    if (pragma(s, "PRAGMA synchronous = FULL", NULL, 0) != STORE_OK || pragma(s, "PRAGMA foreign_keys = ON", NULL, 0) != STORE_OK)
        goto fail_msg;
    /*
     * Checkpoints copy the WAL's newest page versions into the database. A busy directory changes
     * the same few pages over and over (the outbox tail, hot users), so a longer WAL means far
     * fewer copies per change: 4000 pages (16 MiB) rather than SQLite's 1000.
     */
    if (strcmp(mode, "wal") == 0 && pragma(s, "PRAGMA wal_autocheckpoint = 4000", NULL, 0) != STORE_OK)
        goto fail_msg;
    if (strcmp(mode, "wal") == 0)
        store__group_join(s);
    if (store__users_register(s) != STORE_OK || migrate(s) != STORE_OK)
        goto fail_msg;
    return s;

fail_msg:
    copy_err(err, err_len, "store: %s: %s", path, s->errmsg);
fail:
    store_close(s);
    return NULL;
}

void store_close(store_t *store)
{
    if (store == NULL)
        return;
    free(store->owner);
    if (store->pg != NULL) {
        store__pg_close(store);
        return;
    }
    if (store->db != NULL && !sqlite3_get_autocommit(store->db))
        store_rollback(store);
    for (size_t i = 0; i < SQL__COUNT; i++)
        sqlite3_finalize(store->stmts[i]);
    /* every statement is finalized above, so close cannot be refused with SQLITE_BUSY */
    sqlite3_close(store->db);
    store__group_leave(store);
    free(store);
}

int store_defers_sync(const char *path)
{
    return !store__pg_url(path);
}

int store_unavailable(store_t *store, int *retry_after_s)
{
    return store->pg != NULL ? store__pg_unavailable(store, retry_after_s) : 0;
}

store_status_t store_relax_sync(store_t *store)
{
    if (store->pg != NULL)
        return store__pg_relax_sync(store);
    store_status_t ret = pragma(store, "PRAGMA synchronous = NORMAL", NULL, 0);
    if (ret == STORE_OK)
        store->relaxed = 1;
    return ret;
}
