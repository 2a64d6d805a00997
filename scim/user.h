/*
 * The SCIM User resource (RFC 7643 §4.1 core schema + §4.3 enterprise extension).
 *
 * A *canonical user* is a jansson object that holds only attributes the schemas define, under
 * their canonical names ("userName", "name": {"givenName"...}, "emails": [...], and the
 * enterprise extension under its full URN key). It holds no "schemas", "id" or "meta" (the
 * gateway keeps those itself), nothing readOnly ("groups") and nothing writeOnly ("password":
 * the gateway never stores passwords). Booleans are JSON booleans. It is what the store keeps
 * and what PATCH operates on.
 *
 * Ownership: every function returning json_t * returns a new reference the caller must
 * json_decref(); `const json_t *` arguments are borrowed; const char * results point into the
 * borrowed object and live as long as it does.
 */
#ifndef SCIM_USER_H
#define SCIM_USER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "scim/error.h"
#include "common/json.h"

/**
 * Turns a POST/PUT body (or an already canonical user, e.g. after PATCH) into a canonical user.
 * Attribute names and schema URNs match case-insensitively; readOnly attributes (id, meta,
 * groups, schemas) and attributes no schema defines are dropped; "True"/"False" strings are
 * accepted for booleans; the enterprise manager may be a bare string (taken as its value).
 * On error (400 invalidSyntax for a non-object body, 400 invalidValue for a missing or empty
 * userName, a value of the wrong type, or a user beyond SCIM_USER_MAX_EMAILS,
 * SCIM_USER_MAX_STRING_BYTES, SCIM_USER_MAX_VALUES or SCIM_USER_MAX_BYTES) returns NULL and fills
 * `err`.
 */
GW_MUST_CHECK json_t *scim_user_parse(const json_t *body, scim_error_t *err);

/** userName of a canonical user (never NULL for a parsed user). */
const char *scim_user_name(const json_t *user);
/** externalId or NULL. */
const char *scim_user_external_id(const json_t *user);
/** 1 when "active" is true or absent, 0 when false. */
int scim_user_active(const json_t *user);

/** Which email address Odeus sees (the gateway's --odeus-email-from option picks one). */
typedef enum scim_email_source {
    SCIM_EMAIL_PRIMARY_WORK_USERNAME, /** default: primary email, else type work, else userName if it is an email */
    SCIM_EMAIL_WORK_PRIMARY_USERNAME, /** type work first, then primary, then userName */
    SCIM_EMAIL_USERNAME,              /** userName only (when it is an email address) */
} scim_email_source_t;

/** The email Odeus should see, or NULL when the user has none that looks like an email address. */
const char *scim_user_odeus_email(const json_t *user, scim_email_source_t source);

/**
 * The highest Odeus role (admin > editor > member) named anywhere in the user's "roles": every
 * value, primary or not (Entra's AppRoleAssignmentsComplex sends several, none primary). A value
 * is a role name compared case-insensitively ("Admin"), or JSON text as Entra sends on PATCH with
 * AppRoleAssignmentsComplex ("{\"id\":\"…\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"):
 * its "value" names the role, else its "displayName"; a JSON array of such objects or names is
 * read element by element. Names that are no Odeus role are ignored. Returns "member", "editor" or
 * "admin" (static strings), or NULL when no value names one, so that the caller can fall back to
 * group roles or its default.
 */
const char *scim_user_odeus_role_from_roles(const json_t *user);

/** scim_user_odeus_role_from_roles(user), or `default_role` when it is NULL. */
const char *scim_user_odeus_role(const json_t *user, const char *default_role);

/**
 * A user may have at most this many `emails` (every one is indexed for `emails.value` filters and
 * the seat rule); scim_user_parse answers 400 invalidValue beyond it. README, "Limits".
 */
#define SCIM_USER_MAX_EMAILS 64

/**
 * A string value anywhere in a user (userName, name.givenName, emails.value, the enterprise
 * department, a base64 x509Certificates.value...) has at most this many bytes (UTF-8, after JSON
 * unescaping). Okta and Entra send names, emails, titles and ids well under 1 KB; 4 KiB leaves
 * four times that, fits a typical base64 DER certificate, and is the filter length bound
 * (SCIM_FILTER_MAX_LEN), so every stored value can still be named in full by an `eq` filter.
 * It bounds what one `co`/`sw`/`ew` comparison or PATCH value filter reads. scim_user_parse
 * answers 400 invalidValue beyond it. README, "Limits".
 */
#define SCIM_USER_MAX_STRING_BYTES 4096

/**
 * Any other multi-valued attribute (phoneNumbers, addresses, roles, entitlements, ims, photos,
 * x509Certificates) has at most this many entries: IdPs send a handful, and every PATCH value
 * filter and `co` filter walks them all. scim_user_parse answers 400 invalidValue beyond it.
 * README, "Limits".
 */
#define SCIM_USER_MAX_VALUES 100

/**
 * The whole canonical user (what the store keeps) is at most this many bytes as compact JSON:
 * the string and entry caps alone would still let one user reach megabytes, and every list and
 * filter reads the stored users. 64 KiB is some fifty times what an Okta or Entra user with the
 * enterprise extension takes. scim_user_parse answers 400 invalidValue beyond it (RFC 7644 §3.12
 * has no scimType for a resource that is too large; 413 is for the request body, whose own cap,
 * --max-body-bytes, is checked before). README, "Limits".
 */
#define SCIM_USER_MAX_BYTES 65536

/** Stores up to `max` email "value" strings of the user in `out`; returns how many there are in all. */
size_t scim_user_email_values(const json_t *user, const char **out, size_t max);

/** What the gateway keeps beside the canonical user, for rendering. All borrowed. */
typedef struct scim_user_meta {
    const char *id;            /** UUID v4 */
    const char *created;       /** RFC 3339 UTC, e.g. 2026-11-27T10:00:00.123Z */
    const char *last_modified; /** same format */
    const char *location;      /** absolute URL of the resource */
    int64_t version;           /** rendered as meta.version W/"<version>" */
} scim_user_meta_t;

/**
 * The resource as the IdP sees it: "schemas" (core, plus the enterprise URN when that extension
 * has attributes), "id", every canonical attribute, "active" always present, and "meta"
 * {resourceType "User", created, lastModified, location, version}.
 */
json_t *scim_user_render(const json_t *user, const scim_user_meta_t *meta);

/**
 * The compact JSON text (JSON_COMPACT | JSON_PRESERVE_ORDER) of scim_user_render(user, meta)
 * without its "meta" member, for a meta whose id is `id`: what the store keeps beside the
 * canonical user so that reads need not parse and render it. malloc'd (free()).
 */
char *scim_user_render_text(const json_t *user, const char *id);

/**
 * Writes the full rendering from a scim_user_render_text() text (`stored`, `stored_len` bytes):
 * `stored` with its closing '}' replaced by ,"meta":{...}}. The result is byte-identical to
 * json_dumps(scim_user_render(user, meta), JSON_COMPACT | JSON_PRESERVE_ORDER), meta strings
 * escaped as jansson escapes them (a NULL string, or one that is not valid UTF-8 and that
 * json_string() would refuse, gives no member, as in scim_user_render).
 * Appends it to `out`; -1 when `stored` is not the text of a JSON object (nothing appended) or
 * `out` had already failed (out->failed).
 */
GW_MUST_CHECK int scim_user_splice_meta(gw_json_buf_t *out, const char *stored, size_t stored_len, const scim_user_meta_t *meta);

/** The weak ETag text for a version: W/"<version>", written to buf (returns buf). */
char *scim_user_etag(int64_t version, char *buf, size_t len);

/**
 * 1 when an If-Match / If-None-Match header value (`len` bytes: "*" or a comma-separated list of
 * entity-tags) names `version`, else 0. Tags compare weakly (RFC 7232 §2.3.2: W/ is ignored),
 * since every SCIM version is a weak ETag (RFC 7644 §3.14). A malformed list matches nothing.
 */
int scim_etag_matches(const char *header, size_t len, int64_t version);

#endif
