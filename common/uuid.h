/*
 * Random (version 4) UUIDs for SCIM ids, from OpenSSL's CSPRNG.
 */
#ifndef COMMON_UUID_H
#define COMMON_UUID_H

#include "common/attr.h"

#define GW_UUID_LEN 37 /* 36 characters and the NUL */

/** Writes a lowercase UUID v4 into buf. Returns 0, or -1 when the CSPRNG failed. */
GW_MUST_CHECK int gw_uuid_v4(char buf[GW_UUID_LEN]);

#endif
