#include "gateway/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/audit.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "scim/filter.h"
#include "common/json.h"
#include "scim/list.h"
#include "scim/patch.h"
#include "scim/select.h"
#include "scim/sort.h"
#include "scim/user.h"
#include "upstream/odeus.h"

#define MAX_EMAILS 64

/*
 * A change on its way to its answer: written into the worker's batch, then (after the commit)
 * audited and answered, or waiting for its outbox row. malloc'd, because it outlives the request
 * when the client goes away; freed with pending_free() on the worker thread, by whoever ends it.
 */
typedef struct pending {
    gw_outbox_waiter_t waiter;
    h2o_timeout_entry_t timeout;
    gw_batch_item_t committed; /* on_change_committed */
    gw_worker_t *worker;
    gw_request_t *r;        /* NULL once the request went away */
    char request_id[32];    /* the request's, kept for the audit log after it went away */
    const char *token_name; /* config memory */
    const char *event;      /* static: user_created, user_deactivated... */
    int call;               /* the change needs an Odeus call (`action`) */
    int registered;         /* the waiter is registered with the outbox */
    int now_inactive;       /* the user is inactive or gone after the change */
    char *role;             /* owned: the role sent with an invite or role change, or NULL */
    odeus_action_t action;
    int success_status;   /* 200, 201 or 204 */
    json_t *success_body; /* owned; NULL for 204 or when success_text holds the answer */
    char *success_text;   /* owned: the answer as JSON text (success_answer_text), or NULL */
    size_t success_len;
    char *location;         /* owned; Location header of a 201 */
    int64_t version;        /* for the ETag of the success answer */
    char *user_id;          /* owned */
    int revertible;         /* 0 when waiting on a row an earlier request committed */
    char *snapshot;         /* owned: the row before the change, NULL when the change created the user */
    int64_t result_version; /* the version the change produced; 0 for a DELETE */
} pending_t;

typedef struct change {
    int call;
    odeus_action_t action;
    const char *email;
    const char *role;
} change_t;

typedef enum write_op { WRITE_INSERT, WRITE_UPDATE, WRITE_DELETE } write_op_t;

/* ---- small helpers ---------------------------------------------------------------------------- */

static char *user_location(gw_request_t *r, const char *id)
{
    size_t len = strlen(r->base_url) + strlen("/Users/") + strlen(id) + 1;
    char *loc = malloc(len);
    if (loc != NULL)
        snprintf(loc, len, "%s/Users/%s", r->base_url, id);
    return loc;
}

static void set_etag(gw_request_t *r, int64_t version)
{
    char etag[32];
    gw_respond_header(r, H2O_TOKEN_ETAG, scim_user_etag(version, etag, sizeof(etag)));
}

/* The rendered resource of a stored row, or NULL when its JSON is unreadable. */
static json_t *render_row(gw_request_t *r, const store_user_t *row)
{
    json_t *user = json_loads(row->resource, 0, NULL);
    char *loc = user_location(r, row->id);
    json_t *out = NULL;
    if (user != NULL && loc != NULL) {
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        out = scim_user_render(user, &meta);
    }
    json_decref(user);
    free(loc);
    return out;
}

/* The meta.location of the rows of one request: base_url + "/Users/" once, the id per row. */
typedef struct loc_buf {
    char *p;
    size_t prefix, cap;
    char stack[512];
} loc_buf_t;

static int loc_init(loc_buf_t *l, gw_request_t *r)
{
    size_t base = strlen(r->base_url);
    l->p = l->stack;
    l->cap = sizeof(l->stack);
    l->prefix = base + strlen("/Users/");
    if (l->prefix + 64 > l->cap) {
        l->cap = l->prefix + 64;
        if ((l->p = malloc(l->cap)) == NULL)
            return -1;
    }
    memcpy(l->p, r->base_url, base);
    memcpy(l->p + base, "/Users/", strlen("/Users/"));
    return 0;
}

static void loc_free(loc_buf_t *l)
{
    if (l->p != l->stack)
        free(l->p);
}

/* The location of `id` (valid until the next call), or NULL when out of memory. */
static const char *loc_for(loc_buf_t *l, const char *id)
{
    size_t n = strlen(id);
    if (l->prefix + n + 1 > l->cap) {
        size_t cap = l->prefix + n + 1;
        char *p = l->p == l->stack ? malloc(cap) : realloc(l->p, cap);
        if (p == NULL)
            return NULL;
        if (l->p == l->stack)
            memcpy(p, l->stack, l->prefix);
        l->p = p;
        l->cap = cap;
    }
    memcpy(l->p + l->prefix, id, n + 1);
    return l->p;
}

/*
 * Appends the JSON text of the rendered resource of `row` to `b`, byte for byte what
 * json_dumps(render_row(r, row), JSON_COMPACT | JSON_PRESERVE_ORDER) gives: from the stored
 * rendering with meta spliced in, or, for a row without one, rendered the slow way.
 * -1 when the row is unreadable or memory ran out.
 */
static int append_row_text(gw_request_t *r, loc_buf_t *l, const store_user_t *row, gw_json_buf_t *b)
{
    const char *loc;
    if (row->rendered != NULL && (loc = loc_for(l, row->id)) != NULL) {
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        if (scim_user_splice_meta(b, row->rendered, strlen(row->rendered), &meta) == 0)
            return 0;
        if (b->failed)
            return -1;
        /* not an object's text: render it from the resource instead */
    }
    json_t *rendered = render_row(r, row);
    int rc = rendered != NULL ? gw_json_buf_value(b, rendered) : -1;
    json_decref(rendered);
    return rc;
}

static json_t *parse_body(gw_request_t *r, scim_error_t *err)
{
    h2o_req_t *req = r->req;
    if (req->entity.base == NULL || req->entity.len == 0) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the request has no body");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL)
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                       jerr.text);
    return body;
}

static void respond_store_error(gw_request_t *r)
{
    gw_log(GW_LOG_ERROR, "store_failed",
           json_pack("{s:s, s:s}", "request_id", r->request_id, "error", store_errmsg(r->worker->store)));
    gw_respond_errorf(r, 500, NULL, "the directory could not be read or written; nothing was changed");
}

static void respond_not_found(gw_request_t *r, const char *id)
{
    gw_respond_errorf(r, 404, NULL, "no User with id %.64s", id);
}

/* The query string of the request (after '?'), possibly empty. */
static void request_query(gw_request_t *r, const char **query, size_t *len)
{
    h2o_req_t *req = r->req;
    *query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : "";
    *len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
}

/*
 * The attributes / excludedAttributes of the query string, for single-resource answers (GET and
 * the answers to POST, PUT, PATCH). NULL with `err` set when they are malformed.
 */
static scim_select_t *request_select(gw_request_t *r, scim_error_t *err)
{
    scim_list_params_t params;
    const char *query;
    size_t len;
    scim_select_t *sel = NULL;

    request_query(r, &query, &len);
    if (scim_list_params_parse(query, len, &params, err) == 0)
        sel = scim_select_parse(params.attributes, params.excluded_attributes, err);
    scim_list_params_clear(&params);
    return sel;
}

/* The value of request header `name` (NUL-terminated, pool memory), or NULL when absent. */
static const char *request_header(gw_request_t *r, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&r->req->headers, token, -1);
    return i == -1 ? NULL
                   : h2o_strdup(&r->req->pool, r->req->headers.entries[i].value.base, r->req->headers.entries[i].value.len).base;
}

/*
 * If-Match (RFC 7644 §3.14) on PUT, PATCH and DELETE: returns the version the request may change,
 * 0 when it sent no If-Match, or -1 after answering 412 because the stored version differs.
 */
static int64_t check_if_match(gw_request_t *r, const store_user_t *row)
{
    const char *h = request_header(r, H2O_TOKEN_IF_MATCH);
    if (h == NULL)
        return 0;
    if (!scim_etag_matches(h, strlen(h), row->version)) {
        set_etag(r, row->version);
        gw_respond_errorf(r, 412, NULL, "the User was changed since that version (If-Match: %.40s); read it again", h);
        return -1;
    }
    return row->version;
}

/* Fills the email index of a row from the canonical user; `emails` must hold MAX_EMAILS. */
static void row_set_emails(store_user_t *row, const json_t *user, const char **emails)
{
    size_t n = scim_user_email_values(user, emails, MAX_EMAILS);
    row->emails = emails;
    row->n_emails = n < MAX_EMAILS ? n : MAX_EMAILS;
}

/* `,"key":"value"` (key given with its leading separator and quotes); nothing when value is NULL. */
static void snapshot_field(gw_json_buf_t *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    gw_json_buf_put(b, key, strlen(key));
    gw_json_buf_string(b, value, strlen(value));
}

/*
 * A row snapshot, kept in the outbox row so that a change Odeus refuses can be undone.
 * Returns malloc'd JSON text or NULL.
 */
static char *snapshot_encode(const store_user_t *row)
{
    /* Written directly (it runs once per change that reaches Odeus); read back by json_loads. */
    if (row->id == NULL || row->user_name == NULL || row->created == NULL || row->last_modified == NULL || row->resource == NULL)
        return NULL;
    gw_json_buf_t b = {0};
    snapshot_field(&b, "{\"id\":", row->id);
    snapshot_field(&b, ",\"userName\":", row->user_name);
    snapshot_field(&b, ",\"externalId\":", row->external_id); /* optional: "s?" in the decoder */
    snapshot_field(&b, ",\"odeusEmail\":", row->odeus_email);
    snapshot_field(&b, ",\"created\":", row->created);
    snapshot_field(&b, ",\"lastModified\":", row->last_modified);
    snapshot_field(&b, ",\"resource\":", row->resource);
    const char *active = row->active ? ",\"active\":true,\"version\":" : ",\"active\":false,\"version\":";
    gw_json_buf_put(&b, active, strlen(active));
    gw_json_buf_integer(&b, (json_int_t)row->version);
    gw_json_buf_put(&b, "}", 1);
    return gw_json_buf_take(&b, NULL);
}

/* Decodes a snapshot into `row`, whose strings borrow from *holder (decref it after use). */
static int snapshot_decode(const char *text, store_user_t *row, json_t **holder, json_t **user, const char **emails)
{
    json_int_t version = 0;
    int active = 0;
    memset(row, 0, sizeof(*row));
    *holder = json_loads(text, 0, NULL);
    *user = NULL;
    if (*holder == NULL ||
        json_unpack(*holder, "{s:s, s:s, s?s, s?s, s:b, s:s, s:s, s:I, s:s}", "id", &row->id, "userName", &row->user_name,
                    "externalId", &row->external_id, "odeusEmail", &row->odeus_email, "active", &active, "created", &row->created,
                    "lastModified", &row->last_modified, "version", &version, "resource", &row->resource) != 0 ||
        (*user = json_loads(row->resource, 0, NULL)) == NULL) {
        json_decref(*holder);
        *holder = NULL;
        return -1;
    }
    row->active = active;
    row->version = version;
    row_set_emails(row, *user, emails);
    return 0;
}

/* Undoes a change Odeus refused, unless a later change has touched the user since. */
static void revert_change(gw_worker_t *w, const pending_t *p)
{
    store_t *s = w->store;
    store_user_t current = {0}, prev = {0};
    json_t *holder = NULL, *prev_user = NULL;
    char *prev_rendered = NULL;
    const char *emails[MAX_EMAILS];
    const char *what = "kept";

    if (p->snapshot != NULL && snapshot_decode(p->snapshot, &prev, &holder, &prev_user, emails) != 0)
        goto out;
    prev.rendered = prev_rendered = prev_user != NULL ? scim_user_render_text(prev_user, prev.id) : NULL;
    if (gw_batch_join(w) != 0) {
        what = "revert_failed";
        goto out;
    }
    store_status_t got = store_user_get(s, p->user_id, &current);
    store_status_t rc = STORE_OK;
    if (p->result_version == 0 && got == STORE_NOT_FOUND && p->snapshot != NULL) {
        rc = store_user_insert(s, &prev);
        what = "restored";
    } else if (got == STORE_OK && current.version == p->result_version) {
        rc = p->snapshot == NULL ? store_user_delete(s, p->user_id) : store_user_update(s, &prev);
        what = p->snapshot == NULL ? "removed" : "restored";
    }
    if (rc != STORE_OK) {
        gw_batch_drop(w);
        what = "revert_failed";
    } else if (gw_batch_keep(w) != 0) {
        what = "revert_failed";
    }
out:
    gw_log(GW_LOG_WARN, "change_reverted",
           json_pack("{s:s, s:s, s:s}", "user_id", p->user_id, "action", odeus_action_name(p->action), "directory", what));
    store_user_clear(&current);
    json_decref(holder);
    json_decref(prev_user);
    free(prev_rendered);
}

/* ---- waiting for the outbox ------------------------------------------------------------------- */

static void on_request_dispose(gw_request_t *r)
{
    pending_t *p = r->pending;
    if (p != NULL)
        p->r = NULL; /* the outcome still gets recorded (and a refused change undone) when it comes */
}

static void pending_free(pending_t *p)
{
    json_decref(p->success_body);
    free(p->success_text);
    free(p->role);
    free(p->location);
    free(p->user_id);
    free(p->snapshot);
    free(p);
}

/*
 * The success answer of a change as text when nothing is to be trimmed: the stored rendering
 * (`stored`) with meta spliced in, no JSON tree. 0 with p->success_text set, or -1: render instead.
 */
static int success_answer_text(pending_t *p, const scim_select_t *sel, const char *stored, const scim_user_meta_t *meta)
{
    if (stored == NULL || !scim_select_is_identity(sel))
        return -1;
    gw_json_buf_t b = {0};
    if (scim_user_splice_meta(&b, stored, strlen(stored), meta) != 0) {
        gw_json_buf_free(&b);
        return -1;
    }
    p->success_text = gw_json_buf_take(&b, &p->success_len);
    return p->success_text != NULL ? 0 : -1;
}

static void respond_success(gw_request_t *r, pending_t *p)
{
    if (p->location != NULL)
        gw_respond_header(r, H2O_TOKEN_LOCATION, p->location);
    if (p->success_text != NULL) {
        set_etag(r, p->version);
        gw_respond_json_text(r, p->success_status, p->success_text, p->success_len);
        return;
    }
    if (p->success_body == NULL) {
        gw_respond_empty(r, p->success_status);
        return;
    }
    set_etag(r, p->version);
    json_t *body = p->success_body;
    p->success_body = NULL;
    gw_respond_json(r, p->success_status, body);
}

static void finish_pending(pending_t *p)
{
    gw_worker_t *w = p->worker;
    gw_request_t *r = p->r;
    gw_outbox_waiter_t *wt = &p->waiter;
    w->waiting--;
    p->registered = 0;
    /* The entry and the answer leave together at the end of the pass, one fdatasync for all. */
    gw_batch_hold(w);
    gw_audit_settled(w, p->request_id, p->token_name, p->user_id, p->action, wt);

    if (wt->settle == GW_SETTLE_REFUSED && p->revertible)
        revert_change(w, p);
    if (r != NULL) {
        r->pending = NULL;
        switch (wt->settle) {
        case GW_SETTLE_DONE:
            r->upstream = odeus_outcome_name(wt->result.outcome);
            respond_success(r, p);
            break;
        case GW_SETTLE_PENDING:
            r->upstream = "pending";
            if (p->action == ODEUS_DEACTIVATE) {
                char retry_after[24];
                snprintf(retry_after, sizeof(retry_after), "%lld", (long long)wt->retry_after_s);
                gw_respond_header(r, H2O_TOKEN_RETRY_AFTER, retry_after);
                gw_respond_errorf(r, 503, NULL,
                                  "Odeus has not confirmed the deactivation yet (%s); it stays queued and is retried "
                                  "until it is delivered",
                                  wt->result.message[0] != '\0' ? wt->result.message : "no answer in time");
            } else {
                respond_success(r, p); /* grants are lenient: committed, delivery goes on from the outbox */
            }
            break;
        case GW_SETTLE_REFUSED:
            r->upstream = "refused";
            gw_respond_errorf(r, 400, SCIM_TYPE_INVALID_VALUE, "Odeus refused the change (%s); it was not kept",
                              wt->result.message);
            break;
        }
    }
    pending_free(p);
}

void gw_users_on_outbox_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        gw_outbox_waiter_t *wt = H2O_STRUCT_FROM_MEMBER(gw_outbox_waiter_t, message.link, messages->next);
        h2o_linklist_unlink(&wt->message.link);
        pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, waiter, wt);
        if (h2o_timeout_is_linked(&p->timeout))
            h2o_timeout_unlink(&p->timeout);
        finish_pending(p);
    }
}

static void on_pending_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, timeout, entry);
    if (!gw_outbox_unwait(p->worker->outbox, &p->waiter))
        return; /* the outbox settled it a moment ago: its message is on the way */
    p->waiter.settle = GW_SETTLE_PENDING;
    p->waiter.retry_after_s = (p->worker->config->upstream_deadline_ms + 999) / 1000;
    finish_pending(p);
}

static pending_t *pending_new(gw_request_t *r, odeus_action_t action, const char *user_id)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->user_id = strdup(user_id)) == NULL) {
        free(p);
        return NULL;
    }
    p->worker = r->worker;
    p->r = r;
    snprintf(p->request_id, sizeof(p->request_id), "%s", r->request_id);
    p->token_name = r->token_name;
    p->action = action;
    p->timeout.cb = on_pending_timeout;
    return p;
}

/* Registers `p` for row `outbox_id`; called before the row commits so no outcome is missed. */
static void pending_register(pending_t *p, int64_t outbox_id)
{
    gw_worker_t *w = p->worker;
    p->waiter.receiver = &w->outbox_receiver;
    p->waiter.outbox_id = outbox_id;
    p->waiter.deadline_ms = gw_clock_mono_ms() + w->config->upstream_deadline_ms;
    gw_outbox_wait(w->outbox, &p->waiter);
    w->waiting++;
    p->registered = 1;
}

/* Ties `p` to its request: when the client goes away, p->r becomes NULL. */
static void pending_attach(pending_t *p)
{
    if (p->r != NULL) {
        p->r->pending = p;
        p->r->on_dispose = on_request_dispose;
    }
}

/* After the commit: the request now waits for the outbox or its deadline. */
static void pending_start(pending_t *p)
{
    gw_worker_t *w = p->worker;
    pending_attach(p);
    gw_outbox_kick(w->outbox);
    h2o_timeout_link(w->loop, &w->deadline_timeout, &p->timeout);
}

static void pending_unregister(pending_t *p)
{
    if (gw_outbox_unwait(p->worker->outbox, &p->waiter))
        p->worker->waiting--;
    p->registered = 0;
}

/*
 * When the user has a deactivation still queued from an earlier request, the truthful answer
 * waits for it too. Returns 1 when `p` now waits (and owns the answer), 0 when nothing is queued.
 */
static int wait_for_queued_deactivation(pending_t *p)
{
    store_t *s = p->worker->store;
    int64_t id;
    store_outbox_t row = {0};
    if (store_outbox_pending_for_user(s, p->user_id, odeus_action_name(ODEUS_DEACTIVATE), &id) != STORE_OK)
        return 0;
    pending_register(p, id);
    /* It may have been delivered between the look-up and the registration. */
    int still_pending = store_outbox_get(s, id, &row) == STORE_OK && row.state == STORE_OUTBOX_PENDING;
    store_outbox_clear(&row);
    if (!still_pending) {
        pending_unregister(p);
        return 0;
    }
    p->revertible = 0;
    pending_start(p);
    return 1;
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

/*
 * Which Odeus call a change needs (design.md, "Lifecycle → Odeus"). `next` gets the Odeus email
 * set at invite time. Fails only when an active user has no email address Odeus could use.
 */
static int plan_change(const gw_config_t *cfg, const store_user_t *old, const json_t *old_user, const json_t *new_user,
                       store_user_t *next, change_t *ch, scim_error_t *err)
{
    int was_active = old != NULL && old->active;
    int active = scim_user_active(new_user);
    const char *role = scim_user_odeus_role(new_user, cfg->default_role);
    memset(ch, 0, sizeof(*ch));
    next->odeus_email = old != NULL ? old->odeus_email : NULL;

    if (active && !was_active) {
        /* The email used at the first invite stays the user's Odeus identity. */
        const char *email = next->odeus_email != NULL ? next->odeus_email : scim_user_odeus_email(new_user, cfg->email_source);
        if (email == NULL)
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                                  "an active user needs an email address for Odeus: a primary or work email, or a "
                                  "userName that is an email address");
        next->odeus_email = (char *)email;
        *ch = (change_t){1, ODEUS_INVITE, email, role};
    } else if (!active && was_active && next->odeus_email != NULL) {
        *ch = (change_t){1, ODEUS_DEACTIVATE, next->odeus_email, NULL};
    } else if (active && was_active && strcmp(role, scim_user_odeus_role(old_user, cfg->default_role)) != 0) {
        *ch = (change_t){1, ODEUS_UPDATE_ROLE, next->odeus_email, role};
    }
    return 0;
}

/*
 * Writes the user change and, in the same transaction, its outbox row into the worker's batch
 * (gateway/batch.h); registers `p` for that row. `if_version` (from If-Match; 0 when none) must
 * still be the stored version inside the transaction, else 412: another request may have changed
 * the user since it was read. Without If-Match, `read_version` (the version the request built its
 * change on; 0 for a new user) must be: else another worker thread committed a change of the same
 * user in between, and the request is run again on the new state rather than overwriting it.
 * Returns 0 when the change is in the batch (it commits at the end of the pass: answer through
 * answer_after_commit), 1 for "run again" (nothing changed, `err` untouched), or -1 with `err` set
 * and nothing changed.
 */
static int commit_change(gw_request_t *r, write_op_t op, const store_user_t *row, const change_t *ch, pending_t *p,
                         int64_t if_version, int64_t read_version, scim_error_t *err)
{
    gw_worker_t *w = r->worker;
    store_t *s = w->store;
    if (gw_batch_join(w) != 0)
        goto store_error;
    if (if_version > 0 || read_version > 0) {
        int64_t version = 0;
        store_status_t got = store_user_version(s, row->id, &version);
        if (got == STORE_ERROR)
            goto store_error;
        if (if_version > 0 && (got == STORE_NOT_FOUND || version != if_version)) {
            gw_batch_drop(w);
            return scim_error_set(err, 412, NULL, "the User was changed by another request; read it again");
        }
        if (got == STORE_NOT_FOUND || version != read_version) {
            gw_batch_drop(w);
            return 1;
        }
    }
    store_status_t rc = op == WRITE_INSERT   ? store_user_insert(s, row)
                        : op == WRITE_UPDATE ? store_user_update(s, row)
                                             : store_user_delete(s, row->id);
    if (rc == STORE_CONFLICT) {
        gw_batch_drop(w);
        return scim_error_set(err, 409, SCIM_TYPE_UNIQUENESS, "userName %.128s is already taken", row->user_name);
    }
    if (rc == STORE_NOT_FOUND) {
        gw_batch_drop(w);
        return scim_error_set(err, 404, NULL, "no User with id %.64s", row->id);
    }
    if (rc != STORE_OK)
        goto store_error;
    if (ch->call) {
        int64_t now = gw_clock_unix_ms(), outbox_id;
        store_outbox_t out = {.user_id = row->id,
                              .action = (char *)odeus_action_name(ch->action),
                              .email = (char *)ch->email,
                              .role = (char *)ch->role,
                              .created_at_ms = now,
                              .next_attempt_ms = now,
                              .prev_resource = p->snapshot,
                              .result_version = p->result_version};
        if (store_outbox_insert(s, &out, &outbox_id) != STORE_OK)
            goto store_error;
        pending_register(p, outbox_id);
    }
    if (gw_batch_keep(w) != 0)
        goto store_error;
    return 0;

store_error:
    gw_log(GW_LOG_ERROR, "store_failed", json_pack("{s:s, s:s}", "request_id", r->request_id, "error", store_errmsg(s)));
    if (p->registered)
        pending_unregister(p);
    gw_batch_drop(w);
    return scim_error_set(err, 500, NULL, "the directory could not be written; nothing was changed");
}

/*
 * The answer of a change that needs no write, or whose write has committed: at once when no
 * Odeus call is needed, else once the outbox settles (or the deadline passes). Takes `p`.
 */
static void answer_change(pending_t *p)
{
    gw_request_t *r = p->r;
    if (p->call) {
        pending_start(p);
        return;
    }
    if (p->now_inactive && wait_for_queued_deactivation(p))
        return;
    if (r != NULL) {
        r->pending = NULL;
        r->upstream = NULL;
        respond_success(r, p);
    }
    pending_free(p);
}

static void on_change_committed(gw_batch_item_t *item, int committed)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, committed, item);
    gw_request_t *r = p->r;
    if (!committed) {
        if (p->registered)
            pending_unregister(p);
        if (r != NULL) {
            r->pending = NULL;
            gw_respond_errorf(r, 500, NULL, "the directory could not be written; nothing was changed");
        }
        pending_free(p);
        return;
    }
    /* Inside the batch's audit batch: the entry is on disk before any answer of the pass goes out. */
    const char *call = p->call ? odeus_action_name(p->action) : NULL;
    gw_audit_lifecycle(p->worker, p->request_id, p->token_name, p->event, p->user_id, call, p->role);
    if (gw_log_enabled(GW_LOG_INFO))
        gw_log(GW_LOG_INFO, p->event,
               json_pack("{s:s, s:s, s:s?}", "request_id", p->request_id, "user_id", p->user_id, "odeus_call", call));
    answer_change(p);
}

/*
 * A change is in the batch: its audit entry and answer follow the commit. Takes `body` (the
 * success answer, NULL for 204) and `p`.
 */
static void answer_after_commit(gw_request_t *r, const char *event, const change_t *ch, pending_t *p, int status, json_t *body,
                                int64_t version, int now_inactive)
{
    p->event = event;
    p->call = ch->call;
    p->action = ch->call ? ch->action : p->action;
    p->role = ch->call && ch->role != NULL ? strdup(ch->role) : NULL;
    p->success_status = status;
    p->success_body = body;
    p->version = version;
    p->now_inactive = now_inactive;
    pending_attach(p);
    gw_batch_after_commit(r->worker, &p->committed, on_change_committed);
}

/* ---- endpoints -------------------------------------------------------------------------------- */

void gw_users_create(gw_request_t *r)
{
    const gw_config_t *cfg = r->worker->config;
    scim_error_t err = {0};
    json_t *body = NULL, *user = NULL, *rendered = NULL;
    char *resource = NULL, *location = NULL, *stored_text = NULL;
    pending_t *p = NULL;
    const char *emails[MAX_EMAILS];
    char id[GW_UUID_LEN], now[GW_RFC3339_LEN];
    change_t ch;

    scim_select_t *sel = request_select(r, &err);
    if (sel == NULL || (body = parse_body(r, &err)) == NULL || (user = scim_user_parse(body, &err)) == NULL)
        goto fail;
    if (gw_uuid_v4(id) != 0) {
        scim_error_set(&err, 500, NULL, "no random source for the user id");
        goto fail;
    }
    gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
    store_user_t row = {.id = id,
                        .user_name = (char *)scim_user_name(user),
                        .external_id = (char *)scim_user_external_id(user),
                        .active = scim_user_active(user),
                        .created = now,
                        .last_modified = now,
                        .version = 1};
    if (plan_change(cfg, NULL, NULL, user, &row, &ch, &err) != 0)
        goto fail;
    resource = gw_json_dumps(user, NULL);
    location = user_location(r, id);
    p = pending_new(r, ch.action, id);
    if (resource == NULL || location == NULL || p == NULL) {
        scim_error_set(&err, 500, NULL, "out of memory");
        goto fail;
    }
    row.resource = resource;
    row.rendered = stored_text = scim_user_render_text(user, id); /* NULL: readers render from resource */
    row_set_emails(&row, user, emails);
    scim_user_meta_t meta = {.id = id, .created = now, .last_modified = now, .location = location, .version = 1};
    if (success_answer_text(p, sel, stored_text, &meta) != 0) {
        if ((rendered = scim_user_render(user, &meta)) == NULL) {
            scim_error_set(&err, 500, NULL, "out of memory");
            goto fail;
        }
        scim_select_apply(sel, rendered);
    }
    p->revertible = 1;
    p->result_version = 1;
    if (commit_change(r, WRITE_INSERT, &row, &ch, p, 0, 0, &err) != 0)
        goto fail;
    p->location = location;
    location = NULL;
    answer_after_commit(r, "user_created", &ch, p, 201, rendered, 1, 0);
    p = NULL;
    rendered = NULL;
fail:
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        pending_free(p);
    scim_select_free(sel);
    json_decref(body);
    json_decref(user);
    json_decref(rendered);
    free(resource);
    free(stored_text);
    free(location);
}

void gw_users_get(gw_request_t *r, const char *id)
{
    store_user_t row = {0};
    scim_error_t err = {0};
    scim_select_t *sel = request_select(r, &err);
    if (sel == NULL) {
        gw_respond_error(r, &err);
        return;
    }
    store_status_t rc = store_user_get(r->worker->store, id, &row);
    json_t *rendered = NULL;
    const char *inm;
    if (rc == STORE_NOT_FOUND) {
        respond_not_found(r, id);
    } else if (rc == STORE_OK && (inm = request_header(r, H2O_TOKEN_IF_NONE_MATCH)) != NULL &&
               scim_etag_matches(inm, strlen(inm), row.version)) {
        /* RFC 7644 §3.14, RFC 7232 §4.1: the client's copy is current; no body. */
        set_etag(r, row.version);
        gw_respond_empty(r, 304);
    } else if (rc == STORE_OK && scim_select_is_identity(sel)) {
        /* Nothing to trim: the stored rendering with meta spliced in, no JSON tree. */
        gw_json_buf_t text = {0};
        loc_buf_t loc;
        if (loc_init(&loc, r) != 0 || append_row_text(r, &loc, &row, &text) != 0) {
            respond_store_error(r);
        } else {
            set_etag(r, row.version);
            gw_respond_json_text(r, 200, text.p, text.len);
        }
        loc_free(&loc);
        gw_json_buf_free(&text);
    } else if (rc != STORE_OK || (rendered = render_row(r, &row)) == NULL) {
        respond_store_error(r);
    } else {
        scim_select_apply(sel, rendered);
        set_etag(r, row.version);
        gw_respond_json(r, 200, rendered);
    }
    scim_select_free(sel);
    store_user_clear(&row);
}

/*
 * The common end of PUT and PATCH: `new_user` (canonical, taken) replaces the stored user `old`.
 * An unchanged resource is answered without a write or an Odeus call. Returns 1 (unanswered) when
 * `old` is no longer current and the request must run again, else 0.
 */
static int update_user(gw_request_t *r, const store_user_t *old, const json_t *old_user, json_t *new_user, const scim_select_t *sel,
                       int64_t if_version)
{
    int stale = 0;
    const gw_config_t *cfg = r->worker->config;
    scim_error_t err = {0};
    char now[GW_RFC3339_LEN];
    const char *emails[MAX_EMAILS];
    char *resource = NULL, *stored_text = NULL, *location = user_location(r, old->id);
    json_t *rendered = NULL;
    pending_t *p = pending_new(r, ODEUS_DEACTIVATE, old->id);
    change_t ch = {0};

    if (location == NULL || p == NULL) {
        scim_error_set(&err, 500, NULL, "out of memory");
        goto out;
    }
    if (json_equal(old_user, new_user)) {
        json_t *current = render_row(r, old);
        if (current == NULL) {
            scim_error_set(&err, 500, NULL, "the stored user cannot be read");
            goto out;
        }
        scim_select_apply(sel, current);
        p->success_status = 200;
        p->success_body = current;
        p->version = old->version;
        p->now_inactive = !old->active;
        answer_change(p);
        p = NULL;
        goto out;
    }
    gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
    store_user_t row = {.id = old->id,
                        .user_name = (char *)scim_user_name(new_user),
                        .external_id = (char *)scim_user_external_id(new_user),
                        .active = scim_user_active(new_user),
                        .created = old->created,
                        .last_modified = now,
                        .version = old->version + 1};
    if (plan_change(cfg, old, old_user, new_user, &row, &ch, &err) != 0)
        goto out;
    if ((resource = gw_json_dumps(new_user, NULL)) == NULL || (p->snapshot = snapshot_encode(old)) == NULL) {
        scim_error_set(&err, 500, NULL, "out of memory");
        goto out;
    }
    row.resource = resource;
    row.rendered = stored_text = scim_user_render_text(new_user, old->id); /* NULL: readers render from resource */
    row_set_emails(&row, new_user, emails);
    scim_user_meta_t meta = {
        .id = old->id, .created = old->created, .last_modified = now, .location = location, .version = row.version};
    if (success_answer_text(p, sel, stored_text, &meta) != 0) {
        if ((rendered = scim_user_render(new_user, &meta)) == NULL) {
            scim_error_set(&err, 500, NULL, "out of memory");
            goto out;
        }
        scim_select_apply(sel, rendered);
    }
    p->action = ch.action;
    p->revertible = 1;
    p->result_version = row.version;
    int committed = commit_change(r, WRITE_UPDATE, &row, &ch, p, if_version, old->version, &err);
    if (committed != 0) {
        stale = committed == 1;
        goto out;
    }
    answer_after_commit(r,
                        !ch.call                        ? "user_updated"
                        : ch.action == ODEUS_DEACTIVATE ? "user_deactivated"
                        : ch.action == ODEUS_INVITE     ? "user_activated"
                                                        : "user_role_changed",
                        &ch, p, 200, rendered, row.version, !row.active);
    p = NULL;
    rendered = NULL;
out:
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        pending_free(p);
    json_decref(new_user);
    json_decref(rendered);
    free(resource);
    free(stored_text);
    free(location);
    return stale;
}

/* Loads the stored user and its canonical JSON; answers 404/500 itself and returns -1. */
static int load_user(gw_request_t *r, const char *id, store_user_t *row, json_t **user)
{
    store_status_t rc = store_user_get(r->worker->store, id, row);
    if (rc == STORE_NOT_FOUND) {
        respond_not_found(r, id);
        return -1;
    }
    if (rc != STORE_OK || (*user = json_loads(row->resource, 0, NULL)) == NULL) {
        store_user_clear(row);
        respond_store_error(r);
        return -1;
    }
    return 0;
}

/*
 * What PUT and PATCH share before they look at the body: the attribute selection, the stored user
 * and the If-Match precondition. Returns 0, or -1 once it has answered (and released everything).
 */
static int begin_update(gw_request_t *r, const char *id, scim_select_t **sel, store_user_t *old, json_t **old_user,
                        int64_t *if_version)
{
    scim_error_t err = {0};
    if ((*sel = request_select(r, &err)) == NULL) {
        gw_respond_error(r, &err);
        return -1;
    }
    if (load_user(r, id, old, old_user) != 0) {
        scim_select_free(*sel);
        return -1;
    }
    if ((*if_version = check_if_match(r, old)) < 0) {
        scim_select_free(*sel);
        json_decref(*old_user);
        store_user_clear(old);
        return -1;
    }
    return 0;
}

/* How often a request whose read went stale (another worker changed the user first) runs again. */
#define STALE_RUNS 4

/* Runs `once` until it did not meet a stale read; a user changed under it every time gets a 503. */
static void run_on_current_state(gw_request_t *r, const char *id, int (*once)(gw_request_t *, const char *))
{
    for (int i = 0; i < STALE_RUNS; i++)
        if (!once(r, id))
            return;
    gw_respond_header(r, H2O_TOKEN_RETRY_AFTER, "1");
    gw_respond_errorf(r, 503, NULL, "the User is being changed by other requests at this moment; try again");
}

static int replace_once(gw_request_t *r, const char *id)
{
    int stale = 0;
    store_user_t old = {0};
    json_t *old_user = NULL, *body = NULL, *new_user = NULL;
    scim_error_t err = {0};
    scim_select_t *sel;
    int64_t if_version;
    if (begin_update(r, id, &sel, &old, &old_user, &if_version) != 0)
        return 0;
    if ((body = parse_body(r, &err)) == NULL || (new_user = scim_user_parse(body, &err)) == NULL) {
        gw_respond_error(r, &err);
        goto out;
    }
    /* A PUT that leaves out "active" must not reactivate a deprovisioned user by default. */
    if (json_object_get(new_user, "active") == NULL)
        json_object_set_new(new_user, "active", json_boolean(old.active));
    stale = update_user(r, &old, old_user, new_user, sel, if_version);
    new_user = NULL;
out:
    scim_select_free(sel);
    json_decref(body);
    json_decref(new_user);
    json_decref(old_user);
    store_user_clear(&old);
    return stale;
}

void gw_users_replace(gw_request_t *r, const char *id)
{
    run_on_current_state(r, id, replace_once);
}

static int patch_once(gw_request_t *r, const char *id)
{
    int stale = 0;
    store_user_t old = {0};
    json_t *old_user = NULL, *body = NULL, *patched = NULL, *new_user = NULL;
    scim_error_t err = {0};
    scim_select_t *sel;
    int64_t if_version;
    if (begin_update(r, id, &sel, &old, &old_user, &if_version) != 0)
        return 0;
    if ((body = parse_body(r, &err)) == NULL)
        goto fail;
    if ((patched = json_deep_copy(old_user)) == NULL) {
        scim_error_set(&err, 500, NULL, "out of memory");
        goto fail;
    }
    if (scim_patch_apply(patched, body, &err) != 0 || (new_user = scim_user_parse(patched, &err)) == NULL)
        goto fail;
    stale = update_user(r, &old, old_user, new_user, sel, if_version);
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    scim_select_free(sel);
    json_decref(body);
    json_decref(patched);
    json_decref(old_user);
    store_user_clear(&old);
    return stale;
}

void gw_users_patch(gw_request_t *r, const char *id)
{
    run_on_current_state(r, id, patch_once);
}

static int delete_once(gw_request_t *r, const char *id)
{
    int stale = 0;
    store_user_t old = {0};
    scim_error_t err = {0};
    pending_t *p = pending_new(r, ODEUS_DEACTIVATE, id);
    if (p == NULL) {
        gw_respond_errorf(r, 500, NULL, "out of memory");
        return 0;
    }
    store_status_t rc = store_user_get(r->worker->store, id, &old);
    if (rc == STORE_NOT_FOUND) {
        /* A retried DELETE whose deactivation is still queued gets the truth, not a 404. */
        p->success_status = 204;
        if (!wait_for_queued_deactivation(p)) {
            respond_not_found(r, id);
            pending_free(p);
        }
        return 0;
    }
    if (rc != STORE_OK) {
        pending_free(p);
        respond_store_error(r);
        return 0;
    }
    int64_t if_version = check_if_match(r, &old);
    if (if_version < 0) {
        pending_free(p);
        store_user_clear(&old);
        return 0;
    }
    change_t ch = {0};
    if (old.active && old.odeus_email != NULL)
        ch = (change_t){1, ODEUS_DEACTIVATE, old.odeus_email, NULL};
    p->revertible = 1;
    p->result_version = 0;
    if ((p->snapshot = snapshot_encode(&old)) == NULL) {
        scim_error_set(&err, 500, NULL, "out of memory");
    } else if ((stale = commit_change(r, WRITE_DELETE, &old, &ch, p, if_version, old.version, &err)) == 0) {
        answer_after_commit(r, "user_deleted", &ch, p, 204, NULL, 0, 1);
        p = NULL;
    }
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        pending_free(p);
    store_user_clear(&old);
    return stale == 1;
}

void gw_users_delete(gw_request_t *r, const char *id)
{
    run_on_current_state(r, id, delete_once);
}

/* ---- list ----------------------------------------------------------------------------------- */

typedef struct list_ctx {
    gw_request_t *r;
    const scim_filter_t *filter; /* NULL also when every row the store visits is a match (text) */
    size_t start_index, count, total;
    int collect_all; /* sorting: keep every match, the page is cut after the sort */
    json_t *resources;
    int failed;
    /* The text path (no sort, nothing to trim, every visited row a match): the page as JSON text. */
    gw_json_buf_t *text;
    loc_buf_t *loc;
    size_t items; /* resources in `text` */
} list_ctx_t;

static int on_list_row(void *arg, const store_user_t *row)
{
    list_ctx_t *lc = arg;
    size_t on_page = lc->text != NULL ? lc->items : json_array_size(lc->resources);
    int in_page = lc->collect_all || (lc->total + 1 >= lc->start_index && on_page < lc->count);
    /* Without a filter every row counts; render only those on the page. */
    if (lc->filter == NULL && !in_page) {
        lc->total++;
        return 0;
    }
    if (lc->text != NULL) {
        if (lc->items > 0)
            gw_json_buf_put(lc->text, ",", 1);
        if (lc->text->failed || append_row_text(lc->r, lc->loc, row, lc->text) != 0) {
            lc->failed = 1;
            return 1;
        }
        lc->items++;
        lc->total++;
        return 0;
    }
    json_t *rendered = render_row(lc->r, row);
    if (rendered == NULL) {
        lc->failed = 1;
        return 1;
    }
    if (lc->filter != NULL && !scim_filter_match(lc->filter, rendered)) {
        json_decref(rendered);
        return 0;
    }
    lc->total++;
    if (lc->collect_all || (lc->total >= lc->start_index && json_array_size(lc->resources) < lc->count))
        json_array_append_new(lc->resources, rendered);
    else
        json_decref(rendered);
    return 0;
}

static store_index_t store_index_for(scim_filter_index_t hint)
{
    switch (hint) {
    case SCIM_FILTER_INDEX_ID:
        return STORE_SCAN_ID;
    case SCIM_FILTER_INDEX_USERNAME:
        return STORE_SCAN_USERNAME;
    case SCIM_FILTER_INDEX_EXTERNAL_ID:
        return STORE_SCAN_EXTERNAL_ID;
    case SCIM_FILTER_INDEX_EMAIL:
        return STORE_SCAN_EMAIL;
    case SCIM_FILTER_INDEX_NONE:
        break;
    }
    return STORE_SCAN_ALL;
}

/* The page [start_index, start_index + count) of a sorted array of every match, in place. */
static void cut_page(json_t *all, size_t start_index, size_t count)
{
    size_t skip = start_index - 1 < json_array_size(all) ? start_index - 1 : json_array_size(all);
    while (skip-- > 0)
        json_array_remove(all, 0);
    while (json_array_size(all) > count)
        json_array_remove(all, json_array_size(all) - 1);
}

/* Room kept before the resources of the text path for the ListResponse members that precede them. */
#define LIST_HEAD_ROOM 256

/* Writes `v` in decimal ending just before `end`; returns where it starts. */
static char *decimal_before(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

/*
 * Answers the text path's page: the ListResponse members written in front of the resources, as
 * gw_respond_json(scim_list_render(...)) would write them, byte for byte (json_int_t values).
 */
static void respond_list_text(gw_request_t *r, gw_json_buf_t *text, size_t total, size_t start_index, size_t items)
{
    static const char schemas[] = "{\"schemas\":[\"" SCIM_SCHEMA_LIST_RESPONSE "\"],\"totalResults\":";
    json_int_t values[3] = {(json_int_t)total, (json_int_t)start_index, (json_int_t)items};
    static const char *const keys[3] = {"", ",\"startIndex\":", ",\"itemsPerPage\":"};
    gw_json_buf_put(text, "]}", 2);
    if (text->failed) {
        gw_respond_errorf(r, 500, NULL, "out of memory");
        return;
    }
    /* backwards from the resources: "Resources":[ then each number after its key */
    char *start = text->p + LIST_HEAD_ROOM;
    start -= sizeof(",\"Resources\":[") - 1;
    memcpy(start, ",\"Resources\":[", sizeof(",\"Resources\":[") - 1);
    for (int i = 2; i >= 0; i--) {
        json_int_t v = values[i];
        start = decimal_before(start, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
        if (v < 0)
            *--start = '-';
        size_t klen = strlen(keys[i]);
        start -= klen;
        memcpy(start, keys[i], klen);
    }
    start -= sizeof(schemas) - 1;
    memcpy(start, schemas, sizeof(schemas) - 1);
    gw_respond_json_text(r, 200, start, text->len - (size_t)(start - text->p));
}

/*
 * GET /Users and POST /Users/.search: filter (from an index when the filter allows), sort, page,
 * then trim each resource to the requested attributes. Without a sort, with nothing to trim and
 * with every row the store visits a match (no filter, or one the index answers exactly), the
 * page is written as text from the stored renderings (the text path: no JSON tree per row).
 */
static void list_users(gw_request_t *r, const scim_list_params_t *params)
{
    scim_error_t err = {0};
    scim_filter_t *filter = NULL;
    scim_sort_t *sort = NULL;
    scim_select_t *sel = NULL;
    list_ctx_t lc = {.r = r};
    gw_json_buf_t text = {0};
    loc_buf_t loc;
    store_status_t rc;
    size_t i;

    loc.p = loc.stack;

    if (params->filter != NULL && (filter = scim_filter_parse(params->filter, params->filter_len, &err)) == NULL)
        goto fail;
    if ((sort = scim_sort_parse(params->sort_by, params->sort_order, &err)) == NULL && err.status != 0)
        goto fail;
    if ((sel = scim_select_parse(params->attributes, params->excluded_attributes, &err)) == NULL)
        goto fail;
    lc.filter = filter;
    lc.start_index = params->start_index;
    lc.count = params->count;
    lc.collect_all = sort != NULL;
    if (sort == NULL && scim_select_is_identity(sel) && (filter == NULL || scim_filter_index_exact(filter))) {
        static const char head_room[LIST_HEAD_ROOM];
        gw_json_buf_put(&text, head_room, LIST_HEAD_ROOM);
        if (loc_init(&loc, r) != 0 || text.failed) {
            gw_respond_errorf(r, 500, NULL, "out of memory");
            goto out;
        }
        lc.text = &text;
        lc.loc = &loc;
        lc.filter = NULL; /* the index visits exactly the matches */
    } else {
        lc.resources = json_array();
    }
    if (filter != NULL || sort != NULL) {
        const char *value = NULL;
        store_index_t index = store_index_for(scim_filter_index_hint(filter, &value));
        rc = store_user_scan(r->worker->store, index, value, on_list_row, &lc);
    } else {
        rc = store_user_count(r->worker->store, &lc.total);
        size_t skipped = lc.start_index - 1;
        if (rc == STORE_OK && lc.count > 0 && skipped < lc.total) {
            size_t total = lc.total;
            lc.total = skipped; /* the page callback counts on from the first row it sees */
            lc.start_index = skipped + 1;
            rc = store_user_page(r->worker->store, skipped, lc.count, on_list_row, &lc);
            lc.total = total;
        }
    }
    if (rc != STORE_OK || lc.failed) {
        json_decref(lc.resources);
        respond_store_error(r);
        goto out;
    }
    if (lc.text != NULL) {
        respond_list_text(r, &text, lc.total, params->start_index, lc.items);
        goto out;
    }
    if (sort != NULL) {
        scim_sort_apply(sort, lc.resources);
        cut_page(lc.resources, params->start_index, params->count);
    }
    for (i = 0; i < json_array_size(lc.resources); i++)
        scim_select_apply(sel, json_array_get(lc.resources, i));
    gw_respond_json(r, 200, scim_list_render(lc.resources, lc.total, params->start_index));
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    scim_filter_free(filter);
    scim_sort_free(sort);
    scim_select_free(sel);
    loc_free(&loc);
    gw_json_buf_free(&text);
}

void gw_users_list(gw_request_t *r)
{
    scim_list_params_t params;
    scim_error_t err = {0};
    const char *query;
    size_t query_len;

    request_query(r, &query, &query_len);
    if (scim_list_params_parse(query, query_len, &params, &err) != 0)
        gw_respond_error(r, &err);
    else
        list_users(r, &params);
    scim_list_params_clear(&params);
}

void gw_users_search(gw_request_t *r)
{
    scim_list_params_t params = {0};
    scim_error_t err = {0};
    json_t *body = parse_body(r, &err);

    if (body == NULL || scim_list_params_from_search(body, &params, &err) != 0)
        gw_respond_error(r, &err);
    else
        list_users(r, &params);
    scim_list_params_clear(&params);
    json_decref(body);
}
