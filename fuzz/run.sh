#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses (clang from Debian) for SECONDS each (default 30), from
# the committed seed corpus. Crashes, leaks and invariant violations fail the run; new inputs that
# grow coverage go to a scratch corpus, not into the committed one.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang (Debian)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  $sudo apt-get install -y -qq clang >/dev/null 2>&1 || { $sudo apt-get update -qq && $sudo apt-get install -y -qq clang; }
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-g -O1 -std=c++17 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
clang++ "${flags[@]}" -o "$out/frame_reader" fuzz/frame_reader_fuzz.cc native/reader.cc native/frame.cc native/socket.cc
targets=(frame_reader)
if [ -f fuzz/rush_reply_fuzz.c ]; then
  clang "${flags[@]/-std=c++17/-std=c11}" -D_GNU_SOURCE -o "$out/rush_reply" fuzz/rush_reply_fuzz.c rush/client/wire.c rush/client/util.c
  targets+=(rush_reply)
fi
for target in "${targets[@]}"; do
  mkdir -p "$out/corpus-$target"
  echo "fuzz: $target for ${seconds}s"
  "$out/$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1 -artifact_prefix="$PWD/fuzz-artifacts-" \
    "$out/corpus-$target" "fuzz/corpus/$target" 2>&1 | tail -n 12
done
echo "fuzz: no crash, leak or invariant violation"
