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
 * disk before the IdP is answered. A failed write is logged (audit_write_failed) and counted in metrics; the request
 * itself is not failed, because its change is already committed.
 */
#ifndef GATEWAY_AUDIT_H
#define GATEWAY_AUDIT_H

#include <stddef.h>
#include <stdio.h>

#include "gateway/outbox.h"
#include "gateway/respond.h"
#include "upstream/odeus.h"

typedef struct gw_audit gw_audit_t;

/**
 * Opens (creating, mode 0600) the log at `path` and reads its last entry to continue the chain.
 * NULL with a reason in `err` when it cannot be opened or its last line is not a valid entry.
 */
gw_audit_t *gw_audit_open(const char *path, char *err, size_t err_len);
/** Logs the head and closes. NULL is fine. */
void gw_audit_close(gw_audit_t *audit);

/**
 * Appends one entry: `fields` (a JSON object, stolen; may be NULL) with seq, time, event first
 * and prev last. Thread-safe. Returns 0, or -1 when it could not be written (already logged).
 */
int gw_audit_append(gw_audit_t *audit, const char *event, json_t *fields);

/**
 * Users.c hook: a committed change, by the request `request_id` made with the token `token_name`
 * (either may be NULL). `odeus_call` (an action name) and `role` may be NULL.
 */
void gw_audit_lifecycle(gw_worker_t *w, const char *request_id, const char *token_name, const char *event, const char *user_id,
                        const char *odeus_call, const char *role);
/**
 * Between gw_audit_batch_begin() and gw_audit_batch_end() (same thread, may nest) gw_audit_append
 * writes without waiting for the disk; the outermost _end waits once for every entry of the batch
 * (one fdatasync for all of them) and returns 0, or -1 when that failed (already logged and
 * counted). Callers answer the IdP only after _end.
 */
void gw_audit_batch_begin(void);
int gw_audit_batch_end(void);
/** Users.c hook: how the Odeus call a request waited for ended (the request is named as above). */
void gw_audit_settled(gw_worker_t *worker, const char *request_id, const char *token_name, const char *user_id,
                      odeus_action_t action, const gw_outbox_waiter_t *waiter);

/**
 * Verifies a whole file: JSON per line, seq 1, 2, 3..., each prev the hash of the line before.
 * `expect_head` (hex, may be NULL) must then equal the hash of the last line. Writes one line
 * of result to `out`. Returns 0 when intact, 1 when not, 2 when the file cannot be read.
 */
int gw_audit_verify(const char *path, const char *expect_head, FILE *out);

/** `audit verify FILE [HEAD]`: argv[0] is "audit". Returns the process exit code. */
int gw_audit_cli(int argc, char **argv);

#endif
