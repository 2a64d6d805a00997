/*
 * Group commit inside one worker. The writes of every request a worker handles in one pass of
 * its event loop share one SQLite transaction, committed at the end of the pass with one fsync of
 * the WAL; the audit entries of the pass then share one fdatasync; only then are the answers of
 * the pass sent. So 64 concurrent PATCHes on one connection each cost a 64th of a commit, while
 * no IdP is told about a change before it is durable (README.md, "Lifecycle → Odeus").
 *
 * A request's writes sit in a savepoint of the batch transaction: gw_batch_join opens the
 * transaction (if this pass has none yet) and the savepoint, then gw_batch_keep folds the writes
 * in, or gw_batch_drop undoes them alone (a 409, a 412) while the batch goes on. What must happen
 * after the commit (the audit entry, the answer) is registered with gw_batch_after_commit.
 *
 * While a batch is open the worker holds every answer (gw_respond_* keep them in the request's
 * pool; see respond.h), reads included: a read in the pass may see the batch's uncommitted writes,
 * so its answer must wait for their commit as well.
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

/** Makes w->batch; needs w->loop. Out of memory aborts. */
void gw_batch_init(struct gw_worker *w);
/** Commits what is open, then releases the timeout and frees w->batch. */
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
 * Commits now (also called at the end of every pass): the fsync of the WAL, the callbacks, one
 * fdatasync of the audit log for every entry of the pass, then the held answers.
 */
void gw_batch_flush(struct gw_worker *w);

#endif
