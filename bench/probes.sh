#!/usr/bin/env bash
# Resource probes (the safety review's worst cases), measured:
#   bench/probes.sh [-n N_USERS]        (default 20,000 users)
# Builds the Release gateway (build-bench), starts it on a fresh directory in dry-run with the
# throttles off on 127.0.0.1, seeds N users (bench/seed.py), then bench/probes.py sends each probe
# and prints, per probe, the slowest answer and the gateway's peak RSS (VmHWM) after it, against
# the goals: every slowest answer < 100 ms, peak RSS < 128 MiB. The goals are reported, not
# enforced (exit 0 unless the gateway fails to start or dies). Bounded: fixed request counts, timeouts.
set -euo pipefail
cd "$(dirname "$0")/.."
N=20000
while getopts "n:" o; do
  case $o in
    n) N=$OPTARG ;;
    *) echo "usage: $0 [-n users]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DGATEWAY_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target odeus-scim-gateway >/dev/null

work=$(mktemp -d /tmp/gw-probes-XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(openssl rand -hex 24)
SCIM_TOKEN=$token build-bench/odeus-scim-gateway --listen "127.0.0.1:$port" --data-dir "$work/data" --dry-run \
  --threads 1 --rate-limit 0 --odeus-rate-per-sec 0 --log-level warn >"$work/gw.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
echo "seeding $N users..."
python3 bench/seed.py "$port" "$token" "$N" 16 >/dev/null
echo "peak RSS after seeding: $(awk '/VmHWM/{print int($2 / 1024)}' "/proc/$pid/status") MiB"
echo
python3 bench/probes.py "$port" "$token" "$pid" "$N"
kill -0 "$pid" || { echo "the gateway died:"; tail -20 "$work/gw.log"; exit 1; }
