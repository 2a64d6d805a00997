/*
 * A mock Odeus: an HTTP/1.1 server on 127.0.0.1 in its own thread, one poll() loop over
 * non-blocking sockets, so that a hanging connection never holds up the others or the stop.
 * Keep-alive and pipelining are supported because curl reuses connections; only
 * Content-Length bodies, since curl sends POSTFIELDS that way.
 */
#include "mock/mock_odeus.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define HEADER_MAX (16 * 1024)
#define BODY_MAX   (4 * 1024 * 1024)

typedef struct member {
    char email[128];
    char role[16];
    mock_member_t state;
    int invited; /* an invite was accepted by the mock at some point */
} member_t;

/* A workspace group (odeus-api.md, "Groups"). Member emails as added; compared ignoring case. */
typedef struct mgroup {
    char id[40];
    char name[128];
    char description[256];
    int scim_managed;
    int deleted;
    char (*emails)[128];
    char (*roles)[16];
    size_t n, cap;
} mgroup_t;

typedef struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    int hanging;     /* MOCK_HANG: input is read and dropped, nothing is ever answered */
    int close_after; /* close once `out` is flushed */
} conn_t;

struct mock_odeus {
    int listen_fd;
    int wake[2];
    int port;
    char url[64];
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled on every recorded request */
    /* guarded by mu */
    int stopping;
    mock_request_t *reqs;
    size_t reqs_len, reqs_cap;
    mock_fault_t *faults;
    size_t faults_head, faults_len, faults_cap;
    mock_fault_t fault_default;
    size_t connections;
    /* rate-limited mode */
    unsigned rate_per_sec, rate_retry_after;
    double rate_tokens;
    struct timespec rate_last;
    int recording, stateful, invites_pending;
    char invalid_suffix[128]; /* invite: addresses ending so are listed in invalidEmails ("" none) */
    char reject_email[256];   /* invite: a call carrying this address is answered 400 as a whole ("" none) */
    mock_odeus_counts_t counts;
    /* member model: parallel arrays, linear search is fine for tests (hashing below keeps 10k fast) */
    member_t *members;
    size_t members_len, members_cap;
    size_t *buckets; /* open addressing into members (index + 1), size buckets_cap */
    size_t buckets_cap;
    /* workspace groups, in id order (ids grow) */
    mgroup_t *groups;
    size_t groups_len, groups_cap, group_seq;
    int groups_off;          /* the workspace has no group API: its routes answer 404 */
    unsigned group_page_max; /* the largest page it answers, whatever the limit asked (0: 250) */

    /* owned by the server thread */
    conn_t **conns;
    size_t conns_len, conns_cap;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "mock_odeus: out of memory\n");
        abort();
    }
    return q;
}

/* close() of a descriptor the mock owns: failing means a bug in the mock (EBADF), so it aborts. */
static void xclose(int fd)
{
    if (close(fd) != 0 && errno != EINTR) {
        perror("mock_odeus: close");
        abort();
    }
}

static void copy_field(char *dst, size_t dst_len, const char *src, size_t src_len)
{
    if (src_len >= dst_len)
        src_len = dst_len - 1;
    memcpy(dst, src, src_len);
    dst[src_len] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void conn_close(mock_odeus_t *m, size_t i)
{
    conn_t *c = m->conns[i];

    xclose(c->fd);
    free(c->in);
    free(c->out);
    free(c);
    m->conns[i] = m->conns[--m->conns_len];
}

static void conn_flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* peer gone: drop the rest */
                c->close_after = 1;
                c->out_off = c->out_len = 0;
            }
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
}

static void conn_write(conn_t *c, const char *data, size_t len)
{
    c->out = xrealloc(c->out, c->out_len + len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

static void respond(conn_t *c, int status, const char *body, int retry_after)
{
    char head[512], ra[48] = "";
    if (retry_after > 0)
        snprintf(ra, sizeof(ra), "Retry-After: %d\r\n", retry_after);
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, reason_phrase(status), strlen(body), ra, c->close_after ? "Connection: close\r\n" : "");
    conn_write(c, head, (size_t)n);
    conn_write(c, body, strlen(body));
    conn_flush(c);
}

static void respond_message(conn_t *c, int status, const char *message, int retry_after)
{
    json_t *j = json_pack("{s:s}", "message", message);
    char *body = json_dumps(j, JSON_COMPACT);
    respond(c, status, body, retry_after);
    free(body);
    json_decref(j);
}

/* The invite answer, built from the request like Odeus does; 400 when the body is malformed. */
/* 1 when `email` ends with `suffix` (case-insensitively; "" never matches). */
static int has_suffix(const char *email, const char *suffix)
{
    size_t n = strlen(email), k = strlen(suffix);
    return k > 0 && n >= k && strcasecmp(email + n - k, suffix) == 0;
}

/* The number of users an invite body carries, and whether one of them is `email` ("" none). */
static size_t invite_users(const char *body, size_t body_len, const char *email, int *has)
{
    json_t *req = json_loadb(body, body_len, 0, NULL), *user;
    json_t *users = json_object_get(req, "users");
    size_t i, n = json_is_array(users) ? json_array_size(users) : 0;
    *has = 0;
    json_array_foreach(users, i, user)
    {
        const char *e = json_string_value(json_object_get(user, "email"));
        if (e != NULL && email[0] != '\0' && strcasecmp(e, email) == 0)
            *has = 1;
    }
    json_decref(req);
    return n;
}

static void respond_invite(conn_t *c, const char *body, size_t body_len, int invalid, const char *invalid_suffix)
{
    json_t *req = json_loadb(body, body_len, 0, NULL);
    json_t *users = json_object_get(req, "users");
    json_t *emails = json_array(), *answer = NULL, *user, *done_list, *invalid_list;
    size_t i;
    char *text;

    if (!json_is_array(users) || json_array_size(users) == 0)
        goto bad;
    json_array_foreach(users, i, user)
    {
        json_t *email = json_object_get(user, "email");
        json_t *role = json_object_get(user, "role");
        if (!json_is_string(email))
            goto bad;
        if (role != NULL && (!json_is_string(role) ||
                             (strcmp(json_string_value(role), "member") != 0 && strcmp(json_string_value(role), "editor") != 0 &&
                              strcmp(json_string_value(role), "admin") != 0)))
            goto bad;
        json_array_append(emails, email);
    }
    done_list = json_array();
    invalid_list = json_array();
    json_array_foreach(emails, i, user)
    {
        int bad = invalid || has_suffix(json_string_value(user), invalid_suffix);
        json_array_append(bad ? invalid_list : done_list, user);
    }
    answer = json_pack("{s:s, s:s, s:o, s:o}", "status", "success", "message", "Invitations processed", "successfulInvites",
                       done_list, "invalidEmails", invalid_list);
    text = json_dumps(answer, JSON_COMPACT);
    respond(c, 200, text, 0);
    free(text);
    goto out;
bad:
    respond_message(c, 400, "Invalid request body", 0);
out:
    json_decref(answer);
    json_decref(emails);
    json_decref(req);
}

/* ---- member model (guarded by mu) ---- */

static size_t email_hash(const char *e)
{
    size_t h = 1469598103934665603ULL;
    for (; *e != '\0'; e++)
        h = (h ^ (unsigned char)tolower((unsigned char)*e)) * 1099511628211ULL;
    return h;
}

static member_t *member_find(mock_odeus_t *m, const char *email, int create)
{
    if (m->buckets_cap > 0) {
        for (size_t i = email_hash(email) & (m->buckets_cap - 1);; i = (i + 1) & (m->buckets_cap - 1)) {
            if (m->buckets[i] == 0)
                break;
            member_t *x = &m->members[m->buckets[i] - 1];
            if (strcasecmp(x->email, email) == 0)
                return x;
        }
    }
    if (!create)
        return NULL;
    if (m->members_len == m->members_cap) {
        m->members_cap = m->members_cap ? m->members_cap * 2 : 64;
        m->members = xrealloc(m->members, m->members_cap * sizeof(*m->members));
    }
    if ((m->members_len + 1) * 2 > m->buckets_cap) {
        /* rehash at half load */
        size_t cap = m->buckets_cap ? m->buckets_cap * 2 : 128;
        free(m->buckets);
        m->buckets = xrealloc(NULL, cap * sizeof(*m->buckets));
        memset(m->buckets, 0, cap * sizeof(*m->buckets));
        m->buckets_cap = cap;
        for (size_t k = 0; k < m->members_len; k++) {
            size_t i = email_hash(m->members[k].email) & (cap - 1);
            while (m->buckets[i] != 0)
                i = (i + 1) & (cap - 1);
            m->buckets[i] = k + 1;
        }
    }
    member_t *x = &m->members[m->members_len];
    memset(x, 0, sizeof(*x));
    copy_field(x->email, sizeof(x->email), email, strlen(email));
    strcpy(x->role, "member");
    size_t i = email_hash(x->email) & (m->buckets_cap - 1);
    while (m->buckets[i] != 0)
        i = (i + 1) & (m->buckets_cap - 1);
    m->buckets[i] = ++m->members_len;
    return x;
}

/*
 * Applies a request the mock accepts (MOCK_OK) to the member model. Returns 1 when, in stateful
 * mode, Odeus would answer 404 (not an active member), else 0.
 */
static int model_apply(mock_odeus_t *m, const char *path, const char *body, size_t body_len)
{
    int not_member = 0;
    json_t *req = json_loadb(body, body_len, 0, NULL);
    if (ends_with(path, "/user-management/v1/invite")) {
        json_t *users = json_object_get(req, "users"), *user;
        size_t i;
        json_array_foreach(users, i, user)
        {
            const char *email = json_string_value(json_object_get(user, "email"));
            const char *role = json_string_value(json_object_get(user, "role"));
            if (email == NULL || has_suffix(email, m->invalid_suffix))
                continue;
            member_t *x = member_find(m, email, 1);
            x->invited = 1;
            if (x->state == MOCK_MEMBER_ACTIVE)
                continue; /* already an active member: silently skipped */
            x->state = m->invites_pending ? MOCK_MEMBER_INVITED : MOCK_MEMBER_ACTIVE;
            copy_field(x->role, sizeof(x->role), role != NULL ? role : "member", strlen(role != NULL ? role : "member"));
        }
        m->counts.invite_ok++;
    } else {
        const char *email = json_string_value(json_object_get(req, "email"));
        const char *role = json_string_value(json_object_get(req, "role"));
        member_t *x = email != NULL ? member_find(m, email, 0) : NULL;
        int active = x != NULL && x->state == MOCK_MEMBER_ACTIVE;
        if (ends_with(path, "/user-management/v1/deactivate-user")) {
            if (active)
                x->state = MOCK_MEMBER_INACTIVE; /* a pending invitation is not revoked: Odeus cannot */
            if (active || !m->stateful)
                m->counts.deactivate_ok++;
        } else if (ends_with(path, "/user-management/v1/update-user-role")) {
            if (active && role != NULL)
                copy_field(x->role, sizeof(x->role), role, strlen(role));
            if (active || !m->stateful)
                m->counts.update_ok++;
        }
        not_member = m->stateful && !active;
    }
    json_decref(req);
    return not_member;
}

/* ---- workspace groups (guarded by mu) ---- */

#define GROUPS_PREFIX "/user-management/v1/groups"

static int is_group_path(const char *path)
{
    size_t n = strlen(GROUPS_PREFIX);
    return strncmp(path, GROUPS_PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/' || path[n] == '?');
}

static mgroup_t *group_find(mock_odeus_t *m, const char *id)
{
    for (size_t i = 0; i < m->groups_len; i++)
        if (!m->groups[i].deleted && strcmp(m->groups[i].id, id) == 0)
            return &m->groups[i];
    return NULL;
}

static mgroup_t *group_new(mock_odeus_t *m, const char *name, int scim_managed)
{
    if (m->groups_len == m->groups_cap) {
        m->groups_cap = m->groups_cap ? m->groups_cap * 2 : 16;
        m->groups = xrealloc(m->groups, m->groups_cap * sizeof(*m->groups));
    }
    mgroup_t *g = &m->groups[m->groups_len++];
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "00000000-0000-4000-8000-%012zx", ++m->group_seq);
    copy_field(g->name, sizeof(g->name), name, strlen(name));
    g->scim_managed = scim_managed;
    return g;
}

static ssize_t group_member_index(const mgroup_t *g, const char *email)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcasecmp(g->emails[i], email) == 0)
            return (ssize_t)i;
    return -1;
}

static void group_member_add(mgroup_t *g, const char *email, const char *role)
{
    if (group_member_index(g, email) >= 0)
        return;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->emails = xrealloc(g->emails, g->cap * sizeof(*g->emails));
        g->roles = xrealloc(g->roles, g->cap * sizeof(*g->roles));
    }
    copy_field(g->emails[g->n], sizeof(g->emails[g->n]), email, strlen(email));
    copy_field(g->roles[g->n], sizeof(g->roles[g->n]), role, strlen(role));
    g->n++;
}

static int group_member_remove(mgroup_t *g, const char *email)
{
    ssize_t i = group_member_index(g, email);
    if (i < 0)
        return 0;
    g->n--;
    memmove(g->emails[i], g->emails[g->n], sizeof(g->emails[0]));
    memmove(g->roles[i], g->roles[g->n], sizeof(g->roles[0]));
    return 1;
}

static json_t *group_json(const mgroup_t *g)
{
    return json_pack("{s:s, s:s, s:s?, s:b, s:b, s:I, s:s, s:s}", "id", g->id, "name", g->name, "description",
                     g->description[0] != '\0' ? g->description : NULL, "isScimManaged", g->scim_managed, "isPublic", 0,
                     "memberCount", (json_int_t)g->n, "createdAt", "2026-01-01T00:00:00Z", "updatedAt", "2026-01-01T00:00:00Z");
}

static json_t *member_json(const mgroup_t *g, size_t i)
{
    char id[48];
    snprintf(id, sizeof(id), "member-%08zx", email_hash(g->emails[i]) & 0xffffffffu);
    return json_pack("{s:s, s:s, s:n, s:s, s:s}", "id", id, "email", g->emails[i], "name", "role", g->roles[i], "addedAt",
                     "2026-01-01T00:00:00Z");
}

/* The value of query parameter `name` (percent-decoded) into `out`; 1 when present. */
static int query_param(const char *path, const char *name, char *out, size_t out_len)
{
    const char *q = strchr(path, '?');
    size_t n = strlen(name);
    for (const char *p = q; p != NULL && *p != '\0'; p = strchr(p, '&')) {
        p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t k = 0;
            for (p += n + 1; *p != '\0' && *p != '&' && k + 1 < out_len; p++) {
                if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
                    char hex[3] = {p[1], p[2], 0};
                    out[k++] = (char)strtol(hex, NULL, 16);
                    p += 2;
                } else {
                    out[k++] = *p == '+' ? ' ' : *p;
                }
            }
            out[k] = '\0';
            return 1;
        }
    }
    return 0;
}

/* The page size a list call gets: its limit (1..250, else 400), no more than the mock's page_max. -1 when invalid. */
static int page_limit(mock_odeus_t *m, const char *path)
{
    char v[16];
    long limit = 250;
    if (query_param(path, "limit", v, sizeof(v))) {
        char *end;
        limit = strtol(v, &end, 10);
        if (*end != '\0' || limit < 1 || limit > 250)
            return -1;
    }
    unsigned max = m->group_page_max > 0 ? m->group_page_max : 250;
    return (int)(limit > (long)max ? (long)max : limit);
}

static int email_cmp(const void *a, const void *b)
{
    return strcasecmp(*(char *const *)a, *(char *const *)b);
}

static void group_error(int *status, json_t **out, int code_status, const char *code, const char *message)
{
    *status = code_status;
    *out = json_pack("{s:s, s:s}", "code", code, "message", message);
}

/* A name as Odeus takes it: trimmed, 1..100 characters (bytes here). 0, or -1. */
static int group_name(const json_t *v, char *out, size_t out_len)
{
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n == 0 || n > 100 || n >= out_len)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static int name_taken(mock_odeus_t *m, const char *name, const mgroup_t *except)
{
    for (size_t i = 0; i < m->groups_len; i++)
        if (!m->groups[i].deleted && &m->groups[i] != except && strcasecmp(m->groups[i].name, name) == 0)
            return 1;
    return 0;
}

/* Answers one group call from the model (under mu): the status and the body (the caller's). */
static void group_answer(mock_odeus_t *m, const char *method, const char *path, const char *body, size_t body_len, int *status,
                         char **text)
{
    json_t *req = body_len > 0 ? json_loadb(body, body_len, 0, NULL) : NULL, *out = NULL;
    const char *rest = path + strlen(GROUPS_PREFIX);
    char id[64] = "", name[128];
    int members = 0;
    *status = 200;
    if (m->groups_off) {
        group_error(status, &out, 404, "NOT_FOUND", "Not found");
        goto done;
    }
    if (*rest == '/') {
        const char *end = rest + 1 + strcspn(rest + 1, "/?");
        copy_field(id, sizeof(id), rest + 1, (size_t)(end - rest - 1));
        members = strncmp(end, "/members", 8) == 0 && (end[8] == '\0' || end[8] == '?');
        if (!members && *end != '\0' && *end != '?') {
            group_error(status, &out, 404, "NOT_FOUND", "Not found");
            goto done;
        }
    }
    if (id[0] == '\0') {
        if (strcmp(method, "GET") == 0) {
            int limit = page_limit(m, path);
            char cursor[64] = "", want[256];
            int by_name = query_param(path, "name", want, sizeof(want));
            query_param(path, "cursor", cursor, sizeof(cursor));
            if (limit < 0) {
                group_error(status, &out, 400, "INVALID_REQUEST", "limit must be 1..250");
                goto done;
            }
            json_t *list = json_array();
            const char *last = NULL;
            size_t i = 0;
            for (; i < m->groups_len; i++) {
                mgroup_t *g = &m->groups[i];
                if (g->deleted || strcmp(g->id, cursor) <= 0 || (by_name && strcasecmp(g->name, want) != 0))
                    continue;
                if (json_array_size(list) == (size_t)limit)
                    break;
                json_array_append_new(list, group_json(g));
                last = g->id;
            }
            out = json_pack("{s:o}", "groups", list);
            if (i < m->groups_len && last != NULL)
                json_object_set_new(out, "nextCursor", json_string(last));
        } else if (strcmp(method, "POST") == 0) {
            if (group_name(json_object_get(req, "name"), name, sizeof(name)) != 0) {
                group_error(status, &out, 400, "INVALID_REQUEST", "name must be 1..100 characters");
            } else if (name_taken(m, name, NULL)) {
                group_error(status, &out, 409, "GROUP_NAME_TAKEN", "A group with this name already exists");
            } else {
                *status = 201;
                mgroup_t *g = group_new(m, name, 0);
                const char *d = json_string_value(json_object_get(req, "description"));
                if (d != NULL)
                    copy_field(g->description, sizeof(g->description), d, strlen(d));
                out = json_pack("{s:o}", "group", group_json(g));
            }
        } else {
            group_error(status, &out, 405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        goto done;
    }
    mgroup_t *g = group_find(m, id);
    if (g == NULL) {
        group_error(status, &out, 404, "GROUP_NOT_FOUND", "Group not found");
        goto done;
    }
    int writes = strcmp(method, "GET") != 0;
    if (writes && g->scim_managed) {
        group_error(status, &out, 409, "GROUP_SCIM_MANAGED", "This group is managed by SCIM and cannot be changed");
        goto done;
    }
    if (!members) {
        if (strcmp(method, "GET") == 0) {
            out = json_pack("{s:o}", "group", group_json(g));
        } else if (strcmp(method, "PATCH") == 0) {
            json_t *v = json_object_get(req, "name");
            if (v == NULL && json_object_get(req, "description") == NULL) {
                group_error(status, &out, 400, "INVALID_REQUEST", "name or description required");
            } else if (v != NULL && group_name(v, name, sizeof(name)) != 0) {
                group_error(status, &out, 400, "INVALID_REQUEST", "name must be 1..100 characters");
            } else if (v != NULL && strcmp(name, g->name) != 0 && name_taken(m, name, g)) {
                group_error(status, &out, 409, "GROUP_NAME_TAKEN", "A group with this name already exists");
            } else {
                if (v != NULL)
                    copy_field(g->name, sizeof(g->name), name, strlen(name));
                out = json_pack("{s:o}", "group", group_json(g));
            }
        } else if (strcmp(method, "DELETE") == 0) {
            g->deleted = 1;
            out = json_pack("{s:s, s:s}", "status", "success", "id", g->id);
        } else {
            group_error(status, &out, 405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        goto done;
    }
    if (strcmp(method, "GET") == 0) {
        int limit = page_limit(m, path);
        char cursor[256] = "";
        query_param(path, "cursor", cursor, sizeof(cursor));
        if (limit < 0) {
            group_error(status, &out, 400, "INVALID_REQUEST", "limit must be 1..250");
            goto done;
        }
        char **sorted = xrealloc(NULL, (g->n + 1) * sizeof(*sorted));
        for (size_t i = 0; i < g->n; i++)
            sorted[i] = g->emails[i];
        qsort(sorted, g->n, sizeof(*sorted), email_cmp);
        json_t *list = json_array();
        size_t i = 0;
        const char *last = NULL;
        for (; i < g->n; i++) {
            if (cursor[0] != '\0' && strcasecmp(sorted[i], cursor) <= 0)
                continue;
            if (json_array_size(list) == (size_t)limit)
                break;
            json_array_append_new(list, member_json(g, (size_t)group_member_index(g, sorted[i])));
            last = sorted[i];
        }
        out = json_pack("{s:o}", "members", list);
        if (i < g->n && last != NULL)
            json_object_set_new(out, "nextCursor", json_string(last));
        free(sorted);
        goto done;
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0) {
        group_error(status, &out, 405, "METHOD_NOT_ALLOWED", "Method not allowed");
        goto done;
    }
    json_t *emails = json_object_get(req, "emails"), *e;
    size_t i;
    if (!json_is_array(emails) || json_array_size(emails) == 0 || json_array_size(emails) > 250) {
        group_error(status, &out, 400, "INVALID_REQUEST", "emails must hold 1..250 addresses");
        goto done;
    }
    json_array_foreach(emails, i, e)
    {
        if (!json_is_string(e)) {
            group_error(status, &out, 400, "INVALID_REQUEST", "emails must be strings");
            goto done;
        }
    }
    if (strcmp(method, "POST") == 0) {
        json_t *added = json_array(), *already = json_array(), *not_found = json_array();
        json_array_foreach(emails, i, e)
        {
            const char *email = json_string_value(e);
            member_t *x = member_find(m, email, 0);
            if (x == NULL || x->state != MOCK_MEMBER_ACTIVE) {
                /* pending invitees, deactivated users and unknown addresses alike */
                json_array_append(not_found, e);
            } else if (group_member_index(g, email) >= 0) {
                json_array_append_new(already, member_json(g, (size_t)group_member_index(g, email)));
            } else {
                /* a workspace admin is stored as group admin */
                group_member_add(g, x->email, strcmp(x->role, "admin") == 0 ? "admin" : "member");
                json_array_append_new(added, member_json(g, g->n - 1));
            }
        }
        out = json_pack("{s:o, s:o, s:o}", "added", added, "alreadyMembers", already, "notFound", not_found);
    } else {
        json_t *removed = json_array(), *not_members = json_array();
        json_array_foreach(emails, i, e)
        {
            ssize_t k = group_member_index(g, json_string_value(e));
            if (k < 0) {
                json_array_append(not_members, e);
                continue;
            }
            json_t *mj = member_json(g, (size_t)k);
            json_array_append_new(removed,
                                  json_pack("{s:O, s:O}", "id", json_object_get(mj, "id"), "email", json_object_get(mj, "email")));
            json_decref(mj);
            group_member_remove(g, json_string_value(e));
        }
        out = json_pack("{s:o, s:o}", "removed", removed, "notMembers", not_members);
    }
done:
    *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(req);
}

/* 1 when the rate-limited mode has no token left for this request. */
static int rate_exceeded(mock_odeus_t *m)
{
    if (m->rate_per_sec == 0)
        return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - m->rate_last.tv_sec) + (double)(now.tv_nsec - m->rate_last.tv_nsec) / 1e9;
    m->rate_last = now;
    m->rate_tokens += dt * m->rate_per_sec;
    if (m->rate_tokens > m->rate_per_sec)
        m->rate_tokens = m->rate_per_sec;
    if (m->rate_tokens < 1.0)
        return 1;
    m->rate_tokens -= 1.0;
    return 0;
}

/* Answers one complete request; `body` is the whole body, r->body may be truncated. */
static void answer(conn_t *c, const mock_request_t *r, const char *body, size_t body_len, mock_fault_t fault, int retry_after_s,
                   int not_member, const char *invalid_suffix)
{
    int invite = ends_with(r->path, "/user-management/v1/invite");
    int deactivate = ends_with(r->path, "/user-management/v1/deactivate-user");
    int update = ends_with(r->path, "/user-management/v1/update-user-role");

    switch (fault) {
    case MOCK_404:
        respond_message(c, 404, "User not found or not an active member", 0);
        return;
    case MOCK_400:
        respond_message(c, 400, "Invalid role or request", 0);
        return;
    case MOCK_401:
        respond_message(c, 401, "Invalid API key", 0);
        return;
    case MOCK_500:
        respond_message(c, 500, "Internal server error", 0);
        return;
    case MOCK_503:
        respond_message(c, 503, "Service unavailable", 1);
        return;
    case MOCK_429:
        respond_message(c, 429, "Too many requests", retry_after_s);
        return;
    case MOCK_HANG:
    case MOCK_DONE_HANG:
        c->hanging = 1;
        return;
    case MOCK_DROP:
        c->close_after = 1;
        return;
    case MOCK_OK:
    case MOCK_INVALID_EMAIL:
        break;
    }

    if (!invite && !deactivate && !update) {
        respond_message(c, 404, "Not found", 0);
        return;
    }
    if (strcmp(r->method, "POST") != 0) {
        respond_message(c, 405, "Method not allowed", 0);
        return;
    }
    if (invite) {
        respond_invite(c, body, body_len, fault == MOCK_INVALID_EMAIL, invalid_suffix);
        return;
    }
    if (not_member) {
        respond_message(c, 404, "User not found or not an active member", 0);
        return;
    }
    {
        json_t *req = json_loadb(body, body_len, 0, NULL);
        json_t *role = json_object_get(req, "role");
        int ok = json_is_string(json_object_get(req, "email"));
        if (update)
            ok = ok && json_is_string(role) &&
                 (strcmp(json_string_value(role), "member") == 0 || strcmp(json_string_value(role), "editor") == 0 ||
                  strcmp(json_string_value(role), "admin") == 0);
        json_decref(req);
        if (!ok)
            respond_message(c, 400, "Invalid request body", 0);
        else if (deactivate)
            respond(c, 200, "{\"status\":\"success\",\"message\":\"User deactivated\"}", 0);
        else
            respond(c, 200, "{\"status\":\"success\",\"message\":\"Role updated\"}", 0);
    }
}

static mock_fault_t next_fault(mock_odeus_t *m)
{
    mock_fault_t f = m->fault_default;
    if (m->faults_len > 0) {
        f = m->faults[m->faults_head++];
        m->faults_len--;
        if (m->faults_len == 0)
            m->faults_head = 0;
    }
    return f;
}

/* `end` points at the blank line's "\r\n\r\n", so a line end is always found before it ends. */
static const char *find_crlf(const char *p, const char *end)
{
    return memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
}

static const char *find_crlf2(const char *s, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (s[i] == '\r' && s[i + 1] == '\n' && s[i + 2] == '\r' && s[i + 3] == '\n')
            return s + i;
    return NULL;
}

/*
 * Handles every complete request in the connection's buffer. Returns when more input is needed,
 * or when the connection hangs or is to be closed.
 */
static void conn_process(mock_odeus_t *m, conn_t *c)
{
    while (!c->hanging && !c->close_after) {
        const char *end = find_crlf2(c->in, c->in_len), *p, *line_end, *sp1, *sp2;
        size_t head_len, content_length = 0, consumed;
        int has_length = 0, chunked = 0;
        mock_request_t r;
        mock_fault_t fault;

        if (end == NULL) {
            if (c->in_len > HEADER_MAX) {
                c->close_after = 1;
                respond_message(c, 431, "Header too large", 0);
            }
            return;
        }
        head_len = (size_t)(end - c->in) + 4;
        memset(&r, 0, sizeof(r));

        line_end = find_crlf(c->in, end);
        sp1 = memchr(c->in, ' ', (size_t)(line_end - c->in));
        sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
        if (sp1 == NULL || sp2 == NULL) {
            c->close_after = 1;
            respond_message(c, 400, "Bad request line", 0);
            return;
        }
        copy_field(r.method, sizeof(r.method), c->in, (size_t)(sp1 - c->in));
        copy_field(r.path, sizeof(r.path), sp1 + 1, (size_t)(sp2 - sp1 - 1));
        if (strncmp(sp2 + 1, "HTTP/1.0", 8) == 0)
            c->close_after = 1;

        for (p = line_end + 2; p < end; p = line_end + 2) {
            const char *colon, *v;
            size_t name_len, v_len;

            line_end = find_crlf(p, end);
            colon = memchr(p, ':', (size_t)(line_end - p));
            if (colon == NULL)
                continue;
            name_len = (size_t)(colon - p);
            for (v = colon + 1; v < line_end && (*v == ' ' || *v == '\t'); v++)
                ;
            v_len = (size_t)(line_end - v);
            while (v_len > 0 && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t'))
                v_len--;
            {
                /* the whole line, with the value trimmed, if it fits */
                size_t have = strlen(r.headers), need = name_len + 2 + v_len + 2;
                if (have + need < sizeof(r.headers))
                    snprintf(r.headers + have, sizeof(r.headers) - have, "%.*s: %.*s\r\n", (int)name_len, p, (int)v_len, v);
            }
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(p, name, name_len) == 0)
            if (IS("content-length")) {
                content_length = strtoul(v, NULL, 10);
                has_length = 1;
            } else if (IS("transfer-encoding")) {
                chunked = 1;
            } else if (IS("authorization")) {
                copy_field(r.authorization, sizeof(r.authorization), v, v_len);
            } else if (IS("content-type")) {
                copy_field(r.content_type, sizeof(r.content_type), v, v_len);
            } else if (IS("origin")) {
                r.has_origin = 1;
            } else if (IS("connection")) {
                if (v_len == 5 && strncasecmp(v, "close", 5) == 0)
                    c->close_after = 1;
            }
#undef IS
        }
        if (chunked || (!has_length && strcmp(r.method, "POST") == 0)) {
            c->close_after = 1;
            respond_message(c, 411, "Content-Length required", 0);
            return;
        }
        if (content_length > BODY_MAX) {
            c->close_after = 1;
            respond_message(c, 413, "Body too large", 0);
            return;
        }
        if (c->in_len < head_len + content_length)
            return;
        copy_field(r.body, sizeof(r.body), c->in + head_len, content_length);

        pthread_mutex_lock(&m->mu);
        int retry_after_s = 1, not_member = 0, rejected = 0;
        char invalid_suffix[sizeof(m->invalid_suffix)];
        snprintf(invalid_suffix, sizeof(invalid_suffix), "%s", m->invalid_suffix);
        if (ends_with(r.path, "/user-management/v1/invite")) {
            r.invitees = (int)invite_users(c->in + head_len, content_length, m->reject_email, &rejected);
            m->counts.invitees += (size_t)r.invitees;
        }
        fault = next_fault(m);
        if (fault == MOCK_OK && rejected)
            fault = MOCK_400;
        if (fault == MOCK_OK && rate_exceeded(m)) {
            fault = MOCK_429;
            retry_after_s = (int)m->rate_retry_after;
        }
        r.fault = (int)fault;
        m->counts.requests++;
        if (fault == MOCK_429)
            m->counts.throttled++;
        int group_status = 0;
        char *group_text = NULL;
        if (is_group_path(r.path)) {
            if (fault == MOCK_OK || fault == MOCK_DONE_HANG) {
                group_answer(m, r.method, r.path, c->in + head_len, content_length, &group_status, &group_text);
                if (group_status < 300)
                    m->counts.ok++;
            }
        } else if ((fault == MOCK_OK || fault == MOCK_DONE_HANG) && strcmp(r.method, "POST") == 0) {
            not_member = model_apply(m, r.path, c->in + head_len, content_length);
            if (!not_member)
                m->counts.ok++;
        }
        if (m->recording) {
            if (m->reqs_len == m->reqs_cap) {
                m->reqs_cap = m->reqs_cap ? m->reqs_cap * 2 : 16;
                m->reqs = xrealloc(m->reqs, m->reqs_cap * sizeof(*m->reqs));
            }
            m->reqs[m->reqs_len++] = r;
        }
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->mu);

        if (group_text != NULL && fault == MOCK_OK)
            respond(c, group_status, group_text, 0);
        else
            answer(c, &r, c->in + head_len, content_length, fault, retry_after_s, not_member, invalid_suffix);
        free(group_text);
        consumed = head_len + content_length;
        memmove(c->in, c->in + consumed, c->in_len - consumed);
        c->in_len -= consumed;
        c->in[c->in_len] = '\0';
    }
}

/* Returns -1 when the connection is finished (peer closed, or an error). */
static int conn_read(mock_odeus_t *m, conn_t *c)
{
    for (;;) {
        char buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        if (c->hanging || c->close_after)
            continue; /* nothing more will be answered on this connection */
        if (c->in_len + (size_t)n + 1 > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap : 4096;
            while (cap < c->in_len + (size_t)n + 1)
                cap *= 2;
            if (cap > HEADER_MAX + BODY_MAX + sizeof(buf) + 1)
                return -1;
            c->in = xrealloc(c->in, cap);
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, buf, (size_t)n);
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
    }
    conn_process(m, c);
    return 0;
}

static void accept_all(mock_odeus_t *m)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        conn_t *c;
        if (fd < 0)
            return;
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            xclose(fd);
            return;
        }
        c->fd = fd;
        if (m->conns_len == m->conns_cap) {
            m->conns_cap = m->conns_cap ? m->conns_cap * 2 : 16;
            m->conns = xrealloc(m->conns, m->conns_cap * sizeof(*m->conns));
        }
        m->conns[m->conns_len++] = c;
        pthread_mutex_lock(&m->mu);
        m->connections++;
        pthread_mutex_unlock(&m->mu);
    }
}

static void *server_main(void *arg)
{
    mock_odeus_t *m = arg;
    struct pollfd *pfds = NULL;
    size_t pfds_cap = 0;

    for (;;) {
        size_t n = m->conns_len + 2;
        int stopping;

        if (n > pfds_cap) {
            pfds_cap = n * 2;
            pfds = xrealloc(pfds, pfds_cap * sizeof(*pfds));
        }
        pfds[0] = (struct pollfd){.fd = m->wake[0], .events = POLLIN};
        pfds[1] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < m->conns_len; i++) {
            conn_t *c = m->conns[i];
            pfds[i + 2] = (struct pollfd){.fd = c->fd, .events = POLLIN | (c->out_len > 0 ? POLLOUT : 0)};
        }
        if (poll(pfds, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents) {
            char buf[64];
            while (read(m->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        pthread_mutex_lock(&m->mu);
        stopping = m->stopping;
        pthread_mutex_unlock(&m->mu);
        if (stopping)
            break;

        /* back to front: conn_close moves the last connection into the freed slot, and
         * connections accepted below have no pollfd yet */
        for (size_t i = m->conns_len; i-- > 0;) {
            conn_t *c = m->conns[i];
            short rev = pfds[i + 2].revents;
            if (rev & POLLOUT)
                conn_flush(c);
            if ((rev & (POLLIN | POLLHUP | POLLERR)) && conn_read(m, c) != 0) {
                conn_close(m, i);
                continue;
            }
            if (c->close_after && c->out_len == 0)
                conn_close(m, i);
        }
        if (pfds[1].revents & POLLIN)
            accept_all(m);
    }
    free(pfds);
    return NULL;
}

mock_odeus_t *mock_odeus_start(void)
{
    mock_odeus_t *m = calloc(1, sizeof(*m));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof(addr);
    pthread_condattr_t attr;
    int one = 1;

    if (m == NULL)
        return NULL;
    m->listen_fd = m->wake[0] = m->wake[1] = -1;
    m->recording = 1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &attr);
    pthread_condattr_destroy(&attr);

    if (pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) != 0)
        goto fail;
    m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->listen_fd < 0)
        goto fail;
    if (setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        goto fail;
    if (bind(m->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(m->listen_fd, 128) != 0 ||
        getsockname(m->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0)
        goto fail;
    m->port = ntohs(addr.sin_port);
    snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d", m->port);
    if (pthread_create(&m->thread, NULL, server_main, m) != 0)
        goto fail;
    m->thread_started = 1;
    return m;
fail:
    mock_odeus_stop(m);
    return NULL;
}

void mock_odeus_stop(mock_odeus_t *m)
{
    if (m == NULL)
        return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_mutex_unlock(&m->mu);
        ssize_t w;
        while ((w = write(m->wake[1], "x", 1)) < 0 && errno == EINTR)
            ;
        /* EAGAIN: the pipe is full, so the thread is already woken */
        if (w < 0 && errno != EAGAIN) {
            perror("mock_odeus: waking the server thread");
            abort();
        }
        pthread_join(m->thread, NULL);
    }
    while (m->conns_len > 0)
        conn_close(m, m->conns_len - 1);
    free(m->conns);
    if (m->listen_fd >= 0)
        xclose(m->listen_fd);
    if (m->wake[0] >= 0)
        xclose(m->wake[0]);
    if (m->wake[1] >= 0)
        xclose(m->wake[1]);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    free(m->reqs);
    free(m->faults);
    free(m->members);
    free(m->buckets);
    for (size_t i = 0; i < m->groups_len; i++) {
        free(m->groups[i].emails);
        free(m->groups[i].roles);
    }
    free(m->groups);
    free(m);
}

int mock_odeus_port(const mock_odeus_t *m)
{
    return m->port;
}

const char *mock_odeus_url(const mock_odeus_t *m)
{
    return m->url;
}

void mock_odeus_push_fault(mock_odeus_t *m, mock_fault_t fault)
{
    pthread_mutex_lock(&m->mu);
    if (m->faults_head + m->faults_len == m->faults_cap) {
        if (m->faults_head > 0) {
            memmove(m->faults, m->faults + m->faults_head, m->faults_len * sizeof(*m->faults));
            m->faults_head = 0;
        } else {
            m->faults_cap = m->faults_cap ? m->faults_cap * 2 : 16;
            m->faults = xrealloc(m->faults, m->faults_cap * sizeof(*m->faults));
        }
    }
    m->faults[m->faults_head + m->faults_len++] = fault;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_default(mock_odeus_t *m, mock_fault_t fault)
{
    pthread_mutex_lock(&m->mu);
    m->fault_default = fault;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_reset(mock_odeus_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->reqs_len = 0;
    m->faults_head = m->faults_len = 0;
    m->fault_default = MOCK_OK;
    m->invalid_suffix[0] = m->reject_email[0] = '\0';
    pthread_mutex_unlock(&m->mu);
}

static size_t count_locked(mock_odeus_t *m, const char *path_suffix)
{
    size_t n = 0;
    if (path_suffix == NULL)
        return m->reqs_len;
    for (size_t i = 0; i < m->reqs_len; i++)
        n += ends_with(m->reqs[i].path, path_suffix);
    return n;
}

size_t mock_odeus_count(mock_odeus_t *m, const char *path_suffix)
{
    size_t n;
    pthread_mutex_lock(&m->mu);
    n = count_locked(m, path_suffix);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int mock_odeus_get(mock_odeus_t *m, size_t i, mock_request_t *out)
{
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    if (i < m->reqs_len) {
        *out = m->reqs[i];
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int mock_odeus_wait(mock_odeus_t *m, const char *path_suffix, size_t n, int timeout_ms)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    while (count_locked(m, path_suffix) < n) {
        if (pthread_cond_timedwait(&m->cond, &m->mu, &deadline) == ETIMEDOUT) {
            rc = count_locked(m, path_suffix) >= n ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int mock_request_header(const mock_request_t *r, const char *name, char *out, size_t out_len)
{
    size_t name_len = strlen(name);
    for (const char *line = r->headers; *line != '\0';) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - line) > name_len + 1 && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 2;
            copy_field(out, out_len, v, (size_t)(end - v));
            return 1;
        }
        line = end + 2;
    }
    if (out_len > 0)
        out[0] = '\0';
    return 0;
}

size_t mock_odeus_connections(mock_odeus_t *m)
{
    size_t n;
    pthread_mutex_lock(&m->mu);
    n = m->connections;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void mock_odeus_set_rate_limit(mock_odeus_t *m, unsigned per_sec, unsigned retry_after_s)
{
    pthread_mutex_lock(&m->mu);
    m->rate_per_sec = per_sec;
    m->rate_retry_after = retry_after_s;
    m->rate_tokens = per_sec;
    clock_gettime(CLOCK_MONOTONIC, &m->rate_last);
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_invalid_suffix(mock_odeus_t *m, const char *suffix)
{
    pthread_mutex_lock(&m->mu);
    snprintf(m->invalid_suffix, sizeof(m->invalid_suffix), "%s", suffix != NULL ? suffix : "");
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_reject_email(mock_odeus_t *m, const char *email)
{
    pthread_mutex_lock(&m->mu);
    snprintf(m->reject_email, sizeof(m->reject_email), "%s", email != NULL ? email : "");
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_recording(mock_odeus_t *m, int on)
{
    pthread_mutex_lock(&m->mu);
    m->recording = on;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_stateful(mock_odeus_t *m, int on)
{
    pthread_mutex_lock(&m->mu);
    m->stateful = on;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_invites_pending(mock_odeus_t *m, int on)
{
    pthread_mutex_lock(&m->mu);
    m->invites_pending = on;
    pthread_mutex_unlock(&m->mu);
}

int mock_odeus_accept(mock_odeus_t *m, const char *email)
{
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    member_t *x = member_find(m, email, 0);
    if (x != NULL && x->invited) {
        x->state = MOCK_MEMBER_ACTIVE;
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void mock_odeus_add_member(mock_odeus_t *m, const char *email, const char *role)
{
    pthread_mutex_lock(&m->mu);
    member_t *x = member_find(m, email, 1);
    x->state = MOCK_MEMBER_ACTIVE;
    x->invited = 1;
    copy_field(x->role, sizeof(x->role), role != NULL ? role : "member", strlen(role != NULL ? role : "member"));
    pthread_mutex_unlock(&m->mu);
}

mock_member_t mock_odeus_member(mock_odeus_t *m, const char *email, char *role, size_t role_len)
{
    pthread_mutex_lock(&m->mu);
    member_t *x = member_find(m, email, 0);
    mock_member_t st = x != NULL ? x->state : MOCK_MEMBER_NONE;
    if (role != NULL && role_len > 0)
        copy_field(role, role_len, x != NULL ? x->role : "", x != NULL ? strlen(x->role) : 0);
    pthread_mutex_unlock(&m->mu);
    return st;
}

size_t mock_odeus_active_count(mock_odeus_t *m)
{
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->members_len; i++)
        n += m->members[i].state == MOCK_MEMBER_ACTIVE;
    pthread_mutex_unlock(&m->mu);
    return n;
}

void mock_odeus_counts(mock_odeus_t *m, mock_odeus_counts_t *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->counts;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_groups_api(mock_odeus_t *m, int on)
{
    pthread_mutex_lock(&m->mu);
    m->groups_off = !on;
    pthread_mutex_unlock(&m->mu);
}

void mock_odeus_set_group_page_max(mock_odeus_t *m, unsigned n)
{
    pthread_mutex_lock(&m->mu);
    m->group_page_max = n;
    pthread_mutex_unlock(&m->mu);
}

int mock_odeus_group_create(mock_odeus_t *m, const char *name, int scim_managed, char *id_out, size_t id_len)
{
    pthread_mutex_lock(&m->mu);
    mgroup_t *g = group_new(m, name, scim_managed);
    if (id_out != NULL)
        snprintf(id_out, id_len, "%s", g->id);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int mock_odeus_group_member(mock_odeus_t *m, const char *group_id, const char *email, int add)
{
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    mgroup_t *g = group_find(m, group_id);
    if (g != NULL) {
        if (add)
            group_member_add(g, email, "member");
        else
            group_member_remove(g, email);
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int group_name_cmp(const void *a, const void *b)
{
    int c = strcasecmp((*(mgroup_t *const *)a)->name, (*(mgroup_t *const *)b)->name);
    return c != 0 ? c : strcmp((*(mgroup_t *const *)a)->id, (*(mgroup_t *const *)b)->id);
}

static int lower_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *mock_odeus_groups_json(mock_odeus_t *m)
{
    pthread_mutex_lock(&m->mu);
    mgroup_t **live = xrealloc(NULL, (m->groups_len + 1) * sizeof(*live));
    size_t n = 0;
    for (size_t i = 0; i < m->groups_len; i++)
        if (!m->groups[i].deleted)
            live[n++] = &m->groups[i];
    qsort(live, n, sizeof(*live), group_name_cmp);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        mgroup_t *g = live[i];
        char **emails = xrealloc(NULL, (g->n + 1) * sizeof(*emails));
        for (size_t k = 0; k < g->n; k++) {
            emails[k] = strdup(g->emails[k]);
            for (char *p = emails[k]; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        qsort(emails, g->n, sizeof(*emails), lower_cmp);
        json_t *members = json_array();
        for (size_t k = 0; k < g->n; k++) {
            json_array_append_new(members, json_string(emails[k]));
            free(emails[k]);
        }
        free(emails);
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:o}", "id", g->id, "name", g->name, "isScimManaged",
                                              g->scim_managed, "members", members));
    }
    free(live);
    pthread_mutex_unlock(&m->mu);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return text;
}
