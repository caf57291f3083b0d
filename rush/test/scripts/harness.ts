/**
 * Shared by the rush end-to-end tests (differential, sessions, terminal): the client and daemon
 * paths, a per-file runtime dir with a real rushd, running a command line to completion with its
 * bytes, and a /proc scan for processes a run left behind (found by a marker in their environment).
 */
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { daemonPid, needs, processesWith, root } from '../../../test/helpers.js'

export { alive, comm, daemonPid, processesWith, workerPids } from '../../../test/helpers.js'

type Test = Parameters<Parameters<typeof import('tap')['default']['test']>[1]>[0]

/** The client under test: the built one, or `RUSH_TEST_CLIENT` (e.g. a valgrind wrapper, see
 *  scripts/ci/valgrind-client.sh). */
export const rushBin = process.env['RUSH_TEST_CLIENT'] ?? path.join(root, 'build', 'Release', 'rush')
export const rushdBin = path.join(root, 'bin', 'rushd')

/**
 * True when the client binary is there. Missing: a clear failure under CI, a skip locally (the
 * suite needs `npm install` / `npx node-gyp build` first).
 */
export function haveClient(t: Test): boolean {
  return needs(t, fs.existsSync(rushBin) ? undefined : `${rushBin} is missing`, '`npm install` (or `npx node-gyp build`) builds it')
}

/** A short private runtime dir (sun_path is 108 bytes), removed at teardown. */
export function runtimeDir(t: Test): string {
  const dir = fs.mkdtempSync('/tmp/rush-e2e-')
  fs.chmodSync(dir, 0o700)
  t.teardown(() => {
    // Whatever teardown runs first: a daemon of this dir is stopped before the dir goes.
    if (daemonPid(dir) !== undefined) rushd(dir, 'stop')
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/**
 * Runs argv without NODE_OPTIONS. Under tap every spawned process gets NODE_OPTIONS with tap's
 * processinfo hook, which breaks `bin/rushd` (an extension-less ES module: ERR_REQUIRE_CYCLE_MODULE)
 * and would break a rushd the client autostarts. A user's shell has none of that.
 */
export const withoutNodeOptions = (argv: string[]): string[] => ['/usr/bin/env', '-u', 'NODE_OPTIONS', ...argv]

/** rushd's command line (`bin/rushd ARGS`) with RUSH_RUNTIME_DIR=dir; returns status and output. */
export function rushd(dir: string, ...args: string[]): { status: number | null; output: string } {
  return rushdWith({}, dir, ...args)
}

/** `bin/rushd ARGS` with extra environment (the daemon's mode: RUSH_POOL_SIZE, RUSH_DISABLE_POOL, ...). */
export function rushdWith(env: Record<string, string>, dir: string, ...args: string[]): { status: number | null; output: string } {
  const [file, ...rest] = withoutNodeOptions([process.execPath, rushdBin, ...args])
  const r = spawnSync(file!, rest, {
    env: { ...process.env, ...env, RUSH_RUNTIME_DIR: dir },
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: r.status, output: r.stdout + r.stderr }
}

/** Starts rushd for `dir` (`rushd start`), stopped at teardown. Returns its pid. */
export function startRushd(t: Test, dir: string, env: Record<string, string> = {}): number {
  const r = rushdWith(env, dir, 'start')
  if (r.status !== 0) throw new Error(`rushd start failed (${r.status}): ${r.output}`)
  t.teardown(() => {
    rushd(dir, 'stop')
  })
  const pid = daemonPid(dir)
  if (pid === undefined) throw new Error(`rushd started but wrote no pid file in ${dir}`)
  return pid
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: Buffer
  stderr: Buffer
  /** Killed by the test's own deadline. */
  timedOut: boolean
}

export interface RunOptions {
  cwd?: string
  env?: Record<string, string>
  /** Bytes for stdin (a pipe); undefined: /dev/null. */
  stdin?: Buffer | string
  timeout?: number
  /** Called with the pid once started. */
  onSpawn?: (pid: number) => void
  /** argv[0] as the program sees it (default argv[0]). */
  argv0?: string
}

/** Runs argv to completion; the environment is exactly options.env (nothing inherited). */
export async function run(argv: string[], options: RunOptions = {}): Promise<Run> {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env ?? {},
    argv0: options.argv0,
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (child.pid !== undefined) options.onSpawn?.(child.pid)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    child.kill('SIGKILL')
  }, options.timeout ?? 60_000) // a hang guard
  if (options.stdin !== undefined) {
    child.stdin!.on('error', () => {}) // EPIPE when the command does not read it all: as under sh
    child.stdin!.end(options.stdin)
  }
  const chunks = (stream: NodeJS.ReadableStream) => {
    const list: Buffer[] = []
    stream.on('data', (c: Buffer) => list.push(c))
    return new Promise<Buffer>((resolve) => stream.on('end', () => resolve(Buffer.concat(list))))
  }
  const [stdout, stderr, [code, signal]] = await Promise.all([
    chunks(child.stdout!),
    chunks(child.stderr!),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s]))),
  ])
  clearTimeout(timer)
  return { code, signal, stdout, stderr, timedOut }
}

/** Waits (bounded) until no process carries the marker; returns the ones still there. */
export async function leftovers(key: string, value: string, ms = 10_000): Promise<string[]> {
  const deadline = Date.now() + ms
  for (;;) {
    const pids = processesWith(key, value)
    if (pids.length === 0) return []
    if (Date.now() > deadline) {
      return pids.map((pid) => {
        try {
          return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()}`
        } catch {
          return String(pid)
        }
      })
    }
    await sleep(50)
  }
}

/** Polls `check` until it returns true or `ms` pass (a hang guard, never a timing check). */
export async function until(check: () => boolean | Promise<boolean>, ms = 60_000, every = 50): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(every)
  }
}

/** Children of pid (all its threads), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = []
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim()
      if (text) out.push(...text.split(/\s+/).map(Number))
    }
  } catch {
    // Gone.
  }
  return out
}

/**
 * Descendants of pid that are not rushd's own node processes, or are zombies: a command left
 * running or unreaped. As `pid (comm) state`.
 */
export function strayDescendants(pid: number): string[] {
  const stray: string[] = []
  const walk = (p: number): void => {
    for (const child of childrenOf(p)) {
      let stat = ''
      try {
        stat = fs.readFileSync(`/proc/${child}/stat`, 'utf8')
      } catch {
        continue
      }
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
      if (comm !== 'node' || state === 'Z') stray.push(`${child} (${comm}) ${state}`)
      walk(child)
    }
  }
  walk(pid)
  return stray
}
