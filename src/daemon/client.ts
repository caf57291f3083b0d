/**
 * Client: the caller's side of a daemon connection. Many requests in flight on one connection,
 * matched by id; streamed replies as async iterators; AbortSignal and timeouts (both send a Cancel);
 * fds both ways; optional reconnect for the next request after the connection dropped.
 */
import { TypedEventEmitter } from '../events.js'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { FdwireError } from '../errors.js'
import { encodeCancel, encodeHello, encodeRequest, PROTOCOL_VERSION, readEnvelope, type Envelope } from '../protocol/index.js'
import { connect, type ConnectOptions } from '../transport/connect.js'
import type { Connection, PeerCredentials } from '../transport/connection.js'
import type { Message } from '../transport/message.js'
import { checkFdArray, checkObject, checkString, optionalBoolean, optionalInteger, optionalSignal } from '../validate.js'
import { RemoteError, Reply, toBody } from './rpc.js'
import { FRAME_TYPE_ENVELOPE } from '../wire.js'

const debug = debuglog('fdwire')

/** How long connecting (and the daemon's Hello) may take before ERR_FDWIRE_TIMEOUT. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5000

export interface ClientOptions extends Omit<ConnectOptions, 'signal'> {
  /** Build id this client was made for (sent in its hello; used by `ensureDaemon`). Default `''`. */
  buildId?: string
  /** Reconnect for the next request after the connection closed. Default false. */
  reconnect?: boolean
}

export interface RequestOptions {
  /** fds to send with the request. */
  fds?: readonly number[]
  /** Close our copies of `fds` once sent. Default false. */
  closeFds?: boolean
  /** Cancels the request (a Cancel is sent; the promise rejects with the signal's reason). */
  signal?: AbortSignal
  /** Rejects with `ERR_FDWIRE_TIMEOUT` and cancels after this many ms. Default: none. */
  timeout?: number
}

/** What the daemon said about itself in its hello. */
export interface DaemonInfo {
  protocolVersion: number
  buildId: string
  /** Largest request payload the daemon accepts (from its hello; when it does not say, the
   *  connection's `peerMaxFrameSize`). A larger request rejects with `ERR_FDWIRE_FRAME_TOO_LARGE`
   *  before anything is sent. */
  maxFrameSize: number
  /** From the kernel, not from the daemon's word. */
  peer: PeerCredentials
}

type Pending = {
  method: string
  resolve: (reply: Reply) => void
  reject: (error: Error) => void
  stream?: StreamQueue
  cleanup: () => void
}

/** Events of a Client. */
export type ClientEvents = {
  /** The connection closed: `reason` is undefined for a clean close, else the Error that ended it.
   *  Requests still waiting reject with `ERR_FDWIRE_CLOSED`. */
  close: (reason: Error | undefined) => void
}

export class Client extends TypedEventEmitter<ClientEvents> {
  readonly socketPath: string
  #connection: Connection
  #daemon: DaemonInfo
  readonly #options: ClientOptions
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #reconnecting: Promise<void> | undefined

  private constructor(socketPath: string, connection: Connection, daemon: DaemonInfo, options: ClientOptions) {
    super()
    this.socketPath = socketPath
    this.#options = options
    this.#connection = connection
    this.#daemon = daemon
    this.#attach(connection)
  }

  /**
   * Connects and completes the hello handshake. Rejects with the daemon's reason when it refuses
   * the connection (`ERR_FDWIRE_BUSY`, `ERR_FDWIRE_PERMISSION`, ...), with `ENOENT`/`ECONNREFUSED`
   * when none listens, and with `ERR_FDWIRE_TIMEOUT` after `timeout` ms (default 5000).
   */
  static async connect(socketPath: string, options?: ClientOptions): Promise<Client> {
    const o = checkObject('options', options)
    const timeout = optionalInteger('options.timeout', o['timeout'], 0, 0x7fffffff, DEFAULT_CONNECT_TIMEOUT_MS)
    optionalBoolean('options.reconnect', o['reconnect'], false)
    const { connection, daemon } = await handshake(socketPath, options ?? {}, timeout)
    return new Client(socketPath, connection, daemon, options ?? {})
  }

  /** The daemon's hello and kernel credentials. */
  get daemon(): DaemonInfo {
    return this.#daemon
  }

  /** Whether the connection is closed (a `reconnect` client opens a new one on the next request). */
  get closed(): boolean {
    return this.#connection.closed
  }

  /** Requests waiting for their reply. */
  get pending(): number {
    return this.#pending.size
  }

  /**
   * Sends a request and resolves with the reply. A daemon-side error rejects with a
   * `RemoteError` carrying the daemon's code.
   */
  async request(method: string, body?: Uint8Array | string, options?: RequestOptions): Promise<Reply> {
    const start = await this.#start(method, body, options, undefined)
    return start.promise
  }

  /** Sends a request whose reply is a stream; iterate it for each item. */
  stream(method: string, body?: Uint8Array | string, options?: RequestOptions): AsyncIterableIterator<Reply> {
    const queue = new StreamQueue()
    const started = this.#start(method, body, options, queue)
    started.then(
      ({ promise }) => promise.catch((error: Error) => queue.fail(error)),
      (error: Error) => queue.fail(error),
    )
    queue.onReturn = () => void started.then(({ cancel }) => cancel('the caller stopped reading the stream'))
    return queue
  }

  /** Ends the connection once queued requests are sent; pending requests fail if it closes first. */
  close(): Promise<void> {
    const connection = this.#connection
    if (connection.closed) return Promise.resolve()
    connection.end()
    return new Promise((resolve) => connection.once('close', () => resolve()))
  }

  /** Closes at once; pending requests reject with `reason` (or `ERR_FDWIRE_CLOSED`). */
  destroy(reason?: Error): void {
    this.#connection.destroy(reason)
  }

  /** Lets the process exit while the client is connected. */
  unref(): this {
    this.#connection.unref()
    return this
  }

  async #start(method: string, body: Uint8Array | string | undefined, options: RequestOptions | undefined, stream: StreamQueue | undefined) {
    checkString('method', method, true)
    const bytes = toBody(body)
    const o = checkObject('options', options)
    const timeout = o['timeout'] === undefined ? undefined : optionalInteger('options.timeout', o['timeout'], 1, 0x7fffffff, 0)
    const signal = optionalSignal('options.signal', o['signal'])
    if (o['fds'] !== undefined) checkFdArray('options.fds', o['fds'], native.maxFdsPerFrame)
    optionalBoolean('options.closeFds', o['closeFds'], false)
    signal?.throwIfAborted()
    if (this.#connection.closed) {
      if (!this.#options.reconnect) throw new FdwireError('ERR_FDWIRE_CLOSED', `the connection to ${this.socketPath} is closed`)
      await this.#reconnect()
    }
    const id = this.#nextId
    this.#nextId = this.#nextId === 0xffffffff ? 1 : this.#nextId + 1
    const connection = this.#connection
    let cancel: (reason: string) => void = () => {}
    const promise = new Promise<Reply>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const onAbort = () => cancel(String(signal?.reason ?? 'aborted'))
      const cleanup = () => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#pending.delete(id)
      }
      cancel = (reason: string) => {
        if (!this.#pending.has(id)) return
        cleanup()
        try {
          if (!connection.closed) connection.send(encodeCancel(id, reason), { id, type: FRAME_TYPE_ENVELOPE })
        } catch {
          // The connection is ending (close() was called): the daemon aborts the handler when it closes.
        }
        reject(signal?.aborted ? signal.reason : new FdwireError(timer ? 'ERR_FDWIRE_TIMEOUT' : 'ERR_FDWIRE_CANCELLED', `${method}: ${reason}`))
      }
      this.#pending.set(id, { method, resolve, reject, cleanup, ...(stream ? { stream } : {}) })
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeout !== undefined) timer = setTimeout(() => cancel(`no reply within ${timeout} ms`), timeout)
    })
    const fds = o['fds'] as number[] | undefined
    try {
      connection.send(encodeRequest(id, method, bytes), {
        id,
        type: FRAME_TYPE_ENVELOPE,
        ...(fds ? { fds, closeFds: o['closeFds'] === true } : {}),
      })
    } catch (error) {
      // Not sent (e.g. close() was called): the caller gets this error, and nothing stays pending.
      this.#pending.get(id)?.cleanup()
      throw error
    }
    return { promise, cancel: (reason: string) => cancel(reason) }
  }

  #attach(connection: Connection): void {
    connection.on('message', (message) => this.#onMessage(message))
    connection.once('close', (reason) => {
      const error = new FdwireError('ERR_FDWIRE_CLOSED', `the connection to the daemon closed before it answered${reason ? `: ${reason.message}` : ''}`, {
        cause: reason,
      })
      for (const pending of [...this.#pending.values()]) {
        pending.cleanup()
        pending.reject(error)
      }
      this.emit('close', reason)
    })
  }

  #onMessage(message: Message): void {
    let envelope: Envelope
    try {
      envelope = readEnvelope(envelopePayload(message))
    } catch (error) {
      this.#connection.destroy(error as Error)
      return
    }
    switch (envelope.kind) {
      case 'response': {
        const pending = this.#pending.get(envelope.id)
        if (pending === undefined) return // cancelled or timed out: the late reply is dropped
        pending.cleanup()
        const error = envelope.error
        if (!envelope.ok) pending.reject(new RemoteError(error?.code ?? '', `${pending.method}: ${error?.message ?? 'failed'}`))
        else if (pending.stream) {
          // A plain reply to stream() (the method is not a streaming one): a stream of that reply.
          pending.stream.push(new Reply(envelope.body, message))
          pending.stream.end()
        } else pending.resolve(new Reply(envelope.body, message))
        return
      }
      case 'streamItem': {
        const pending = this.#pending.get(envelope.id)
        if (pending === undefined) return
        if (pending.stream) pending.stream.push(new Reply(envelope.body, message))
        else this.#notAStream(envelope.id, pending)
        return
      }
      case 'streamEnd': {
        const pending = this.#pending.get(envelope.id)
        if (pending === undefined) return
        const error = envelope.error
        const failure = envelope.ok ? undefined : new RemoteError(error?.code ?? '', `${pending.method}: ${error?.message ?? 'failed'}`)
        if (!pending.stream) {
          if (failure) {
            pending.cleanup()
            pending.reject(failure)
          } else this.#notAStream(envelope.id, pending)
          return
        }
        pending.cleanup()
        if (failure) pending.stream.fail(failure)
        else pending.stream.end()
        return
      }
      case 'hello':
        return
      default:
        this.#connection.destroy(new FdwireError('ERR_FDWIRE_MALFORMED', `a daemon may not send ${envelope.kind} messages`))
    }
  }

  /** request() of a streaming method: the items have nowhere to go, so it fails (and cancels). */
  #notAStream(id: number, pending: Pending): void {
    pending.cleanup()
    try {
      this.#connection.send(encodeCancel(id, 'request() of a streaming method'), { id, type: FRAME_TYPE_ENVELOPE })
    } catch {
      // The connection is ending: the daemon's stream ends with it.
    }
    pending.reject(new FdwireError('ERR_FDWIRE_MALFORMED', `${pending.method}: the daemon answered with a stream; use stream()`))
  }

  #reconnect(): Promise<void> {
    this.#reconnecting ??= (async () => {
      try {
        const timeout = this.#options.timeout ?? DEFAULT_CONNECT_TIMEOUT_MS
        const { connection, daemon } = await handshake(this.socketPath, this.#options, timeout)
        this.#connection = connection
        this.#daemon = daemon
        this.#attach(connection)
        debug('reconnected to %s', this.socketPath)
      } finally {
        this.#reconnecting = undefined
      }
    })()
    return this.#reconnecting
  }
}

/** The payload of an envelope frame; a frame of another type breaks the protocol (as on the Server). */
function envelopePayload(message: Message): Uint8Array {
  if (message.type !== FRAME_TYPE_ENVELOPE) throw new FdwireError('ERR_FDWIRE_MALFORMED', `frame type ${message.type} is not an fdwire envelope`)
  return message.payload
}

/** Connects and waits for the daemon's hello (or its refusal). */
async function handshake(socketPath: string, options: ClientOptions, timeout: number): Promise<{ connection: Connection; daemon: DaemonInfo }> {
  const deadline = Date.now() + timeout
  const { buildId, reconnect, ...connectOptions } = options
  void reconnect
  const connection = await connect(socketPath, { ...connectOptions, timeout })
  connection.send(encodeHello(PROTOCOL_VERSION, buildId ?? '', connection.maxFrameSize), { type: FRAME_TYPE_ENVELOPE })
  const iterator = connection[Symbol.asyncIterator]()
  const timer = setTimeout(
    () => connection.destroy(new FdwireError('ERR_FDWIRE_TIMEOUT', `${socketPath}: no hello from the daemon within ${timeout} ms`)),
    Math.max(0, deadline - Date.now()),
  )
  try {
    const first = await iterator.next()
    if (first.done) throw new FdwireError('ERR_FDWIRE_CLOSED', `${socketPath}: the daemon closed the connection before its hello`)
    const envelope = readEnvelope(envelopePayload(first.value))
    if (envelope.kind === 'response' && !envelope.ok) {
      const error = envelope.error
      throw new RemoteError(error?.code ?? 'ERR_FDWIRE_REFUSED', error?.message ?? 'the daemon refused the connection')
    }
    if (envelope.kind !== 'hello') throw new FdwireError('ERR_FDWIRE_MALFORMED', `${socketPath}: expected a hello, got ${envelope.kind}`)
    if (envelope.protocolVersion !== PROTOCOL_VERSION) {
      throw new FdwireError('ERR_FDWIRE_PROTOCOL_VERSION', `the daemon speaks protocol ${envelope.protocolVersion}, this client ${PROTOCOL_VERSION}`)
    }
    // A request over the daemon's limit then fails alone, before anything is sent. A daemon that
    // does not say (an older one) is assumed to have our limit or the default (peerMaxFrameSize).
    if (envelope.maxFrameSize !== 0) connection.peerMaxFrameSize = envelope.maxFrameSize
    const daemon = {
      protocolVersion: envelope.protocolVersion,
      buildId: envelope.buildId,
      maxFrameSize: connection.peerMaxFrameSize,
      peer: connection.peer,
    }
    await iterator.return?.()
    return { connection, daemon }
  } catch (error) {
    connection.destroy()
    throw error
  } finally {
    clearTimeout(timer)
  }
}

/** Items of one streamed reply, as an async iterator. */
class StreamQueue implements AsyncIterableIterator<Reply> {
  #items: Reply[] = []
  #waiting: { resolve: (r: IteratorResult<Reply>) => void; reject: (e: Error) => void } | undefined
  #done = false
  #error: Error | undefined
  onReturn: (() => void) | undefined

  push(reply: Reply): void {
    if (this.#waiting) {
      const waiting = this.#waiting
      this.#waiting = undefined
      waiting.resolve({ value: reply, done: false })
    } else this.#items.push(reply)
  }

  end(): void {
    this.#done = true
    this.#wake()
  }

  fail(error: Error): void {
    if (this.#done) return
    this.#done = true
    this.#error = error
    this.#wake()
  }

  #wake(): void {
    const waiting = this.#waiting
    if (!waiting || this.#items.length > 0) return
    this.#waiting = undefined
    if (this.#error) waiting.reject(this.#error)
    else waiting.resolve({ value: undefined, done: true })
  }

  next(): Promise<IteratorResult<Reply>> {
    const item = this.#items.shift()
    if (item) return Promise.resolve({ value: item, done: false })
    if (this.#done) return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }))
  }

  return(): Promise<IteratorResult<Reply>> {
    if (!this.#done) {
      this.#done = true
      this.onReturn?.()
    }
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
