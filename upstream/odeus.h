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
    ODEUS_OUTCOME_DONE,       /** Odeus did it (200, and for invite: the email in successfulInvites) */
    ODEUS_OUTCOME_ALREADY,    /** deactivate answered 404: not found or not an active member — goal reached */
    ODEUS_OUTCOME_NOT_MEMBER, /** update-role answered 404: not an active member (e.g. invite still pending) */
    ODEUS_OUTCOME_REFUSED,    /** permanent refusal: 400, or the email listed in invalidEmails */
    ODEUS_OUTCOME_RETRY,      /** 429, 5xx, other unexpected answers, network errors, timeouts */
    ODEUS_OUTCOME_AUTH,       /** 401/403: API key wrong or missing the USER_MANAGEMENT_API scope */
} odeus_outcome_t;

/** "done", "already", "not_member", "refused", "retry", "auth". */
const char *odeus_outcome_name(odeus_outcome_t outcome);
/** 1 when the outcome ends the outbox row (DONE, ALREADY, NOT_MEMBER, REFUSED), else 0. */
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

#endif
