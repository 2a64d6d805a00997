/*
 * odeus-scim-gateway: a SCIM 2.0 server for Okta and Entra ID that provisions Odeus users.
 */
#include "gateway/config.h"
#include "gateway/server.h"

int main(int argc, char **argv)
{
    gw_config_t config;
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
