/*
 * A mock Odeus for tests: a real HTTP/1.1 server on 127.0.0.1 (ephemeral port) in its own
 * thread, answering the three User Management endpoints as upstream/odeus.h describes them,
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
    MOCK_DONE_HANG, /** do what MOCK_OK does (the member model changes), then never answer: Odeus acted, the caller never hears */
} mock_fault_t;

typedef struct mock_odeus mock_odeus_t;

/** What the mock received, copied out. */
typedef struct mock_request {
    char method[16];
    char path[256];          /** as sent, e.g. /user-management/v1/invite */
    char authorization[512]; /** the Authorization header value, "" when absent */
    char content_type[128];
    int has_origin;     /** 1 when an Origin header was present */
    char headers[2048]; /** every header line as received, "Name: value\r\n" each; truncated to whole lines */
    char body[4096];    /** NUL-terminated, truncated to fit */
    int fault;          /** the mock_fault_t it answered with */
    int invitees;       /** invite: the users its body carried (0 for other calls) */
} mock_request_t;

/**
 * The value of the request header `name` (case-insensitive; the first one when repeated) into
 * `out`. Returns 1 when present, 0 when absent.
 */
int mock_request_header(const mock_request_t *r, const char *name, char *out, size_t out_len);

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
/** Forgets recorded requests, pushed faults, the invalid suffix and the rejected email; default back to MOCK_OK. */
void mock_odeus_reset(mock_odeus_t *mock);

/** Number of recorded requests whose path ends with `path_suffix` (NULL: all). */
size_t mock_odeus_count(mock_odeus_t *mock, const char *path_suffix);
/** Copies the i-th recorded request (0-based, arrival order); -1 when there is none. */
int mock_odeus_get(mock_odeus_t *mock, size_t i, mock_request_t *out);
/** Waits until mock_odeus_count(path_suffix) >= n; returns 0, or -1 after timeout_ms. */
int mock_odeus_wait(mock_odeus_t *mock, const char *path_suffix, size_t n, int timeout_ms);
/** TCP connections accepted since start (not cleared by mock_odeus_reset): shows connection reuse. */
size_t mock_odeus_connections(mock_odeus_t *mock);

/*
 * Rate-limited mode: at most `per_sec` requests per second (a token bucket, burst `per_sec`) get
 * their normal answer; beyond that 429 with "Retry-After: <retry_after_s>". Pushed faults still
 * come first. per_sec 0 turns it off (the default). Throttled requests are recorded with
 * fault MOCK_429.
 */
void mock_odeus_set_rate_limit(mock_odeus_t *mock, unsigned per_sec, unsigned retry_after_s);

/**
 * Invites: addresses ending with `suffix` (case-insensitive; NULL or "" none) are answered in
 * invalidEmails, one by one, and never become members; the other addresses of the call succeed.
 */
void mock_odeus_set_invalid_suffix(mock_odeus_t *mock, const char *suffix);
/**
 * Invites: a call carrying `email` (case-insensitive; NULL or "" none) is answered 400 as a whole,
 * as Odeus answers a body it cannot take, and changes no member. Pushed faults come first.
 */
void mock_odeus_set_reject_email(mock_odeus_t *mock, const char *email);

/** 0: stop recording each request (counters and the member model go on); for long runs. Default 1. */
void mock_odeus_set_recording(mock_odeus_t *mock, int on);

/*
 * The member model: what Odeus would hold after the requests answered MOCK_OK so far. Always
 * kept; it changes the answers only in stateful mode (deactivate/update-role of someone who is
 * not an active member: 404, as Odeus does). Emails compare case-insensitively.
 */
typedef enum mock_member {
    MOCK_MEMBER_NONE,    /** never invited */
    MOCK_MEMBER_INVITED, /** invited, has not joined (only with invites_pending) */
    MOCK_MEMBER_ACTIVE,
    MOCK_MEMBER_INACTIVE, /** deactivated */
} mock_member_t;

/** Stateful answers on/off (default off: the canned answers above). */
void mock_odeus_set_stateful(mock_odeus_t *mock, int on);
/** 1: an invite leaves the user invited-but-not-joined until mock_odeus_accept (default 0: active at once). */
void mock_odeus_set_invites_pending(mock_odeus_t *mock, int on);
/**
 * The invitee accepts their invitation: INVITED (or, as a late acceptance, INACTIVE after an invite) becomes ACTIVE.
 * -1 if never invited.
 */
int mock_odeus_accept(mock_odeus_t *mock, const char *email);
/** Makes `email` an active member with `role` (NULL: member), as if invited and joined earlier. */
void mock_odeus_add_member(mock_odeus_t *mock, const char *email, const char *role);
/** The member state of `email`; `role` (>= 16 bytes, may be NULL) gets the role of an active member. */
mock_member_t mock_odeus_member(mock_odeus_t *mock, const char *email, char *role, size_t role_len);
/** Number of active members. */
size_t mock_odeus_active_count(mock_odeus_t *mock);

/** Counters that survive mock_odeus_set_recording(0): requests per endpoint and how many answered 200. */
typedef struct mock_odeus_counts {
    size_t requests, ok, throttled;
    size_t invitees; /** users carried by every invite call, whatever its answer */
    size_t invite_ok, deactivate_ok, update_ok;
} mock_odeus_counts_t;
void mock_odeus_counts(mock_odeus_t *mock, mock_odeus_counts_t *out);

/*
 * Workspace groups (odeus-api.md, "Groups"), always answered from a model of their own under
 * /user-management/v1/groups: list (paged by id, `name=` exact and ignoring case), get, create
 * (names trimmed, 1..100, unique ignoring case: 409 GROUP_NAME_TAKEN), update, delete (404
 * GROUP_NOT_FOUND once gone), members (paged by email), add (only active members of the member
 * model; pending invitees, deactivated and unknown addresses come back in notFound) and remove.
 * Groups marked SCIM-managed answer writes with 409 GROUP_SCIM_MANAGED. Pushed faults come first.
 */

/** 0: the workspace has no group API (every group route answers 404 Not found); default 1. */
void mock_odeus_set_groups_api(mock_odeus_t *mock, int on);
/** The largest page the list calls answer, whatever limit they ask for (0: 250, the default). */
void mock_odeus_set_group_page_max(mock_odeus_t *mock, unsigned n);
/**
 * Makes a group as the product UI would: no uniqueness check. Its id goes to `id_out` (`id_len`
 * bytes, may be NULL). Returns 0.
 */
int mock_odeus_group_create(mock_odeus_t *mock, const char *name, int scim_managed, char *id_out, size_t id_len);
/** Adds (add 1) or removes (add 0) `email` by hand, with no check on the member model. 0, or -1 for no such group. */
int mock_odeus_group_member(mock_odeus_t *mock, const char *group_id, const char *email, int add);
/**
 * The groups as JSON text (malloc'd; free()): [{"id","name","isScimManaged","members":[email...]}],
 * by name ignoring case, members in lower case and sorted, for assertions.
 */
char *mock_odeus_groups_json(mock_odeus_t *mock);

#endif
