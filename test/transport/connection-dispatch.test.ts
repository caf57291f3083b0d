// What a 'message' listener sends leaves when the batch of messages it handles is done: one
// sendmsg for all the replies to the requests that arrived together, however many they are.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t, { type Test } from 'tap'
import { listen, socketPair, type Connection, type Message } from '../../src/index.js'
import { HEADER_SIZE } from '../../src/wire.js'
import { aptInstall, exitCode, fixtures, leakTest, needs, node, tempDir, within } from '../helpers.js'

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

/** `count` messages of distinct payloads, sent corked: they leave in one write and arrive together. */
function sendBatch(connection: Connection, count: number, type: number): Buffer[] {
  const payloads = Array.from({ length: count }, (_, i) => Buffer.from(`request ${i} of type ${type}: ${'x'.repeat(i)}`))
  connection.cork()
  for (const [id, payload] of payloads.entries()) connection.send(payload, { id, type })
  connection.uncork()
  return payloads
}

/** Collects `count` messages; resolves with them once all came. */
function receive(connection: Connection, count: number): Promise<Message[]> {
  const messages: Message[] = []
  return new Promise((resolve) => {
    const onMessage = (m: Message) => {
      messages.push(m)
      if (messages.length === count) {
        connection.off('message', onMessage)
        resolve(messages)
      }
    }
    connection.on('message', onMessage)
  })
}

function checkReplies(t: Test, replies: Message[], payloads: Buffer[], type: number): void {
  t.same(
    replies.map((m) => m.id),
    payloads.map((_, i) => i),
    'every reply, in order',
  )
  t.ok(
    replies.every((m) => m.type === type && m.payload.equals(Buffer.from(payloads[m.id]!).reverse())),
    'each reply carries its request reversed, byte for byte',
  )
}

leakTest(t, "a listener's sends are held back until the batch is handled, then written", async (t) => {
  const [a, b] = socketPair()
  const held: number[] = []
  b.on('message', (m) => {
    b.send(Buffer.from(m.payload).reverse(), { id: m.id, type: m.type })
    held.push(b.writableLength)
  })
  const payloads = sendBatch(a, 16, 1)
  const replies = await within(receive(a, 16), 'the replies')
  checkReplies(t, replies, payloads, 1)
  t.ok(
    held.every((bytes, i) => i === 0 || bytes > held[i - 1]!),
    `while the listener ran, its replies queued up (${held.join(', ')} bytes)`,
  )
  t.equal(b.writableLength, 0, 'and left once it was done')
  a.destroy()
  b.destroy()
})

leakTest(t, 'a message that arrives alone: what its listener sends leaves at once', async (t) => {
  const [a, b] = socketPair()
  let queued = -1
  b.once('message', (m) => {
    b.send('at once', { id: m.id })
    queued = b.writableLength
  })
  a.send('one request in flight', { id: 3 })
  const [reply] = (await within(once(a, 'message'), 'the reply')) as [Message]
  t.equal(reply.payload.toString(), 'at once')
  t.equal(queued, 0, 'the kernel had the reply before send() returned')
  a.destroy()
  b.destroy()
})

leakTest(t, 'replies from a microtask of the listener join the batch; send() then end() flushes before the half-close', async (t) => {
  const [a, b] = socketPair()
  let handled = 0
  b.on('message', async (m) => {
    await null
    const last = ++handled === 8
    if (last) b.end(Buffer.from(m.payload).reverse(), { id: m.id, type: m.type })
    else b.send(Buffer.from(m.payload).reverse(), { id: m.id, type: m.type })
  })
  const payloads = sendBatch(a, 8, 2)
  const replies: Message[] = []
  for await (const m of a) replies.push(m)
  checkReplies(t, replies, payloads, 2)
  t.equal(a.closeReason, undefined, 'the peer ended cleanly after the last reply')
  a.destroy()
  await within(once(b, 'close'), 'b closes')
})

leakTest(t, 'a listener that sends then destroys, or sends then detaches, loses nothing', async (t) => {
  const [a, b] = socketPair()
  b.once('message', (m) => {
    b.send('goodbye', { id: m.id })
    b.destroy()
  })
  a.send('hello', { id: 7 })
  const [reply] = (await within(once(a, 'message'), 'the reply before the close')) as [Message]
  t.equal(reply.payload.toString(), 'goodbye')
  t.equal(reply.id, 7)
  await within(once(a, 'close'), 'a sees the close')

  const [c, d] = socketPair()
  let detached = -1
  d.once('message', (m) => {
    d.send('handing over', { id: m.id })
    detached = d.detach()
  })
  c.send('take it')
  const [handover] = (await within(once(c, 'message'), 'the reply sent before detach()')) as [Message]
  t.equal(handover.payload.toString(), 'handing over')
  t.ok(detached >= 0, `detach() after a send in the listener gave the fd back (${detached})`)
  fs.closeSync(detached)
  c.destroy()
})

leakTest(t, 'detach() after a send that can no longer be written throws that error and detaches nothing', async (t) => {
  const [a, b] = socketPair()
  let error: NodeJS.ErrnoException | undefined
  let seen = 0
  b.on('message', () => {
    if (++seen < 2) return
    b.send('too late')
    a.destroy() // the peer is gone before the batch's sends are written
    try {
      b.detach()
    } catch (e) {
      error = e as NodeJS.ErrnoException
    }
  })
  sendBatch(a, 2, 0)
  const [reason] = (await within(once(b, 'close'), 'b closes')) as [Error | undefined]
  t.match(error, { syscall: 'sendmsg', code: /^(EPIPE|ECONNRESET)$/ }, `the write's own error (${error?.code})`)
  t.ok(b.fd === -1 && reason !== undefined, 'the connection was not detached: it closed, with a reason')
})

leakTest(t, "a listener that corks keeps its cork; a listener's backpressure gets its 'drain'", async (t) => {
  const [a, b] = socketPair({ highWaterMark: 1024 })
  b.once('message', (m) => {
    b.cork()
    b.send('one', { id: m.id })
    setImmediate(() => {
      t.ok(b.writableLength > 0, 'still held after the batch: the listener corked')
      b.send('two', { id: m.id })
      b.uncork()
    })
  })
  a.send('go')
  const [one, two] = await within(receive(a, 2), 'both replies after uncork()')
  t.same([one!.payload.toString(), two!.payload.toString()], ['one', 'two'])

  const drained = once(b, 'drain')
  const results: boolean[] = []
  b.on('message', () => results.push(b.send(Buffer.alloc(4096, 1))))
  sendBatch(a, 2, 0)
  await within(drained, "'drain' after a listener went over highWaterMark")
  t.same(results, [false, false], 'send() in the listeners of a batch reported backpressure')
  const bigs = await within(receive(a, 2), 'the big replies')
  t.same(
    bigs.map((m) => m.payload.length),
    [4096, 4096],
  )
  a.destroy()
  b.destroy()
})

// The point of it, counted: the peer process runs under strace, and every sendmsg it makes shows.
leakTest(t, 'a peer process answers a batch of 32 requests with one sendmsg (strace)', async (t) => {
  const strace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0
  if (!needs(t, strace ? undefined : 'strace is not installed', aptInstall('strace'))) return
  const dir = tempDir(t)
  const socket = path.join(dir, 'batch.sock')
  const trace = path.join(dir, 'trace')
  const listener = listen(socket)
  const child = spawn('strace', ['-f', '-qq', '-e', 'trace=sendmsg', '-o', trace, ...node, path.join(fixtures, 'batch-peer.mjs'), socket], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const [connection] = (await within(once(listener, 'connection'), 'the peer connects')) as [Connection]
  listener.close()

  // strace writes a call's line after the call returns, possibly after its bytes reached us: the
  // trace is read once strace itself has exited.
  const batches: number[] = []
  for (const type of [1, 2, 3]) {
    const count = type === 3 ? 1 : 32
    const payloads = sendBatch(connection, count, type)
    checkReplies(t, await within(receive(connection, count), `replies of type ${type}`), payloads, type)
    batches.push(payloads.reduce((bytes, p) => bytes + HEADER_SIZE + p.length, 0))
  }
  await within(once(connection, 'close'), 'the peer closed after its last reply')
  t.equal(await within(exitCode(child), 'strace exits'), 0, 'the peer exited cleanly')
  const sent = fs
    .readFileSync(trace, 'utf8')
    .split('\n')
    .filter((line) => line.includes('sendmsg('))
    .map((line) => Number(/= (-?\d+)/.exec(line)?.[1]))
  t.same(sent, batches, `one sendmsg per batch: 32 replies from the listener, 32 after an await, 1 before destroy() (${batches.join(', ')} bytes)`)
})
