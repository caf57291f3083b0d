import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  Client,
  closeFd,
  connect,
  Connection,
  pipe,
  protocol,
  readPidFile,
  RemoteError,
  Server,
  socketPair,
  type Message,
  type ServerOptions,
} from '../../src/index.js'
import { native } from '../../src/binding.js'
import { cleanup, closed, frameHeader, leakTest, tempDir, until, within } from '../helpers.js'

type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

/** A listening in-process Server (no signal handlers), closed before the leak check. */
async function startServer(t: Test, options: Partial<ServerOptions> = {}, setup?: (server: Server) => void): Promise<Server> {
  const server = new Server({ runtimeDir: path.join(tempDir(t), 'run'), handleSignals: false, ...options })
  setup?.(server)
  await server.listen()
  cleanup(t, () => void server.close())
  return server
}

/** A connected Client, destroyed before the leak check. */
async function client(t: Test, server: Server | string, options = {}): Promise<Client> {
  const c = await Client.connect(typeof server === 'string' ? server : server.socketPath, options)
  cleanup(t, () => c.destroy())
  return c
}

/** A promise with its resolver, for handlers the test releases. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => (open = resolve))
  return { promise, open }
}

leakTest(t, "a handler's { end: true } ends the connection right behind its reply", async (t) => {
  const server = await startServer(t, {}, (s) => {
    s.handle('bye', () => ({ body: 'bye', end: true }))
    s.handle('stay', () => 'here')
  })
  const c = await client(t, server)
  t.equal((await c.request('stay')).text(), 'here')
  t.notOk(c.closed, 'an ordinary reply leaves the connection open')
  const closedAfter = new Promise<boolean>((resolve) => c.once('close', () => resolve(true)))
  t.equal((await c.request('bye')).text(), 'bye', 'the reply arrives')
  t.ok(await within(closedAfter, 'the end of stream'), 'then the connection ends')
  t.ok(await until(() => server.connections === 0), 'and the server let it go')
})

leakTest(t, 'many requests in flight on one connection complete out of order, each with its own reply', async (t) => {
  const gates = new Map<number, ReturnType<typeof gate<void>>>()
  const server = await startServer(t, {}, (s) =>
    s.handle('wait', async (request) => {
      const n = Number(request.body.toString())
      const g = gate()
      gates.set(n, g)
      await g.promise
      return `reply ${n}`
    }),
  )
  const c = await client(t, server)
  const count = 50
  const order: number[] = []
  const replies = Array.from({ length: count }, (_, n) =>
    c.request('wait', String(n)).then((reply) => {
      order.push(n)
      return reply.text()
    }),
  )
  t.ok(await until(() => gates.size === count), 'all 50 requests reached the daemon before any answer')
  t.equal(c.pending, count)
  for (let n = count - 1; n >= 0; n--) gates.get(n)!.open()
  t.same(
    await Promise.all(replies),
    Array.from({ length: count }, (_, n) => `reply ${n}`),
    'every request got its own reply',
  )
  t.same(
    order,
    Array.from({ length: count }, (_, n) => count - 1 - n),
    'replies arrived in completion order, not request order',
  )
  t.equal(c.pending, 0)
})

leakTest(t, 'a daemon-side error is a RemoteError with its code; an unknown method is ERR_FDWIRE_UNKNOWN_METHOD', async (t) => {
  const server = await startServer(t, {}, (s) =>
    s.handle('fail', () => {
      throw Object.assign(new Error('no such thing'), { code: 'ERR_NOT_FOUND' })
    }),
  )
  const c = await client(t, server)
  await t.rejects(c.request('fail'), { name: 'RemoteError', code: 'ERR_NOT_FOUND', remoteCode: 'ERR_NOT_FOUND', message: /fail: no such thing/ })
  await t.rejects(c.request('nope'), { code: 'ERR_FDWIRE_UNKNOWN_METHOD' })
  const error = await c.request('fail').catch((e: unknown) => e)
  t.type(error, RemoteError)
  t.equal((await c.request('fdwire.status')).json<{ pid: number }>().pid, process.pid, 'the connection still serves')
})

leakTest(t, 'streams arrive as async iterators; breaking early cancels the stream on the daemon side', async (t) => {
  let producerStopped = gate<{ yielded: number; aborted: boolean }>()
  const server = await startServer(t, {}, (s) => {
    s.handleStream('count', function* (request) {
      const n = Number(request.body.toString())
      for (let i = 0; i < n; i++) yield `item ${i}`
    })
    s.handleStream('forever', async function* (request) {
      let yielded = 0
      try {
        for (;;) {
          yield `tick ${yielded++}`
          await sleep(1)
        }
      } finally {
        producerStopped.open({ yielded, aborted: request.signal.aborted })
      }
    })
  })
  const c = await client(t, server)
  const items: string[] = []
  for await (const item of c.stream('count', '5')) items.push(item.text())
  t.same(items, ['item 0', 'item 1', 'item 2', 'item 3', 'item 4'], 'a finite stream ends by itself')

  let seen = 0
  for await (const item of c.stream('forever')) {
    t.equal(item.text(), `tick ${seen}`)
    if (++seen === 3) break
  }
  const stopped = await within(producerStopped.promise, 'the stream handler stopping')
  t.ok(stopped.aborted, "the daemon's handler saw ctx.signal aborted after the client broke out")
  t.ok(await until(() => c.pending === 0), 'and the stream is no longer pending on the client')
  producerStopped = gate()
  t.equal((await c.request('fdwire.status')).json<{ inFlight: number }>().inFlight, 1, 'only the status request itself is in flight on the daemon')
})

leakTest(t, 'an AbortSignal and a timeout cancel the request; the handler sees ctx.signal aborted', async (t) => {
  const aborted: string[] = []
  const started = new Map<string, ReturnType<typeof gate<void>>>([
    ['abort', gate()],
    ['timeout', gate()],
  ])
  const server = await startServer(t, {}, (s) =>
    s.handle('hang', async (request) => {
      const name = request.body.toString()
      started.get(name)?.open()
      await once(request.signal, 'abort')
      aborted.push(`${name}: ${(request.signal.reason as { code?: string }).code}`)
      return 'too late'
    }),
  )
  const c = await client(t, server)
  const controller = new AbortController()
  const request = c.request('hang', 'abort', { signal: controller.signal })
  await within(started.get('abort')!.promise, 'the handler starting')
  controller.abort(new Error('user pressed ^C'))
  await t.rejects(request, { message: 'user pressed ^C' }, "the caller gets the signal's reason")
  await t.rejects(c.request('hang', 'timeout', { timeout: 50 }), { code: 'ERR_FDWIRE_TIMEOUT', message: /hang: no reply within 50 ms/ })
  t.ok(await until(() => aborted.length === 2), 'both handlers were aborted')
  t.same(aborted.sort(), ['abort: ERR_FDWIRE_CANCELLED', 'timeout: ERR_FDWIRE_CANCELLED'])
  const already = new AbortController()
  already.abort(new Error('before sending'))
  await t.rejects(c.request('hang', 'never', { signal: already.signal }), { message: 'before sending' })
  t.equal((await c.request('fdwire.status')).json<{ inFlight: number }>().inFlight, 1, 'nothing else is left running on the daemon')
})

leakTest(t, 'fds go both ways: the daemon writes into our pipe and returns a file it opened', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'data.txt')
  fs.writeFileSync(file, 'contents of the daemon-opened file')
  const server = await startServer(t, {}, (s) => {
    s.handle('write', (request) => {
      const fd = request.takeFd()
      fs.writeSync(fd, request.body)
      fs.closeSync(fd)
      return 'written'
    })
    s.handle('open', (request) => ({ body: 'here', fds: [fs.openSync(request.body.toString(), 'r')], closeFds: true }))
  })
  const c = await client(t, server)
  const [r, w] = pipe()
  t.equal((await c.request('write', 'through your pipe', { fds: [w], closeFds: true })).text(), 'written')
  t.equal(fs.readFileSync(r, 'utf8'), 'through your pipe', 'the daemon wrote into the pipe we sent and closed its copy')
  closeFd(r)

  const reply = await c.request('open', file)
  t.equal(reply.text(), 'here')
  t.equal(reply.fds.length, 1)
  const fd = reply.takeFd()
  t.equal(fs.readFileSync(fd, 'utf8'), 'contents of the daemon-opened file', 'we read through the fd the daemon opened')
  closeFd(fd)
})

leakTest(t, 'at most maxConnections at once: the next client gets ERR_FDWIRE_BUSY, and gets in once one leaves', async (t) => {
  const server = await startServer(t, { maxConnections: 2 })
  const refused: string[] = []
  server.on('refused', ({ code }) => refused.push(code))
  const a = await client(t, server)
  await client(t, server)
  await t.rejects(Client.connect(server.socketPath), { name: 'RemoteError', code: 'ERR_FDWIRE_BUSY', message: /busy: 2 connections \(limit 2\)/ })
  t.same(refused, ['ERR_FDWIRE_BUSY'])
  await a.close()
  t.ok(await until(() => server.connections === 1))
  const c = await client(t, server)
  t.equal((await c.request('fdwire.status')).json<{ connections: number }>().connections, 2)
})

leakTest(t, 'a malformed message gets ERR_FDWIRE_MALFORMED and a disconnect, while another client keeps being served', async (t) => {
  const server = await startServer(t, {}, (s) => s.handle('echo', (request) => request.body))
  const good = await client(t, server)
  const bad = await connect(server.socketPath)
  cleanup(t, () => bad.destroy())
  const messages: Message[] = []
  bad.on('message', (m: Message) => messages.push(m))
  bad.send('this is not a FlatBuffers envelope', { type: 0 })
  await within(closed(bad), 'the daemon closing the malformed connection')
  const envelopes = messages.map((m) => protocol.readEnvelope(m.payload))
  t.match(envelopes[0], { kind: 'hello' }, 'the daemon said hello first')
  const refusal = envelopes[1]
  t.match(refusal, { kind: 'response', id: 0, ok: false }, 'then one error reply with id 0')
  t.match(refusal?.kind === 'response' ? refusal.error : undefined, { code: 'ERR_FDWIRE_MALFORMED', message: /malformed message from client/ })
  t.ok(bad.closed, 'and the daemon closed the connection')
  for (let i = 0; i < 3; i++) t.equal((await good.request('echo', `still here ${i}`)).text(), `still here ${i}`)
})

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

leakTest(t, 'idle shutdown: closes after idleTimeout without connections', async (t) => {
  const server = await startServer(t, { idleTimeout: 100 })
  const c = await client(t, server)
  await sleep(300)
  t.equal((await c.request('fdwire.status')).json<{ pid: number }>().pid, process.pid, 'a connected client keeps it alive past the idle timeout')
  const closedEvent = once(server, 'close')
  await c.close()
  await closedEvent
  t.notOk(fs.existsSync(server.socketPath), 'it closed once the last client left')
  t.notOk(fs.existsSync(server.pidFilePath!))
})

leakTest(t, 'reconnect: after the daemon restarts the next request works; without it, ERR_FDWIRE_CLOSED', async (t) => {
  const runtimeDir = path.join(tempDir(t), 'run')
  const first = await startServer(t, { runtimeDir, buildId: 'one' })
  const c = await client(t, first.socketPath, { reconnect: true })
  const plain = await client(t, first.socketPath)
  t.equal(c.daemon.buildId, 'one')
  await first.close()
  t.ok(await until(() => c.closed && plain.closed), 'both clients saw the daemon go')
  const second = await startServer(t, { runtimeDir, buildId: 'two' })
  second.handle('who', () => 'second')
  t.equal((await c.request('who')).text(), 'second', 'the reconnecting client reached the new daemon')
  t.equal(c.daemon.buildId, 'two', 'with its hello')
  await t.rejects(plain.request('who'), { code: 'ERR_FDWIRE_CLOSED' })
})

leakTest(t, 'close() lets running handlers finish, refuses new requests meanwhile, then ends connections', async (t) => {
  const release = gate()
  const started = gate()
  const server = await startServer(t, {}, (s) =>
    s.handle('slow', async () => {
      started.open()
      await release.promise
      return 'finished'
    }),
  )
  const c = await client(t, server)
  const slow = c.request('slow')
  await started.promise
  const closing = server.close()
  await t.rejects(c.request('slow'), { code: 'ERR_FDWIRE_SHUTTING_DOWN' }, 'a new request is refused while draining')
  await t.rejects(Client.connect(server.socketPath), { code: 'ENOENT' }, 'new connections are refused: the socket is gone')
  release.open()
  t.equal((await slow).text(), 'finished', 'the running request completed')
  await closing
  t.ok(await until(() => c.closed))
})

leakTest(t, 'shutdownTimeout aborts handlers that do not finish', async (t) => {
  const aborted = gate<string | undefined>()
  const server = await startServer(t, { shutdownTimeout: 50 }, (s) =>
    s.handle('stuck', async (request) => {
      await once(request.signal, 'abort')
      aborted.open((request.signal.reason as { code?: string }).code)
      throw request.signal.reason
    }),
  )
  const c = await client(t, server)
  const stuck = c.request('stuck').catch((e: unknown) => e)
  await until(() => server.status()['inFlight'] === 1)
  await server.close()
  t.equal(await aborted.promise, 'ERR_FDWIRE_SHUTTING_DOWN')
  t.match(await stuck, { code: 'ERR_FDWIRE_SHUTTING_DOWN' }, 'and the caller got that error')
})

leakTest(t, 'a request made while the client is closing rejects with ERR_FDWIRE_CLOSED and leaves nothing behind', async (t) => {
  const server = await startServer(t, {}, (s) => s.handle('x', () => 'y'))
  const c = await client(t, server)
  const closing = c.close()
  await t.rejects(c.request('x', undefined, { timeout: 100 }), { code: 'ERR_FDWIRE_CLOSED' })
  t.equal(c.pending, 0, 'no pending request is left to fail later (as an unhandled rejection)')
  await closing
  await sleep(200) // past the request's timeout: its timer was cleared too
  t.ok(c.closed)
})

leakTest(t, 'stream() of a plain method yields its one reply; request() of a streaming method fails and cancels it', async (t) => {
  const stopped = gate<boolean>()
  const server = await startServer(t, {}, (s) => {
    s.handle('plain', () => 'the only reply')
    s.handleStream('items', async function* (request) {
      try {
        for (let i = 0; ; i++) {
          yield `item ${i}`
          await sleep(1)
        }
      } finally {
        stopped.open(request.signal.aborted)
      }
    })
    // biome-ignore lint/correctness/useYield: a stream handler that fails before its first item
    s.handleStream('broken', function* () {
      throw Object.assign(new Error('no items today'), { code: 'ERR_EMPTY' })
    })
  })
  const c = await client(t, server)
  const items: string[] = []
  await within(
    (async () => {
      for await (const item of c.stream('plain')) items.push(item.text())
    })(),
    'stream() of a plain method ending',
  )
  t.same(items, ['the only reply'])
  await t.rejects(within(c.request('items'), 'request() of a stream'), {
    code: 'ERR_FDWIRE_MALFORMED',
    message: /items: the daemon answered with a stream; use stream\(\)/,
  })
  t.equal(await within(stopped.promise, 'the stream handler stopping'), true, "the daemon's stream was cancelled")
  await t.rejects(within(c.request('broken'), 'request() of a failing stream'), { code: 'ERR_EMPTY', message: /no items today/ })
  t.equal(c.pending, 0)
})

leakTest(t, 'aborting a request while the client is closing rejects it, and throws nothing', async (t) => {
  const server = await startServer(t, {}, (s) =>
    s.handle('hang', async (request) => {
      await once(request.signal, 'abort')
      return 'too late'
    }),
  )
  const c = await client(t, server)
  const controller = new AbortController()
  const aborted = c.request('hang', undefined, { signal: controller.signal })
  t.ok(await until(() => server.status()['inFlight'] === 1), 'the request reached the daemon')
  const closing = c.close()
  controller.abort(new Error('stop waiting'))
  await t.rejects(within(aborted, 'the aborted request settling'), { message: 'stop waiting' })
  await closing
  t.equal(c.pending, 0)
})

leakTest(t, 'a client speaking another protocol version is told so and disconnected', async (t) => {
  const server = await startServer(t)
  const raw = await connect(server.socketPath)
  cleanup(t, () => raw.destroy())
  const messages: Message[] = []
  raw.on('message', (m: Message) => messages.push(m))
  raw.send(protocol.encodeHello(protocol.PROTOCOL_VERSION + 1, ''), { type: 0 })
  await within(closed(raw), 'the daemon closing the connection')
  const refusal = protocol.readEnvelope(messages[1]!.payload)
  t.match(refusal, { kind: 'response', id: 0, ok: false })
  t.match(refusal.kind === 'response' ? refusal.error : undefined, {
    code: 'ERR_FDWIRE_PROTOCOL_VERSION',
    message: new RegExp(`client speaks protocol version ${protocol.PROTOCOL_VERSION + 1}, this daemon speaks ${protocol.PROTOCOL_VERSION}`),
  })
})

leakTest(t, "a request that came with the connection is answered in the Hello's write: one wake-up of the client", async (t) => {
  const server = await startServer(t, {}, (s) => s.handle('queued', (request) => String(request.connection.writableLength)))
  // Connect and send synchronously, before this process's event loop turns: the request is in
  // the socket when the server accepts (as with rush, which sends right after connect()).
  const fd = native.connect(Buffer.from(server.socketPath), false)
  t.ok(fd >= 0, 'connected')
  const request = Buffer.from(protocol.encodeRequest(1, 'queued'))
  const frame = Buffer.concat([frameHeader({ length: request.length, id: 1 }), request])
  t.equal(native.sendRaw(fd, frame, null), frame.length)
  const raw = new Connection(fd)
  cleanup(t, () => raw.destroy())
  const messages: Message[] = []
  raw.on('message', (m: Message) => messages.push(m))
  await within(until(() => messages.length === 2) as Promise<unknown>, 'hello and reply')
  const hello = protocol.readEnvelope(messages[0]!.payload)
  t.equal(hello.kind, 'hello')
  const reply = protocol.readEnvelope(messages[1]!.payload)
  t.ok(reply.kind === 'response' && reply.ok)
  const queued = reply.kind === 'response' && reply.body ? Buffer.from(reply.body).toString() : ''
  t.equal(queued, String(native.headerSize + messages[0]!.payload.length), 'the handler ran while the Hello was still held back (not yet written)')
  raw.send(Buffer.from(protocol.encodeRequest(2, 'queued')), { id: 2, type: 0 })
  await within(until(() => messages.length === 3) as Promise<unknown>, 'second reply')
  const second = protocol.readEnvelope(messages[2]!.payload)
  t.equal(second.kind === 'response' && second.body ? Buffer.from(second.body).toString() : '', '0', 'later requests: nothing held back')
})

leakTest(t, 'a request with a closed fd rejects with EBADF alone: other requests and the connection go on', async (t) => {
  let release: (() => void) | undefined
  const server = await startServer(t, {}, (s) => {
    s.handle('wait', () => new Promise<string>((resolve) => (release = () => resolve('waited'))))
    s.handle('echo', (request) => request.body)
  })
  const c = await client(t, server)
  const waiting = c.request('wait')
  t.ok(await until(() => release !== undefined), 'the first request is being handled')
  const [r, w] = pipe()
  closeFd(r)
  const bad = r
  await t.rejects(c.request('echo', 'x', { fds: [w, bad] }), { code: 'EBADF', syscall: 'fcntl', message: new RegExp(`fd ${bad}\\)`) })
  t.ok(native.isCloexec(w) >= 0, "the caller's good fd is still open")
  t.equal(c.pending, 1, 'the failed request left nothing pending')
  release!()
  t.equal((await waiting).text(), 'waited', 'the pending request was answered')
  t.equal((await c.request('echo', 'later')).text(), 'later', 'a later request works')
  t.notOk(c.closed)
  closeFd(w)
})

leakTest(t, "a request over the daemon's maxFrameSize rejects with ERR_FDWIRE_FRAME_TOO_LARGE before anything is sent", async (t) => {
  let seen = 0
  const server = await startServer(t, { maxFrameSize: 4096 }, (s) => {
    s.handle('echo', (request) => {
      seen++
      return request.body
    })
  })
  const c = await client(t, server)
  t.equal(c.daemon.maxFrameSize, 4096, "the client learnt the daemon's limit from its hello")
  await t.rejects(c.request('echo', Buffer.alloc(5000)), {
    code: 'ERR_FDWIRE_FRAME_TOO_LARGE',
    message: /payload is \d+ bytes, over the peer's maxFrameSize of 4096 bytes/,
  })
  t.equal((await c.request('echo', 'small')).text(), 'small', 'the connection goes on')
  t.equal(seen, 1, 'the daemon saw only the small request')
  t.notOk(c.closed)
})

leakTest(t, "a reply over the client's maxFrameSize fails that request alone, with the reason", async (t) => {
  const errors: unknown[] = []
  const server = await startServer(t, {}, (s) => {
    s.handle('big', () => Buffer.alloc(8192))
    s.handle('small', () => 'ok')
    s.on('handlerError', (error) => errors.push(error))
  })
  const c = await client(t, server, { maxFrameSize: 4096 })
  await t.rejects(within(c.request('big'), 'the reply to big'), {
    name: 'RemoteError',
    code: 'ERR_FDWIRE_FRAME_TOO_LARGE',
    message: /over the peer's maxFrameSize of 4096 bytes/,
  })
  t.equal((await c.request('small')).text(), 'ok', 'the connection goes on')
  t.match(errors, [{ code: 'ERR_FDWIRE_FRAME_TOO_LARGE' }], "the daemon heard of it ('handlerError')")
})

leakTest(t, "an error thrown in a handler reaches 'handlerError' with its stack and context", async (t) => {
  const events: [unknown, unknown][] = []
  const server = await startServer(t, {}, (s) => {
    s.handle('boom', function throwingHandler() {
      throw new Error('kaboom')
    })
    s.handleStream('boomStream', async function* throwingStream() {
      yield 'one'
      throw new Error('stream kaboom')
    })
    s.on('handlerError', (error, context) => events.push([error, context]))
  })
  const c = await client(t, server)
  await t.rejects(c.request('boom'), { name: 'RemoteError', message: /boom: kaboom/ })
  const items: string[] = []
  await t.rejects(
    (async () => {
      for await (const item of c.stream('boomStream')) items.push(item.text())
    })(),
    { message: /stream kaboom/ },
  )
  t.same(items, ['one'])
  t.equal(events.length, 2)
  const [error, context] = events[0]!
  t.match(error, { message: 'kaboom', stack: /throwingHandler/ }, 'the error as thrown, stack included')
  t.match(context, { method: 'boom', stream: false, peer: { pid: process.pid } })
  t.match(events[1], [{ message: 'stream kaboom' }, { method: 'boomStream', stream: true }])
})
