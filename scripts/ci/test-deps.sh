#!/usr/bin/env bash
# Installs the Debian packages the test suite and the benches need, when missing. It changes the
# host, so `npm test` never runs it: .ci/run does (as root), and so can you (`sudo bash
# scripts/ci/test-deps.sh`). Locally, a test whose tool is missing skips and says which package to
# install; under CI it fails instead.
#   flatbuffers-compiler, python3-flatbuffers  independent decoders (test/protocol, rush/test/protocol, rush/test/client)
#   tmux                                        rush on a real terminal (rush/test/terminal)
#   valgrind, gcc                               memcheck of the rush client (rush/test/client, scripts/ci/valgrind-client.sh)
#   systemd                                     systemd-analyze verify of the generated units (test/daemon/lifecycle, rush/test/service);
#                                               systemd-socket-activate as the service manager (test/daemon/server-socket-activate, rush/test/service)
#   bsdutils, python3                           script(1) for a pseudo-terminal; python3 for peers the tests script
#   hyperfine                                   rush start-up benchmark (bench/startup.mjs)
#   strace                                      one sendmsg per batch of replies (test/transport/connection-dispatch); scripts/perf/breakdown.mjs
# The cross-uid test also needs a user: scripts/ci/test-user.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/ci/apt-tools.sh flatbuffers-compiler python3-flatbuffers tmux valgrind gcc systemd bsdutils python3 hyperfine strace
