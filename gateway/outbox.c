#include "gateway/outbox.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/clock.h"
#include "gateway/log.h"
#include "gateway/store.h"
#include "upstream/client.h"
#include "upstream/retry.h"

/* Rows taken per scan; the rest wait for the next scan, which a completion triggers. */
#define DUE_BATCH 64
/* A scan runs at least this often even without kicks, so that nothing due waits longer. */
#define IDLE_SCAN_MS 1000

typedef struct job {
    gw_outbox_t *outbox;
    int64_t id;
    odeus_action_t action;
    char *user_id;
    char *email;
    char *role;
    int attempts; /* before this one */
    struct job *next;
} job_t;

struct gw_outbox {
    const gw_config_t *config;
    store_t *store;
    upstream_client_t *client;
    pthread_t thread;
    atomic_int stop;
    atomic_int kicked;
    atomic_int auth_failing;
    pthread_mutex_t waiters_lock;
    gw_outbox_waiter_t *waiters;
    /* owned by the delivery thread */
    job_t *inflight;
    size_t n_inflight;
    int completed;
    uint64_t rng;
};

static uint64_t next_random(gw_outbox_t *ob)
{
    /* splitmix64: jitter only needs to spread retries, not to be secret */
    uint64_t z = (ob->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void job_free(job_t *job)
{
    free(job->user_id);
    free(job->email);
    free(job->role);
    free(job);
}

static void inflight_remove(gw_outbox_t *ob, job_t *job)
{
    for (job_t **p = &ob->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            ob->n_inflight--;
            return;
        }
    }
}

/* Hands the waiter of row `id` (if any) back to its worker, when `take` says so. */
static void settle_waiter(gw_outbox_t *ob, int64_t id, gw_settle_t settle, const odeus_result_t *result,
                          int64_t next_attempt_mono)
{
    gw_outbox_waiter_t *found = NULL;
    pthread_mutex_lock(&ob->waiters_lock);
    for (gw_outbox_waiter_t **p = &ob->waiters; *p != NULL; p = &(*p)->_next) {
        gw_outbox_waiter_t *w = *p;
        if (w->outbox_id != id)
            continue;
        /* A retry that will still happen before the deadline keeps the waiter waiting. */
        if (settle == GW_SETTLE_PENDING && next_attempt_mono < w->deadline_ms)
            break;
        *p = w->_next;
        found = w;
        break;
    }
    pthread_mutex_unlock(&ob->waiters_lock);
    if (found == NULL)
        return;
    found->settle = settle;
    found->result = *result;
    int64_t wait_ms = next_attempt_mono - gw_clock_mono_ms();
    found->retry_after_s = wait_ms > 1000 ? (wait_ms + 999) / 1000 : 1;
    h2o_multithread_send_message(found->receiver, &found->message);
}

static const char *event_name(odeus_action_t action, odeus_outcome_t outcome)
{
    if (outcome == ODEUS_OUTCOME_REFUSED)
        return "odeus_refused";
    switch (action) {
    case ODEUS_INVITE:
        return "odeus_invited";
    case ODEUS_DEACTIVATE:
        return "odeus_deactivated";
    case ODEUS_UPDATE_ROLE:
        return "odeus_role_updated";
    }
    return "odeus_call";
}

static void on_call_done(void *user, const odeus_result_t *result)
{
    job_t *job = user;
    gw_outbox_t *ob = job->outbox;
    int attempts = job->attempts + 1;
    int64_t now = gw_clock_unix_ms();
    json_t *fields = json_pack("{s:I, s:s, s:s, s:s, s:I, s:i, s:s}", "outbox_id", (json_int_t)job->id, "user_id",
                               job->user_id, "action", odeus_action_name(job->action), "outcome",
                               odeus_outcome_name(result->outcome), "http_status", (json_int_t)result->http_status,
                               "attempts", attempts, "message", result->message);

    if (result->outcome == ODEUS_OUTCOME_AUTH)
        atomic_store(&ob->auth_failing, 1);
    else if (result->http_status != 0)
        atomic_store(&ob->auth_failing, 0);

    if (odeus_outcome_is_final(result->outcome)) {
        int refused = result->outcome == ODEUS_OUTCOME_REFUSED;
        if (store_outbox_finish(ob->store, job->id, refused ? STORE_OUTBOX_FAILED : STORE_OUTBOX_DONE,
                                odeus_outcome_name(result->outcome), refused ? result->message : NULL, now) != STORE_OK) {
            /* The row stays pending and is sent again: harmless, Odeus calls are idempotent in effect. */
            gw_log(GW_LOG_ERROR, "outbox_store_failed",
                   json_pack("{s:I, s:s}", "outbox_id", (json_int_t)job->id, "error", store_errmsg(ob->store)));
        }
        gw_log(refused ? GW_LOG_ERROR : GW_LOG_INFO, event_name(job->action, result->outcome), fields);
        settle_waiter(ob, job->id, refused ? GW_SETTLE_REFUSED : GW_SETTLE_DONE, result, 0);
    } else {
        int64_t delay = upstream_retry_delay_ms((unsigned)attempts, result->outcome, result->retry_after_ms, next_random(ob));
        json_object_set_new(fields, "retry_in_ms", json_integer(delay));
        if (store_outbox_reschedule(ob->store, job->id, now + delay, odeus_outcome_name(result->outcome), result->message) !=
            STORE_OK)
            gw_log(GW_LOG_ERROR, "outbox_store_failed",
                   json_pack("{s:I, s:s}", "outbox_id", (json_int_t)job->id, "error", store_errmsg(ob->store)));
        gw_log(result->outcome == ODEUS_OUTCOME_AUTH ? GW_LOG_ERROR : GW_LOG_WARN,
               result->outcome == ODEUS_OUTCOME_AUTH ? "odeus_auth_failed" : "odeus_retry", fields);
        settle_waiter(ob, job->id, GW_SETTLE_PENDING, result, gw_clock_mono_ms() + delay);
    }
    inflight_remove(ob, job);
    job_free(job);
    ob->completed = 1;
}

static void log_dry_run(gw_outbox_t *ob, const job_t *job)
{
    char *body = odeus_request_body(job->action, job->email, job->role);
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", ob->config->odeus_base_url, odeus_action_path(job->action));
    gw_log(GW_LOG_INFO, "dry_run_call",
           json_pack("{s:I, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)job->id, "method", "POST", "url", url,
                     "authorization", "Bearer [redacted]", "body", body != NULL ? body : ""));
    free(body);
}

static void submit_row(gw_outbox_t *ob, const store_outbox_t *row)
{
    job_t *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return;
    job->outbox = ob;
    job->id = row->id;
    job->attempts = row->attempts;
    job->user_id = strdup(row->user_id);
    job->email = strdup(row->email);
    job->role = row->role != NULL ? strdup(row->role) : NULL;
    if (job->user_id == NULL || job->email == NULL || (row->role != NULL && job->role == NULL) ||
        odeus_action_parse(row->action, &job->action) != 0) {
        gw_log(GW_LOG_ERROR, "outbox_bad_row", json_pack("{s:I, s:s}", "outbox_id", (json_int_t)row->id, "action", row->action));
        job_free(job);
        return;
    }
    if (ob->config->dry_run)
        log_dry_run(ob, job);
    if (upstream_client_submit(ob->client, job->action, job->email, job->role, on_call_done, job) != 0) {
        job_free(job);
        return;
    }
    job->next = ob->inflight;
    ob->inflight = job;
    ob->n_inflight++;
}

/* Submits every due row that is not in flight; returns when the next scan is needed (unix ms). */
static int64_t scan_due(gw_outbox_t *ob)
{
    int64_t now = gw_clock_unix_ms();
    int64_t skip[DUE_BATCH * 4];
    size_t n_skip = 0;
    for (job_t *j = ob->inflight; j != NULL && n_skip < sizeof(skip) / sizeof(skip[0]); j = j->next)
        skip[n_skip++] = j->id;

    store_outbox_t rows[DUE_BATCH];
    size_t n = 0;
    if (n_skip < sizeof(skip) / sizeof(skip[0]) &&
        store_outbox_due(ob->store, now, skip, n_skip, rows, DUE_BATCH, &n) == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            submit_row(ob, &rows[i]);
            store_outbox_clear(&rows[i]);
        }
    }
    int64_t next = now + IDLE_SCAN_MS, due;
    if (n == DUE_BATCH)
        next = now; /* more are waiting */
    else if (store_outbox_next_due(ob->store, &due) == STORE_OK && due > now && due < next)
        next = due;
    return next;
}

static void *delivery_main(void *arg)
{
    gw_outbox_t *ob = arg;
    int64_t next_scan = 0;
    while (!atomic_load(&ob->stop)) {
        int64_t now = gw_clock_unix_ms();
        if (atomic_exchange(&ob->kicked, 0) || ob->completed || now >= next_scan) {
            ob->completed = 0;
            next_scan = scan_due(ob);
            now = gw_clock_unix_ms();
        }
        int64_t wait = next_scan - now;
        upstream_client_poll(ob->client, wait < 0 ? 0 : wait > IDLE_SCAN_MS ? IDLE_SCAN_MS : (int)wait);
    }
    return NULL;
}

gw_outbox_t *gw_outbox_start(const gw_config_t *config, char *err, size_t err_len)
{
    gw_outbox_t *ob = calloc(1, sizeof(*ob));
    if (ob == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    ob->config = config;
    pthread_mutex_init(&ob->waiters_lock, NULL);
    if (RAND_bytes((unsigned char *)&ob->rng, sizeof(ob->rng)) != 1)
        ob->rng = (uint64_t)gw_clock_mono_us();
    if ((ob->store = store_open(config->db_path, err, err_len)) == NULL)
        goto fail;
    upstream_config_t uc = {
        .base_url = config->odeus_base_url,
        .api_key = config->odeus_api_key != NULL ? config->odeus_api_key : "",
        .dry_run = config->dry_run,
        .timeout_ms = config->upstream_deadline_ms,
        .connect_timeout_ms = config->upstream_deadline_ms < 5000 ? config->upstream_deadline_ms : 5000,
        .max_connections = 32,
        .ca_file = config->odeus_ca_file[0] != '\0' ? config->odeus_ca_file : NULL,
    };
    if ((ob->client = upstream_client_create(&uc, err, err_len)) == NULL)
        goto fail;
    if (pthread_create(&ob->thread, NULL, delivery_main, ob) != 0) {
        snprintf(err, err_len, "cannot start the delivery thread");
        goto fail;
    }
    return ob;
fail:
    if (ob->client != NULL)
        upstream_client_destroy(ob->client);
    if (ob->store != NULL)
        store_close(ob->store);
    pthread_mutex_destroy(&ob->waiters_lock);
    free(ob);
    return NULL;
}

void gw_outbox_stop(gw_outbox_t *ob, int64_t grace_ms)
{
    atomic_store(&ob->stop, 1);
    upstream_client_wakeup(ob->client);
    pthread_join(ob->thread, NULL);
    /* Let calls already on the wire finish so their outcome is recorded; the rest stay pending. */
    int64_t until = gw_clock_mono_ms() + grace_ms;
    while (ob->n_inflight > 0 && gw_clock_mono_ms() < until)
        upstream_client_poll(ob->client, 50);
    upstream_client_destroy(ob->client);
    while (ob->inflight != NULL) {
        job_t *next = ob->inflight->next;
        job_free(ob->inflight);
        ob->inflight = next;
    }
    store_close(ob->store);
    pthread_mutex_destroy(&ob->waiters_lock);
    free(ob);
}

void gw_outbox_kick(gw_outbox_t *ob)
{
    atomic_store(&ob->kicked, 1);
    upstream_client_wakeup(ob->client);
}

void gw_outbox_wait(gw_outbox_t *ob, gw_outbox_waiter_t *w)
{
    pthread_mutex_lock(&ob->waiters_lock);
    w->_next = ob->waiters;
    ob->waiters = w;
    pthread_mutex_unlock(&ob->waiters_lock);
}

int gw_outbox_unwait(gw_outbox_t *ob, gw_outbox_waiter_t *w)
{
    int found = 0;
    pthread_mutex_lock(&ob->waiters_lock);
    for (gw_outbox_waiter_t **p = &ob->waiters; *p != NULL; p = &(*p)->_next) {
        if (*p == w) {
            *p = w->_next;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&ob->waiters_lock);
    return found;
}

int gw_outbox_auth_failing(const gw_outbox_t *ob)
{
    return atomic_load(&((gw_outbox_t *)ob)->auth_failing);
}
