#include "cli/outbox_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "gateway/config.h"
#include "store/store.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX     100000

static const char *const state_names[] = {"pending", "done", "failed", "superseded"};

typedef struct cli_args {
    const char *command;
    const char *data_dir;
    const char *database; /* --database; NULL: the environment's, else DATA_DIR/gateway.db */
    int state;            /* -1: all */
    size_t limit;
    int json;
    int yes;
    int all_failed;
    int all;    /* release --all */
    int64_t id; /* 0: none */
} cli_args_t;

static int usage(const char *why)
{
    fprintf(stderr,
            "odeus-scim-gateway outbox: %s\n"
            "usage: odeus-scim-gateway outbox list [--state pending|done|failed|superseded|all] [--limit N] [--json]\n"
            "       odeus-scim-gateway outbox stats [--json]\n"
            "       odeus-scim-gateway outbox retry ID|--all-failed\n"
            "       odeus-scim-gateway outbox drop ID --yes\n"
            "       odeus-scim-gateway outbox release ID|--all   (deactivations held by the guard)\n"
            "       (each with --database sqlite:PATH|postgres://..., or GATEWAY_DATABASE_URL(_FILE);\n"
            "        or --data-dir DIR, or GATEWAY_DATA_DIR: the SQLite database DIR/gateway.db; default ./data)\n",
            why);
    return 2;
}

static int parse_id(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v <= 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, cli_args_t *a)
{
    const char *env = getenv("GATEWAY_DATA_DIR");
    *a = (cli_args_t){
        .data_dir = env != NULL && env[0] != '\0' ? env : "data", .state = STORE_OUTBOX_PENDING, .limit = LIST_LIMIT_DEFAULT};
    if (argc < 2)
        return usage("which command? list, stats, retry, drop or release");
    a->command = argv[1];
    if (strcmp(a->command, "list") != 0 && strcmp(a->command, "stats") != 0 && strcmp(a->command, "retry") != 0 &&
        strcmp(a->command, "drop") != 0 && strcmp(a->command, "release") != 0)
        return usage("unknown command");
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--data-dir") == 0 && value != NULL) {
            a->data_dir = value;
            i++;
        } else if (strncmp(arg, "--data-dir=", 11) == 0) {
            a->data_dir = arg + 11;
        } else if (strcmp(arg, "--database") == 0 && value != NULL) {
            a->database = value;
            i++;
        } else if (strncmp(arg, "--database=", 11) == 0) {
            a->database = arg + 11;
        } else if (strcmp(arg, "--state") == 0 && value != NULL) {
            a->state = -2;
            for (int k = 0; k < 4; k++)
                if (strcmp(value, state_names[k]) == 0)
                    a->state = k;
            if (strcmp(value, "all") == 0)
                a->state = -1;
            if (a->state == -2)
                return usage("--state must be pending, done, failed, superseded or all");
            i++;
        } else if (strcmp(arg, "--limit") == 0 && value != NULL) {
            int64_t n;
            if (parse_id(value, &n) != 0 || n > LIST_LIMIT_MAX)
                return usage("--limit must be a whole number from 1 to 100000");
            a->limit = (size_t)n;
            i++;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (strcmp(arg, "--yes") == 0) {
            a->yes = 1;
        } else if (strcmp(arg, "--all-failed") == 0) {
            a->all_failed = 1;
        } else if (strcmp(arg, "--all") == 0) {
            a->all = 1;
        } else if (arg[0] != '-' && a->id == 0) {
            if (parse_id(arg, &a->id) != 0)
                return usage("an outbox row id is a positive whole number");
        } else {
            fprintf(stderr, "odeus-scim-gateway outbox: unexpected argument %s\n", arg);
            return 2;
        }
    }
    if (strcmp(a->command, "retry") == 0 && (a->id == 0) == !a->all_failed)
        return usage("retry needs one row id or --all-failed");
    if (strcmp(a->command, "release") == 0 && (a->id == 0) == !a->all)
        return usage("release needs one row id or --all");
    if (strcmp(a->command, "drop") == 0 && a->id == 0)
        return usage("drop needs a row id");
    if (strcmp(a->command, "drop") == 0 && !a->yes)
        return usage("drop takes a change out of the queue for good: it will never reach Odeus. Add --yes to confirm");
    return 0;
}

static void fmt_time(int64_t unix_ms, char *buf, size_t len)
{
    if (unix_ms <= 0)
        snprintf(buf, len, "-");
    else
        gw_clock_rfc3339(unix_ms, buf, len);
}

static json_t *row_json(const store_outbox_t *r)
{
    char created[GW_RFC3339_LEN], next[GW_RFC3339_LEN];
    fmt_time(r->created_at_ms, created, sizeof(created));
    fmt_time(r->next_attempt_ms, next, sizeof(next));
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:s*, s:s, s:i, s:s, s:s, s:s*, s:s*}", "id", (json_int_t)r->id, "user_id", r->user_id,
                  "action", r->action, "email", r->email, "role", r->role, "state", state_names[r->state], "attempts", r->attempts,
                  "created", created, "next_attempt", next, "outcome", r->outcome, "last_error", r->last_error);
    if (j != NULL && r->superseded_by > 0)
        json_object_set_new(j, "superseded_by", json_integer(r->superseded_by));
    if (j != NULL && r->cause != NULL)
        json_object_set_new(j, "cause", json_string(r->cause));
    if (j != NULL && r->batch_id > 0)
        json_object_set_new(j, "batch_id", json_integer(r->batch_id));
    return j;
}

typedef struct list_ctx {
    int json;
    json_t *rows;
    size_t n;
} list_ctx_t;

static int on_row(void *arg, const store_outbox_t *r)
{
    list_ctx_t *ctx = arg;
    ctx->n++;
    if (ctx->json) {
        json_array_append_new(ctx->rows, row_json(r));
        return 0;
    }
    char next[GW_RFC3339_LEN], batch[40] = "";
    fmt_time(r->next_attempt_ms, next, sizeof(next));
    /* the rows one invite call carried share the id of its first row */
    if (r->batch_id > 0)
        snprintf(batch, sizeof(batch), " [batch %" PRId64 "]", r->batch_id);
    printf("%-8" PRId64 " %-10s %-11s %-8d %-24s %-36s %-32s %s%s%s%s%s\n", r->id, state_names[r->state], r->action, r->attempts,
           r->state == STORE_OUTBOX_PENDING ? next : "-", r->user_id, r->email,
           r->last_error != NULL ? r->last_error
           : r->outcome != NULL  ? r->outcome
                                 : "",
           r->cause != NULL ? " (" : "", r->cause != NULL ? r->cause : "", r->cause != NULL ? ")" : "", batch);
    return 0;
}

static int cmd_list(store_t *s, const cli_args_t *a)
{
    list_ctx_t ctx = {.json = a->json, .rows = a->json ? json_array() : NULL};
    if (!a->json)
        printf("%-8s %-10s %-11s %-8s %-24s %-36s %-32s %s\n", "ID", "STATE", "ACTION", "ATTEMPTS", "NEXT ATTEMPT", "USER", "EMAIL",
               "LAST ERROR / OUTCOME");
    store_status_t rc = store_outbox_list(s, a->state, a->limit, on_row, &ctx);
    if (rc == STORE_OK && a->json) {
        json_dumpf(ctx.rows, stdout, JSON_INDENT(2));
        printf("\n");
    }
    json_decref(ctx.rows);
    return rc == STORE_OK ? 0 : -1;
}

static int cmd_stats(store_t *s, const cli_args_t *a)
{
    store_outbox_stats_t st;
    if (store_outbox_get_stats(s, &st) != STORE_OK)
        return -1;
    int64_t now = gw_clock_unix_ms();
    int64_t oldest_age_s = st.oldest_pending_ms > 0 ? (now - st.oldest_pending_ms) / 1000 : 0;
    char next[GW_RFC3339_LEN];
    fmt_time(st.next_attempt_ms, next, sizeof(next));
    if (a->json) {
        json_t *j = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I}", "pending", (json_int_t)st.by_state[STORE_OUTBOX_PENDING], "done",
            (json_int_t)st.by_state[STORE_OUTBOX_DONE], "failed", (json_int_t)st.by_state[STORE_OUTBOX_FAILED], "superseded",
            (json_int_t)st.by_state[STORE_OUTBOX_SUPERSEDED], "pending_deactivations", (json_int_t)st.pending_deactivations,
            "pending_auth_failed", (json_int_t)st.pending_auth, "oldest_pending_age_s", (json_int_t)oldest_age_s, "max_attempts",
            (json_int_t)st.max_attempts, "next_attempt", next, "invitee_rechecks", (json_int_t)st.rechecks);
        json_object_set_new(j, "held", json_integer((json_int_t)st.held));
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(j);
        return 0;
    }
    printf("pending                %" PRId64 " (deactivations %" PRId64 ", last attempt refused as 401/403: %" PRId64 ")\n",
           st.by_state[STORE_OUTBOX_PENDING], st.pending_deactivations, st.pending_auth);
    printf("done                   %" PRId64 "\n", st.by_state[STORE_OUTBOX_DONE]);
    printf("failed                 %" PRId64 "\n", st.by_state[STORE_OUTBOX_FAILED]);
    printf("superseded             %" PRId64 "\n", st.by_state[STORE_OUTBOX_SUPERSEDED]);
    printf("oldest pending age     %" PRId64 " s\n", oldest_age_s);
    printf("most attempts pending  %" PRId64 "\n", st.max_attempts);
    printf("next attempt           %s\n", next);
    printf("invitee re-sends       %" PRId64 "\n", st.rechecks);
    printf("held by the guard      %" PRId64 "%s\n", st.held, st.held > 0 ? " (outbox release --all, or drop each)" : "");
    return 0;
}

/* Operator changes are logged as JSON lines on stderr (stdout holds the command's answer). */
static void cli_log(const char *event, json_t *fields)
{
    char ts[GW_RFC3339_LEN];
    gw_clock_rfc3339(gw_clock_unix_ms(), ts, sizeof(ts));
    json_t *line = json_pack("{s:s, s:s, s:s}", "time", ts, "level", "warn", "event", event);
    if (fields != NULL)
        json_object_update(line, fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
    json_decref(fields);
}

static int report_change(store_t *s, store_status_t rc, const char *what, int64_t id)
{
    if (rc == STORE_OK)
        return 0;
    fprintf(stderr, "odeus-scim-gateway outbox: %s %" PRId64 ": %s\n", what, id, store_errmsg(s));
    return 1;
}

int gw_outbox_cli_main(int argc, char **argv)
{
    cli_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    char url[2048], why[512], err[512];
    if (a.database != NULL) {
        if (store_url_check(a.database, why, sizeof(why)) != 0 || strlen(a.database) >= sizeof(url)) {
            char msg[600];
            snprintf(msg, sizeof(msg), "--database: %s", strlen(a.database) >= sizeof(url) ? "too long" : why);
            return usage(msg);
        }
        strcpy(url, a.database);
    } else {
        rc = gw_config_database_env(url, sizeof(url), why, sizeof(why));
        if (rc < 0)
            return usage(why);
        if (rc == 0 && (size_t)snprintf(url, sizeof(url), "sqlite:%s/gateway.db", a.data_dir) >= sizeof(url))
            return usage("--data-dir is too long");
    }
    /* an operator command never creates a database: a wrong --data-dir must not look like an empty queue */
    if (strncmp(url, "sqlite:", 7) == 0 && access(url + 7, F_OK) != 0) {
        fprintf(stderr, "odeus-scim-gateway outbox: no database at %s (check --data-dir or --database)\n", url + 7);
        return 1;
    }
    store_t *s = store_open(url, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "odeus-scim-gateway outbox: %s\n", err);
        return 1;
    }
    int64_t now = gw_clock_unix_ms();
    if (strcmp(a.command, "list") == 0) {
        rc = cmd_list(s, &a) == 0 ? 0 : 1;
    } else if (strcmp(a.command, "stats") == 0) {
        rc = cmd_stats(s, &a) == 0 ? 0 : 1;
    } else if (strcmp(a.command, "retry") == 0 && a.all_failed) {
        size_t n = 0;
        rc = store_outbox_retry_failed(s, now, &n) == STORE_OK ? 0 : 1;
        if (rc == 0) {
            printf("%zu failed row(s) queued again\n", n);
            cli_log("outbox_operator_retry", json_pack("{s:s, s:I}", "rows", "all_failed", "count", (json_int_t)n));
        }
    } else if (strcmp(a.command, "release") == 0) {
        size_t n = 0;
        rc = store_outbox_release(s, a.all ? 0 : a.id, now, &n) == STORE_OK ? 0 : 1;
        if (rc == 0 && n == 0 && !a.all) {
            fprintf(stderr, "odeus-scim-gateway outbox: row %" PRId64 " is not held\n", a.id);
            rc = 1;
        } else if (rc == 0) {
            printf("%zu held row(s) released: due now\n", n);
            cli_log("outbox_operator_release", json_pack("{s:I, s:I}", "outbox_id", (json_int_t)a.id, "count", (json_int_t)n));
        }
    } else if (strcmp(a.command, "retry") == 0) {
        rc = report_change(s, store_outbox_retry(s, a.id, now), "cannot retry row", a.id);
        if (rc == 0) {
            printf("row %" PRId64 " is due now\n", a.id);
            cli_log("outbox_operator_retry", json_pack("{s:I}", "outbox_id", (json_int_t)a.id));
        }
    } else {
        rc = report_change(s, store_outbox_drop(s, a.id, now), "cannot drop row", a.id);
        if (rc == 0) {
            printf("row %" PRId64 " dropped: it will not be delivered\n", a.id);
            cli_log("outbox_operator_drop", json_pack("{s:I}", "outbox_id", (json_int_t)a.id));
        }
    }
    if (rc == 1 && (strcmp(a.command, "list") == 0 || strcmp(a.command, "stats") == 0 || a.all_failed))
        fprintf(stderr, "odeus-scim-gateway outbox: %s\n", store_errmsg(s));
    store_close(s);
    return rc;
}
