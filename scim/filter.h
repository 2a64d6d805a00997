/*
 * SCIM filters (RFC 7644 §3.4.2.2): parse once, match many rendered resources.
 *
 * Grammar: attrPath op value | attrPath "pr" | filter and/or filter | not ( filter ) |
 * ( filter ) | attrPath[valFilter] (value paths), operators eq ne co sw ew gt ge lt le pr,
 * case-insensitive attribute names and operators, optional schema-URN prefix on attribute
 * paths, values: "strings", true/false/null, numbers, and bare words taken as strings
 * (real clients send `userName sw O`). `and` binds tighter than `or`.
 * String comparison honours caseExact of the attribute (userName, emails.value: case-insensitive;
 * id, externalId: case-exact).
 *
 * A complex attribute compared without a sub-attribute compares its "value" sub-attribute, with
 * that sub-attribute's caseExact: `manager eq "<id>"` is `manager.value eq "<id>"`, and
 * `emails co "@corp"` tests every emails.value. (RFC 7644 §3.4.2.2 asks for a sub-attribute on
 * complex attributes; Entra checks a manager reference without one.) `pr` keeps the RFC's meaning
 * for complex attributes (some sub-attribute is non-empty), and `eq null` is `not pr`. `manager`
 * without a schema URN is the enterprise manager, the only extension attribute found unqualified.
 */
#ifndef SCIM_FILTER_H
#define SCIM_FILTER_H

#include <jansson.h>
#include <stddef.h>

#include "common/attr.h"
#include "scim/error.h"
#include "scim/resource.h"

/** Bounds on untrusted input; over them the parse fails with 400 invalidFilter. */
#define SCIM_FILTER_MAX_LEN   4096
#define SCIM_FILTER_MAX_DEPTH 32

typedef struct scim_filter scim_filter_t;

/**
 * Parses `len` bytes of `text` (not necessarily NUL-terminated, already URL-decoded).
 * Returns a filter the caller frees with scim_filter_free(), or NULL with `err` set to
 * 400 invalidFilter and a detail that says what is wrong and where.
 */
GW_MUST_CHECK scim_filter_t *scim_filter_parse(const char *text, size_t len, scim_error_t *err);

/**
 * scim_filter_parse for resources of type `res` (scim_filter_parse is the SCIM_RESOURCE_USER
 * case): names resolve against that resource's schema, which gives each comparison its caseExact.
 * For SCIM_RESOURCE_GROUP, matched against scim_group_render results: displayName
 * (case-insensitive), id, externalId, members.value (case-exact: it holds ids), members.type,
 * members.display, meta.*, and URN-qualified forms with the core Group URN. As for users, a name
 * the schema lacks parses and matches nothing; `manager` and the enterprise URN are User-only.
 */
GW_MUST_CHECK scim_filter_t *scim_filter_parse_resource(scim_resource_t res, const char *text, size_t len, scim_error_t *err);

void scim_filter_free(scim_filter_t *filter);

/** 1 when the rendered resource (as scim_user_render produces it) matches, else 0. */
int scim_filter_match(const scim_filter_t *filter, const json_t *resource);

/** An equality the store can answer from an index instead of scanning. */
typedef enum scim_filter_index {
    SCIM_FILTER_INDEX_NONE,
    SCIM_FILTER_INDEX_ID,
    SCIM_FILTER_INDEX_USERNAME,    /** compare case-insensitively */
    SCIM_FILTER_INDEX_EXTERNAL_ID, /** compare exactly */
    SCIM_FILTER_INDEX_EMAIL,       /** any emails.value, case-insensitively */
} scim_filter_index_t;

/**
 * When every match of the filter must satisfy `attr eq value` for an indexed attribute (the
 * filter is such an eq, or an `and` with one on either side), returns that attribute and sets
 * *value (borrowed from the filter). The caller still runs scim_filter_match on the candidates.
 */
scim_filter_index_t scim_filter_index_hint(const scim_filter_t *filter, const char **value);

/**
 * The hints of a group filter (scim_filter_parse_resource(SCIM_RESOURCE_GROUP, ...)): a type of its
 * own so that a switch over scim_filter_index_t (users) stays exhaustive. scim_filter_index_hint
 * gives NONE for a group filter, and scim_filter_group_index_hint NONE for a user filter.
 */
typedef enum scim_filter_group_index {
    SCIM_FILTER_GROUP_INDEX_NONE,
    SCIM_FILTER_GROUP_INDEX_ID,           /** compare exactly */
    SCIM_FILTER_GROUP_INDEX_DISPLAY_NAME, /** compare case-insensitively (ASCII letters folded) */
    SCIM_FILTER_GROUP_INDEX_EXTERNAL_ID,  /** compare exactly */
    SCIM_FILTER_GROUP_INDEX_MEMBER,       /** the groups that have this member id (compared exactly) */
} scim_filter_group_index_t;

/**
 * As scim_filter_index_hint, for a group filter: `id`, `displayName`, `externalId` eq, and a member
 * id from `members[value eq "x"]`, `members.value eq "x"` or `members eq "x"` (also inside a value
 * filter with other tests, or as one side of an `and`). scim_filter_index_exact(filter) is 1 when
 * the whole filter is one such test (`members[value eq "x"]` with nothing else in the brackets and
 * nothing after them counts): the store's lookup (display names folded like the filter, ids and
 * external ids and member ids exact) is then the filter's answer.
 */
scim_filter_group_index_t scim_filter_group_index_hint(const scim_filter_t *filter, const char **value);

/**
 * 1 when the store's index lookup for scim_filter_index_hint() returns exactly the filter's
 * matches, so that scim_filter_match can be skipped: the whole filter is one `eq` with a string
 * or number value (no and/or/not, no value path, no sub-attribute) on core userName compared
 * case-insensitively (the index folds ASCII like the filter), or on id or externalId compared
 * case-exactly. 0 otherwise, and for NULL.
 */
int scim_filter_index_exact(const scim_filter_t *filter);

/** The values of a user a directory keeps in columns of its own (store/store.h), to narrow a filter's candidates by. */
typedef enum scim_filter_col {
    SCIM_FILTER_COL_ID,
    SCIM_FILTER_COL_USER_NAME,
    SCIM_FILTER_COL_EXTERNAL_ID,
    SCIM_FILTER_COL_DISPLAY_NAME,
    SCIM_FILTER_COL_FAMILY_NAME, /** name.familyName */
    SCIM_FILTER_COL_GIVEN_NAME,  /** name.givenName */
    SCIM_FILTER_COL_ACTIVE,      /** the active flag, which every rendered user has */
    SCIM_FILTER_COL_EMAIL,       /** any emails[].value string (holds when one of them does) */
} scim_filter_col_t;

typedef enum scim_filter_cond_op {
    SCIM_FILTER_COND_AND,
    SCIM_FILTER_COND_OR,
    SCIM_FILTER_COND_EQ,
    SCIM_FILTER_COND_GT,
    SCIM_FILTER_COND_GE,
    SCIM_FILTER_COND_LT,
    SCIM_FILTER_COND_LE,
    SCIM_FILTER_COND_SW,
    SCIM_FILTER_COND_EW,
    SCIM_FILTER_COND_CO,
    SCIM_FILTER_COND_PR, /** a non-empty string */
} scim_filter_cond_op_t;

/**
 * A condition on those values, as a tree (made by scim_filter_narrow). Comparisons are of the
 * column's string (an absent one satisfies none) with `value`: by unsigned bytes, ASCII letters
 * folded (A-Z as a-z) when `fold`, a proper prefix first, which is how scim_filter_match compares
 * strings; ACTIVE only with EQ and `active`.
 */
typedef struct scim_filter_cond {
    scim_filter_cond_op_t op;
    scim_filter_col_t col;
    const char *value; /** comparisons: NUL-terminated, borrowed from the filter */
    int fold;
    int active;
    struct scim_filter_cond *left, *right; /** AND, OR */
} scim_filter_cond_t;

/**
 * A condition every resource scim_filter_match accepts satisfies: never narrower than the filter,
 * so that a directory may leave out the users that fail it and run scim_filter_match on the rest.
 * Parts that say nothing about the columns (another attribute, `not`, `ne`, null, dateTimes) are
 * left out, widening the condition; NULL when nothing is left (every user is a candidate). The
 * caller frees it with scim_filter_cond_free; it borrows from `filter`, which must outlive it.
 */
scim_filter_cond_t *scim_filter_narrow(const scim_filter_t *filter);
void scim_filter_cond_free(scim_filter_cond_t *cond);

#endif
