/*
 * Operator command on the audit log, run by the same binary:
 *   odeus-scim-gateway audit verify FILE [HEAD]
 * It reads the file only (never the gateway's handle), so it is safe while the server runs; an
 * entry being appended at that moment may show as a partial last line.
 */
#ifndef CLI_AUDIT_CLI_H
#define CLI_AUDIT_CLI_H

#include <stdio.h>

/**
 * Verifies a whole audit log (the format is in gateway/audit.h): JSON per line, seq 1, 2, 3...,
 * each prev the hash of the line before. `expect_head` (hex, may be NULL) must then equal the
 * hash of the last line. Writes one line of result to `out`. Returns 0 when intact, 1 when not,
 * 2 when the file cannot be read.
 */
int gw_audit_cli_verify(const char *path, const char *expect_head, FILE *out);

/**
 * Runs `audit verify FILE [HEAD]`; argv[0] is "audit". The result on stdout, usage on stderr.
 * Returns the process exit status: 0 intact, 1 not intact, 2 unreadable file or usage.
 */
int gw_audit_cli_main(int argc, char **argv);

#endif
