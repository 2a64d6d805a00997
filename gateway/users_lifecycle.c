#include "gateway/users_lifecycle.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "gateway/audit.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "gateway/users_list.h"
#include "gateway/users_render.h"
#include "scim/user.h"
#include "store/store.h"

/* ---- the row and its undo snapshot ---------------------------------------------------------- */

void gw_users_row_set_emails(store_user_t *row, const json_t *user, const char **emails)
{
    size_t n = scim_user_email_values(user, emails, SCIM_USER_MAX_EMAILS);
    assert(n <= SCIM_USER_MAX_EMAILS); /* scim_user_parse refused more */
    row->emails = emails;
    row->n_emails = n;
    gw_users_row_set_sort_values(row, user);
}

/* `,"key":"value"` (key given with its leading separator and quotes); nothing when value is NULL. */
static void snapshot_field(gw_json_buf_t *b, const char *key, const char *value)
{
    if (value == NULL)
        return;
    gw_json_buf_put(b, key, strlen(key));
    gw_json_buf_string(b, value, strlen(value));
}

char *gw_users_snapshot_encode(const store_user_t *row)
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
    snapshot_field(&b, ",\"odeusRole\":", row->odeus_role);
    if (row->seat_held)
        gw_json_buf_put(&b, ",\"seatHeld\":true", strlen(",\"seatHeld\":true"));
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
    int active = 0, held = 0;
    memset(row, 0, sizeof(*row));
    *holder = json_loads(text, 0, NULL);
    *user = NULL;
    if (*holder == NULL ||
        json_unpack(*holder, "{s:s, s:s, s?s, s?s, s:b, s:s, s:s, s:I, s:s, s?s, s?b}", "id", &row->id, "userName", &row->user_name,
                    "externalId", &row->external_id, "odeusEmail", &row->odeus_email, "active", &active, "created", &row->created,
                    "lastModified", &row->last_modified, "version", &version, "resource", &row->resource, "odeusRole",
                    &row->odeus_role, "seatHeld", &held) != 0 ||
        (*user = json_loads(row->resource, 0, NULL)) == NULL) {
        json_decref(*holder);
        *holder = NULL;
        return -1;
    }
    row->active = active;
    row->seat_held = held;
    row->version = version;
    gw_users_row_set_emails(row, *user, emails);
    return 0;
}

/* Undoes a change Odeus refused, unless a later change has touched the user since. */
static void revert_change(gw_worker_t *w, const gw_users_pending_t *p)
{
    store_t *s = w->store;
    store_user_t current = {0}, prev = {0};
    json_t *holder = NULL, *prev_user = NULL;
    char *prev_rendered = NULL;
    const char *emails[SCIM_USER_MAX_EMAILS];
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

/* ---- waiting for the outbox ----------------------------------------------------------------- */

static void on_request_dispose(gw_request_t *r)
{
    gw_users_pending_t *p = r->pending;
    if (p != NULL)
        p->r = NULL; /* the outcome still gets recorded (and a refused change undone) when it comes */
}

void gw_users_pending_free(gw_users_pending_t *p)
{
    json_decref(p->success_body);
    free(p->success_text);
    free(p->role);
    free(p->location);
    free(p->user_id);
    free(p->snapshot);
    free(p);
}

int gw_users_pending_answer_text(gw_users_pending_t *p, const scim_select_t *sel, const char *stored, const scim_user_meta_t *meta)
{
    if (stored == NULL || !scim_select_is_identity(sel))
        return -1;
    gw_json_buf_t b = {0};
    if (scim_user_splice_meta(&b, stored, strlen(stored), meta) != 0) {
        gw_json_buf_free(&b);
        return -1;
    }
    p->success_text = gw_json_buf_take(&b, &p->success_len);
    return 0;
}

static void respond_success(gw_request_t *r, gw_users_pending_t *p)
{
    if (p->location != NULL)
        gw_respond_header(r, H2O_TOKEN_LOCATION, p->location);
    if (p->success_text != NULL) {
        gw_users_set_etag(r, p->version);
        gw_respond_json_text(r, p->success_status, p->success_text, p->success_len);
        return;
    }
    if (p->success_body == NULL) {
        gw_respond_empty(r, p->success_status);
        return;
    }
    gw_users_set_etag(r, p->version);
    json_t *body = p->success_body;
    p->success_body = NULL;
    gw_respond_json(r, p->success_status, body);
}

/* The odeus_result entry of a settled waiter. */
static void audit_settled(gw_worker_t *w, const gw_users_pending_t *p)
{
    static const char *const settles[] = {"confirmed", "refused", "pending"};
    const gw_outbox_waiter_t *wt = &p->waiter;
    const char *outcome =
        wt->settle != GW_SETTLE_PENDING || wt->result.http_status != 0 ? odeus_outcome_name(wt->result.outcome) : NULL;
    gw_audit_settled(w->audit, w->config->dry_run, p->request_id, p->token_name, p->user_id, odeus_action_name(p->action),
                     settles[wt->settle], outcome, wt->result.http_status);
}

static void finish_pending(gw_users_pending_t *p)
{
    gw_worker_t *w = p->worker;
    gw_request_t *r = p->r;
    gw_outbox_waiter_t *wt = &p->waiter;
    w->waiting--;
    p->registered = 0;
    /* The entry and the answer leave together at the end of the pass, one fdatasync for all. */
    gw_batch_hold(w);
    audit_settled(w, p);

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
    gw_users_pending_free(p);
}

void gw_users_on_outbox_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        gw_outbox_waiter_t *wt = H2O_STRUCT_FROM_MEMBER(gw_outbox_waiter_t, message.link, messages->next);
        h2o_linklist_unlink(&wt->message.link);
        gw_users_pending_t *p = H2O_STRUCT_FROM_MEMBER(gw_users_pending_t, waiter, wt);
        if (h2o_timeout_is_linked(&p->timeout))
            h2o_timeout_unlink(&p->timeout);
        finish_pending(p);
    }
}

static void on_pending_timeout(h2o_timeout_entry_t *entry)
{
    gw_users_pending_t *p = H2O_STRUCT_FROM_MEMBER(gw_users_pending_t, timeout, entry);
    if (!gw_outbox_unwait(p->worker->outbox, &p->waiter))
        return; /* the outbox settled it a moment ago: its message is on the way */
    p->waiter.settle = GW_SETTLE_PENDING;
    p->waiter.retry_after_s = (p->worker->config->upstream_deadline_ms + 999) / 1000;
    finish_pending(p);
}

gw_users_pending_t *gw_users_pending_new(gw_request_t *r, odeus_action_t action, const char *user_id)
{
    gw_users_pending_t *p = gw_calloc(1, sizeof(*p));
    p->user_id = gw_strdup(user_id);
    p->worker = r->worker;
    p->r = r;
    snprintf(p->request_id, sizeof(p->request_id), "%s", r->request_id);
    p->token_name = r->token_name;
    p->action = action;
    p->timeout.cb = on_pending_timeout;
    return p;
}

/* Registers `p` for row `outbox_id`; called before the row commits so no outcome is missed. */
static void pending_register(gw_users_pending_t *p, int64_t outbox_id)
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
static void pending_attach(gw_users_pending_t *p)
{
    if (p->r != NULL) {
        p->r->pending = p;
        p->r->on_dispose = on_request_dispose;
    }
}

/* After the commit: the request now waits for the outbox or its deadline. */
static void pending_start(gw_users_pending_t *p)
{
    gw_worker_t *w = p->worker;
    pending_attach(p);
    gw_outbox_kick(w->outbox);
    h2o_timeout_link(w->loop, &w->deadline_timeout, &p->timeout);
}

static void pending_unregister(gw_users_pending_t *p)
{
    if (gw_outbox_unwait(p->worker->outbox, &p->waiter))
        p->worker->waiting--;
    p->registered = 0;
}

int gw_users_wait_queued_deactivation(gw_users_pending_t *p)
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

/* ---- planning, commit, answer --------------------------------------------------------------- */

int gw_users_plan(const gw_config_t *cfg, const store_user_t *old, const json_t *old_user, const json_t *new_user,
                  store_user_t *next, gw_users_call_t *ch, scim_error_t *err)
{
    int was_active = old != NULL && old->active;
    int active = scim_user_active(new_user);
    const char *role = scim_user_odeus_role(new_user, cfg->default_role);
    memset(ch, 0, sizeof(*ch));
    next->odeus_email = old != NULL ? old->odeus_email : NULL;
    next->odeus_role = (char *)role;
    (void)old_user;

    if (active && !was_active) {
        /* The email used at the first invite stays the user's Odeus identity. */
        const char *email = next->odeus_email != NULL ? next->odeus_email : scim_user_odeus_email(new_user, cfg->email_source);
        if (email == NULL)
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                                  "an active user needs an email address for Odeus: a primary or work email, or a "
                                  "userName that is an email address");
        next->odeus_email = (char *)email;
        *ch = (gw_users_call_t){.call = 1, .action = ODEUS_INVITE, .email = email, .role = role};
    } else if (!active && was_active && next->odeus_email != NULL) {
        *ch = (gw_users_call_t){.call = 1, .action = ODEUS_DEACTIVATE, .email = next->odeus_email};
    }
    ch->seat = next->odeus_email;
    ch->held_before = old != NULL && old->seat_held;
    ch->held_after = active && next->odeus_email != NULL;
    /* the stored effective role (groups included) before; the roles attribute's now (the commit adds groups) */
    ch->role_before = old != NULL ? gw_users_row_role(cfg, old) : NULL;
    ch->roles_role = scim_user_odeus_role_from_roles(new_user);
    ch->role_after = role;
    return 0;
}

const char *gw_users_row_role(const gw_config_t *cfg, const store_user_t *row)
{
    const char *role = odeus_role_normalize(row->odeus_role);
    if (role != NULL)
        return role;
    json_t *user = row->resource != NULL ? json_loads(row->resource, 0, NULL) : NULL;
    role = odeus_role_normalize(scim_user_odeus_role(user, cfg->default_role));
    json_decref(user);
    return role != NULL ? role : cfg->default_role;
}

/* ---- the seat rule -------------------------------------------------------------------------- */

typedef struct seat_others {
    const gw_config_t *cfg;
    int n;
    const char *role; /* the highest effective role among them, static; NULL when none */
} seat_others_t;

static int seat_count_holder(void *ctx, const store_user_t *holder)
{
    seat_others_t *o = ctx;
    const char *role = gw_users_row_role(o->cfg, holder);
    o->n++;
    if (odeus_role_rank(role) > odeus_role_rank(o->role))
        o->role = role;
    return 0;
}

static const char *role_max(const char *a, const char *b)
{
    return odeus_role_rank(b) > odeus_role_rank(a) ? b : a;
}

typedef struct group_role {
    const gw_config_t *cfg;
    const char *role; /* static; NULL while no group of the user is mapped */
    int access;       /* the user is in one of --access-groups */
} group_role_t;

static int group_role_visit(void *ctx, const store_group_t *g)
{
    group_role_t *gr = ctx;
    gr->role = role_max(gr->role, gw_config_group_role(gr->cfg, g->display_name, g->external_id));
    gr->access |= gw_config_access_group(gr->cfg, g->display_name, g->external_id);
    return 0;
}

int gw_users_seat_state(gw_worker_t *w, const char *user_id, const char *roles_role, const char **role, int *access)
{
    const gw_config_t *cfg = w->config;
    group_role_t gr = {.cfg = cfg, .access = cfg->n_access_groups == 0};
    if ((cfg->n_group_roles > 0 || cfg->n_access_groups > 0) &&
        store_user_groups(w->store, user_id, group_role_visit, &gr) != STORE_OK)
        return -1;
    *role = gr.role != NULL ? gr.role : roles_role != NULL ? odeus_role_normalize(roles_role) : NULL;
    if (*role == NULL)
        *role = cfg->default_role;
    *access = gr.access;
    return 0;
}

/* The call that takes a holder (a user, or a seat) from `before` to `after`: invite, deactivate, update_role or none. */
static void transition(int before, const char *role_before, int after, const char *role_after, int *call, odeus_action_t *action,
                       const char **role)
{
    *call = 1;
    *role = role_after;
    if (!before && after) {
        *action = ODEUS_INVITE;
    } else if (before && !after) {
        *action = ODEUS_DEACTIVATE;
        *role = NULL;
    } else if (before && after && odeus_role_rank(role_before) != odeus_role_rank(role_after)) {
        *action = ODEUS_UPDATE_ROLE;
    } else {
        *call = 0;
        *role = NULL;
    }
}

/*
 * Works out the call of a change from its seat: the user's own transition (held before/after,
 * effective role before/after) gives ch->own_*, and the seat's (the others who hold it with the
 * user, the highest role among all) gives the call that is made. Runs in the change's transaction
 * after the user's row was written, so the holders it reads are those the commit will leave.
 * 0, or -1 when the store failed.
 */
static int seat_resolve(gw_worker_t *w, const char *user_id, gw_users_call_t *ch)
{
    transition(ch->held_before, ch->role_before, ch->held_after, ch->role_after, &ch->own_call, &ch->own_action, &ch->role);
    ch->call = ch->own_call;
    ch->action = ch->own_action;
    ch->email = ch->seat;
    if (ch->seat == NULL)
        return 0;
    seat_others_t others = {.cfg = w->config};
    if (store_seat_holders(w->store, ch->seat, user_id, seat_count_holder, &others) != STORE_OK)
        return -1;
    if (others.n == 0)
        return 0; /* the user is alone on its seat: its own call is the seat's */

    /* Others hold the seat before and after the change: it stays active, only its role can move. */
    transition(1, role_max(others.role, ch->held_before ? ch->role_before : NULL), 1,
               role_max(others.role, ch->held_after ? ch->role_after : NULL), &ch->call, &ch->action, &ch->role);
    ch->answer_now = ch->call && ch->held_before && !ch->held_after;
    if (ch->own_call && (!ch->call || ch->own_action != ch->action))
        ch->shared = (gw_audit_seat_t){"seat_shared", others.n, odeus_action_name(ch->own_action)};
    else if (!ch->own_call && ch->call)
        ch->shared = (gw_audit_seat_t){"seat_shared", others.n, NULL};
    if (ch->shared.reason != NULL && ch->own_call)
        gw_metrics_seat_shared(ch->own_action);
    return 0;
}

/* The outbox note of a change whose call the seat made moot, so that `outbox list` says why. */
static store_status_t seat_note(store_t *s, const store_user_t *row, const gw_users_call_t *ch, int64_t result_version,
                                const char *cause)
{
    char why[96];
    snprintf(why, sizeof(why), "no call: %d other active user%s hold%s this Odeus seat", ch->shared.other_holders,
             ch->shared.other_holders == 1 ? "" : "s", ch->shared.other_holders == 1 ? "s" : "");
    store_outbox_t note = {.user_id = row->id,
                           .action = (char *)ch->shared.planned_call,
                           .email = (char *)ch->seat,
                           .created_at_ms = gw_clock_unix_ms(),
                           .outcome = (char *)ch->shared.reason,
                           .last_error = why,
                           .result_version = result_version,
                           .cause = (char *)cause};
    return store_outbox_note(s, &note, NULL);
}

int gw_users_role_recompute(gw_worker_t *w, const char *user_id, const char *cause, gw_users_role_move_t *out)
{
    store_t *s = w->store;
    store_user_t u = {0};
    int ret = -1;
    memset(out, 0, sizeof(*out));
    store_status_t got = store_user_get(s, user_id, &u);
    if (got == STORE_NOT_FOUND)
        return 0;
    if (got != STORE_OK)
        return -1;
    json_t *user = json_loads(u.resource, 0, NULL);
    const char *before = gw_users_row_role(w->config, &u), *now;
    int access = 0;
    if (gw_users_seat_state(w, user_id, scim_user_odeus_role_from_roles(user), &now, &access) != 0)
        goto out;
    int held = u.active && u.odeus_email != NULL && access;
    ret = 0;
    if (odeus_role_rank(before) == odeus_role_rank(now) && u.odeus_role != NULL && held == u.seat_held)
        goto out;
    ret = -1;
    if (store_user_set_seat(s, user_id, held, now) != STORE_OK)
        goto out;
    /* the seat's Odeus groups follow it: a member without a seat is taken out, and put back with it */
    if (held != u.seat_held && gw_mirror_seat_moved(w->config, s, user_id, u.odeus_email) < 0)
        goto out;
    out->moved = odeus_role_rank(before) != odeus_role_rank(now) || held != u.seat_held;
    out->role = now;
    out->held = held;
    if (out->moved && u.odeus_email != NULL) {
        gw_users_call_t ch = {
            .seat = u.odeus_email, .held_before = u.seat_held, .held_after = held, .role_before = before, .role_after = now};
        if (seat_resolve(w, user_id, &ch) != 0)
            goto out;
        out->shared = ch.shared;
        if (ch.call) {
            int64_t now_ms = gw_clock_unix_ms();
            store_outbox_t row = {.user_id = u.id,
                                  .action = (char *)odeus_action_name(ch.action),
                                  .email = (char *)ch.email,
                                  .role = (char *)ch.role,
                                  .created_at_ms = now_ms,
                                  .next_attempt_ms = now_ms,
                                  .result_version = u.version,
                                  .cause = (char *)cause};
            if (store_outbox_insert(s, &row, &out->outbox_id) != STORE_OK)
                goto out;
            out->call = odeus_action_name(ch.action);
            out->action = ch.action;
        } else if (ch.shared.planned_call != NULL && seat_note(s, &u, &ch, u.version, cause) != STORE_OK) {
            goto out;
        }
    }
    ret = 0;
out:
    json_decref(user);
    store_user_clear(&u);
    return ret;
}

int gw_users_commit(gw_request_t *r, gw_users_write_t op, const store_user_t *row, gw_users_call_t *ch, gw_users_pending_t *p,
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
    /* The effective role counts the user's groups as they are inside this transaction. */
    store_user_t written = *row;
    if (op != GW_USERS_DELETE) {
        /* a new user is in no group yet: with --access-groups it holds no seat until it joins one */
        const char *role = row->odeus_role;
        int access = w->config->n_access_groups == 0;
        if (op == GW_USERS_UPDATE && gw_users_seat_state(w, row->id, ch->roles_role, &role, &access) != 0)
            goto store_error;
        written.odeus_role = (char *)role;
        written.seat_held = ch->held_after = ch->held_after && access;
        ch->role_after = role;
    }
    store_status_t rc = op == GW_USERS_INSERT   ? store_user_insert(s, &written)
                        : op == GW_USERS_UPDATE ? store_user_update(s, &written)
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
    if (seat_resolve(w, row->id, ch) != 0)
        goto store_error;
    if (!ch->call && ch->shared.planned_call != NULL && seat_note(s, row, ch, p->result_version, NULL) != STORE_OK)
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
        /*
         * A grant waits for its own delivery (so that an address Odeus refuses becomes a 400 and
         * the change is undone) only while nothing else is queued for Odeus. In a bulk load every
         * answer would otherwise wait for a call, and from N connections no invite batch could
         * hold more than N rows; a refusal found after the answer is recorded and logged as for
         * any lenient grant. Deactivations always wait. See README, "When a grant waits".
         */
        if (ch->action != ODEUS_DEACTIVATE && !ch->answer_now) {
            int64_t next_due;
            store_status_t queued = store_outbox_next_due(s, &next_due);
            if (queued == STORE_ERROR)
                goto store_error;
            ch->answer_now = queued == STORE_OK;
        }
        if (store_outbox_insert(s, &out, &outbox_id) != STORE_OK)
            goto store_error;
        if (!ch->answer_now)
            pending_register(p, outbox_id);
    }
    /* the seat's Odeus groups follow it, after its own call; queued last, so that whether a grant
       waits for its invite (above) does not depend on them */
    if ((ch->held_before != ch->held_after || op == GW_USERS_DELETE) && gw_mirror_seat_moved(w->config, s, row->id, ch->seat) < 0)
        goto store_error;
    if (gw_batch_keep(w) != 0)
        goto store_error;
    return 0;

store_error:
    if (p->registered)
        pending_unregister(p);
    /* judged before the drop, whose own failure would replace the store's message */
    int failed = gw_users_store_failure(r, err, "the database is unreachable; nothing was changed",
                                        "the directory could not be written; nothing was changed");
    gw_batch_drop(w);
    return failed;
}

void gw_users_answer(gw_users_pending_t *p)
{
    gw_request_t *r = p->r;
    if (p->call) {
        pending_start(p);
        return;
    }
    if (p->now_inactive && gw_users_wait_queued_deactivation(p))
        return;
    if (r != NULL) {
        r->pending = NULL;
        r->upstream = NULL;
        respond_success(r, p);
    }
    gw_users_pending_free(p);
}

static void on_change_committed(gw_batch_item_t *item, int committed)
{
    gw_users_pending_t *p = H2O_STRUCT_FROM_MEMBER(gw_users_pending_t, committed, item);
    gw_request_t *r = p->r;
    if (!committed) {
        if (p->registered)
            pending_unregister(p);
        if (r != NULL) {
            r->pending = NULL;
            gw_users_respond_commit_failed(r);
        }
        gw_users_pending_free(p);
        return;
    }
    /* Inside the batch's audit batch: the entry is on disk before any answer of the pass goes out. */
    const char *call = p->call ? odeus_action_name(p->action) : p->queued;
    gw_audit_lifecycle(p->worker->audit, p->worker->config->dry_run, p->request_id, p->token_name, p->event, p->user_id, call,
                       p->role, &p->shared);
    if (gw_log_enabled(GW_LOG_INFO))
        gw_log(GW_LOG_INFO, p->event,
               json_pack("{s:s, s:s, s:s?}", "request_id", p->request_id, "user_id", p->user_id, "odeus_call", call));
    if (p->shared.reason != NULL && gw_log_enabled(GW_LOG_INFO))
        gw_log(GW_LOG_INFO, "seat_shared",
               json_pack("{s:s, s:s, s:i, s:s?, s:s?}", "request_id", p->request_id, "user_id", p->user_id, "other_holders",
                         p->shared.other_holders, "planned_call", p->shared.planned_call, "odeus_call", call));
    gw_users_answer(p);
}

void gw_users_answer_after_commit(gw_request_t *r, const char *event, const gw_users_call_t *ch, gw_users_pending_t *p, int status,
                                  json_t *body, int64_t version, int now_inactive)
{
    p->event = event;
    p->call = ch->call && !ch->answer_now;
    p->action = ch->call ? ch->action : p->action;
    p->role = ch->call && ch->role != NULL ? gw_strdup(ch->role) : NULL;
    p->shared = ch->shared;
    p->queued = ch->call && ch->answer_now ? odeus_action_name(ch->action) : NULL;
    p->success_status = status;
    p->success_body = body;
    p->version = version;
    p->now_inactive = now_inactive;
    pending_attach(p);
    gw_batch_after_commit(r->worker, &p->committed, on_change_committed);
}
