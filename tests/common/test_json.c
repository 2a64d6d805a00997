/* gw_json_dumps must write exactly what json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"

static void assert_same(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t len = 0;
    char *got = gw_json_dumps(v, &len);
    assert_non_null(want);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
    json_decref(v);
}

static void test_documents(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
        "{\"z\":1,\"a\":2,\"m\":3}", /* insertion order, not sorted */
        "[-9223372036854775808,9223372036854775807,0,-1,42]",
        "[1.5,0.1,-2.0,1e300,3.0e-5,123456789.125]",
        "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"J\\u00f6rg@example.com\","
        "\"name\":{\"givenName\":\"\\u65e5\\u672c\",\"familyName\":\"O'Neil \\\"the\\\\one\\\"\"},"
        "\"emails\":[{\"value\":\"a/b@example.com\",\"primary\":true}],\"active\":false}",
        "{\"emoji\":\"\\ud83d\\ude00\",\"slash\":\"/a/b/\",\"del\":\"\\u007f\"}",
        "[[[[[[]]]]],{\"\":\"\"}]",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(docs[i], 0, &err);
        assert_non_null(v);
        assert_same(v);
    }
}

static void test_every_control_character(void **state)
{
    (void)state;
    char s[40];
    for (int c = 1; c < 0x20; c++)
        s[c - 1] = (char)c;
    memcpy(s + 31, "\"\\x", 4);
    assert_same(json_pack("{s:s, s:s#}", "all", s, "nul", "a\0b", (size_t)3));
}

static void test_refuses_what_jansson_refuses(void **state)
{
    (void)state;
    json_t *s = json_string("scalar");
    assert_null(gw_json_dumps(s, NULL)); /* a root must be an object or an array */
    json_decref(s);
}

static void test_buffer_string_and_take(void **state)
{
    (void)state;
    gw_json_buf_t b = {0};
    gw_json_buf_put(&b, "{\"k\":", 5);
    gw_json_buf_string(&b, "v\n\"", 3);
    gw_json_buf_put(&b, "}", 1);
    size_t len;
    char *text = gw_json_buf_take(&b, &len);
    assert_string_equal(text, "{\"k\":\"v\\n\\\"\"}");
    assert_int_equal(len, strlen(text));
    assert_null(b.p);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_every_control_character),
        cmocka_unit_test(test_refuses_what_jansson_refuses),
        cmocka_unit_test(test_buffer_string_and_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
