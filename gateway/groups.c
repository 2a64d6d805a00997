#include "gateway/groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/uuid.h"
#include "gateway/audit.h"
#include "gateway/batch.h"
#include "gateway/config.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "gateway/outbox.h"
#include "gateway/request.h"
#include "gateway/users_lifecycle.h"
#include "gateway/users_list.h"
#include "gateway/users_render.h"
#include "gateway/worker.h"
#include "scim/filter.h"
#include "scim/group.h"
#include "scim/list.h"
#include "scim/select.h"
#include "scim/sort.h"
#include "scim/user.h"
#include "store/store.h"

/* ---- rendering ------------------------------------------------------------------------------- */

static char *group_location(gw_request_t *r, const char *id)
{
    size_t len = strlen(r->base_url) + strlen("/Groups/") + strlen(id) + 1;
    char *loc = gw_malloc(len);
    snprintf(loc, len, "%s/Groups/%s", r->base_url, id);
    return loc;
}

typedef struct members_ctx {
    gw_request_t *r;
    json_t *members;
} members_ctx_t;

static int add_member_json(void *arg, const char *user_id, const char *user_name)
{
    members_ctx_t *mc = arg;
    char *ref = gw_users_location(mc->r, user_id);
    json_array_append_new(mc->members,
                          json_pack("{s:s, s:s, s:s, s:s}", "value", user_id, "display", user_name, "$ref", ref, "type", "User"));
    free(ref);
    return 0;
}

/* The members attribute of group `id` (the caller's), or NULL on a store failure. */
static json_t *render_members(gw_request_t *r, const char *id)
{
    members_ctx_t mc = {.r = r, .members = json_array()};
    if (store_group_members(r->worker->store, id, add_member_json, &mc) != STORE_OK) {
        json_decref(mc.members);
        return NULL;
    }
    return mc.members;
}

/*
 * The rendered group of a stored row (the caller's). `with_members` 0 leaves "members" out without
 * reading them (excludedAttributes=members: Entra's look-ups of large groups). NULL when the row is
 * unreadable or the store failed.
 */
static json_t *render_group(gw_request_t *r, const store_group_t *row, int with_members)
{
    json_t *group = json_loads(row->resource, 0, NULL), *members = NULL, *out = NULL;
    char *loc = group_location(r, row->id);
    if (group != NULL && (!with_members || (members = render_members(r, row->id)) != NULL)) {
        scim_group_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        out = scim_group_render(group, &meta, members);
    }
    json_decref(group);
    free(loc);
    return out;
}

/* Whether an answer trimmed by `sel` still shows "members": if not, they are not read at all. */
static int wants_members(const scim_select_t *sel)
{
    return scim_select_returns(sel, "members");
}

/* The attributes / excludedAttributes of the query string, for groups. NULL with `err` set. */
static scim_select_t *group_select(gw_request_t *r, scim_error_t *err)
{
    const char *query;
    size_t len;
    scim_list_params_t params;
    scim_select_t *sel = NULL;
    gw_request_query(r, &query, &len);
    if (scim_list_params_parse(query, len, &params, err) == 0)
        sel = scim_select_parse_resource(SCIM_RESOURCE_GROUP, params.attributes, params.excluded_attributes, err);
    scim_list_params_clear(&params);
    return sel;
}

typedef struct members_text {
    gw_json_buf_t *b;
    size_t n;
    char *loc; /* base_url + "/Users/", then each id: one buffer for every $ref */
    size_t prefix, cap;
} members_text_t;

static int add_member_text(void *arg, const char *user_id, const char *user_name)
{
    members_text_t *mt = arg;
    size_t id_len = strlen(user_id);
    if (mt->prefix + id_len + 1 > mt->cap) {
        mt->cap = mt->prefix + id_len + 1;
        mt->loc = gw_realloc(mt->loc, mt->cap);
    }
    memcpy(mt->loc + mt->prefix, user_id, id_len + 1);
    if (mt->n++ > 0)
        gw_json_buf_put(mt->b, ",", 1);
    gw_json_buf_put(mt->b, "{\"value\":", 9);
    gw_json_buf_string(mt->b, user_id, id_len);
    gw_json_buf_put(mt->b, ",\"display\":", 11);
    gw_json_buf_string(mt->b, user_name, strlen(user_name));
    gw_json_buf_put(mt->b, ",\"$ref\":", 8);
    gw_json_buf_string(mt->b, mt->loc, mt->prefix + id_len);
    gw_json_buf_put(mt->b, ",\"type\":\"User\"}", 15);
    return 0;
}

/*
 * A whole group as JSON text without a JSON tree per member: the rendering without members, with
 * the member list written as text before its "meta" (the last member of every rendering; a string
 * value cannot hold `,"meta":{` unescaped). A 10,000-member group is read member by member once.
 * Malloc'd text (its length in *len), or NULL on a store failure.
 */
static char *render_group_text(gw_request_t *r, const store_group_t *row, size_t *len)
{
    json_t *head = render_group(r, row, 0);
    size_t head_len = 0;
    char *head_text = head != NULL ? gw_json_dumps(head, &head_len) : NULL;
    json_decref(head);
    const char *meta = NULL;
    for (const char *p = head_text; p != NULL && (p = strstr(p, ",\"meta\":{")) != NULL; p++)
        meta = p;
    if (meta == NULL) {
        free(head_text);
        return NULL;
    }
    gw_json_buf_t b = {0}, members = {0};
    members_text_t mt = {.b = &members};
    mt.prefix = strlen(r->base_url) + strlen("/Users/");
    mt.cap = mt.prefix + 64;
    mt.loc = gw_malloc(mt.cap);
    snprintf(mt.loc, mt.cap, "%s/Users/", r->base_url);
    store_status_t rc = store_group_members(r->worker->store, row->id, add_member_text, &mt);
    gw_json_buf_put(&b, head_text, (size_t)(meta - head_text));
    if (mt.n > 0) { /* as scim_group_render: a group without members has no "members" */
        size_t members_len = 0;
        char *members_text = gw_json_buf_take(&members, &members_len);
        gw_json_buf_put(&b, ",\"members\":[", 12);
        gw_json_buf_put(&b, members_text, members_len);
        gw_json_buf_put(&b, "]", 1);
        free(members_text);
    }
    gw_json_buf_put(&b, meta, head_len - (size_t)(meta - head_text));
    gw_json_buf_free(&members);
    free(mt.loc);
    free(head_text);
    if (rc != STORE_OK) {
        gw_json_buf_free(&b);
        return NULL;
    }
    return gw_json_buf_take(&b, len);
}

static void respond_group(gw_request_t *r, int status, const store_group_t *row, const scim_select_t *sel)
{
    if (scim_select_is_identity(sel)) {
        size_t len = 0;
        char *text = render_group_text(r, row, &len);
        if (text == NULL) {
            gw_users_respond_store_error(r);
            return;
        }
        gw_users_set_etag(r, row->version);
        gw_respond_json_text(r, status, text, len);
        free(text);
        return;
    }
    json_t *out = render_group(r, row, wants_members(sel));
    if (out == NULL) {
        gw_users_respond_store_error(r);
        return;
    }
    scim_select_apply(sel, out);
    gw_users_set_etag(r, row->version);
    gw_respond_json(r, status, out);
}

static void respond_not_found(gw_request_t *r, const char *id)
{
    gw_respond_errorf(r, 404, NULL, "no Group with id %.64s", id);
}

/* ---- a change on its way to its answer -------------------------------------------------------- */

/* One member whose role the change moved, for the audit log after the commit. */
typedef struct role_moved {
    char *user_id;
    gw_users_role_move_t move;
} role_moved_t;

/*
 * A group change between its commit and its answer. Malloc'd: it outlives the request when the
 * client goes away (the audit entries are still written); freed by on_committed.
 */
typedef struct group_change {
    gw_batch_item_t committed;
    gw_worker_t *worker;
    gw_request_t *r; /* NULL once the request went away */
    char request_id[32];
    const char *token_name;
    const char *event; /* static: group_created, group_updated, group_deleted */
    char *group_id;
    /* the answer */
    int status;
    json_t *body; /* NULL for 204 */
    char *location;
    int64_t version;
    /* what it did */
    size_t added, removed, unknown, nested;
    role_moved_t *roles;
    size_t n_roles, cap_roles;
    int64_t *deactivations; /* outbox rows of the deactivations it queued (access groups), for the guard */
    size_t n_deactivations, cap_deactivations;
    int held;     /* the guard held them */
    int mirrored; /* it queued calls of the Odeus group mirror: the delivery thread is told at the commit */
} group_change_t;

static group_change_t *change_new(gw_request_t *r, const char *event, const char *group_id)
{
    group_change_t *c = gw_calloc(1, sizeof(*c));
    c->worker = r->worker;
    c->r = r;
    snprintf(c->request_id, sizeof(c->request_id), "%s", r->request_id);
    c->token_name = r->token_name;
    c->event = event;
    c->group_id = gw_strdup(group_id);
    return c;
}

static void change_free(group_change_t *c)
{
    for (size_t i = 0; i < c->n_roles; i++)
        free(c->roles[i].user_id);
    free(c->roles);
    free(c->deactivations);
    json_decref(c->body);
    free(c->location);
    free(c->group_id);
    free(c);
}

static void on_request_dispose(gw_request_t *r)
{
    group_change_t *c = r->pending;
    if (c != NULL)
        c->r = NULL;
}

static void audit_change(group_change_t *c)
{
    gw_worker_t *w = c->worker;
    json_t *f = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I, s:I}", "request_id", c->request_id, "token", c->token_name, "group_id",
                          c->group_id, "members_added", (json_int_t)c->added, "members_removed", (json_int_t)c->removed,
                          "members_unknown", (json_int_t)c->unknown, "members_nested", (json_int_t)c->nested);
    if (c->held)
        json_object_set_new(f, "deactivations_held", json_integer((json_int_t)c->n_deactivations));
    if (w->config->dry_run)
        json_object_set_new(f, "dry_run", json_true());
    if (c->mirrored)
        json_object_set_new(f, "odeus_group_mirror", json_true()); /* its Odeus group follows through the outbox */
    gw_audit_append(w->audit, c->event, json_incref(f));
    if (gw_log_enabled(GW_LOG_INFO))
        gw_log(GW_LOG_INFO, c->event, json_incref(f));
    json_decref(f);
    for (size_t i = 0; i < c->n_roles; i++) {
        const role_moved_t *m = &c->roles[i];
        json_t *rf = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s?}", "request_id", c->request_id, "token", c->token_name, "user_id",
                               m->user_id, "role", m->move.role, "cause_group", c->group_id, "odeus_call", m->move.call);
        if (m->move.shared.reason != NULL) {
            json_object_set_new(rf, "seat", json_string(m->move.shared.reason));
            json_object_set_new(rf, "seat_other_holders", json_integer(m->move.shared.other_holders));
        }
        gw_audit_append(w->audit, "user_role_changed", json_incref(rf));
        if (gw_log_enabled(GW_LOG_INFO))
            gw_log(GW_LOG_INFO, "user_role_changed", json_incref(rf));
        json_decref(rf);
    }
}

static void on_committed(gw_batch_item_t *item, int committed)
{
    group_change_t *c = H2O_STRUCT_FROM_MEMBER(group_change_t, committed, item);
    gw_request_t *r = c->r;
    if (r != NULL)
        r->pending = NULL;
    if (!committed) {
        if (r != NULL)
            gw_users_respond_commit_failed(r);
        change_free(c);
        return;
    }
    audit_change(c);
    if (c->mirrored)
        gw_outbox_kick(c->worker->outbox);
    if (r != NULL) {
        if (c->location != NULL)
            gw_respond_header(r, H2O_TOKEN_LOCATION, c->location);
        if (c->status != 204)
            gw_users_set_etag(r, c->version);
        if (c->body != NULL) {
            json_t *body = c->body;
            c->body = NULL;
            gw_respond_json(r, c->status, body);
        } else {
            gw_respond_empty(r, c->status);
        }
    }
    change_free(c);
}

/* After gw_batch_keep: the answer and the audit entries follow the commit. Takes `c`. */
static void change_after_commit(gw_request_t *r, group_change_t *c)
{
    r->pending = c;
    r->on_dispose = on_request_dispose;
    gw_batch_after_commit(r->worker, &c->committed, on_committed);
}

/* ---- membership and roles inside the transaction ---------------------------------------------- */

/* Works out the role of member `user_id` again (the group it is in or left is mapped). 0 or -1. */
static int recompute_role(group_change_t *c, const char *user_id)
{
    gw_users_role_move_t move;
    char cause[64];
    snprintf(cause, sizeof(cause), "group %.48s", c->group_id);
    if (gw_users_role_recompute(c->worker, user_id, cause, &move) != 0)
        return -1;
    if (!move.moved)
        return 0;
    if (move.call != NULL && move.action == ODEUS_DEACTIVATE) {
        if (c->n_deactivations == c->cap_deactivations) {
            c->cap_deactivations = c->cap_deactivations != 0 ? c->cap_deactivations * 2 : 16;
            c->deactivations = gw_realloc(c->deactivations, c->cap_deactivations * sizeof(*c->deactivations));
        }
        c->deactivations[c->n_deactivations++] = move.outbox_id;
    }
    if (c->n_roles == c->cap_roles) {
        c->cap_roles = c->cap_roles != 0 ? c->cap_roles * 2 : 8;
        c->roles = gw_realloc(c->roles, c->cap_roles * sizeof(*c->roles));
    }
    c->roles[c->n_roles++] = (role_moved_t){.user_id = gw_strdup(user_id), .move = move};
    return 0;
}

/*
 * A member the IdP named that cannot be one: no such user, or a group (nested groups are not
 * supported). Never fails the request: logged and counted, no Odeus call.
 */
static void skip_member(group_change_t *c, const char *member, int nested)
{
    if (nested)
        c->nested++;
    else
        c->unknown++;
    gw_metrics_group_member_skipped(nested);
    gw_log(GW_LOG_WARN, nested ? "group_member_nested" : "group_member_unknown",
           json_pack("{s:s, s:s, s:s}", "request_id", c->request_id, "group_id", c->group_id, "member", member));
}

/* Adds the members of `m`; each one added has its role worked out again when `mapped`. 0 or -1 (store). */
static int add_members(group_change_t *c, const scim_group_members_t *m, int mapped)
{
    store_t *s = c->worker->store;
    for (size_t i = 0; i < m->n; i++) {
        int added = 0;
        if (m->is_group[i]) {
            skip_member(c, m->ids[i], 1);
            continue;
        }
        store_status_t rc = store_group_member_add(s, c->group_id, m->ids[i], &added);
        if (rc == STORE_NOT_FOUND) {
            int64_t v;
            store_status_t is_group = store_group_version(s, m->ids[i], &v);
            if (is_group == STORE_ERROR)
                return -1;
            skip_member(c, m->ids[i], is_group == STORE_OK);
            continue;
        }
        if (rc != STORE_OK)
            return -1;
        c->added += added;
        if (added && mapped && recompute_role(c, m->ids[i]) != 0)
            return -1;
    }
    return 0;
}

typedef struct id_list {
    char **ids;
    size_t n, cap;
} id_list_t;

static int collect_member_id(void *arg, const char *user_id, const char *user_name);

/* Removes the members of `m`; those who were members go to `former` (their roles are worked out at the end). 0 or -1. */
static int remove_members(group_change_t *c, const scim_group_members_t *m, id_list_t *former)
{
    for (size_t i = 0; i < m->n; i++) {
        int removed = 0;
        if (store_group_member_remove(c->worker->store, c->group_id, m->ids[i], &removed) != STORE_OK)
            return -1;
        c->removed += removed;
        if (removed)
            collect_member_id(former, m->ids[i], NULL);
    }
    return 0;
}

static int collect_member_id(void *arg, const char *user_id, const char *user_name)
{
    (void)user_name;
    id_list_t *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap != 0 ? l->cap * 2 : 16;
        l->ids = gw_realloc(l->ids, l->cap * sizeof(*l->ids));
    }
    l->ids[l->n++] = gw_strdup(user_id);
    return 0;
}

static void id_list_free(id_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
}

/* Ends every membership of the group; the members it had go to `former`. 0 or -1. */
static int clear_members(group_change_t *c, id_list_t *former)
{
    store_t *s = c->worker->store;
    if (store_group_members(s, c->group_id, collect_member_id, former) != STORE_OK)
        return -1;
    if (store_group_members_clear(s, c->group_id) != STORE_OK)
        return -1;
    c->removed += former->n;
    return 0;
}

/*
 * Works out again the roles of the members who left the group (`former`; one added back keeps its
 * role, which is then no move) and, with `all_members` (the role the group maps to changed with a
 * rename), of every member it has now. 0 or -1.
 */
static int recompute_after(group_change_t *c, const id_list_t *former, int all_members)
{
    id_list_t now = {0};
    int ret = -1;
    if (all_members && store_group_members(c->worker->store, c->group_id, collect_member_id, &now) != STORE_OK)
        goto out;
    for (size_t i = 0; i < former->n; i++)
        if (recompute_role(c, former->ids[i]) != 0)
            goto out;
    for (size_t i = 0; i < now.n; i++)
        if (recompute_role(c, now.ids[i]) != 0)
            goto out;
    ret = 0;
out:
    id_list_free(&now);
    return ret;
}

/* Counts a re-added former member as neither removed nor added. */
static void net_readded(group_change_t *c, const id_list_t *former, const scim_group_members_t *adds)
{
    for (size_t i = 0; i < adds->n; i++)
        for (size_t j = 0; j < former->n; j++)
            if (strcmp(adds->ids[i], former->ids[j]) == 0 && c->removed > 0 && c->added > 0) {
                c->removed--;
                c->added--;
                break;
            }
}

/*
 * The guard against mass loss (--deactivation-guard): a request that would deactivate more users
 * than it allows commits its directory change, but its deactivations are held in the outbox until
 * an operator releases (`outbox release`) or drops them. 0, or -1 when the store failed.
 */
static int guard_deactivations(group_change_t *c)
{
    unsigned guard = c->worker->config->deactivation_guard;
    if (guard == 0 || c->n_deactivations <= guard)
        return 0;
    char why[160];
    snprintf(why, sizeof(why), "held by the deactivation guard: one request would deactivate %zu users (more than %u)",
             c->n_deactivations, guard);
    if (store_outbox_hold(c->worker->store, c->deactivations, c->n_deactivations, why) != STORE_OK)
        return -1;
    c->held = 1;
    gw_log(GW_LOG_ERROR, "deactivations_held",
           json_pack("{s:s, s:s, s:I, s:I, s:s}", "request_id", c->request_id, "group_id", c->group_id, "deactivations",
                     (json_int_t)c->n_deactivations, "guard", (json_int_t)guard, "release",
                     "odeus-scim-gateway outbox release --all"));
    return 0;
}

/* Whether a group with this name and externalId decides anything about its members' seats: a role, or access. */
static int group_matters(const gw_config_t *cfg, const char *name, const char *external_id)
{
    return gw_config_group_role(cfg, name, external_id) != NULL || gw_config_access_group(cfg, name, external_id);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void respond_store_failure(gw_request_t *r)
{
    gw_users_respond_store_error(r); /* before the drop, whose own failure would replace the store's message */
    gw_batch_drop(r->worker);
}

static int64_t group_if_match(gw_request_t *r, const store_group_t *row)
{
    const char *h = gw_request_header(r, H2O_TOKEN_IF_MATCH);
    if (h == NULL)
        return 0;
    if (!scim_etag_matches(h, strlen(h), row->version)) {
        gw_users_set_etag(r, row->version);
        gw_respond_errorf(r, 412, NULL, "the Group was changed since that version (If-Match: %.40s); read it again", h);
        return -1;
    }
    return row->version;
}

void gw_groups_create(gw_request_t *r)
{
    gw_worker_t *w = r->worker;
    scim_error_t err = {0};
    json_t *body = NULL, *group = NULL;
    char *resource = NULL;
    scim_group_members_t members = {0};
    group_change_t *c = NULL;
    char id[GW_UUID_LEN], now[GW_RFC3339_LEN];

    scim_select_t *sel = group_select(r, &err);
    if (sel == NULL || (body = gw_request_body_json(r, &err)) == NULL || (group = scim_group_parse(body, &err, &members)) == NULL)
        goto fail;
    if (gw_uuid_v4(id) != 0) {
        scim_error_set(&err, 500, NULL, "no random source for the group id");
        goto fail;
    }
    gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
    resource = gw_json_dumps(group, NULL);
    store_group_t row = {.id = id,
                         .display_name = (char *)scim_group_display_name(group),
                         .external_id = (char *)scim_group_external_id(group),
                         .created = now,
                         .last_modified = now,
                         .version = 1,
                         .resource = resource};
    if (gw_batch_join(w) != 0) {
        gw_users_respond_store_error(r);
        goto out;
    }
    store_status_t rc = store_group_insert(w->store, &row);
    if (rc == STORE_CONFLICT) {
        gw_batch_drop(w);
        scim_error_set(&err, 409, SCIM_TYPE_UNIQUENESS, "a Group named %.128s exists already", row.display_name);
        goto fail;
    }
    c = change_new(r, "group_created", id);
    if (rc != STORE_OK || add_members(c, &members, group_matters(w->config, row.display_name, row.external_id)) != 0 ||
        (c->mirrored = gw_mirror_group_created(w->config, w->store, id, row.display_name, row.external_id, c->added > 0)) < 0) {
        respond_store_failure(r);
        goto out;
    }
    json_t *rendered = render_group(r, &row, wants_members(sel));
    if (rendered == NULL || gw_batch_keep(w) != 0) {
        json_decref(rendered);
        respond_store_failure(r);
        goto out;
    }
    scim_select_apply(sel, rendered);
    c->status = 201;
    c->body = rendered;
    c->location = group_location(r, id);
    c->version = 1;
    change_after_commit(r, c);
    c = NULL;
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    if (c != NULL)
        change_free(c);
    scim_group_members_free(&members);
    scim_select_free(sel);
    json_decref(body);
    json_decref(group);
    free(resource);
}

void gw_groups_get(gw_request_t *r, const char *id)
{
    scim_error_t err = {0};
    store_group_t row = {0};
    scim_select_t *sel = group_select(r, &err);
    if (sel == NULL) {
        gw_respond_error(r, &err);
        return;
    }
    store_status_t rc = store_group_get(r->worker->store, id, &row);
    if (rc == STORE_NOT_FOUND) {
        respond_not_found(r, id);
    } else if (rc != STORE_OK) {
        gw_users_respond_store_error(r);
    } else {
        const char *inm = gw_request_header(r, H2O_TOKEN_IF_NONE_MATCH);
        if (inm != NULL && scim_etag_matches(inm, strlen(inm), row.version)) {
            gw_users_set_etag(r, row.version);
            gw_respond_empty(r, 304);
        } else {
            respond_group(r, 200, &row, sel);
        }
    }
    store_group_clear(&row);
    scim_select_free(sel);
}

/*
 * The common end of PUT and PATCH, inside the savepoint: `old` becomes `next` (canonical, borrowed)
 * with the membership changes given; answers after the commit. Returns 0 when the request is
 * answered or will be, -1 after a store failure (answered, savepoint dropped).
 */
typedef struct member_change {
    int clear;
    const scim_group_members_t *add, *remove;
} member_change_t;

static void write_change(gw_request_t *r, const store_group_t *old, const json_t *next, int attrs_changed,
                         const member_change_t *mc, const scim_select_t *sel, int patch)
{
    gw_worker_t *w = r->worker;
    const gw_config_t *cfg = w->config;
    scim_error_t err = {0};
    char now[GW_RFC3339_LEN];
    char *resource = NULL;
    id_list_t former = {0};
    group_change_t *c = change_new(r, "group_updated", old->id);
    store_group_t row = *old;

    const char *name = scim_group_display_name(next), *ext = scim_group_external_id(next);
    /* static strings: equal pointers are equal roles */
    const char *role_before = gw_config_group_role(cfg, old->display_name, old->external_id);
    const char *role_after = gw_config_group_role(cfg, name, ext);
    int access_before = gw_config_access_group(cfg, old->display_name, old->external_id);
    int access_after = gw_config_access_group(cfg, name, ext);
    /* a rename changed the role or the access the group gives: every member's seat may move */
    int remap = role_before != role_after || access_before != access_after;
    int matters_before = role_before != NULL || access_before, matters_after = role_after != NULL || access_after;
    if (attrs_changed) {
        gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
        resource = gw_json_dumps(next, NULL);
        row.display_name = (char *)name;
        row.external_id = (char *)ext;
        row.last_modified = now;
        row.version = old->version + 1;
        row.resource = resource;
        store_status_t rc = store_group_update(w->store, &row);
        if (rc == STORE_CONFLICT) {
            gw_batch_drop(w);
            scim_error_set(&err, 409, SCIM_TYPE_UNIQUENESS, "a Group named %.128s exists already", name);
            gw_respond_error(r, &err);
            goto out;
        }
        if (rc != STORE_OK)
            goto store_failed;
    }
    if (mc->clear && clear_members(c, &former) != 0)
        goto store_failed;
    if (mc->remove != NULL && remove_members(c, mc->remove, &former) != 0)
        goto store_failed;
    if (mc->add != NULL && add_members(c, mc->add, matters_after && !remap) != 0)
        goto store_failed;
    if (mc->clear && mc->add != NULL)
        net_readded(c, &former, mc->add);
    if ((remap || matters_before) && recompute_after(c, &former, remap) != 0)
        goto store_failed;
    if (guard_deactivations(c) != 0)
        goto store_failed;
    if ((attrs_changed || c->added > 0 || c->removed > 0) &&
        (c->mirrored =
             gw_mirror_group_changed(cfg, w->store, old->id, old->display_name, name, ext, c->added > 0 || c->removed > 0)) < 0)
        goto store_failed;

    /* Okta's path-less replace with the same name: nothing changed, no new version, no entry */
    if (!attrs_changed && c->added == 0 && c->removed == 0 && c->unknown == 0 && c->nested == 0) {
        gw_batch_drop(w);
        if (patch && sel == NULL) {
            gw_users_set_etag(r, old->version);
            gw_respond_empty(r, 204);
        } else {
            respond_group(r, 200, old, sel);
        }
        goto out;
    }
    if (!attrs_changed && (c->added > 0 || c->removed > 0)) {
        /* the members are part of the resource: a membership change is a new version */
        gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
        row.last_modified = now;
        row.version = old->version + 1;
        if (store_group_update(w->store, &row) != STORE_OK)
            goto store_failed;
    }
    if (patch && sel == NULL) {
        c->status = 204;
    } else {
        json_t *rendered = render_group(r, &row, wants_members(sel));
        if (rendered == NULL)
            goto store_failed;
        scim_select_apply(sel, rendered);
        c->status = 200;
        c->body = rendered;
    }
    if (gw_batch_keep(w) != 0) {
        gw_users_respond_store_error(r);
        goto out;
    }
    c->version = row.version;
    change_after_commit(r, c);
    c = NULL;
    goto out;
store_failed:
    respond_store_failure(r);
out:
    if (c != NULL)
        change_free(c);
    id_list_free(&former);
    free(resource);
}

/* Reads group `id` inside a fresh savepoint; answers and returns -1 when it cannot go on. */
static int load_in_batch(gw_request_t *r, const char *id, store_group_t *row, json_t **group)
{
    *group = NULL;
    if (gw_batch_join(r->worker) != 0) {
        gw_users_respond_store_error(r);
        return -1;
    }
    store_status_t rc = store_group_get(r->worker->store, id, row);
    if (rc != STORE_OK) {
        gw_batch_drop(r->worker);
        if (rc == STORE_NOT_FOUND)
            respond_not_found(r, id);
        else
            gw_users_respond_store_error(r);
        return -1;
    }
    if (group_if_match(r, row) < 0) {
        gw_batch_drop(r->worker);
        store_group_clear(row);
        return -1;
    }
    if ((*group = json_loads(row->resource, 0, NULL)) == NULL) {
        gw_batch_drop(r->worker);
        gw_users_respond_store_error(r);
        store_group_clear(row);
        return -1;
    }
    return 0;
}

void gw_groups_replace(gw_request_t *r, const char *id)
{
    scim_error_t err = {0};
    json_t *body = NULL, *next = NULL, *group = NULL;
    scim_group_members_t members = {0};
    store_group_t old = {0};
    scim_select_t *sel = group_select(r, &err);
    if (sel == NULL || (body = gw_request_body_json(r, &err)) == NULL || (next = scim_group_parse(body, &err, &members)) == NULL) {
        gw_respond_error(r, &err);
        goto out;
    }
    if (load_in_batch(r, id, &old, &group) != 0)
        goto out;
    member_change_t mc = {.clear = 1, .add = &members};
    write_change(r, &old, next, !json_equal(group, next), &mc, sel, 0);
out:
    store_group_clear(&old);
    scim_group_members_free(&members);
    scim_select_free(sel);
    json_decref(body);
    json_decref(next);
    json_decref(group);
}

void gw_groups_patch(gw_request_t *r, const char *id)
{
    scim_error_t err = {0};
    json_t *body = NULL, *group = NULL;
    scim_group_patch_t plan = {0};
    store_group_t old = {0};
    const char *query = NULL;
    size_t query_len = 0;
    scim_list_params_t params = {0};
    scim_select_t *sel = group_select(r, &err);
    if (sel == NULL || (body = gw_request_body_json(r, &err)) == NULL) {
        gw_respond_error(r, &err);
        goto out;
    }
    if (load_in_batch(r, id, &old, &group) != 0)
        goto out;
    if (scim_group_patch_plan(group, body, &plan, &err) != 0) {
        gw_batch_drop(r->worker);
        gw_respond_error(r, &err);
        goto out;
    }
    /* 204 unless the client asked for attributes (RFC 7644 §3.5.2: the server may answer either) */
    gw_request_query(r, &query, &query_len);
    int asked = scim_list_params_parse(query, query_len, &params, &err) == 0 &&
                (params.attributes != NULL || params.excluded_attributes != NULL);
    member_change_t mc = {.clear = plan.clear_members, .add = &plan.add, .remove = &plan.remove};
    write_change(r, &old, plan.group, plan.attrs_changed, &mc, asked ? sel : NULL, 1);
out:
    store_group_clear(&old);
    scim_list_params_clear(&params);
    scim_group_patch_clear(&plan);
    scim_select_free(sel);
    json_decref(body);
    json_decref(group);
}

void gw_groups_delete(gw_request_t *r, const char *id)
{
    gw_worker_t *w = r->worker;
    store_group_t old = {0};
    json_t *group = NULL;
    id_list_t former = {0};
    if (load_in_batch(r, id, &old, &group) != 0)
        goto out;
    group_change_t *c = change_new(r, "group_deleted", id);
    int mapped = group_matters(w->config, old.display_name, old.external_id);
    if (store_group_members(w->store, id, collect_member_id, &former) != STORE_OK || store_group_delete(w->store, id) != STORE_OK ||
        (mapped && recompute_after(c, &former, 0) != 0) || guard_deactivations(c) != 0 ||
        (c->mirrored = gw_mirror_group_deleted(w->config, w->store, id)) < 0 || gw_batch_keep(w) != 0) {
        change_free(c);
        respond_store_failure(r);
        goto out;
    }
    c->removed = former.n;
    c->status = 204;
    change_after_commit(r, c);
out:
    id_list_free(&former);
    store_group_clear(&old);
    json_decref(group);
}

/* ---- lists ---------------------------------------------------------------------------------- */

typedef struct list_ctx {
    gw_request_t *r;
    const scim_filter_t *filter;
    int with_members; /* the filter or the answer needs them */
    size_t start_index, count, total;
    size_t page_bytes; /* of the resources on the page so far: at most GW_MAX_PAGE_BYTES, as for users */
    json_t *all;       /* sorting: every match, cut after the sort */
    json_t *resources; /* the page */
    int failed;
} list_ctx_t;

/*
 * Puts `rendered` (taken) on the page unless the page would pass GW_MAX_PAGE_BYTES (one resource
 * always fits): a page of large groups then holds fewer than `count`, which itemsPerPage says
 * (RFC 7644 §3.4.2.4), and the client pages on by startIndex.
 */
static void page_add(list_ctx_t *lc, json_t *rendered)
{
    size_t bytes = json_dumpb(rendered, NULL, 0, JSON_COMPACT);
    if (json_array_size(lc->resources) > 0 && lc->page_bytes + bytes > GW_MAX_PAGE_BYTES) {
        lc->count = json_array_size(lc->resources); /* the page is full: nothing more goes on it */
        json_decref(rendered);
        return;
    }
    lc->page_bytes += bytes;
    json_array_append_new(lc->resources, rendered);
}

static int on_group_row(void *arg, const store_group_t *row)
{
    list_ctx_t *lc = arg;
    json_t *rendered = render_group(lc->r, row, lc->with_members);
    if (rendered == NULL) {
        lc->failed = 1;
        return 1;
    }
    if (lc->filter != NULL && !scim_filter_match(lc->filter, rendered)) {
        json_decref(rendered);
        return 0;
    }
    lc->total++;
    if (lc->all != NULL)
        json_array_append_new(lc->all, rendered);
    else if (lc->total >= lc->start_index && json_array_size(lc->resources) < lc->count)
        page_add(lc, rendered);
    else
        json_decref(rendered);
    return 0;
}

static store_group_index_t group_index_for(scim_filter_group_index_t hint)
{
    switch (hint) {
    case SCIM_FILTER_GROUP_INDEX_ID:
        return STORE_GROUP_SCAN_ID;
    case SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME:
        return STORE_GROUP_SCAN_DISPLAY_NAME;
    case SCIM_FILTER_GROUP_INDEX_EXTERNAL_ID:
        return STORE_GROUP_SCAN_EXTERNAL_ID;
    case SCIM_FILTER_GROUP_INDEX_MEMBER:
        return STORE_GROUP_SCAN_MEMBER;
    case SCIM_FILTER_GROUP_INDEX_NONE:
        break;
    }
    return STORE_GROUP_SCAN_ALL;
}

static void list_groups(gw_request_t *r, const scim_list_params_t *params)
{
    scim_error_t err = {0};
    scim_filter_t *filter = NULL;
    scim_sort_t *sort = NULL;
    scim_select_t *sel = NULL;
    list_ctx_t lc = {.r = r, .start_index = params->start_index, .count = params->count};

    if (params->filter != NULL &&
        (filter = scim_filter_parse_resource(SCIM_RESOURCE_GROUP, params->filter, params->filter_len, &err)) == NULL)
        goto fail;
    if ((sort = scim_sort_parse(params->sort_by, params->sort_order, &err)) == NULL && err.status != 0)
        goto fail;
    if ((sel = scim_select_parse_resource(SCIM_RESOURCE_GROUP, params->attributes, params->excluded_attributes, &err)) == NULL)
        goto fail;
    const char *value = NULL;
    store_group_index_t index = group_index_for(scim_filter_group_index_hint(filter, &value));
    /* an index that answers the filter exactly leaves nothing to match; members are read only when
       shown, or when a filter the index does not answer exactly may look at them */
    int exact = filter != NULL && index != STORE_GROUP_SCAN_ALL && scim_filter_index_exact(filter);
    lc.filter = exact ? NULL : filter;
    lc.with_members = wants_members(sel) || (filter != NULL && !exact);
    lc.resources = json_array();
    if (sort != NULL)
        lc.all = json_array();
    store_status_t rc;
    if (filter == NULL && sort == NULL) {
        rc = store_group_count(r->worker->store, &lc.total);
        size_t skipped = lc.start_index - 1, total = lc.total;
        if (rc == STORE_OK && lc.count > 0 && skipped < total) {
            lc.total = skipped;
            rc = store_group_page(r->worker->store, skipped, lc.count, on_group_row, &lc);
            lc.total = total;
        }
    } else {
        rc = store_group_scan(r->worker->store, index, value, on_group_row, &lc);
    }
    if (rc != STORE_OK || lc.failed) {
        gw_users_respond_store_error(r);
        goto out;
    }
    if (lc.all != NULL) {
        scim_sort_apply(sort, lc.all);
        for (size_t i = lc.start_index - 1; i < json_array_size(lc.all) && json_array_size(lc.resources) < lc.count; i++)
            page_add(&lc, json_incref(json_array_get(lc.all, i)));
    }
    for (size_t i = 0; i < json_array_size(lc.resources); i++)
        scim_select_apply(sel, json_array_get(lc.resources, i));
    gw_respond_json(r, 200, scim_list_render(lc.resources, lc.total, params->start_index));
    lc.resources = NULL;
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    json_decref(lc.resources);
    json_decref(lc.all);
    scim_filter_free(filter);
    scim_sort_free(sort);
    scim_select_free(sel);
}

void gw_groups_list(gw_request_t *r)
{
    gw_request_run_list(r, 0, list_groups);
}

void gw_groups_search(gw_request_t *r)
{
    gw_request_run_list(r, 1, list_groups);
}
