#include "gateway/batch.h"

#include <stdlib.h>

#include "common/alloc.h"
#include "common/log.h"
#include "gateway/audit.h"
#include "gateway/config.h"
#include "gateway/flusher.h"
#include "gateway/respond.h"
#include "gateway/worker.h"
#include "store/store.h"

/* One pass's flush on its way: the answers it holds go out when the flusher hands it back. */
typedef struct stage {
    gw_flush_job_t job;
    h2o_linklist_t link;    /* gw_batch_t.in_flight */
    h2o_linklist_t answers; /* gw_request_t.held */
    int back;               /* the flusher handed it back */
} stage_t;

struct gw_batch {
    gw_worker_t *worker;
    int open;                  /* the transaction is open */
    int marked;                /* a request's savepoint is open */
    int holding;               /* answers and audit entries of this pass wait for its end */
    uint64_t wal_ticket;       /* the pass's commit, to be made durable by its stage */
    h2o_timeout_t end_of_pass; /* a 0 ms timeout: h2o runs it after the pass's I/O callbacks */
    h2o_timeout_entry_t flush_entry;
    h2o_linklist_t items;  /* gw_batch_item_t, run after the commit */
    gw_flusher_t *flusher; /* NULL: the pass flushes on the loop (before gw_batch_start_flusher, or if it failed) */
    h2o_multithread_receiver_t flushed;
    h2o_linklist_t in_flight; /* stage_t, oldest first */
    size_t n_in_flight;
};

static void on_end_of_pass(h2o_timeout_entry_t *entry)
{
    gw_batch_t *b = H2O_STRUCT_FROM_MEMBER(gw_batch_t, flush_entry, entry);
    gw_batch_flush(b->worker);
}

static void on_flushed(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

void gw_batch_init(gw_worker_t *w)
{
    gw_batch_t *b = h2o_mem_alloc(sizeof(*b));
    *b = (gw_batch_t){.worker = w, .flush_entry = {.cb = on_end_of_pass}};
    h2o_timeout_init(w->loop, &b->end_of_pass, 0);
    h2o_linklist_init_anchor(&b->items);
    h2o_linklist_init_anchor(&b->in_flight);
    h2o_linklist_init_anchor(&w->held_answers);
    h2o_multithread_register_receiver(w->ctx.queue, &b->flushed, on_flushed);
    w->batch = b;
}

void gw_batch_start_flusher(gw_worker_t *w)
{
    char err[256];
    w->batch->flusher = gw_flusher_start(w->config->database, &w->batch->flushed, err, sizeof(err));
    if (w->batch->flusher == NULL)
        gw_log(GW_LOG_WARN, "flusher_failed",
               json_pack("{s:i, s:s, s:s}", "worker", w->index, "error", err, "effect", "this worker flushes on its event loop"));
}

void gw_batch_finish(gw_worker_t *w)
{
    gw_batch_flush(w);
    /* The stages come back through the loop's receiver: run it until the last one did. */
    while (w->batch->n_in_flight > 0)
        h2o_evloop_run(w->loop, 10);
}

void gw_batch_dispose(gw_worker_t *w)
{
    gw_batch_finish(w);
    gw_flusher_stop(w->batch->flusher);
    h2o_multithread_unregister_receiver(w->ctx.queue, &w->batch->flushed);
    h2o_timeout_dispose(w->loop, &w->batch->end_of_pass);
    free(w->batch);
    w->batch = NULL;
}

static void log_store_error(gw_worker_t *w, const char *what)
{
    if (store_unavailable(w->store, NULL))
        return; /* each request's answer logs store_unavailable: one line per refused request, not two */
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

/*
 * Commits the pass's transaction: without waiting for the disk when a flusher will make it durable
 * (the ticket is kept for the pass's stage), else as a durable commit. The callbacks run at once:
 * what they answer is held until the stage is back.
 */
static void commit_pass(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    b->open = 0;
    uint64_t ticket = 0;
    int committed = (b->flusher != NULL ? store_commit_deferred(w->store, &ticket) : store_commit(w->store)) == STORE_OK;
    if (!committed) {
        log_store_error(w, "batch_commit");
        store_rollback(w->store);
    } else if (ticket > b->wal_ticket) {
        b->wal_ticket = ticket;
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

/* Answers may go out directly again once no stage is in flight and no pass is holding. */
static void release_if_idle(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    if (b->n_in_flight > 0 || b->holding)
        return;
    w->hold_answers = 0;
    gw_respond_release_held(w);
}

static const char stage_failure[] =
    "the change was made but the disk did not confirm it (the flush failed); it may not survive a crash: send it again";

/* Sends the answers of every stage at the head that is back, oldest first. */
static void release_stages(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    while (!h2o_linklist_is_empty(&b->in_flight)) {
        stage_t *s = H2O_STRUCT_FROM_MEMBER(stage_t, link, b->in_flight.next);
        if (!s->back)
            break;
        h2o_linklist_unlink(&s->link);
        b->n_in_flight--;
        gw_respond_release(&s->answers, s->job.wal_failed ? stage_failure : NULL);
        free(s);
    }
    release_if_idle(w);
}

static void on_flushed(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    gw_batch_t *b = H2O_STRUCT_FROM_MEMBER(gw_batch_t, flushed, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        gw_flush_job_t *job = H2O_STRUCT_FROM_MEMBER(gw_flush_job_t, message.link, messages->next);
        h2o_linklist_unlink(&job->message.link);
        H2O_STRUCT_FROM_MEMBER(stage_t, job, job)->back = 1;
    }
    release_stages(b->worker);
}

/*
 * Ends the pass's hold: its answers (and any held while earlier stages are in flight, which may
 * have read their writes) go with a stage to the flusher, or, without one, out after the flush here.
 */
static void end_hold(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    b->holding = 0;
    gw_audit_mark_t mark;
    gw_audit_batch_end_deferred(&mark);
    if (b->flusher == NULL) {
        (void)gw_audit_sync(&mark); /* the commit was durable already; a failed audit flush is logged there */
        return;
    }
    if (b->wal_ticket == 0 && mark.audit == NULL && b->n_in_flight == 0)
        return; /* nothing of the pass needs the disk (a failed commit: its 500s can go) */
    stage_t *s = gw_calloc(1, sizeof(*s));
    s->job.wal_ticket = b->wal_ticket;
    s->job.audit = mark;
    h2o_linklist_init_anchor(&s->answers);
    h2o_linklist_insert_list(&s->answers, &w->held_answers);
    h2o_linklist_insert(&b->in_flight, &s->link);
    b->n_in_flight++;
    b->wal_ticket = 0;
    gw_flusher_submit(b->flusher, &s->job);
}

void gw_batch_flush(gw_worker_t *w)
{
    gw_batch_t *b = w->batch;
    if (h2o_timeout_is_linked(&b->flush_entry))
        h2o_timeout_unlink(&b->flush_entry);
    if (b->open) {
        commit_pass(w);
        if (b->open) {
            /* A callback began the next batch: everything held waits for that one. */
            h2o_timeout_link(w->loop, &b->end_of_pass, &b->flush_entry);
            return;
        }
    }
    if (b->holding)
        end_hold(w);
    release_if_idle(w);
}
