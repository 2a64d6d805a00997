/*
 * The audit log's hash chain, written by gateway/audit.c and checked by `audit verify`
 * (cli/audit_cli.c): appends across a reopen, then edits, deletions, reorderings, a removed last
 * entry and a partial line, each of which verify must report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "cli/audit_cli.h"
#include "gateway/audit.h"

static void hex_of(const char *line, char out[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)line, strlen(line), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- helpers ------------------------------------------------------------------------------------- */

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_int_equal(ferror(f), 0);
    buf[n] = '\0';
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void write_all(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static int verify(const char *path, const char *head)
{
    FILE *out = tmpfile();
    assert_non_null(out);
    int rc = gw_audit_cli_verify(path, head, out);
    assert_int_equal(fclose(out), 0);
    return rc;
}

/* Splits the file into lines (pointers into `text`, newline replaced by NUL). */
static size_t split(char *text, char **lines, size_t max)
{
    size_t n = 0;
    for (char *p = text; *p != '\0' && n < max;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

static void join(const char *path, char **lines, const size_t *order, size_t n)
{
    char *buf = calloc(1, 65536);
    for (size_t i = 0; i < n; i++) {
        strcat(buf, lines[order[i]]);
        strcat(buf, "\n");
    }
    write_all(path, buf);
    free(buf);
}

static void test_audit_chain(void **state)
{
    (void)state;
    char dir[] = "/tmp/gw-audit-XXXXXX", path[128], copy[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
    snprintf(copy, sizeof(copy), "%s/copy.jsonl", dir);
    char err[256];
    gw_audit_t *a = gw_audit_open(path, err, sizeof(err));
    assert_non_null(a);
    assert_int_equal(gw_audit_append(a, "user_created", json_pack("{s:s}", "user_id", "u1")), 0);
    assert_int_equal(gw_audit_append(a, "user_updated", json_pack("{s:s}", "user_id", "u1")), 0);
    gw_audit_close(a);
    /* Reopening continues the chain. */
    a = gw_audit_open(path, err, sizeof(err));
    assert_non_null(a);
    assert_int_equal(gw_audit_append(a, "user_deactivated", json_pack("{s:s}", "user_id", "u1")), 0);
    assert_int_equal(gw_audit_append(a, "user_deleted", NULL), 0);
    gw_audit_close(a);
    assert_int_equal(verify(path, NULL), 0);

    char *text = read_all(path), *lines[8];
    size_t n = split(text, lines, 8);
    assert_int_equal(n, 4);
    assert_non_null(strstr(lines[0], "\"seq\":1,"));
    assert_non_null(strstr(lines[3], "\"seq\":4,"));

    /* The head: the hash of the last line; a wrong head or a removed last entry is caught with it. */
    char head[65];
    hex_of(lines[3], head);
    assert_int_equal(verify(path, head), 0);
    size_t first3[] = {0, 1, 2};
    join(copy, lines, first3, 3);
    assert_int_equal(verify(copy, NULL), 0); /* a shorter chain is still a chain ... */
    assert_int_equal(verify(copy, head), 1); /* ... but not the one the head names */

    size_t deleted[] = {0, 2, 3}, reordered[] = {0, 2, 1, 3}, dropped_first[] = {1, 2, 3};
    join(copy, lines, deleted, 3);
    assert_int_equal(verify(copy, NULL), 1);
    join(copy, lines, reordered, 4);
    assert_int_equal(verify(copy, NULL), 1);
    join(copy, lines, dropped_first, 3);
    assert_int_equal(verify(copy, NULL), 1);

    /* An edit of one character in an entry breaks the next entry's prev. */
    size_t all[] = {0, 1, 2, 3};
    char *edit = strstr(lines[1], "user_updated");
    edit[5] = 'X';
    join(copy, lines, all, 4);
    assert_int_equal(verify(copy, NULL), 1);
    edit[5] = 'u';
    join(copy, lines, all, 4);
    assert_int_equal(verify(copy, NULL), 0);

    /* A partial last line: verify flags it, and the gateway refuses to continue the chain. */
    FILE *f = fopen(copy, "ab");
    assert_non_null(f);
    assert_true(fputs("{\"seq\":5,", f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(verify(copy, NULL), 1);
    assert_null(gw_audit_open(copy, err, sizeof(err)));
    assert_non_null(strstr(err, "partial"));
    assert_int_equal(verify("/nonexistent/audit.jsonl", NULL), 2);

    free(text);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(copy), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
