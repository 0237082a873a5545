#!/bin/sh
# Fails if any C/C++ source differs from .clang-format. Fix with: scripts/check-format.sh --fix
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
files=$(git ls-files '*.c' '*.h' '*.cc')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i $files
  exit 0
fi
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -w) files clean"
