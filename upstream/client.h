/*
 * The Odeus HTTP client: a libcurl multi handle driven by one thread (its owner), as
 * so no h2o event loop ever waits on Odeus. It knows Odeus and HTTP, nothing of SCIM or h2o.
 *
 * Threading: create, submit, poll, inflight and destroy are called on the owner thread only;
 * upstream_client_wakeup() may be called from any thread. Callbacks run on the owner thread,
 * inside upstream_client_poll().
 */
#ifndef UPSTREAM_CLIENT_H
#define UPSTREAM_CLIENT_H

#include <stddef.h>

#include "common/attr.h"
#include "upstream/odeus.h"

typedef struct upstream_config {
    const char *base_url; /** e.g. https://api.odeus.ai or <deployment-url>/api/public; copied */
    const char *api_key;  /** sent as Authorization: Bearer; copied; never logged */
    int dry_run;          /** 1: no HTTP; every call completes as ODEUS_OUTCOME_DONE on the next poll */
    long timeout_ms;      /** total time of one attempt */
    long connect_timeout_ms;
    long max_connections; /** CURLMOPT_MAXCONNECTS and MAX_HOST_CONNECTIONS */
    const char *ca_file;  /** NULL: the system bundle; TLS verification is always on */
} upstream_config_t;

typedef struct upstream_client upstream_client_t;

/** Called once per submitted call with its result (borrowed for the duration of the call). */
typedef void (*upstream_done_cb)(void *user, const odeus_result_t *result);

/** Returns a client, or NULL with a message in `err`. */
GW_MUST_CHECK upstream_client_t *upstream_client_create(const upstream_config_t *config, char *err, size_t err_len);

/** Ends every call in flight without calling its callback, then frees the client. */
void upstream_client_destroy(upstream_client_t *client);

/**
 * Starts one call. The client copies `email` and `role`. `cb` is called exactly once, from a
 * later upstream_client_poll(), unless the client is destroyed first. Returns 0, or -1 when the
 * call could not even be started (then `cb` is not called).
 */
GW_MUST_CHECK int upstream_client_submit(upstream_client_t *client, odeus_action_t action, const char *email, const char *role,
                                         upstream_done_cb cb, void *user);

/** Called once per batched invite with one result per address, in the order submitted (borrowed for the call). */
typedef void (*upstream_batch_cb)(void *user, const odeus_result_t *results, size_t n);

/**
 * Starts one invite call carrying `n` (>= 1) users (odeus_invite_body); the client copies what it
 * needs. `cb` is called exactly once, from a later upstream_client_poll(), with users[i]'s result
 * at index i (odeus_classify_invites), unless the client is destroyed first. Returns 0, or -1 when
 * the call could not be started (then `cb` is not called).
 */
GW_MUST_CHECK int upstream_client_submit_invites(upstream_client_t *client, const odeus_invitee_t *users, size_t n,
                                                 upstream_batch_cb cb, void *user);

/** Called once per group call with its answer (borrowed for the duration of the call). */
typedef void (*upstream_group_cb)(void *user, const odeus_group_result_t *result);

/**
 * Starts one group call (odeus_group_http builds it; the client copies what it needs). `cb` is
 * called exactly once, from a later upstream_client_poll(), unless the client is destroyed first.
 * In dry-run every call completes as ODEUS_OUTCOME_DONE with an empty answer. Returns 0, or -1
 * when the call could not be started (then `cb` is not called).
 */
GW_MUST_CHECK int upstream_client_submit_group(upstream_client_t *client, const odeus_group_request_t *req, upstream_group_cb cb,
                                               void *user);

/**
 * Waits up to `timeout_ms` for network activity or a wakeup, moves transfers forward and calls
 * the callbacks of the calls that finished. Returns 0, or -1 on a curl multi error.
 */
int upstream_client_poll(upstream_client_t *client, int timeout_ms);

/** Makes a poll in progress (or the next one) return at once. Any thread. */
void upstream_client_wakeup(upstream_client_t *client);

/** Calls submitted and not yet completed. */
size_t upstream_client_inflight(const upstream_client_t *client);

#endif
