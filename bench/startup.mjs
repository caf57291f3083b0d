// rush start-up: `rush -c CMD` through a warm rushd against `dash -c`, `bash -c` and a do-nothing
// static binary, all in ONE hyperfine run (the machine is shared; only ratios within a run mean
// anything). Then the same for each rushd mode (worker pool vs one process per request).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protocol } from '../dist/index.js'
import * as rushMessages from '../dist/rush/protocol/messages.js'
import { environment, fmt, printHeader, printTable, quantile, tempDir, writeResults } from './lib/common.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const rush = path.join(root, 'build', 'Release', 'rush')
const rushd = path.join(root, 'bin', 'rushd')
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 1000)
const WARMUP = 100

/** hyperfine is needed; a bench never installs anything (that changes the host): it says how. */
function ensureHyperfine() {
  if (spawnSync('hyperfine', ['--version']).status === 0) return
  console.error('startup.mjs needs hyperfine: apt-get install -y hyperfine (as root), or `sudo bash scripts/ci/test-deps.sh`')
  process.exit(2)
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

/** Compiles bench/floor/NAME.c into `dir`; returns the binary, or undefined without a C compiler. */
function compileFloorTool(dir, name, flags = []) {
  const binary = path.join(dir, name)
  try {
    execFileSync('cc', ['-O2', ...flags, '-o', binary, path.join(root, 'bench', 'floor', `${name}.c`)], { stdio: 'ignore' })
    return binary
  } catch {
    return undefined
  }
}

/** Starts `command` and waits for its first line of output ("ready"); resolves with a stop function. */
async function startReadyProcess(command, args) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve)
    child.once('exit', (code) => reject(new Error(`${path.basename(args[0] ?? command)} exited (${code})`)))
  })
  return () => child.kill('SIGKILL')
}

/**
 * The floor: bench/floor/rushd-floor.c, a C daemon answering every request at once with a Hello
 * and Result(0) made by our encoders. The real client against it shows what `rush -c` costs with
 * a daemon that does no work at all.
 */
async function startFloorDaemon(binary, dir, runtimeDir) {
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
    frame(protocol.encodeResponse(1, { body: Buffer.from(rushMessages.encodeResult(0, 0)) }), 1),
  ])
  const replyFile = path.join(dir, 'floor-reply.bin')
  fs.writeFileSync(replyFile, reply)
  fs.mkdirSync(runtimeDir, { mode: 0o700 })
  return startReadyProcess(binary, [path.join(runtimeDir, 'daemon.sock'), replyFile])
}

/** A Node daemon that answers at once, on `level` of fdwire (bench/floor/node-floor.mjs). */
async function startNodeFloor(level, runtimeDir) {
  fs.mkdirSync(runtimeDir, { mode: 0o700 })
  return startReadyProcess(process.execPath, [path.join(root, 'bench', 'floor', 'node-floor.mjs'), level, runtimeDir])
}

/** Whether the daemon at `runtimeDir` answered: the floors answer Result(0) to anything, sh would not. */
function answersForItself(runtimeDir) {
  const env = { ...process.env, RUSH_RUNTIME_DIR: runtimeDir, RUSH_NO_AUTOSTART: '1' }
  return spawnSync(rush, ['-c', 'exit 3'], { env, stdio: 'ignore' }).status === 0
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

/**
 * Where rush's time goes, and what the goals allow: `rush -c exit` against daemons that each do
 * more, from a C daemon that answers at once to rushd itself, with dash, bash and a do-nothing
 * binary, all timed interleaved (bench/floor/interleave.c starts each command in turn, round after
 * round, so all of them meet the same machine; hyperfine's blocks drift with the load). Every
 * daemon first serves as many requests as rushd is warmed with (V8 optimizes late).
 */
async function ladder(dir, nothing, env) {
  const interleave = compileFloorTool(dir, 'interleave')
  const cFloor = compileFloorTool(dir, 'rushd-floor', ['-D_GNU_SOURCE'])
  if (!interleave || !cFloor) {
    console.log('(no C compiler: the interleaved floor comparison is skipped)\n')
    return undefined
  }
  const which = (name) => execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
  const rungs = [
    { name: 'C floor daemon (bench/floor/rushd-floor.c)', dir: path.join(dir, 'ladder-c'), start: (d) => startFloorDaemon(cFloor, dir, d) },
    { name: 'Node floor: addon handles only', dir: path.join(dir, 'ladder-addon'), start: (d) => startNodeFloor('addon', d) },
    { name: 'Node floor: fdwire listen() + Connection, canned reply', dir: path.join(dir, 'ladder-connection'), start: (d) => startNodeFloor('connection', d) },
    { name: 'Node floor: fdwire Server, canned handler', dir: path.join(dir, 'ladder-server'), start: (d) => startNodeFloor('server', d) },
    {
      name: 'rushd',
      dir: path.join(dir, 'ladder-rushd'),
      start: async (d) => {
        startRushd(d, {})
        return () => stopRushd(d)
      },
    },
  ]
  const stops = []
  try {
    for (const rung of rungs) {
      stops.push(await rung.start(rung.dir))
      if (rung.name !== 'rushd' && !answersForItself(rung.dir)) throw new Error(`${rung.name} did not answer`)
    }
    const commands = [
      { name: 'do-nothing static binary', argv: [nothing] },
      { name: 'dash -c exit', argv: [which('dash'), '-c', 'exit'] },
      { name: 'bash -c exit', argv: [which('bash'), '-c', 'exit'] },
      ...rungs.map((rung) => ({ name: `rush -c exit → ${rung.name}`, argv: [`RUSH_RUNTIME_DIR=${rung.dir}`, 'RUSH_NO_AUTOSTART=1', rush, '-c', 'exit'] })),
      { name: 'sh -c /bin/true', argv: [which('sh'), '-c', '/bin/true'] },
      { name: 'rush -c /bin/true → rushd', argv: [`RUSH_RUNTIME_DIR=${rungs.at(-1).dir}`, 'RUSH_NO_AUTOSTART=1', rush, '-c', '/bin/true'] },
    ]
    const args = [String(DAEMON_WARMUP), String(RUNS)]
    for (const command of commands) args.push('--', ...command.argv)
    const out = execFileSync(interleave, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    const lines = out.trim().split('\n')
    const by = Object.fromEntries(commands.map((command, i) => [command.name, stats(lines[i].split(' ').map((us) => Number(us) / 1e6))]))
    const nothingStats = by['do-nothing static binary']
    printHeader(
      `where the time goes: rush -c exit against daemons doing more and more, interleaved (bench/floor/interleave.c), ${RUNS} rounds after ${DAEMON_WARMUP} warm-up rounds`,
      env,
    )
    const ms = (s) => (s * 1000).toFixed(3)
    printTable(
      ['command', 'p50 ms', 'p90 ms', 'p50 above do-nothing µs', 'p50 vs dash -c exit', 'p50 vs bash -c exit', 'p90 vs do-nothing'],
      commands.map(({ name }) => {
        const s = by[name]
        return [
          name,
          ms(s.p50),
          ms(s.p90),
          ((s.p50 - nothingStats.p50) * 1e6).toFixed(0),
          fmt.ratio(s.p50 / by['dash -c exit'].p50),
          fmt.ratio(s.p50 / by['bash -c exit'].p50),
          fmt.ratio(s.p90 / nothingStats.p90),
        ]
      }),
    )
    console.log(
      "The floor daemons answer Result(0) at once, the Node ones on more or fewer of fdwire's layers. They bound what a daemon of their kind can reach on this machine: no C daemon goes below the first row, no Node daemon on fdwire below the second.\n",
    )
    return by
  } finally {
    for (const stop of stops) stop()
  }
}

/** The rush issue's start-up goals, from per-command stats `by` (exit and /bin/true named as given). */
function startupGoals(by, exit, binTrue) {
  return [
    ['rush -c exit p50 ≤ 1.0× dash -c exit', by[exit].p50 / by['dash -c exit'].p50, 1.0],
    ['rush -c exit p50 ≤ 0.55× bash -c exit', by[exit].p50 / by['bash -c exit'].p50, 0.55],
    ['rush -c exit p90 ≤ 1.4× do-nothing binary', by[exit].p90 / by['do-nothing static binary'].p90, 1.4],
    ['rush -c /bin/true p50 ≤ 1.1× sh -c /bin/true', by[binTrue].p50 / by['sh -c /bin/true'].p50, 1.1],
  ].map(([goal, value, limit]) => ({ goal, value, limit, met: value <= limit }))
}

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
        { name: 'dash -c exit', command: 'dash -c exit' },
        { name: 'bash -c exit', command: 'bash -c exit' },
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
      return [
        name,
        ms(s.p50),
        ms(s.p90),
        fmt.ratio(s.p50 / by['dash -c exit'].p50),
        fmt.ratio(s.p50 / by['bash -c exit'].p50),
        fmt.ratio(s.p90 / by['do-nothing static binary'].p90),
      ]
    }),
  )
  const goals = startupGoals(by, 'rush -c exit', 'rush -c /bin/true')
  printTable(
    ['goal', 'measured', 'met'],
    goals.map(({ goal, value, limit }) => [goal, fmt.ratio(value), value <= limit ? 'yes' : 'NO']),
  )
  results.goals = goals

  // Pool vs one process per request: the same commands through each rushd mode.
  const modes = [
    { label: 'pool (default): the daemon answers, workers start on demand for concurrent sessions', env: {}, runs: RUNS, warm: true },
    { label: 'pool, 4 workers kept running (RUSH_POOL_MIN=4)', env: { RUSH_POOL_MIN: '4' }, runs: RUNS, warm: true },
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

  results.ladder = await ladder(dir, nothing, env)
  if (results.ladder) {
    // The same goals from the interleaved run, which the load's drift cannot favour or spoil.
    results.goalsInterleaved = startupGoals(results.ladder, 'rush -c exit → rushd', 'rush -c /bin/true → rushd')
    printHeader('the start-up goals, from both runs', env)
    printTable(
      ['goal', 'hyperfine run', 'met', 'interleaved run', 'met'],
      results.goals.map(({ goal, value, limit }, i) => {
        const interleaved = results.goalsInterleaved[i].value
        return [goal, fmt.ratio(value), value <= limit ? 'yes' : 'NO', fmt.ratio(interleaved), interleaved <= limit ? 'yes' : 'NO']
      }),
    )
  }
  writeResults('startup', results)
}

await main()
