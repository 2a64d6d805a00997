/*
 * Unit tests of the security modules, in process: CIDR lists, token specs in the configuration,
 * bearer/Basic checks with names and expiry, the client address behind trusted proxies, the
 * per-token rate limit, the first-head verdict of gateway/preauth. The audit log's hash chain is
 * tested with `audit verify` (tests/cli).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "gateway/auth.h"
#include "common/cidr.h"
#include "gateway/config.h"
#include "gateway/preauth.h"
#include "gateway/ratelimit.h"
#include "gateway/tokens.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    assert_int_equal(gw_cidr_parse_addr(text, strlen(text), &ss), 0);
    return ss;
}

static int in_list(const gw_cidr_list_t *l, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return gw_cidr_list_contains(l, (struct sockaddr *)&ss);
}

static void test_cidr(void **state)
{
    (void)state;
    gw_cidr_list_t l;
    char why[256];
    assert_int_equal(gw_cidr_parse_list("10.1.2.3/8, 192.168.1.7 ,fd00::/8,172.16.0.0/12", &l, why, sizeof(why)), 0);
    assert_int_equal(l.n, 4);
    assert_true(in_list(&l, "10.255.0.1"));
    assert_false(in_list(&l, "11.0.0.1"));
    assert_true(in_list(&l, "192.168.1.7"));
    assert_false(in_list(&l, "192.168.1.8"));
    assert_true(in_list(&l, "fd12::1"));
    assert_false(in_list(&l, "fe80::1"));
    assert_true(in_list(&l, "172.31.255.255"));
    assert_false(in_list(&l, "172.32.0.0"));
    assert_true(in_list(&l, "::ffff:10.0.0.9")); /* IPv4-mapped counts as IPv4 */
    assert_int_equal(gw_cidr_parse_list("", &l, why, sizeof(why)), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(gw_cidr_parse_list("10.0.0.0/33", &l, why, sizeof(why)), -1);
    assert_int_equal(gw_cidr_parse_list("10.0.0.0/", &l, why, sizeof(why)), -1);
    assert_int_equal(gw_cidr_parse_list("example.com", &l, why, sizeof(why)), -1);
    assert_int_equal(gw_cidr_parse_list("::/129", &l, why, sizeof(why)), -1);
    assert_int_equal(gw_cidr_parse_list("0.0.0.0/0", &l, why, sizeof(why)), 0);
    assert_true(in_list(&l, "8.8.8.8"));
    assert_false(in_list(&l, "2001:db8::1"));
}

static void hex_of(const char *token, char out[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)token, strlen(token), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static gw_config_result_t load(gw_config_t *c, const char *tokens)
{
    char *argv[] = {"odeus-scim-gateway", "--dry-run", NULL};
    setenv("SCIM_TOKEN", tokens, 1);
    unsetenv("SCIM_TOKEN_FILE");
    unsetenv("ODEUS_API_KEY");
    unsetenv("ODEUS_API_KEY_FILE");
    return gw_config_load(c, 2, argv);
}

static gw_auth_result_t check(const gw_config_t *c, const char *header, int64_t now, size_t *index)
{
    return gw_auth_check(c, header, header != NULL ? strlen(header) : 0, now, index);
}

static const char *basic(const char *user, const char *password)
{
    static char out[512];
    char in[256];
    snprintf(in, sizeof(in), "%s:%s", user, password);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)in, (int)strlen(in));
    return out;
}

static void test_token_specs_and_checks(void **state)
{
    (void)state;
    gw_config_t c;
    char hex[65], spec[512];
    hex_of("hashed-secret-0123456789", hex);
    snprintf(spec, sizeof(spec),
             "legacy-plain-token-0123456789,okta:plain:okta-secret-0123456789:expires=2030-01-01T00:00:00Z,"
             "entra:sha256:%s,with:colon:in-a-legacy-token",
             hex);
    assert_int_equal(load(&c, spec), GW_CONFIG_OK);
    assert_int_equal(c.n_tokens, 4);
    assert_string_equal(c.tokens[0].name, "token-1");
    assert_string_equal(c.tokens[1].name, "okta");
    assert_int_equal(c.tokens[1].expires_s, 1893456000);
    assert_string_equal(c.tokens[2].name, "entra");
    assert_int_equal(c.tokens[2].expires_s, 0);
    assert_string_equal(c.tokens[3].name, "token-4");

    size_t i = 99;
    int64_t now = 1800000000;
    assert_int_equal(check(&c, "Bearer legacy-plain-token-0123456789", now, &i), GW_AUTH_OK);
    assert_int_equal(i, 0);
    assert_int_equal(check(&c, "bearer  okta-secret-0123456789 ", now, &i), GW_AUTH_OK);
    assert_int_equal(i, 1);
    assert_int_equal(check(&c, "Bearer okta-secret-0123456789", 1893456000, &i), GW_AUTH_EXPIRED);
    assert_int_equal(check(&c, "Bearer hashed-secret-0123456789", now, &i), GW_AUTH_OK);
    assert_int_equal(i, 2);
    assert_int_equal(check(&c, "Bearer with:colon:in-a-legacy-token", now, &i), GW_AUTH_OK);
    assert_int_equal(i, 3);
    assert_int_equal(check(&c,
                           "Bearer "
                           "sha256:"
                           "x",
                           now, &i),
                     GW_AUTH_INVALID);
    assert_int_equal(check(&c, "Bearer okta:plain:okta-secret-0123456789", now, &i), GW_AUTH_INVALID);
    assert_int_equal(check(&c, NULL, now, &i), GW_AUTH_MISSING);
    assert_int_equal(check(&c, "Digest abc", now, &i), GW_AUTH_MISSING);
    /* Basic: user = token name, password = token */
    assert_int_equal(check(&c, basic("entra", "hashed-secret-0123456789"), now, &i), GW_AUTH_OK);
    assert_int_equal(i, 2);
    assert_int_equal(check(&c, basic("okta", "hashed-secret-0123456789"), now, &i), GW_AUTH_INVALID);
    assert_int_equal(check(&c, basic("entra", "wrong-secret-0123456789"), now, &i), GW_AUTH_INVALID);
    assert_int_equal(check(&c, basic("token-1", "legacy-plain-token-0123456789"), now, &i), GW_AUTH_OK);
    assert_int_equal(check(&c, "Basic !!!!", now, &i), GW_AUTH_INVALID);
    assert_int_equal(check(&c, "Basic bm9jb2xvbg==", now, &i), GW_AUTH_INVALID); /* "nocolon" */
    gw_config_clear(&c);

    /* Bad specs are refused at start with a reason. */
    hex[10] = 'z';
    snprintf(spec, sizeof(spec), "entra:sha256:%s", hex);
    assert_int_equal(load(&c, spec), GW_CONFIG_EXIT_USAGE);
    assert_int_equal(load(&c, "okta:sha256:abcd"), GW_CONFIG_EXIT_USAGE);
    assert_int_equal(load(&c, "okta:plain:okta-secret-0123456789:expires=2030-13-01T00:00:00Z"), GW_CONFIG_EXIT_USAGE);
    assert_int_equal(load(&c, "a:plain:okta-secret-0123456789,a:plain:other-secret-0123456789"), GW_CONFIG_EXIT_USAGE);
    /* a bare token is named token-N by its position: a named token may not take that name either way round */
    assert_int_equal(load(&c, "legacy-plain-token-0123456789,token-1:plain:other-secret-0123456789"), GW_CONFIG_EXIT_USAGE);
    assert_int_equal(load(&c, "token-2:plain:other-secret-0123456789,legacy-plain-token-0123456789"), GW_CONFIG_EXIT_USAGE);
    assert_int_equal(load(&c, "okta:plain:short"), GW_CONFIG_EXIT_USAGE);
}

typedef struct hdrs {
    const char *xff;
    const char *real_ip;
} hdrs_t;

static const char *get_header(void *ctx, const char *name, size_t *len)
{
    hdrs_t *h = ctx;
    const char *v = strcmp(name, "x-forwarded-for") == 0 ? h->xff : strcmp(name, "x-real-ip") == 0 ? h->real_ip : NULL;
    if (v != NULL)
        *len = strlen(v);
    return v;
}

static const char *client_of(const gw_config_t *c, const char *peer, const char *xff, const char *real_ip)
{
    static char out[64];
    hdrs_t h = {xff, real_ip};
    struct sockaddr_storage p = addr(peer), client;
    gw_auth_client_address(c, (struct sockaddr *)&p, get_header, &h, &client);
    gw_cidr_format_addr((struct sockaddr *)&client, out, sizeof(out));
    return out;
}

static void test_client_address(void **state)
{
    (void)state;
    gw_config_t c;
    char why[128];
    memset(&c, 0, sizeof(c));
    assert_int_equal(gw_cidr_parse_list("10.0.0.0/8", &c.trusted_proxies, why, sizeof(why)), 0);
    /* no header configured: the peer, whatever it sends */
    assert_string_equal(client_of(&c, "10.0.0.5", "1.2.3.4", NULL), "10.0.0.5");
    c.proxy_header = GW_PROXY_HEADER_X_FORWARDED_FOR;
    assert_string_equal(client_of(&c, "10.0.0.5", "1.2.3.4", NULL), "1.2.3.4");
    /* an untrusted peer cannot name another client */
    assert_string_equal(client_of(&c, "192.0.2.1", "1.2.3.4", NULL), "192.0.2.1");
    /* right-most untrusted wins; what the client prepended is ignored */
    assert_string_equal(client_of(&c, "10.0.0.5", "6.6.6.6, 1.2.3.4, 10.9.9.9", NULL), "1.2.3.4");
    assert_string_equal(client_of(&c, "10.0.0.5", "garbage, 1.2.3.4", NULL), "1.2.3.4");
    assert_string_equal(client_of(&c, "10.0.0.5", "garbage", NULL), "10.0.0.5");
    assert_string_equal(client_of(&c, "10.0.0.5", NULL, NULL), "10.0.0.5");
    c.proxy_header = GW_PROXY_HEADER_X_REAL_IP;
    assert_string_equal(client_of(&c, "10.0.0.5", "1.2.3.4", "5.6.7.8"), "5.6.7.8");
    assert_string_equal(client_of(&c, "192.0.2.1", NULL, "5.6.7.8"), "192.0.2.1");
    /* the allow-list */
    struct sockaddr_storage a = addr("5.6.7.8");
    assert_true(gw_auth_address_allowed(&c, (struct sockaddr *)&a));
    assert_int_equal(gw_cidr_parse_list("5.6.0.0/16", &c.allow_cidrs, why, sizeof(why)), 0);
    assert_true(gw_auth_address_allowed(&c, (struct sockaddr *)&a));
    a = addr("5.7.0.1");
    assert_false(gw_auth_address_allowed(&c, (struct sockaddr *)&a));
}

static void test_ratelimit(void **state)
{
    (void)state;
    gw_ratelimit_t *rl = gw_ratelimit_create(2, 60, 3); /* 1 per second, bursts of 3 */
    assert_non_null(rl);
    int64_t t = 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(gw_ratelimit_take(rl, 0, t), 0);
    int64_t wait = gw_ratelimit_take(rl, 0, t);
    assert_true(wait >= 1 && wait <= 2);
    assert_int_equal(gw_ratelimit_take(rl, 1, t), 0); /* other tokens have their own bucket */
    assert_true(gw_ratelimit_take(rl, 0, t + 500) > 0);
    assert_int_equal(gw_ratelimit_take(rl, 0, t + 1000), 0); /* refilled one */
    assert_true(gw_ratelimit_take(rl, 0, t + 1000) > 0);
    assert_int_equal(gw_ratelimit_take(rl, 0, t + 100000), 0); /* capped at the burst: 3 then stop */
    assert_int_equal(gw_ratelimit_take(rl, 0, t + 100000), 0);
    assert_int_equal(gw_ratelimit_take(rl, 0, t + 100000), 0);
    assert_true(gw_ratelimit_take(rl, 0, t + 100000) > 0);
    gw_ratelimit_free(rl);
    rl = gw_ratelimit_create(1, 0, 1); /* 0: no limit */
    for (int i = 0; i < 100; i++)
        assert_int_equal(gw_ratelimit_take(rl, 0, t), 0);
    gw_ratelimit_free(rl);
}

/* gw_preauth_judge over whole heads: what a connection's first request head decides. */
static gw_preauth_verdict_t judge(const gw_config_t *c, gw_tokens_t *t, const char *peer, const char *head)
{
    struct sockaddr_storage ss = addr(peer);
    const gw_tokenset_t *set = gw_tokens_acquire(t);
    gw_preauth_verdict_t v = gw_preauth_judge(c, set, (struct sockaddr *)&ss, 1800000000, head, strlen(head), 0);
    gw_tokens_release(set);
    return v;
}

static void test_preauth_verdicts(void **state)
{
    (void)state;
    gw_config_t c;
    assert_int_equal(load(&c, "ok:plain:good-token-0123456789,old:plain:old-token-0123456789:expires=2020-01-01T00:00:00Z"),
                     GW_CONFIG_OK);
    gw_tokens_t *t = gw_tokens_create(c.tokens, c.n_tokens);
    static const char *const pass[] = {
        "GET /scim/v2/Users HTTP/1.1\r\nHost: a\r\n\r\n",                       /* no body: the router decides */
        "POST /scim/v2/Users HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", /* an empty body */
        "POST /x HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",                      /* h2o refuses it itself, unread */
        "\x01\x02 garbage\r\n\r\n",                                             /* ditto */
        "POST /scim/v2/Users HTTP/1.1\r\nAuthorization: Bearer good-token-0123456789\r\nContent-Length: 9\r\n\r\n",
        "POST /scim/v2/Users HTTP/1.1\r\nauthorization: bearer good-token-0123456789\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
        assert_int_equal(judge(&c, t, "10.1.1.1", pass[i]).state, GW_PREAUTH_PASS);

    assert_int_equal(judge(&c, t, "10.1.1.1", "POST /scim/v2/Users HTTP/1.1\r\nContent-Le").state, GW_PREAUTH_INCOMPLETE);
    gw_preauth_verdict_t v = judge(&c, t, "10.1.1.1", "POST /scim/v2/Users HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(v.state, GW_PREAUTH_REFUSE);
    assert_int_equal(v.status, 401);
    assert_int_equal(v.auth, GW_AUTH_MISSING);
    assert_true(v.method_len == 4 && memcmp(v.method, "POST", 4) == 0);
    v = judge(&c, t, "10.1.1.1", "PUT /x HTTP/1.1\r\nAuthorization: Bearer bad-token-0123456789\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(v.status, 401);
    assert_int_equal(v.auth, GW_AUTH_INVALID);
    v = judge(&c, t, "10.1.1.1", "PUT /x HTTP/1.1\r\nAuthorization: Bearer old-token-0123456789\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(v.status, 401);
    assert_int_equal(v.auth, GW_AUTH_EXPIRED);
    assert_string_equal(v.token_name, "old");
    assert_string_equal(v.detail, "the token has expired");
    /* framed twice: 400 before the token is looked at, as the router does */
    v = judge(&c, t, "10.1.1.1",
              "POST /x HTTP/1.1\r\nAuthorization: Bearer good-token-0123456789\r\nContent-Length: 5\r\nTransfer-Encoding: "
              "chunked\r\n\r\n");
    assert_int_equal(v.status, 400);
    assert_int_equal(judge(&c, t, "10.1.1.1", "POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length:  5 \r\n\r\n").status, 401);
    assert_int_equal(judge(&c, t, "10.1.1.1", "POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").status, 400);

    /* a head that does not end within GW_PREAUTH_MAX_HEAD_BYTES */
    size_t len = GW_PREAUTH_MAX_HEAD_BYTES + 1;
    char *big = malloc(len + 1);
    memset(big, 'a', len);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    big[len] = '\0';
    v = judge(&c, t, "10.1.1.1", big);
    assert_int_equal(v.status, 431);
    big[len - 1] = '\0';
    assert_int_equal(judge(&c, t, "10.1.1.1", big).state, GW_PREAUTH_INCOMPLETE);
    free(big);

    /* the allow-list comes first, behind a trusted proxy the header names the client */
    char why[128];
    assert_int_equal(gw_cidr_parse_list("10.0.0.0/8", &c.allow_cidrs, why, sizeof(why)), 0);
    assert_int_equal(gw_cidr_parse_list("192.0.2.0/24", &c.trusted_proxies, why, sizeof(why)), 0);
    c.proxy_header = GW_PROXY_HEADER_X_FORWARDED_FOR;
    static const char good[] = "POST /x HTTP/1.1\r\nAuthorization: Bearer good-token-0123456789\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(judge(&c, t, "172.16.0.1", good).status, 403);
    assert_int_equal(judge(&c, t, "10.0.0.1", good).state, GW_PREAUTH_PASS);
    static const char proxied[] = "POST /x HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-For: 172.16.0.9\r\n"
                                  "Authorization: Bearer good-token-0123456789\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(judge(&c, t, "192.0.2.1", proxied).status, 403); /* the lines are one list: the last one counts */
    gw_tokens_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr),      cmocka_unit_test(test_token_specs_and_checks), cmocka_unit_test(test_client_address),
        cmocka_unit_test(test_ratelimit), cmocka_unit_test(test_preauth_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
