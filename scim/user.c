/*
 * The User resource: canonicalize what IdPs send, render what they read back. See user.h.
 */
#include "scim/user.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "scim/schema.h"

/* Stores the canonical value of `attr` in `out`, or nothing when the value amounts to nothing. */
static int put_attr(json_t *out, const scim__attr_t *attr, const json_t *v, scim_error_t *err)
{
    json_t *c;

    /* readOnly values are the server's to set, and the password is never kept (writeOnly). */
    if (attr->mutability == SCIM__MUT_READ_ONLY || attr->mutability == SCIM__MUT_WRITE_ONLY)
        return 0;
    c = scim__value_canon(attr, NULL, v, err);
    if (c == NULL)
        return -1;
    if (json_is_null(c))
        json_object_del(out, attr->name);
    else
        json_object_set_new(out, attr->name, c);
    return 0;
}

static json_t *ext_object(json_t *out)
{
    json_t *ext = json_object_get(out, SCIM_SCHEMA_ENTERPRISE_USER);
    if (ext == NULL) {
        ext = json_object();
        json_object_set_new(out, SCIM_SCHEMA_ENTERPRISE_USER, ext);
    }
    return ext;
}

static int put_extension(json_t *out, const json_t *v, scim_error_t *err)
{
    const char *k;
    json_t *sv;

    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an object", SCIM_SCHEMA_ENTERPRISE_USER);
    json_object_foreach((json_t *)v, k, sv)
    {
        const scim__attr_t *attr = scim__attr_find_scoped(SCIM__SCOPE_ENTERPRISE, k, strlen(k));
        if (attr != NULL && put_attr(ext_object(out), attr, sv, err) != 0)
            return -1;
    }
    return 0;
}

/* One member of the body: core, common, URN-qualified, the extension object, or ignored. */
static int put_member(json_t *out, const char *key, const json_t *v, scim_error_t *err)
{
    scim__scope_t scope;
    const char *name;
    size_t name_len;
    const scim__attr_t *attr;

    scim__split_urn(key, strlen(key), &scope, &name, &name_len);
    if (scope == SCIM__SCOPE_ENTERPRISE && name_len == 0)
        return put_extension(out, v, err);
    attr = scim__attr_find_scoped(scope, name, name_len);
    if (attr == NULL)
        return 0;
    if (scope == SCIM__SCOPE_ENTERPRISE)
        return put_attr(ext_object(out), attr, v, err);
    return put_attr(out, attr, v, err);
}

static int is_blank(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!isspace((unsigned char)*s))
            return 0;
    }
    return 1;
}

/*
 * The caps of user.h, checked in one walk that allocates and formats nothing unless a cap is
 * exceeded (it runs on every POST, PUT and PATCH). `at` is the chain of names down to `v`, for
 * the error's detail only; `size` adds up the bytes json_dumps(JSON_COMPACT) would write.
 */
typedef struct cap_path {
    const struct cap_path *up;
    const char *name;
} cap_path_t;

static void cap_path_format(const cap_path_t *at, char *buf, size_t len)
{
    if (at == NULL || at->name == NULL) {
        buf[0] = '\0';
        return;
    }
    cap_path_format(at->up, buf, len);
    size_t used = strlen(buf);
    /* urn:...:User:department as RFC 7644 §3.10 writes it, then name.givenName or manager.value */
    const char *sep = used == 0 ? "" : strcmp(buf, SCIM_SCHEMA_ENTERPRISE_USER) == 0 ? ":" : ".";
    snprintf(buf + used, len - used, "%s%s", sep, at->name);
}

/* `fmt` takes the path, the size found and the cap, in that order. */
static int cap_error(scim_error_t *err, const cap_path_t *at, const char *fmt, size_t n, int cap)
{
    char path[256];
    cap_path_format(at, path, sizeof(path));
    return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, fmt, path, n, cap);
}

/* A string's bytes as jansson writes it: quoted, with '"', '\\' and control characters escaped. */
static size_t json_text_size(const char *t, size_t n)
{
    size_t size = n + 2;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            size += 1;
        else if (c < 0x20)
            size += 5;
    }
    return size;
}

static size_t json_scalar_size(const json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return (size_t)snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        size_t n = text != NULL ? strlen(text) : 0;
        free(text);
        return n;
    }
    case JSON_TRUE:
    case JSON_NULL:
        return 4;
    default:
        return 5; /* false */
    }
}

static int check_value_caps(const json_t *v, const cap_path_t *at, size_t *size, scim_error_t *err)
{
    const char *k;
    json_t *e;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (json_string_length(v) > SCIM_USER_MAX_STRING_BYTES)
            return cap_error(err, at, "%s is %zu bytes; a string may have at most %d (SCIM_USER_MAX_STRING_BYTES)",
                             json_string_length(v), SCIM_USER_MAX_STRING_BYTES);
        *size += json_text_size(json_string_value(v), json_string_length(v));
        return 0;
    case JSON_ARRAY:
        if (json_array_size(v) > SCIM_USER_MAX_VALUES)
            return cap_error(err, at, "%s has %zu values; an attribute may have at most %d (SCIM_USER_MAX_VALUES)",
                             json_array_size(v), SCIM_USER_MAX_VALUES);
        *size += json_array_size(v) > 0 ? 1 + json_array_size(v) : 2; /* brackets and commas */
        json_array_foreach(v, i, e)
        {
            if (check_value_caps(e, at, size, err) != 0)
                return -1;
        }
        return 0;
    case JSON_OBJECT:
        *size += json_object_size(v) > 0 ? 1 + json_object_size(v) : 2; /* braces and commas */
        json_object_foreach((json_t *)v, k, e)
        {
            cap_path_t sub = {at, k};
            *size += json_text_size(k, strlen(k)) + 1; /* "key": */
            if (check_value_caps(e, &sub, size, err) != 0)
                return -1;
        }
        return 0;
    default:
        *size += json_scalar_size(v);
        return 0;
    }
}

/* The caps of user.h on a canonical user: 0, or -1 with 400 invalidValue in `err`. */
static int check_caps(const json_t *user, scim_error_t *err)
{
    size_t size = 0;

    if (json_array_size(json_object_get(user, "emails")) > SCIM_USER_MAX_EMAILS)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "a user may have at most %d emails", SCIM_USER_MAX_EMAILS);
    if (check_value_caps(user, NULL, &size, err) != 0)
        return -1;
    if (size > SCIM_USER_MAX_BYTES)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE,
                              "the user is more than %d bytes as compact JSON; a user may have at most that (SCIM_USER_MAX_BYTES)",
                              SCIM_USER_MAX_BYTES);
    return 0;
}

json_t *scim_user_parse(const json_t *body, scim_error_t *err)
{
    json_t *out = NULL;
    json_t *ext, *user_name;
    const char *k;
    json_t *v;

    if (!json_is_object(body)) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the User resource must be a JSON object");
        return NULL;
    }
    out = json_object();
    json_object_foreach((json_t *)body, k, v)
    {
        if (put_member(out, k, v, err) != 0)
            goto fail;
    }
    ext = json_object_get(out, SCIM_SCHEMA_ENTERPRISE_USER);
    if (ext != NULL && json_object_size(ext) == 0)
        json_object_del(out, SCIM_SCHEMA_ENTERPRISE_USER);
    if (check_caps(out, err) != 0)
        goto fail;
    user_name = json_object_get(out, "userName");
    if (!json_is_string(user_name) || is_blank(json_string_value(user_name))) {
        scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "userName is required and must be a non-empty string");
        goto fail;
    }
    return out;

fail:
    json_decref(out);
    return NULL;
}

const char *scim_user_name(const json_t *user)
{
    return json_string_value(json_object_get(user, "userName"));
}

const char *scim_user_external_id(const json_t *user)
{
    return json_string_value(json_object_get(user, "externalId"));
}

int scim_user_active(const json_t *user)
{
    return json_is_false(json_object_get(user, "active")) ? 0 : 1;
}

/* Exactly one '@', a non-empty local part, a domain with an inner '.', no spaces or controls. */
static int looks_like_email(const char *s)
{
    const char *at = NULL;
    const char *p;
    size_t dlen;

    if (s == NULL)
        return 0;
    for (p = s; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
        if (*p == '@') {
            if (at != NULL)
                return 0;
            at = p;
        }
    }
    if (at == NULL || at == s)
        return 0;
    dlen = strlen(at + 1);
    if (dlen < 3 || at[1] == '.' || at[dlen] == '.')
        return 0;
    return strchr(at + 1, '.') != NULL;
}

static const char *email_where(const json_t *user, int want_primary)
{
    json_t *emails = json_object_get(user, "emails");
    size_t i;
    json_t *e;

    json_array_foreach(emails, i, e)
    {
        const char *value = json_string_value(json_object_get(e, "value"));
        const char *type = json_string_value(json_object_get(e, "type"));
        int hit = want_primary ? json_is_true(json_object_get(e, "primary")) : type != NULL && scim__str_ieq(type, "work");
        if (hit && looks_like_email(value))
            return value;
    }
    return NULL;
}

static const char *user_name_email(const json_t *user)
{
    const char *name = scim_user_name(user);
    return looks_like_email(name) ? name : NULL;
}

const char *scim_user_odeus_email(const json_t *user, scim_email_source_t source)
{
    const char *email = NULL;

    switch (source) {
    case SCIM_EMAIL_PRIMARY_WORK_USERNAME:
        email = email_where(user, 1);
        if (email == NULL)
            email = email_where(user, 0);
        break;
    case SCIM_EMAIL_WORK_PRIMARY_USERNAME:
        email = email_where(user, 0);
        if (email == NULL)
            email = email_where(user, 1);
        break;
    case SCIM_EMAIL_USERNAME:
        break;
    }
    return email != NULL ? email : user_name_email(user);
}

static const char *const odeus_roles[] = {"member", "editor", "admin"}; /* lowest first */

/* The rank of a role name in odeus_roles, or -1 when it names none. */
static int role_rank(const char *name)
{
    int i;

    if (name == NULL)
        return -1;
    for (i = (int)(sizeof(odeus_roles) / sizeof(odeus_roles[0])) - 1; i >= 0; i--) {
        if (scim__str_ieq(name, odeus_roles[i]))
            return i;
    }
    return -1;
}

/* An Entra app role object ({"id", "value", "displayName"}) or a bare name inside decoded JSON text. */
static int decoded_rank(const json_t *j)
{
    int r;

    if (json_is_string(j))
        return role_rank(json_string_value(j));
    if (!json_is_object(j))
        return -1;
    r = role_rank(json_string_value(scim__obj_get_ci(j, "value", strlen("value"), NULL)));
    return r >= 0 ? r : role_rank(json_string_value(scim__obj_get_ci(j, "displayName", strlen("displayName"), NULL)));
}

/* The rank one "roles" value names: the name itself, or the role inside JSON text. */
static int value_rank(const char *value)
{
    int r = role_rank(value);
    json_t *j, *e;
    size_t i;

    if (r >= 0 || value == NULL || (value[0] != '{' && value[0] != '['))
        return r;
    /* Entra's AppRoleAssignmentsComplex PATCH values; the string cap bounds what is decoded. */
    j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_array(j)) {
        json_array_foreach(j, i, e)
        {
            int er = decoded_rank(e);
            r = er > r ? er : r;
        }
    } else {
        r = decoded_rank(j);
    }
    json_decref(j);
    return r;
}

const char *scim_user_odeus_role_from_roles(const json_t *user)
{
    json_t *roles = json_object_get(user, "roles");
    int best = -1;
    size_t i;
    json_t *e;

    json_array_foreach(roles, i, e)
    {
        int r = value_rank(json_string_value(json_object_get(e, "value")));
        best = r > best ? r : best;
    }
    return best >= 0 ? odeus_roles[best] : NULL;
}

const char *scim_user_odeus_role(const json_t *user, const char *default_role)
{
    const char *role = scim_user_odeus_role_from_roles(user);
    return role != NULL ? role : default_role;
}

size_t scim_user_email_values(const json_t *user, const char **out, size_t max)
{
    json_t *emails = json_object_get(user, "emails");
    size_t n = 0;
    size_t i;
    json_t *e;

    json_array_foreach(emails, i, e)
    {
        const char *value = json_string_value(json_object_get(e, "value"));
        if (value == NULL)
            continue;
        if (n < max)
            out[n] = value;
        n++;
    }
    return n;
}

char *scim_user_etag(int64_t version, char *buf, size_t len)
{
    snprintf(buf, len, "W/\"%" PRId64 "\"", version);
    return buf;
}

int scim_etag_matches(const char *h, size_t len, int64_t version)
{
    char want[32];
    size_t i = 0, wlen = (size_t)snprintf(want, sizeof(want), "%" PRId64, version);

    for (;;) {
        while (i < len && (h[i] == ' ' || h[i] == '\t' || h[i] == ','))
            i++;
        if (i >= len)
            return 0;
        if (h[i] == '*')
            return 1;
        if (i + 1 < len && h[i] == 'W' && h[i + 1] == '/')
            i += 2;
        if (i >= len || h[i] != '"')
            return 0;
        size_t start = ++i;
        while (i < len && h[i] != '"')
            i++;
        if (i >= len)
            return 0;
        if (i - start == wlen && memcmp(h + start, want, wlen) == 0)
            return 1;
        i++;
    }
}

static void set_string(json_t *obj, const char *key, const char *value)
{
    if (value != NULL)
        json_object_set_new(obj, key, json_string(value));
}

static json_t *render_meta(const scim_user_meta_t *meta)
{
    char etag[40];
    json_t *m = json_pack("{s:s}", "resourceType", "User");

    set_string(m, "created", meta->created);
    set_string(m, "lastModified", meta->last_modified);
    set_string(m, "location", meta->location);
    set_string(m, "version", scim_user_etag(meta->version, etag, sizeof(etag)));
    return m;
}

/* Adds `v` to `out` under `key`: a deep copy, or (`share`) a new reference to the same value. */
static void put_value(json_t *out, const char *key, json_t *v, int share)
{
    json_object_set_new(out, key, share ? json_incref(v) : json_deep_copy(v));
}

/*
 * The rendering without "meta". `share` makes the members references into `user` instead of deep
 * copies: only for a rendering that is dumped and released at once, never modified.
 *
 * The store keeps this text (scim_user_render_text) beside each user and reads answer from it: a
 * change to what is written here must come with a store migration that clears users.rendered
 * (UPDATE users SET rendered = NULL), or old rows keep answering with the old rendering.
 */
static json_t *render_body(const json_t *user, const char *id, int share)
{
    json_t *out = json_object();
    json_t *schemas = json_pack("[s]", SCIM_SCHEMA_USER);
    json_t *ext = json_object_get(user, SCIM_SCHEMA_ENTERPRISE_USER);
    json_t *v;
    size_t i;

    if (json_object_size(ext) > 0)
        json_array_append_new(schemas, json_string(SCIM_SCHEMA_ENTERPRISE_USER));
    json_object_set_new(out, "schemas", schemas);
    set_string(out, "id", id);
    v = json_object_get(user, "externalId");
    if (v != NULL)
        put_value(out, "externalId", v, share);
    /* Deep copies (unless `share`): the caller may trim or extend the rendering without touching
     * the stored user. Schema order, so that two renders of one user are byte-identical. */
    for (i = 0; i < scim__schema_user.n_attrs; i++) {
        const scim__attr_t *attr = &scim__schema_user.attrs[i];
        if (attr->returned == SCIM__RET_NEVER)
            continue;
        v = json_object_get(user, attr->name);
        if (v != NULL)
            put_value(out, attr->name, v, share);
    }
    if (json_object_get(out, "active") == NULL)
        json_object_set_new(out, "active", json_true());
    if (json_object_size(ext) > 0)
        put_value(out, SCIM_SCHEMA_ENTERPRISE_USER, ext, share);
    return out;
}

json_t *scim_user_render(const json_t *user, const scim_user_meta_t *meta)
{
    json_t *out = render_body(user, meta->id, 0);
    json_object_set_new(out, "meta", render_meta(meta));
    return out;
}

char *scim_user_render_text(const json_t *user, const char *id)
{
    json_t *body = render_body(user, id, 1);
    char *text = body != NULL ? gw_json_dumps(body, NULL) : NULL;
    json_decref(body);
    return text;
}

/* ---- splicing "meta" into a stored rendering ---- */

/*
 * 1 when `s` is a string json_string() accepts: valid UTF-8 as jansson's utf8_check_string sees
 * it (no overlong forms, no surrogates, nothing above U+10FFFF). jansson renders no member for a
 * string it refuses (json_string() returns NULL and json_object_set_new() stores nothing).
 */
static int valid_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char u = s[i];
        size_t n;
        uint32_t cp;
        if (u < 0x80) {
            i++;
            continue;
        }
        if (u >= 0xC2 && u <= 0xDF)
            n = 2, cp = u & 0x1F;
        else if (u >= 0xE0 && u <= 0xEF)
            n = 3, cp = u & 0x0F;
        else if (u >= 0xF0 && u <= 0xF4)
            n = 4, cp = u & 0x07;
        else
            return 0;
        if (n > len - i)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
            return 0;
        i += n;
    }
    return 1;
}

/*
 * 1 when some byte of `s` needs more than a copy: a control character, '"' or '\\' (escaped), or a
 * byte >= 0x80 (the string must then be checked as UTF-8). Eight bytes at a time: meta strings are
 * almost always plain ASCII.
 */
static int needs_care(const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        /* per byte: below 0x20, equal to '"', equal to '\\' (each exact), or the high bit set */
        if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & highs)
            return 1;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            return 1;
    }
    return 0;
}

/*
 * `head` (,"key":") then the value and its closing quote; nothing at all when the value is NULL or a
 * string jansson would refuse.
 */
static void out_member(gw_json_buf_t *o, const char *head, size_t head_len, const char *value)
{
    size_t len;
    if (value == NULL)
        return;
    len = strlen(value);
    if (!needs_care(value, len)) {
        gw_json_buf_put(o, head, head_len);
        gw_json_buf_put(o, value, len);
        gw_json_buf_put(o, "\"", 1);
        return;
    }
    if (!valid_utf8((const unsigned char *)value, len))
        return;
    gw_json_buf_put(o, head, head_len - 1); /* the string comes with its opening quote */
    gw_json_buf_string(o, value, len);
}

#define OUT_LIT(o, lit)           gw_json_buf_put((o), (lit), sizeof(lit) - 1)
#define OUT_MEMBER(o, key, value) out_member((o), ",\"" key "\":\"", sizeof(",\"" key "\":\"") - 1, (value))

/* meta.version: W/"<version>" as a JSON string, W/\"<version>\", as scim_user_etag and jansson write it. */
static void out_version(gw_json_buf_t *o, int64_t version)
{
    OUT_LIT(o, ",\"version\":\"W/\\\"");
    gw_json_buf_integer(o, (json_int_t)version);
    OUT_LIT(o, "\\\"\"");
}

int scim_user_splice_meta(gw_json_buf_t *out, const char *stored, size_t stored_len, const scim_user_meta_t *meta)
{
    if (stored_len < 2 || stored[0] != '{' || stored[stored_len - 1] != '}')
        return -1;
    gw_json_buf_put(out, stored, stored_len - 1);
    if (stored_len > 2)
        OUT_LIT(out, ",");
    /* render_meta's members, in its order; resourceType is first, so the others start with ',' */
    OUT_LIT(out, "\"meta\":{\"resourceType\":\"User\"");
    OUT_MEMBER(out, "created", meta->created);
    OUT_MEMBER(out, "lastModified", meta->last_modified);
    OUT_MEMBER(out, "location", meta->location);
    out_version(out, meta->version);
    OUT_LIT(out, "}}");
    return out->failed ? -1 : 0;
}
