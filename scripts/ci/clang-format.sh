#!/usr/bin/env bash
# clang-format over the C and C++ sources git tracks (.clang-format at the root; rush/client has
# its own, for its 4-space C). `--check` (npm run lint) fails on any file it would change;
# without it (npm run format) the files are rewritten in place.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v clang-format >/dev/null; then
  echo "clang-format not found: apt-get install -y clang-format (Debian 12 ships 14)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files 'native/*.cc' 'native/*.h' 'rush/client/*.c' 'rush/client/*.h' 'fuzz/*.c' 'fuzz/*.cc')
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run -Werror "${files[@]}"
  echo "clang-format: ${#files[@]} files as formatted"
else
  clang-format -i "${files[@]}"
fi
