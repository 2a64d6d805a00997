#!/usr/bin/env bash
# Installs what is needed, builds, and starts the gateway on its embedded defaults:
# 127.0.0.1:8080, base path /scim/v2, SQLite under ./data. Without an Odeus API key it runs in
# dry-run mode (no Odeus call is made; each one is logged). Without a SCIM token it makes one,
# keeps it in ./data/scim-token, and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

data_dir=${GATEWAY_DATA_DIR:-data}
mkdir -p "$data_dir"
chmod 700 "$data_dir"
args=()
if [ -z "${SCIM_TOKEN:-}" ] && [ -z "${SCIM_TOKEN_FILE:-}" ]; then
  if [ ! -s "$data_dir/scim-token" ]; then
    (umask 077; openssl rand -hex 32 > "$data_dir/scim-token")
  fi
  export SCIM_TOKEN_FILE="$data_dir/scim-token"
  echo "SCIM token (from $data_dir/scim-token): $(cat "$data_dir/scim-token")" >&2
fi
if [ -z "${ODEUS_API_KEY:-}" ] && [ -z "${ODEUS_API_KEY_FILE:-}" ]; then
  echo "No ODEUS_API_KEY or ODEUS_API_KEY_FILE: starting in dry-run mode (no Odeus call is made)." >&2
  args+=(--dry-run)
fi
echo "Try: curl -H \"Authorization: Bearer \$(cat $data_dir/scim-token)\" http://127.0.0.1:8080/scim/v2/Users" >&2
exec build/odeus-scim-gateway --data-dir "$data_dir" "${args[@]}" "$@"
