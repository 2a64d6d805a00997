#include "gateway/users_list.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/json.h"
#include "gateway/request.h"
#include "gateway/users_render.h"
#include "scim/filter.h"
#include "scim/list.h"
#include "scim/select.h"
#include "scim/sort.h"
#include "store/store.h"

/*
 * A match of a sorted list, kept while scanning instead of its resource: the value it sorts by,
 * its id (to fetch it again if it lands on the page) and its scan position (ties keep it).
 */
typedef struct sort_rec {
    scim_sort_key_t key;
    char *id;
    size_t index;
    const scim_sort_t *sort;
} sort_rec_t;

typedef struct list_ctx {
    gw_request_t *r;
    const scim_filter_t *filter; /* NULL also when every row the store visits is a match (text) */
    size_t start_index, count, total;
    int collect_all; /* sorting: keep a sort_rec_t of every match, the page is cut after the sort */
    const scim_sort_t *sort;
    sort_rec_t *recs;
    size_t n_recs, cap_recs;
    json_t *resources;
    int failed;
    /* The text path (no sort, nothing to trim, every visited row a match): the page as JSON text. */
    gw_json_buf_t *text;
    gw_users_loc_t *loc;
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
        if (gw_users_append_row_text(lc->r, lc->loc, row, lc->text) != 0) {
            lc->failed = 1;
            return 1;
        }
        lc->items++;
        lc->total++;
        return 0;
    }
    json_t *rendered = gw_users_render_row(lc->r, row);
    if (rendered == NULL) {
        lc->failed = 1;
        return 1;
    }
    if (lc->filter != NULL && !scim_filter_match(lc->filter, rendered)) {
        json_decref(rendered);
        return 0;
    }
    lc->total++;
    if (lc->collect_all) {
        if (lc->n_recs == lc->cap_recs) {
            lc->cap_recs = lc->cap_recs != 0 ? lc->cap_recs * 2 : 64;
            lc->recs = gw_realloc(lc->recs, lc->cap_recs * sizeof(*lc->recs));
        }
        sort_rec_t *rec = &lc->recs[lc->n_recs];
        scim_sort_key(lc->sort, rendered, &rec->key);
        rec->id = gw_strdup(row->id);
        rec->index = lc->n_recs++;
        rec->sort = lc->sort;
        json_decref(rendered);
        return 0;
    }
    if ((lc->total >= lc->start_index && json_array_size(lc->resources) < lc->count))
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

static int compare_recs(const void *pa, const void *pb)
{
    const sort_rec_t *a = pa, *b = pb;
    int c = scim_sort_key_cmp(a->sort, &a->key, &b->key);

    if (c == 0)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

/*
 * Sorts the records of every match and renders the page [start_index, start_index + count) of
 * them into lc->resources, fetching each user again (one deleted meanwhile is skipped).
 * 0, or -1 on a store failure or an unreadable row.
 */
static int render_sorted_page(list_ctx_t *lc, size_t start_index, size_t count)
{
    size_t skip = start_index - 1 < lc->n_recs ? start_index - 1 : lc->n_recs, i;
    size_t end = lc->n_recs - skip < count ? lc->n_recs : skip + count;

    /* The index tie-break makes qsort's order total, hence stable. */
    qsort(lc->recs, lc->n_recs, sizeof(*lc->recs), compare_recs);
    for (i = skip; i < end; i++) {
        store_user_t row = {0};
        store_status_t rc = store_user_get(lc->r->worker->store, lc->recs[i].id, &row);
        if (rc == STORE_NOT_FOUND)
            continue;
        if (rc != STORE_OK)
            return -1;
        json_t *rendered = gw_users_render_row(lc->r, &row);
        store_user_clear(&row);
        if (rendered == NULL)
            return -1;
        json_array_append_new(lc->resources, rendered);
    }
    return 0;
}

static void free_recs(list_ctx_t *lc)
{
    for (size_t i = 0; i < lc->n_recs; i++) {
        scim_sort_key_clear(&lc->recs[i].key);
        free(lc->recs[i].id);
    }
    free(lc->recs);
    lc->recs = NULL;
    lc->n_recs = lc->cap_recs = 0;
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
    gw_users_loc_t loc;
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
    lc.sort = sort;
    if (sort == NULL && scim_select_is_identity(sel) && (filter == NULL || scim_filter_index_exact(filter))) {
        static const char head_room[LIST_HEAD_ROOM];
        gw_json_buf_put(&text, head_room, LIST_HEAD_ROOM);
        gw_users_loc_init(&loc, r);
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
        gw_users_respond_store_error(r);
        goto out;
    }
    if (lc.text != NULL) {
        respond_list_text(r, &text, lc.total, params->start_index, lc.items);
        goto out;
    }
    if (sort != NULL && render_sorted_page(&lc, params->start_index, params->count) != 0) {
        json_decref(lc.resources);
        gw_users_respond_store_error(r);
        goto out;
    }
    for (i = 0; i < json_array_size(lc.resources); i++)
        scim_select_apply(sel, json_array_get(lc.resources, i));
    gw_respond_json(r, 200, scim_list_render(lc.resources, lc.total, params->start_index));
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    scim_filter_free(filter);
    free_recs(&lc);
    scim_sort_free(sort);
    scim_select_free(sel);
    gw_users_loc_free(&loc);
    gw_json_buf_free(&text);
}

void gw_users_list(gw_request_t *r)
{
    scim_list_params_t params;
    scim_error_t err = {0};
    const char *query;
    size_t query_len;

    gw_request_query(r, &query, &query_len);
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
    json_t *body = gw_request_body_json(r, &err);

    if (body == NULL || scim_list_params_from_search(body, &params, &err) != 0)
        gw_respond_error(r, &err);
    else
        list_users(r, &params);
    scim_list_params_clear(&params);
    json_decref(body);
}
