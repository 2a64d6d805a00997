/*
 * SCIM error values and their JSON body (RFC 7644 §3.12).
 */
#include "scim/error.h"

#include <stdarg.h>
#include <stdio.h>

/* Details quote client input; keeping them printable ASCII keeps the JSON body valid UTF-8 even
 * when vsnprintf truncates in the middle of a multi-byte sequence, and keeps log lines whole. */
static void sanitize(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
    }
}

int scim_error_set(scim_error_t *err, int status, const char *scim_type, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->status = status;
    err->scim_type = scim_type;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    sanitize(err->detail);
    return -1;
}

json_t *scim_error_to_json(const scim_error_t *err)
{
    char status[16];
    json_t *body;

    /* RFC 7644 §3.12 defines "status" as a string, unlike the integers of ListResponse. */
    snprintf(status, sizeof(status), "%d", err->status != 0 ? err->status : 500);
    body = json_pack("{s:[s],s:s}", "schemas", SCIM_SCHEMA_ERROR, "status", status);
    if (err->scim_type != NULL)
        json_object_set_new(body, "scimType", json_string(err->scim_type));
    if (err->detail[0] != '\0')
        json_object_set_new(body, "detail", json_string(err->detail));
    return body;
}
