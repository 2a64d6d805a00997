#include "gateway/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/json.h"
#include "common/log.h"

#define HASH_HEX   GW_AUDIT_HASH_HEX
#define TAIL_BYTES 65536
/* Distinct event names counted; more are written but not counted (the names are a short static set). */
#define MAX_EVENTS 16

struct gw_audit {
    pthread_mutex_t lock;
    int fd;
    char path[600];
    long long seq;       /* of the last entry written */
    char head[HASH_HEX]; /* hash of the last line */
    /*
     * Group sync: entries are written under the lock in chain order, then each writer waits until
     * an fdatasync that began after its write has finished. Whoever finds none running does it for
     * everyone written so far, with the lock released, so concurrent workers share one fdatasync.
     */
    pthread_cond_t synced_cond;
    unsigned long long written, synced; /* seq of the last entry written / known on disk */
    int syncing;
    /*
     * Entries appended in a batch wait here, in chain order, until someone needs them on disk:
     * then one write(2) takes all of them (usually a whole event-loop pass of a worker).
     */
    gw_json_buf_t pending;
    long long file_seq;       /* seq and head of the last entry in the file: the chain */
    char file_head[HASH_HEX]; /* goes on from here if a pending write fails */
};

/* ---- counters ------------------------------------------------------------------------------- */

/* Process-wide, like the metrics that export them: lock-free once an event name is known. */
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    const char *name;
    atomic_ullong count;
} events[MAX_EVENTS];
static atomic_size_t n_events;
static atomic_ullong write_failures;

/* One entry written (ok = 1) or lost (ok = 0), by event name (a static string). */
static void count_entry(const char *event, int ok)
{
    if (!ok) {
        atomic_fetch_add_explicit(&write_failures, 1, memory_order_relaxed);
        return;
    }
    size_t n = atomic_load_explicit(&n_events, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(events[i].name, event) == 0) {
            atomic_fetch_add_explicit(&events[i].count, 1, memory_order_relaxed);
            return;
        }
    }
    pthread_mutex_lock(&events_lock);
    n = atomic_load_explicit(&n_events, memory_order_relaxed);
    size_t i = 0;
    while (i < n && strcmp(events[i].name, event) != 0)
        i++;
    if (i == n && n < MAX_EVENTS) {
        events[n].name = event;
        atomic_store_explicit(&n_events, n + 1, memory_order_release);
    }
    if (i < MAX_EVENTS)
        atomic_fetch_add_explicit(&events[i].count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&events_lock);
}

void gw_audit_each_count(gw_audit_count_cb cb, void *ctx)
{
    size_t n = atomic_load_explicit(&n_events, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        cb(ctx, events[i].name, atomic_load(&events[i].count));
}

unsigned long long gw_audit_write_failures(void)
{
    return atomic_load(&write_failures);
}

/* ---- the chain ------------------------------------------------------------------------------ */

static void hash_hex(const char *data, size_t len, char out[HASH_HEX])
{
    gw_digest_hex(data, len, out);
}

static void zero_hash(char out[HASH_HEX])
{
    memset(out, '0', HASH_HEX - 1);
    out[HASH_HEX - 1] = '\0';
}

void gw_audit_chain_start(char prev[GW_AUDIT_HASH_HEX])
{
    zero_hash(prev);
}

void gw_audit_chain_hash(const char *line, size_t len, char out[GW_AUDIT_HASH_HEX])
{
    hash_hex(line, len, out);
}

/* Seq of one entry line, or -1 when the line is not an entry. */
static long long entry_seq(const char *line, size_t len, json_t **out_json)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, 0, &jerr);
    json_t *seq = json_object_get(j, "seq");
    long long v = json_is_integer(seq) && json_is_string(json_object_get(j, "prev")) ? (long long)json_integer_value(seq) : -1;
    if (out_json != NULL && v >= 0)
        *out_json = j;
    else
        json_decref(j);
    return v;
}

long long gw_audit_entry_parse(const char *line, size_t len, json_t **entry)
{
    return entry_seq(line, len, entry);
}

/* Reads the file's last line to continue the chain. */
static int load_tail(gw_audit_t *a, char *err, size_t err_len)
{
    struct stat st;
    if (fstat(a->fd, &st) != 0) {
        snprintf(err, err_len, "audit log %s: %s", a->path, strerror(errno));
        return -1;
    }
    a->seq = 0;
    zero_hash(a->head);
    if (st.st_size == 0)
        return 0;
    off_t from = st.st_size > TAIL_BYTES ? st.st_size - TAIL_BYTES : 0;
    size_t n = (size_t)(st.st_size - from);
    char *buf = gw_malloc(n);
    if (pread(a->fd, buf, n, from) != (ssize_t)n) {
        snprintf(err, err_len, "audit log %s: cannot read its end", a->path);
        free(buf);
        return -1;
    }
    int rc = -1;
    if (buf[n - 1] != '\n') {
        snprintf(err, err_len,
                 "audit log %s ends in a partial entry (a crash or a full disk?): check it with `audit verify` and move "
                 "it aside",
                 a->path);
        goto out;
    }
    size_t end = n - 1, start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (start == 0 && from > 0) {
        snprintf(err, err_len, "audit log %s: its last line is longer than %d bytes", a->path, TAIL_BYTES);
        goto out;
    }
    long long seq = entry_seq(buf + start, end - start, NULL);
    if (seq <= 0) {
        snprintf(err, err_len, "audit log %s: its last line is not an audit entry", a->path);
        goto out;
    }
    a->seq = seq;
    hash_hex(buf + start, end - start, a->head);
    rc = 0;
out:
    free(buf);
    return rc;
}

gw_audit_t *gw_audit_open(const char *path, char *err, size_t err_len)
{
    gw_audit_t *a = gw_calloc(1, sizeof(*a));
    snprintf(a->path, sizeof(a->path), "%s", path);
    a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        snprintf(err, err_len, "cannot open the audit log %s: %s", path, strerror(errno));
        free(a);
        return NULL;
    }
    /* O_WRONLY cannot pread: read the tail through a second descriptor. */
    int rfd = open(path, O_RDONLY | O_CLOEXEC);
    int wfd = a->fd;
    a->fd = rfd;
    int rc = rfd >= 0 ? load_tail(a, err, err_len) : -1;
    if (rfd < 0)
        snprintf(err, err_len, "cannot read the audit log %s: %s", path, strerror(errno));
    else
        close(rfd);
    a->fd = wfd;
    if (rc != 0) {
        close(wfd);
        free(a);
        return NULL;
    }
    a->written = a->synced = (unsigned long long)a->seq; /* what the file holds is on disk */
    a->file_seq = a->seq;
    memcpy(a->file_head, a->head, HASH_HEX);
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->synced_cond, NULL);
    gw_log(GW_LOG_INFO, "audit_head", json_pack("{s:s, s:I, s:s}", "file", path, "seq", (json_int_t)a->seq, "head", a->head));
    return a;
}

static int wait_synced(gw_audit_t *a, unsigned long long ticket);

void gw_audit_close(gw_audit_t *a)
{
    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    if (wait_synced(a, (unsigned long long)a->seq) != 0)
        gw_log(GW_LOG_ERROR, "audit_write_failed", json_pack("{s:s, s:s}", "event", "close", "error", strerror(errno)));
    pthread_mutex_unlock(&a->lock);
    gw_log(GW_LOG_INFO, "audit_head", json_pack("{s:s, s:I, s:s}", "file", a->path, "seq", (json_int_t)a->seq, "head", a->head));
    gw_json_buf_free(&a->pending);
    close(a->fd);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->synced_cond);
    free(a);
}

/* Entries a thread appends between gw_audit_batch_begin and its end: their wait happens at the end. */
static _Thread_local int batch_depth;
static _Thread_local unsigned long long batch_ticket;
static _Thread_local gw_audit_t *batch_audit;

/* With a->lock held: writes the pending entries. -1 (errno set) when they could not be: then they are dropped. */
static int write_pending(gw_audit_t *a)
{
    if (a->pending.len == 0)
        return 0;
    ssize_t w = write(a->fd, a->pending.p, a->pending.len);
    int ok = w == (ssize_t)a->pending.len;
    if (ok) {
        a->written = (unsigned long long)a->seq;
        a->file_seq = a->seq;
        memcpy(a->file_head, a->head, HASH_HEX);
    } else {
        int saved = w < 0 ? errno : EIO;
        /* A short write left a partial line: end it so later entries stay parseable; verify flags it. */
        if (w > 0)
            (void)!write(a->fd, "\n", 1);
        a->seq = a->file_seq; /* the chain goes on from what the file holds */
        memcpy(a->head, a->file_head, HASH_HEX);
        errno = saved;
    }
    a->pending.len = 0;
    return ok ? 0 : -1;
}

/*
 * With a->lock held: returns once entry `ticket` is on disk (0), or -1 with errno when it could
 * not be written or fdatasync failed.
 */
static int wait_synced(gw_audit_t *a, unsigned long long ticket)
{
    if (a->written < ticket && write_pending(a) != 0)
        return -1;
    while (a->synced < ticket) {
        if (a->written < ticket)
            return -1; /* dropped by a failed write of another thread */
        if (a->syncing) {
            pthread_cond_wait(&a->synced_cond, &a->lock);
            continue;
        }
        a->syncing = 1;
        if (write_pending(a) != 0) {
            a->syncing = 0;
            pthread_cond_broadcast(&a->synced_cond);
            return -1;
        }
        unsigned long long upto = a->written;
        pthread_mutex_unlock(&a->lock);
        int failed = fdatasync(a->fd) != 0;
        int saved = errno;
        pthread_mutex_lock(&a->lock);
        a->syncing = 0;
        if (!failed && upto > a->synced)
            a->synced = upto;
        pthread_cond_broadcast(&a->synced_cond);
        if (failed) {
            errno = saved;
            return -1;
        }
    }
    return 0;
}

void gw_audit_batch_begin(void)
{
    batch_depth++;
}

void gw_audit_batch_end_deferred(gw_audit_mark_t *mark)
{
    *mark = (gw_audit_mark_t){0};
    if (batch_depth == 0 || --batch_depth > 0 || batch_audit == NULL)
        return;
    *mark = (gw_audit_mark_t){batch_audit, batch_ticket};
    batch_audit = NULL;
    batch_ticket = 0;
}

int gw_audit_sync(const gw_audit_mark_t *mark)
{
    gw_audit_t *a = mark->audit;
    if (a == NULL)
        return 0;
    pthread_mutex_lock(&a->lock);
    int rc = wait_synced(a, mark->ticket);
    pthread_mutex_unlock(&a->lock);
    if (rc != 0) {
        count_entry("odeus_result", 0);
        gw_log(GW_LOG_ERROR, "audit_write_failed", json_pack("{s:s, s:s}", "event", "odeus_result", "error", strerror(errno)));
    }
    return rc;
}

int gw_audit_append(gw_audit_t *a, const char *event, json_t *fields)
{
    char now[GW_RFC3339_LEN];
    int rc = -1;
    errno = 0;
    if (a == NULL)
        goto out;
    /* Everything but seq and prev is written before the lock is taken. */
    gw_clock_rfc3339(gw_clock_unix_ms(), now, sizeof(now));
    gw_json_buf_t mid = {0};
    gw_json_buf_put(&mid, "\"time\":", 7);
    gw_json_buf_string(&mid, now, strlen(now));
    gw_json_buf_put(&mid, ",\"event\":", 9);
    gw_json_buf_string(&mid, event, strlen(event));
    if (json_object_size(fields) > 0) {
        size_t at = mid.len;
        gw_json_buf_value(&mid, fields);
        if (!mid.failed)
            mid.p[at] = ','; /* the object's '{' becomes the separator; its '}' is dropped below */
        mid.len--;
    }
    if (mid.failed) {
        gw_json_buf_free(&mid);
        goto out;
    }

    pthread_mutex_lock(&a->lock);
    char seq[24];
    int seq_len = snprintf(seq, sizeof(seq), "%lld", a->seq + 1);
    gw_json_buf_t *p = &a->pending;
    size_t start = p->len;
    gw_json_buf_put(p, "{\"seq\":", 7);
    gw_json_buf_put(p, seq, (size_t)seq_len);
    gw_json_buf_put(p, ",", 1);
    gw_json_buf_put(p, mid.p, mid.len);
    gw_json_buf_put(p, ",\"prev\":\"", 9);
    gw_json_buf_put(p, a->head, HASH_HEX - 1);
    gw_json_buf_put(p, "\"}\n", 3);
    a->seq++;
    hash_hex(p->p + start, p->len - start - 1, a->head);
    unsigned long long ticket = (unsigned long long)a->seq;
    if (batch_depth > 0) { /* gw_audit_sync writes and waits, for the batch */
        batch_ticket = ticket;
        batch_audit = a;
        rc = 0;
    } else {
        rc = wait_synced(a, ticket);
    }
    pthread_mutex_unlock(&a->lock);
    gw_json_buf_free(&mid);
out:
    count_entry(event, rc == 0);
    if (rc != 0)
        gw_log(GW_LOG_ERROR, "audit_write_failed",
               json_pack("{s:s, s:s}", "event", event, "error",
                         errno != 0  ? strerror(errno)
                         : a == NULL ? "no audit log"
                                     : "the entry cannot be encoded"));
    json_decref(fields);
    return rc;
}

static json_t *request_fields(const char *request_id, const char *token_name, const char *user_id)
{
    json_t *f = json_object();
    json_object_set_new(f, "token", token_name != NULL ? json_string(token_name) : json_null());
    json_object_set_new(f, "request_id", request_id != NULL ? json_string(request_id) : json_null());
    json_object_set_new(f, "user_id", json_string(user_id));
    return f;
}

void gw_audit_lifecycle(gw_audit_t *audit, int dry_run, const char *request_id, const char *token_name, const char *event,
                        const char *user_id, const char *odeus_call, const char *role, const gw_audit_seat_t *seat)
{
    json_t *f = request_fields(request_id, token_name, user_id);
    json_object_set_new(f, "odeus_call", odeus_call != NULL ? json_string(odeus_call) : json_null());
    if (odeus_call != NULL && role != NULL)
        json_object_set_new(f, "role", json_string(role));
    if (seat != NULL && seat->reason != NULL) {
        json_object_set_new(f, "seat", json_string(seat->reason));
        json_object_set_new(f, "seat_other_holders", json_integer(seat->other_holders));
        if (seat->planned_call != NULL)
            json_object_set_new(f, "planned_call", json_string(seat->planned_call));
    }
    if (dry_run)
        json_object_set_new(f, "dry_run", json_true());
    gw_audit_append(audit, event, f);
}

void gw_audit_settled(gw_audit_t *audit, int dry_run, const char *request_id, const char *token_name, const char *user_id,
                      const char *odeus_call, const char *result, const char *odeus_outcome, long odeus_status)
{
    json_t *f = request_fields(request_id, token_name, user_id);
    json_object_set_new(f, "odeus_call", json_string(odeus_call));
    json_object_set_new(f, "result", json_string(result));
    if (odeus_outcome != NULL)
        json_object_set_new(f, "odeus_outcome", json_string(odeus_outcome));
    if (odeus_status != 0)
        json_object_set_new(f, "odeus_status", json_integer(odeus_status));
    if (dry_run)
        json_object_set_new(f, "dry_run", json_true());
    gw_audit_append(audit, "odeus_result", f);
}
