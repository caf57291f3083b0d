#!/usr/bin/env node
// Soak test: many rush sessions on one rushd, then many library round trips on
// one Server, checking that no process leaks fds and that RSS stays flat after warm-up.
//
//   node scripts/reliability/soak.mjs [--warmup 3000] [--warmup-max 9000] [--sessions 10000] [--connections 100] [--round-trips 1000]
//                         [--burst-every 20] [--burst 6] [--rss-limit-mb 5 (0: report only)] [--recovery-rounds 5] [--out FILE]
//                         [--concurrent 100] [--batch 0] [--idle-ms 0] [--idle-growth-limit-mb 0 (0: report only)]
//
// Defaults are the full size (`npm run soak`); the full-size run writes bench/results/soak.json
// unless --out says otherwise. Exit status 0 when every check passed, 1 otherwise.
//
// --warmup: rush sessions before the first measurement (default 3000: V8's heap and malloc's reach
// their working size over the first 2,000–3,000 sessions; RSS rises with them);
// the warm-up goes on in rounds of 500 while RSS still grows by more than 1 MB a round, up to
// --warmup-max sessions.
// Sessions: sequential `rush -c` runs (in-process scripts, direct exec, /bin/sh ones; output and
// status checked each time); every --burst-every'th iteration --burst sessions run at once so that
// pool mode hands them to its workers. Warm-up (10 % of the sessions, at least 100) runs first;
// then the fd counts and VmRSS of the daemon and each worker are taken, and again at the end.
// Library: a Server fixture process with an echo handler; --connections Clients, 10 at a time,
// each doing --round-trips sequential request()s; fds and RSS of the server process likewise.
// Crash recovery (--recovery-rounds, 0: none): the recovery targets, timed here and not in the tests
// (a test holds no time bound: a loaded machine stretches any). Each round, on a fresh rushd:
// kill -9 of a worker → the pool is back to 4 within 1 s; kill -9 of the daemon → the next
// `rush -c` is right (and quiet) within 100 ms, and the daemon it autostarts answers within 2 s of
// that rush's start. The median of the rounds must meet each target; every round is reported.
// Memory: RSS of the rushd tree (daemon and workers) idle after start, after --concurrent sessions
// at once, after all sessions, after --idle-ms without any (--idle-growth-limit-mb bounds its growth
// over the first). --batch N runs sessions N at a time through one /bin/sh (batch.mjs; bursts without
// a held connection or a `sleep`): `--sessions 100000 --batch 1000` takes minutes. Without workers
// (RUSH_POOL_SIZE=0) nothing is handed over and the crash-recovery rounds are skipped.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import { Client } from '../../dist/index.js'
import {
  alive,
  cleanEnv,
  daemonPid,
  descendants,
  fdList,
  liveStatus,
  makeRuntimeDir,
  parseArgs,
  poll,
  procStats,
  quiesce,
  root,
  rushAsync,
  rushBin,
  rushReady,
  rushSync,
  usePrivateTree,
  treeRoot,
  startRushd,
  stopRushd,
  workerPids,
} from './lib.mjs'
import { runBatch } from './batch.mjs'
import { compare as compareProcesses, memoryTable, table as printTable, treeRss } from './soak-report.mjs'

// Warm-up rounds after the minimum, and what counts as a plateau (see the rush sessions below).
const WARMUP_ROUND = 500
const PLATEAU_KB = 1024
const defaults = {
  warmup: 3000,
  warmupMax: 9000,
  sessions: 10_000,
  connections: 100,
  roundTrips: 1000,
  burstEvery: 20,
  burst: 6,
  rssLimitMb: 5,
  parallel: 10,
  recoveryRounds: 5,
  out: '',
  concurrent: 100,
  batch: 0,
  idleMs: 0,
  idleGrowthLimitMb: 0,
}
const opts = parseArgs(process.argv.slice(2), defaults)
const fullSize = opts.sessions >= defaults.sessions && opts.connections >= defaults.connections && opts.roundTrips >= defaults.roundTrips
const outFile = opts.out || (fullSize ? path.join(root, 'bench', 'results', 'soak.json') : '')
const failures = []
const fail = (message) => {
  failures.push(message)
  console.log(`FAIL ${message}`)
}
const log = (message) => console.log(message)
// Workers kept running unless RUSH_POOL_MIN (which startRushd passes on) says fewer: then they
// start on demand and retire when idle.
const workersMayRetire = process.env.RUSH_POOL_MIN !== undefined && Number(process.env.RUSH_POOL_MIN) < 4
const compare = (what, before, after, beforeFds) => compareProcesses(what, before, after, beforeFds, { fail, rssLimitMb: opts.rssLimitMb, workersMayRetire })
const table = (title, rows) => printTable(log, title, rows)
// Every measured process runs with this preload: SIGUSR2 = full GC (see the fixture). RSS is
// compared after a GC at both ends; the raw figures (no forced GC) are reported too.
const gcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-soak-gc-'))
process.on('exit', () => fs.rmSync(gcDir, { recursive: true, force: true }))
const gcEnv = () => ({
  NODE_OPTIONS: `--expose-gc --import=${path.join(treeRoot, 'test', 'fixtures', 'reliability-gc-on-signal.mjs')}`,
  FDWIRE_SOAK_GC_DIR: gcDir,
})
const heapUsedKb = (pid) => {
  try {
    return Math.round(JSON.parse(fs.readFileSync(path.join(gcDir, `${pid}.json`), 'utf8')).heapUsed / 1024)
  } catch {
    return null
  }
}

/** fds and RSS of each process: raw, then after a forced full GC (SIGUSR2). */
async function measure(procs) {
  const raw = Object.fromEntries(Object.entries(procs).map(([pid, role]) => [pid, { role, ...procStats(Number(pid)) }]))
  for (const pid of Object.keys(procs)) process.kill(Number(pid), 'SIGUSR2')
  await sleep(700)
  const out = {}
  for (const [pid, role] of Object.entries(procs)) {
    try {
      out[pid] = { role, ...procStats(Number(pid)), rawRssKb: raw[pid].rssKb, heapKb: heapUsedKb(pid) }
    } catch {}
  }
  return out
}
const rushProcs = (daemon) => Object.fromEntries([[daemon, 'daemon'], ...workerPids(daemon).map((w) => [w, 'worker'])])

if (!rushReady()) {
  console.error('soak: build/Release/rush or dist/rush missing (npm run build:native && npx tsc -p tsconfig.json)')
  process.exit(2)
}
usePrivateTree()

// ---------------------------------------------------------------- rush sessions
/** The mix: [args, expected stdout, expected stderr, expected status]. */
const mix = [
  [['-c', 'true'], '', '', 0], // in-process
  [['-c', '/bin/true'], '', '', 0], // direct exec
  [['-c', 'echo hello world'], 'hello world\n', '', 0],
  [['-c', 'exit 3'], '', '', 3],
  [['-c', "printf '%s\\n' a b | tr a-z A-Z"], 'A\nB\n', '', 0], // sh
  [['-c', 'echo oops >&2; exit 2'], '', 'oops\n', 2],
  [['-c', 'cd / && pwd'], '/\n', '', 0],
  [['-c', 'x=$(echo sub); echo "$x"'], 'sub\n', '', 0],
  [['-c', '/bin/echo direct'], 'direct\n', '', 0],
  [['-c', 'echo "$1"', 'name', 'arg with space'], 'arg with space\n', '', 0],
]

async function rushSoak() {
  const dir = makeRuntimeDir('fdwire-soak-')
  const { env, pid: daemon } = startRushd(dir, gcEnv())
  const result = { sessions: 0, sequential: 0, concurrent: 0, servedByWorkers: 0, servedByDaemon: 0, mismatches: 0, maxMs: 0, totalMs: 0, memory: [] }
  const t0 = performance.now()
  let i = 0
  const one = () => {
    const [args, out, err, status] = mix[i % mix.length]
    const r = rushSync(args, env)
    result.sessions++
    result.sequential++
    result.maxMs = Math.max(result.maxMs, r.ms)
    if (r.stdout !== out || r.stderr !== err || r.status !== status) {
      result.mismatches++
      if (result.mismatches <= 5)
        fail(
          `session ${i} ${JSON.stringify(args)}: got ${JSON.stringify([r.status, r.signal, r.stdout, r.stderr])}, want ${JSON.stringify([status, null, out, err])}`,
        )
    }
  }
  // rushd serves RUSH_INLINE_SESSIONS (1) sessions itself and hands the others to its workers. A
  // `rush -c` session lasts one round trip, so a burst of clients seldom overlaps by itself: a
  // held connection takes the daemon's own slot for the burst, and every session of the burst
  // goes through a worker. The daemon's counter of hand-overs says how many did.
  const socketPath = path.join(dir, 'daemon.sock')
  const handedOff = async () => Number((await liveStatus(socketPath))?.handedOff ?? NaN)
  const burst = async () => {
    const before = await handedOff()
    const holder = await Client.connect(socketPath)
    const runs = await Promise.all(Array.from({ length: opts.burst }, (_, k) => rushAsync(['-c', `sleep 0.1; echo burst ${k}`], env)))
    await holder.close()
    for (const [k, r] of runs.entries()) {
      result.sessions++
      result.concurrent++
      if (r.stdout !== `burst ${k}\n` || r.status !== 0 || r.stderr !== '') {
        result.mismatches++
        if (result.mismatches <= 5) fail(`burst session at ${i}: got ${JSON.stringify([r.status, r.signal, r.stdout, r.stderr])}`)
      }
    }
    const handed = (await handedOff()) - before
    if (Number.isFinite(handed)) {
      result.servedByWorkers += handed
      result.servedByDaemon += opts.burst - handed
    }
  }
  const step = async () => {
    if (opts.burstEvery > 0 && i % opts.burstEvery === opts.burstEvery - 1) await burst()
    else one()
    i++
  }
  const wrong = (where, got, want) => {
    result.mismatches++
    if (result.mismatches <= 5) fail(`${where}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
  }
  // --batch: the same steps, up to --batch sessions at a time through one /bin/sh (batch.mjs).
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-soak-batch-'))
  process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }))
  const batchUpTo = async (target) => {
    const steps = []
    let count = 0
    let bursts = 0
    for (; result.sessions + count < target && count < opts.batch; i++) {
      const [args, out, err, status] = mix[i % mix.length]
      if (opts.burstEvery > 0 && i % opts.burstEvery === opts.burstEvery - 1) {
        steps.push(Array.from({ length: opts.burst }, (_, k) => ({ args: ['-c', `echo burst ${k}`], out: `burst ${k}\n`, err: '', status: 0 })))
        bursts += opts.burst
      } else steps.push({ args, out, err, status })
      count += Array.isArray(steps.at(-1)) ? opts.burst : 1
    }
    const before = await handedOff()
    const batch = await runBatch(rushBin, env, steps, scratch)
    const handed = (await handedOff()) - before
    Object.assign(result, { sessions: result.sessions + count, concurrent: result.concurrent + bursts, sequential: result.sequential + count - bursts })
    if (Number.isFinite(handed))
      Object.assign(result, { servedByWorkers: result.servedByWorkers + handed, servedByDaemon: result.servedByDaemon + Math.max(0, bursts - handed) })
    for (const w of batch.wrong) wrong(`session ${JSON.stringify(w.args)} (batch)`, w.got, w.want)
  }
  const advance = async (target) => {
    while (result.sessions < target) await (opts.batch > 0 ? batchUpTo(target) : step())
  }
  // Memory phases: RSS of the daemon tree, no forced GC.
  const phase = (name) => result.memory.push({ phase: name, sessions: result.sessions, ...treeRss(daemon) })
  const concurrent = async () => {
    const runs = await Promise.all(Array.from({ length: opts.concurrent }, (_, k) => rushAsync(['-c', `echo concurrent ${k}`], env)))
    for (const [k, r] of runs.entries()) {
      result.sessions++
      result.concurrent++
      if (r.stdout !== `concurrent ${k}\n` || r.status !== 0 || r.stderr !== '')
        wrong(`concurrent session ${k}`, [r.status, r.signal, r.stdout, r.stderr], [0, null, `concurrent ${k}\n`, ''])
    }
  }
  // Every measurement waits until the daemon and its workers are idle (a worker closes a session
  // some time after its client has the answer): fds counted mid-session mean nothing.
  const idle = async () => {
    if (!(await quiesce(daemon, socketPath))) fail('rush: the daemon and its workers never became idle')
  }
  await idle()
  result.mode = (await liveStatus(socketPath))?.mode
  phase('idle after start')
  if (opts.concurrent > 0) {
    await concurrent()
    await idle()
    phase(`after ${opts.concurrent} concurrent sessions`)
  }
  // Warm-up: at least --warmup sessions, then on in rounds of WARMUP_ROUND while any process's RSS
  // (after a forced GC) still grew by more than PLATEAU_KB over the last round, up to
  // --warmup-max. How far V8 has sized its heap after a given number of sessions varies from run
  // to run (daemon RSS after 3,000 sessions: 71 MB in one run, 97 MB in the next); measuring
  // before the plateau reports heap sizing as growth. A leak keeps RSS growing, so it never looks
  // like a plateau: it reaches --warmup-max and is then measured like anything else.
  await advance(opts.warmup)
  await idle()
  let before = await measure(rushProcs(daemon))
  while (result.sessions < opts.warmupMax) {
    const target = result.sessions + WARMUP_ROUND
    await advance(target)
    await idle()
    const now = await measure(rushProcs(daemon))
    const grew = Object.entries(now).filter(([pid, p]) => before[pid] && p.rssKb - before[pid].rssKb > PLATEAU_KB)
    before = now
    if (grew.length === 0) break
    log(`  rush: warm-up goes on (${result.sessions} sessions): RSS still growing in ${grew.map(([pid, p]) => `${p.role} ${pid}`).join(', ')}`)
  }
  const beforeFds = Object.fromEntries(Object.keys(before).map((pid) => [pid, fdList(Number(pid))]))
  const warmSessions = result.sessions
  const tMain = performance.now()
  const progressEvery = opts.batch > 0 ? Math.max(opts.batch, Math.round(opts.sessions / 20)) : 1000
  while (result.sessions < warmSessions + opts.sessions) {
    await advance(Math.min(warmSessions + opts.sessions, result.sessions + progressEvery))
    log(`  rush: ${result.sessions - warmSessions}/${opts.sessions} sessions`)
  }
  result.totalMs = performance.now() - tMain
  // Closing is asynchronous (a worker closes its lifeline after the session's close event).
  await idle()
  phase(`after ${result.sessions} sessions`)
  if (opts.idleMs > 0) {
    await sleep(opts.idleMs)
    phase(`after ${opts.idleMs / 1000} s idle`)
    const growth = result.memory.at(-1).treeRssKb - result.memory[0].treeRssKb
    if (opts.idleGrowthLimitMb > 0 && growth > opts.idleGrowthLimitMb * 1024)
      fail(
        `rush: the daemon tree's RSS after ${opts.idleMs / 1000} s idle is ${(growth / 1024).toFixed(1)} MB over its start (limit ${opts.idleGrowthLimitMb} MB)`,
      )
  }
  const after = await measure(rushProcs(daemon))
  result.processes = compare('rush', before, after, beforeFds)
  result.warmupSessions = warmSessions
  const strays = descendants(daemon).filter((p) => !workerPids(daemon).includes(p.pid))
  if (strays.length) fail(`rush: processes left under the daemon: ${strays.map((p) => `${p.pid} ${p.cmd.join(' ')}`).join('; ')}`)
  if (result.mismatches) fail(`rush: ${result.mismatches} sessions gave a wrong answer`)
  // Only bursts with a held connection (not --batch ones) are sure to reach a worker.
  if (result.mode === 'pool' && opts.batch === 0 && result.concurrent > 0 && result.servedByWorkers === 0)
    fail('rush: no concurrent session was served by a worker')
  if (!alive(daemon)) fail('rush: the daemon died')
  stopRushd(env)
  fs.rmSync(dir, { recursive: true, force: true })
  result.elapsedMs = performance.now() - t0
  return result
}

// ---------------------------------------------------------------- library round trips
async function librarySoak() {
  const dir = makeRuntimeDir('fdwire-soak-lib-')
  const fixture = path.join(treeRoot, 'test', 'fixtures', 'reliability-echo-server.mjs')
  const child = spawn(process.execPath, [fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'], env: cleanEnv(gcEnv()) })
  const line = await new Promise((resolve, reject) => {
    let text = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      text += d
      if (text.includes('\n')) resolve(text.split('\n')[0])
    })
    child.on('exit', (code) => reject(new Error(`echo server exited (${code})`)))
  })
  const { pid, socket } = JSON.parse(line)
  const result = { connections: 0, roundTrips: 0, wrong: 0, errors: 0 }
  const connection = async (c) => {
    const client = await Client.connect(socket, { timeout: 10_000 })
    try {
      for (let r = 0; r < opts.roundTrips; r++) {
        const body = `c${c} r${r} ${'x'.repeat((c * 31 + r) % 200)}`
        try {
          const reply = await client.request('echo', body, { timeout: 30_000 })
          result.roundTrips++
          if (reply.body.toString() !== body) result.wrong++
        } catch (error) {
          result.errors++
          if (result.errors <= 5) fail(`library: connection ${c} request ${r}: ${error.code ?? ''} ${error.message}`)
        }
      }
    } finally {
      await client.close()
    }
    result.connections++
  }
  const batch = async (from, count) => {
    for (let c = from; c < from + count; c += opts.parallel) {
      await Promise.all(Array.from({ length: Math.min(opts.parallel, from + count - c) }, (_, k) => connection(c + k)))
    }
  }
  const t0 = performance.now()
  // The allocator reaches its high-water mark over the first few dozen connections (RSS rises, then
  // stays flat while the V8 heap does not grow): warm up with half as many as are measured.
  const warmupConnections = Math.max(2, Math.round(opts.connections / 2))
  await batch(0, warmupConnections)
  // Measured when the server is idle: it counts no connection but the one asking, and its fds
  // have stopped changing (a hang guard, not a delay).
  const idle = async () => {
    if (!(await quiesce(pid, socket))) fail('library: the server never became idle')
  }
  await idle()
  const before = await measure({ [pid]: 'server' })
  const beforeFds = { [pid]: fdList(pid) }
  const tMain = performance.now()
  const warm = { connections: result.connections, roundTrips: result.roundTrips }
  await batch(warmupConnections, opts.connections)
  result.totalMs = performance.now() - tMain
  await idle()
  const after = await measure({ [pid]: 'server' })
  result.processes = compare('library', before, after, beforeFds)
  result.warmupConnections = warm.connections
  result.connections -= warm.connections
  result.roundTrips -= warm.roundTrips
  if (result.wrong) fail(`library: ${result.wrong} replies differed from their request`)
  child.kill('SIGTERM')
  await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)))
  fs.rmSync(dir, { recursive: true, force: true })
  result.elapsedMs = performance.now() - t0
  return result
}

// ---------------------------------------------------------------- crash recovery
const TARGETS = { poolBackMs: 1000, nextRushMs: 100, daemonBackMs: 2000 }

async function crashRecovery() {
  const rounds = []
  for (let round = 0; round < opts.recoveryRounds; round++) {
    const dir = makeRuntimeDir('fdwire-soak-crash-')
    const socketPath = path.join(dir, 'daemon.sock')
    const { env, pid: daemon } = startRushd(dir)
    const row = { round, poolBackMs: null, nextRushMs: null, daemonBackMs: null }
    const killAll = []
    try {
      if (!(await poll(async () => (await liveStatus(socketPath))?.workers === 4, 60_000, 20))) {
        fail(`crash recovery, round ${round}: the pool never had 4 workers`)
        continue
      }
      const victim = workerPids(daemon)[0]
      let t0 = performance.now()
      process.kill(victim, 'SIGKILL')
      const back = await poll(
        async () => {
          const now = workerPids(daemon)
          return !now.includes(victim) && now.length === 4 && (await liveStatus(socketPath))?.workers === 4
        },
        60_000,
        2,
      )
      if (back) row.poolBackMs = performance.now() - t0
      else fail(`crash recovery, round ${round}: the pool was not back to 4 workers within 60 s of kill -9 of worker ${victim}`)
      killAll.push(...workerPids(daemon))
      process.kill(daemon, 'SIGKILL')
      await poll(() => !alive(daemon), 60_000, 1)
      const autostart = { ...env }
      delete autostart.RUSH_NO_AUTOSTART
      t0 = performance.now()
      const first = rushSync(['-c', 'echo x'], autostart)
      row.nextRushMs = first.ms
      if (first.status !== 0 || first.stdout !== 'x\n' || first.stderr !== '')
        fail(`crash recovery, round ${round}: the first rush after kill -9 of the daemon gave ${JSON.stringify([first.status, first.stdout, first.stderr])}`)
      const fresh = await poll(
        async () => {
          const pid = daemonPid(dir)
          return pid !== undefined && pid !== daemon && (await liveStatus(socketPath, 60_000)) ? pid : undefined
        },
        60_000,
        2,
      )
      if (fresh) row.daemonBackMs = performance.now() - t0
      else fail(`crash recovery, round ${round}: no daemon answered within 60 s of the first rush after kill -9 of the daemon`)
    } finally {
      stopRushd(env)
      for (const pid of killAll) if (alive(pid)) process.kill(pid, 'SIGKILL')
      fs.rmSync(dir, { recursive: true, force: true })
      rounds.push(row)
    }
  }
  const median = {}
  for (const key of Object.keys(TARGETS)) {
    const values = rounds
      .map((r) => r[key])
      .filter((v) => v !== null)
      .sort((a, b) => a - b)
    median[key] = values.length ? values[Math.floor((values.length - 1) / 2)] : null
    if (median[key] !== null && median[key] > TARGETS[key])
      fail(`crash recovery: ${key} median ${median[key].toFixed(1)} ms misses its target of ${TARGETS[key]} ms`)
  }
  return { targets: TARGETS, rounds, median }
}

log(
  `soak: ${opts.sessions} rush sessions (bursts of ${opts.burst} every ${opts.burstEvery}), ${opts.connections} connections x ${opts.roundTrips} round trips; load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} cpus`,
)
const rush = await rushSoak()
log(
  `rush: ${rush.sessions - rush.warmupSessions} sessions after ${rush.warmupSessions} warm-up (${rush.concurrent} of all concurrent: ${rush.servedByWorkers} served by workers, ${rush.servedByDaemon} by the daemon), ${rush.mismatches} wrong, ${(rush.totalMs / 1000).toFixed(1)} s${opts.batch > 0 ? '' : `, slowest ${rush.maxMs.toFixed(0)} ms`}`,
)
table('rush daemon and workers (after warm-up → end; RSS after a forced full GC)', rush.processes)
memoryTable(log, rush.memory)
const library = await librarySoak()
log(
  `\nlibrary: ${library.connections} connections x ${opts.roundTrips} = ${library.roundTrips} round trips after ${library.warmupConnections} warm-up connections, ${library.wrong} wrong, ${library.errors} errors, ${(library.totalMs / 1000).toFixed(1)} s`,
)
table('library echo server (after warm-up → end; RSS after a forced full GC)', library.processes)
// Each round kills a worker: without a pool (RUSH_POOL_SIZE=0, RUSH_DISABLE_POOL=1) there is none.
const recovery = rush.mode === 'pool' ? await crashRecovery() : { targets: TARGETS, rounds: [], median: {}, skipped: `rushd runs in ${rush.mode} mode` }
if (recovery.skipped && opts.recoveryRounds > 0) log(`\ncrash recovery skipped: ${recovery.skipped}`)
if (recovery.rounds.length) {
  const ms = (v) => (v === null ? '-' : `${v.toFixed(1)} ms`)
  log(`\ncrash recovery (${recovery.rounds.length} rounds, each on a fresh rushd with 4 workers)`)
  log('  round  pool back after kill -9 of a worker   next rush after kill -9 of the daemon   daemon back (from that rush)')
  for (const r of recovery.rounds)
    log(`  ${String(r.round).padEnd(5)}  ${ms(r.poolBackMs).padStart(35)}   ${ms(r.nextRushMs).padStart(37)}   ${ms(r.daemonBackMs).padStart(28)}`)
  log(
    `  median ${ms(recovery.median.poolBackMs).padStart(34)}   ${ms(recovery.median.nextRushMs).padStart(37)}   ${ms(recovery.median.daemonBackMs).padStart(28)}`,
  )
  log(`  target ${`≤ ${TARGETS.poolBackMs} ms`.padStart(34)}   ${`≤ ${TARGETS.nextRushMs} ms`.padStart(37)}   ${`≤ ${TARGETS.daemonBackMs} ms`.padStart(28)}`)
}
const report = {
  date: new Date().toISOString(),
  options: opts,
  machine: { cpus: os.cpus().length, loadavg: os.loadavg(), node: process.version, kernel: os.release() },
  rush,
  library,
  recovery,
  failures,
  ok: failures.length === 0,
}
if (outFile) {
  fs.mkdirSync(path.dirname(outFile), { recursive: true })
  fs.writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`)
  log(`\nwrote ${path.relative(process.cwd(), outFile)}`)
}
log(failures.length ? `\nsoak: ${failures.length} check(s) failed` : '\nsoak: all checks passed')
process.exitCode = failures.length ? 1 : 0
