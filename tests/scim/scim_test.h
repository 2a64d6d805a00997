/*
 * Helpers shared by the scim/ unit tests: JSON literals and comparisons that print both sides.
 */
#ifndef SCIM_TEST_H
#define SCIM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "scim/error.h"

/* Parses a JSON literal written in the test; a typo in a test fails the test, not the run. */
static inline json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (j == NULL)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

/* Asserts that `got` equals the JSON `expected`; takes nothing. */
static inline void assert_json_equal(const json_t *got, const char *expected)
{
    json_t *want = J(expected);
    if (!json_equal((json_t *)got, want)) {
        char *g = got != NULL ? json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("got:  %s\nwant: %s\n", g != NULL ? g : "(null)", w);
        free(g);
        free(w);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

#define assert_scim_error(err, st, type)                                                                                           \
    do {                                                                                                                           \
        assert_int_equal((err).status, (st));                                                                                      \
        assert_non_null((err).scim_type);                                                                                          \
        assert_string_equal((err).scim_type, (type));                                                                              \
        assert_true((err).detail[0] != '\0');                                                                                      \
    } while (0)

#endif
