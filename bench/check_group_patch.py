#!/usr/bin/env python3
"""After the PATCH rows: does the group hold what the requests sent make it hold?
Usage: check_group_patch.py PORT TOKEN POOL_JSON ISSUED
The PATCH script sends request k (k = 0, 1, ..., ISSUED - 1 over all rounds) for pool user k mod P,
an add when floor(k / P) is even and a remove otherwise; so pool user j is a member iff it was
named an odd number of times. The group's own members must all still be there. wrk counts a request
as issued when it builds it; the ones cut off when a run stops may or may not have been applied, so
the caller compares the mismatches with its connection count. Prints: members, pool users that differ, others that differ."""
import http.client, json, sys

port, token, pool_json, issued = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(pool_json) as f:
    p = json.load(f)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
conn.request("GET", "/scim/v2/Groups/" + p["group"], headers={"Authorization": "Bearer " + token})
r = conn.getresponse()
data = r.read()
if r.status != 200:
    sys.exit("GET the group: %d %s" % (r.status, data[:300]))
have = {m["value"] for m in json.loads(data).get("members", [])}
pool, members = p["pool"], set(p["members"])
named_odd = {uid for j, uid in enumerate(pool) if (issued // len(pool) + (1 if j < issued % len(pool) else 0)) % 2 == 1}
# the group's own members and users outside the pool must not move at all; pool users may differ
# by the requests cut off at the end of a run
fixed_wrong = len(members - have) + len(have - members - set(pool))
pool_wrong = len((have & set(pool)) ^ named_odd)
print(len(have), pool_wrong, fixed_wrong)
