#include "gateway/outbox.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "gateway/metrics.h"
#include "gateway/mirror.h"
#include "store/store.h"
#include "upstream/breaker.h"
#include "upstream/client.h"
#include "upstream/pacer.h"
#include "upstream/retry.h"

/* Rows read per scan; the rest wait for the next scan, which a completion triggers. Above
 * GW_INVITE_BATCH_MAX so that one scan can fill a whole invite batch behind some deactivations. */
#define DUE_BATCH 256
/* A scan runs at least this often even without kicks, so that nothing due waits longer (and an
 * operator's `outbox retry` from another process is seen within a second). */
#define IDLE_SCAN_MS 1000
/*
 * An outbox row is claimed for one call (store_outbox_claim) for LEASE_FACTOR times the call's
 * timeout (the client aborts a call at --upstream-deadline-ms, so a live replica has recorded its
 * outcome well before) plus LEASE_MARGIN_MS for the replicas' clocks, which must agree to within
 * that. Only after it may another replica take the row over, so a replica that dies mid-call
 * delays its rows by at most this.
 */
#define LEASE_FACTOR    3
#define LEASE_MARGIN_MS 2000
/*
 * On a shared database (PostgreSQL) another replica may deliver the row a request here waits on:
 * the waiting rows are read back this often (a bounded poll rather than LISTEN/NOTIFY: one query
 * per waiting row, only while requests wait), at most WAITER_POLL_MAX of them per round, the next
 * round going on where this one stopped.
 */
#define WAITER_POLL_MS  200
#define WAITER_POLL_MAX 64
/* How many superseded_by links a polled row is followed through (the store keeps them one deep). */
#define WAITER_HOPS 4
/* The longest replica id: hostname, pid and a random part. */
#define REPLICA_ID_MAX 128

/* Consecutive 5xx / network failures that open the breaker, and its pauses. */
#define BREAKER_THRESHOLD 5
#define BREAKER_BASE_MS   1000
#define BREAKER_MAX_MS    60000

/* An outcome whose waiters hear of it once the poll's transaction has committed. */
typedef struct settle_rec {
    int64_t id;
    gw_settle_t settle;
    odeus_result_t result;
    int64_t next_attempt_mono;
    size_t sup_off, n_sup; /* the rows `id` superseded: gw_outbox.sup_ids[sup_off ...] */
} settle_rec_t;

typedef struct job {
    gw_outbox_t *outbox;
    int64_t id;  /* outbox row, or for a re-send the deactivation row it repeats */
    int recheck; /* 1: a pending-invitee re-send (invitee_recheck), not an outbox row */
    int probe;   /* the breaker's half-open probe */
    odeus_action_t action;
    char *user_id;
    char *email;
    char *role;
    int attempts; /* before this one */
    int64_t recheck_until;
    int64_t sent_mono;        /* a 429 lowers the pacer's rate only for calls sent after its last decrease */
    gw_mirror_plan_t *mirror; /* a group call of the mirror (gateway/mirror.h): its plan, and its row */
    store_outbox_t mirror_row;
    struct job *next;
} job_t;

/*
 * One invite call carrying rows of different seats, or a part of one that Odeus answered 400 as a
 * whole, waiting in gw_outbox.splits to be sent again. Owns `jobs` (the array, not the jobs: those
 * are in gw_outbox.inflight from the moment they join until their row is recorded, so that their
 * seats stay blocked and the scans skip them).
 */
typedef struct batch {
    gw_outbox_t *outbox;
    job_t **jobs;
    size_t n, cap;
    int probe;
    int64_t sent_mono; /* as job_t's: for the pacer's one decrease per 429 episode */
    struct batch *next;
} batch_t;

struct gw_outbox {
    const gw_config_t *config;
    store_t *store;
    upstream_client_t *client;
    pthread_t thread;
    gw_mirror_checker_t *checker; /* the groups drift check (--odeus-groups-check-interval), NULL when off */
    atomic_int stop;
    atomic_int kicked;
    atomic_int auth_failing;
    pthread_mutex_t waiters_lock;
    gw_outbox_waiter_t *waiters;
    /* owned by the delivery thread */
    job_t *inflight;               /* every row on the wire, or in a part of a split batch */
    size_t n_inflight;             /* rows in `inflight` */
    size_t n_calls;                /* calls on the wire, or claimed by a batch being filled: the concurrency cap counts these */
    batch_t *splits, *splits_tail; /* parts of batches answered 400, oldest first */
    batch_t *on_wire;              /* batches whose call is in the client, freed at stop if it never completes */
    int64_t *skip;                 /* the ids of `inflight`, rebuilt by each scan */
    size_t cap_skip;
    int completed;
    /* The last scan may have left due rows unstarted (a full batch, pacing, concurrency, a user
     * already on the wire), or an outcome may have made a hidden row due: a completion then
     * triggers a scan. Otherwise only kicks (new rows) and the timer do, since a scan reads and
     * sorts every pending row, those in flight included. */
    int rescan;
    int64_t seen_id; /* the newest row a scan has returned: a kick's scan looks only above it */
    uint64_t rng;
    upstream_breaker_t breaker;
    upstream_pacer_t pacer;
    double logged_rate; /* the pacer's rate last logged: growth is logged in large steps only */
    /* The outcomes of one poll are recorded in one transaction (records_begin/records_commit). */
    int tx_open;
    settle_rec_t *settles;
    size_t n_settles, cap_settles;
    int64_t *sup_ids; /* looked up inside the poll's transaction, whose pages are at hand */
    size_t n_sup_ids, cap_sup_ids;
    /* leases (several replicas on one database) */
    char replica[REPLICA_ID_MAX];
    int64_t lease_ms;
    int shared;               /* the store is shared with other replicas: waiters are polled */
    int64_t next_waiter_poll; /* monotonic */
    size_t waiter_poll_from;  /* where the last round stopped in the waiters list */
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
    if (job->mirror != NULL) {
        gw_mirror_plan_clear(job->mirror);
        free(job->mirror);
        store_outbox_clear(&job->mirror_row);
    }
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

/*
 * 1 when a call for seat `email` is on the wire: a seat's calls go out one at a time, in order,
 * whichever users made them (Odeus knows only the email). ASCII case folding, as the store's.
 */
static int seat_in_flight(const gw_outbox_t *ob, const char *email)
{
    for (const job_t *j = ob->inflight; j != NULL; j = j->next)
        if (strcasecmp(j->email, email) == 0)
            return 1;
    return 0;
}

/* Hands the waiter of row `id` (if any) back to its worker, unless a retry before its deadline remains. */
static void settle_one(gw_outbox_t *ob, int64_t id, gw_settle_t settle, const odeus_result_t *result, int64_t next_attempt_mono)
{
    for (;;) {
        gw_outbox_waiter_t *found = NULL;
        pthread_mutex_lock(&ob->waiters_lock);
        for (gw_outbox_waiter_t **p = &ob->waiters; *p != NULL; p = &(*p)->_next) {
            gw_outbox_waiter_t *w = *p;
            if (w->outbox_id != id)
                continue;
            /* A retry that will still happen before the deadline keeps the waiter waiting. */
            if (settle == GW_SETTLE_PENDING && next_attempt_mono < w->deadline_ms)
                continue;
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
}

/* Opens the poll's transaction at its first outcome; without one the writes autocommit. */
static void records_begin(gw_outbox_t *ob)
{
    if (!ob->tx_open && store_begin(ob->store) == STORE_OK)
        ob->tx_open = 1;
}

/* 1 when some request waits for an outcome: only then are superseded rows looked up. */
static int any_waiter(gw_outbox_t *ob)
{
    pthread_mutex_lock(&ob->waiters_lock);
    int any = ob->waiters != NULL;
    pthread_mutex_unlock(&ob->waiters_lock);
    return any;
}

/* Appends the id of a superseded row to the poll's list (store_outbox_superseded_by's visitor). */
static int on_superseded(void *ctx, int64_t id)
{
    gw_outbox_t *ob = ctx;
    if (ob->n_sup_ids == ob->cap_sup_ids) {
        size_t cap = ob->cap_sup_ids ? ob->cap_sup_ids * 2 : 64;
        ob->sup_ids = gw_realloc(ob->sup_ids, cap * sizeof(*ob->sup_ids));
        ob->cap_sup_ids = cap;
    }
    ob->sup_ids[ob->n_sup_ids++] = id;
    return 0;
}

/*
 * Notes an outcome for the waiters, told once the poll's records are committed. The rows it
 * superseded are looked up now, inside the transaction, rather than in one read transaction each
 * after it (each of which would re-read the pages a worker's commit invalidated).
 */
static void queue_settle(gw_outbox_t *ob, int64_t id, gw_settle_t settle, const odeus_result_t *result, int64_t next_attempt_mono)
{
    if (ob->n_settles == ob->cap_settles) {
        size_t cap = ob->cap_settles ? ob->cap_settles * 2 : 64;
        ob->settles = gw_realloc(ob->settles, cap * sizeof(*ob->settles));
        ob->cap_settles = cap;
    }
    settle_rec_t *sr = &ob->settles[ob->n_settles++];
    *sr = (settle_rec_t){id, settle, *result, next_attempt_mono, ob->n_sup_ids, 0};
    if (!any_waiter(ob))
        return;
    if (store_outbox_superseded_by(ob->store, id, on_superseded, ob) != STORE_OK)
        ob->n_sup_ids = sr->sup_off; /* their own deadline answers them: PENDING, which stays true */
    sr->n_sup = ob->n_sup_ids - sr->sup_off;
}

static void settle_waiter(gw_outbox_t *ob, const settle_rec_t *sr);
static void log_store_failure(gw_outbox_t *ob, int64_t id);

/*
 * Ends the poll's transaction (synchronous=NORMAL: no fsync; a record lost to a machine crash
 * means a harmless resend), then tells the waiters: a worker that hears of an outcome may act on
 * the row (undo a refused change), so the row must say so first.
 */
static void records_commit(gw_outbox_t *ob)
{
    if (ob->tx_open) {
        ob->tx_open = 0;
        if (store_commit(ob->store) != STORE_OK) {
            log_store_failure(ob, 0);
            store_rollback(ob->store);
        }
    }
    for (size_t i = 0; i < ob->n_settles; i++)
        settle_waiter(ob, &ob->settles[i]);
    ob->n_settles = 0;
    ob->n_sup_ids = 0;
}

/*
 * Settles the waiters of row `id` and of every row it superseded. A request waiting on a
 * superseded row is answered by the row that replaced it, which carries the same or a newer
 * intent of the same user: a deactivation waiter whose row was folded into a newer deactivation
 * learns whether that one reached Odeus; a grant waiter is answered by the deactivation that made
 * it moot (grants are lenient, so it gets its success either way). See README, "Outbox".
 */
static void settle_waiter(gw_outbox_t *ob, const settle_rec_t *sr)
{
    if (!any_waiter(ob))
        return;
    settle_one(ob, sr->id, sr->settle, &sr->result, sr->next_attempt_mono);
    for (size_t i = 0; i < sr->n_sup; i++)
        settle_one(ob, ob->sup_ids[sr->sup_off + i], sr->settle, &sr->result, sr->next_attempt_mono);
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

static void log_store_failure(gw_outbox_t *ob, int64_t id)
{
    gw_log(GW_LOG_ERROR, "outbox_store_failed",
           json_pack("{s:I, s:s}", "outbox_id", (json_int_t)id, "error", store_errmsg(ob->store)));
}

/* The breaker's state for /metrics, whenever it may have changed. */
static void publish_breaker_state(const gw_outbox_t *ob, upstream_breaker_state_t before)
{
    if (ob->breaker.state != before)
        gw_metrics_circuit(upstream_breaker_state_name(ob->breaker.state));
}

/*
 * The pacer's rate for /metrics, and for the log when it was lowered or has grown by a quarter
 * since last logged (or reached its ceiling): a growing rate changes with every success, which
 * would drown the log.
 */
static void publish_rate(gw_outbox_t *ob, double before, int lowered)
{
    double rate = ob->pacer.rate;
    gw_metrics_odeus_rate(rate);
    if (lowered) {
        gw_log(GW_LOG_INFO, "odeus_rate_lowered", json_pack("{s:f, s:f}", "from_per_sec", before, "rate_per_sec", rate));
        ob->logged_rate = rate;
    } else if (rate >= ob->logged_rate * 1.25 || (rate >= ob->pacer.max_rate && ob->logged_rate < ob->pacer.max_rate)) {
        gw_log(
            GW_LOG_INFO, "odeus_rate_raised",
            json_pack("{s:f, s:f, s:f}", "from_per_sec", ob->logged_rate, "rate_per_sec", rate, "max_per_sec", ob->pacer.max_rate));
        ob->logged_rate = rate;
    }
}

/* Feeds the answer to the breaker and the pacer: 429 and 5xx/no answer slow the whole client down. */
static void pace_result(gw_outbox_t *ob, int probe, int64_t sent_mono, const odeus_result_t *result)
{
    int64_t now = gw_clock_mono_ms();
    upstream_breaker_result_t kind = UPSTREAM_BREAKER_SUCCESS;
    double rate_before = ob->pacer.rate;
    if (result->http_status == 429) {
        kind = UPSTREAM_BREAKER_THROTTLED;
        if (upstream_pacer_throttled(&ob->pacer, sent_mono, now))
            publish_rate(ob, rate_before, 1);
    } else if (result->outcome == ODEUS_OUTCOME_RETRY && (result->http_status == 0 || result->http_status >= 500)) {
        /* only a call that really failed; a dry-run call (no HTTP status) completes as done */
        kind = UPSTREAM_BREAKER_FAILURE;
    } else if (upstream_pacer_succeeded(&ob->pacer, now)) {
        publish_rate(ob, rate_before, 0);
    }
    upstream_breaker_state_t before = ob->breaker.state;
    if (upstream_breaker_record(&ob->breaker, now, kind, result->retry_after_ms, probe))
        gw_log(GW_LOG_WARN, "odeus_breaker_open",
               json_pack("{s:s, s:I, s:I, s:f}", "reason", kind == UPSTREAM_BREAKER_THROTTLED ? "throttled" : "failing",
                         "http_status", (json_int_t)result->http_status, "pause_ms", (json_int_t)(ob->breaker.open_until_ms - now),
                         "rate_per_sec", ob->pacer.rate));
    else if (before != UPSTREAM_BREAKER_CLOSED && ob->breaker.state == UPSTREAM_BREAKER_CLOSED)
        gw_log(GW_LOG_INFO, "odeus_breaker_closed", json_pack("{s:f}", "rate_per_sec", ob->pacer.rate));
    publish_breaker_state(ob, before);
}

/*
 * A deactivation Odeus answered 404 for a user the gateway had invited: the invitation may still
 * be pending, and Odeus cannot revoke it, so the deactivation is sent again on a schedule to
 * remove a late acceptance. Runs inside the transaction that finishes the row.
 */
static void maybe_schedule_recheck(gw_outbox_t *ob, const job_t *job, int64_t now)
{
    const gw_config_t *c = ob->config;
    int invited = 0;
    if (c->invitee_recheck_for_ms <= 0 || store_outbox_invite_delivered(ob->store, job->email, &invited) != STORE_OK || !invited)
        return;
    int64_t first = now + c->invitee_recheck_interval_ms, until = now + c->invitee_recheck_for_ms;
    store_status_t rc =
        job->action == ODEUS_UPDATE_ROLE
            ? store_recheck_schedule_role(ob->store, job->user_id, job->email, job->role, job->id, now, first, until)
            : store_recheck_schedule(ob->store, job->user_id, job->email, job->id, now, first, until);
    if (rc != STORE_OK) {
        log_store_failure(ob, job->id);
        return;
    }
    gw_log(GW_LOG_INFO, "invitee_recheck_scheduled",
           json_pack("{s:I, s:s, s:s, s:I, s:I}", "outbox_id", (json_int_t)job->id, "user_id", job->user_id, "action",
                     odeus_action_name(job->action), "interval_ms", (json_int_t)c->invitee_recheck_interval_ms, "for_ms",
                     (json_int_t)c->invitee_recheck_for_ms));
}

/*
 * The end of one re-send: a 200 means the invitee had joined after all, and is now removed (a
 * deactivation) or has its role (a role change); a 404 means they still have not joined.
 */
static void recheck_done(gw_outbox_t *ob, job_t *job, const odeus_result_t *result, int64_t now)
{
    const gw_config_t *c = ob->config;
    json_t *fields =
        json_pack("{s:I, s:s, s:s, s:I, s:s}", "outbox_id", (json_int_t)job->id, "user_id", job->user_id, "outcome",
                  odeus_outcome_name(result->outcome), "http_status", (json_int_t)result->http_status, "message", result->message);
    store_status_t rc;
    int waiting = result->outcome == ODEUS_OUTCOME_ALREADY || result->outcome == ODEUS_OUTCOME_NOT_MEMBER;
    if (result->outcome == ODEUS_OUTCOME_DONE) {
        rc = store_recheck_remove(ob->store, job->user_id);
        if (job->action == ODEUS_UPDATE_ROLE)
            json_object_set_new(fields, "role", json_string(job->role));
        gw_log(job->action == ODEUS_UPDATE_ROLE ? GW_LOG_INFO : GW_LOG_WARN,
               job->action == ODEUS_UPDATE_ROLE ? "late_invitee_role_applied" : "late_invitee_removed", fields);
    } else if (result->outcome == ODEUS_OUTCOME_REFUSED) {
        rc = store_recheck_remove(ob->store, job->user_id);
        gw_log(GW_LOG_ERROR, "invitee_recheck_refused", fields);
    } else if (waiting && now + c->invitee_recheck_interval_ms > job->recheck_until) {
        rc = store_recheck_remove(ob->store, job->user_id);
        gw_log(GW_LOG_INFO, "invitee_recheck_ended", fields);
    } else {
        int64_t next = now + c->invitee_recheck_interval_ms;
        if (!odeus_outcome_is_final(result->outcome)) {
            int64_t delay = upstream_retry_delay_capped_ms((unsigned)job->attempts + 1, result->outcome, result->retry_after_ms,
                                                           next_random(ob), c->invitee_recheck_interval_ms);
            next = now + delay;
        }
        rc = store_recheck_reschedule(ob->store, job->user_id, next, result->message);
        gw_log(odeus_outcome_is_final(result->outcome) ? GW_LOG_DEBUG : GW_LOG_WARN, "invitee_recheck_sent", fields);
    }
    if (rc != STORE_OK)
        log_store_failure(ob, job->id);
}

/* What any answer says of the API key, and of Odeus' load (breaker, pacer). */
static void note_answer(gw_outbox_t *ob, int probe, int64_t sent_mono, const odeus_result_t *result)
{
    if (result->outcome == ODEUS_OUTCOME_AUTH)
        atomic_store(&ob->auth_failing, 1);
    else if (result->http_status != 0)
        atomic_store(&ob->auth_failing, 0);
    pace_result(ob, probe, sent_mono, result);
}

/*
 * The row of `job` was taken over by another replica while this one's call was out (its lease ran
 * out first: this replica or its database connection stalled). That replica records the row and
 * its waiters here learn of it by the poll; this answer is only logged. Frees the job.
 */
static void lease_lost(gw_outbox_t *ob, job_t *job, const odeus_result_t *result)
{
    gw_log(GW_LOG_WARN, "outbox_lease_lost",
           json_pack("{s:I, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)job->id, "user_id", job->user_id, "action",
                     odeus_action_name(job->action), "outcome", odeus_outcome_name(result->outcome), "error",
                     store_errmsg(ob->store)));
    ob->rescan = 1;
    inflight_remove(ob, job);
    job_free(job);
}

/*
 * Records the outcome of the row of `job` (inside the poll's transaction) and frees the job:
 * finished, or rescheduled with backoff. `batch_id` is the first row of the invite call that
 * carried it with others (0 when it went alone), kept in the row for `outbox list`.
 */
static void finish_row(gw_outbox_t *ob, job_t *job, const odeus_result_t *result, int64_t batch_id)
{
    int attempts = job->attempts + 1;
    int64_t now = gw_clock_unix_ms();

    gw_metrics_odeus_call(job->action, result->outcome);
    store_status_t rc = batch_id > 0 ? store_outbox_set_batch(ob->store, job->id, batch_id) : STORE_OK;
    if (rc == STORE_CONFLICT) {
        lease_lost(ob, job, result);
        return;
    }
    if (rc != STORE_OK)
        log_store_failure(ob, job->id);

    int final = odeus_outcome_is_final(result->outcome), refused = result->outcome == ODEUS_OUTCOME_REFUSED;
    gw_log_level_t level = refused || result->outcome == ODEUS_OUTCOME_AUTH ? GW_LOG_ERROR : final ? GW_LOG_INFO : GW_LOG_WARN;
    json_t *fields = NULL; /* built only for a line that is written: this runs once per call */
    if (gw_log_enabled(level))
        fields = json_pack("{s:I, s:s, s:s, s:s, s:I, s:i, s:s}", "outbox_id", (json_int_t)job->id, "user_id", job->user_id,
                           "action", odeus_action_name(job->action), "outcome", odeus_outcome_name(result->outcome), "http_status",
                           (json_int_t)result->http_status, "attempts", attempts, "message", result->message);
    if (final) {
        rc = store_outbox_finish(ob->store, job->id, refused ? STORE_OUTBOX_FAILED : STORE_OUTBOX_DONE,
                                 odeus_outcome_name(result->outcome), refused ? result->message : NULL, now);
        if (rc == STORE_CONFLICT) {
            json_decref(fields);
            lease_lost(ob, job, result);
            return;
        }
        if (rc != STORE_OK) {
            /* The row stays pending and is sent again: harmless, Odeus calls are idempotent in effect. */
            log_store_failure(ob, job->id);
        } else if ((job->action == ODEUS_DEACTIVATE && result->outcome == ODEUS_OUTCOME_ALREADY) ||
                   (job->action == ODEUS_UPDATE_ROLE && result->outcome == ODEUS_OUTCOME_NOT_MEMBER)) {
            /* the invitee has not joined yet: the call is kept and sent again until it lands */
            maybe_schedule_recheck(ob, job, now);
        }
        gw_log(level, event_name(job->action, result->outcome), fields);
        queue_settle(ob, job->id, refused ? GW_SETTLE_REFUSED : GW_SETTLE_DONE, result, 0);
        /* the seat's next change was hidden behind this one: it is due now */
        int more = 0;
        if (!ob->rescan && (store_outbox_seat_pending(ob->store, job->email, &more) != STORE_OK || more))
            ob->rescan = 1;
    } else {
        int64_t delay = upstream_retry_delay_capped_ms((unsigned)attempts, result->outcome, result->retry_after_ms, next_random(ob),
                                                       ob->config->odeus_retry_max_delay_ms);
        if (fields != NULL)
            json_object_set_new(fields, "retry_in_ms", json_integer(delay));
        rc = store_outbox_reschedule(ob->store, job->id, now + delay, odeus_outcome_name(result->outcome), result->message);
        if (rc == STORE_CONFLICT) {
            json_decref(fields);
            lease_lost(ob, job, result);
            return;
        }
        if (rc != STORE_OK)
            log_store_failure(ob, job->id);
        /* 401/403: nothing is dropped, the row waits for a fixed key; said loudly every time */
        gw_log(level, result->outcome == ODEUS_OUTCOME_AUTH ? "odeus_auth_failed" : "odeus_retry", fields);
        queue_settle(ob, job->id, GW_SETTLE_PENDING, result, gw_clock_mono_ms() + delay);
        ob->rescan = 1; /* the wake-up time must take the new attempt time into account */
    }
    inflight_remove(ob, job);
    job_free(job);
}

static void on_call_done(void *user, const odeus_result_t *result)
{
    job_t *job = user;
    gw_outbox_t *ob = job->outbox;

    ob->n_calls--;
    ob->completed = 1;
    note_answer(ob, job->probe, job->sent_mono, result);
    if (job->action == ODEUS_INVITE)
        gw_metrics_invite_call(1);
    records_begin(ob);
    if (!job->recheck) {
        finish_row(ob, job, result, 0);
        return;
    }
    gw_metrics_odeus_call(job->action, result->outcome);
    recheck_done(ob, job, result, gw_clock_unix_ms());
    ob->rescan = 1;
    inflight_remove(ob, job);
    job_free(job);
}

static void batch_free(batch_t *b)
{
    free(b->jobs);
    free(b);
}

/* Queues a part of a split batch; scan_due sends these before it reads new rows. */
static void splits_push(gw_outbox_t *ob, batch_t *b)
{
    b->next = NULL;
    if (ob->splits_tail != NULL)
        ob->splits_tail->next = b;
    else
        ob->splits = b;
    ob->splits_tail = b;
}

static batch_t *splits_pop(gw_outbox_t *ob)
{
    batch_t *b = ob->splits;
    if (b != NULL && (ob->splits = b->next) == NULL)
        ob->splits_tail = NULL;
    return b;
}

/*
 * Bisection after a 400 to a whole batch: Odeus refuses the call for an address it cannot take
 * without naming it, so each half goes again; a half that is accepted is delivered, and the
 * refused address ends up alone, where the 400 is its own refusal. The rows stay in flight
 * meanwhile, so their seats' newer rows wait and no scan sends them a second time.
 */
static void batch_split(gw_outbox_t *ob, batch_t *b, const odeus_result_t *result)
{
    size_t half = b->n / 2;
    batch_t *second = gw_calloc(1, sizeof(*second));
    second->outbox = ob;
    second->n = second->cap = b->n - half;
    second->jobs = gw_malloc(second->n * sizeof(*second->jobs));
    memcpy(second->jobs, b->jobs + half, second->n * sizeof(*second->jobs));
    b->n = half;
    gw_log(GW_LOG_WARN, "odeus_invite_batch_split",
           json_pack("{s:I, s:I, s:I, s:s}", "first_row", (json_int_t)b->jobs[0]->id, "first_half", (json_int_t)b->n, "second_half",
                     (json_int_t)second->n, "message", result->message));
    splits_push(ob, b);
    splits_push(ob, second);
    ob->rescan = 1;
}

static void on_batch_done(void *user, const odeus_result_t *results, size_t n)
{
    batch_t *b = user;
    gw_outbox_t *ob = b->outbox;

    for (batch_t **p = &ob->on_wire; *p != NULL; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    ob->n_calls--;
    ob->completed = 1;
    note_answer(ob, b->probe, b->sent_mono, &results[0]);
    gw_metrics_invite_call(n);
    if (n > 1 && results[0].http_status == 400) {
        batch_split(ob, b, &results[0]);
        return;
    }
    records_begin(ob);
    int64_t batch_id = n > 1 ? b->jobs[0]->id : 0;
    for (size_t i = 0; i < b->n && i < n; i++)
        finish_row(ob, b->jobs[i], &results[i], batch_id);
    batch_free(b);
}

/* `body` is the call's JSON (NULL: one that could not be built); the log line takes a copy. */
static void log_dry_run(gw_outbox_t *ob, int64_t id, odeus_action_t action, const char *body)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", ob->config->odeus_base_url, odeus_action_path(action));
    gw_log(GW_LOG_INFO, "dry_run_call",
           json_pack("{s:I, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)id, "method", "POST", "url", url, "authorization",
                     "Bearer [redacted]", "body", body != NULL ? body : ""));
}

/*
 * May one more call start now? Checks the concurrency cap, the token bucket and the breaker, in
 * that order (the breaker last: a half-open probe is only claimed when a call really starts).
 * Returns 1 and sets *probe, or 0 and lowers *wake_mono to when it is worth asking again.
 */
static int may_start(gw_outbox_t *ob, int *probe, int64_t *wake_mono)
{
    int64_t now = gw_clock_mono_ms();
    if (ob->n_calls >= ob->config->odeus_max_concurrency)
        return 0; /* a completion wakes the loop */
    int64_t wait = upstream_pacer_wait_ms(&ob->pacer, now);
    if (wait == 0) {
        upstream_breaker_state_t before = ob->breaker.state;
        upstream_breaker_allow_t allow = upstream_breaker_allow(&ob->breaker, now);
        publish_breaker_state(ob, before);
        if (allow != UPSTREAM_BREAKER_DENY) {
            (void)upstream_pacer_take(&ob->pacer, now);
            *probe = allow == UPSTREAM_BREAKER_PROBE;
            return 1;
        }
        wait = upstream_breaker_wait_ms(&ob->breaker, now);
        if (wait < 0)
            return 0; /* the probe's completion wakes the loop */
    }
    if (now + wait < *wake_mono)
        *wake_mono = now + wait;
    return 0;
}

static void inflight_push(gw_outbox_t *ob, job_t *job)
{
    job->next = ob->inflight;
    ob->inflight = job;
    ob->n_inflight++;
}

static int submit_job(gw_outbox_t *ob, job_t *job)
{
    if (ob->config->dry_run) {
        char *body = odeus_request_body(job->action, job->email, job->role);
        log_dry_run(ob, job->id, job->action, body);
        free(body);
    }
    job->sent_mono = gw_clock_mono_ms();
    if (upstream_client_submit(ob->client, job->action, job->email, job->role, on_call_done, job) != 0) {
        job_free(job);
        return -1;
    }
    inflight_push(ob, job);
    ob->n_calls++;
    return 0;
}

static job_t *job_new(gw_outbox_t *ob, int64_t id, const char *user_id, const char *email, const char *role)
{
    job_t *job = gw_calloc(1, sizeof(*job));
    job->outbox = ob;
    job->id = id;
    job->user_id = gw_strdup(user_id);
    job->email = gw_strdup(email);
    job->role = role != NULL ? gw_strdup(role) : NULL;
    return job;
}

/*
 * Claims row `id` for the call about to start (store_outbox_claim): 1 when this replica holds it
 * now, 0 when another replica has it (or it is no longer due), which is not an error.
 */
static int claim_row(gw_outbox_t *ob, int64_t id)
{
    int64_t now = gw_clock_unix_ms();
    store_status_t rc = store_outbox_claim(ob->store, id, now, now + ob->lease_ms);
    if (rc == STORE_OK)
        return 1;
    if (rc == STORE_CONFLICT)
        gw_log(GW_LOG_DEBUG, "outbox_claim_skipped",
               json_pack("{s:I, s:s}", "outbox_id", (json_int_t)id, "reason", store_errmsg(ob->store)));
    else
        log_store_failure(ob, id);
    return 0;
}

/*
 * Claims the rows of a part of a split batch again before it is re-sent (the part may have waited
 * longer than a lease); the rows another replica took over meanwhile leave the part and flight.
 */
static void batch_reclaim(gw_outbox_t *ob, batch_t *b)
{
    size_t kept = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (claim_row(ob, b->jobs[i]->id)) {
            b->jobs[kept++] = b->jobs[i];
        } else {
            inflight_remove(ob, b->jobs[i]);
            job_free(b->jobs[i]);
        }
    }
    b->n = kept;
}

static void submit_row(gw_outbox_t *ob, const store_outbox_t *row, int probe)
{
    if (!claim_row(ob, row->id))
        return;
    job_t *job = job_new(ob, row->id, row->user_id, row->email, row->role);
    job->attempts = row->attempts;
    job->probe = probe;
    if (odeus_action_parse(row->action, &job->action) != 0) {
        gw_log(GW_LOG_ERROR, "outbox_bad_row", json_pack("{s:I, s:s}", "outbox_id", (json_int_t)row->id, "action", row->action));
        job_free(job);
        return;
    }
    (void)submit_job(ob, job);
}

static void submit_recheck(gw_outbox_t *ob, const store_recheck_t *rc, int probe)
{
    job_t *job = job_new(ob, rc->outbox_id, rc->user_id, rc->email, rc->role);
    job->recheck = 1;
    job->probe = probe;
    if (rc->action == NULL || odeus_action_parse(rc->action, &job->action) != 0)
        job->action = ODEUS_DEACTIVATE;
    job->attempts = rc->sends;
    job->recheck_until = rc->until_ms;
    (void)submit_job(ob, job);
}

/*
 * Opens an invite batch. It claims its call (a place under the concurrency cap, counted in
 * n_calls; the caller took the pacer's token with may_start) before its first row joins, so that
 * the rows started after it in the same scan see the cap as it will be.
 */
static batch_t *batch_open(gw_outbox_t *ob, int probe)
{
    batch_t *b = gw_calloc(1, sizeof(*b));
    b->outbox = ob;
    b->probe = probe;
    b->cap = ob->config->odeus_invite_batch;
    b->jobs = gw_malloc(b->cap * sizeof(*b->jobs));
    ob->n_calls++;
    return b;
}

/* The row is in flight from here on: no later row of its seat may join or start behind it. */
static void batch_add(gw_outbox_t *ob, batch_t *b, job_t *job)
{
    b->jobs[b->n++] = job;
    inflight_push(ob, job);
}

/*
 * Sends a batch whose call is already counted in n_calls; takes `b`. A lone row goes as the plain
 * call it always was. When the call cannot start, its rows leave flight and stay pending for a
 * later scan.
 */
static void batch_send(gw_outbox_t *ob, batch_t *b)
{
    if (b->n == 0) { /* every row it was opened for went to another replica */
        ob->n_calls--;
        batch_free(b);
        return;
    }
    if (b->n == 1) {
        job_t *job = b->jobs[0];
        inflight_remove(ob, job);
        ob->n_calls--;
        job->probe = b->probe;
        batch_free(b);
        (void)submit_job(ob, job);
        return;
    }
    odeus_invitee_t *users = gw_malloc(b->n * sizeof(*users));
    for (size_t i = 0; i < b->n; i++)
        users[i] = (odeus_invitee_t){b->jobs[i]->email, b->jobs[i]->role};
    if (ob->config->dry_run) {
        char *body = odeus_invite_body(users, b->n);
        log_dry_run(ob, b->jobs[0]->id, ODEUS_INVITE, body);
        free(body);
    }
    b->sent_mono = gw_clock_mono_ms();
    int rc = upstream_client_submit_invites(ob->client, users, b->n, on_batch_done, b);
    free(users);
    if (rc == 0) {
        b->next = ob->on_wire;
        ob->on_wire = b;
        return;
    }
    ob->n_calls--;
    for (size_t i = 0; i < b->n; i++) {
        inflight_remove(ob, b->jobs[i]);
        job_free(b->jobs[i]);
    }
    batch_free(b);
}

/*
 * How a mirror row goes on after its plan or its answer (inside the poll's transaction when there
 * was a call): ended, looked at again at a set time, or retried with backoff like any call.
 */
static void mirror_outcome(gw_outbox_t *ob, const store_outbox_t *row, const gw_mirror_plan_t *plan, int attempts)
{
    int64_t now = gw_clock_unix_ms();
    store_status_t rc = STORE_OK;
    switch (plan->step) {
    case GW_MIRROR_END: {
        rc = store_outbox_finish(ob->store, row->id, plan->state, plan->outcome,
                                 plan->state == STORE_OUTBOX_DONE ? NULL : plan->message, now);
        gw_log_level_t level = plan->state == STORE_OUTBOX_DONE ? GW_LOG_INFO : GW_LOG_ERROR;
        if (gw_log_enabled(level))
            gw_log(level, plan->state == STORE_OUTBOX_DONE ? "odeus_group_synced" : "odeus_group_failed",
                   json_pack("{s:I, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)row->id, "group_id", row->user_id, "action",
                             row->action, "outcome", plan->outcome, "message", plan->message));
        break;
    }
    case GW_MIRROR_LATER:
        rc = store_outbox_reschedule(ob->store, row->id, plan->at_ms, plan->outcome, plan->message);
        break;
    case GW_MIRROR_RETRY:
    case GW_MIRROR_SEND: {
        int64_t delay = upstream_retry_delay_capped_ms((unsigned)attempts + 1, ODEUS_OUTCOME_RETRY, -1, next_random(ob),
                                                       ob->config->odeus_retry_max_delay_ms);
        rc = store_outbox_reschedule(ob->store, row->id, now + delay, "retry", plan->message);
        gw_log(GW_LOG_WARN, "odeus_retry",
               json_pack("{s:I, s:s, s:s, s:s, s:I}", "outbox_id", (json_int_t)row->id, "group_id", row->user_id, "action",
                         row->action, "message", plan->message, "retry_in_ms", (json_int_t)delay));
        break;
    }
    }
    if (rc == STORE_CONFLICT)
        /* its lease ran out while its call was out, and another replica took the row over: that one records it */
        gw_log(GW_LOG_WARN, "outbox_lease_lost",
               json_pack("{s:I, s:s, s:s, s:s}", "outbox_id", (json_int_t)row->id, "group_id", row->user_id, "action", row->action,
                         "error", store_errmsg(ob->store)));
    else if (rc != STORE_OK)
        log_store_failure(ob, row->id);
    ob->rescan = 1; /* the group's next row, or this one's new time */
}

static void on_group_done(void *user, const odeus_group_result_t *res)
{
    job_t *job = user;
    gw_outbox_t *ob = job->outbox;
    ob->n_calls--;
    ob->completed = 1;
    note_answer(ob, job->probe, job->sent_mono, &res->result);
    records_begin(ob);
    gw_mirror_record(ob->config, ob->store, &job->mirror_row, job->mirror, res, gw_clock_unix_ms());
    if (job->mirror->step == GW_MIRROR_RETRY) {
        /* a 429 or 5xx: Retry-After and the outbox's backoff, as for the users' calls */
        int64_t delay = upstream_retry_delay_capped_ms((unsigned)job->attempts + 1, res->result.outcome, res->result.retry_after_ms,
                                                       next_random(ob), ob->config->odeus_retry_max_delay_ms);
        if (store_outbox_reschedule(ob->store, job->id, gw_clock_unix_ms() + delay, odeus_outcome_name(res->result.outcome),
                                    res->result.message) != STORE_OK)
            log_store_failure(ob, job->id);
        gw_log(res->result.outcome == ODEUS_OUTCOME_AUTH ? GW_LOG_ERROR : GW_LOG_WARN,
               res->result.outcome == ODEUS_OUTCOME_AUTH ? "odeus_auth_failed" : "odeus_retry",
               json_pack("{s:I, s:s, s:s, s:I, s:s, s:I}", "outbox_id", (json_int_t)job->id, "group_id", job->user_id, "call",
                         odeus_group_call_name(job->mirror->req.call), "http_status", (json_int_t)res->result.http_status,
                         "message", res->result.message, "retry_in_ms", (json_int_t)delay));
        ob->rescan = 1;
    } else {
        mirror_outcome(ob, &job->mirror_row, job->mirror, job->attempts);
    }
    inflight_remove(ob, job);
    job_free(job);
}

/* The dry-run line of a group call, in full as for the users' calls. */
static void log_dry_run_group(gw_outbox_t *ob, int64_t id, const odeus_group_request_t *req)
{
    odeus_http_t http;
    if (odeus_group_http(req, &http) != 0)
        return;
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", ob->config->odeus_base_url, http.path);
    gw_log(GW_LOG_INFO, "dry_run_call",
           json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)id, "call", odeus_group_call_name(req->call),
                     "method", http.method, "url", url, "authorization", "Bearer [redacted]", "body",
                     http.body != NULL ? http.body : ""));
    odeus_http_clear(&http);
}

/*
 * A due row of the mirror: claimed, planned (many need no call: already done, in sync, in
 * conflict), then sent under the same pacing and concurrency as every call. Claimed before it is
 * planned, not only before its call: the plan reads what the row's last attempt recorded (the
 * members Odeus has, the group's id), so a replica planning a row another one is working on would
 * send the same call again. Returns 0 when it could not start for pacing (the row stays due, and
 * this replica's until its next scan claims it again or the lease ends), else 1.
 */
static int start_group_row(gw_outbox_t *ob, const store_outbox_t *row, int *probe, int64_t *wake)
{
    if (!claim_row(ob, row->id))
        return 1; /* another replica's, or no longer due */
    gw_mirror_plan_t *plan = gw_calloc(1, sizeof(*plan));
    gw_mirror_prepare(ob->config, ob->store, row, gw_clock_unix_ms(), plan);
    if (plan->step != GW_MIRROR_SEND) {
        mirror_outcome(ob, row, plan, row->attempts);
        gw_mirror_plan_clear(plan);
        free(plan);
        return 1;
    }
    if (!may_start(ob, probe, wake)) {
        gw_mirror_plan_clear(plan);
        free(plan);
        return 0;
    }
    job_t *job = job_new(ob, row->id, row->user_id, row->email, NULL);
    job->attempts = row->attempts;
    job->probe = *probe;
    job->mirror = plan;
    job->mirror_row = (store_outbox_t){.id = row->id,
                                       .user_id = gw_strdup(row->user_id),
                                       .action = gw_strdup(row->action),
                                       .email = gw_strdup(row->email),
                                       .role = row->role != NULL ? gw_strdup(row->role) : NULL,
                                       .attempts = row->attempts};
    if (ob->config->dry_run)
        log_dry_run_group(ob, row->id, &plan->req);
    job->sent_mono = gw_clock_mono_ms();
    if (upstream_client_submit_group(ob->client, &plan->req, on_group_done, job) != 0) {
        /* a call that cannot be built now never can (a name that is not UTF-8): ended, not looped on */
        gw_log(GW_LOG_ERROR, "outbox_bad_row",
               json_pack("{s:I, s:s, s:s}", "outbox_id", (json_int_t)row->id, "action", row->action, "error",
                         "the group call could not be built"));
        if (store_outbox_finish(ob->store, row->id, STORE_OUTBOX_FAILED, "refused", "the group call could not be built",
                                gw_clock_unix_ms()) != STORE_OK)
            log_store_failure(ob, row->id);
        job_free(job);
        return 1;
    }
    inflight_push(ob, job);
    ob->n_calls++;
    return 1;
}

/*
 * Starts what is due. A full scan looks at every pending row; a kick's scan (`full` 0) only at the
 * rows committed since the last scan, which is all a kick can have added: the rows an earlier scan
 * left (pacing, a seat on the wire, a full read) keep `rescan` set until a full scan takes them.
 * Parts of split batches go first, then due rows (deactivations first, one call per seat at a
 * time), then due re-sends, as far as pacing allows. The due invites of different seats go out
 * together, up to --odeus-invite-batch per call; a batch takes what this scan finds and never
 * waits for more, so a lone invite leaves as soon as it would alone. Returns when the next scan is
 * needed (monotonic ms).
 */
static int64_t scan_due(gw_outbox_t *ob, int full)
{
    int64_t now = gw_clock_unix_ms(), mono = gw_clock_mono_ms();
    int64_t wake = mono + IDLE_SCAN_MS;
    int paced = 0, probe = 0;
    int left_before = full ? 0 : ob->rescan;

    ob->rescan = 1; /* until this scan shows it took everything due */
    while (ob->splits != NULL && !paced) {
        if (may_start(ob, &probe, &wake)) {
            batch_t *b = splits_pop(ob);
            batch_reclaim(ob, b);
            if (b->n == 0) {
                batch_free(b); /* taken over elsewhere: the pacer's token is spent, as for a call */
                continue;
            }
            b->probe = probe;
            ob->n_calls++;
            batch_send(ob, b);
        } else {
            paced = 1;
        }
    }
    if (ob->n_calls >= ob->config->odeus_max_concurrency)
        return wake; /* a completion wakes the loop */

    int held_back = 0;
    if (ob->cap_skip < ob->n_inflight) {
        ob->cap_skip = ob->n_inflight * 2;
        ob->skip = gw_realloc(ob->skip, ob->cap_skip * sizeof(*ob->skip));
    }
    size_t n_skip = 0;
    for (job_t *j = ob->inflight; j != NULL; j = j->next)
        ob->skip[n_skip++] = j->id;
    store_outbox_t rows[DUE_BATCH];
    size_t n = 0, used = 0;
    batch_t *batch = NULL; /* the invite call being filled */
    int batching = ob->config->odeus_invite_batch > 1;
    if (!paced &&
        store_outbox_due_after(ob->store, now, full ? 0 : ob->seen_id, ob->skip, n_skip, rows, DUE_BATCH, &n) == STORE_OK) {
        for (size_t i = 0; i < n; i++) {
            if (rows[i].id > ob->seen_id)
                ob->seen_id = rows[i].id;
            if (paced) {
                /* nothing more starts in this scan */
            } else if (seat_in_flight(ob, rows[i].email)) {
                held_back = 1;
            } else if (gw_mirror_is_action(rows[i].action)) {
                if (start_group_row(ob, &rows[i], &probe, &wake))
                    used++;
                else
                    paced = 1;
            } else if (batching && strcmp(rows[i].action, odeus_action_name(ODEUS_INVITE)) == 0) {
                if (batch == NULL && may_start(ob, &probe, &wake))
                    batch = batch_open(ob, probe);
                if (batch != NULL && !claim_row(ob, rows[i].id)) {
                    /* another replica has it: nothing joins */
                } else if (batch != NULL) {
                    job_t *job = job_new(ob, rows[i].id, rows[i].user_id, rows[i].email, rows[i].role);
                    job->action = ODEUS_INVITE;
                    job->attempts = rows[i].attempts;
                    batch_add(ob, batch, job);
                    used++;
                    if (batch->n == batch->cap) {
                        batch_send(ob, batch);
                        batch = NULL;
                    }
                } else {
                    paced = 1;
                }
            } else if (may_start(ob, &probe, &wake)) {
                submit_row(ob, &rows[i], probe);
                used++;
            } else {
                paced = 1;
            }
            store_outbox_clear(&rows[i]);
        }
    }
    if (batch != NULL)
        batch_send(ob, batch);
    if (n == DUE_BATCH && !paced && used > 0)
        wake = mono; /* more may be waiting */

    /* A kick's scan is for the rows just committed, which are due at once: re-sends and the times
     * of later attempts are the full scan's business (they change only with time and outcomes). */
    if (full && !paced && n < DUE_BATCH && gw_mirror_resend_due(ob->config, ob->store, now) != 0)
        log_store_failure(ob, 0);
    if (full && !paced && n < DUE_BATCH) {
        store_recheck_t rc[8];
        size_t m = 0;
        if (store_recheck_due(ob->store, now, rc, 8, &m) == STORE_OK) {
            for (size_t i = 0; i < m; i++) {
                if (!paced && !seat_in_flight(ob, rc[i].email)) {
                    if (may_start(ob, &probe, &wake))
                        submit_recheck(ob, &rc[i], probe);
                    else
                        paced = 1;
                }
                store_recheck_clear(&rc[i]);
            }
        }
    }

    ob->rescan = left_before || paced || held_back || n == DUE_BATCH || ob->splits != NULL;
    int64_t due;
    if (!full)
        return wake;
    if (store_outbox_next_due(ob->store, &due) == STORE_OK && due > now && mono + (due - now) < wake)
        wake = mono + (due - now);
    if (store_recheck_next_due(ob->store, &due) == STORE_OK && due > now && mono + (due - now) < wake)
        wake = mono + (due - now);
    return wake;
}

/*
 * What a polled row (`row`, superseded rows followed to the row that replaced them) tells its
 * waiters: 1 with *settle and *result filled when it is finished, 0 while it is pending or it
 * ended without an answer of Odeus (an operator's drop: the waiter's deadline answers that).
 */
static int polled_outcome(const store_outbox_t *row, gw_settle_t *settle, odeus_result_t *result)
{
    static const odeus_outcome_t finals[] = {ODEUS_OUTCOME_DONE, ODEUS_OUTCOME_ALREADY, ODEUS_OUTCOME_NOT_MEMBER,
                                             ODEUS_OUTCOME_REFUSED};
    if (row->state != STORE_OUTBOX_DONE && row->state != STORE_OUTBOX_FAILED && row->state != STORE_OUTBOX_SUPERSEDED)
        return 0;
    for (size_t i = 0; i < sizeof(finals) / sizeof(finals[0]); i++) {
        if (row->outcome == NULL || strcmp(row->outcome, odeus_outcome_name(finals[i])) != 0)
            continue;
        memset(result, 0, sizeof(*result));
        result->outcome = finals[i];
        result->retry_after_ms = -1;
        snprintf(result->message, sizeof(result->message), "%s",
                 row->last_error != NULL ? row->last_error : "delivered by another replica");
        *settle = finals[i] == ODEUS_OUTCOME_REFUSED ? GW_SETTLE_REFUSED : GW_SETTLE_DONE;
        return 1;
    }
    return 0;
}

/*
 * The bounded poll of a shared database: reads the rows requests here wait on and settles those
 * another replica finished (this replica's own outcomes settle at once, in records_commit). A
 * superseded row is answered by the row that replaced it, as settle_waiter does locally.
 */
static void poll_waiters(gw_outbox_t *ob)
{
    int64_t ids[WAITER_POLL_MAX];
    size_t n = 0, seen = 0;
    pthread_mutex_lock(&ob->waiters_lock);
    for (gw_outbox_waiter_t *w = ob->waiters; w != NULL && n < WAITER_POLL_MAX; w = w->_next, seen++) {
        if (seen < ob->waiter_poll_from)
            continue;
        int dup = 0;
        for (size_t i = 0; i < n && !dup; i++)
            dup = ids[i] == w->outbox_id;
        if (!dup)
            ids[n++] = w->outbox_id;
    }
    /* the next round goes on after these, or starts over at the end of the list */
    ob->waiter_poll_from = n == WAITER_POLL_MAX ? seen : 0;
    pthread_mutex_unlock(&ob->waiters_lock);
    for (size_t i = 0; i < n; i++) {
        store_outbox_t row;
        int64_t id = ids[i];
        store_status_t rc = store_outbox_get(ob->store, id, &row);
        for (int hop = 0; rc == STORE_OK && row.state == STORE_OUTBOX_SUPERSEDED && row.superseded_by > 0 && hop < WAITER_HOPS;
             hop++) {
            int64_t next = row.superseded_by;
            store_outbox_clear(&row);
            rc = store_outbox_get(ob->store, next, &row);
        }
        if (rc != STORE_OK) {
            if (rc != STORE_NOT_FOUND) /* not found: not committed yet */
                log_store_failure(ob, id);
            continue;
        }
        gw_settle_t settle;
        odeus_result_t result;
        if (polled_outcome(&row, &settle, &result))
            settle_one(ob, id, settle, &result, 0);
        store_outbox_clear(&row);
    }
}

static void *delivery_main(void *arg)
{
    gw_outbox_t *ob = arg;
    int64_t next_scan = 0;
    while (!atomic_load(&ob->stop)) {
        int64_t now = gw_clock_mono_ms();
        int kicked = atomic_exchange(&ob->kicked, 0);
        int full = now >= next_scan || (ob->rescan && (kicked || ob->completed));
        if (full || kicked) {
            ob->completed = 0;
            int64_t wake = scan_due(ob, full);
            /* a kick's scan must not postpone the full one (rows an operator re-queued, say) */
            next_scan = full || wake < next_scan ? wake : next_scan;
            now = gw_clock_mono_ms();
        }
        int64_t wait = next_scan - now;
        int polling = ob->shared && any_waiter(ob);
        if (polling && ob->next_waiter_poll - now < wait)
            wait = ob->next_waiter_poll - now;
        upstream_client_poll(ob->client, wait < 0 ? 0 : wait > IDLE_SCAN_MS ? IDLE_SCAN_MS : (int)wait);
        records_commit(ob);
        if (polling && gw_clock_mono_ms() >= ob->next_waiter_poll) {
            poll_waiters(ob);
            ob->next_waiter_poll = gw_clock_mono_ms() + WAITER_POLL_MS;
        }
    }
    return NULL;
}

/*
 * The replica's name in the leases it writes. On SQLite, one process per database file: the name
 * is fixed, so a restarted gateway takes over its predecessor's claims at once instead of waiting
 * for them to run out. On a shared database: host name, process id and a random part, unique
 * among the replicas and across restarts.
 */
static void replica_name(gw_outbox_t *ob)
{
    if (!ob->shared) {
        snprintf(ob->replica, sizeof(ob->replica), "local");
        return;
    }
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    uint32_t r = (uint32_t)next_random(ob);
    snprintf(ob->replica, sizeof(ob->replica), "%s:%ld:%08x", host, (long)getpid(), r);
}

gw_outbox_t *gw_outbox_start(const gw_config_t *config, char *err, size_t err_len)
{
    gw_outbox_t *ob = gw_calloc(1, sizeof(*ob));
    ob->config = config;
    pthread_mutex_init(&ob->waiters_lock, NULL);
    if (RAND_bytes((unsigned char *)&ob->rng, sizeof(ob->rng)) != 1)
        ob->rng = (uint64_t)gw_clock_mono_us();
    upstream_breaker_init(&ob->breaker, BREAKER_THRESHOLD, BREAKER_BASE_MS, BREAKER_MAX_MS);
    gw_metrics_circuit(upstream_breaker_state_name(ob->breaker.state));
    upstream_pacer_init(&ob->pacer, config->odeus_rate_per_sec, config->odeus_rate_max_per_sec, gw_clock_mono_ms());
    ob->logged_rate = ob->pacer.rate;
    gw_metrics_odeus_rate(ob->pacer.rate);
    if ((ob->store = store_open(config->database, err, err_len)) == NULL)
        goto fail;
    /* Outcome records need no fsync of their own (a lost one is re-sent): one fsync per change, not two. */
    if (store_relax_sync(ob->store) != STORE_OK) {
        snprintf(err, err_len, "%s", store_errmsg(ob->store));
        goto fail;
    }
    ob->shared = store_shared(ob->store);
    replica_name(ob);
    store_outbox_set_owner(ob->store, ob->replica);
    ob->lease_ms = LEASE_FACTOR * config->upstream_deadline_ms + LEASE_MARGIN_MS;
    gw_log(GW_LOG_INFO, "outbox_replica",
           json_pack("{s:s, s:I, s:b}", "replica", ob->replica, "lease_ms", (json_int_t)ob->lease_ms, "shared", ob->shared));
    unsigned conns = config->odeus_max_concurrency > 0 ? config->odeus_max_concurrency : 8;
    upstream_config_t uc = {
        .base_url = config->odeus_base_url,
        .api_key = config->odeus_api_key != NULL ? config->odeus_api_key : "",
        .dry_run = config->dry_run,
        .timeout_ms = config->upstream_deadline_ms,
        .connect_timeout_ms = config->upstream_deadline_ms < 5000 ? config->upstream_deadline_ms : 5000,
        .max_connections = conns,
        .ca_file = config->odeus_ca_file[0] != '\0' ? config->odeus_ca_file : NULL,
    };
    if ((ob->client = upstream_client_create(&uc, err, err_len)) == NULL)
        goto fail;
    ob->checker = gw_mirror_checker_start(config, err, err_len);
    if (ob->checker == NULL && err_len > 0 && err[0] != '\0')
        goto fail;
    int rc = pthread_create(&ob->thread, NULL, delivery_main, ob);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the delivery thread: %s", strerror(rc));
        gw_mirror_checker_stop(ob->checker);
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
    gw_mirror_checker_stop(ob->checker);
    atomic_store(&ob->stop, 1);
    upstream_client_wakeup(ob->client);
    pthread_join(ob->thread, NULL);
    /* Let calls already on the wire finish so their outcome is recorded; the rest stay pending. */
    int64_t until = gw_clock_mono_ms() + grace_ms;
    while (ob->n_calls > 0 && gw_clock_mono_ms() < until) {
        upstream_client_poll(ob->client, 50);
        records_commit(ob);
    }
    upstream_client_destroy(ob->client);
    /* the parts of split batches hold jobs of `inflight`, freed below: their rows stay pending */
    for (batch_t *b; (b = splits_pop(ob)) != NULL;)
        batch_free(b);
    while (ob->on_wire != NULL) {
        batch_t *next = ob->on_wire->next;
        batch_free(ob->on_wire);
        ob->on_wire = next;
    }
    while (ob->inflight != NULL) {
        job_t *next = ob->inflight->next;
        job_free(ob->inflight);
        ob->inflight = next;
    }
    store_close(ob->store);
    pthread_mutex_destroy(&ob->waiters_lock);
    free(ob->settles);
    free(ob->sup_ids);
    free(ob->skip);
    free(ob);
}

void gw_outbox_kick(gw_outbox_t *ob)
{
    /* A kick not yet taken up already woke the thread (or it has not slept since): one wake-up,
     * one syscall, however many requests commit in between. */
    if (atomic_exchange(&ob->kicked, 1) == 0)
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
