/*
 * SCIM errors (RFC 7644 §3.12) as values.
 *
 * Every scim/ function that can fail takes a `scim_error_t *err` and, on failure, fills it and
 * returns -1 (or NULL). The gateway turns it into a response with scim_error_to_json(); it is the
 * only place that does.
 */
#ifndef SCIM_ERROR_H
#define SCIM_ERROR_H

#include <jansson.h>

#define SCIM_ERROR_DETAIL_MAX 256

/* scimType values of RFC 7644 §3.12, table 9. */
#define SCIM_TYPE_INVALID_FILTER "invalidFilter"
#define SCIM_TYPE_TOO_MANY       "tooMany"
#define SCIM_TYPE_UNIQUENESS     "uniqueness"
#define SCIM_TYPE_MUTABILITY     "mutability"
#define SCIM_TYPE_INVALID_SYNTAX "invalidSyntax"
#define SCIM_TYPE_INVALID_PATH   "invalidPath"
#define SCIM_TYPE_NO_TARGET      "noTarget"
#define SCIM_TYPE_INVALID_VALUE  "invalidValue"
#define SCIM_TYPE_INVALID_VERS   "invalidVers"
#define SCIM_TYPE_SENSITIVE      "sensitive"

#define SCIM_SCHEMA_ERROR "urn:ietf:params:scim:api:messages:2.0:Error"

typedef struct scim_error {
    int status;                         /** HTTP status; 0 while no error was set */
    const char *scim_type;              /** one of SCIM_TYPE_* (static) or NULL */
    char detail[SCIM_ERROR_DETAIL_MAX]; /** human-readable; never contains secrets */
} scim_error_t;

/** Fills `err` (when not NULL). Always returns -1 so that callers can `return scim_error_set(...)`. */
int scim_error_set(scim_error_t *err, int status, const char *scim_type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Returns a new reference: {"schemas":[Error URN],"status":"400","scimType":...,"detail":...}. */
json_t *scim_error_to_json(const scim_error_t *err);

#endif
