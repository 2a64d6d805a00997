/*
 * Fuzzes scim_filter_parse with arbitrary bytes, then matches what parsed against a fixed,
 * rich resource and asks for the index hint, so the matcher sees every shape the parser accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "scim/filter.h"

static const char RESOURCE[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"2819c223-7f76-453a-919d-413861904646\",\"externalId\":\"ExtID-1\","
    "\"userName\":\"Alice.Smith@Example.com\",\"name\":{\"familyName\":\"Employee\",\"givenName\":\"Ollie\"},"
    "\"title\":\"Engineer\",\"active\":true,\"n\":5,\"x\":2.5,\"nul\":null,"
    "\"emails\":[{\"value\":\"alice@corp.example\",\"type\":\"work\",\"primary\":true},"
    "{\"value\":\"alice@home.example\",\"type\":\"home\"},\"odd\",[1,2],null,{}],"
    "\"roles\":[{\"value\":[\"nested\"]},{\"value\":{\"deep\":1}}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"department\":\"R&D\","
    "\"manager\":{\"value\":\"m-1\"}},"
    "\"meta\":{\"resourceType\":\"User\",\"created\":\"2026-11-27T10:00:00.000Z\","
    "\"lastModified\":\"2026-11-27T12:00:00.000Z\",\"location\":\"https://h/Users/1\",\"version\":\"W/\\\"1\\\"\"}}";

static json_t *resource;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scim_error_t err = {0};
    scim_filter_t *f;
    const char *value;

    if (resource == NULL)
        resource = json_loads(RESOURCE, 0, NULL);
    f = scim_filter_parse((const char *)data, size, &err);
    if (f == NULL) {
        if (err.status != 400)
            abort();
        return 0;
    }
    (void)scim_filter_match(f, resource);
    if (scim_filter_index_hint(f, &value) != SCIM_FILTER_INDEX_NONE && value == NULL)
        abort();
    scim_filter_free(f);
    return 0;
}
