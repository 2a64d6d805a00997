/*
 * Compact JSON text from jansson values, several times faster than json_dumps (which costs
 * ~20k instructions for a small object: a callback per escaped run, a string buffer per call)
 * and byte-identical to json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER): keys in insertion
 * order, only '"', '\\' and control characters escaped (controls other than \b \f \n \r \t as
 * \u00XX with upper-case hex), reals as jansson writes them.
 *
 * A gw_json_buf_t owns its bytes (malloc'd): take them with gw_json_buf_take or release them
 * with gw_json_buf_free. Allocation failure aborts (common/alloc.h); a value json_dumps would refuse
 * sets `failed`, and later writes do nothing.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <jansson.h>
#include <stddef.h>

typedef struct gw_json_buf {
    char *p;
    size_t len, cap;
    int failed;
    int real_precision; /** as JSON_REAL_PRECISION(n); 0: jansson's default */
} gw_json_buf_t;

void gw_json_buf_put(gw_json_buf_t *b, const char *s, size_t n);
/** Writes `s` (n bytes, valid UTF-8) as a quoted, escaped JSON string. */
void gw_json_buf_string(gw_json_buf_t *b, const char *s, size_t n);
/** Writes an integer in decimal, as jansson does. */
void gw_json_buf_integer(gw_json_buf_t *b, json_int_t v);
/** Writes `v`; -1 (and `failed` set) for what json_dumps would refuse (NaN, an invalid value). */
int gw_json_buf_value(gw_json_buf_t *b, const json_t *v);
/** The NUL-terminated text, now the caller's to free(); NULL when anything failed. Resets `b`. */
char *gw_json_buf_take(gw_json_buf_t *b, size_t *len);
void gw_json_buf_free(gw_json_buf_t *b);

/** As json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) for an object or array: malloc'd text or NULL. */
char *gw_json_dumps(const json_t *v, size_t *len);

#endif
