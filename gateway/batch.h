/*
 * Group commit inside one worker. The writes of every request a worker handles in one pass of
 * its event loop share one SQLite transaction, committed at the end of the pass; the worker's flush
 * thread (gateway/flusher.h) then fsyncs the WAL and fdatasyncs the pass's audit entries while the
 * loop goes on with the next passes; only when that flush is back are the answers of the pass sent.
 * So 64 concurrent PATCHes on one connection each cost a 64th of a commit, a slow disk delays
 * answers without stopping the loop (the next flush carries every pass committed meanwhile), and no
 * IdP is told about a change before it is durable (README.md, "Lifecycle → Odeus").
 *
 * A request's writes sit in a savepoint of the batch transaction: gw_batch_join opens the
 * transaction (if this pass has none yet) and the savepoint, then gw_batch_keep folds the writes
 * in, or gw_batch_drop undoes them alone (a 409, a 412) while the batch goes on. What must happen
 * after the commit (the audit entry, the answer) is registered with gw_batch_after_commit.
 *
 * While a batch is open, or a flush is in flight, the worker holds every answer (gw_respond_* keep
 * them in the request's pool; see respond.h), reads included: a read may see writes that are not
 * durable yet, so its answer waits for their flush as well. Answers leave in the order of their
 * passes. A flush that fails turns the answers it held into 500s.
 *
 * Ownership: the batch belongs to its worker (gw_worker_t.batch, made by gw_batch_init, freed by
 * gw_batch_dispose) and is touched only by the worker's thread; items belong to their callers
 * (embedded in their own structs) and must stay valid until their callback ran.
 */
#ifndef GATEWAY_BATCH_H
#define GATEWAY_BATCH_H

#include <h2o.h>

#include "common/attr.h"

struct gw_worker;
typedef struct gw_batch gw_batch_t;
typedef struct gw_batch_item gw_batch_item_t;

/** `committed` is 1 when the batch is durable, 0 when its commit failed (nothing of it stands). */
typedef void (*gw_batch_cb)(gw_batch_item_t *item, int committed);

struct gw_batch_item {
    h2o_linklist_t link;
    gw_batch_cb cb;
};

/** Makes w->batch; needs w->loop and w->ctx. Out of memory aborts. */
void gw_batch_init(struct gw_worker *w);
/**
 * Starts the worker's flush thread (needs w->config->database); until then, or if it cannot start
 * (logged), each pass's flush runs on the loop.
 */
void gw_batch_start_flusher(struct gw_worker *w);
/** Commits what is open and runs the loop until every flush in flight is back and its answers sent. */
void gw_batch_finish(struct gw_worker *w);
/** gw_batch_finish, then stops the flush thread, releases the timeout and frees w->batch. */
void gw_batch_dispose(struct gw_worker *w);

/**
 * Answers given and audit entries appended from now until the end of the pass wait for it: then
 * one fdatasync covers the entries and the answers go out. Implied by gw_batch_join.
 */
void gw_batch_hold(struct gw_worker *w);
/** Opens the request's savepoint (and the transaction). 0, or -1 with the reason in store_errmsg. */
GW_MUST_CHECK int gw_batch_join(struct gw_worker *w);
/** The request's writes stay in the batch. 0, or -1 (they were undone). */
GW_MUST_CHECK int gw_batch_keep(struct gw_worker *w);
/** The request's writes are undone; the batch goes on. */
void gw_batch_drop(struct gw_worker *w);
/** `cb` runs once the batch has committed (or failed to). */
void gw_batch_after_commit(struct gw_worker *w, gw_batch_item_t *item, gw_batch_cb cb);
/**
 * Ends the pass now (also called at the end of every pass): the commit, the callbacks, then the
 * pass's flush (the WAL's fsync and one fdatasync of the audit log for every entry of the pass)
 * handed to the flush thread, or run here without one; the held answers go once it is done.
 */
void gw_batch_flush(struct gw_worker *w);

#endif
