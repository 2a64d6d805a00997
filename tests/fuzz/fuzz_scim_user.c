/*
 * Fuzzes scim_user_parse with arbitrary JSON, and everything the gateway then does with a parsed
 * user: render, the Odeus email and role, the email list. Checks three invariants: parsing is a
 * fixed point (parse(parse(x)) == parse(x)), a rendering parses back to the same user, and
 * gw_json_dumps writes exactly what json_dumps writes for any document (and a stored rendering
 * with meta spliced in, exactly the rendering's json_dumps).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/json.h"
#include "scim/user.h"

static void check_user(const json_t *u)
{
    scim_error_t err = {0};
    scim_user_meta_t meta = {"id-1", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z", "https://h/Users/id-1", 7};
    const char *emails[4];
    json_t *again = scim_user_parse(u, &err);
    json_t *rendered = scim_user_render(u, &meta);
    json_t *back = scim_user_parse(rendered, &err);
    json_t *expect = json_deep_copy(u);

    if (again == NULL || !json_equal(again, (json_t *)u))
        abort();
    /* Rendering adds only the default "active": true. */
    if (json_object_get(expect, "active") == NULL)
        json_object_set_new(expect, "active", json_true());
    if (back == NULL || !json_equal(back, expect))
        abort();
    /* the stored rendering with meta spliced in is byte for byte the rendering's json_dumps */
    char *stored = scim_user_render_text(u, meta.id);
    char *want = json_dumps(rendered, JSON_COMPACT | JSON_PRESERVE_ORDER);
    gw_json_buf_t spliced = {0};
    if (stored == NULL || want == NULL || scim_user_splice_meta(&spliced, stored, strlen(stored), &meta) != 0)
        abort();
    char *got = gw_json_buf_take(&spliced, NULL);
    if (got == NULL || strcmp(got, want) != 0)
        abort();
    free(got);
    free(want);
    free(stored);
    (void)scim_user_odeus_email(u, SCIM_EMAIL_PRIMARY_WORK_USERNAME);
    (void)scim_user_odeus_email(u, SCIM_EMAIL_WORK_PRIMARY_USERNAME);
    (void)scim_user_odeus_role(u, "member");
    if (scim_user_email_values(u, emails, 4) > 0 && emails[0] == NULL)
        abort();
    if (scim_user_name(u) == NULL)
        abort();
    json_decref(expect);
    json_decref(back);
    json_decref(rendered);
    json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scim_error_t err = {0};
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    json_t *u;

    if (body == NULL)
        return 0;
    if (json_is_object(body) || json_is_array(body)) {
        char *want = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t len = 0;
        char *got = gw_json_dumps(body, &len);
        if ((want == NULL) != (got == NULL) || (want != NULL && (strcmp(want, got) != 0 || len != strlen(want))))
            abort();
        free(want);
        free(got);
    }
    u = scim_user_parse(body, &err);
    if (u != NULL)
        check_user(u);
    else if (err.status != 400)
        abort();
    json_decref(u);
    json_decref(body);
    return 0;
}
