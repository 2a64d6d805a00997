/*
 * Helpers of the group tests (test_mirror.c, test_replicas_groups.c): SCIM calls that create users
 * and groups and patch them, and the directory's groups and the mock Odeus' workspace groups in
 * one comparable text form. Test code only.
 */
#ifndef TESTS_GATEWAY_GROUPS_UTIL_H
#define TESTS_GATEWAY_GROUPS_UTIL_H

#include <stddef.h>

#include "harness.h"

struct mock_odeus;

/** POSTs user NAME@example.com (active, that primary email) and asserts 201; returns its id (malloc'd). */
char *groups_user(gw_proc_t *gw, const char *name);
/** POSTs a group with body `body` and asserts 201; returns its id (malloc'd). */
char *groups_group(gw_proc_t *gw, const char *body);
/** PATCHes `path` with the PatchOp `ops` (a JSON array of operations) and asserts 200 or 204. */
void groups_patch(gw_proc_t *gw, const char *path, const char *ops);

/*
 * Groups as text, "name:email,email;name:…": groups by name, members' emails, both sorted ignoring
 * case, so that the directory and Odeus compare with strcmp.
 */
/** The mock's workspace groups, into buf. */
const char *groups_of_mock(struct mock_odeus *mock, char *buf, size_t len);
/** The directory's groups as the gateway answers them, with the emails of the members who hold a seat (are active). */
const char *groups_of_directory(gw_proc_t *gw, char *buf, size_t len);

#endif
