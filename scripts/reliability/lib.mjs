// Shared helpers of the reliability scripts (scripts/reliability/soak.mjs, scripts/reliability/net-fuzz.mjs) and their
// tests (rush/test/reliability/*): starting a private rushd, finding its workers, reading a process's
// open fds and RSS from /proc, running the C client. The process helpers (daemonPid, alive,
// processes, workerPids) are those of test/process-helpers.mjs, which the tests use too.
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Client } from '../../dist/index.js'
import { alive, daemonPid, processes, workerPids } from '../../test/process-helpers.mjs'

export { alive, daemonPid, processes, workerPids }

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const builtRushBin = path.join(root, 'build', 'Release', 'rush')
/** The client and daemon the helpers run: the tree's, or those of a private copy (usePrivateTree). */
export let rushBin = builtRushBin
export let rushdBin = path.join(root, 'bin', 'rushd')
/** Root of the tree that rushd and the fixtures run from. */
export let treeRoot = root

/**
 * Copies what rushd and the fixtures run (package.json, bin/, dist/, the addon, the client, the
 * reliability fixtures; node_modules linked) to a private directory and runs everything from there
 * from now on, so that a rebuild in the shared tree during a long run (files briefly missing or
 * half-written) cannot fail it. Retries while the copy does not load. Returns the copy's root.
 */
export function usePrivateTree() {
  for (let attempt = 0; ; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-tree-'))
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'))
    for (const sub of ['bin', 'dist']) fs.cpSync(path.join(root, sub), path.join(dir, sub), { recursive: true })
    fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true })
    for (const file of ['fdwire.node', 'rush']) fs.copyFileSync(path.join(root, 'build', 'Release', file), path.join(dir, 'build', 'Release', file))
    fs.chmodSync(path.join(dir, 'build', 'Release', 'rush'), 0o755)
    fs.mkdirSync(path.join(dir, 'test', 'fixtures'), { recursive: true })
    for (const f of fs.readdirSync(path.join(root, 'test', 'fixtures')).filter((f) => f.startsWith('reliability-'))) {
      fs.copyFileSync(path.join(root, 'test', 'fixtures', f), path.join(dir, 'test', 'fixtures', f))
    }
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'))
    const check = spawnSync(
      process.execPath,
      [
        '-e',
        `Promise.all(['index.js', 'rush/daemon.js', 'rush/cli.js'].map((f) => import(${JSON.stringify(path.join(dir, 'dist'))} + '/' + f))).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1) })`,
      ],
      { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 },
    )
    if (check.status === 0) {
      treeRoot = dir
      rushBin = path.join(dir, 'build', 'Release', 'rush')
      rushdBin = path.join(dir, 'bin', 'rushd')
      return dir
    }
    fs.rmSync(dir, { recursive: true, force: true })
    if (attempt >= 20) throw new Error(`the built tree does not load: ${check.stderr}`)
    console.error(`(the shared dist/ does not load right now, retrying: ${check.stderr.trim().split('\n')[0]})`)
    spawnSync('sleep', ['3'])
  }
}

/** Whether everything rush needs is built. */
export function rushReady() {
  return fs.existsSync(builtRushBin) && fs.existsSync(path.join(root, 'dist', 'rush', 'cli.js'))
}

/** The environment for rush/rushd: the caller's, minus NODE_OPTIONS (tap's loaders must not reach
 *  rushd), plus `extra` (undefined values are removed). */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, RUSHD: rushdBin }
  delete env.NODE_OPTIONS
  Object.assign(env, extra)
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
  return env
}

/** A fresh private runtime dir (mode 0700). */
export function makeRuntimeDir(prefix = 'fdwire-rel-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o700)
  return dir
}

/** `bin/rushd start` in `dir`; returns {env, pid}. Throws if it did not start. */
export function startRushd(dir, extraEnv = {}) {
  // A pool of 4 kept workers unless RUSH_POOL_MIN says otherwise (they start on demand by default): crash recovery kills them, and the
  // fuzzer checks they survive.
  const env = cleanEnv({ RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSH_POOL_MIN: process.env.RUSH_POOL_MIN ?? '4', ...extraEnv })
  const r = spawnSync(process.execPath, [rushdBin, 'start'], { env, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`rushd start failed (${r.status}): ${r.stdout}${r.stderr}`)
  const pid = daemonPid(dir)
  // A run that throws halfway must not leave its daemon (and workers) behind.
  if (pid !== undefined) process.on('exit', () => void (daemonPid(dir) === pid && alive(pid) && process.kill(pid, 'SIGTERM')))
  return { env, pid }
}

/** `bin/rushd stop` (never throws). */
export function stopRushd(env) {
  spawnSync(process.execPath, [rushdBin, 'stop'], { env, encoding: 'utf8', timeout: 30_000 })
}

/** `bin/rushd status` → {code, stdout, workers (number or undefined), pid}. */
export function rushdStatus(env) {
  const r = spawnSync(process.execPath, [rushdBin, 'status'], { env, encoding: 'utf8', timeout: 30_000 })
  const workers = /workers (\d+)/.exec(r.stdout ?? '')
  const pid = /\(pid (\d+)\)/.exec(r.stdout ?? '')
  return { code: r.status, stdout: r.stdout ?? '', workers: workers ? Number(workers[1]) : undefined, pid: pid ? Number(pid[1]) : undefined }
}

/** Every descendant of `pid` (not `pid` itself). */
export function descendants(pid, list = processes()) {
  const out = []
  const queue = [pid]
  while (queue.length) {
    const parent = queue.shift()
    for (const p of list) {
      if (p.ppid !== parent) continue
      out.push(p)
      queue.push(p.pid)
    }
  }
  return out
}

/** Open fds of `pid` as a list of `fd -> target` strings (sorted by fd). */
export function fdList(pid) {
  const out = []
  for (const fd of fs
    .readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b)) {
    let target = '?'
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {}
    out.push(`${fd} -> ${target}`)
  }
  return out
}

/** {fds, rssKb} of `pid`. */
export function procStats(pid) {
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)
  return { fds, rssKb: rss ? Number(rss[1]) : NaN }
}

/** {pid → {fds, rssKb, role}} for the daemon and each of its workers. */
export function snapshot(daemon) {
  const out = {}
  try {
    out[daemon] = { role: 'daemon', ...procStats(daemon) }
  } catch {
    return out // the daemon is gone
  }
  for (const w of workerPids(daemon)) {
    try {
      out[w] = { role: 'worker', ...procStats(w) }
    } catch {}
  }
  return out
}

/**
 * Waits until the daemon `pid` and its workers are idle, so that an fd snapshot means something:
 * the daemon counts no connection but the one asking (`fdwire.status` on `socketPath`), then the
 * open fds of the daemon and of every worker (/proc/<pid>/fd, with what each refers to) are the
 * same in `samples` samples in a row, and the daemon still counts no other connection. `ms` is a
 * hang guard, not a timing bound: returns the snapshot (see `snapshot`), or undefined if the
 * processes never settled.
 */
export async function quiesce(pid, socketPath, { ms = 120_000, samples = 3, every = 50 } = {}) {
  const end = Date.now() + ms
  const fdsOf = () => JSON.stringify([pid, ...workerPids(pid)].map((p) => [p, safe(() => fdList(p))]))
  let last
  let same = 0
  while (Date.now() < end) {
    const others = await otherConnections(socketPath)
    await sleep(every)
    const now = fdsOf()
    same = others === 0 && now === last ? same + 1 : 0
    last = others === 0 ? now : undefined
    if (same >= samples - 1) return snapshot(pid)
  }
  return undefined
}

function safe(fn) {
  try {
    return fn()
  } catch {
    return null
  }
}

/** Connections the daemon at `socketPath` counts besides the one asking; undefined if it did not answer. */
async function otherConnections(socketPath) {
  const status = await liveStatus(socketPath)
  return typeof status?.connections === 'number' ? status.connections - 1 : undefined
}

/** What the daemon at `socketPath` answers to `fdwire.status` (an object), or undefined. */
export async function liveStatus(socketPath, timeout = 10_000) {
  let client
  try {
    client = await Client.connect(socketPath, { timeout })
    return (await client.request('fdwire.status', undefined, { timeout })).json()
  } catch {
    return undefined
  } finally {
    await client?.close().catch(() => {})
  }
}

/** Polls `fn` until it returns truthy or `ms` pass; returns the last value. */
export async function poll(fn, ms, every = 20) {
  const end = Date.now() + ms
  let value = await fn()
  while (!value && Date.now() < end) {
    await sleep(every)
    value = await fn()
  }
  return value
}

/** Runs the C client synchronously: {status, signal, stdout, stderr, ms}. */
export function rushSync(args, env, { timeout = 30_000, input } = {}) {
  const t0 = performance.now()
  const r = spawnSync(rushBin, args, { env, encoding: 'utf8', timeout, ...(input !== undefined ? { input } : { stdio: ['ignore', 'pipe', 'pipe'] }) })
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: performance.now() - t0, error: r.error }
}

/** Runs the C client asynchronously: resolves {status, signal, stdout, stderr, ms, pid}. */
export function rushAsync(args, env, { timeout = 30_000, onSpawn } = {}) {
  const t0 = performance.now()
  const child = spawn(rushBin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let spawnError = ''
  child.on('error', (error) => (spawnError = error.message))
  onSpawn?.(child)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeout)
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, stdout, stderr: stderr + spawnError, ms: performance.now() - t0, pid: child.pid, timedOut })
    })
  })
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)],
    bytes: (n) => {
      const b = Buffer.alloc(n)
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256)
      return b
    },
  }
}

/** Parses `--name value` / `--flag` options against defaults (numbers stay numbers). */
export function parseArgs(argv, defaults) {
  const out = { ...defaults }
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i])
    if (!m) throw new Error(`unexpected argument ${argv[i]}`)
    const key = m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase())
    if (!(key in defaults)) throw new Error(`unknown option --${m[1]}`)
    if (typeof defaults[key] === 'boolean') out[key] = m[2] === undefined ? true : m[2] !== 'false'
    else {
      const v = m[2] ?? argv[++i]
      out[key] = typeof defaults[key] === 'number' ? Number(v) : v
      if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) throw new Error(`--${m[1]} needs a number`)
    }
  }
  return out
}
