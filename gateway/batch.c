#include "gateway/batch.h"

#include <stdlib.h>

#include "gateway/audit.h"
#include "common/log.h"
#include "gateway/respond.h"
#include "gateway/worker.h"
#include "store/store.h"

struct gw_batch {
    gw_worker_t *worker;
    int open;                  /* the transaction is open */
    int marked;                /* a request's savepoint is open */
    int holding;               /* answers and audit entries of this pass wait for its end */
    h2o_timeout_t end_of_pass; /* a 0 ms timeout: h2o runs it after the pass's I/O callbacks */
    h2o_timeout_entry_t flush_entry;
    h2o_linklist_t items; /* gw_batch_item_t, run after the commit */
};

static void on_end_of_pass(h2o_timeout_entry_t *entry)
{
    gw_batch_t *b = H2O_STRUCT_FROM_MEMBER(gw_batch_t, flush_entry, entry);
    gw_batch_flush(b->worker);
}

void gw_batch_init(gw_worker_t *w)
{
    gw_batch_t *b = h2o_mem_alloc(sizeof(*b));
    *b = (gw_batch_t){.worker = w, .flush_entry = {.cb = on_end_of_pass}};
    h2o_timeout_init(w->loop, &b->end_of_pass, 0);
    h2o_linklist_init_anchor(&b->items);
    h2o_linklist_init_anchor(&w->held_answers);
    w->batch = b;
}

void gw_batch_dispose(gw_worker_t *w)
{
    gw_batch_flush(w);
    h2o_timeout_dispose(w->loop, &w->batch->end_of_pass);
    free(w->batch);
    w->batch = NULL;
}

static void log_store_error(gw_worker_t *w, const char *what)
{
    gw_log(GW_LOG_ERROR, "store_failed",
           json_pack("{s:s, s:i, s:s}", "step", what, "worker", w->index, "error", store_errmsg(w->store)));
}

void gw_batch_hold(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    if (!b->holding) {
        b->holding = 1;
        w->hold_answers = 1;
        gw_audit_batch_begin();
    }
    if (!h2o_timeout_is_linked(&b->flush_entry))
        h2o_timeout_link(w->loop, &b->end_of_pass, &b->flush_entry);
}

int gw_batch_join(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    gw_batch_hold(w);
    if (!b->open) {
        if (store_begin(w->store) != STORE_OK) {
            log_store_error(w, "batch_begin");
            store_rollback(w->store);
            return -1;
        }
        b->open = 1;
    }
    if (store_mark(w->store) != STORE_OK)
        return -1;
    b->marked = 1;
    return 0;
}

int gw_batch_keep(gw_worker_t *w)
{
    w->batch->marked = 0;
    if (store_mark_keep(w->store) == STORE_OK)
        return 0;
    store_mark_undo(w->store);
    return -1;
}

void gw_batch_drop(gw_worker_t *w)
{
    if (!w->batch->marked)
        return;
    w->batch->marked = 0;
    store_mark_undo(w->store);
}

void gw_batch_after_commit(gw_worker_t *w, gw_batch_item_t *item, gw_batch_cb cb)
{
    item->cb = cb;
    h2o_linklist_insert(&w->batch->items, &item->link);
}

void gw_batch_flush(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    if (h2o_timeout_is_linked(&b->flush_entry))
        h2o_timeout_unlink(&b->flush_entry);
    if (b->open) {
        b->open = 0;
        int committed = store_commit(w->store) == STORE_OK;
        if (!committed) {
            log_store_error(w, "batch_commit");
            store_rollback(w->store);
        }
        /* Callbacks may open the next batch; they run on a list of their own. */
        h2o_linklist_t items;
        h2o_linklist_init_anchor(&items);
        h2o_linklist_insert_list(&items, &b->items);
        while (!h2o_linklist_is_empty(&items)) {
            gw_batch_item_t *item = H2O_STRUCT_FROM_MEMBER(gw_batch_item_t, link, items.next);
            h2o_linklist_unlink(&item->link);
            item->cb(item, committed);
        }
    }
    if (b->open) {
        /* A callback began the next batch: everything held waits for that one. */
        h2o_timeout_link(w->loop, &b->end_of_pass, &b->flush_entry);
        return;
    }
    if (b->holding) {
        b->holding = 0;
        gw_audit_batch_end(); /* one fdatasync for every audit entry of the pass */
    }
    w->hold_answers = 0;
    gw_respond_release_held(w);
}
