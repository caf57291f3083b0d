// Streaming methods: items as async iterators, a stream cancelled by breaking out early, and
// stream() and request() each used on the other kind of method.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { leakTest, until, within } from '../helpers.js'
import { client, gate, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

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
