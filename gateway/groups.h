/*
 * The SCIM /Groups endpoints (README, "Groups"): the gateway's directory of groups and their
 * memberships, in the shapes Okta's Group Push and Entra's group provisioning send.
 *
 * Every write runs inside the worker's batch transaction from its first read: the group it
 * changes, the members it adds or removes, and the Odeus role of each member it touches
 * (--group-role-map; users_lifecycle.h, gw_users_role_recompute) are read and written in one
 * savepoint, so concurrent requests on other worker threads cannot interleave with it. Group
 * requests answer once committed, like grants; the role changes they cause go out from the outbox.
 *
 * Membership changes cost in proportion to the members they touch: adding one member to a large
 * group writes one row and recomputes one user's role.
 *
 * Thread: the request's worker. Each call answers the request, now or after the commit.
 */
#ifndef GATEWAY_GROUPS_H
#define GATEWAY_GROUPS_H

#include "gateway/respond.h"

/** POST /Groups. */
void gw_groups_create(gw_request_t *r);
/** GET /Groups/{id}, with attributes/excludedAttributes and If-None-Match. */
void gw_groups_get(gw_request_t *r, const char *id);
/** PUT /Groups/{id}: the members given replace the group's. */
void gw_groups_replace(gw_request_t *r, const char *id);
/** PATCH /Groups/{id}: 204, or 200 with the group when `attributes` is given. */
void gw_groups_patch(gw_request_t *r, const char *id);
/** DELETE /Groups/{id}: its memberships go with it, and its members' roles are worked out again. */
void gw_groups_delete(gw_request_t *r, const char *id);
/** GET /Groups: filter, sort, paging. */
void gw_groups_list(gw_request_t *r);
/** POST /Groups/.search. */
void gw_groups_search(gw_request_t *r);

#endif
