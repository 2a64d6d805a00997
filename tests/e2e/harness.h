/*
 * Integration-test harness: runs the real odeus-scim-gateway binary (path in $GATEWAY_BIN) on
 * 127.0.0.1 with an ephemeral port and a temporary data directory, and talks HTTP to it with
 * libcurl. Test code only.
 */
#ifndef TESTS_GATEWAY_HARNESS_H
#define TESTS_GATEWAY_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define TEST_SCIM_TOKEN "test-scim-token-0123456789abcdef"
#define TEST_ODEUS_KEY  "test-odeus-key-fedcba9876543210"

typedef struct gw_proc {
    pid_t pid;
    int port;
    int out_fd; /* the gateway's stdout */
    char *log;  /* everything it printed so far (NUL-terminated) */
    size_t log_len;
    char data_dir[256];
} gw_proc_t;

typedef struct http_resp {
    long status;
    char *body;   /* NUL-terminated, malloc'd */
    json_t *json; /* parsed body or NULL */
    char content_type[128];
    char location[512];
    char retry_after[32];
    char www_authenticate[128];
    char etag[64];
    char content_length[32];
} http_resp_t;

/** Makes a fresh temporary data directory in `buf`. */
void harness_tmpdir(char *buf, size_t len);
/**
 * On a PostgreSQL run (GATEWAY_TEST_DATABASE_URL_FILE set), the URL of data directory
 * `data_dir`'s own database, created if needed, in `buf`; NULL on a SQLite run. gw_start passes it
 * as --database; tests that run the CLI pass it too.
 */
const char *harness_database(const char *data_dir, char *buf, size_t len);
/**
 * The outbox CLI's argument for the store of data directory `data_dir`, shell-quoted: --database
 * URL on a PostgreSQL run, else --data-dir DIR. A static buffer, valid for two calls.
 */
const char *harness_store_arg(const char *data_dir);
/**
 * The audit log a gateway started by gw_start on `data_dir` writes by default: DATA_DIR/audit.jsonl
 * on SQLite, DATA_DIR/audit-HOSTNAME.jsonl on a PostgreSQL run (one chain per replica, named after
 * the host when --replica-name is not given). In `buf`, which it returns.
 */
const char *harness_audit_path(const char *data_dir, char *buf, size_t len);
/** Removes a directory tree made by harness_tmpdir (and, on a PostgreSQL run, its database). */
void harness_rmdir(const char *dir);
/**
 * Runs the gateway binary ($GATEWAY_BIN) as a command, `fmt` its arguments as the shell reads them.
 * Its stdout goes into `out` (NUL-terminated, up to `out_len`; NULL: read and dropped), and with
 * `with_stderr` its stderr too, else stderr is dropped. The exit code, -1 when it did not exit.
 */
int harness_cli(char *out, size_t out_len, int with_stderr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * Starts the gateway. `odeus_url` may be NULL (dry-run: no key given). `extra` is a
 * NULL-terminated list of further arguments (may be NULL). Fails the test if it does not listen
 * within 10 s.
 */
void gw_start(gw_proc_t *p, const char *data_dir, const char *odeus_url, const char *const *extra);
/** The same with `token_file` as SCIM_TOKEN_FILE (NULL: SCIM_TOKEN=TEST_SCIM_TOKEN) and a request deadline. */
void gw_start_ex(gw_proc_t *p, const char *data_dir, const char *odeus_url, const char *token_file, int deadline_ms,
                 const char *const *extra);
/**
 * gw_start for one of several replicas on one PostgreSQL database (README, "High availability"):
 * the gateway keeps its audit log in data directory `data_dir` and its directory and outbox in the
 * database of data directory `db_dir` (harness_database), and is named `replica` (--replica-name).
 * Fails the test on a SQLite run: replicas need a shared database.
 */
void gw_start_replica(gw_proc_t *p, const char *data_dir, const char *db_dir, const char *replica, const char *odeus_url,
                      const char *const *extra);
/** SIGTERM and wait; returns the exit status (or -1 when killed by a signal). */
int gw_stop(gw_proc_t *p);
/** SIGKILL and wait. */
void gw_kill(gw_proc_t *p);
/** Reads whatever the gateway printed so far into p->log. */
void gw_read_log(gw_proc_t *p);

/**
 * One request. `token` NULL sends no Authorization; `headers` is a NULL-terminated list of extra
 * "Name: value" lines (may be NULL). Fills `out` (release with http_resp_clear).
 */
void http_call(gw_proc_t *p, const char *method, const char *path, const char *body, const char *token, const char *const *headers,
               http_resp_t *out);
void http_resp_clear(http_resp_t *r);
/**
 * A CURLOPT_WRITEFUNCTION for calls of the tests' own (threads, killed gateways): appends the
 * body to the NUL-terminated malloc'd text at *(char **)arg (NULL to start; the caller frees it).
 */
size_t harness_curl_append(char *data, size_t size, size_t n, void *arg);
/**
 * One SCIM request with the test token, for the tests' threads and for gateways that may be killed
 * under it: on the curl handle `e` (its connection is kept for the next call; the options set here
 * are reset first) or, with `e` NULL, on a connection of its own. The HTTP status, 0 when no answer
 * came (which, unlike http_call, does not fail the test). `*resp` (NULL: not wanted) gets the
 * malloc'd body or NULL.
 */
long harness_call(void *e, int port, const char *method, const char *path, const char *body, char **resp);

/** Shorthand for an authorized call. */
void scim(gw_proc_t *p, const char *method, const char *path, const char *body, http_resp_t *out);

/** Percent-encodes a filter for a query string (static buffer, one at a time). */
const char *url_encode(const char *s);

/** Asserts a SCIM error response: status, content type, schemas, "status" string, scimType (NULL: absent). */
void assert_scim_error(const http_resp_t *r, long status, const char *scim_type);
/** POSTs `body` to `path` (a resource type's endpoint) and asserts 201; returns the new id (malloc'd). */
char *create_resource(gw_proc_t *p, const char *path, const char *body);
/** POSTs a user and asserts 201; returns the new id (malloc'd). */
char *create_user(gw_proc_t *p, const char *body);
/** The string member `key` of r->json, or "" when absent. */
const char *json_str(const http_resp_t *r, const char *key);
/** totalResults of a ListResponse (asserting it is a JSON integer). */
long list_total(const http_resp_t *r);

/*
 * A test fixture shared by the integration tests: a mock Odeus and a gateway pointed at it, or
 * (gw_fixture_setup_replicas) two replicas of the gateway on one PostgreSQL database.
 */
struct mock_odeus;
typedef struct gw_fixture {
    struct mock_odeus *mock;
    gw_proc_t gw;
    char dir[64];
    /* the second replica, on gw's database with a data directory of its own; pid 0 when there is none */
    gw_proc_t gw2;
    char dir2[64];
} gw_fixture_t;

/** cmocka setup: fresh data dir, mock Odeus, gateway with `extra` arguments (may be NULL). */
int gw_fixture_setup(void **state, const char *const *extra);
/**
 * The same with two replicas (gw_start_replica), both with `extra` and the same mock Odeus: gw is
 * replica-1, gw2 replica-2. Fails the test on a SQLite run.
 */
int gw_fixture_setup_replicas(void **state, const char *const *extra);
/**
 * Stops the fixture's gateways; 0 when each exited 0 (i.e. clean under LeakSanitizer too) and no
 * secret and no query string reached its log, else -1 (what went wrong is printed).
 */
int gw_fixture_stop(gw_fixture_t *f);
/** Frees a stopped fixture: the logs, the mock, the data directories (and their databases). */
void gw_fixture_free(gw_fixture_t *f);
/** cmocka teardown: gw_fixture_stop, gw_fixture_free, and fails the test if the stop did not succeed. */
int gw_fixture_teardown(void **state);

/*
 * Waiting, the one way the integration tests wait: never a bare sleep, always a condition polled
 * until a deadline.
 *   WAIT_FOR(expr, timeout_ms)              evaluates expr every WAIT_POLL_MS until it is true; at the
 *                                           deadline fails the test, naming expr, file and line.
 *   WAIT_FOR_EVERY(expr, timeout_ms, poll)  the same for an expensive expr (a subprocess, many requests).
 *   EXPECT_STAYS(expr, ms)                  for "something does not happen": expr must be true at every
 *                                           poll for the whole ms, else the test fails naming it.
 * expr may have side effects. The gateway writes a log line per request into a pipe only the test
 * reads: a condition that sends requests, or a long wait while the gateway works, must drain it
 * (gw_drain), or the gateway blocks writing once the pipe is full.
 * wait_tick is what they are built on, for the few loops that must clean up before failing.
 */
#define WAIT_POLL_MS 5

/** Monotonic milliseconds. */
long long harness_now_ms(void);
/** Sleeps up to `poll_ms` (never past `deadline_ms`); returns 0, without sleeping, once the deadline has passed. */
int wait_tick(long long deadline_ms, int poll_ms);

#define WAIT_FOR_EVERY(expr, timeout_ms, poll_ms)                                                                                  \
    do {                                                                                                                           \
        long long wait_deadline_ = harness_now_ms() + (timeout_ms);                                                                \
        while (!(expr))                                                                                                            \
            if (!wait_tick(wait_deadline_, (poll_ms)))                                                                             \
                fail_msg("%s:%d: still false after %d ms: %s", __FILE__, __LINE__, (int)(timeout_ms), #expr);                      \
    } while (0)
#define WAIT_FOR(expr, timeout_ms) WAIT_FOR_EVERY(expr, timeout_ms, WAIT_POLL_MS)
#define EXPECT_STAYS(expr, ms)                                                                                                     \
    do {                                                                                                                           \
        long long stay_deadline_ = harness_now_ms() + (ms);                                                                        \
        do {                                                                                                                       \
            if (!(expr))                                                                                                           \
                fail_msg("%s:%d: became false within %d ms: %s", __FILE__, __LINE__, (int)(ms), #expr);                            \
        } while (wait_tick(stay_deadline_, WAIT_POLL_MS));                                                                         \
    } while (0)

/** Reads what the gateway printed so far; always 1, so that it can head a waited-for condition. */
int gw_drain(gw_proc_t *p);
/** Drains the log; 1 when it contains `needle`. */
int gw_log_has(gw_proc_t *p, const char *needle);
/** Drains the log; 1 while the process has not exited (it is not reaped). */
int gw_alive(gw_proc_t *p);

#endif
