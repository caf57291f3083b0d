import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import * as path from 'node:path'
import t from 'tap'
import { socketPair } from '../../src/index.js'
import { fixtures, leakTest } from '../helpers.js'

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

leakTest(t, 'works inside a worker thread', async (t) => {
  const worker = new Worker(path.join(fixtures, 'worker-echo.mjs'), { workerData: { mode: 'roundtrip' } })
  const [result] = await once(worker, 'message')
  t.same(result, { received: ['one', 'two', 'three'], fds: 2 })
  await once(worker, 'exit')
})

leakTest(t, 'terminating a worker with open connections closes their fds and does not crash', async (t) => {
  const worker = new Worker(path.join(fixtures, 'worker-echo.mjs'), { workerData: { mode: 'hang' } })
  const [ready] = await once(worker, 'message')
  t.equal(ready, 'open', 'the worker holds connections, a listener-less pair and queued fds')
  await worker.terminate()
})
