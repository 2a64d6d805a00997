/*
 * upstream/odeus.c: request bodies and the answer table in upstream/odeus.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "upstream/odeus.h"

/* Wed, 21 Oct 2015 07:28:00 GMT */
#define DATE_UNIX 1445412480

static void test_action_names(void **state)
{
    (void)state;
    const odeus_action_t all[] = {ODEUS_INVITE, ODEUS_DEACTIVATE, ODEUS_UPDATE_ROLE};
    odeus_action_t back;

    assert_string_equal(odeus_action_name(ODEUS_INVITE), "invite");
    assert_string_equal(odeus_action_name(ODEUS_DEACTIVATE), "deactivate");
    assert_string_equal(odeus_action_name(ODEUS_UPDATE_ROLE), "update_role");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_int_equal(odeus_action_parse(odeus_action_name(all[i]), &back), 0);
        assert_int_equal(back, all[i]);
    }
    assert_int_equal(odeus_action_parse("Invite", &back), -1);
    assert_int_equal(odeus_action_parse("", &back), -1);
    assert_int_equal(odeus_action_parse(NULL, &back), -1);

    assert_string_equal(odeus_action_path(ODEUS_INVITE), "/user-management/v1/invite");
    assert_string_equal(odeus_action_path(ODEUS_DEACTIVATE), "/user-management/v1/deactivate-user");
    assert_string_equal(odeus_action_path(ODEUS_UPDATE_ROLE), "/user-management/v1/update-user-role");
}

static void test_role_normalize(void **state)
{
    (void)state;
    assert_string_equal(odeus_role_normalize("member"), "member");
    assert_string_equal(odeus_role_normalize("EDITOR"), "editor");
    assert_string_equal(odeus_role_normalize("Admin"), "admin");
    /* a static string, not a copy */
    assert_ptr_equal(odeus_role_normalize("aDmIn"), odeus_role_normalize("admin"));
    assert_null(odeus_role_normalize("owner"));
    assert_null(odeus_role_normalize("admin "));
    assert_null(odeus_role_normalize(""));
    assert_null(odeus_role_normalize(NULL));
}

static void test_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_DONE), "done");
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_ALREADY), "already");
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_NOT_MEMBER), "not_member");
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_REFUSED), "refused");
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_RETRY), "retry");
    assert_string_equal(odeus_outcome_name(ODEUS_OUTCOME_AUTH), "auth");
    assert_true(odeus_outcome_is_final(ODEUS_OUTCOME_DONE));
    assert_true(odeus_outcome_is_final(ODEUS_OUTCOME_ALREADY));
    assert_true(odeus_outcome_is_final(ODEUS_OUTCOME_NOT_MEMBER));
    assert_true(odeus_outcome_is_final(ODEUS_OUTCOME_REFUSED));
    assert_false(odeus_outcome_is_final(ODEUS_OUTCOME_RETRY));
    assert_false(odeus_outcome_is_final(ODEUS_OUTCOME_AUTH));
}

static json_t *parse_body(char *body)
{
    json_error_t err;
    json_t *j;

    assert_non_null(body);
    j = json_loads(body, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        fail_msg("not JSON: %s (%s)", body, err.text);
    free(body);
    assert_true(json_is_object(j));
    return j;
}

static void test_body_invite(void **state)
{
    (void)state;
    json_t *j, *users, *user;

    j = parse_body(odeus_request_body(ODEUS_INVITE, "a@example.com", "editor"));
    assert_int_equal(json_object_size(j), 1);
    users = json_object_get(j, "users");
    assert_true(json_is_array(users));
    assert_int_equal(json_array_size(users), 1);
    user = json_array_get(users, 0);
    assert_int_equal(json_object_size(user), 2);
    assert_string_equal(json_string_value(json_object_get(user, "email")), "a@example.com");
    assert_string_equal(json_string_value(json_object_get(user, "role")), "editor");
    json_decref(j);

    /* no role: the key is left out and Odeus applies its default (member) */
    j = parse_body(odeus_request_body(ODEUS_INVITE, "b@example.com", NULL));
    user = json_array_get(json_object_get(j, "users"), 0);
    assert_int_equal(json_object_size(user), 1);
    assert_string_equal(json_string_value(json_object_get(user, "email")), "b@example.com");
    assert_null(json_object_get(user, "role"));
    json_decref(j);

    /* Odeus wants lowercase roles */
    j = parse_body(odeus_request_body(ODEUS_INVITE, "c@example.com", "ADMIN"));
    user = json_array_get(json_object_get(j, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(user, "role")), "admin");
    json_decref(j);

    /* characters that need escaping survive the round trip */
    j = parse_body(odeus_request_body(ODEUS_INVITE, "\"q\\uo\"@exämple.com", NULL));
    user = json_array_get(json_object_get(j, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(user, "email")), "\"q\\uo\"@exämple.com");
    json_decref(j);
}

static void test_body_deactivate(void **state)
{
    (void)state;
    json_t *j = parse_body(odeus_request_body(ODEUS_DEACTIVATE, "User@Example.com", "admin"));

    /* role ignored: the body is exactly {"email": ...} */
    assert_int_equal(json_object_size(j), 1);
    assert_string_equal(json_string_value(json_object_get(j, "email")), "User@Example.com");
    json_decref(j);
}

static void test_body_update_role(void **state)
{
    (void)state;
    json_t *j = parse_body(odeus_request_body(ODEUS_UPDATE_ROLE, "a@example.com", "Editor"));

    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "email")), "a@example.com");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "editor");
    json_decref(j);

    /* update-role without a role has nothing to send */
    assert_null(odeus_request_body(ODEUS_UPDATE_ROLE, "a@example.com", NULL));
}

static void test_body_invalid(void **state)
{
    (void)state;
    assert_null(odeus_request_body(ODEUS_INVITE, NULL, NULL));
    assert_null(odeus_request_body(ODEUS_DEACTIVATE, NULL, NULL));
    /* not UTF-8: no valid JSON string can carry it */
    assert_null(odeus_request_body(ODEUS_DEACTIVATE, "a\xff@example.com", NULL));
    assert_null(odeus_request_body((odeus_action_t)42, "a@example.com", NULL));
}

typedef struct classify_case {
    int line;
    odeus_action_t action;
    const char *email;
    long status;
    const char *body; /* NULL: no body */
    const char *retry_after;
    const char *transport;
    odeus_outcome_t outcome;
    int64_t retry_after_ms;
    const char *message_has; /* substring of the message, or NULL */
} classify_case_t;

#define OK_INVITE(list_ok, list_bad)                                                                                               \
    "{\"status\":\"success\",\"message\":\"Invitations processed\",\"successfulInvites\":" list_ok ",\"invalidEmails\":" list_bad  \
    "}"
#define MSG(text) "{\"message\":\"" text "\"}"

static const classify_case_t cases[] = {
    /* deactivate-user: 200, 401, 404, 500 */
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 200, "{\"status\":\"success\",\"message\":\"User deactivated\"}", NULL, NULL,
     ODEUS_OUTCOME_DONE, -1, "User deactivated"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 401, MSG("API key invalid"), NULL, NULL, ODEUS_OUTCOME_AUTH, -1, "API key invalid"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 403, NULL, NULL, NULL, ODEUS_OUTCOME_AUTH, -1, "403"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 404, MSG("User not found or not an active member"), NULL, NULL, ODEUS_OUTCOME_ALREADY,
     -1, "not an active member"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 404, NULL, NULL, NULL, ODEUS_OUTCOME_ALREADY, -1, "404"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 500, MSG("boom"), NULL, NULL, ODEUS_OUTCOME_RETRY, -1, "HTTP 500: boom"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 400, MSG("email must be an email"), NULL, NULL, ODEUS_OUTCOME_REFUSED, -1,
     "email must be an email"},

    /* invite: 200 with both lists, 400, 401, and an undocumented 404 */
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, OK_INVITE("[\"a@x.io\"]", "[]"), NULL, NULL, ODEUS_OUTCOME_DONE, -1, NULL},
    {__LINE__, ODEUS_INVITE, "A@X.io", 200, OK_INVITE("[\"a@x.io\"]", "[]"), NULL, NULL, ODEUS_OUTCOME_DONE, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, OK_INVITE("[]", "[\"a@x.io\"]"), NULL, NULL, ODEUS_OUTCOME_REFUSED, -1,
     "invalidEmails"},
    {__LINE__, ODEUS_INVITE, "a@X.IO", 200, OK_INVITE("[\"b@x.io\"]", "[\"c@x.io\",\"A@x.io\"]"), NULL, NULL, ODEUS_OUTCOME_REFUSED,
     -1, "invalidEmails"},
    /* already an active member: Odeus skips it silently, listed nowhere */
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, OK_INVITE("[]", "[]"), NULL, NULL, ODEUS_OUTCOME_DONE, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, "{\"status\":\"success\"}", NULL, NULL, ODEUS_OUTCOME_DONE, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, "<html>proxy</html>", NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, "[\"a@x.io\"]", NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, NULL, NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, "", NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 400, MSG("Invalid role"), NULL, NULL, ODEUS_OUTCOME_REFUSED, -1, "HTTP 400: Invalid role"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 400, "not json", NULL, NULL, ODEUS_OUTCOME_REFUSED, -1, "HTTP 400"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 401, MSG("no"), NULL, NULL, ODEUS_OUTCOME_AUTH, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 404, MSG("Cannot POST"), NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},

    /* update-user-role: 200, 400 (unknown role, last admin), 404 */
    {__LINE__, ODEUS_UPDATE_ROLE, "a@x.io", 200, "{\"status\":\"success\",\"message\":\"Role updated\"}", NULL, NULL,
     ODEUS_OUTCOME_DONE, -1, "Role updated"},
    {__LINE__, ODEUS_UPDATE_ROLE, "a@x.io", 400, MSG("Cannot demote the last active admin"), NULL, NULL, ODEUS_OUTCOME_REFUSED, -1,
     "last active admin"},
    {__LINE__, ODEUS_UPDATE_ROLE, "a@x.io", 404, MSG("User not found or not an active member"), NULL, NULL,
     ODEUS_OUTCOME_NOT_MEMBER, -1, NULL},
    {__LINE__, ODEUS_UPDATE_ROLE, "a@x.io", 401, MSG("no"), NULL, NULL, ODEUS_OUTCOME_AUTH, -1, NULL},

    /* 429 / 5xx and Retry-After */
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 429, NULL, "1", NULL, ODEUS_OUTCOME_RETRY, 1000, "429"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 503, MSG("down"), " 120 ", NULL, ODEUS_OUTCOME_RETRY, 120000, "down"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 502, NULL, "0", NULL, ODEUS_OUTCOME_RETRY, 0, "502"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 504, NULL, NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 429, NULL, "Wed, 21 Oct 2015 07:30:00 GMT", NULL, ODEUS_OUTCOME_RETRY, 120000, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 429, NULL, "Wed, 21 Oct 2015 07:00:00 GMT", NULL, ODEUS_OUTCOME_RETRY, 0, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 429, NULL, "Thu, 22 Oct 2015 07:28:00 GMT", NULL, ODEUS_OUTCOME_RETRY, 3600 * 1000, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 503, NULL, "86400", NULL, ODEUS_OUTCOME_RETRY, 3600 * 1000, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 503, NULL, "99999999999999999999999999", NULL, ODEUS_OUTCOME_RETRY, 3600 * 1000, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 503, NULL, "soon", NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_INVITE, "a@x.io", 503, NULL, "", NULL, ODEUS_OUTCOME_RETRY, -1, NULL},

    /* anything else is worth another try */
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 302, NULL, NULL, NULL, ODEUS_OUTCOME_RETRY, -1, "302"},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 201, MSG("x"), NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 408, NULL, NULL, NULL, ODEUS_OUTCOME_RETRY, -1, NULL},

    /* no answer at all */
    {__LINE__, ODEUS_DEACTIVATE, "a@x.io", 0, NULL, NULL, "Failed to connect to 127.0.0.1 port 1", ODEUS_OUTCOME_RETRY, -1,
     "network: Failed to connect"},
    {__LINE__, ODEUS_INVITE, "a@x.io", 200, OK_INVITE("[\"a@x.io\"]", "[]"), "5", "Operation timed out", ODEUS_OUTCOME_RETRY, -1,
     "network: Operation timed out"},
};

static void test_classify_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const classify_case_t *c = &cases[i];
        odeus_result_t r;

        memset(&r, 0x5a, sizeof(r));
        odeus_classify(c->action, c->email, c->status, c->body, c->body ? strlen(c->body) : 0, c->retry_after, DATE_UNIX,
                       c->transport, &r);
        if (r.outcome != c->outcome)
            fail_msg("case at line %d: outcome %s, want %s (%s)", c->line, odeus_outcome_name(r.outcome),
                     odeus_outcome_name(c->outcome), r.message);
        if (r.http_status != (c->transport ? 0 : c->status))
            fail_msg("case at line %d: http_status %ld", c->line, r.http_status);
        if (r.retry_after_ms != c->retry_after_ms)
            fail_msg("case at line %d: retry_after_ms %lld, want %lld", c->line, (long long)r.retry_after_ms,
                     (long long)c->retry_after_ms);
        if (memchr(r.message, '\0', sizeof(r.message)) == NULL)
            fail_msg("case at line %d: message not terminated", c->line);
        if (c->message_has != NULL && strstr(r.message, c->message_has) == NULL)
            fail_msg("case at line %d: message \"%s\" lacks \"%s\"", c->line, r.message, c->message_has);
    }
}

/* The body is not NUL-terminated when it comes from the network buffer. */
static void test_classify_unterminated_body(void **state)
{
    (void)state;
    const char text[] = OK_INVITE("[]", "[\"a@x.io\"]") "GARBAGE";
    size_t len = strlen(text) - strlen("GARBAGE");
    char *body = malloc(len);
    odeus_result_t r;

    memcpy(body, text, len);
    odeus_classify(ODEUS_INVITE, "a@x.io", 200, body, len, NULL, 0, NULL, &r);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_REFUSED);
    free(body);
}

static void test_classify_message_is_bounded_and_one_line(void **state)
{
    (void)state;
    char body[4096];
    odeus_result_t r;

    memset(body, 0, sizeof(body));
    strcpy(body, "{\"message\":\"line1\\nline2\\r\\u0007");
    memset(body + strlen(body), 'x', 2000);
    strcat(body, "\"}");
    odeus_classify(ODEUS_INVITE, "a@x.io", 400, body, strlen(body), NULL, 0, NULL, &r);
    assert_int_equal(r.outcome, ODEUS_OUTCOME_REFUSED);
    assert_int_equal(strlen(r.message), ODEUS_MESSAGE_MAX - 1);
    assert_non_null(strstr(r.message, "HTTP 400: line1 line2"));
    for (const char *p = r.message; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
}

/* A batched invite's body lists its users in order, each role spelled as for a single invite. */
static void test_invite_body_batch(void **state)
{
    (void)state;
    const odeus_invitee_t users[] = {{"a@example.com", "Editor"}, {"b@example.com", NULL}, {"c@example.com", "admin"}};
    char *body = odeus_invite_body(users, 3);
    assert_non_null(body);
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL), *list = json_object_get(j, "users");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "email")), "a@example.com");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "role")), "editor");
    assert_null(json_object_get(json_array_get(list, 1), "role"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "role")), "admin");
    json_decref(j);
    /* one user: the very body of a single invite */
    char *single = odeus_request_body(ODEUS_INVITE, "a@example.com", "Editor");
    char *one = odeus_invite_body(users, 1);
    assert_string_equal(one, single);
    free(one);
    free(single);
    free(body);

    const odeus_invitee_t bad[] = {{"a@example.com", NULL}, {NULL, NULL}};
    assert_null(odeus_invite_body(bad, 2));
    assert_null(odeus_invite_body(users, 0));
}

/* Each address of a 200 is read on its own: invited, refused, or (in neither list) already a member. */
static void test_classify_invites_per_address(void **state)
{
    (void)state;
    const odeus_invitee_t users[] = {{"new@example.com", NULL}, {"Bad@Example.com", NULL}, {"member@example.com", NULL}};
    const char *body = "{\"status\":\"success\",\"successfulInvites\":[\"NEW@example.com\"],"
                       "\"invalidEmails\":[\"bad@example.com\"]}";
    odeus_result_t out[3];
    odeus_classify_invites(users, 3, 200, body, strlen(body), NULL, DATE_UNIX, NULL, out);
    assert_int_equal(out[0].outcome, ODEUS_OUTCOME_DONE);
    assert_string_equal(out[0].message, "invited");
    assert_int_equal(out[1].outcome, ODEUS_OUTCOME_REFUSED);
    assert_int_equal(out[2].outcome, ODEUS_OUTCOME_DONE);
    assert_string_equal(out[2].message, "not in successfulInvites: already an active member");
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i].http_status, 200);

    /* the same mapping as a single invite, address by address */
    for (int i = 0; i < 3; i++) {
        odeus_result_t one;
        odeus_classify(ODEUS_INVITE, users[i].email, 200, body, strlen(body), NULL, DATE_UNIX, NULL, &one);
        assert_int_equal(one.outcome, out[i].outcome);
        assert_string_equal(one.message, out[i].message);
    }
}

/* Any other answer is the whole call's: a 400 refuses all (the caller splits), a 429 retries all. */
static void test_classify_invites_whole_call(void **state)
{
    (void)state;
    const odeus_invitee_t users[] = {{"a@example.com", NULL}, {"b@example.com", NULL}};
    odeus_result_t out[2];
    const char *bad = "{\"message\":\"Invalid request body\"}";
    odeus_classify_invites(users, 2, 400, bad, strlen(bad), NULL, DATE_UNIX, NULL, out);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[i].outcome, ODEUS_OUTCOME_REFUSED);
        assert_int_equal(out[i].http_status, 400);
    }
    odeus_classify_invites(users, 2, 429, NULL, 0, "3", DATE_UNIX, NULL, out);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(out[i].outcome, ODEUS_OUTCOME_RETRY);
        assert_int_equal(out[i].retry_after_ms, 3000);
    }
    odeus_classify_invites(users, 2, 0, NULL, 0, NULL, DATE_UNIX, "connection refused", out);
    assert_int_equal(out[1].outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(out[1].http_status, 0);
    /* a 200 that is no JSON object is no answer about anyone */
    odeus_classify_invites(users, 2, 200, "<html>", 6, NULL, DATE_UNIX, NULL, out);
    assert_int_equal(out[0].outcome, ODEUS_OUTCOME_RETRY);
    assert_int_equal(out[1].outcome, ODEUS_OUTCOME_RETRY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_role_normalize),
        cmocka_unit_test(test_outcome_names),
        cmocka_unit_test(test_body_invite),
        cmocka_unit_test(test_body_deactivate),
        cmocka_unit_test(test_body_update_role),
        cmocka_unit_test(test_body_invalid),
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_classify_unterminated_body),
        cmocka_unit_test(test_classify_message_is_bounded_and_one_line),
        cmocka_unit_test(test_invite_body_batch),
        cmocka_unit_test(test_classify_invites_per_address),
        cmocka_unit_test(test_classify_invites_whole_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
