#include "gateway/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/alloc.h"

typedef struct bucket {
    pthread_mutex_t lock;
    double level;  /* requests available now */
    int64_t at_ms; /* when level was computed */
} bucket_t;

struct gw_ratelimit {
    double per_ms;
    double burst;
    size_t n;
    bucket_t buckets[];
};

gw_ratelimit_t *gw_ratelimit_create(size_t n_keys, unsigned per_minute, unsigned burst)
{
    gw_ratelimit_t *rl = gw_calloc(1, sizeof(*rl) + n_keys * sizeof(bucket_t));
    rl->per_ms = per_minute / 60000.0;
    rl->burst = burst > 0 ? burst : 1;
    rl->n = n_keys;
    for (size_t i = 0; i < n_keys; i++) {
        pthread_mutex_init(&rl->buckets[i].lock, NULL);
        rl->buckets[i].level = rl->burst;
        rl->buckets[i].at_ms = -1;
    }
    return rl;
}

void gw_ratelimit_free(gw_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->n; i++)
        pthread_mutex_destroy(&rl->buckets[i].lock);
    free(rl);
}

void gw_ratelimit_reset(gw_ratelimit_t *rl, size_t key)
{
    if (key >= rl->n)
        return;
    bucket_t *b = &rl->buckets[key];
    pthread_mutex_lock(&b->lock);
    b->level = rl->burst;
    b->at_ms = -1;
    pthread_mutex_unlock(&b->lock);
}

int64_t gw_ratelimit_take(gw_ratelimit_t *rl, size_t key, int64_t now_ms)
{
    if (rl->per_ms <= 0 || key >= rl->n)
        return 0;
    bucket_t *b = &rl->buckets[key];
    int64_t wait_s = 0;
    pthread_mutex_lock(&b->lock);
    if (b->at_ms >= 0 && now_ms > b->at_ms) {
        b->level += (double)(now_ms - b->at_ms) * rl->per_ms;
        if (b->level > rl->burst)
            b->level = rl->burst;
    }
    if (b->at_ms < 0 || now_ms > b->at_ms)
        b->at_ms = now_ms;
    if (b->level >= 1.0) {
        b->level -= 1.0;
    } else {
        double ms = (1.0 - b->level) / rl->per_ms;
        wait_s = (int64_t)(ms / 1000.0) + 1;
    }
    pthread_mutex_unlock(&b->lock);
    return wait_s;
}
