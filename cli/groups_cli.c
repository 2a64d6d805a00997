#include "cli/groups_cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "gateway/config.h"
#include "gateway/mirror.h"
#include "store/store.h"
#include "upstream/client.h"

static int usage(const char *why)
{
    fprintf(stderr,
            "odeus-scim-gateway groups: %s\n"
            "usage: odeus-scim-gateway groups check [--json] [--apply [--remove-extra]] [server options, e.g. --data-dir DIR]\n",
            why);
    return 2;
}

static void print_text(const json_t *report)
{
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(report, "groups"), i, g)
    {
        const char *status = json_string_value(json_object_get(g, "status"));
        const char *name = json_string_value(json_object_get(g, "name"));
        printf("%-12s %s (%s)", status, name != NULL ? name : "(deleted)", json_string_value(json_object_get(g, "group_id")));
        if (json_object_get(g, "odeus_members") != NULL)
            printf(" odeus=%lld directory=%lld", (long long)json_integer_value(json_object_get(g, "odeus_members")),
                   (long long)json_integer_value(json_object_get(g, "directory_members")));
        if (json_is_true(json_object_get(g, "queued")))
            printf(" [fix queued]");
        if (json_is_string(json_object_get(g, "reason")))
            printf(": %s", json_string_value(json_object_get(g, "reason")));
        printf("\n");
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(g, "missing"), k, m)
        {
            printf("  missing in Odeus: %s (%s)\n", json_string_value(json_object_get(m, "email")),
                   json_string_value(json_object_get(m, "reason")));
        }
        json_array_foreach(json_object_get(g, "extra"), k, m)
        {
            printf("  extra in Odeus:   %s\n", json_string_value(m));
        }
    }
    json_t *t = json_object_get(report, "totals");
    printf("%lld groups, %lld drifted, %lld missing in Odeus, %lld in conflict; %lld extra members\n",
           (long long)json_integer_value(json_object_get(t, "groups")),
           (long long)json_integer_value(json_object_get(t, "groups_drifted")),
           (long long)json_integer_value(json_object_get(t, "groups_missing")),
           (long long)json_integer_value(json_object_get(t, "groups_conflict")),
           (long long)json_integer_value(json_object_get(t, "extra")));
}

int gw_groups_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "check") != 0)
        return usage(argc < 2 ? "which command? check" : "unknown command");
    int json = 0;
    gw_mirror_check_opts_t opts = {0};
    /* the rest is the server's configuration, read by the server's own reader */
    char **rest = gw_calloc((size_t)argc + 1, sizeof(*rest));
    int n_rest = 0;
    rest[n_rest++] = argv[0];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--apply") == 0)
            opts.apply = 1;
        else if (strcmp(argv[i], "--remove-extra") == 0)
            opts.remove_extra = 1;
        else
            rest[n_rest++] = argv[i];
    }
    if (opts.remove_extra && !opts.apply) {
        free(rest);
        return usage("--remove-extra goes with --apply");
    }
    gw_config_t config;
    gw_config_result_t loaded = gw_config_load(&config, n_rest, rest);
    free(rest);
    if (loaded != GW_CONFIG_OK)
        return loaded == GW_CONFIG_EXIT_OK ? 0 : 2;
    if (config.dry_run) {
        gw_config_clear(&config);
        return usage("there is no Odeus to read in --dry-run");
    }
    int ret = 1;
    char err[512] = "";
    store_t *store = store_open(config.database, err, sizeof(err));
    upstream_client_t *client = NULL;
    json_t *report = NULL;
    if (store == NULL)
        goto out;
    upstream_config_t uc = {.base_url = config.odeus_base_url,
                            .api_key = config.odeus_api_key != NULL ? config.odeus_api_key : "",
                            .dry_run = config.dry_run,
                            .timeout_ms = config.upstream_deadline_ms,
                            .connect_timeout_ms = config.upstream_deadline_ms < 5000 ? config.upstream_deadline_ms : 5000,
                            .max_connections = 1,
                            .ca_file = config.odeus_ca_file[0] != '\0' ? config.odeus_ca_file : NULL};
    if ((client = upstream_client_create(&uc, err, sizeof(err))) == NULL)
        goto out;
    gw_mirror_totals_t totals;
    report = gw_mirror_check(&config, store, client, &opts, &totals, err, sizeof(err));
    if (report == NULL)
        goto out;
    if (json) {
        char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text != NULL ? text : "{}");
        free(text);
    } else {
        print_text(report);
    }
    ret = totals.groups_drifted > 0 && !opts.apply ? 3 : 0;
out:
    if (ret == 1)
        fprintf(stderr, "odeus-scim-gateway groups check: %s\n", err[0] != '\0' ? err : "failed");
    json_decref(report);
    upstream_client_destroy(client);
    store_close(store);
    gw_config_clear(&config);
    return ret;
}
