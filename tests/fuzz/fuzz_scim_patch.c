/*
 * Fuzzes scim_patch_apply with arbitrary JSON bodies against a fixed canonical user, then runs
 * scim_user_parse on the result as the gateway does: whatever PATCH leaves must re-validate
 * without crashing, and a valid result must be a fixed point of scim_user_parse.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "scim/patch.h"
#include "scim/user.h"

static const char USER[] = "{\"userName\":\"alice@corp.example\",\"externalId\":\"e1\",\"active\":true,"
                           "\"name\":{\"givenName\":\"Alice\",\"familyName\":\"Smith\"},"
                           "\"emails\":[{\"value\":\"alice@corp.example\",\"type\":\"work\",\"primary\":true},"
                           "{\"value\":\"alice@home.example\",\"type\":\"home\"}],"
                           "\"roles\":[{\"value\":\"admin\"}],"
                           "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"R&D\","
                           "\"manager\":{\"value\":\"m-1\"}}}";

static json_t *base_user;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scim_error_t err = {0};
    json_t *body, *user, *canon, *again;

    if (base_user == NULL)
        base_user = json_loads(USER, 0, NULL);
    body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (body == NULL)
        return 0;
    user = json_deep_copy(base_user);
    if (scim_patch_apply(user, body, &err) == 0) {
        canon = scim_user_parse(user, &err);
        if (canon != NULL) {
            again = scim_user_parse(canon, &err);
            if (again == NULL || !json_equal(canon, again))
                abort();
            json_decref(again);
            json_decref(canon);
        }
    } else if (err.status != 400) {
        abort();
    }
    json_decref(user);
    json_decref(body);
    return 0;
}
