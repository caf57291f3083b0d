/**
 * WorkerPool: worker processes, each linked to us by a socketpair (fd 3 in the worker) so requests
 * and replies can carry fds — accepted client connections included. See docs/worker-pool.md. The
 * worker side is `serveWorker()` (serve-worker.ts).
 *
 * `minSize` workers run from `start()` on; more start when requests find none idle, up to `size`,
 * and retire after `idleTimeout` without a request. Dispatch is O(1): idle workers sit on a stack
 * (the most recently used one is warmest, and the bottom one has been idle longest, so it retires
 * first), waiting requests in a FIFO. A worker that dies is replaced (up to `minSize`, or as the
 * queue needs); its request rejects with `ERR_FDWIRE_WORKER_DIED`. One that overruns the request
 * timeout is presumed stuck (say SIGSTOPped), killed and replaced.
 */
import { TypedEventEmitter } from '../events.js'
import { type ChildProcess, spawn } from 'node:child_process'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { FdwireError } from '../errors.js'
import { Connection } from '../transport/connection.js'
import { socketPairFds } from '../transport/connect.js'
import { checkInteger, checkObject, checkString, invalidArgType, optionalInteger } from '../validate.js'
import {
  ownFds,
  resolvePoolOptions,
  resolveRunOptions,
  type PoolStats,
  type ResolvedPoolOptions,
  type RunOptions,
  type WorkerPoolOptions,
} from './pool-options.js'
import { CrashBackoff, Fifo } from './pool-queue.js'
import { PoolReply, PoolWorker, type Job, type PoolHost, type WorkerExitInfo } from './pool-worker.js'

export { PoolReply, type WorkerExitInfo } from './pool-worker.js'

export type { PoolStats, RunOptions, WorkerPoolOptions } from './pool-options.js'

const debug = debuglog('fdwire')

/** How long close() lets requests running on workers finish before SIGTERM. */
const DEFAULT_CLOSE_TIMEOUT_MS = 5000
/** How long close() gives a worker between SIGTERM and SIGKILL. */
const TERM_TO_KILL_MS = 1000

/** Events of a WorkerPool. */
export type WorkerPoolEvents = {
  workerSpawn: (info: { pid: number }) => void
  workerExit: (info: WorkerExitInfo) => void
}

/**
 * Events: `'workerSpawn'` ({pid}) when a worker said Hello and is ready; `'workerExit'`
 * ({pid, code, signal}) when one is gone (reaped).
 */
export class WorkerPool extends TypedEventEmitter<WorkerPoolEvents> implements PoolHost {
  readonly #o: ResolvedPoolOptions
  readonly #workers = new Set<PoolWorker>()
  readonly #idle: PoolWorker[] = []
  readonly #queue = new Fifo<Job>()
  #queued = 0
  #nextId = 1
  #spawned = 0
  #restarts = 0
  #idleRetired = 0
  #retireTimer: NodeJS.Timeout | undefined
  #completed = 0
  #failed = 0
  #started = false
  #closing = false
  readonly #backoff = new CrashBackoff()
  #respawnTimer: NodeJS.Timeout | undefined
  #startWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined
  #allGone: (() => void) | undefined
  #closed: Promise<void> | undefined

  constructor(options: WorkerPoolOptions) {
    super()
    this.#o = resolvePoolOptions(options)
  }

  /** Spawns `minSize` workers; resolves once every one said Hello (at once when there are none,
   *  and in spawn-per-request mode).
   *  @throws FdwireError `ERR_FDWIRE_WORKER_DIED` if a worker dies before its Hello (the pool is
   *  then closed). */
  async start(): Promise<void> {
    if (this.#started) throw new FdwireError('ERR_FDWIRE_STARTED', 'worker pool already started')
    if (this.#closing) throw new FdwireError('ERR_FDWIRE_CLOSED', 'worker pool is closed')
    this.#started = true
    if (this.#o.spawnPerRequest) return
    const ready = new Promise<void>((resolve, reject) => (this.#startWaiter = { resolve, reject }))
    ready.catch(() => {}) // awaited below, unless a spawn throws first
    try {
      for (let i = 0; i < this.#o.minSize; i++) this.#spawn()
      if (this.#workers.size === 0) {
        this.#startWaiter = undefined
        return
      }
      await ready
    } catch (error) {
      await this.close({ timeout: 0 })
      throw error
    }
  }

  /**
   * Runs `method` on a worker. Resolves with its reply; rejects with the handler's error (its code
   * and message), `ERR_FDWIRE_BUSY` when `maxQueue` requests already wait, `ERR_FDWIRE_WORKER_DIED`,
   * `ERR_FDWIRE_TIMEOUT`, `ERR_FDWIRE_CLOSED`, or the signal's reason.
   */
  run(method: string, body?: Uint8Array, options?: RunOptions): Promise<PoolReply> {
    checkString('method', method, true)
    if (body !== undefined && !(body instanceof Uint8Array)) throw invalidArgType('body', 'an instance of Uint8Array', body)
    const o = resolveRunOptions(options, this.#o.requestTimeout)
    const fds = ownFds(o.fds, o.closeFds)
    const fail = (error: Error): Promise<PoolReply> => {
      for (const fd of fds) native.close(fd)
      this.#failed++
      return Promise.reject(error)
    }
    if (!this.#started || this.#closing) {
      return fail(new FdwireError('ERR_FDWIRE_CLOSED', this.#closing ? 'worker pool is closed' : 'worker pool not started: call start() first'))
    }
    if (o.signal?.aborted) return fail(o.signal.reason as Error)
    return new Promise<PoolReply>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId,
        method,
        body,
        fds,
        timeout: o.timeout,
        signal: o.signal,
        onAbort: undefined,
        settled: false,
        resolve,
        reject,
      }
      this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
      let worker: PoolWorker | undefined
      try {
        worker = this.#takeWorker()
      } catch (error) {
        this.#settle(job, error as Error) // spawn failed (EMFILE, EAGAIN...)
        return
      }
      if (worker) {
        worker.assign(job)
      } else if (this.#queued >= this.#o.maxQueue) {
        this.#settle(job, new FdwireError('ERR_FDWIRE_BUSY', `worker pool busy: ${this.#queued} requests queued (limit ${this.#o.maxQueue})`))
        return
      } else {
        // The caller may reuse its buffer once run() returns: keep our own copy while queued.
        if (body !== undefined) job.body = Buffer.from(body)
        this.#queue.push(job)
        this.#queued++
        this.#grow()
      }
      if (job.signal) {
        job.onAbort = () => this.#abort(job)
        job.signal.addEventListener('abort', job.onAbort, { once: true })
      }
    })
  }

  /**
   * Starts workers, within `size`, until at least `count` (default 1) are idle or starting: say,
   * ahead of a burst, so that its requests do not wait for a worker to start. Workers it starts
   * that get no request retire after `idleTimeout` like any other above `minSize`. A no-op in
   * spawn-per-request mode, before `start()` and once closing.
   * @throws a system error when no process could be spawned (EAGAIN, EMFILE...).
   */
  warm(count = 1): void {
    checkInteger('count', count, 0, 1024)
    if (!this.#started || this.#closing || this.#o.spawnPerRequest) return
    let { live, starting } = this.#census()
    while (this.#idle.length + starting < count && live < this.#o.size) {
      this.#spawn()
      live++
      starting++
    }
  }

  stats(): PoolStats {
    let alive = 0
    let busy = 0
    let starting = 0
    for (const w of this.#workers) {
      if (w.ready && !w.dying) alive++
      if (!w.ready && !w.dying) starting++
      if (w.job) busy++
    }
    return {
      size: this.#o.size,
      minSize: this.#o.spawnPerRequest ? 0 : this.#o.minSize,
      alive,
      starting,
      idle: this.#idle.length,
      busy,
      queued: this.#queued,
      spawned: this.#spawned,
      restarts: this.#restarts,
      idleRetired: this.#idleRetired,
      completed: this.#completed,
      failed: this.#failed,
      mode: this.#o.spawnPerRequest ? 'spawn' : 'pool',
    }
  }

  /** pids of the live worker processes. */
  get pids(): number[] {
    return [...this.#workers].filter((w) => !w.exited).map((w) => w.pid)
  }

  /**
   * Stops dispatching: queued requests reject with `ERR_FDWIRE_CLOSED`; requests on workers may
   * finish within `timeout` ms (default 5000); then workers get SIGTERM, and SIGKILL 1 s later.
   * Resolves once every worker has exited and been reaped.
   */
  close(options?: { timeout?: number }): Promise<void> {
    const timeout = optionalInteger('options.timeout', checkObject('options', options)['timeout'], 0, 0x7fffffff, DEFAULT_CLOSE_TIMEOUT_MS)
    this.#closed ??= this.#close(timeout)
    return this.#closed
  }

  async #close(timeout: number): Promise<void> {
    this.#closing = true
    clearTimeout(this.#respawnTimer)
    clearTimeout(this.#retireTimer)
    this.#startWaiter?.reject(new FdwireError('ERR_FDWIRE_CLOSED', 'worker pool closed while starting'))
    this.#startWaiter = undefined
    for (const job of this.#queue.drain()) {
      if (!job.settled) this.#settle(job, new FdwireError('ERR_FDWIRE_CLOSED', `worker pool closed before ${job.method} was dispatched`))
    }
    this.#queued = 0
    for (const w of [...this.#workers]) if (!w.job) w.retire()
    if (this.#workers.size === 0) return
    const gone = new Promise<void>((resolve) => (this.#allGone = resolve))
    const term = setTimeout(() => {
      for (const w of this.#workers) w.kill('SIGTERM', 'the worker pool closed')
    }, timeout)
    const kill = setTimeout(() => {
      for (const w of this.#workers) w.kill('SIGKILL', 'the worker pool closed')
    }, timeout + TERM_TO_KILL_MS)
    try {
      await gone
    } finally {
      clearTimeout(term)
      clearTimeout(kill)
    }
  }

  // ---- internal, called by PoolWorker ------------------------------------------------------

  /** @internal */
  get closing(): boolean {
    return this.#closing
  }

  /** @internal Settles a job (once); `answered`: the worker replied (ok or handler error). */
  settle(job: Job, result: PoolReply | Error, answered = false): void {
    if (answered) this.#completed++
    this.#settle(job, result, answered)
  }

  /** @internal A worker takes no more requests. */
  onDying(w: PoolWorker): void {
    const i = this.#idle.indexOf(w) // rare (deaths only), and the stack is at most `size` long
    if (i >= 0) this.#idle.splice(i, 1)
  }

  /** @internal A worker said Hello. */
  onReady(w: PoolWorker): void {
    this.emit('workerSpawn', { pid: w.pid })
    if (this.#startWaiter && [...this.#workers].every((x) => x.ready)) {
      this.#startWaiter.resolve()
      this.#startWaiter = undefined
    }
    this.#backoff.reset()
    if (!w.job) this.onIdle(w)
  }

  /** @internal A worker finished its request and can take another. */
  onIdle(w: PoolWorker): void {
    if (this.#closing || this.#o.spawnPerRequest) {
      w.retire()
      return
    }
    const job = this.#nextJob()
    if (job) {
      w.assign(job)
      return
    }
    w.idleSince = performance.now()
    this.#idle.push(w)
    this.#armRetire()
  }

  /** @internal A worker is gone: exited and its connection closed. */
  onGone(w: PoolWorker, info: WorkerExitInfo, wasReady: boolean): void {
    this.#workers.delete(w)
    this.emit('workerExit', info)
    const how = info.signal ? `signal ${info.signal}` : `exit code ${info.code}`
    if (!wasReady && this.#startWaiter) {
      this.#startWaiter.reject(new FdwireError('ERR_FDWIRE_WORKER_DIED', `worker pid ${info.pid} died before saying Hello (${how})`))
      this.#startWaiter = undefined
    }
    if (this.#closing) {
      if (this.#workers.size === 0) this.#allGone?.()
      return
    }
    if (this.#o.spawnPerRequest) {
      // A worker that handled its one request leaves a slot for the next queued request.
      const job = this.#queued > 0 ? this.#nextJob() : undefined
      if (job) {
        try {
          this.#spawn(job)
        } catch (error) {
          this.#settle(job, error as Error)
        }
      }
      return
    }
    if (!wasReady && this.#queued > 0 && this.#census().ready === 0) {
      // Requests waited for a worker that could not start, and none is running to take them:
      // fail them now rather than leave them waiting on a script that may never start.
      const error = new FdwireError('ERR_FDWIRE_WORKER_DIED', `worker pid ${info.pid} died before saying Hello (${how}); no worker could take the request`)
      for (let job = this.#nextJob(); job; job = this.#nextJob()) this.#settle(job, error)
    }
    if (w.retired) return
    this.#scheduleRespawn()
  }

  // ---- private -------------------------------------------------------------------------------

  #takeWorker(): PoolWorker | undefined {
    if (this.#o.spawnPerRequest) {
      if (this.#workers.size >= this.#o.size) return undefined
      return this.#spawn()
    }
    return this.#idle.pop()
  }

  /** Live workers (not dying), those of them still starting, and those ready. */
  #census(): { live: number; starting: number; ready: number } {
    let live = 0
    let starting = 0
    for (const w of this.#workers) {
      if (w.dying) continue
      live++
      if (!w.ready) starting++
    }
    return { live, starting, ready: live - starting }
  }

  /** Starts workers for queued requests, within `size`: one per request not covered by a worker
   *  already starting. A worker that becomes idle first takes the queue's head instead. */
  #grow(): void {
    if (this.#o.spawnPerRequest || this.#closing) return
    let { live, starting } = this.#census()
    while (starting < this.#queued && live < this.#o.size) {
      try {
        this.#spawn()
      } catch (error) {
        debug('worker pool: spawn failed: %s', (error as Error).message)
        if (live === 0) {
          // Nobody will ever take the queued requests: they fail with the reason.
          for (let job = this.#nextJob(); job; job = this.#nextJob()) this.#settle(job, error as Error)
        }
        return
      }
      live++
      starting++
    }
  }

  /** Retires workers above `minSize` idle for `idleTimeout`, oldest first, and re-arms itself
   *  for the next one due. */
  #armRetire(): void {
    if (this.#retireTimer !== undefined || this.#closing) return
    const oldest = this.#idle[0]
    if (oldest === undefined || this.#census().live <= this.#o.minSize) return
    const due = oldest.idleSince + this.#o.idleTimeout - performance.now()
    this.#retireTimer = setTimeout(
      () => {
        this.#retireTimer = undefined
        const now = performance.now()
        let live = this.#census().live
        while (live > this.#o.minSize && this.#idle.length > 0 && this.#idle[0]!.idleSince + this.#o.idleTimeout <= now) {
          const w = this.#idle.shift()!
          debug('worker pool: pid %d idle for %d ms: retiring', w.pid, this.#o.idleTimeout)
          w.retire()
          this.#idleRetired++
          live--
        }
        this.#armRetire()
      },
      Math.max(0, Math.ceil(due)),
    )
    this.#retireTimer.unref()
  }

  #nextJob(): Job | undefined {
    for (;;) {
      const job = this.#queue.shift()
      if (job === undefined) return undefined
      if (job.settled) continue // cancelled while queued (already uncounted)
      this.#queued--
      return job
    }
  }

  #spawn(job?: Job): PoolWorker {
    const o = this.#o
    const [mine, theirs] = socketPairFds()
    let child: ChildProcess
    try {
      child = spawn(process.execPath, [o.script, ...o.args], {
        stdio: ['ignore', 'inherit', 'inherit', theirs],
        env: o.env ?? process.env,
      })
    } catch (error) {
      native.close(mine)
      throw error
    } finally {
      // The child has its copy (as fd 3); ours would keep the socket open after it dies.
      native.close(theirs)
    }
    this.#spawned++
    const w = new PoolWorker(this, child, new Connection(mine, o.connection), o.startTimeout)
    this.#workers.add(w)
    debug('worker pool: spawned pid %d', w.pid)
    if (job) w.assign(job)
    return w
  }

  #scheduleRespawn(): void {
    const delay = this.#backoff.death()
    const respawn = () => {
      this.#respawnTimer = undefined
      if (this.#closing) return
      let live = this.#census().live
      while (live < this.#o.minSize) {
        try {
          this.#spawn()
        } catch (error) {
          // Out of fds or processes: try again later, as for a crash loop.
          debug('worker pool: respawn failed: %s', (error as Error).message)
          this.#scheduleRespawn()
          return
        }
        live++
        this.#restarts++
      }
      this.#grow()
    }
    if (delay === 0) respawn()
    else if (this.#respawnTimer === undefined) {
      debug('worker pool: workers keep dying; respawning in %d ms', delay)
      this.#respawnTimer = setTimeout(respawn, delay)
    }
  }

  #abort(job: Job): void {
    if (job.settled) return
    const reason = (job.signal?.reason as Error | undefined) ?? new FdwireError('ERR_FDWIRE_CANCELLED', 'request cancelled')
    for (const w of this.#workers) {
      if (w.job === job) {
        // The worker keeps running the handler until it notices; its late reply is dropped.
        w.cancel(job)
        break
      }
    }
    if (!this.#isOnWorker(job)) this.#queued--
    this.#settle(job, reason)
  }

  #isOnWorker(job: Job): boolean {
    for (const w of this.#workers) if (w.job === job) return true
    return false
  }

  #settle(job: Job, result: PoolReply | Error, answered = false): void {
    if (job.settled) return
    job.settled = true
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort)
    for (const fd of job.fds.splice(0)) native.close(fd)
    if (result instanceof PoolReply) job.resolve(result)
    else {
      if (!answered) this.#failed++
      job.reject(result)
    }
  }
}
