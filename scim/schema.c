/*
 * The User and Group attribute tables and the value rules that follow from them. See schema.h.
 */
#include "scim/schema.h"

#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Most attributes are plain readWrite strings returned by default: keep those lines short. */
#define STR(n, d)                                                                                                                  \
    {                                                                                                                              \
        n, SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, d, NULL, NULL, NULL, 0            \
    }
#define STR_CV(n, d, cv)                                                                                                           \
    {                                                                                                                              \
        n, SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, d, cv, NULL, NULL, 0              \
    }
#define BOOL(n, d)                                                                                                                 \
    {                                                                                                                              \
        n, SCIM__TYPE_BOOLEAN, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, d, NULL, NULL, NULL, 0           \
    }
#define MULTI(n, d, subs)                                                                                                          \
    {                                                                                                                              \
        n, SCIM__TYPE_COMPLEX, 1, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, d, NULL, NULL, subs, N(subs)     \
    }

static const char *const ref_external[] = {"external", NULL};
static const char *const ref_user_group[] = {"User", "Group", NULL};
static const char *const ref_user[] = {"User", NULL};
static const char *const cv_email_type[] = {"work", "home", "other", NULL};
static const char *const cv_phone_type[] = {"work", "home", "mobile", "fax", "pager", "other", NULL};
static const char *const cv_im_type[] = {"aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo", NULL};
static const char *const cv_photo_type[] = {"photo", "thumbnail", NULL};
static const char *const cv_address_type[] = {"work", "home", "other", NULL};
static const char *const cv_group_type[] = {"direct", "indirect", NULL};

static const scim__attr_t name_subs[] = {
    STR("formatted", "The full name, formatted for display."),
    STR("familyName", "The family name of the User."),
    STR("givenName", "The given name of the User."),
    STR("middleName", "The middle name(s) of the User."),
    STR("honorificPrefix", "The honorific prefix(es) of the User."),
    STR("honorificSuffix", "The honorific suffix(es) of the User."),
};

static const scim__attr_t email_subs[] = {
    STR("value", "Email address for the User."),
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR_CV("type", "A label indicating the attribute's function.", cv_email_type),
    BOOL("primary", "Indicates the primary email address; at most one value is primary."),
};

static const scim__attr_t phone_subs[] = {
    STR("value", "Phone number of the User."),
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR_CV("type", "A label indicating the attribute's function.", cv_phone_type),
    BOOL("primary", "Indicates the primary phone number; at most one value is primary."),
};

static const scim__attr_t im_subs[] = {
    STR("value", "Instant messaging address for the User."),
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR_CV("type", "A label indicating the attribute's function.", cv_im_type),
    BOOL("primary", "Indicates the primary instant messaging address; at most one value is primary."),
};

static const scim__attr_t photo_subs[] = {
    {"value", SCIM__TYPE_REFERENCE, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "URL of a photo of the User.", NULL, ref_external, NULL, 0},
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR_CV("type", "A label indicating the attribute's function.", cv_photo_type),
    BOOL("primary", "Indicates the primary photo; at most one value is primary."),
};

static const scim__attr_t address_subs[] = {
    STR("formatted", "The full mailing address, formatted for display."),
    STR("streetAddress", "The full street address component."),
    STR("locality", "The city or locality component."),
    STR("region", "The state or region component."),
    STR("postalCode", "The zip code or postal code component."),
    STR("country", "The country name component."),
    STR_CV("type", "A label indicating the attribute's function.", cv_address_type),
    BOOL("primary", "Indicates the primary address; at most one value is primary."),
};

#define RO_STR(n, d)                                                                                                               \
    {                                                                                                                              \
        n, SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, d, NULL, NULL, NULL, 0             \
    }

static const scim__attr_t group_subs[] = {
    RO_STR("value", "The identifier of the User's group."),
    {"$ref", SCIM__TYPE_REFERENCE, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The URI of the corresponding 'Group' resource.", NULL, ref_user_group, NULL, 0},
    RO_STR("display", "A human-readable name, primarily used for display purposes."),
    {"type", SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "A label indicating the attribute's function.", cv_group_type, NULL, NULL, 0},
};

static const scim__attr_t generic_subs[] = {
    STR("value", "The value of the item."),
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR("type", "A label indicating the attribute's function."),
    BOOL("primary", "Indicates the primary value; at most one value is primary."),
};

static const scim__attr_t cert_subs[] = {
    {"value", SCIM__TYPE_BINARY, 0, 0, 1, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The value of an X.509 certificate.", NULL, NULL, NULL, 0},
    STR("display", "A human-readable name, primarily used for display purposes."),
    STR("type", "A label indicating the attribute's function."),
    BOOL("primary", "Indicates the primary certificate; at most one value is primary."),
};

static const scim__attr_t user_attrs[] = {
    {"userName", SCIM__TYPE_STRING, 0, 1, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_SERVER,
     "Unique identifier for the User, typically used by the user to directly authenticate to the service "
     "provider. Compared case-insensitively.",
     NULL, NULL, NULL, 0},
    {"name", SCIM__TYPE_COMPLEX, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The components of the user's real name.", NULL, NULL, name_subs, N(name_subs)},
    STR("displayName", "The name of the User, suitable for display to end-users."),
    STR("nickName", "The casual way to address the user in real life."),
    {"profileUrl", SCIM__TYPE_REFERENCE, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "A fully qualified URL pointing to a page representing the User's online profile.", NULL, ref_external, NULL, 0},
    STR("title", "The user's title, such as \"Vice President\"."),
    STR("userType", "Used to identify the relationship between the organization and the user."),
    STR("preferredLanguage", "Indicates the User's preferred written or spoken language."),
    STR("locale", "Used to indicate the User's default location for localizing items."),
    STR("timezone", "The User's time zone in the 'Olson' time zone database format."),
    BOOL("active", "A Boolean value indicating the User's administrative status."),
    {"password", SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_WRITE_ONLY, SCIM__RET_NEVER, SCIM__UNIQ_NONE,
     "The User's cleartext password. Accepted and discarded: this service provider never stores it.", NULL, NULL, NULL, 0},
    MULTI("emails", "Email addresses for the user.", email_subs),
    MULTI("phoneNumbers", "Phone numbers for the User.", phone_subs),
    MULTI("ims", "Instant messaging addresses for the User.", im_subs),
    MULTI("photos", "URLs of photos of the User.", photo_subs),
    MULTI("addresses", "A physical mailing address for this User.", address_subs),
    {"groups", SCIM__TYPE_COMPLEX, 1, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "A list of groups to which the user belongs.", NULL, NULL, group_subs, N(group_subs)},
    MULTI("entitlements", "A list of entitlements for the User.", generic_subs),
    MULTI("roles", "A list of roles for the User.", generic_subs),
    MULTI("x509Certificates", "A list of certificates issued to the User.", cert_subs),
};

static const scim__attr_t manager_subs[] = {
    STR("value", "The id of the SCIM resource representing the User's manager."),
    {"$ref", SCIM__TYPE_REFERENCE, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The URI of the SCIM resource representing the User's manager.", NULL, ref_user, NULL, 0},
    RO_STR("displayName", "The displayName of the User's manager."),
};

static const scim__attr_t enterprise_attrs[] = {
    STR("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
    STR("costCenter", "Identifies the name of a cost center."),
    STR("organization", "Identifies the name of an organization."),
    STR("division", "Identifies the name of a division."),
    STR("department", "Identifies the name of a department."),
    {"manager", SCIM__TYPE_COMPLEX, 0, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The User's manager. A bare string is taken as its value.", NULL, NULL, manager_subs, N(manager_subs)},
};

static const char *const cv_member_type[] = {"User", "Group", NULL};

/*
 * RFC 7643 §4.2 makes every sub-attribute of members immutable; §8.7.1 lists value caseExact
 * false. Here value holds an id, which is caseExact (id is, RFC 7643 §3.1) and is compared exactly
 * by the membership index, so value says caseExact true; $ref and display are the gateway's own
 * (built from the member's record, whatever a request says), so they say readOnly.
 */
static const scim__attr_t member_subs[] = {
    {"value", SCIM__TYPE_STRING, 0, 0, 1, SCIM__MUT_IMMUTABLE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The id of the User that is a member of this Group. Compared exactly, like id.", NULL, NULL, NULL, 0},
    {"$ref", SCIM__TYPE_REFERENCE, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The URI of the member's resource. Set by the service provider; ignored in requests.", NULL, ref_user_group, NULL, 0},
    RO_STR("display", "A human-readable name of the member. Set by the service provider; ignored in requests."),
    {"type", SCIM__TYPE_STRING, 0, 0, 0, SCIM__MUT_IMMUTABLE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The type of the member's resource. Nested groups are not supported: a member of type Group is accepted and ignored.",
     cv_member_type, NULL, NULL, 0},
};

static const scim__attr_t group_attrs[] = {
    {"displayName", SCIM__TYPE_STRING, 0, 1, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_SERVER,
     "A human-readable name for the Group. Unique, compared case-insensitively.", NULL, NULL, NULL, 0},
    {"members", SCIM__TYPE_COMPLEX, 1, 0, 0, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "A list of members of the Group.", NULL, NULL, member_subs, N(member_subs)},
};

static const scim__attr_t meta_subs[] = {
    RO_STR("resourceType", "The name of the resource type of the resource."),
    {"created", SCIM__TYPE_DATETIME, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "When the resource was added to the service provider.", NULL, NULL, NULL, 0},
    {"lastModified", SCIM__TYPE_DATETIME, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "When the resource was last modified.", NULL, NULL, NULL, 0},
    {"location", SCIM__TYPE_REFERENCE, 0, 0, 1, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The URI of the resource being returned.", NULL, NULL, NULL, 0},
    {"version", SCIM__TYPE_STRING, 0, 0, 1, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "The version of the resource being returned.", NULL, NULL, NULL, 0},
};

const scim__attr_t scim__common_attrs[] = {
    {"id", SCIM__TYPE_STRING, 0, 0, 1, SCIM__MUT_READ_ONLY, SCIM__RET_ALWAYS, SCIM__UNIQ_SERVER,
     "Unique identifier for the resource, assigned by the service provider.", NULL, NULL, NULL, 0},
    {"externalId", SCIM__TYPE_STRING, 0, 0, 1, SCIM__MUT_READ_WRITE, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE,
     "Identifier of the resource as defined by the provisioning client.", NULL, NULL, NULL, 0},
    {"meta", SCIM__TYPE_COMPLEX, 0, 0, 0, SCIM__MUT_READ_ONLY, SCIM__RET_DEFAULT, SCIM__UNIQ_NONE, "Resource metadata.", NULL, NULL,
     meta_subs, N(meta_subs)},
};
const size_t scim__n_common_attrs = N(scim__common_attrs);

const scim__schema_t scim__schema_user = {SCIM_SCHEMA_USER, "User", "User Account", user_attrs, N(user_attrs)};
const scim__schema_t scim__schema_enterprise = {SCIM_SCHEMA_ENTERPRISE_USER, "EnterpriseUser", "Enterprise User", enterprise_attrs,
                                                N(enterprise_attrs)};
const scim__schema_t scim__schema_group = {SCIM_SCHEMA_GROUP, "Group", "Group", group_attrs, N(group_attrs)};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int scim__strn_ieq(const char *a, const char *b, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (a[i] == '\0' || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    }
    return a[len] == '\0';
}

int scim__str_ieq(const char *a, const char *b)
{
    return scim__strn_ieq(a, b, strlen(b));
}

const scim__attr_t *scim__attr_find(const scim__attr_t *attrs, size_t n, const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (scim__strn_ieq(attrs[i].name, name, len))
            return &attrs[i];
    }
    return NULL;
}

const scim__attr_t *scim__attr_find_in(scim_resource_t res, scim__scope_t scope, const char *name, size_t len)
{
    const scim__schema_t *core = res == SCIM_RESOURCE_GROUP ? &scim__schema_group : &scim__schema_user;
    const scim__attr_t *a;
    switch (scope) {
    case SCIM__SCOPE_CORE:
        a = scim__attr_find(core->attrs, core->n_attrs, name, len);
        return a != NULL ? a : scim__attr_find(scim__common_attrs, scim__n_common_attrs, name, len);
    case SCIM__SCOPE_ENTERPRISE:
        if (res != SCIM_RESOURCE_USER)
            return NULL;
        return scim__attr_find(scim__schema_enterprise.attrs, scim__schema_enterprise.n_attrs, name, len);
    default:
        return NULL;
    }
}

const scim__attr_t *scim__attr_find_scoped(scim__scope_t scope, const char *name, size_t len)
{
    return scim__attr_find_in(SCIM_RESOURCE_USER, scope, name, len);
}

const scim__attr_t *scim__sub_attr_find(const scim__attr_t *parent, const char *name, size_t len)
{
    if (parent == NULL || parent->type != SCIM__TYPE_COMPLEX)
        return NULL;
    return scim__attr_find(parent->sub_attrs, parent->n_sub_attrs, name, len);
}

void scim__split_urn(const char *path, size_t len, scim__scope_t *scope, const char **rest, size_t *rest_len)
{
    scim__split_urn_in(SCIM_RESOURCE_USER, path, len, scope, rest, rest_len);
}

void scim__split_urn_in(scim_resource_t res, const char *path, size_t len, scim__scope_t *scope, const char **rest,
                        size_t *rest_len)
{
    const char *core_urn = res == SCIM_RESOURCE_GROUP ? SCIM_SCHEMA_GROUP : SCIM_SCHEMA_USER;
    int has_extension = res == SCIM_RESOURCE_USER;
    size_t colon = len;
    size_t i;

    *scope = SCIM__SCOPE_CORE;
    *rest = path;
    *rest_len = len;
    if (len < 4 || !(lower((unsigned char)path[0]) == 'u' && lower((unsigned char)path[1]) == 'r' &&
                     lower((unsigned char)path[2]) == 'n' && path[3] == ':'))
        return;
    if (has_extension && scim__strn_ieq(SCIM_SCHEMA_ENTERPRISE_USER, path, len)) {
        *scope = SCIM__SCOPE_ENTERPRISE;
        *rest = path + len;
        *rest_len = 0;
        return;
    }
    /* The attribute follows the last ':' before any value filter ("2.0" dots belong to the URN). */
    for (i = 0; i < len && path[i] != '['; i++) {
        if (path[i] == ':')
            colon = i;
    }
    if (colon == len)
        return;
    if (scim__strn_ieq(core_urn, path, colon))
        *scope = SCIM__SCOPE_CORE;
    else if (has_extension && scim__strn_ieq(SCIM_SCHEMA_ENTERPRISE_USER, path, colon))
        *scope = SCIM__SCOPE_ENTERPRISE;
    else
        *scope = SCIM__SCOPE_UNKNOWN;
    *rest = path + colon + 1;
    *rest_len = len - colon - 1;
}

json_t *scim__obj_get_ci(const json_t *obj, const char *name, size_t len, const char **key)
{
    const char *k;
    json_t *v;

    if (!json_is_object(obj))
        return NULL;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (scim__strn_ieq(k, name, len)) {
            if (key != NULL)
                *key = k;
            return v;
        }
    }
    return NULL;
}

void scim__obj_del_ci(json_t *obj, const char *name)
{
    const char *k;

    while (scim__obj_get_ci(obj, name, strlen(name), &k) != NULL)
        json_object_del(obj, k);
}

int scim__is_true(const json_t *v)
{
    return json_is_true(v) || (json_is_string(v) && scim__str_ieq(json_string_value(v), "true"));
}

static const char *type_name(scim__attr_type_t t)
{
    switch (t) {
    case SCIM__TYPE_BOOLEAN:
        return "a boolean";
    case SCIM__TYPE_DECIMAL:
        return "a number";
    case SCIM__TYPE_INTEGER:
        return "an integer";
    case SCIM__TYPE_COMPLEX:
        return "an object";
    default:
        return "a string";
    }
}

static int bad_type(const scim__attr_t *attr, const scim__attr_t *parent, scim_error_t *err)
{
    if (parent != NULL)
        return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s.%s must be %s", parent->name, attr->name,
                              type_name(attr->type));
    return scim_error_set(err, 400, SCIM_TYPE_INVALID_VALUE, "%s must be %s%s", attr->name,
                          attr->multi_valued ? "an array of " : "",
                          attr->multi_valued && attr->type == SCIM__TYPE_COMPLEX ? "objects" : type_name(attr->type));
}

/* A complex value: canonical sub-attribute names; unknown, readOnly and null members dropped. */
static json_t *canon_complex(const scim__attr_t *attr, const json_t *v, scim_error_t *err)
{
    json_t *out = json_object();
    const char *k;
    json_t *sv;

    json_object_foreach((json_t *)v, k, sv)
    {
        const scim__attr_t *sub = scim__sub_attr_find(attr, k, strlen(k));
        json_t *c;
        if (sub == NULL || sub->mutability == SCIM__MUT_READ_ONLY || json_is_null(sv))
            continue;
        c = scim__value_canon_one(sub, attr, sv, err);
        if (c == NULL) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, sub->name, c);
    }
    if (json_object_size(out) == 0) {
        json_decref(out);
        return json_null();
    }
    return out;
}

json_t *scim__value_canon_one(const scim__attr_t *attr, const scim__attr_t *parent, const json_t *v, scim_error_t *err)
{
    switch (attr->type) {
    case SCIM__TYPE_BOOLEAN:
        if (json_is_boolean(v))
            return json_incref((json_t *)v);
        /* Entra (without aadOptscim062020) sends booleans as "True"/"False". */
        if (json_is_string(v) && scim__str_ieq(json_string_value(v), "true"))
            return json_true();
        if (json_is_string(v) && scim__str_ieq(json_string_value(v), "false"))
            return json_false();
        break;
    case SCIM__TYPE_INTEGER:
        if (json_is_integer(v))
            return json_incref((json_t *)v);
        break;
    case SCIM__TYPE_DECIMAL:
        if (json_is_number(v))
            return json_incref((json_t *)v);
        break;
    case SCIM__TYPE_COMPLEX:
        if (json_is_object(v))
            return canon_complex(attr, v, err);
        /* Entra sends the enterprise manager as a bare string in POST and PATCH. */
        if (json_is_string(v) && !attr->multi_valued && scim__sub_attr_find(attr, "value", 5) != NULL)
            return json_pack("{s:O}", "value", v);
        break;
    default:
        if (json_is_string(v))
            return json_incref((json_t *)v);
        break;
    }
    bad_type(attr, parent, err);
    return NULL;
}

static int is_primary_element(const json_t *e)
{
    return json_is_true(json_object_get(e, "primary"));
}

void scim__primary_keep_only(json_t *array, const json_t *keep)
{
    size_t i;
    json_t *e;

    json_array_foreach(array, i, e)
    {
        if (e != keep && is_primary_element(e))
            json_object_set_new(e, "primary", json_false());
    }
}

static json_t *canon_multi(const scim__attr_t *attr, const scim__attr_t *parent, const json_t *v, scim_error_t *err)
{
    json_t *out = json_array();
    json_t *first_primary = NULL;
    size_t i;
    json_t *e;

    json_array_foreach(v, i, e)
    {
        json_t *c;
        if (json_is_null(e))
            continue;
        if (attr->type == SCIM__TYPE_COMPLEX && !json_is_object(e)) {
            bad_type(attr, parent, err);
            json_decref(out);
            return NULL;
        }
        c = scim__value_canon_one(attr, parent, e, err);
        if (c == NULL) {
            json_decref(out);
            return NULL;
        }
        if (json_is_null(c)) {
            json_decref(c);
            continue;
        }
        if (first_primary == NULL && is_primary_element(c))
            first_primary = c;
        json_array_append_new(out, c);
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        return json_null();
    }
    if (first_primary != NULL)
        scim__primary_keep_only(out, first_primary);
    return out;
}

json_t *scim__value_canon(const scim__attr_t *attr, const scim__attr_t *parent, const json_t *v, scim_error_t *err)
{
    json_t *wrapped, *out;

    if (json_is_null(v))
        return json_null();
    if (!attr->multi_valued)
        return scim__value_canon_one(attr, parent, v, err);
    if (json_is_array(v))
        return canon_multi(attr, parent, v, err);
    /* Lenient: a single object where an array is expected is a one-element array. */
    if (attr->type == SCIM__TYPE_COMPLEX && json_is_object(v)) {
        wrapped = json_pack("[O]", v);
        out = canon_multi(attr, parent, wrapped, err);
        json_decref(wrapped);
        return out;
    }
    bad_type(attr, parent, err);
    return NULL;
}

/* ---- dateTime ---- */

/* `n` decimal digits at s; -1 when one is not a digit. */
static long digits(const char *s, size_t n)
{
    long v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (Howard Hinnant's algorithm). */
static long long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (long long)era * 146097 + doe - 719468;
}

int scim__datetime_parse(const char *s, size_t len, scim__datetime_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long y, mo, d, h, mi, sec, nanos = 0, scale = 100000000;
    size_t i = 19;

    if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return -1;
    y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    if (i < len && s[i] == '.') {
        if (++i >= len || s[i] < '0' || s[i] > '9')
            return -1;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            nanos += (s[i] - '0') * scale; /* digits past nanoseconds are dropped */
            scale /= 10;
        }
    }
    long long t = days_from_civil(y, mo, d) * 86400LL + h * 3600 + mi * 60 + sec;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        long oh, om;
        if (len - i != 6 || s[i + 3] != ':' || (oh = digits(s + i + 1, 2)) < 0 || (om = digits(s + i + 4, 2)) < 0 || oh > 14 ||
            om > 59)
            return -1;
        /* local time = UTC + offset */
        t -= (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
        i = len;
    }
    if (i != len)
        return -1;
    out->seconds = t;
    out->nanos = nanos;
    return 0;
}

int scim__datetime_cmp(const scim__datetime_t *a, const scim__datetime_t *b)
{
    if (a->seconds != b->seconds)
        return a->seconds < b->seconds ? -1 : 1;
    return a->nanos < b->nanos ? -1 : a->nanos > b->nanos;
}
