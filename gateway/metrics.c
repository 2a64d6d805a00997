#include "gateway/metrics.h"

#include "gateway/tokens.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "gateway/audit.h"

#define MAX_SERIES 256
#define MAX_ROUTES 64
#define N_METHODS  6
#define N_ACTIONS  3
#define N_OUTCOMES 6

static const char *const method_names[N_METHODS] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OTHER"};
/* Upper bounds in microseconds; Prometheus wants seconds, printed below. */
static const int64_t bucket_us[] = {5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))

typedef struct series {
    const char *route;
    int method;
    int status;
    atomic_ullong count;
} series_t;

typedef struct histogram {
    const char *route;
    atomic_ullong buckets[N_BUCKETS]; /* non-cumulative here; summed when rendered */
    atomic_ullong count;
    atomic_ullong sum_us;
} histogram_t;

static series_t series[MAX_SERIES];
static atomic_size_t n_series;
static atomic_ullong series_overflow;
static histogram_t histograms[MAX_ROUTES];
static atomic_size_t n_histograms;
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_ullong odeus_calls[N_ACTIONS][N_OUTCOMES];
static atomic_ullong odeus_retries[N_ACTIONS];
static atomic_ullong invite_calls, invites_sent;
static atomic_ullong flush_rounds, flush_passes, flush_us;
static atomic_ullong auth_failures[GW_METRICS_AUTH_N];
static atomic_ullong seat_shared[N_ACTIONS];
static atomic_ullong group_members_skipped[2];
static atomic_ullong connections_refused;
static atomic_ullong rate_limited[GW_MAX_TOKENS];
static atomic_llong tls_not_after = -1;
static atomic_ullong tls_reloads[2];
static _Atomic(const char *) circuit_state;
static atomic_ullong group_calls[ODEUS_GROUP_CALLS][ODEUS_OUTCOME_UNSUPPORTED + 1];
static atomic_ullong group_conflicts;
static atomic_int groups_unsupported;
/* the last drift check: written by one thread at a time, read by scrapes; a torn read shows a mix of
   two checks' figures for one scrape at worst, so a mutex keeps them whole */
static pthread_mutex_t drift_lock = PTHREAD_MUTEX_INITIALIZER;
static gw_metrics_drift_t drift;
static atomic_llong odeus_rate_milli = -1; /* thousandths of a call per second: an integer atomic, -1 until set */

static int method_index(const char *m, size_t len)
{
    for (int i = 0; i < N_METHODS - 1; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], m, len) == 0)
            return i;
    return N_METHODS - 1;
}

/* Lock-free when the series exists (the common case); the mutex only guards creation. */
static series_t *find_series(const char *route, int method, int status)
{
    size_t n = atomic_load_explicit(&n_series, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (series[i].route == route && series[i].method == method && series[i].status == status)
            return &series[i];
    series_t *found = NULL;
    pthread_mutex_lock(&create_lock);
    n = atomic_load_explicit(&n_series, memory_order_relaxed);
    for (size_t i = 0; i < n && found == NULL; i++)
        if (series[i].route == route && series[i].method == method && series[i].status == status)
            found = &series[i];
    if (found == NULL && n < MAX_SERIES) {
        found = &series[n];
        found->route = route;
        found->method = method;
        found->status = status;
        atomic_store_explicit(&n_series, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&create_lock);
    return found;
}

static histogram_t *find_histogram(const char *route)
{
    size_t n = atomic_load_explicit(&n_histograms, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (histograms[i].route == route)
            return &histograms[i];
    histogram_t *found = NULL;
    pthread_mutex_lock(&create_lock);
    n = atomic_load_explicit(&n_histograms, memory_order_relaxed);
    for (size_t i = 0; i < n && found == NULL; i++)
        if (histograms[i].route == route)
            found = &histograms[i];
    if (found == NULL && n < MAX_ROUTES) {
        found = &histograms[n];
        found->route = route;
        atomic_store_explicit(&n_histograms, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&create_lock);
    return found;
}

void gw_metrics_request(const char *route, const char *method, size_t method_len, int status, int64_t latency_us)
{
    series_t *s = find_series(route, method_index(method, method_len), status);
    if (s != NULL)
        atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&series_overflow, 1, memory_order_relaxed);
    histogram_t *h = find_histogram(route);
    if (h == NULL)
        return;
    if (latency_us < 0)
        latency_us = 0;
    size_t b = 0;
    while (b < N_BUCKETS && latency_us > bucket_us[b])
        b++;
    if (b < N_BUCKETS)
        atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)latency_us, memory_order_relaxed);
}

void gw_metrics_odeus_call(odeus_action_t action, odeus_outcome_t outcome)
{
    if ((unsigned)action >= N_ACTIONS || (unsigned)outcome >= N_OUTCOMES)
        return;
    atomic_fetch_add_explicit(&odeus_calls[action][outcome], 1, memory_order_relaxed);
    if (!odeus_outcome_is_final(outcome))
        atomic_fetch_add_explicit(&odeus_retries[action], 1, memory_order_relaxed);
}

void gw_metrics_invite_call(size_t invites)
{
    atomic_fetch_add_explicit(&invite_calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&invites_sent, (unsigned long long)invites, memory_order_relaxed);
}

void gw_metrics_flush(size_t passes, int64_t us)
{
    atomic_fetch_add_explicit(&flush_rounds, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&flush_passes, (unsigned long long)passes, memory_order_relaxed);
    atomic_fetch_add_explicit(&flush_us, (unsigned long long)(us > 0 ? us : 0), memory_order_relaxed);
}

void gw_metrics_connection_refused(void)
{
    atomic_fetch_add_explicit(&connections_refused, 1, memory_order_relaxed);
}

void gw_metrics_auth_failure(gw_metrics_auth_failure_t why)
{
    if ((unsigned)why < GW_METRICS_AUTH_N)
        atomic_fetch_add_explicit(&auth_failures[why], 1, memory_order_relaxed);
}

void gw_metrics_seat_shared(odeus_action_t planned)
{
    if ((unsigned)planned < N_ACTIONS)
        atomic_fetch_add_explicit(&seat_shared[planned], 1, memory_order_relaxed);
}

void gw_metrics_group_member_skipped(int nested)
{
    atomic_fetch_add_explicit(&group_members_skipped[nested ? 1 : 0], 1, memory_order_relaxed);
}

void gw_metrics_rate_limited(size_t token_slot)
{
    if (token_slot < GW_MAX_TOKENS)
        atomic_fetch_add_explicit(&rate_limited[token_slot], 1, memory_order_relaxed);
}

void gw_metrics_rate_limited_reset(size_t token_slot)
{
    if (token_slot < GW_MAX_TOKENS)
        atomic_store_explicit(&rate_limited[token_slot], 0, memory_order_relaxed);
}

void gw_metrics_tls_loaded(int ok, int64_t not_after_s)
{
    atomic_fetch_add_explicit(&tls_reloads[ok ? 1 : 0], 1, memory_order_relaxed);
    if (ok)
        atomic_store(&tls_not_after, not_after_s);
}

void gw_metrics_circuit(const char *state_name)
{
    atomic_store(&circuit_state, state_name);
}

void gw_metrics_odeus_rate(double per_sec)
{
    atomic_store_explicit(&odeus_rate_milli, (long long)(per_sec * 1000.0 + 0.5), memory_order_relaxed);
}

/* ---- rendering ---------------------------------------------------------------------------- */

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values here are route patterns, token names and fixed words: none needs escaping but
 * a token name could in theory hold a quote or backslash, so escape anyway. */
static void label_value(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

typedef struct outbox_stats {
    size_t count[N_ACTIONS];
    int64_t oldest_ms[N_ACTIONS];
    size_t held;
    size_t group_count; /* the rows of the Odeus group mirror (action group_*), all kinds together */
    int64_t group_oldest_ms;
} outbox_stats_t;

static void on_outbox_stat(void *ctx, const char *action, size_t count, size_t held, int64_t oldest_created_ms)
{
    outbox_stats_t *st = ctx;
    odeus_action_t a;
    st->held += held;
    if (strncmp(action, "group_", 6) == 0) {
        if (st->group_count == 0 || oldest_created_ms < st->group_oldest_ms)
            st->group_oldest_ms = oldest_created_ms;
        st->group_count += count;
        return;
    }
    if (odeus_action_parse(action, &a) != 0 || (unsigned)a >= N_ACTIONS)
        return;
    st->count[a] = count;
    st->oldest_ms[a] = oldest_created_ms;
}

static void print_audit_count(void *ctx, const char *event, unsigned long long written)
{
    fprintf(ctx, "gateway_audit_entries_total{event=\"%s\"} %llu\n", event, written);
}

void gw_metrics_group_call(odeus_group_call_t call, odeus_outcome_t outcome)
{
    if ((unsigned)call < ODEUS_GROUP_CALLS && (unsigned)outcome <= ODEUS_OUTCOME_UNSUPPORTED)
        atomic_fetch_add_explicit(&group_calls[call][outcome], 1, memory_order_relaxed);
}

void gw_metrics_group_conflict(void)
{
    atomic_fetch_add_explicit(&group_conflicts, 1, memory_order_relaxed);
}

void gw_metrics_groups_unsupported(void)
{
    atomic_store(&groups_unsupported, 1);
}

void gw_metrics_groups_drift(const gw_metrics_drift_t *d)
{
    pthread_mutex_lock(&drift_lock);
    drift = *d;
    pthread_mutex_unlock(&drift_lock);
}

/* The mirror's series, only with --odeus-groups mirror (a gateway without it has none to show). */
static void render_groups(FILE *f)
{
    head(f, "gateway_odeus_group_calls_total", "counter", "Finished Odeus group calls of the mirror by call and outcome.");
    for (int c = 0; c < ODEUS_GROUP_CALLS; c++)
        for (int o = 0; o <= ODEUS_OUTCOME_UNSUPPORTED; o++) {
            unsigned long long n = atomic_load(&group_calls[c][o]);
            if (n > 0)
                fprintf(f, "gateway_odeus_group_calls_total{call=\"%s\",outcome=\"%s\"} %llu\n",
                        odeus_group_call_name((odeus_group_call_t)c), odeus_outcome_name((odeus_outcome_t)o), n);
        }
    head(f, "gateway_odeus_group_conflicts_total", "counter",
         "Mirror rows that ended in a conflict (the name is taken in Odeus, or the group is managed by Odeus' SCIM).");
    fprintf(f, "gateway_odeus_group_conflicts_total %llu\n", atomic_load(&group_conflicts));
    head(f, "gateway_odeus_groups_unsupported", "gauge", "1 once Odeus showed it has no group API: mirroring stopped.");
    fprintf(f, "gateway_odeus_groups_unsupported %d\n", atomic_load(&groups_unsupported));
    pthread_mutex_lock(&drift_lock);
    gw_metrics_drift_t d = drift;
    pthread_mutex_unlock(&drift_lock);
    if (d.checked_at_ms == 0)
        return;
    head(f, "gateway_odeus_groups_check_timestamp_seconds", "gauge", "When the last drift check of the mirrored groups ended.");
    fprintf(f, "gateway_odeus_groups_check_timestamp_seconds %lld\n", (long long)(d.checked_at_ms / 1000));
    head(f, "gateway_odeus_groups_checked", "gauge", "Mirrored groups by what the last drift check found.");
    fprintf(f, "gateway_odeus_groups_checked{status=\"all\"} %zu\n", d.groups);
    fprintf(f, "gateway_odeus_groups_checked{status=\"drifted\"} %zu\n", d.groups_drifted);
    fprintf(f, "gateway_odeus_groups_checked{status=\"missing_in_odeus\"} %zu\n", d.groups_missing);
    fprintf(f, "gateway_odeus_groups_checked{status=\"conflict\"} %zu\n", d.groups_conflict);
    head(f, "gateway_odeus_groups_drift_members", "gauge",
         "Members that differ between the mirrored Odeus groups and the directory at the last check, by kind.");
    fprintf(f, "gateway_odeus_groups_drift_members{kind=\"extra\"} %zu\n", d.extra);
    fprintf(f, "gateway_odeus_groups_drift_members{kind=\"missing_pending_invitee\"} %zu\n", d.missing_pending_invitee);
    fprintf(f, "gateway_odeus_groups_drift_members{kind=\"missing_queued\"} %zu\n", d.missing_queued);
    fprintf(f, "gateway_odeus_groups_drift_members{kind=\"missing_refused\"} %zu\n", d.missing_refused);
    fprintf(f, "gateway_odeus_groups_drift_members{kind=\"missing_removed_by_hand\"} %zu\n", d.missing_removed);
}

char *gw_metrics_render(const gw_metrics_state_t *state, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        gw_alloc_fail(0); /* the stream's buffer is all it allocates */

    head(f, "gateway_build_info", "gauge", "Version of the running gateway (always 1).");
    fprintf(f, "gateway_build_info{version=\"%s\"} 1\n", GATEWAY_VERSION);
    head(f, "gateway_dry_run", "gauge", "1 when the gateway makes no Odeus calls (--dry-run).");
    fprintf(f, "gateway_dry_run %d\n", state->config->dry_run ? 1 : 0);

    head(f, "gateway_http_requests_total", "counter", "Answered HTTP requests by route pattern, method and status.");
    size_t n = atomic_load_explicit(&n_series, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        fputs("gateway_http_requests_total{route=\"", f);
        label_value(f, series[i].route);
        fprintf(f, "\",method=\"%s\",status=\"%d\"} %llu\n", method_names[series[i].method], series[i].status,
                atomic_load_explicit(&series[i].count, memory_order_relaxed));
    }
    unsigned long long overflow = atomic_load(&series_overflow);
    if (overflow > 0)
        fprintf(f, "gateway_http_requests_total{route=\"other\",method=\"OTHER\",status=\"0\"} %llu\n", overflow);

    head(f, "gateway_http_request_duration_seconds", "histogram", "Time from request to answer, by route pattern.");
    n = atomic_load_explicit(&n_histograms, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        histogram_t *h = &histograms[i];
        unsigned long long cumulative = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cumulative += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
            fputs("gateway_http_request_duration_seconds_bucket{route=\"", f);
            label_value(f, h->route);
            fprintf(f, "\",le=\"%g\"} %llu\n", (double)bucket_us[b] / 1e6, cumulative);
        }
        /* count is read after the buckets, so +Inf >= every bucket even while requests land */
        unsigned long long count = atomic_load_explicit(&h->count, memory_order_relaxed);
        if (count < cumulative)
            count = cumulative;
        fputs("gateway_http_request_duration_seconds_bucket{route=\"", f);
        label_value(f, h->route);
        fprintf(f, "\",le=\"+Inf\"} %llu\n", count);
        fputs("gateway_http_request_duration_seconds_sum{route=\"", f);
        label_value(f, h->route);
        fprintf(f, "\"} %.6f\n", (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
        fputs("gateway_http_request_duration_seconds_count{route=\"", f);
        label_value(f, h->route);
        fprintf(f, "\"} %llu\n", count);
    }

    head(f, "gateway_connections_open", "gauge", "Client connections open now (--max-connections at most).");
    fprintf(f, "gateway_connections_open %u\n", state->connections_open);
    head(f, "gateway_connections_max", "gauge", "--max-connections.");
    fprintf(f, "gateway_connections_max %u\n", state->config->max_connections);
    head(f, "gateway_connections_refused_total", "counter", "Connections closed at accept: --max-connections were open.");
    fprintf(f, "gateway_connections_refused_total %llu\n", atomic_load(&connections_refused));

    head(f, "gateway_auth_failures_total", "counter", "Refused SCIM requests by reason.");
    static const char *const auth_reasons[GW_METRICS_AUTH_N] = {"missing", "invalid", "expired", "address"};
    for (int i = 0; i < GW_METRICS_AUTH_N; i++)
        fprintf(f, "gateway_auth_failures_total{reason=\"%s\"} %llu\n", auth_reasons[i], atomic_load(&auth_failures[i]));

    const gw_config_t *cfg = state->config;
    const gw_tokenset_t *tokens = state->tokens;
    head(f, "gateway_rate_limited_total", "counter", "Requests answered 429 by the per-token rate limit.");
    for (size_t i = 0; i < tokens->n; i++) {
        fputs("gateway_rate_limited_total{token=\"", f);
        label_value(f, tokens->names[i]);
        fprintf(f, "\"} %llu\n", atomic_load(&rate_limited[tokens->slots[i]]));
    }
    head(f, "gateway_token_expiry_timestamp_seconds", "gauge", "When each SCIM token expires (unix time); absent: never.");
    for (size_t i = 0; i < tokens->n; i++) {
        if (tokens->tokens[i].expires_s == 0)
            continue;
        fputs("gateway_token_expiry_timestamp_seconds{token=\"", f);
        label_value(f, tokens->names[i]);
        fprintf(f, "\"} %lld\n", (long long)tokens->tokens[i].expires_s);
    }

    head(f, "gateway_odeus_calls_total", "counter", "Finished Odeus API calls by endpoint and outcome.");
    for (int a = 0; a < N_ACTIONS; a++)
        for (int o = 0; o < N_OUTCOMES; o++)
            fprintf(f, "gateway_odeus_calls_total{endpoint=\"%s\",outcome=\"%s\"} %llu\n", odeus_action_name((odeus_action_t)a),
                    odeus_outcome_name((odeus_outcome_t)o), atomic_load(&odeus_calls[a][o]));
    head(f, "gateway_odeus_retries_total", "counter", "Odeus calls that will be retried (429, 5xx, network, 401/403).");
    for (int a = 0; a < N_ACTIONS; a++)
        fprintf(f, "gateway_odeus_retries_total{endpoint=\"%s\"} %llu\n", odeus_action_name((odeus_action_t)a),
                atomic_load(&odeus_retries[a]));
    head(f, "gateway_odeus_invites_per_call", "summary", "Addresses carried by each invite call (batched invites).");
    fprintf(f, "gateway_odeus_invites_per_call_sum %llu\ngateway_odeus_invites_per_call_count %llu\n", atomic_load(&invites_sent),
            atomic_load(&invite_calls));
    head(f, "gateway_store_flushes_total", "counter",
         "Flushes (fsync of the WAL, fdatasync of the audit log) run by the workers' flush threads.");
    fprintf(f, "gateway_store_flushes_total %llu\n", atomic_load(&flush_rounds));
    head(f, "gateway_store_flushed_passes_total", "counter",
         "Event-loop passes whose writes those flushes made durable (more than the flushes: passes shared one).");
    fprintf(f, "gateway_store_flushed_passes_total %llu\n", atomic_load(&flush_passes));
    head(f, "gateway_store_flush_seconds_total", "counter", "Time the flush threads spent flushing.");
    fprintf(f, "gateway_store_flush_seconds_total %.6f\n", (double)atomic_load(&flush_us) / 1e6);
    head(f, "gateway_odeus_auth_failing", "gauge",
         "1 while Odeus rejects the API key (401/403): deliveries are held and /readyz fails.");
    fprintf(f, "gateway_odeus_auth_failing %d\n", state->odeus_auth_failing ? 1 : 0);

    const char *circuit = atomic_load(&circuit_state);
    if (circuit != NULL) {
        head(f, "gateway_odeus_circuit_state", "gauge", "The circuit breaker towards Odeus: 1 for the current state.");
        fprintf(f, "gateway_odeus_circuit_state{state=\"%s\"} 1\n", circuit);
    }
    long long rate_milli = atomic_load_explicit(&odeus_rate_milli, memory_order_relaxed);
    if (rate_milli >= 0) {
        head(f, "gateway_odeus_rate_per_second", "gauge",
             "The pace of Odeus calls the gateway allows itself now (grows while calls wait and Odeus keeps up, halves on 429; 0: "
             "unpaced).");
        fprintf(f, "gateway_odeus_rate_per_second %lld.%03lld\n", rate_milli / 1000, rate_milli % 1000);
    }

    outbox_stats_t st = {{0}, {0}, 0, 0, 0};
    int outbox_ok = state->store != NULL && store_outbox_stats(state->store, on_outbox_stat, &st) == STORE_OK;
    head(f, "gateway_outbox_scrape_ok", "gauge", "1 when the outbox gauges below could be read from the database.");
    fprintf(f, "gateway_outbox_scrape_ok %d\n", outbox_ok);
    head(f, "gateway_database_reachable", "gauge",
         "0 while this worker's connection to the database is broken and not made again yet (PostgreSQL; requests get 503).");
    fprintf(f, "gateway_database_reachable %d\n", state->store == NULL || !store_unavailable(state->store, NULL));
    if (outbox_ok) {
        head(f, "gateway_outbox_pending", "gauge", "Undelivered Odeus changes by kind.");
        for (int a = 0; a < N_ACTIONS; a++)
            fprintf(f, "gateway_outbox_pending{kind=\"%s\"} %zu\n", odeus_action_name((odeus_action_t)a), st.count[a]);
        head(f, "gateway_outbox_oldest_pending_age_seconds", "gauge", "Age of the oldest undelivered change by kind (0: none).");
        for (int a = 0; a < N_ACTIONS; a++) {
            double age =
                st.count[a] > 0 && state->now_ms > st.oldest_ms[a] ? (double)(state->now_ms - st.oldest_ms[a]) / 1000.0 : 0;
            fprintf(f, "gateway_outbox_oldest_pending_age_seconds{kind=\"%s\"} %.3f\n", odeus_action_name((odeus_action_t)a), age);
        }
        if (cfg->odeus_groups == GW_ODEUS_GROUPS_MIRROR) {
            head(f, "gateway_outbox_group_pending", "gauge",
                 "Undelivered calls of the Odeus group mirror, and the age of the oldest.");
            fprintf(f, "gateway_outbox_group_pending %zu\n", st.group_count);
            double age = st.group_count > 0 && state->now_ms > st.group_oldest_ms
                             ? (double)(state->now_ms - st.group_oldest_ms) / 1000.0
                             : 0;
            fprintf(f, "gateway_outbox_group_oldest_pending_age_seconds %.3f\n", age);
        }
        head(f, "gateway_deprovisioning_lag_seconds", "gauge",
             "Age of the oldest deactivation Odeus has not confirmed yet (0: none pending).");
        double lag = st.count[ODEUS_DEACTIVATE] > 0 && state->now_ms > st.oldest_ms[ODEUS_DEACTIVATE]
                         ? (double)(state->now_ms - st.oldest_ms[ODEUS_DEACTIVATE]) / 1000.0
                         : 0;
        fprintf(f, "gateway_deprovisioning_lag_seconds %.3f\n", lag);
        head(f, "gateway_outbox_held", "gauge",
             "Deactivations the guard holds for an operator (--deactivation-guard; outbox release or drop them).");
        fprintf(f, "gateway_outbox_held %zu\n", st.held);
    }

    head(f, "gateway_audit_entries_total", "counter", "Audit log entries written, by lifecycle event.");
    gw_audit_each_count(print_audit_count, f);
    head(f, "gateway_audit_write_failures_total", "counter", "Audit entries that could not be written.");
    fprintf(f, "gateway_audit_write_failures_total %llu\n", gw_audit_write_failures());

    head(f, "gateway_seat_shared_changes_total", "counter",
         "User changes whose Odeus call the seat rule replaced or skipped (another active user holds the same email), by the "
         "call the user alone would have needed.");
    for (int a = 0; a < N_ACTIONS; a++)
        fprintf(f, "gateway_seat_shared_changes_total{planned=\"%s\"} %llu\n", odeus_action_name((odeus_action_t)a),
                atomic_load(&seat_shared[a]));

    head(f, "gateway_group_members_skipped_total", "counter",
         "Members named in group requests that were not added: no such user, or a group (nested groups are not supported).");
    fprintf(f, "gateway_group_members_skipped_total{reason=\"unknown_user\"} %llu\n", atomic_load(&group_members_skipped[0]));
    fprintf(f, "gateway_group_members_skipped_total{reason=\"nested_group\"} %llu\n", atomic_load(&group_members_skipped[1]));

    if (cfg->odeus_groups == GW_ODEUS_GROUPS_MIRROR)
        render_groups(f);

    if (cfg->tls_cert[0] != '\0') {
        head(f, "gateway_tls_reloads_total", "counter", "Certificate loads (start and SIGHUP) by result.");
        fprintf(f, "gateway_tls_reloads_total{result=\"error\"} %llu\n", atomic_load(&tls_reloads[0]));
        fprintf(f, "gateway_tls_reloads_total{result=\"ok\"} %llu\n", atomic_load(&tls_reloads[1]));
        head(f, "gateway_tls_certificate_expiry_timestamp_seconds", "gauge", "notAfter of the served certificate (unix time).");
        fprintf(f, "gateway_tls_certificate_expiry_timestamp_seconds %lld\n", (long long)atomic_load(&tls_not_after));
    }

    if (fclose(f) != 0)
        gw_alloc_fail(size); /* a memory stream fails only to grow its buffer */
    *len = size;
    return buf;
}
