// Cancelling requests: an AbortSignal or a timeout aborts the daemon's handler, and requests made
// or aborted while the client is closing settle and leave nothing behind.
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { leakTest, until, within } from '../helpers.js'
import { client, gate, openLazyFds, startServer } from './lib.js'

t.before(openLazyFds)

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
