/*
 * The database goes away and comes back (README, "High availability": "When PostgreSQL is
 * unreachable"). The gateway reaches its PostgreSQL through a TCP relay the test controls; cutting
 * the relay closes every connection and refuses new ones (they are accepted and closed at once, as
 * a restarting server does), or, in "silent" mode, accepts them and never answers (a host that
 * vanished from the network). Meanwhile SCIM requests get 503 with Retry-After and nothing is
 * written, /readyz says not ready, /healthz stays up; once the relay forwards again the gateway
 * connects again by itself and serves as before. PostgreSQL only (test_gateway_db_outage_pg).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "mock/mock_odeus.h"

/* ---- the relay ---------------------------------------------------------------------------------- */

enum relay_mode { RELAY_FORWARD, RELAY_REFUSE, RELAY_SILENT };

#define RELAY_PAIRS 64

typedef struct relay {
    int listen_fd, port, server_port;
    atomic_int mode;    /* relay_mode */
    atomic_int applied; /* the mode the relay thread acts on (after closing what the last one left) */
    atomic_int stop;
    atomic_int accepted;
    int client[RELAY_PAIRS], server[RELAY_PAIRS]; /* -1: free; server -1 with client set: held silent */
    pthread_t thread;
} relay_t;

static void relay_close_pair(relay_t *r, int i)
{
    if (r->client[i] >= 0)
        close(r->client[i]);
    if (r->server[i] >= 0)
        close(r->server[i]);
    r->client[i] = r->server[i] = -1;
}

static int connect_server(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Copies what `from` has to `to`; -1 when either side is done. */
static int relay_copy(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *relay_main(void *arg)
{
    relay_t *r = arg;
    int mode = RELAY_FORWARD;
    while (!atomic_load(&r->stop)) {
        int want = atomic_load(&r->mode);
        if (want != mode) {
            for (int i = 0; i < RELAY_PAIRS; i++) /* a change of mode ends every connection of the last */
                relay_close_pair(r, i);
            mode = want;
            atomic_store(&r->applied, mode);
        }
        struct pollfd fds[1 + 2 * RELAY_PAIRS];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
        for (int i = 0; i < RELAY_PAIRS; i++) {
            fds[n++] = (struct pollfd){.fd = r->client[i], .events = POLLIN};
            fds[n++] = (struct pollfd){.fd = r->server[i], .events = POLLIN};
        }
        if (poll(fds, (nfds_t)n, 20) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int c = accept(r->listen_fd, NULL, NULL);
            if (c >= 0) {
                atomic_fetch_add(&r->accepted, 1);
                int slot = -1;
                for (int i = 0; i < RELAY_PAIRS && slot < 0; i++)
                    if (r->client[i] < 0)
                        slot = i;
                int s = mode == RELAY_FORWARD && slot >= 0 ? connect_server(r->server_port) : -1;
                if (slot >= 0 && (s >= 0 || mode == RELAY_SILENT)) {
                    r->client[slot] = c;
                    r->server[slot] = s;
                } else {
                    close(c);
                    if (s >= 0)
                        close(s);
                }
            }
        }
        for (int i = 0; i < RELAY_PAIRS; i++) {
            struct pollfd *pc = &fds[1 + 2 * i], *ps = &fds[2 + 2 * i];
            if (r->client[i] < 0)
                continue;
            if (r->server[i] < 0) { /* silent: read nothing, answer nothing; only a hang-up ends it */
                if (pc->revents & (POLLHUP | POLLERR))
                    relay_close_pair(r, i);
                continue;
            }
            if ((pc->revents & (POLLIN | POLLHUP | POLLERR)) && relay_copy(r->client[i], r->server[i]) != 0)
                relay_close_pair(r, i);
            else if ((ps->revents & (POLLIN | POLLHUP | POLLERR)) && relay_copy(r->server[i], r->client[i]) != 0)
                relay_close_pair(r, i);
        }
    }
    for (int i = 0; i < RELAY_PAIRS; i++)
        relay_close_pair(r, i);
    return NULL;
}

static void relay_start(relay_t *r, int server_port)
{
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < RELAY_PAIRS; i++)
        r->client[i] = r->server[i] = -1;
    r->server_port = server_port;
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->listen_fd, 64), 0);
    assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_set(relay_t *r, enum relay_mode mode)
{
    atomic_store(&r->mode, mode);
    WAIT_FOR(atomic_load(&r->applied) == (int)mode, 5000);
}

static void relay_stop(relay_t *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
}

/* ---- the test ----------------------------------------------------------------------------------- */

/* The port of database URL `url` (postgresql://user:password@127.0.0.1:PORT/name). */
static int url_port(const char *url)
{
    const char *at = strrchr(url, '@'), *colon = at != NULL ? strchr(at, ':') : NULL;
    assert_non_null(colon);
    return atoi(colon + 1);
}

/* `url` with its port replaced by `port`, and connect_timeout=2. */
static void url_via(const char *url, int port, char *out, size_t len)
{
    const char *at = strrchr(url, '@'), *slash = at != NULL ? strchr(at, '/') : NULL;
    assert_non_null(slash);
    snprintf(out, len, "%.*s@127.0.0.1:%d%s?connect_timeout=2", (int)(at - url), url, port, slash);
}

static const char *user_body(const char *name, char *buf, size_t len)
{
    snprintf(buf, len,
             "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"%s@example.com\","
             "\"active\":true,\"emails\":[{\"value\":\"%s@example.com\",\"primary\":true}]}",
             name, name);
    return buf;
}

/* While the relay is cut: a create answers 503 with Retry-After, nothing else. */
static void create_refused(gw_proc_t *gw, const char *body)
{
    http_resp_t r;
    scim(gw, "POST", "/scim/v2/Users", body, &r);
    gw_drain(gw);
    assert_int_equal(r.status, 503);
    assert_scim_error(&r, 503, NULL);
    assert_true(atoi(r.retry_after) >= 1);
    const char *detail = json_str(&r, "detail");
    assert_non_null(strstr(detail, "unreachable"));
    http_resp_clear(&r);
}

static int status_of(gw_proc_t *gw, const char *method, const char *path, const char *body)
{
    http_resp_t r;
    if (strcmp(path, "/readyz") == 0 || strcmp(path, "/healthz") == 0)
        http_call(gw, method, path, body, NULL, NULL, &r);
    else
        scim(gw, method, path, body, &r);
    long status = r.status;
    http_resp_clear(&r);
    gw_drain(gw);
    return (int)status;
}

static int metric_is(gw_proc_t *gw, const char *line)
{
    http_resp_t r;
    http_call(gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    int found = r.body != NULL && strstr(r.body, line) != NULL;
    http_resp_clear(&r);
    gw_drain(gw);
    return found;
}

static void outage(enum relay_mode cut)
{
    char dir[64], direct[600], url[700], body[300];
    relay_t relay;
    harness_tmpdir(dir, sizeof(dir));
    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(harness_database(dir, direct, sizeof(direct)));
    relay_start(&relay, url_port(direct));
    url_via(direct, relay.port, url, sizeof(url));
    gw_proc_t gw;
    const char *extra[] = {"--database", url, NULL};
    gw_start(&gw, dir, mock_odeus_url(mock), extra);
    assert_true(atomic_load(&relay.accepted) > 0); /* the gateway's connections go through the relay */

    char *alice = create_user(&gw, user_body("alice", body, sizeof(body)));
    assert_int_equal(mock_odeus_wait(mock, "/invite", 1, 10000), 0);

    relay_set(&relay, cut);
    /* every worker finds its connection gone: each of these requests lands on one of them */
    for (int i = 0; i < 6; i++)
        create_refused(&gw, user_body("bob", body, sizeof(body)));
    char path[128];
    snprintf(path, sizeof(path), "/scim/v2/Users/%s", alice);
    assert_int_equal(status_of(&gw, "GET", path, NULL), 503);
    assert_int_equal(status_of(&gw, "GET", "/readyz", NULL), 503);
    assert_int_equal(status_of(&gw, "GET", "/healthz", NULL), 200);
    WAIT_FOR_EVERY(metric_is(&gw, "gateway_database_reachable 0\n"), 5000, 50);
    assert_true(gw_log_has(&gw, "\"store_unavailable\""));

    relay_set(&relay, RELAY_FORWARD);
    /* back within the longest pause between attempts (8 s), whichever worker answers */
    WAIT_FOR_EVERY(status_of(&gw, "GET", "/readyz", NULL) == 200, 20000, 100);
    WAIT_FOR_EVERY(status_of(&gw, "GET", path, NULL) == 200, 20000, 100);
    /* bob was never written: creating him now is a create, not a conflict, and invites him once */
    char *bob = NULL;
    long long deadline = harness_now_ms() + 20000;
    for (;;) {
        http_resp_t r;
        scim(&gw, "POST", "/scim/v2/Users", user_body("bob", body, sizeof(body)), &r);
        gw_drain(&gw);
        if (r.status == 201) {
            bob = strdup(json_str(&r, "id"));
            http_resp_clear(&r);
            break;
        }
        assert_int_equal(r.status, 503); /* a worker still between attempts; never a 409 */
        http_resp_clear(&r);
        assert_true(wait_tick(deadline, 100));
    }
    WAIT_FOR(mock_odeus_count(mock, "/invite") >= 2, 10000);
    assert_int_equal(mock_odeus_count(mock, "/invite"), 2);
    WAIT_FOR_EVERY(metric_is(&gw, "gateway_database_reachable 1\n"), 5000, 50);

    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    relay_stop(&relay);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
    free(alice);
    free(bob);
}

/* The server restarts: connections close, new ones are refused for a while. */
static void test_server_restart(void **state)
{
    (void)state;
    outage(RELAY_REFUSE);
}

/*
 * The server's host drops off the network: connections hang. The handshake gives up after the
 * URL's connect_timeout, and no request waits for it longer than one slice of the handshake.
 */
static void test_server_silent(void **state)
{
    (void)state;
    outage(RELAY_SILENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_restart),
        cmocka_unit_test(test_server_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
