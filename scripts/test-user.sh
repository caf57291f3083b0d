#!/usr/bin/env bash
# Provides what the cross-uid daemon test needs (test/daemon/daemon-process.test.ts, "refuses
# another uid ..."): setpriv (util-linux) and an unprivileged user `nobody` with uid 65534.
# Creating either needs root. Without them that test skips locally and fails under CI.
set -uo pipefail

if [ "$(id -u)" -ne 0 ]; then
  exit 0 # not root: the test cannot switch uids anyway and says so
fi
if ! command -v setpriv >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "test-user: installing util-linux (setpriv)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq util-linux >/dev/null 2>&1 ||
      echo "test-user: could not install setpriv: the cross-uid test will skip (and fail under CI)" >&2
  else
    echo "test-user: no setpriv and no apt-get: the cross-uid test will skip (and fail under CI)" >&2
  fi
fi
if ! id -u nobody >/dev/null 2>&1; then
  echo "test-user: creating system user nobody (uid 65534)"
  useradd --system --uid 65534 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nobody ||
    echo "test-user: could not create user nobody: the cross-uid test will skip (and fail under CI)" >&2
elif [ "$(id -u nobody)" != 65534 ]; then
  echo "test-user: user nobody has uid $(id -u nobody), not 65534: the cross-uid test will skip (and fail under CI)" >&2
fi
exit 0
