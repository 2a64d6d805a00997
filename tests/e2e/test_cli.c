/*
 * The command line: bad values exit 2 with one clear line; no token or key refuses to start.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Runs the gateway with `args` and `env` (NULL-terminated), returns its exit code; stderr into `err`. */
static int run(const char *const *args, const char *const *env, char *err, size_t err_len)
{
    const char *bin = getenv("GATEWAY_BIN");
    assert_non_null(bin);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        close(fds[0]);
        const char *argv[16] = {bin};
        size_t n = 1;
        for (size_t i = 0; args[i] != NULL; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execve(bin, (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t got;
    while ((got = read(fds[0], err + len, err_len - 1 - len)) > 0)
        len += (size_t)got;
    err[len] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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

static void test_help_and_version(void **state)
{
    (void)state;
    char err[1024];
    assert_int_equal(run((const char *const[]){"--version", NULL}, good_env, err, sizeof(err)), 0);
    assert_int_equal(run((const char *const[]){"--help", NULL}, good_env, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_refuses_without_secrets),
        cmocka_unit_test(test_help_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
