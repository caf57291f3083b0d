/**
 * The message layer's rules as docs/protocol.md states them (section 2: the header's `type` and
 * `id`; section 6: Hello, who sends which message, replies, Cancel, strings), checked on the
 * wire against a Server (with a raw client) and a Client (with a raw daemon). The "who sends
 * which message" test reads its table from the doc, so the doc and the behaviour cannot drift.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { once } from 'node:events'
import t from 'tap'
import { Client, connect, listen, protocol, Server, type Connection, type Message, type ServerOptions } from '../../src/index.js'
import { cleanup, closed, leakTest, root, tempDir, until, within } from '../helpers.js'

type Test = Parameters<Parameters<typeof leakTest>[2]>[0]
type Envelope = ReturnType<typeof protocol.readEnvelope>

/** A received frame: header fields and the envelope read from its payload. */
interface Received {
  id: number
  type: number
  envelope: Envelope
}

async function startServer(t: Test, options: Partial<ServerOptions> = {}, setup?: (server: Server) => void): Promise<Server> {
  const server = new Server({ runtimeDir: path.join(tempDir(t), 'run'), handleSignals: false, ...options })
  setup?.(server)
  await server.listen()
  cleanup(t, () => void server.close())
  return server
}

/** A bare connection to `server` that decodes every frame it receives (type-0 frames only). */
async function rawClient(t: Test, server: Server): Promise<{ conn: Connection; got: Received[] }> {
  const conn = await connect(server.socketPath)
  cleanup(t, () => conn.destroy())
  const got: Received[] = []
  conn.on('message', (m: Message) => got.push({ id: m.id, type: m.type, envelope: protocol.readEnvelope(Buffer.from(m.payload)) }))
  return { conn, got }
}

/**
 * A daemon that is not a Server: on each connection it says hello (`greet`, by default a Hello
 * in a type-0 frame) and hands every received frame to `onFrame`, which answers as the test wants.
 */
function rawDaemon(
  t: Test,
  onFrame: (conn: Connection, message: Message, envelope: Envelope) => void,
  greet: (conn: Connection) => void = (conn) => void conn.send(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'raw'), { type: 0 }),
): { socketPath: string; seen: Received[] } {
  const socketPath = path.join(tempDir(t), 'raw.sock')
  const listener = listen(socketPath)
  const seen: Received[] = []
  const conns: Connection[] = []
  listener.on('connection', (conn: Connection) => {
    conns.push(conn)
    greet(conn)
    conn.on('message', (m: Message) => {
      const envelope = protocol.readEnvelope(Buffer.from(m.payload))
      seen.push({ id: m.id, type: m.type, envelope })
      onFrame(conn, m, envelope)
    })
  })
  cleanup(t, () => {
    listener.close()
    for (const conn of conns) conn.destroy()
  })
  return { socketPath, seen }
}

const kinds = (got: Received[]) => got.map((r) => r.envelope.kind)
const errorOf = (e: Envelope | undefined) =>
  e?.kind === 'response' || e?.kind === 'streamEnd' ? { status: e.status, code: e.error?.code, message: e.error?.message } : undefined

leakTest(t, "frame header: fdwire writes the envelope's id in `id` and never reads it", async (t) => {
  const server = await startServer(t, {}, (s) => {
    s.handle('echo', (request) => request.body)
    s.handleStream('count', function* () {
      yield 'a'
      yield 'b'
    })
  })
  const { conn, got } = await rawClient(t, server)
  conn.send(Buffer.from(protocol.encodeRequest(5, 'echo', Buffer.from('x'))), { id: 999, type: 0 })
  conn.send(Buffer.from(protocol.encodeRequest(6, 'count')), { id: 0, type: 0 })
  t.ok(await until(() => got.length === 5), 'hello, a response, two items and a stream end')
  t.same(
    got.map((r) => [r.envelope.kind, r.id, 'id' in r.envelope ? r.envelope.id : 0]),
    [
      ['hello', 0, 0],
      ['response', 5, 5],
      ['streamItem', 6, 6],
      ['streamItem', 6, 6],
      ['streamEnd', 6, 6],
    ],
    "the Server's header ids are the envelope ids (0 for its Hello), whatever header id the request had",
  )

  // A Client: its Hello goes with header id 0, its request with the request's id; a reply whose
  // header id differs from its envelope id is matched by the envelope id.
  const daemon = rawDaemon(t, (c, _m, e) => {
    if (e.kind === 'request') c.send(Buffer.from(protocol.encodeResponse(e.id, { body: Buffer.from('matched') })), { id: 4242, type: 0 })
  })
  const client = await Client.connect(daemon.socketPath)
  cleanup(t, () => client.destroy())
  t.equal((await client.request('anything')).text(), 'matched')
  t.same(
    daemon.seen.map((r) => [r.envelope.kind, r.id]),
    [
      ['hello', 0],
      ['request', 1],
    ],
  )
})

leakTest(t, 'frame type: a Server answers a frame of any type but 0 with an id-0 ERR_FDWIRE_MALFORMED and ends the connection', async (t) => {
  let called = 0
  const server = await startServer(t, {}, (s) => s.handle('echo', () => void called++))
  const { conn, got } = await rawClient(t, server)
  conn.send(Buffer.from(protocol.encodeRequest(1, 'echo')), { id: 1, type: 7 })
  await within(closed(conn), 'the Server ending the connection')
  t.same(kinds(got), ['hello', 'response'])
  t.match(got[1]!.envelope, { kind: 'response', id: 0, ok: false })
  t.same(errorOf(got[1]!.envelope), {
    status: protocol.Status.Error,
    code: 'ERR_FDWIRE_MALFORMED',
    message: 'malformed message from client: frame type 7 is not an fdwire envelope',
  })
  t.equal(called, 0, 'the request in it was not run')
})

leakTest(t, 'frame type: a Client closes the connection with ERR_FDWIRE_MALFORMED on a frame of any type but 0', async (t) => {
  // A perfectly good Response, in a frame of type 7.
  const daemon = rawDaemon(t, (c, _m, e) => {
    if (e.kind === 'request') c.send(Buffer.from(protocol.encodeResponse(e.id, { body: Buffer.from('x') })), { id: e.id, type: 7 })
  })
  const client = await Client.connect(daemon.socketPath)
  cleanup(t, () => client.destroy())
  const closing = once(client, 'close') as Promise<[Error | undefined]>
  await t.rejects(client.request('anything'), { code: 'ERR_FDWIRE_CLOSED', message: /frame type 7 is not an fdwire envelope/ })
  const [reason] = await within(closing, 'the Client closing').catch((error: Error) => [error])
  t.match(reason, { code: 'ERR_FDWIRE_MALFORMED', message: 'frame type 7 is not an fdwire envelope' })

  // And its Hello, in a frame of type 3: the handshake fails.
  const other = rawDaemon(
    t,
    () => {},
    (conn) => void conn.send(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'raw'), { type: 3 }),
  )
  const connecting = Client.connect(other.socketPath)
  void connecting.then(
    (c) => cleanup(t, () => c.destroy()),
    () => {},
  )
  await t.rejects(connecting, { code: 'ERR_FDWIRE_MALFORMED', message: 'frame type 3 is not an fdwire envelope' })
})

/** The rows of the table under "### Who sends which message" in docs/protocol.md. */
function directionTable(): { message: string; sender: string; otherwise: string }[] {
  const doc = fs.readFileSync(path.join(root, 'docs', 'protocol.md'), 'utf8')
  const start = doc.indexOf('### Who sends which message')
  if (start < 0) return []
  const rows: { message: string; sender: string; otherwise: string }[] = []
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break
    const m = /^\| `(\w+)` \| (\w+) \| (.*) \|$/.exec(line)
    if (m) rows.push({ message: m[1]!, sender: m[2]!, otherwise: m[3]! })
  }
  return rows
}

const encoders: Record<string, { kind: string; bytes: () => Uint8Array }> = {
  Hello: { kind: 'hello', bytes: () => protocol.encodeHello(protocol.PROTOCOL_VERSION, 'again') },
  Request: { kind: 'request', bytes: () => protocol.encodeRequest(9, 'svc.call') },
  Cancel: { kind: 'cancel', bytes: () => protocol.encodeCancel(9, 'why') },
  Response: { kind: 'response', bytes: () => protocol.encodeResponse(9, { body: Buffer.from('x') }) },
  StreamItem: { kind: 'streamItem', bytes: () => protocol.encodeStreamItem(9, 0, Buffer.from('x')) },
  StreamEnd: { kind: 'streamEnd', bytes: () => protocol.encodeStreamEnd(9) },
}

leakTest(t, 'who sends which message: what the table in docs/protocol.md section 6 says', async (t) => {
  const table = directionTable()
  t.same(table.map((r) => r.message).sort(), Object.keys(encoders).sort(), 'the table has one row per message of the union')
  for (const { message, sender, otherwise } of table) {
    const { kind, bytes } = encoders[message]!
    if (sender === 'both') {
      // From a client, to a Server: taken, and the connection goes on.
      const server = await startServer(t, {}, (s) => s.handle('echo', (request) => request.body))
      const { conn, got } = await rawClient(t, server)
      conn.send(Buffer.from(bytes()), { type: 0 })
      conn.send(Buffer.from(protocol.encodeRequest(1, 'echo', Buffer.from('on'))), { id: 1, type: 0 })
      t.ok(await until(() => got.length === 2), `${message} from a client`)
      t.same([kinds(got), got[1]!.envelope.kind === 'response' && got[1]!.envelope.ok], [['hello', 'response'], true], `${message} from a client: served`)
      // From a daemon, to a Client (after its first): ignored.
      const daemon = rawDaemon(t, (c, _m, e) => {
        if (e.kind !== 'request') return
        c.send(Buffer.from(bytes()), { type: 0 })
        c.send(Buffer.from(protocol.encodeResponse(e.id, { body: Buffer.from('still') })), { id: e.id, type: 0 })
      })
      const client = await Client.connect(daemon.socketPath)
      cleanup(t, () => client.destroy())
      t.equal((await client.request('x')).text(), 'still', `${message} from a daemon: ignored by a Client`)
      continue
    }
    t.match(otherwise, /ERR_FDWIRE_MALFORMED/, `${message}: the doc names the error`)
    if (sender === 'client') {
      // A daemon sending a client's message: the Client closes the connection.
      const daemon = rawDaemon(t, (c, _m, e) => {
        if (e.kind === 'request') c.send(Buffer.from(bytes()), { id: 9, type: 0 })
      })
      const client = await Client.connect(daemon.socketPath)
      cleanup(t, () => client.destroy())
      const closing = once(client, 'close') as Promise<[Error | undefined]>
      await t.rejects(within(client.request('x'), 'the request failing'), { code: 'ERR_FDWIRE_CLOSED' }, `${message} from a daemon: the request fails`)
      const [reason] = await within(closing, 'the Client closing').catch((error: Error) => [error])
      t.match(reason, { code: 'ERR_FDWIRE_MALFORMED', message: `a daemon may not send ${kind} messages` }, `${message} from a daemon: the Client closes`)
    } else if (sender === 'daemon') {
      // A client sending a daemon's message: one id-0 refusal, then the end.
      const server = await startServer(t)
      const { conn, got } = await rawClient(t, server)
      conn.send(Buffer.from(bytes()), { id: 9, type: 0 })
      await within(closed(conn), 'the Server ending the connection')
      t.same(kinds(got), ['hello', 'response'], `${message} from a client`)
      t.match(got[1]!.envelope, { kind: 'response', id: 0, ok: false })
      t.same(
        errorOf(got[1]!.envelope),
        {
          status: protocol.Status.Error,
          code: 'ERR_FDWIRE_MALFORMED',
          message: `malformed message from client: a client may not send ${kind} messages`,
        },
        `${message} from a client: refused, connection ended`,
      )
    } else t.fail(`unknown sender ${JSON.stringify(sender)} for ${message}`)
  }
})

leakTest(t, "Hello: a client's is optional, taken whenever it comes; a version other than PROTOCOL_VERSION is refused", async (t) => {
  const server = await startServer(t, {}, (s) => s.handle('big', () => Buffer.alloc(8192, 1)))
  const { conn, got } = await rawClient(t, server)
  // No Hello: served.
  conn.send(Buffer.from(protocol.encodeRequest(1, 'big')), { id: 1, type: 0 })
  t.ok(await until(() => got.length === 2))
  t.match(got[1]!.envelope, { kind: 'response', id: 1, ok: true }, 'a request without a Hello is answered')
  // A Hello now, stating a 4 KiB limit: the daemon takes it, and keeps to it.
  conn.send(Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, 'late', 4096)), { type: 0 })
  conn.send(Buffer.from(protocol.encodeRequest(2, 'big')), { id: 2, type: 0 })
  t.ok(await until(() => got.length === 3))
  t.same(errorOf(got[2]!.envelope)?.code, 'ERR_FDWIRE_FRAME_TOO_LARGE', "a later Hello's max_frame_size applies from then on")
  t.notOk(conn.closed, 'and the connection goes on')

  for (const version of [0, protocol.PROTOCOL_VERSION + 1]) {
    const raw = await rawClient(t, server)
    raw.conn.send(Buffer.from(protocol.encodeHello(version, '')), { type: 0 })
    await within(closed(raw.conn), 'the Server ending the connection')
    t.same(kinds(raw.got), ['hello', 'response'])
    t.match(raw.got[1]!.envelope, { kind: 'response', id: 0, ok: false })
    t.equal(errorOf(raw.got[1]!.envelope)?.code, 'ERR_FDWIRE_PROTOCOL_VERSION', `protocol_version ${version} (0: absent) is refused`)
  }
})

leakTest(t, 'Cancel: the reply is Error + ERR_FDWIRE_CANCELLED, never Status.Cancelled; a Cancel of nothing is ignored', async (t) => {
  const started = new Set<string>()
  const server = await startServer(t, {}, (s) => {
    s.handle('hang', async (request) => {
      started.add('hang')
      await once(request.signal, 'abort')
      request.signal.throwIfAborted()
    })
    s.handle('stubborn', async (request) => {
      started.add('stubborn')
      await once(request.signal, 'abort')
      return 'done anyway'
    })
    s.handleStream('forever', async function* () {
      for (;;) {
        yield 'tick'
        await new Promise((resolve) => setImmediate(resolve))
      }
    })
    s.handle('echo', (request) => request.body)
  })
  const { conn, got } = await rawClient(t, server)
  const send = (bytes: Uint8Array, id: number) => conn.send(Buffer.from(bytes), { id, type: 0 })
  send(protocol.encodeRequest(1, 'hang'), 1)
  send(protocol.encodeRequest(2, 'stubborn'), 2)
  send(protocol.encodeRequest(3, 'forever'), 3)
  t.ok(await until(() => started.size === 2 && got.some((r) => r.envelope.kind === 'streamItem')), 'all three running')
  send(protocol.encodeCancel(77, 'nothing runs as 77'), 77)
  send(protocol.encodeCancel(1, 'stop it'), 1)
  send(protocol.encodeCancel(2, 'stop it too'), 2)
  send(protocol.encodeCancel(3, ''), 3)
  const ended = (id: number) => got.find((r) => (r.envelope.kind === 'response' || r.envelope.kind === 'streamEnd') && r.envelope.id === id)
  t.ok(await until(() => [1, 2, 3].every((id) => ended(id) !== undefined)), 'each request still ends with its reply')
  t.same(errorOf(ended(1)!.envelope), { status: protocol.Status.Error, code: 'ERR_FDWIRE_CANCELLED', message: 'stop it' }, 'a handler that gives up')
  t.match(ended(2)!.envelope, { kind: 'response', ok: true }, 'a handler that finishes anyway: its ordinary reply')
  t.same(
    errorOf(ended(3)!.envelope),
    { status: protocol.Status.Error, code: 'ERR_FDWIRE_CANCELLED', message: 'cancelled by the client' },
    'a stream: StreamEnd',
  )
  send(protocol.encodeRequest(4, 'echo', Buffer.from('after')), 4)
  t.ok(await until(() => ended(4) !== undefined))
  t.notOk(conn.closed, 'the Cancel of id 77 was ignored: the connection goes on')
  t.notOk(
    got.some((r) => errorOf(r.envelope)?.status === protocol.Status.Cancelled),
    'Status.Cancelled was never sent',
  )
  t.same(
    got
      .filter((r) => r.envelope.kind === 'response' || r.envelope.kind === 'streamEnd')
      .map((r) => 'id' in r.envelope && r.envelope.id)
      .sort(),
    [1, 2, 3, 4],
    'nothing answered the Cancels themselves',
  )
})

leakTest(t, 'strings are read as UTF-8: bytes that are not UTF-8 read as U+FFFD', async (t) => {
  const reasons: string[] = []
  const server = await startServer(t, {}, (s) => {
    s.handle('caf\uFFFD', async (request) => {
      if (request.body.length === 0) return 'matched after decoding'
      await once(request.signal, 'abort')
      reasons.push((request.signal.reason as Error).message)
      return undefined
    })
  })
  const { conn, got } = await rawClient(t, server)
  /** A Request whose method is `caf` + 0xE9 (Latin-1 é, not UTF-8). */
  const latin1 = (id: number, body?: Buffer): Buffer => {
    const bytes = Buffer.from(protocol.encodeRequest(id, 'caf?', body))
    bytes[bytes.indexOf('caf?') + 3] = 0xe9
    return bytes
  }
  conn.send(latin1(1), { id: 1, type: 0 })
  t.ok(await until(() => got.length === 2))
  t.match(got[1]!.envelope, { kind: 'response', id: 1, ok: true }, 'method caf\\xE9 reads as caf\\uFFFD and finds that handler')
  conn.send(latin1(2, Buffer.from('wait')), { id: 2, type: 0 })
  conn.send(Buffer.from(protocol.encodeCancel(2, Buffer.from([0x6e, 0x6f, 0xff]))), { id: 2, type: 0 })
  t.ok(await until(() => reasons.length === 1))
  t.same(reasons, ['no\uFFFD'], 'Cancel.reason')
  // A Client reads a daemon's strings the same way.
  const daemon = rawDaemon(
    t,
    () => {},
    (c) => void c.send(Buffer.from(protocol.encodeHello(protocol.PROTOCOL_VERSION, Buffer.from([0x76, 0x31, 0xc3]))), { type: 0 }),
  )
  const client = await Client.connect(daemon.socketPath)
  cleanup(t, () => client.destroy())
  t.equal(client.daemon.buildId, 'v1\uFFFD', 'Hello.build_id: a truncated UTF-8 sequence reads as U+FFFD')
})
