#!/usr/bin/env bash
# A first, reproducible benchmark of the gateway against the mock Odeus on 127.0.0.1:
#   bench/run.sh [N_USERS] [SECONDS]
# Builds a Release binary into build-bench, seeds N users through POST /Users (each an invite),
# then runs wrk for GET by `userName eq` filter and for PATCH deactivate/reactivate in Okta's shape
# (every request a real state change that reaches the mock Odeus). The inbound rate limit and the
# Odeus pacing are switched off: this measures the gateway, not its throttles. Prints a Markdown table with
# req/s, p50, p99 and the gateway's peak RSS. Bounded in time; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
SECS=${2:-5}
CONNS=${CONNS:-32}

scripts/install-deps.sh
command -v wrk >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk >/dev/null; }
BUILD_DIR=build-bench BUILD_TYPE=Release scripts/build.sh -DGATEWAY_TESTS=ON >/dev/null

work=$(mktemp -d /tmp/gw-bench-XXXXXX)
cleanup() { kill "$gw_pid" "$mock_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

build-bench/tests/upstream/mock-odeus >"$work/mock.url" 2>/dev/null &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
token=bench-token-0123456789abcdef
SCIM_TOKEN=$token ODEUS_API_KEY=bench-key build-bench/odeus-scim-gateway --listen 127.0.0.1:0 \
  --data-dir "$work/data" --odeus-base-url "$(head -1 "$work/mock.url")" \
  --rate-limit 0 --odeus-rate-per-sec 0 --odeus-max-concurrency 64 >"$work/gw.log" &
gw_pid=$!
port=
for _ in $(seq 100); do
  port=$(grep -o '"port":[0-9]*' "$work/gw.log" 2>/dev/null | head -1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the gateway did not start:"; cat "$work/gw.log"; exit 1; }
base="http://127.0.0.1:$port/scim/v2"

cat >"$work/create.lua" <<LUA
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"userName":"bench%d_%d@example.com","active":true}', math.random(1e9), i)
  return wrk.format("POST", "/scim/v2/Users", {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
LUA
# Seeding: N creates, one connection at a time so that the count is exact.
seed_start=$(date +%s.%N)
for i in $(seq "$N"); do
  printf '{"userName":"user%d@example.com","active":true}' "$i"
  printf '\n'
done | while read -r body; do
  curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" -d "$body" "$base/Users"
done
seed_end=$(date +%s.%N)

ids=$(curl -s -H "Authorization: Bearer $token" "$base/Users?startIndex=1&count=1000" | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
{
  echo "local ids = {"; for id in $ids; do echo "\"$id\","; done; echo "}"
  cat <<LUA
local i = 0
local off = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}'
local on  = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}'
request = function()
  local n = #ids
  local id = ids[(i % n) + 1]
  local body = (math.floor(i / n) % 2 == 0) and off or on
  i = i + 1
  return wrk.format("PATCH", "/scim/v2/Users/" .. id, {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
done = function(summary, latency, requests) end
LUA
} >"$work/patch.lua"
cat >"$work/filter.lua" <<LUA
local n = $N
request = function()
  local q = string.format('userName%%20eq%%20%%22user%d@example.com%%22', math.random(n))
  return wrk.format("GET", "/scim/v2/Users?filter=" .. q, {["Authorization"]="Bearer $token"})
end
LUA

row() { # name, wrk output
  local rps p50 p99
  rps=$(grep 'Requests/sec' <<<"$2" | awk '{print $2}')
  p50=$(grep -E '^ +50%' <<<"$2" | awk '{print $2}')
  p99=$(grep -E '^ +99%' <<<"$2" | awk '{print $2}')
  errs=$(grep -E 'Non-2xx' <<<"$2" | awk '{print $NF}' || true)
  echo "| $1 | $rps | $p50 | $p99 | ${errs:-0} |"
}
filter_out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/filter.lua" "http://127.0.0.1:$port")
patch_out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/patch.lua" "http://127.0.0.1:$port")
create_out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/create.lua" "http://127.0.0.1:$port")
rss=$(grep VmHWM /proc/"$gw_pid"/status | awk '{print $2}')

echo
echo "gateway $(build-bench/odeus-scim-gateway --version | awk '{print $2}'), $N users seeded in $(echo "$seed_end - $seed_start" | bc) s (one curl per user), wrk -t1 -c$CONNS -d${SECS}s, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
echo "| scenario | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
row "GET /Users?filter=userName eq (random user)" "$filter_out"
row "PATCH active false/true (Okta shape, each reaches Odeus)" "$patch_out"
row "POST /Users (each an invite)" "$create_out"
echo
echo "peak RSS of the gateway: $((rss / 1024)) MiB"
