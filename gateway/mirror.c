/*
 * Mirroring SCIM groups into Odeus workspace groups: the queueing, the planning and recording of
 * each call, and the drift check (the contract is in mirror.h).
 */
#include "gateway/mirror.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "gateway/metrics.h"

/* A group_members row whose members wait for their seat's invite looks again this much later. */
#define WAIT_FOR_INVITE_MS 1000
/* How long the check waits for one Odeus answer before it gives up. */
#define CHECK_CALL_TIMEOUT_MS 30000
/* Pages of one group's members the check reads at most: 10,000 pages of 250 is far beyond any workspace. */
#define CHECK_MAX_PAGES 10000

#define GROUP_SEAT_PREFIX "group:"

/*
 * The description of every Odeus group the mirror creates. It tells an Odeus admin where the group
 * comes from, and it lets the mirror recognise its own group when a create is sent again after its
 * answer was lost (a crash, a timeout): that create meets 409 GROUP_NAME_TAKEN, and the group of
 * that name carrying this description for this SCIM group is linked instead of ending in a conflict.
 */
#define OWN_DESCRIPTION "Mirrored from SCIM group %s by odeus-scim-gateway"

static atomic_int unsupported;

int gw_mirror_unsupported(void)
{
    return atomic_load(&unsupported);
}

int gw_mirror_is_action(const char *action)
{
    return action != NULL && strncmp(action, "group_", 6) == 0;
}

/* ---- queueing ------------------------------------------------------------------------------- */

/* Queues one row of group `group_id`'s queue; `name` for create and rename. 0 or -1. */
static int queue(store_t *s, const char *group_id, const char *action, const char *name, const char *cause)
{
    char seat[96], why[96];
    snprintf(seat, sizeof(seat), GROUP_SEAT_PREFIX "%.64s", group_id);
    snprintf(why, sizeof(why), "group %.64s", group_id);
    int64_t now = gw_clock_unix_ms();
    store_outbox_t row = {.user_id = (char *)group_id,
                          .action = (char *)action,
                          .email = seat,
                          .role = (char *)name,
                          .created_at_ms = now,
                          .next_attempt_ms = now,
                          .cause = (char *)(cause != NULL ? cause : why)};
    return store_outbox_insert(s, &row, NULL) == STORE_OK ? 0 : -1;
}

static int start_mirror(store_t *s, const char *group_id, const char *name, int has_members)
{
    store_mirror_group_t g = {.group_id = (char *)group_id, .state = STORE_MIRROR_PENDING, .updated_ms = gw_clock_unix_ms()};
    if (store_mirror_group_put(s, &g) != STORE_OK || queue(s, group_id, "group_create", name, NULL) != 0)
        return -1;
    if (has_members && queue(s, group_id, "group_members", NULL, NULL) != 0)
        return -1;
    return 1;
}

int gw_mirror_group_created(const gw_config_t *cfg, store_t *s, const char *group_id, const char *name, const char *external_id,
                            int has_members)
{
    if (!gw_config_odeus_group(cfg, name, external_id))
        return 0;
    return start_mirror(s, group_id, name, has_members);
}

int gw_mirror_group_changed(const gw_config_t *cfg, store_t *s, const char *group_id, const char *old_name, const char *name,
                            const char *external_id, int members_changed)
{
    if (cfg->odeus_groups != GW_ODEUS_GROUPS_MIRROR)
        return 0;
    store_mirror_group_t g;
    store_status_t rc = store_mirror_group_get(s, group_id, &g);
    if (rc == STORE_ERROR)
        return -1;
    if (rc == STORE_NOT_FOUND) {
        if (!gw_config_odeus_group(cfg, name, external_id))
            return 0;
        size_t n = 0;
        if (store_group_member_count(s, group_id, &n) != STORE_OK)
            return -1;
        return start_mirror(s, group_id, name, n > 0);
    }
    int renamed = strcmp(old_name, name) != 0;
    int retry = g.state == STORE_MIRROR_CONFLICT && g.odeus_id == NULL && renamed;
    store_mirror_group_clear(&g);
    if (retry) {
        /* its creation ended in a conflict: under the new name it may go through */
        size_t n = 0;
        if (store_group_member_count(s, group_id, &n) != STORE_OK)
            return -1;
        return start_mirror(s, group_id, name, n > 0);
    }
    /* Odeus compares names as given ("sending the current name again is no rename"): so does this */
    if (renamed && queue(s, group_id, "group_rename", name, NULL) != 0)
        return -1;
    if (members_changed && queue(s, group_id, "group_members", NULL, NULL) != 0)
        return -1;
    return renamed || members_changed;
}

int gw_mirror_group_deleted(const gw_config_t *cfg, store_t *s, const char *group_id)
{
    if (cfg->odeus_groups != GW_ODEUS_GROUPS_MIRROR)
        return 0;
    store_mirror_group_t g;
    store_status_t rc = store_mirror_group_get(s, group_id, &g);
    store_mirror_group_clear(&g);
    if (rc == STORE_NOT_FOUND)
        return 0;
    return rc == STORE_OK && queue(s, group_id, "group_delete", NULL, NULL) == 0 ? 1 : -1;
}

typedef struct seat_ctx {
    store_t *s;
    const char *cause;
    int failed, queued;
} seat_ctx_t;

static int on_seat_group(void *arg, const store_mirror_group_t *g)
{
    seat_ctx_t *sc = arg;
    if (g->state == STORE_MIRROR_CONFLICT)
        return 0;
    if (queue(sc->s, g->group_id, "group_members", NULL, sc->cause) != 0) {
        sc->failed = 1;
        return 1;
    }
    sc->queued = 1;
    return 0;
}

int gw_mirror_seat_moved(const gw_config_t *cfg, store_t *s, const char *user_id, const char *email)
{
    if (cfg->odeus_groups != GW_ODEUS_GROUPS_MIRROR || email == NULL)
        return 0;
    char cause[300];
    snprintf(cause, sizeof(cause), "seat %.254s", email);
    seat_ctx_t sc = {.s = s, .cause = cause};
    if (store_mirror_groups(s, user_id, email, 0, on_seat_group, &sc) != STORE_OK)
        return -1;
    return sc.failed ? -1 : sc.queued;
}

static int on_resend_group(void *arg, const store_mirror_group_t *g)
{
    return on_seat_group(arg, g);
}

int gw_mirror_resend_due(const gw_config_t *cfg, store_t *s, int64_t now_ms)
{
    if (cfg->odeus_groups != GW_ODEUS_GROUPS_MIRROR || gw_mirror_unsupported())
        return 0;
    seat_ctx_t sc = {.s = s, .cause = "re-send to pending invitees"};
    if (store_mirror_groups(s, NULL, NULL, now_ms, on_resend_group, &sc) != STORE_OK)
        return -1;
    return sc.failed ? -1 : 0;
}

/* ---- delivery ------------------------------------------------------------------------------- */

void gw_mirror_plan_clear(gw_mirror_plan_t *p)
{
    if (p == NULL)
        return;
    free(p->group_id);
    free(p->odeus_id);
    free(p->name);
    free(p->description);
    for (size_t i = 0; i < p->n_emails; i++)
        free(p->emails[i]);
    free(p->emails);
    free(p->until);
    memset(p, 0, sizeof(*p));
}

static void plan_end(gw_mirror_plan_t *p, store_outbox_state_t state, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void plan_end(gw_mirror_plan_t *p, store_outbox_state_t state, const char *outcome, const char *fmt, ...)
{
    va_list ap;
    p->step = GW_MIRROR_END;
    p->state = state;
    p->outcome = outcome;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof(p->message), fmt, ap);
    va_end(ap);
}

static void plan_later(gw_mirror_plan_t *p, int64_t at_ms, const char *outcome, const char *message)
{
    p->step = GW_MIRROR_LATER;
    p->at_ms = at_ms;
    p->outcome = outcome;
    snprintf(p->message, sizeof(p->message), "%s", message);
}

static void plan_send(gw_mirror_plan_t *p, odeus_group_call_t call)
{
    p->step = GW_MIRROR_SEND;
    if (call == ODEUS_GROUP_CREATE && p->description == NULL) {
        size_t n = strlen(OWN_DESCRIPTION) + strlen(p->group_id) + 1;
        p->description = gw_malloc(n);
        snprintf(p->description, n, OWN_DESCRIPTION, p->group_id);
    }
    p->req = (odeus_group_request_t){.call = call,
                                     .group_id = p->odeus_id,
                                     .name = p->name,
                                     .description = call == ODEUS_GROUP_CREATE ? p->description : NULL,
                                     .emails = (const char *const *)p->emails,
                                     .n_emails = p->n_emails};
}

/* What a group_members row sends next: the adds due, else the removals, each batch up to the cap. */
typedef struct members_plan {
    gw_mirror_plan_t *p;
    int64_t now;
    char **adds, **removes;
    int64_t *until;
    size_t n_adds, n_removes;
    int waiting; /* members whose seat's invite is still queued */
} members_plan_t;

static int on_plan_member(void *arg, const store_mirror_member_t *m)
{
    members_plan_t *mp = arg;
    if (m->want && !m->have) {
        if (m->seat_pending)
            mp->waiting = 1; /* its invite goes first: Odeus adds only active members */
        else if ((m->next_at == 0 || m->next_at <= mp->now) && mp->n_adds < ODEUS_GROUP_BATCH_MAX) {
            mp->until[mp->n_adds] = m->until_at;
            mp->adds[mp->n_adds++] = gw_strdup(m->email);
        }
    } else if (!m->want && m->have && mp->n_removes < ODEUS_GROUP_BATCH_MAX) {
        mp->removes[mp->n_removes++] = gw_strdup(m->email);
    }
    return 0;
}

static void prepare_members(store_t *s, gw_mirror_plan_t *p, int64_t now)
{
    members_plan_t mp = {.p = p, .now = now};
    mp.adds = gw_calloc(ODEUS_GROUP_BATCH_MAX, sizeof(*mp.adds));
    mp.removes = gw_calloc(ODEUS_GROUP_BATCH_MAX, sizeof(*mp.removes));
    mp.until = gw_calloc(ODEUS_GROUP_BATCH_MAX, sizeof(*mp.until));
    store_status_t rc = store_mirror_members(s, p->group_id, on_plan_member, &mp);
    int add = mp.n_adds > 0;
    if (rc != STORE_OK) {
        p->step = GW_MIRROR_RETRY;
        snprintf(p->message, sizeof(p->message), "store: %s", store_errmsg(s));
    } else if (add || mp.n_removes > 0) {
        p->emails = add ? mp.adds : mp.removes;
        p->n_emails = add ? mp.n_adds : mp.n_removes;
        if (add) {
            p->until = mp.until;
            mp.until = NULL;
            mp.adds = NULL;
            mp.n_adds = 0;
        } else {
            mp.removes = NULL;
            mp.n_removes = 0;
        }
        plan_send(p, add ? ODEUS_GROUP_ADD : ODEUS_GROUP_REMOVE);
    } else if (mp.waiting) {
        /* usually one invite's time; longer (a retried or held row of the seat) backs off, to a minute */
        int64_t wait = WAIT_FOR_INVITE_MS << (p->attempts < 6 ? p->attempts : 6);
        plan_later(p, now + wait, "waiting_for_invite",
                   "a member's invite (or another change of its seat) is still queued: it goes first");
    } else {
        plan_end(p, STORE_OUTBOX_DONE, "in_sync", "the Odeus group holds the directory's members");
    }
    for (size_t i = 0; i < mp.n_adds; i++)
        free(mp.adds[i]);
    for (size_t i = 0; i < mp.n_removes; i++)
        free(mp.removes[i]);
    free(mp.adds);
    free(mp.removes);
    free(mp.until);
}

void gw_mirror_prepare(const gw_config_t *cfg, store_t *s, const store_outbox_t *row, int64_t now, gw_mirror_plan_t *p)
{
    (void)cfg;
    memset(p, 0, sizeof(*p));
    p->attempts = row->attempts;
    p->group_id = gw_strdup(row->user_id);
    p->name = row->role != NULL ? gw_strdup(row->role) : NULL;
    if (gw_mirror_unsupported()) {
        plan_end(p, STORE_OUTBOX_FAILED, "unsupported", "the Odeus workspace has no group API: mirroring stopped");
        return;
    }
    store_mirror_group_t g;
    store_status_t rc = store_mirror_group_get(s, row->user_id, &g);
    if (rc == STORE_ERROR) {
        p->step = GW_MIRROR_RETRY;
        snprintf(p->message, sizeof(p->message), "store: %s", store_errmsg(s));
        return;
    }
    if (rc == STORE_NOT_FOUND) {
        plan_end(p, STORE_OUTBOX_DONE, "not_mirrored", "the group has no Odeus group (deleted, or never mirrored)");
        return;
    }
    p->odeus_id = g.odeus_id;
    g.odeus_id = NULL;
    const char *action = row->action;
    if (g.state == STORE_MIRROR_CONFLICT && strcmp(action, "group_delete") != 0 && strcmp(action, "group_create") != 0) {
        plan_end(p, STORE_OUTBOX_FAILED, "conflict", "not mirrored: %s", g.reason != NULL ? g.reason : "conflict");
    } else if (strcmp(action, "group_create") == 0) {
        /* a create in conflict is only due again when an operator retried it: it is sent again */
        if (g.state == STORE_MIRROR_LIVE && p->odeus_id != NULL)
            plan_end(p, STORE_OUTBOX_DONE, "already", "linked to Odeus group %s", p->odeus_id);
        else if (g.state == STORE_MIRROR_ADOPTING)
            plan_send(p, ODEUS_GROUP_LIST);
        else
            plan_send(p, ODEUS_GROUP_CREATE);
    } else if (strcmp(action, "group_delete") == 0) {
        if (p->odeus_id == NULL) {
            if (store_mirror_group_forget(s, p->group_id) != STORE_OK) {
                p->step = GW_MIRROR_RETRY;
                snprintf(p->message, sizeof(p->message), "store: %s", store_errmsg(s));
            } else {
                plan_end(p, STORE_OUTBOX_DONE, "not_created", "no Odeus group had been created");
            }
        } else {
            plan_send(p, ODEUS_GROUP_DELETE);
        }
    } else if (p->odeus_id == NULL) {
        /* its creation is still under way (adopting, or retried): this row's turn comes after */
        plan_later(p, now + WAIT_FOR_INVITE_MS, "waiting_for_group", "the Odeus group is not created yet");
    } else if (strcmp(action, "group_rename") == 0) {
        plan_send(p, ODEUS_GROUP_RENAME);
    } else if (strcmp(action, "group_members") == 0) {
        prepare_members(s, p, now);
    } else {
        plan_end(p, STORE_OUTBOX_FAILED, "refused", "unknown mirror action %s", action);
    }
    store_mirror_group_clear(&g);
}

static void store_failed(gw_mirror_plan_t *p, store_t *s)
{
    p->step = GW_MIRROR_RETRY;
    snprintf(p->message, sizeof(p->message), "store: %s", store_errmsg(s));
}

static void put_state(store_t *s, gw_mirror_plan_t *p, store_mirror_state_t state, const char *odeus_id, const char *reason)
{
    store_mirror_group_t g = {.group_id = p->group_id,
                              .odeus_id = (char *)odeus_id,
                              .state = state,
                              .reason = (char *)reason,
                              .updated_ms = gw_clock_unix_ms()};
    if (store_mirror_group_put(s, &g) != STORE_OK)
        store_failed(p, s);
}

static void conflict(store_t *s, const store_outbox_t *row, gw_mirror_plan_t *p, const odeus_group_result_t *res, int ends_mirror)
{
    char reason[64 + ODEUS_MESSAGE_MAX + 2];
    snprintf(reason, sizeof(reason), "%.63s: %s", res->code[0] != '\0' ? res->code : "conflict", res->result.message);
    plan_end(p, STORE_OUTBOX_FAILED, "conflict", "%.250s", reason);
    if (ends_mirror)
        put_state(s, p, STORE_MIRROR_CONFLICT, p->odeus_id, reason);
    gw_metrics_group_conflict();
    gw_log(GW_LOG_ERROR, "odeus_group_conflict",
           json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "outbox_id", (json_int_t)row->id, "group_id", p->group_id, "action",
                     row->action, "code", res->code, "message", res->result.message, "effect",
                     ends_mirror ? "the group is not mirrored; it still counts for roles and access"
                                 : "the call is not made; the mirror goes on"));
}

/*
 * The group of a list answer to link to: the one this gateway created for this SCIM group (its
 * description says so); else, with `adopt`, the first of that name that Odeus' SCIM does not
 * manage. NULL otherwise, with *taken set when a group has the name (*scim_only when all such are
 * SCIM-managed).
 */
static const odeus_group_item_t *adoptable(const odeus_group_result_t *res, const char *name, const char *own, int adopt,
                                           int *taken, int *scim_only)
{
    const odeus_group_item_t *other = NULL;
    *taken = *scim_only = 0;
    for (size_t i = 0; i < res->n_items; i++) {
        const odeus_group_item_t *it = &res->items[i];
        if (name == NULL || strcasecmp(it->name, name) != 0)
            continue;
        *taken = 1;
        if (!it->scim_managed && it->description != NULL && strcmp(it->description, own) == 0)
            return it;
        if (!it->scim_managed && other == NULL)
            other = it;
    }
    *scim_only = *taken && other == NULL;
    return adopt ? other : NULL;
}

/* 1 when a group named `name` in the answer was made by this gateway for some SCIM group (its description says so). */
static int held_by_mirror(const odeus_group_result_t *res, const char *name)
{
    const char *prefix = "Mirrored from SCIM group ", *suffix = " by odeus-scim-gateway";
    size_t np = strlen(prefix), ns = strlen(suffix);
    for (size_t i = 0; i < res->n_items; i++) {
        const char *d = res->items[i].description;
        size_t n = d != NULL ? strlen(d) : 0;
        if (name != NULL && strcasecmp(res->items[i].name, name) == 0 && n > np + ns && strncmp(d, prefix, np) == 0 &&
            strcmp(d + n - ns, suffix) == 0)
            return 1;
    }
    return 0;
}

static int in_list(char *const *list, size_t n, const char *email)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], email) == 0)
            return 1;
    return 0;
}

static void record_add(const gw_config_t *cfg, store_t *s, gw_mirror_plan_t *p, const odeus_group_result_t *res, int64_t now)
{
    size_t not_found = 0, given_up = 0;
    for (size_t i = 0; i < p->n_emails && p->step != GW_MIRROR_RETRY; i++) {
        const char *email = p->emails[i];
        store_status_t rc;
        if (!in_list(res->not_found, res->n_not_found, email)) {
            rc = store_mirror_member_put(s, p->group_id, email, 1, 0, 0, NULL);
        } else if (p->until[i] > 0 && now >= p->until[i]) {
            /* re-sent for as long as an invitation can be accepted: given up, shown by `groups check` */
            given_up++;
            rc = store_mirror_member_put(s, p->group_id, email, 0, INT64_MAX, p->until[i],
                                         "Odeus never found this address (an invitee who did not join)");
        } else {
            /* a pending invitee (or deactivated, or unknown): kept, and sent again on the re-send schedule */
            not_found++;
            int64_t until = p->until[i] > 0 ? p->until[i] : now + cfg->invitee_recheck_for_ms;
            rc = store_mirror_member_put(s, p->group_id, email, 0, now + cfg->invitee_recheck_interval_ms, until,
                                         "not found by Odeus (a pending invitee?)");
        }
        if (rc != STORE_OK)
            store_failed(p, s);
    }
    if (not_found > 0 || given_up > 0)
        gw_log(GW_LOG_INFO, "odeus_group_members_not_found",
               json_pack("{s:s, s:s, s:I, s:I, s:I}", "group_id", p->group_id, "odeus_group_id", p->odeus_id, "not_found",
                         (json_int_t)not_found, "given_up", (json_int_t)given_up, "retry_in_ms",
                         (json_int_t)cfg->invitee_recheck_interval_ms));
    if (p->step != GW_MIRROR_RETRY)
        plan_later(p, now, "partial", "members sent; the rest (if any) follows");
}

void gw_mirror_record(const gw_config_t *cfg, store_t *s, const store_outbox_t *row, gw_mirror_plan_t *p,
                      const odeus_group_result_t *res, int64_t now)
{
    const odeus_result_t *r = &res->result;
    gw_metrics_group_call(p->req.call, r->outcome);
    switch (r->outcome) {
    case ODEUS_OUTCOME_UNSUPPORTED:
        plan_end(p, STORE_OUTBOX_FAILED, "unsupported", "%s", r->message);
        if (atomic_exchange(&unsupported, 1) == 0) {
            gw_metrics_groups_unsupported();
            gw_log(GW_LOG_ERROR, "odeus_groups_unsupported",
                   json_pack("{s:s, s:I, s:s, s:s}", "call", odeus_group_call_name(p->req.call), "http_status",
                             (json_int_t)r->http_status, "message", r->message, "effect",
                             "this Odeus workspace has no group API: group mirroring stopped; users and roles go on. "
                             "Restart with --odeus-groups off, or once the API is there, `outbox retry --all-failed`."));
        }
        return;
    case ODEUS_OUTCOME_RETRY:
    case ODEUS_OUTCOME_AUTH:
        p->step = GW_MIRROR_RETRY;
        snprintf(p->message, sizeof(p->message), "%s", r->message);
        return;
    case ODEUS_OUTCOME_CONFLICT:
        if (p->req.call == ODEUS_GROUP_CREATE && strcmp(res->code, "GROUP_NAME_TAKEN") == 0) {
            /* the group of that name may be this gateway's own, created by an earlier attempt whose
               answer was lost; or, with --odeus-groups-adopt, one to link to: looked up next */
            put_state(s, p, STORE_MIRROR_ADOPTING, NULL, NULL);
            if (p->step != GW_MIRROR_RETRY)
                plan_later(p, now, "name_taken", "the name is taken: looking the group of that name up");
            return;
        }
        /* a refused rename leaves the group mirrored under its old name; the rest ends the mirror */
        conflict(s, row, p, res, p->req.call != ODEUS_GROUP_RENAME || strcmp(res->code, "GROUP_SCIM_MANAGED") == 0);
        return;
    case ODEUS_OUTCOME_REFUSED:
    case ODEUS_OUTCOME_NOT_MEMBER:
        plan_end(p, STORE_OUTBOX_FAILED, "refused", "%s%s", r->message,
                 strcmp(res->code, "GROUP_NOT_FOUND") == 0 ? " (the Odeus group was deleted outside the gateway: "
                                                             "`groups check --apply` creates it again)"
                                                           : "");
        return;
    case ODEUS_OUTCOME_DONE:
    case ODEUS_OUTCOME_ALREADY:
        break;
    }
    switch (p->req.call) {
    case ODEUS_GROUP_CREATE: {
        const char *id = res->n_items > 0 ? res->items[0].id : NULL;
        char dry[96];
        if (id == NULL && cfg->dry_run) {
            /* dry-run makes no group: later calls show this placeholder where the id goes */
            snprintf(dry, sizeof(dry), "dry-run-%.64s", p->group_id);
            id = dry;
        }
        if (id == NULL) {
            p->step = GW_MIRROR_RETRY;
            snprintf(p->message, sizeof(p->message), "HTTP %ld: the answer names no group id", r->http_status);
            return;
        }
        put_state(s, p, STORE_MIRROR_LIVE, id, NULL);
        /* its members follow: a sync queued now supersedes the one queued with the group (same
           calls), and brings back members whose syncs ended while the group was in conflict */
        if (p->step != GW_MIRROR_RETRY && queue(s, p->group_id, "group_members", NULL, "created") != 0)
            store_failed(p, s);
        if (p->step != GW_MIRROR_RETRY)
            plan_end(p, STORE_OUTBOX_DONE, "done", "created Odeus group %s", id);
        return;
    }
    case ODEUS_GROUP_LIST: {
        int taken = 0, scim_only = 0;
        char own[160];
        snprintf(own, sizeof(own), OWN_DESCRIPTION, p->group_id);
        const odeus_group_item_t *g = adoptable(res, p->name, own, cfg->odeus_groups_adopt, &taken, &scim_only);
        if (g != NULL) {
            int ours = g->description != NULL && strcmp(g->description, own) == 0;
            put_state(s, p, STORE_MIRROR_LIVE, g->id, NULL);
            /* its members are made the directory's: the ones someone added by hand stay (never known to the mirror) */
            if (p->step != GW_MIRROR_RETRY && queue(s, p->group_id, "group_members", NULL, ours ? "re-linked" : "adopted") != 0)
                store_failed(p, s);
            if (p->step != GW_MIRROR_RETRY)
                plan_end(p, STORE_OUTBOX_DONE, ours ? "done" : "adopted",
                         ours ? "linked to Odeus group %s, created by an earlier attempt" : "adopted Odeus group %s", g->id);
        } else if (scim_only) {
            odeus_group_result_t scim = {.result = *r};
            snprintf(scim.code, sizeof(scim.code), "GROUP_SCIM_MANAGED");
            snprintf(scim.result.message, sizeof(scim.result.message), "the Odeus group with this name is managed by Odeus' SCIM");
            conflict(s, row, p, &scim, 1);
        } else if (taken && held_by_mirror(res, p->name)) {
            /* another SCIM group's Odeus group still has the name (its rename or deletion is queued
               behind): this create waits for it rather than ending in a conflict */
            put_state(s, p, STORE_MIRROR_PENDING, NULL, NULL);
            int64_t wait = WAIT_FOR_INVITE_MS << (p->attempts < 6 ? p->attempts : 6);
            if (p->step != GW_MIRROR_RETRY)
                plan_later(p, now + wait, "name_held", "the name is held by the Odeus group of another mirrored SCIM group");
        } else if (taken) {
            odeus_group_result_t named = {.result = *r};
            snprintf(named.code, sizeof(named.code), "GROUP_NAME_TAKEN");
            snprintf(named.result.message, sizeof(named.result.message),
                     "a group with this name exists in Odeus (not made by this gateway; --odeus-groups-adopt links to it)");
            conflict(s, row, p, &named, 1);
        } else {
            /* gone since the 409: create it after all */
            put_state(s, p, STORE_MIRROR_PENDING, NULL, NULL);
            if (p->step != GW_MIRROR_RETRY)
                plan_later(p, now, "create", "no group of that name any more: creating it");
        }
        return;
    }
    case ODEUS_GROUP_RENAME:
        plan_end(p, STORE_OUTBOX_DONE, "done", "renamed to %.200s", p->name != NULL ? p->name : "");
        return;
    case ODEUS_GROUP_DELETE:
        if (store_mirror_group_forget(s, p->group_id) != STORE_OK)
            store_failed(p, s);
        else
            plan_end(p, STORE_OUTBOX_DONE, odeus_outcome_name(r->outcome), "deleted Odeus group %s", p->odeus_id);
        return;
    case ODEUS_GROUP_ADD:
        record_add(cfg, s, p, res, now);
        return;
    case ODEUS_GROUP_REMOVE:
        for (size_t i = 0; i < p->n_emails; i++)
            if (store_mirror_member_put(s, p->group_id, p->emails[i], 0, 0, 0, NULL) != STORE_OK) {
                store_failed(p, s);
                return;
            }
        plan_later(p, now, "partial", "members removed; the rest (if any) follows");
        return;
    case ODEUS_GROUP_MEMBERS:
        break;
    }
    plan_end(p, STORE_OUTBOX_FAILED, "refused", "unexpected call");
}

/* ---- the drift check ------------------------------------------------------------------------ */

typedef struct sync_call {
    int done;
    odeus_group_result_t res;
} sync_call_t;

static void on_sync_done(void *user, const odeus_group_result_t *res)
{
    sync_call_t *sc = user;
    sc->done = 1;
    /* the client frees its copy after this: keep what the check reads */
    sc->res.result = res->result;
    memcpy(sc->res.code, res->code, sizeof(sc->res.code));
    sc->res.n_items = res->n_items;
    sc->res.items = gw_calloc(res->n_items + 1, sizeof(*sc->res.items));
    for (size_t i = 0; i < res->n_items; i++)
        sc->res.items[i].email = res->items[i].email != NULL ? gw_strdup(res->items[i].email) : NULL;
    sc->res.next_cursor = res->next_cursor != NULL ? gw_strdup(res->next_cursor) : NULL;
}

/* One call, waited for. 0 with `out` filled (the caller's: odeus_group_result_clear), or -1 (`err`). */
static int call_sync(upstream_client_t *client, const odeus_group_request_t *req, atomic_int *cancel, odeus_group_result_t *out,
                     char *err, size_t err_len)
{
    sync_call_t sc = {0};
    if (upstream_client_submit_group(client, req, on_sync_done, &sc) != 0) {
        snprintf(err, err_len, "the %s call could not be started", odeus_group_call_name(req->call));
        return -1;
    }
    int64_t until = gw_clock_mono_ms() + CHECK_CALL_TIMEOUT_MS;
    while (!sc.done && gw_clock_mono_ms() < until && (cancel == NULL || !atomic_load(cancel)))
        if (upstream_client_poll(client, 100) != 0)
            break;
    if (!sc.done) {
        /* still in the client: its callback must not find `sc` gone, so the caller destroys the
           client before anything else (the check fails) */
        snprintf(err, err_len, "no answer from Odeus to %s", odeus_group_call_name(req->call));
        return -1;
    }
    *out = sc.res;
    return 0;
}

typedef struct email_set {
    char **v;
    size_t n, cap;
} email_set_t;

static void set_add(email_set_t *set, const char *email)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->v = gw_realloc(set->v, set->cap * sizeof(*set->v));
    }
    char *e = gw_strdup(email);
    for (char *c = e; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    set->v[set->n++] = e;
}

static int set_has(const email_set_t *set, const char *email)
{
    return in_list(set->v, set->n, email);
}

static void set_free(email_set_t *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    free(set->v);
}

typedef struct mirror_list {
    store_mirror_group_t *v;
    size_t n, cap;
} mirror_list_t;

static int on_check_group(void *arg, const store_mirror_group_t *g)
{
    mirror_list_t *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = gw_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (store_mirror_group_t){.group_id = gw_strdup(g->group_id),
                                          .odeus_id = g->odeus_id != NULL ? gw_strdup(g->odeus_id) : NULL,
                                          .state = g->state,
                                          .reason = g->reason != NULL ? gw_strdup(g->reason) : NULL,
                                          .updated_ms = g->updated_ms};
    return 0;
}

/* One group's comparison: what the directory has against Odeus' member list. */
typedef struct compare_ctx {
    const email_set_t *odeus;
    email_set_t wanted;
    json_t *missing;
    gw_mirror_totals_t *t;
    store_t *s;
    const char *group_id;
    int apply, remove_extra, changed, failed;
} compare_ctx_t;

static const char *missing_reason(const store_mirror_member_t *m)
{
    if (m->seat_pending)
        return "queued"; /* its invite (or another change of its seat) is still to go out */
    if (m->next_at == INT64_MAX)
        return "refused";
    if (m->next_at > 0)
        return "pending_invitee";
    if (m->have)
        return "removed_by_hand";
    return "queued";
}

static int on_compare_member(void *arg, const store_mirror_member_t *m)
{
    compare_ctx_t *cc = arg;
    int in_odeus = set_has(cc->odeus, m->email);
    if (m->want)
        set_add(&cc->wanted, m->email);
    store_status_t rc = STORE_OK;
    if (m->want && !in_odeus) {
        const char *why = missing_reason(m);
        json_array_append_new(cc->missing, json_pack("{s:s, s:s}", "email", m->email, "reason", why));
        if (strcmp(why, "pending_invitee") == 0)
            cc->t->missing_pending_invitee++;
        else if (strcmp(why, "refused") == 0)
            cc->t->missing_refused++;
        else if (strcmp(why, "removed_by_hand") == 0)
            cc->t->missing_removed++;
        else
            cc->t->missing_queued++;
        if (cc->apply && (m->have || m->next_at == INT64_MAX)) {
            /* Odeus lost it, or its re-sends had ended: forgotten, so that the sync adds it again */
            rc = store_mirror_member_put(cc->s, cc->group_id, m->email, 0, 0, 0, NULL);
            cc->changed = 1;
        }
    } else if (cc->apply && in_odeus && !m->have) {
        /* Odeus has it (added by hand, or an invitee who joined): recorded as it is */
        int wanted = m->want || cc->remove_extra;
        if (wanted) {
            rc = store_mirror_member_put(cc->s, cc->group_id, m->email, 1, 0, 0, NULL);
            cc->changed = 1;
        }
    }
    if (rc != STORE_OK) {
        cc->failed = 1;
        return 1;
    }
    return 0;
}

/* Reads every member of Odeus group `odeus_id` into `set`. 1 when the group is gone (404), 0, or -1 (`err`). */
static int read_members(upstream_client_t *client, const char *odeus_id, atomic_int *cancel, email_set_t *set, char *err,
                        size_t err_len)
{
    char *cursor = NULL;
    for (int page = 0; page < CHECK_MAX_PAGES; page++) {
        odeus_group_request_t req = {.call = ODEUS_GROUP_MEMBERS, .group_id = odeus_id, .cursor = cursor};
        odeus_group_result_t res;
        int rc = call_sync(client, &req, cancel, &res, err, err_len);
        free(cursor);
        cursor = NULL;
        if (rc != 0)
            return -1;
        if (strcmp(res.code, "GROUP_NOT_FOUND") == 0) {
            odeus_group_result_clear(&res);
            return 1;
        }
        if (res.result.outcome != ODEUS_OUTCOME_DONE) {
            snprintf(err, err_len, "Odeus answered the member list of %s: %s", odeus_id, res.result.message);
            odeus_group_result_clear(&res);
            return -1;
        }
        for (size_t i = 0; i < res.n_items; i++)
            if (res.items[i].email != NULL)
                set_add(set, res.items[i].email);
        cursor = res.next_cursor;
        res.next_cursor = NULL;
        odeus_group_result_clear(&res);
        if (cursor == NULL)
            return 0;
    }
    free(cursor);
    snprintf(err, err_len, "the member list of %s has more than %d pages", odeus_id, CHECK_MAX_PAGES);
    return -1;
}

/* Compares one linked group; adds its entry to `groups`. 0, or -1 (`err`). */
static int check_group(const gw_config_t *cfg, store_t *s, upstream_client_t *client, const gw_mirror_check_opts_t *opts,
                       const store_mirror_group_t *g, json_t *groups, gw_mirror_totals_t *t, char *err, size_t err_len)
{
    (void)cfg;
    store_group_t scim = {0};
    store_status_t got = store_group_get(s, g->group_id, &scim);
    if (got == STORE_ERROR) {
        snprintf(err, err_len, "store: %s", store_errmsg(s));
        return -1;
    }
    json_t *entry =
        json_pack("{s:s, s:s?, s:s?}", "group_id", g->group_id, "name", scim.display_name, "odeus_group_id", g->odeus_id);
    json_array_append_new(groups, entry);
    t->groups++;
    if (g->state == STORE_MIRROR_CONFLICT) {
        t->groups_conflict++;
        json_object_set_new(entry, "status", json_string("conflict"));
        json_object_set_new(entry, "reason", json_string(g->reason != NULL ? g->reason : ""));
        store_group_clear(&scim);
        return 0;
    }
    if (g->odeus_id == NULL || got == STORE_NOT_FOUND) {
        /* not created yet, or its SCIM group is being deleted: the queue is on it */
        json_object_set_new(entry, "status", json_string("queued"));
        store_group_clear(&scim);
        return 0;
    }
    email_set_t odeus = {0};
    int rc = read_members(client, g->odeus_id, opts->cancel, &odeus, err, err_len);
    if (rc < 0) {
        set_free(&odeus);
        store_group_clear(&scim);
        return -1;
    }
    if (rc == 1) {
        t->groups_missing++;
        t->groups_drifted++;
        json_object_set_new(entry, "status", json_string("missing_in_odeus"));
        if (opts->apply) {
            if (store_begin(s) != STORE_OK) {
                snprintf(err, err_len, "store: %s", store_errmsg(s));
                set_free(&odeus);
                store_group_clear(&scim);
                return -1;
            }
            store_mirror_group_t again = {.group_id = g->group_id, .state = STORE_MIRROR_PENDING, .updated_ms = gw_clock_unix_ms()};
            int ok = store_mirror_group_forget(s, g->group_id) == STORE_OK && store_mirror_group_put(s, &again) == STORE_OK &&
                     queue(s, g->group_id, "group_create", scim.display_name, "groups check --apply") == 0 &&
                     queue(s, g->group_id, "group_members", NULL, "groups check --apply") == 0 && store_commit(s) == STORE_OK;
            if (!ok) {
                snprintf(err, err_len, "store: %s", store_errmsg(s));
                store_rollback(s);
                set_free(&odeus);
                store_group_clear(&scim);
                return -1;
            }
            t->queued++;
            json_object_set_new(entry, "queued", json_true());
        }
        set_free(&odeus);
        store_group_clear(&scim);
        return 0;
    }
    compare_ctx_t cc = {.odeus = &odeus,
                        .missing = json_array(),
                        .t = t,
                        .s = s,
                        .group_id = g->group_id,
                        .apply = opts->apply,
                        .remove_extra = opts->remove_extra};
    int ret = -1;
    if (opts->apply && store_begin(s) != STORE_OK)
        goto store_error;
    if (store_mirror_members(s, g->group_id, on_compare_member, &cc) != STORE_OK || cc.failed)
        goto store_error;
    json_t *extra = json_array();
    for (size_t i = 0; i < odeus.n; i++) {
        if (set_has(&cc.wanted, odeus.v[i]))
            continue;
        json_array_append_new(extra, json_string(odeus.v[i]));
        t->extra++;
        if (opts->apply && opts->remove_extra) {
            /* known as held, so that the sync removes it */
            if (store_mirror_member_put(s, g->group_id, odeus.v[i], 1, 0, 0, NULL) != STORE_OK) {
                json_decref(extra);
                goto store_error;
            }
            cc.changed = 1;
        }
    }
    int drifted = json_array_size(cc.missing) > 0 || json_array_size(extra) > 0;
    t->groups_drifted += drifted;
    json_object_set_new(entry, "status", json_string(drifted ? "drift" : "in_sync"));
    json_object_set_new(entry, "odeus_members", json_integer((json_int_t)odeus.n));
    json_object_set_new(entry, "directory_members", json_integer((json_int_t)cc.wanted.n));
    json_object_set_new(entry, "missing", json_incref(cc.missing));
    json_object_set_new(entry, "extra", extra);
    if (opts->apply) {
        int queued = drifted && (cc.changed || json_array_size(cc.missing) > 0);
        if (queued && queue(s, g->group_id, "group_members", NULL, "groups check --apply") != 0)
            goto store_error;
        if (store_commit(s) != STORE_OK)
            goto store_error;
        if (queued) {
            t->queued++;
            json_object_set_new(entry, "queued", json_true());
        }
    }
    ret = 0;
    goto out;
store_error:
    snprintf(err, err_len, "store: %s", store_errmsg(s));
    store_rollback(s);
out:
    json_decref(cc.missing);
    set_free(&cc.wanted);
    set_free(&odeus);
    store_group_clear(&scim);
    return ret;
}

json_t *gw_mirror_check(const gw_config_t *cfg, store_t *s, upstream_client_t *client, const gw_mirror_check_opts_t *opts,
                        gw_mirror_totals_t *t, char *err, size_t err_len)
{
    mirror_list_t list = {0};
    memset(t, 0, sizeof(*t));
    json_t *groups = json_array(), *report = NULL;
    if (store_mirror_groups(s, NULL, NULL, 0, on_check_group, &list) != STORE_OK) {
        snprintf(err, err_len, "store: %s", store_errmsg(s));
        goto out;
    }
    for (size_t i = 0; i < list.n; i++)
        if (check_group(cfg, s, client, opts, &list.v[i], groups, t, err, err_len) != 0)
            goto out;
    report = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I}}", "groups", json_incref(groups), "totals",
                       "groups", (json_int_t)t->groups, "groups_drifted", (json_int_t)t->groups_drifted, "groups_missing",
                       (json_int_t)t->groups_missing, "groups_conflict", (json_int_t)t->groups_conflict, "extra",
                       (json_int_t)t->extra, "missing", "pending_invitee", (json_int_t)t->missing_pending_invitee, "queued",
                       (json_int_t)t->missing_queued, "refused", (json_int_t)t->missing_refused, "removed_by_hand",
                       (json_int_t)t->missing_removed, "queued_groups", (json_int_t)t->queued);
out:
    for (size_t i = 0; i < list.n; i++)
        store_mirror_group_clear(&list.v[i]);
    free(list.v);
    json_decref(groups);
    return report;
}

/* ---- the drift check in the server ------------------------------------------------------------ */

struct gw_mirror_checker {
    const gw_config_t *config;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int stop;
};

static void publish(const gw_mirror_totals_t *t)
{
    gw_metrics_drift_t d = {.groups = t->groups,
                            .groups_drifted = t->groups_drifted,
                            .groups_missing = t->groups_missing,
                            .groups_conflict = t->groups_conflict,
                            .extra = t->extra,
                            .missing_pending_invitee = t->missing_pending_invitee,
                            .missing_queued = t->missing_queued,
                            .missing_refused = t->missing_refused,
                            .missing_removed = t->missing_removed,
                            .checked_at_ms = gw_clock_unix_ms()};
    gw_metrics_groups_drift(&d);
}

/* One check with a fresh store connection and client: a failed call never leaves one half-used. */
static void check_once(gw_mirror_checker_t *ck)
{
    const gw_config_t *cfg = ck->config;
    char err[512] = "";
    store_t *s = store_open(cfg->database, err, sizeof(err));
    upstream_client_t *client = NULL;
    json_t *report = NULL;
    gw_mirror_totals_t t;
    if (s != NULL) {
        upstream_config_t uc = {.base_url = cfg->odeus_base_url,
                                .api_key = cfg->odeus_api_key != NULL ? cfg->odeus_api_key : "",
                                .dry_run = cfg->dry_run,
                                .timeout_ms = cfg->upstream_deadline_ms,
                                .connect_timeout_ms = cfg->upstream_deadline_ms < 5000 ? cfg->upstream_deadline_ms : 5000,
                                .max_connections = 1,
                                .ca_file = cfg->odeus_ca_file[0] != '\0' ? cfg->odeus_ca_file : NULL};
        client = upstream_client_create(&uc, err, sizeof(err));
    }
    if (client != NULL) {
        gw_mirror_check_opts_t opts = {.cancel = &ck->stop};
        report = gw_mirror_check(cfg, s, client, &opts, &t, err, sizeof(err));
    }
    upstream_client_destroy(client);
    store_close(s);
    if (report == NULL) {
        if (!atomic_load(&ck->stop))
            gw_log(GW_LOG_WARN, "odeus_groups_check_failed", json_pack("{s:s}", "error", err));
        return;
    }
    publish(&t);
    gw_log(t.groups_drifted > 0 ? GW_LOG_WARN : GW_LOG_INFO, "odeus_groups_checked",
           json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "groups", (json_int_t)t.groups, "drifted",
                     (json_int_t)t.groups_drifted, "missing_in_odeus", (json_int_t)t.groups_missing, "extra", (json_int_t)t.extra,
                     "missing_pending_invitee", (json_int_t)t.missing_pending_invitee, "missing_queued",
                     (json_int_t)t.missing_queued, "missing_refused", (json_int_t)t.missing_refused, "missing_removed_by_hand",
                     (json_int_t)t.missing_removed, "fix", "odeus-scim-gateway groups check --apply"));
    json_decref(report);
}

static void *checker_main(void *arg)
{
    gw_mirror_checker_t *ck = arg;
    for (;;) {
        int64_t until = gw_clock_unix_ms() + ck->config->odeus_groups_check_interval_ms;
        pthread_mutex_lock(&ck->lock);
        while (!atomic_load(&ck->stop) && gw_clock_unix_ms() < until) {
            int64_t at = until;
            struct timespec ts = {(time_t)(at / 1000), (long)(at % 1000) * 1000000L};
            pthread_cond_timedwait(&ck->wake, &ck->lock, &ts);
        }
        pthread_mutex_unlock(&ck->lock);
        if (atomic_load(&ck->stop))
            return NULL;
        check_once(ck);
    }
}

gw_mirror_checker_t *gw_mirror_checker_start(const gw_config_t *cfg, char *err, size_t err_len)
{
    if (err_len > 0)
        err[0] = '\0';
    /* in dry-run there is no Odeus to read: every group would look empty */
    if (cfg->odeus_groups != GW_ODEUS_GROUPS_MIRROR || cfg->odeus_groups_check_interval_ms <= 0 || cfg->dry_run)
        return NULL;
    gw_mirror_checker_t *ck = gw_calloc(1, sizeof(*ck));
    ck->config = cfg;
    pthread_mutex_init(&ck->lock, NULL);
    pthread_cond_init(&ck->wake, NULL); /* CLOCK_REALTIME, as gw_clock_unix_ms */
    int rc = pthread_create(&ck->thread, NULL, checker_main, ck);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the groups check thread: %s", strerror(rc));
        pthread_cond_destroy(&ck->wake);
        pthread_mutex_destroy(&ck->lock);
        free(ck);
        return NULL;
    }
    return ck;
}

void gw_mirror_checker_stop(gw_mirror_checker_t *ck)
{
    if (ck == NULL)
        return;
    pthread_mutex_lock(&ck->lock);
    atomic_store(&ck->stop, 1);
    pthread_cond_signal(&ck->wake);
    pthread_mutex_unlock(&ck->lock);
    pthread_join(ck->thread, NULL);
    pthread_cond_destroy(&ck->wake);
    pthread_mutex_destroy(&ck->lock);
    free(ck);
}
