#!/usr/bin/env bash
# valgrind memcheck of the rush client over the differential suite (every script, against a real
# rushd). The shipped client is static, and memcheck cannot see through static glibc's start-up,
# so this builds the same sources dynamically and runs each call as
#   valgrind --error-exitcode=99 --leak-check=full ... rush-dynamic ARGS
# A memory error or leak makes that call exit 99, which the suite reports as a status mismatch.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || bash scripts/ci/test-deps.sh
dir="$(mktemp -d /tmp/rush-vg-XXXXXX)"
trap 'rm -rf "$dir"' EXIT
version="$(node -p "require('./package.json').version")"
cc -std=c11 -O1 -g -D_GNU_SOURCE "-DRUSH_VERSION=\"$version\"" -o "$dir/rush-dynamic" rush/client/*.c
cat >"$dir/rush" <<WRAP
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$dir/rush-dynamic" "\$@"
WRAP
chmod +x "$dir/rush"
echo "valgrind-client: memcheck of $dir/rush-dynamic over the differential suite"
# Left out, because of valgrind and not the client: cases that print the environment (valgrind
# adds LD_PRELOAD and _ to it) and closed-stderr cases (valgrind itself will not start without fd 2).
RUSH_TEST_CLIENT="$dir/rush" RUSH_TEST_MODES=daemon RUSH_TEST_SKIP='^env|closed stderr' \
  npx tap --timeout=1800 rush/test/differential.test.ts
