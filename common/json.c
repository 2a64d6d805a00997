#include "common/json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static int reserve(gw_json_buf_t *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->cap - b->len > n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n)
        cap *= 2;
    b->p = gw_realloc(b->p, cap);
    b->cap = cap;
    return 0;
}

void gw_json_buf_put(gw_json_buf_t *b, const char *s, size_t n)
{
    if (n == 0 || reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void gw_json_buf_string(gw_json_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    /* the common case, nothing to escape, costs one reserve and one copy */
    if (reserve(b, n + 2) != 0)
        return;
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        gw_json_buf_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, '0', '0', hex[c >> 4], hex[c & 15]};
        size_t len = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            len = 6;
            break;
        }
        gw_json_buf_put(b, esc, len);
    }
    gw_json_buf_put(b, s + run, n - run);
    gw_json_buf_put(b, "\"", 1);
}

void gw_json_buf_integer(gw_json_buf_t *b, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    /* unsigned arithmetic: -INT64_MIN does not fit */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--i] = '-';
    gw_json_buf_put(b, tmp + i, sizeof(tmp) - i);
}

int gw_json_buf_value(gw_json_buf_t *b, const json_t *v)
{
    size_t i;
    const char *key;
    json_t *member;
    void *iter;

    if (b->failed)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        gw_json_buf_put(b, "{", 1);
        i = 0;
        for (iter = json_object_iter((json_t *)v); iter != NULL; iter = json_object_iter_next((json_t *)v, iter)) {
            key = json_object_iter_key(iter);
            member = json_object_iter_value(iter);
            if (i++ > 0)
                gw_json_buf_put(b, ",", 1);
            gw_json_buf_string(b, key, json_object_iter_key_len(iter));
            gw_json_buf_put(b, ":", 1);
            if (gw_json_buf_value(b, member) != 0)
                return -1;
        }
        gw_json_buf_put(b, "}", 1);
        break;
    case JSON_ARRAY:
        gw_json_buf_put(b, "[", 1);
        for (i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                gw_json_buf_put(b, ",", 1);
            if (gw_json_buf_value(b, json_array_get(v, i)) != 0)
                return -1;
        }
        gw_json_buf_put(b, "]", 1);
        break;
    case JSON_STRING:
        gw_json_buf_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        gw_json_buf_integer(b, json_integer_value(v));
        break;
    case JSON_REAL: {
        /* rare here (log latencies): jansson's own formatting keeps the output identical */
        size_t flags = JSON_ENCODE_ANY | JSON_COMPACT;
        if (b->real_precision > 0)
            flags |= JSON_REAL_PRECISION(b->real_precision);
        char *text = json_dumps(v, flags);
        if (text == NULL) {
            b->failed = 1;
            return -1;
        }
        gw_json_buf_put(b, text, strlen(text));
        free(text);
        break;
    }
    case JSON_TRUE:
        gw_json_buf_put(b, "true", 4);
        break;
    case JSON_FALSE:
        gw_json_buf_put(b, "false", 5);
        break;
    case JSON_NULL:
        gw_json_buf_put(b, "null", 4);
        break;
    default:
        b->failed = 1;
        return -1;
    }
    return b->failed ? -1 : 0;
}

char *gw_json_buf_take(gw_json_buf_t *b, size_t *len)
{
    char *out = NULL;
    if (!b->failed && reserve(b, 1) == 0) {
        b->p[b->len] = '\0';
        out = b->p;
        if (len != NULL)
            *len = b->len;
        b->p = NULL;
    }
    gw_json_buf_free(b);
    return out;
}

void gw_json_buf_free(gw_json_buf_t *b)
{
    int precision = b->real_precision;
    free(b->p);
    *b = (gw_json_buf_t){.real_precision = precision};
}

char *gw_json_dumps(const json_t *v, size_t *len)
{
    gw_json_buf_t b = {0};
    if (v == NULL || (!json_is_object(v) && !json_is_array(v)))
        return NULL; /* json_dumps refuses other roots without JSON_ENCODE_ANY */
    gw_json_buf_value(&b, v);
    return gw_json_buf_take(&b, len);
}
