// takeSocket() / takeStream() on the daemon layer's fd holders: a Server handler's RequestContext,
// a Client's Reply, a pool worker's WorkerContext and the pool's PoolReply. Real pipes, sockets
// and files; the data goes through the returned streams; nothing leaks.
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import t from 'tap'
import { Client, pipe, Server, socketPair, socketPairFds, WorkerPool, type ServerOptions } from '../../src/index.js'
import { cleanup, collect, fixtures, leakTest, tempDir } from '../helpers.js'

type Test = Parameters<Parameters<typeof leakTest>[2]>[0]

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

async function startServer(t: Test, setup: (server: Server) => void, options: Partial<ServerOptions> = {}): Promise<Client> {
  const server = new Server({ runtimeDir: path.join(tempDir(t), 'run'), handleSignals: false, ...options })
  setup(server)
  await server.listen()
  const client = await Client.connect(server.socketPath)
  cleanup(t, () => void server.close())
  cleanup(t, () => client.destroy())
  return client
}

leakTest(t, "RequestContext.takeSocket: a handler writes into the client's pipe through a net.Socket", async (t) => {
  const client = await startServer(t, (s) => {
    s.handle('write', async (request) => {
      const socket = request.takeSocket()
      const facts = { writable: socket.writable, readable: socket.readable, left: request.fds.length }
      socket.end(request.body)
      await once(socket, 'close')
      return JSON.stringify(facts)
    })
  })
  const [r, w] = pipe()
  const reading = collect(fs.createReadStream('', { fd: r }))
  const reply = await client.request('write', 'from the handler, through a taken socket', { fds: [w], closeFds: true })
  t.same(reply.json(), { writable: true, readable: false, left: 0 }, "a pipe's write end: writable only, and the request holds it no more")
  t.equal(await reading, 'from the handler, through a taken socket', 'EOF: the socket closed the only copy')
})

leakTest(t, 'RequestContext: the wrong kind of fd is refused, and the request still closes it when the handler settles', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'f')
  fs.writeFileSync(file, 'x')
  const client = await startServer(t, (s) => {
    s.handle('wrong', (request) => {
      try {
        request.takeSocket()
      } catch (error) {
        return JSON.stringify({ code: (error as { code: string }).code, message: (error as Error).message, left: request.fds.length })
      }
      return 'taken?'
    })
  })
  const reply = (await client.request('wrong', '', { fds: [fs.openSync(file, 'r')], closeFds: true })).json<{ code: string; message: string; left: number }>()
  t.equal(reply.code, 'ERR_INVALID_ARG_VALUE')
  t.match(reply.message, /^The argument 'index' refers to fd \d+, a regular file: takeSocket\(\) wraps stream sockets and pipes only/)
  t.equal(reply.left, 1, 'still held by the request (closed when the handler settled: the leak check)')
})

leakTest(t, 'Reply.takeSocket and Reply.takeStream: a socket and a file the daemon sent back', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'data.txt')
  fs.writeFileSync(file, 'contents of a file the daemon opened')
  const [theirs, mine] = socketPairFds()
  const client = await startServer(t, (s) => {
    s.handle('socket', () => ({ body: 'a socket', fds: [theirs], closeFds: true }))
    s.handle('file', () => ({ body: 'a file', fds: [fs.openSync(file, 'r')], closeFds: true }))
  })
  const socketReply = await client.request('socket')
  const socket = socketReply.takeSocket()
  t.same(socketReply.fds, [], 'taken from the reply')
  // The reply closes what is left on the next turn of the loop: the socket must outlive that.
  await new Promise((resolve) => setImmediate(resolve))
  const ours = new net.Socket({ fd: mine })
  socket.end('to the daemon side')
  t.equal(await collect(ours), 'to the daemon side')
  if (!socket.closed) await once(socket, 'close')

  const fileReply = await client.request('file')
  const stream = fileReply.takeStream()
  t.ok(stream instanceof fs.ReadStream, 'a file open for reading: fs.ReadStream')
  t.equal(await collect(stream as fs.ReadStream), 'contents of a file the daemon opened')
  if (!stream.closed) await once(stream, 'close')
})

leakTest(t, 'WorkerPool: WorkerContext.takeSocket in the worker, PoolReply.takeStream in the pool', async (t) => {
  const pool = new WorkerPool({ script: path.join(fixtures, 'take-stream-worker.mjs'), size: 1 })
  await pool.start()
  try {
    const [r, w] = pipe()
    const reading = collect(fs.createReadStream('', { fd: r }))
    const reply = await pool.run('socket', Buffer.from(JSON.stringify({ text: 'from a worker, through a taken socket' })), { fds: [w], closeFds: true })
    t.same(JSON.parse(reply.body.toString()), { ok: true, left: 0 })
    t.equal(await reading, 'from a worker, through a taken socket')

    const file = path.join(tempDir(t), 'f')
    fs.writeFileSync(file, 'x')
    await t.rejects(pool.run('wrong', undefined, { fds: [fs.openSync(file, 'r')], closeFds: true }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^The argument 'index' refers to fd \d+, a regular file/,
    })

    const given = await pool.run('give', Buffer.from(JSON.stringify({ text: 'a pipe from the worker' })))
    t.equal(given.fds.length, 1)
    const stream = given.takeStream()
    t.ok(stream instanceof net.Socket, "a pipe's read end: net.Socket")
    t.equal((stream as net.Socket).writable, false)
    t.equal(await collect(stream as net.Socket), 'a pipe from the worker')
    if (!stream.closed) await once(stream, 'close')
    t.throws(() => given.takeFd(), { code: 'ERR_OUT_OF_RANGE' }, 'taken once')
    given.closeFds() // nothing left: a no-op
  } finally {
    await pool.close({ timeout: 2000 })
  }
})
