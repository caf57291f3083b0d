#!/usr/bin/env node
// The addon's native core under the libcs of the prebuilds no Node here can load: the linux musl
// addons are cross-built with zig, and no musl Node exists on this machine. native/test/core-smoke.cc
// drives the very same sources (binding.gyp's, less native/napi/) as a small program,
// built here with the flags of the prebuilds and run:
//   x86_64-linux-musl       static, natively
//   aarch64-linux-musl      static, under qemu-user (a static binary needs no arm64 sysroot)
//   x86_64-linux-gnu.2.17   dynamic glibc, natively: the core as the glibc prebuild compiles it
// Prints each program's TAP and one summary line per target; exits 1 when any check failed.
// Under qemu the program is told so (FDWIRE_CORE_SMOKE_QEMU) and marks the checks that qemu-user
// itself breaks as TODO (core-smoke.cc says which and why): listed, not failed. Natively a TODO or
// a skip is a failure: there every check must run and pass.
//
//   node scripts/ci/musl-core.mjs      (zig is fetched on demand, as for `npm run prebuild:all`)
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { coreSources } from '../release/gyp.mjs'
import { ensureZig } from '../release/toolchain.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
// The smoke program, and the addon's sources from binding.gyp less its Node-API face (native/napi/).
const SOURCES = [...['core-smoke', 'smoke-socket', 'smoke-frames', 'smoke-spawn'].map((s) => `native/test/${s}.cc`), ...coreSources()]

// `libc` and `arch`: what the program must report (its `# libc:` and `# arch:` lines), so a build
// that silently linked the wrong libc, or a run that was not the binary we meant, fails.
// `expectedSkips`: checks that cannot run there, and why.
const TARGETS = [
  { zigTarget: 'x86_64-linux-musl', static: true, runner: [], env: {}, libc: 'musl', arch: 'x86_64' },
  {
    zigTarget: 'aarch64-linux-musl',
    static: true,
    runner: ['qemu-aarch64-static'],
    env: { FDWIRE_CORE_SMOKE_QEMU: '1' },
    libc: 'musl',
    arch: 'aarch64',
    // qemu-user refuses PR_SET_SECCOMP (a guest filter could take away syscalls qemu itself needs),
    // so the fallbacks for kernels without close_range and pidfd_open run natively only.
    expectedSkips: [/close_range fallback/],
  },
  { zigTarget: 'x86_64-linux-gnu.2.17', static: false, runner: [], env: {}, libc: 'glibc', arch: 'x86_64' },
]

function compile(zig, target, out) {
  const args = ['c++', '-target', target.zigTarget, '-std=c++17', '-O1', ...(target.static ? ['-static'] : [])]
  args.push('-Wall', '-Wextra', '-Werror', '-fno-exceptions', '-fno-rtti', '-Inative', ...SOURCES, '-o', out)
  return new Promise((resolve) => {
    const child = spawn(zig, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', (error) => resolve({ ok: false, output: error.message }))
    child.on('close', (code) => resolve({ ok: code === 0, output }))
  })
}

/** Reads a program's TAP against its target: every point ok (or a known TODO), the plan complete. */
function judge(target, result) {
  const lines = (result.stdout ?? '').split('\n')
  const points = lines.filter((l) => /^(not )?ok \d+/.test(l))
  const todos = points.filter((l) => / # TODO /.test(l))
  const skipped = points.filter((l) => / # SKIP /.test(l))
  const failed = points.filter((l) => l.startsWith('not ok') && !todos.includes(l))
  const problems = [...failed]
  const notes = todos.map((l) => (l.startsWith('ok') ? `TODO passes now (did qemu change?): ${l}` : `known: ${l}`))
  if (todos.length && !target.env.FDWIRE_CORE_SMOKE_QEMU) problems.push(...todos.map((l) => `TODO outside qemu: ${l}`))
  for (const line of skipped) {
    if (!(target.expectedSkips ?? []).some((re) => re.test(line))) problems.push(`unexpected skip: ${line}`)
  }
  const plan = lines.map((l) => /^1\.\.(\d+)$/.exec(l)).find(Boolean)
  if (!plan || Number(plan[1]) !== points.length) problems.push(`plan ${plan ? plan[0] : 'missing'}, ${points.length} test points`)
  const libc = lines.find((l) => l.startsWith('# libc:')) ?? 'no # libc line'
  if (!libc.startsWith(`# libc: ${target.libc}`)) problems.push(`expected a ${target.libc} build: ${libc}`)
  const arch = lines.find((l) => l.startsWith('# arch:')) ?? 'no # arch line'
  if (arch !== `# arch: ${target.arch}, uname -m: ${target.arch}`) problems.push(`expected to run as ${target.arch}: ${arch}`)
  if (result.error) problems.push(`did not run: ${result.error.message}`)
  else if (result.status !== (failed.length ? 1 : 0)) problems.push(`exit status ${result.status ?? result.signal}`)
  const passed = points.length - failed.length - todos.length - skipped.length
  return { passed, failed: failed.length, todo: todos.length, skipped: skipped.length, problems, notes }
}

const zig = ensureZig()
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-musl-core-'))
let failures = 0
try {
  const started = Date.now()
  const binaries = TARGETS.map((t) => path.join(scratch, `core-smoke-${t.zigTarget}`))
  const builds = await Promise.all(TARGETS.map((t, i) => compile(zig, t, binaries[i])))
  console.log(`musl-core: built ${TARGETS.length} programs with ${zig} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  const summaries = []
  for (const [i, target] of TARGETS.entries()) {
    const label = `${target.zigTarget} ${target.runner.length ? `under ${target.runner[0]}` : 'natively'}`
    console.log(`\n# ${label}`)
    if (!builds[i].ok) {
      console.log(builds[i].output)
      summaries.push(`FAIL  ${label}: build failed`)
      failures++
      continue
    }
    const t0 = Date.now()
    const [cmd, ...args] = [...target.runner, binaries[i]]
    // TMPDIR: the program makes its socket directory there, inside what this script removes.
    const result = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...target.env, TMPDIR: scratch } })
    process.stdout.write(result.stdout ?? '')
    if (result.stderr) process.stdout.write(result.stderr)
    const verdict = judge(target, result)
    if (verdict.problems.length) failures++
    const counts = `${verdict.passed} passed, ${verdict.failed} failed, ${verdict.todo} todo, ${verdict.skipped} skipped`
    summaries.push(`${verdict.problems.length ? 'FAIL' : 'ok  '}  ${label}: ${counts} (${Date.now() - t0} ms)`)
    for (const line of [...verdict.problems, ...verdict.notes]) summaries.push(`        ${line}`)
  }
  console.log(`\n${summaries.join('\n')}`)
} finally {
  fs.rmSync(scratch, { recursive: true, force: true })
}
console.log(`musl-core: ${failures ? `${failures} target(s) failed` : 'all targets passed'}`)
process.exit(failures ? 1 : 0)
