/*
 * Fuzzes the answers to the workspace group calls (odeus_group_classify): whatever Odeus, a proxy or
 * an attacker in the middle sends back. The first byte picks the call and the HTTP status, the rest
 * is the body. Checks the contract of upstream/odeus.h the mirror relies on: every answer has an
 * outcome of the table, a one-line NUL-terminated message and code; a success's items are whole
 * (groups with id and name, members with an email), its strings owned (cleared without a leak).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/odeus.h"

static const long statuses[] = {200, 201, 400, 401, 403, 404, 405, 409, 429, 500, 503, 302};

/* NUL-terminated within `cap`; with `one_line` (the message, which goes to logs) no control character. */
static void check_text(const char *s, size_t cap, int one_line)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        abort();
    for (size_t i = 0; one_line && i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    odeus_group_call_t call = (odeus_group_call_t)(data[0] % ODEUS_GROUP_CALLS);
    long status = statuses[(data[0] / ODEUS_GROUP_CALLS) % (sizeof(statuses) / sizeof(statuses[0]))];
    odeus_group_request_t req = {.call = call, .group_id = "g1", .name = "Eng"};
    odeus_group_result_t res;
    odeus_group_classify(&req, status, (const char *)data + 1, size - 1, NULL, 0, NULL, &res);
    if ((unsigned)res.result.outcome > ODEUS_OUTCOME_UNSUPPORTED)
        abort();
    check_text(res.result.message, sizeof(res.result.message), 1);
    check_text(res.code, sizeof(res.code), 0);
    if (res.result.outcome != ODEUS_OUTCOME_DONE && (res.n_items > 0 || res.n_not_found > 0 || res.next_cursor != NULL))
        abort();
    for (size_t i = 0; i < res.n_items; i++) {
        const odeus_group_item_t *it = &res.items[i];
        int member = call == ODEUS_GROUP_MEMBERS || call == ODEUS_GROUP_ADD;
        if (member ? it->email == NULL : it->id == NULL || it->name == NULL)
            abort();
    }
    for (size_t i = 0; i < res.n_not_found; i++)
        if (res.not_found[i] == NULL)
            abort();
    odeus_group_result_clear(&res);
    if (res.items != NULL || res.n_items != 0)
        abort();
    return 0;
}
