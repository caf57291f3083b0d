#!/usr/bin/env bash
# Installs the system tools the test suite uses, when missing (run by `npm test` as pretest):
#   flatc (flatbuffers-compiler) and Debian's python3-flatbuffers: independent decoders for the
#   protocol tests; tmux: rush driven through a real terminal; valgrind: memcheck of the rush client.
# Installing needs root (or sudo) and apt-get. Without them the affected tests skip locally and
# fail under CI, so a missing tool is never silently "green" where it matters.
set -uo pipefail

missing=()
command -v flatc >/dev/null || missing+=(flatbuffers-compiler)
/usr/bin/python3 -c 'import flatbuffers' 2>/dev/null || missing+=(python3-flatbuffers)
command -v tmux >/dev/null || missing+=(tmux)
command -v valgrind >/dev/null || missing+=(valgrind)
((${#missing[@]})) || exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "test-deps: missing ${missing[*]} and not root: those tests will skip (install: apt-get install ${missing[*]})" >&2
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "test-deps: missing ${missing[*]} and no apt-get here: those tests will skip" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"; } ||
  echo "test-deps: could not install ${missing[*]}: those tests will skip (and fail under CI)" >&2
exit 0
