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

json_t *gw_users_render_row(gw_request_t *r, const store_user_t *row)
{
    json_t *user = json_loads(row->resource, 0, NULL);
    char *loc = gw_users_location(r, row->id);
    json_t *out = NULL;
    if (user != NULL) {
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        out = scim_user_render(user, &meta);
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
    if (row->rendered != NULL) {
        const char *loc = loc_for(l, row->id);
        scim_user_meta_t meta = {
            .id = row->id, .created = row->created, .last_modified = row->last_modified, .location = loc, .version = row->version};
        if (scim_user_splice_meta(b, row->rendered, strlen(row->rendered), &meta) == 0)
            return 0;
        if (b->failed)
            return -1;
        /* not an object's text: render it from the resource instead */
    }
    json_t *rendered = gw_users_render_row(r, row);
    int rc = rendered != NULL ? gw_json_buf_value(b, rendered) : -1;
    json_decref(rendered);
    return rc;
}

void gw_users_respond_store_error(gw_request_t *r)
{
    gw_log(GW_LOG_ERROR, "store_failed",
           json_pack("{s:s, s:s}", "request_id", r->request_id, "error", store_errmsg(r->worker->store)));
    gw_respond_errorf(r, 500, NULL, "the directory could not be read or written; nothing was changed");
}

void gw_users_respond_not_found(gw_request_t *r, const char *id)
{
    gw_respond_errorf(r, 404, NULL, "no User with id %.64s", id);
}
