import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import * as util from 'node:util'
import t from 'tap'
import { closeFd, connect, Connection, listen, MAX_SOCKET_PATH, socketPair, socketPairFds, type Message } from '../../src/index.js'
import { closed, exitCode, frame, leakTest, spawnFixture, tempDir } from '../helpers.js'
import { native } from '../../src/binding.js'

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

leakTest(t, 'accepts connections with their peer credentials and talks both ways', async (t) => {
  const socket = path.join(tempDir(t), 'l.sock')
  const listener = listen(socket)
  listener.on('connection', (connection) => {
    t.equal(connection.peer.pid, process.pid)
    connection.on('message', (m) => connection.send(`echo ${m.payload.toString()}`, { id: m.id }))
  })
  const client = await connect(socket)
  client.send('hi', { id: 9 })
  const [reply] = (await once(client, 'message')) as [Message]
  t.equal(reply.payload.toString(), 'echo hi')
  t.equal(reply.id, 9)
  client.destroy()
  listener.close()
  await once(listener, 'close')
  t.notOk(fs.existsSync(socket), 'close() removed the socket file')
})

leakTest(t, 'the socket file is created with mode 0600 even under umask 0', async (t) => {
  const dir = tempDir(t)
  const previous = process.umask(0)
  try {
    const listener = listen(path.join(dir, 'private.sock'))
    t.equal(fs.statSync(path.join(dir, 'private.sock')).mode & 0o777, 0o600)
    listener.close()
    const shared = listen(path.join(dir, 'shared.sock'), { mode: 0o660 })
    t.equal(fs.statSync(path.join(dir, 'shared.sock')).mode & 0o777, 0o660, 'mode option is honoured')
    shared.close()
  } finally {
    process.umask(previous)
  }
  t.equal(process.umask(), previous, 'the process umask is restored')
})

leakTest(t, 'refuses a peer that allowPeer rejects, before any byte is exchanged', async (t) => {
  const socket = path.join(tempDir(t), 'refuse.sock')
  const listener = listen(socket, { allowPeer: (peer) => peer.pid !== process.pid })
  let accepted = 0
  listener.on('connection', () => accepted++)
  const refused = once(listener, 'refused')
  const client = await connect(socket)
  const [peer] = await refused
  t.equal(peer.pid, process.pid)
  t.equal(await closed(client), undefined, 'the refused client sees the connection end')
  t.equal(accepted, 0)
  listener.close()
})

leakTest(t, 'never takes over a path in use: EADDRINUSE, and the first listener keeps serving', async (t) => {
  const socket = path.join(tempDir(t), 'taken.sock')
  const first = listen(socket)
  t.throws(() => listen(socket), { code: 'EADDRINUSE', syscall: 'bind', path: socket, errno: -98 })
  first.on('connection', (c: Connection) => c.end('still mine'))
  const client = await connect(socket)
  const [m] = (await once(client, 'message')) as [Message]
  t.equal(m.payload.toString(), 'still mine')
  await closed(client)
  first.close()
})

leakTest(t, 'close() leaves a socket file alone that another listener put there', async (t) => {
  const socket = path.join(tempDir(t), 'replaced.sock')
  const old = listen(socket)
  fs.unlinkSync(socket) // e.g. a tmp cleaner
  const replacement = listen(socket)
  old.close()
  t.ok(fs.existsSync(socket), "the replacement's socket is still there")
  const client = await connect(socket)
  client.destroy()
  replacement.close()
  t.notOk(fs.existsSync(socket))
})

leakTest(t, 'connect errors look like Node system errors', async (t) => {
  const dir = tempDir(t)
  await t.rejects(connect(path.join(dir, 'nobody.sock')), { code: 'ENOENT', syscall: 'connect', errno: -2 })
  fs.writeFileSync(path.join(dir, 'file'), '')
  await t.rejects(connect(path.join(dir, 'file')), { code: 'ECONNREFUSED', syscall: 'connect' })
})

leakTest(t, 'a connection the listener never accepted (it closed) ends with ECONNRESET, as a read reports it', async (t) => {
  // A daemon killed with connections still in its backlog: the kernel resets them. epoll says
  // EPOLLERR, which libuv passes on as a bare EBADF from "poll"; the connection must report the
  // socket's own error instead, the one a client can recognise as "the daemon went away".
  const socket = path.join(tempDir(t), 'backlog.sock')
  const listenFd = native.listen(Buffer.from(socket), false, 8, 0o600)
  t.ok(listenFd >= 0, 'listening (nobody accepts)')
  const client = await connect(socket)
  native.close(listenFd)
  const [reason] = (await once(client, 'close')) as [NodeJS.ErrnoException | undefined]
  t.match(reason, { code: 'ECONNRESET', syscall: 'read' }, 'the reset, as a read reports it')
  t.equal(reason?.message, `read ECONNRESET (${util.getSystemErrorMap().get(reason?.errno ?? 0)?.[1]})`, "the message has the system's description")
  t.equal(client.fd, -1, 'the connection closed its fd')
})

leakTest(t, 'a path longer than sun_path is a clear error, never a truncation or a hang', async (t) => {
  const long = `/tmp/${'x'.repeat(MAX_SOCKET_PATH)}`
  t.equal(MAX_SOCKET_PATH, 107, 'Linux sun_path holds 107 bytes and a NUL')
  t.throws(() => listen(long), { code: 'ENAMETOOLONG', message: /at most 107/ })
  await t.rejects(connect(long), { code: 'ENAMETOOLONG', syscall: 'connect' })
  t.throws(() => listen(''), TypeError)
  t.throws(() => listen(42 as unknown as string), { name: 'TypeError', message: /path/ })
})

leakTest(t, 'Linux abstract names work without a file', async (t) => {
  const name = `fdwire-test-${process.pid}-${Date.now()}`
  const listener = listen(name, { abstract: true })
  listener.on('connection', (c: Connection) => c.end('abstract hello'))
  t.notOk(fs.existsSync(name))
  const client = await connect(name, { abstract: true })
  const [m] = (await once(client, 'message')) as [Message]
  t.equal(m.payload.toString(), 'abstract hello')
  await closed(client)
  listener.close()
})

leakTest(t, 'a malformed peer loses its connection while other clients keep being served', async (t) => {
  const socket = path.join(tempDir(t), 'serve.sock')
  const listener = listen(socket)
  const reasons: (string | undefined)[] = []
  listener.on('connection', (c: Connection) => {
    c.on('message', (m) => c.send(m.payload, { id: m.id }))
    c.on('close', (reason) => reasons.push((reason as { code?: string } | undefined)?.code))
  })
  const good = await connect(socket)
  const bad = spawnFixture(t, 'garbage-peer.mjs', [socket])
  t.equal(await exitCode(bad), 0)
  for (let i = 0; i < 3; i++) {
    good.send(`ping ${i}`, { id: i })
    const [m] = (await once(good, 'message')) as [Message]
    t.equal(m.payload.toString(), `ping ${i}`)
  }
  t.ok(reasons.includes('ERR_FDWIRE_BAD_MAGIC'), 'the bad peer was closed with a reason')
  good.destroy()
  listener.close()
})

leakTest(t, 'a connection can be detached and handed on before anything was read', async (t) => {
  const [a, b] = socketPair()
  const fd = b.detach()
  t.equal(b.closed, true)
  t.equal(b.fd, -1)
  const adopted = new Connection(fd)
  a.send('to the new owner')
  const [m] = (await once(adopted, 'message')) as [Message]
  t.equal(m.payload.toString(), 'to the new owner')
  // Half a frame sits in d's reader: handing d over would lose it.
  const [raw, theirs] = socketPairFds()
  const d = new Connection(theirs)
  native.sendRaw(raw, frame('never whole').subarray(0, 10), null)
  await new Promise((resolve) => setTimeout(resolve, 50)) // an idle loop polls well within this
  t.throws(() => d.detach(), { code: 'ERR_FDWIRE_STATE' }, 'refused while bytes are buffered')
  closeFd(raw)
  for (const x of [a, adopted, d]) x.destroy()
})
