/*
 * The directory (users and their indexes) and its outbox (the changes that must reach Odeus),
 * behind one interface, on one of two backends chosen by store_open's argument: SQLite
 * (store/sqlite_*.c: one database file in WAL mode, synchronous=FULL), the embedded default, or
 * PostgreSQL (store/pg_*.c, through libpq), which several replicas can share. Nothing here names a
 * database type; callers do not know which backend they use.
 *
 * Threads: a store_t is one database connection and belongs to one thread at a time (each worker
 * and the delivery thread open their own). Several store_t of one process may use the same file.
 *
 * Transactions: writers wrap a directory change and its outbox row in store_begin/store_commit, so
 * that both are durable together before the IdP is answered. Every write function is also atomic on
 * its own when called outside a transaction.
 *
 * Errors: functions return STORE_OK or a negative store_status_t. After STORE_ERROR or
 * STORE_CONFLICT, store_errmsg() says why; after STORE_NOT_FOUND it does only where the function's
 * comment says so. A busy database is waited for (up to a few seconds) before STORE_ERROR.
 *
 * Memory: results that hold strings (store_user_t, store_outbox_t, store_recheck_t) own them; the
 * caller releases them with the matching *_clear() function, which also accepts a zeroed struct.
 * Structs passed as input only lend their strings for the call. Rows handed to a callback are
 * borrowed for that call only. SQLite running out of memory is STORE_ERROR (its message); the store's own
 * allocations abort on failure (common/alloc.h).
 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

/** Marks a function whose result must be checked: ignoring it is a compile error (-Werror). */
#if defined(__GNUC__)
#define STORE_MUST_CHECK __attribute__((warn_unused_result))
#else
#define STORE_MUST_CHECK
#endif

/**
 * The longest store_errmsg() text plus its terminating NUL. A longer message is cut to fit and then
 * ends in "..." so that a cut is visible.
 */
#define STORE_ERRMSG_MAX 256

typedef enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1, /** no such row, or nothing to report (see each function) */
    STORE_CONFLICT = -2,  /** the change contradicts the data (e.g. userName already taken); store_errmsg() says what */
    STORE_ERROR = -3,     /** the database failed, or a row in it is corrupt; store_errmsg() says what */
} store_status_t;

typedef struct store store_t;

/**
 * Opens the database `path` names and creates or migrates its schema: a SQLite file, given as
 * "sqlite:PATH" or as a bare PATH (created if needed), or a PostgreSQL database, given as a
 * "postgres://" or "postgresql://" URL (libpq's syntax; the database must exist). Safe to call
 * from several threads (and, on PostgreSQL, processes) on the same database. A message never
 * contains the URL's password. Returns NULL on failure, with a message in `err`
 * (`err_len` bytes at most, NUL-terminated; `err` may be NULL). The caller owns the store and
 * releases it with store_close().
 */
STORE_MUST_CHECK store_t *store_open(const char *path, char *err, size_t err_len);

/**
 * Checks a database URL as store_open reads it, without opening anything: "sqlite:PATH" (PATH not
 * empty) or a "postgres://" / "postgresql://" URL libpq can parse. A bare path is refused here
 * (store_open still takes one): configuration says which backend it means. 0, or -1 with the
 * reason in `why` (which never repeats the URL: it may hold a password).
 */
STORE_MUST_CHECK int store_url_check(const char *url, char *why, size_t why_len);

/** Rolls back an open transaction and releases the store. NULL is accepted. */
void store_close(store_t *store);

/**
 * Switches this connection to synchronous=NORMAL: its commits survive a crash of the process but
 * not of the machine until the next synchronous=FULL commit of any connection (which makes the
 * whole WAL durable, theirs included); on PostgreSQL, synchronous_commit=off for the connection.
 * Only for writes whose loss is harmless: the delivery thread's outcome records (a lost one means
 * the row is sent again, and Odeus calls are idempotent in effect). STORE_OK, or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_relax_sync(store_t *store);

/**
 * The reason for the last failure on this store: never NULL, owned by the store, valid until the
 * next call on it. See "Errors" above for when it is meaningful.
 */
const char *store_errmsg(const store_t *store);

/**
 * Whether the database is unreachable now: the connection broke (a server restart, a network
 * fault) and no new one is up yet. Every call fails with STORE_ERROR meanwhile, at once while the
 * store waits between attempts: the store makes the connection again itself, on a later call, with
 * a growing pause (a quarter second, doubling up to 8 s), and never inside a transaction (the
 * server rolled that back; its COMMIT fails, its ROLLBACK ends it). Callers tell their own callers
 * to come back after `*retry_after_s` seconds (at least 1; may be NULL). Always 0 on SQLite, whose
 * file does not go away.
 */
int store_unavailable(store_t *store, int *retry_after_s);

/**
 * Whether a store opened on `path` (as store_open takes it) hands out store_commit_deferred
 * tickets that store_sync must wait for: 1 on SQLite (the commit is written, its fsync left for
 * store_sync), 0 on PostgreSQL, where a commit is durable once it returns (a client cannot wait
 * for another session's commit) and every ticket is 0. Opens nothing.
 */
int store_defers_sync(const char *path);

/* ---- transactions ---------------------------------------------------------------------------- */

/**
 * Opens a write transaction (BEGIN IMMEDIATE). Writers of one process take turns on a mutex (no
 * busy-wait sleeps between them); other processes are waited for up to the busy timeout. On
 * PostgreSQL, BEGIN and one advisory lock all writers of the database take (replicas included),
 * waited for up to the same timeout (why: the top of the PostgreSQL query layer).
 * STORE_OK, or STORE_ERROR (no transaction is open then).
 */
STORE_MUST_CHECK store_status_t store_begin(store_t *store);

/**
 * Commits the open transaction and returns once the commit is durable, as with synchronous=FULL;
 * concurrent commits share one fsync of the WAL (group commit). Writes outside a transaction stay
 * synchronous=FULL. STORE_OK; STORE_ERROR when the COMMIT fails (the transaction may still be open)
 * or when that shared fsync fails (the commit then stands but may not survive a power loss): either
 * way call store_rollback() next, which does nothing when no transaction is open.
 */
STORE_MUST_CHECK store_status_t store_commit(store_t *store);

/**
 * Commits the open transaction like store_commit, but returns as soon as the commit is made (visible
 * to every connection, not yet durable) with a ticket for store_sync, which makes it durable. For a
 * thread that must not wait for the flush (gateway/flusher.h): it tells no one of the change until
 * store_sync(ticket) returned STORE_OK. `*ticket` is 0 when nothing needs a flush (a connection made
 * relaxed by store_relax_sync) or on error. STORE_OK, or STORE_ERROR as store_commit.
 */
STORE_MUST_CHECK store_status_t store_commit_deferred(store_t *store, uint64_t *ticket);

/**
 * Returns once the commit with `ticket` (store_commit_deferred, made on this or any other connection
 * of this process to the same database) is durable; commits made meanwhile share the flush. Safe to
 * call on a connection another thread is not using, while the committing connection goes on with
 * other work. STORE_OK (also for ticket 0), or STORE_ERROR when the flush failed: the commit stands
 * but may not survive a power loss.
 */
STORE_MUST_CHECK store_status_t store_sync(store_t *store, uint64_t ticket);

/** Rolls back the open transaction; a no-op when none is open. */
void store_rollback(store_t *store);

/**
 * Sets a savepoint inside the open transaction, so that one request's writes among others committed
 * together can be undone alone (store_mark_undo) or kept (store_mark_keep). Marks do not nest.
 * STORE_OK, or STORE_ERROR (no mark is set then).
 */
STORE_MUST_CHECK store_status_t store_mark(store_t *store);

/**
 * Folds the writes since store_mark into the open transaction and drops the mark. STORE_OK, or
 * STORE_ERROR (the mark is still set: call store_mark_undo).
 */
STORE_MUST_CHECK store_status_t store_mark_keep(store_t *store);

/** Undoes the writes since store_mark and drops the mark; the transaction stays open. */
void store_mark_undo(store_t *store);

/* ---- users ----------------------------------------------------------------------------------- */

/**
 * A user row. Filled by store_user_get(): every pointer is then owned by the struct, released with
 * store_user_clear(). Given to store_user_insert/update: every pointer is borrowed for the call.
 * Handed to a store_user_cb: borrowed for the callback only (copy what you keep).
 */
typedef struct store_user {
    char *id;          /** UUID v4 text */
    char *user_name;   /** unique, case-insensitively */
    char *external_id; /** may be NULL */
    char *odeus_email; /** the email used at invite time; NULL until the first invite */
    int active;
    char *created; /** RFC 3339 UTC */
    char *last_modified;
    int64_t version;     /** meta.version; grows with every change */
    char *resource;      /** the canonical user as JSON text */
    char *rendered;      /** scim_user_render_text() of resource and id: the rendering without "meta". May be
                             NULL (rows written before schema 3, or not rendered): readers then render from
                             resource. Writers must give the one of this resource (or NULL), never a stale one. */
    char *odeus_role;    /** the effective Odeus role (member, editor, admin) as of this write; may be NULL: rows
                             written before schema 4 (readers then compute it from resource) */
    int seat_held;       /** the user holds its Odeus seat: active, with an Odeus email, and with
                             --access-groups a member of one of them (README, "One seat per email") */
    const char **emails; /** input only (never filled in results): the emails[].value strings, for the email index;
                             NULL entries are skipped */
    size_t n_emails;
    /*
     * Input only (never filled in results), like emails: the values lists sort and narrow by, each kept in a
     * column of its own (store_user_col_t). NULL when the user has none: such rows sort after every other.
     * Writers must give the ones of this resource; a row written with stale ones sorts and narrows wrongly.
     */
    const char *display_name;  /** displayName */
    const char *family_name;   /** name.familyName */
    const char *given_name;    /** name.givenName */
    const char *primary_email; /** emails.value of the primary email, else of the first (what sorting by emails uses) */
} store_user_t;

/** Frees the strings of a user filled by store_user_get() and zeroes it. NULL and zeroed structs are accepted. */
void store_user_clear(store_user_t *user);

/**
 * Reads the user with `id` into `out`, which the caller then owns (store_user_clear). STORE_OK;
 * STORE_NOT_FOUND (no such user); STORE_ERROR. `out` is zeroed on every failure.
 */
STORE_MUST_CHECK store_status_t store_user_get(store_t *store, const char *id, store_user_t *out);

/** Reads only the version (meta.version) of user `id`: STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_user_version(store_t *store, const char *id, int64_t *version);

/**
 * Inserts `user` and its email index entries, atomically. STORE_OK; STORE_CONFLICT when the
 * userName is taken (case-insensitively); STORE_ERROR otherwise (an id already used, a NULL
 * required field: id, user_name, created, last_modified, resource). Nothing is written on failure.
 */
STORE_MUST_CHECK store_status_t store_user_insert(store_t *store, const store_user_t *user);

/**
 * Replaces every column of the row with user->id, and its email index entries, atomically. The row
 * keeps its place in the creation order. STORE_OK; STORE_NOT_FOUND (no such user; errmsg set);
 * STORE_CONFLICT (a rename onto a taken userName); STORE_ERROR. Nothing is written on failure.
 */
STORE_MUST_CHECK store_status_t store_user_update(store_t *store, const store_user_t *user);

/** Deletes user `id` and its email index entries. STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_user_delete(store_t *store, const char *id);

/** Which rows a scan visits. */
typedef enum store_index {
    STORE_SCAN_ALL,
    STORE_SCAN_ID,
    STORE_SCAN_USERNAME,    /** case-insensitive */
    STORE_SCAN_EXTERNAL_ID, /** exact */
    STORE_SCAN_EMAIL,       /** any email value, case-insensitive; a user with two matching emails is visited once */
} store_index_t;

/**
 * Called per row; `user` is borrowed for the call only. Return 0 to go on, non-zero to stop (the
 * scan then returns STORE_OK). The callback may call back into the same store.
 */
typedef int (*store_user_cb)(void *ctx, const store_user_t *user);

/**
 * Visits the users matching `index` = `value` (value ignored for STORE_SCAN_ALL) in creation
 * order. STORE_OK (also when none matched), or STORE_ERROR (an unknown index, a database failure);
 * the rows visited before a failure stay visited.
 */
STORE_MUST_CHECK store_status_t store_user_scan(store_t *store, store_index_t index, const char *value, store_user_cb cb,
                                                void *ctx);

/**
 * Visits at most `limit` users after skipping `offset`, in creation order. Paging through the whole
 * directory page after page costs each page its own size, not its offset, while the database is
 * unchanged. STORE_OK or STORE_ERROR, as for store_user_scan.
 */
STORE_MUST_CHECK store_status_t store_user_page(store_t *store, size_t offset, size_t limit, store_user_cb cb, void *ctx);

/**
 * Sets whether user `id` holds its seat and its effective Odeus role (store_user_t.seat_held and
 * odeus_role) without touching its resource or version: they moved because a group it belongs to
 * changed. STORE_OK; STORE_NOT_FOUND (errmsg set); STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_user_set_seat(store_t *store, const char *id, int held, const char *role);

/**
 * Visits the users that hold the seat `email` (seat_held, odeus_email equal case-insensitively),
 * except the one with id `exclude_id` (may be NULL): the other holders of that seat, in creation order. Inside
 * a transaction the answer holds until its commit. STORE_OK (also when none), or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_seat_holders(store_t *store, const char *email, const char *exclude_id, store_user_cb cb,
                                                   void *ctx);

/** The number of users: STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_user_count(store_t *store, size_t *count);

/* ---- lists: narrowing and ordering by columns ------------------------------------------------ */

/**
 * The values of a user the store keeps in columns of their own, to narrow a list by and (all but
 * the last two) to order it by. Strings compare either bytewise or with ASCII letters folded
 * (A-Z as a-z, unsigned bytes otherwise, a proper prefix first); ordering uses the column's own
 * way, noted here; a condition says its own (store_cond_t.fold).
 */
typedef enum store_user_col {
    STORE_COL_ID,            /** bytewise */
    STORE_COL_USER_NAME,     /** folded */
    STORE_COL_EXTERNAL_ID,   /** bytewise; may be absent */
    STORE_COL_DISPLAY_NAME,  /** folded; may be absent (store_user_t.display_name) */
    STORE_COL_FAMILY_NAME,   /** folded; may be absent */
    STORE_COL_GIVEN_NAME,    /** folded; may be absent */
    STORE_COL_PRIMARY_EMAIL, /** folded; may be absent */
    STORE_COL_CREATED,       /** bytewise: the RFC 3339 text as written, which orders as time when the writer
                                 uses one fixed-width form (the gateway does) */
    STORE_COL_LAST_MODIFIED, /** bytewise, as created */
    STORE_COL_ACTIVE,        /** conditions only: STORE_COND_EQ with store_cond_t.active */
    STORE_COL_ANY_EMAIL,     /** conditions only: holds when some entry of the email index (store_user_t.emails) does */
} store_user_col_t;

typedef enum store_cond_op {
    STORE_COND_AND, /** left and right */
    STORE_COND_OR,  /** left or right */
    STORE_COND_EQ,  /** the column equals value */
    STORE_COND_GT,  /** the column orders after value */
    STORE_COND_GE,
    STORE_COND_LT,
    STORE_COND_LE,
    STORE_COND_SW, /** the column starts with value */
    STORE_COND_EW, /** ends with value */
    STORE_COND_CO, /** contains value */
    STORE_COND_PR, /** the column has a value that is not empty */
} store_cond_op_t;

/**
 * A condition on the columns of a user, as a tree; borrowed for the call it is given to. An
 * absent value (a column NULL) satisfies no comparison. Strings are compared as the `fold` of the
 * node says, whatever the column's own way (so `user_name = "X"` bytewise is possible).
 */
typedef struct store_cond {
    store_cond_op_t op;
    store_user_col_t col;
    const char *value; /** comparisons (not PR, not STORE_COL_ACTIVE): NUL-terminated */
    int fold;          /** 1: ASCII letters folded; 0: bytewise */
    int active;        /** STORE_COL_ACTIVE: the flag the user must have */
    const struct store_cond *left, *right;
} store_cond_t;

/** What store_user_select visits. */
typedef struct store_user_query {
    const store_cond_t *where; /** NULL: every user */
    int ordered;               /** 0: creation order; 1: by `order`, `descending` */
    store_user_col_t order;    /** STORE_COL_ID .. STORE_COL_LAST_MODIFIED */
    int descending;
    size_t offset; /** rows skipped first */
    size_t limit;  /** rows visited at most (SIZE_MAX: all) */
} store_user_query_t;

/**
 * Visits the users that satisfy query->where, skipping `offset` and visiting at most `limit`, in
 * creation order or by the column `order`: ascending or descending as the column compares (see
 * store_user_col_t), users without a value last in either direction, equal values in creation
 * order in either direction. Without a condition only the column's index and the visited rows
 * are read, so a page costs its offset in index entries and its size in rows; with one, a
 * condition on a single column is tested on that column's index and each candidate's row is
 * read. The callback may stop the visit (the call then returns STORE_OK). STORE_OK, or
 * STORE_ERROR (an order column that cannot order, a database failure); the rows visited before a
 * failure stay visited.
 */
STORE_MUST_CHECK store_status_t store_user_select(store_t *store, const store_user_query_t *query, store_user_cb cb, void *ctx);

/* ---- groups ---------------------------------------------------------------------------------- */

/**
 * A group row, without its members (they are rows of their own: store_group_member_*). Filled by
 * store_group_get(): owned, released with store_group_clear(). Given to insert/update: borrowed.
 * Handed to a store_group_cb: borrowed for the callback only.
 */
typedef struct store_group {
    char *id;           /** UUID v4 text */
    char *display_name; /** unique, case-insensitively */
    char *external_id;  /** may be NULL */
    char *created;      /** RFC 3339 UTC */
    char *last_modified;
    int64_t version;
    char *resource; /** the canonical group as JSON text (scim/group.h); NULL in rows from store_user_groups() */
} store_group_t;

/** Frees the strings of a group filled by store_group_get() and zeroes it. NULL and zeroed structs are accepted. */
void store_group_clear(store_group_t *group);

/** Reads group `id` into `out` (the caller's; store_group_clear). STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_get(store_t *store, const char *id, store_group_t *out);

/** Reads only the version of group `id`: STORE_OK, STORE_NOT_FOUND, STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_version(store_t *store, const char *id, int64_t *version);

/** Inserts `group`. STORE_OK; STORE_CONFLICT when the displayName is taken (case-insensitively); STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_insert(store_t *store, const store_group_t *group);

/** Replaces the row with group->id. STORE_OK; STORE_NOT_FOUND; STORE_CONFLICT (a rename onto a taken name); STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_update(store_t *store, const store_group_t *group);

/** Deletes group `id` and its memberships. STORE_OK; STORE_NOT_FOUND (errmsg set); STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_delete(store_t *store, const char *id);

/** Which groups a scan visits. */
typedef enum store_group_index {
    STORE_GROUP_SCAN_ALL,
    STORE_GROUP_SCAN_ID,
    STORE_GROUP_SCAN_DISPLAY_NAME, /** case-insensitive */
    STORE_GROUP_SCAN_EXTERNAL_ID,  /** exact */
    STORE_GROUP_SCAN_MEMBER,       /** the groups user `value` (an id) belongs to */
} store_group_index_t;

/** Called per group; `group` is borrowed for the call. Return 0 to go on, non-zero to stop. */
typedef int (*store_group_cb)(void *ctx, const store_group_t *group);

/** Visits the groups matching `index` = `value`, in creation order. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_scan(store_t *store, store_group_index_t index, const char *value, store_group_cb cb,
                                                 void *ctx);

/** Visits at most `limit` groups after skipping `offset`, in creation order. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_page(store_t *store, size_t offset, size_t limit, store_group_cb cb, void *ctx);

/** The number of groups: STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_count(store_t *store, size_t *count);

/**
 * Makes user `user_id` a member of group `group_id`; *added is 1 when it was not one before.
 * STORE_OK (also when already a member); STORE_NOT_FOUND when there is no such user (nothing is
 * written: the caller decides what an unknown member means); STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_group_member_add(store_t *store, const char *group_id, const char *user_id, int *added);

/** Ends a membership; *removed is 1 when there was one. STORE_OK (also when there was none) or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_member_remove(store_t *store, const char *group_id, const char *user_id, int *removed);

/** Ends every membership of group `group_id`. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_members_clear(store_t *store, const char *group_id);

/** Called per member: its user id and userName, borrowed for the call. Return 0 to go on, non-zero to stop. */
typedef int (*store_member_cb)(void *ctx, const char *user_id, const char *user_name);

/** Visits the members of group `group_id` in the users' creation order. STORE_OK (none: no calls) or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_members(store_t *store, const char *group_id, store_member_cb cb, void *ctx);

/** The number of members of group `group_id` (0 for no such group): STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_group_member_count(store_t *store, const char *group_id, size_t *count);

/**
 * Visits the groups user `user_id` belongs to, in creation order: id, display_name and
 * external_id are set (resource is NULL). STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_user_groups(store_t *store, const char *user_id, store_group_cb cb, void *ctx);

/* ---- outbox ---------------------------------------------------------------------------------- */

typedef enum store_outbox_state {
    STORE_OUTBOX_PENDING,    /** waiting for (another) attempt */
    STORE_OUTBOX_DONE,       /** Odeus reached the goal state (outcome done/already/not_member) */
    STORE_OUTBOX_FAILED,     /** Odeus refused it permanently (outcome refused), or an operator dropped it (outcome dropped) */
    STORE_OUTBOX_SUPERSEDED, /** a newer change for the user made it moot before it was delivered (superseded_by) */
} store_outbox_state_t;

/** How many store_outbox_state_t values there are (the size of store_outbox_stats_t.by_state). */
#define STORE_OUTBOX_STATES 4

/**
 * An outbox row. Filled by store_outbox_get() / store_outbox_due*(): its strings are then owned,
 * released with store_outbox_clear(). Given to store_outbox_insert(): borrowed for the call.
 * Handed to a store_outbox_cb: borrowed for the callback only.
 */
typedef struct store_outbox {
    int64_t id;
    char *user_id;
    char *action; /** odeus_action_name(): invite, deactivate, update_role */
    char *email;  /** the Odeus email; its seat (lower case) is the unit of order, coalescing and cancelling */
    char *role;   /** may be NULL */
    store_outbox_state_t state;
    int attempts;
    int64_t created_at_ms;   /** unix ms */
    int64_t next_attempt_ms; /** unix ms */
    char *last_error;        /** may be NULL */
    char *outcome;           /** odeus_outcome_name() of the last attempt, may be NULL */
    char *prev_resource;     /** the user's canonical JSON before this change; NULL when the change created the user */
    int64_t result_version;  /** the user's version this change produced (0 for DELETE) */
    int64_t superseded_by;   /** results only: the row that superseded this one, 0 when none */
    char *cause;             /** why it was queued when not by a change of the user itself, e.g. "group <id>"; may be NULL */
    int64_t batch_id;        /** results only: the first row of the batched invite call this row last went out in, 0 when alone */
} store_outbox_t;

/** Frees the strings of a row filled by the store and zeroes it. NULL and zeroed structs are accepted. */
void store_outbox_clear(store_outbox_t *row);

/**
 * Inserts a pending row from `row` (its id, state, attempts and superseded_by are ignored; user_id,
 * action and email are required) and sets *id_out (may be NULL) to its id. Atomic on its own, and
 * inside the caller's transaction part of it. Rows are ordered and coalesced per seat (the email,
 * case-insensitively), whichever user wrote them; in the same step it coalesces the seat's queue:
 * - a deactivate supersedes every older pending row of the seat (an invite or role change that
 *   has not gone out yet must never go out after the deactivation);
 * - an update_role supersedes older pending update_role rows (the newest role is what counts);
 * - an invite supersedes nothing: Odeus skips invites of active members, so a deactivation it
 *   follows must still go out first or the invite's role would be lost;
 * - the rows of a mirrored group (email "group:<SCIM group id>", section "the Odeus group mirror"):
 *   a group_delete supersedes every older pending row of its group, a group_members row the older
 *   pending group_members rows (each sync reads the directory when it goes out).
 * Superseded rows get state STORE_OUTBOX_SUPERSEDED, outcome "superseded" and superseded_by = the
 * new id (rows they had superseded are re-pointed too). Any pending-invitee re-send of the seat is
 * cancelled: the new change is the seat's current intent. STORE_OK or STORE_ERROR (nothing written).
 */
STORE_MUST_CHECK store_status_t store_outbox_insert(store_t *store, const store_outbox_t *row, int64_t *id_out);

/**
 * Records a change that needed no Odeus call although its user's lifecycle moved (another active
 * user holds the same seat): a row that is finished as it is written (state STORE_OUTBOX_DONE,
 * no attempt), with `row->outcome` saying why (e.g. "seat_shared", required) and `row->last_error`
 * the detail (may be NULL), so that `outbox list` shows it. Touches no other row. *id_out (may be
 * NULL) gets its id. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_note(store_t *store, const store_outbox_t *row, int64_t *id_out);

/**
 * Reads row `id` into `out`, which the caller then owns (store_outbox_clear). STORE_OK;
 * STORE_NOT_FOUND; STORE_ERROR (also for a row with an unknown state). `out` is zeroed on failure.
 */
STORE_MUST_CHECK store_status_t store_outbox_get(store_t *store, int64_t id, store_outbox_t *out);

/**
 * Fills `rows` (room for `max`) with the pending rows due at `now_ms` that may go out now: only the
 * oldest pending row of each seat qualifies (due or not, so a seat's changes go out one at a time,
 * in commit order, whichever users made them), and rows whose id is in `skip` (the `n_skip` rows in
 * flight; NULL when none) are left out, which also holds back the newer rows of their seats, and
 * so are rows under another owner's live lease (store_outbox_set_owner). Order: deactivations first (access
 * removal must not queue behind grants when Odeus is the bottleneck), then by id (commit order).
 * At most `max` rows are returned; the others stay due for the next call. *n_out says how many were
 * filled; the caller owns them and clears each (store_outbox_clear). STORE_OK (also when none is due)
 * or STORE_ERROR (then *n_out is 0 and nothing is left to clear).
 */
STORE_MUST_CHECK store_status_t store_outbox_due(store_t *store, int64_t now_ms, const int64_t *skip, size_t n_skip,
                                                 store_outbox_t *rows, size_t max, size_t *n_out);

/**
 * store_outbox_due() among the rows with an id above `after_id` only (0: all rows): the rows
 * committed since an earlier call, found in time proportional to their number. The oldest-per-seat
 * rule still looks at every pending row, older ones included.
 */
STORE_MUST_CHECK store_status_t store_outbox_due_after(store_t *store, int64_t now_ms, int64_t after_id, const int64_t *skip,
                                                       size_t n_skip, store_outbox_t *rows, size_t max, size_t *n_out);

/** Earliest next_attempt_ms of any pending row: STORE_OK; STORE_NOT_FOUND when none is pending; STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_outbox_next_due(store_t *store, int64_t *at_ms);

/**
 * Names the replica this connection delivers for (`owner`, copied; NULL: none), for outbox leases:
 * several replicas on one database each claim a row before its call (store_outbox_claim). With
 * an owner set, store_outbox_due* leave out rows under another owner's live lease, and the records
 * of an attempt (store_outbox_reschedule, _finish, _set_batch) change a row only when it is
 * unclaimed or this owner's claim (else STORE_CONFLICT: the replica that took the row over records
 * it). Without one, only unclaimed rows are recorded. The connection's thread only.
 */
void store_outbox_set_owner(store_t *store, const char *owner);

/**
 * Claims pending row `id` for this connection's owner until `until_ms` (unix ms), for one attempt:
 * in one statement that re-checks, on the row as it is now, that it is due at `now_ms`, under no
 * live lease of another owner (this owner's own claim is renewed) and behind no older pending row
 * of its seat (whoever holds that one). Another replica may take the row over once `until_ms` has
 * passed. The attempt's record (reschedule, finish) releases the claim. STORE_OK; STORE_CONFLICT
 * (the row is not claimable now: another replica's, done, not due, or behind an older row; errmsg
 * set); STORE_ERROR (also without an owner).
 */
STORE_MUST_CHECK store_status_t store_outbox_claim(store_t *store, int64_t id, int64_t now_ms, int64_t until_ms);

/**
 * 1 when other processes may deliver this store's outbox (PostgreSQL, which several replicas
 * share), 0 for SQLite (one process per file).
 */
int store_shared(const store_t *store);

/**
 * Records a failed attempt of row `id`: attempts+1, next attempt at `next_attempt_ms`, `outcome`
 * and `last_error` (each may be NULL); releases the row's claim. STORE_OK; STORE_NOT_FOUND (no such
 * row; errmsg set); STORE_CONFLICT (another owner holds the row's lease: store_outbox_set_owner;
 * nothing written); STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_reschedule(store_t *store, int64_t id, int64_t next_attempt_ms, const char *outcome,
                                                        const char *last_error);

/**
 * Ends row `id`: `state` (STORE_OUTBOX_DONE or STORE_OUTBOX_FAILED, else STORE_ERROR), outcome,
 * last error, attempts+1, done time `now_ms`. A row that was superseded while its call was in
 * flight keeps STORE_OUTBOX_SUPERSEDED (the outcome is still recorded). STORE_OK; STORE_NOT_FOUND
 * (no such row; errmsg set); STORE_CONFLICT (another owner holds the row's lease; nothing written);
 * STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_finish(store_t *store, int64_t id, store_outbox_state_t state, const char *outcome,
                                                    const char *last_error, int64_t now_ms);

/**
 * Records that row `id` went out in one invite call with others: `batch_id` is the call's first
 * row (0 clears it). STORE_OK; STORE_NOT_FOUND (no such row; errmsg set); STORE_CONFLICT (another
 * owner holds the row's lease); STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_set_batch(store_t *store, int64_t id, int64_t batch_id);

/** Sets *any to 1 when seat `email` has a pending row of any action, else 0. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_outbox_seat_pending(store_t *store, const char *email, int *any);

/**
 * Sets *id_out to the oldest pending row of `user_id` with `action` (NULL: any action).
 * STORE_OK; STORE_NOT_FOUND when there is none; STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_pending_for_user(store_t *store, const char *user_id, const char *action,
                                                              int64_t *id_out);

/** The number of pending rows: STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_outbox_pending_count(store_t *store, size_t *count);

/**
 * Called once per action that has pending rows: how many, how many of them the deactivation guard
 * holds (store_outbox_hold), and the oldest one's created_at (unix ms). `action` is borrowed for
 * the call.
 */
typedef void (*store_outbox_stat_cb)(void *ctx, const char *action, size_t count, size_t held, int64_t oldest_created_ms);

/** Pending rows grouped by action (for metrics): STORE_OK (also when none is pending) or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_outbox_stats(store_t *store, store_outbox_stat_cb cb, void *ctx);

/** Called once per row id; return 0 to go on, non-zero to stop. */
typedef int (*store_outbox_id_cb)(void *ctx, int64_t id);

/**
 * Visits the ids of every row superseded by row `id`, in no particular order; there is no cap on
 * their number. STORE_OK (also when there are none, or when `cb` stopped) or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_superseded_by(store_t *store, int64_t id, store_outbox_id_cb cb, void *ctx);

/**
 * Sets *yes to 1 when Odeus accepted an invite for seat `email` (a row invite/done/done, by any
 * user), else 0. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_invite_delivered(store_t *store, const char *email, int *yes);

/* ---- operator view (cli/outbox_cli.c) -------------------------------------------------------- */

typedef struct store_outbox_stats {
    int64_t by_state[STORE_OUTBOX_STATES]; /** row counts, indexed by store_outbox_state_t */
    int64_t oldest_pending_ms;             /** created_at of the oldest pending row; 0 when none */
    int64_t next_attempt_ms;               /** earliest next attempt; 0 when none */
    int64_t max_attempts;                  /** of pending rows */
    int64_t pending_auth;                  /** pending rows whose last attempt met 401/403 */
    int64_t pending_deactivations;
    int64_t rechecks; /** pending-invitee re-sends scheduled */
    int64_t held;     /** pending rows held by the deactivation guard (store_outbox_hold) */
} store_outbox_stats_t;

/**
 * Fills `out` (zeroed first). STORE_OK, or STORE_ERROR (also when a row has a state that is not a
 * store_outbox_state_t: the database was written by something else).
 */
STORE_MUST_CHECK store_status_t store_outbox_get_stats(store_t *store, store_outbox_stats_t *out);

/** Called per row; `row` is borrowed for the call only. Return 0 to go on, non-zero to stop. */
typedef int (*store_outbox_cb)(void *ctx, const store_outbox_t *row);

/**
 * Visits up to `limit` rows in state `state` (a store_outbox_state_t, or -1 for any): pending rows
 * in queue order (oldest first), the others newest first. STORE_OK; STORE_ERROR (also for a `state`
 * that is neither -1 nor a store_outbox_state_t).
 */
STORE_MUST_CHECK store_status_t store_outbox_list(store_t *store, int state, size_t limit, store_outbox_cb cb, void *ctx);

/**
 * Makes pending row `id` due at `now_ms`, or puts a failed row back in the queue, due at `now_ms`.
 * STORE_OK; STORE_NOT_FOUND (no such row); STORE_CONFLICT (the row is done or superseded);
 * STORE_ERROR. errmsg is set for each failure.
 */
STORE_MUST_CHECK store_status_t store_outbox_retry(store_t *store, int64_t id, int64_t now_ms);

/**
 * Holds the pending rows `ids` (`n` of them) out of delivery until an operator releases them:
 * they stay pending (outcome "held", `why` as their last error) but are never due, and keep their
 * seats' queues behind them. For the deactivation guard. Rows not pending are left alone.
 * STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_hold(store_t *store, const int64_t *ids, size_t n, const char *why);

/**
 * Releases held row `id` (0: every held row): due at `now_ms`. *count says how many were held.
 * STORE_OK (also when none was) or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_outbox_release(store_t *store, int64_t id, int64_t now_ms, size_t *count);

/** Puts every failed row back in the queue, due at `now_ms`; *count says how many. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_outbox_retry_failed(store_t *store, int64_t now_ms, size_t *count);

/**
 * Takes pending row `id` out of the queue for good (state FAILED, outcome "dropped", done at
 * `now_ms`). STORE_OK; STORE_NOT_FOUND (no such row); STORE_CONFLICT (not pending); STORE_ERROR.
 * errmsg is set for each failure.
 */
STORE_MUST_CHECK store_status_t store_outbox_drop(store_t *store, int64_t id, int64_t now_ms);

/* ---- pending-invitee re-sends ---------------------------------------------------------------- */

/**
 * A scheduled re-send for a user Odeus answered 404 for while the gateway had invited them (the
 * invitation may still be accepted later): of deactivate-user, or of update-user-role. Filled by store_recheck_due(): strings
 * owned, released with store_recheck_clear().
 */
typedef struct store_recheck {
    char *user_id;
    char *email;
    int64_t outbox_id; /** the deactivation that met the 404 */
    int64_t created_at_ms;
    int64_t next_at_ms;
    int64_t until_ms; /** no re-send after this */
    int sends;
    char *last_error; /** may be NULL */
    char *action;     /** the call re-sent: "deactivate" or "update_role" */
    char *role;       /** the role of an update_role re-send, else NULL */
} store_recheck_t;

/** Frees the strings of a re-send filled by the store and zeroes it. NULL and zeroed structs are accepted. */
void store_recheck_clear(store_recheck_t *row);

/**
 * Schedules (or restarts, forgetting earlier sends) the re-sends of `user_id` to `email`, for
 * outbox row `outbox_id`: first at `first_ms`, none after `until_ms`. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_recheck_schedule(store_t *store, const char *user_id, const char *email, int64_t outbox_id,
                                                       int64_t now_ms, int64_t first_ms, int64_t until_ms);

/**
 * As store_recheck_schedule, for a role change Odeus answered 404 for because the invitee has not
 * joined yet: update-user-role with `role` is re-sent until it lands, the time is up, or a newer
 * change of the seat cancels it. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_recheck_schedule_role(store_t *store, const char *user_id, const char *email,
                                                            const char *role, int64_t outbox_id, int64_t now_ms, int64_t first_ms,
                                                            int64_t until_ms);

/**
 * Fills `rows` (room for `max`) with the re-sends due at `now_ms`, earliest first, leaving out seats
 * with a pending outbox row (their newer change comes first) and seats an active user holds again
 * (which a re-send must never deactivate). At most `max` are returned; the
 * others stay due for the next call. *n_out says how many; the caller owns them and clears each
 * (store_recheck_clear). STORE_OK, or STORE_ERROR (then *n_out is 0 and nothing is left to clear).
 */
STORE_MUST_CHECK store_status_t store_recheck_due(store_t *store, int64_t now_ms, store_recheck_t *rows, size_t max, size_t *n_out);

/** Earliest next re-send: STORE_OK; STORE_NOT_FOUND when none is scheduled; STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_recheck_next_due(store_t *store, int64_t *at_ms);

/**
 * Records a send of `user_id`'s re-send (sends+1, `last_error`, may be NULL) and its next time
 * `next_ms`. STORE_OK (also when none is scheduled: nothing changes) or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_recheck_reschedule(store_t *store, const char *user_id, int64_t next_ms,
                                                         const char *last_error);

/** Ends the re-sends of `user_id`: STORE_OK (also when there were none) or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_recheck_remove(store_t *store, const char *user_id);

/** The number of scheduled re-sends: STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_recheck_count(store_t *store, size_t *count);

/* ---- the Odeus group mirror (store/sqlite_mirror.c) ------------------------------------------ */

/*
 * With --odeus-groups mirror, each mirrored SCIM group has one Odeus workspace group. The store keeps
 * the link (the Odeus id) and what Odeus is known to hold; who should be in it is the directory
 * itself (group_members and each member's seat). The calls go through the outbox like the users'
 * (actions group_create, group_rename, group_delete, group_members; email "group:<SCIM group id>",
 * so that a group's calls are ordered and coalesced as one queue).
 */

typedef enum store_mirror_state {
    STORE_MIRROR_PENDING,  /** the Odeus group is to be created */
    STORE_MIRROR_ADOPTING, /** the name was taken and --odeus-groups-adopt is set: the existing group is to be looked up */
    STORE_MIRROR_LIVE,     /** linked to odeus_id */
    STORE_MIRROR_CONFLICT, /** Odeus refused it for good (reason): the group is not mirrored */
} store_mirror_state_t;

/**
 * A mirrored group. Filled by store_mirror_group_get(): owned, store_mirror_group_clear(). Given
 * to store_mirror_group_put(): borrowed. Handed to a store_mirror_group_cb: borrowed for the call.
 */
typedef struct store_mirror_group {
    char *group_id; /** the SCIM group's id */
    char *odeus_id; /** NULL until created or adopted */
    store_mirror_state_t state;
    char *reason;       /** why it ended in conflict; may be NULL */
    int64_t updated_ms; /** unix ms of the last put */
} store_mirror_group_t;

void store_mirror_group_clear(store_mirror_group_t *group);

/** Reads the mirror of SCIM group `group_id`: STORE_OK; STORE_NOT_FOUND (not mirrored); STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_mirror_group_get(store_t *store, const char *group_id, store_mirror_group_t *out);

/** Writes (inserts or replaces) the mirror of group->group_id. STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_mirror_group_put(store_t *store, const store_mirror_group_t *group);

/** Forgets the mirror of `group_id` and what it knew of its members (its Odeus group is gone). STORE_OK or STORE_ERROR. */
STORE_MUST_CHECK store_status_t store_mirror_group_forget(store_t *store, const char *group_id);

typedef int (*store_mirror_group_cb)(void *ctx, const store_mirror_group_t *group);

/**
 * Visits mirrored groups, in no particular order: with `user_id` or `email` (either may be NULL)
 * those whose Odeus group a user's seat moving may change: the groups user `user_id` is a member
 * of, and those the mirror knows `email` in (held by Odeus, or not found by it); found through
 * indexes, whatever the directory's size. Else with `due_ms` > 0 those with a not-found address
 * whose re-send is due at `due_ms` and no pending outbox row of their own; else all of them. The
 * callback may stop the visit (non-zero). STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_mirror_groups(store_t *store, const char *user_id, const char *email, int64_t due_ms,
                                                    store_mirror_group_cb cb, void *ctx);

/** One address of a mirrored group, from both sides. Borrowed for the callback only. */
typedef struct store_mirror_member {
    const char *email;      /** lower case */
    const char *user_id;    /** a member of the SCIM group with this Odeus email (the first), or NULL */
    int want;               /** such a member holds the seat: Odeus should have the address in the group */
    int have;               /** Odeus confirmed the membership */
    int seat_pending;       /** the seat has a pending outbox row (its invite goes first) */
    int64_t next_at;        /** have 0: when a not-found address is sent again (INT64_MAX: given up), 0 when never sent */
    int64_t until_at;       /** no re-send after this */
    int sends;              /** how many times Odeus did not find it */
    const char *last_error; /** may be NULL */
} store_mirror_member_t;

typedef int (*store_mirror_member_cb)(void *ctx, const store_mirror_member_t *member);

/**
 * Visits every address of group `group_id`'s mirror: the Odeus emails of the SCIM group's members
 * and the addresses the mirror knows of, each once, by email. The callback may stop the visit.
 * STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_mirror_members(store_t *store, const char *group_id, store_mirror_member_cb cb, void *ctx);

/**
 * Records what Odeus said of `email` in group `group_id`: have 1 (a member), or have 0 with
 * `next_at` > 0 (not found: sent again then, no later than `until_at`; sends + 1), or have 0 and
 * next_at 0 (not a member: the entry is forgotten). `last_error` may be NULL. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_mirror_member_put(store_t *store, const char *group_id, const char *email, int have,
                                                        int64_t next_at, int64_t until_at, const char *last_error);

/* ---- moving a store (cli/migrate_cli.c) ---------------------------------------------------- */

/** The rows store_copy copied, per table. */
typedef struct store_copy_counts {
    int64_t users, emails, groups, members, outbox, rechecks;
    int64_t mirror_groups, mirror_members; /** the Odeus group mirror's links and what Odeus holds */
} store_copy_counts_t;

/**
 * The number of rows a store holds: users, groups, outbox rows, re-sends and group mirrors. STORE_OK or STORE_ERROR.
 */
STORE_MUST_CHECK store_status_t store_row_count(store_t *store, int64_t *count);

/**
 * Copies every row of `from` (users with their email index and sort columns, groups, memberships,
 * the outbox in every state, the pending-invitee re-sends, the Odeus group mirror) into `to`, keeping every key: user and
 * group ids and seqs, outbox ids (their order is the delivery order); the next rows `to` makes get
 * keys after the copied ones. Either backend on either side. One transaction on `to`: on failure it
 * is unchanged. A non-empty `to` is refused (STORE_CONFLICT) unless `replace`, which empties it
 * first, so that a copy run twice gives the same `to`. Neither store may be in a transaction.
 * `counts` says what was copied. STORE_OK; STORE_CONFLICT; STORE_ERROR. The message is on `to`.
 */
STORE_MUST_CHECK store_status_t store_copy(store_t *from, store_t *to, int replace, store_copy_counts_t *counts);

#endif
