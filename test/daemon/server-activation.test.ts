/**
 * Socket activation: a Server serving a listening socket it inherited. The systemd cases pass a
 * real socket to a real child process at fd 3, with LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES set by
 * `sh -c 'LISTEN_PID=$$ … exec node fixture'` (so LISTEN_PID is the daemon's own pid, as systemd
 * sets it); this test process plays the service manager and keeps its copy of the socket.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import * as readline from 'node:readline'
import t from 'tap'
import { native } from '../../src/binding.js'
import { Client, listen, Server, socketPairFds } from '../../src/index.js'
import { cleanup, exitCode, fixtures, leakTest, node, tempDir, until, within } from '../helpers.js'
import { openLazyFds, type Test } from './lib.js'

const daemon = path.join(fixtures, 'activated-daemon.mjs')

t.before(openLazyFds)

/** A listening Unix socket made as a service manager makes one: a raw fd of this process, closed
 *  before the leak check. */
function managerSocket(t: Test, dir: string): { fd: number; socketPath: string } {
  const socketPath = path.join(dir, 'manager.sock')
  const fd = native.listen(Buffer.from(socketPath), false, 16, 0o600)
  if (fd < 0) throw new Error(`listen: ${fd}`)
  cleanup(t, () => native.close(fd))
  return { fd, socketPath }
}

/** A copy of `fd` for a Server to take (and close). */
function dup(fd: number): number {
  const copy = native.dup(fd)
  if (copy < 0) throw new Error(`dup: ${copy}`)
  return copy
}

/** A line the fixture prints (one of the keys per line; see activated-daemon.mjs). */
interface DaemonLine {
  listening: { pid: number; socketPath: string; env: Record<string, string | null>; childEnv: string; cloexec: boolean; nonblocking: boolean }
  closed: number
  error: { code: string; message: string }
  env: Record<string, string | null>
}

interface Started {
  child: ChildProcess
  /** The next JSON line the daemon printed. */
  next: () => Promise<DaemonLine>
}

/**
 * Starts the fixture daemon with `fd` at fd 3 and the systemd variables as `sh` sets them: LISTEN_PID
 * is the shell's own pid, which `exec` hands to node (or `pid`, when given).
 */
function startActivated(t: Test, fd: number, runtimeDir: string, config: Record<string, unknown> = {}, env: { pid?: string; names?: string } = {}): Started {
  const script = `LISTEN_PID=${env.pid ?? '$$'} LISTEN_FDS=1 LISTEN_FDNAMES=${env.names ?? 'x'} exec "$@"`
  const child = spawn('/bin/sh', ['-c', script, 'sh', ...node, daemon, runtimeDir, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit', fd],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const next = async () => {
    const line = await within(lines.next(), 'a line from the daemon')
    if (line.done) throw new Error('the daemon closed its stdout')
    return JSON.parse(line.value) as DaemonLine
  }
  return { child, next }
}

const noVariables = { LISTEN_PID: null, LISTEN_FDS: null, LISTEN_FDNAMES: null }

leakTest(t, 'systemd: serves the socket passed at fd 3 for its pid, removes LISTEN_* for its children, never unlinks the socket', async (t) => {
  const dir = tempDir(t)
  const runtimeDir = path.join(dir, 'run')
  const { fd, socketPath } = managerSocket(t, dir)
  const first = startActivated(t, fd, runtimeDir, { systemdName: 'x' })
  const { listening } = await first.next()
  t.match(
    listening,
    { pid: first.child.pid, socketPath, env: noVariables, cloexec: true, nonblocking: true },
    'the real path (getsockname), variables gone, fd close-on-exec and non-blocking',
  )
  t.equal(listening.childEnv, 'unset unset unset', 'a child started afterwards sees no LISTEN_* variable')
  const client = await Client.connect(socketPath, { timeout: 60_000 })
  t.same((await client.request('pid')).json(), { pid: first.child.pid }, 'a client reaches the activated daemon')
  client.destroy()
  t.notOk(fs.existsSync(path.join(runtimeDir, 'daemon.sock')), 'it bound nothing in its runtime dir')
  t.ok(fs.existsSync(path.join(runtimeDir, 'daemon.pid')), 'it keeps its pid file')

  first.child.kill('SIGTERM')
  t.same(await first.next(), { closed: first.child.pid })
  t.equal(await exitCode(first.child), 0)
  t.ok(fs.statSync(socketPath).isSocket(), 'the socket file is still there: the manager owns it')
  // The manager still holds the socket: a client connecting now waits in the backlog and is served
  // by the next instance, which the manager starts because the socket became readable.
  const waiting = Client.connect(socketPath, { timeout: 120_000 }) // a hang guard: it waits for a process to start
  const second = startActivated(t, fd, runtimeDir, { systemdName: 'x' })
  const again = await within(waiting, 'the queued client served by the next instance')
  t.same((await again.request('pid')).json(), { pid: second.child.pid }, 'the connection made while no daemon ran is served by the next one')
  again.destroy()
  second.child.kill('SIGTERM')
  t.equal(await exitCode(second.child), 0)
})

leakTest(t, 'systemd: a socket asked for by name is found through LISTEN_FDNAMES; a name systemd did not pass is ERR_FDWIRE_NOT_ACTIVATED', async (t) => {
  const dir = tempDir(t)
  const { fd, socketPath } = managerSocket(t, dir)
  const named = startActivated(t, fd, path.join(dir, 'run1'), { listen: { systemd: 'rush' } }, { names: 'rush' })
  t.match((await named.next()).listening, { socketPath, env: noVariables })
  named.child.kill('SIGTERM')
  t.equal(await exitCode(named.child), 0)

  const wrong = startActivated(t, fd, path.join(dir, 'run2'), { listen: { systemd: 'rush' } }, { names: 'other.socket' })
  const failed = await wrong.next()
  t.match(failed.error, { code: 'ERR_FDWIRE_NOT_ACTIVATED', message: /no socket from systemd named 'rush': systemd passed LISTEN_FDNAMES other\.socket/ })
  t.same(failed.env, noVariables, 'the variables are removed even when the socket is not used')
  t.equal(await exitCode(wrong.child), 1)
})

leakTest(t, 'systemd: LISTEN_PID of another process is not ours to honour: ignored, and still removed', async (t) => {
  const dir = tempDir(t)
  const { fd } = managerSocket(t, dir)
  const runtimeDir = path.join(dir, 'run')
  // socketActivation() finds nothing, so the daemon binds its own socket as it would unmanaged.
  const detecting = startActivated(t, fd, runtimeDir, {}, { pid: '1' })
  t.match((await detecting.next()).listening, { socketPath: path.join(runtimeDir, 'daemon.sock'), env: noVariables, childEnv: 'unset unset unset' })
  detecting.child.kill('SIGTERM')
  t.equal(await exitCode(detecting.child), 0)

  const insisting = startActivated(t, fd, path.join(dir, 'run2'), { listen: { systemd: true } }, { pid: '1' })
  t.match((await insisting.next()).error, { code: 'ERR_FDWIRE_NOT_ACTIVATED', message: /LISTEN_PID is 1, not this process/ })
  t.equal(await exitCode(insisting.child), 1)
})

leakTest(t, 'systemd: a TCP socket at fd 3 is ERR_FDWIRE_BAD_SOCKET naming where it came from', async (t) => {
  const dir = tempDir(t)
  const tcp = net.createServer()
  await new Promise<void>((resolve) => tcp.listen({ host: '127.0.0.1', port: 0 }, resolve))
  cleanup(t, () => tcp.close())
  const fd = (tcp as unknown as { _handle: { fd: number } })._handle.fd
  const started = startActivated(t, fd, path.join(dir, 'run'), { listen: { systemd: true } })
  t.match((await started.next()).error, {
    code: 'ERR_FDWIRE_BAD_SOCKET',
    message: /^fd 3 \(systemd, LISTEN_FDNAMES 'x'\) is a socket of family AF_INET, type SOCK_STREAM; fdwire serves Unix stream sockets/,
  })
  t.equal(await exitCode(started.child), 1)
})

leakTest(t, '{ fd }: a socket of the wrong kind is a clear error and is left open, untouched', async (t) => {
  const dir = tempDir(t)
  const runtimeDir = path.join(dir, 'run')
  const tcp = net.createServer()
  await new Promise<void>((resolve) => tcp.listen({ host: '127.0.0.1', port: 0 }, resolve))
  cleanup(t, () => tcp.close())
  const udp = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
  cleanup(t, () => udp.close())
  const handleFd = (handle: unknown) => (handle as { fd: number }).fd
  const udpState = Object.getOwnPropertySymbols(udp).find((s) => String(s) === 'Symbol(state symbol)')!
  const [connected, peer] = socketPairFds()
  const [readEnd, writeEnd] = native.pipe() as [number, number]
  cleanup(t, () => {
    for (const fd of [connected, peer, readEnd, writeEnd]) native.close(fd)
  })
  const cases: [string, number, { code: string; message: RegExp; syscall?: string }][] = [
    [
      'a TCP listening socket',
      handleFd((tcp as unknown as { _handle: unknown })._handle),
      { code: 'ERR_FDWIRE_BAD_SOCKET', message: /is a socket of family AF_INET, type SOCK_STREAM;/ },
    ],
    [
      'a UDP socket',
      handleFd((udp as unknown as Record<symbol, { handle: unknown }>)[udpState]!.handle),
      { code: 'ERR_FDWIRE_BAD_SOCKET', message: /is a socket of family AF_INET, type SOCK_DGRAM;/ },
    ],
    ['a connected Unix socket', connected, { code: 'ERR_FDWIRE_BAD_SOCKET', message: /is a Unix stream socket that is not listening \(SO_ACCEPTCONN is 0\)/ }],
    ['a pipe', readEnd, { code: 'ENOTSOCK', syscall: 'getsockopt', message: /is not a socket/ }],
  ]
  for (const [what, fd, expected] of cases) {
    const server = new Server({ runtimeDir, handleSignals: false, listen: { fd } })
    await t.rejects(server.listen(), expected, what)
    t.ok(native.isCloexec(fd) >= 0, `${what}: still open`)
    await server.close()
  }
  const unused = 1 << 20 // above any fd this process has open
  await t.rejects(
    new Server({ runtimeDir, handleSignals: false, listen: { fd: unused } }).listen(),
    { code: 'EBADF', message: /is not open/ },
    'an fd that is not open',
  )
  t.throws(() => listen({ fd: readEnd }), { code: 'ENOTSOCK' }, 'listen() checks the same way')
})

leakTest(t, 'options.listen is checked as Node checks arguments; launchd off macOS is ERR_FDWIRE_UNSUPPORTED', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  const make = (listen: unknown) => () => new Server({ runtimeDir, handleSignals: false, listen: listen as never })
  t.throws(make({ fd: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.listen\.fd" is out of range/ })
  t.throws(make({ fd: 2 ** 31 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(make({ fd: 1.5 }), { code: 'ERR_OUT_OF_RANGE', message: /must be an integer/ })
  t.throws(make({ fd: '3' }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.throws(make(3), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.listen" property must be of type object/ })
  t.throws(make({}), { code: 'ERR_INVALID_ARG_VALUE', message: /exactly one of the keys fd, systemd, launchd/ })
  t.throws(make({ fd: 3, systemd: true }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(make({ systemd: false }), { code: 'ERR_INVALID_ARG_VALUE', message: /must be true or a socket name/ })
  t.throws(make({ systemd: 'a:b' }), { code: 'ERR_INVALID_ARG_VALUE', message: /without a colon/ })
  t.throws(make({ launchd: '' }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.throws(() => listen({ fd: 0 }, { mode: 0o600 }), { code: 'ERR_INVALID_ARG_VALUE', message: /'options\.mode' has no effect on an inherited socket/ })
  if (process.platform !== 'darwin') {
    await t.rejects(make({ launchd: 'Listeners' })().listen(), { code: 'ERR_FDWIRE_UNSUPPORTED', message: /only on macOS/ })
  }
})

leakTest(t, '{ fd }: no stale-socket removal, no socket watch, no unlink; an idle exit leaves the backlog to the next server', async (t) => {
  const dir = tempDir(t)
  const runtimeDir = path.join(dir, 'run')
  const { fd, socketPath } = managerSocket(t, dir)
  const lost: string[] = []
  const first = new Server({ runtimeDir, handleSignals: false, listen: { fd: dup(fd) }, idleTimeout: 1, socketCheckInterval: 1 })
  first.on('socketLost', (what) => lost.push(what))
  const firstClosed = new Promise<void>((resolve) => first.once('close', resolve))
  await first.listen()
  t.equal(first.socketPath, socketPath, 'socketPath is the inherited socket’s own path')
  t.equal(first.status()['socketPath'], socketPath, 'and status() says so')
  // No client comes: the server closes itself after its idle timeout.
  await within(firstClosed, 'the idle exit')
  t.ok(fs.statSync(socketPath).isSocket(), 'closing left the socket file to its owner')

  // Nobody accepts now; the manager's copy still listens, so this connection waits in the backlog.
  const waiting = Client.connect(socketPath, { timeout: 120_000 }) // a hang guard: it waits for a process to start
  const second = new Server({ runtimeDir, handleSignals: false, listen: { fd: dup(fd) }, socketCheckInterval: 1 })
  second.on('socketLost', (what) => lost.push(what))
  second.handle('who', () => 'second')
  await second.listen()
  cleanup(t, () => void second.close())
  const queued = await within(waiting, 'the queued connection')
  cleanup(t, () => queued.destroy())
  t.equal((await queued.request('who')).text(), 'second', 'the connection made between the two servers is served by the second')

  fs.unlinkSync(socketPath)
  // A bound server would rebind within a check or two (every 1 ms); an inherited one never looks.
  const checks = Date.now() + 100
  await until(() => Date.now() > checks, 10_000)
  t.same(lost, [], 'no socketLost: the file is not the server’s to watch')
  t.notOk(fs.existsSync(socketPath), 'and nothing was bound in its place')
  await second.close()
  await until(() => queued.closed)
  t.ok(queued.closed, 'closing the server ended its connections')
})

leakTest(t, '{ fd }: the pid file still keeps a second daemon out, and the fd it was given stays the caller’s', async (t) => {
  const dir = tempDir(t)
  const runtimeDir = path.join(dir, 'run')
  const { fd } = managerSocket(t, dir)
  const first = new Server({ runtimeDir, handleSignals: false, listen: { fd: dup(fd) } })
  await first.listen()
  const copy = dup(fd)
  cleanup(t, () => native.close(copy))
  await t.rejects(new Server({ runtimeDir, handleSignals: false, listen: { fd: copy } }).listen(), { code: 'ERR_FDWIRE_DAEMON_RUNNING' })
  t.ok(native.isCloexec(copy) >= 0, 'the refused server did not take (or close) its fd')
  await first.close()
})
