// Errors on a Server's connections: a handler's error as the caller's RemoteError and as the
// 'handlerError' event, an unknown method, and a malformed message or wrong protocol version.
import t from 'tap'
import { connect, protocol, RemoteError, type Message } from '../../src/index.js'
import { cleanup, closed, leakTest, within } from '../helpers.js'
import { client, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

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
