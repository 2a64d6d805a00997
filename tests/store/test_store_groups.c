/*
 * Groups and memberships through store/store.h, against a real SQLite file (or, as
 * test_store_groups_pg, a fresh PostgreSQL database: tests/store/test_db.h): uniqueness of
 * displayName, look-ups by every index, set semantics of memberships, and the cascades when a
 * group or a user goes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/test_db.h"

typedef struct fixture {
    char dir[64];
    char url[512];
    store_t *s;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_store_groups.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128], err[256] = "";
    snprintf(path, sizeof(path), "%s/gateway.db", f->dir);
    test_db_fresh(f->url, sizeof(f->url), path);
    f->s = store_open(f->url, err, sizeof(err));
    if (f->s == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    store_close(f->s);
    test_db_drop(f->url);
    assert_int_equal(nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(f);
    return 0;
}

static void add_user(store_t *s, const char *id, const char *user_name)
{
    store_user_t u = {.id = (char *)id,
                      .user_name = (char *)user_name,
                      .active = 1,
                      .created = "2026-01-01T00:00:00Z",
                      .last_modified = "2026-01-01T00:00:00Z",
                      .version = 1,
                      .resource = "{}"};
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
}

static store_group_t group(const char *id, const char *name, const char *external_id)
{
    return (store_group_t){.id = (char *)id,
                           .display_name = (char *)name,
                           .external_id = (char *)external_id,
                           .created = "2026-01-01T00:00:00Z",
                           .last_modified = "2026-01-01T00:00:00Z",
                           .version = 1,
                           .resource = "{\"displayName\":\"x\"}"};
}

/* Collects the ids (or user ids) a visit sees, comma-separated. */
static int collect_group(void *ctx, const store_group_t *g)
{
    char *buf = ctx;
    size_t len = strlen(buf);
    snprintf(buf + len, 256 - len, "%s%s", len > 0 ? "," : "", g->id);
    return 0;
}

static int collect_member(void *ctx, const char *user_id, const char *user_name)
{
    char *buf = ctx;
    size_t len = strlen(buf);
    snprintf(buf + len, 256 - len, "%s%s:%s", len > 0 ? "," : "", user_id, user_name);
    return 0;
}

static const char *groups_by(store_t *s, store_group_index_t index, const char *value, char *buf)
{
    buf[0] = '\0';
    assert_int_equal(store_group_scan(s, index, value, collect_group, buf), STORE_OK);
    return buf;
}

static const char *members_of(store_t *s, const char *group_id, char *buf)
{
    buf[0] = '\0';
    assert_int_equal(store_group_members(s, group_id, collect_member, buf), STORE_OK);
    return buf;
}

static void test_group_rows(void **state)
{
    fixture_t *f = *state;
    char buf[256];
    store_group_t eng = group("g1", "Engineering", "ext-1"), ops = group("g2", "Ops", NULL);
    assert_int_equal(store_group_insert(f->s, &eng), STORE_OK);
    assert_int_equal(store_group_insert(f->s, &ops), STORE_OK);
    store_group_t dup = group("g3", "ENGINEERING", NULL);
    assert_int_equal(store_group_insert(f->s, &dup), STORE_CONFLICT);
    assert_non_null(strstr(store_errmsg(f->s), "displayName already taken"));

    store_group_t out;
    assert_int_equal(store_group_get(f->s, "g1", &out), STORE_OK);
    assert_string_equal(out.display_name, "Engineering");
    assert_string_equal(out.external_id, "ext-1");
    assert_int_equal(out.version, 1);
    store_group_clear(&out);
    assert_int_equal(store_group_get(f->s, "nope", &out), STORE_NOT_FOUND);

    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_DISPLAY_NAME, "engineering", buf), "g1");
    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_EXTERNAL_ID, "ext-1", buf), "g1");
    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_EXTERNAL_ID, "EXT-1", buf), "");
    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_ID, "g2", buf), "g2");
    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_ALL, NULL, buf), "g1,g2");
    assert_int_equal(store_group_scan(f->s, (store_group_index_t)99, NULL, collect_group, buf), STORE_ERROR);

    /* a rename onto a taken name conflicts; a rename to a free one keeps the row's place */
    ops.display_name = "engineering";
    assert_int_equal(store_group_update(f->s, &ops), STORE_CONFLICT);
    ops.display_name = "Platform";
    ops.version = 2;
    assert_int_equal(store_group_update(f->s, &ops), STORE_OK);
    int64_t v = 0;
    assert_int_equal(store_group_version(f->s, "g2", &v), STORE_OK);
    assert_int_equal(v, 2);
    buf[0] = '\0';
    assert_int_equal(store_group_page(f->s, 1, 10, collect_group, buf), STORE_OK);
    assert_string_equal(buf, "g2");
    size_t n = 0;
    assert_int_equal(store_group_count(f->s, &n), STORE_OK);
    assert_int_equal(n, 2);
    store_group_t ghost = group("g9", "Ghost", NULL);
    assert_int_equal(store_group_update(f->s, &ghost), STORE_NOT_FOUND);
    assert_int_equal(store_group_delete(f->s, "g9"), STORE_NOT_FOUND);
}

static void test_memberships(void **state)
{
    fixture_t *f = *state;
    char buf[256];
    add_user(f->s, "u1", "ann");
    add_user(f->s, "u2", "bob");
    store_group_t eng = group("g1", "Engineering", NULL), ops = group("g2", "Ops", NULL);
    assert_int_equal(store_group_insert(f->s, &eng), STORE_OK);
    assert_int_equal(store_group_insert(f->s, &ops), STORE_OK);

    int added = -1, removed = -1;
    assert_int_equal(store_group_member_add(f->s, "g1", "u2", &added), STORE_OK);
    assert_int_equal(added, 1);
    assert_int_equal(store_group_member_add(f->s, "g1", "u1", &added), STORE_OK);
    assert_int_equal(store_group_member_add(f->s, "g1", "u1", &added), STORE_OK);
    assert_int_equal(added, 0); /* already a member: success, no change */
    assert_int_equal(store_group_member_add(f->s, "g1", "nobody", &added), STORE_NOT_FOUND);
    assert_int_equal(added, 0);
    assert_int_equal(store_group_member_add(f->s, "g2", "u1", &added), STORE_OK);
    /* listed in the users' creation order, with their userName */
    assert_string_equal(members_of(f->s, "g1", buf), "u1:ann,u2:bob");
    size_t n = 0;
    assert_int_equal(store_group_member_count(f->s, "g1", &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(groups_by(f->s, STORE_GROUP_SCAN_MEMBER, "u1", buf), "g1,g2");
    buf[0] = '\0';
    assert_int_equal(store_user_groups(f->s, "u1", collect_group, buf), STORE_OK);
    assert_string_equal(buf, "g1,g2");

    assert_int_equal(store_group_member_remove(f->s, "g1", "u2", &removed), STORE_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(store_group_member_remove(f->s, "g1", "u2", &removed), STORE_OK);
    assert_int_equal(removed, 0);

    /* a deleted user leaves its groups; a deleted group leaves its members' lists */
    assert_int_equal(store_user_delete(f->s, "u1"), STORE_OK);
    assert_string_equal(members_of(f->s, "g1", buf), "");
    assert_int_equal(store_group_member_add(f->s, "g2", "u2", &added), STORE_OK);
    assert_int_equal(store_group_delete(f->s, "g2"), STORE_OK);
    buf[0] = '\0';
    assert_int_equal(store_user_groups(f->s, "u2", collect_group, buf), STORE_OK);
    assert_string_equal(buf, "");

    assert_int_equal(store_group_member_add(f->s, "g1", "u2", &added), STORE_OK);
    assert_int_equal(store_group_members_clear(f->s, "g1"), STORE_OK);
    assert_string_equal(members_of(f->s, "g1", buf), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memberships, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
