#!/usr/bin/env python3
"""Seeds user1..userN@example.com through POST /Users over CONNS keep-alive connections.
Usage: seed.py PORT TOKEN N CONNS. Prints the number of bad answers (not 201) and exits non-zero if any."""
import http.client, json, sys, threading

port, token, n, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bad = [0] * conns

def work(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}
    for i in range(k + 1, n + 1, conns):
        name = "user%d@example.com" % i
        body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                           "active": True, "emails": [{"value": name, "primary": True}]})
        c.request("POST", "/scim/v2/Users", body, hdr)
        r = c.getresponse()
        data = r.read()
        if r.status != 201 or b'"id":"' not in data:
            bad[k] += 1

ts = [threading.Thread(target=work, args=(k,)) for k in range(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(bad))
sys.exit(1 if sum(bad) else 0)
