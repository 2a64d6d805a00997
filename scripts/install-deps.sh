#!/usr/bin/env bash
# Installs the Debian 12 packages the gateway needs to build and test. Safe to run again.
set -euo pipefail

packages=(build-essential cmake pkg-config libh2o-evloop-dev libh2o-dev-common libjansson-dev
          libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev postgresql libcmocka-dev ca-certificates
          openssl python3 python3-yaml python3-jsonschema clang-format)
if [ "${GATEWAY_FUZZ:-0}" = 1 ]; then
  packages+=(clang libclang-rt-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo) to install them" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
