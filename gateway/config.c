#include "gateway/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include "common/digest.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "store/store.h"
#include "upstream/odeus.h"

#define MIN_TOKEN_LEN   16
#define MAX_SECRET_FILE 65536

typedef int (*setter_fn)(gw_config_t *config, const char *value, char *why, size_t why_len);

typedef struct option_def {
    const char *flag; /* without the leading "--" */
    const char *env;
    int takes_value;
    setter_fn set;
    const char *help;
} option_def_t;

static int copy_string(char *dst, size_t dst_len, const char *value, char *why, size_t why_len)
{
    if (strlen(value) >= dst_len) {
        snprintf(why, why_len, "too long (at most %zu characters)", dst_len - 1);
        return -1;
    }
    strcpy(dst, value);
    return 0;
}

static int parse_u64(const char *value, uint64_t min, uint64_t max, uint64_t *out, char *why, size_t why_len)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < min || v > max) {
        snprintf(why, why_len, "must be a whole number from %llu to %llu", (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_listen(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    const char *colon = strrchr(value, ':');
    uint64_t port;
    if (colon == NULL || colon == value || (size_t)(colon - value) >= sizeof(c->listen_host)) {
        snprintf(why, why_len, "must be HOST:PORT, e.g. 127.0.0.1:8080");
        return -1;
    }
    if (parse_u64(colon + 1, 0, 65535, &port, why, why_len) != 0)
        return -1;
    memcpy(c->listen_host, value, (size_t)(colon - value));
    c->listen_host[colon - value] = '\0';
    c->listen_port = (uint16_t)port;
    return 0;
}

static int set_base_path(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    size_t len = strlen(value);
    while (len > 1 && value[len - 1] == '/')
        len--;
    if (value[0] != '/' || len >= sizeof(c->base_path) || strpbrk(value, "?#% ") != NULL) {
        snprintf(why, why_len, "must be an absolute path such as /scim/v2");
        return -1;
    }
    if (len == 1)
        len = 0; /* "/" means the SCIM endpoints sit at the root */
    memcpy(c->base_path, value, len);
    c->base_path[len] = '\0';
    return 0;
}

static int set_data_dir(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value[0] == '\0') {
        snprintf(why, why_len, "must not be empty");
        return -1;
    }
    return copy_string(c->data_dir, sizeof(c->data_dir), value, why, why_len);
}

/* --database: checked as store_open will read it; a message never repeats it (it may hold a password). */
static int set_database(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (store_url_check(value, why, why_len) != 0)
        return -1;
    if (strlen(value) >= sizeof(c->database)) {
        snprintf(why, why_len, "too long (at most %zu characters)", sizeof(c->database) - 1);
        return -1;
    }
    strcpy(c->database, value);
    return 0;
}

void gw_config_database_shown(const char *url, char *out, size_t out_len)
{
    const char *scheme_end = strstr(url, "://");
    if (strncmp(url, "postgres", 8) != 0 || scheme_end == NULL) {
        snprintf(out, out_len, "%s", url);
        return;
    }
    const char *rest = scheme_end + 3, *at = strchr(rest, '@');
    /* an '@' after the path (in a parameter) is not the end of the user */
    if (at != NULL && strcspn(rest, "/?") < (size_t)(at - rest))
        at = NULL;
    const char *host = at != NULL ? at + 1 : rest;
    snprintf(out, out_len, "%.*s%.*s", (int)(rest - url), url, (int)strcspn(host, "?"), host);
}

static void show_database(gw_config_t *c)
{
    gw_config_database_shown(c->database, c->database_shown, sizeof(c->database_shown));
}

/* Whole-number options: parse within [min, max], scale (e.g. seconds to ms), store. */
#define NUMBER_SETTER(name, field, type, min, max, scale)                                                                          \
    static int name(gw_config_t *c, const char *value, char *why, size_t why_len)                                                  \
    {                                                                                                                              \
        uint64_t v;                                                                                                                \
        if (parse_u64(value, min, max, &v, why, why_len) != 0)                                                                     \
            return -1;                                                                                                             \
        c->field = (type)v * (scale);                                                                                              \
        return 0;                                                                                                                  \
    }

NUMBER_SETTER(set_threads, threads, unsigned, 1, 256, 1)
NUMBER_SETTER(set_deadline, upstream_deadline_ms, int64_t, 100, 120000, 1)
NUMBER_SETTER(set_odeus_rate, odeus_rate_per_sec, unsigned, 0, 100000, 1)
/* Set explicitly, a ceiling below the starting rate is a mistake worth reporting (see gw_config_load). */
static int set_odeus_rate_max(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    uint64_t v;
    if (parse_u64(value, 0, 100000, &v, why, why_len) != 0)
        return -1;
    c->odeus_rate_max_per_sec = (unsigned)v;
    c->odeus_rate_max_set = 1;
    return 0;
}
NUMBER_SETTER(set_odeus_concurrency, odeus_max_concurrency, unsigned, 1, 256, 1)
NUMBER_SETTER(set_odeus_invite_batch, odeus_invite_batch, unsigned, 1, GW_INVITE_BATCH_MAX, 1)
NUMBER_SETTER(set_retry_max_delay, odeus_retry_max_delay_ms, int64_t, 1000, 24 * 3600 * 1000ULL, 1)
NUMBER_SETTER(set_recheck_interval, invitee_recheck_interval_ms, int64_t, 1, 7 * 24 * 3600, 1000)
NUMBER_SETTER(set_recheck_for, invitee_recheck_for_ms, int64_t, 0, 365 * 24 * 3600, 1000)
NUMBER_SETTER(set_max_body, max_body_bytes, size_t, 1024, 64 * 1024 * 1024, 1)
NUMBER_SETTER(set_rate_limit, rate_limit_per_min, unsigned, 0, 1000000, 1)
NUMBER_SETTER(set_rate_limit_burst, rate_limit_burst, unsigned, 1, 1000000, 1)
NUMBER_SETTER(set_deactivation_guard, deactivation_guard, unsigned, 0, 1000000, 1)
NUMBER_SETTER(set_shutdown_grace, shutdown_grace_ms, int64_t, 1100, 600000, 1)
NUMBER_SETTER(set_max_connections, max_connections, unsigned, 1, 100000, 1)
NUMBER_SETTER(set_groups_check_interval, odeus_groups_check_interval_ms, int64_t, 0, 7 * 24 * 3600, 1000)

static int set_url(char *dst, size_t dst_len, const char *value, char *why, size_t why_len)
{
    if (strncmp(value, "https://", 8) != 0 && strncmp(value, "http://", 7) != 0) {
        snprintf(why, why_len, "must start with https:// (or http://)");
        return -1;
    }
    if (copy_string(dst, dst_len, value, why, why_len) != 0)
        return -1;
    size_t len = strlen(dst);
    while (len > 0 && dst[len - 1] == '/')
        dst[--len] = '\0';
    return 0;
}

static int set_odeus_base_url(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_url(c->odeus_base_url, sizeof(c->odeus_base_url), value, why, why_len);
}

static int set_public_url(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value[0] == '\0') {
        c->public_url[0] = '\0';
        return 0;
    }
    return set_url(c->public_url, sizeof(c->public_url), value, why, why_len);
}

static int set_odeus_ca_file(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value[0] != '\0' && access(value, R_OK) != 0) {
        snprintf(why, why_len, "cannot read %s", value);
        return -1;
    }
    return copy_string(c->odeus_ca_file, sizeof(c->odeus_ca_file), value, why, why_len);
}

static int set_default_role(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    const char *role = odeus_role_normalize(value);
    if (role == NULL) {
        snprintf(why, why_len, "must be member, editor or admin");
        return -1;
    }
    return copy_string(c->default_role, sizeof(c->default_role), role, why, why_len);
}

/*
 * The next entry of a comma-separated list at *p: *entry and *len, and *p moved past the entry
 * and its comma. 1 for an entry, 0 at the end, -1 with `why` for a trailing comma.
 */
static int list_next(const char **p, const char **entry, size_t *len, char *why, size_t why_len)
{
    if (**p == '\0')
        return 0;
    const char *end = strchr(*p, ',');
    *entry = *p;
    *len = end != NULL ? (size_t)(end - *p) : strlen(*p);
    *p += *len;
    if (**p == ',' && *++*p == '\0') {
        snprintf(why, why_len, "ends with a comma");
        return -1;
    }
    return 1;
}

/* A group name of `len` bytes into `dst` (GW_ROLE_MAP_GROUP_LEN bytes): 0, or -1 with `why` (empty, too long). */
static int copy_group_name(char *dst, const char *name, size_t len, char *why, size_t why_len)
{
    if (len == 0) {
        snprintf(why, why_len, "an empty group name");
        return -1;
    }
    if (len >= GW_ROLE_MAP_GROUP_LEN) {
        snprintf(why, why_len, "a group name is longer than %d bytes", GW_ROLE_MAP_GROUP_LEN - 1);
        return -1;
    }
    memcpy(dst, name, len);
    dst[len] = '\0';
    return 0;
}

/* --group-role-map GROUP=ROLE[,GROUP=ROLE...]: a group name may hold '=' (the last one splits), not ','. */
static int set_group_role_map(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    const char *p = value, *entry;
    size_t len;
    int more;
    c->n_group_roles = 0;
    while ((more = list_next(&p, &entry, &len, why, why_len)) == 1) {
        const char *eq = NULL;
        for (const char *q = entry; q < entry + len; q++)
            if (*q == '=')
                eq = q;
        char role[16];
        size_t role_len = eq != NULL ? (size_t)(entry + len - eq - 1) : 0;
        int shown = (int)(len > 64 ? 64 : len);
        if (eq == NULL) {
            snprintf(why, why_len, "entry \"%.*s\" is not GROUP=ROLE", shown, entry);
            return -1;
        }
        if (role_len > 0 && role_len < sizeof(role)) {
            memcpy(role, eq + 1, role_len);
            role[role_len] = '\0';
        }
        const char *normal = role_len > 0 && role_len < sizeof(role) ? odeus_role_normalize(role) : NULL;
        if (normal == NULL) {
            snprintf(why, why_len, "entry \"%.*s\": the role must be member, editor or admin", shown, entry);
            return -1;
        }
        if (c->n_group_roles == GW_MAX_ROLE_MAP) {
            snprintf(why, why_len, "more than %d entries", GW_MAX_ROLE_MAP);
            return -1;
        }
        gw_group_role_t *e = &c->group_roles[c->n_group_roles];
        if (copy_group_name(e->group, entry, (size_t)(eq - entry), why, why_len) != 0)
            return -1;
        e->role = normal;
        for (size_t i = 0; i < c->n_group_roles; i++) {
            if (strcasecmp(c->group_roles[i].group, e->group) == 0) {
                snprintf(why, why_len, "group \"%.64s\" is named twice", e->group);
                return -1;
            }
        }
        c->n_group_roles++;
    }
    return more;
}

/* A list of group names (--access-groups, --odeus-groups-only) into `names`, *n of them: 0, or -1 with `why`. */
static int set_group_names(char names[GW_MAX_ROLE_MAP][GW_ROLE_MAP_GROUP_LEN], size_t *n, const char *value, char *why,
                           size_t why_len)
{
    const char *p = value, *entry;
    size_t len;
    int more;
    *n = 0;
    while ((more = list_next(&p, &entry, &len, why, why_len)) == 1) {
        if (*n == GW_MAX_ROLE_MAP) {
            snprintf(why, why_len, "more than %d groups", GW_MAX_ROLE_MAP);
            return -1;
        }
        if (copy_group_name(names[*n], entry, len, why, why_len) != 0)
            return -1;
        (*n)++;
    }
    return more;
}

/* --access-groups NAME[,NAME...]: matched like the role map's groups. */
static int set_access_groups(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_group_names(c->access_groups, &c->n_access_groups, value, why, why_len);
}

/* --odeus-groups-only NAME[,NAME...]: matched like the role map's groups. */
static int set_groups_only(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_group_names(c->odeus_groups_only, &c->n_odeus_groups_only, value, why, why_len);
}

static int set_odeus_groups(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (strcmp(value, "off") == 0 || value[0] == '\0') {
        c->odeus_groups = GW_ODEUS_GROUPS_OFF;
    } else if (strcmp(value, "mirror") == 0) {
        c->odeus_groups = GW_ODEUS_GROUPS_MIRROR;
    } else {
        snprintf(why, why_len, "must be off or mirror");
        return -1;
    }
    return 0;
}

static int set_groups_adopt(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value == NULL || strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
        c->odeus_groups_adopt = 1;
    else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || value[0] == '\0')
        c->odeus_groups_adopt = 0;
    else {
        snprintf(why, why_len, "must be true or false");
        return -1;
    }
    return 0;
}

/* The one rule of every group list (--group-role-map, --access-groups, --odeus-groups-only): a name
 * matches a group's displayName or externalId, ignoring ASCII case. */
static int names_match(const char *name, const char *display_name, const char *external_id)
{
    return (display_name != NULL && strcasecmp(name, display_name) == 0) ||
           (external_id != NULL && strcasecmp(name, external_id) == 0);
}

int gw_config_access_group(const gw_config_t *c, const char *display_name, const char *external_id)
{
    for (size_t i = 0; i < c->n_access_groups; i++)
        if (names_match(c->access_groups[i], display_name, external_id))
            return 1;
    return 0;
}

int gw_config_odeus_group(const gw_config_t *c, const char *display_name, const char *external_id)
{
    if (c->odeus_groups != GW_ODEUS_GROUPS_MIRROR)
        return 0;
    if (c->n_odeus_groups_only == 0)
        return 1;
    for (size_t i = 0; i < c->n_odeus_groups_only; i++)
        if (names_match(c->odeus_groups_only[i], display_name, external_id))
            return 1;
    return 0;
}

const char *gw_config_group_role(const gw_config_t *c, const char *display_name, const char *external_id)
{
    for (size_t i = 0; i < c->n_group_roles; i++) {
        const gw_group_role_t *e = &c->group_roles[i];
        if (names_match(e->group, display_name, external_id))
            return e->role;
    }
    return NULL;
}

static int set_email_from(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (strcmp(value, "primary") == 0)
        c->email_source = SCIM_EMAIL_PRIMARY_WORK_USERNAME;
    else if (strcmp(value, "work") == 0)
        c->email_source = SCIM_EMAIL_WORK_PRIMARY_USERNAME;
    else if (strcmp(value, "userName") == 0)
        c->email_source = SCIM_EMAIL_USERNAME;
    else {
        snprintf(why, why_len, "must be primary, work or userName");
        return -1;
    }
    return 0;
}

static int set_log_level(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (gw_log_level_parse(value, &c->log_level) != 0) {
        snprintf(why, why_len, "must be debug, info, warn or error");
        return -1;
    }
    return 0;
}

static int set_dry_run(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value == NULL || strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
        c->dry_run = 1;
    else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 || value[0] == '\0')
        c->dry_run = 0;
    else {
        snprintf(why, why_len, "must be true or false");
        return -1;
    }
    return 0;
}

static int set_file(char *dst, size_t dst_len, const char *value, char *why, size_t why_len)
{
    if (value[0] != '\0' && access(value, R_OK) != 0) {
        snprintf(why, why_len, "cannot read %s", value);
        return -1;
    }
    return copy_string(dst, dst_len, value, why, why_len);
}

static int set_tls_cert(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_file(c->tls_cert, sizeof(c->tls_cert), value, why, why_len);
}

static int set_tls_key(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_file(c->tls_key, sizeof(c->tls_key), value, why, why_len);
}

static int set_tls_client_ca(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return set_file(c->tls_client_ca, sizeof(c->tls_client_ca), value, why, why_len);
}

static int set_allow_cidrs(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return gw_cidr_parse_list(value, &c->allow_cidrs, why, why_len);
}

static int set_trusted_proxies(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    return gw_cidr_parse_list(value, &c->trusted_proxies, why, why_len);
}

static int set_proxy_header(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value[0] == '\0' || strcmp(value, "none") == 0)
        c->proxy_header = GW_PROXY_HEADER_NONE;
    else if (strcasecmp(value, "x-forwarded-for") == 0)
        c->proxy_header = GW_PROXY_HEADER_X_FORWARDED_FOR;
    else if (strcasecmp(value, "x-real-ip") == 0)
        c->proxy_header = GW_PROXY_HEADER_X_REAL_IP;
    else {
        snprintf(why, why_len, "must be none, x-forwarded-for or x-real-ip");
        return -1;
    }
    return 0;
}

static int set_audit_log(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (value[0] == '\0') {
        snprintf(why, why_len, "must not be empty");
        return -1;
    }
    return copy_string(c->audit_log, sizeof(c->audit_log), value, why, why_len);
}

/* A replica's name becomes part of a file name: letters, digits, '.', '_', '-'; not "." or "..". */
static int replica_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 63 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return 0;
    return 1;
}

static int set_replica_name(gw_config_t *c, const char *value, char *why, size_t why_len)
{
    if (!replica_name_ok(value)) {
        snprintf(why, why_len, "1 to 63 letters, digits, '.', '_' or '-', not starting with '.'");
        return -1;
    }
    return copy_string(c->replica_name, sizeof(c->replica_name), value, why, why_len);
}

/*
 * The default replica name: the host name, which in Kubernetes is the pod's name (unique among
 * the replicas, new on each rollout), with other characters made '-'. "gateway" if there is none.
 */
static void default_replica_name(gw_config_t *c)
{
    /* as long as replica_name holds: a longer host name is cut (gethostname then need not end it) */
    char host[sizeof(c->replica_name)] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '-';
    /* host is cut to 63 above; the precision says so to the compiler too */
    snprintf(c->replica_name, sizeof(c->replica_name), "%.63s", replica_name_ok(host) ? host : "gateway");
}

static const option_def_t options[] = {
    {"listen", "GATEWAY_LISTEN", 1, set_listen, "HOST:PORT to listen on (default 127.0.0.1:8080)"},
    {"base-path", "GATEWAY_BASE_PATH", 1, set_base_path, "path of the SCIM endpoints (default /scim/v2)"},
    {"data-dir", "GATEWAY_DATA_DIR", 1, set_data_dir, "directory of the SQLite database and the audit log (default ./data)"},
    {"database", "GATEWAY_DATABASE_URL", 1, set_database,
     "sqlite:PATH or postgres://USER@HOST:PORT/DB (default sqlite:DATA_DIR/gateway.db); GATEWAY_DATABASE_URL_FILE "
     "reads it from a file"},
    {"threads", "GATEWAY_THREADS", 1, set_threads, "worker threads (default: number of CPUs)"},
    {"odeus-base-url", "ODEUS_BASE_URL", 1, set_odeus_base_url, "Odeus API base URL (default https://api.odeus.ai)"},
    {"odeus-ca-file", "ODEUS_CA_FILE", 1, set_odeus_ca_file, "CA bundle for the Odeus TLS connection (default: system)"},
    {"upstream-deadline-ms", "GATEWAY_UPSTREAM_DEADLINE_MS", 1, set_deadline, "how long a request waits for Odeus (default 10000)"},
    {"odeus-rate-per-sec", "ODEUS_RATE_PER_SEC", 1, set_odeus_rate,
     "Odeus calls per second to start with (the pace grows while Odeus keeps up), 0 = no limit (default 20)"},
    {"odeus-rate-max-per-sec", "ODEUS_RATE_MAX_PER_SEC", 1, set_odeus_rate_max,
     "ceiling of the Odeus pace, which grows from --odeus-rate-per-sec while calls wait and Odeus keeps up; 0 or the "
     "starting rate = no growth (default 200)"},
    {"odeus-max-concurrency", "ODEUS_MAX_CONCURRENCY", 1, set_odeus_concurrency, "Odeus calls in flight at most (default 8)"},
    {"odeus-invite-batch", "ODEUS_INVITE_BATCH", 1, set_odeus_invite_batch,
     "invites per Odeus call at most, 1..200; 1 = one call per invite (default 100)"},
    {"odeus-retry-max-delay-ms", "ODEUS_RETRY_MAX_DELAY_MS", 1, set_retry_max_delay,
     "longest wait between two attempts of one change (default 300000)"},
    {"pending-invitee-recheck-interval", "GATEWAY_PENDING_INVITEE_RECHECK_INTERVAL", 1, set_recheck_interval,
     "seconds between re-sent deactivations of invitees who never joined (default 900)"},
    {"pending-invitee-recheck-for", "GATEWAY_PENDING_INVITEE_RECHECK_FOR", 1, set_recheck_for,
     "seconds such re-sends go on, 0 = none (default 2592000, 30 days)"},
    {"max-body-bytes", "GATEWAY_MAX_BODY_BYTES", 1, set_max_body, "largest request body (default 1048576)"},
    {"max-connections", "GATEWAY_MAX_CONNECTIONS", 1, set_max_connections,
     "open client connections at most, all threads together; more are closed at accept (default 100)"},
    {"default-role", "GATEWAY_DEFAULT_ROLE", 1, set_default_role,
     "Odeus role when no group or roles value names one (default member)"},
    {"access-groups", "GATEWAY_ACCESS_GROUPS", 1, set_access_groups,
     "NAME,...: a seat also needs membership of one of these groups (externalId or displayName)"},
    {"odeus-groups", "GATEWAY_ODEUS_GROUPS", 1, set_odeus_groups,
     "off (default) or mirror: keep one Odeus workspace group per SCIM group, members by their Odeus email"},
    {"odeus-groups-only", "GATEWAY_ODEUS_GROUPS_ONLY", 1, set_groups_only,
     "NAME,...: mirror only these groups (externalId or displayName; default: every group)"},
    {"odeus-groups-adopt", "GATEWAY_ODEUS_GROUPS_ADOPT", 0, set_groups_adopt,
     "link a SCIM group to an Odeus group that already has its name, instead of ending in a conflict"},
    {"odeus-groups-check-interval", "GATEWAY_ODEUS_GROUPS_CHECK_INTERVAL", 1, set_groups_check_interval,
     "seconds between drift checks of the mirrored groups in the server, 0 = none (default 0)"},
    {"deactivation-guard", "GATEWAY_DEACTIVATION_GUARD", 1, set_deactivation_guard,
     "one request deactivating more users than this holds them for an operator, 0 = off (default 50)"},
    {"group-role-map", "GATEWAY_GROUP_ROLE_MAP", 1, set_group_role_map,
     "GROUP=ROLE,...: members of GROUP (externalId or displayName) get ROLE in Odeus, the highest wins"},
    {"odeus-email-from", "GATEWAY_ODEUS_EMAIL_FROM", 1, set_email_from,
     "which email Odeus sees: primary (default), work or userName"},
    {"public-url", "GATEWAY_PUBLIC_URL", 1, set_public_url,
     "external URL of the gateway for meta.location (default: from the Host header)"},
    {"log-level", "GATEWAY_LOG_LEVEL", 1, set_log_level, "debug, info (default), warn or error"},
    {"dry-run", "GATEWAY_DRY_RUN", 0, set_dry_run, "make no Odeus call; log each call instead"},
    {"tls-cert", "GATEWAY_TLS_CERT", 1, set_tls_cert, "PEM certificate chain: serve HTTPS (re-read on SIGHUP)"},
    {"tls-key", "GATEWAY_TLS_KEY", 1, set_tls_key, "PEM private key of --tls-cert (re-read on SIGHUP)"},
    {"tls-client-ca", "GATEWAY_TLS_CLIENT_CA", 1, set_tls_client_ca, "PEM CA file: require client certificates it signed (mTLS)"},
    {"allow-cidrs", "GATEWAY_ALLOW_CIDRS", 1, set_allow_cidrs,
     "comma-separated ranges allowed to call the SCIM endpoints (default: any)"},
    {"trusted-proxies", "GATEWAY_TRUSTED_PROXIES", 1, set_trusted_proxies,
     "comma-separated ranges of proxies whose --proxy-header is believed"},
    {"proxy-header", "GATEWAY_PROXY_HEADER", 1, set_proxy_header,
     "none (default), x-forwarded-for or x-real-ip: where trusted proxies name the client"},
    {"rate-limit", "GATEWAY_RATE_LIMIT", 1, set_rate_limit, "requests per minute per token (default 1200; 0 = off)"},
    {"rate-limit-burst", "GATEWAY_RATE_LIMIT_BURST", 1, set_rate_limit_burst,
     "requests a token may send at once above the rate (default 300)"},
    {"audit-log", "GATEWAY_AUDIT_LOG", 1, set_audit_log,
     "hash-chained JSON Lines audit log (default DATA_DIR/audit.jsonl; on PostgreSQL DATA_DIR/audit-REPLICA.jsonl)"},
    {"replica-name", "GATEWAY_REPLICA_NAME", 1, set_replica_name,
     "this replica's name, for its own audit log on PostgreSQL (default: the host name)"},
    {"shutdown-grace-ms", "GATEWAY_SHUTDOWN_GRACE_MS", 1, set_shutdown_grace,
     "on SIGTERM, how long in-flight work may take (default 20000)"},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void print_help(void)
{
    printf("Usage: odeus-scim-gateway [options]\n\nA SCIM 2.0 server for Okta and Entra ID that provisions Odeus users.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        printf("  --%-22s %s\n  %-24s env %s\n", options[i].flag, options[i].help, "", options[i].env);
    printf("  --%-22s %s\n  --%-22s %s\n", "help", "print this and exit", "version", "print the version and exit");
    printf("\nSecrets, from the environment only:\n"
           "  ODEUS_API_KEY or ODEUS_API_KEY_FILE  the Odeus API key (USER_MANAGEMENT_API scope)\n"
           "  SCIM_TOKEN or SCIM_TOKEN_FILE        accepted tokens: comma-separated, or one per line in the\n"
           "                                       file; both may be set. Each entry is a plain token (at least\n"
           "                                       %d characters) or NAME:plain:TOKEN or NAME:sha256:HEX, either\n"
           "                                       optionally followed by :expires=YYYY-MM-DDTHH:MM:SSZ.\n"
           "                                       Both are read again on SIGHUP.\n"
           "\nSubcommands:\n"
           "  audit verify FILE                    check the audit log's hash chain\n"
           "  outbox list|stats|retry|drop         inspect and repair the queue of changes for Odeus\n"
           "  groups check [--json] [--apply [--remove-extra]]\n"
           "                                       compare the mirrored Odeus groups with the directory\n"
           "  migrate --from sqlite:PATH --to URL  copy the directory and the outbox to another database\n",
           MIN_TOKEN_LEN);
}

/* Reads a secret file whole; strips trailing whitespace. Returns malloc'd text or NULL. */
static char *read_secret_file(const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = gw_malloc(MAX_SECRET_FILE + 1);
    size_t n = fread(buf, 1, MAX_SECRET_FILE + 1, f);
    fclose(f);
    if (n > MAX_SECRET_FILE) {
        snprintf(why, why_len, "%s is larger than %d bytes", path, MAX_SECRET_FILE);
        free(buf);
        return NULL;
    }
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return buf;
}

int gw_config_database_env(char *out, size_t out_len, char *why, size_t why_len)
{
    const char *env = getenv("GATEWAY_DATABASE_URL"), *file = getenv("GATEWAY_DATABASE_URL_FILE");
    int has_env = env != NULL && env[0] != '\0', has_file = file != NULL && file[0] != '\0';
    if (has_env && has_file) {
        snprintf(why, why_len, "set GATEWAY_DATABASE_URL or GATEWAY_DATABASE_URL_FILE, not both");
        return -1;
    }
    if (!has_env && !has_file)
        return 0;
    char reason[256] = "";
    /* the URL may carry a password, so it may come from a secret file */
    char *url = has_file ? read_secret_file(file, reason, sizeof(reason)) : gw_strdup(env);
    int rc = -1;
    if (url != NULL && store_url_check(url, reason, sizeof(reason)) == 0) {
        if (strlen(url) < out_len) {
            strcpy(out, url);
            rc = 1;
        } else {
            snprintf(reason, sizeof(reason), "too long (at most %zu characters)", out_len - 1);
        }
    }
    if (rc < 0)
        snprintf(why, why_len, "%s: %s", has_file ? "GATEWAY_DATABASE_URL_FILE" : "GATEWAY_DATABASE_URL", reason);
    if (url != NULL) {
        OPENSSL_cleanse(url, strlen(url));
        free(url);
    }
    return rc;
}

/* "2027-01-31T00:00:00Z" (UTC only) to unix seconds; -1 when malformed. */
static int64_t parse_utc(const char *text, size_t len)
{
    char buf[32];
    struct tm tm = {0};
    if (len != 20 || text[19] != 'Z')
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *end = strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    return (int64_t)timegm(&tm);
}

static int hex_digest(const char *hex, size_t len, unsigned char out[GW_SHA256_LEN])
{
    if (len != 2 * GW_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < GW_SHA256_LEN; i++) {
        unsigned v = 0;
        for (size_t j = 0; j < 2; j++) {
            char ch = hex[2 * i + j];
            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                v |= (unsigned)(ch - 'a' + 10);
            else if (ch >= 'A' && ch <= 'F')
                v |= (unsigned)(ch - 'A' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Length of a token name at the start of `s` followed by ':', or 0 when `s` has no such prefix. */
static size_t name_prefix(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && i < GW_TOKEN_NAME_LEN && (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
        i++;
    return i > 0 && i < len && s[i] == ':' ? i : 0;
}

/*
 * One entry: a plain token (named "token-N"), or NAME:plain:TOKEN, or NAME:sha256:HEX, each
 * optionally ending in ":expires=YYYY-MM-DDTHH:MM:SSZ". An entry is structured only when it
 * starts with a name and one of the two kinds, so plain tokens that contain ':' still work.
 */
static int add_token(gw_config_t *c, const char *start, size_t len, const char *source, char *why, size_t why_len)
{
    static const char expires[] = ":expires=";
    while (len > 0 && isspace((unsigned char)*start)) {
        start++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0 || start[0] == '#')
        return 0;
    if (c->n_tokens == GW_MAX_TOKENS) {
        snprintf(why, why_len, "more than %d tokens", GW_MAX_TOKENS);
        return -1;
    }
    gw_token_t *t = &c->tokens[c->n_tokens];
    memset(t, 0, sizeof(*t));
    size_t name_len = name_prefix(start, len);
    const char *kind = start + name_len + 1;
    size_t rest = name_len > 0 ? len - name_len - 1 : 0;
    int hashed = rest > 7 && strncmp(kind, "sha256:", 7) == 0, plain = rest > 6 && strncmp(kind, "plain:", 6) == 0;
    if (name_len > 0 && (hashed || plain)) {
        const char *secret = kind + (hashed ? 7 : 6);
        size_t secret_len = rest - (hashed ? 7 : 6);
        if (secret_len > 20 + sizeof(expires) - 1 &&
            memcmp(secret + secret_len - 20 - (sizeof(expires) - 1), expires, sizeof(expires) - 1) == 0) {
            if ((t->expires_s = parse_utc(secret + secret_len - 20, 20)) <= 0) {
                snprintf(why, why_len, "token \"%.*s\" in %s: expires= must be like 2027-01-31T00:00:00Z", (int)name_len, start,
                         source);
                return -1;
            }
            secret_len -= 20 + sizeof(expires) - 1;
        }
        memcpy(t->name, start, name_len);
        if (hashed) {
            if (hex_digest(secret, secret_len, t->hash) != 0) {
                snprintf(why, why_len, "token \"%s\" in %s: sha256: must be followed by 64 hex digits", t->name, source);
                return -1;
            }
            c->n_tokens++;
            return 0;
        }
        start = secret;
        len = secret_len;
    } else {
        snprintf(t->name, sizeof(t->name), "token-%zu", c->n_tokens + 1);
    }
    if (len < MIN_TOKEN_LEN) {
        snprintf(why, why_len, "a token in %s is shorter than %d characters", source, MIN_TOKEN_LEN);
        return -1;
    }
    gw_digest(start, len, t->hash);
    c->n_tokens++;
    return 0;
}

static int add_tokens(gw_config_t *c, const char *text, char separator, const char *source, char *why, size_t why_len)
{
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, separator);
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (add_token(c, p, len, source, why, why_len) != 0)
            return -1;
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

static int load_tokens(gw_config_t *c, char *why, size_t why_len)
{
    const char *tokens = getenv("SCIM_TOKEN"), *token_file = getenv("SCIM_TOKEN_FILE");
    if (tokens != NULL && add_tokens(c, tokens, ',', "SCIM_TOKEN", why, why_len) != 0)
        return -1;
    if (token_file != NULL && token_file[0] != '\0') {
        char *text = read_secret_file(token_file, why, why_len);
        if (text == NULL)
            return -1;
        int rc = add_tokens(c, text, '\n', "SCIM_TOKEN_FILE", why, why_len);
        OPENSSL_cleanse(text, strlen(text));
        free(text);
        if (rc != 0)
            return -1;
    }
    if (c->n_tokens == 0) {
        snprintf(why, why_len, "no SCIM token: set SCIM_TOKEN or SCIM_TOKEN_FILE (the IdP sends it as a bearer token)");
        return -1;
    }
    /* Names tell tokens apart in logs, the audit log and metrics; a bare token's name (token-N, by
     * position) may clash with a named one as well as two named ones may clash. */
    for (size_t i = 0; i < c->n_tokens; i++) {
        for (size_t j = i + 1; j < c->n_tokens; j++) {
            if (strcmp(c->tokens[i].name, c->tokens[j].name) == 0) {
                snprintf(why, why_len, "token name \"%s\" is used twice (a bare token is named token-N by its position)",
                         c->tokens[i].name);
                return -1;
            }
        }
    }
    return 0;
}

static int load_secrets(gw_config_t *c, char *why, size_t why_len)
{
    const char *key = getenv("ODEUS_API_KEY"), *key_file = getenv("ODEUS_API_KEY_FILE");
    if (key != NULL && key[0] != '\0' && key_file != NULL && key_file[0] != '\0') {
        snprintf(why, why_len, "set ODEUS_API_KEY or ODEUS_API_KEY_FILE, not both");
        return -1;
    }
    if (key != NULL && key[0] != '\0') {
        c->odeus_api_key = gw_strdup(key);
    } else if (key_file != NULL && key_file[0] != '\0') {
        if ((c->odeus_api_key = read_secret_file(key_file, why, why_len)) == NULL)
            return -1;
    }
    if (c->odeus_api_key != NULL && (c->odeus_api_key[0] == '\0' || strpbrk(c->odeus_api_key, "\r\n") != NULL)) {
        snprintf(why, why_len, "the Odeus API key is empty or spans several lines");
        return -1;
    }
    if (c->odeus_api_key == NULL && !c->dry_run) {
        snprintf(why, why_len, "no Odeus API key: set ODEUS_API_KEY or ODEUS_API_KEY_FILE, or run with --dry-run");
        return -1;
    }
    return load_tokens(c, why, why_len);
}

int gw_config_read_tokens(gw_token_t tokens[GW_MAX_TOKENS], size_t *n_tokens, char *why, size_t why_len)
{
    gw_config_t *scratch = gw_calloc(1, sizeof(*scratch));
    int rc = load_tokens(scratch, why, why_len);
    if (rc == 0) {
        memcpy(tokens, scratch->tokens, sizeof(scratch->tokens));
        *n_tokens = scratch->n_tokens;
    }
    OPENSSL_cleanse(scratch->tokens, sizeof(scratch->tokens));
    free(scratch);
    return rc;
}

static void set_defaults(gw_config_t *c)
{
    memset(c, 0, sizeof(*c));
    strcpy(c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    strcpy(c->base_path, "/scim/v2");
    strcpy(c->data_dir, "data");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = cpus > 0 && cpus <= 256 ? (unsigned)cpus : 1;
    strcpy(c->odeus_base_url, "https://api.odeus.ai");
    c->upstream_deadline_ms = 10000;
    c->odeus_rate_per_sec = 20;
    c->odeus_rate_max_per_sec = GW_DEFAULT_ODEUS_RATE_MAX;
    c->odeus_max_concurrency = 8;
    c->odeus_invite_batch = 100;
    c->odeus_retry_max_delay_ms = 5 * 60 * 1000;
    c->invitee_recheck_interval_ms = 15 * 60 * 1000;
    c->invitee_recheck_for_ms = 30LL * 24 * 3600 * 1000;
    c->deactivation_guard = 50;
    c->max_body_bytes = 1024 * 1024;
    strcpy(c->default_role, "member");
    c->email_source = SCIM_EMAIL_PRIMARY_WORK_USERNAME;
    c->log_level = GW_LOG_INFO;
    c->rate_limit_per_min = 1200;
    c->rate_limit_burst = 300;
    c->shutdown_grace_ms = 20000;
    c->max_connections = GW_DEFAULT_MAX_CONNECTIONS;
}

gw_config_result_t gw_config_load(gw_config_t *c, int argc, char **argv)
{
    char why[512] = "";
    set_defaults(c);

    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *value = getenv(options[i].env);
        if (value != NULL && options[i].set(c, value, why, sizeof(why)) != 0) {
            fprintf(stderr, "odeus-scim-gateway: %s: %s\n", options[i].env, why);
            return GW_CONFIG_EXIT_USAGE;
        }
    }

    if (gw_config_database_env(c->database, sizeof(c->database), why, sizeof(why)) < 0) {
        fprintf(stderr, "odeus-scim-gateway: %s\n", why);
        return GW_CONFIG_EXIT_USAGE;
    }

    struct option long_options[N_OPTIONS + 3];
    for (size_t i = 0; i < N_OPTIONS; i++)
        long_options[i] = (struct option){options[i].flag, options[i].takes_value ? required_argument : no_argument, NULL, (int)i};
    long_options[N_OPTIONS] = (struct option){"help", no_argument, NULL, 'h'};
    long_options[N_OPTIONS + 1] = (struct option){"version", no_argument, NULL, 'V'};
    long_options[N_OPTIONS + 2] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
        if (opt == 'h') {
            print_help();
            return GW_CONFIG_EXIT_OK;
        }
        if (opt == 'V') {
            printf("odeus-scim-gateway %s\n", GATEWAY_VERSION);
            return GW_CONFIG_EXIT_OK;
        }
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "odeus-scim-gateway: %s %s (see --help)\n", opt == ':' ? "missing value for" : "unknown option",
                    argv[optind - 1]);
            return GW_CONFIG_EXIT_USAGE;
        }
        const option_def_t *def = &options[opt];
        if (def->set(c, def->takes_value ? optarg : NULL, why, sizeof(why)) != 0) {
            fprintf(stderr, "odeus-scim-gateway: --%s: %s\n", def->flag, why);
            return GW_CONFIG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "odeus-scim-gateway: unexpected argument %s (see --help)\n", argv[optind]);
        return GW_CONFIG_EXIT_USAGE;
    }
    if (c->odeus_rate_max_set && c->odeus_rate_max_per_sec != 0 && c->odeus_rate_max_per_sec < c->odeus_rate_per_sec) {
        fprintf(
            stderr,
            "odeus-scim-gateway: --odeus-rate-max-per-sec (%u) is below --odeus-rate-per-sec (%u); 0 keeps the rate at its start\n",
            c->odeus_rate_max_per_sec, c->odeus_rate_per_sec);
        return GW_CONFIG_EXIT_USAGE;
    }
    /* the default ceiling must not forbid a starting rate above it: no growth then */
    if (c->odeus_rate_max_per_sec < c->odeus_rate_per_sec)
        c->odeus_rate_max_per_sec = c->odeus_rate_per_sec;
    if (c->database[0] == '\0' &&
        (size_t)snprintf(c->database, sizeof(c->database), "sqlite:%s/gateway.db", c->data_dir) >= sizeof(c->database)) {
        fprintf(stderr, "odeus-scim-gateway: --data-dir: too long\n");
        return GW_CONFIG_EXIT_USAGE;
    }
    show_database(c);
    if (c->replica_name[0] == '\0')
        default_replica_name(c);
    /*
     * Replicas on one PostgreSQL database each keep their own hash chain, in a file named after the
     * replica (README, "High availability": why not one chain); with SQLite there is one writer.
     */
    int shared = strncmp(c->database, "postgres://", 11) == 0 || strncmp(c->database, "postgresql://", 13) == 0;
    if (c->audit_log[0] == '\0' &&
        (size_t)(shared ? snprintf(c->audit_log, sizeof(c->audit_log), "%s/audit-%s.jsonl", c->data_dir, c->replica_name)
                        : snprintf(c->audit_log, sizeof(c->audit_log), "%s/audit.jsonl", c->data_dir)) >= sizeof(c->audit_log)) {
        fprintf(stderr, "odeus-scim-gateway: --data-dir: too long\n");
        return GW_CONFIG_EXIT_USAGE;
    }
    if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0')) {
        fprintf(stderr, "odeus-scim-gateway: --tls-cert and --tls-key go together\n");
        return GW_CONFIG_EXIT_USAGE;
    }
    if (c->tls_client_ca[0] != '\0' && c->tls_cert[0] == '\0') {
        fprintf(stderr, "odeus-scim-gateway: --tls-client-ca needs --tls-cert and --tls-key\n");
        return GW_CONFIG_EXIT_USAGE;
    }
    if (c->proxy_header != GW_PROXY_HEADER_NONE && c->trusted_proxies.n == 0) {
        fprintf(stderr, "odeus-scim-gateway: --proxy-header needs --trusted-proxies (which peers may set it)\n");
        return GW_CONFIG_EXIT_USAGE;
    }
    if (load_secrets(c, why, sizeof(why)) != 0) {
        fprintf(stderr, "odeus-scim-gateway: %s\n", why);
        gw_config_clear(c);
        return GW_CONFIG_EXIT_USAGE;
    }
    return GW_CONFIG_OK;
}

void gw_config_clear(gw_config_t *c)
{
    if (c->odeus_api_key != NULL) {
        OPENSSL_cleanse(c->odeus_api_key, strlen(c->odeus_api_key));
        free(c->odeus_api_key);
        c->odeus_api_key = NULL;
    }
    OPENSSL_cleanse(c->tokens, sizeof(c->tokens));
    c->n_tokens = 0;
    OPENSSL_cleanse(c->database, sizeof(c->database)); /* a PostgreSQL URL may hold a password */
}
