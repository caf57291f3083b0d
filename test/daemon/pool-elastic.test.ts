// A WorkerPool between minSize and size: workers start when requests find none idle, and those
// above minSize retire after idleTimeout. Real worker processes; each test checks no fd leaked and
// that retired workers are really gone.
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import { WorkerPool, type PoolReply } from '../../src/daemon/pool.js'
import { alive, fixtures, leakTest, tempDir, until } from '../helpers.js'

const script = path.join(fixtures, 'pool-worker.mjs')
const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const pidOf = (reply: PoolReply) => (JSON.parse(reply.body.toString()) as { pid: number }).pid

type T = Parameters<Parameters<typeof leakTest>[2]>[0]
type Options = Partial<ConstructorParameters<typeof WorkerPool>[0]>

function poolTest(name: string, options: Options, fn: (t: T, pool: WorkerPool, exits: number[]) => Promise<void>): void {
  leakTest(t, name, async (t) => {
    const pool = new WorkerPool({ script, ...options })
    const exits: number[] = []
    pool.on('workerExit', (info) => exits.push(info.pid))
    await pool.start()
    try {
      await fn(t, pool, exits)
    } finally {
      await pool.close({ timeout: 2000 })
    }
  })
}

poolTest('minSize 0: no worker at idle, one starts for a request, and retires when idle', { size: 2, minSize: 0, idleTimeout: 100 }, async (t, pool, exits) => {
  t.match(pool.stats(), { size: 2, minSize: 0, alive: 0, starting: 0, spawned: 0 }, 'start() spawned nothing')
  t.same(pool.pids, [])
  const pid = pidOf(await pool.run('pid'))
  t.same(pool.pids, [pid], 'the request started one worker, which answered it')
  t.ok(await until(() => pool.stats().alive === 0 && exits.includes(pid)), 'it retired once idle')
  t.notOk(alive(pid), 'and the process is gone')
  t.match(pool.stats(), { spawned: 1, idleRetired: 1, restarts: 0, failed: 0, completed: 1 }, 'a retirement is not a restart')

  const again = pidOf(await pool.run('pid'))
  t.not(again, pid, 'the next request starts a fresh worker')
  t.equal(pool.stats().spawned, 2)
})

poolTest(
  'a burst starts workers up to size, queues the rest, then the pool shrinks back to minSize',
  { size: 3, minSize: 1, idleTimeout: 100 },
  async (t, pool, exits) => {
    t.equal(pool.stats().alive, 1, 'minSize workers run from start()')
    const [kept] = pool.pids
    const replies = await Promise.all([0, 1, 2, 3, 4, 5].map(() => pool.run('sleep', json({ ms: 150 }))))
    const pids = new Set(replies.map(pidOf))
    t.ok(pids.size <= 3, `six concurrent requests ran on at most size = 3 workers (${pids.size})`)
    t.equal(pool.stats().spawned, 3, 'two workers started for the burst, no more')
    t.ok(await until(() => pool.stats().alive === 1 && exits.length === 2), 'the two above minSize retired')
    t.equal(pool.stats().idleRetired, 2)
    t.same(pool.pids.length, 1, 'one worker kept')
    for (const pid of exits) t.notOk(alive(pid), `retired worker ${pid} exited`)

    // The kept worker is replaced when it dies: minSize holds.
    const survivor = pool.pids[0]!
    t.ok(kept !== undefined)
    process.kill(survivor, 'SIGKILL')
    t.ok(await until(() => pool.stats().alive === 1 && !pool.pids.includes(survivor)), 'a worker within minSize that died is replaced')
    t.equal(pool.stats().restarts, 1)
  },
)

poolTest('the worker idle longest retires first; one in steady use stays', { size: 2, minSize: 0, idleTimeout: 300 }, async (t, pool, exits) => {
  // Two requests that hold their workers until released: two workers however slow the machine is,
  // and the one released first has been idle longer, whatever the idle timeout.
  const dir = tempDir(t)
  const [first, second] = ['first', 'second'].map((name) => path.join(dir, name)) as [string, string]
  const runs = [first, second].map((file) => pool.run('wait', json({ path: file })))
  t.ok(await until(() => pool.stats().busy === 2), 'both held, one on each worker')
  fs.writeFileSync(first, '')
  const older = pidOf(await runs[0]!)
  fs.writeFileSync(second, '')
  const two = [older, pidOf(await runs[1]!)]
  t.equal(new Set(two).size, 2, 'two workers')
  // Requests one at a time: each takes the warmest worker (top of the idle stack), so the other
  // one only ages. (On a stalled machine the warm one may retire too, after the other: the
  // next request then starts a third.)
  const used = new Set<number>()
  for (let i = 0; i < 20; i++) used.add(pidOf(await pool.run('pid')))
  const idlers = two.filter((pid) => !used.has(pid))
  t.same(idlers, [older], 'one of the two never got a request: the one released first')
  t.ok(await until(() => exits.length >= 1), 'a worker retired')
  t.equal(exits[0], idlers[0], 'the first to retire is the one that sat idle longest')
})

poolTest('one worker for sequential requests, however many: no spawn per request', { size: 4, minSize: 0, idleTimeout: 60_000 }, async (t, pool) => {
  for (let i = 0; i < 10; i++) await pool.run('pid')
  t.equal(pool.stats().spawned, 1)
  // Two at once with one worker idle: the first takes it, the second starts another (and runs on
  // whichever worker is free first: the first one again if it finishes before the new one starts).
  const both = await Promise.all([pool.run('sleep', json({ ms: 100 })), pool.run('sleep', json({ ms: 100 }))])
  t.equal(both.length, 2)
  t.equal(pool.stats().spawned, 2, 'one more worker started for the second request')
})

poolTest('warm() starts workers ahead of a burst, within size', { size: 3, minSize: 0, idleTimeout: 60_000 }, async (t, pool) => {
  pool.warm(2)
  t.match(pool.stats(), { starting: 2, spawned: 2 }, 'two workers starting')
  pool.warm(2)
  t.equal(pool.stats().spawned, 2, 'warm() counts workers already starting')
  t.ok(await until(() => pool.stats().idle === 2), 'both said Hello and wait')
  await Promise.all([pool.run('sleep', json({ ms: 50 })), pool.run('sleep', json({ ms: 50 }))])
  t.equal(pool.stats().spawned, 2, 'the burst found them warm')
  pool.warm(10)
  t.equal(pool.stats().spawned, 3, 'never beyond size')
  t.throws(() => pool.warm(-1), { code: 'ERR_OUT_OF_RANGE', message: /"count"/ })
  t.throws(() => pool.warm('2' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE', message: /"count"/ })
})

leakTest(t, 'a worker that cannot start on demand: the waiting request fails clearly, nothing is left', async (t) => {
  const pool = new WorkerPool({ script, args: ['crash'], size: 2, minSize: 0 })
  await pool.start()
  try {
    await t.rejects(pool.run('pid'), { code: 'ERR_FDWIRE_WORKER_DIED', message: /died before saying Hello \(exit code 7\); no worker could take the request/ })
    t.ok(await until(() => pool.pids.length === 0), 'no worker left behind')
    t.match(pool.stats(), { alive: 0, queued: 0, failed: 1 })
  } finally {
    await pool.close({ timeout: 0 })
  }
})

t.test('minSize and idleTimeout are checked', async (t) => {
  t.throws(() => new WorkerPool({ script, size: 2, minSize: 3 }), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: 'The value of "options.minSize" is out of range. It must be >= 0 && <= 2. Received 3',
  })
  t.throws(() => new WorkerPool({ script, minSize: -1 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.minSize"/ })
  t.throws(() => new WorkerPool({ script, idleTimeout: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /"options\.idleTimeout"/ })
  t.throws(() => new WorkerPool({ script, idleTimeout: '5' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE', message: /"options\.idleTimeout"/ })
  t.match(new WorkerPool({ script, size: 3 }).stats(), { size: 3, minSize: 3 }, 'minSize defaults to size')
})
