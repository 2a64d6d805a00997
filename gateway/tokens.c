#include "gateway/tokens.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

typedef struct interned {
    struct interned *next;
    char name[GW_TOKEN_NAME_LEN];
} interned_t;

struct gw_tokens {
    pthread_mutex_t lock;   /* guards `current` (readers take their reference under it) */
    gw_tokenset_t *current; /* holds one reference */
    pthread_mutex_t intern_lock;
    interned_t *names;
};

static const char *intern(gw_tokens_t *t, const char *name)
{
    const char *found = NULL;
    pthread_mutex_lock(&t->intern_lock);
    for (interned_t *i = t->names; i != NULL && found == NULL; i = i->next)
        if (strcmp(i->name, name) == 0)
            found = i->name;
    if (found == NULL) {
        interned_t *i = gw_calloc(1, sizeof(*i));
        snprintf(i->name, sizeof(i->name), "%s", name);
        i->next = t->names;
        t->names = i;
        found = i->name;
    }
    pthread_mutex_unlock(&t->intern_lock);
    return found;
}

static void set_free(gw_tokenset_t *set)
{
    OPENSSL_cleanse(set->tokens, sizeof(set->tokens));
    free(set);
}

/* A new set with one reference (the holder's); slots are left to the caller. */
static gw_tokenset_t *set_new(gw_tokens_t *t, const gw_token_t *tokens, size_t n)
{
    if (n == 0 || n > GW_MAX_TOKENS)
        return NULL;
    gw_tokenset_t *set = gw_calloc(1, sizeof(*set));
    atomic_init(&set->refs, 1);
    set->n = n;
    memcpy(set->tokens, tokens, n * sizeof(*tokens));
    for (size_t i = 0; i < n; i++)
        set->names[i] = intern(t, tokens[i].name);
    return set;
}

gw_tokens_t *gw_tokens_create(const gw_token_t *tokens, size_t n)
{
    gw_tokens_t *t = gw_calloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->intern_lock, NULL);
    if ((t->current = set_new(t, tokens, n)) == NULL) {
        gw_tokens_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        t->current->slots[i] = (unsigned)i;
    return t;
}

void gw_tokens_free(gw_tokens_t *t)
{
    if (t == NULL)
        return;
    if (t->current != NULL)
        gw_tokens_release(t->current);
    while (t->names != NULL) {
        interned_t *next = t->names->next;
        free(t->names);
        t->names = next;
    }
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->intern_lock);
    free(t);
}

const gw_tokenset_t *gw_tokens_acquire(gw_tokens_t *t)
{
    pthread_mutex_lock(&t->lock);
    gw_tokenset_t *set = t->current;
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    return set;
}

void gw_tokens_release(const gw_tokenset_t *set)
{
    gw_tokenset_t *s = (gw_tokenset_t *)set;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        set_free(s);
}

int gw_tokens_replace(gw_tokens_t *t, const gw_token_t *tokens, size_t n, gw_tokens_slot_cb on_new_slot, void *ctx)
{
    gw_tokenset_t *set = set_new(t, tokens, n);
    if (set == NULL)
        return -1;
    const gw_tokenset_t *old = gw_tokens_acquire(t);
    int used[GW_MAX_TOKENS] = {0}, kept[GW_MAX_TOKENS] = {0};
    /* Names carried over keep their slots; interned names compare by pointer. */
    for (size_t i = 0; i < set->n; i++) {
        for (size_t j = 0; j < old->n; j++) {
            if (old->names[j] == set->names[i] && !used[old->slots[j]]) {
                set->slots[i] = old->slots[j];
                used[set->slots[i]] = kept[i] = 1;
                break;
            }
        }
    }
    gw_tokens_release(old);
    unsigned next = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (kept[i])
            continue;
        while (used[next])
            next++; /* n <= GW_MAX_TOKENS, so a free slot exists */
        set->slots[i] = next;
        used[next] = 1;
        if (on_new_slot != NULL)
            on_new_slot(ctx, next);
    }
    pthread_mutex_lock(&t->lock);
    gw_tokenset_t *previous = t->current;
    t->current = set;
    pthread_mutex_unlock(&t->lock);
    gw_tokens_release(previous);
    return 0;
}
