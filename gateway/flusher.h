/*
 * A worker's flush thread: makes a pass's writes durable while the worker's event loop goes on.
 *
 * The worker commits a pass's transaction without waiting for the disk (store_commit_deferred),
 * leaves the audit entries of the pass unsynced (gw_audit_batch_end_deferred) and hands both to
 * this thread as a job. The thread fsyncs the WAL, while a second one fdatasyncs the audit log, once
 * for every job queued by then, and hands the jobs back to the worker's loop through an h2o receiver, in the order
 * they were submitted. So the loop keeps reading and planning requests while a flush is under way,
 * and the next flush carries everything committed meanwhile: throughput grows with concurrency
 * instead of falling with the disk's flush latency. Nothing is answered before its job is back
 * (gateway/batch.h holds the answers).
 *
 * On PostgreSQL the commit is durable when it returns (every ticket is 0): the thread keeps no
 * database connection and only the audit log's fdatasync leaves the loop.
 *
 * Ownership: the worker starts the flusher (gw_flusher_start, on its own database connection) and
 * stops it (gw_flusher_stop, which finishes every submitted job first). A job belongs to the caller
 * and must stay valid until it came back through the receiver.
 */
#ifndef GATEWAY_FLUSHER_H
#define GATEWAY_FLUSHER_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <stdint.h>

#include "common/attr.h"
#include "gateway/audit.h"

typedef struct gw_flusher gw_flusher_t;

typedef struct gw_flush_job {
    h2o_multithread_message_t message; /** private: how the job comes back to the loop */
    uint64_t wal_ticket;               /** store_commit_deferred's ticket; 0 for none */
    gw_audit_mark_t audit;             /** the audit entries to sync; {NULL, 0} for none */
    int wal_failed;                    /** set by the flusher: the WAL could not be flushed */
    struct gw_flush_job *next_;        /** private */
} gw_flush_job_t;

/**
 * Opens the flusher's own connection to the database at `db_path` and starts its thread; finished
 * jobs are sent to `done` (whose callback receives their messages, oldest first). NULL on failure,
 * with the reason in `err`.
 */
GW_MUST_CHECK gw_flusher_t *gw_flusher_start(const char *db_path, h2o_multithread_receiver_t *done, char *err, size_t err_len);
/** Queues `job` (its wal_ticket and audit set); the flusher's thread is woken. */
void gw_flusher_submit(gw_flusher_t *f, gw_flush_job_t *job);
/** Finishes every submitted job (sending it back), stops the thread, closes the connection, frees `f`. NULL is accepted. */
void gw_flusher_stop(gw_flusher_t *f);

#endif
