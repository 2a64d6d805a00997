/*
 * The command line: bad values exit 2 with one clear line; no token or key refuses to start;
 * --version and --help print what they should.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * Runs the gateway with `args` and `env` (NULL-terminated) and returns its exit code; what it
 * writes on `fd` (STDOUT_FILENO or STDERR_FILENO) goes into `out`, the other stream to /dev/null.
 */
static int run_capture(const char *const *args, const char *const *env, int fd, char *out, size_t out_len)
{
    const char *bin = getenv("GATEWAY_BIN");
    assert_non_null(bin);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* no cmocka assertion in the child: a failed step is exit code 127 */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull < 0 || dup2(fds[1], fd) < 0 || dup2(devnull, fd == STDOUT_FILENO ? STDERR_FILENO : STDOUT_FILENO) < 0 ||
            close(devnull) != 0 || close(fds[0]) != 0 || close(fds[1]) != 0)
            _exit(127);
        const char *argv[16] = {bin};
        size_t n = 1;
        for (size_t i = 0; args[i] != NULL && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execve(bin, (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    assert_int_equal(close(fds[1]), 0);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], out + len, out_len - 1 - len)) > 0)
        len += (size_t)got;
    assert_int_equal(got, 0);
    out[len] = '\0';
    assert_int_equal(close(fds[0]), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The same with stderr captured. */
static int run(const char *const *args, const char *const *env, char *err, size_t err_len)
{
    return run_capture(args, env, STDERR_FILENO, err, err_len);
}

static const char *const good_env[] = {"SCIM_TOKEN=cli-test-token-0123456789", "ODEUS_API_KEY=cli-key", NULL};

static void assert_usage_error(const char *const *args, const char *const *env, const char *mentions)
{
    char err[4096];
    assert_int_equal(run(args, env, err, sizeof(err)), 2);
    /* exactly one line, naming the problem */
    assert_non_null(strstr(err, mentions));
    assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err));
}

static void test_bad_values(void **state)
{
    (void)state;
    assert_usage_error((const char *const[]){"--listen", "nonsense", NULL}, good_env, "--listen");
    assert_usage_error((const char *const[]){"--listen", "127.0.0.1:99999", NULL}, good_env, "--listen");
    assert_usage_error((const char *const[]){"--threads", "0", NULL}, good_env, "--threads");
    assert_usage_error((const char *const[]){"--upstream-deadline-ms", "soon", NULL}, good_env, "--upstream-deadline-ms");
    assert_usage_error((const char *const[]){"--odeus-base-url", "ftp://x", NULL}, good_env, "--odeus-base-url");
    assert_usage_error((const char *const[]){"--log-level", "loud", NULL}, good_env, "--log-level");
    /* a ceiling below the start is a contradiction (0 is not: no growth) */
    assert_usage_error((const char *const[]){"--odeus-rate-per-sec", "50", "--odeus-rate-max-per-sec", "40", NULL}, good_env,
                       "--odeus-rate-max-per-sec");
    assert_usage_error((const char *const[]){"--odeus-invite-batch", "0", NULL}, good_env, "--odeus-invite-batch");
    assert_usage_error((const char *const[]){"--odeus-invite-batch", "201", NULL}, good_env, "--odeus-invite-batch");
    /* a bad role map or access list stops the start with one line (issue: "a bad SPEC exits 2") */
    assert_usage_error((const char *const[]){"--group-role-map", "Admins", NULL}, good_env, "--group-role-map");
    assert_usage_error((const char *const[]){"--group-role-map", "Admins=boss", NULL}, good_env, "--group-role-map");
    assert_usage_error((const char *const[]){"--group-role-map", "Admins=admin,", NULL}, good_env, "--group-role-map");
    assert_usage_error((const char *const[]){"--group-role-map", "=admin", NULL}, good_env, "--group-role-map");
    assert_usage_error((const char *const[]){"--group-role-map", "Admins=admin,admins=editor", NULL}, good_env, "--group-role-map");
    assert_usage_error((const char *const[]){"--access-groups", "Odeus,,Staff", NULL}, good_env, "--access-groups");
    assert_usage_error((const char *const[]){"--access-groups", "Odeus,", NULL}, good_env, "--access-groups");
    /* a replica's name becomes part of its audit log's file name */
    assert_usage_error((const char *const[]){"--replica-name", "../etc", NULL}, good_env, "--replica-name");
    assert_usage_error((const char *const[]){"--replica-name", "a/b", NULL}, good_env, "--replica-name");
    assert_usage_error((const char *const[]){"--replica-name", "", NULL}, good_env, "--replica-name");
    /* --database: sqlite:PATH or a PostgreSQL URL libpq reads; never a bare path, another scheme, or a bad URL */
    assert_usage_error((const char *const[]){"--database", "/var/lib/gateway.db", NULL}, good_env, "--database");
    assert_usage_error((const char *const[]){"--database", "sqlite:", NULL}, good_env, "--database");
    assert_usage_error((const char *const[]){"--database", "mysql://db/gw", NULL}, good_env, "--database");
    assert_usage_error((const char *const[]){"--database", "postgresql://gw@db/gw?no_such_parameter=1", NULL}, good_env,
                       "--database");
    assert_usage_error(
        (const char *const[]){NULL},
        (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", "ODEUS_API_KEY=k", "GATEWAY_DATABASE_URL=ftp://db", NULL},
        "GATEWAY_DATABASE_URL");
    assert_usage_error((const char *const[]){NULL},
                       (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", "ODEUS_API_KEY=k",
                                             "GATEWAY_DATABASE_URL=sqlite:x.db", "GATEWAY_DATABASE_URL_FILE=/etc/hostname", NULL},
                       "not both");
    assert_usage_error((const char *const[]){NULL},
                       (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", "ODEUS_API_KEY=k",
                                             "GATEWAY_DATABASE_URL_FILE=/nonexistent/db-url", NULL},
                       "GATEWAY_DATABASE_URL_FILE");
    /* GATEWAY_DATABASE_URL_FILE is read (its trailing newline dropped) and used: here a file that cannot be opened */
    char dir[] = "/tmp/test-cli-db-XXXXXX", url_file[64];
    assert_non_null(mkdtemp(dir));
    snprintf(url_file, sizeof(url_file), "%s/url", dir);
    /* the default database cannot be opened either (a directory in its place): a gateway that ignored the file stops too */
    char blocker[64];
    snprintf(blocker, sizeof(blocker), "%s/gateway.db", dir);
    assert_int_equal(mkdir(blocker, 0700), 0);
    FILE *uf = fopen(url_file, "w");
    assert_non_null(uf);
    assert_true(fputs("sqlite:/nonexistent-dir/x/y.db\n", uf) >= 0);
    assert_int_equal(fclose(uf), 0);
    char env_file[128], out[4096];
    snprintf(env_file, sizeof(env_file), "GATEWAY_DATABASE_URL_FILE=%s", url_file);
    assert_int_equal(run_capture((const char *const[]){"--listen", "127.0.0.1:0", "--data-dir", dir, NULL},
                                 (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", "ODEUS_API_KEY=k", env_file, NULL},
                                 STDOUT_FILENO, out, sizeof(out)),
                     1);
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
    if (strstr(out, "start_failed") == NULL || strstr(out, "/nonexistent-dir/x/y.db:") == NULL)
        fail_msg("the gateway did not try the file's database:\n%s", out);
    /* the message never repeats the URL, which may hold a password */
    char err[4096];
    assert_int_equal(run((const char *const[]){"--database", "postgresql://gw:s3cret-pw@db/gw?no_such_parameter=1", NULL}, good_env,
                         err, sizeof(err)),
                     2);
    assert_null(strstr(err, "s3cret-pw"));
    assert_usage_error((const char *const[]){"--no-such-flag", NULL}, good_env, "--no-such-flag");
    assert_usage_error((const char *const[]){NULL},
                       (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", "GATEWAY_THREADS=x", "ODEUS_API_KEY=k", NULL},
                       "GATEWAY_THREADS");
}

static void test_refuses_without_secrets(void **state)
{
    (void)state;
    assert_usage_error((const char *const[]){NULL}, (const char *const[]){"ODEUS_API_KEY=k", NULL}, "SCIM_TOKEN");
    assert_usage_error((const char *const[]){NULL}, (const char *const[]){"SCIM_TOKEN=short", "ODEUS_API_KEY=k", NULL}, "shorter");
    assert_usage_error((const char *const[]){NULL}, (const char *const[]){"SCIM_TOKEN=cli-test-token-0123456789", NULL},
                       "ODEUS_API_KEY");
    assert_usage_error((const char *const[]){NULL},
                       (const char *const[]){"SCIM_TOKEN_FILE=/nonexistent/token", "ODEUS_API_KEY=k", NULL}, "/nonexistent/token");
}

/* --version and --help print on stdout, exit 0, and need no secrets. */
static const char *const no_env[] = {NULL};

static void test_version(void **state)
{
    (void)state;
    char out[256], err[256];
    assert_int_equal(run_capture((const char *const[]){"--version", NULL}, no_env, STDOUT_FILENO, out, sizeof(out)), 0);
    assert_string_equal(out, "odeus-scim-gateway " GATEWAY_VERSION "\n");
    assert_int_equal(run((const char *const[]){"--version", NULL}, no_env, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

static void test_help(void **state)
{
    (void)state;
    static char out[16384];
    char err[256], line[64];
    assert_int_equal(run_capture((const char *const[]){"--help", NULL}, no_env, STDOUT_FILENO, out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "Usage: odeus-scim-gateway [options]\n", 36), 0);
    /* each option on a line of its own, then its environment variable */
    static const char *const options[][2] = {
        {"listen", "GATEWAY_LISTEN"},
        {"data-dir", "GATEWAY_DATA_DIR"},
        {"database", "GATEWAY_DATABASE_URL"},
        {"threads", "GATEWAY_THREADS"},
        {"odeus-base-url", "ODEUS_BASE_URL"},
        {"upstream-deadline-ms", "GATEWAY_UPSTREAM_DEADLINE_MS"},
        {"odeus-rate-per-sec", "ODEUS_RATE_PER_SEC"},
        {"odeus-rate-max-per-sec", "ODEUS_RATE_MAX_PER_SEC"},
        {"odeus-max-concurrency", "ODEUS_MAX_CONCURRENCY"},
        {"odeus-invite-batch", "ODEUS_INVITE_BATCH"},
        {"dry-run", "GATEWAY_DRY_RUN"},
        {"log-level", "GATEWAY_LOG_LEVEL"},
        {"tls-cert", "GATEWAY_TLS_CERT"},
        {"tls-key", "GATEWAY_TLS_KEY"},
        {"tls-client-ca", "GATEWAY_TLS_CLIENT_CA"},
        {"allow-cidrs", "GATEWAY_ALLOW_CIDRS"},
        {"rate-limit", "GATEWAY_RATE_LIMIT"},
        {"audit-log", "GATEWAY_AUDIT_LOG"},
        {"replica-name", "GATEWAY_REPLICA_NAME"},
    };
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        snprintf(line, sizeof(line), "\n  --%s ", options[i][0]);
        const char *at = strstr(out, line);
        if (at == NULL)
            fail_msg("--help does not list --%s:\n%s", options[i][0], out);
        const char *next = strstr(at + 1, "\n  --");
        snprintf(line, sizeof(line), "env %s\n", options[i][1]);
        const char *env = strstr(at, line);
        if (env == NULL || (next != NULL && env > next))
            fail_msg("--help does not name %s under --%s", options[i][1], options[i][0]);
    }
    assert_non_null(strstr(out, "\n  --help "));
    assert_non_null(strstr(out, "\n  --version "));
    /* the secrets, from the environment only */
    assert_non_null(strstr(out, "ODEUS_API_KEY or ODEUS_API_KEY_FILE"));
    assert_non_null(strstr(out, "SCIM_TOKEN or SCIM_TOKEN_FILE"));
    /* and the subcommands */
    const char *sub = strstr(out, "\nSubcommands:\n");
    assert_non_null(sub);
    if (strstr(sub, "\n  audit verify FILE ") == NULL || strstr(sub, "\n  outbox list|stats|retry|drop ") == NULL ||
        strstr(sub, "\n  migrate --from sqlite:PATH --to URL ") == NULL)
        fail_msg("--help does not list the subcommands audit verify, outbox and migrate:\n%s", sub);
    assert_int_equal(run((const char *const[]){"--help", NULL}, no_env, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_refuses_without_secrets),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
