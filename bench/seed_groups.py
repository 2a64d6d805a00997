#!/usr/bin/env python3
"""Creates the two bench groups through the SCIM API the way Okta pushes them, checks them, and writes
what the wrk scripts and the nginx reference need.
Usage: seed_groups.py PORT TOKEN N MAX_BODY_BYTES POOL_MIN OUT_DIR GATEWAY_PID

- "bench patch group": min(1,000, N - POOL_MIN) of the seeded users user1..userN@example.com; the
  seeded users after them (up to 1,000, at least POOL_MIN) are the pool the PATCH row adds and removes.
- "bench get group": min(10,000, N) seeded users.
Each group is one POST /Groups with as many members as fit in MAX_BODY_BYTES (the gateway answers 413
beyond it, so a large group cannot be one request), then PATCH add chunks of the same size, each with
Okta's path-less replace {id, displayName} in front. Each group is then read back and must have exactly
the members sent. Writes OUT_DIR/pool.lua (and pool.json for check_group_patch.py), OUT_DIR/group_full.json and OUT_DIR/group_excl.json (the
gateway's own answers to GET /Groups/{id} with and without excludedAttributes=members: the wrk scripts
compare every answer with them, and nginx serves them as the reference). Prints key=value lines;
exits non-zero on any unexpected answer."""
import http.client, json, re, sys, time

port, token, n, max_body, pool_min, out, gw_pid = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                                   int(sys.argv[5]), sys.argv[6], sys.argv[7])
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}


def call(method, path, body=None, want=200):
    conn.request(method, path, body, hdr)
    r = conn.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit("%s %s: %d, expected %d: %s" % (method, path, r.status, want, data[:300]))
    return data


def seeded_users():
    """The seeded users in seed order: their ids and userNames. Users created by the POST rows
    (other names) are skipped; the seeded ones come first in the directory's order."""
    found, start = {}, 1
    while len(found) < n:
        page = json.loads(call("GET", "/scim/v2/Users?startIndex=%d&count=1000&attributes=userName" % start))
        for u in page["Resources"]:
            m = re.fullmatch(r"user(\d+)@example\.com", u["userName"])
            if m and int(m.group(1)) <= n:
                found[int(m.group(1))] = (u["id"], u["userName"])
        if len(page["Resources"]) == 0:
            break
        start += len(page["Resources"])
    if len(found) != n:
        sys.exit("found %d of the %d seeded users" % (len(found), n))
    return [found[k] for k in range(1, n + 1)]


def peak_rss_kib():
    with open("/proc/%s/status" % gw_pid) as f:
        return int(next(l for l in f if l.startswith("VmHWM")).split()[1])


def member(u):
    return json.dumps({"value": u[0], "display": u[1]}, separators=(",", ":"))


def fill(prefix, suffix, members, i):
    """The body prefix + members[i:j] + suffix with as many members as fit in max_body, and j."""
    size, j = len(prefix) + len(suffix), i
    while j < len(members) and size + len(members[j]) + (j > i) <= max_body:
        size += len(members[j]) + (j > i)
        j += 1
    if j == i:
        sys.exit("not one member fits in %d bytes" % max_body)
    return (prefix + ",".join(members[i:j]) + suffix).encode(), j


def create(name, users):
    """Creates the group, returns (id, requests, seconds)."""
    members = [member(u) for u in users]
    t0 = time.monotonic()
    head = '{"schemas":["%s"],"displayName":%s,"members":[' % (GROUP, json.dumps(name))
    body, i = fill(head, "]}", members, 0)
    created = json.loads(call("POST", "/scim/v2/Groups", body, 201))
    gid, requests = created["id"], 1
    if len(created.get("members", [])) != i:
        sys.exit("%s: POST answered %d members of %d" % (name, len(created.get("members", [])), i))
    while i < len(members):
        head = ('{"schemas":["%s"],"Operations":[{"op":"replace","value":{"id":"%s","displayName":%s}},'
                '{"op":"add","path":"members","value":[' % (PATCHOP, gid, json.dumps(name)))
        body, i = fill(head, "]}]}", members, i)
        call("PATCH", "/scim/v2/Groups/" + gid, body, 204)
        requests += 1
    return gid, requests, time.monotonic() - t0


def check(gid, name, users):
    """Reads the group back with and without its members; returns both answers as sent."""
    full = call("GET", "/scim/v2/Groups/" + gid)
    g = json.loads(full)
    got = sorted((m["value"], m["display"]) for m in g.get("members", []))
    if g["id"] != gid or g["displayName"] != name or got != sorted(users):
        sys.exit("%s: read back %d members, %d sent (or another id/name)" % (name, len(got), len(users)))
    excl = call("GET", "/scim/v2/Groups/%s?excludedAttributes=members" % gid)
    e = json.loads(excl)
    if "members" in e or e["id"] != gid or e["displayName"] != name:
        sys.exit("%s: excludedAttributes=members answered %s" % (name, excl[:300]))
    return full, excl


users = seeded_users()
g1 = min(1000, n - pool_min)
if g1 < 1:
    sys.exit("%d users: too few for a group and a pool of %d" % (n, pool_min))
pool = users[g1:g1 + 1000]
g2 = min(10000, n)

patch_id, patch_reqs, patch_s = create("bench patch group", users[:g1])
get_id, get_reqs, get_s = create("bench get group", users[:g2])
# before any read with members: what the large request bodies alone cost the gateway
rss_created = peak_rss_kib()
check(patch_id, "bench patch group", users[:g1])
full, excl = check(get_id, "bench get group", users[:g2])
# a second read must give the same bytes: the wrk scripts compare every answer with these
if call("GET", "/scim/v2/Groups/" + get_id) != full:
    sys.exit("two reads of the same group differ")

with open(out + "/group_full.json", "wb") as f:
    f.write(full)
with open(out + "/group_excl.json", "wb") as f:
    f.write(excl)
with open(out + "/pool.json", "w") as f:
    json.dump({"group": patch_id, "members": [u[0] for u in users[:g1]], "pool": [u[0] for u in pool]}, f)
with open(out + "/pool.lua", "w") as f:
    f.write("group_id = %s\ngroup_name = %s\npool = {\n" % (json.dumps(patch_id), json.dumps("bench patch group")))
    for u in pool:
        f.write("  {%s, %s},\n" % (json.dumps(u[0]), json.dumps(u[1])))
    f.write("}\n")
print("patch_group=%s patch_size=%d patch_reqs=%d patch_s=%.2f pool=%d" % (patch_id, g1, patch_reqs, patch_s, len(pool)))
print("get_group=%s get_size=%d get_reqs=%d get_s=%.2f full_bytes=%d excl_bytes=%d" %
      (get_id, g2, get_reqs, get_s, len(full), len(excl)))
print("rss_created_kib=%d rss_read_kib=%d" % (rss_created, peak_rss_kib()))
