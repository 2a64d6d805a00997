/*
 * Internal to scim/: attribute paths (RFC 7644 §3.5.2 "path", the attrPath of §3.4.2.2) for
 * PATCH. They are read by the parser filters use (parse.h), so that PATCH paths and filters share
 * one grammar and one set of bugs; a value filter in a path is an ordinary scim_filter_t.
 */
#ifndef SCIM_PATH_H
#define SCIM_PATH_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/filter.h"
#include "scim/schema.h"

/** attrPath ["[" valFilter "]"] ["." subAttr], resolved against the schema table. */
typedef struct scim__path {
    scim__scope_t scope;
    int whole_extension;          /** the path is the enterprise URN itself; attr is NULL */
    char *attr;                   /** as written (malloc'd) */
    char *sub;                    /** as written (malloc'd), or NULL */
    const scim__attr_t *attr_def; /** NULL when no schema defines it */
    const scim__attr_t *sub_def;  /** NULL when absent or undefined */
    scim_filter_t *filter;        /** the value filter, evaluated per element, or NULL */
} scim__path_t;

/**
 * Parses a PATCH path (or a key of a path-less PATCH value). Does not check that the attribute
 * exists (the caller decides whether an unknown name is an error). On a syntax error returns -1
 * with 400 invalidPath. Release with scim__path_clear() in both cases.
 */
GW_MUST_CHECK int scim__path_parse(const char *text, size_t len, scim__path_t *out, scim_error_t *err);
/** scim__path_parse for a resource of type `res` (a User's path is scim__path_parse). */
GW_MUST_CHECK int scim__path_parse_in(scim_resource_t res, const char *text, size_t len, scim__path_t *out, scim_error_t *err);
void scim__path_clear(scim__path_t *path);

/** 1 when `element` (one element of the multi-valued attribute) matches the path's value filter. */
int scim__path_match_element(const scim__path_t *path, const json_t *element);

/**
 * The element the path's value filter describes when it is only `eq` tests joined by `and`
 * (`type eq "work"` → {"type":"work"}), so that add/replace can create it. New reference, or
 * NULL (also when the path has no value filter).
 */
json_t *scim__path_template(const scim__path_t *path);

#endif
