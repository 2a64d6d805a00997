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

#include "common/alloc.h"
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
    case ODEUS_OUTCOME_CONFLICT:
        return "conflict";
    case ODEUS_OUTCOME_UNSUPPORTED:
        return "unsupported";
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
    case ODEUS_OUTCOME_CONFLICT:
    case ODEUS_OUTCOME_UNSUPPORTED:
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

/*
 * What every answer, to a user call or a group call, is read for first. No HTTP answer is a RETRY
 * and all there is to say: -1, `out` complete. Otherwise 0 with the status and Retry-After in `out`,
 * the body parsed into *json (the caller's to release; NULL when empty or not JSON) and the
 * object's "message" in *reason (NULL when there is none); the caller classifies the status.
 */
static int read_answer(long http_status, const char *body, size_t body_len, const char *retry_after, int64_t now_unix,
                       const char *transport_error, odeus_result_t *out, json_t **json, const char **reason)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_ms = -1;
    *json = NULL;
    *reason = NULL;
    if (transport_error != NULL) {
        /* curl's error text names host and port at most; the caller never passes the URL */
        out->outcome = ODEUS_OUTCOME_RETRY;
        set_message(out, "network: %s", transport_error);
        return -1;
    }
    out->http_status = http_status;
    out->retry_after_ms = parse_retry_after(retry_after, now_unix);
    if (body != NULL && body_len > 0)
        *json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(*json) && json_is_string(json_object_get(*json, "message")))
        *reason = json_string_value(json_object_get(*json, "message"));
    return 0;
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
    json_t *json;
    const char *reason;

    if (read_answer(http_status, body, body_len, retry_after, now_unix, transport_error, out, &json, &reason) != 0)
        return;

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

/* ---- workspace groups ------------------------------------------------------------------------ */

static const char *const group_call_names[ODEUS_GROUP_CALLS] = {
    [ODEUS_GROUP_LIST] = "group_list",     [ODEUS_GROUP_CREATE] = "group_create",   [ODEUS_GROUP_RENAME] = "group_rename",
    [ODEUS_GROUP_DELETE] = "group_delete", [ODEUS_GROUP_MEMBERS] = "group_members", [ODEUS_GROUP_ADD] = "group_add",
    [ODEUS_GROUP_REMOVE] = "group_remove",
};

#define GROUPS_PATH "/user-management/v1/groups"

const char *odeus_group_call_name(odeus_group_call_t call)
{
    return (unsigned)call < ODEUS_GROUP_CALLS ? group_call_names[call] : "unknown";
}

/* Appends `s` percent-encoded (RFC 3986 unreserved characters as they are) to the buffer. */
static void put_escaped(gw_json_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            gw_json_buf_put(b, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            gw_json_buf_put(b, esc, 3);
        }
    }
}

/* "?limit=N[&cursor=C][&name=N]" for the list calls. */
static void put_page_query(gw_json_buf_t *b, const odeus_group_request_t *req, int with_name)
{
    char limit[32];
    unsigned n = req->limit == 0 || req->limit > ODEUS_GROUP_BATCH_MAX ? ODEUS_GROUP_BATCH_MAX : req->limit;
    snprintf(limit, sizeof(limit), "?limit=%u", n);
    gw_json_buf_put(b, limit, strlen(limit));
    if (req->cursor != NULL) {
        gw_json_buf_put(b, "&cursor=", 8);
        put_escaped(b, req->cursor);
    }
    if (with_name && req->name != NULL) {
        gw_json_buf_put(b, "&name=", 6);
        put_escaped(b, req->name);
    }
}

/* The group's own path, "/user-management/v1/groups/<id>", with `tail` after it. */
static void put_group_path(gw_json_buf_t *b, const char *id, const char *tail)
{
    gw_json_buf_put(b, GROUPS_PATH "/", strlen(GROUPS_PATH "/"));
    put_escaped(b, id);
    gw_json_buf_put(b, tail, strlen(tail));
}

static char *emails_body(const odeus_group_request_t *req)
{
    if (req->emails == NULL || req->n_emails == 0 || req->n_emails > ODEUS_GROUP_BATCH_MAX)
        return NULL;
    json_t *list = json_array();
    for (size_t i = 0; i < req->n_emails; i++) {
        json_t *e = req->emails[i] != NULL ? json_string(req->emails[i]) : NULL;
        if (e == NULL) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, e);
    }
    json_t *root = json_pack("{s:o}", "emails", list);
    char *out = root != NULL ? dump_malloc(root) : NULL;
    json_decref(root);
    return out;
}

static char *name_body(const char *name, const char *description)
{
    json_t *root = name != NULL ? json_pack("{s:s}", "name", name) : NULL; /* NULL for a name that is not UTF-8 */
    if (root != NULL && description != NULL) {
        json_t *d = json_string(description);
        if (d == NULL) {
            json_decref(root);
            return NULL;
        }
        json_object_set_new(root, "description", d);
    }
    char *out = root != NULL ? dump_malloc(root) : NULL;
    json_decref(root);
    return out;
}

int odeus_group_http(const odeus_group_request_t *req, odeus_http_t *out)
{
    gw_json_buf_t path = {0};
    memset(out, 0, sizeof(*out));
    if ((unsigned)req->call >= ODEUS_GROUP_CALLS)
        return -1;
    if (req->call != ODEUS_GROUP_LIST && req->call != ODEUS_GROUP_CREATE && (req->group_id == NULL || req->group_id[0] == '\0'))
        return -1;
    switch (req->call) {
    case ODEUS_GROUP_LIST:
        out->method = "GET";
        gw_json_buf_put(&path, GROUPS_PATH, strlen(GROUPS_PATH));
        put_page_query(&path, req, 1);
        break;
    case ODEUS_GROUP_CREATE:
        out->method = "POST";
        gw_json_buf_put(&path, GROUPS_PATH, strlen(GROUPS_PATH));
        out->body = name_body(req->name, req->description);
        break;
    case ODEUS_GROUP_RENAME:
        out->method = "PATCH";
        put_group_path(&path, req->group_id, "");
        out->body = name_body(req->name, NULL);
        break;
    case ODEUS_GROUP_DELETE:
        out->method = "DELETE";
        put_group_path(&path, req->group_id, "");
        break;
    case ODEUS_GROUP_MEMBERS:
        out->method = "GET";
        put_group_path(&path, req->group_id, "/members");
        put_page_query(&path, req, 0);
        break;
    case ODEUS_GROUP_ADD:
    case ODEUS_GROUP_REMOVE:
        out->method = req->call == ODEUS_GROUP_ADD ? "POST" : "DELETE";
        put_group_path(&path, req->group_id, "/members");
        out->body = emails_body(req);
        break;
    }
    out->path = gw_json_buf_take(&path, NULL);
    int needs_body = req->call == ODEUS_GROUP_CREATE || req->call == ODEUS_GROUP_RENAME || req->call == ODEUS_GROUP_ADD ||
                     req->call == ODEUS_GROUP_REMOVE;
    if (needs_body && out->body == NULL) {
        odeus_http_clear(out);
        return -1;
    }
    return 0;
}

void odeus_http_clear(odeus_http_t *http)
{
    if (http == NULL)
        return;
    free(http->path);
    free(http->body);
    memset(http, 0, sizeof(*http));
}

void odeus_group_result_clear(odeus_group_result_t *res)
{
    if (res == NULL)
        return;
    for (size_t i = 0; i < res->n_items; i++) {
        free(res->items[i].id);
        free(res->items[i].name);
        free(res->items[i].email);
        free(res->items[i].description);
    }
    free(res->items);
    for (size_t i = 0; i < res->n_not_found; i++)
        free(res->not_found[i]);
    free(res->not_found);
    free(res->next_cursor);
    memset(res, 0, sizeof(*res));
}

static char *dup_string(const json_t *v)
{
    return json_is_string(v) ? gw_strdup(json_string_value(v)) : NULL;
}

/* Appends the group or member object `o` to the items; objects without an id or email are skipped. */
static void add_item(odeus_group_result_t *res, const json_t *o, int member)
{
    if (!json_is_object(o))
        return;
    odeus_group_item_t it = {.id = dup_string(json_object_get(o, "id"))};
    if (member)
        it.email = dup_string(json_object_get(o, "email"));
    else {
        it.name = dup_string(json_object_get(o, "name"));
        it.description = dup_string(json_object_get(o, "description"));
    }
    it.scim_managed = json_is_true(json_object_get(o, "isScimManaged"));
    if ((member && it.email == NULL) || (!member && (it.id == NULL || it.name == NULL))) {
        free(it.id);
        free(it.name);
        free(it.email);
        free(it.description);
        return;
    }
    res->items = gw_realloc(res->items, (res->n_items + 1) * sizeof(*res->items));
    res->items[res->n_items++] = it;
}

static void add_items(odeus_group_result_t *res, const json_t *list, int member)
{
    size_t i;
    json_t *o;
    if (!json_is_array(list))
        return;
    json_array_foreach(list, i, o) add_item(res, o, member);
}

/* What a 200/201 carries, by call. */
static void read_success(odeus_group_result_t *res, odeus_group_call_t call, const json_t *json)
{
    switch (call) {
    case ODEUS_GROUP_LIST:
        add_items(res, json_object_get(json, "groups"), 0);
        break;
    case ODEUS_GROUP_CREATE:
    case ODEUS_GROUP_RENAME:
        add_item(res, json_object_get(json, "group"), 0);
        break;
    case ODEUS_GROUP_MEMBERS:
        add_items(res, json_object_get(json, "members"), 1);
        break;
    case ODEUS_GROUP_ADD: {
        add_items(res, json_object_get(json, "added"), 1);
        add_items(res, json_object_get(json, "alreadyMembers"), 1);
        const json_t *nf = json_object_get(json, "notFound");
        size_t i;
        json_t *e;
        if (json_is_array(nf)) {
            json_array_foreach(nf, i, e)
            {
                if (!json_is_string(e))
                    continue;
                res->not_found = gw_realloc(res->not_found, (res->n_not_found + 1) * sizeof(*res->not_found));
                res->not_found[res->n_not_found++] = gw_strdup(json_string_value(e));
            }
        }
        break;
    }
    case ODEUS_GROUP_DELETE:
    case ODEUS_GROUP_REMOVE:
        break;
    }
    if (call == ODEUS_GROUP_LIST || call == ODEUS_GROUP_MEMBERS)
        res->next_cursor = dup_string(json_object_get(json, "nextCursor"));
}

void odeus_group_classify(const odeus_group_request_t *req, long http_status, const char *body, size_t body_len,
                          const char *retry_after, int64_t now_unix, const char *transport_error, odeus_group_result_t *res)
{
    odeus_result_t *out = &res->result;
    json_t *json;
    const char *reason, *code = NULL;

    memset(res, 0, sizeof(*res));
    if (read_answer(http_status, body, body_len, retry_after, now_unix, transport_error, out, &json, &reason) != 0)
        return;
    if (json_is_object(json) && json_is_string(json_object_get(json, "code")))
        code = json_string_value(json_object_get(json, "code"));
    if (code != NULL)
        snprintf(res->code, sizeof(res->code), "%s", code);
    const char *what = reason != NULL ? reason : code != NULL ? code : "";

    if (http_status == 200 || http_status == 201) {
        if (!json_is_object(json)) {
            out->outcome = ODEUS_OUTCOME_RETRY; /* not Odeus speaking: asking again is safe */
            set_message(out, "HTTP %ld without a JSON object body", http_status);
        } else {
            out->outcome = ODEUS_OUTCOME_DONE;
            read_success(res, req->call, json);
            set_message(out, "%s", reason != NULL ? reason : "ok");
        }
    } else if (http_status == 404) {
        if (code != NULL && strcmp(code, "GROUP_NOT_FOUND") == 0) {
            /* the group is gone: a delete, or a removal from it, has reached its goal */
            out->outcome =
                req->call == ODEUS_GROUP_DELETE || req->call == ODEUS_GROUP_REMOVE ? ODEUS_OUTCOME_ALREADY : ODEUS_OUTCOME_REFUSED;
        } else {
            /* a 404 that is not about a group: the route itself is missing (no group API here) */
            out->outcome = ODEUS_OUTCOME_UNSUPPORTED;
        }
        set_message(out, "HTTP 404: %s", what[0] != '\0' ? what : "not found");
    } else if (http_status == 405) {
        out->outcome = ODEUS_OUTCOME_UNSUPPORTED;
        set_message(out, "HTTP 405: %s", what[0] != '\0' ? what : "method not allowed");
    } else if (http_status == 409) {
        out->outcome = ODEUS_OUTCOME_CONFLICT;
        set_message(out, "HTTP 409 %s: %s", code != NULL ? code : "", reason != NULL ? reason : "conflict");
    } else if (http_status == 400) {
        out->outcome = ODEUS_OUTCOME_REFUSED;
        set_message(out, "HTTP 400: %s", what[0] != '\0' ? what : "bad request");
    } else if (http_status == 401 || http_status == 403) {
        out->outcome = ODEUS_OUTCOME_AUTH;
        set_message(out, "HTTP %ld: %s", http_status,
                    what[0] != '\0' ? what : "API key rejected or missing the USER_MANAGEMENT_API scope");
    } else {
        out->outcome = ODEUS_OUTCOME_RETRY;
        set_message(out, "HTTP %ld%s%s", http_status, what[0] != '\0' ? ": " : "", what);
    }
    json_decref(json);
}
