import { on, once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { socketPair, type Connection, type Message } from '../../src/index.js'
import { closed, leakTest, within } from '../helpers.js'

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

leakTest(t, 'a slow reader: send() reports backpressure, the queue stays bounded, drain fires', async (t) => {
  const highWaterMark = 256 * 1024
  const [a, b] = socketPair({ highWaterMark })
  const frameSize = 64 * 1024
  const total = 32 * 1024 * 1024
  const chunk = Buffer.alloc(frameSize, 7)
  let received = 0
  let maxQueued = 0
  let drains = 0
  a.on('drain', () => drains++)

  // The reader takes a break every 64 frames, so the writer keeps running into a full socket.
  const reader = (async () => {
    let frames = 0
    for await (const m of b) {
      received += m.payload.length
      if (++frames % 64 === 0) await sleep(2)
      if (received === total) break
    }
  })()

  let backpressured = 0
  for (let sent = 0; sent < total; sent += frameSize) {
    const ok = a.send(chunk)
    maxQueued = Math.max(maxQueued, a.writableLength)
    if (!ok) {
      backpressured++
      t.equal(a.writableNeedDrain, true)
      await once(a, 'drain')
    }
  }
  await reader
  t.equal(received, total, 'every byte arrived')
  t.ok(backpressured > 0, `send() returned false ${backpressured} times`)
  t.equal(drains, backpressured, "one 'drain' per false send()")
  t.ok(maxQueued < highWaterMark + frameSize, `queued bytes peaked at ${maxQueued} (< high-water mark + one frame)`)
  a.destroy()
  b.destroy()
})

leakTest(t, 'a reader that never consumes stops reading after maxQueuedMessages', async (t) => {
  const [a, b] = socketPair({ maxQueuedMessages: 8, highWaterMark: 64 * 1024 })
  const chunk = Buffer.alloc(16 * 1024)
  let sent = 0
  while (a.send(chunk)) sent++
  // With the reader paused by its own queue limit, the kernel buffer fills and backpressure
  // reaches the sender instead of memory growing without bound in the reader.
  t.ok(sent < 200, `sender was stopped after ${sent} frames`)
  await sleep(20)
  t.ok(a.writableLength > 0, 'bytes wait in the sender, not in the reader')
  let count = 0
  for await (const m of b) {
    t.equal(m.payload.length, chunk.length)
    if (++count === sent + 1) break
  }
  t.equal(count, sent + 1, 'everything arrives once consumed')
  a.destroy()
  b.destroy()
})

leakTest(t, 'end() flushes everything queued before the peer sees the end', async (t) => {
  const [a, b] = socketPair({ highWaterMark: 1 })
  const chunk = Buffer.alloc(256 * 1024, 3)
  for (let i = 0; i < 16; i++) a.send(chunk, { id: i })
  t.ok(a.writableLength > 0, 'some of it is queued')
  a.end()
  const ids: number[] = []
  for await (const m of b) ids.push(m.id)
  t.same(
    ids,
    Array.from({ length: 16 }, (_, i) => i),
  )
  t.equal(await closed(b), undefined, 'reader closes cleanly')
  t.equal(await closed(a), undefined, 'writer closes cleanly once both sides ended')
})

leakTest(t, 'destroy() closes both ends with one close event carrying the reason', async (t) => {
  const [a, b] = socketPair()
  let closes = 0
  a.on('close', () => closes++)
  const reason = new Error('shutting down')
  a.destroy(reason)
  a.destroy(new Error('again'))
  t.equal(await closed(a), reason)
  const peerReason = await closed(b)
  t.equal(peerReason, undefined, 'the peer sees a clean end')
  await sleep(5)
  t.equal(closes, 1, "exactly one 'close'")
})

leakTest(t, 'an iterator rejects with the reason when the connection fails', async (t) => {
  const [a, b] = socketPair({ maxFrameSize: 4 })
  a.send('too long for the reader')
  await t.rejects(
    (async () => {
      for await (const m of b) void m
    })(),
    { code: 'ERR_FDWIRE_FRAME_TOO_LARGE' },
  )
  a.destroy()
})

// Delivery starts with the first 'message' listener, however it is added, both for a message that
// is still in the socket and for one already read and queued while nobody listened.
const ways: [string, (connection: Connection) => Promise<Message>][] = [
  ['on', (c) => new Promise((resolve) => c.on('message', resolve))],
  ['addListener', (c) => new Promise((resolve) => c.addListener('message', resolve))],
  ['once', (c) => new Promise((resolve) => c.once('message', resolve))],
  ['prependListener', (c) => new Promise((resolve) => c.prependListener('message', resolve))],
  ['prependOnceListener', (c) => new Promise((resolve) => c.prependOnceListener('message', resolve))],
  ['events.once', async (c) => ((await once(c, 'message')) as [Message])[0]],
  ['events.on', async (c) => (await on(c, 'message')[Symbol.asyncIterator]().next()).value[0] as Message],
]
for (const [way, first] of ways) {
  for (const queued of [false, true]) {
    leakTest(t, `a 'message' listener added with ${way} gets a message ${queued ? 'read before it was added' : 'still in the socket'}`, async (t) => {
      const [a, b] = socketPair()
      a.send(Buffer.from(`via ${way}`))
      // Let b read it into its queue (it reads with no listener, up to maxQueuedMessages).
      if (queued) await sleep(50)
      const message = await within(first(b), `the message, via ${way}`, 10_000)
      t.equal(message.payload.toString(), `via ${way}`)
      a.destroy()
      b.destroy()
    })
  }
}
