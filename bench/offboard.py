#!/usr/bin/env python3
"""The drain of bench/mass-offboarding.sh: deactivates every user once and measures reads meanwhile.
Usage: offboard.py PORT TOKEN GATEWAY_PID CONNS PROBE_MS DRAIN_TIMEOUT_S
Reads the user ids from the gateway, then CONNS keep-alive connections PATCH each user to active:false once
(Okta's shape), while a separate process (its own interpreter lock, so that the senders never delay it) reads
every PROBE_MS a random user, alternately by id and by Okta's userName eq lookup, and samples the gateway's RSS.
The drain ends when /metrics shows no pending outbox row. Prints one JSON object with what it measured."""
import http.client, json, multiprocessing, random, sys, threading, time

port, token, gw_pid, conns = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
probe_ms, drain_timeout_s = int(sys.argv[5]), float(sys.argv[6])
AUTH = {"Authorization": "Bearer " + token}
PATCH = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "value": {"active": False}}]})


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def get(c, path):
    c.request("GET", path, headers=AUTH)
    r = c.getresponse()
    return r.status, r.read()


def list_users():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    users, start = [], 1
    while True:
        status, body = get(c, "/scim/v2/Users?startIndex=%d&count=1000&attributes=id,userName" % start)
        if status != 200:
            raise RuntimeError("listing users: %d %s" % (status, body[:200]))
        page = json.loads(body)
        users += [(u["id"], u["userName"]) for u in page["Resources"]]
        if not page["Resources"] or len(users) >= page["totalResults"]:
            return users
        start += len(page["Resources"])


def outbox_pending():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    status, body = get(c, "/metrics")
    if status != 200:
        raise RuntimeError("/metrics: %d" % status)
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith("gateway_outbox_pending{"))


def probe(users, stop, out):
    """Runs in its own process: reads until `stop` is set, then sends its samples through `out`."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    by_id, by_name, rss, bad, i = [], [], [], 0, 0
    next_t = time.monotonic()
    while not stop.is_set():
        uid, name = random.choice(users)
        path = "/scim/v2/Users/" + uid if i % 2 == 0 else \
            "/scim/v2/Users?filter=userName%20eq%20%22" + name.replace("@", "%40") + "%22"
        t0 = time.perf_counter()
        status, body = get(c, path)
        took = (time.perf_counter() - t0) * 1000
        if status != 200 or (i % 2 == 1 and b'"totalResults":1' not in body):
            bad += 1
        (by_id if i % 2 == 0 else by_name).append(took)
        rss.append(rss_kib(gw_pid))
        i += 1
        next_t += probe_ms / 1000
        time.sleep(max(0.0, next_t - time.monotonic()))
    out.send({"by_id": by_id, "by_name": by_name, "rss": rss, "bad": bad})


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else 0.0


def main():
    users = list_users()
    rss_start = rss_kib(gw_pid)
    mp = multiprocessing.get_context("fork")
    stop = mp.Event()
    rx, tx = mp.Pipe(duplex=False)
    reader = mp.Process(target=probe, args=(users, stop, tx))
    reader.start()

    counts = {"200": 0, "503": 0, "other": 0}
    lock = threading.Lock()
    next_i = [0]

    def send():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        hdr = dict(AUTH, **{"Content-Type": "application/scim+json"})
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= len(users):
                return
            c.request("PATCH", "/scim/v2/Users/" + users[i][0], PATCH, hdr)
            r = c.getresponse()
            body = r.read()
            key = "200" if r.status == 200 and b'"active":false' in body else "503" if r.status == 503 else "other"
            with lock:
                counts[key] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=send) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    sent_s = time.monotonic() - t0
    drained = False
    while time.monotonic() - t0 < drain_timeout_s:
        if outbox_pending() == 0:
            drained = True
            break
        time.sleep(0.5)
    drain_s = time.monotonic() - t0
    stop.set()
    samples = rx.recv()
    reader.join()
    reads = samples["by_id"] + samples["by_name"]
    print(json.dumps({
        "users": len(users), "sent_s": round(sent_s, 1), "drain_s": round(drain_s, 1), "drained": drained,
        "idp_answers": counts, "reads": len(reads), "bad_reads": samples["bad"],
        "get_p50_ms": round(pct(reads, 50), 2), "get_p99_ms": round(pct(reads, 99), 2), "get_max_ms": round(max(reads or [0]), 1),
        "get_id_p99_ms": round(pct(samples["by_id"], 99), 2), "get_filter_p99_ms": round(pct(samples["by_name"], 99), 2),
        "rss_start_kib": rss_start, "rss_peak_kib": max(samples["rss"] + [rss_start]),
    }))


if __name__ == "__main__":
    main()
