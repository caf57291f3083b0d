#!/usr/bin/env node
// Runs the native-touching tests (transport, daemon, rush, process: their daemons and workers load
// the same sanitized addon) against the ASan+UBSan build of the addon (CMakeLists.txt via cmake-js).
// Node itself is not instrumented, so the ASan runtime is preloaded; leak detection is off because
// Node does not free everything at exit (we check fds, not heap, for leaks).
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const run = (cmd, args, env = process.env) => {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env })
  if (result.status !== 0) {
    console.error(`asan-test: ${cmd} ${args.join(' ')} failed (${result.status ?? result.signal})`)
    process.exit(1)
  }
}

run('npx', ['cmake-js', 'compile', '--out', 'build-asan', '--CDFDWIRE_SANITIZE=ON'])
const addon = path.join(root, 'build-asan', 'Release', 'fdwire.node')
const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim()
if (!fs.existsSync(libasan)) {
  console.error(`asan-test: libasan not found (${libasan}); install gcc's libasan`)
  process.exit(1)
}
const tests = process.argv.slice(2)
const env = {
  ...process.env,
  FDWIRE_ADDON: addon,
  LD_PRELOAD: libasan,
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
}
console.log(`asan-test: ${addon} with ${libasan}`)
// rush's own tests (subfolders included), without rush/test/reliability: the soak and fuzz runs
// are long by design and exercise no native path the others do not; under ASan they would take
// most of an hour.
const rushTests = fs
  .readdirSync('rush/test', { recursive: true })
  .filter((f) => f.endsWith('.test.ts') && !f.startsWith(`reliability${path.sep}`))
  .map((f) => `rush/test/${f}`)
run('npx', ['tap', '--timeout=600', ...(tests.length ? tests : ['test/transport', 'test/daemon', ...rushTests, 'test/process'])], env)
