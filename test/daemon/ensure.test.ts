import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ensureDaemon, readPidFile, Server, socketPair, type Client, type EnsureDaemonOptions } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { alive, cleanup, node, collect, exitCode, fixtures, leakTest, tempDir, until } from '../helpers.js'
import { reapDaemons, type Test } from './lib.js'

const daemonScript = path.join(fixtures, 'daemon-server.mjs')

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

/** ensureDaemon for the fixture daemon with `config`, closed before the leak check. */
async function ensure(t: Test, runtimeDir: string, config: Record<string, unknown> = {}, extra: Partial<EnsureDaemonOptions> = {}): Promise<Client> {
  const client = await ensureDaemon({ runtimeDir, command: [...node, daemonScript, runtimeDir, JSON.stringify(config)], ...extra })
  cleanup(t, () => client.destroy())
  return client
}

const daemonPid = async (client: Client) => (await client.request('pid')).json<{ pid: number }>().pid
const logLines = (runtimeDir: string, what: 'starting' | 'listening') =>
  fs.readFileSync(path.join(runtimeDir, 'daemon.log'), 'utf8').match(new RegExp(`^${what} \\d+$`, 'gm')) ?? []

leakTest(t, 'starts the daemon when none runs, then connects to it without starting another', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const first = await ensure(t, dir)
  const pid = await daemonPid(first)
  t.not(pid, process.pid)
  t.equal(first.daemon.peer.pid, pid, "the hello's kernel credentials name the daemon")
  t.equal(fs.statSync(dir).mode & 0o777, 0o700, 'the runtime dir is created private')
  t.equal(readPidFile(path.join(dir, 'daemon.pid')).pid, pid, 'the pid file holds its pid')
  const second = await ensure(t, dir)
  t.equal(await daemonPid(second), pid, 'the second call connects to the same daemon')
  t.equal(logLines(dir, 'starting').length, 1, 'one daemon was started')
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

t.test('20 clients auto-starting at once: exactly one daemon, and all of them reach it', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const config = JSON.stringify({ startDelay: 200 }) // a slow start: everyone finds no daemon at first
  const clients = Array.from({ length: 20 }, () =>
    spawn(node[0], [...node.slice(1), path.join(fixtures, 'daemon-client.mjs'), dir, config], { stdio: ['ignore', 'pipe', 'inherit'] }),
  )
  const outputs = await Promise.all(
    clients.map(async (child) => {
      const [text, code] = await Promise.all([collect(child.stdout), exitCode(child)])
      t.equal(code, 0)
      return JSON.parse(text) as { ok: boolean; pid: number; helloPid: number; message?: string }
    }),
  )
  const failed = outputs.filter((o) => !o.ok)
  t.same(failed, [], 'every client succeeded')
  const pids = new Set(outputs.map((o) => o.pid))
  t.equal(pids.size, 1, 'all 20 report the same daemon pid')
  t.same(new Set(outputs.map((o) => o.helloPid)), pids, 'and so do the kernel credentials')
  t.equal(logLines(dir, 'starting').length, 1, 'exactly one daemon process was ever started (one "starting" line in its log)')
  t.equal(logLines(dir, 'listening').length, 1)
  for (const pid of pids) if (typeof pid === 'number') process.kill(pid, 'SIGTERM') // reapDaemons gets any other
})

leakTest(t, 'a daemon slow to say hello is waited for up to startTimeout, not failed after one connectTimeout', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const pid = await daemonPid(await ensure(t, dir))
  process.kill(pid, 'SIGSTOP') // it still accepts (the kernel does), but says nothing
  // Resumed only after several 100 ms connect timeouts have passed (by then they have, however
  // slow the machine): the order of events is checked, not the time taken.
  let resumed = false
  const continued = sleep(800).then(() => {
    resumed = true
    process.kill(pid, 'SIGCONT')
  })
  const client = await ensure(t, dir, {}, { connectTimeout: 100, startTimeout: 60_000 })
  t.ok(resumed, 'it kept waiting across several 100 ms connect attempts, until the daemon was resumed')
  await continued
  t.equal(await daemonPid(client), pid, 'and reached the same daemon once it answered')
  t.equal(logLines(dir, 'starting').length, 1, 'no second daemon was started meanwhile')
  process.kill(pid, 'SIGSTOP')
  const hung = ensure(t, dir, {}, { connectTimeout: 100, startTimeout: 500 })
  await t.rejects(
    hung,
    { code: 'ERR_FDWIRE_TIMEOUT', message: /did not say hello within 500 ms/ },
    'a daemon that never answers: a bounded wait and a clear error',
  )
  process.kill(pid, 'SIGCONT')
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

leakTest(t, 'a daemon it started that answers each connection later than connectTimeout is waited for, not reconnected to', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  // Each connection is served 600 ms after the daemon accepts it, so past the 200 ms an attempt
  // waits: retrying on a new connection would never be answered. startTimeout is a hang guard.
  const client = await ensure(t, dir, { helloDelay: 600 }, { connectTimeout: 200, startTimeout: 20_000 })
  const pid = await daemonPid(client)
  t.equal(client.daemon.peer.pid, pid, 'the daemon it started answered')
  t.equal(logLines(dir, 'starting').length, 1, 'and only that one was started')
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

leakTest(t, 'a daemon it started that listens but never says hello: the timeout error carries its log', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  // The deadline is only a bound on the wait: the daemon stops itself once it listens, long before.
  await t.rejects(
    ensure(t, dir, { stopWhenListening: true }, { connectTimeout: 100, startTimeout: 8000 }),
    { code: 'ERR_FDWIRE_TIMEOUT', message: /did not say hello within 8000 ms; last lines of \S+daemon\.log:\nstarting (\d+)\nlistening \1\nabout to stop/ },
    'the error ends with what the daemon logged before it stopped',
  )
  const { pid } = readPidFile(path.join(dir, 'daemon.pid'))
  process.kill(pid, 'SIGKILL')
  await until(() => !alive(pid))
})

leakTest(t, 'after kill -9 of the daemon the next ensureDaemon() starts a new one over the stale socket', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const first = await ensure(t, dir)
  const pid = await daemonPid(first)
  process.kill(pid, 'SIGKILL')
  await until(() => !alive(pid))
  first.destroy()
  t.ok(fs.lstatSync(path.join(dir, 'daemon.sock')).isSocket(), 'the dead daemon left its socket file behind')
  const second = await ensure(t, dir)
  const newPid = await daemonPid(second)
  t.not(newPid, pid, 'a new daemon serves')
  t.equal(readPidFile(path.join(dir, 'daemon.pid')).pid, newPid)
  t.equal(logLines(dir, 'starting').length, 2)
  process.kill(newPid, 'SIGTERM')
  await until(() => !alive(newPid))
})

leakTest(t, 'a daemon with another build id is replaced; one with ours is kept', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const old = await ensure(t, dir, { buildId: 'v1' }, { buildId: 'v1' })
  const oldPid = await daemonPid(old)
  t.equal(old.daemon.buildId, 'v1')
  const same = await ensure(t, dir, { buildId: 'v1' }, { buildId: 'v1' })
  t.equal(await daemonPid(same), oldPid, 'the same build id: the running daemon is used')
  const updated = await ensure(t, dir, { buildId: 'v2' }, { buildId: 'v2' })
  const newPid = await daemonPid(updated)
  t.not(newPid, oldPid, 'a new daemon serves')
  t.equal(updated.daemon.buildId, 'v2')
  t.notOk(alive(oldPid), 'the outdated daemon is gone')
  process.kill(newPid, 'SIGTERM')
  await until(() => !alive(newPid))
})

t.test('10 clients of a new build at once replace the old daemon once, and all reach the new one', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  reapDaemons(t, dir)
  const old = await ensure(t, dir, { buildId: 'v1' }, { buildId: 'v1' })
  const oldPid = await daemonPid(old)
  // Hold start.lock so that every client finds the v1 daemon before any of them replaces it.
  const lock = fs.openSync(path.join(dir, 'start.lock'), 'a')
  t.equal(native.flock(lock, true, false), 0, 'the test holds start.lock')
  const config = JSON.stringify({ buildId: 'v2' })
  const clients = Array.from({ length: 10 }, () =>
    spawn(node[0], [...node.slice(1), path.join(fixtures, 'daemon-client.mjs'), dir, config, JSON.stringify({ buildId: 'v2' })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )
  const outputs = Promise.all(
    clients.map(async (child) => {
      const [text] = await Promise.all([collect(child.stdout), exitCode(child)])
      return JSON.parse(text) as { ok: boolean; pid: number; buildId: string; message?: string }
    }),
  )
  let connected = 0
  for (let i = 0; i < 1000 && connected < 11; i++) {
    connected = (await old.request('fdwire.status')).json<{ connections: number }>().connections
    if (connected < 11) await sleep(10)
  }
  t.equal(connected, 11, 'all 10 clients are connected to the v1 daemon, waiting for start.lock')
  old.destroy()
  native.flock(lock, true, true)
  fs.closeSync(lock)
  const results = await outputs
  t.same(
    results.filter((o) => !o.ok),
    [],
    'every client succeeded',
  )
  t.same([...new Set(results.map((o) => o.buildId))], ['v2'], 'all reached a v2 daemon')
  const pids = new Set(results.map((o) => o.pid))
  t.equal(pids.size, 1, 'the same one')
  t.notOk(pids.has(oldPid))
  t.notOk(alive(oldPid), 'the v1 daemon is gone')
  t.equal(logLines(dir, 'starting').length, 2, 'one v1 and one v2 daemon were ever started')
  for (const pid of pids) if (typeof pid === 'number') process.kill(pid, 'SIGTERM') // reapDaemons gets any other
})

leakTest(t, 'a daemon that exits before answering is reported with the tail of its log', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  fs.mkdirSync(dir, { mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'daemon.log'), 'an old line from a previous run\n')
  const error = await ensure(t, dir, { exitEarly: 3 }).then(
    () => undefined,
    (e: unknown) => e as Error & { code: string },
  )
  t.ok(error, 'ensureDaemon rejects')
  t.equal(error?.code, 'ERR_FDWIRE_DAEMON_EXITED')
  t.match(error?.message, /exited with status 3/)
  t.match(error?.message, /daemon-server: starting/, 'the message has its stdout lines')
  t.match(error?.message, /cannot open the database: it is on fire/, 'and its stderr lines')
})

leakTest(t, 'a socket path over the platform limit is a clear ENAMETOOLONG, never a hang', async (t) => {
  const dir = path.join(tempDir(t), 'x'.repeat(100))
  t.throws(() => new Server({ runtimeDir: dir }), { code: 'ENAMETOOLONG', message: /at most 107/ })
  const guard = new AbortController()
  const hung = sleep(20_000, 'hung', { signal: guard.signal }).catch(() => 'guard')
  const result = await Promise.race([
    ensure(t, dir).then(
      () => 'connected',
      (e: unknown) => e,
    ),
    hung,
  ])
  guard.abort()
  t.match(result, { code: 'ENAMETOOLONG', message: /at most 107/ })
})

leakTest(t, 'usage errors are Node argument errors, raised before anything is created or started', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  const command = [...node, daemonScript, runtimeDir, '{}']
  await t.rejects(ensureDaemon({ runtimeDir } as EnsureDaemonOptions), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /^The "options\.command" property must be an instance of Array: it is required, the daemon's argv .*Received undefined$/,
  })
  await t.rejects(ensureDaemon({ runtimeDir, command: [] }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.command' must be a non-empty array/ })
  await t.rejects(ensureDaemon({ runtimeDir, command: [process.execPath, 1] as never }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.command\[1\]"/ })
  await t.rejects(ensureDaemon({ runtimeDir: '', command }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.runtimeDir'/ })
  await t.rejects(ensureDaemon({ runtimeDir, command, startTimeout: 1.5 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /"options\.startTimeout"/,
  })
  await t.rejects(ensureDaemon({ runtimeDir, command, connectTimeout: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.connectTimeout"/ })
  await t.rejects(ensureDaemon({ runtimeDir, command, maxFrameSize: '1' as unknown as number }), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"options\.maxFrameSize"/,
  })
  t.throws(() => new Server({ runtimeDir, maxConnections: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.maxConnections"/ })
  t.throws(() => new Server({ runtimeDir, maxFdsPerFrame: 254 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.maxFdsPerFrame"/ })
  t.throws(() => new Server({ runtimeDir, allowUids: [-1] }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.allowUids\[0\]"/ })
  t.throws(() => new Server({ runtimeDir, socketName: 'a/b' }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.socketName'/ })
  t.throws(() => new Server(undefined as never), { code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument/ })
  t.notOk(fs.existsSync(runtimeDir), 'the runtime dir was not even created')
})
