#!/usr/bin/env bash
# Regenerates src/protocol/generated/ from schemas/*.fbs (the library's envelope),
# rush/src/protocol/generated/ from rush/schemas/*.fbs (rush's messages) and
# test/fixtures/generated/ from test/fixtures/schemas/*.fbs (a test-only application schema the
# library's protocol tests carry as bodies) (npm run schemas).
#
# Uses Debian's flatc 2.0.8 (`apt-get install flatbuffers-compiler`) with flat files, then two
# fixes so the output compiles under our tsconfig (NodeNext ESM, noUnusedParameters):
#   1. relative `./x_generated` imports get a `.js` extension (ESM resolution needs it);
#   2. the unused `<T extends flatbuffers.Table>` generic on union accessors is dropped.
# No --gen-object-api (copies everything, strict-mode errors in 2.0.8), no --gen-all (with flat
# files it prefixes every type name).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v flatc >/dev/null; then
  echo "schemas.sh: flatc not found; install it with: apt-get install -y flatbuffers-compiler" >&2
  exit 1
fi

version=$(flatc --version)
case "$version" in
  *" 2.0.8") ;;
  *) echo "schemas.sh: warning: expected flatc 2.0.8 (Debian 12), got '$version'; output may differ" >&2 ;;
esac

generate() {
  local out="$1" schemas="$2"
  rm -rf "$out"
  mkdir -p "$out"
  flatc --ts --ts-flat-files -o "$out" "$schemas"/*.fbs
  for f in "$out"/*.ts; do
    sed -i -E \
      -e "s#(from '\./[A-Za-z0-9_]+_generated)';#\1.js';#" \
      -e 's#<T extends flatbuffers\.Table>\(obj:any\)#(obj:any)#' \
      "$f"
  done
  echo "schemas.sh: regenerated $(ls "$out" | wc -l) files in $out with $version"
}
generate src/protocol/generated schemas
generate rush/src/protocol/generated rush/schemas
generate test/fixtures/generated test/fixtures/schemas
