/*
 * The live set of accepted SCIM tokens, replaceable while the gateway serves (SIGHUP).
 *
 * A set is immutable once published. Readers (every worker, on every request) take a counted
 * reference to the current set, use it, and drop it; gw_tokens_replace publishes a new set with
 * a pointer swap under a short mutex, and the old set is freed (digests wiped) when its last
 * reader drops it. So a request admitted with the old set finishes with it, and the next request
 * sees the new one.
 *
 * Token names are interned: the pointers in gw_tokenset_t.names stay valid until gw_tokens_free,
 * after any set holding them is gone, so requests and pending Odeus calls may keep them (logs,
 * the audit log).
 *
 * Each token has a slot, 0 to GW_MAX_TOKENS - 1, that keys its rate-limit bucket and its
 * metrics: a token whose name is still present after a replace keeps its slot (and so its
 * bucket); a new name gets a slot no token of the new set uses, reset before the set is published.
 */
#ifndef GATEWAY_TOKENS_H
#define GATEWAY_TOKENS_H

#include <stdatomic.h>
#include <stddef.h>

#include "gateway/config.h"

typedef struct gw_tokenset {
    atomic_uint refs;
    size_t n;
    gw_token_t tokens[GW_MAX_TOKENS];
    const char *names[GW_MAX_TOKENS]; /** interned copies of tokens[i].name */
    unsigned slots[GW_MAX_TOKENS];    /** rate-limit bucket and metrics index of tokens[i] */
} gw_tokenset_t;

typedef struct gw_tokens gw_tokens_t;

/** Called for each slot handed to a new token name, before the set that uses it is published. */
typedef void (*gw_tokens_slot_cb)(void *ctx, unsigned slot);

/** The first set: `n` (1..GW_MAX_TOKENS) tokens, slot i for token i. NULL when `n` is out of range. */
gw_tokens_t *gw_tokens_create(const gw_token_t *tokens, size_t n);
/** Frees the holder, its set and the interned names; no reader may be left. */
void gw_tokens_free(gw_tokens_t *t);

/** A counted reference to the current set (thread-safe). Release with gw_tokens_release. */
const gw_tokenset_t *gw_tokens_acquire(gw_tokens_t *t);
void gw_tokens_release(const gw_tokenset_t *set);

/**
 * Publishes `n` (1..GW_MAX_TOKENS) tokens as the new set (thread-safe; one replacer at a time).
 * `on_new_slot` (may be NULL) is called for every slot given to a name the old set did not have.
 * Returns 0, or -1 when `n` is out of range (the old set stays).
 */
int gw_tokens_replace(gw_tokens_t *t, const gw_token_t *tokens, size_t n, gw_tokens_slot_cb on_new_slot, void *ctx);

#endif
