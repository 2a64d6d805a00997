#include "gateway/flusher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "gateway/metrics.h"
#include "store/store.h"

/*
 * The audit log's fdatasync runs on a second thread, beside the WAL's fsync: they are two files,
 * and one after the other a round would take the sum of two flush latencies instead of the larger.
 */
typedef struct audit_side {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gw_flush_job_t *jobs; /* the round's jobs to sync the audit entries of; NULL when idle */
    int busy;             /* jobs handed over and not yet synced */
    int stopping;
} audit_side_t;

struct gw_flusher {
    store_t *store; /* only this thread's: store_sync needs a connection of the same file */
    h2o_multithread_receiver_t *done;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    gw_flush_job_t *head, *tail; /* submitted, not yet taken */
    int stopping;
    audit_side_t audit;
};

static void *audit_main(void *arg)
{
    audit_side_t *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->busy && !a->stopping)
            pthread_cond_wait(&a->cond, &a->lock);
        if (!a->busy)
            break;
        gw_flush_job_t *jobs = a->jobs;
        pthread_mutex_unlock(&a->lock);
        /* a failure is logged and counted there; the answers go out as before (audit.h) */
        for (gw_flush_job_t *j = jobs; j != NULL; j = j->next_)
            (void)gw_audit_sync(&j->audit);
        pthread_mutex_lock(&a->lock);
        a->busy = 0;
        a->jobs = NULL;
        pthread_cond_broadcast(&a->cond);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/*
 * One round: the first job's flush covers every commit and audit entry made before the round
 * began, later jobs of the round find theirs durable already (store_sync and gw_audit_sync share
 * what a flush covered). Jobs go back in the order they came.
 */
static void flush_round(gw_flusher_t *f, gw_flush_job_t *jobs)
{
    size_t n = 0;
    int64_t t0 = gw_clock_mono_us();
    audit_side_t *a = &f->audit;
    pthread_mutex_lock(&a->lock);
    a->jobs = jobs;
    a->busy = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    for (gw_flush_job_t *j = jobs; j != NULL; j = j->next_) {
        n++;
        j->wal_failed = f->store != NULL && store_sync(f->store, j->wal_ticket) != STORE_OK;
        if (j->wal_failed)
            gw_log(GW_LOG_ERROR, "store_failed", json_pack("{s:s, s:s}", "step", "flush", "error", store_errmsg(f->store)));
    }
    pthread_mutex_lock(&a->lock);
    while (a->busy)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
    gw_metrics_flush(n, gw_clock_mono_us() - t0);
    while (jobs != NULL) {
        gw_flush_job_t *j = jobs;
        jobs = j->next_;
        j->next_ = NULL;
        h2o_multithread_send_message(f->done, &j->message);
    }
}

static void *flusher_main(void *arg)
{
    gw_flusher_t *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (f->head == NULL && !f->stopping)
            pthread_cond_wait(&f->cond, &f->lock);
        if (f->head == NULL)
            break; /* stopping, and nothing left */
        gw_flush_job_t *jobs = f->head;
        f->head = f->tail = NULL;
        pthread_mutex_unlock(&f->lock);
        flush_round(f, jobs);
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

static void stop_audit_side(audit_side_t *a)
{
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
}

static void destroy(gw_flusher_t *f)
{
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->audit.lock);
    pthread_cond_destroy(&f->audit.cond);
    store_close(f->store);
    free(f);
}

gw_flusher_t *gw_flusher_start(const char *db_path, h2o_multithread_receiver_t *done, char *err, size_t err_len)
{
    /* PostgreSQL: nothing to sync (every ticket is 0), no connection; the audit side still has its thread */
    store_t *store = NULL;
    if (store_defers_sync(db_path) && (store = store_open(db_path, err, err_len)) == NULL)
        return NULL;
    gw_flusher_t *f = gw_calloc(1, sizeof(*f));
    f->store = store;
    f->done = done;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    pthread_mutex_init(&f->audit.lock, NULL);
    pthread_cond_init(&f->audit.cond, NULL);
    int rc = pthread_create(&f->audit.thread, NULL, audit_main, &f->audit);
    if (rc == 0) {
        rc = pthread_create(&f->thread, NULL, flusher_main, f);
        if (rc != 0)
            stop_audit_side(&f->audit);
    }
    if (rc != 0) {
        if (err != NULL)
            snprintf(err, err_len, "cannot start the flush threads: %s", strerror(rc));
        destroy(f);
        return NULL;
    }
    return f;
}

void gw_flusher_submit(gw_flusher_t *f, gw_flush_job_t *job)
{
    job->next_ = NULL;
    job->wal_failed = 0;
    pthread_mutex_lock(&f->lock);
    if (f->tail != NULL)
        f->tail->next_ = job;
    else
        f->head = job;
    f->tail = job;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

void gw_flusher_stop(gw_flusher_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    stop_audit_side(&f->audit);
    destroy(f);
}
