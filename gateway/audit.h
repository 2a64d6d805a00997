/*
 * The audit log: an append-only JSON Lines file with one entry per lifecycle decision (a user
 * created, changed, deactivated or deleted, and how the Odeus call for it ended).
 *
 * Each line is one compact JSON object:
 *   {"seq":N,"time":"<RFC 3339 UTC>","event":...,"token":...,"request_id":...,"user_id":...,
 *    ...,"prev":"<hex SHA-256 of the previous line's bytes, without its newline>"}
 * The first entry's prev is 64 zeros. Editing, deleting or reordering any entry breaks the
 * chain from that point on, which `odeus-scim-gateway audit verify FILE [HEAD]` reports. The
 * last entry is covered only by the head hash (the SHA-256 of the last line): the gateway logs it
 * as audit_head on start and stop so that a copy outside the pod can be compared with HEAD.
 *
 * No secrets and no emails are written: users are named by their SCIM id, callers by their
 * token's name.
 *
 * Durability: each entry is one write(2), under a mutex, to a file opened O_APPEND, so entries
 * from all workers are in chain order; gw_audit_append returns once an fdatasync(2) begun after
 * that write has finished (writers at the same moment share one: group sync), so the entry is on
 * disk before the IdP is answered. A failed write is logged (audit_write_failed) and counted
 * (gw_audit_write_failures, which metrics.c exports); the request itself is not failed, because
 * its change is already committed.
 *
 * This module is a leaf: it knows files, JSON and hashes (common/), not the server, the request
 * or the outbox; callers pass the plain values an entry records. `audit verify` lives in
 * cli/audit_cli.c and uses the chain helpers at the end of this header.
 */
#ifndef GATEWAY_AUDIT_H
#define GATEWAY_AUDIT_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "common/digest.h"

typedef struct gw_audit gw_audit_t;

/**
 * Opens (creating, mode 0600) the log at `path` and reads its last entry to continue the chain.
 * NULL with a reason in `err` when it cannot be opened or its last line is not a valid entry.
 * The handle is shared by every thread; close it once, after they are done.
 */
GW_MUST_CHECK gw_audit_t *gw_audit_open(const char *path, char *err, size_t err_len);
/** Waits for the entries still to be synced, logs the head and closes. NULL is fine. */
void gw_audit_close(gw_audit_t *audit);

/**
 * Appends one entry: `fields` (a JSON object, stolen; may be NULL) with seq, time, event first
 * and prev last. `event` is a static string (it names the entry and its counter). Thread-safe.
 * Returns 0, or -1 when it could not be written (already logged and counted; `audit` NULL counts
 * as a failed write).
 */
int gw_audit_append(gw_audit_t *audit, const char *event, json_t *fields);

/** Why a change's Odeus call differs from the one its user alone would have needed (the seat rule). */
typedef struct gw_audit_seat {
    const char *reason;       /** "seat_shared", or NULL: nothing to say */
    int other_holders;        /** other active users holding the same Odeus email */
    const char *planned_call; /** the call the user alone would have needed (an action name) */
} gw_audit_seat_t;

/**
 * A committed change of the user `user_id`, by the request `request_id` made with the token
 * `token_name` (either may be NULL): entry `event` (static). `odeus_call` (an action name) and
 * `role` may be NULL; the role is recorded only with a call. `seat` (may be NULL) says why the
 * call is not the user's own. `dry_run` marks the entry as made by a gateway that sends nothing
 * to Odeus. Any thread; strings are copied.
 */
void gw_audit_lifecycle(gw_audit_t *audit, int dry_run, const char *request_id, const char *token_name, const char *event,
                        const char *user_id, const char *odeus_call, const char *role, const gw_audit_seat_t *seat);
/**
 * How the Odeus call a request waited for ended (entry odeus_result; the request is named as
 * above): `odeus_call` the action name, `result` "confirmed", "refused" or "pending",
 * `odeus_outcome` the outcome name or NULL to leave it out, `odeus_status` the HTTP status or 0
 * to leave it out. Any thread; strings are copied.
 */
void gw_audit_settled(gw_audit_t *audit, int dry_run, const char *request_id, const char *token_name, const char *user_id,
                      const char *odeus_call, const char *result, const char *odeus_outcome, long odeus_status);

/**
 * Between gw_audit_batch_begin() and gw_audit_batch_end_deferred() (same thread, may nest)
 * gw_audit_append writes without waiting for the disk; the outermost end hands out a mark, and
 * gw_audit_sync waits once for every entry of the batch (one fdatasync for all of them). Callers
 * answer the IdP only after that.
 */
void gw_audit_batch_begin(void);

/** What a batch's entries need to be on disk: the log (NULL when the batch wrote none) and the last entry. */
typedef struct gw_audit_mark {
    gw_audit_t *audit;
    unsigned long long ticket;
} gw_audit_mark_t;

/** Ends the batch without waiting: `*mark` says what to wait for, with gw_audit_sync on any thread (gateway/flusher.h). */
void gw_audit_batch_end_deferred(gw_audit_mark_t *mark);
/**
 * Writes and fdatasyncs the entries up to `mark` (shared with any concurrent caller); 0, or -1 when
 * that failed (logged and counted). A mark with no log is 0 at once. Any thread.
 */
int gw_audit_sync(const gw_audit_mark_t *mark);

/* ---- counters, process-wide (for metrics.c) ------------------------------------------------- */

/** Receives one event name (static) and the entries written under it. */
typedef void (*gw_audit_count_cb)(void *ctx, const char *event, unsigned long long written);

/**
 * Calls `cb` for every event name seen so far, in the order they were first written, with the
 * number of entries written under it since the process started. Any thread, lock-free.
 */
void gw_audit_each_count(gw_audit_count_cb cb, void *ctx);
/** Entries that could not be written since the process started. Any thread. */
unsigned long long gw_audit_write_failures(void);

/* ---- the chain, for `audit verify` ---------------------------------------------------------- */

/** Size of a hash in hex with its NUL. */
#define GW_AUDIT_HASH_HEX GW_DIGEST_HEX_LEN

/** The prev of the first entry: 64 zeros. */
void gw_audit_chain_start(char prev[GW_AUDIT_HASH_HEX]);
/** The hash the next entry's prev must hold: SHA-256 in hex of one line, without its newline. */
void gw_audit_chain_hash(const char *line, size_t len, char out[GW_AUDIT_HASH_HEX]);
/**
 * Reads one line (without its newline) as an entry: returns its seq, or a negative value when it
 * is not an entry (not JSON, or without an integer seq and a string prev, or a negative seq).
 * When `entry` is not NULL and the return is >= 0, *entry gets the parsed object (the caller's;
 * json_decref it); otherwise *entry is left alone.
 */
long long gw_audit_entry_parse(const char *line, size_t len, json_t **entry);

#endif
