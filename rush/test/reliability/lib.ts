/** Helpers of the reliability tests (a typed subset of scripts/reliability/lib.mjs). */
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { Client } from 'fdwire'
import { daemonPid, needs, processesWith, root } from '../../../test/helpers.js'

export { alive, daemonPid, processes, workerPids, type Proc } from '../../../test/helpers.js'

export const rushd = path.join(root, 'bin', 'rushd')
const builtRush = path.join(root, 'build', 'Release', 'rush')
export const ready = fs.existsSync(builtRush) && fs.existsSync(path.join(root, 'dist', 'rush', 'cli.js'))
/** True when rushd and the client are built; else a skip locally, a failure under CI (helpers.needs). */
export const haveRush = (t: Test): boolean => needs(t, ready ? undefined : 'dist/rush or build/Release/rush is missing', '`npm install` builds them')

let rushCopy: string | undefined
/** A private copy of build/Release/rush: others rebuild the shared tree while tests run. */
export function rush(): string {
  if (rushCopy === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-rush-bin-'))
    rushCopy = path.join(dir, 'rush')
    fs.copyFileSync(builtRush, rushCopy)
    fs.chmodSync(rushCopy, 0o755)
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  }
  return rushCopy
}

export type Env = Record<string, string>

// tap's process-info hook adds NODE_OPTIONS (its loaders) to the environment of every child it
// sees spawned; that must not reach rushd, so every command goes through `env -u NODE_OPTIONS`.
const clean = ['/usr/bin/env', '-u', 'NODE_OPTIONS']

/** The environment for rush/rushd: ours minus NODE_OPTIONS (tap's loaders must not reach rushd). */
export function cleanEnv(extra: Record<string, string | undefined>): Env {
  const env: Record<string, string | undefined> = { ...process.env, RUSHD: rushd, ...extra }
  delete env['NODE_OPTIONS']
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  return env as Env
}

/**
 * A private runtime dir with a rushd started in it. At teardown: `rushd stop`, then SIGKILL to
 * anything still running with that runtime dir (a daemon the client autostarted, orphaned
 * commands), then the dir is removed — in that order: a daemon whose socket is deleted binds again.
 */
export function startRushd(t: Test, extra: Record<string, string | undefined> = {}, prepare?: (dir: string) => void): { dir: string; env: Env; pid: number } {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-test-'))
  const dir = path.join(top, 'run')
  fs.mkdirSync(dir, { mode: 0o700 })
  // A pool of 4 kept workers unless RUSH_POOL_MIN says otherwise (they start on demand by default): the crash tests kill them.
  const env = cleanEnv({ RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSH_POOL_MIN: process.env['RUSH_POOL_MIN'] ?? '4', ...extra })
  t.teardown(() => {
    spawnSync(clean[0]!, [...clean.slice(1), process.execPath, rushd, 'stop'], { env, timeout: 30_000 })
    // Processes with RUSH_RUNTIME_DIR=dir: rushd, its workers, one a client autostarted.
    for (const pid of processesWith('RUSH_RUNTIME_DIR', dir)) kill(pid, 'SIGKILL')
    fs.rmSync(top, { recursive: true, force: true })
  })
  prepare?.(dir)
  const started = spawnSync(clean[0]!, [...clean.slice(1), process.execPath, rushd, 'start'], { env, encoding: 'utf8', timeout: 60_000 })
  if (started.status !== 0) throw new Error(`rushd start: ${started.stdout}${started.stderr}`)
  return { dir, env, pid: daemonPid(dir)! }
}

export function kill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

export interface Run {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}

/** Runs the client; killed (timedOut) after `timeout` ms: a hang guard, never a timing check. */
export function runRush(args: string[], env: Env, timeout = 60_000, onSpawn?: (pid: number) => void): Promise<Run> {
  const child = spawn(clean[0]!, [...clean.slice(1), rush(), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid !== undefined) onSpawn?.(child.pid)
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.on('error', (e) => (stderr += e.message))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, timeout)
  return new Promise((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, stdout, stderr, timedOut })
    })
  })
}

/** The daemon's status as it reports it (`fdwire.status` over the socket), or undefined. */
export async function liveStatus(dir: string, timeout = 1000): Promise<Record<string, unknown> | undefined> {
  let client: Client | undefined
  try {
    client = await Client.connect(path.join(dir, 'daemon.sock'), { timeout })
    const reply = await client.request('fdwire.status', undefined, { timeout })
    return reply.json() as Record<string, unknown>
  } catch {
    return undefined
  } finally {
    await client?.close().catch(() => {})
  }
}

/** Waits until the daemon reports `n` ready workers (they start while it already serves). */
export async function poolReady(dir: string, n = 4, ms = 60_000): Promise<boolean> {
  return !!(await pollFor(async () => (await liveStatus(dir, 5000))?.['workers'] === n, ms, 50))
}

/** Polls `fn` every `every` ms until truthy, for at most `ms` (a hang guard, never a timing
 *  check); returns the last value. */
export async function pollFor<T>(fn: () => T | Promise<T>, ms: number, every = 10): Promise<T> {
  const deadline = Date.now() + ms
  let value = await fn()
  while (!value && Date.now() < deadline) {
    await sleep(every)
    value = await fn()
  }
  return value
}

/** Whether process `pid` has a Unix socket in the connected state (/proc/net/unix, St 03). */
export function hasConnectedSocket(pid: number): boolean {
  const inodes = new Set<string>()
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    }
  } catch {
    return false
  }
  // Num RefCount Protocol Flags Type St Inode [Path]
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .slice(1)
    .some((line) => {
      const f = line.trim().split(/\s+/)
      return f[5] === '03' && inodes.has(f[6]!)
    })
}
