#include "cli/audit_cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "common/alloc.h"
#include "gateway/audit.h"

/* Longer lines are reported as not being entries (the gateway writes none that long). */
#define MAX_LINE (1024 * 1024)

int gw_audit_cli_verify(const char *path, const char *expect_head, FILE *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(out, "cannot read %s: %s\n", path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long long lineno = 0, expect_seq = 1;
    char prev[GW_AUDIT_HASH_HEX];
    gw_audit_chain_start(prev);
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[n - 1] != '\n') {
            fprintf(out, "line %lld: partial entry (no newline at the end of the file)\n", lineno);
            rc = 1;
            break;
        }
        size_t len = (size_t)n - 1;
        json_t *j = NULL;
        long long seq = len < MAX_LINE ? gw_audit_entry_parse(line, len, &j) : -1;
        if (seq < 0) {
            fprintf(out, "line %lld: not an audit entry\n", lineno);
            rc = 1;
            break;
        }
        const char *p = json_string_value(json_object_get(j, "prev"));
        int chained = strcmp(p, prev) == 0;
        json_decref(j);
        if (seq != expect_seq) {
            fprintf(out, "line %lld: seq %lld where %lld was expected (an entry was deleted, inserted or moved)\n", lineno, seq,
                    expect_seq);
            rc = 1;
            break;
        }
        if (!chained) {
            fprintf(out, "line %lld (seq %lld): prev does not match the previous line (it was edited, or this one was)\n", lineno,
                    seq);
            rc = 1;
            break;
        }
        gw_audit_chain_hash(line, len, prev);
        expect_seq++;
    }
    if (n < 0 && !feof(f)) { /* not the end: a failed read must not verify as a shorter log */
        if (errno == ENOMEM)
            gw_alloc_fail(cap);
        fprintf(out, "cannot read %s: %s\n", path, strerror(errno));
        rc = 2;
    }
    free(line);
    fclose(f);
    if (rc == 0 && expect_head != NULL && strcmp(expect_head, prev) != 0) {
        fprintf(out, "head is %s, expected %s (entries at the end were removed or edited)\n", prev, expect_head);
        rc = 1;
    }
    if (rc == 0)
        fprintf(out, "ok: %lld entries, head %s\n", expect_seq - 1, prev);
    return rc;
}

int gw_audit_cli_main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: odeus-scim-gateway audit verify FILE [HEAD]\n");
        return 2;
    }
    return gw_audit_cli_verify(argv[2], argc == 4 ? argv[3] : NULL, stdout);
}
