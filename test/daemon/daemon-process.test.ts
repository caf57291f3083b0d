import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Client, closeFd, ensureDaemon, pipe, protocol, Server, socketPair, type EnsureDaemonOptions } from '../../src/index.js'
import { alive, cleanup, node, collect, exitCode, fixtures, leakTest, needs, tempDir, until } from '../helpers.js'
import { reapDaemons, type Test } from './lib.js'

const daemonScript = path.join(fixtures, 'daemon-server.mjs')

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

/** A daemon process (the fixture, started by ensureDaemon) and a client of it. */
async function startDaemon(t: Test, config: Record<string, unknown> = {}, extra: Partial<EnsureDaemonOptions> = {}) {
  const runtimeDir = path.join(tempDir(t), 'run')
  reapDaemons(t, runtimeDir)
  const client = await ensureDaemon({ runtimeDir, command: [...node, daemonScript, runtimeDir, JSON.stringify(config)], ...extra })
  cleanup(t, () => client.destroy())
  const pid = client.daemon.peer.pid
  return { runtimeDir, client, pid, socket: client.socketPath, pidFile: path.join(runtimeDir, 'daemon.pid'), log: path.join(runtimeDir, 'daemon.log') }
}

/** The daemon's open fds, by number → what they refer to. */
function daemonFds(pid: number): string[] {
  return fs
    .readdirSync(`/proc/${pid}/fd`)
    .map((fd) => {
      try {
        return `${fd} -> ${fs.readlinkSync(`/proc/${pid}/fd/${fd}`)}`
      } catch {
        return `${fd} -> (gone)`
      }
    })
    .sort()
}

leakTest(t, 'SIGTERM drains: the running request gets its reply, new work is refused, then socket and pid file go', async (t) => {
  const { client, pid, socket, pidFile, log } = await startDaemon(t)
  const other = await Client.connect(socket)
  cleanup(t, () => other.destroy())
  const slow = client.request('slow', JSON.stringify({ ms: 1500 }))
  let running = false
  for (let i = 0; i < 500 && !running; i++) {
    // The slow request and this status request itself.
    running = (await other.request('fdwire.status')).json<{ inFlight: number }>().inFlight === 2
    if (!running) await sleep(10)
  }
  t.ok(running, 'the slow request is running in the daemon')
  process.kill(pid, 'SIGTERM')
  t.ok(await until(() => !fs.existsSync(socket)), 'the daemon stopped listening at once')
  await t.rejects(Client.connect(socket), { code: 'ENOENT' }, 'a new connection is refused')
  await t.rejects(other.request('echo', 'x'), { code: 'ERR_FDWIRE_SHUTTING_DOWN' }, 'a new request on an open connection is refused')
  t.ok(alive(pid), 'the daemon is still there, draining')
  t.equal((await slow).text(), 'slow done', 'the in-flight request completed with its reply')
  t.ok(await until(() => !alive(pid)), 'then the daemon exited')
  t.notOk(fs.existsSync(socket), 'its socket is removed')
  t.notOk(fs.existsSync(pidFile), 'its pid file is removed')
  t.match(fs.readFileSync(log, 'utf8'), new RegExp(`^closed ${pid}$`, 'm'))
})

leakTest(t, 'SIGHUP calls the reload hook and the daemon keeps serving', async (t) => {
  const { client, pid, log } = await startDaemon(t)
  t.equal((await client.request('reloads')).text(), '0')
  process.kill(pid, 'SIGHUP')
  t.ok(await until(() => /^reloaded 1$/m.test(fs.readFileSync(log, 'utf8'))), 'onReload ran')
  process.kill(pid, 'SIGHUP')
  t.ok(await until(() => /^reloaded 2$/m.test(fs.readFileSync(log, 'utf8'))), 'and runs on every SIGHUP')
  t.equal((await client.request('reloads')).text(), '2', 'the daemon is still up and the same one')
  t.equal(client.daemon.peer.pid, pid)
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

leakTest(t, 'no fd growth in the daemon over 1,000 connections, each passing an fd', async (t) => {
  const { client, pid, socket } = await startDaemon(t)
  const cycle = async (i: number) => {
    const c = await Client.connect(socket)
    const [r, w] = pipe()
    const reply = await c.request('echo', `n${i}`, { fds: [w] })
    closeFd(r)
    closeFd(w)
    await c.close()
    return reply.text() === `n${i}`
  }
  await cycle(-1) // warm-up: fds the daemon's runtime creates lazily on first use
  // Snapshots mean something only when the daemon is idle: it counts no connection but `client`
  // (held open throughout, so both snapshots include it), and its fds have stopped changing (a
  // connection's fd is closed around its 'close' event). Both waits are hang guards.
  const idle = async (): Promise<string[]> => {
    for (let i = 0; i < 6000; i++) {
      if ((await client.request('fdwire.status')).json<{ connections: number }>().connections === 1) break
      await sleep(10)
    }
    let last = daemonFds(pid)
    for (let same = 0, i = 0; same < 3 && i < 6000; i++) {
      await sleep(10)
      const now = daemonFds(pid)
      same = now.join() === last.join() ? same + 1 : 0
      last = now
    }
    return last
  }
  const settle = async (reference: string[]) => {
    await idle()
    await until(() => daemonFds(pid).join() === reference.join(), 60_000)
    return daemonFds(pid)
  }
  const before = await idle()
  let wrong = 0
  for (let i = 0; i < 1000; i++) if (!(await cycle(i))) wrong++
  t.equal(wrong, 0, 'all 1,000 requests got their reply')
  t.same(await settle(before), before, "the daemon's /proc/<pid>/fd is exactly what it was before")
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

leakTest(t, 'startDetached: the daemon does not hold an fd its starter inherited without close-on-exec', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  reapDaemons(t, runtimeDir)
  // fd 3 of the starter is our end of a pipe, given without close-on-exec (as a shell or a build
  // tool hands out extra fds); the starter runs ensureDaemon(), hence startDetached().
  const starter = spawn(node[0], [...node.slice(1), path.join(fixtures, 'daemon-starter.mjs'), runtimeDir], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] })
  const [text, code] = await Promise.all([collect(starter.stdout), exitCode(starter)])
  t.equal(code, 0)
  const report = JSON.parse(text) as { daemonPid: number; fd3: string; daemonFds: string[] }
  t.match(report.fd3, /^(socket|pipe):\[\d+\]$/, 'the starter held the extra fd while it started the daemon')
  t.notOk(report.daemonFds.includes(report.fd3), `the daemon does not hold it (${report.fd3})`)
  process.kill(report.daemonPid, 'SIGTERM')
  await until(() => !alive(report.daemonPid))
})

/** Runs `script` with node as uid/gid 65534 (nobody) via setpriv; undefined if that is impossible here. */
function asNobody(t: Test, args: string[]): ReturnType<typeof spawn> | undefined {
  const [why, enable] =
    process.getuid?.() !== 0
      ? ['not root: cannot switch to another uid', 'run the suite as root, after `bash scripts/ci/test-user.sh` (as root)']
      : spawnSync('setpriv', ['--version']).error
        ? ['setpriv is not installed', '`bash scripts/ci/test-user.sh` as root (apt-get install -y util-linux)']
        : spawnSync('id', ['-u', 'nobody']).stdout?.toString().trim() !== '65534'
          ? ['no user nobody with uid 65534', '`bash scripts/ci/test-user.sh` as root (creates it)']
          : [undefined, '']
  if (!needs(t, why === undefined ? undefined : `cross-uid test: ${why}`, enable)) return undefined
  // `node` (env -u NODE_OPTIONS): tap's loaders must not reach a process of another uid (they
  // write under .tap/ in this checkout, which nobody may not do).
  return spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...node, ...args], { cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] })
}

// The raw client as nobody: plain `net`, so it needs nothing from this checkout (which CI may keep
// in a directory nobody can read). It prints what the daemon sent, in hex, and how it ended.
const rawClient = `
const net = require('net')
const chunks = []
const s = net.connect(process.argv[1])
s.on('connect', () => { process.stderr.write(''); s.end() })
s.on('data', (d) => chunks.push(d))
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(0) })
s.on('close', () => console.log(JSON.stringify({ uid: process.getuid(), bytes: Buffer.concat(chunks).toString('hex') })))
`

leakTest(t, 'refuses another uid even when the socket is opened up to 0777', async (t) => {
  const base = tempDir(t)
  const runtimeDir = path.join(base, 'run')
  const server = new Server({ runtimeDir, handleSignals: false })
  await server.listen()
  cleanup(t, () => void server.close())
  const refused: { uid: number; code: string }[] = []
  server.on('refused', ({ peer, code }) => refused.push({ uid: peer.uid, code }))
  // The misconfiguration: every directory on the way and the socket itself opened up.
  fs.chmodSync(base, 0o711)
  fs.chmodSync(runtimeDir, 0o711)
  fs.chmodSync(server.socketPath, 0o777)
  const child = asNobody(t, ['-e', rawClient, server.socketPath])
  if (child === undefined) return
  const [text, code] = await Promise.all([collect(child.stdout), exitCode(child)])
  t.equal(code, 0)
  const result = JSON.parse(text) as { uid?: number; bytes?: string; error?: string }
  t.equal(result.error, undefined, 'nobody reached the socket (the kernel let it connect)')
  t.equal(result.uid, 65534)
  const bytes = Buffer.from(result.bytes ?? '', 'hex')
  t.ok(bytes.length > 16, 'the daemon answered')
  const envelope = protocol.readEnvelope(bytes.subarray(16, 16 + bytes.readUInt32LE(4)))
  t.match(envelope, { kind: 'response', id: 0, ok: false }, 'with a refusal, not a hello')
  t.match(envelope.kind === 'response' ? envelope.error : undefined, { code: 'ERR_FDWIRE_PERMISSION', message: /uid 65534 may not use this daemon/ })
  t.same(refused, [{ uid: 65534, code: 'ERR_FDWIRE_PERMISSION' }], 'the server refused uid 65534 by its kernel credentials')
  t.equal(server.connections, 0)
  const own = await Client.connect(server.socketPath)
  t.equal((await own.request('fdwire.status')).json<{ pid: number }>().pid, process.pid, 'our own uid is still served')
  own.destroy()
})

leakTest(t, 'an idle daemon process exits by itself once its last client left, cleaning up', async (t) => {
  const { client, pid, socket, pidFile } = await startDaemon(t, { idleTimeout: 300 })
  t.equal((await client.request('echo', 'still here')).text(), 'still here')
  t.ok(alive(pid))
  await client.close()
  t.ok(await until(() => !alive(pid)), 'the process exited (nothing kept it alive)')
  t.notOk(fs.existsSync(socket), 'its socket is removed')
  t.notOk(fs.existsSync(pidFile), 'its pid file is removed')
})

// Listens without accepting; once a connection waits in its backlog, closes (and removes its
// socket file) as a daemon killed while clients connect would: the kernel resets that connection.
const DYING_LISTENER = `
import os, select, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(8)
print('ready', flush=True)
select.select([s], [], [])
os.unlink(sys.argv[1])
s.close()
`

leakTest(t, 'ensureDaemon: a dying daemon that resets the connection counts as none, and a new one is started', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  fs.mkdirSync(runtimeDir, { mode: 0o700 })
  reapDaemons(t, runtimeDir)
  const dying = spawn('python3', ['-c', DYING_LISTENER, path.join(runtimeDir, 'daemon.sock')], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    dying.stdout.once('data', resolve)
    dying.once('error', reject)
  })
  const client = await ensureDaemon({ runtimeDir, command: [...node, daemonScript, runtimeDir, '{}'] })
  cleanup(t, () => client.destroy())
  t.equal(await exitCode(dying), 0, 'the dying listener had a connection waiting, and closed')
  const pid = client.daemon.peer.pid
  t.not(pid, dying.pid, 'served by the daemon ensureDaemon started')
  t.equal((await client.request('pid')).json<{ pid: number }>().pid, pid, 'which answers')
  process.kill(pid, 'SIGTERM')
  await until(() => !alive(pid))
})

leakTest(t, 'reconnect: after the daemon process restarts, the next request reaches the new one', async (t) => {
  const { runtimeDir, pid, socket } = await startDaemon(t)
  const c = await Client.connect(socket, { reconnect: true })
  cleanup(t, () => c.destroy())
  t.equal((await c.request('pid')).json<{ pid: number }>().pid, pid)
  process.kill(pid, 'SIGKILL')
  t.ok(await until(() => c.closed), 'the client saw the daemon die')
  const restarted = await ensureDaemon({ runtimeDir, command: [...node, daemonScript, runtimeDir] })
  cleanup(t, () => restarted.destroy())
  const newPid = restarted.daemon.peer.pid
  t.not(newPid, pid)
  t.equal((await c.request('pid')).json<{ pid: number }>().pid, newPid, 'the same Client object reached the new daemon')
  t.equal(c.daemon.peer.pid, newPid)
  process.kill(newPid, 'SIGTERM')
  await until(() => !alive(newPid))
})
