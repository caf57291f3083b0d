// rush start-up: `rush -c CMD` through a warm rushd against `dash -c`, `bash -c` and a do-nothing
// static binary, all in ONE hyperfine run (the machine is shared; only ratios within a run mean
// anything). Then the same for each rushd mode (worker pool vs one process per request).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protocol } from '../dist/index.js'
import { environment, fmt, printHeader, printTable, quantile, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 1000)
const WARMUP = 100

function ensureHyperfine() {
  if (spawnSync('hyperfine', ['--version']).status === 0) return
  console.log('installing hyperfine (Debian package)…')
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n']
  const install = (args) => spawnSync(sudo[0] ?? 'apt-get', [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), ...args], { stdio: 'inherit' })
  if (install(['install', '-y', '-qq', 'hyperfine']).status !== 0) {
    install(['update', '-qq'])
    if (install(['install', '-y', '-qq', 'hyperfine']).status !== 0) throw new Error('hyperfine is needed: apt-get install hyperfine')
  }
}

/** A do-nothing static binary: the floor of any process start on this machine. */
function doNothingBinary(dir) {
  const source = path.join(dir, 'nothing.c')
  const binary = path.join(dir, 'nothing')
  fs.writeFileSync(source, 'int main(void) { return 0; }\n')
  execFileSync('cc', ['-O2', '-static', '-o', binary, source])
  return binary
}

function startRushd(runtimeDir, env) {
  const result = spawnSync(process.execPath, [rushd, 'start'], { env: { ...process.env, ...env, RUSH_RUNTIME_DIR: runtimeDir }, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`rushd start failed: ${result.stderr}`)
}

/**
 * The floor: bench/floor/rushd-floor.c, a C daemon answering every request at once with a Hello
 * and Result(0) made by our encoders. The real client against it shows what `rush -c` costs with
 * a daemon that does no work at all. Resolves with a stop function, or undefined without cc.
 */
async function startFloorDaemon(dir, runtimeDir) {
  const binary = path.join(dir, 'rushd-floor')
  try {
    execFileSync('cc', ['-O2', '-D_GNU_SOURCE', '-o', binary, path.join(root, 'bench', 'floor', 'rushd-floor.c')], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const frame = (payload, id) => {
    const header = Buffer.alloc(16)
    header.writeUInt16LE(0x57fd, 0)
    header[2] = 1
    header.writeUInt32LE(payload.length, 4)
    header.writeUInt32LE(id, 8)
    return Buffer.concat([header, Buffer.from(payload)])
  }
  const reply = Buffer.concat([
    frame(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'floor'), 0),
    frame(protocol.encodeResponse(1, { body: Buffer.from(protocol.rush.encodeResult(0, 0)) }), 1),
  ])
  const replyFile = path.join(dir, 'floor-reply.bin')
  fs.writeFileSync(replyFile, reply)
  fs.mkdirSync(runtimeDir, { mode: 0o700 })
  const child = spawn(binary, [path.join(runtimeDir, 'daemon.sock'), replyFile], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve)
    child.once('exit', (code) => reject(new Error(`rushd-floor exited (${code})`)))
  })
  return () => child.kill('SIGKILL')
}

/**
 * Requests a daemon serves before it is measured. rushd is a long-running daemon, and V8 optimizes
 * its request path only after some hundreds of requests: measured interleaved on this machine, a
 * fresh daemon's first 1,000 `rush -c exit` ran 0.17 ms slower at p50 than a daemon that had served
 * 3,000. hyperfine's own warm-up (100 runs) is far too short for that, so the daemon is warmed first.
 */
const DAEMON_WARMUP = Number(process.env.BENCH_STARTUP_DAEMON_WARMUP ?? 3000)

/** Sends `count` requests through the daemon at `runtimeDir`, rotating over `scripts`. */
function warmRushd(runtimeDir, scripts, count = DAEMON_WARMUP) {
  const env = { ...process.env, RUSH_RUNTIME_DIR: runtimeDir, RUSH_NO_AUTOSTART: '1' }
  for (let i = 0; i < count; i++) {
    const result = spawnSync(rush, ['-c', scripts[i % scripts.length]], { env, stdio: 'ignore' })
    if (result.status !== 0) throw new Error(`warming rushd: rush -c ${scripts[i % scripts.length]} exited ${result.status ?? result.signal}`)
  }
}

function stopRushd(runtimeDir) {
  spawnSync(process.execPath, [rushd, 'stop'], { env: { ...process.env, RUSH_RUNTIME_DIR: runtimeDir } })
}

/** Runs hyperfine over `commands` ({name, command}) and returns per-command times (seconds). */
function hyperfine(commands, env, dir, tag, runs = RUNS) {
  const json = path.join(dir, `hyperfine-${tag}.json`)
  const args = ['-N', '--warmup', String(Math.min(WARMUP, runs)), '--runs', String(runs), '--style', 'none', '--export-json', json]
  for (const { name, command } of commands) args.push('-n', name, command)
  // hyperfine's outlier warnings go to stderr: show them only if it fails (the load average is in
  // the header, and the machine is shared anyway).
  const result = spawnSync('hyperfine', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`hyperfine failed (${result.status}): ${result.stderr}`)
  return JSON.parse(fs.readFileSync(json, 'utf8')).results.map((r) => ({ name: r.command, times: [...r.times].sort((a, b) => a - b) }))
}

const stats = (times) => ({ p50: quantile(times, 0.5), p90: quantile(times, 0.9), mean: times.reduce((a, b) => a + b, 0) / times.length })

async function main() {
  if (!fs.existsSync(rush)) throw new Error(`${rush} is missing: run npm install (it builds the client)`)
  ensureHyperfine()
  const dir = tempDir()
  const nothing = doNothingBinary(dir)
  const env = environment()
  const results = { env, runs: RUNS, warmup: WARMUP, daemonWarmup: DAEMON_WARMUP, modes: {} }

  const runtimeDir = path.join(dir, 'rt')
  const daemonEnv = { RUSH_RUNTIME_DIR: runtimeDir, RUSH_NO_AUTOSTART: '1' }
  startRushd(runtimeDir, {})
  let main
  try {
    warmRushd(runtimeDir, ['exit', 'echo hello', '/bin/true'])
    main = hyperfine(
      [
        { name: 'do-nothing static binary', command: nothing },
        { name: 'dash -c exit', command: "dash -c exit" },
        { name: 'bash -c exit', command: "bash -c exit" },
        { name: 'rush -c exit', command: `${rush} -c exit` },
        { name: "dash -c 'echo hello'", command: "dash -c 'echo hello'" },
        { name: "rush -c 'echo hello'", command: `${rush} -c 'echo hello'` },
        { name: 'sh -c /bin/true', command: 'sh -c /bin/true' },
        { name: 'rush -c /bin/true', command: `${rush} -c /bin/true` },
      ],
      daemonEnv,
      dir,
      'main',
    )
  } finally {
    stopRushd(runtimeDir)
  }
  const by = Object.fromEntries(main.map((r) => [r.name, stats(r.times)]))
  results.startup = by
  results.distributions = Object.fromEntries(main.map((r) => [r.name, r.times]))

  printHeader(`rush start-up: hyperfine -N, ${RUNS} runs each after ${WARMUP} warm-ups, one run; rushd warmed by ${DAEMON_WARMUP} requests first`, env)
  const ms = (s) => (s * 1000).toFixed(3)
  printTable(
    ['command', 'p50 ms', 'p90 ms', 'p50 vs dash -c exit', 'p50 vs bash -c exit', 'p90 vs do-nothing'],
    main.map(({ name }) => {
      const s = by[name]
      return [name, ms(s.p50), ms(s.p90), fmt.ratio(s.p50 / by['dash -c exit'].p50), fmt.ratio(s.p50 / by['bash -c exit'].p50), fmt.ratio(s.p90 / by['do-nothing static binary'].p90)]
    }),
  )
  const goals = [
    ['rush -c exit p50 ≤ 1.0× dash -c exit', by['rush -c exit'].p50 / by['dash -c exit'].p50, 1.0],
    ['rush -c exit p50 ≤ 0.55× bash -c exit', by['rush -c exit'].p50 / by['bash -c exit'].p50, 0.55],
    ['rush -c exit p90 ≤ 1.4× do-nothing binary', by['rush -c exit'].p90 / by['do-nothing static binary'].p90, 1.4],
    ['rush -c /bin/true p50 ≤ 1.1× sh -c /bin/true', by['rush -c /bin/true'].p50 / by['sh -c /bin/true'].p50, 1.1],
  ]
  printTable(['goal', 'measured', 'met'], goals.map(([goal, value, limit]) => [goal, fmt.ratio(value), value <= limit ? 'yes' : 'NO']))
  results.goals = goals.map(([goal, value, limit]) => ({ goal, value, limit, met: value <= limit }))

  // Pool vs one process per request: the same commands through each rushd mode.
  const modes = [
    { label: 'pool (default): idle daemon answers, concurrent sessions go to 4 workers', env: {}, runs: RUNS, warm: true },
    { label: 'pool, every session handed to a worker (RUSH_INLINE_SESSIONS=0)', env: { RUSH_INLINE_SESSIONS: '0' }, runs: RUNS, warm: true },
    { label: 'no workers (RUSH_POOL_SIZE=0)', env: { RUSH_POOL_SIZE: '0' }, runs: RUNS, warm: true },
    { label: 'one process per request (RUSH_DISABLE_POOL=1)', env: { RUSH_DISABLE_POOL: '1' }, runs: 30 },
  ]
  const modeRows = []
  for (const [i, mode] of modes.entries()) {
    const modeDir = path.join(dir, `mode${i}`)
    startRushd(modeDir, mode.env)
    try {
      if (mode.warm) warmRushd(modeDir, ['exit', '/bin/true'])
      const rows = hyperfine(
        [
          { name: 'rush -c exit', command: `${rush} -c exit` },
          { name: 'rush -c /bin/true', command: `${rush} -c /bin/true` },
        ],
        { RUSH_RUNTIME_DIR: modeDir, RUSH_NO_AUTOSTART: '1' },
        dir,
        `mode${i}`,
        mode.runs,
      )
      results.modes[mode.label] = Object.fromEntries(rows.map((r) => [r.name, stats(r.times)]))
      for (const r of rows) modeRows.push([mode.label, r.name, ms(stats(r.times).p50), ms(stats(r.times).p90)])
    } finally {
      stopRushd(modeDir)
    }
  }
  printHeader('rushd modes: worker pool vs one process per request', env)
  printTable(['mode', 'command', 'p50 ms', 'p90 ms'], modeRows)
  console.log('One process per request pays a Node start-up per session (~80 ms here): it exists for isolation, not speed.\n')

  // What the protocol itself costs: the same client against a daemon that does nothing.
  const floorDir = path.join(dir, 'floor')
  const stopFloor = await startFloorDaemon(dir, floorDir)
  if (stopFloor) {
    let rows
    try {
      rows = hyperfine(
        [
          { name: 'do-nothing static binary', command: nothing },
          { name: 'dash -c exit', command: 'dash -c exit' },
          { name: 'bash -c exit', command: 'bash -c exit' },
          { name: 'rush -c exit, C floor daemon', command: `${rush} -c exit` },
        ],
        { RUSH_RUNTIME_DIR: floorDir, RUSH_NO_AUTOSTART: '1' },
        dir,
        'floor',
      )
    } finally {
      stopFloor()
    }
    const f = Object.fromEntries(rows.map((r) => [r.name, stats(r.times)]))
    results.floor = f
    printHeader('the floor: the same client against a C daemon that answers at once (bench/floor/rushd-floor.c)', env)
    printTable(
      ['command', 'p50 ms', 'p90 ms', 'p50 vs dash -c exit', 'p50 vs bash -c exit'],
      rows.map(({ name }) => [name, ms(f[name].p50), ms(f[name].p90), fmt.ratio(f[name].p50 / f['dash -c exit'].p50), fmt.ratio(f[name].p50 / f['bash -c exit'].p50)]),
    )
    console.log('No daemon can answer faster than this one; what rushd adds on top of it is its own work (a Node event loop and the request handled in JS).\n')
  }
  writeResults('startup', results)
}

await main()
