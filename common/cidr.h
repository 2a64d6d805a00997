/*
 * Address ranges (CIDR) for the source-address allow-list and the trusted-proxy list. Pure:
 * no I/O, no allocation.
 */
#ifndef COMMON_CIDR_H
#define COMMON_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/attr.h"

#define GW_MAX_CIDRS 32

typedef struct gw_cidr {
    int family;             /** AF_INET or AF_INET6 */
    unsigned char addr[16]; /** network address, host bits cleared */
    unsigned prefix;        /** 0..32 or 0..128 */
} gw_cidr_t;

typedef struct gw_cidr_list {
    gw_cidr_t items[GW_MAX_CIDRS];
    size_t n;
} gw_cidr_list_t;

/**
 * Parses a comma-separated list such as "10.0.0.0/8, 192.168.1.7, fd00::/8" (a bare address is
 * a /32 or /128) into `out`, replacing what was there. An empty string gives an empty list.
 * Returns 0, or -1 with a reason in `why`.
 */
GW_MUST_CHECK int gw_cidr_parse_list(const char *text, gw_cidr_list_t *out, char *why, size_t why_len);

/** 1 when `sa` (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) is in one of the ranges. */
int gw_cidr_list_contains(const gw_cidr_list_t *list, const struct sockaddr *sa);

/**
 * Parses a textual address (the first `len` bytes of `text`, surrounding spaces ignored) into
 * `ss`. Returns 0, or -1 when it is no numeric IPv4/IPv6 address.
 */
GW_MUST_CHECK int gw_cidr_parse_addr(const char *text, size_t len, struct sockaddr_storage *ss);

/** Writes the numeric form of `sa` into `buf` ("?" when it cannot). */
void gw_cidr_format_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
