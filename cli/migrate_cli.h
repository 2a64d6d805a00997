/*
 * Moving a gateway's data from one database to another, run by the same binary:
 *   odeus-scim-gateway migrate --from sqlite:PATH [--to postgres://...] [--force]
 * The target defaults to GATEWAY_DATABASE_URL(_FILE), so that a password can come from a secret
 * file rather than the command line. Stop every gateway on the source first: rows a gateway
 * writes after the copy stay behind.
 */
#ifndef CLI_MIGRATE_CLI_H
#define CLI_MIGRATE_CLI_H

/** Exit status when the target already holds data and --force was not given. */
#define GW_MIGRATE_EXIT_NOT_EMPTY 3

/**
 * Runs `migrate ...`; argv[0] is "migrate". A summary on stdout, errors on stderr; neither ever
 * shows a URL's password. Returns 0 copied, 1 failed (nothing changed on the target), 2 usage,
 * GW_MIGRATE_EXIT_NOT_EMPTY.
 */
int gw_migrate_cli_main(int argc, char **argv);

#endif
