/*
 * The drift report of the Odeus group mirror, run by the same binary:
 *   odeus-scim-gateway groups check [--json] [--apply [--remove-extra]] [server options]
 * It reads the configuration as the server does (flags and environment: --data-dir, the Odeus base
 * URL and API key, --odeus-groups ...), opens the database with its own connection (safe while the
 * server runs: the calls --apply queues are outbox rows the server's delivery thread sends within a
 * second) and reads every mirrored group's members from Odeus, one page at a time.
 */
#ifndef CLI_GROUPS_CLI_H
#define CLI_GROUPS_CLI_H

/**
 * Runs `groups ...`; argv[0] is "groups". The report on stdout, errors on stderr. Returns the exit
 * status: 0 in line (or, with --apply, the fixes queued), 3 drift found (without --apply), 1 the
 * check failed (store or Odeus), 2 usage.
 */
int gw_groups_cli_main(int argc, char **argv);

#endif
