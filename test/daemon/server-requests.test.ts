// Requests and replies between a Server and its clients: many in flight at once, a reply that ends
// the connection, and a request that arrives with the connection (answered with the Hello).
import t from 'tap'
import { Connection, protocol, type Message } from '../../src/index.js'
import { native } from '../../src/binding.js'
import { cleanup, frameHeader, leakTest, until, within } from '../helpers.js'
import { client, gate, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

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
