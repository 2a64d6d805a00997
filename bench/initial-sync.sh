#!/usr/bin/env bash
# An IdP's initial sync, measured: N users created from C connections through a mock Odeus that
# admits R calls a second (429 beyond), with the gateway's defaults (batched invites, the growing
# pacer). Prints when the creates were answered and when the last invite was delivered, the invite
# calls and addresses, the addresses retried after a 429, and the floor N / (R x batch 100).
#   bench/initial-sync.sh [-n N] [-c CONNECTIONS] [-r RATE]     (defaults 10,000 users, 8, 20/s)
# Loopback only; bounded: the seeding is N requests, the wait for the outbox at most 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000 C=8 R=20
while getopts "n:c:r:" o; do
  case $o in
    n) N=$OPTARG ;; c) C=$OPTARG ;; r) R=$OPTARG ;;
    *) echo "usage: $0 [-n users] [-c connections] [-r odeus calls per second]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
# its own build directory: the mock Odeus is a test program, which build-bench leaves out
cmake -S . -B build-sync -DCMAKE_BUILD_TYPE=Release -DGATEWAY_TESTS=ON >/dev/null
cmake --build build-sync -j"$(nproc)" --target odeus-scim-gateway mock-odeus >/dev/null
work=$(mktemp -d /tmp/gw-sync-XXXXXX)
token=$(openssl rand -hex 24)
build-sync/tests/upstream/mock-odeus --rate-limit "$R" --quiet >"$work/mock.log" 2>&1 &
mpid=$!
trap 'kill "$mpid" "${gpid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q http "$work/mock.log" && break; sleep 0.05; done
murl=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/mock.log" | head -1)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ODEUS_API_KEY=bench-key-0123456789abcdef SCIM_TOKEN=$token build-sync/odeus-scim-gateway --listen "127.0.0.1:$port" \
  --data-dir "$work/data" --odeus-base-url "$murl" --threads 1 --rate-limit 0 --log-level warn >"$work/gw.log" 2>&1 &
gpid=$!
for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
metric() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" | awk -v m="$1" 'index($0, m " ") == 1 {print $2}'; }
t0=$(date +%s.%N)
bad=$(python3 bench/seed.py "$port" "$token" "$N" "$C" || true)
t1=$(date +%s.%N)
for _ in $(seq 3000); do [ "$(metric 'gateway_outbox_pending{kind="invite"}')" = 0 ] && break; sleep 0.2; done
t2=$(date +%s.%N)
floor=$(echo "scale=2; $N / ($R * 100)" | bc)
empty=$(echo "$t2 - $t0" | bc)
echo "initial sync: $N users from $C connections, Odeus admitting $R calls/s"
echo "  creates answered after $(echo "$t1 - $t0" | bc) s ($bad bad answers); last invite delivered after $empty s"
echo "  floor $floor s; ratio $(echo "scale=2; $empty / $floor" | bc)"
echo "  invite calls $(metric gateway_odeus_invites_per_call_count) for $(metric gateway_odeus_invites_per_call_sum) addresses;" \
  "addresses retried $(metric 'gateway_odeus_calls_total{endpoint="invite",outcome="retry"}')"
