/*
 * List query parameters and the ListResponse (RFC 7644 §3.4.2). See list.h.
 */
#include "scim/list.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "scim/schema.h"

/* Keeps start_index - 1 + count far from overflow in whoever pages with it. */
#define LIST_MAX_START_INDEX 2147483647ULL

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* application/x-www-form-urlencoded decoding into a new NUL-terminated string. NULL when a '%'
 * is not followed by two hex digits, or decodes to NUL (the filter parser works on C strings). */
static char *url_decode(const char *s, size_t len, size_t *out_len)
{
    char *d = gw_malloc(len + 1);
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '+') {
            d[n++] = ' ';
            continue;
        }
        if (s[i] != '%') {
            d[n++] = s[i];
            continue;
        }
        hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
        lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return NULL;
        }
        d[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[n] = '\0';
    *out_len = n;
    return d;
}

/* An optionally signed decimal integer, saturating at ±LIST_MAX_START_INDEX; -1 when not one. */
static int parse_int(const char *s, long long *out)
{
    int neg = 0;
    unsigned long long v = 0;

    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v < LIST_MAX_START_INDEX)
            v = v * 10 + (unsigned long long)(*s - '0');
    }
    if (v > LIST_MAX_START_INDEX)
        v = LIST_MAX_START_INDEX;
    *out = neg ? -(long long)v : (long long)v;
    return 0;
}

/* The string parameters: where each is kept. */
static char **string_param(scim_list_params_t *out, const char *name)
{
    if (scim__str_ieq(name, "attributes"))
        return &out->attributes;
    if (scim__str_ieq(name, "excludedAttributes"))
        return &out->excluded_attributes;
    if (scim__str_ieq(name, "sortBy"))
        return &out->sort_by;
    if (scim__str_ieq(name, "sortOrder"))
        return &out->sort_order;
    return NULL;
}

static void set_count(scim_list_params_t *out, int is_start, long long n)
{
    if (n > (long long)LIST_MAX_START_INDEX)
        n = (long long)LIST_MAX_START_INDEX;
    if (is_start)
        out->start_index = n < 1 ? 1 : (size_t)n;
    else
        out->count = n < 0 ? 0 : n > SCIM_LIST_MAX_COUNT ? SCIM_LIST_MAX_COUNT : (size_t)n;
}

static int set_param(scim_list_params_t *out, const char *name, char *value, size_t value_len, scim_error_t *err)
{
    long long n;
    char **slot;

    if (scim__str_ieq(name, "filter")) {
        free(out->filter);
        out->filter = value;
        out->filter_len = value_len;
        return 0;
    }
    if ((slot = string_param(out, name)) != NULL) {
        /* Decoded text ends at its first NUL (url_decode refuses %00), so strlen is its length. */
        free(*slot);
        *slot = value;
        return 0;
    }
    if (scim__str_ieq(name, "startIndex") || scim__str_ieq(name, "count")) {
        int is_start = scim__str_ieq(name, "startIndex");
        if (parse_int(value, &n) != 0) {
            scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an integer", is_start ? "startIndex" : "count");
            free(value);
            return -1;
        }
        set_count(out, is_start, n);
    }
    free(value);
    return 0;
}

/* One "name=value" pair. */
static int parse_pair(scim_list_params_t *out, const char *s, size_t len, scim_error_t *err)
{
    const char *eq = memchr(s, '=', len);
    size_t name_len = eq != NULL ? (size_t)(eq - s) : len;
    size_t n, value_len;
    char *name, *value;
    int rc;

    name = url_decode(s, name_len, &n);
    value = eq != NULL ? url_decode(eq + 1, len - name_len - 1, &value_len) : url_decode("", 0, &value_len);
    if (name == NULL || value == NULL) {
        free(name);
        free(value);
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "bad percent-encoding in the query string");
    }
    rc = set_param(out, name, value, value_len, err);
    free(name);
    return rc;
}

int scim_list_params_parse(const char *query, size_t len, scim_list_params_t *out, scim_error_t *err)
{
    size_t i = 0;

    memset(out, 0, sizeof(*out));
    out->start_index = 1;
    out->count = SCIM_LIST_DEFAULT_COUNT;
    while (query != NULL && i < len) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        if (end > i && parse_pair(out, query + i, end - i, err) != 0)
            return -1;
        i = end + 1;
    }
    return 0;
}

void scim_list_params_clear(scim_list_params_t *params)
{
    free(params->filter);
    free(params->attributes);
    free(params->excluded_attributes);
    free(params->sort_by);
    free(params->sort_order);
    memset(params, 0, sizeof(*params));
}

static char *dup_string(const json_t *v)
{
    char *s = gw_malloc(json_string_length(v) + 1);
    memcpy(s, json_string_value(v), json_string_length(v) + 1);
    return s;
}

/* An array of attribute names, joined with ','. */
static int join_names(const json_t *v, const char *what, char **out, scim_error_t *err)
{
    size_t i, len = 0;
    json_t *e;
    char *s;

    if (!json_is_array(v))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an array of strings", what);
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) == 0 || memchr(json_string_value(e), ',', json_string_length(e)) != NULL ||
            strlen(json_string_value(e)) != json_string_length(e))
            return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an array of attribute names", what);
        len += json_string_length(e) + 1;
    }
    if (len == 0)
        return 0;
    s = gw_malloc(len);
    s[0] = '\0';
    json_array_foreach(v, i, e)
    {
        if (i > 0)
            strcat(s, ",");
        strcat(s, json_string_value(e));
    }
    free(*out);
    *out = s;
    return 0;
}

int scim_list_params_from_search(const json_t *body, scim_list_params_t *out, scim_error_t *err)
{
    const char *k;
    json_t *v, *schemas;
    size_t i;
    int found = 0;

    memset(out, 0, sizeof(*out));
    out->start_index = 1;
    out->count = SCIM_LIST_DEFAULT_COUNT;
    if (!json_is_object(body))
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "the body must be a SearchRequest object");
    schemas = scim__obj_get_ci(body, "schemas", 7, NULL);
    json_array_foreach(schemas, i, v)
    {
        if (json_is_string(v) && scim__str_ieq(json_string_value(v), SCIM_SCHEMA_SEARCH_REQUEST))
            found = 1;
    }
    if (!found)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_SYNTAX, "schemas must list %s", SCIM_SCHEMA_SEARCH_REQUEST);
    json_object_foreach((json_t *)body, k, v)
    {
        char **slot = string_param(out, k);
        int is_start = scim__str_ieq(k, "startIndex");
        if (json_is_null(v) || scim__str_ieq(k, "schemas"))
            continue;
        if (is_start || scim__str_ieq(k, "count")) {
            if (!json_is_integer(v))
                return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be an integer",
                                      is_start ? "startIndex" : "count");
            set_count(out, is_start, json_integer_value(v));
        } else if (scim__str_ieq(k, "attributes") || scim__str_ieq(k, "excludedAttributes")) {
            if (join_names(v, k, slot, err) != 0)
                return -1;
        } else if (scim__str_ieq(k, "filter") || slot != NULL) {
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be a string", k);
            if (slot != NULL) {
                free(*slot);
                *slot = dup_string(v);
            } else {
                free(out->filter);
                out->filter = dup_string(v);
                out->filter_len = json_string_length(v);
            }
        }
    }
    return 0;
}

json_t *scim_list_render(json_t *resources, size_t total_results, size_t start_index)
{
    if (!json_is_array(resources)) {
        json_decref(resources);
        resources = json_array();
    }
    return json_pack("{s:[s],s:I,s:I,s:I,s:o}", "schemas", SCIM_SCHEMA_LIST_RESPONSE, "totalResults", (json_int_t)total_results,
                     "startIndex", (json_int_t)start_index, "itemsPerPage", (json_int_t)json_array_size(resources), "Resources",
                     resources);
}
