// A Server's runtime dir: its pid file, never taking a live daemon's socket, replacing a stale one,
// refusing an unsafe dir, and noticing its socket deleted or replaced.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { connect, readPidFile, Server } from '../../src/index.js'
import { cleanup, closed, leakTest, tempDir, until } from '../helpers.js'
import { client, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

leakTest(t, 'holds a pid file with its pid, and removes socket and pid file on close', async (t) => {
  const server = await startServer(t)
  t.equal(server.pidFilePath, path.join(server.runtimeDir, 'daemon.pid'))
  t.same(readPidFile(server.pidFilePath!), { pid: process.pid, locked: true })
  t.equal(fs.statSync(server.socketPath).mode & 0o777, 0o600)
  await server.close()
  t.notOk(fs.existsSync(server.pidFilePath!), 'pid file removed')
  t.notOk(fs.existsSync(server.socketPath), 'socket removed')
})

leakTest(t, 'a live daemon is never stolen from: a second one fails naming its pid, the first keeps serving', async (t) => {
  const first = await startServer(t, {}, (s) => s.handle('who', () => 'first'))
  const second = new Server({ runtimeDir: first.runtimeDir, handleSignals: false })
  await t.rejects(second.listen(), { code: 'ERR_FDWIRE_DAEMON_RUNNING', message: new RegExp(`pid ${process.pid}`) })
  const unlocked = new Server({ runtimeDir: first.runtimeDir, pidFile: false, handleSignals: false })
  await t.rejects(
    unlocked.listen(),
    { code: 'ERR_FDWIRE_DAEMON_RUNNING', message: new RegExp(`pid ${process.pid}`) },
    'even without the pid-file lock: the socket answers',
  )
  const c = await client(t, first)
  t.equal((await c.request('who')).text(), 'first')
  t.same(readPidFile(first.pidFilePath!), { pid: process.pid, locked: true }, "the first one's pid file is intact")
})

leakTest(t, 'a stale socket (nobody listening) is replaced', async (t) => {
  const dir = path.join(tempDir(t), 'run')
  fs.mkdirSync(dir, { mode: 0o700 })
  const socket = path.join(dir, 'daemon.sock')
  // A process binds the path and dies without unlinking it, like a crashed daemon.
  const dead = spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ])
  t.equal(dead.signal, 'SIGKILL')
  t.ok(fs.lstatSync(socket).isSocket(), 'a stale socket file is there')
  await t.rejects(connect(socket), { code: 'ECONNREFUSED' }, 'and nobody answers on it')
  const server = await startServer(t, { runtimeDir: dir })
  const c = await client(t, server)
  t.equal((await c.request('fdwire.status')).json<{ pid: number }>().pid, process.pid)
})

leakTest(t, 'a runtime dir with a wrong mode, another owner or a symlink is refused', async (t) => {
  const base = tempDir(t)
  const open = path.join(base, 'open')
  fs.mkdirSync(open, { mode: 0o755 })
  fs.chmodSync(open, 0o755)
  await t.rejects(new Server({ runtimeDir: open, handleSignals: false }).listen(), { code: 'ERR_FDWIRE_INSECURE_DIR', message: /mode is 0755.*chmod 700/ })
  t.notOk(fs.existsSync(path.join(open, 'daemon.sock')), 'nothing was created in it')
  const real = path.join(base, 'real')
  fs.mkdirSync(real, { mode: 0o700 })
  const link = path.join(base, 'link')
  fs.symlinkSync(real, link)
  await t.rejects(new Server({ runtimeDir: link, handleSignals: false }).listen(), { code: 'ERR_FDWIRE_INSECURE_DIR', message: /symbolic link/ })
  t.same(fs.readdirSync(real), [], 'nothing was created through the link')
  if (process.getuid?.() === 0) {
    const foreign = path.join(base, 'foreign')
    fs.mkdirSync(foreign, { mode: 0o700 })
    fs.chownSync(foreign, 65534, 65534)
    await t.rejects(new Server({ runtimeDir: foreign, handleSignals: false }).listen(), { code: 'ERR_FDWIRE_INSECURE_DIR', message: /owned by uid 65534/ })
  }
  const file = path.join(base, 'file')
  fs.writeFileSync(file, '')
  await t.rejects(new Server({ runtimeDir: file, handleSignals: false }).listen(), { code: 'ERR_FDWIRE_INSECURE_DIR', message: /not a directory/ })
})

leakTest(t, 'notices its socket was deleted and binds again: a new client can connect', async (t) => {
  const server = await startServer(t, { socketCheckInterval: 20 })
  const lost = once(server, 'socketLost')
  fs.unlinkSync(server.socketPath)
  t.same(await lost, ['deleted'])
  t.ok(await until(() => fs.existsSync(server.socketPath)), 'the socket file is back')
  const c = await client(t, server)
  t.equal((await c.request('fdwire.status')).json<{ pid: number }>().pid, process.pid)
})

leakTest(t, "notices its socket was replaced by another daemon's and leaves, without touching it", async (t) => {
  const server = await startServer(t, { socketCheckInterval: 20, pidFile: false })
  const old = await client(t, server)
  const closedEvent = once(server, 'close')
  const lost = once(server, 'socketLost')
  fs.unlinkSync(server.socketPath)
  const other = new Server({ runtimeDir: server.runtimeDir, pidFile: false, handleSignals: false, socketCheckInterval: 0 })
  other.handle('who', () => 'the new owner')
  await other.listen()
  cleanup(t, () => void other.close())
  t.same(await lost, ['replaced'])
  await closedEvent
  await closed(old as unknown as Parameters<typeof closed>[0]).catch(() => undefined)
  t.ok(await until(() => old.closed), "the old daemon's clients were let go")
  const c = await client(t, other)
  t.equal((await c.request('who')).text(), 'the new owner', "the new daemon's socket is intact")
})
