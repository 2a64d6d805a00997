/*
 * A mock Odeus for tests: a real HTTP/1.1 server on 127.0.0.1 (ephemeral port) in its own
 * thread, answering the three User Management endpoints as ../shared/odeus-api.md describes,
 * recording every request, with injectable faults. Test code only; never linked into the gateway.
 */
#ifndef MOCK_ODEUS_H
#define MOCK_ODEUS_H

#include <stddef.h>

typedef enum mock_fault {
    MOCK_OK,            /** 200 with the documented success body */
    MOCK_404,           /** 404 {"message":"User not found or not an active member"} */
    MOCK_400,           /** 400 {"message":"..."} */
    MOCK_INVALID_EMAIL, /** invite: 200 with the emails listed in invalidEmails */
    MOCK_401,           /** 401 {"message":"..."} */
    MOCK_500,           /** 500 {"message":"..."} */
    MOCK_503,           /** 503 with Retry-After: 1 */
    MOCK_429,           /** 429 with Retry-After: 1 */
    MOCK_HANG,          /** read the request, never answer (until the client gives up or the mock stops) */
    MOCK_DROP,          /** read the request, close the connection without answering */
} mock_fault_t;

typedef struct mock_odeus mock_odeus_t;

/** What the mock received, copied out. */
typedef struct mock_request {
    char method[16];
    char path[256];          /** as sent, e.g. /user-management/v1/invite */
    char authorization[512]; /** the Authorization header value, "" when absent */
    char content_type[128];
    int has_origin;          /** 1 when an Origin header was present */
    char body[4096];         /** NUL-terminated, truncated to fit */
    int fault;               /** the mock_fault_t it answered with */
} mock_request_t;

/** Starts the server on 127.0.0.1 and an ephemeral port. NULL on failure. */
mock_odeus_t *mock_odeus_start(void);
/** Stops the server, closes every connection (hanging ones too) and frees it. */
void mock_odeus_stop(mock_odeus_t *mock);
int mock_odeus_port(const mock_odeus_t *mock);
/** "http://127.0.0.1:<port>" (static to the mock). */
const char *mock_odeus_url(const mock_odeus_t *mock);

/** The next request answers with `fault` (a FIFO: one pushed fault per request). */
void mock_odeus_push_fault(mock_odeus_t *mock, mock_fault_t fault);
/** What requests answer with when no pushed fault is left (initially MOCK_OK). */
void mock_odeus_set_default(mock_odeus_t *mock, mock_fault_t fault);
/** Forgets recorded requests and pushed faults, default back to MOCK_OK. */
void mock_odeus_reset(mock_odeus_t *mock);

/** Number of recorded requests whose path ends with `path_suffix` (NULL: all). */
size_t mock_odeus_count(mock_odeus_t *mock, const char *path_suffix);
/** Copies the i-th recorded request (0-based, arrival order); -1 when there is none. */
int mock_odeus_get(mock_odeus_t *mock, size_t i, mock_request_t *out);
/** Waits until mock_odeus_count(path_suffix) >= n; returns 0, or -1 after timeout_ms. */
int mock_odeus_wait(mock_odeus_t *mock, const char *path_suffix, size_t n, int timeout_ms);
/** TCP connections accepted since start (not cleared by mock_odeus_reset): shows connection reuse. */
size_t mock_odeus_connections(mock_odeus_t *mock);

#endif
