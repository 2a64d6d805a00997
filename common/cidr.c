#include "common/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The raw bytes of an address, with IPv4-mapped IPv6 folded to IPv4 so one rule covers both. */
static int address_bytes(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(out, a->s6_addr + 12, 4);
            return AF_INET;
        }
        memcpy(out, a->s6_addr, 16);
        return AF_INET6;
    }
    return -1;
}

int gw_cidr_parse_addr(const char *text, size_t len, struct sockaddr_storage *ss)
{
    char buf[INET6_ADDRSTRLEN + 1];
    while (len > 0 && *text == ' ') {
        text++;
        len--;
    }
    while (len > 0 && text[len - 1] == ' ')
        len--;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

static int parse_one(const char *text, size_t len, gw_cidr_t *out, char *why, size_t why_len)
{
    const char *slash = memchr(text, '/', len);
    size_t addr_len = slash != NULL ? (size_t)(slash - text) : len;
    struct sockaddr_storage ss;
    if (gw_cidr_parse_addr(text, addr_len, &ss) != 0) {
        snprintf(why, why_len, "\"%.*s\" is not an IP address or CIDR range", (int)len, text);
        return -1;
    }
    out->family = address_bytes((struct sockaddr *)&ss, out->addr);
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash != NULL) {
        char num[8];
        size_t nlen = len - addr_len - 1;
        while (nlen > 0 && slash[nlen] == ' ')
            nlen--;
        char *end;
        if (nlen == 0 || nlen >= sizeof(num)) {
            snprintf(why, why_len, "\"%.*s\" has no valid prefix length", (int)len, text);
            return -1;
        }
        memcpy(num, slash + 1, nlen);
        num[nlen] = '\0';
        unsigned long p = strtoul(num, &end, 10);
        if (*end != '\0' || num[0] < '0' || num[0] > '9' || p > max) {
            snprintf(why, why_len, "\"%.*s\" has no valid prefix length (0 to %u)", (int)len, text, max);
            return -1;
        }
        out->prefix = (unsigned)p;
    }
    /* Clear the host bits, so that 10.1.2.3/8 means 10.0.0.0/8. */
    size_t nbytes = max / 8;
    for (size_t i = 0; i < nbytes; i++) {
        unsigned bits_before = (unsigned)i * 8;
        if (bits_before >= out->prefix)
            out->addr[i] = 0;
        else if (out->prefix - bits_before < 8)
            out->addr[i] &= (unsigned char)(0xff << (8 - (out->prefix - bits_before)));
    }
    return 0;
}

int gw_cidr_parse_list(const char *text, gw_cidr_list_t *out, char *why, size_t why_len)
{
    out->n = 0;
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            if (out->n == GW_MAX_CIDRS) {
                snprintf(why, why_len, "more than %d ranges", GW_MAX_CIDRS);
                return -1;
            }
            if (parse_one(p, len, &out->items[out->n], why, why_len) != 0)
                return -1;
            out->n++;
        }
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int gw_cidr_list_contains(const gw_cidr_list_t *list, const struct sockaddr *sa)
{
    unsigned char addr[16];
    int family = address_bytes(sa, addr);
    for (size_t i = 0; i < list->n; i++) {
        const gw_cidr_t *c = &list->items[i];
        if (c->family != family)
            continue;
        unsigned full = c->prefix / 8, rest = c->prefix % 8;
        if (memcmp(addr, c->addr, full) != 0)
            continue;
        if (rest != 0 && (addr[full] & (unsigned char)(0xff << (8 - rest))) != c->addr[full])
            continue;
        return 1;
    }
    return 0;
}

void gw_cidr_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    unsigned char addr[16];
    int family = address_bytes(sa, addr);
    if (family < 0 || inet_ntop(family, addr, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}
