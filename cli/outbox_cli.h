/*
 * Operator commands on the outbox, run by the same binary:
 *   odeus-scim-gateway outbox list [--state pending|done|failed|superseded|all] [--limit N] [--json]
 *   odeus-scim-gateway outbox stats [--json]
 *   odeus-scim-gateway outbox retry ID|--all-failed
 *   odeus-scim-gateway outbox drop ID --yes
 * with --data-dir DIR (or GATEWAY_DATA_DIR; default ./data). They open the SQLite file with their
 * own connection, so they are safe while the server runs (WAL, busy timeout, single-statement
 * changes); the delivery thread sees a retry within a second.
 */
#ifndef CLI_OUTBOX_CLI_H
#define CLI_OUTBOX_CLI_H

/**
 * Runs `outbox ...`; argv[0] is "outbox". Output on stdout, errors on stderr. Returns the process
 * exit status: 0 done, 1 the command failed (no such row, store error), 2 usage.
 */
int gw_outbox_cli_main(int argc, char **argv);

#endif
