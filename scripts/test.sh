#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite with ctest.
# SANITIZE=1 builds into build-asan with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${SANITIZE:-0}" = 1 ]; then
  BUILD_DIR=${BUILD_DIR:-build-asan} BUILD_TYPE=Debug scripts/build.sh -DGATEWAY_SANITIZE=ON
  build_dir=${BUILD_DIR:-build-asan}
else
  scripts/build.sh
  build_dir=${BUILD_DIR:-build}
fi
cd "$build_dir"
ctest --output-on-failure -j"${TEST_JOBS:-2}"
