#!/usr/bin/env bash
# CI step for the protocol layer (called from .ci/run before npm test):
# installs flatc and Debian's python3-flatbuffers when missing (the independent-decoder tests
# need them and FAIL under CI without them), regenerates the TypeScript from schemas/ and fails
# if it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/ci/test-deps.sh
bash scripts/codegen/schemas.sh
if ! git diff --exit-code -- src/protocol/generated rush/src/protocol/generated test/fixtures/generated; then
  echo "ci-protocol: FAIL: generated code (src/protocol, rush/src/protocol, test/fixtures) differs from its schemas." >&2
  echo "ci-protocol: run 'npm run schemas' (flatc 2.0.8) and commit the result." >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- src/protocol/generated rush/src/protocol/generated test/fixtures/generated)" ]; then
  echo "ci-protocol: FAIL: untracked generated files:" >&2
  git status --porcelain -- src/protocol/generated rush/src/protocol/generated test/fixtures/generated >&2
  exit 1
fi
echo "ci-protocol: generated code is up to date"
