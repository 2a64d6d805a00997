/*
 * Configuration from flags and environment (flags win). Secrets come only from the environment
 * or from files (Kubernetes secret mounts), never from flags, so they do not show in `ps`.
 */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/log.h"
#include "scim/user.h"

#define GW_SHA256_LEN 32
#define GW_MAX_TOKENS 16

typedef struct gw_config {
    char listen_host[64];
    uint16_t listen_port;
    char base_path[128];       /** no trailing slash, e.g. "/scim/v2" */
    char data_dir[512];
    char db_path[600];         /** data_dir + "/gateway.db" */
    unsigned threads;
    char odeus_base_url[512];
    char odeus_ca_file[512];   /** "" for the system bundle */
    char *odeus_api_key;       /** malloc'd; NULL in dry-run without a key */
    unsigned char token_hashes[GW_MAX_TOKENS][GW_SHA256_LEN]; /** SHA-256 of each accepted SCIM token */
    size_t n_tokens;
    int64_t upstream_deadline_ms;
    size_t max_body_bytes;
    char default_role[16];     /** member, editor or admin */
    scim_email_source_t email_source;
    char public_url[512];      /** "" = derived from each request's Host */
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
gw_config_result_t gw_config_load(gw_config_t *config, int argc, char **argv);
void gw_config_clear(gw_config_t *config);

#endif
