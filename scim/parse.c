/*
 * The lexer and recursive-descent parser shared by filters and PATCH paths. See parse.h for the
 * grammar; filter.c matches what this builds and path.c reads paths out of it.
 *
 * Inside [ ] attribute names are sub-attributes of the enclosing attribute ("element context").
 */
#include "scim/parse.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
    int path_mode;        /* reading a PATCH path, not a filter */
    scim_resource_t res;  /* whose schema names resolve against */
    const char *err_type; /* invalidFilter for filters, invalidPath for PATCH paths */
    scim_error_t *err;
} parser_t;

typedef enum tok_kind {
    TOK_END,
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_LBRACKET,
    TOK_RBRACKET,
    TOK_STRING,
    TOK_WORD,
    TOK_BAD,
} tok_kind_t;

typedef struct token {
    tok_kind_t kind;
    size_t start, len;
} token_t;

static scim__node_t *parse_or(parser_t *p, int elem, const scim__attr_t *parent);

/* ---- memory ---- */

static char *dup_n(const char *s, size_t n)
{
    char *d = gw_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void ref_clear(scim__attr_ref_t *ref)
{
    free(ref->attr);
    free(ref->sub);
    memset(ref, 0, sizeof(*ref));
}

void scim__node_free(scim__node_t *f)
{
    if (f == NULL)
        return;
    scim__node_free(f->left);
    scim__node_free(f->right);
    ref_clear(&f->ref);
    json_decref(f->value);
    free(f->text);
    free(f);
}

static scim__node_t *node_new(scim__node_kind_t kind)
{
    scim__node_t *f = gw_calloc(1, sizeof(*f));
    f->kind = kind;
    return f;
}

void scim__path_expr_clear(scim__path_expr_t *pe)
{
    ref_clear(&pe->ref);
    scim__node_free(pe->filter);
    free(pe->tail);
    memset(pe, 0, sizeof(*pe));
}

/* ---- lexer ---- */

static int fail(parser_t *p, size_t pos, const char *what)
{
    return scim_error_set(p->err, 400, p->err_type, "%s at position %zu", what, pos + 1);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_word_char(char c)
{
    return !is_space(c) && c != '(' && c != ')' && c != '[' && c != ']' && c != '"' && (unsigned char)c >= 0x20 && c != 0x7f;
}

/* Reads the next token without consuming it. */
static token_t peek(parser_t *p)
{
    token_t t = {TOK_END, p->pos, 0};
    size_t i;
    char c;

    while (t.start < p->len && is_space(p->s[t.start]))
        t.start++;
    if (t.start == p->len)
        return t;
    c = p->s[t.start];
    t.len = 1;
    switch (c) {
    case '(':
        t.kind = TOK_LPAREN;
        return t;
    case ')':
        t.kind = TOK_RPAREN;
        return t;
    case '[':
        t.kind = TOK_LBRACKET;
        return t;
    case ']':
        t.kind = TOK_RBRACKET;
        return t;
    case '"':
        for (i = t.start + 1; i < p->len; i++) {
            if (p->s[i] == '\\')
                i++;
            else if (p->s[i] == '"')
                break;
        }
        t.kind = i < p->len ? TOK_STRING : TOK_BAD;
        t.len = (i < p->len ? i + 1 : p->len) - t.start;
        return t;
    }
    if (!is_word_char(c)) {
        t.kind = TOK_BAD;
        return t;
    }
    for (i = t.start; i < p->len && is_word_char(p->s[i]); i++)
        ;
    t.kind = TOK_WORD;
    t.len = i - t.start;
    return t;
}

static void consume(parser_t *p, token_t t)
{
    p->pos = t.start + t.len;
}

static int word_is(parser_t *p, token_t t, const char *w)
{
    return t.kind == TOK_WORD && scim__strn_ieq(w, p->s + t.start, t.len);
}

static int expect(parser_t *p, tok_kind_t kind, const char *what)
{
    token_t t = peek(p);
    if (t.kind != kind)
        return fail(p, t.start, what);
    consume(p, t);
    return 0;
}

static int enter(parser_t *p, size_t pos)
{
    if (++p->depth > SCIM__PARSE_MAX_DEPTH)
        return fail(p, pos, "nesting too deep");
    return 0;
}

/* ---- attribute paths ---- */

/* ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"); "$ref" is the one sub-attribute with a '$'. */
static int valid_name(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '$'))
        return 0;
    for (i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/*
 * A word naming an attribute: [URN ":"] name ["." sub] at top level; a bare sub-attribute name in
 * element context (`parent` is then the enclosing attribute, NULL when unknown). A PATCH path may
 * also be exactly the enterprise URN (*whole_extension set).
 *
 * In a filter, `manager` without a URN is the enterprise manager: RFC 7644 §3.10 asks clients to
 * qualify extension attributes, and an unqualified name is otherwise a core attribute (so
 * `department` finds nothing), but Entra checks a reference with `manager eq "<id>"` and the core
 * schema has no manager. PATCH paths stay strict.
 */
static int parse_ref(parser_t *p, token_t t, int elem, const scim__attr_t *parent, scim__attr_ref_t *ref, int *whole_extension)
{
    const char *w = p->s + t.start;
    const char *rest, *dot;
    size_t rest_len;

    if (elem) {
        if (!valid_name(w, t.len))
            return fail(p, t.start, "invalid sub-attribute name");
        ref->scope = SCIM__SCOPE_CORE;
        ref->attr = dup_n(w, t.len);
        ref->attr_def = scim__sub_attr_find(parent, w, t.len);
        return 0;
    }
    scim__split_urn_in(p->res, w, t.len, &ref->scope, &rest, &rest_len);
    if (ref->scope == SCIM__SCOPE_ENTERPRISE && rest_len == 0 && p->path_mode) {
        *whole_extension = 1;
        return 0;
    }
    dot = memchr(rest, '.', rest_len);
    if (dot == NULL) {
        if (!valid_name(rest, rest_len))
            return fail(p, t.start, "invalid attribute path");
        ref->attr = dup_n(rest, rest_len);
    } else {
        size_t alen = (size_t)(dot - rest);
        if (!valid_name(rest, alen) || !valid_name(dot + 1, rest_len - alen - 1))
            return fail(p, t.start, "invalid attribute path");
        ref->attr = dup_n(rest, alen);
        ref->sub = dup_n(dot + 1, rest_len - alen - 1);
    }
    ref->attr_def = scim__attr_find_in(p->res, ref->scope, ref->attr, strlen(ref->attr));
    if (ref->attr_def == NULL && rest == w && !p->path_mode && p->res == SCIM_RESOURCE_USER &&
        scim__str_ieq(ref->attr, "manager")) {
        ref->scope = SCIM__SCOPE_ENTERPRISE;
        ref->attr_def = scim__attr_find_scoped(SCIM__SCOPE_ENTERPRISE, ref->attr, strlen(ref->attr));
    }
    if (ref->sub != NULL)
        ref->sub_def = scim__sub_attr_find(ref->attr_def, ref->sub, strlen(ref->sub));
    return 0;
}

static int parse_path_expr(parser_t *p, int elem, const scim__attr_t *parent, scim__path_expr_t *pe)
{
    token_t t = peek(p);
    token_t b;

    if (t.kind != TOK_WORD)
        return fail(p, t.start, "expected an attribute path");
    consume(p, t);
    if (parse_ref(p, t, elem, parent, &pe->ref, &pe->whole_extension) != 0)
        return -1;
    if (pe->whole_extension)
        return 0;
    b = peek(p);
    if (b.kind != TOK_LBRACKET)
        return 0;
    if (elem || pe->ref.sub != NULL)
        return fail(p, b.start, "unexpected '['");
    consume(p, b);
    if (enter(p, b.start) != 0)
        return -1;
    pe->filter = parse_or(p, 1, pe->ref.attr_def);
    if (pe->filter == NULL)
        return -1;
    p->depth--;
    if (expect(p, TOK_RBRACKET, "expected ']'") != 0)
        return -1;
    /* `].value`: the sub-attribute follows the bracket with no space in between. */
    t = peek(p);
    if (t.kind == TOK_WORD && t.start == p->pos && p->s[t.start] == '.') {
        if (!valid_name(p->s + t.start + 1, t.len - 1))
            return fail(p, t.start, "invalid sub-attribute name");
        consume(p, t);
        pe->tail = dup_n(p->s + t.start + 1, t.len - 1);
        pe->tail_def = scim__sub_attr_find(pe->ref.attr_def, pe->tail, t.len - 1);
    }
    return 0;
}

/* ---- literals and comparisons ---- */

static int parse_op(parser_t *p, scim__op_t *op)
{
    static const char *const names[] = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"};
    token_t t = peek(p);
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (word_is(p, t, names[i])) {
            consume(p, t);
            *op = (scim__op_t)i;
            return 0;
        }
    }
    return fail(p, t.start, "expected an operator (eq ne co sw ew gt ge lt le pr)");
}

static int looks_numeric(const char *w, size_t n)
{
    return n > 0 && ((w[0] >= '0' && w[0] <= '9') || (w[0] == '-' && n > 1));
}

/* compValue: a JSON string, true/false/null, a number, or a bare word taken as a string. */
static int parse_value(parser_t *p, scim__node_t *f)
{
    token_t t = peek(p);
    const char *w = p->s + t.start;

    if (t.kind == TOK_STRING) {
        f->value = json_loadb(w, t.len, JSON_DECODE_ANY, NULL);
        if (!json_is_string(f->value))
            return fail(p, t.start, "invalid string");
        f->text = dup_n(json_string_value(f->value), json_string_length(f->value));
    } else if (t.kind == TOK_WORD) {
        if (word_is(p, t, "true") || word_is(p, t, "false")) {
            f->value = json_boolean(word_is(p, t, "true"));
            f->text = dup_n(json_is_true(f->value) ? "true" : "false", json_is_true(f->value) ? 4 : 5);
        } else if (word_is(p, t, "null")) {
            f->value = json_null();
        } else {
            if (looks_numeric(w, t.len))
                f->value = json_loadb(w, t.len, JSON_DECODE_ANY, NULL);
            if (!json_is_number(f->value)) {
                json_decref(f->value);
                /* A bare word (`userName sw O`) is a string; it must still be valid UTF-8. */
                f->value = json_stringn(w, t.len);
                if (f->value == NULL)
                    return fail(p, t.start, "invalid UTF-8 in value");
            }
            f->text = dup_n(w, t.len);
        }
    } else {
        return fail(p, t.start, "expected a value");
    }
    consume(p, t);
    if ((json_is_boolean(f->value) || json_is_null(f->value)) && f->op != SCIM__OP_EQ && f->op != SCIM__OP_NE)
        return fail(p, t.start, "booleans and null compare only with eq and ne");
    /* co/sw/ew on a dateTime stay text tests; order and equality compare instants, so that
     * "2026-11-27T11:00:00+01:00" equals "2026-11-27T10:00:00Z" and fractions sort right. */
    if (!json_is_string(f->value))
        f->is_datetime = 0;
    if (f->is_datetime && f->op != SCIM__OP_CO && f->op != SCIM__OP_SW && f->op != SCIM__OP_EW && json_is_string(f->value) &&
        scim__datetime_parse(json_string_value(f->value), json_string_length(f->value), &f->dt) != 0)
        return fail(p, t.start, "expected a dateTime such as \"2026-11-27T10:00:00Z\"");
    return 0;
}

/*
 * The definition whose characteristics (caseExact, type) a comparison on `ref` takes: the named
 * sub-attribute's; for a complex attribute named without one, its "value" sub-attribute's when the
 * schema gives it one, since that is what the comparison tests (filter.c, match_any); else the
 * attribute's own. NULL when no schema defines it.
 */
static const scim__attr_t *compared_def(const scim__attr_ref_t *ref)
{
    const scim__attr_t *value;

    if (ref->sub != NULL)
        return ref->sub_def;
    value = scim__sub_attr_find(ref->attr_def, "value", strlen("value"));
    return value != NULL ? value : ref->attr_def;
}

/* op value (or pr) after an attribute reference; takes `ref`. */
static scim__node_t *parse_comparison(parser_t *p, scim__attr_ref_t *ref)
{
    scim__node_t *f = node_new(SCIM__NODE_CMP);
    const scim__attr_t *def;

    f->ref = *ref;
    memset(ref, 0, sizeof(*ref));
    def = compared_def(&f->ref);
    f->case_exact = def != NULL && def->case_exact;
    f->is_datetime = def != NULL && def->type == SCIM__TYPE_DATETIME;
    if (parse_op(p, &f->op) != 0)
        goto fail;
    if (f->op != SCIM__OP_PR && parse_value(p, f) != 0)
        goto fail;
    return f;

fail:
    scim__node_free(f);
    return NULL;
}

static scim__node_t *parse_attr_exp(parser_t *p, int elem, const scim__attr_t *parent)
{
    scim__path_expr_t pe = {0};
    scim__node_t *f = NULL;

    if (parse_path_expr(p, elem, parent, &pe) != 0)
        goto out;
    if (pe.filter == NULL) {
        f = parse_comparison(p, &pe.ref);
        goto out;
    }
    f = node_new(SCIM__NODE_VALUE_PATH);
    f->ref = pe.ref;
    memset(&pe.ref, 0, sizeof(pe.ref));
    f->left = pe.filter;
    pe.filter = NULL;
    if (pe.tail != NULL) {
        scim__attr_ref_t tail = {SCIM__SCOPE_CORE, pe.tail, NULL, pe.tail_def, NULL};
        pe.tail = NULL;
        f->right = parse_comparison(p, &tail);
        if (f->right == NULL) {
            scim__node_free(f);
            f = NULL;
        }
    }

out:
    scim__path_expr_clear(&pe);
    return f;
}

/* ---- grammar ---- */

static scim__node_t *parse_group(parser_t *p, int elem, const scim__attr_t *parent, size_t pos)
{
    scim__node_t *f;

    if (enter(p, pos) != 0)
        return NULL;
    f = parse_or(p, elem, parent);
    if (f == NULL)
        return NULL;
    p->depth--;
    if (expect(p, TOK_RPAREN, "expected ')'") != 0) {
        scim__node_free(f);
        return NULL;
    }
    return f;
}

static scim__node_t *parse_factor(parser_t *p, int elem, const scim__attr_t *parent)
{
    token_t t = peek(p);
    scim__node_t *f;

    if (t.kind == TOK_LPAREN) {
        consume(p, t);
        return parse_group(p, elem, parent, t.start);
    }
    if (word_is(p, t, "not")) {
        parser_t save = *p;
        token_t paren;
        consume(p, t);
        paren = peek(p);
        if (paren.kind == TOK_LPAREN) {
            consume(p, paren);
            f = node_new(SCIM__NODE_NOT);
            f->left = parse_group(p, elem, parent, paren.start);
            if (f->left == NULL) {
                scim__node_free(f);
                return NULL;
            }
            return f;
        }
        *p = save; /* an attribute that happens to be called "not" */
    }
    if (t.kind == TOK_BAD) {
        fail(p, t.start, p->s[t.start] == '"' ? "unterminated string" : "invalid character");
        return NULL;
    }
    return parse_attr_exp(p, elem, parent);
}

static scim__node_t *parse_chain(parser_t *p, int elem, const scim__attr_t *parent, int is_or)
{
    scim__node_t *left = is_or ? parse_chain(p, elem, parent, 0) : parse_factor(p, elem, parent);

    while (left != NULL) {
        token_t t = peek(p);
        scim__node_t *n;
        if (!word_is(p, t, is_or ? "or" : "and"))
            break;
        consume(p, t);
        n = node_new(is_or ? SCIM__NODE_OR : SCIM__NODE_AND);
        n->left = left;
        n->right = is_or ? parse_chain(p, elem, parent, 0) : parse_factor(p, elem, parent);
        left = n;
        if (n->right == NULL) {
            scim__node_free(n);
            left = NULL;
        }
    }
    return left;
}

/* `and` binds tighter than `or`: an or-chain of and-chains. */
static scim__node_t *parse_or(parser_t *p, int elem, const scim__attr_t *parent)
{
    return parse_chain(p, elem, parent, 1);
}

static int parser_init(parser_t *p, scim_resource_t res, const char *text, size_t len, const char *err_type, scim_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->res = res;
    p->s = text;
    p->len = len;
    p->err_type = err_type;
    p->err = err;
    if (len > SCIM__PARSE_MAX_LEN)
        return scim_error_set(err, 400, err_type, "longer than %d bytes at position %d", SCIM__PARSE_MAX_LEN,
                              SCIM__PARSE_MAX_LEN + 1);
    if (text == NULL || peek(p).kind == TOK_END)
        return scim_error_set(err, 400, err_type, "empty at position %zu", len + 1);
    return 0;
}

static int expect_end(parser_t *p)
{
    token_t t = peek(p);
    if (t.kind != TOK_END)
        return fail(p, t.start, t.kind == TOK_WORD ? "expected 'and', 'or' or the end" : "unexpected token");
    return 0;
}

scim__node_t *scim__parse_filter_in(scim_resource_t res, const char *text, size_t len, scim_error_t *err)
{
    parser_t p;
    scim__node_t *f;

    if (parser_init(&p, res, text, len, SCIM_TYPE_INVALID_FILTER, err) != 0)
        return NULL;
    f = parse_or(&p, 0, NULL);
    if (f != NULL && expect_end(&p) != 0) {
        scim__node_free(f);
        return NULL;
    }
    if (f != NULL)
        f->resource = res;
    return f;
}

scim__node_t *scim__parse_filter(const char *text, size_t len, scim_error_t *err)
{
    return scim__parse_filter_in(SCIM_RESOURCE_USER, text, len, err);
}

int scim__parse_path(const char *text, size_t len, scim__path_expr_t *out, scim_error_t *err)
{
    return scim__parse_path_in(SCIM_RESOURCE_USER, text, len, out, err);
}

int scim__parse_path_in(scim_resource_t res, const char *text, size_t len, scim__path_expr_t *out, scim_error_t *err)
{
    parser_t p;

    memset(out, 0, sizeof(*out));
    if (parser_init(&p, res, text, len, SCIM_TYPE_INVALID_PATH, err) != 0)
        return -1;
    p.path_mode = 1;
    if (parse_path_expr(&p, 0, NULL, out) != 0 || expect_end(&p) != 0)
        return -1;
    return 0;
}
