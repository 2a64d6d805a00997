/*
 * The Odeus HTTP client: one curl multi handle, driven by its owner thread through
 * curl_multi_poll, off the h2o event loops (a blocking call on a request loop would stall every
 * connection of that worker). Other threads only ever call
 * curl_multi_wakeup, which curl documents as thread-safe.
 */
#include "upstream/client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/alloc.h"

/* Odeus answers the user calls with a few hundred bytes; a page of 250 groups (ids, names,
 * descriptions, times) stays well under this. Anything near it is not Odeus. */
#define RESPONSE_MAX               (256 * 1024)
#define RETRY_AFTER_MAX            128
#define DEFAULT_TIMEOUT_MS         10000L
#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_CONNECTIONS    8L

typedef struct call {
    struct call *prev, *next;
    CURL *easy; /* NULL in dry-run */
    odeus_action_t action;
    char *email;
    char *body;
    upstream_done_cb cb;
    void *user;
    /* a batched invite: its addresses, and one result each (`result` is then unused) */
    upstream_batch_cb batch_cb;
    char **emails;
    size_t n_emails;
    odeus_result_t *results;
    /* a group call: its request (strings copied, for the answer's classification), URL and method */
    upstream_group_cb group_cb;
    odeus_group_request_t group;
    char *group_strings[3]; /* group_id, name, cursor */
    char *url;
    const char *method;
    odeus_group_result_t group_result;

    char *resp;
    size_t resp_len, resp_cap;
    int resp_too_large;
    char retry_after[RETRY_AFTER_MAX]; /* "" when the answer had none */
    char errbuf[CURL_ERROR_SIZE];
    odeus_result_t result;
} call_t;

typedef struct {
    call_t *head, *tail;
} call_list_t;

struct upstream_client {
    CURLM *multi;
    int dry_run;
    long timeout_ms, connect_timeout_ms, max_connections;
    char *base_url; /* without trailing slashes */
    char *api_key;
    char *ca_file;
    char *urls[ODEUS_UPDATE_ROLE + 1]; /* base_url + odeus_action_path, per action */
    struct curl_slist *headers;        /* shared by every transfer; holds the Authorization line */

    call_list_t running; /* added to the multi */
    call_list_t queued;  /* dry-run calls waiting for the next poll */
    size_t inflight;

    /* Finished easy handles kept for reuse: curl_easy_reset keeps their TLS session cache. */
    CURL **idle;
    size_t idle_len, idle_cap;
};

static void list_push(call_list_t *list, call_t *call)
{
    call->next = NULL;
    call->prev = list->tail;
    if (list->tail != NULL)
        list->tail->next = call;
    else
        list->head = call;
    list->tail = call;
}

static void list_remove(call_list_t *list, call_t *call)
{
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        list->head = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    else
        list->tail = call->prev;
    call->prev = call->next = NULL;
}

static void set_err(char *err, size_t err_len, const char *msg)
{
    if (err != NULL && err_len > 0)
        snprintf(err, err_len, "%s", msg);
}

/* Secrets are wiped before their memory goes back to the allocator. */
static void free_secret(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p != '\0')
        *p++ = '\0';
    free(s);
}

static void call_free(call_t *call)
{
    if (call == NULL)
        return;
    free(call->email);
    for (size_t i = 0; i < call->n_emails; i++)
        free(call->emails[i]);
    free(call->emails);
    free(call->results);
    for (size_t i = 0; i < 3; i++)
        free(call->group_strings[i]);
    free(call->url);
    odeus_group_result_clear(&call->group_result);
    free(call->body);
    free(call->resp);
    free(call);
}

static void easy_release(upstream_client_t *c, CURL *easy)
{
    if (easy == NULL)
        return;
    if (c->idle_len < c->idle_cap) {
        curl_easy_reset(easy);
        c->idle[c->idle_len++] = easy;
        return;
    }
    curl_easy_cleanup(easy);
}

static CURL *easy_acquire(upstream_client_t *c)
{
    if (c->idle_len > 0)
        return c->idle[--c->idle_len];
    return curl_easy_init();
}

upstream_client_t *upstream_client_create(const upstream_config_t *config, char *err, size_t err_len)
{
    upstream_client_t *c = NULL;
    char *auth = NULL;
    size_t len;

    if (config == NULL) {
        set_err(err, err_len, "upstream: no configuration");
        return NULL;
    }
    c = gw_calloc(1, sizeof(*c));
    c->dry_run = config->dry_run != 0;
    c->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->connect_timeout_ms = config->connect_timeout_ms > 0 ? config->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->max_connections = config->max_connections > 0 ? config->max_connections : DEFAULT_MAX_CONNECTIONS;

    /* Kept even in dry-run: curl_multi_poll/curl_multi_wakeup are how the owner sleeps and wakes. */
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        set_err(err, err_len, "upstream: curl_multi_init failed");
        goto fail;
    }
    if (c->dry_run)
        return c;

    if (config->base_url == NULL ||
        (strncasecmp(config->base_url, "https://", 8) != 0 && strncasecmp(config->base_url, "http://", 7) != 0)) {
        set_err(err, err_len, "upstream: base_url must start with https:// (or http://)");
        goto fail;
    }
    if (config->api_key == NULL) {
        set_err(err, err_len, "upstream: no API key");
        goto fail;
    }
    c->base_url = gw_strdup(config->base_url);
    c->api_key = gw_strdup(config->api_key);
    len = strlen(c->base_url);
    while (len > 0 && c->base_url[len - 1] == '/')
        c->base_url[--len] = '\0';
    /* A key read from a secret file usually ends with a newline; inside it, a line break would
     * inject headers. */
    len = strlen(c->api_key);
    while (len > 0 && strchr(" \t\r\n", c->api_key[len - 1]) != NULL)
        c->api_key[--len] = '\0';
    if (len == 0 || strpbrk(c->api_key, "\r\n") != NULL) {
        set_err(err, err_len, "upstream: the API key is empty or contains a line break");
        goto fail;
    }
    if (config->ca_file != NULL)
        c->ca_file = gw_strdup(config->ca_file);

    for (int a = ODEUS_INVITE; a <= ODEUS_UPDATE_ROLE; a++) {
        const char *path = odeus_action_path((odeus_action_t)a);
        size_t n = strlen(c->base_url) + strlen(path) + 1;
        c->urls[a] = gw_malloc(n);
        snprintf(c->urls[a], n, "%s%s", c->base_url, path);
    }

    len = strlen("Authorization: Bearer ") + strlen(c->api_key) + 1;
    auth = gw_malloc(len);
    snprintf(auth, len, "Authorization: Bearer %s", c->api_key);
    {
        /* "Expect:" with no value stops curl's Expect: 100-continue, which stalls up to a
         * second on servers that ignore it. curl never sends Origin on its own. */
        const char *lines[] = {"Content-Type: application/json", "Accept: application/json", "Expect:", auth};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
            struct curl_slist *next = curl_slist_append(c->headers, lines[i]);
            if (next == NULL)
                gw_alloc_fail(0); /* it fails only when it cannot allocate */
            c->headers = next;
        }
    }
    free_secret(auth);
    auth = NULL;

    /* Without these the connection cache shrinks to 4 x the handles in the multi, and every
     * finished handle is removed at once, so connections would keep being closed (§6). */
    if (curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->max_connections) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_connections) != CURLM_OK) {
        set_err(err, err_len, "upstream: curl_multi_setopt failed");
        goto fail;
    }

    c->idle_cap = (size_t)c->max_connections;
    c->idle = gw_calloc(c->idle_cap, sizeof(*c->idle));
    return c;

fail:
    free_secret(auth);
    upstream_client_destroy(c);
    return NULL;
}

void upstream_client_destroy(upstream_client_t *c)
{
    call_t *call;

    if (c == NULL)
        return;
    while ((call = c->running.head) != NULL) {
        list_remove(&c->running, call);
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
        call_free(call);
    }
    while ((call = c->queued.head) != NULL) {
        list_remove(&c->queued, call);
        call_free(call);
    }
    for (size_t i = 0; i < c->idle_len; i++)
        curl_easy_cleanup(c->idle[i]);
    free(c->idle);
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    for (struct curl_slist *h = c->headers; h != NULL; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(c->headers);
    for (size_t i = 0; i < sizeof(c->urls) / sizeof(c->urls[0]); i++)
        free(c->urls[i]);
    free(c->base_url);
    free_secret(c->api_key);
    free(c->ca_file);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    call_t *call = userp;
    size_t n = size * nmemb;

    if (n > RESPONSE_MAX - call->resp_len) {
        call->resp_too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (call->resp_len + n > call->resp_cap) {
        size_t cap = call->resp_cap > 0 ? call->resp_cap : 1024;
        while (cap < call->resp_len + n)
            cap *= 2;
        if (cap > RESPONSE_MAX)
            cap = RESPONSE_MAX;
        call->resp = gw_realloc(call->resp, cap);
        call->resp_cap = cap;
    }
    memcpy(call->resp + call->resp_len, data, n);
    call->resp_len += n;
    return n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    static const char name[] = "retry-after:";
    call_t *call = userp;
    size_t n = size * nmemb, len;

    /* a new status line (after a 1xx) starts a new set of headers */
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        call->retry_after[0] = '\0';
        return n;
    }
    if (n < sizeof(name) - 1 || strncasecmp(line, name, sizeof(name) - 1) != 0)
        return n;
    line += sizeof(name) - 1;
    len = n - (sizeof(name) - 1);
    while (len > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    if (len >= sizeof(call->retry_after))
        len = sizeof(call->retry_after) - 1;
    memcpy(call->retry_after, line, len);
    call->retry_after[len] = '\0';
    return n;
}

static CURLcode setup_easy(upstream_client_t *c, call_t *call)
{
    CURL *e = call->easy;
    CURLcode rc;

#define SET(opt, val)                                                                                                              \
    do {                                                                                                                           \
        if ((rc = curl_easy_setopt(e, opt, val)) != CURLE_OK)                                                                      \
            goto out;                                                                                                              \
    } while (0)

    SET(CURLOPT_URL, call->url != NULL ? call->url : c->urls[call->action]);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, c->timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    /* 2 is "check the name"; since curl 7.66 1 means the same, 2 is the documented value */
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_file != NULL)
        SET(CURLOPT_CAINFO, c->ca_file);
    SET(CURLOPT_HTTPHEADER, c->headers);
    SET(CURLOPT_USERAGENT, "odeus-scim-gateway");
    if (call->method != NULL && strcmp(call->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        /* DELETE of members carries a body; DELETE of a group an empty one */
        SET(CURLOPT_POSTFIELDS, call->body != NULL ? call->body : "");
        SET(CURLOPT_POSTFIELDSIZE, (long)(call->body != NULL ? strlen(call->body) : 0));
        if (call->method != NULL && strcmp(call->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, call->method);
    }
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, call);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, call);
    SET(CURLOPT_ERRORBUFFER, call->errbuf);
    SET(CURLOPT_PRIVATE, call);
#undef SET
    rc = CURLE_OK;
out:
    return rc;
}

static int start(upstream_client_t *c, call_t *call);

int upstream_client_submit(upstream_client_t *c, odeus_action_t action, const char *email, const char *role, upstream_done_cb cb,
                           void *user)
{
    call_t *call = NULL;

    if (c == NULL || cb == NULL || odeus_action_path(action) == NULL || email == NULL)
        return -1;
    call = gw_calloc(1, sizeof(*call));
    call->action = action;
    call->cb = cb;
    call->user = user;
    call->email = gw_strdup(email);
    /* built in dry-run too, so that dry-run refuses what a real run would refuse */
    call->body = odeus_request_body(action, email, role);
    if (call->body == NULL)
        goto fail;

    return start(c, call);

fail:
    call_free(call);
    return -1;
}

int upstream_client_submit_invites(upstream_client_t *c, const odeus_invitee_t *users, size_t n, upstream_batch_cb cb, void *user)
{
    if (c == NULL || cb == NULL || users == NULL || n == 0)
        return -1;
    call_t *call = gw_calloc(1, sizeof(*call));
    call->action = ODEUS_INVITE;
    call->batch_cb = cb;
    call->user = user;
    call->emails = gw_calloc(n, sizeof(*call->emails));
    call->results = gw_calloc(n, sizeof(*call->results));
    for (size_t i = 0; i < n && users[i].email != NULL; i++)
        call->emails[call->n_emails++] = gw_strdup(users[i].email);
    call->body = odeus_invite_body(users, n);
    if (call->body == NULL) {
        call_free(call);
        return -1;
    }
    return start(c, call);
}

int upstream_client_submit_group(upstream_client_t *c, const odeus_group_request_t *req, upstream_group_cb cb, void *user)
{
    odeus_http_t http;
    if (c == NULL || cb == NULL || req == NULL || odeus_group_http(req, &http) != 0)
        return -1;
    call_t *call = gw_calloc(1, sizeof(*call));
    call->group_cb = cb;
    call->user = user;
    call->group = *req;
    /* the emails are not needed to read the answer: the request keeps none of them */
    call->group.emails = NULL;
    call->group.n_emails = 0;
    const char *strings[3] = {req->group_id, req->name, req->cursor};
    for (size_t i = 0; i < 3; i++)
        call->group_strings[i] = strings[i] != NULL ? gw_strdup(strings[i]) : NULL;
    call->group.group_id = call->group_strings[0];
    call->group.name = call->group_strings[1];
    call->group.cursor = call->group_strings[2];
    call->method = http.method;
    call->body = http.body;
    if (!c->dry_run) {
        size_t n = strlen(c->base_url) + strlen(http.path) + 1;
        call->url = gw_malloc(n);
        snprintf(call->url, n, "%s%s", c->base_url, http.path);
    }
    free(http.path);
    return start(c, call);
}

/* Hands a built call to curl (or, in dry-run, to the next poll); frees it when that fails. */
static int start(upstream_client_t *c, call_t *call)
{
    if (c->dry_run) {
        call->result.outcome = ODEUS_OUTCOME_DONE;
        call->result.http_status = 0;
        call->result.retry_after_ms = -1;
        snprintf(call->result.message, sizeof(call->result.message), "dry-run");
        call->group_result.result = call->result;
        for (size_t i = 0; i < call->n_emails; i++)
            call->results[i] = call->result;
        list_push(&c->queued, call);
        c->inflight++;
        return 0;
    }

    call->easy = easy_acquire(c);
    if (call->easy == NULL || setup_easy(c, call) != CURLE_OK)
        goto fail;
    if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK)
        goto fail;
    list_push(&c->running, call);
    c->inflight++;
    return 0;

fail:
    if (call->easy != NULL)
        curl_easy_cleanup(call->easy);
    call_free(call);
    return -1;
}

/* Overwrites every occurrence of `secret` in `msg`, keeping the length. */
static void redact(char *msg, const char *secret)
{
    size_t n;
    char *hit;

    if (secret == NULL || (n = strlen(secret)) == 0)
        return;
    while ((hit = strstr(msg, secret)) != NULL)
        memset(hit, '*', n);
}

/* odeus_classify for a batched invite: one result per address. */
static void classify_batch(call_t *call, long status, const char *transport_error)
{
    odeus_invitee_t *users = gw_calloc(call->n_emails, sizeof(*users));
    for (size_t i = 0; i < call->n_emails; i++)
        users[i].email = call->emails[i];
    if (transport_error != NULL)
        odeus_classify_invites(users, call->n_emails, 0, NULL, 0, NULL, (int64_t)time(NULL), transport_error, call->results);
    else
        odeus_classify_invites(users, call->n_emails, status, call->resp, call->resp_len,
                               call->retry_after[0] != '\0' ? call->retry_after : NULL, (int64_t)time(NULL), NULL, call->results);
    free(users);
}

static void finish(upstream_client_t *c, call_t *call, CURLcode code)
{
    long status = 0;

    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    if (call->group_cb != NULL) {
        const char *text = code != CURLE_OK ? (call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(code)) : NULL;
        if (call->resp_too_large)
            text = "response too large";
        odeus_group_classify(&call->group, status, call->resp, call->resp_len,
                             call->retry_after[0] != '\0' ? call->retry_after : NULL, (int64_t)time(NULL), text,
                             &call->group_result);
        redact(call->group_result.result.message, c->api_key);
        redact(call->group_result.result.message, c->base_url);
        return;
    }
    if (call->batch_cb != NULL && !call->resp_too_large) {
        classify_batch(call, status, code != CURLE_OK ? (call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(code)) : NULL);
        for (size_t i = 0; i < call->n_emails; i++) {
            redact(call->results[i].message, c->api_key);
            redact(call->results[i].message, c->base_url);
        }
        return;
    }
    if (call->resp_too_large) {
        memset(&call->result, 0, sizeof(call->result));
        call->result.outcome = ODEUS_OUTCOME_RETRY;
        call->result.http_status = status;
        call->result.retry_after_ms = -1;
        snprintf(call->result.message, sizeof(call->result.message), "response too large");
    } else if (code != CURLE_OK) {
        const char *text = call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(code);
        odeus_classify(call->action, call->email, 0, NULL, 0, NULL, (int64_t)time(NULL), text, &call->result);
    } else {
        odeus_classify(call->action, call->email, status, call->resp, call->resp_len,
                       call->retry_after[0] != '\0' ? call->retry_after : NULL, (int64_t)time(NULL), NULL, &call->result);
    }
    /* Belt and braces: curl's error text names host and port, not the URL, and Odeus has no
     * reason to echo the key, but neither may ever reach a log. */
    redact(call->result.message, c->api_key);
    redact(call->result.message, c->base_url);
    for (size_t i = 0; i < call->n_emails; i++)
        call->results[i] = call->result; /* a batch whose answer was too large: the same for all */
}

/* Moves every finished transfer from `running` to `done`, with its result filled in. */
static void collect(upstream_client_t *c, call_list_t *done)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        char *priv = NULL;
        call_t *call;

        if (msg->msg != CURLMSG_DONE)
            continue;
        /* msg is invalid after remove_handle: everything needed was copied above */
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        call = (call_t *)priv;
        curl_multi_remove_handle(c->multi, easy);
        finish(c, call, code);
        list_remove(&c->running, call);
        easy_release(c, easy);
        call->easy = NULL;
        list_push(done, call);
    }
}

static int drive(upstream_client_t *c, call_list_t *done)
{
    int running;

    if (c->running.head == NULL)
        return 0;
    if (curl_multi_perform(c->multi, &running) != CURLM_OK)
        return -1;
    collect(c, done);
    return 0;
}

int upstream_client_poll(upstream_client_t *c, int timeout_ms)
{
    call_list_t done = {0};
    call_t *call;
    int rc = 0;

    if (drive(c, &done) != 0)
        rc = -1;
    /* Calls that already finished are delivered now rather than after a sleep. */
    if (rc == 0 && done.head == NULL && c->queued.head == NULL) {
        if (curl_multi_poll(c->multi, NULL, 0, timeout_ms < 0 ? 0 : timeout_ms, NULL) != CURLM_OK)
            rc = -1;
        else if (drive(c, &done) != 0)
            rc = -1;
    }

    /* Taken as a whole first: dry-run calls submitted by these callbacks wait for the next poll. */
    if (c->queued.head != NULL) {
        call_list_t queued = c->queued;
        c->queued.head = c->queued.tail = NULL;
        if (done.tail != NULL) {
            done.tail->next = queued.head;
            queued.head->prev = done.tail;
            done.tail = queued.tail;
        } else {
            done = queued;
        }
    }
    /* A callback may submit (the outbox chains calls) but must not destroy the client: the
     * rest of `done` still belongs to it. */
    while ((call = done.head) != NULL) {
        list_remove(&done, call);
        c->inflight--;
        if (call->group_cb != NULL)
            call->group_cb(call->user, &call->group_result);
        else if (call->batch_cb != NULL)
            call->batch_cb(call->user, call->results, call->n_emails);
        else
            call->cb(call->user, &call->result);
        call_free(call);
    }
    return rc;
}

void upstream_client_wakeup(upstream_client_t *c)
{
    if (c != NULL && c->multi != NULL)
        curl_multi_wakeup(c->multi);
}

size_t upstream_client_inflight(const upstream_client_t *c)
{
    return c != NULL ? c->inflight : 0;
}
