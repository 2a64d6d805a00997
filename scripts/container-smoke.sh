#!/usr/bin/env bash
# Container image smoke test (CI's last stage). Builds the image from the repository's Dockerfile
# with podman and checks what an operator relies on:
#   - the image builds, and its user is 10001:10001;
#   - it runs with a read-only root filesystem and no tmpfs anywhere (as under `docker run
#     --read-only` or Kubernetes' readOnlyRootFilesystem), a token file mounted read-only, and a
#     volume at /data: the gateway creates its database there, the gateway user can write there,
#     and a write to / fails even for root;
#   - every process in it runs as uid 10001;
#   - /healthz answers 200; GET /scim/v2/Users with the bearer token 200; POST /scim/v2/Users 201
#     (GATEWAY_DRY_RUN=1: no Odeus is called); GET /scim/v2/Users without a token 401;
#   - `podman stop` ends it cleanly (exit code 0) well within the stop timeout;
#   - a new container on the same volume still has the user created by the first one.
# It prints the image size, exits non-zero with a message at the first failure, and on exit
# removes the containers, volume and image it made.
#
# Needs root on a Debian 12 host; installs podman (with its recommends: netavark for the network),
# runc, iptables (port publishing), debootstrap and curl if missing. No Docker engine or container
# registry is needed: the debian:12-slim base image is made with debootstrap from the host's
# Debian mirror, with the settings of the official slim image, and cached in $WORK (a later run
# reuses it: 1-2 minutes saved). Podman runs with its own storage and configuration under $WORK,
# so it neither sees nor touches the host's other images and containers.
#
# Environment:
#   WORK            cache, podman storage and lock (default /var/tmp/odeus-container-smoke)
#   MIRROR          Debian mirror (default: the first one in the host's apt sources)
#   BASE_MAX_DAYS   make the cached base image again when it is older than this (default 7)
#   PORT            host port the gateway is published on, on 127.0.0.1 (default 18555)
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${WORK:-/var/tmp/odeus-container-smoke}
BASE_MAX_DAYS=${BASE_MAX_DAYS:-7}
PORT=${PORT:-18555}
STOP_TIMEOUT=10                                 # Docker's and podman's default `stop` timeout
BASE_IMAGE=docker.io/library/debian:12-slim     # what the Dockerfile's FROM debian:12-slim finds
IMAGE=localhost/odeus-scim-gateway:smoke-$$
CTR=odeus-smoke-$$
VOL=odeus-smoke-data-$$
URL=http://127.0.0.1:$PORT

fail() { echo "container-smoke: FAIL: $*" >&2; exit 1; }
step() { echo "container-smoke: $*"; }
ok() { echo "   ok: $*"; }
trap 'echo "container-smoke: FAIL: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

[ "$(id -u)" -eq 0 ] || fail "run as root (podman with its own storage, debootstrap)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then fail "port $PORT is in use: set PORT to a free one"; fi

# ---- tools ---------------------------------------------------------------------------------
missing=()
for p in podman runc iptables debootstrap curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p "$WORK"
exec 9>"$WORK/lock"
flock -n 9 || { echo "container-smoke: waiting for another run using $WORK"; flock 9; }

# ---- podman configuration, private to this script ------------------------------------------
# runc, not crun: crun refuses hosts with a hybrid cgroup v1/v2 layout. Explicit rlimits: as root,
# podman gives containers nofile=1048576, and raising a hard limit needs CAP_SYS_RESOURCE, which
# some CI sandboxes lack; so the host's own hard limit. Same for nproc, except that podman first
# lowers its own nproc limit to kernel.pid_max, and runc inherits that.
limit() { local v; v=$(ulimit -H "$1"); [ "$v" = unlimited ] && echo -1 || echo "$v"; }
nofile=$(limit -n)
nproc=$(limit -u)
pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = -1 ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
mkdir -p "$WORK/storage" /run/odeus-container-smoke
cat >"$WORK/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "/run/odeus-container-smoke/libpod"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "/run/odeus-container-smoke/storage"
EOF
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf

# The storage is ours: whatever a killed earlier run left (not the cached base image) can go.
podman rm -af -t 0 >/dev/null
podman volume prune -f >/dev/null
podman images -q --filter reference=localhost/odeus-scim-gateway | xargs -r podman rmi -f >/dev/null

TMP=$(mktemp -d)
cleanup() {
    local rc=$?
    trap - ERR
    if [ $rc -ne 0 ]; then
        for c in "$CTR" "$CTR-2"; do
            if podman container exists "$c" 2>/dev/null; then
                echo "---- last lines of $c's log ----" >&2
                podman logs "$c" 2>&1 | tail -25 >&2 || true
            fi
        done
    fi
    podman rm -f -t 0 "$CTR" "$CTR-2" >/dev/null 2>&1 || true
    podman volume rm -f "$VOL" >/dev/null 2>&1 || true
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    podman image prune -f >/dev/null 2>&1 || true # the untagged build stage
    rm -rf "$TMP"
    if [ $rc -eq 0 ]; then
        echo "container-smoke: passed in ${SECONDS}s"
    else
        echo "container-smoke: failed after ${SECONDS}s" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs

# ---- base image: debian:12-slim from the Debian mirror ----------------------------------------
MIRROR=${MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)}

make_base() {
    [ -n "$MIRROR" ] || fail "no Debian mirror in the host's apt sources: set MIRROR"
    local r=$WORK/rootfs
    rm -rf "$r"
    step "debootstrap bookworm from $MIRROR"
    debootstrap --variant=minbase bookworm "$r" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        fail "debootstrap failed (see $WORK/debootstrap.log)"
    # The official image's apt sources and its docker-* apt/dpkg settings: no caches, no
    # translations, no documentation.
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    {
        printf 'path-exclude /usr/share/%s/*\n' doc groff info linda lintian/overrides locale man
        printf 'path-include /usr/share/doc/*/copyright\npath-include /usr/share/locale/locale.alias\n'
    } >"$r/etc/dpkg/dpkg.cfg.d/docker"
    # Security updates, as the published image has them.
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    chroot "$r" sh -c 'apt-get update -qq && apt-get -y -qq upgrade && apt-get clean' >>"$WORK/debootstrap.log" 2>&1 ||
        fail "apt-get upgrade in the base rootfs failed (see $WORK/debootstrap.log)"
    find "$r/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/groff/* "$r"/var/lib/apt/lists/* "$r/etc/resolv.conf"
    tar -C "$r" -cf "$WORK/debian-12-slim.tar.new" .
    mv "$WORK/debian-12-slim.tar.new" "$WORK/debian-12-slim.tar"
    rm -rf "$r"
}

base_tar=$WORK/debian-12-slim.tar
if [ ! -s "$base_tar" ] || [ -n "$(find "$base_tar" -mtime +"$BASE_MAX_DAYS")" ]; then
    make_base
else
    step "base rootfs: cached $base_tar ($(date -r "$base_tar" +%F))"
fi
if ! podman image exists "$BASE_IMAGE" || [ "$base_tar" -nt "$WORK/base.imported" ]; then
    step "importing $BASE_IMAGE"
    podman import --change 'CMD ["bash"]' "$base_tar" "$BASE_IMAGE" >/dev/null
    touch "$WORK/base.imported"
fi

# ---- build ------------------------------------------------------------------------------------
step "podman build (Dockerfile)"
build_start=$SECONDS
podman build --pull=never --layers=false -t "$IMAGE" -f Dockerfile . || fail "the image does not build"
size=$(podman image inspect -f '{{.Size}}' "$IMAGE")
echo "   image built in $((SECONDS - build_start))s: $((size / 1000000)) MB ($size bytes)"
[ "$(podman image inspect -f '{{.Config.User}}' "$IMAGE")" = 10001:10001 ] ||
    fail "the image's user is not 10001:10001"
ok "image user 10001:10001"

# ---- run as an operator would -----------------------------------------------------------------
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN" >"$TMP/scim-tokens"
chmod 0444 "$TMP/scim-tokens"
podman volume create "$VOL" >/dev/null

run_gateway() { # NAME
    podman run -d --name "$1" --read-only --read-only-tmpfs=false \
        -v "$VOL:/data" -v "$TMP/scim-tokens:/run/secrets/scim-tokens:ro" \
        -e SCIM_TOKEN_FILE=/run/secrets/scim-tokens -e GATEWAY_DRY_RUN=1 \
        -p "127.0.0.1:$PORT:8080" "$IMAGE" >/dev/null || fail "podman run $1 failed"
    local _
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --max-time 2 "$URL/healthz" 2>/dev/null && return 0
        [ "$(podman inspect -f '{{.State.Running}}' "$1")" = true ] ||
            fail "$1 exited during start (exit code $(podman inspect -f '{{.State.ExitCode}}' "$1"))"
        sleep 0.2
    done
    fail "$1: no answer on $URL/healthz after 20 s"
}

expect_status() { # WANT DESCRIPTION CURL-ARGS...
    local want=$1 what=$2 got
    shift 2
    got=$(curl -sS -o "$TMP/body" -w '%{http_code}' --max-time 10 "$@") || fail "$what: curl failed"
    [ "$got" = "$want" ] || fail "$what: HTTP $got, expected $want: $(head -c 300 "$TMP/body")"
    ok "$what: $got"
}

stop_gateway() { # NAME
    local t0 t1 code
    t0=$(date +%s%N)
    podman stop -t "$STOP_TIMEOUT" "$1" >/dev/null
    t1=$(date +%s%N)
    code=$(podman inspect -f '{{.State.ExitCode}}' "$1")
    [ "$code" = 0 ] || fail "$1 stopped with exit code $code (137: killed after the ${STOP_TIMEOUT}s timeout)"
    [ $(((t1 - t0) / 1000000)) -lt $((STOP_TIMEOUT * 1000 / 2)) ] ||
        fail "$1 took $(((t1 - t0) / 1000000)) ms to stop, more than half the ${STOP_TIMEOUT}s timeout"
    podman logs "$1" 2>&1 | grep -q '"event":"stopped"' || fail "$1 did not log its stopped event"
    ok "podman stop: exit code 0 after $(((t1 - t0) / 1000000)) ms"
}

step "run: read-only root, no tmpfs, volume at /data, dry run"
run_gateway "$CTR"
ok "started, /healthz answers"

auth=(-H "Authorization: Bearer $TOKEN")
scim=(-H "Content-Type: application/scim+json")
alice='{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@example.com",
        "name":{"givenName":"Alice","familyName":"Smith"},"active":true,
        "emails":[{"primary":true,"value":"alice@example.com","type":"work"}]}'
expect_status 200 "GET /healthz" "$URL/healthz"
expect_status 200 "GET /scim/v2/Users with the token" "${auth[@]}" "$URL/scim/v2/Users"
expect_status 201 "POST /scim/v2/Users (dry run)" "${auth[@]}" "${scim[@]}" --data "$alice" "$URL/scim/v2/Users"
expect_status 401 "GET /scim/v2/Users without a token" "$URL/scim/v2/Users"
expect_status 401 "GET /scim/v2/Users with a wrong token" -H "Authorization: Bearer x$TOKEN" "$URL/scim/v2/Users"

# Every process (tini and the gateway) as uid 10001, as the host sees it (no user namespace).
podman top "$CTR" huser args >"$TMP/top"
grep -q odeus-scim-gateway "$TMP/top" || fail "no gateway process in the container: $(cat "$TMP/top")"
awk 'NR > 1 && $1 != "10001" { bad = 1 } END { exit bad }' "$TMP/top" ||
    fail "a process does not run as uid 10001: $(cat "$TMP/top")"
ok "processes run as uid 10001"
[ "$(podman exec "$CTR" id -u)" = 10001 ] || fail "podman exec does not run as 10001"

podman exec "$CTR" test -s /data/gateway.db || fail "no /data/gateway.db: the gateway did not create its database"
podman exec "$CTR" sh -c 'echo x > /data/smoke-write && rm /data/smoke-write' ||
    fail "the gateway user cannot write to /data"
podman exec "$CTR" sh -c 'test -d "$SQLITE_TMPDIR" && test -w "$SQLITE_TMPDIR"' ||
    fail "SQLITE_TMPDIR is not a directory the gateway user can write: SQLite has nowhere for temporary files"
ok "/data: database created, writable by the gateway user, SQLite's temporary directory"

# As root in the container, so that only the read-only mount can refuse it.
for path in /smoke-write /tmp/smoke-write /usr/local/bin/smoke-write; do
    if out=$(podman exec --user 0 "$CTR" touch "$path" 2>&1); then
        fail "$path could be written: the root filesystem is not read-only"
    fi
    grep -q "Read-only file system" <<<"$out" || fail "writing $path failed for another reason: $out"
done
ok "root filesystem read-only (/, /tmp, /usr/local/bin), even for root"

stop_gateway "$CTR"

step "a new container on the same volume"
podman rm "$CTR" >/dev/null
run_gateway "$CTR-2"
expect_status 200 "GET /scim/v2/Users?filter=userName eq alice" "${auth[@]}" -G \
    --data-urlencode 'filter=userName eq "alice@example.com"' "$URL/scim/v2/Users"
grep -q '"totalResults":1' "$TMP/body" || fail "the user created before is gone: $(head -c 300 "$TMP/body")"
ok "the user created by the first container is there"
stop_gateway "$CTR-2"

echo "container-smoke: image $((size / 1000000)) MB ($size bytes), all checks passed"
