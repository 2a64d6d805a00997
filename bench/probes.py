#!/usr/bin/env python3
"""Resource probes: the worst cases a careless IdP or an attacker can send, each timed, with the
gateway's peak RSS. Re-runs the probes of the safety review against a gateway that bench/probes.sh
started (dry-run, throttles off) and seeded with N users.

Usage: probes.py PORT TOKEN PID N
Prints one table row per probe: the slowest answer (ms), its status, and the gateway's peak RSS
(VmHWM, MiB) after the probe. The goals: every slowest answer < 100 ms, peak RSS < 128 MiB.
Bounded: each probe sends a fixed number of requests, every socket has a timeout.
"""
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse

port, token, pid, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
AUTH = {"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"}
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def status_mib(field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def vmhwm_mib():
    return status_mib("VmHWM")


def call(method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(AUTH)
    h.update(headers or {})
    t0 = time.monotonic()
    c.request(method, path, body if body is None or isinstance(body, (bytes, str)) else json.dumps(body), h)
    r = c.getresponse()
    data = r.read()
    ms = (time.monotonic() - t0) * 1000
    c.close()
    return r.status, ms, data


def slowest(results):
    return max(results, key=lambda x: x[1])


rows = []


def probe(name, fn):
    try:
        status, ms = fn()
    except Exception as e:  # a probe that breaks the connection is a finding too
        status, ms = "error: %s" % type(e).__name__, float("nan")
    time.sleep(1)  # what the gateway gives back once the probe's connections are gone
    rows.append((name, ms, status, vmhwm_mib(), status_mib("VmRSS")))


def q(s):
    return urllib.parse.quote(s, safe="")


# 1. a long stored string and a long `co` filter against every user
def long_co():
    long_name = "ab" * 2000  # 4,000 bytes: under the string cap
    st, _, data = call("POST", "/scim/v2/Users", {"userName": "probe-long@example.com", "displayName": long_name,
                                                    "emails": [{"value": "probe-long@example.com", "primary": True}]})
    needle = "ab" * 1000 + "x"  # 2,001 bytes that almost match everywhere
    return slowest([call("GET", "/scim/v2/Users?count=10&filter=" + q('displayName co "%s"' % needle))[:2]
                    for _ in range(3)])


# 2. a PATCH with many value-path filters on one user
def patch_value_paths():
    st, _, data = call("GET", "/scim/v2/Users?filter=" + q('userName eq "user1@example.com"'))
    uid = json.loads(data)["Resources"][0]["id"]
    ops = [{"op": "remove", "path": 'emails[value co "%s"]' % ("zz" * 50)} for _ in range(100)]
    return slowest([call("PATCH", "/scim/v2/Users/" + uid, {"schemas": [PATCH_URN], "Operations": ops})[:2]
                    for _ in range(3)])


# 3. a sorted page over every user, alone and from 16 connections at once
def sorted_page():
    return slowest([call("GET", "/scim/v2/Users?sortBy=displayName&count=10")[:2] for _ in range(3)])


def sorted_page_16():
    out = []

    def one():
        out.append(call("GET", "/scim/v2/Users?sortBy=displayName&count=10")[:2])

    ts = [threading.Thread(target=one) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return slowest(out)


# 4. a long Host header with a full page (meta.location carries the Host)
def long_host():
    return slowest([call("GET", "/scim/v2/Users?count=1000", headers={"Host": "h" * 100000})[:2] for _ in range(2)])


# 5. 16 clients ask for full pages and do not read the answers
def unread_pages():
    socks = []
    for _ in range(16):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        req = ("GET /scim/v2/Users?count=1000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n" % token) * 8
        s.sendall(req.encode())
        socks.append(s)
    time.sleep(2)
    r = call("GET", "/healthz")[:2]  # the gateway still answers meanwhile
    for s in socks:
        s.close()
    return r


# 6. 400 connections each send 1 MiB without a token
def unauthenticated_bodies():
    socks, answers, failed = [], {}, 0
    body = b"x" * ((1 << 20) - 2)  # under --max-body-bytes (1 MiB)
    for _ in range(400):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall(b"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (len(body) + 1))
            s.sendall(body)  # one byte short: a gateway that reads bodies first holds it and waits
        except OSError:  # refused at accept (--max-connections), or reset: counted, the probe goes on
            failed += 1
    time.sleep(1)
    r = call("GET", "/healthz")[:2]
    for s in socks:
        try:
            s.settimeout(0.2)
            line = s.recv(64).split(b"\r\n")[0].decode(errors="replace") or "closed"
        except OSError as e:
            line = type(e).__name__
        answers[line] = answers.get(line, 0) + 1
        s.close()
    print("400 uploads without a token: send failures %d; first answer line: %s" % (failed, answers), file=sys.stderr)
    return r
# 7. 150 connections each send 1 MiB with the token: h2o holds each body whole (--max-connections caps them)
def authenticated_bodies():
    socks, failed = [], 0
    body = b"x" * ((1 << 20) - 2)
    for _ in range(150):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.sendall(b"POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                      b"Content-Length: %d\r\n\r\n" % (token.encode(), len(body) + 1))
            s.sendall(body)  # one byte short: held whole until the connection closes
        except OSError:  # refused at accept: --max-connections
            failed += 1
    time.sleep(1)
    r = call("GET", "/healthz")[:2]
    for s in socks:
        s.close()
    print("150 uploads with the token: %d refused or reset" % failed, file=sys.stderr)
    return r


probe("co filter, 2 KB needle, against %d users and a 4 KB displayName" % n, long_co)
probe("PATCH with 100 emails[value co …] paths", patch_value_paths)
probe("sortBy=displayName&count=10 over %d users" % n, sorted_page)
probe("the same from 16 connections at once", sorted_page_16)
probe("count=1000 with a 100 KB Host header", long_host)
probe("16 clients not reading 8 pages of 1000 each (then /healthz)", unread_pages)
probe("400 connections sending 1 MiB without a token (then /healthz)", unauthenticated_bodies)
probe("150 connections sending 1 MiB with the token (then /healthz)", authenticated_bodies)

print("| probe | slowest answer | status | peak RSS after | RSS 1 s after |")
print("|---|---|---|---|---|")
for name, ms, status, hwm, rss in rows:
    print("| %s | %.1f ms | %s | %.0f MiB | %.0f MiB |" % (name, ms, status, hwm, rss))
worst = max((r[1] for r in rows if r[1] == r[1]), default=0)
print("\nslowest answer %.1f ms (goal < 100 ms); peak RSS %.0f MiB (goal < 128 MiB)" % (worst, max(r[3] for r in rows)))
