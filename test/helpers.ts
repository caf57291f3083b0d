/** Test helpers: fd-leak checks against /proc/self/fd, temp dirs, child processes and the
 *  processes of /proc, raw frames. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import * as wire from '../src/wire.js'

/** Processes from /proc: one implementation, in plain JavaScript, shared with scripts/reliability. */
export { alive, comm, daemonPid, processes, processesWith, workerPids, type Proc } from './process-helpers.mjs'

/**
 * `node` for child processes, without tap's NODE_OPTIONS. tap's process-info hook puts its loaders
 * into the environment of every child it sees spawned (even after `delete process.env.NODE_OPTIONS`),
 * which triples a Node start-up (~200 ms of CPU each): on a loaded 2-core machine that alone made
 * 20 test daemons and clients miss their deadlines. They do not need the hook.
 *
 * `FDWIRE_TEST_EMULATOR` (e.g. `qemu-aarch64-static -L /usr/aarch64-linux-gnu`) runs them through
 * an emulator: the tests themselves run in an arm64 Node under qemu-user there, and this machine's
 * kernel cannot start that Node's executable by itself (scripts/ci/emulated-arm64.mjs).
 */
const emulator = (process.env['FDWIRE_TEST_EMULATOR'] ?? '').split(' ').filter(Boolean)
export const node: readonly [string, ...string[]] = ['/usr/bin/env', '-u', 'NODE_OPTIONS', ...emulator, process.execPath]

export const root = fileURLToPath(new URL('..', import.meta.url))
export const fixtures = path.join(root, 'test', 'fixtures')

/** The fds this process has open, by number. */
export function openFds(): number[] {
  return fs
    .readdirSync('/proc/self/fd')
    .map(Number)
    .sort((a, b) => a - b)
}

/** fd flags as /proc reports them (octal `flags:` line of fdinfo). */
export function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
  const match = /^flags:\s+([0-7]+)/m.exec(info)
  if (!match) throw new Error(`no flags in fdinfo of ${fd}`)
  return parseInt(match[1]!, 8)
}

export const O_CLOEXEC = 0o2000000

/** Inode of what an fd refers to (pipe, socket, file). */
export function fdInode(fd: number): number {
  return fs.fstatSync(fd).ino
}

// readdir of /proc/self/fd itself opens a directory fd; it is closed before the list returns,
// but Node may lazily open its own fds (epoll, eventfd, signal pipes) the first time a feature is
// used. Tests snapshot after a warm-up, and compare sets, so a leak names the fd that leaked.
/**
 * Runs `fn` as a subtest and then checks that the process has exactly the fds it had before.
 */
export function leakTest(t: Test, name: string, fn: (t: Test) => Promise<void> | void): Promise<unknown> {
  return t.test(name, async (sub) => {
    const before = openFds()
    const cleanups: (() => void)[] = []
    pendingCleanups.set(sub, cleanups)
    try {
      await fn(sub)
    } finally {
      for (const cleanup of cleanups.reverse()) cleanup()
    }
    // Closing is synchronous, but 'close' events and child reaping happen on later ticks.
    let after = openFds()
    for (let i = 0; i < 50 && !sameSet(before, after); i++) {
      await sleep(10)
      after = openFds()
    }
    sub.same(describeFds(after, before), describeFds(before, before), 'no fd leaked (/proc/self/fd)')
  })
}

const pendingCleanups = new WeakMap<Test, (() => void)[]>()

/** Registers a cleanup that runs when the test body ends, before the leak check (unlike
 *  t.teardown, which runs after it). Outside leakTest it falls back to t.teardown. */
export function cleanup(t: Test, fn: () => void): void {
  const list = pendingCleanups.get(t)
  if (list) list.push(fn)
  else t.teardown(fn)
}

function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function describeFds(fds: number[], reference: number[]): string[] {
  return fds.map((fd) => {
    if (reference.includes(fd)) return String(fd)
    let target = '?'
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`)
    } catch {}
    return `${fd} -> ${target}`
  })
}

/** A fresh private temp dir, removed at the end of the test. */
export function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdwire-test-'))
  fs.chmodSync(dir, 0o700)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Spawns `node test/fixtures/<name>` with args; killed at teardown if still running. */
export function spawnFixture(t: Test, name: string, args: string[], options: { stdio?: ('pipe' | 'inherit' | 'ignore' | number)[] } = {}): ChildProcess {
  const child = spawn(node[0], [...node.slice(1), path.join(fixtures, name), ...args], {
    stdio: options.stdio ?? ['ignore', 'pipe', 'inherit'],
    env: process.env,
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return child
}

/** Waits for a child to exit and returns its exit code. */
export async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const [code] = (await once(child, 'exit')) as [number | null]
  return code
}

/** Collects a readable stream into a string. */
export async function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (stream === null) return ''
  let text = ''
  stream.setEncoding('utf8')
  for await (const chunk of stream) text += chunk as string
  return text
}

/**
 * Encodes a frame header independently of the addon, from docs/protocol.md: a second
 * implementation of the wire format, so tests check the addon against the document. The values
 * are those of src/wire.ts (checked against native/wire.h by test/transport/wire-constants.test.ts).
 */
export function frameHeader(fields: {
  length: number
  fdCount?: number
  id?: number
  type?: number
  magic?: number
  version?: number
  flags?: number
}): Buffer {
  const header = Buffer.alloc(wire.HEADER_SIZE)
  header.writeUInt16LE(fields.magic ?? wire.MAGIC, wire.AT_MAGIC)
  header.writeUInt8(fields.version ?? wire.VERSION, wire.AT_VERSION)
  header.writeUInt8(fields.fdCount ?? 0, wire.AT_FD_COUNT)
  header.writeUInt32LE(fields.length, wire.AT_LENGTH)
  header.writeUInt32LE(fields.id ?? 0, wire.AT_ID)
  header.writeUInt16LE(fields.type ?? wire.FRAME_TYPE_ENVELOPE, wire.AT_TYPE)
  header.writeUInt16LE(fields.flags ?? wire.FLAGS_NONE, wire.AT_FLAGS)
  return header
}

/** A complete frame (header + payload) as bytes. */
export function frame(payload: Buffer | string, fields: { id?: number; type?: number; fdCount?: number } = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload
  return Buffer.concat([frameHeader({ length: body.length, ...fields }), body])
}

/** Resolves with the close reason of a connection-like emitter. */
export function closed(connection: {
  closed: boolean
  closeReason: Error | undefined
  once(event: 'close', listener: (reason: Error | undefined) => void): unknown
}): Promise<Error | undefined> {
  if (connection.closed) return Promise.resolve(connection.closeReason)
  return new Promise((resolve) => connection.once('close', (reason) => resolve(reason)))
}

/**
 * Polls until `check` holds, every `every` ms (0: every turn of the event loop), for at most `ms`.
 * A hang guard, never a timing assertion: the default is generous, since a loaded machine can
 * stall a test process for seconds.
 */
export async function until(check: () => boolean | Promise<boolean>, ms = 60_000, every = 10): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await (every === 0 ? new Promise((resolve) => setImmediate(resolve)) : sleep(every))
  }
}

/** Whether the suite runs under CI (.ci/run exports CI=true). */
export const underCI = !!process.env['CI'] && !/^(0|false|no)$/i.test(process.env['CI'] ?? '')

/**
 * For a test that needs something `npm test` never provides (it changes nothing on the host): a
 * tool, a user, root, a build. `missing` names what is absent (undefined: everything is there),
 * `enable` is exactly how to provide it. Locally the test then skips, saying both; under CI it
 * fails instead: .ci/run installs everything first, so a skip there would be a check not made.
 * Returns true when the test can run.
 */
export function needs(t: Test, missing: string | undefined, enable: string): boolean {
  if (missing === undefined) return true
  if (underCI) t.fail(`${missing}; to enable: ${enable} (under CI this fails instead of skipping: .ci/run provides it)`)
  else t.pass(missing, { skip: `to enable: ${enable}` })
  return false
}

/** The exact command that installs Debian packages the suite needs (scripts/ci/test-deps.sh lists them all). */
export const aptInstall = (...packages: string[]): string =>
  `apt-get install -y ${packages.join(' ')} (as root), or \`sudo bash scripts/ci/test-deps.sh\` for all of them`

/** `promise`, or a rejection naming `what` after `ms` (a hang guard, not a timing assertion). */
export async function within<T>(promise: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, guard])
  } finally {
    clearTimeout(timer)
  }
}

/** What `fn` throws, as the fields Node's argument errors have. */
export function thrown(fn: () => unknown): { name: string; code: unknown; message: string } {
  try {
    fn()
  } catch (error) {
    const e = error as Error & { code?: unknown }
    return { name: e.name, code: e.code, message: e.message }
  }
  throw new Error('did not throw')
}
