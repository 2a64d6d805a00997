/*
 * What the Odeus User Management API is sent and what its answers mean (the contract is in odeus.h).
 * No I/O here; curl is included only for its HTTP-date parser.
 */
#include "upstream/odeus.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/json.h"

/* A Retry-After beyond this is a misconfigured server, not a plan: waiting longer than an hour
 * would only stall the outbox. */
#define RETRY_AFTER_MAX_MS (3600 * 1000LL)

static const struct {
    const char *name;
    const char *path;
} actions[] = {
    [ODEUS_INVITE] = {"invite", "/user-management/v1/invite"},
    [ODEUS_DEACTIVATE] = {"deactivate", "/user-management/v1/deactivate-user"},
    [ODEUS_UPDATE_ROLE] = {"update_role", "/user-management/v1/update-user-role"},
};
#define ACTION_COUNT (sizeof(actions) / sizeof(actions[0]))

static int action_valid(odeus_action_t action)
{
    return (unsigned)action < ACTION_COUNT;
}

const char *odeus_action_name(odeus_action_t action)
{
    return action_valid(action) ? actions[action].name : "unknown";
}

int odeus_action_parse(const char *name, odeus_action_t *out)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < ACTION_COUNT; i++) {
        if (strcmp(actions[i].name, name) == 0) {
            *out = (odeus_action_t)i;
            return 0;
        }
    }
    return -1;
}

const char *odeus_action_path(odeus_action_t action)
{
    return action_valid(action) ? actions[action].path : NULL;
}

/* In rising order of rights: the rank is the index + 1. */
static const char *const roles[] = {"member", "editor", "admin"};

const char *odeus_role_normalize(const char *role)
{
    int rank = odeus_role_rank(role);
    return rank > 0 ? roles[rank - 1] : NULL;
}

int odeus_role_rank(const char *role)
{
    if (role == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcasecmp(roles[i], role) == 0)
            return (int)i + 1;
    }
    return 0;
}

/* Serialised into memory from malloc (common/json.h), so that the caller's free() stays right even
 * if someone installs json_set_alloc_funcs. */
static char *dump_malloc(const json_t *json)
{
    return gw_json_dumps(json, NULL);
}

/*
 * A role Odeus knows is sent in its lowercase spelling; anything else is sent as given so that
 * Odeus refuses it (400 -> REFUSED) instead of the gateway guessing.
 * Returns NULL when the email is missing, a string is not UTF-8, or update-role lacks a role.
 */
char *odeus_request_body(odeus_action_t action, const char *email, const char *role)
{
    json_t *root = NULL, *user = NULL;
    char *out = NULL;
    const char *normalized = odeus_role_normalize(role);

    if (email == NULL || !action_valid(action))
        return NULL;
    if (normalized != NULL)
        role = normalized;

    switch (action) {
    case ODEUS_INVITE:
        user = json_object();
        if (json_object_set_new(user, "email", json_string(email)) != 0)
            goto out;
        if (role != NULL && json_object_set_new(user, "role", json_string(role)) != 0)
            goto out;
        root = json_pack("{s:[O]}", "users", user);
        break;
    case ODEUS_DEACTIVATE:
        root = json_pack("{s:s}", "email", email);
        break;
    case ODEUS_UPDATE_ROLE:
        if (role == NULL)
            goto out;
        root = json_pack("{s:s, s:s}", "email", email, "role", role);
        break;
    }
    if (root != NULL)
        out = dump_malloc(root);
out:
    json_decref(user);
    json_decref(root);
    return out;
}

char *odeus_invite_body(const odeus_invitee_t *users, size_t n)
{
    json_t *root = NULL, *list = NULL;
    char *out = NULL;

    if (n == 0)
        return NULL;
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *role = users[i].role, *normalized = odeus_role_normalize(role);
        json_t *user = json_object();
        if (normalized != NULL)
            role = normalized;
        if (users[i].email == NULL || json_object_set_new(user, "email", json_string(users[i].email)) != 0 ||
            (role != NULL && json_object_set_new(user, "role", json_string(role)) != 0)) {
            json_decref(user);
            goto out;
        }
        json_array_append_new(list, user);
    }
    root = json_pack("{s:O}", "users", list);
    if (root != NULL)
        out = dump_malloc(root);
out:
    json_decref(list);
    json_decref(root);
    return out;
}

const char *odeus_outcome_name(odeus_outcome_t outcome)
{
    switch (outcome) {
    case ODEUS_OUTCOME_DONE:
        return "done";
    case ODEUS_OUTCOME_ALREADY:
        return "already";
    case ODEUS_OUTCOME_NOT_MEMBER:
        return "not_member";
    case ODEUS_OUTCOME_REFUSED:
        return "refused";
    case ODEUS_OUTCOME_RETRY:
        return "retry";
    case ODEUS_OUTCOME_AUTH:
        return "auth";
    }
    return "unknown";
}

int odeus_outcome_is_final(odeus_outcome_t outcome)
{
    switch (outcome) {
    case ODEUS_OUTCOME_DONE:
    case ODEUS_OUTCOME_ALREADY:
    case ODEUS_OUTCOME_NOT_MEMBER:
    case ODEUS_OUTCOME_REFUSED:
        return 1;
    case ODEUS_OUTCOME_RETRY:
    case ODEUS_OUTCOME_AUTH:
        break;
    }
    return 0;
}

/* Text from the network ends up in logs: keep it on one line and printable. */
static void set_message(odeus_result_t *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    for (char *p = out->message; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            *p = ' ';
    }
}

/* -1 when absent or unparseable; otherwise milliseconds from now, within [0, 1 hour]. */
static int64_t parse_retry_after(const char *value, int64_t now_unix)
{
    char buf[128];
    size_t len;
    int64_t ms;

    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    len = strlen(value);
    while (len > 0 && isspace((unsigned char)value[len - 1]))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, value, len);
    buf[len] = '\0';

    if (strspn(buf, "0123456789") == len) {
        /* delta-seconds, stopped at the cap so that no length of digits can overflow */
        int64_t seconds = 0;
        for (size_t i = 0; i < len && seconds <= RETRY_AFTER_MAX_MS / 1000; i++)
            seconds = seconds * 10 + (buf[i] - '0');
        if (seconds > RETRY_AFTER_MAX_MS / 1000)
            return RETRY_AFTER_MAX_MS;
        ms = seconds * 1000;
    } else {
        time_t when = curl_getdate(buf, NULL);
        if (when == (time_t)-1)
            return -1;
        if ((int64_t)when <= now_unix)
            return 0;
        if ((int64_t)when - now_unix > RETRY_AFTER_MAX_MS / 1000)
            return RETRY_AFTER_MAX_MS;
        ms = ((int64_t)when - now_unix) * 1000;
    }
    return ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : ms;
}

static int list_has_email(const json_t *list, const char *email)
{
    size_t i;
    json_t *item;

    if (!json_is_array(list) || email == NULL)
        return 0;
    json_array_foreach(list, i, item)
    {
        if (json_is_string(item) && strcasecmp(json_string_value(item), email) == 0)
            return 1;
    }
    return 0;
}

/* What a 200 to an invite says of one address: the same mapping for a single and a batched call. */
static void invite_address(const json_t *json, const char *email, odeus_result_t *out)
{
    out->outcome = ODEUS_OUTCOME_DONE;
    if (list_has_email(json_object_get(json, "invalidEmails"), email)) {
        out->outcome = ODEUS_OUTCOME_REFUSED;
        set_message(out, "Odeus listed the email in invalidEmails");
    } else if (list_has_email(json_object_get(json, "successfulInvites"), email)) {
        set_message(out, "invited");
    } else {
        set_message(out, "not in successfulInvites: already an active member");
    }
}

void odeus_classify(odeus_action_t action, const char *email, long http_status, const char *body, size_t body_len,
                    const char *retry_after, int64_t now_unix, const char *transport_error, odeus_result_t *out)
{
    json_t *json = NULL;
    const char *reason = NULL;

    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;

    if (transport_error != NULL) {
        /* curl's error text names host and port at most; the caller never passes the URL */
        out->outcome = ODEUS_OUTCOME_RETRY;
        out->http_status = 0;
        set_message(out, "network: %s", transport_error);
        return;
    }

    out->http_status = http_status;
    out->retry_after_ms = parse_retry_after(retry_after, now_unix);
    if (body != NULL && body_len > 0)
        json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(json) && json_is_string(json_object_get(json, "message")))
        reason = json_string_value(json_object_get(json, "message"));

    switch (http_status) {
    case 200:
        if (!json_is_object(json)) {
            /* Not Odeus speaking (a proxy's page, a truncated answer): the calls are idempotent,
             * so asking again is safe, while assuming success could lose a deactivation. */
            out->outcome = ODEUS_OUTCOME_RETRY;
            set_message(out, "HTTP 200 without a JSON object body");
            break;
        }
        out->outcome = ODEUS_OUTCOME_DONE;
        if (action == ODEUS_INVITE) {
            invite_address(json, email, out);
        } else {
            set_message(out, "%s", reason != NULL ? reason : "ok");
        }
        break;
    case 404:
        if (action == ODEUS_DEACTIVATE)
            out->outcome = ODEUS_OUTCOME_ALREADY;
        else if (action == ODEUS_UPDATE_ROLE)
            out->outcome = ODEUS_OUTCOME_NOT_MEMBER;
        else
            /* invite has no documented 404: a wrong base URL or a proxy, worth trying again */
            out->outcome = ODEUS_OUTCOME_RETRY;
        set_message(out, "HTTP 404: %s", reason != NULL ? reason : "not found");
        break;
    case 400:
        out->outcome = ODEUS_OUTCOME_REFUSED;
        set_message(out, "HTTP 400: %s", reason != NULL ? reason : "bad request");
        break;
    case 401:
    case 403:
        out->outcome = ODEUS_OUTCOME_AUTH;
        set_message(out, "HTTP %ld: %s", http_status,
                    reason != NULL ? reason : "API key rejected or missing the USER_MANAGEMENT_API scope");
        break;
    default:
        out->outcome = ODEUS_OUTCOME_RETRY;
        if (reason != NULL)
            set_message(out, "HTTP %ld: %s", http_status, reason);
        else
            set_message(out, "HTTP %ld", http_status);
        break;
    }
    json_decref(json);
}

void odeus_classify_invites(const odeus_invitee_t *users, size_t n, long http_status, const char *body, size_t body_len,
                            const char *retry_after, int64_t now_unix, const char *transport_error, odeus_result_t *out)
{
    if (n == 0)
        return;
    /* the answer as a whole (status, Retry-After, a body that is no JSON object) is the first
     * address's; a 200 with an object is then read once for every address */
    odeus_classify(ODEUS_INVITE, users[0].email, http_status, body, body_len, retry_after, now_unix, transport_error, &out[0]);
    json_t *json = NULL;
    int per_address = transport_error == NULL && http_status == 200 && out[0].outcome != ODEUS_OUTCOME_RETRY;
    if (per_address && n > 1)
        json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
    for (size_t i = 1; i < n; i++) {
        out[i] = out[0];
        if (json_is_object(json))
            invite_address(json, users[i].email, &out[i]);
    }
    json_decref(json);
}
