#include "gateway/users_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "scim/user.h"

char *gw_users_location(gw_request_t *r, const char *id)
{
    size_t len = strlen(r->base_url) + strlen("/Users/") + strlen(id) + 1;
    char *loc = gw_malloc(len);
    snprintf(loc, len, "%s/Users/%s", r->base_url, id);
    return loc;
}

void gw_users_set_etag(gw_request_t *r, int64_t version)
{
    char etag[32];
    gw_respond_header(r, H2O_TOKEN_ETAG, scim_user_etag(version, etag, sizeof(etag)));
}

typedef struct groups_ctx {
    gw_request_t *r;
    json_t *groups; /* NULL until the first */
} groups_ctx_t;

static int add_group(void *arg, const store_group_t *g)
{
    groups_ctx_t *gc = arg;
    size_t len = strlen(gc->r->base_url) + strlen("/Groups/") + strlen(g->id) + 1;
    char *ref = gw_malloc(len);
    snprintf(ref, len, "%s/Groups/%s", gc->r->base_url, g->id);
    if (gc->groups == NULL)
        gc->groups = json_array();
    json_array_append_new(
        gc->groups, json_pack("{s:s, s:s, s:s, s:s}", "value", g->id, "display", g->display_name, "$ref", ref, "type", "direct"));
    free(ref);
    return 0;
}

/*
 * The readOnly "groups" of user `id` (RFC 7643 §4.1.2: direct memberships only; nested groups are
 * not supported) into *out, NULL when it belongs to none. 0, or -1 when the store failed.
 */
static int user_groups(gw_request_t *r, const char *id, json_t **out)
{
    groups_ctx_t gc = {.r = r};
    *out = NULL;
    if (store_user_groups(r->worker->store, id, add_group, &gc) != STORE_OK) {
        json_decref(gc.groups);
        return -1;
    }
    *out = gc.groups;
    return 0;
}

json_t *gw_users_render_row(gw_request_t *r, const store_user_t *row)
{
    json_t *user = json_loads(row->resource, 0, NULL), *groups = NULL;
    char *loc = gw_users_location(r, row->id);
    json_t *out = NULL;
    if (user != NULL && user_groups(r, row->id, &groups) == 0) {
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        out = scim_user_render(user, &meta);
        if (groups != NULL) {
            /* before meta, where the stored renderings of users without groups end */
            json_t *m = json_incref(json_object_get(out, "meta"));
            json_object_del(out, "meta");
            json_object_set_new(out, "groups", groups);
            json_object_set_new(out, "meta", m);
        }
    }
    json_decref(user);
    free(loc);
    return out;
}

void gw_users_loc_init(gw_users_loc_t *l, gw_request_t *r)
{
    size_t base = strlen(r->base_url);
    l->p = l->stack;
    l->cap = sizeof(l->stack);
    l->prefix = base + strlen("/Users/");
    if (l->prefix + 64 > l->cap) {
        l->cap = l->prefix + 64;
        l->p = gw_malloc(l->cap);
    }
    memcpy(l->p, r->base_url, base);
    memcpy(l->p + base, "/Users/", strlen("/Users/"));
}

void gw_users_loc_free(gw_users_loc_t *l)
{
    if (l->p != l->stack)
        free(l->p);
}

/* The location of `id` (valid until the next call). */
static const char *loc_for(gw_users_loc_t *l, const char *id)
{
    size_t n = strlen(id);
    if (l->prefix + n + 1 > l->cap) {
        size_t cap = l->prefix + n + 1;
        char *p = l->p == l->stack ? gw_malloc(cap) : gw_realloc(l->p, cap);
        if (l->p == l->stack)
            memcpy(p, l->stack, l->prefix);
        l->p = p;
        l->cap = cap;
    }
    memcpy(l->p + l->prefix, id, n + 1);
    return l->p;
}

int gw_users_append_row_text(gw_request_t *r, gw_users_loc_t *l, const store_user_t *row, gw_json_buf_t *b)
{
    json_t *groups = NULL;
    if (user_groups(r, row->id, &groups) != 0)
        return -1;
    /* a member of a group is rendered the slow way: its stored rendering has no "groups" */
    if (row->rendered != NULL && groups == NULL) {
        const char *loc = loc_for(l, row->id);
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        if (scim_user_splice_meta(b, row->rendered, strlen(row->rendered), &meta) == 0)
            return 0;
        if (b->failed)
            return -1;
        /* not an object's text: render it from the resource instead */
    }
    json_decref(groups);
    json_t *rendered = gw_users_render_row(r, row);
    int rc = rendered != NULL ? gw_json_buf_value(b, rendered) : -1;
    json_decref(rendered);
    return rc;
}

int gw_users_store_failure(gw_request_t *r, scim_error_t *err, const char *unreachable, const char *failed)
{
    store_t *s = r->worker->store;
    int retry_s = 1;
    int gone = store_unavailable(s, &retry_s);
    gw_log(gone ? GW_LOG_WARN : GW_LOG_ERROR, gone ? "store_unavailable" : "store_failed",
           json_pack("{s:s, s:s}", "request_id", r->request_id, "error", store_errmsg(s)));
    if (!gone)
        return scim_error_set(err, 500, NULL, "%s", failed);
    char retry_after[16];
    snprintf(retry_after, sizeof(retry_after), "%d", retry_s);
    gw_respond_header(r, H2O_TOKEN_RETRY_AFTER, retry_after);
    return scim_error_set(err, 503, NULL, "%s: retry after %d s", unreachable, retry_s);
}

static void respond_store_failure(gw_request_t *r, const char *unreachable, const char *failed)
{
    scim_error_t err;
    (void)gw_users_store_failure(r, &err, unreachable, failed);
    gw_respond_error(r, &err);
}

void gw_users_respond_store_error(gw_request_t *r)
{
    respond_store_failure(r, "the database is unreachable; nothing was changed",
                          "the directory could not be read or written; nothing was changed");
}

void gw_users_respond_commit_failed(gw_request_t *r)
{
    respond_store_failure(r, "the database became unreachable before the change was confirmed; it may not have been made",
                          "the directory could not be written; nothing was changed");
}

void gw_users_respond_not_found(gw_request_t *r, const char *id)
{
    gw_respond_errorf(r, 404, NULL, "no User with id %.64s", id);
}
