/*
 * odeus-scim-gateway: a SCIM 2.0 server for Okta and Entra ID that provisions Odeus users.
 */
#include <string.h>

#include "cli/audit_cli.h"
#include "cli/groups_cli.h"
#include "cli/migrate_cli.h"
#include "cli/outbox_cli.h"
#include "common/alloc.h"
#include "gateway/config.h"
#include "gateway/server.h"

int main(int argc, char **argv)
{
    gw_alloc_init(); /* before anything allocates through jansson, before any thread */
    gw_config_t config;
    if (argc >= 2 && strcmp(argv[1], "audit") == 0)
        return gw_audit_cli_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "outbox") == 0)
        return gw_outbox_cli_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "groups") == 0)
        return gw_groups_cli_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "migrate") == 0)
        return gw_migrate_cli_main(argc - 1, argv + 1);
    switch (gw_config_load(&config, argc, argv)) {
    case GW_CONFIG_EXIT_OK:
        return 0;
    case GW_CONFIG_EXIT_USAGE:
        return 2;
    case GW_CONFIG_OK:
        break;
    }
    int rc = gw_server_run(&config);
    gw_config_clear(&config);
    return rc;
}
