#!/usr/bin/env bash
# Provides what the cross-uid daemon test needs (test/daemon/daemon-process.test.ts, "refuses
# another uid ..."): setpriv (util-linux) and an unprivileged user `nobody` with uid 65534. Both
# need root and change the host, so `npm test` never runs this: .ci/run does, and so can you
# (`sudo bash scripts/ci/test-user.sh`). Without them that test skips locally and fails under CI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-user: run this as root (it may install util-linux and create the system user nobody)" >&2
  exit 1
fi
command -v setpriv >/dev/null || bash scripts/ci/apt-tools.sh util-linux
if ! id -u nobody >/dev/null 2>&1; then
  echo "test-user: creating system user nobody (uid 65534)"
  useradd --system --uid 65534 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nobody
fi
if [ "$(id -u nobody)" != 65534 ]; then
  echo "test-user: user nobody has uid $(id -u nobody), not 65534: the cross-uid test cannot run" >&2
  exit 1
fi
