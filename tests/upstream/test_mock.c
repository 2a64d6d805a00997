/*
 * The mock Odeus itself, over raw sockets: the exact bodies Odeus documents (see upstream/odeus.h),
 * keep-alive and pipelining, the fault FIFO, and that HANG never holds up anyone else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mock/mock_odeus.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(mock_odeus_t *m)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    addr.sin_port = htons((uint16_t)mock_odeus_port(m));
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    /* a test never waits forever on a broken mock */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    return fd;
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
}

static char *request(const char *path, const char *body, const char *extra_headers)
{
    size_t n = strlen(path) + strlen(body) + strlen(extra_headers) + 256;
    char *r = malloc(n);
    snprintf(r, n,
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k1\r\nContent-Type: application/json\r\n"
             "%sContent-Length: %zu\r\n\r\n%s",
             path, extra_headers, strlen(body), body);
    return r;
}

typedef struct response {
    int status;
    char head[2048];
    char body[8192];
} response_t;

/* Reads one response; bytes past it stay in `carry` for the next call. Returns -1 on EOF. */
static int read_response(int fd, char *carry, size_t *carry_len, response_t *out)
{
    size_t cap = 16384;
    for (;;) {
        char *end;
        carry[*carry_len] = '\0';
        end = strstr(carry, "\r\n\r\n");
        if (end != NULL) {
            size_t head_len = (size_t)(end - carry) + 4, body_len = 0;
            char *cl = strcasestr(carry, "content-length:");
            if (cl != NULL && cl < end)
                body_len = strtoul(cl + 15, NULL, 10);
            if (*carry_len >= head_len + body_len) {
                assert_true(head_len < sizeof(out->head) && body_len < sizeof(out->body));
                memcpy(out->head, carry, head_len);
                out->head[head_len] = '\0';
                memcpy(out->body, carry + head_len, body_len);
                out->body[body_len] = '\0';
                assert_int_equal(sscanf(carry, "HTTP/1.1 %d", &out->status), 1);
                memmove(carry, carry + head_len + body_len, *carry_len - head_len - body_len);
                *carry_len -= head_len + body_len;
                return 0;
            }
        }
        assert_true(*carry_len < cap - 1);
        ssize_t n = recv(fd, carry + *carry_len, cap - 1 - *carry_len, 0);
        if (n <= 0)
            return -1;
        *carry_len += (size_t)n;
    }
}

/* One request on a new connection; returns the response. */
static response_t roundtrip(mock_odeus_t *m, const char *path, const char *body)
{
    char carry[16384];
    size_t carry_len = 0;
    response_t r;
    int fd = connect_to(m);
    char *req = request(path, body, "");

    send_str(fd, req);
    free(req);
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_int_equal(close(fd), 0);
    return r;
}

static int setup(void **state)
{
    *state = mock_odeus_start();
    return *state != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    mock_odeus_stop(*state);
    return 0;
}

static void test_exact_bodies(void **state)
{
    mock_odeus_t *m = *state;
    response_t r;

    r = roundtrip(m, "/user-management/v1/invite",
                  "{\"users\":[{\"email\":\"a@x.io\",\"role\":\"admin\"},{\"email\":\"b@x.io\"}]}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"Invitations processed\","
                                "\"successfulInvites\":[\"a@x.io\",\"b@x.io\"],\"invalidEmails\":[]}");
    assert_non_null(strcasestr(r.head, "Content-Type: application/json"));

    mock_odeus_push_fault(m, MOCK_INVALID_EMAIL);
    r = roundtrip(m, "/user-management/v1/invite", "{\"users\":[{\"email\":\"a@x.io\"}]}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"Invitations processed\","
                                "\"successfulInvites\":[],\"invalidEmails\":[\"a@x.io\"]}");

    r = roundtrip(m, "/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"User deactivated\"}");

    r = roundtrip(m, "/api/public/user-management/v1/update-user-role", "{\"email\":\"a@x.io\",\"role\":\"editor\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"Role updated\"}");

    mock_odeus_push_fault(m, MOCK_404);
    r = roundtrip(m, "/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"message\":\"User not found or not an active member\"}");

    /* like Odeus, malformed bodies and unknown roles are refused */
    r = roundtrip(m, "/user-management/v1/invite", "{\"users\":[]}");
    assert_int_equal(r.status, 400);
    r = roundtrip(m, "/user-management/v1/update-user-role", "{\"email\":\"a@x.io\",\"role\":\"Owner\"}");
    assert_int_equal(r.status, 400);
    r = roundtrip(m, "/user-management/v1/nope", "{}");
    assert_int_equal(r.status, 404);
}

static void test_recording(void **state)
{
    mock_odeus_t *m = *state;
    mock_request_t rec;
    char carry[16384];
    size_t carry_len = 0;
    response_t r;
    int fd = connect_to(m);
    char *req = request("/p/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}", "Origin: https://evil\r\n");

    send_str(fd, req);
    free(req);
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(mock_odeus_count(m, NULL), 1);
    assert_int_equal(mock_odeus_count(m, "/deactivate-user"), 1);
    assert_int_equal(mock_odeus_count(m, "/invite"), 0);
    assert_int_equal(mock_odeus_get(m, 0, &rec), 0);
    assert_int_equal(mock_odeus_get(m, 1, &rec), -1);
    assert_int_equal(mock_odeus_get(m, 0, &rec), 0);
    assert_string_equal(rec.method, "POST");
    assert_string_equal(rec.path, "/p/user-management/v1/deactivate-user");
    assert_string_equal(rec.authorization, "Bearer k1");
    assert_string_equal(rec.content_type, "application/json");
    assert_int_equal(rec.has_origin, 1);
    assert_string_equal(rec.body, "{\"email\":\"a@x.io\"}");
    assert_int_equal(rec.fault, MOCK_OK);
}

static void test_keepalive_and_pipelining(void **state)
{
    mock_odeus_t *m = *state;
    char carry[16384];
    size_t carry_len = 0;
    response_t r;
    int fd = connect_to(m);
    char *a = request("/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}", "");
    char *b = request("/user-management/v1/update-user-role", "{\"email\":\"a@x.io\",\"role\":\"admin\"}", "");
    char both[4096];

    send_str(fd, a);
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_int_equal(r.status, 200);
    send_str(fd, b);
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"Role updated\"}");

    /* two requests in one segment */
    snprintf(both, sizeof(both), "%s%s", b, a);
    send_str(fd, both);
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"Role updated\"}");
    assert_int_equal(read_response(fd, carry, &carry_len, &r), 0);
    assert_string_equal(r.body, "{\"status\":\"success\",\"message\":\"User deactivated\"}");

    assert_int_equal(close(fd), 0);
    free(a);
    free(b);
    assert_int_equal(mock_odeus_count(m, NULL), 4);
    assert_int_equal(mock_odeus_connections(m), 1);
}

static void test_fault_fifo_and_default(void **state)
{
    mock_odeus_t *m = *state;
    const char *path = "/user-management/v1/deactivate-user", *body = "{\"email\":\"a@x.io\"}";
    response_t r;
    mock_request_t rec;

    mock_odeus_push_fault(m, MOCK_500);
    mock_odeus_push_fault(m, MOCK_503);
    mock_odeus_push_fault(m, MOCK_429);
    mock_odeus_push_fault(m, MOCK_401);
    mock_odeus_push_fault(m, MOCK_400);
    assert_int_equal(roundtrip(m, path, body).status, 500);
    r = roundtrip(m, path, body);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.head, "\r\nRetry-After: 1\r\n"));
    r = roundtrip(m, path, body);
    assert_int_equal(r.status, 429);
    assert_non_null(strstr(r.head, "\r\nRetry-After: 1\r\n"));
    assert_int_equal(roundtrip(m, path, body).status, 401);
    assert_int_equal(roundtrip(m, path, body).status, 400);
    assert_int_equal(roundtrip(m, path, body).status, 200);
    assert_int_equal(mock_odeus_get(m, 1, &rec), 0);
    assert_int_equal(rec.fault, MOCK_503);

    mock_odeus_set_default(m, MOCK_401);
    mock_odeus_push_fault(m, MOCK_500);
    assert_int_equal(roundtrip(m, path, body).status, 500);
    assert_int_equal(roundtrip(m, path, body).status, 401);
    assert_int_equal(roundtrip(m, path, body).status, 401);

    mock_odeus_push_fault(m, MOCK_500);
    mock_odeus_reset(m);
    assert_int_equal(mock_odeus_count(m, NULL), 0);
    assert_int_equal(roundtrip(m, path, body).status, 200);
}

static void test_drop(void **state)
{
    mock_odeus_t *m = *state;
    char buf[64];
    int fd = connect_to(m);
    char *req = request("/user-management/v1/invite", "{\"users\":[{\"email\":\"a@x.io\"}]}", "");

    mock_odeus_push_fault(m, MOCK_DROP);
    send_str(fd, req);
    free(req);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
    assert_int_equal(close(fd), 0);
    assert_int_equal(mock_odeus_count(m, NULL), 1);
}

static void test_hang_blocks_nobody(void **state)
{
    mock_odeus_t *m = *state;
    char buf[64];
    int hung = connect_to(m);
    char *req = request("/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}", "");
    struct timeval tv = {.tv_usec = 300 * 1000};
    int64_t t0;

    mock_odeus_push_fault(m, MOCK_HANG);
    send_str(hung, req);
    assert_int_equal(mock_odeus_wait(m, NULL, 1, 5000), 0);

    /* no answer on the hung connection ... */
    assert_int_equal(setsockopt(hung, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(recv(hung, buf, sizeof(buf), 0), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    /* ... while another is served */
    assert_int_equal(roundtrip(m, "/user-management/v1/deactivate-user", "{\"email\":\"a@x.io\"}").status, 200);

    /* and the stop does not wait for it; the hung connection is closed */
    t0 = now_ms();
    mock_odeus_stop(m);
    *state = NULL;
    assert_in_range(now_ms() - t0, 0, 1000);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    assert_int_equal(setsockopt(hung, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(recv(hung, buf, sizeof(buf), 0), 0);
    assert_int_equal(close(hung), 0);
    free(req);
}

static void *send_later(void *arg)
{
    struct timespec ts = {.tv_nsec = 150 * 1000000L};
    nanosleep(&ts, NULL);
    roundtrip(arg, "/user-management/v1/invite", "{\"users\":[{\"email\":\"a@x.io\"}]}");
    return NULL;
}

static void test_wait(void **state)
{
    mock_odeus_t *m = *state;
    pthread_t t;
    int64_t t0 = now_ms();

    assert_int_equal(mock_odeus_wait(m, NULL, 1, 150), -1);
    assert_in_range(now_ms() - t0, 100, 2000);

    assert_int_equal(pthread_create(&t, NULL, send_later, m), 0);
    t0 = now_ms();
    assert_int_equal(mock_odeus_wait(m, "/invite", 1, 5000), 0);
    assert_in_range(now_ms() - t0, 50, 3000);
    pthread_join(t, NULL);
    assert_int_equal(mock_odeus_wait(m, "/invite", 1, 0), 0);
    assert_int_equal(mock_odeus_wait(m, "/deactivate-user", 1, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_fifo_and_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_blocks_nobody, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
