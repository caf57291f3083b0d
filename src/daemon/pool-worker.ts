/**
 * One worker process of a WorkerPool, from the pool's side: its child process, its connection, the
 * request it is running, and its way out (exit + connection close, in either order).
 */
import type { ChildProcess } from 'node:child_process'
import { debuglog } from 'node:util'
import { FdwireError } from '../errors.js'
import { encodeCancel, encodeRequest, PROTOCOL_VERSION, readEnvelope } from '../protocol/index.js'
import type { Connection } from '../transport/connection.js'
import type { Message } from '../transport/message.js'
import { bodyView, FdHolder, releaseHeldFds } from './request.js'

const debug = debuglog('fdwire')

/** How long a worker may outlive its connection before it is SIGKILLed (it should exit as the
 *  connection closes), and how long its connection may stay open after it exited before we destroy
 *  it (a grandchild holding the socket would keep it open for good). */
const LINGER_MS = 1000

/** A worker's reply. `fds` are yours: take them (`takeFd`, `takeFds`, `takeSocket`,
 *  `takeStream`), or close them all with `closeFds()`; unlike a Client's `Reply`, it does not close
 *  them by itself. */
export class PoolReply extends FdHolder {
  /** The reply body, a view into the received bytes (empty when the worker sent none). */
  readonly body: Buffer
  /** @internal */
  constructor(body: Buffer, fds: number[]) {
    super(fds, 'reply')
    this.body = body
  }
  /** Closes the fds not taken. */
  closeFds(): void {
    releaseHeldFds(this)
  }
}

export interface WorkerExitInfo {
  pid: number
  code: number | null
  signal: NodeJS.Signals | null
  /** Why the pool ended the worker, when it did: say, "it did not say Hello within 10000 ms". */
  reason?: string
}

/** @internal A request, queued or on a worker. */
export interface Job {
  id: number
  method: string
  body: Uint8Array | undefined
  /** Our own fds (duplicates unless the caller gave theirs with closeFds); closed if not sent. */
  fds: number[]
  timeout: number | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
  settled: boolean
  resolve: (reply: PoolReply) => void
  reject: (error: Error) => void
}

/** @internal Reads a worker's message: Hello, a Response (as a reply or an Error), or a failure. */
export function readWorkerMessage(message: Message): { kind: 'hello' } | { kind: 'response'; id: number; result: PoolReply | FdwireError } | { kind: 'other' } {
  const envelope = readEnvelope(message.payload)
  if (envelope.kind === 'hello') {
    if (envelope.protocolVersion !== PROTOCOL_VERSION) {
      throw new FdwireError('ERR_FDWIRE_BAD_VERSION', `worker speaks protocol ${envelope.protocolVersion}, we speak ${PROTOCOL_VERSION}`)
    }
    return { kind: 'hello' }
  }
  if (envelope.kind !== 'response') return { kind: 'other' }
  if (!envelope.ok) {
    const e = envelope.error
    return { kind: 'response', id: envelope.id, result: new FdwireError(e?.code || 'ERR_FDWIRE_WORKER_HANDLER', e?.message ?? 'worker handler failed') }
  }
  return { kind: 'response', id: envelope.id, result: new PoolReply(bodyView(envelope.body), message.takeFds()) }
}

/** What a PoolWorker needs from its pool. */
export interface PoolHost {
  readonly closing: boolean
  settle(job: Job, result: PoolReply | Error, answered?: boolean): void
  onReady(w: PoolWorker): void
  onIdle(w: PoolWorker): void
  onDying(w: PoolWorker): void
  onGone(w: PoolWorker, info: WorkerExitInfo, wasReady: boolean): void
}

export class PoolWorker {
  readonly pid: number
  /** Said Hello. */
  ready = false
  /** Takes no more requests: killed, exited, disconnected or retired. */
  dying = false
  /** Asked to exit because it is no longer needed (pool closing, or its one request done). */
  retired = false
  exited = false
  /** When it last became idle (performance.now()). */
  idleSince = 0
  /** The request it is running (settled already if it was cancelled). */
  job: Job | undefined
  readonly #host: PoolHost
  readonly #child: ChildProcess
  readonly #conn: Connection
  #exit: WorkerExitInfo | undefined
  #connClosed = false
  #gone = false
  #killReason: string | undefined
  #startTimer: NodeJS.Timeout | undefined
  #jobTimer: NodeJS.Timeout | undefined
  #lingerTimer: NodeJS.Timeout | undefined

  constructor(host: PoolHost, child: ChildProcess, conn: Connection, startTimeout: number) {
    this.#host = host
    this.#child = child
    this.#conn = conn
    this.pid = child.pid ?? -1
    conn.on('message', (m) => this.#onMessage(m))
    conn.on('close', (reason) => this.#onConnClose(reason))
    child.on('exit', (code, signal) => this.#onExit(code, signal))
    child.on('error', (error) => {
      debug('worker pool: worker pid %d: %s', this.pid, error.message)
      // spawn() itself failed (no process, so no 'exit' will come).
      if (child.pid === undefined) {
        this.#killReason ??= error.message
        this.#onExit(null, null)
      }
    })
    this.#startTimer = setTimeout(() => this.kill('SIGKILL', `it did not say Hello within ${startTimeout} ms`), startTimeout)
  }

  /** Gives the worker a request (sent now, or once it said Hello). */
  assign(job: Job): void {
    this.job = job
    if (this.ready) this.#send(job)
  }

  /** Tells the worker its request was cancelled; its reply will be dropped. */
  cancel(job: Job): void {
    if (this.ready && !this.#conn.closed && !this.dying) this.#conn.send(encodeCancel(job.id, 'cancelled by the caller'))
  }

  /** Asks the worker to exit: ending the connection makes `serveWorker` exit. */
  retire(): void {
    if (this.retired) return
    this.retired = true
    this.#setDying()
    if (!this.#conn.closed) this.#conn.end()
  }

  kill(signal: NodeJS.Signals, reason: string): void {
    if (this.exited) return
    this.#killReason ??= reason
    this.#setDying()
    this.#child.kill(signal)
  }

  #setDying(): void {
    if (this.dying) return
    this.dying = true
    this.#host.onDying(this)
  }

  #send(job: Job): void {
    try {
      const fds = job.fds.splice(0) // given away: the connection closes them once sent
      this.#conn.send(encodeRequest(job.id, job.method, job.body), { fds, closeFds: true })
    } catch (error) {
      this.job = undefined
      this.#host.settle(job, error as Error)
      this.kill('SIGKILL', `sending a request failed: ${(error as Error).message}`)
      return
    }
    if (job.timeout !== undefined) this.#jobTimer = setTimeout(() => this.#onTimeout(job), job.timeout)
  }

  #onTimeout(job: Job): void {
    if (this.job !== job) return
    this.job = undefined
    this.#host.settle(
      job,
      new FdwireError('ERR_FDWIRE_TIMEOUT', `worker pid ${this.pid} did not answer ${job.method} within ${job.timeout} ms; it was killed and will be replaced`),
    )
    this.kill('SIGKILL', `it did not answer ${job.method} within ${job.timeout} ms`)
  }

  #onMessage(message: Message): void {
    let read: ReturnType<typeof readWorkerMessage>
    try {
      read = readWorkerMessage(message)
    } catch (error) {
      this.#killReason ??= (error as Error).message
      this.#conn.destroy(error as Error)
      return
    }
    if (read.kind === 'hello') {
      if (this.ready) return
      this.ready = true
      clearTimeout(this.#startTimer)
      if (this.dying) return
      if (this.job?.settled) this.job = undefined // cancelled before we could send it
      if (this.job) this.#send(this.job)
      this.#host.onReady(this)
      return
    }
    if (read.kind !== 'response') return
    const job = this.job
    if (job === undefined || job.id !== read.id) {
      // A reply to a request we gave up on (timed out): drop it.
      if (read.result instanceof PoolReply) read.result.closeFds()
      return
    }
    clearTimeout(this.#jobTimer)
    this.job = undefined
    if (job.settled && read.result instanceof PoolReply) read.result.closeFds() // cancelled
    this.#host.settle(job, read.result, true)
    if (!this.dying) this.#host.onIdle(this)
  }

  #onConnClose(reason: Error | undefined): void {
    this.#connClosed = true
    if (reason) debug('worker pool: worker pid %d connection closed: %s', this.pid, reason.message)
    this.#setDying()
    clearTimeout(this.#lingerTimer)
    // Normally the worker exits as its connection closes; one that lingers is of no use.
    if (!this.exited) this.#lingerTimer = setTimeout(() => this.kill('SIGKILL', 'it lingered after its connection closed'), LINGER_MS)
    this.#maybeGone()
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return
    this.exited = true
    this.#exit = { pid: this.pid, code, signal }
    this.#setDying()
    clearTimeout(this.#lingerTimer)
    // A reply sent just before exiting is still in the socket: read it before giving up (the
    // connection closes at EOF), unless a grandchild holds the socket open.
    if (!this.#connClosed) this.#lingerTimer = setTimeout(() => this.#conn.destroy(), LINGER_MS)
    this.#maybeGone()
  }

  #maybeGone(): void {
    if (this.#gone || !this.exited || !this.#connClosed) return
    this.#gone = true
    clearTimeout(this.#startTimer)
    clearTimeout(this.#jobTimer)
    clearTimeout(this.#lingerTimer)
    const info: WorkerExitInfo = this.#killReason === undefined ? this.#exit! : { ...this.#exit!, reason: this.#killReason }
    const job = this.job
    this.job = undefined
    if (job && !job.settled) {
      const how = info.signal ? `signal ${info.signal}` : `exit code ${info.code}`
      const why = this.#killReason ? `; killed because ${this.#killReason}` : ''
      const code = this.#host.closing ? 'ERR_FDWIRE_CLOSED' : 'ERR_FDWIRE_WORKER_DIED'
      this.#host.settle(job, new FdwireError(code, `worker pid ${this.pid} died (${how}) while handling ${job.method}${why}`))
    }
    debug('worker pool: worker pid %d gone (code %s, signal %s)', this.pid, info.code, info.signal)
    this.#host.onGone(this, info, this.ready)
  }
}
