/*
 * SCIM filters (RFC 7644 §3.4.2.2): a recursive-descent parser building an AST, and its matcher.
 * The same parser reads PATCH paths (path.h), so value filters in paths behave like filters.
 *
 *   filter  = term *("or" term)
 *   term    = factor *("and" factor)
 *   factor  = "not" "(" filter ")" / "(" filter ")" / attrExp / valuePath [subAttr op value]
 *
 * Inside [ ] attribute names are sub-attributes of the enclosing attribute ("element context").
 */
#include "scim/filter.h"

#include <stdlib.h>
#include <string.h>

#include "scim/path.h"
#include "scim/schema.h"
#include "scim/user.h"

typedef enum node_kind {
    NODE_AND,
    NODE_OR,
    NODE_NOT,
    NODE_CMP,
    NODE_VALUE_PATH,
} node_kind_t;

typedef enum op {
    OP_EQ,
    OP_NE,
    OP_CO,
    OP_SW,
    OP_EW,
    OP_GT,
    OP_GE,
    OP_LT,
    OP_LE,
    OP_PR,
} op_t;

typedef struct attr_ref {
    scim__scope_t scope; /* SCOPE_CORE also stands for "the element" in element context */
    char *attr;
    char *sub;
    const scim__attr_t *attr_def;
    const scim__attr_t *sub_def;
} attr_ref_t;

struct scim_filter {
    node_kind_t kind;
    /* and/or: both; not: left; value path: left = element filter, right = optional comparison of
     * the element's sub-attribute (Entra's `emails[type eq "work"].value eq "x"`). */
    scim_filter_t *left, *right;
    attr_ref_t ref; /* cmp, value path */
    op_t op;
    json_t *value; /* cmp: the literal as typed (string, number, boolean, null); NULL for pr */
    char *text;    /* cmp: the literal as a string (NULL for null and pr) */
    int case_exact;
    int is_datetime;     /* cmp on a dateTime attribute (meta.created...): compares instants */
    scim__datetime_t dt; /* the literal as an instant, when is_datetime and op is eq ne gt ge lt le */
};

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    int depth;
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

/* attrPath ["[" valFilter "]" ["." subAttr]]: what filters and PATCH paths have in common. */
typedef struct path_expr {
    attr_ref_t ref;
    int whole_extension;
    scim_filter_t *filter;
    char *tail;
    const scim__attr_t *tail_def;
} path_expr_t;

static scim_filter_t *parse_or(parser_t *p, int elem, const scim__attr_t *parent);

/* ---- memory ---- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        abort();
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void ref_clear(attr_ref_t *ref)
{
    free(ref->attr);
    free(ref->sub);
    memset(ref, 0, sizeof(*ref));
}

void scim_filter_free(scim_filter_t *f)
{
    if (f == NULL)
        return;
    scim_filter_free(f->left);
    scim_filter_free(f->right);
    ref_clear(&f->ref);
    json_decref(f->value);
    free(f->text);
    free(f);
}

static scim_filter_t *node_new(node_kind_t kind)
{
    scim_filter_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        abort();
    f->kind = kind;
    return f;
}

static void path_expr_clear(path_expr_t *pe)
{
    ref_clear(&pe->ref);
    scim_filter_free(pe->filter);
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
    if (++p->depth > SCIM_FILTER_MAX_DEPTH)
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

/* A word naming an attribute: [URN ":"] name ["." sub] at top level; a bare sub-attribute name in
 * element context (`parent` is then the enclosing attribute, NULL when unknown). */
static int parse_ref(parser_t *p, token_t t, int elem, const scim__attr_t *parent, attr_ref_t *ref, int *whole_extension)
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
    scim__split_urn(w, t.len, &ref->scope, &rest, &rest_len);
    if (ref->scope == SCIM__SCOPE_ENTERPRISE && rest_len == 0 && whole_extension != NULL) {
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
    ref->attr_def = scim__attr_find_scoped(ref->scope, ref->attr, strlen(ref->attr));
    if (ref->sub != NULL)
        ref->sub_def = scim__sub_attr_find(ref->attr_def, ref->sub, strlen(ref->sub));
    return 0;
}

static int parse_path_expr(parser_t *p, int elem, const scim__attr_t *parent, path_expr_t *pe, int path_mode)
{
    token_t t = peek(p);
    token_t b;

    if (t.kind != TOK_WORD)
        return fail(p, t.start, "expected an attribute path");
    consume(p, t);
    if (parse_ref(p, t, elem, parent, &pe->ref, path_mode ? &pe->whole_extension : NULL) != 0)
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

static int parse_op(parser_t *p, op_t *op)
{
    static const char *const names[] = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"};
    token_t t = peek(p);
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (word_is(p, t, names[i])) {
            consume(p, t);
            *op = (op_t)i;
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
static int parse_value(parser_t *p, scim_filter_t *f)
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
    if ((json_is_boolean(f->value) || json_is_null(f->value)) && f->op != OP_EQ && f->op != OP_NE)
        return fail(p, t.start, "booleans and null compare only with eq and ne");
    /* co/sw/ew on a dateTime stay text tests; order and equality compare instants, so that
     * "2026-11-27T11:00:00+01:00" equals "2026-11-27T10:00:00Z" and fractions sort right. */
    if (!json_is_string(f->value))
        f->is_datetime = 0;
    if (f->is_datetime && f->op != OP_CO && f->op != OP_SW && f->op != OP_EW && json_is_string(f->value) &&
        scim__datetime_parse(json_string_value(f->value), json_string_length(f->value), &f->dt) != 0)
        return fail(p, t.start, "expected a dateTime such as \"2026-11-27T10:00:00Z\"");
    return 0;
}

/* op value (or pr) after an attribute reference; takes `ref`. */
static scim_filter_t *parse_comparison(parser_t *p, attr_ref_t *ref)
{
    scim_filter_t *f = node_new(NODE_CMP);
    const scim__attr_t *def;

    f->ref = *ref;
    memset(ref, 0, sizeof(*ref));
    def = f->ref.sub != NULL ? f->ref.sub_def : f->ref.attr_def;
    f->case_exact = def != NULL && def->case_exact;
    f->is_datetime = def != NULL && def->type == SCIM__TYPE_DATETIME;
    if (parse_op(p, &f->op) != 0)
        goto fail;
    if (f->op != OP_PR && parse_value(p, f) != 0)
        goto fail;
    return f;

fail:
    scim_filter_free(f);
    return NULL;
}

static scim_filter_t *parse_attr_exp(parser_t *p, int elem, const scim__attr_t *parent)
{
    path_expr_t pe = {0};
    scim_filter_t *f = NULL;

    if (parse_path_expr(p, elem, parent, &pe, 0) != 0)
        goto out;
    if (pe.filter == NULL) {
        f = parse_comparison(p, &pe.ref);
        goto out;
    }
    f = node_new(NODE_VALUE_PATH);
    f->ref = pe.ref;
    memset(&pe.ref, 0, sizeof(pe.ref));
    f->left = pe.filter;
    pe.filter = NULL;
    if (pe.tail != NULL) {
        attr_ref_t tail = {SCIM__SCOPE_CORE, pe.tail, NULL, pe.tail_def, NULL};
        pe.tail = NULL;
        f->right = parse_comparison(p, &tail);
        if (f->right == NULL) {
            scim_filter_free(f);
            f = NULL;
        }
    }

out:
    path_expr_clear(&pe);
    return f;
}

/* ---- grammar ---- */

static scim_filter_t *parse_group(parser_t *p, int elem, const scim__attr_t *parent, size_t pos)
{
    scim_filter_t *f;

    if (enter(p, pos) != 0)
        return NULL;
    f = parse_or(p, elem, parent);
    if (f == NULL)
        return NULL;
    p->depth--;
    if (expect(p, TOK_RPAREN, "expected ')'") != 0) {
        scim_filter_free(f);
        return NULL;
    }
    return f;
}

static scim_filter_t *parse_factor(parser_t *p, int elem, const scim__attr_t *parent)
{
    token_t t = peek(p);
    scim_filter_t *f;

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
            f = node_new(NODE_NOT);
            f->left = parse_group(p, elem, parent, paren.start);
            if (f->left == NULL) {
                scim_filter_free(f);
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

static scim_filter_t *parse_chain(parser_t *p, int elem, const scim__attr_t *parent, int is_or)
{
    scim_filter_t *left = is_or ? parse_chain(p, elem, parent, 0) : parse_factor(p, elem, parent);

    while (left != NULL) {
        token_t t = peek(p);
        scim_filter_t *n;
        if (!word_is(p, t, is_or ? "or" : "and"))
            break;
        consume(p, t);
        n = node_new(is_or ? NODE_OR : NODE_AND);
        n->left = left;
        n->right = is_or ? parse_chain(p, elem, parent, 0) : parse_factor(p, elem, parent);
        left = n;
        if (n->right == NULL) {
            scim_filter_free(n);
            left = NULL;
        }
    }
    return left;
}

/* `and` binds tighter than `or`: an or-chain of and-chains. */
static scim_filter_t *parse_or(parser_t *p, int elem, const scim__attr_t *parent)
{
    return parse_chain(p, elem, parent, 1);
}

static int parser_init(parser_t *p, const char *text, size_t len, const char *err_type, scim_error_t *err)
{
    memset(p, 0, sizeof(*p));
    p->s = text;
    p->len = len;
    p->err_type = err_type;
    p->err = err;
    if (len > SCIM_FILTER_MAX_LEN)
        return scim_error_set(err, 400, err_type, "longer than %d bytes at position %d", SCIM_FILTER_MAX_LEN,
                              SCIM_FILTER_MAX_LEN + 1);
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

scim_filter_t *scim_filter_parse(const char *text, size_t len, scim_error_t *err)
{
    parser_t p;
    scim_filter_t *f;

    if (parser_init(&p, text, len, SCIM_TYPE_INVALID_FILTER, err) != 0)
        return NULL;
    f = parse_or(&p, 0, NULL);
    if (f != NULL && expect_end(&p) != 0) {
        scim_filter_free(f);
        return NULL;
    }
    return f;
}

int scim__path_parse(const char *text, size_t len, scim__path_t *out, scim_error_t *err)
{
    parser_t p;
    path_expr_t pe = {0};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (parser_init(&p, text, len, SCIM_TYPE_INVALID_PATH, err) != 0)
        return -1;
    if (parse_path_expr(&p, 0, NULL, &pe, 1) != 0 || expect_end(&p) != 0)
        goto out;
    if (pe.tail != NULL && pe.ref.sub != NULL) {
        fail(&p, 0, "two sub-attributes");
        goto out;
    }
    out->scope = pe.ref.scope;
    out->whole_extension = pe.whole_extension;
    out->attr = pe.ref.attr;
    out->attr_def = pe.ref.attr_def;
    out->sub = pe.tail != NULL ? pe.tail : pe.ref.sub;
    out->sub_def = pe.tail != NULL ? pe.tail_def : pe.ref.sub_def;
    out->filter = pe.filter;
    if (pe.tail != NULL)
        pe.tail = NULL;
    else
        pe.ref.sub = NULL;
    pe.ref.attr = NULL;
    pe.filter = NULL;
    rc = 0;

out:
    path_expr_clear(&pe);
    return rc;
}

void scim__path_clear(scim__path_t *path)
{
    free(path->attr);
    free(path->sub);
    scim_filter_free(path->filter);
    memset(path, 0, sizeof(*path));
}

/* ---- matching ---- */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int str_cmp(const char *a, size_t alen, const char *b, size_t blen, int exact)
{
    size_t i, n = alen < blen ? alen : blen;
    for (i = 0; i < n; i++) {
        int ca = exact ? (unsigned char)a[i] : lower((unsigned char)a[i]);
        int cb = exact ? (unsigned char)b[i] : lower((unsigned char)b[i]);
        if (ca != cb)
            return ca < cb ? -1 : 1;
    }
    return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

static int str_contains(const char *h, size_t hlen, const char *n, size_t nlen, int exact)
{
    size_t i;
    for (i = 0; i + nlen <= hlen; i++) {
        if (str_cmp(h + i, nlen, n, nlen, exact) == 0)
            return 1;
    }
    return 0;
}

static int order_holds(op_t op, int c)
{
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_GT:
        return c > 0;
    case OP_GE:
        return c >= 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    default:
        return 0;
    }
}

static int match_string(const scim_filter_t *f, const char *s, size_t n)
{
    size_t tlen = strlen(f->text);

    switch (f->op) {
    case OP_CO:
        return str_contains(s, n, f->text, tlen, f->case_exact);
    case OP_SW:
        return n >= tlen && str_cmp(s, tlen, f->text, tlen, f->case_exact) == 0;
    case OP_EW:
        return n >= tlen && str_cmp(s + n - tlen, tlen, f->text, tlen, f->case_exact) == 0;
    default:
        return order_holds(f->op, str_cmp(s, n, f->text, tlen, f->case_exact));
    }
}

static int match_number(const scim_filter_t *f, const json_t *v)
{
    int c;
    if (!json_is_number(f->value))
        return 0;
    if (json_is_integer(v) && json_is_integer(f->value)) {
        json_int_t a = json_integer_value(v), b = json_integer_value(f->value);
        c = a < b ? -1 : a > b;
    } else {
        double a = json_number_value(v), b = json_number_value(f->value);
        c = a < b ? -1 : a > b;
    }
    return order_holds(f->op, c);
}

/* One scalar attribute value against eq/co/sw/ew/gt/ge/lt/le (ne is handled as "not eq"). */
static int match_scalar(const scim_filter_t *f, const json_t *v)
{
    if (json_is_string(v) && f->is_datetime && f->op != OP_CO && f->op != OP_SW && f->op != OP_EW) {
        scim__datetime_t dt;
        return scim__datetime_parse(json_string_value(v), json_string_length(v), &dt) == 0 &&
               order_holds(f->op, scim__datetime_cmp(&dt, &f->dt));
    }
    if (json_is_string(v))
        return f->text != NULL && match_string(f, json_string_value(v), json_string_length(v));
    if (json_is_number(v))
        return match_number(f, v);
    if (json_is_boolean(v) && f->op == OP_EQ && f->text != NULL) {
        /* `primary eq "True"` from Entra is a boolean test. */
        if (scim__str_ieq(f->text, "true"))
            return json_is_true(v);
        if (scim__str_ieq(f->text, "false"))
            return json_is_false(v);
    }
    return 0;
}

/* Any value of the attribute (any element of a multi-valued one) satisfies the comparison. */
static int match_any(const scim_filter_t *f, const json_t *v, const char *sub, int top)
{
    size_t i;
    json_t *e;

    if (json_is_array(v) && top) {
        json_array_foreach(v, i, e)
        {
            if (match_any(f, e, sub, 0))
                return 1;
        }
        return 0;
    }
    if (json_is_object(v)) {
        /* A complex value without a sub-attribute compares by its "value". */
        json_t *x = scim__obj_get_ci(v, sub != NULL ? sub : "value", strlen(sub != NULL ? sub : "value"), NULL);
        return json_is_array(x) ? match_any(f, x, NULL, 1) : !json_is_object(x) && match_scalar(f, x);
    }
    return sub == NULL && match_scalar(f, v);
}

static int present(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;

    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (present(e))
                return 1;
        }
        return 0;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e)
        {
            if (present(e))
                return 1;
        }
        return 0;
    }
    return 1;
}

static int present_sub(const json_t *v, const char *sub)
{
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return present(scim__obj_get_ci(v, sub, strlen(sub), NULL));
    json_array_foreach(v, i, e)
    {
        if (json_is_object(e) && present(scim__obj_get_ci(e, sub, strlen(sub), NULL)))
            return 1;
    }
    return 0;
}

static const json_t *resolve(const attr_ref_t *ref, const json_t *ctx)
{
    const json_t *container = ctx;

    if (ref->scope == SCIM__SCOPE_UNKNOWN)
        return NULL;
    if (ref->scope == SCIM__SCOPE_ENTERPRISE)
        container = scim__obj_get_ci(ctx, SCIM_SCHEMA_ENTERPRISE_USER, strlen(SCIM_SCHEMA_ENTERPRISE_USER), NULL);
    return scim__obj_get_ci(container, ref->attr, strlen(ref->attr), NULL);
}

static int match_cmp(const scim_filter_t *f, const json_t *ctx)
{
    const json_t *v = resolve(&f->ref, ctx);
    int pr = f->ref.sub != NULL ? present_sub(v, f->ref.sub) : present(v);

    switch (f->op) {
    case OP_PR:
        return pr;
    case OP_EQ:
        return json_is_null(f->value) ? !pr : match_any(f, v, f->ref.sub, 1);
    case OP_NE:
        if (json_is_null(f->value))
            return pr;
        {
            /* ne is "no value equals": for a multi-valued attribute, not "some value differs". */
            scim_filter_t eq = *f;
            eq.op = OP_EQ;
            return !match_any(&eq, v, f->ref.sub, 1);
        }
    default:
        return match_any(f, v, f->ref.sub, 1);
    }
}

static int match_node(const scim_filter_t *f, const json_t *ctx);

static int match_element(const scim_filter_t *f, const json_t *e)
{
    return json_is_object(e) && match_node(f->left, e) && (f->right == NULL || match_node(f->right, e));
}

static int match_value_path(const scim_filter_t *f, const json_t *ctx)
{
    const json_t *v = resolve(&f->ref, ctx);
    size_t i;
    json_t *e;

    if (json_is_object(v))
        return match_element(f, v);
    json_array_foreach(v, i, e)
    {
        if (match_element(f, e))
            return 1;
    }
    return 0;
}

static int match_node(const scim_filter_t *f, const json_t *ctx)
{
    switch (f->kind) {
    case NODE_AND:
        return match_node(f->left, ctx) && match_node(f->right, ctx);
    case NODE_OR:
        return match_node(f->left, ctx) || match_node(f->right, ctx);
    case NODE_NOT:
        return !match_node(f->left, ctx);
    case NODE_CMP:
        return match_cmp(f, ctx);
    case NODE_VALUE_PATH:
        return match_value_path(f, ctx);
    }
    return 0;
}

int scim_filter_match(const scim_filter_t *filter, const json_t *resource)
{
    return filter != NULL && json_is_object(resource) && match_node(filter, resource);
}

int scim__filter_match_element(const scim_filter_t *filter, const json_t *element)
{
    return json_is_object(element) && match_node(filter, element);
}

/* ---- PATCH support and index hints ---- */

static int collect_template(const scim_filter_t *f, json_t *tmpl)
{
    if (f->kind == NODE_AND)
        return collect_template(f->left, tmpl) && collect_template(f->right, tmpl);
    if (f->kind != NODE_CMP || f->op != OP_EQ || f->ref.sub != NULL || json_is_null(f->value))
        return 0;
    json_object_set(tmpl, f->ref.attr_def != NULL ? f->ref.attr_def->name : f->ref.attr, f->value);
    return 1;
}

json_t *scim__filter_template(const scim_filter_t *filter)
{
    json_t *tmpl = json_object();
    if (filter == NULL || !collect_template(filter, tmpl)) {
        json_decref(tmpl);
        return NULL;
    }
    return tmpl;
}

static int is_eq_literal(const scim_filter_t *f)
{
    return f->kind == NODE_CMP && f->op == OP_EQ && f->text != NULL && !json_is_boolean(f->value);
}

static int def_is(const scim__attr_t *def, const char *name)
{
    return def != NULL && strcmp(def->name, name) == 0;
}

/* In an emails[...] element filter: an `value eq x` that every matching element satisfies. */
static const char *element_email(const scim_filter_t *f)
{
    const char *v;

    if (f == NULL)
        return NULL;
    if (f->kind == NODE_AND) {
        v = element_email(f->left);
        return v != NULL ? v : element_email(f->right);
    }
    if (is_eq_literal(f) && f->ref.sub == NULL && scim__str_ieq(f->ref.attr, "value"))
        return f->text;
    return NULL;
}

static scim_filter_index_t hint(const scim_filter_t *f, const char **value)
{
    scim_filter_index_t h;
    const scim__attr_t *def = f->ref.attr_def;

    if (f->kind == NODE_AND) {
        h = hint(f->left, value);
        return h != SCIM_FILTER_INDEX_NONE ? h : hint(f->right, value);
    }
    if (f->ref.scope != SCIM__SCOPE_CORE || def == NULL)
        return SCIM_FILTER_INDEX_NONE;
    if (f->kind == NODE_VALUE_PATH && def_is(def, "emails")) {
        *value = element_email(f->right);
        if (*value == NULL)
            *value = element_email(f->left);
        return *value != NULL ? SCIM_FILTER_INDEX_EMAIL : SCIM_FILTER_INDEX_NONE;
    }
    if (!is_eq_literal(f))
        return SCIM_FILTER_INDEX_NONE;
    *value = f->text;
    if (f->ref.sub == NULL && def_is(def, "id"))
        return SCIM_FILTER_INDEX_ID;
    if (f->ref.sub == NULL && def_is(def, "userName"))
        return SCIM_FILTER_INDEX_USERNAME;
    if (f->ref.sub == NULL && def_is(def, "externalId"))
        return SCIM_FILTER_INDEX_EXTERNAL_ID;
    if (def_is(def, "emails") && def_is(f->ref.sub_def, "value"))
        return SCIM_FILTER_INDEX_EMAIL;
    *value = NULL;
    return SCIM_FILTER_INDEX_NONE;
}

scim_filter_index_t scim_filter_index_hint(const scim_filter_t *filter, const char **value)
{
    const char *v = NULL;
    scim_filter_index_t h = filter != NULL ? hint(filter, &v) : SCIM_FILTER_INDEX_NONE;

    if (value != NULL)
        *value = h != SCIM_FILTER_INDEX_NONE ? v : NULL;
    return h;
}

int scim_filter_index_exact(const scim_filter_t *f)
{
    const scim__attr_t *def;

    if (f == NULL || !is_eq_literal(f) || f->ref.scope != SCIM__SCOPE_CORE || f->ref.sub != NULL)
        return 0;
    def = f->ref.attr_def;
    /*
     * The store compares user_name with COLLATE NOCASE (ASCII letters folded, like lower() above)
     * and id / external_id exactly; the filter compares by the attribute's caseExact. Only where
     * the two agree is the index's answer the filter's answer.
     */
    if (def_is(def, "userName"))
        return !f->case_exact;
    if (def_is(def, "id") || def_is(def, "externalId"))
        return f->case_exact;
    return 0;
}
