#!/usr/bin/env bash
# Fails when a C file is not as .clang-format wants it (Debian's clang-format 14) or has a line over
# 132 columns (clang-format leaves long comments alone). Fix with: git ls-files '*.c' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is missing (scripts/install-deps.sh)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h')
clang-format --dry-run -Werror "${files[@]}"
long=$(awk 'length > 132 {print FILENAME ":" FNR ": " length " columns"}' "${files[@]}")
if [ -n "$long" ]; then
    echo "check-format: lines over 132 columns:" >&2
    echo "$long" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files formatted"
