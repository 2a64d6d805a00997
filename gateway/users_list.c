#include "gateway/users_list.h"

#include <stdint.h>
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
 * A match of a list sorted by keys, kept while scanning instead of its resource: the value it
 * sorts by, its id (to fetch it again if it lands on the page) and its scan position (ties keep it).
 */
typedef struct sort_rec {
    scim_sort_key_t key;
    char *id;
    size_t index;
    const scim_sort_t *sort;
} sort_rec_t;

/* Room kept before the resources for the ListResponse members that precede them (respond_list_text). */
#define LIST_HEAD_ROOM 256

typedef struct list_ctx {
    gw_request_t *r;
    const scim_filter_t *filter; /* run on every visited row; NULL when every visited row is a match */
    const scim_select_t *sel;
    int identity;              /* sel trims nothing: resources are written from the stored renderings */
    size_t start_index, count; /* the page: matches start_index .. start_index + count - 1 */
    size_t total;              /* matches so far */
    int page_only;             /* the store visits the page alone: stop once it is full */
    /* sorting by keys: a sort_rec_t of every match, the page is cut after the sort */
    const scim_sort_t *sort;
    sort_rec_t *recs;
    size_t n_recs, cap_recs;
    /* the page as JSON text, LIST_HEAD_ROOM bytes in */
    gw_json_buf_t text;
    gw_users_loc_t loc;
    size_t items;
    int full; /* GW_MAX_PAGE_BYTES reached: later matches are counted, not written */
    int failed;
} list_ctx_t;

/*
 * Writes `row` on the page: from its stored rendering when nothing is trimmed, else from
 * `rendered` (its resource; rendered here when NULL), trimmed. Past GW_MAX_PAGE_BYTES the page
 * ends instead, unless it is the first resource (a page always has one). 0, or -1 for an
 * unreadable row.
 */
static int page_add(list_ctx_t *lc, const store_user_t *row, json_t *rendered)
{
    size_t before = lc->text.len;
    int rc;

    if (lc->items > 0)
        gw_json_buf_put(&lc->text, ",", 1);
    if (lc->identity) {
        rc = gw_users_append_row_text(lc->r, &lc->loc, row, &lc->text);
    } else {
        json_t *own = rendered != NULL ? json_incref(rendered) : gw_users_render_row(lc->r, row);
        if (own != NULL)
            scim_select_apply(lc->sel, own);
        rc = own != NULL ? gw_json_buf_value(&lc->text, own) : -1;
        json_decref(own);
    }
    if (rc != 0)
        return -1;
    /* the head room is more than the members before the resources take; "]}" closes the page */
    if (lc->items > 0 && lc->text.len + 2 > GW_MAX_PAGE_BYTES) {
        lc->text.len = before;
        lc->full = 1;
        return 0;
    }
    lc->items++;
    return 0;
}

static int page_done(const list_ctx_t *lc)
{
    return lc->full || lc->items >= lc->count;
}

static int on_list_row(void *arg, const store_user_t *row)
{
    list_ctx_t *lc = arg;
    json_t *rendered = NULL;

    if (lc->filter != NULL || lc->sort != NULL) {
        if ((rendered = gw_users_render_row(lc->r, row)) == NULL) {
            lc->failed = 1;
            return 1;
        }
        if (lc->filter != NULL && !scim_filter_match(lc->filter, rendered)) {
            json_decref(rendered);
            return 0;
        }
    }
    lc->total++;
    if (lc->sort != NULL) {
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
    if (lc->total >= lc->start_index && !page_done(lc) && page_add(lc, row, rendered) != 0)
        lc->failed = 1;
    json_decref(rendered);
    return lc->failed || (lc->page_only && page_done(lc));
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
 * Sorts the records of every match and writes the page [start_index, start_index + count) of them,
 * fetching each user again (one deleted meanwhile is skipped). 0, or -1 on a store failure or an
 * unreadable row.
 */
static int render_sorted_page(list_ctx_t *lc)
{
    size_t skip = lc->start_index - 1 < lc->n_recs ? lc->start_index - 1 : lc->n_recs, i;
    size_t end = lc->n_recs - skip < lc->count ? lc->n_recs : skip + lc->count;

    /* The index tie-break makes qsort's order total, hence stable. */
    qsort(lc->recs, lc->n_recs, sizeof(*lc->recs), compare_recs);
    for (i = skip; i < end && !lc->full; i++) {
        store_user_t row = {0};
        store_status_t rc = store_user_get(lc->r->worker->store, lc->recs[i].id, &row);
        if (rc == STORE_NOT_FOUND)
            continue;
        int added = rc == STORE_OK ? page_add(lc, &row, NULL) : -1;
        store_user_clear(&row);
        if (added != 0)
            return -1;
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

/* ---- narrowing and ordering by the store's columns ---- */

static store_user_col_t store_col_of_filter(scim_filter_col_t col)
{
    switch (col) {
    case SCIM_FILTER_COL_ID:
        return STORE_COL_ID;
    case SCIM_FILTER_COL_USER_NAME:
        return STORE_COL_USER_NAME;
    case SCIM_FILTER_COL_EXTERNAL_ID:
        return STORE_COL_EXTERNAL_ID;
    case SCIM_FILTER_COL_DISPLAY_NAME:
        return STORE_COL_DISPLAY_NAME;
    case SCIM_FILTER_COL_FAMILY_NAME:
        return STORE_COL_FAMILY_NAME;
    case SCIM_FILTER_COL_GIVEN_NAME:
        return STORE_COL_GIVEN_NAME;
    case SCIM_FILTER_COL_ACTIVE:
        return STORE_COL_ACTIVE;
    case SCIM_FILTER_COL_EMAIL:
        break;
    }
    return STORE_COL_ANY_EMAIL;
}

static store_cond_op_t store_op_of(scim_filter_cond_op_t op)
{
    static const store_cond_op_t ops[] = {
        [SCIM_FILTER_COND_AND] = STORE_COND_AND, [SCIM_FILTER_COND_OR] = STORE_COND_OR, [SCIM_FILTER_COND_EQ] = STORE_COND_EQ,
        [SCIM_FILTER_COND_GT] = STORE_COND_GT,   [SCIM_FILTER_COND_GE] = STORE_COND_GE, [SCIM_FILTER_COND_LT] = STORE_COND_LT,
        [SCIM_FILTER_COND_LE] = STORE_COND_LE,   [SCIM_FILTER_COND_SW] = STORE_COND_SW, [SCIM_FILTER_COND_EW] = STORE_COND_EW,
        [SCIM_FILTER_COND_CO] = STORE_COND_CO,   [SCIM_FILTER_COND_PR] = STORE_COND_PR,
    };
    return ops[op];
}

static size_t cond_nodes(const scim_filter_cond_t *c)
{
    return c == NULL ? 0 : 1 + cond_nodes(c->left) + cond_nodes(c->right);
}

/* Copies `c` into nodes[*used...] as the store's condition; returns its root. */
static const store_cond_t *store_cond_of(const scim_filter_cond_t *c, store_cond_t *nodes, size_t *used)
{
    if (c == NULL)
        return NULL;
    store_cond_t *n = &nodes[(*used)++];
    *n = (store_cond_t){
        .op = store_op_of(c->op), .col = store_col_of_filter(c->col), .value = c->value, .fold = c->fold, .active = c->active};
    n->left = store_cond_of(c->left, nodes, used);
    n->right = store_cond_of(c->right, nodes, used);
    return n;
}

/* The store column a sort by `attr` orders by; 0 when there is none. */
static int store_order_of(scim_sort_attr_t attr, store_user_col_t *col)
{
    switch (attr) {
    case SCIM_SORT_ATTR_ID:
        *col = STORE_COL_ID;
        return 1;
    case SCIM_SORT_ATTR_USER_NAME:
        *col = STORE_COL_USER_NAME;
        return 1;
    case SCIM_SORT_ATTR_EXTERNAL_ID:
        *col = STORE_COL_EXTERNAL_ID;
        return 1;
    case SCIM_SORT_ATTR_DISPLAY_NAME:
        *col = STORE_COL_DISPLAY_NAME;
        return 1;
    case SCIM_SORT_ATTR_FAMILY_NAME:
        *col = STORE_COL_FAMILY_NAME;
        return 1;
    case SCIM_SORT_ATTR_GIVEN_NAME:
        *col = STORE_COL_GIVEN_NAME;
        return 1;
    case SCIM_SORT_ATTR_EMAIL:
        *col = STORE_COL_PRIMARY_EMAIL;
        return 1;
    case SCIM_SORT_ATTR_CREATED:
        *col = STORE_COL_CREATED;
        return 1;
    case SCIM_SORT_ATTR_LAST_MODIFIED:
        *col = STORE_COL_LAST_MODIFIED;
        return 1;
    case SCIM_SORT_ATTR_OTHER:
        break;
    }
    return 0;
}

void gw_users_row_set_sort_values(store_user_t *row, const json_t *user)
{
    row->display_name = scim_sort_value(user, SCIM_SORT_ATTR_DISPLAY_NAME);
    row->family_name = scim_sort_value(user, SCIM_SORT_ATTR_FAMILY_NAME);
    row->given_name = scim_sort_value(user, SCIM_SORT_ATTR_GIVEN_NAME);
    row->primary_email = scim_sort_value(user, SCIM_SORT_ATTR_EMAIL);
}

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
 * Answers the page: the ListResponse members written in front of the resources, as
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
 * GET /Users and POST /Users/.search. Which rows the store visits:
 * - no filter, no sort: the page alone (store_user_page), the total from store_user_count;
 * - a filter with an index hint (an eq on id, userName, externalId or an email): that index's
 *   rows, matched unless the index answers the filter exactly; a sort by keys;
 * - a sort by a column the store keeps (scim_sort_attr): the rows in that order, narrowed by what
 *   the filter implies about the columns (scim_filter_narrow) and matched; with no filter, the
 *   page alone, the total from store_user_count;
 * - anything else: the narrowed rows in creation order, matched, and sorted by keys if asked.
 * Every resource is written as JSON text as it joins the page, from its stored rendering when
 * nothing is trimmed, and the page ends early at GW_MAX_PAGE_BYTES.
 */
static void list_users(gw_request_t *r, const scim_list_params_t *params)
{
    scim_error_t err = {0};
    scim_filter_t *filter = NULL;
    scim_filter_cond_t *narrowed = NULL;
    store_cond_t *nodes = NULL;
    scim_sort_t *sort = NULL;
    scim_select_t *sel = NULL;
    list_ctx_t lc = {.r = r};
    store_t *store = r->worker->store;
    store_status_t rc = STORE_OK;
    store_user_col_t order;
    const char *value = NULL;

    lc.loc.p = lc.loc.stack;
    if (params->filter != NULL && (filter = scim_filter_parse(params->filter, params->filter_len, &err)) == NULL)
        goto fail;
    if ((sort = scim_sort_parse(params->sort_by, params->sort_order, &err)) == NULL && err.status != 0)
        goto fail;
    if ((sel = scim_select_parse(params->attributes, params->excluded_attributes, &err)) == NULL)
        goto fail;
    static const char head_room[LIST_HEAD_ROOM];
    gw_json_buf_put(&lc.text, head_room, LIST_HEAD_ROOM);
    gw_users_loc_init(&lc.loc, r);
    lc.filter = filter;
    lc.sel = sel;
    lc.identity = scim_select_is_identity(sel);
    lc.start_index = params->start_index;
    lc.count = params->count;
    scim_filter_index_t hint = scim_filter_index_hint(filter, &value);
    int by_column = sort != NULL && store_order_of(scim_sort_attr(sort), &order);

    if ((filter == NULL && sort == NULL) || (filter == NULL && by_column)) {
        /* every user matches: the total is the count, and the store visits the page alone */
        rc = store_user_count(store, &lc.total);
        size_t skipped = lc.start_index - 1, total = lc.total;
        if (rc == STORE_OK && lc.count > 0 && skipped < total) {
            lc.total = skipped; /* on_list_row counts on from the first row it sees */
            lc.page_only = 1;
            if (sort == NULL) {
                rc = store_user_page(store, skipped, lc.count, on_list_row, &lc);
            } else {
                store_user_query_t q = {
                    .ordered = 1, .order = order, .descending = scim_sort_descending(sort), .offset = skipped, .limit = lc.count};
                rc = store_user_select(store, &q, on_list_row, &lc);
            }
        }
        lc.total = total;
    } else if (hint != SCIM_FILTER_INDEX_NONE) {
        if (scim_filter_index_exact(filter))
            lc.filter = NULL; /* the index visits exactly the matches */
        lc.sort = sort;
        rc = store_user_scan(store, store_index_for(hint), value, on_list_row, &lc);
    } else {
        store_user_query_t q = {.limit = SIZE_MAX};
        if ((narrowed = scim_filter_narrow(filter)) != NULL) {
            size_t used = 0;
            nodes = gw_malloc(cond_nodes(narrowed) * sizeof(*nodes));
            q.where = store_cond_of(narrowed, nodes, &used);
        }
        if (by_column) {
            q.ordered = 1;
            q.order = order;
            q.descending = scim_sort_descending(sort);
        } else {
            lc.sort = sort;
        }
        rc = store_user_select(store, &q, on_list_row, &lc);
    }
    if (rc == STORE_OK && !lc.failed && lc.sort != NULL && render_sorted_page(&lc) != 0)
        lc.failed = 1;
    if (rc != STORE_OK || lc.failed) {
        gw_users_respond_store_error(r);
        goto out;
    }
    respond_list_text(r, &lc.text, lc.total, params->start_index, lc.items);
    goto out;
fail:
    gw_respond_error(r, &err);
out:
    scim_filter_free(filter);
    scim_filter_cond_free(narrowed);
    free(nodes);
    free_recs(&lc);
    scim_sort_free(sort);
    scim_select_free(sel);
    gw_users_loc_free(&lc.loc);
    gw_json_buf_free(&lc.text);
}

void gw_users_list(gw_request_t *r)
{
    gw_request_run_list(r, 0, list_users);
}

void gw_users_search(gw_request_t *r)
{
    gw_request_run_list(r, 1, list_users);
}
