#!/usr/bin/env bash
# Mass offboarding, measured (test_gateway_mass_offboarding_smoke checks the behaviour, this the numbers):
#   bench/mass-offboarding.sh [-n N_USERS] [-r ODEUS_RATE] [-c CONNECTIONS] [-p PROBE_MS] [-s START] [-m MAX]
# (defaults: 10,000 users, Odeus accepting 50 calls/s, 16 IdP connections, a read every 20 ms, the gateway's
#  pacing starting at twice ODEUS_RATE with the gateway's default ceiling; -s default / -m default leave
#  --odeus-rate-per-sec / --odeus-rate-max-per-sec to the gateway's defaults, as a deployment that sets
#  neither; env THREADS=1 gateway worker threads, LOG_LEVEL=info).
#
# 1. Builds the Release gateway and the tests' mock Odeus as a program (build-bench-mass; only those two targets).
# 2. Seeds N users through POST /Users with the gateway in dry-run (bench/seed.py; invites count as delivered).
# 3. Starts the mock Odeus (tests/mock/mock_odeus_main.c) accepting ODEUS_RATE calls a second and answering 429
#    with Retry-After: 1 beyond, and the gateway on the same directory with the smoke test's settings: Odeus pacing
#    starting at START (it must find the real pace itself, from above or from below), 8 calls in flight, a 500 ms
#    deadline, no inbound limit.
# 4. bench/offboard.py: CONNECTIONS keep-alive connections PATCH every user to active:false once (Okta's shape)
#    while another process reads a random user every PROBE_MS (by id, then by userName eq, alternately) and samples
#    the gateway's RSS, until /metrics shows the outbox empty. Bounded: N / ODEUS_RATE x 3 + 120 s.
# 5. Reports GET latency during the drain and RSS growth (peak during the drain minus RSS before it) against the
#    goals, GET p99 < 50 ms and RSS growth < 32 MiB, and checks that Odeus accepted exactly N deactivations.
# The gateway is pinned to CPU 0; the mock and the clients to CPU 1 (taskset). Exit status 0 when the drain
# completed with nothing lost (the goals are reported, not enforced), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000 RATE=50 CONNS=16 PROBE_MS=20 START= MAX=default
while getopts "n:r:c:p:s:m:" o; do
  case $o in
    n) N=$OPTARG ;; r) RATE=$OPTARG ;; c) CONNS=$OPTARG ;; p) PROBE_MS=$OPTARG ;; s) START=$OPTARG ;; m) MAX=$OPTARG ;;
    *) echo "usage: $0 [-n users] [-r odeus_rate_per_sec] [-c connections] [-p probe_ms] [-s start_rate|default]" \
      "[-m max_rate|default]" >&2; exit 2 ;;
  esac
done
START=${START:-$((2 * RATE))}
pacing=()
[ "$START" = default ] || pacing+=(--odeus-rate-per-sec "$START")
[ "$MAX" = default ] || pacing+=(--odeus-rate-max-per-sec "$MAX")
THREADS=${THREADS:-1}
LOG_LEVEL=${LOG_LEVEL:-info}
GOAL_P99_MS=50 GOAL_RSS_MIB=32
GW_CPU=0 CLIENT_CPU=1
[ "$(nproc)" -ge 2 ] || { GW_CPU=0 CLIENT_CPU=0; echo "warning: one CPU only, the clients share it" >&2; }

BUILD_DIR=build-bench-mass
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGATEWAY_TESTS=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target odeus-scim-gateway mock-odeus >/dev/null
GW=$BUILD_DIR/odeus-scim-gateway
MOCK=$BUILD_DIR/tests/upstream/mock-odeus

work=$(mktemp -d /tmp/gw-bench-mass-XXXXXX)
gw_pid= mock_pid=
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

token=bench-token-0123456789abcdef
key=bench-odeus-key

taken=" "
free_port() { # a port nobody listens on and not handed out before, above the usual fixed services
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    case $taken in *" $p "*) continue ;; esac
    ss -ltnH "sport = :$p" | grep -q . || { taken="$taken$p "; port=$p; return; }
  done
}

# start_gateway [ODEUS_URL]: without a URL in dry-run. Sets gw_pid and port.
start_gateway() {
  local log=$work/gw-$((${#gw_logs[@]} + 1)).log
  gw_logs+=("$log")
  local odeus=(--dry-run --odeus-rate-per-sec 0) # dry-run calls are paced too
  [ $# -gt 0 ] && odeus=(--odeus-base-url "$1" ${pacing[@]+"${pacing[@]}"} --odeus-max-concurrency 8
    --upstream-deadline-ms 500)
  free_port
  SCIM_TOKEN=$token ODEUS_API_KEY=$key taskset -c "$GW_CPU" "$GW" --listen "127.0.0.1:$port" --threads "$THREADS" \
    --data-dir "$work/data" --log-level "$LOG_LEVEL" --rate-limit 0 "${odeus[@]}" >"$log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 2000); do # up to ~20 s
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.01
  done
  echo "the gateway did not start:" >&2
  cat "$log" >&2
  exit 1
}
stop_gateway() {
  kill "$gw_pid"
  wait "$gw_pid" || { echo "the gateway exited with $?" >&2; exit 1; }
  gw_pid=
}
gw_logs=()

# ---- seeding, dry-run ---------------------------------------------------------------------------------
echo "seeding $N users (dry-run)..." >&2
start_gateway
s0=$(date +%s%N)
seed_bad=$(taskset -c "$CLIENT_CPU" python3 bench/seed.py "$port" "$token" "$N" "$CONNS" || true)
seed_s=$(awk -v a="$s0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
[ "$seed_bad" = 0 ] || { echo "seeding failed: $seed_bad bad answers" >&2; exit 1; }
stop_gateway

# ---- the drain --------------------------------------------------------------------------------------
taskset -c "$CLIENT_CPU" "$MOCK" --rate-limit "$RATE" --quiet >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
for _ in $(seq 500); do [ -s "$work/mock.out" ] && break; sleep 0.01; done
odeus_url=$(head -1 "$work/mock.out")
[ -n "$odeus_url" ] || { echo "the mock Odeus did not start" >&2; cat "$work/mock.err" >&2; exit 1; }
start_gateway "$odeus_url"
echo "draining $N deactivations through an Odeus that takes $RATE/s..." >&2
result=$(taskset -c "$CLIENT_CPU" python3 bench/offboard.py "$port" "$token" "$gw_pid" "$CONNS" "$PROBE_MS" \
  $((N / RATE * 3 + 120)))
stop_gateway
kill "$mock_pid"
wait "$mock_pid" || true
mock_pid=
counts=$(sed -n 2p "$work/mock.out")

# ---- report -------------------------------------------------------------------------------------------
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
p99=$(field "$result" get_p99_ms)
growth_mib=$(awk -v a="$(field "$result" rss_start_kib)" -v b="$(field "$result" rss_peak_kib)" 'BEGIN{printf "%.1f", (b - a) / 1024}')
verdict() { awk -v v="$1" -v g="$2" 'BEGIN{print (v < g ? "met" : "NOT met")}'; }
deact_ok=$(field "$counts" deactivate_ok)
requests=$(field "$counts" requests)
throttled=$(field "$counts" throttled)
echo
echo "\`bench/mass-offboarding.sh -n $N -r $RATE -c $CONNS -p $PROBE_MS -s $START -m $MAX\` — gateway $($GW --version | awk '{print $2}'), Release," \
  "--threads $THREADS, log level $LOG_LEVEL; gateway on CPU $GW_CPU, mock Odeus and clients on CPU $CLIENT_CPU of $(nproc);" \
  "$(date -u +%Y-%m-%d)"
echo
echo "| measure | value | goal |"
echo "|---|---|---|"
echo "| GET p99 during the drain | $p99 ms | < $GOAL_P99_MS ms: $(verdict "$p99" "$GOAL_P99_MS") |"
echo "| gateway RSS growth over the drain | $growth_mib MiB | < $GOAL_RSS_MIB MiB: $(verdict "$growth_mib" "$GOAL_RSS_MIB") |"
echo
echo "- seeding: $N users through POST /Users (dry-run) in $seed_s s"
answers=$(python3 -c 'import json,sys; a = json.loads(sys.argv[1])["idp_answers"]; print("%d x 200, %d x 503, %d other" % (a["200"], a["503"], a["other"]))' "$result")
echo "- drain: $N PATCHes sent in $(field "$result" sent_s) s (IdP answers: $answers);" \
  "outbox empty after $(field "$result" drain_s) s (ideal $((N / RATE)) s)"
echo "- Odeus: $requests requests, $throttled answered 429 ($(awk -v t="$throttled" -v r="$requests" \
  'BEGIN{printf "%.1f", r ? 100 * t / r : 0}') %), $deact_ok deactivations accepted; the outbox drained in" \
  "$(awk -v d="$(field "$result" drain_s)" -v f="$((N / RATE))" 'BEGIN{printf "%.2f", d / f}') x the floor"
rates=$(grep -ho '"event":"odeus_rate_[a-z]*"[^}]*' "${gw_logs[-1]}" | grep -o '"rate_per_sec":[0-9.]*' | cut -d: -f2 |
  awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1}')
echo "- the gateway's pace (calls/s) as logged: start ${START/default/20 (default)}, then ${rates:-no change}"
echo "- reads during the drain: $(field "$result" reads) ($(field "$result" bad_reads) bad); p50 $(field "$result" get_p50_ms) ms," \
  "p99 $p99 ms (by id $(field "$result" get_id_p99_ms) ms, by userName eq $(field "$result" get_filter_p99_ms) ms)," \
  "max $(field "$result" get_max_ms) ms"
echo "- gateway RSS: $(($(field "$result" rss_start_kib) / 1024)) MiB before the drain, $(($(field "$result" rss_peak_kib) / 1024))" \
  "MiB at its peak during it"
ok=1
[ "$(field "$result" drained)" = True ] || { echo "- the outbox was not empty at the time limit" ; ok=0; }
[ "$deact_ok" = "$N" ] && [ $((requests - throttled)) = "$N" ] || { echo "- NOT every user deactivated exactly once"; ok=0; }
[ "$(field "$result" bad_reads)" = 0 ] || ok=0
[ $ok = 1 ]
