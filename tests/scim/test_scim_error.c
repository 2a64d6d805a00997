/*
 * scim/error.c: error values and the RFC 7644 §3.12 body.
 */
#include "scim_test.h"

static void test_set_returns_minus_one(void **state)
{
    scim_error_t err = {0};
    (void)state;
    assert_int_equal(scim_error_set(&err, 409, SCIM_TYPE_UNIQUENESS, "userName %s is taken", "a@b.co"), -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.scim_type, "uniqueness");
    assert_string_equal(err.detail, "userName a@b.co is taken");
    assert_int_equal(scim_error_set(NULL, 400, NULL, "ignored"), -1);
}

static void test_to_json(void **state)
{
    scim_error_t err = {0};
    json_t *j;
    (void)state;
    scim_error_set(&err, 400, SCIM_TYPE_INVALID_FILTER, "bad at position %d", 3);
    j = scim_error_to_json(&err);
    assert_json_equal(j, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"400\","
                         "\"scimType\":\"invalidFilter\",\"detail\":\"bad at position 3\"}");
    json_decref(j);
}

static void test_to_json_without_type(void **state)
{
    scim_error_t err = {0};
    json_t *j;
    (void)state;
    scim_error_set(&err, 503, NULL, "Odeus unreachable");
    j = scim_error_to_json(&err);
    assert_json_equal(j, "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"503\","
                         "\"detail\":\"Odeus unreachable\"}");
    json_decref(j);
}

static void test_detail_truncated_and_printable(void **state)
{
    scim_error_t err = {0};
    char long_text[600];
    json_t *j;
    (void)state;
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    scim_error_set(&err, 400, SCIM_TYPE_INVALID_VALUE, "%s", long_text);
    assert_int_equal(strlen(err.detail), SCIM_ERROR_DETAIL_MAX - 1);
    /* Client bytes that are not printable ASCII (here a cut UTF-8 sequence) cannot break the body. */
    scim_error_set(&err, 400, SCIM_TYPE_INVALID_VALUE, "bad \xc3 and \n");
    assert_string_equal(err.detail, "bad ? and ?");
    j = scim_error_to_json(&err);
    assert_non_null(json_object_get(j, "detail"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_minus_one),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_to_json_without_type),
        cmocka_unit_test(test_detail_truncated_and_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
