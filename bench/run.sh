#!/usr/bin/env bash
# The gateway's benchmark, one command, loopback only, bounded in time:
#   bench/run.sh [-n N_USERS] [-r ROUNDS] [-d SECONDS] [-c CONNECTIONS] [-S SYNC_USERS] [-R SYNC_RATE] [-P]
# (defaults: 1000 users, 3 rounds, 5 s per run, 64 connections, no initial sync (-S 0), 20 calls/s,
# SQLite only;
# env LOG_LEVEL=warn, THREADS=1, MAX_BODY=1048576, FSYNC_DELAY_US=1000).
#
# 1. Builds the Release binary (build-bench) and installs the bench-only packages (nginx-light, wrk).
# 2. Starts one nginx (one worker) that is at once the fake Odeus (the three endpoints answer fixed
#    JSON, 401 without the right key, every call logged so that the calls it really received are
#    counted) and the two reference servers: "direct" serves a fixed copy of the gateway's own
#    filter answer, "proxy" forwards each PATCH to the fake Odeus (one upstream hop).
# 3. Starts the gateway on a fresh data directory with the throttles off (inbound rate limit, Odeus
#    pacing), seeds N users through POST /Users (bench/seed.py, CONNS keep-alive connections), then
#    runs ROUNDS alternating rounds of: direct nginx GET, gateway GET by userName eq filter, nginx
#    proxy PATCH, gateway PATCH deactivate/reactivate (Okta's shape; every request a real state change
#    that reaches Odeus), gateway PATCH displayName (a durable change with no Odeus call), gateway POST
#    create, and the two PATCH rows again against a second gateway on a copy of the seeded data
#    directory whose flushes are slowed (slow storage: bench/fsync_shim.c, LD_PRELOADed, sleeps
#    FSYNC_DELAY_US before every fsync/fdatasync in that directory, as ~1 ms cloud block storage
#    would). Then an Okta-style import over one connection (startIndex=k&count=100 over the whole
#    directory). Then the group rows (bench/seed_groups.py creates, through POST /Groups and PATCH add
#    chunks within --max-body-bytes, a group of min(1,000, N - 2 * CONNS) users and one of min(10,000, N)):
#    nginx direct and gateway GET /Groups/{id}?excludedAttributes=members, gateway PATCH add/remove one
#    member in Okta's shape (every request a real change; bench/check_group_patch.py reads the group back
#    afterwards), and, with 4 connections and only if one read takes < 250 ms, nginx direct and gateway
#    GET of the large group with its members. Then a restart on the full directory (start-up time).
# 4. With -S N: an IdP's initial sync. A fake Odeus that admits at most SYNC_RATE calls/s (nginx
#    limit_req, a second's worth of burst, 429 beyond) and a gateway on a fresh data directory with
#    the default pacing and batching; N users are created through POST /Users (bench/seed.py) from
#    64 connections, and again from 8 (closer to Entra), ROUNDS times each; wall time until the last
#    invite is delivered, Odeus calls, 429s, and the ratio to the floor N / (SYNC_RATE x 100).
# 5. With -P: the PostgreSQL rows. A throwaway PostgreSQL server (tests/pg/pg-throwaway.sh with
#    PG_FSYNC=on: every commit waits for its WAL flush, on the same disk as the SQLite rows) pinned to
#    the gateway's CPU; the seeded SQLite database is copied into it with `odeus-scim-gateway migrate`
#    (after the seeding's invites were delivered) and a second gateway serves it (--database through
#    GATEWAY_DATABASE_URL_FILE, a data directory of its own for its audit log). Every gateway row of
#    3. and 4. except the slow-storage ones (the fsync shim slows the gateway's own flushes; on
#    PostgreSQL the WAL flush is the server's) runs against it too, right after its SQLite row in the
#    same round, same script, connections and duration; its × column is the ratio to that SQLite row,
#    its CPU column the gateway's plus the PostgreSQL server's (all its processes). The initial sync
#    (-S) gets a fresh database per run.
# The gateway, nginx and the PostgreSQL server are pinned to CPU 0, wrk to CPU 1 (taskset). Every
# answer is checked (status and body); the table gives medians over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000 ROUNDS=3 SECS=5 CONNS=64 SYNC_N=0 SYNC_RATE=20 PG=0
while getopts "n:r:d:c:S:R:P" o; do
  case $o in
    n) N=$OPTARG ;; r) ROUNDS=$OPTARG ;; d) SECS=$OPTARG ;; c) CONNS=$OPTARG ;; S) SYNC_N=$OPTARG ;; R) SYNC_RATE=$OPTARG ;;
    P) PG=1 ;;
    *) echo "usage: $0 [-n users] [-r rounds] [-d seconds] [-c connections] [-S sync_users] [-R sync_rate] [-P]" >&2; exit 2 ;;
  esac
done
FSYNC_DELAY_US=${FSYNC_DELAY_US:-1000}
LOG_LEVEL=${LOG_LEVEL:-warn}
MAX_BODY=${MAX_BODY:-1048576} # --max-body-bytes (the gateway's default), passed explicitly: the group setup packs bodies to it
THREADS=${THREADS:-1}
GW_CPU=0 WRK_CPU=1
[ "$(nproc)" -ge 2 ] || { GW_CPU=0 WRK_CPU=0; echo "warning: one CPU only, wrk shares it" >&2; }

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench needs: ${need[*]} (apt-get install ${need[*]})" >&2; exit 1; }
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
scripts/install-deps.sh >/dev/null
BUILD_DIR=build-bench BUILD_TYPE=Release scripts/build.sh -DGATEWAY_TESTS=OFF >/dev/null
GW=build-bench/odeus-scim-gateway

work=$(mktemp -d /tmp/gw-bench-XXXXXX)
: >"$work/notes"
cc -O2 -shared -fPIC -o "$work/fsync_shim.so" bench/fsync_shim.c -ldl
gw_pid='' ngx_pid='' slow_pid='' sync_pid='' pg_gw_pid='' pg_started=0 pg_pm_pid=
cleanup() { # under set -e: a process that already died must not stop the clean-up
  [ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null || true
  [ -z "$slow_pid" ] || kill "$slow_pid" 2>/dev/null || true
  [ -z "$sync_pid" ] || kill "$sync_pid" 2>/dev/null || true
  [ -z "$pg_gw_pid" ] || kill "$pg_gw_pid" 2>/dev/null || true
  [ -z "$ngx_pid" ] || kill "$ngx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  # the PostgreSQL server (pg_ctl stop -m immediate) and its data directory, which lives outside $work;
  # then the postmaster's exit itself (pg_ctl returns once its pid file is gone), or a SIGQUIT
  if [ "$pg_started" = 1 ]; then
    tests/pg/pg-throwaway.sh stop "$work/pg" || true
    if [ -n "$pg_pm_pid" ]; then
      for _ in $(seq 50); do kill -0 "$pg_pm_pid" 2>/dev/null || break; sleep 0.1; done
      if grep -qa postgres "/proc/$pg_pm_pid/cmdline" 2>/dev/null; then kill -QUIT "$pg_pm_pid" 2>/dev/null || true; fi
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

taken=" "
# Below the kernel's ephemeral range: a port in it can be taken at any moment by some outgoing
# connection (the tests running beside the bench make thousands), and bind() then fails.
eph_low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port_span=$((eph_low > 21000 ? eph_low - 20000 : 1000))
free_port() { # a port no socket uses and not handed out before, above the usual fixed services
  local p
  while :; do
    p=$((20000 + RANDOM % port_span))
    case $taken in *" $p "*) continue ;; esac
    ss -tanH "sport = :$p" | grep -q . || { taken="$taken$p "; port=$p; return; }
  done
}
free_port; ODEUS_PORT=$port
free_port; DIRECT_PORT=$port
free_port; PROXY_PORT=$port
free_port; GW_PORT=$port
free_port; SLOW_PORT=$port
free_port; LIMITED_PORT=$port
free_port; SYNC_PORT=$port
free_port; PG_PORT=$port
free_port; PG_SYNC_PORT=$port
token=bench-token-0123456789abcdef
key=bench-odeus-key
auth="Authorization: Bearer $token"

# ---- nginx: fake Odeus + the two reference servers ----------------------------------------------
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
chmod 755 "$work" "$work/nginx" # nginx workers run unprivileged
cat >"$work/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  keepalive_requests 1000000;
  log_format calls '\$uri';
  log_format limited '\$status';
  # one bucket for the whole fake Odeus (the key must not be empty: nginx skips empty keys)
  limit_req_zone \$server_port zone=odeus_rate:1m rate=${SYNC_RATE}r/s;
  upstream odeus { server 127.0.0.1:$ODEUS_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$ODEUS_PORT;
    default_type application/json;
    access_log $work/nginx/logs/odeus.log calls buffer=64k flush=200ms;
    if (\$http_authorization != "Bearer $key") { return 401 '{"message":"API key missing or invalid"}'; }
    location = /user-management/v1/deactivate-user { return 200 '{"status":"success","message":"User deactivated"}'; }
    location = /user-management/v1/invite {
      return 200 '{"status":"success","message":"Invitations processed","successfulInvites":[],"invalidEmails":[]}';
    }
    location = /user-management/v1/update-user-role { return 200 '{"status":"success","message":"Role updated"}'; }
    location / { return 404 '{"message":"not found"}'; }
  }
  # the fake Odeus behind a limit of SYNC_RATE calls/s (the initial sync), 429 beyond. A proxy hop:
  # limit_req runs after the rewrite phase, so a server that answers with "return" is never limited.
  server {
    listen 127.0.0.1:$LIMITED_PORT;
    access_log $work/nginx/logs/limited.log limited buffer=64k flush=200ms;
    location / {
      limit_req zone=odeus_rate burst=$SYNC_RATE nodelay; # a second's worth of burst, then SYNC_RATE per second
      limit_req_status 429;
      proxy_pass http://odeus;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:$DIRECT_PORT;
    location /scim/v2/Users { default_type application/scim+json; alias $work/nginx/list.json; }
    # the gateway's own two answers for the 10,000-member group, chosen by the same query
    location /scim/v2/Groups/ {
      default_type application/scim+json;
      root $work/nginx;
      set \$g full;
      if (\$arg_excludedAttributes = members) { set \$g excl; }
      rewrite ^ /group_\$g.json break;
    }
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location /scim/v2/Users/ {
      rewrite ^ /user-management/v1/deactivate-user break;
      proxy_pass http://odeus;
      proxy_method POST;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer $key";
      proxy_set_header Content-Type application/json;
    }
  }
}
NGX
echo '{}' >"$work/nginx/list.json"
taskset -c "$GW_CPU" "$NGINX" -p "$work/nginx" -e "$work/nginx/logs/error.log" -c "$work/nginx/nginx.conf" \
  -g 'daemon off;' &
ngx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ODEUS_PORT/" && break; sleep 0.05; done
ngx_worker() { pgrep -P "$ngx_pid" | head -1; }
odeus_calls() { sleep 0.4; wc -l <"$work/nginx/logs/odeus.log"; } # after the log buffer's flush
odeus_deactivations() { sleep 0.4; grep -c deactivate-user "$work/nginx/logs/odeus.log" || true; }
# Reactivations go out as batched invites (up to 100 addresses per call): the addresses the fake Odeus
# answered are counted by the gateway (nginx's return does not read the bodies).
invite_addresses() {
  curl -s -H "$auth" "$1/metrics" |
    awk '/^gateway_odeus_calls_total\{endpoint="invite",outcome="(done|already)"\}/ {s += $2} END {print s + 0}'
}
# the key is checked: a wrong one is refused
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$ODEUS_PORT/user-management/v1/invite")" = 401 ]

# ---- PostgreSQL (-P) ----------------------------------------------------------------------------------
# The tests' throwaway server (scripts/install-deps.sh installs the postgresql package), with fsync on,
# started under taskset: the postmaster and every backend it forks inherit the gateway's CPU.
if [ "$PG" = 1 ]; then
  pg_started=1
  PG_FSYNC=on taskset -c "$GW_CPU" tests/pg/pg-throwaway.sh start "$work/pg"
  pg_maint=$(cat "$work/pg/url")
  pg_pm_pid=$(head -1 "$(cat "$work/pg/datadir")/db/postmaster.pid")
  pg_sql() { PGOPTIONS='-c client_min_messages=warning' psql -qAtX -v ON_ERROR_STOP=1 -d "$pg_maint" -c "$1"; }
  [ "$(pg_sql 'SHOW fsync')" = on ] || { echo "the PostgreSQL server runs with fsync off"; exit 1; }
  pg_version=$(pg_sql 'SHOW server_version' | awk '{print $1}')
  pg_wal_sync=$(pg_sql 'SHOW wal_sync_method')
  # every process of the server on the gateway's CPU (a backend forked later inherits the same mask)
  for pp in "$pg_pm_pid" $(pgrep -P "$pg_pm_pid"); do
    a=$(taskset -pc "$pp" 2>/dev/null | awk '{print $NF}') || continue
    [ -z "$a" ] || [ "$a" = "$GW_CPU" ] || { echo "PostgreSQL process $pp runs on CPUs $a, not $GW_CPU"; exit 1; }
  done
  # pg_db NAME: a fresh, empty database NAME; its URL goes to $work/pg/NAME.url (for
  # GATEWAY_DATABASE_URL_FILE: the password stays out of the command lines)
  pg_db() {
    pg_sql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
    pg_sql "CREATE DATABASE $1"
    (umask 077 && sed "s#/postgres\$#/$1#" "$work/pg/url" >"$work/pg/$1.url")
  }
  # The server's CPU so far, in ticks: the postmaster's own and its reaped children's (cutime, cstime)
  # and its live children's (the backends of the gateway's connections, the WAL writer, ...).
  pg_server_ticks() {
    local t c
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pg_pm_pid/stat")
    for c in $(pgrep -P "$pg_pm_pid"); do
      t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
  }
fi

# ---- the gateway ----------------------------------------------------------------------------------
# launch DATA_DIR PORT LOG [VAR=value...] -- [gateway options...]: starts a gateway with the bench's
# options (the throttles off unless the extra options say otherwise) and waits until it listens;
# sets launched_pid and launched_ms (process start to listening).
launch() {
  local dir=$1 p=$2 log=$3 envs=()
  shift 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  : >"$log"
  local t0 t1 up=0
  t0=$(date +%s%N)
  env SCIM_TOKEN=$token ODEUS_API_KEY=$key ${envs[@]+"${envs[@]}"} taskset -c "$GW_CPU" "$GW" --listen "127.0.0.1:$p" \
    --threads "$THREADS" --data-dir "$dir" --log-level "$LOG_LEVEL" --max-body-bytes "$MAX_BODY" "$@" >>"$log" 2>&1 &
  launched_pid=$!
  for _ in $(seq 20000); do # a connect attempt every ~1 ms, up to ~20 s
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then up=1; break; fi
    kill -0 "$launched_pid" 2>/dev/null || break
    sleep 0.001
  done
  t1=$(date +%s%N)
  [ $up = 1 ] || { echo "the gateway did not start:"; cat "$log"; exit 1; }
  launched_ms=$(((t1 - t0) / 1000000))
}
unthrottled=(--odeus-base-url "http://127.0.0.1:$ODEUS_PORT" --rate-limit 0 --odeus-rate-per-sec 0 --odeus-max-concurrency "$CONNS")
start_gateway() {
  launch "$work/data" "$GW_PORT" "$work/gw.log" -- "${unthrottled[@]}"
  gw_pid=$launched_pid startup_ms=$launched_ms
  url="http://127.0.0.1:$GW_PORT"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
start_gateway
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# ---- wrk scripts ------------------------------------------------------------------------------------
# Shared: count answers that fail the check, print them in done() for the runner to parse.
cat >"$work/common.lua" <<'LUA'
bad = 0
threads = {}
setup = function(t) table.insert(threads, t) end
done = function(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  io.write(string.format("BAD %d\nREQS %d\nP50 %.3f\nP99 %.3f\n", b, summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
# The same script drives the gateway and nginx direct (which serves the gateway's own answer).
cat >"$work/filter.lua" <<LUA
dofile("$work/common.lua")
local n = $N
request = function()
  local q = string.format('userName%%20eq%%20%%22user%d@example.com%%22', math.random(n))
  return wrk.format("GET", "/scim/v2/Users?filter=" .. q, {["Authorization"]="Bearer $token"})
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"totalResults":1,', 1, true) then bad = bad + 1 end
end
LUA
# PATCH: user k gets deactivate, later reactivate, ... The position in the cycle is kept in a file between
# runs so that every request of every round is a real state change.
cat >"$work/patch.lua" <<LUA
dofile("$work/common.lua")
dofile("$work/ids.lua")
local f = io.open("$work/patch.pos"); i = f and tonumber(f:read("*l")) or 0; if f then f:close() end
local off = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}'
local on  = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}'
request = function()
  local n = #ids
  local id = ids[(i % n) + 1]
  local body = (math.floor(i / n) % 2 == 0) and off or on
  i = i + 1
  return wrk.format("PATCH", "/scim/v2/Users/" .. id, {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"active":', 1, true) then bad = bad + 1 end
end
local base_done = done
done = function(summary, latency, requests)
  base_done(summary, latency, requests)
  if POS_FILE then
    local f = io.open(POS_FILE, "w"); f:write(tostring(threads[1]:get("i"))); f:close()
  end
end
POS_FILE = os.getenv("POS_FILE")
LUA
# The slow-storage gateway keeps its own cycle position (its users' states are its own).
sed "s#$work/patch.pos#$work/patch_slow.pos#" "$work/patch.lua" >"$work/patch_slow.lua"
# The commit path alone: a PATCH of displayName is a durable change like the one above but needs no
# Odeus call, so the difference between the two rows is what the Odeus leg (outbox row, call, outcome) costs.
cat >"$work/patch_local.lua" <<LUA
dofile("$work/common.lua")
dofile("$work/ids.lua")
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"bench %d"}]}', i)
  return wrk.format("PATCH", "/scim/v2/Users/" .. ids[(i % #ids) + 1], {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"displayName":"bench ', 1, true) then bad = bad + 1 end
end
LUA
# The reference proxy answers the fake Odeus' JSON.
cat >"$work/proxy.lua" <<LUA
dofile("$work/common.lua")
local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}'
request = function()
  return wrk.format("PATCH", "/scim/v2/Users/" .. math.random(1e6), {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
response = function(status, headers, body)
  if status ~= 200 or not body:find('"success"', 1, true) then
    bad = bad + 1
    if bad == 1 then local f = io.open("$work/proxy.bad", "w"); f:write(status .. " " .. body); f:close() end
  end
end
LUA
# Create: PREFIX (env) keeps the names of the runs apart. Seeding: exactly N creates user1..userN, then
# cheap GETs until the thread stops itself on the Nth answer.
cat >"$work/create.lua" <<LUA
dofile("$work/common.lua")
local prefix = os.getenv("PREFIX") or "new"
local limit = tonumber(os.getenv("LIMIT") or "0")
local i, answered = 0, 0
request = function()
  i = i + 1
  if limit > 0 and i > limit then
    return wrk.format("GET", "/scim/v2/ServiceProviderConfig", {["Authorization"]="Bearer $token"})
  end
  local name = limit > 0 and string.format("user%d@example.com", i) or string.format("%s%d_%d@example.com", prefix, math.random(1e9), i)
  local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s","active":true,"emails":[{"value":"%s","primary":true}]}', name, name)
  return wrk.format("POST", "/scim/v2/Users", {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}, body)
end
response = function(status, headers, body)
  if status == 201 then
    if not body:find('"id":"', 1, true) then bad = bad + 1 end
    answered = answered + 1
  elseif status ~= 200 then
    bad = bad + 1
    answered = answered + 1
  end
  if limit > 0 and answered >= limit then wrk.thread:stop() end
end
LUA

# run_wrk NAME PID_FOR_CPU SCRIPT TARGET_URL [CONNS] [SECONDS]: appends "name rps p50 p99 cpu_per_10k bad
# requests pg_cpu_per_10k" to results. PID_FOR_CPU "PID+pg": the CPU of PID and of the PostgreSQL server
# (pg_cpu_per_10k: the server's part of it; 0 otherwise).
run_wrk() {
  local name=$1 pid=${2%+pg} script=$3 target=$4 c=${5:-$CONNS} d=${6:-$SECS} out c0 c1 s0=0 s1=0 reqs rps
  c0=$(cpu_ticks "$pid")
  [ "$2" = "$pid" ] || s0=$(pg_server_ticks)
  out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$c" -d"${d}s" --latency -s "$script" "$target")
  c1=$(cpu_ticks "$pid")
  [ "$2" = "$pid" ] || s1=$(pg_server_ticks)
  reqs=$(awk '/^REQS/{print $2}' <<<"$out")
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  local p50 p99 bad cpu pgcpu per10k
  p50=$(awk '/^P50/{print $2}' <<<"$out")
  p99=$(awk '/^P99/{print $2}' <<<"$out")
  bad=$(awk '/^BAD/{print $2}' <<<"$out")
  per10k='BEGIN{printf "%.2f", (r > 0 ? t / hz * 10000 / r : 0)}'
  cpu=$(awk -v t=$((c1 - c0 + s1 - s0)) -v hz="$hz" -v r="$reqs" "$per10k")
  pgcpu=$(awk -v t=$((s1 - s0)) -v hz="$hz" -v r="$reqs" "$per10k")
  echo "$name ${rps:-0} ${p50:-0} ${p99:-0} ${cpu:-0} ${bad:-0} ${reqs:-0} ${pgcpu:-0}" >>"$work/results"
  if grep -q 'Socket errors' <<<"$out"; then echo "$name: $(grep 'Socket errors' <<<"$out")" >>"$work/notes"; fi
}

# ---- seeding ---------------------------------------------------------------------------------------
echo "seeding $N users through POST /Users..." >&2
s0=$(date +%s%N)
calls0=$(odeus_calls)
seed_bad=$(taskset -c "$WRK_CPU" python3 bench/seed.py "$GW_PORT" "$token" "$N" "$CONNS" || true)
s1=$(date +%s%N)
seed_s=$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
total=$(curl -s -H "$auth" "$url/scim/v2/Users?count=0" | grep -o '"totalResults":[0-9]*' | cut -d: -f2)
if [ "$total" != "$N" ] || [ "$seed_bad" != 0 ]; then echo "seeding failed: $total users, $seed_bad bad answers"; exit 1; fi
seed_calls=$(($(odeus_calls) - calls0))
echo "seeded in $seed_s s; Odeus received $seed_calls invites" >&2

# The PATCH targets: up to 10,000 users (enough that no user is in two requests at once).
m=$((N < 10000 ? N : 10000))
{
  echo "ids = {"
  for start in $(seq 1 1000 "$m"); do
    curl -s -H "$auth" "$url/scim/v2/Users?startIndex=$start&count=1000&attributes=id" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 |
      sed 's/.*/"&",/'
  done
  echo "}"
} >"$work/ids.lua"
# The direct reference serves byte for byte what the gateway answers for one filter.
curl -s -H "$auth" "$url/scim/v2/Users?filter=userName%20eq%20%22user1@example.com%22" >"$work/nginx/list.json"
grep -q '"totalResults":1,' "$work/nginx/list.json"

# Slow storage: a second gateway on a copy of the seeded directory, its flushes delayed by the shim.
# The seeding's invites are delivered first: a deactivation that supersedes an invite Odeus never saw
# needs no call, and the PATCH rows count one call per answered deactivation.
for _ in $(seq 600); do
  [ "$(curl -s -H "$auth" "$url/metrics" | awk '/^gateway_outbox_pending\{/ {s += $2} END {print s + 0}')" = 0 ] && break
  sleep 0.1
done
stop "$gw_pid"
cp -a "$work/data" "$work/data-slow"
# PostgreSQL: the same seeded directory and outbox, copied by the gateway's own migrate (the gateway
# stopped, as migrate wants), served by a second gateway whose data directory holds only its audit log.
if [ "$PG" = 1 ]; then
  pg_db bench
  m0=$(date +%s%N)
  migrate_out=$(GATEWAY_DATABASE_URL_FILE="$work/pg/bench.url" taskset -c "$GW_CPU" "$GW" migrate \
    --from "sqlite:$work/data/gateway.db" 2>&1) || { echo "migrate failed: $migrate_out"; exit 1; }
  m1=$(date +%s%N)
  migrate_s=$(awk -v a="$m0" -v b="$m1" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
  echo "$migrate_out ($migrate_s s)" >&2
fi
start_gateway
launch "$work/data-slow" "$SLOW_PORT" "$work/gw-slow.log" LD_PRELOAD="$work/fsync_shim.so" FSYNC_DELAY_US="$FSYNC_DELAY_US" \
  FSYNC_DELAY_DIR="$work/data-slow" -- "${unthrottled[@]}"
slow_pid=$launched_pid
slow_url="http://127.0.0.1:$SLOW_PORT"
start_pg_gateway() {
  launch "$work/data-pg" "$PG_PORT" "$work/gw-pg.log" GATEWAY_DATABASE_URL_FILE="$work/pg/bench.url" -- "${unthrottled[@]}"
  pg_gw_pid=$launched_pid pg_startup_ms=$launched_ms
  pg_url="http://127.0.0.1:$PG_PORT"
}
if [ "$PG" = 1 ]; then
  start_pg_gateway
  pg_total=$(curl -s -H "$auth" "$pg_url/scim/v2/Users?count=0" | grep -o '"totalResults":[0-9]*' | cut -d: -f2)
  [ "$pg_total" = "$N" ] || { echo "PostgreSQL: $pg_total users after migrate, not $N"; exit 1; }
  # the same answer, byte for byte, as the SQLite gateway's (the direct reference serves that one)
  curl -s -H "$auth" "$pg_url/scim/v2/Users?filter=userName%20eq%20%22user1@example.com%22" >"$work/pg-list.json"
  sed "s#127.0.0.1:$PG_PORT#127.0.0.1:$GW_PORT#g" "$work/pg-list.json" | cmp -s - "$work/nginx/list.json" ||
    echo "the PostgreSQL gateway's filter answer differs from the SQLite gateway's: $(head -c 300 "$work/pg-list.json")" >>"$work/notes"
fi
# outbox_drained URL: waits (up to 6 s) until that gateway has delivered everything; the PATCH rows
# count the calls the fake Odeus received, which must come from the gateway being measured
outbox_drained() {
  for _ in $(seq 60); do
    [ "$(curl -s -H "$auth" "$1/metrics" | awk '/^gateway_outbox_pending\{/ {s += $2} END {print s + 0}')" = 0 ] && return
    sleep 0.1
  done
}

# ---- rounds ----------------------------------------------------------------------------------------
: >"$work/results"
# patch_active NAME PID_FOR_CPU SCRIPT URL POS_FILE WHAT: the PATCH active row; sets the variable NAME_ok
# to 0 unless every answered PATCH reached Odeus (at most CONNS more, cut off by wrk's stop)
patch_active() {
  local c0 d0 a0 calls deact react got sent
  c0=$(odeus_calls) d0=$(odeus_deactivations) a0=$(invite_addresses "$4")
  POS_FILE=$5 run_wrk "$1" "$2" "$3" "$4"
  sleep 0.5 # requests wrk gave up on at the end still finish
  # and their calls are made: an invite batch formed at the end of the run may still be on its way
  outbox_drained "$4"
  calls=$(($(odeus_calls) - c0)) deact=$(($(odeus_deactivations) - d0)) react=$(($(invite_addresses "$4") - a0))
  got=$((deact + react))
  sent=$(tail -1 "$work/results" | awk '{print $7}')
  echo "round $r: $6 answered $sent; Odeus received $calls calls: $deact deactivations and invite calls" \
    "carrying $react reactivations" >>"$work/notes"
  if [ "$got" -lt "$sent" ] || [ "$got" -gt $((sent + CONNS)) ]; then printf -v "$1_ok" 0; fi
}
# patch_local NAME PID_FOR_CPU URL WHAT: the PATCH displayName row, which must make no Odeus call
patch_local() {
  local c0 got
  c0=$(odeus_calls)
  run_wrk "$1" "$2" "$work/patch_local.lua" "$3"
  got=$(($(odeus_calls) - c0))
  [ "$got" = 0 ] || echo "round $r: the $4 run made $got Odeus calls" >>"$work/notes"
}
# The PostgreSQL gateway keeps its own cycle position (its users' states are its own).
sed "s#$work/patch.pos#$work/patch_pg.pos#" "$work/patch.lua" >"$work/patch_pg.lua"
gw_patch_ok=1 gw_patch_pg_ok=1
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run_wrk direct_get "$(ngx_worker)" "$work/filter.lua" "http://127.0.0.1:$DIRECT_PORT"
  run_wrk gw_get "$gw_pid" "$work/filter.lua" "$url"
  [ "$PG" = 0 ] || run_wrk gw_get_pg "$pg_gw_pid+pg" "$work/filter.lua" "$pg_url"
  run_wrk proxy_patch "$(ngx_worker)" "$work/proxy.lua" "http://127.0.0.1:$PROXY_PORT"
  # each row counts the calls of its own gateway: the other one has delivered everything before
  [ "$PG" = 0 ] || outbox_drained "$pg_url"
  patch_active gw_patch "$gw_pid" "$work/patch.lua" "$url" "$work/patch.pos" "gateway PATCH"
  if [ "$PG" = 1 ]; then
    outbox_drained "$url"
    patch_active gw_patch_pg "$pg_gw_pid+pg" "$work/patch_pg.lua" "$pg_url" "$work/patch_pg.pos" "gateway PATCH (PostgreSQL)"
    outbox_drained "$pg_url"
  fi
  patch_local gw_patch_local "$gw_pid" "$url" "displayName PATCH"
  [ "$PG" = 0 ] || patch_local gw_patch_local_pg "$pg_gw_pid+pg" "$pg_url" "displayName PATCH (PostgreSQL)"
  PREFIX=r$r run_wrk gw_post "$gw_pid" "$work/create.lua" "$url"
  [ "$PG" = 0 ] || PREFIX=pg$r run_wrk gw_post_pg "$pg_gw_pid+pg" "$work/create.lua" "$pg_url"
  POS_FILE=$work/patch_slow.pos run_wrk gw_patch_slow "$slow_pid" "$work/patch_slow.lua" "$slow_url"
  sleep 0.5
  run_wrk gw_patch_local_slow "$slow_pid" "$work/patch_local.lua" "$slow_url"
done
stop "$slow_pid"
slow_pid=

# ---- Okta import: every page of 100 over one connection ---------------------------------------------
# okta_import URL PID WHAT [pg]: sets total, import_s, import_cpu (the gateway's; with "pg", plus the
# PostgreSQL server's), import_ids
okta_import() {
  local c0 c1 s0=0 s1=0 i0 i1
  total=$(curl -s -H "$auth" "$1/scim/v2/Users?count=0" | grep -o '"totalResults":[0-9]*' | cut -d: -f2)
  c0=$(cpu_ticks "$2")
  [ -z "${4:-}" ] || s0=$(pg_server_ticks)
  i0=$(date +%s%N)
  taskset -c "$WRK_CPU" curl -s -H "$auth" "$1/scim/v2/Users?startIndex=[1-$total:100]&count=100" >"$work/import.json"
  i1=$(date +%s%N)
  c1=$(cpu_ticks "$2")
  [ -z "${4:-}" ] || s1=$(pg_server_ticks)
  import_s=$(awk -v a="$i0" -v b="$i1" 'BEGIN{printf "%.2f", (b - a) / 1e9}')
  import_cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN{printf "%.2f", t / hz}')
  import_pg_cpu=$(awk -v t=$((s1 - s0)) -v hz="$hz" 'BEGIN{printf "%.2f", t / hz}')
  import_ids=$(grep -o '"id":"[^"]*"' "$work/import.json" | sort -u | wc -l)
  [ "$import_ids" = "$total" ] || echo "import$3: $import_ids distinct users of $total" >>"$work/notes"
}
if [ "$PG" = 1 ]; then
  okta_import "$pg_url" "$pg_gw_pid" " (PostgreSQL)" pg
  pg_import="$total users: $import_s s (gateway CPU $import_cpu s, PostgreSQL server CPU $import_pg_cpu s), $import_ids distinct users"
  pg_rss_kib=$(awk '/VmHWM/{print $2}' "/proc/$pg_gw_pid/status")
fi
okta_import "$url" "$gw_pid" ""

rss_kib=$(awk '/VmHWM/{print $2}' "/proc/$gw_pid/status")

# ---- groups ------------------------------------------------------------------------------------------
# After the user rows and the import on purpose: a member's reads carry its groups, so seeding groups
# first would change what those rows measure.
echo "creating the bench groups through POST /Groups..." >&2
# at most CONNS requests are in flight: with twice as many pool users, one user's add and its remove
# are never in flight together
pool_min=$((2 * CONNS))
echo '{}' >"$work/nginx/group_full.json"
echo '{}' >"$work/nginx/group_excl.json"
seed_out=$(taskset -c "$WRK_CPU" python3 bench/seed_groups.py "$GW_PORT" "$token" "$N" "$MAX_BODY" "$pool_min" "$work/nginx" "$gw_pid") ||
  { echo "group setup failed: $seed_out"; exit 1; }
kvo() { grep -o "\b$2=[^ ]*" <<<"$1" | cut -d= -f2; }
kv() { kvo "$seed_out" "$1"; }
patch_size=$(kv patch_size) get_size=$(kv get_size) get_group=$(kv get_group)
# The same two groups created the same way on the PostgreSQL gateway: its own ids, its own answers
# (the wrk scripts compare with them), its own pool.
if [ "$PG" = 1 ]; then
  mkdir -p "$work/pg-groups"
  pg_seed_out=$(taskset -c "$WRK_CPU" python3 bench/seed_groups.py "$PG_PORT" "$token" "$N" "$MAX_BODY" "$pool_min" \
    "$work/pg-groups" "$pg_gw_pid") || { echo "group setup on PostgreSQL failed: $pg_seed_out"; exit 1; }
  pg_get_group=$(kvo "$pg_seed_out" get_group)
fi
# A group read with its members is what an IdP does once in a while, not 64 at a time: each answer would
# wait behind 63 others. Fewer connections, and only if one read stays well inside wrk's 2 s timeout.
GCONNS=$((CONNS < 4 ? CONNS : 4))
full_read_ms() { curl -s -o /dev/null -w '%{time_total}' -H "$auth" "$1/scim/v2/Groups/$2" | awk '{printf "%.1f", $1 * 1000}'; }
below_250() { awk -v t="$1" 'BEGIN{print (t < 250 ? 1 : 0)}'; }
full_ms=$(full_read_ms "$url" "$get_group")
full_ok=$(below_250 "$full_ms")
[ "$full_ok" = 1 ] || echo "GET of the $get_size-member group with members took $full_ms ms: rows left out" >>"$work/notes"
pg_full_ok=0
if [ "$PG" = 1 ]; then
  pg_full_ms=$(full_read_ms "$pg_url" "$pg_get_group")
  pg_full_ok=$(below_250 "$pg_full_ms")
  [ "$pg_full_ok" = 1 ] ||
    echo "GET of the $get_size-member group with members on PostgreSQL took $pg_full_ms ms: its rows left out" >>"$work/notes"
fi

# Every answer is compared byte for byte with the gateway's own answer read back at setup (which
# seed_groups.py checked member by member), so a wrong member, a missing one or a "members" where
# excludedAttributes=members asked for none all count as bad.
group_get_lua() { # NAME QUERY EXPECTED_FILE GROUP_ID
  cat >"$work/$1.lua" <<LUA
dofile("$work/common.lua")
local f = assert(io.open("$3", "rb")); local expect = f:read("*a"); f:close()
local path = "/scim/v2/Groups/$4$2"
request = function()
  return wrk.format("GET", path, {["Authorization"]="Bearer $token"})
end
response = function(status, headers, body)
  if status ~= 200 or body ~= expect then bad = bad + 1 end
end
LUA
}
group_get_lua group_excl "?excludedAttributes=members" "$work/nginx/group_excl.json" "$get_group"
group_get_lua group_full "" "$work/nginx/group_full.json" "$get_group"
# Okta's membership update: its path-less replace {id, displayName} (same name, no write) and one
# member added, later the same member removed. Pool user k is named by requests k, k + P, k + 2P, ...
# alternately add and remove, the position kept across rounds, so every request is a real change.
group_patch_lua() { # NAME POOL_DIR POSITION_FILE
  cat >"$work/$1.lua" <<LUA
dofile("$work/common.lua")
dofile("$2/pool.lua")
local f = io.open("$3"); i = f and tonumber(f:read("*l")) or 0; if f then f:close() end
local head = string.format([[{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"%s","displayName":"%s"}},]], group_id, group_name)
local add = [[{"op":"add","path":"members","value":[{"value":"%s","display":"%s"}]}]]
local remove = [[{"op":"remove","path":"members[value eq \"%s\"]"}]]
local hdr = {["Authorization"]="Bearer $token", ["Content-Type"]="application/scim+json"}
request = function()
  local u = pool[(i % #pool) + 1]
  local op = (math.floor(i / #pool) % 2 == 0) and string.format(add, u[1], u[2]) or string.format(remove, u[1])
  i = i + 1
  return wrk.format("PATCH", "/scim/v2/Groups/" .. group_id, hdr, head .. op .. "]}")
end
response = function(status, headers, body)
  if status ~= 204 or (body and #body > 0) then bad = bad + 1 end
end
local base_done = done
done = function(summary, latency, requests)
  base_done(summary, latency, requests)
  local f = io.open("$3", "w"); f:write(tostring(threads[1]:get("i"))); f:close()
end
LUA
}
group_patch_lua group_patch "$work/nginx" "$work/group_patch.pos"
if [ "$PG" = 1 ]; then
  group_get_lua group_excl_pg "?excludedAttributes=members" "$work/pg-groups/group_excl.json" "$pg_get_group"
  group_get_lua group_full_pg "" "$work/pg-groups/group_full.json" "$pg_get_group"
  group_patch_lua group_patch_pg "$work/pg-groups" "$work/group_patch_pg.pos"
  # the POST rows' invites are delivered: the group PATCH rows expect no Odeus call at all
  outbox_drained "$url"
  outbox_drained "$pg_url"
fi
# group_patch_row NAME PID_FOR_CPU SCRIPT URL WHAT: the group PATCH row, which must make no Odeus call
group_patch_row() {
  local c0 got
  c0=$(odeus_calls)
  run_wrk "$1" "$2" "$3" "$4"
  got=$(($(odeus_calls) - c0))
  [ "$got" = 0 ] || echo "round $r: the $5 run made $got Odeus calls (no role map: expected none)" >>"$work/notes"
}

for r in $(seq "$ROUNDS"); do
  echo "group round $r/$ROUNDS" >&2
  run_wrk direct_group_excl "$(ngx_worker)" "$work/group_excl.lua" "http://127.0.0.1:$DIRECT_PORT"
  run_wrk gw_group_excl "$gw_pid" "$work/group_excl.lua" "$url"
  [ "$PG" = 0 ] || run_wrk gw_group_excl_pg "$pg_gw_pid+pg" "$work/group_excl_pg.lua" "$pg_url"
  group_patch_row gw_group_patch "$gw_pid" "$work/group_patch.lua" "$url" "group PATCH"
  [ "$PG" = 0 ] || group_patch_row gw_group_patch_pg "$pg_gw_pid+pg" "$work/group_patch_pg.lua" "$pg_url" "group PATCH (PostgreSQL)"
  if [ "$full_ok" = 1 ]; then
    run_wrk direct_group_full "$(ngx_worker)" "$work/group_full.lua" "http://127.0.0.1:$DIRECT_PORT" "$GCONNS"
    run_wrk gw_group_full "$gw_pid" "$work/group_full.lua" "$url" "$GCONNS"
  fi
  [ "$pg_full_ok" = 0 ] || run_wrk gw_group_full_pg "$pg_gw_pid+pg" "$work/group_full_pg.lua" "$pg_url" "$GCONNS"
done
sleep 0.5 # requests wrk gave up on at the end still finish
# group_patch_check PORT POOL_DIR POSITION_FILE: "members pool_wrong fixed_wrong ok"
group_patch_check() {
  local chk members pool_wrong fixed_wrong ok=1
  chk=$(python3 bench/check_group_patch.py "$1" "$token" "$2/pool.json" "$(cat "$3")") ||
    { echo "reading the PATCH group back failed: $chk" >&2; exit 1; }
  read -r members pool_wrong fixed_wrong <<<"$chk"
  # a cut-off request that was not applied is set right by that pool user's next request, if it gets one
  if [ "$fixed_wrong" != 0 ] || [ "$pool_wrong" -gt $((ROUNDS * CONNS)) ]; then ok=0; fi
  echo "$members $pool_wrong $fixed_wrong $ok"
}
read -r group_members pool_wrong fixed_wrong group_patch_ok <<<"$(group_patch_check "$GW_PORT" "$work/nginx" "$work/group_patch.pos")"
[ -n "$group_patch_ok" ] || exit 1
rss_groups_kib=$(awk '/VmHWM/{print $2}' "/proc/$gw_pid/status")
stop "$gw_pid"
start_gateway
startup_full_ms=$startup_ms
rss_restart_kib=$(awk '/VmHWM/{print $2}' "/proc/$gw_pid/status")
stop "$gw_pid"
gw_pid=
if [ "$PG" = 1 ]; then
  read -r pg_group_members pg_pool_wrong pg_fixed_wrong pg_group_patch_ok <<<"$(group_patch_check "$PG_PORT" "$work/pg-groups" "$work/group_patch_pg.pos")"
  [ -n "$pg_group_patch_ok" ] || exit 1
  pg_rss_groups_kib=$(awk '/VmHWM/{print $2}' "/proc/$pg_gw_pid/status")
  stop "$pg_gw_pid"
  start_pg_gateway
  pg_startup_full_ms=$pg_startup_ms
  pg_rss_restart_kib=$(awk '/VmHWM/{print $2}' "/proc/$pg_gw_pid/status")
  stop "$pg_gw_pid"
  pg_gw_pid=
fi

# ---- initial sync (-S N): N creates through an Odeus that admits SYNC_RATE calls/s ---------------------
: >"$work/sync_results"
limited_log=$work/nginx/logs/limited.log
limited_lines() { sleep 0.4; [ -f "$limited_log" ] && wc -l <"$limited_log" || echo 0; } # after the log buffer's flush
limited_429() { [ -f "$limited_log" ] && awk '$1 == 429' "$limited_log" | wc -l || echo 0; }
sync_metric() { curl -s -H "$auth" "http://127.0.0.1:$sync_port/metrics" | awk -v m="$1" 'index($0, m " ") == 1 {print $2}'; }
sync_stores=sqlite
[ "$PG" = 0 ] || sync_stores="sqlite pg"
if [ "$SYNC_N" -gt 0 ]; then
  for r in $(seq "$ROUNDS"); do
    for c in 64 8; do
      for store in $sync_stores; do
        echo "initial sync round $r/$ROUNDS ($store): $SYNC_N users from $c connections, Odeus admitting $SYNC_RATE calls/s..." >&2
        l0=$(limited_lines) q0=$(limited_429)
        # the defaults for pacing and batching: only the inbound rate limit is off
        opts=(--odeus-base-url "http://127.0.0.1:$LIMITED_PORT" --rate-limit 0)
        if [ "$store" = sqlite ]; then
          rm -rf "$work/data-sync"
          sync_port=$SYNC_PORT row=sync_$c
          launch "$work/data-sync" "$SYNC_PORT" "$work/gw-sync.log" -- "${opts[@]}"
        else # a fresh database, and a fresh data directory for the audit log
          rm -rf "$work/data-sync-pg"
          pg_db sync
          sync_port=$PG_SYNC_PORT row=sync_pg_$c
          launch "$work/data-sync-pg" "$PG_SYNC_PORT" "$work/gw-sync-pg.log" GATEWAY_DATABASE_URL_FILE="$work/pg/sync.url" -- "${opts[@]}"
        fi
        sync_pid=$launched_pid
        t0=$(date +%s%N)
        bad=$(taskset -c "$WRK_CPU" python3 bench/seed.py "$sync_port" "$token" "$SYNC_N" "$c" || true)
        t1=$(date +%s%N)
        for _ in $(seq 6000); do [ "$(sync_metric 'gateway_outbox_pending{kind="invite"}')" = 0 ] && break; sleep 0.1; done
        t2=$(date +%s%N)
        per_call=$(sync_metric gateway_odeus_invites_per_call_count)
        stop "$sync_pid"
        sync_pid=
        calls=$(($(limited_lines) - l0)) n429=$(($(limited_429) - q0))
        echo "$row $(((t2 - t0) / 1000000)) $(((t1 - t0) / 1000000)) $calls $n429 ${bad:-?} ${per_call:-0}" >>"$work/sync_results"
      done
    done
  done
fi

# ---- report ----------------------------------------------------------------------------------------
med() { # median of column $2 for rows named $1
  awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
sum() { awk -v n="$1" -v c="$2" '$1 == n {s += $c} END {print s + 0}' "$work/results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }
fmt() { printf "%'.0f" "$1"; }
line() { # label name ref_name
  local rps cpu
  rps=$(med "$2" 2) cpu=$(med "$2" 5)
  case $2 in *_pg) cpu="$cpu ($(med "$2" 8) server)" ;; esac
  echo "| $1 | $(fmt "$rps") | ${3:+$(ratio "$rps" "$(med "$3" 2)")} | $(med "$2" 3) ms | $(med "$2" 4) ms | $cpu | $(sum "$2" 6) |"
}
pgline() { # label name: the PostgreSQL row of the SQLite row NAME, × that row
  [ "$PG" = 0 ] || line "$1 (PostgreSQL)" "$2_pg" "$2"
}
echo
echo "\`bench/run.sh -n $N -r $ROUNDS -d $SECS -c $CONNS$([ "$PG" = 0 ] || echo " -P")\` — gateway $($GW --version | awk '{print $2}'), Release, --threads $THREADS," \
  "log level $LOG_LEVEL; gateway and nginx on CPU $GW_CPU, wrk on CPU $WRK_CPU of $(nproc); wrk -t1 -c$CONNS -d${SECS}s;" \
  "medians of $ROUNDS alternating rounds; $(date -u +%Y-%m-%d)"
if [ "$PG" = 1 ]; then
  echo
  echo "Rows marked (PostgreSQL): a second gateway on \`--database postgresql://…\` (PostgreSQL $pg_version, local, fsync on," \
    "wal_sync_method $pg_wal_sync, synchronous_commit on; its processes on CPU $GW_CPU with the gateway and nginx), holding" \
    "a migrate copy of the seeded directory, run right after the SQLite row in each round; their × column is the ratio to" \
    "the SQLite row above, their CPU column the gateway's plus the PostgreSQL server's (the server's part in parentheses)."
fi
echo
echo "| scenario | req/s | × reference | p50 | p99 | CPU s / 10k req | bad answers |"
echo "|---|---|---|---|---|---|---|"
line "nginx direct: fixed JSON (reference)" direct_get
line "gateway GET /Users?filter=userName eq (random of $N)" gw_get direct_get
pgline "gateway GET /Users?filter=userName eq (random of $N)" gw_get
line "nginx proxy: PATCH → fake Odeus (reference)" proxy_patch
line "gateway PATCH active false/true, Okta shape (durable commit + Odeus call)" gw_patch proxy_patch
pgline "gateway PATCH active false/true, Okta shape (durable commit + Odeus call)" gw_patch
line "gateway PATCH displayName (durable commit, no Odeus call: the commit path alone)" gw_patch_local proxy_patch
pgline "gateway PATCH displayName (durable commit, no Odeus call: the commit path alone)" gw_patch_local
line "gateway POST /Users (durable commit + invite)" gw_post
pgline "gateway POST /Users (durable commit + invite)" gw_post
slow="flushes delayed $((FSYNC_DELAY_US / 1000)) ms, × the row without the delay"
line "slow storage: gateway PATCH active false/true ($slow)" gw_patch_slow gw_patch
line "slow storage: gateway PATCH displayName ($slow)" gw_patch_local_slow gw_patch_local
num() { printf "%'d" "$1"; }
gsize() { # SIZE WANTED: "1,000-member group", or what the directory allowed and why
  if [ "$1" = "$2" ]; then echo "$(num "$1")-member group"; else echo "$(num "$1")-member group: N = $(num "$N"), $(num "$2") wanted"; fi
}
line "nginx direct: the group without members, fixed JSON (reference)" direct_group_excl
line "gateway GET /Groups/{id}?excludedAttributes=members ($(gsize "$get_size" 10000))" gw_group_excl direct_group_excl
pgline "gateway GET /Groups/{id}?excludedAttributes=members ($(gsize "$get_size" 10000))" gw_group_excl
line "gateway PATCH Group add/remove one member ($(gsize "$patch_size" 1000), Okta shape)" gw_group_patch proxy_patch
pgline "gateway PATCH Group add/remove one member ($(gsize "$patch_size" 1000), Okta shape)" gw_group_patch
if [ "$full_ok" = 1 ]; then
  line "nginx direct: the $(num "$get_size")-member group, $(num "$(kv full_bytes)") bytes, fixed JSON (reference, $GCONNS connections)" direct_group_full
  line "gateway GET /Groups/{id} with members ($(gsize "$get_size" 10000), $GCONNS connections)" gw_group_full direct_group_full
  [ "$pg_full_ok" = 0 ] || pgline "gateway GET /Groups/{id} with members ($(gsize "$get_size" 10000), $GCONNS connections)" gw_group_full
fi
echo
echo "- seeding: $N users through POST /Users in $seed_s s ($CONNS connections); Odeus received $seed_calls invites"
echo "- Okta import: $total users, pages of 100 over one connection: $import_s s (gateway CPU $import_cpu s), $import_ids distinct users"
echo "- peak RSS of the gateway over the user rows and the import: $((rss_kib / 1024)) MiB; after a restart on the full directory: $((rss_restart_kib / 1024)) MiB"
echo "- start-up on the full directory (process start to listening): $startup_full_ms ms"
echo "- Odeus calls: every answered PATCH reached Odeus (deactivations counted by the fake Odeus, reactivations as the" \
  "addresses of the invite calls it answered): $([ $gw_patch_ok = 1 ] && echo yes || echo NO)"
echo "- groups created through the API (Okta's shape, bodies up to $MAX_BODY bytes): $(num "$patch_size") members in" \
  "$(kv patch_reqs) request(s), $(kv patch_s) s; $(num "$get_size") members in $(kv get_reqs) request(s) (POST, then PATCH add)," \
  "$(kv get_s) s; one read with members $full_ms ms, $(num "$(kv full_bytes)") bytes ($(kv excl_bytes) without)"
echo "- group PATCH: the group holds what the requests sent make it hold ($group_members members after" \
  "$(cat "$work/group_patch.pos") requests; $pool_wrong pool users differ, at most $CONNS per run may: the requests cut off" \
  "at a run's end; $fixed_wrong others differ): $([ "$group_patch_ok" = 1 ] && echo yes || echo NO)"
echo "- peak RSS of the gateway after creating the groups: $(($(kv rss_created_kib) / 1024)) MiB; after reading them" \
  "back: $(($(kv rss_read_kib) / 1024)) MiB; after the group rows: $((rss_groups_kib / 1024)) MiB"
if [ "$PG" = 1 ]; then
  echo "- PostgreSQL: the seeded database copied by \`odeus-scim-gateway migrate\` in $migrate_s s:" \
    "${migrate_out#*: }"
  echo "- Okta import (PostgreSQL): $pg_import"
  echo "- peak RSS of the PostgreSQL gateway over the user rows and the import: $((pg_rss_kib / 1024)) MiB; after the group" \
    "rows: $((pg_rss_groups_kib / 1024)) MiB; after a restart on the full database: $((pg_rss_restart_kib / 1024)) MiB" \
    "(the gateway only; the server's memory is its own)"
  echo "- start-up of the PostgreSQL gateway on the full database (process start to listening): $pg_startup_full_ms ms"
  echo "- Odeus calls (PostgreSQL): every answered PATCH reached Odeus: $([ "$gw_patch_pg_ok" = 1 ] && echo yes || echo NO)"
  echo "- group PATCH (PostgreSQL): the group holds what the requests sent make it hold ($pg_group_members members after" \
    "$(cat "$work/group_patch_pg.pos") requests; $pg_pool_wrong pool users differ; $pg_fixed_wrong others differ):" \
    "$([ "$pg_group_patch_ok" = 1 ] && echo yes || echo NO); group setup $(kvo "$pg_seed_out" patch_s) s and" \
    "$(kvo "$pg_seed_out" get_s) s; one read with members $pg_full_ms ms"
fi
if [ "$SYNC_N" -gt 0 ]; then
  smed() { # median of column $2 of the sync rows named $1
    awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/sync_results" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
  }
  floor_s=$(awk -v n="$SYNC_N" -v r="$SYNC_RATE" 'BEGIN{printf "%.1f", n / (r * 100)}')
  echo
  echo "Initial sync: $(num "$SYNC_N") users created through POST /Users into a fresh gateway (default pacing and" \
    "batching), the fake Odeus admitting $SYNC_RATE calls/s (nginx limit_req, burst $SYNC_RATE, 429 beyond); floor $floor_s s" \
    "($(num "$SYNC_N") / ($SYNC_RATE calls/s × 100 invites per call)); medians of $ROUNDS rounds"
  echo
  pgcol='' pgsep=''
  [ "$PG" = 0 ] || pgcol=" × the SQLite row (time) |" pgsep="---|"
  echo "| connections | until the last invite was delivered | × floor | creates answered after | Odeus calls (429 among them) | invite calls (the gateway's count) | bad answers |$pgcol"
  echo "|---|---|---|---|---|---|---|$pgsep"
  sync_line() { # label row [sqlite_row]
    local wall
    wall=$(smed "$2" 2)
    echo "| $1 | $(awk -v t="$wall" 'BEGIN{printf "%.1f", t / 1000}') s | $(ratio "$wall" "$(awk -v f="$floor_s" 'BEGIN{print f * 1000}')") |" \
      "$(awk -v t="$(smed "$2" 3)" 'BEGIN{printf "%.1f", t / 1000}') s | $(num "$(smed "$2" 4)") ($(num "$(smed "$2" 5)")) |" \
      "$(num "$(smed "$2" 7)") | $(awk -v n="$2" '$1 == n {s += $6} END {print s + 0}' "$work/sync_results") |" \
      "${pgcol:+${3:+$(ratio "$wall" "$(smed "$3" 2)")} |}"
  }
  for c in 64 8; do
    sync_line "$c" "sync_$c"
    [ "$PG" = 0 ] || sync_line "$c, PostgreSQL" "sync_pg_$c" "sync_$c"
  done
fi
[ -f "$work/proxy.bad" ] && echo "  - first bad proxy answer: $(head -c 300 "$work/proxy.bad")"
sed 's/^/  - /' "$work/notes"
