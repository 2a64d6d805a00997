/*
 * Internal to scim/: the one grammar that filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2
 * "path") share, so that value filters in paths behave exactly like filters.
 *
 * parse.c holds the lexer and the recursive-descent parser and builds the syntax tree declared
 * here; filter.c matches that tree against resources (the public scim_filter_* API) and path.c
 * turns a parsed attribute path into a scim__path_t. Both depend on this module and on nothing of
 * each other's parsing, and this header includes neither filter.h nor path.h.
 *
 *   filter    = term *("or" term)                        ("and" binds tighter than "or")
 *   term      = factor *("and" factor)
 *   factor    = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath [subAttr op value]
 *   valuePath = attrPath "[" filter "]"                  (names inside are sub-attributes)
 *   path      = attrPath ["[" filter "]" ["." subAttr]]  (PATCH; or exactly the enterprise URN)
 *
 * Internal non-static names carry the `scim__` prefix; nothing here is part of the public API.
 */
#ifndef SCIM_PARSE_H
#define SCIM_PARSE_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/schema.h"

/**
 * Bounds on untrusted input, for filters and paths alike; over them the parse fails with 400.
 * filter.h publishes the same numbers as SCIM_FILTER_MAX_LEN and SCIM_FILTER_MAX_DEPTH (filter.c
 * checks at compile time that they agree).
 */
#define SCIM__PARSE_MAX_LEN   4096
#define SCIM__PARSE_MAX_DEPTH 32

typedef enum scim__node_kind {
    SCIM__NODE_AND,
    SCIM__NODE_OR,
    SCIM__NODE_NOT,
    SCIM__NODE_CMP,
    SCIM__NODE_VALUE_PATH,
} scim__node_kind_t;

/** The comparison operators, in the order parse.c lists their names. */
typedef enum scim__op {
    SCIM__OP_EQ,
    SCIM__OP_NE,
    SCIM__OP_CO,
    SCIM__OP_SW,
    SCIM__OP_EW,
    SCIM__OP_GT,
    SCIM__OP_GE,
    SCIM__OP_LT,
    SCIM__OP_LE,
    SCIM__OP_PR,
} scim__op_t;

/** An attribute as a filter or path names it, resolved against the schema table. */
typedef struct scim__attr_ref {
    scim__scope_t scope;          /** SCOPE_CORE also stands for "the element" inside [ ] */
    char *attr;                   /** as written (malloc'd) */
    char *sub;                    /** as written (malloc'd), or NULL */
    const scim__attr_t *attr_def; /** NULL when no schema defines it */
    const scim__attr_t *sub_def;  /** NULL when absent or undefined */
} scim__attr_ref_t;

/**
 * One node of a parsed filter. The tag is the one filter.h names: a whole tree is the public
 * scim_filter_t; scim__node_t is the same type under its internal name.
 */
typedef struct scim_filter scim__node_t;

struct scim_filter {
    scim__node_kind_t kind;
    /* and/or: both; not: left; value path: left = element filter, right = optional comparison of
     * the element's sub-attribute (Entra's `emails[type eq "work"].value eq "x"`). */
    scim__node_t *left, *right;
    scim__attr_ref_t ref; /* cmp, value path */
    scim__op_t op;
    json_t *value;       /* cmp: the literal as typed (string, number, boolean, null); NULL for pr */
    char *text;          /* cmp: the literal as a string (NULL for null and pr) */
    int case_exact;      /* cmp: caseExact of the compared attribute */
    int is_datetime;     /* cmp on a dateTime attribute (meta.created...): compares instants */
    scim__datetime_t dt; /* the literal as an instant, when is_datetime and op is eq ne gt ge lt le */
    /* the root of a whole filter: the resource type its names were resolved for */
    scim_resource_t resource;
};

/** attrPath ["[" valFilter "]" ["." subAttr]] as parse.c read it. */
typedef struct scim__path_expr {
    scim__attr_ref_t ref;
    int whole_extension;  /** the path is exactly the enterprise URN; ref.attr is NULL */
    scim__node_t *filter; /** the value filter, or NULL */
    char *tail;           /** the sub-attribute after "]" (malloc'd), or NULL */
    const scim__attr_t *tail_def;
} scim__path_expr_t;

/**
 * Parses `len` bytes of `text` as a whole filter. NULL with 400 invalidFilter (and the position)
 * when it is not one, longer than SCIM__PARSE_MAX_LEN or nested deeper than SCIM__PARSE_MAX_DEPTH.
 *
 * Attribute names without a schema URN are core attributes, except `manager`, which the core
 * schema lacks: it is the enterprise manager (Entra filters on it unqualified).
 */
GW_MUST_CHECK scim__node_t *scim__parse_filter(const char *text, size_t len, scim_error_t *err);
/** scim__parse_filter with names resolved against the schema of `res` (`manager` stays a User's). */
GW_MUST_CHECK scim__node_t *scim__parse_filter_in(scim_resource_t res, const char *text, size_t len, scim_error_t *err);

/**
 * Parses `len` bytes of `text` as a whole PATCH path into `out` (zeroed first). Unqualified names
 * stay in the core schema. -1 with 400 invalidPath on a syntax error. Release `out` with
 * scim__path_expr_clear() in both cases.
 */
GW_MUST_CHECK int scim__parse_path(const char *text, size_t len, scim__path_expr_t *out, scim_error_t *err);
/** scim__parse_path with names resolved against the schema of `res`. */
GW_MUST_CHECK int scim__parse_path_in(scim_resource_t res, const char *text, size_t len, scim__path_expr_t *out, scim_error_t *err);

void scim__path_expr_clear(scim__path_expr_t *pe);

/** Frees a node and everything below it (NULL is fine). */
void scim__node_free(scim__node_t *node);

#endif
