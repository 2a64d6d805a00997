/*
 * The data-driven conformance cases: every tests/cases/NNNN-name.json runs against its own fresh
 * gateway and mock Odeus (one cmocka test per file, so one case's state never leaks into another).
 *
 * A case file:
 *   {"description": "...", "args": ["--flag", "value"],          (extra gateway arguments, optional)
 *    "steps": [ {
 *      "name": "...",
 *      "request": {"method": "PATCH", "path": "/scim/v2/Users/${id}", "headers": ["If-Match: ${etag}"],
 *                  "body": {...} | "raw_body": "text", "token": false (send no Authorization)},
 *      "odeus_fault": "404",            (the mock's answer to the next Odeus call: mock_fault_t name)
 *      "odeus": [{"path": "/user-management/v1/deactivate-user", "method": "POST", "body": {"email": "a@x"},
 *                 "headers": {"Authorization": "Bearer ${odeus_key}", "Content-Type": "application/json",
 *                             "Origin": null}}],
 *                                       (the Odeus calls this step causes, in order; absent or [] = none;
 *                                        "method", "body" and "headers" are each checked when given)
 *      "odeus_unordered": true,         (the calls may arrive in any order: they are for different seats,
 *                                        which the gateway delivers side by side)
 *      "response": {"status": 200, "headers": {"ETag": "W/\"2\"", "Location": "re:/Users/${id}$", "Retry-After": null},
 *                   "body": {...subset...}, "absent": ["password", "meta.version"], "empty": true},
 *      "save": {"id": "id", "etag": "meta.version"}   (variables from the response body, by dotted path)
 *    } ]}
 * Strings anywhere in a step may use ${name} for a saved variable; ${odeus_key} is predefined (the
 * key the gateway is given). The expected response headers are expanded after "save", so they may
 * use what their own step saves. In expected bodies, objects match as subsets, arrays element by
 * element with the same length; an expected string (in bodies and in headers) matches "*" any
 * present value, "re:PATTERN" a value that POSIX extended regular expression PATTERN finds (anchor
 * it with ^ and $ for a whole match), and anything else exactly. An expected header of null must be
 * absent. Every step must declare its Odeus calls: a step that declares none is checked to have
 * caused none, and after the gateway stops the mock must have seen exactly the declared calls, so a
 * late, unexpected call fails the case too.
 *
 * With CASES_REPLICAS=2 (test_gateway_cases_replicas_pg, on PostgreSQL) every case runs against two
 * replicas of the gateway on one database (README, "High availability"), both with the case's args
 * and the same mock Odeus, and step i goes to replica i % 2: ETags, uniqueness, lists, the outbox
 * and the waits for Odeus' answers all cross replicas, and the expected calls are checked as above
 * (their order too, unless "odeus_unordered"), whichever replica delivers them. A case that checks
 * what one process holds for itself (a counter, a limit, a cache) says so, and why, with
 *   "single_replica": "the reason"
 * and is skipped in that mode, the reason printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <regex.h>
#include <string.h>
#include <strings.h>

#include "e2e/harness.h"
#include "mock/mock_odeus.h"

#define MAX_CASES     256
#define MAX_VARS      32
#define MAX_ARGS      16
#define ODEUS_WAIT_MS 20000

typedef struct var {
    char name[32];
    char *value;
} var_t;

typedef struct case_state {
    char path[512];
    json_t *doc;
    const char *extra[MAX_ARGS + 1];
    gw_fixture_t *fx; /* NULL: the case is skipped */
    var_t vars[MAX_VARS];
    size_t n_vars;
    size_t odeus_seen; /* Odeus calls declared so far */
} case_state_t;

static const char *var_get(case_state_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_vars; i++)
        if (strlen(c->vars[i].name) == len && strncmp(c->vars[i].name, name, len) == 0)
            return c->vars[i].value;
    fail_msg("%s: variable ${%.*s} was never saved", c->path, (int)len, name);
    return "";
}

static void var_set(case_state_t *c, const char *name, const char *value)
{
    for (size_t i = 0; i < c->n_vars; i++)
        if (strcmp(c->vars[i].name, name) == 0) {
            free(c->vars[i].value);
            c->vars[i].value = strdup(value);
            return;
        }
    assert_true(c->n_vars < MAX_VARS && strlen(name) < sizeof(c->vars[0].name));
    strcpy(c->vars[c->n_vars].name, name);
    c->vars[c->n_vars++].value = strdup(value);
}

/* `s` with every ${name} replaced (malloc'd). */
static char *expand(case_state_t *c, const char *s)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    while (*s != '\0') {
        const char *add = s;
        size_t add_len = 1;
        const char *end;
        if (s[0] == '$' && s[1] == '{' && (end = strchr(s + 2, '}')) != NULL) {
            add = var_get(c, s + 2, (size_t)(end - s - 2));
            add_len = strlen(add);
            s = end + 1;
        } else {
            s++;
        }
        if (n + add_len + 1 > cap) {
            cap = (n + add_len + 1) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + n, add, add_len);
        n += add_len;
    }
    out[n] = '\0';
    return out;
}

/* A deep copy of `v` with ${name} expanded in every string (keys too). */
static json_t *expand_json(case_state_t *c, const json_t *v)
{
    if (json_is_string(v)) {
        char *s = expand(c, json_string_value(v));
        json_t *out = json_string(s);
        free(s);
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(out, expand_json(c, e));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e)
        {
            char *key = expand(c, k);
            json_object_set_new(out, key, expand_json(c, e));
            free(key);
        }
        return out;
    }
    return json_deep_copy(v);
}

/* An expected string: "*" matches anything, "re:PATTERN" a POSIX extended regular expression, else exactly. */
static int string_matches(const char *want, const char *got)
{
    if (strcmp(want, "*") == 0)
        return 1;
    if (strncmp(want, "re:", 3) == 0) {
        regex_t re;
        int rc = regcomp(&re, want + 3, REG_EXTENDED | REG_NOSUB);
        if (rc != 0)
            fail_msg("bad regular expression in a case: %s", want + 3);
        rc = regexec(&re, got, 0, NULL, 0);
        regfree(&re);
        return rc == 0;
    }
    return strcmp(want, got) == 0;
}

/* NULL when `got` matches the expected subset `want`, else a static description of where not. */
static const char *subset_mismatch(const json_t *want, const json_t *got, char *where, size_t where_len)
{
    if (json_is_string(want) && strcmp(json_string_value(want), "*") == 0)
        return got != NULL ? NULL : "missing";
    if (got == NULL)
        return "missing";
    if (json_is_string(want) && json_is_string(got))
        return string_matches(json_string_value(want), json_string_value(got)) ? NULL : "different value";
    if (json_is_object(want)) {
        const char *k;
        json_t *w;
        if (!json_is_object(got))
            return "not an object";
        json_object_foreach((json_t *)want, k, w)
        {
            size_t len = strlen(where);
            snprintf(where + len, where_len - len, ".%s", k);
            const char *m = subset_mismatch(w, json_object_get(got, k), where, where_len);
            if (m != NULL)
                return m;
            where[len] = '\0';
        }
        return NULL;
    }
    if (json_is_array(want)) {
        size_t i;
        json_t *w;
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
            return "not an array of the same length";
        json_array_foreach(want, i, w)
        {
            size_t len = strlen(where);
            snprintf(where + len, where_len - len, "[%zu]", i);
            const char *m = subset_mismatch(w, json_array_get(got, i), where, where_len);
            if (m != NULL)
                return m;
            where[len] = '\0';
        }
        return NULL;
    }
    /* integers and reals compare by value; everything else exactly */
    if (json_is_number(want) && json_is_number(got))
        return json_number_value(want) == json_number_value(got) ? NULL : "different number";
    return json_equal((json_t *)want, (json_t *)got) ? NULL : "different value";
}

static void assert_subset(case_state_t *c, const char *step, const char *what, const json_t *want, const json_t *got)
{
    char where[512] = "";
    const char *m = subset_mismatch(want, got, where, sizeof(where));
    if (m != NULL) {
        char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
        char *g = got != NULL ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        fail_msg("%s, step \"%s\": %s%s: %s\n  want: %s\n  got:  %s", c->path, step, what, where, m, w,
                 g != NULL ? g : "(nothing)");
    }
}

/* The member at a dotted path ("meta.version", "Resources.0.id"), or NULL. */
static json_t *dig(json_t *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part != NULL && v != NULL; part = strtok_r(NULL, ".", &save)) {
        char *end;
        unsigned long i = strtoul(part, &end, 10);
        v = json_is_array(v) && *end == '\0' ? json_array_get(v, i) : json_object_get(v, part);
    }
    return v;
}

static const char *resp_header(const http_resp_t *r, const char *name)
{
    if (strcasecmp(name, "ETag") == 0)
        return r->etag;
    if (strcasecmp(name, "Location") == 0)
        return r->location;
    if (strcasecmp(name, "Content-Type") == 0)
        return r->content_type;
    if (strcasecmp(name, "Retry-After") == 0)
        return r->retry_after;
    if (strcasecmp(name, "WWW-Authenticate") == 0)
        return r->www_authenticate;
    if (strcasecmp(name, "Content-Length") == 0)
        return r->content_length;
    fail_msg("the harness does not capture the header %s", name);
    return "";
}

static mock_fault_t fault_named(const char *s)
{
    static const struct {
        const char *name;
        mock_fault_t f;
    } t[] = {{"ok", MOCK_OK},     {"404", MOCK_404},  {"400", MOCK_400}, {"invalid_email", MOCK_INVALID_EMAIL},
             {"401", MOCK_401},   {"500", MOCK_500},  {"503", MOCK_503}, {"429", MOCK_429},
             {"hang", MOCK_HANG}, {"drop", MOCK_DROP}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcasecmp(s, t[i].name) == 0)
            return t[i].f;
    fail_msg("unknown odeus_fault %s", s);
    return MOCK_OK;
}

/*
 * The received call that expected call `w` is, when the step's calls may arrive in any order
 * (calls of different seats go out side by side): the first one not taken yet whose path and body
 * match; else `i` itself, so that the ordered check names the difference.
 */
static size_t unordered_match(case_state_t *c, const json_t *w, size_t i, size_t n, int *taken)
{
    char where[256];
    for (size_t j = 0; j < n; j++) {
        mock_request_t got;
        if (taken[j] || mock_odeus_get(c->fx->mock, c->odeus_seen + j, &got) != 0)
            continue;
        json_t *path = json_object_get(w, "path"), *body = json_loads(got.body, 0, NULL);
        json_t *want_body = expand_json(c, json_object_get(w, "body"));
        int match = (path == NULL || strcmp(json_string_value(path), got.path) == 0) &&
                    (want_body == NULL || subset_mismatch(want_body, body, where, sizeof(where)) == NULL);
        json_decref(body);
        json_decref(want_body);
        if (match) {
            taken[j] = 1;
            return j;
        }
    }
    return i;
}

static void check_odeus(case_state_t *c, const char *step, const json_t *want, int unordered)
{
    mock_odeus_t *mock = c->fx->mock;
    size_t n = json_array_size(want), i;
    json_t *w;
    int taken[16] = {0};

    if (n > 0 && mock_odeus_wait(mock, NULL, c->odeus_seen + n, ODEUS_WAIT_MS) != 0)
        fail_msg("%s, step \"%s\": expected %zu Odeus call(s), the mock saw %zu", c->path, step, n,
                 mock_odeus_count(mock, NULL) - c->odeus_seen);
    assert_true(!unordered || n <= sizeof(taken) / sizeof(taken[0]));
    json_array_foreach(want, i, w)
    {
        mock_request_t got;
        size_t at = unordered ? unordered_match(c, w, i, n, taken) : i;
        assert_int_equal(mock_odeus_get(mock, c->odeus_seen + at, &got), 0);
        json_t *path = json_object_get(w, "path"), *method = json_object_get(w, "method");
        if (path != NULL && strcmp(json_string_value(path), got.path) != 0)
            fail_msg("%s, step \"%s\": Odeus call %zu went to %s, want %s", c->path, step, i, got.path, json_string_value(path));
        if (method != NULL && strcmp(json_string_value(method), got.method) != 0)
            fail_msg("%s, step \"%s\": Odeus call %zu was a %s, want %s", c->path, step, i, got.method, json_string_value(method));
        const char *hk;
        json_t *hv;
        json_object_foreach(json_object_get(w, "headers"), hk, hv)
        {
            char value[512];
            int present = mock_request_header(&got, hk, value, sizeof(value));
            if (json_is_null(hv) ? present : !present || !string_matches(json_string_value(hv), value))
                fail_msg("%s, step \"%s\": Odeus call %zu has %s %s%s%s, want %s; it sent:\n%s", c->path, step, i, hk,
                         present ? "\"" : "", present ? value : "absent", present ? "\"" : "",
                         json_is_null(hv) ? "absent" : json_string_value(hv), got.headers);
        }
        json_t *body = json_loads(got.body, 0, NULL);
        json_t *want_body = expand_json(c, json_object_get(w, "body"));
        if (json_object_get(w, "body") != NULL)
            assert_subset(c, step, "Odeus body", want_body, body);
        json_decref(want_body);
        json_decref(body);
    }
    c->odeus_seen += n;
    size_t now = mock_odeus_count(mock, NULL);
    if (now != c->odeus_seen) {
        mock_request_t last;
        mock_odeus_get(mock, now - 1, &last);
        fail_msg("%s, step \"%s\": %zu Odeus call(s) more than declared (the last to %s)", c->path, step, now - c->odeus_seen,
                 last.path);
    }
}

/* CASES_REPLICAS: 1, or 2 for two replicas on one PostgreSQL database, taking the steps in turn */
static int n_replicas = 1;

static void run_step(case_state_t *c, gw_proc_t *gw, const json_t *step_in)
{
    /* the expected response headers may use what this very step saves: expanded after "save" */
    json_t *step_raw = json_deep_copy(step_in);
    json_t *want_headers = json_incref(json_object_get(json_object_get(step_raw, "response"), "headers"));
    json_object_del(json_object_get(step_raw, "response"), "headers");
    json_t *step = expand_json(c, step_raw);
    json_decref(step_raw);
    const char *name = json_string_value(json_object_get(step, "name"));
    json_t *req = json_object_get(step, "request"), *resp = json_object_get(step, "response");
    const char *headers[16] = {0};
    char *body = NULL;
    http_resp_t out;
    size_t i;
    json_t *v;

    if (name == NULL)
        name = "(unnamed)";
    if (req == NULL || resp == NULL)
        fail_msg("%s, step \"%s\": needs request and response", c->path, name);
    json_array_foreach(json_object_get(req, "headers"), i, v)
    {
        assert_true(i < 15);
        headers[i] = json_string_value(v);
    }
    if (json_object_get(req, "raw_body") != NULL)
        body = strdup(json_string_value(json_object_get(req, "raw_body")));
    else if (json_object_get(req, "body") != NULL)
        body = json_dumps(json_object_get(req, "body"), JSON_COMPACT | JSON_ENCODE_ANY);
    if ((v = json_object_get(step, "odeus_fault")) != NULL)
        mock_odeus_push_fault(c->fx->mock, fault_named(json_string_value(v)));

    http_call(gw, json_string_value(json_object_get(req, "method")), json_string_value(json_object_get(req, "path")), body,
              json_is_false(json_object_get(req, "token")) ? NULL : TEST_SCIM_TOKEN, headers, &out);

    long want_status = (long)json_integer_value(json_object_get(resp, "status"));
    if (out.status != want_status)
        fail_msg("%s, step \"%s\": status %ld, want %ld; body: %s", c->path, name, out.status, want_status, out.body);
    if (json_is_true(json_object_get(resp, "empty")) && out.body[0] != '\0')
        fail_msg("%s, step \"%s\": want no body, got %s", c->path, name, out.body);
    if (out.body[0] != '\0' && strcmp(out.content_type, "application/scim+json") != 0)
        fail_msg("%s, step \"%s\": Content-Type %s", c->path, name, out.content_type);
    const char *hk;
    if ((v = json_object_get(resp, "body")) != NULL)
        assert_subset(c, name, "body", v, out.json);
    json_array_foreach(json_object_get(resp, "absent"), i, v)
    {
        if (dig(out.json, json_string_value(v)) != NULL)
            fail_msg("%s, step \"%s\": %s should be absent; body: %s", c->path, name, json_string_value(v), out.body);
    }
    json_t *want_odeus = json_object_get(step, "odeus");
    json_t *none = json_array();
    check_odeus(c, name, want_odeus != NULL ? want_odeus : none, json_is_true(json_object_get(step, "odeus_unordered")));
    json_decref(none);
    json_object_foreach(json_object_get(step, "save"), hk, v)
    {
        json_t *got = dig(out.json, json_string_value(v));
        if (!json_is_string(got))
            fail_msg("%s, step \"%s\": cannot save %s from %s", c->path, name, hk, out.body);
        var_set(c, hk, json_string_value(got));
    }
    json_t *headers_now = want_headers != NULL ? expand_json(c, want_headers) : NULL;
    json_object_foreach(headers_now, hk, v)
    {
        const char *got = resp_header(&out, hk);
        if (json_is_null(v) ? got[0] != '\0' : got[0] == '\0' || !string_matches(json_string_value(v), got))
            fail_msg("%s, step \"%s\": header %s is \"%s\", want %s", c->path, name, hk, got,
                     json_is_null(v) ? "absent" : json_string_value(v));
    }
    json_decref(headers_now);
    json_decref(want_headers);
    http_resp_clear(&out);
    free(body);
    json_decref(step);
}

static int case_setup(void **state)
{
    case_state_t *c = *state;
    json_error_t e;
    size_t i;
    json_t *v;

    c->doc = json_load_file(c->path, JSON_REJECT_DUPLICATES, &e);
    if (c->doc == NULL)
        fail_msg("%s:%d: %s", c->path, e.line, e.text);
    json_array_foreach(json_object_get(c->doc, "args"), i, v)
    {
        assert_true(i < MAX_ARGS);
        c->extra[i] = json_string_value(v);
    }
    var_set(c, "odeus_key", TEST_ODEUS_KEY);
    json_t *single = json_object_get(c->doc, "single_replica");
    if (single != NULL && (!json_is_string(single) || json_string_length(single) == 0))
        fail_msg("%s: \"single_replica\" must be a string saying why", c->path);
    if (n_replicas == 1)
        return gw_fixture_setup((void **)&c->fx, c->extra);
    if (single != NULL)
        return 0; /* run_case skips it */
    return gw_fixture_setup_replicas((void **)&c->fx, c->extra);
}

static int case_teardown(void **state)
{
    case_state_t *c = *state;
    size_t seen = c->odeus_seen, calls = seen;
    int stopped = 0;
    if (c->fx != NULL) {
        /* Stop the gateways without freeing the mock first: then nothing more can call it. */
        stopped = gw_fixture_stop(c->fx);
        calls = mock_odeus_count(c->fx->mock, NULL);
        gw_fixture_free(c->fx);
        c->fx = NULL;
    }
    for (size_t i = 0; i < c->n_vars; i++)
        free(c->vars[i].value);
    c->n_vars = 0;
    json_decref(c->doc);
    assert_int_equal(stopped, 0);
    if (calls != seen)
        fail_msg("%s: the mock saw %zu Odeus call(s), the steps declared %zu", c->path, calls, seen);
    return 0;
}

static void run_case(void **state)
{
    case_state_t *c = *state;
    size_t i;
    json_t *step;
    if (c->fx == NULL) {
        print_message("%s: single replica only, skipped: %s\n", c->path,
                      json_string_value(json_object_get(c->doc, "single_replica")));
        skip();
    }
    json_array_foreach(json_object_get(c->doc, "steps"), i, step)
    {
        gw_proc_t *gw = n_replicas == 2 && i % 2 == 1 ? &c->fx->gw2 : &c->fx->gw;
        run_step(c, gw, step);
        /* the other replica logs too (its deliveries): its pipe must not fill up */
        gw_drain(&c->fx->gw);
        if (n_replicas == 2)
            gw_drain(&c->fx->gw2);
    }
    if (json_array_size(json_object_get(c->doc, "steps")) == 0)
        fail_msg("%s has no steps", c->path);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *dir = getenv("CASES_DIR");
    static char *names[MAX_CASES];
    static case_state_t states[MAX_CASES];
    static struct CMUnitTest tests[MAX_CASES];
    size_t n = 0;
    struct dirent *de;
    DIR *d;

    if (dir == NULL || (d = opendir(dir)) == NULL) {
        fprintf(stderr, "CASES_DIR is not set or not a directory\n");
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && n < MAX_CASES)
            names[n++] = strdup(de->d_name);
    }
    if (closedir(d) != 0) {
        perror(dir);
        return 1;
    }
    qsort(names, n, sizeof(names[0]), by_name);
    const char *replicas = getenv("CASES_REPLICAS");
    if (replicas != NULL && strcmp(replicas, "1") != 0 && strcmp(replicas, "2") != 0) {
        fprintf(stderr, "CASES_REPLICAS must be 1 or 2\n");
        return 1;
    }
    n_replicas = replicas != NULL ? atoi(replicas) : 1;
    const char *only = getenv("CASE"); /* run one case: CASE=0012 */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (only != NULL && strstr(names[i], only) == NULL)
            continue;
        snprintf(states[m].path, sizeof(states[m].path), "%s/%s", dir, names[i]);
        tests[m] = (struct CMUnitTest){names[i], run_case, case_setup, case_teardown, &states[m]};
        m++;
    }
    if (m == 0) {
        fprintf(stderr, "no cases in %s\n", dir);
        return 1;
    }
    int rc = _cmocka_run_group_tests("conformance cases", tests, m, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return rc;
}
