/*
 * common/alloc: the wrappers give usable memory, gw_strndup copies as strndup does, a size of 0 is
 * still a live block, and an allocation that cannot be met aborts with "out of memory" on stderr
 * (checked in a forked child). Under ASan this test runs with allocator_may_return_null=1 so that
 * an impossible size reaches the wrapper as NULL instead of stopping in the sanitizer.
 */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"

static void test_wrappers_give_usable_memory(void **state)
{
    (void)state;
    char *m = gw_malloc(64);
    memset(m, 'a', 64);
    assert_int_equal(m[63], 'a');

    unsigned char *c = gw_calloc(16, 8);
    for (size_t i = 0; i < 16 * 8; i++)
        assert_int_equal(c[i], 0);

    m = gw_realloc(m, 4096); /* grows, keeping what was there */
    assert_int_equal(m[0], 'a');
    assert_int_equal(m[63], 'a');
    memset(m, 'b', 4096);
    m = gw_realloc(m, 8); /* shrinks */
    assert_int_equal(m[7], 'b');

    char *fresh = gw_realloc(NULL, 32); /* realloc(NULL, n) is malloc(n) */
    memset(fresh, 0, 32);

    char *d = gw_strdup("odeus");
    assert_string_equal(d, "odeus");
    char *e = gw_strdup("");
    assert_string_equal(e, "");

    free(m);
    free(c);
    free(fresh);
    free(d);
    free(e);
}

static void test_strndup_stops_at_nul_and_at_n(void **state)
{
    (void)state;
    char *a = gw_strndup("abc", 10); /* the string ends first */
    assert_string_equal(a, "abc");
    char *b = gw_strndup("abcdef", 3); /* n ends first */
    assert_string_equal(b, "abc");
    char *c = gw_strndup("ab\0cd", 5); /* an embedded NUL ends it */
    assert_string_equal(c, "ab");
    char *d = gw_strndup("abc", 0);
    assert_string_equal(d, "");
    /* no NUL within n: only n bytes are read (ASan would flag a read past the array) */
    const char unterminated[4] = {'w', 'x', 'y', 'z'};
    char *e = gw_strndup(unterminated, sizeof(unterminated));
    assert_string_equal(e, "wxyz");
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
}

static void test_zero_sizes_give_live_blocks(void **state)
{
    (void)state;
    char *p = gw_malloc(16);
    p = gw_realloc(p, 0); /* not freed: a live block of at least 1 byte */
    assert_non_null(p);
    p[0] = 'x';
    p = gw_realloc(p, 2);
    assert_int_equal(p[0], 'x');
    free(p);

    char *m = gw_malloc(0);
    m[0] = 'x';
    char *c = gw_calloc(0, 8);
    assert_int_equal(c[0], 0);
    char *c2 = gw_calloc(8, 0);
    assert_int_equal(c2[0], 0);
    free(m);
    free(c);
    free(c2);
}

static void test_init_routes_jansson(void **state)
{
    (void)state;
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    gw_alloc_init();
    json_get_alloc_funcs(&m, &f);
    assert_ptr_equal(m, gw_malloc);
    assert_ptr_equal(f, free);
    json_t *j = json_pack("{s:s}", "k", "v");
    assert_string_equal(json_string_value(json_object_get(j, "k")), "v");
    json_decref(j);
}

/* ---- an impossible allocation aborts ---- */

typedef enum { HUGE_MALLOC, HUGE_CALLOC, HUGE_REALLOC, HUGE_REALLOC_NULL } huge_t;

static void *volatile sink;

static void huge(huge_t what)
{
    switch (what) {
    case HUGE_MALLOC:
        sink = gw_malloc(SIZE_MAX);
        break;
    case HUGE_CALLOC:
        sink = gw_calloc(SIZE_MAX / 2, 4); /* n * size overflows: calloc refuses */
        break;
    case HUGE_REALLOC: {
        void *p = gw_malloc(16);
        sink = p;
        sink = gw_realloc(p, SIZE_MAX);
        break;
    }
    case HUGE_REALLOC_NULL:
        sink = gw_realloc(NULL, SIZE_MAX - 4096);
        break;
    }
}

/* Runs huge(what) in a child; asserts it died of SIGABRT having written "out of memory" to stderr. */
static void expect_abort(huge_t what)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* the abort is expected: no core file */
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        huge(what);
        _exit(0); /* not reached when the wrapper does its job */
    }
    close(fds[1]);
    char err[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(err) - 1 && (n = read(fds[0], err + len, sizeof(err) - 1 - len)) > 0)
        len += (size_t)n;
    err[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("case %d: the child did not die by SIGABRT (status %#x); its stderr: %s", (int)what, status, err);
    if (strstr(err, "out of memory") == NULL)
        fail_msg("case %d: no \"out of memory\" on stderr: %s", (int)what, err);
}

static void test_impossible_allocation_aborts(void **state)
{
    (void)state;
    expect_abort(HUGE_MALLOC);
    expect_abort(HUGE_CALLOC);
    expect_abort(HUGE_REALLOC);
    expect_abort(HUGE_REALLOC_NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrappers_give_usable_memory),  cmocka_unit_test(test_strndup_stops_at_nul_and_at_n),
        cmocka_unit_test(test_zero_sizes_give_live_blocks),  cmocka_unit_test(test_init_routes_jansson),
        cmocka_unit_test(test_impossible_allocation_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
