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

/* ---- the Odeus group mirror ------------------------------------------------------------------- */

static void add_seat_user(store_t *s, const char *id, const char *email, int held)
{
    store_user_t u = {.id = (char *)id,
                      .user_name = (char *)id,
                      .odeus_email = (char *)email,
                      .active = held,
                      .seat_held = held,
                      .created = "2026-01-01T00:00:00Z",
                      .last_modified = "2026-01-01T00:00:00Z",
                      .version = 1,
                      .resource = "{}"};
    assert_int_equal(store_user_insert(s, &u), STORE_OK);
}

/* "email:want/have/pending/next>0" of every address of the group's mirror, comma-separated. */
static int collect_mirror_member(void *ctx, const store_mirror_member_t *m)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s%s:%d%d%d%d", n > 0 ? "," : "", m->email, m->want, m->have, m->seat_pending, m->next_at > 0);
    return 0;
}

static const char *mirror_members(store_t *s, const char *group_id, char *buf)
{
    buf[0] = '\0';
    assert_int_equal(store_mirror_members(s, group_id, collect_mirror_member, buf), STORE_OK);
    return buf;
}

static int collect_mirror_group(void *ctx, const store_mirror_group_t *g)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%s", n > 0 ? "," : "", g->group_id);
    return 0;
}

static int64_t queue_row(store_t *s, const char *user_id, const char *action, const char *email)
{
    int64_t id = 0;
    store_outbox_t row = {.user_id = (char *)user_id, .action = (char *)action, .email = (char *)email, .created_at_ms = 1};
    assert_int_equal(store_outbox_insert(s, &row, &id), STORE_OK);
    return id;
}

typedef struct carol {
    int have, sends;
    int64_t next_at, until_at;
} carol_t;

static int find_carol(void *ctx, const store_mirror_member_t *m)
{
    carol_t *c = ctx;
    if (strcmp(m->email, "carol@x.io") == 0)
        *c = (carol_t){m->have, m->sends, m->next_at, m->until_at};
    return 0;
}

static void test_mirror(void **state)
{
    fixture_t *f = *state;
    store_t *s = f->s;
    char buf[512];
    store_group_t g = group("g1", "Eng", NULL);
    assert_int_equal(store_group_insert(s, &g), STORE_OK);
    add_seat_user(s, "u1", "Ann@X.io", 1);
    add_seat_user(s, "u2", "bob@x.io", 0); /* inactive: no seat */
    add_seat_user(s, "u3", "ann@x.io", 0); /* the same seat as u1 */
    add_user(s, "u4", "never-invited");
    int added;
    for (const char *const *u = (const char *const[]){"u1", "u2", "u3", "u4", NULL}; *u != NULL; u++)
        assert_int_equal(store_group_member_add(s, "g1", *u, &added), STORE_OK);

    /* not mirrored yet */
    store_mirror_group_t m;
    assert_int_equal(store_mirror_group_get(s, "g1", &m), STORE_NOT_FOUND);
    store_mirror_group_t put = {.group_id = "g1", .state = STORE_MIRROR_PENDING, .updated_ms = 5};
    assert_int_equal(store_mirror_group_put(s, &put), STORE_OK);
    put.odeus_id = "o1";
    put.state = STORE_MIRROR_LIVE;
    assert_int_equal(store_mirror_group_put(s, &put), STORE_OK);
    assert_int_equal(store_mirror_group_get(s, "g1", &m), STORE_OK);
    assert_string_equal(m.odeus_id, "o1");
    assert_int_equal(m.state, STORE_MIRROR_LIVE);
    store_mirror_group_clear(&m);

    /* one address per seat, wanted when one of its users holds it; users never invited are not there */
    assert_string_equal(mirror_members(s, "g1", buf), "ann@x.io:1000,bob@x.io:0000");
    /* Odeus confirmed ann, did not find carol (an address the mirror knows without a member) */
    assert_int_equal(store_mirror_member_put(s, "g1", "ANN@x.io", 1, 0, 0, NULL), STORE_OK);
    assert_int_equal(store_mirror_member_put(s, "g1", "carol@x.io", 0, 100, 1000, "not found"), STORE_OK);
    queue_row(s, "u2", "invite", "Bob@x.io");
    assert_string_equal(mirror_members(s, "g1", buf), "ann@x.io:1100,bob@x.io:0010,carol@x.io:0001");

    /* which groups a seat is in, by its users or by what the mirror knows; re-sends due */
    buf[0] = '\0';
    assert_int_equal(store_mirror_groups(s, "u2", NULL, 0, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "g1");
    buf[0] = '\0';
    assert_int_equal(store_mirror_groups(s, NULL, "carol@x.io", 0, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "g1");
    buf[0] = '\0';
    assert_int_equal(store_mirror_groups(s, "nobody", "dan@x.io", 0, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "");
    buf[0] = '\0';
    assert_int_equal(store_mirror_groups(s, NULL, NULL, 99, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "");
    assert_int_equal(store_mirror_groups(s, NULL, NULL, 100, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "g1");
    /* not while the group has a pending row of its own */
    queue_row(s, "g1", "group_members", "group:g1");
    buf[0] = '\0';
    assert_int_equal(store_mirror_groups(s, NULL, NULL, 100, collect_mirror_group, buf), STORE_OK);
    assert_string_equal(buf, "");

    /* not found again: one more send, the end of the re-sends as first set; found at last: reset */
    assert_int_equal(store_mirror_member_put(s, "g1", "carol@x.io", 0, 200, 5000, "still not found"), STORE_OK);
    carol_t c = {0};
    assert_int_equal(store_mirror_members(s, "g1", find_carol, &c), STORE_OK);
    assert_int_equal(c.sends, 2);
    assert_int_equal(c.until_at, 1000);
    assert_int_equal(c.next_at, 200);
    assert_int_equal(store_mirror_member_put(s, "g1", "carol@x.io", 1, 0, 0, NULL), STORE_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(store_mirror_members(s, "g1", find_carol, &c), STORE_OK);
    assert_int_equal(c.have, 1);
    assert_int_equal(c.sends, 0);
    assert_int_equal(c.next_at, 0);

    /* forgetting: the entry, then the whole mirror */
    assert_int_equal(store_mirror_member_put(s, "g1", "carol@x.io", 0, 0, 0, NULL), STORE_OK);
    assert_string_equal(mirror_members(s, "g1", buf), "ann@x.io:1100,bob@x.io:0010");
    assert_int_equal(store_mirror_group_forget(s, "g1"), STORE_OK);
    assert_int_equal(store_mirror_group_get(s, "g1", &m), STORE_NOT_FOUND);
    assert_string_equal(mirror_members(s, "g1", buf), "ann@x.io:1000,bob@x.io:0010");
}

/* A group's queue coalesces like a seat's: the newest sync supersedes older ones, a delete everything. */
static void test_group_queue_coalesces(void **state)
{
    fixture_t *f = *state;
    store_t *s = f->s;
    int64_t create = queue_row(s, "g1", "group_create", "group:g1");
    int64_t sync1 = queue_row(s, "g1", "group_members", "group:g1");
    int64_t rename = queue_row(s, "g1", "group_rename", "group:g1");
    int64_t sync2 = queue_row(s, "g1", "group_members", "group:g1");
    int64_t other = queue_row(s, "g2", "group_members", "group:g2");
    store_outbox_t row;
    assert_int_equal(store_outbox_get(s, sync1, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_SUPERSEDED);
    assert_int_equal(row.superseded_by, sync2);
    store_outbox_clear(&row);
    assert_int_equal(store_outbox_get(s, rename, &row), STORE_OK);
    assert_int_equal(row.state, STORE_OUTBOX_PENDING);
    store_outbox_clear(&row);
    int64_t del = queue_row(s, "g1", "group_delete", "group:g1");
    for (int64_t id = create; id < del; id++) {
        assert_int_equal(store_outbox_get(s, id, &row), STORE_OK);
        assert_int_equal(row.state, id == other ? STORE_OUTBOX_PENDING : STORE_OUTBOX_SUPERSEDED);
        store_outbox_clear(&row);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memberships, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mirror, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_queue_coalesces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
