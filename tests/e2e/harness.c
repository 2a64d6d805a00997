#include "harness.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include "mock/mock_odeus.h"

/*
 * PostgreSQL runs (the test_gateway_*_pg variants): GATEWAY_TEST_DATABASE_URL_FILE names the URL of
 * the throwaway server's maintenance database (tests/pg/pg-throwaway.sh). Each data directory then
 * gets a database of its own, named after the directory, so that a gateway restarted on the same
 * directory finds its data again; harness_rmdir drops it. "" when the run is on SQLite.
 */
static const char *pg_server(void)
{
    static char url[512];
    static int read_once;
    if (read_once)
        return url;
    read_once = 1;
    const char *file = getenv("GATEWAY_TEST_DATABASE_URL_FILE");
    if (file == NULL || file[0] == '\0')
        return url;
    FILE *f = fopen(file, "r");
    if (f == NULL || fgets(url, sizeof(url), f) == NULL) {
        read_once = 0; /* every test that asks fails: none may fall back to SQLite */
        fail_msg("GATEWAY_TEST_DATABASE_URL_FILE=%s: cannot read it (did the pg_server fixture start?)", file);
    }
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    return url;
}

/* libpq's notices ("database ... does not exist, skipping" of a DROP DATABASE IF EXISTS) are not news here. */
static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs `sql` on the maintenance database; SQLSTATE `allowed` (may be NULL) counts as success. */
static void pg_admin(const char *sql, const char *allowed)
{
    PGconn *c = PQconnectdb(pg_server());
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("PostgreSQL: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    PGresult *r = PQexec(c, sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || (allowed != NULL && state != NULL && strcmp(state, allowed) == 0);
    if (!ok)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* The database name of data directory `dir` (its last component), quoted as PostgreSQL needs it in SQL. */
static void pg_name(const char *dir, char *out, size_t len)
{
    const char *base = strrchr(dir, '/');
    base = base != NULL ? base + 1 : dir;
    assert_true(strlen(base) > 0 && strchr(base, '"') == NULL && strlen(base) < 60);
    snprintf(out, len, "%s", base);
}

const char *harness_audit_path(const char *data_dir, char *buf, size_t len)
{
    if (pg_server()[0] == '\0') {
        snprintf(buf, len, "%s/audit.jsonl", data_dir);
        return buf;
    }
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    host[63] = '\0';
    for (char *p = host; *p != '\0'; p++) /* as the gateway makes a host name a replica name */
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '-';
    snprintf(buf, len, "%s/audit-%s.jsonl", data_dir, host);
    return buf;
}

const char *harness_database(const char *data_dir, char *buf, size_t len)
{
    const char *server = pg_server();
    if (server[0] == '\0')
        return NULL;
    char name[64], sql[128];
    pg_name(data_dir, name, sizeof(name));
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    pg_admin(sql, "42P04"); /* duplicate_database: a restart on the same directory */
    const char *slash = strrchr(server, '/');
    int n = snprintf(buf, len, "%.*s/%s", (int)(slash - server), server, name);
    assert_true(n > 0 && (size_t)n < len);
    return buf;
}

void harness_tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/gw-test-XXXXXX");
    assert_non_null(mkdtemp(buf));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

const char *harness_store_arg(const char *data_dir)
{
    static char bufs[2][700];
    static int next;
    char *buf = bufs[next++ % 2], url[600];
    if (harness_database(data_dir, url, sizeof(url)) != NULL)
        snprintf(buf, sizeof(bufs[0]), "--database '%s'", url);
    else
        snprintf(buf, sizeof(bufs[0]), "--data-dir '%s'", data_dir);
    return buf;
}

void harness_rmdir(const char *dir)
{
    if (pg_server()[0] != '\0') {
        char name[64], sql[160];
        pg_name(dir, name, sizeof(name));
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
        pg_admin(sql, NULL);
    }
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fail_msg("could not remove %s: %s", dir, strerror(errno));
}

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wait_tick(long long deadline_ms, int poll_ms)
{
    long long left = deadline_ms - harness_now_ms();
    if (left <= 0)
        return 0;
    if (left > poll_ms)
        left = poll_ms;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(left % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 1;
}

void gw_read_log(gw_proc_t *p)
{
    char buf[8192];
    if (p->out_fd < 0)
        return; /* stopped: everything it printed was read */
    if (p->log == NULL) {
        p->log = calloc(1, 1);
        assert_non_null(p->log);
    }
    for (;;) {
        ssize_t n = read(p->out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            fail_msg("reading the gateway's output: %s", strerror(errno));
        if (n <= 0)
            return;
        char *grown = realloc(p->log, p->log_len + (size_t)n + 1);
        assert_non_null(grown);
        p->log = grown;
        memcpy(p->log + p->log_len, buf, (size_t)n);
        p->log_len += (size_t)n;
        p->log[p->log_len] = '\0';
    }
}

int gw_drain(gw_proc_t *p)
{
    gw_read_log(p);
    return 1;
}

int gw_log_has(gw_proc_t *p, const char *needle)
{
    gw_read_log(p);
    return strstr(p->log, needle) != NULL;
}

int gw_alive(gw_proc_t *p)
{
    siginfo_t info;
    gw_read_log(p);
    memset(&info, 0, sizeof(info));
    assert_int_equal(waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT), 0);
    return info.si_pid == 0;
}

/* The port from the "listening" log line, or 0 while there is none. */
static int find_port(const gw_proc_t *p)
{
    if (p->log == NULL)
        return 0;
    const char *line = strstr(p->log, "\"event\":\"listening\"");
    if (line == NULL)
        return 0;
    const char *port = strstr(line, "\"port\":");
    return port != NULL ? atoi(port + 7) : 0;
}

void gw_start(gw_proc_t *p, const char *data_dir, const char *odeus_url, const char *const *extra)
{
    gw_start_ex(p, data_dir, odeus_url, NULL, 1500, extra);
}

/*
 * Starts the binary on `data_dir`; on a PostgreSQL run with the database of data directory `db_dir`,
 * and as replica `replica` when not NULL.
 */
static void start_gateway(gw_proc_t *p, const char *data_dir, const char *db_dir, const char *replica, const char *odeus_url,
                          const char *token_file, int deadline_ms, const char *const *extra)
{
    char deadline[16];
    snprintf(deadline, sizeof(deadline), "%d", deadline_ms);
    const char *bin = getenv("GATEWAY_BIN");
    assert_non_null(bin);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    memset(p, 0, sizeof(*p));
    snprintf(p->data_dir, sizeof(p->data_dir), "%s", data_dir);

    const char *argv[48];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--data-dir";
    argv[n++] = data_dir;
    char database[600];
    if (harness_database(db_dir, database, sizeof(database)) != NULL) {
        argv[n++] = "--database";
        argv[n++] = database;
    }
    if (replica != NULL) {
        argv[n++] = "--replica-name";
        argv[n++] = replica;
    }
    argv[n++] = "--threads";
    argv[n++] = "2";
    argv[n++] = "--upstream-deadline-ms";
    argv[n++] = deadline;
    if (odeus_url != NULL) {
        argv[n++] = "--odeus-base-url";
        argv[n++] = odeus_url;
    } else {
        argv[n++] = "--dry-run";
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The gateway dies with the test: a failed assertion must not leave it holding ctest's pipe.
         * No cmocka assertion in the child: a failure here is exit code 127, seen by the parent. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || dup2(fds[1], STDOUT_FILENO) < 0 || close(fds[0]) != 0 || close(fds[1]) != 0)
            _exit(127);
        int env_ok;
        if (token_file != NULL)
            env_ok = unsetenv("SCIM_TOKEN") == 0 && setenv("SCIM_TOKEN_FILE", token_file, 1) == 0;
        else
            env_ok = setenv("SCIM_TOKEN", TEST_SCIM_TOKEN, 1) == 0 && unsetenv("SCIM_TOKEN_FILE") == 0;
        if (odeus_url != NULL)
            env_ok = env_ok && setenv("ODEUS_API_KEY", TEST_ODEUS_KEY, 1) == 0;
        else
            env_ok = env_ok && unsetenv("ODEUS_API_KEY") == 0;
        if (!env_ok || unsetenv("ODEUS_API_KEY_FILE") != 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    assert_int_equal(close(fds[1]), 0);
    p->pid = pid;
    p->out_fd = fds[0];
    assert_int_equal(fcntl(p->out_fd, F_SETFL, O_NONBLOCK), 0);
    long long listen_by = harness_now_ms() + 10000;
    for (;;) {
        gw_read_log(p);
        p->port = find_port(p);
        if (p->port > 0)
            break;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "gateway exited at start; it printed:\n%s\n", p->log);
            p->pid = 0;
            assert_int_equal(close(p->out_fd), 0);
            p->out_fd = -1;
            fail();
        }
        if (!wait_tick(listen_by, WAIT_POLL_MS)) {
            fprintf(stderr, "gateway did not listen within 10 s; it printed:\n%s\n", p->log);
            fail();
        }
    }
}

void gw_start_ex(gw_proc_t *p, const char *data_dir, const char *odeus_url, const char *token_file, int deadline_ms,
                 const char *const *extra)
{
    start_gateway(p, data_dir, data_dir, NULL, odeus_url, token_file, deadline_ms, extra);
}

void gw_start_replica(gw_proc_t *p, const char *data_dir, const char *db_dir, const char *replica, const char *odeus_url,
                      const char *const *extra)
{
    if (pg_server()[0] == '\0')
        fail_msg("replicas need a shared database: run on PostgreSQL (GATEWAY_TEST_DATABASE_URL_FILE)");
    start_gateway(p, data_dir, db_dir, replica, odeus_url, NULL, 1500, extra);
}

static int wait_exit(gw_proc_t *p)
{
    int status = 0;
    long long deadline = harness_now_ms() + 20000;
    for (;;) {
        gw_read_log(p);
        if (waitpid(p->pid, &status, WNOHANG) == p->pid)
            break;
        if (!wait_tick(deadline, WAIT_POLL_MS)) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            assert_int_equal(close(p->out_fd), 0);
            p->out_fd = -1;
            p->pid = 0;
            fail_msg("the gateway did not stop within 20 s");
        }
    }
    gw_read_log(p);
    assert_int_equal(close(p->out_fd), 0);
    p->out_fd = -1;
    p->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "gateway ended with %s %d; it printed:\n%s\n", WIFEXITED(status) ? "exit code" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), p->log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int gw_stop(gw_proc_t *p)
{
    if (p->pid <= 0)
        return 0;
    assert_int_equal(kill(p->pid, SIGTERM), 0);
    return wait_exit(p);
}

void gw_kill(gw_proc_t *p)
{
    assert_int_equal(kill(p->pid, SIGKILL), 0);
    wait_exit(p);
}

int harness_cli(char *out, size_t out_len, int with_stderr, const char *fmt, ...)
{
    char args[2048], cmd[2560], sink[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s %s %s", getenv("GATEWAY_BIN"), args, with_stderr ? "2>&1" : "2>/dev/null");
    if (out == NULL) {
        out = sink;
        out_len = sizeof(sink);
    }
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, out_len - 1, p);
    assert_int_equal(ferror(p), 0);
    out[n] = '\0';
    int status = pclose(p);
    assert_int_not_equal(status, -1);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t harness_curl_append(char *data, size_t size, size_t n, void *arg)
{
    char **buf = arg;
    size_t old = *buf != NULL ? strlen(*buf) : 0, add = size * n;
    char *grown = realloc(*buf, old + add + 1);
    if (grown == NULL)
        return 0; /* curl fails the transfer */
    memcpy(grown + old, data, add);
    grown[old + add] = '\0';
    *buf = grown;
    return add;
}

typedef struct buf {
    char *data;
    size_t len;
} buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_t *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0; /* curl fails the transfer, and http_call the test */
    b->data = grown;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void copy_header_value(const char *line, size_t len, size_t name_len, char *dst, size_t dst_len)
{
    const char *v = line + name_len;
    size_t vlen = len - name_len;
    while (vlen > 0 && (*v == ' ' || *v == ':')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
        vlen--;
    if (vlen >= dst_len)
        vlen = dst_len - 1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userdata)
{
    http_resp_t *r = userdata;
    size_t len = size * nmemb;
    static const struct {
        const char *name;
        size_t off, cap;
    } wanted[] = {
        {"content-type:", offsetof(http_resp_t, content_type), sizeof(((http_resp_t *)0)->content_type)},
        {"location:", offsetof(http_resp_t, location), sizeof(((http_resp_t *)0)->location)},
        {"retry-after:", offsetof(http_resp_t, retry_after), sizeof(((http_resp_t *)0)->retry_after)},
        {"www-authenticate:", offsetof(http_resp_t, www_authenticate), sizeof(((http_resp_t *)0)->www_authenticate)},
        {"etag:", offsetof(http_resp_t, etag), sizeof(((http_resp_t *)0)->etag)},
        {"content-length:", offsetof(http_resp_t, content_length), sizeof(((http_resp_t *)0)->content_length)},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        size_t nl = strlen(wanted[i].name);
        if (len >= nl && strncasecmp(line, wanted[i].name, nl) == 0)
            copy_header_value(line, len, nl, (char *)r + wanted[i].off, wanted[i].cap);
    }
    return len;
}

void http_call(gw_proc_t *p, const char *method, const char *path, const char *body, const char *token, const char *const *headers,
               http_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char url[2048], auth[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", p->port, path);
    struct curl_slist *list = NULL;
    list = curl_slist_append(list, "Content-Type: application/scim+json");
    list = curl_slist_append(list, "Expect:");
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        list = curl_slist_append(list, auth);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        list = curl_slist_append(list, headers[i]);
    buf_t b = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    out->body = b.data != NULL ? b.data : strdup("");
    out->json = json_loads(out->body, 0, NULL);
}

void http_resp_clear(http_resp_t *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

void scim(gw_proc_t *p, const char *method, const char *path, const char *body, http_resp_t *out)
{
    http_call(p, method, path, body, TEST_SCIM_TOKEN, NULL, out);
}

const char *url_encode(const char *s)
{
    static char out[2048];
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s != '\0' && n + 4 < sizeof(out); s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return out;
}

void assert_scim_error(const http_resp_t *r, long status, const char *scim_type)
{
    if (r->status != status)
        fail_msg("expected status %ld, got %ld: %s", status, r->status, r->body);
    assert_string_equal(r->content_type, "application/scim+json");
    assert_non_null(r->json);
    json_t *schemas = json_object_get(r->json, "schemas");
    assert_string_equal(json_string_value(json_array_get(schemas, 0)), "urn:ietf:params:scim:api:messages:2.0:Error");
    char text[8];
    snprintf(text, sizeof(text), "%ld", status);
    assert_string_equal(json_string_value(json_object_get(r->json, "status")), text);
    json_t *type = json_object_get(r->json, "scimType");
    if (scim_type == NULL)
        assert_null(type);
    else
        assert_string_equal(json_string_value(type), scim_type);
    assert_true(json_is_string(json_object_get(r->json, "detail")));
}

char *create_resource(gw_proc_t *p, const char *path, const char *body)
{
    http_resp_t r;
    scim(p, "POST", path, body, &r);
    if (r.status != 201)
        fail_msg("create %s: expected 201, got %ld: %s", path, r.status, r.body);
    char *id = strdup(json_str(&r, "id"));
    assert_true(strlen(id) == 36);
    http_resp_clear(&r);
    return id;
}

char *create_user(gw_proc_t *p, const char *body)
{
    return create_resource(p, "/scim/v2/Users", body);
}

const char *json_str(const http_resp_t *r, const char *key)
{
    const char *v = json_string_value(json_object_get(r->json, key));
    return v != NULL ? v : "";
}

long list_total(const http_resp_t *r)
{
    json_t *t = json_object_get(r->json, "totalResults");
    assert_true(json_is_integer(t));
    return (long)json_integer_value(t);
}

int gw_fixture_setup(void **state, const char *const *extra)
{
    gw_fixture_t *f = calloc(1, sizeof(*f));
    harness_tmpdir(f->dir, sizeof(f->dir));
    f->mock = mock_odeus_start();
    assert_non_null(f->mock);
    gw_start(&f->gw, f->dir, mock_odeus_url(f->mock), extra);
    *state = f;
    return 0;
}

int gw_fixture_setup_replicas(void **state, const char *const *extra)
{
    gw_fixture_t *f = calloc(1, sizeof(*f));
    harness_tmpdir(f->dir, sizeof(f->dir));
    harness_tmpdir(f->dir2, sizeof(f->dir2));
    f->mock = mock_odeus_start();
    assert_non_null(f->mock);
    gw_start_replica(&f->gw, f->dir, f->dir, "replica-1", mock_odeus_url(f->mock), extra);
    gw_start_replica(&f->gw2, f->dir2, f->dir, "replica-2", mock_odeus_url(f->mock), extra);
    *state = f;
    return 0;
}

/* 0 when gateway `p`, stopped with exit status `rc`, exited 0 and its log shows no secret and no query string. */
static int stopped_clean(const gw_proc_t *p, int rc)
{
    int bad = rc != 0;
    /* Secrets never reach the log, and neither do query strings (filters carry emails). */
    const char *const never[] = {TEST_SCIM_TOKEN, TEST_ODEUS_KEY, "filter="};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (p->log != NULL && strstr(p->log, never[i]) != NULL) {
            fprintf(stderr, "the gateway's log shows %s\n", i < 2 ? "a secret" : "a query string");
            bad = 1;
        }
    return bad ? -1 : 0;
}

int gw_fixture_stop(gw_fixture_t *f)
{
    /* both replicas shut down side by side: each takes about a second */
    int second = f->gw2.pid > 0;
    if (second)
        assert_int_equal(kill(f->gw2.pid, SIGTERM), 0);
    int rc = stopped_clean(&f->gw, gw_stop(&f->gw));
    if (second && stopped_clean(&f->gw2, wait_exit(&f->gw2)) != 0)
        rc = -1;
    return rc;
}

void gw_fixture_free(gw_fixture_t *f)
{
    free(f->gw.log);
    free(f->gw2.log);
    mock_odeus_stop(f->mock);
    harness_rmdir(f->dir);
    if (f->dir2[0] != '\0')
        harness_rmdir(f->dir2);
    free(f);
}

int gw_fixture_teardown(void **state)
{
    gw_fixture_t *f = *state;
    int rc = gw_fixture_stop(f);
    gw_fixture_free(f);
    assert_int_equal(rc, 0);
    return 0;
}

long harness_call(void *handle, int port, const char *method, const char *path, const char *body, char **resp)
{
    char url[512], *text = NULL;
    long status = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *e = handle != NULL ? handle : curl_easy_init();
    if (handle != NULL)
        curl_easy_reset(e); /* keeps the connection */
    struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " TEST_SCIM_TOKEN);
    h = curl_slist_append(h, "Content-Type: application/scim+json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, harness_curl_append);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &text);
    if (body != NULL)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (handle == NULL)
        curl_easy_cleanup(e);
    if (resp != NULL)
        *resp = text;
    else
        free(text);
    return status;
}
