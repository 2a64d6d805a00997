/*
 * Outbox delivery: one thread that owns the Odeus client (upstream/) and its own store
 * connection, delivers every pending outbox row with retries, and tells waiting requests how
 * their row ended.
 *
 * A request that must know the outcome (a deactivation is answered only after Odeus
 * confirmed it) registers a waiter *before* committing its row, then kicks the thread. The
 * thread settles the waiter, at most once, by sending it as a message to the worker's receiver;
 * the callback then runs on the worker thread. A worker that gives up first (its deadline)
 * calls gw_outbox_unwait: when that returns 1 the waiter is the worker's again and no message
 * will come; when it returns 0 the message is already on its way.
 */
#ifndef GATEWAY_OUTBOX_H
#define GATEWAY_OUTBOX_H

#include <h2o.h>
#include <h2o/multithread.h>
#include <stdint.h>

#include "common/attr.h"
#include "gateway/config.h"
#include "upstream/odeus.h"

typedef struct gw_outbox gw_outbox_t;

typedef enum gw_settle {
    GW_SETTLE_DONE,    /** Odeus confirmed (outcome done, already or not_member) */
    GW_SETTLE_REFUSED, /** Odeus refused permanently; result.message says why */
    GW_SETTLE_PENDING, /** not delivered within the waiter's deadline; still queued */
} gw_settle_t;

typedef struct gw_outbox_waiter {
    h2o_multithread_message_t message;    /** private: how the settle reaches the worker */
    h2o_multithread_receiver_t *receiver; /** the worker's receiver, set by the caller */
    int64_t outbox_id;                    /** set by the caller */
    int64_t deadline_ms;                  /** monotonic; set by the caller */
    /* filled when settled */
    gw_settle_t settle;
    odeus_result_t result;
    int64_t retry_after_s; /** for PENDING: when the IdP should ask again */
    struct gw_outbox_waiter *_next;
} gw_outbox_waiter_t;

/**
 * Opens the outbox's store connection, creates the Odeus client and starts the thread; rows
 * left pending by an earlier run are delivered at once. Returns NULL with a message in `err`.
 * `config` is borrowed and must outlive the outbox.
 */
GW_MUST_CHECK gw_outbox_t *gw_outbox_start(const gw_config_t *config, char *err, size_t err_len);

/** Stops the thread: waits up to `grace_ms` for calls in flight, then ends them; frees everything. */
void gw_outbox_stop(gw_outbox_t *outbox, int64_t grace_ms);

/** Tells the thread that rows were committed. Any thread. */
void gw_outbox_kick(gw_outbox_t *outbox);

/** Registers a waiter (borrowed until settled or unwaited). Any thread. */
void gw_outbox_wait(gw_outbox_t *outbox, gw_outbox_waiter_t *waiter);

/** Takes a waiter back. 1: it was still registered (no message will come); 0: already settled. */
int gw_outbox_unwait(gw_outbox_t *outbox, gw_outbox_waiter_t *waiter);

/** 1 while the last Odeus answer was 401/403 (the key is wrong or lacks the scope). */
int gw_outbox_auth_failing(const gw_outbox_t *outbox);

#endif
