/**
 * Shared by the rush C client tests (rush/test/client/*.test.ts): the client binary, the stand-in
 * daemons it is run against (fixtures/rush-fake-daemon.mjs records requests and replies as told,
 * fixtures/rush-client-raw-daemon.mjs refuses, sends garbage or frames oddly), running a command
 * line to completion, an interactive session on a pseudo-terminal, and reading what the fake
 * daemon logged.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { aptInstall, collect, node, root } from '../../../test/helpers.js'

export type { Test }

const fixtures = fileURLToPath(new URL('../fixtures', import.meta.url))

export const rush = path.join(root, 'build', 'Release', 'rush')
const fakeDaemon = path.join(fixtures, 'rush-fake-daemon.mjs')
const rawDaemon = path.join(fixtures, 'rush-client-raw-daemon.mjs')
/** What the client autostarts as rushd: records its argv in `rushd-ran` of the runtime dir. */
export const fakeRushd = path.join(fixtures, 'rush-client-rushd.mjs')

/** Fails the test file at once when the client is not built. */
export function requireClient(): void {
  if (!fs.existsSync(rush)) {
    t.fail(`${rush} is missing: run \`npx node-gyp build\``)
    t.end()
  }
}

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Starts a fixture daemon (`command`) serving `dir`; resolves once it listens. Killed at teardown. */
export async function startDaemon(t: Test, command: readonly string[]): Promise<ChildProcess> {
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      out += chunk
      if (out.includes('listening')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`daemon fixture exited (${code}) before listening`)))
  })
  return child
}

/** The recording fake daemon, replying as `config` says. */
export const fake = (t: Test, dir: string, config: Record<string, unknown> = {}) => startDaemon(t, [...node, fakeDaemon, dir, JSON.stringify(config)])
/** The raw daemon in one of its modes (refuse, silent, split, garbage of several kinds, ...). */
export const raw = (t: Test, dir: string, mode: string) => startDaemon(t, [...node, rawDaemon, dir, mode])

/** Runs a command line (argv[0] = the program) with RUSH_RUNTIME_DIR=dir; never autostarts unless env says so. */
export async function run(
  argv: string[],
  dir: string,
  env: Record<string, string | undefined> = {},
  options: { timeout?: number; onSpawn?: (c: ChildProcess) => void } = {},
): Promise<Run> {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd, ...env },
  })
  options.onSpawn?.(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 30_000) // a hang guard
  const [stdout, stderr, [code, signal]] = await Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s]))),
  ])
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

/** `rush -c ARGS...` through run(). */
export const rushC = (dir: string, args: string[], env?: Record<string, string | undefined>, timeout?: number) =>
  run([rush, '-c', ...args], dir, env, timeout === undefined ? {} : { timeout })

/** Why an interactive session cannot be run on a pseudo-terminal here, or undefined; and the fix. */
export const noScript = spawnSync('script', ['--version']).status === 0 ? undefined : 'script(1) is not installed'
export const enableScript = aptInstall('bsdutils')

/**
 * Runs `rush` (no arguments) on a pseudo-terminal made by script(1), with RUSH_RUNTIME_DIR=dir,
 * `PS1` and any other entries of `env`; `drive` writes the keys. Killed after 15 s (a hang guard).
 */
export async function onTerminal(
  dir: string,
  env: Record<string, string> & { PS1: string },
  drive: (keys: (s: string) => void) => Promise<void>,
): Promise<Run> {
  const { PS1, ...extra } = env
  // script(1) runs the command with $SHELL -c, and bash drops PS1 from a non-interactive shell's
  // environment: set it again in the command.
  const child = spawn('script', ['-qfec', `export PS1="$RUSH_TEST_PS1"; exec '${rush}'`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, SHELL: '/bin/sh', RUSH_RUNTIME_DIR: dir, RUSH_NO_AUTOSTART: '1', RUSHD: fakeRushd, RUSH_TEST_PS1: PS1, ...extra },
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const done = Promise.all([
    collect(child.stdout),
    collect(child.stderr),
    new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s]))),
  ])
  await drive((s) => child.stdin!.write(s))
  child.stdin!.end()
  const [stdout, stderr, [code, signal]] = await done
  clearTimeout(timer)
  return { code, signal, stdout, stderr }
}

/**
 * What the fake daemon logged: one JSON object per line. The daemon may be writing a line while
 * this reads (a line with a whole environment is longer than one write), so only lines that
 * already end in a newline count.
 */
export function log(dir: string): Record<string, unknown>[] {
  const file = path.join(dir, 'log.jsonl')
  if (!fs.existsSync(file)) return []
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  lines.pop() // '' after the last newline, or a line still being written
  return lines.filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
}
