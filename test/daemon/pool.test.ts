import * as fs from 'node:fs'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { WorkerPool, type PoolReply, type WorkerExitInfo } from '../../src/daemon/pool.js'
import { Connection, closeFd, pipe, socketPair, socketPairFds } from '../../src/transport/index.js'
import { alive, cleanup, fixtures, leakTest, until } from '../helpers.js'

const script = path.join(fixtures, 'pool-worker.mjs')
const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const parse = (reply: PoolReply) => JSON.parse(reply.body.toString()) as Record<string, unknown> & { pid: number }

type T = Parameters<Parameters<typeof leakTest>[2]>[0]
type Options = Partial<ConstructorParameters<typeof WorkerPool>[0]>

/** Runs `fn` with a started pool, then closes it (workers reaped) before the leak check. */
function poolTest(name: string, options: Options, fn: (t: T, pool: WorkerPool) => Promise<void>): void {
  leakTest(t, name, async (t) => {
    const pool = new WorkerPool({ script, ...options })
    await pool.start()
    try {
      await fn(t, pool)
    } finally {
      await pool.close({ timeout: 2000 })
    }
  })
}

t.before(() => {
  const [a, b] = socketPair()
  a.destroy()
  b.destroy()
})

poolTest('requests round-trip through every worker, with fds both ways', { size: 3 }, async (t, pool) => {
  t.match(pool.stats(), { size: 3, alive: 3, idle: 3, busy: 0, queued: 0, spawned: 3, mode: 'pool' })
  // Slow requests at once: each worker gets one, so the pids are all distinct.
  const replies = await Promise.all([0, 1, 2].map(() => pool.run('sleep', json({ ms: 200 }))))
  const pids = new Set(replies.map((r) => parse(r).pid))
  t.equal(pids.size, 3, 'three concurrent requests ran on three workers')
  t.same([...pids].sort(), [...pool.pids].sort(), 'and those are the pool workers')

  // fds to the worker: it writes into our pipe.
  const [r, w] = pipe()
  const written = parse(await pool.run('write', json({ text: 'to the worker and back' }), { fds: [w] }))
  closeFd(w) // still ours (closeFds false): the worker got a duplicate
  t.equal(written['n'], 1, 'the worker received one fd')
  t.equal(fs.readFileSync(r, 'utf8'), 'to the worker and back', 'and wrote through it')
  closeFd(r)

  // fds from the worker: the read end of its pipe.
  const reply = await pool.run('pipe', json({ text: 'from the worker' }))
  t.equal(reply.fds.length, 1, 'the reply carries one fd')
  const [fd] = reply.takeFds()
  t.equal(fs.readFileSync(fd!, 'utf8'), 'from the worker')
  closeFd(fd!)
  t.match(pool.stats(), { completed: 5, failed: 0, idle: 3, busy: 0 })
})

poolTest('a worker killed with SIGKILL mid-request: that request fails clearly, others succeed, the pool is back to N', { size: 3 }, async (t, pool) => {
  const exits: unknown[] = []
  pool.on('workerExit', (info) => exits.push(info))
  const slow = [0, 1, 2].map(() => pool.run('sleep', json({ ms: 300 })))
  await sleep(50)
  const victim = pool.pids[0]!
  const killedAt = Date.now()
  process.kill(victim, 'SIGKILL')
  const results = await Promise.allSettled(slow)
  const failed = results.filter((r) => r.status === 'rejected')
  t.equal(failed.length, 1, 'exactly one request failed')
  t.match((failed[0] as PromiseRejectedResult).reason, {
    code: 'ERR_FDWIRE_WORKER_DIED',
    message: new RegExp(`worker pid ${victim} died \\(signal SIGKILL\\) while handling sleep`),
  })
  for (const r of results) if (r.status === 'fulfilled') t.not(parse(r.value).pid, victim, 'the others ran elsewhere')
  t.ok(await until(() => pool.stats().alive === 3), 'the pool is back to 3 workers')
  t.comment(`back to 3 workers ${Date.now() - killedAt} ms after the kill`)
  t.match(pool.stats(), { alive: 3, restarts: 1, spawned: 4, failed: 1, completed: 2 })
  t.notOk(pool.pids.includes(victim), 'the dead worker is not in the pool')
  t.match(exits, [{ pid: victim, code: null, signal: 'SIGKILL' }], "one 'workerExit'")
  const after = await Promise.all([0, 1, 2].map(() => pool.run('pid')))
  t.equal(after.length, 3, 'the pool serves requests again')
})

poolTest('past maxQueue waiting requests, run() rejects at once with ERR_FDWIRE_BUSY', { size: 2, maxQueue: 3 }, async (t, pool) => {
  const accepted = [0, 1, 2, 3, 4].map(() => pool.run('sleep', json({ ms: 200 })))
  t.match(pool.stats(), { busy: 2, queued: 3 })
  const [r, w] = pipe()
  await t.rejects(pool.run('pid', undefined, { fds: [r] }), {
    code: 'ERR_FDWIRE_BUSY',
    message: 'worker pool busy: 3 requests queued (limit 3)',
  })
  closeFd(r)
  closeFd(w)
  const results = await Promise.allSettled(accepted)
  t.ok(
    results.every((r) => r.status === 'fulfilled'),
    'the accepted requests all completed',
  )
  t.match(pool.stats(), { queued: 0, completed: 5, failed: 1 })
})

poolTest('a SIGSTOPped worker: its request times out, the worker is replaced, the queue moves on', { size: 2, requestTimeout: 500 }, async (t, pool) => {
  const stopped = pool.pids[0]!
  const exits: WorkerExitInfo[] = []
  pool.on('workerExit', (info) => exits.push(info))
  process.kill(stopped, 'SIGSTOP')
  // Four requests: the stopped worker takes one; the others complete on the healthy worker or
  // the replacement.
  const results = await Promise.allSettled([0, 1, 2, 3].map(() => pool.run('sleep', json({ ms: 20 }))))
  const rejected = results.filter((r) => r.status === 'rejected')
  t.equal(rejected.length, 1, 'only the request on the stopped worker failed')
  t.match((rejected[0] as PromiseRejectedResult).reason, {
    code: 'ERR_FDWIRE_TIMEOUT',
    message: new RegExp(`worker pid ${stopped} did not answer sleep within 500 ms`),
  })
  t.ok(await until(() => pool.stats().alive === 2 && !alive(stopped)), 'the stopped worker was killed and replaced')
  t.equal(pool.stats().restarts, 1)
  await until(() => exits.length > 0)
  t.same(exits, [{ pid: stopped, code: null, signal: 'SIGKILL', reason: 'it did not answer sleep within 500 ms' }], "'workerExit' says why the pool killed it")
})

poolTest('no state leaks from one request to the next (cwd, env, umask)', { size: 1, env: { ...process.env, FDWIRE_KEEP: 'kept' } }, async (t, pool) => {
  const before = parse(await pool.run('state'))
  t.equal(parse(await pool.run('mess'))['cwd'], '/', 'the handler moved to /')
  const after = parse(await pool.run('state'))
  t.equal(after.pid, before.pid, 'same worker')
  t.same(after, before, 'cwd, env and umask are back as they were')
  t.equal(after['leak'], null)
  t.equal(after['keep'], 'kept')
})

poolTest('spawn-per-request mode: a fresh worker per request, none left over', { size: 2, spawnPerRequest: true }, async (t, pool) => {
  t.match(pool.stats(), { mode: 'spawn', alive: 0, spawned: 0 })
  const replies = await Promise.all([0, 1, 2, 3, 4].map(() => pool.run('sleep', json({ ms: 50 }))))
  const pids = replies.map((r) => parse(r).pid)
  t.equal(new Set(pids).size, 5, 'five requests, five processes')
  t.ok(await until(() => pool.pids.length === 0), 'every worker exited after its request')
  t.ok(
    pids.every((pid) => !alive(pid)),
    'and was reaped',
  )
  t.match(pool.stats(), { spawned: 5, completed: 5, restarts: 0 })
})

poolTest('a handler error comes back as code and message; the worker keeps serving', { size: 1 }, async (t, pool) => {
  const pid = parse(await pool.run('pid')).pid
  await t.rejects(pool.run('fail', json({ code: 'E_NOPE', message: 'no can do' })), { name: 'FdwireError', code: 'E_NOPE', message: 'no can do' })
  await t.rejects(pool.run('nope'), { code: 'ENOMETHOD', message: 'no method nope' })
  t.equal(parse(await pool.run('pid')).pid, pid, 'same worker afterwards')
  t.match(pool.stats(), { completed: 4, failed: 0, spawned: 1 })
})

leakTest(t, 'close() lets running requests finish, rejects queued ones, and reaps every worker', async (t) => {
  const pool = new WorkerPool({ script, size: 2 })
  await pool.start()
  const pids = pool.pids
  const running = [0, 1].map(() => pool.run('sleep', json({ ms: 300 })))
  const queued = pool.run('pid')
  const closing = pool.close({ timeout: 5000 })
  await t.rejects(queued, { code: 'ERR_FDWIRE_CLOSED' })
  await t.rejects(pool.run('pid'), { code: 'ERR_FDWIRE_CLOSED', message: 'worker pool is closed' })
  const done = await Promise.all(running)
  t.equal(done.length, 2, 'running requests completed')
  await closing
  t.same(pool.pids, [], 'no worker left')
  t.ok(
    pids.every((pid) => !alive(pid)),
    'every worker pid is gone (exited and reaped)',
  )
  t.match(pool.stats(), { alive: 0, busy: 0, idle: 0 })
})

leakTest(t, 'close() with a stuck worker kills it after the timeout', async (t) => {
  const pool = new WorkerPool({ script, size: 1 })
  await pool.start()
  const [pid] = pool.pids
  process.kill(pid!, 'SIGSTOP')
  const stuck = pool.run('pid')
  await pool.close({ timeout: 100 })
  await t.rejects(stuck, { code: 'ERR_FDWIRE_CLOSED' })
  t.notOk(alive(pid!), 'the stopped worker was killed')
})

poolTest('a socket handed to a worker: it talks to the peer directly', { size: 2 }, async (t, pool) => {
  const [ours, theirs] = socketPairFds()
  const peer = new Connection(ours)
  cleanup(t, () => peer.destroy())
  peer.on('message', (m) => peer.send(`echo: ${m.payload.toString()}`))
  const reply = parse(await pool.run('talk', undefined, { fds: [theirs], closeFds: true }))
  t.equal(reply['heard'], `echo: hello from ${reply.pid}`, 'the worker spoke with our end of the socket')
})

poolTest('an aborted request is dropped from the queue or cancelled on its worker', { size: 1 }, async (t, pool) => {
  const running = new AbortController()
  const waiting = new AbortController()
  const first = pool.run('sleep', json({ ms: 200 }), { signal: running.signal })
  const second = pool.run('pid', undefined, { signal: waiting.signal })
  t.equal(pool.stats().queued, 1)
  waiting.abort()
  await t.rejects(second, { name: 'AbortError' })
  t.equal(pool.stats().queued, 0, 'dropped from the queue')
  running.abort()
  await t.rejects(first, { name: 'AbortError' })
  t.ok(await until(() => pool.stats().idle === 1), 'the worker becomes idle once its handler returns')
  t.ok(parse(await pool.run('pid')).pid > 0, 'and serves the next request')
})

t.test('usage errors are Node argument errors naming the option', async (t) => {
  t.throws(() => new WorkerPool(undefined as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"options" argument must be of type object/ })
  t.throws(() => new WorkerPool({ script: '' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /'options\.script'/ })
  t.throws(() => new WorkerPool({ script, size: 0 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: 'The value of "options.size" is out of range. It must be >= 1 && <= 1024. Received 0',
  })
  t.throws(() => new WorkerPool({ script, size: 1.5 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.size".*an integer\. Received 1\.5/ })
  t.throws(() => new WorkerPool({ script, size: '4' as unknown as number }), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
    message: /"options\.size" property must be of type number\. Received type string \('4'\)/,
  })
  t.throws(() => new WorkerPool({ script, size: NaN }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => new WorkerPool({ script, maxQueue: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /options\.maxQueue/ })
  t.throws(() => new WorkerPool({ script, requestTimeout: 1.5 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /options\.requestTimeout/ })
  t.throws(() => new WorkerPool({ script, startTimeout: 2 ** 31 }), { code: 'ERR_OUT_OF_RANGE', message: /options\.startTimeout/ })
  t.throws(() => new WorkerPool({ script, args: [1] as never }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /options\.args\[0\]/ })
  t.throws(() => new WorkerPool({ script, maxFrameSize: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /options\.maxFrameSize/ })
  const pool = new WorkerPool({ script })
  t.throws(() => pool.run(''), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /'method'/ })
  await t.rejects(pool.run('pid'), { code: 'ERR_FDWIRE_CLOSED', message: /not started/ })
  t.throws(() => pool.run('pid', undefined, { timeout: 0 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: /options\.timeout/ })
  t.throws(() => pool.run('pid', undefined, { fds: [1.5] }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.fds\[0\]"/ })
  t.throws(() => pool.run('pid', undefined, { fds: ['0' as unknown as number] }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.fds\[0\]"/ })
  t.throws(() => pool.run('pid', undefined, { fds: new Array<number>(254).fill(0) }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.fds\.length"/ })
})

poolTest('a worker that exits mid-request is reported with its exit code and replaced', { size: 2 }, async (t, pool) => {
  const exits: unknown[] = []
  pool.on('workerExit', (info) => exits.push(info))
  const err = await pool.run('exit', json({ code: 3 })).catch((e: unknown) => e)
  t.match(err, { code: 'ERR_FDWIRE_WORKER_DIED', message: /worker pid \d+ died \(exit code 3\) while handling exit/ })
  t.match(exits, [{ code: 3, signal: null }])
  t.ok(await until(() => pool.stats().alive === 2), 'the pool is back to 2 workers')
  // Workers dying over and over are still replaced (with a backoff past 5 deaths a second).
  const many = await Promise.allSettled([0, 1, 2, 3, 4, 5, 6, 7].map(() => pool.run('exit', json({ code: 4 }))))
  t.ok(
    many.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'ERR_FDWIRE_WORKER_DIED'),
    'each one failed clearly',
  )
  t.ok(await until(() => pool.stats().alive === 2), 'and the pool recovers')
  t.equal(parse(await pool.run('echo', json({ text: 'still here' })))['text'], 'still here')
})

leakTest(t, 'a worker that cannot start: start() rejects and the pool is closed', async (t) => {
  const pool = new WorkerPool({ script, args: ['crash'], size: 2 })
  await t.rejects(pool.start(), { code: 'ERR_FDWIRE_WORKER_DIED', message: /died before saying Hello \(exit code 7\)/ })
  t.same(pool.pids, [], 'no worker left behind')
  await t.rejects(pool.run('pid'), { code: 'ERR_FDWIRE_CLOSED' })
})

poolTest('a queued request keeps its body even if the caller reuses the buffer', { size: 1 }, async (t, pool) => {
  const busy = pool.run('sleep', json({ ms: 100 }))
  const buffer = json({ text: 'original' })
  const queued = pool.run('echo', buffer)
  buffer.fill(0x20)
  await busy
  t.equal(parse(await queued)['text'], 'original')
})
