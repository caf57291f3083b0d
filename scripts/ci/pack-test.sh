#!/usr/bin/env bash
# Packaging test (see docs/packaging.md): `npm pack` (which builds the six targets' prebuilds),
# then install the tarball into fresh projects, offline, three ways, and check each install the way
# a user would use it:
#   A. prebuilt, install scripts enabled, no compiler on PATH (node-gyp cannot build): the install
#      script puts the native rush client at bin/rush
#   B. --ignore-scripts (npm's coming default for dependencies): the prebuilt parts only; bin/rush
#      is the launcher, which runs the prebuilt client; `npm rebuild fdwire` then installs it
#   C. from source with a compiler: a tarball without prebuilds/ (as on a platform we ship no
#      binaries for): the install script builds addon + client
# plus: type tests (ESM .ts and CommonJS .cts, tsc against the installed package), load-failure
# messages, the launcher on a machine with no client, and a simulated Windows install/load.
#
# Offline: the tarball's dependencies (flatbuffers, node-addon-api) come from the npm cache
# (`npm install --offline`). An `npm install` from the lockfile caches their tarballs but not their
# registry documents, which a fresh project's install resolves the ranges with, so the test first
# puts those in the cache (`npm cache add`, the only step that may use the registry). Source
# builds need node's headers locally (node-gyp's devdir, or `nodedir`), as the repo build does.
#
# Usage: bash scripts/ci/pack-test.sh [--keep]     (--keep leaves the temp dir for inspection)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
keep=0; [ "${1:-}" = "--keep" ] && keep=1
work="$(mktemp -d "${TMPDIR:-/tmp}/fdwire-pack-test.XXXXXX")"
pids_to_stop=()
cleanup() {
  for rt in "$work"/rt-*; do
    [ -d "$rt" ] || continue
    for proj in "$work"/proj-*; do
      [ -x "$proj/node_modules/.bin/rushd" ] && RUSH_RUNTIME_DIR="$rt" "$proj/node_modules/.bin/rushd" stop >/dev/null 2>&1 || true
      break
    done
  done
  if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

results=()
fails=0
step() { printf '\n==== %s\n' "$*"; }
ok() { results+=("ok   $*"); echo "ok: $*"; }
fail() { results+=("FAIL $*"); echo "FAIL: $*" >&2; fails=$((fails + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

summary() {
  printf '\n==== pack-test summary (%ss)\n' "$SECONDS"
  printf '%s\n' "${results[@]}"
  if [ "$fails" -gt 0 ]; then echo "pack-test: $fails check(s) failed"; exit 1; fi
  echo "pack-test: all ${#results[@]} checks passed"
}

npm_i() { npm install --offline --no-audit --no-fund --loglevel=error "$@"; }

for dep in $(node -p "Object.entries(require('$root/package.json').dependencies).map(([n, v]) => n + '@' + v).join(' ')"); do
  npm cache add "$dep" --loglevel=error || echo "pack-test: could not cache $dep; the offline installs below need it" >&2
done

new_project() {
  local dir="$work/proj-$1"
  mkdir -p "$dir"
  printf '{ "name": "fdwire-pack-test-%s", "version": "1.0.0", "private": true }\n' "$1" >"$dir/package.json"
  echo "$dir"
}

# ---- pack
step "npm pack (prepack: tsc, CommonJS build, prebuild:all)"
cd "$root"
npm pack --pack-destination "$work" --loglevel=error >"$work/pack.out"
tgz="$work/$(tail -n 1 "$work/pack.out")"
ls -l "$tgz"
tar tzf "$tgz" >"$work/contents"
for f in package/LICENSE package/CHANGELOG.md package/bin/rush package/bin/rushd \
  package/prebuilds/linux-x64/fdwire.glibc.node package/prebuilds/linux-x64/fdwire.musl.node package/prebuilds/linux-x64/rush \
  package/prebuilds/linux-arm64/fdwire.glibc.node package/prebuilds/linux-arm64/fdwire.musl.node package/prebuilds/linux-arm64/rush \
  package/prebuilds/darwin-x64/fdwire.node package/prebuilds/darwin-x64/rush \
  package/prebuilds/darwin-arm64/fdwire.node package/prebuilds/darwin-arm64/rush package/dist/index.js \
  package/dist/index.d.ts package/dist/cjs/index.js package/dist/cjs/index.d.ts package/dist/cjs/package.json \
  package/scripts/install.cjs package/binding.gyp package/native/napi/module.cc package/native/wire.h; do
  check "tarball has ${f#package/}" grep -qx "$f" "$work/contents"
done
# What the registry shows beside the name: the license file above, and where the source and the
# issue tracker are.
tar xzf "$tgz" -C "$work" package/package.json
check "package.json names the repository, homepage and issue tracker" node -e '
  const p = require(process.argv[1])
  const ok = /^git\+https:\/\/.+\.git$/.test(p.repository?.url ?? "") && /^https:\/\//.test(p.homepage ?? "") && /^https:\/\/.+\/issues$/.test(p.bugs?.url ?? "")
  if (!ok) { console.error(JSON.stringify({ repository: p.repository, homepage: p.homepage, bugs: p.bugs })); process.exit(1) }
' "$work/package/package.json"
# Everything in the tarball must be one of these; anything else (a source map pointing at sources
# that do not ship, the demo, a stray build product) fails the test.
allowed='^package/(package\.json|README\.md|LICENSE|CHANGELOG\.md|binding\.gyp|bin/rushd?|scripts/install\.cjs'
allowed+='|dist/(cjs/)?([a-z-]+/)*[a-z_-]+\.(js|d\.ts)|dist/cjs/package\.json'
allowed+='|native/([a-z]+/)*[a-z_-]+\.(cc|h|c)|schemas/[a-z_]+\.fbs|docs/[a-z-]+\.md|docs/charts/[a-z0-9-]+\.svg'
allowed+='|rush/client/[a-z_]+\.(c|h)|rush/schemas/[a-z_]+\.fbs|rush/docs/[a-z-]+\.md'
allowed+='|prebuilds/(linux-(x64|arm64)/fdwire\.(glibc|musl)\.node|darwin-(x64|arm64)/fdwire\.node|(linux|darwin)-(x64|arm64)/rush))$'
grep -vE "$allowed" "$work/contents" >"$work/unexpected" || true
check "tarball holds nothing unexpected ($(wc -l <"$work/contents") files)" bash -c "[ ! -s '$work/unexpected' ] || { cat '$work/unexpected'; false; }"
check "tarball has no build/ and no staged CJS sources" bash -c "! grep -qE '^package/(build/|dist/\.cjs-src)' '$work/contents'"
check "tarball's bin/rush is the launcher (the install script replaces it)" bash -c "tar xzf '$tgz' -O package/bin/rush | head -c 9 | grep -qx '#!/bin/sh'"
check "tarball has only the six targets' prebuilds" bash -c \
  "[ \"\$(grep '^package/prebuilds/.*[^/]\$' '$work/contents' | sort | tr '\n' ' ')\" = 'package/prebuilds/darwin-arm64/fdwire.node package/prebuilds/darwin-arm64/rush package/prebuilds/darwin-x64/fdwire.node package/prebuilds/darwin-x64/rush package/prebuilds/linux-arm64/fdwire.glibc.node package/prebuilds/linux-arm64/fdwire.musl.node package/prebuilds/linux-arm64/rush package/prebuilds/linux-x64/fdwire.glibc.node package/prebuilds/linux-x64/fdwire.musl.node package/prebuilds/linux-x64/rush ' ]"

# A PATH with node, npm and sh only (npm runs scripts with `sh`): no cc, g++, make, python3, so
# node-gyp cannot build anything.
nocc="$work/nocc-bin"
mkdir -p "$nocc"
ln -s "$(command -v node)" "$nocc/node"
ln -s "$(readlink -f "$(command -v npm)")" "$nocc/npm"
ln -s "$(command -v sh)" "$nocc/sh"
if PATH="$nocc" command -v make gcc g++ cc python3 >/dev/null 2>&1; then fail "no-compiler PATH hides the toolchain"; fi

# Checks shared by every install. $1: label, $2: project dir, $3: expected addon file (a path
# suffix), $4: what .bin/rush is (native|launcher).
verify() {
  local label="$1" dir="$2" where="$3" rushkind="$4" rt
  cd "$dir"
  check "$label: ESM import" node -e "import('fdwire').then((m) => { if (typeof m.socketPair !== 'function') process.exit(1) })"
  check "$label: CommonJS require (dist/cjs)" node -e "
    const m = require('fdwire')
    if (typeof m.socketPair !== 'function' || !require.resolve('fdwire').includes('/dist/cjs/')) process.exit(1)"
  local loaded
  loaded="$(NODE_DEBUG=fdwire node -e "require('fdwire')" 2>&1 | sed -n 's/.*addon: //p')"
  echo "  addon: $loaded"
  check "$label: addon from $where" bash -c '[[ "$1" == *"/node_modules/fdwire/$2" ]]' _ "$loaded" "$where"
  cp "$root/test/packaging/smoke.mjs" "$root/test/packaging/smoke.cjs" .
  check "$label: smoke (ESM)" node smoke.mjs
  check "$label: smoke (CommonJS)" node smoke.cjs
  local desc
  desc="$(file -L node_modules/.bin/rush)"
  echo "  $desc"
  if [ "$rushkind" = native ]; then
    check "$label: .bin/rush is a static native executable" bash -c 'grep -q ELF <<<"$1" && grep -q "statically linked" <<<"$1"' _ "$desc"
  else
    check "$label: .bin/rush is the launcher" bash -c 'grep -q "shell script" <<<"$1"' _ "$desc"
  fi
  check "$label: rush --version" bash -c "node_modules/.bin/rush --version | grep -q '^rush '"
  rt="$work/rt-$label"
  export RUSH_RUNTIME_DIR="$rt"
  local st=0
  node_modules/.bin/rushd status >/dev/null 2>&1 || st=$?
  check "$label: rushd status exits 3 when not running" test "$st" = 3
  check "$label: rushd start" node_modules/.bin/rushd start
  check "$label: rush -c 'echo ok' through rushd" bash -c "[ \"\$(RUSH_NO_AUTOSTART=1 node_modules/.bin/rush -c 'echo ok')\" = ok ]"
  check "$label: rushd status while running" node_modules/.bin/rushd status
  check "$label: rushd stop" node_modules/.bin/rushd stop
  # Autostart from the installed layout: rush runs the command itself and starts the rushd next to it.
  check "$label: rush -c with no daemon (autostart)" bash -c "[ \"\$(node_modules/.bin/rush -c 'echo auto')\" = auto ]"
  check "$label: rush autostarted rushd (bin/rushd next to bin/rush)" bash -c \
    'for _ in $(seq 1 100); do node_modules/.bin/rushd status >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1'
  node_modules/.bin/rushd stop >/dev/null 2>&1 || true
  unset RUSH_RUNTIME_DIR
  check "$label: no build/ unless built from source" bash -c "[[ '$where' == build/* ]] || [ ! -e node_modules/fdwire/build ]"
}

# ---- A
step "A: prebuilt, install script enabled, no compiler on PATH"
a="$(new_project a)"
cd "$a"
if PATH="$nocc" npm_i "$tgz" >"$work/install-a.log" 2>&1; then ok "A: npm install --offline (no compiler)"; else cat "$work/install-a.log"; fail "A: npm install"; fi
cat "$work/install-a.log"
verify A "$a" prebuilds/linux-x64/fdwire.glibc.node native

step "type tests (test/types: ESM .mts, CommonJS .cts) against the installed package"
mkdir -p "$a/types"
cp "$root/test/types/esm.mts" "$root/test/types/cjs.cts" "$a/types/"
node -e "
const fs = require('fs'), f = process.argv[1]
const c = JSON.parse(fs.readFileSync(process.argv[2], 'utf8').replace(/^\s*\/\/.*$/gm, ''))
c.compilerOptions.typeRoots = [process.argv[3]]
fs.writeFileSync(f, JSON.stringify(c, null, 2))
" "$a/types/tsconfig.json" "$root/test/types/tsconfig.json" "$root/node_modules/@types"
check "types resolve: tsc --noEmit (esm.mts + cjs.cts)" node "$root/node_modules/typescript/bin/tsc" -p "$a/types"
node "$root/node_modules/typescript/bin/tsc" -p "$a/types" --listFiles 2>/dev/null | grep '/node_modules/fdwire/dist/.*index.d.ts' >"$work/types-files" || true
cat "$work/types-files"
check "types: import uses dist/index.d.ts, require uses dist/cjs/index.d.ts" bash -c \
  "grep -q 'fdwire/dist/index.d.ts' '$work/types-files' && grep -q 'fdwire/dist/cjs/index.d.ts' '$work/types-files'"

step "load failures print what was tried and how to fix it"
cd "$a"
out="$(FDWIRE_ADDON=/nonexistent/fdwire.node node -e "require('fdwire')" 2>&1 || true)"
echo "$out" | grep -E 'fdwire|Tried|Fix' | head -n 8
check "load failure (FDWIRE_ADDON): says what was tried and the fix" bash -c "grep -q 'Tried' <<<\"\$1\" && grep -q 'Fix' <<<\"\$1\"" _ "$out"
cp -r "$a" "$work/proj-corrupt"
[ -e "$work/proj-corrupt/node_modules/fdwire/prebuilds/linux-x64/fdwire.glibc.node" ] &&
  printf 'not an ELF file' >"$work/proj-corrupt/node_modules/fdwire/prebuilds/linux-x64/fdwire.glibc.node"
cd "$work/proj-corrupt"
out="$(node -e "import('fdwire')" 2>&1 || true)"
echo "$out" | grep -E 'fdwire|Tried|prebuilds|build/Release|Fix' | head -n 8
check "load failure (corrupted prebuild): says what was tried and the fix" bash -c "grep -q 'prebuilds/linux-x64/fdwire.glibc.node' <<<\"\$1\" && grep -q 'Fix' <<<\"\$1\"" _ "$out"

step "Windows (simulated: process.platform = 'win32')"
printf "Object.defineProperty(process, 'platform', { value: 'win32' })\n" >"$work/fake-win32.cjs"
cd "$a"
st=0
out="$(node -r "$work/fake-win32.cjs" node_modules/fdwire/scripts/install.cjs 2>&1)" || st=$?
echo "  $out"
check "Windows install: clear message, exit 0" bash -c "[ $st = 0 ] && grep -q 'Windows is not supported' <<<\"\$1\"" _ "$out"
out="$(node -r "$work/fake-win32.cjs" -e "require('fdwire')" 2>&1 || true)"
echo "$out" | grep -m1 -i 'windows' || true
check "Windows load: ERR_FDWIRE_UNSUPPORTED with the reason" bash -c "grep -q 'not supported on Windows' <<<\"\$1\"" _ "$out"
# npm itself refuses the package on other platforms (EBADPLATFORM) because of its "os" field;
# the install script's message is for `npm install --force` (and platforms npm lets through).
check "packed package.json: os is [linux, darwin]" bash -c \
  "tar xzf '$tgz' -O package/package.json | node -e \"const p = JSON.parse(require('fs').readFileSync(0, 'utf8')); process.exit(p.os.join() === 'linux,darwin' ? 0 : 1)\""

# ---- B
step "B: --ignore-scripts (prebuilt addon + prebuilt rush, nothing runs at install)"
b="$(new_project b)"
cd "$b"
if npm_i --ignore-scripts "$tgz" >"$work/install-b.log" 2>&1; then ok "B: npm install --offline --ignore-scripts"; else cat "$work/install-b.log"; fail "B: npm install"; fi
verify B "$b" prebuilds/linux-x64/fdwire.glibc.node launcher
cd "$b"
if npm rebuild fdwire --offline --foreground-scripts >"$work/rebuild-b.log" 2>&1; then ok "B: npm rebuild fdwire (runs the install script)"; else cat "$work/rebuild-b.log"; fail "B: npm rebuild fdwire"; fi
desc="$(file -L node_modules/.bin/rush)"
check "B: after npm rebuild, .bin/rush is the native client" bash -c 'grep -q ELF <<<"$1" && grep -q "statically linked" <<<"$1"' _ "$desc"
check "B: after npm rebuild, rush --version" bash -c "node_modules/.bin/rush --version | grep -q '^rush '"

step "the launcher on a machine fdwire ships no client for (uname says Linux riscv64)"
fake="$work/fake-uname"
mkdir -p "$fake"
printf '#!/bin/sh\necho "Linux riscv64"\n' >"$fake/uname"
chmod +x "$fake/uname"
mkdir -p "$work/launcher-pkg"
tar xzf "$tgz" -C "$work/launcher-pkg"
st=0
out="$(PATH="$fake:$PATH" "$work/launcher-pkg/package/bin/rush" -c 'echo hi' 2>&1)" || st=$?
echo "  $out" | head -n 3
check "launcher, unknown machine: exit 127, says what is wrong and what to do" bash -c \
  "[ $st = 127 ] && grep -q 'ships no rush client for this machine (Linux riscv64)' <<<\"\$1\" && grep -q 'npm rebuild fdwire' <<<\"\$1\" && ! grep -qi 'exec format' <<<\"\$1\"" _ "$out"

# ---- C
step "C: from source with a compiler (no prebuilds/)"
mkdir -p "$work/src-pkg"
tar xzf "$tgz" -C "$work/src-pkg"
rm -rf "$work/src-pkg/package/prebuilds"
tar czf "$work/fdwire-source.tgz" -C "$work/src-pkg" package
c="$(new_project c)"
cd "$c"
if npm_i --foreground-scripts "$work/fdwire-source.tgz" >"$work/install-c.log" 2>&1; then ok "C: npm install --offline (source build)"; else cat "$work/install-c.log"; fail "C: npm install"; fi
grep -E '^fdwire:' "$work/install-c.log" || true
verify C "$c" build/Release/fdwire.node native

summary
