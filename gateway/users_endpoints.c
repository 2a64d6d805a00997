#include "gateway/users_endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/uuid.h"
#include "gateway/config.h"
#include "gateway/request.h"
#include "gateway/users_lifecycle.h"
#include "gateway/users_render.h"
#include "scim/patch.h"
#include "scim/select.h"
#include "scim/user.h"
#include "store/store.h"

/*
 * If-Match (RFC 7644 §3.14) on PUT, PATCH and DELETE: returns the version the request may change,
 * 0 when it sent no If-Match, or -1 after answering 412 because the stored version differs.
 */
static int64_t check_if_match(gw_request_t *r, const store_user_t *row)
{
    const char *h = gw_request_header(r, H2O_TOKEN_IF_MATCH);
    if (h == NULL)
        return 0;
    if (!scim_etag_matches(h, strlen(h), row->version)) {
        gw_users_set_etag(r, row->version);
        gw_respond_errorf(r, 412, NULL, "the User was changed since that version (If-Match: %.40s); read it again", h);
        return -1;
    }
    return row->version;
}

void gw_users_create(gw_request_t *r)
{
    const gw_config_t *cfg = r->worker->config;
    scim_error_t err = {0};
    json_t *body = NULL, *user = NULL, *rendered = NULL;
    char *resource = NULL, *location = NULL, *stored_text = NULL;
    gw_users_pending_t *p = NULL;
    const char *emails[SCIM_USER_MAX_EMAILS];
    char id[GW_UUID_LEN], now[GW_RFC3339_LEN];
    gw_users_call_t ch;

    scim_select_t *sel = gw_request_select(r, &err);
    if (sel == NULL || (body = gw_request_body_json(r, &err)) == NULL || (user = scim_user_parse(body, &err)) == NULL)
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
    if (gw_users_plan(cfg, NULL, NULL, user, &row, &ch, &err) != 0)
        goto fail;
    resource = gw_json_dumps(user, NULL);
    location = gw_users_location(r, id);
    p = gw_users_pending_new(r, ch.action, id);
    row.resource = resource;
    row.rendered = stored_text = scim_user_render_text(user, id); /* NULL: readers render from resource */
    gw_users_row_set_emails(&row, user, emails);
    scim_user_meta_t meta = {.id = id, .created = now, .last_modified = now, .location = location, .version = 1};
    if (gw_users_pending_answer_text(p, sel, stored_text, &meta) != 0) {
        rendered = scim_user_render(user, &meta);
        scim_select_apply(sel, rendered);
    }
    p->revertible = 1;
    p->result_version = 1;
    if (gw_users_commit(r, GW_USERS_INSERT, &row, &ch, p, 0, 0, &err) != 0)
        goto fail;
    p->location = location;
    location = NULL;
    gw_users_answer_after_commit(r, "user_created", &ch, p, 201, rendered, 1, 0);
    p = NULL;
    rendered = NULL;
fail:
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        gw_users_pending_free(p);
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
    scim_select_t *sel = gw_request_select(r, &err);
    if (sel == NULL) {
        gw_respond_error(r, &err);
        return;
    }
    store_status_t rc = store_user_get(r->worker->store, id, &row);
    json_t *rendered = NULL;
    const char *inm;
    if (rc == STORE_NOT_FOUND) {
        gw_users_respond_not_found(r, id);
    } else if (rc == STORE_OK && (inm = gw_request_header(r, H2O_TOKEN_IF_NONE_MATCH)) != NULL &&
               scim_etag_matches(inm, strlen(inm), row.version)) {
        /* RFC 7644 §3.14, RFC 7232 §4.1: the client's copy is current; no body. */
        gw_users_set_etag(r, row.version);
        gw_respond_empty(r, 304);
    } else if (rc == STORE_OK && scim_select_is_identity(sel)) {
        /* Nothing to trim: the stored rendering with meta spliced in, no JSON tree. */
        gw_json_buf_t text = {0};
        gw_users_loc_t loc;
        gw_users_loc_init(&loc, r);
        if (gw_users_append_row_text(r, &loc, &row, &text) != 0) {
            gw_users_respond_store_error(r);
        } else {
            gw_users_set_etag(r, row.version);
            gw_respond_json_text(r, 200, text.p, text.len);
        }
        gw_users_loc_free(&loc);
        gw_json_buf_free(&text);
    } else if (rc != STORE_OK || (rendered = gw_users_render_row(r, &row)) == NULL) {
        gw_users_respond_store_error(r);
    } else {
        scim_select_apply(sel, rendered);
        gw_users_set_etag(r, row.version);
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
    const char *emails[SCIM_USER_MAX_EMAILS];
    char *resource = NULL, *stored_text = NULL, *location = gw_users_location(r, old->id);
    json_t *rendered = NULL;
    gw_users_pending_t *p = gw_users_pending_new(r, ODEUS_DEACTIVATE, old->id);
    gw_users_call_t ch = {0};

    if (json_equal(old_user, new_user)) {
        json_t *current = gw_users_render_row(r, old);
        if (current == NULL) {
            scim_error_set(&err, 500, NULL, "the stored user cannot be read");
            goto out;
        }
        scim_select_apply(sel, current);
        p->success_status = 200;
        p->success_body = current;
        p->version = old->version;
        p->now_inactive = !old->active;
        gw_users_answer(p);
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
    if (gw_users_plan(cfg, old, old_user, new_user, &row, &ch, &err) != 0)
        goto out;
    resource = gw_json_dumps(new_user, NULL);
    if ((p->snapshot = gw_users_snapshot_encode(old)) == NULL) {
        scim_error_set(&err, 500, NULL, "the stored user cannot be read");
        goto out;
    }
    row.resource = resource;
    row.rendered = stored_text = scim_user_render_text(new_user, old->id); /* NULL: readers render from resource */
    gw_users_row_set_emails(&row, new_user, emails);
    scim_user_meta_t meta = {
        .id = old->id, .created = old->created, .last_modified = now, .location = location, .version = row.version};
    if (gw_users_pending_answer_text(p, sel, stored_text, &meta) != 0) {
        rendered = scim_user_render(new_user, &meta);
        scim_select_apply(sel, rendered);
    }
    p->action = ch.action;
    p->revertible = 1;
    p->result_version = row.version;
    int committed = gw_users_commit(r, GW_USERS_UPDATE, &row, &ch, p, if_version, old->version, &err);
    if (committed != 0) {
        stale = committed == 1;
        goto out;
    }
    /* named for the user's own change: the seat rule may have turned its call into another or none */
    const char *event = !ch.own_call                        ? "user_updated"
                        : ch.own_action == ODEUS_DEACTIVATE ? "user_deactivated"
                        : ch.own_action == ODEUS_INVITE     ? "user_activated"
                                                            : "user_role_changed";
    gw_users_answer_after_commit(r, event, &ch, p, 200, rendered, row.version, !row.active);
    p = NULL;
    rendered = NULL;
out:
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        gw_users_pending_free(p);
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
        gw_users_respond_not_found(r, id);
        return -1;
    }
    if (rc != STORE_OK || (*user = json_loads(row->resource, 0, NULL)) == NULL) {
        store_user_clear(row);
        gw_users_respond_store_error(r);
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
    if ((*sel = gw_request_select(r, &err)) == NULL) {
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

/*
 * Access is never granted by omission: a PUT that leaves out "active", or a PATCH that removes it
 * (remove, replace with null, a path-less {"active": null}), keeps the current value instead of
 * the SCIM default (true), which would re-invite a deprovisioned user.
 */
static void keep_active_when_absent(json_t *new_user, const store_user_t *old)
{
    if (json_object_get(new_user, "active") == NULL)
        json_object_set_new(new_user, "active", json_boolean(old->active));
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
    if ((body = gw_request_body_json(r, &err)) == NULL || (new_user = scim_user_parse(body, &err)) == NULL) {
        gw_respond_error(r, &err);
        goto out;
    }
    keep_active_when_absent(new_user, &old);
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
    if ((body = gw_request_body_json(r, &err)) == NULL)
        goto fail;
    patched = json_deep_copy(old_user);
    if (scim_patch_apply(patched, body, &err) != 0 || (new_user = scim_user_parse(patched, &err)) == NULL)
        goto fail;
    keep_active_when_absent(new_user, &old);
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
    gw_users_pending_t *p = gw_users_pending_new(r, ODEUS_DEACTIVATE, id);
    store_status_t rc = store_user_get(r->worker->store, id, &old);
    if (rc == STORE_NOT_FOUND) {
        /* A retried DELETE whose deactivation is still queued gets the truth, not a 404. */
        p->success_status = 204;
        if (!gw_users_wait_queued_deactivation(p)) {
            gw_users_respond_not_found(r, id);
            gw_users_pending_free(p);
        }
        return 0;
    }
    if (rc != STORE_OK) {
        gw_users_pending_free(p);
        gw_users_respond_store_error(r);
        return 0;
    }
    int64_t if_version = check_if_match(r, &old);
    if (if_version < 0) {
        gw_users_pending_free(p);
        store_user_clear(&old);
        return 0;
    }
    gw_users_call_t ch = {0};
    if (old.active && old.odeus_email != NULL)
        ch = (gw_users_call_t){.call = 1, .action = ODEUS_DEACTIVATE, .email = old.odeus_email};
    ch.seat = old.odeus_email;
    ch.held_before = old.seat_held;
    ch.role_before = ch.held_before ? gw_users_row_role(r->worker->config, &old) : NULL;
    p->revertible = 1;
    p->result_version = 0;
    if ((p->snapshot = gw_users_snapshot_encode(&old)) == NULL) {
        scim_error_set(&err, 500, NULL, "the stored user cannot be read");
    } else if ((stale = gw_users_commit(r, GW_USERS_DELETE, &old, &ch, p, if_version, old.version, &err)) == 0) {
        gw_users_answer_after_commit(r, "user_deleted", &ch, p, 204, NULL, 0, 1);
        p = NULL;
    }
    if (err.status != 0)
        gw_respond_error(r, &err);
    if (p != NULL)
        gw_users_pending_free(p);
    store_user_clear(&old);
    return stale == 1;
}

void gw_users_delete(gw_request_t *r, const char *id)
{
    run_on_current_state(r, id, delete_once);
}
