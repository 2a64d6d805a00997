/*
 * The PostgreSQL backend's database: opening a store on a postgres:// URL, the schema and its
 * migrations (the same versions as SQLite's, store/sqlite_db.c), and the statements whose SQLite
 * text does not carry over. Why one set of store functions for both backends: store/pg_query.c.
 *
 * Dialect, decided once here:
 * - Text columns are COLLATE "C": SQLite's BINARY compares and orders bytes, and so does "C",
 *   whatever the server's default collation.
 * - SQLite's NOCASE (userName, emails, the sort columns, group displayName) folds ASCII letters
 *   only. store_fold() does exactly that (translate of A-Z); unique and lookup indexes are on
 *   store_fold(column), and every NOCASE comparison is written store_fold(a) = store_fold(b).
 *   lower() would fold by the server's locale, beyond ASCII, and so would an ICU collation.
 * - INTEGER is BIGINT; rowids are BIGSERIAL (seq, id), read back with lastval().
 * - The SQL functions SQLite gets from the connection (store_co, store_sw, store_ew: contains,
 *   starts with, ends with, with an ASCII-folding flag) are functions of the schema.
 * - The schema version is the row of store_schema (SQLite: PRAGMA user_version).
 */
#include "store/sqlite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"

/* The advisory lock key of schema migrations: concurrent first opens (replicas starting together) take turns. */
#define PG_MIGRATE_LOCK "1868850550"

#define PG_OUTBOX_DUE_TAIL " LIMIT ?3 FOR UPDATE OF o SKIP LOCKED"

const store_sql_t store__pg_sql[SQL__COUNT] = {
    /* user_emails has no rowid: pos keeps the order the emails were given in */
    [SQL_EMAIL_LIST] = {"user emails", "SELECT value FROM user_emails WHERE user_seq = ?1 ORDER BY pos"},
    [SQL_SCAN_USERNAME] = {"scan users", "SELECT " USER_COLUMNS " FROM users WHERE store_fold(user_name) = store_fold(?1)"
                                         " ORDER BY seq"},
    [SQL_SCAN_EMAIL] = {"scan users", "SELECT " USER_COLUMNS " FROM users WHERE seq IN (SELECT user_seq FROM user_emails"
                                      " WHERE store_fold(value) = store_fold(?1)) ORDER BY seq"},
    [SQL_SEAT_HOLDERS] = {"seat holders", "SELECT " USER_COLUMNS " FROM users WHERE seat_held = 1"
                                          " AND store_fold(odeus_email) = store_fold(?1) AND id <> ?2 ORDER BY seq"},
    /*
     * The page and count caches' mark of other sessions' commits (sqlite_users.c change_marks):
     * the snapshot changes whenever any transaction that wrote commits (or starts writing), so
     * an equal hash means nothing was committed in between (a 64-bit hash: a false "equal" needs
     * a collision). Conservative: commits anywhere in the cluster count.
     */
    [SQL_DATA_VERSION] = {"data_version", "SELECT hashtextextended(txid_current_snapshot()::text, 0)"},
    [SQL_GROUP_SCAN_NAME] = {"scan groups", "SELECT " GROUP_COLUMNS " FROM groups WHERE store_fold(display_name) ="
                                            " store_fold(?1) ORDER BY seq"},
    [SQL_MEMBER_ADD] = {"add member", "INSERT INTO group_members (group_seq, user_seq) SELECT g.seq, u.seq FROM groups AS g,"
                                      " users AS u WHERE g.id = ?1 AND u.id = ?2 ON CONFLICT DO NOTHING"},
    /*
     * The due rows are locked as they are read, skipping rows another transaction holds (a writer
     * superseding or holding them): the skipped row is still pending, so the oldest-per-seat test
     * keeps its seat's newer rows back. ?3 bounds the rows locked to what the caller can use. The
     * delivery thread reads outside a transaction, so the lock ends with the statement: it keeps
     * the read off rows being changed, it is not the claim. The claim that lasts while the call is
     * in flight is the lease store_outbox_claim writes (sqlite_outbox.c says why there).
     */
    [SQL_OUTBOX_DUE] = {"due outbox rows", "SELECT " OUTBOX_COLUMNS " FROM outbox AS o WHERE " OUTBOX_DUE_WHERE PG_OUTBOX_DUE_TAIL},
    [SQL_OUTBOX_DUE_AFTER] = {"due outbox rows", "SELECT " OUTBOX_COLUMNS
                                                 " FROM outbox AS o WHERE o.id > ?2 AND " OUTBOX_DUE_WHERE PG_OUTBOX_DUE_TAIL},
    /* ?2 is an integer, or NULL bound as text (0 clears the batch) */
    [SQL_OUTBOX_SET_BATCH] = {"note outbox batch", "UPDATE outbox SET batch_id = ?2::bigint WHERE id = ?1"
                                                   " AND (lease_owner IS NULL OR lease_owner = ?3)"},
    /* sum() of a comparison is SQLite's count of the rows where it holds */
    [SQL_OUTBOX_ACTION_STATS] = {"outbox stats", "SELECT action, count(*), min(created_at), count(*) FILTER (WHERE outcome ="
                                                 " 'held') FROM outbox WHERE state = 0 GROUP BY action"},
    [SQL_OUTBOX_PENDING_STATS] = {"outbox pending stats",
                                  "SELECT min(created_at), min(next_attempt_at), max(attempts), count(*) FILTER (WHERE outcome ="
                                  " 'auth'), count(*) FILTER (WHERE action = 'deactivate'), count(*) FILTER (WHERE outcome ="
                                  " 'held') FROM outbox WHERE state = 0"},
    /* INSERT OR REPLACE: the row of the user starts over (sends 0, no last error) */
    [SQL_RECHECK_SCHEDULE] = {"schedule re-send",
                              "INSERT INTO invitee_recheck (user_id, email, seat, outbox_id, created_at, next_at, until_at, sends,"
                              " action, role) VALUES (?1, ?2, store_fold(?2), ?3, ?4, ?5, ?6, 0, ?7, ?8) ON CONFLICT (user_id)"
                              " DO UPDATE SET email = excluded.email, seat = excluded.seat, outbox_id = excluded.outbox_id,"
                              " created_at = excluded.created_at, next_at = excluded.next_at, until_at = excluded.until_at,"
                              " sends = 0, last_error = NULL, action = excluded.action, role = excluded.role"},
    [SQL_RECHECK_DUE] = {"due re-sends", "SELECT user_id, email, outbox_id, created_at, next_at, until_at, sends, last_error,"
                                         " action, role FROM invitee_recheck AS r WHERE r.next_at <= ?1"
                                         " AND NOT EXISTS (SELECT 1 FROM outbox AS o WHERE o.seat = r.seat AND o.state = 0)"
                                         " AND (r.action <> 'deactivate' OR NOT EXISTS (SELECT 1 FROM users AS u"
                                         " WHERE u.seat_held = 1 AND store_fold(u.odeus_email) = r.seat))"
                                         " ORDER BY r.next_at LIMIT ?2"},
};

/*
 * migrations[i] takes the schema from version i to i + 1, step for step as store/sqlite_db.c
 * (whose comments say why each exists). Append new steps to both; never edit a released one.
 */
static const char *const migrations[] = {
    /* 0 -> 1: initial schema */
    "CREATE FUNCTION store_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
    " AS $$SELECT translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')$$;"
    "CREATE FUNCTION store_co(h text, n text, fold integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
    " AS $$SELECT CASE WHEN fold <> 0 THEN strpos(store_fold(h) COLLATE \"C\", store_fold(n) COLLATE \"C\") > 0"
    " ELSE strpos(h COLLATE \"C\", n COLLATE \"C\") > 0 END$$;"
    "CREATE FUNCTION store_sw(h text, n text, fold integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
    " AS $$SELECT CASE WHEN fold <> 0 THEN starts_with(store_fold(h) COLLATE \"C\", store_fold(n) COLLATE \"C\")"
    " ELSE starts_with(h COLLATE \"C\", n COLLATE \"C\") END$$;"
    "CREATE FUNCTION store_ew(h text, n text, fold integer) RETURNS boolean LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE"
    " AS $$SELECT CASE WHEN fold <> 0 THEN right(store_fold(h), length(n)) = store_fold(n) COLLATE \"C\""
    " ELSE right(h, length(n)) = n COLLATE \"C\" END$$;"
    "CREATE TABLE users ("
    " seq BIGSERIAL PRIMARY KEY,"
    " id TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    " user_name TEXT COLLATE \"C\" NOT NULL,"
    " external_id TEXT COLLATE \"C\","
    " odeus_email TEXT COLLATE \"C\","
    " active BIGINT NOT NULL,"
    " created TEXT COLLATE \"C\" NOT NULL,"
    " last_modified TEXT COLLATE \"C\" NOT NULL,"
    " version BIGINT NOT NULL,"
    " resource TEXT COLLATE \"C\" NOT NULL);"
    /* named table_column: store__pg_conflict_on maps a violation of it to STORE_CONFLICT */
    "CREATE UNIQUE INDEX users_user_name ON users (store_fold(user_name));"
    "CREATE INDEX users_external_id ON users (external_id);"
    "CREATE TABLE user_emails ("
    " pos BIGSERIAL PRIMARY KEY,"
    " user_seq BIGINT NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
    " value TEXT COLLATE \"C\" NOT NULL);"
    "CREATE INDEX user_emails_value ON user_emails (store_fold(value));"
    "CREATE INDEX user_emails_user ON user_emails (user_seq);"
    "CREATE TABLE outbox ("
    " id BIGSERIAL PRIMARY KEY,"
    " user_id TEXT COLLATE \"C\" NOT NULL,"
    " action TEXT COLLATE \"C\" NOT NULL,"
    " email TEXT COLLATE \"C\" NOT NULL,"
    " role TEXT COLLATE \"C\","
    " state BIGINT NOT NULL,"
    " attempts BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL,"
    " next_attempt_at BIGINT NOT NULL,"
    " last_error TEXT COLLATE \"C\","
    " outcome TEXT COLLATE \"C\","
    " done_at BIGINT,"
    " prev_resource TEXT COLLATE \"C\","
    " result_version BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX outbox_due ON outbox (state, next_attempt_at) WHERE state = 0;"
    "CREATE INDEX outbox_user ON outbox (user_id, state) WHERE state = 0;",
    /* 1 -> 2: coalescing and pending-invitee re-sends */
    "ALTER TABLE outbox ADD COLUMN superseded_by BIGINT;"
    "CREATE INDEX outbox_superseded ON outbox (superseded_by) WHERE superseded_by IS NOT NULL;"
    "CREATE TABLE invitee_recheck ("
    " user_id TEXT COLLATE \"C\" PRIMARY KEY,"
    " email TEXT COLLATE \"C\" NOT NULL,"
    " outbox_id BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " next_at BIGINT NOT NULL,"
    " until_at BIGINT NOT NULL,"
    " sends BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT COLLATE \"C\");"
    "CREATE INDEX invitee_recheck_due ON invitee_recheck (next_at);"
    "CREATE INDEX outbox_user_done ON outbox (user_id, action) WHERE state = 1;",
    /* 2 -> 3: the rendering of each user without "meta" */
    "ALTER TABLE users ADD COLUMN rendered TEXT COLLATE \"C\";",
    /* 3 -> 4: one Odeus seat per email */
    "ALTER TABLE users ADD COLUMN odeus_role TEXT COLLATE \"C\";"
    "ALTER TABLE users ADD COLUMN seat_held BIGINT NOT NULL DEFAULT 0;"
    "UPDATE users SET seat_held = CASE WHEN active = 1 AND odeus_email IS NOT NULL THEN 1 ELSE 0 END;"
    "CREATE INDEX users_seat ON users (store_fold(odeus_email)) WHERE seat_held = 1;"
    "ALTER TABLE outbox ADD COLUMN seat TEXT COLLATE \"C\";"
    "UPDATE outbox SET seat = store_fold(email);"
    "CREATE INDEX outbox_seat ON outbox (seat, state) WHERE state = 0;"
    "CREATE INDEX outbox_seat_done ON outbox (seat, action) WHERE state = 1;"
    "ALTER TABLE invitee_recheck ADD COLUMN seat TEXT COLLATE \"C\";"
    "UPDATE invitee_recheck SET seat = store_fold(email);"
    "CREATE INDEX invitee_recheck_seat ON invitee_recheck (seat);",
    /* 4 -> 5: groups, the re-sends' call, an outbox row's cause */
    "CREATE TABLE groups ("
    " seq BIGSERIAL PRIMARY KEY,"
    " id TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    " display_name TEXT COLLATE \"C\" NOT NULL,"
    " external_id TEXT COLLATE \"C\","
    " created TEXT COLLATE \"C\" NOT NULL,"
    " last_modified TEXT COLLATE \"C\" NOT NULL,"
    " version BIGINT NOT NULL,"
    " resource TEXT COLLATE \"C\" NOT NULL);"
    "CREATE UNIQUE INDEX groups_display_name ON groups (store_fold(display_name));"
    "CREATE INDEX groups_external_id ON groups (external_id);"
    "CREATE TABLE group_members ("
    " group_seq BIGINT NOT NULL REFERENCES groups(seq) ON DELETE CASCADE,"
    " user_seq BIGINT NOT NULL REFERENCES users(seq) ON DELETE CASCADE,"
    " PRIMARY KEY (group_seq, user_seq));"
    "CREATE INDEX group_members_user ON group_members (user_seq, group_seq);"
    "ALTER TABLE invitee_recheck ADD COLUMN action TEXT COLLATE \"C\" NOT NULL DEFAULT 'deactivate';"
    "ALTER TABLE invitee_recheck ADD COLUMN role TEXT COLLATE \"C\";"
    "ALTER TABLE outbox ADD COLUMN cause TEXT COLLATE \"C\";",
    /* 5 -> 6: the values lists sort and narrow by, filled from the canonical JSON as SQLite does */
    "ALTER TABLE users ADD COLUMN display_name TEXT COLLATE \"C\", ADD COLUMN family_name TEXT COLLATE \"C\","
    " ADD COLUMN given_name TEXT COLLATE \"C\", ADD COLUMN primary_email TEXT COLLATE \"C\";"
    "UPDATE users SET"
    " display_name = CASE jsonb_typeof(resource::jsonb -> 'displayName') WHEN 'string' THEN resource::jsonb ->> 'displayName' END,"
    " family_name = CASE jsonb_typeof(resource::jsonb #> '{name,familyName}') WHEN 'string'"
    "  THEN resource::jsonb #>> '{name,familyName}' END,"
    " given_name = CASE jsonb_typeof(resource::jsonb #> '{name,givenName}') WHEN 'string'"
    "  THEN resource::jsonb #>> '{name,givenName}' END,"
    " primary_email = (SELECT CASE jsonb_typeof(e -> 'value') WHEN 'string' THEN e ->> 'value' END"
    "  FROM jsonb_array_elements(CASE jsonb_typeof(resource::jsonb -> 'emails') WHEN 'array' THEN resource::jsonb -> 'emails'"
    "  ELSE '[]'::jsonb END) WITH ORDINALITY AS x(e, n)"
    "  ORDER BY ((e -> 'primary') = 'true'::jsonb) IS TRUE DESC, n LIMIT 1);"
    /* the seq after the value: equal values come in creation order, as SQLite's rowid gives */
    "CREATE INDEX users_display_name ON users (store_fold(display_name), seq);"
    "CREATE INDEX users_family_name ON users (store_fold(family_name), seq);"
    "CREATE INDEX users_given_name ON users (store_fold(given_name), seq);"
    "CREATE INDEX users_primary_email ON users (store_fold(primary_email), seq);"
    "CREATE INDEX users_created ON users (created, seq);"
    "CREATE INDEX users_last_modified ON users (last_modified, seq);",
    /* 6 -> 7: the batch an invite last went out in */
    "ALTER TABLE outbox ADD COLUMN batch_id BIGINT;",
    /* 7 -> 8: outbox leases */
    "ALTER TABLE outbox ADD COLUMN lease_owner TEXT COLLATE \"C\", ADD COLUMN lease_until BIGINT;"
    "CREATE INDEX outbox_lease ON outbox (seat) WHERE lease_until IS NOT NULL;",
    /* 8 -> 9: the Odeus group mirror (store/sqlite_db.c says why); emails are stored folded by the writer */
    "CREATE TABLE mirror_groups ("
    " group_id TEXT COLLATE \"C\" PRIMARY KEY,"
    " odeus_id TEXT COLLATE \"C\","
    " state TEXT COLLATE \"C\" NOT NULL,"
    " reason TEXT COLLATE \"C\","
    " updated_at BIGINT NOT NULL);"
    "CREATE TABLE mirror_members ("
    " group_id TEXT COLLATE \"C\" NOT NULL,"
    " email TEXT COLLATE \"C\" NOT NULL,"
    " have BIGINT NOT NULL,"
    " next_at BIGINT NOT NULL DEFAULT 0,"
    " until_at BIGINT NOT NULL DEFAULT 0,"
    " sends BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT COLLATE \"C\","
    " PRIMARY KEY (group_id, email));"
    "CREATE INDEX mirror_members_email ON mirror_members (email);"
    "CREATE INDEX mirror_members_next ON mirror_members (next_at) WHERE have = 0;",
};
#define PG_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(PG_SCHEMA_VERSION == STORE_SCHEMA_VERSION, "a migration step needs its SQLite twin in store/sqlite_db.c");

/*
 * Brings the schema to PG_SCHEMA_VERSION in one transaction, under an advisory lock so that
 * replicas starting together migrate once; the version is read under the lock.
 */
static store_status_t migrate(store_t *s)
{
    int64_t version = 0;
    store_status_t ret = store__pg_run_script(s, "schema lock", "BEGIN; SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")");
    if (ret == STORE_OK)
        ret = store__pg_run_script(s, "schema version", "CREATE TABLE IF NOT EXISTS store_schema (version BIGINT NOT NULL)");
    if (ret == STORE_OK) {
        ret = store__pg_scalar(s, "schema version", "SELECT max(version) FROM store_schema", &version);
        if (ret == STORE_NOT_FOUND) {
            version = 0;
            ret = store__pg_run_script(s, "schema version", "INSERT INTO store_schema VALUES (0)");
        }
    }
    if (ret == STORE_OK && version > PG_SCHEMA_VERSION) {
        store__error(s, "database schema version %lld is newer than this gateway supports (%d); upgrade the gateway",
                     (long long)version, PG_SCHEMA_VERSION);
        ret = STORE_ERROR;
    } else if (ret == STORE_OK && version < 0) {
        store__error(s, "database schema version %lld is invalid", (long long)version);
        ret = STORE_ERROR;
    }
    for (; ret == STORE_OK && version < PG_SCHEMA_VERSION; version++) {
        char what[64];
        snprintf(what, sizeof(what), "schema migration %lld -> %lld", (long long)version, (long long)version + 1);
        ret = store__pg_run_script(s, what, migrations[version]);
        if (ret == STORE_OK) {
            char sql[64];
            snprintf(sql, sizeof(sql), "UPDATE store_schema SET version = %lld", (long long)version + 1);
            ret = store__pg_run_script(s, what, sql);
        }
    }
    if (ret == STORE_OK)
        ret = store__pg_run_script(s, "schema commit", "COMMIT");
    if (ret != STORE_OK)
        store__rollback_keeping_error(s);
    return ret;
}

store_t *store__pg_open(const char *url, char *err, size_t err_len)
{
    store_t *s = gw_calloc(1, sizeof(*s));
    if (store__pg_connect(s, url) == STORE_OK && migrate(s) == STORE_OK) {
        store__pg_opened(s);
        return s;
    }
    /* the URL may carry a password: the message names the database through libpq's words only */
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "store: PostgreSQL: %s", s->errmsg);
    store__pg_close(s);
    return NULL;
}
