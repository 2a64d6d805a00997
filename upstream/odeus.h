/*
 * The Odeus User Management API: what each call sends (the paths and bodies below) and what each
 * answer means (odeus_result_from_http). No I/O: jansson for the bodies, and libcurl only for its
 * HTTP-date parser (Retry-After), so it is unit-tested alone.
 */
#ifndef UPSTREAM_ODEUS_H
#define UPSTREAM_ODEUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"

typedef enum odeus_action {
    ODEUS_INVITE,      /** POST /user-management/v1/invite {"users":[{"email","role"}]} */
    ODEUS_DEACTIVATE,  /** POST /user-management/v1/deactivate-user {"email"} */
    ODEUS_UPDATE_ROLE, /** POST /user-management/v1/update-user-role {"email","role"} */
} odeus_action_t;

/** Stable names, stored in the outbox: "invite", "deactivate", "update_role". */
const char *odeus_action_name(odeus_action_t action);
/** Inverse of odeus_action_name; returns 0, or -1 for an unknown name. */
GW_MUST_CHECK int odeus_action_parse(const char *name, odeus_action_t *out);
/** Path below the base URL, e.g. "/user-management/v1/invite". */
const char *odeus_action_path(odeus_action_t action);

/** Lowercase Odeus role for a name (member, editor, admin, any case), or NULL. Static string. */
const char *odeus_role_normalize(const char *role);

/** The rank of a role (any case): member 1 < editor 2 < admin 3; 0 for NULL or an unknown name. */
int odeus_role_rank(const char *role);

/**
 * The JSON request body (malloc'd, NUL-terminated; caller frees). `role` is used by invite and
 * update-role (NULL for invite means Odeus' default, member) and ignored by deactivate.
 */
char *odeus_request_body(odeus_action_t action, const char *email, const char *role);

/** One address of a batched invite. Both strings are borrowed; `role` may be NULL (member). */
typedef struct odeus_invitee {
    const char *email;
    const char *role;
} odeus_invitee_t;

/**
 * The body of one invite call for `n` users, in order (malloc'd; caller frees). NULL when `n` is 0,
 * an email is missing, or a string is not UTF-8. Roles are spelled as odeus_request_body does.
 */
char *odeus_invite_body(const odeus_invitee_t *users, size_t n);

typedef enum odeus_outcome {
    ODEUS_OUTCOME_DONE,        /** Odeus did it (200, and for invite: the email in successfulInvites) */
    ODEUS_OUTCOME_ALREADY,     /** deactivate answered 404: not found or not an active member — goal reached */
    ODEUS_OUTCOME_NOT_MEMBER,  /** update-role answered 404: not an active member (e.g. invite still pending) */
    ODEUS_OUTCOME_REFUSED,     /** permanent refusal: 400, or the email listed in invalidEmails */
    ODEUS_OUTCOME_RETRY,       /** 429, 5xx, other unexpected answers, network errors, timeouts */
    ODEUS_OUTCOME_AUTH,        /** 401/403: API key wrong or missing the USER_MANAGEMENT_API scope */
    ODEUS_OUTCOME_CONFLICT,    /** group calls: 409 (GROUP_NAME_TAKEN, GROUP_SCIM_MANAGED; odeus_group_result_t.code) */
    ODEUS_OUTCOME_UNSUPPORTED, /** group calls: 404 on the route itself, or 405: the workspace has no group API */
} odeus_outcome_t;

/** "done", "already", "not_member", "refused", "retry", "auth", "conflict", "unsupported". */
const char *odeus_outcome_name(odeus_outcome_t outcome);
/** 1 when the outcome ends the outbox row (DONE, ALREADY, NOT_MEMBER, REFUSED, CONFLICT, UNSUPPORTED), else 0. */
int odeus_outcome_is_final(odeus_outcome_t outcome);

#define ODEUS_MESSAGE_MAX 256

typedef struct odeus_result {
    odeus_outcome_t outcome;
    long http_status;                /** 0 when no HTTP answer was received */
    int64_t retry_after_ms;          /** from Retry-After (seconds or HTTP-date), -1 when absent */
    char message[ODEUS_MESSAGE_MAX]; /** short reason for logs; never the API key, never a URL with credentials */
} odeus_result_t;

/**
 * Maps one answer to a result. `body` may be NULL. `retry_after` is the raw Retry-After header
 * value or NULL; `now_unix` is used for HTTP-date values. `transport_error` is non-NULL when no
 * HTTP answer arrived (connect failure, timeout, dropped connection): the outcome is RETRY.
 * For invite, `email` is looked up (case-insensitively) in successfulInvites/invalidEmails.
 */
void odeus_classify(odeus_action_t action, const char *email, long http_status, const char *body, size_t body_len,
                    const char *retry_after, int64_t now_unix, const char *transport_error, odeus_result_t *out);

/**
 * odeus_classify for one invite call that carried `n` users: out[i] (room for `n`) is users[i]'s
 * result. A 200 is read per address (invalidEmails: REFUSED; successfulInvites: DONE; neither:
 * DONE, already a member); every other answer is the same for all, so a 400 marks every address
 * REFUSED and it is the caller's business to find which one Odeus refused (by splitting the batch).
 */
void odeus_classify_invites(const odeus_invitee_t *users, size_t n, long http_status, const char *body, size_t body_len,
                            const char *retry_after, int64_t now_unix, const char *transport_error, odeus_result_t *out);

/* ---- workspace groups (upstream/odeus_groups.c) ----------------------------------------------- */

/**
 * Emails per add/remove call at most, and the page size the list calls ask for (odeus-api.md,
 * "Groups": 1..250 for both).
 */
#define ODEUS_GROUP_BATCH_MAX 250

typedef enum odeus_group_call {
    ODEUS_GROUP_LIST,    /** GET /groups?limit=&cursor=&name= */
    ODEUS_GROUP_CREATE,  /** POST /groups {"name"} -> 201 {"group"} */
    ODEUS_GROUP_RENAME,  /** PATCH /groups/{id} {"name"} -> 200 {"group"} */
    ODEUS_GROUP_DELETE,  /** DELETE /groups/{id} -> 200; 404 GROUP_NOT_FOUND is ALREADY (the goal state) */
    ODEUS_GROUP_MEMBERS, /** GET /groups/{id}/members?limit=&cursor= */
    ODEUS_GROUP_ADD,     /** POST /groups/{id}/members {"emails"} -> 200 {"added","alreadyMembers","notFound"} */
    ODEUS_GROUP_REMOVE,  /** DELETE /groups/{id}/members {"emails"} -> 200 {"removed","notMembers"} */
} odeus_group_call_t;

#define ODEUS_GROUP_CALLS 7

/** "group_list", "group_create", "group_rename", "group_delete", "group_members", "group_add", "group_remove". */
const char *odeus_group_call_name(odeus_group_call_t call);

/** One group call. Every pointer is borrowed for the call it is given to. */
typedef struct odeus_group_request {
    odeus_group_call_t call;
    const char *group_id;      /** the Odeus group id: every call but LIST and CREATE */
    const char *name;          /** CREATE, RENAME: the name; LIST: the exact name to look for (NULL: every group) */
    const char *description;   /** CREATE: the description (NULL: none) */
    const char *cursor;        /** LIST, MEMBERS: the page after this cursor (NULL: the first page) */
    unsigned limit;            /** LIST, MEMBERS: page size, 1..ODEUS_GROUP_BATCH_MAX (0: the maximum) */
    const char *const *emails; /** ADD, REMOVE: 1..ODEUS_GROUP_BATCH_MAX addresses */
    size_t n_emails;
} odeus_group_request_t;

/**
 * The wire form of a group call: the one place that knows the methods, paths and field names
 * (the vendor's documentation could not be read in full: a correction is one edit here).
 * `method` is static; `path` (below the base URL, query included) and `body` (NULL when the call
 * has none) are malloc'd and owned by the struct: odeus_http_clear().
 */
typedef struct odeus_http {
    const char *method;
    char *path;
    char *body;
} odeus_http_t;

/**
 * Builds `out` for `req`. 0, or -1 (zeroed `out`) for a request the API cannot take: a missing id
 * or name, 0 or too many emails, a string that is not UTF-8.
 */
GW_MUST_CHECK int odeus_group_http(const odeus_group_request_t *req, odeus_http_t *out);
void odeus_http_clear(odeus_http_t *http);

/** A group, or a member, as an answer lists it. Strings owned by the odeus_group_result_t that holds it. */
typedef struct odeus_group_item {
    char *id;
    char *name;        /** groups: the name; members: NULL */
    char *email;       /** members (list members, added, alreadyMembers): the email; groups: NULL */
    char *description; /** groups: the description, NULL when none */
    int scim_managed;
} odeus_group_item_t;

/**
 * What one group answer says. `result` as for the user calls; in addition, on 200/201: the
 * group(s) or members it names (`items`), the addresses an add could not add (`not_found`:
 * pending invitees, deactivated users, unknown addresses) and the next page's cursor (NULL on the
 * last page). Owned strings: odeus_group_result_clear().
 */
typedef struct odeus_group_result {
    odeus_result_t result;
    char code[64]; /** the error's "code" (GROUP_NAME_TAKEN, GROUP_SCIM_MANAGED, GROUP_NOT_FOUND), "" when none */
    odeus_group_item_t *items;
    size_t n_items;
    char **not_found;
    size_t n_not_found;
    char *next_cursor;
} odeus_group_result_t;

void odeus_group_result_clear(odeus_group_result_t *res);

/**
 * Maps one answer to a group call. Outcomes: 200/201 with a JSON object DONE (without one RETRY,
 * as for the user calls); 404 with code GROUP_NOT_FOUND ALREADY for DELETE and REMOVE (the group is
 * gone: so is the membership), REFUSED for the others; 404 without that code (the route itself) and
 * 405 UNSUPPORTED; 409 CONFLICT; 400 REFUSED; 401/403 AUTH; anything else RETRY. `out` is the
 * caller's, zeroed first; release with odeus_group_result_clear().
 */
void odeus_group_classify(const odeus_group_request_t *req, long http_status, const char *body, size_t body_len,
                          const char *retry_after, int64_t now_unix, const char *transport_error, odeus_group_result_t *out);

#endif
