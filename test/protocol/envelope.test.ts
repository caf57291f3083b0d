// The envelope: encoding every message kind, reading it back through verified zero-copy views, and the encoder's reuse and argument rules.
import * as flatbuffers from 'flatbuffers'
import t from 'tap'
import { FdwireError } from '../../src/errors.js'
import { Encoder, Status, StringCache, encodeRequest, readEnvelope } from '../../src/protocol/index.js'
import { asReceived, encodeJob, fixtureFinishedAt, readJob, readJobResult, Stream, validMessages } from './fixtures.js'

t.test('a request reads back from a view inside a larger buffer, body as a zero-copy view', async (t) => {
  const body = Buffer.from([1, 2, 3, 4, 5])
  const view = asReceived(new Encoder().request(0xfffffffe, 'files.read', body))
  const m = readEnvelope(view)
  t.equal(m.kind, 'request')
  if (m.kind !== 'request') return
  t.equal(m.id, 0xfffffffe)
  t.equal(m.method, 'files.read')
  t.same(Buffer.from(m.methodBytes).toString(), 'files.read')
  const b = m.body!
  t.same([...b], [1, 2, 3, 4, 5])
  t.equal(b.buffer, view.buffer, 'body shares memory with the payload')
  t.equal((b.byteOffset - view.byteOffset) % 8, 0, 'body is 8-aligned within the message')
  view[b.byteOffset - view.byteOffset] = 99
  t.equal(m.body![0], 99, 'body reads the payload in place')
})

t.test('every message kind reads back its fields', async (t) => {
  const got = validMessages().map(({ bytes }) => readEnvelope(asReceived(bytes)))
  const [hello, req, bare, ok, err, item, end, cancel] = got
  t.ok(hello?.kind === 'hello' && hello.protocolVersion === 1 && hello.buildId === 'fdwire 0.1.0 (abc123)')
  t.ok(req?.kind === 'request' && req.id === 42 && req.method === 'jobs.run' && req.body !== null)
  t.ok(bare?.kind === 'request' && bare.body === null)
  t.ok(ok?.kind === 'response' && ok.ok && ok.status === Status.Ok && ok.error === null)
  if (ok?.kind === 'response') t.same(readJobResult(ok.body!), { exitCode: 3, signal: 0, finishedAt: fixtureFinishedAt })
  t.ok(err?.kind === 'response' && !err.ok && err.status === Status.Error)
  if (err?.kind === 'response') t.same(err.error, { code: 'ENOENT', message: 'no such file: ünïcode' })
  t.ok(item?.kind === 'streamItem' && item.id === 5 && item.seq === 9)
  if (item?.kind === 'streamItem') t.equal(Buffer.from(item.body!).toString(), 'chunk of output\n')
  t.ok(end?.kind === 'streamEnd' && end.status === Status.Error && end.error?.code === 'E')
  t.ok(cancel?.kind === 'cancel' && cancel.id === 5 && cancel.reason === 'user pressed ^C')
})

t.test('the encoder reuses its builder: the previous view is overwritten', async (t) => {
  const enc = new Encoder()
  const first = enc.request(1, 'a.method')
  const copy = Buffer.from(first)
  enc.request(2, 'b.other')
  t.notSame(Buffer.from(first), copy)
  const m = readEnvelope(copy)
  t.ok(m.kind === 'request' && m.id === 1 && m.method === 'a.method')
})

t.test('usage errors name the argument', async (t) => {
  t.throws(() => encodeRequest(-1, 'x'), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /"id".*>= 0 && <= 4294967295\. Received -1/ })
  t.throws(() => encodeRequest(1.5, 'x'), { code: 'ERR_OUT_OF_RANGE', message: /"id".*an integer/ })
  t.throws(() => encodeRequest(1, ''), { code: 'ERR_INVALID_ARG_VALUE', message: /'method'/ })
  t.throws(() => encodeRequest(1, 'x', 'nope' as unknown as Uint8Array), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"body" argument must be an instance of Uint8Array/,
  })
  t.throws(() => readEnvelope('x' as unknown as Uint8Array), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' })
})

t.test('garbage is ERR_FDWIRE_MALFORMED, not zeros', async (t) => {
  for (const bad of [Buffer.alloc(0), Buffer.alloc(3), Buffer.alloc(64), Buffer.from('{"json":true}')]) {
    t.throws(() => readEnvelope(bad), FdwireError, `rejected: ${bad.length} bytes`)
    t.throws(() => readEnvelope(bad), { code: 'ERR_FDWIRE_MALFORMED' })
  }
})

t.test('an application body round-trips, with and without a string cache', async (t) => {
  const cache = new StringCache()
  const init = {
    name: 'build',
    argv: ['cc', '-c', 'x.c'],
    priority: -2,
    tags: [0, 255],
    owner: { uid: 0, name: 'root' },
    env: ['PATH=/bin', 'HOME=/root', 'Ü=ÿ'],
    streams: [Stream.Stdin, Stream.Stderr],
  }
  for (const c of [undefined, cache, cache]) {
    const x = readJob(asReceived(encodeJob(init, c)))
    t.equal(x.name, 'build')
    t.same(x.argv, init.argv)
    t.equal(x.priority, -2, 'a negative int32 is kept')
    t.same(x.tags, [0, 255])
    t.same(x.owner, { uid: 0, name: 'root' }, 'a nested table, uid 0 (absent) read as its default')
    t.same(x.env, init.env)
    t.same(x.streams, [0, 2])
  }
  t.equal(cache.size, 4, 'env entries and name cached once')
  const plain = readJob(encodeJob({ name: 'x' }))
  t.same(plain, { name: 'x', argv: [], priority: 0, tags: [], owner: null, env: [], streams: [] }, 'absent fields: their defaults')
  const nameless = new flatbuffers.Builder()
  nameless.startObject(7) // what the generated endJob refuses to finish: a Job without its required name
  nameless.finish(nameless.endObject(), 'JOB1')
  t.throws(() => readJob(nameless.asUint8Array()), { code: 'ERR_FDWIRE_MALFORMED', message: /: name is required$/ }, 'the reader verifies first')
})

t.test('a reused encoder writes the same bytes as a fresh one (padding never leaks old bytes)', async (t) => {
  const enc = new Encoder(64)
  const long = { code: 'E'.repeat(41), message: 'x'.repeat(300) }
  const cases: [string, (e: Encoder) => Uint8Array][] = [
    ['response', (e) => e.response(9, { error: { code: 'EIO', message: 'ü' }, body: Buffer.from('abc') })],
    ['streamEnd', (e) => e.streamEnd(9, { status: Status.Cancelled })],
    ['request', (e) => e.request(3, 'a.b', Buffer.alloc(5, 7))],
    ['hello', (e) => e.hello(1, 'b')],
    ['cancel', (e) => e.cancel(2, 'r')],
    ['streamItem', (e) => e.streamItem(1, 2, Buffer.alloc(0))],
  ]
  for (const [name, encode] of cases) {
    enc.response(1, { error: long, body: Buffer.alloc(999, 0xff) }) // dirty the buffer
    t.same(Buffer.from(encode(enc)), Buffer.from(encode(new Encoder())), name)
  }
})

t.test("an encoder's own earlier result can be passed back as a body", async (t) => {
  const enc = new Encoder()
  const inner = enc.request(1, 'inner')
  const outer = readEnvelope(Buffer.from(enc.streamItem(2, 0, inner)))
  t.ok(outer.kind === 'streamItem')
  if (outer.kind !== 'streamItem') return
  const m = readEnvelope(Buffer.from(outer.body!))
  t.ok(m.kind === 'request' && m.id === 1 && m.method === 'inner')
})

t.test('status and errors encode as given', async (t) => {
  const enc = new Encoder()
  const m = readEnvelope(Buffer.from(enc.response(7, { status: Status.Cancelled })))
  t.ok(m.kind === 'response' && m.status === Status.Cancelled && m.error === null && m.body === null)
  const e = readEnvelope(Buffer.from(enc.streamEnd(7, { error: { code: 'ERR_X', message: 'naïve ☃ 𝄞' } })))
  t.ok(e.kind === 'streamEnd' && e.status === Status.Error)
  if (e.kind === 'streamEnd') t.same(e.error, { code: 'ERR_X', message: 'naïve ☃ 𝄞' })
  t.throws(() => enc.response(1, { status: 7 as Status }), RangeError)
  t.throws(() => enc.response(1, { error: { code: 1 } as unknown as { code: string; message: string } }), TypeError)
  const c = readEnvelope(Buffer.from(enc.cancel(4)))
  t.ok(c.kind === 'cancel' && c.id === 4 && c.reason === '')
})
