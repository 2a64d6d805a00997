#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, from Debian's packages:
#   pg-throwaway.sh start STATE_DIR   initdb + pg_ctl start in a fresh temporary directory, listening
#                                     on 127.0.0.1 only, on a free port; writes STATE_DIR/url (a
#                                     postgresql:// URL of its maintenance database, with a password)
#   pg-throwaway.sh stop STATE_DIR    stops it and removes its directory
# PostgreSQL refuses to run as root: under root (CI) the server runs as `nobody`, which owns the
# data directory. fsync is off: the tests check the gateway's transactions, not the disk, and a
# throwaway cluster has nothing to lose; the gateway's sessions still run synchronous_commit=on.
# PG_FSYNC=on (bench/run.sh -P) starts it with fsync on instead, so that every commit really waits
# for its WAL flush, as a production server's does. The server inherits the caller's CPU affinity
# (the bench runs this script under taskset).
set -euo pipefail

cmd=${1:?start or stop}
state=${2:?state directory}
fsync=${PG_FSYNC:-off}
case $fsync in on | off) ;; *) echo "pg-throwaway: PG_FSYNC must be on or off, not '$fsync'" >&2; exit 2 ;; esac
bindir=${PG_BINDIR:-$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "pg-throwaway: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
  exit 1
fi

as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

stop() {
  [ -f "$state/datadir" ] || return 0
  local data
  data=$(cat "$state/datadir")
  if [ -f "$data/db/postmaster.pid" ]; then
    as_server "$bindir/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$data"
  rm -f "$state/datadir" "$state/url"
}

case "$cmd" in
stop)
  stop
  ;;
start)
  mkdir -p "$state"
  stop # a server left over by an interrupted run
  data=$(mktemp -d /tmp/gw-pg.XXXXXX)
  echo "$data" >"$state/datadir"
  [ "$(id -u)" -eq 0 ] && chown nobody "$data"
  password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  as_server sh -c "umask 077; printf '%s\n' '$password' >'$data/pwfile'"
  as_server "$bindir/initdb" -D "$data/db" -U gwtest --pwfile="$data/pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; exit 1; }
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_server "$bindir/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$data' -c fsync=$fsync -c max_connections=200" \
      start >/dev/null; then
      printf 'postgresql://gwtest:%s@127.0.0.1:%s/postgres\n' "$password" "$port" >"$state/url"
      exit 0
    fi
    # the port was taken between the probe and the start: try another
  done
  cat "$data/server.log" >&2 || true
  exit 1
  ;;
*)
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
  ;;
esac
