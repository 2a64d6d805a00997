/*
 * Configuration from flags and environment (flags win). Secrets come only from the environment
 * or from files (Kubernetes secret mounts), never from flags, so they do not show in `ps`.
 */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/cidr.h"
#include "common/log.h"
#include "scim/user.h"

#define GW_SHA256_LEN     32
#define GW_MAX_TOKENS     16
#define GW_TOKEN_NAME_LEN 64
/*
 * --max-connections by default. Each connection that presented a valid token may hold a body of
 * up to --max-body-bytes (h2o reads it whole), so 100 × 1 MiB plus the ~20 MiB the gateway needs
 * itself stays under the chart's 256 MiB memory limit.
 */
#define GW_DEFAULT_MAX_CONNECTIONS 100
/*
 * --odeus-rate-max-per-sec by default: ten times the default start. High enough that the pacer's
 * own ceiling is not what holds a backlog back against any Odeus limit we have seen (50/s in the
 * mass offboarding bench), low enough that a runaway growth against an Odeus that never answers
 * 429 stays a rate a single tenant's API can take; at +5/s per second of backlog it takes 36 s to
 * reach from 20.
 */
#define GW_DEFAULT_ODEUS_RATE_MAX 200

/** One accepted SCIM token: its name (logs, audit, metrics, Basic user) and only its digest. */
typedef struct gw_token {
    char name[GW_TOKEN_NAME_LEN];
    unsigned char hash[GW_SHA256_LEN];
    int64_t expires_s; /** unix seconds after which it is refused; 0 = never */
} gw_token_t;

/** Entries of --group-role-map at most, and the longest group name in one. README, "Limits". */
#define GW_MAX_ROLE_MAP       64
#define GW_ROLE_MAP_GROUP_LEN 256

/** One GROUP=ROLE of --group-role-map. */
typedef struct gw_group_role {
    char group[GW_ROLE_MAP_GROUP_LEN]; /** matched case-insensitively against a group's externalId or displayName */
    const char *role;                  /** static: member, editor or admin */
} gw_group_role_t;

/** Which header, sent by a trusted proxy, names the real client. */
typedef enum gw_proxy_header {
    GW_PROXY_HEADER_NONE,            /** the TCP peer is the client (default) */
    GW_PROXY_HEADER_X_FORWARDED_FOR, /** X-Forwarded-For, right-most untrusted address */
    GW_PROXY_HEADER_X_REAL_IP,       /** X-Real-IP */
} gw_proxy_header_t;

/* Invites per call at most: Odeus echoes every address in its answer, and at 254 bytes an address
 * this many still fit the 64 KiB the client once capped answers at (upstream/client.c RESPONSE_MAX). */
#define GW_INVITE_BATCH_MAX 200

/** --odeus-groups. */
typedef enum gw_odeus_groups {
    GW_ODEUS_GROUPS_OFF,    /** SCIM groups stay in the directory (roles, access) */
    GW_ODEUS_GROUPS_MIRROR, /** and each one (or those of --odeus-groups-only) has an Odeus workspace group */
} gw_odeus_groups_t;

typedef struct gw_config {
    char listen_host[64];
    uint16_t listen_port;
    char base_path[128]; /** no trailing slash, e.g. "/scim/v2" */
    char data_dir[512];
    char database[2048];       /** what store_open opens: --database, else "sqlite:" data_dir "/gateway.db"; may hold a
                                  password: log database_shown instead */
    char database_shown[2048]; /** database without user, password or parameters, for logs */
    unsigned threads;
    char odeus_base_url[512];
    char odeus_ca_file[512];          /** "" for the system bundle */
    char *odeus_api_key;              /** malloc'd; NULL in dry-run without a key */
    gw_token_t tokens[GW_MAX_TOKENS]; /** the accepted SCIM tokens (digests only) */
    size_t n_tokens;
    char tls_cert[512]; /** "" = plain HTTP; else PEM chain served (re-read on SIGHUP) */
    char tls_key[512];
    char tls_client_ca[512];        /** "" = no client certificates; else they are required and checked */
    gw_cidr_list_t allow_cidrs;     /** empty = any source address may call the SCIM endpoints */
    gw_cidr_list_t trusted_proxies; /** peers whose proxy_header is believed */
    gw_proxy_header_t proxy_header;
    unsigned rate_limit_per_min; /** per token; 0 = no limit */
    unsigned rate_limit_burst;
    char audit_log[600];   /** --audit-log; else data_dir + "/audit.jsonl", or "/audit-" replica_name ".jsonl" on PostgreSQL */
    char replica_name[64]; /** --replica-name, else the host name made safe for a file name (letters, digits, . _ -) */
    int64_t shutdown_grace_ms;
    int64_t upstream_deadline_ms;
    unsigned odeus_rate_per_sec;     /** the pacer's starting rate; 0 = no limit (default 20) */
    unsigned odeus_rate_max_per_sec; /** ceiling of the pacer's growth; 0 or <= the start: none (default 200) */
    int odeus_rate_max_set;          /** the ceiling was given (a default below the start is raised, a given one refused) */
    unsigned odeus_max_concurrency;  /** Odeus calls in flight at most (default 8) */
    unsigned
        odeus_invite_batch; /** invite rows of different seats per invite call, 1..GW_INVITE_BATCH_MAX (default 100; 1 = off) */
    int64_t odeus_retry_max_delay_ms;    /** cap of one retry delay (default 300000) */
    int64_t invitee_recheck_interval_ms; /** pending-invitee re-send period (default 15 min) */
    int64_t invitee_recheck_for_ms;      /** how long re-sends go on (default 30 days; 0 = none) */
    size_t max_body_bytes;
    unsigned max_connections;                     /** open client connections at most, all workers together (--max-connections) */
    char default_role[16];                        /** member, editor or admin */
    gw_group_role_t group_roles[GW_MAX_ROLE_MAP]; /** --group-role-map */
    size_t n_group_roles;
    char access_groups[GW_MAX_ROLE_MAP][GW_ROLE_MAP_GROUP_LEN]; /** --access-groups; none: SCIM active alone holds a seat */
    size_t n_access_groups;
    unsigned deactivation_guard;    /** one request deactivating more users than this holds them (0: off; default 50) */
    gw_odeus_groups_t odeus_groups; /** --odeus-groups (default off) */
    char odeus_groups_only[GW_MAX_ROLE_MAP][GW_ROLE_MAP_GROUP_LEN]; /** --odeus-groups-only; none: every group */
    size_t n_odeus_groups_only;
    int odeus_groups_adopt;                 /** --odeus-groups-adopt: link to an existing Odeus group of the same name */
    int64_t odeus_groups_check_interval_ms; /** --odeus-groups-check-interval; 0: no drift check in the server */
    scim_email_source_t email_source;
    char public_url[512]; /** "" = derived from each request's Host */
    gw_log_level_t log_level;
    int dry_run;
} gw_config_t;

typedef enum gw_config_result {
    GW_CONFIG_OK,
    GW_CONFIG_EXIT_OK,    /** --help or --version was printed: exit 0 */
    GW_CONFIG_EXIT_USAGE, /** a bad value: one line went to stderr, exit 2 */
} gw_config_result_t;

/**
 * Fills `config` from argv and the process environment. On GW_CONFIG_EXIT_USAGE one clear line
 * has been written to stderr. Release with gw_config_clear() (wipes the API key).
 */
GW_MUST_CHECK gw_config_result_t gw_config_load(gw_config_t *config, int argc, char **argv);

/**
 * Reads the SCIM tokens again, as at start (SCIM_TOKEN and SCIM_TOKEN_FILE from the environment),
 * into `tokens` and *n_tokens. On any error (unreadable file, bad entry, no token at all) returns -1
 * with a reason in `why` and leaves `tokens` alone. For SIGHUP.
 */
GW_MUST_CHECK int gw_config_read_tokens(gw_token_t tokens[GW_MAX_TOKENS], size_t *n_tokens, char *why, size_t why_len);
void gw_config_clear(gw_config_t *config);

/**
 * The database URL of the environment, for the subcommands that open the store as the server
 * does: GATEWAY_DATABASE_URL, or the contents of GATEWAY_DATABASE_URL_FILE (not both), checked
 * (store_url_check) into `out`. 1 when one is set; 0 when neither is (`out` untouched); -1 with
 * the reason in `why`, which names the variable and never repeats the URL.
 */
int gw_config_database_env(char *out, size_t out_len, char *why, size_t why_len);

/**
 * A database URL as logs and messages show it: a PostgreSQL URL loses its user, password and
 * parameters (scheme, host, port and database stay); a sqlite: URL is shown whole.
 */
void gw_config_database_shown(const char *url, char *out, size_t out_len);

/**
 * The Odeus role --group-role-map gives a group with `display_name` and `external_id` (either may
 * be NULL): the role of the first entry naming either, case-insensitively; NULL when none does.
 * Static string.
 */
const char *gw_config_group_role(const gw_config_t *config, const char *display_name, const char *external_id);

/**
 * 1 when a SCIM group with this displayName and externalId is to be mirrored into Odeus:
 * --odeus-groups mirror, and --odeus-groups-only names it (matched as --group-role-map) or is unset.
 */
int gw_config_odeus_group(const gw_config_t *config, const char *display_name, const char *external_id);

/** 1 when --access-groups names a group with `display_name` or `external_id` (case-insensitively), else 0. */
int gw_config_access_group(const gw_config_t *config, const char *display_name, const char *external_id);

#endif
