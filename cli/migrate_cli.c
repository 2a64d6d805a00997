#include "cli/migrate_cli.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config.h"
#include "store/store.h"

#define URL_MAX 1024

static int usage(const char *why)
{
    fprintf(stderr,
            "odeus-scim-gateway migrate: %s\n"
            "usage: odeus-scim-gateway migrate --from sqlite:PATH [--to postgres://...] [--force]\n"
            "       copies the users, groups, memberships and the outbox (every row, with its id) into the target;\n"
            "       --to defaults to GATEWAY_DATABASE_URL or the file GATEWAY_DATABASE_URL_FILE names;\n"
            "       a target that holds data is refused unless --force, which replaces it. Stop the gateways first.\n",
            why);
    return 2;
}

/* Opens `url` for `role` ("source", "target"); NULL with a message printed on failure. */
static store_t *open_store(const char *role, const char *url)
{
    char why[512], shown[URL_MAX];
    if (store_url_check(url, why, sizeof(why)) != 0) {
        fprintf(stderr, "odeus-scim-gateway migrate: the %s: %s\n", role, why);
        return NULL;
    }
    store_t *s = store_open(url, why, sizeof(why)); /* its message never holds the password */
    if (s == NULL) {
        gw_config_database_shown(url, shown, sizeof(shown));
        fprintf(stderr, "odeus-scim-gateway migrate: the %s %s: %s\n", role, shown, why);
    }
    return s;
}

static int run(const char *from_url, const char *to_url, int force)
{
    char from_shown[URL_MAX], to_shown[URL_MAX];
    gw_config_database_shown(from_url, from_shown, sizeof(from_shown));
    gw_config_database_shown(to_url, to_shown, sizeof(to_shown));
    if (strcmp(from_url, to_url) == 0) {
        fprintf(stderr, "odeus-scim-gateway migrate: the source and the target are the same database\n");
        return 2;
    }
    /* store_open would create a missing SQLite file: an empty source that --force copies over the target */
    if (strncmp(from_url, "sqlite:", 7) == 0 && access(from_url + 7, R_OK | W_OK) != 0) {
        fprintf(stderr, "odeus-scim-gateway migrate: the source %s: %s\n", from_shown, strerror(errno));
        return 1;
    }
    store_t *from = open_store("source", from_url);
    if (from == NULL)
        return 1;
    store_t *to = open_store("target", to_url);
    if (to == NULL) {
        store_close(from);
        return 1;
    }
    store_copy_counts_t n;
    store_status_t st = store_copy(from, to, force, &n);
    int rc = 0;
    if (st == STORE_CONFLICT) {
        fprintf(stderr,
                "odeus-scim-gateway migrate: the target %s is not empty (%s); nothing was copied. "
                "--force replaces its contents with the source's\n",
                to_shown, store_errmsg(to));
        rc = GW_MIGRATE_EXIT_NOT_EMPTY;
    } else if (st != STORE_OK) {
        fprintf(stderr, "odeus-scim-gateway migrate: %s -> %s failed, the target is unchanged: %s\n", from_shown, to_shown,
                store_errmsg(to));
        rc = 1;
    } else {
        printf("migrated %s -> %s: %lld users (%lld emails), %lld groups (%lld memberships), %lld outbox rows, "
               "%lld pending-invitee re-sends, %lld mirrored groups (%lld known members)\n",
               from_shown, to_shown, (long long)n.users, (long long)n.emails, (long long)n.groups, (long long)n.members,
               (long long)n.outbox, (long long)n.rechecks, (long long)n.mirror_groups, (long long)n.mirror_members);
    }
    store_close(to);
    store_close(from);
    return rc;
}

int gw_migrate_cli_main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--from") == 0 && value != NULL) {
            from = value;
            i++;
        } else if (strcmp(arg, "--to") == 0 && value != NULL) {
            to = value;
            i++;
        } else if (strcmp(arg, "--force") == 0) {
            force = 1;
        } else {
            /* not the argument itself: it may be a URL with a password */
            return usage(arg[0] == '-' ? "unknown option, or an option without its value" : "unexpected argument");
        }
    }
    if (from == NULL)
        return usage("--from is needed: the database to copy (sqlite:PATH)");
    char env_url[URL_MAX] = "", why[512];
    if (to == NULL) {
        int got = gw_config_database_env(env_url, sizeof(env_url), why, sizeof(why));
        if (got < 0)
            return usage(why);
        if (got == 0)
            return usage("--to is needed (or GATEWAY_DATABASE_URL / GATEWAY_DATABASE_URL_FILE): the database to copy into");
        to = env_url;
    }
    int rc = run(from, to, force);
    OPENSSL_cleanse(env_url, sizeof(env_url));
    return rc;
}
