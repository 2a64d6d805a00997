/*
 * Production operations and security, against the real binary: HTTPS (policy, SIGHUP rotation
 * without dropping a keep-alive connection, client certificates), named/hashed/expiring tokens
 * and Basic, the source-address allow-list behind trusted proxies, the per-token rate limit,
 * /metrics, the audit log with `audit verify`, and graceful shutdown with a deactivation in
 * flight. Certificates are made per test with Debian's openssl command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "e2e/harness.h"
#include "mock/mock_odeus.h"

static const char user_body[] = "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ops@example.com\","
                                "\"emails\":[{\"value\":\"ops@example.com\",\"type\":\"work\",\"primary\":true}]}";
static const char deactivate_patch[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],"
                                       "\"Operations\":[{\"op\":\"replace\",\"value\":{\"active\":false}}]}";

/* ---- launching with chosen secrets ------------------------------------------------------------- */

/* A gateway with TLS and token files in play: longer deadline, tokens from a file when given. */
static void ops_start(gw_proc_t *p, const char *dir, const char *odeus_url, const char *token_file, const char *const *extra)
{
    gw_start_ex(p, dir, odeus_url, token_file, 8000, extra);
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("command failed: %s", cmd);
}

/* Writes `text` to `path` (created or truncated), every step checked. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* A self-signed P-256 server certificate for 127.0.0.1 named `cn`, in DIR/NAME.crt and .key. */
static void make_server_cert(const char *dir, const char *name, const char *cn)
{
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/%s.key -out %s/%s.crt -days 2 "
       "-subj /CN=%s -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
       dir, name, dir, name, cn);
}

/* ---- an HTTPS client ------------------------------------------------------------------------- */

typedef struct tls_opts {
    const char *ca;
    const char *cert; /* client certificate, or NULL */
    const char *key;
    const char *ciphers; /* TLS 1.2 only with these, or NULL */
    const char *token;   /* sent as Bearer, or NULL */
} tls_opts_t;

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/*
 * GET https://127.0.0.1:port/path with `c` (a fresh handle when NULL). Returns the status (0 when
 * the connection or handshake failed); `subject` gets the served certificate's subject and
 * `*connects` how many new connections the call opened.
 */
static long https_get(CURL *c, int port, const char *path, const tls_opts_t *o, char *subject, size_t subject_len, long *connects)
{
    int own = c == NULL;
    if (own)
        c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, o->ca);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS); /* offers h2: the gateway must say no */
    if (o->cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
    }
    if (o->ciphers != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
        curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, o->ciphers);
    }
    struct curl_slist *headers = NULL;
    char auth[128];
    if (o->token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    long status = 0, version = 0;
    if (subject != NULL)
        subject[0] = '\0';
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &version);
        assert_int_equal(version, CURL_HTTP_VERSION_1_1);
        struct curl_certinfo *ci = NULL;
        if (subject != NULL && curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci != NULL && ci->num_of_certs > 0) {
            for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next)
                if (strncmp(s->data, "Subject:", 8) == 0)
                    snprintf(subject, subject_len, "%s", s->data + 8);
        }
        if (connects != NULL)
            curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, connects);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    if (own)
        curl_easy_cleanup(c);
    return status;
}

/* ---- TLS --------------------------------------------------------------------------------------- */

static size_t count_body_reads(char *buf, size_t size, size_t n, void *userp)
{
    size_t *read = userp, len = size * n < 4096 ? size * n : 4096;
    memset(buf, 'x', len);
    *read += len;
    return len;
}

/*
 * POSTs a 1 MB body over TLS with `Expect: 100-continue`; returns the status and sets *body_read to
 * the body bytes curl was asked for. A gateway that judges the head before the body answers before
 * any "100 Continue", so curl never sends (or reads) any of it.
 */
static long https_upload(int port, const tls_opts_t *o, size_t *body_read)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/scim/v2/Users", port);
    struct curl_slist *headers = curl_slist_append(NULL, "Expect: 100-continue");
    headers = curl_slist_append(headers, "Content-Type: application/scim+json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, o->ca);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)1000000);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, count_body_reads);
    curl_easy_setopt(c, CURLOPT_READDATA, body_read);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L); /* never "send anyway" */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    *body_read = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return status;
}

/* 1 when a new connection is served the certificate named `cn` (its GET answered 200). Polled: drains the log. */
static int serves_certificate(gw_proc_t *gw, const tls_opts_t *o, const char *cn)
{
    char subject[256];
    gw_drain(gw);
    assert_int_equal(https_get(NULL, gw->port, "/healthz", o, subject, sizeof(subject), NULL), 200);
    return strstr(subject, cn) != NULL;
}

static void test_tls_policy_and_rotation(void **state)
{
    (void)state;
    char dir[64], cert[128], key[128], ca[128], subject[256];
    harness_tmpdir(dir, sizeof(dir));
    make_server_cert(dir, "a", "gw-a");
    make_server_cert(dir, "b", "gw-b");
    snprintf(cert, sizeof(cert), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    snprintf(ca, sizeof(ca), "%s/both.crt", dir);
    sh("cp %s/a.crt %s && cp %s/a.key %s && cat %s/a.crt %s/b.crt > %s", dir, cert, dir, key, dir, dir, ca);

    gw_proc_t gw;
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    ops_start(&gw, dir, NULL, NULL, extra);
    tls_opts_t o = {.ca = ca};

    /* HTTP/1.1 over TLS, even though the client offers h2 (checked in https_get). */
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &o, subject, sizeof(subject), NULL), 200);
    assert_non_null(strstr(subject, "gw-a"));
    /* TLS 1.2: ECDHE suites only. */
    o.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &o, NULL, 0, NULL), 200);
    o.ciphers = "ECDHE-ECDSA-AES256-SHA"; /* CBC: not offered */
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &o, NULL, 0, NULL), 0);
    o.ciphers = NULL;

    /* Over TLS too, a body without a token is refused from its head, before any of it is sent. */
    size_t body_read = 0;
    assert_int_equal(https_upload(gw.port, &o, &body_read), 401);
    assert_int_equal(body_read, 0);

    /* A keep-alive connection made before the rotation (one that showed a token: only those are kept) ... */
    CURL *kept = curl_easy_init();
    long connects = -1;
    tls_opts_t authorised = {.ca = ca, .token = TEST_SCIM_TOKEN};
    assert_int_equal(https_get(kept, gw.port, "/scim/v2/Users", &authorised, NULL, 0, &connects), 200);
    assert_int_equal(connects, 1);

    /* A broken pair on SIGHUP is refused and the old certificate stays in use. */
    sh("cp %s/b.crt %s", dir, cert);
    assert_int_equal(kill(gw.pid, SIGHUP), 0);
    WAIT_FOR(gw_log_has(&gw, "tls_reload_failed"), 10000);
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &o, subject, sizeof(subject), NULL), 200);
    assert_non_null(strstr(subject, "gw-a"));

    /* The complete new pair: new connections get it. */
    sh("cp %s/b.key %s", dir, key);
    assert_int_equal(kill(gw.pid, SIGHUP), 0);
    WAIT_FOR(serves_certificate(&gw, &o, "gw-b"), 10000);
    /* ... and the old connection still works, without reconnecting. */
    connects = -1;
    assert_int_equal(https_get(kept, gw.port, "/scim/v2/Users", &authorised, NULL, 0, &connects), 200);
    assert_int_equal(connects, 0);
    curl_easy_cleanup(kept);

    assert_int_equal(gw_stop(&gw), 0);
    assert_non_null(strstr(gw.log, "\"scheme\":\"https\""));
    assert_non_null(strstr(gw.log, "tls_reloaded"));
    free(gw.log);
    harness_rmdir(dir);
}

static void test_tls_client_certificates(void **state)
{
    (void)state;
    char dir[64], path[6][160];
    harness_tmpdir(dir, sizeof(dir));
    make_server_cert(dir, "server", "gw");
    make_server_cert(dir, "rogue", "rogue"); /* self-signed: not from the CA */
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/ca.key -out %s/ca.crt -days 2 "
       "-subj /CN=test-ca 2>/dev/null",
       dir, dir);
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/idp.key -out %s/idp.csr -subj /CN=idp "
       "2>/dev/null && openssl x509 -req -in %s/idp.csr -CA %s/ca.crt -CAkey %s/ca.key -CAcreateserial -out %s/idp.crt "
       "-days 2 2>/dev/null",
       dir, dir, dir, dir, dir, dir);
    const char *names[] = {"server.crt", "server.key", "ca.crt", "idp.crt", "idp.key", "rogue.crt"};
    for (int i = 0; i < 6; i++)
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);

    gw_proc_t gw;
    const char *extra[] = {"--tls-cert", path[0], "--tls-key", path[1], "--tls-client-ca", path[2], NULL};
    ops_start(&gw, dir, NULL, NULL, extra);
    tls_opts_t with = {.ca = path[0], .cert = path[3], .key = path[4]};
    tls_opts_t without = {.ca = path[0]};
    char rogue_key[160];
    snprintf(rogue_key, sizeof(rogue_key), "%s/rogue.key", dir);
    tls_opts_t rogue = {.ca = path[0], .cert = path[5], .key = rogue_key};
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &with, NULL, 0, NULL), 200);
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &without, NULL, 0, NULL), 0);
    assert_int_equal(https_get(NULL, gw.port, "/healthz", &rogue, NULL, 0, NULL), 0);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* ---- tokens, Basic, expiry --------------------------------------------------------------------- */

static long call_status(gw_proc_t *gw, const char *path, const char *token, const char *header)
{
    http_resp_t r;
    const char *headers[] = {header, NULL};
    http_call(gw, "GET", path, NULL, token, header != NULL ? headers : NULL, &r);
    long status = r.status;
    if (status >= 400)
        assert_scim_error(&r, status, NULL);
    http_resp_clear(&r);
    return status;
}

static void test_named_hashed_expiring_tokens(void **state)
{
    (void)state;
    char dir[64], file[128];
    harness_tmpdir(dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/tokens", dir);
    write_file(file, "# comment lines and blank lines are skipped\n\n"
                     "okta:plain:okta-secret-0123456789\n"
                     /* sha256("entra-secret-0123456789"): printf %s entra-secret-0123456789 | sha256sum */
                     "entra:sha256:606473bed756dc3efa913c9a9d97f3a8b03afec5f082bb9c1eaade266747302c:expires=2099-01-01T00:00:00Z\n"
                     "retired:plain:retired-secret-0123456789:expires=2020-01-01T00:00:00Z\n");

    gw_proc_t gw;
    ops_start(&gw, dir, NULL, file, NULL);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", "okta-secret-0123456789", NULL), 200);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", "entra-secret-0123456789", NULL), 200);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", "retired-secret-0123456789", NULL), 401);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", "okta:plain:okta-secret-0123456789", NULL), 401);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", NULL, NULL), 401);
    /* Basic as Okta sends it: base64("okta:okta-secret-0123456789") */
    assert_int_equal(call_status(&gw, "/scim/v2/Users", NULL, "Authorization: Basic b2t0YTpva3RhLXNlY3JldC0wMTIzNDU2Nzg5"), 200);
    /* the right secret under another token's name */
    assert_int_equal(call_status(&gw, "/scim/v2/Users", NULL, "Authorization: Basic ZW50cmE6b2t0YS1zZWNyZXQtMDEyMzQ1Njc4OQ=="),
                     401);
    gw_read_log(&gw);
    assert_non_null(strstr(gw.log, "\"token\":\"okta\""));
    assert_non_null(strstr(gw.log, "\"token\":\"entra\""));
    assert_non_null(strstr(gw.log, "\"event\":\"token_expired\""));
    assert_null(strstr(gw.log, "secret-0123456789"));
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* ---- source addresses -------------------------------------------------------------------------- */

static void test_allow_list_and_proxies(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    gw_proc_t gw;
    const char *trusting[] = {"--allow-cidrs",   "10.0.0.0/8", "--trusted-proxies", "127.0.0.1/32", "--proxy-header",
                              "x-forwarded-for", NULL};
    ops_start(&gw, dir, NULL, NULL, trusting);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, NULL), 403);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, "X-Forwarded-For: 10.1.2.3"), 200);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, "X-Forwarded-For: 192.0.2.1"), 403);
    /* the client wrote the left part; the proxy appended what it saw */
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, "X-Forwarded-For: 10.1.2.3, 192.0.2.1"), 403);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, "X-Real-IP: 10.1.2.3"), 403);
    /* two field lines are one list (RFC 9110 §5.3): the right-most untrusted address is still the client */
    {
        const char *two_lines[] = {"X-Forwarded-For: 10.1.1.1", "X-Forwarded-For: 8.8.8.8", NULL};
        http_resp_t r;
        http_call(&gw, "GET", "/scim/v2/Users", NULL, TEST_SCIM_TOKEN, two_lines, &r);
        assert_scim_error(&r, 403, NULL);
        http_resp_clear(&r);
        const char *two_allowed[] = {"X-Forwarded-For: 8.8.8.8", "X-Forwarded-For: 10.1.1.1", NULL};
        http_call(&gw, "GET", "/scim/v2/Users", NULL, TEST_SCIM_TOKEN, two_allowed, &r);
        assert_int_equal(r.status, 200);
        http_resp_clear(&r);
    }
    /* probes and metrics are not behind the allow-list */
    assert_int_equal(call_status(&gw, "/healthz", NULL, NULL), 200);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);

    const char *untrusting[] = {"--allow-cidrs", "10.0.0.0/8", NULL};
    ops_start(&gw, dir, NULL, NULL, untrusting);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, "X-Forwarded-For: 10.1.2.3"), 403);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);

    const char *loopback[] = {"--allow-cidrs", "127.0.0.0/8, ::1", NULL};
    ops_start(&gw, dir, NULL, NULL, loopback);
    assert_int_equal(call_status(&gw, "/scim/v2/Users", TEST_SCIM_TOKEN, NULL), 200);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* ---- rate limit and metrics -------------------------------------------------------------------- */

/* The value of the sample `series` (name with labels, exactly as printed), or -1 when absent. */
static double metric(const char *text, const char *series)
{
    size_t len = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, series, len) == 0 && p[len] == ' ')
            return strtod(p + len + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

/* Every line is a HELP/TYPE comment or `name{labels} value` with a number. */
static void assert_prometheus_text(const char *text)
{
    size_t samples = 0;
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (*p == '#') {
            assert_true(strncmp(p, "# HELP gateway_", 15) == 0 || strncmp(p, "# TYPE gateway_", 15) == 0);
        } else {
            assert_true(strncmp(p, "gateway_", 8) == 0);
            const char *sp = p;
            while (sp < nl && *sp != ' ' && *sp != '{')
                sp++;
            if (*sp == '{') {
                const char *close = memchr(sp, '}', (size_t)(nl - sp));
                assert_non_null(close);
                sp = close + 1;
            }
            assert_true(*sp == ' ');
            char *end;
            strtod(sp + 1, &end);
            assert_true(end == nl);
            samples++;
        }
        p = nl + 1;
    }
    assert_true(samples > 20);
}

static char *scrape(gw_proc_t *gw)
{
    http_resp_t r;
    http_call(gw, "GET", "/metrics", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.content_type, "text/plain"));
    assert_prometheus_text(r.body);
    char *body = r.body;
    r.body = NULL;
    http_resp_clear(&r);
    return body;
}

static void test_rate_limit_and_metrics(void **state)
{
    (void)state;
    char dir[64];
    harness_tmpdir(dir, sizeof(dir));
    gw_proc_t gw;
    const char *extra[] = {"--rate-limit", "60", "--rate-limit-burst", "3", NULL};
    ops_start(&gw, dir, NULL, NULL, extra);
    char *before = scrape(&gw);
    assert_true(metric(before, "gateway_build_info{version=\"" GATEWAY_VERSION "\"}") == 1);
    assert_true(metric(before, "gateway_dry_run") == 1);
    assert_true(metric(before, "gateway_deprovisioning_lag_seconds") == 0);
    /* the pace starts at --odeus-rate-per-sec and has had no backlog to grow on */
    assert_true(metric(before, "gateway_odeus_rate_per_second") == 20);

    http_resp_t r;
    int ok = 0, limited = 0;
    for (int i = 0; i < 5; i++) {
        scim(&gw, "GET", "/scim/v2/Users", NULL, &r);
        if (r.status == 200) {
            ok++;
        } else {
            assert_scim_error(&r, 429, NULL);
            long retry = atol(r.retry_after);
            assert_true(retry >= 1 && retry <= 60);
            limited++;
        }
        http_resp_clear(&r);
    }
    /* a bucket of 3 refills at one a second: 3 or, on a slow machine, 4 get through */
    assert_true(ok >= 3 && ok <= 4);
    assert_true(limited >= 1);
    assert_int_equal(call_status(&gw, "/healthz", NULL, NULL), 200); /* not limited */

    char *after = scrape(&gw);
    double users_before = metric(before, "gateway_http_requests_total{route=\"/Users\",method=\"GET\",status=\"200\"}");
    assert_true(metric(after, "gateway_http_requests_total{route=\"/Users\",method=\"GET\",status=\"200\"}") ==
                (users_before < 0 ? 0 : users_before) + ok);
    assert_true(metric(after, "gateway_rate_limited_total{token=\"token-1\"}") == limited);
    /* refused requests (401, 403, 429) are counted before routing, under route "-" */
    assert_true(metric(after, "gateway_http_requests_total{route=\"-\",method=\"GET\",status=\"429\"}") == limited);
    assert_true(metric(after, "gateway_http_request_duration_seconds_count{route=\"/Users\"}") == ok);
    assert_true(metric(after, "gateway_http_request_duration_seconds_bucket{route=\"/Users\",le=\"+Inf\"}") == ok);
    assert_true(metric(after, "gateway_outbox_scrape_ok") == 1);
    free(before);
    free(after);
    assert_int_equal(gw_stop(&gw), 0);
    free(gw.log);
    harness_rmdir(dir);
}

/* ---- audit log and graceful shutdown (with the mock Odeus) ------------------------------------- */

typedef struct patch_job {
    gw_proc_t *gw;
    char path[128];
    long status;
} patch_job_t;

static void *patch_thread(void *arg)
{
    patch_job_t *job = arg;
    http_resp_t r;
    scim(job->gw, "PATCH", job->path, deactivate_patch, &r);
    job->status = r.status;
    http_resp_clear(&r);
    return NULL;
}

static void test_audit_and_graceful_shutdown(void **state)
{
    (void)state;
    char dir[64], audit[128], out[512];
    harness_tmpdir(dir, sizeof(dir));
    snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
    mock_odeus_t *mock = mock_odeus_start();
    assert_non_null(mock);
    gw_proc_t gw;
    ops_start(&gw, dir, mock_odeus_url(mock), NULL, NULL);
    char *id = create_user(&gw, user_body);
    assert_int_equal(mock_odeus_wait(mock, "/invite", 1, 10000), 0);

    /* The deactivation's first call fails with 503 (Retry-After: 1): SIGTERM arrives while the
     * request waits for the retry. It must still be answered 200, and the process exit 0. */
    mock_odeus_push_fault(mock, MOCK_503);
    patch_job_t job = {.gw = &gw};
    snprintf(job.path, sizeof(job.path), "/scim/v2/Users/%s", id);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, patch_thread, &job), 0);
    assert_int_equal(mock_odeus_wait(mock, "/deactivate-user", 1, 10000), 0);
    assert_int_equal(kill(gw.pid, SIGTERM), 0);
    pthread_join(t, NULL);
    assert_int_equal(job.status, 200);
    assert_int_equal(mock_odeus_count(mock, "/deactivate-user"), 2);
    assert_int_equal(gw_stop(&gw), 0);
    assert_non_null(strstr(gw.log, "shutting_down"));

    /* The audit log: who did what, chained, no emails, no secrets. */
    FILE *f = fopen(audit, "r");
    assert_non_null(f);
    char line[2048];
    int entries = 0, created = 0, deactivated = 0, confirmed = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        entries++;
        assert_non_null(strstr(line, "\"token\":\"token-1\""));
        assert_null(strstr(line, "ops@example.com"));
        assert_null(strstr(line, TEST_SCIM_TOKEN));
        created += strstr(line, "\"event\":\"user_created\"") != NULL;
        deactivated += strstr(line, "\"event\":\"user_deactivated\"") != NULL;
        confirmed += strstr(line, "\"odeus_call\":\"deactivate\",\"result\":\"confirmed\"") != NULL;
    }
    assert_int_equal(ferror(f), 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(created, 1);
    assert_int_equal(deactivated, 1);
    assert_int_equal(confirmed, 1);

    assert_int_equal(harness_cli(out, sizeof(out), 0, "audit verify %s", audit), 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "ok: %d entries", entries);
    assert_non_null(strstr(out, expect));
    /* the head the gateway logged on stop matches the file */
    const char *head = strstr(gw.log, "\"head\":\"");
    const char *last = head;
    while (head != NULL) {
        last = head;
        head = strstr(head + 1, "\"head\":\"");
    }
    assert_non_null(last);
    char head_hex[65];
    memcpy(head_hex, last + 8, 64);
    head_hex[64] = '\0';
    assert_int_equal(harness_cli(out, sizeof(out), 0, "audit verify %s %s", audit, head_hex), 0);
    /* an edit is detected */
    sh("sed -i '1s/user_created/user_updated/' %s", audit);
    assert_int_equal(harness_cli(out, sizeof(out), 0, "audit verify %s", audit), 1);
    assert_non_null(strstr(out, "line 2"));

    free(id);
    free(gw.log);
    mock_odeus_stop(mock);
    harness_rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_policy_and_rotation),      cmocka_unit_test(test_tls_client_certificates),
        cmocka_unit_test(test_named_hashed_expiring_tokens), cmocka_unit_test(test_allow_list_and_proxies),
        cmocka_unit_test(test_rate_limit_and_metrics),       cmocka_unit_test(test_audit_and_graceful_shutdown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
