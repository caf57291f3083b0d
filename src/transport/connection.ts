/**
 * Connection: a Unix stream socket that carries frames, each with a payload and optional fds.
 *
 * Events: `'message'` (Message), `'drain'`, `'end'` (the peer ended its side), and one `'close'`
 * carrying the reason (`undefined` for a clean close, otherwise the Error that ended it). There is
 * no `'error'` event: every failure arrives as the reason of `'close'`, so an unhandled failure can
 * never crash a daemon.
 *
 * Messages are also an async iterator (`for await (const m of connection)`). Without a consumer,
 * received messages are buffered up to `maxQueuedMessages`, then reading pauses (the kernel buffer
 * fills and the sender sees backpressure).
 */
import { TypedEventEmitter } from '../events.js'
import * as fs from 'node:fs'
import * as os from 'node:os'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { FdwireError, protocolError, systemError } from '../errors.js'
import { NativeEvent, type NativeConnection } from '../native.js'
import { checkFd, checkInteger, invalidArgValue } from '../validate.js'
import { describeFd } from './fd-stream.js'
import { receivedMessages, type Message } from './message.js'
import { checkFdsOpen, checkSendArgs, throwIfFrameOnly, type SendOptions } from './send-args.js'
import { resolveConnectionOptions, type ConnectionOptions, type ResolvedConnectionOptions } from './options.js'

const debug = debuglog('fdwire')

export type { SendOptions } from './send-args.js'

/** Credentials of the process at the other end, as the kernel reported them. */
export interface PeerCredentials {
  /** Process id (-1 where the platform does not report it). */
  pid: number
  uid: number
  gid: number
}

// The addon calls one pair of callbacks for every Connection (registered below, in the class),
// with the native connection as `this`; it carries its Connection under this key.
const owner = Symbol('fdwire.Connection')
type OwnedNative = NativeConnection & { [owner]: Connection }
let nativeCallbacks: number

type Waiter = { resolve: (result: IteratorResult<Message>) => void; reject: (error: Error) => void }

// The fd being wrapped by acceptedConnection(): already non-blocking and close-on-exec, and its
// options already resolved.
let preparedFd = -1

/** For Listener: wraps a socket it accepted (native accept already made it non-blocking,
 *  close-on-exec and, where needed, SIGPIPE-free) with the options the Listener resolved once,
 *  sparing the syscalls and the validation that would redo that for every connection. */
export function acceptedConnection(fd: number, options: ResolvedConnectionOptions, peer: PeerCredentials): Connection {
  preparedFd = fd
  try {
    return new Connection(fd, options, peer)
  } finally {
    preparedFd = -1
  }
}

/** Events of a Connection (see the top of this file). */
export type ConnectionEvents = {
  message: (message: Message) => void
  drain: () => void
  end: () => void
  close: (reason: Error | undefined) => void
}

export class Connection extends TypedEventEmitter<ConnectionEvents> {
  /** The socket's fd (owned by the connection; do not close it). -1 once closed. */
  #fd: number
  #native: NativeConnection | null
  #options: ResolvedConnectionOptions
  #peer: PeerCredentials | undefined
  #queue: Message[] = []
  #waiters: Waiter[] = []
  #userPaused = false
  #nativePaused = false
  #needDrain = false
  #ending = false
  #writeFinished = false
  #peerEnded = false
  #closed = false
  #closeReason: Error | undefined
  #corks = 0
  #peerMaxFrameSize: number

  /**
   * Wraps a connected Unix stream socket. The connection owns `fd` from now on, also if preparing
   * the socket fails; a bad argument (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`, or
   * `ERR_INVALID_ARG_VALUE` when `fd` is not a socket) closes nothing, and an fd that is not open
   * fails with `EBADF` (syscall `fstat`). Prefer `connect()`, `Listener` or `socketPair()`; this is
   * for sockets that arrived by other means, such as fd passing.
   */
  constructor(fd: number, options?: ConnectionOptions, peer?: PeerCredentials) {
    super()
    let resolved: ResolvedConnectionOptions
    if (preparedFd >= 0 && fd === preparedFd) {
      resolved = options as ResolvedConnectionOptions
    } else {
      checkFd('fd', fd)
      resolved = resolveConnectionOptions(options)
      // The addon would only see uv_poll_init fail (or poll a file forever): say what is wrong.
      const stats = fs.fstatSync(fd)
      if (!stats.isSocket()) throw invalidArgValue('fd', fd, `must be a connected Unix socket; fd ${fd} is ${describeFd(stats, fd)}`)
      const err = native.prepareSocket(fd)
      if (err < 0) {
        native.close(fd)
        throw systemError(err, 'fcntl')
      }
    }
    this.#fd = fd
    this.#options = resolved
    this.#peerMaxFrameSize = resolved.peerMaxFrameSize
    this.#peer = peer
    const handle = new native.Connection(fd, resolved.maxFrameSize, resolved.maxFdsPerFrame, resolved.readBufferSize, nativeCallbacks) as OwnedNative
    handle[owner] = this
    this.#native = handle
  }

  static {
    nativeCallbacks = native.Connection.callbacks<OwnedNative>(
      function (buffer, frames, fds) {
        this[owner].#onFrames(buffer, frames, fds)
      },
      function (kind, value, detail) {
        this[owner].#onEvent(kind, value, detail)
      },
    )
  }

  // A 'message' listener starts delivery. Every listener is added through `on()` (`addListener()`
  // is the same method) or `prependListener()`: `once()` and `prependOnceListener()` call them, as
  // do `events.once()` and `events.on()`. (Watching EventEmitter's own 'newListener' event would
  // cost an emit for every listener added, of any event, on every connection.)
  override on<E extends keyof ConnectionEvents>(event: E, listener: ConnectionEvents[E]): this {
    if (event === 'message') this.#messageListenerAdded()
    return super.on(event, listener)
  }

  override addListener<E extends keyof ConnectionEvents>(event: E, listener: ConnectionEvents[E]): this {
    return this.on(event, listener)
  }

  override prependListener<E extends keyof ConnectionEvents>(event: E, listener: ConnectionEvents[E]): this {
    if (event === 'message') this.#messageListenerAdded()
    return super.prependListener(event, listener)
  }

  #messageListenerAdded(): void {
    if (this.#queue.length > 0) process.nextTick(() => this.#flush())
    // The first listener: read what is already there now rather than on the next turn of the
    // event loop (a client typically sends its request right after connecting).
    else if (this.listenerCount('message') === 0) process.nextTick(() => this.#readNow())
  }

  /** The socket's fd, or -1 once closed. The connection owns it. */
  get fd(): number {
    return this.#fd
  }

  /** Credentials of the peer process (pid, uid, gid), from the kernel. */
  get peer(): PeerCredentials {
    if (this.#peer === undefined) {
      if (this.#closed) throw new FdwireError('ERR_FDWIRE_CLOSED', 'connection is closed')
      const result = native.peerCredentials(this.#fd)
      if (typeof result === 'number') throw systemError(result, 'getsockopt', undefined, 'SO_PEERCRED')
      this.#peer = { pid: result[0], uid: result[1], gid: result[2] }
    }
    return this.#peer
  }

  /** Bytes queued for sending that the kernel has not taken yet. */
  get writableLength(): number {
    return this.#native?.queuedBytes() ?? 0
  }

  /** Whether `send()` last reported backpressure and `'drain'` has not come yet. */
  get writableNeedDrain(): boolean {
    return this.#needDrain
  }

  /** Largest payload accepted from the peer (`ConnectionOptions.maxFrameSize`). */
  get maxFrameSize(): number {
    return this.#options.maxFrameSize
  }

  /** Largest payload `send()` accepts (the peer's `maxFrameSize`); see
   *  `ConnectionOptions.peerMaxFrameSize`. Set it when the peer tells you its limit. */
  get peerMaxFrameSize(): number {
    return this.#peerMaxFrameSize
  }

  set peerMaxFrameSize(value: number) {
    this.#peerMaxFrameSize = checkInteger('peerMaxFrameSize', value, 0, 0xffffffff)
  }

  /** True once the connection is closed (after which `'close'` is or was emitted). */
  get closed(): boolean {
    return this.#closed
  }

  /** Why the connection closed: undefined while open or after a clean close. */
  get closeReason(): Error | undefined {
    return this.#closeReason
  }

  /**
   * Sends one message. The payload is sent or copied before this returns, so the buffer may be
   * reused at once. Returns false when the queue reached `highWaterMark`: wait for `'drain'`.
   * Sent from a `'message'` listener of this connection while it handles several messages that
   * arrived together, it is held back until all of them (and their microtasks) are handled, then
   * leaves with the others in one write.
   * A send that throws sent and queued nothing, and the connection stays as it was.
   * @throws FdwireError `ERR_FDWIRE_CLOSED` after the connection closed or `end()` was called.
   * @throws FdwireError `ERR_FDWIRE_FRAME_TOO_LARGE` when the payload is over `peerMaxFrameSize`.
   * @throws SystemError `EBADF` when one of `options.fds` is not an open fd (the message names it).
   */
  send(payload: Uint8Array | string, options?: SendOptions): boolean {
    const { bytes, id, type, closeFds, fds } = checkSendArgs(payload, options)
    const handle = this.#native
    if (handle === null || this.#ending) {
      if (fds && closeFds) for (const fd of fds) native.close(fd)
      throw new FdwireError('ERR_FDWIRE_CLOSED', this.#closed ? 'connection is closed' : 'connection was ended')
    }
    if (bytes.byteLength > this.#peerMaxFrameSize) {
      if (fds && closeFds) for (const fd of fds) native.close(fd)
      throw new FdwireError(
        'ERR_FDWIRE_FRAME_TOO_LARGE',
        `payload is ${bytes.byteLength} bytes, over the peer's maxFrameSize of ${this.#peerMaxFrameSize} bytes; nothing was sent`,
      )
    }
    // A closed fd is the caller's mistake, knowable now: fail this send alone. (Left to sendmsg,
    // it would fail the whole write; the kernel's verdict on a later queued frame would close
    // the connection.)
    if (fds) checkFdsOpen(fds, closeFds, 'fcntl', 'is not an open file descriptor')
    const queued = handle.send(bytes.byteLength > 0 ? bytes : null, id, type, fds, closeFds)
    if (queued < 0) {
      throwIfFrameOnly(queued, fds, closeFds, this.#fd)
      const error = systemError(queued, 'sendmsg')
      process.nextTick(() => this.destroy(error))
      return false
    }
    if (queued >= this.#options.highWaterMark && queued > 0) {
      this.#needDrain = true
      handle.wantDrain()
      return false
    }
    return true
  }

  /**
   * Holds back what `send()` sends until `uncork()`: the messages then leave together, in one
   * write where possible (one sendmsg, one wake-up of the peer). Calls nest, as with Node's
   * `writable.cork()`; `end()` waits for the uncork too. Typical: cork, send several messages (or
   * handle a request), `setImmediate(() => connection.uncork())`.
   */
  cork(): void {
    if (this.#native === null) return
    if (this.#corks++ === 0) this.#native.cork()
  }

  /** Ends one `cork()`; the last one writes everything held back. */
  uncork(): void {
    if (this.#corks === 0) return
    if (--this.#corks > 0) return
    this.#native?.uncork()
  }

  /**
   * Finishes our side: sends `payload` if given, flushes everything queued, then half-closes.
   * The connection closes once the peer has ended its side too.
   */
  end(payload?: Uint8Array | string, options?: SendOptions): void {
    if (this.#closed || this.#ending) return
    if (payload !== undefined) this.send(payload, options)
    this.#ending = true
    const handle = this.#native!
    const err = handle.shutdown()
    if (err < 0 && err !== -os.constants.errno.ENOTCONN /* the peer is already gone */) {
      this.destroy(systemError(err, 'shutdown'))
      return
    }
    if (handle.queuedBytes() === 0) {
      this.#writeFinished = true
      this.#maybeFinish()
    }
  }

  /**
   * Closes now: the socket, queued outgoing frames and their fds, and every received fd not taken.
   * `'close'` follows with `reason`.
   */
  destroy(reason?: Error): void {
    if (this.#closed) return
    for (const message of this.#queue) message.release()
    this.#queue.length = 0
    this.#close(reason)
  }

  /**
   * Hands the socket over: stops using it and returns its fd, open and untouched, for you to pass
   * on (e.g. to a worker process with `send(..., { fds: [fd], closeFds: true })`). Only possible
   * before anything was read or while nothing is queued — typically right in the listener's
   * `'connection'` event. `'close'` follows (no reason).
   * @throws FdwireError `ERR_FDWIRE_STATE` when bytes were already received or are queued.
   * @throws SystemError (syscall `sendmsg`) when what a `'message'` listener sent just before could
   *   not be written (the peer is gone); nothing was detached.
   */
  detach(): number {
    const handle = this.#native
    if (handle === null) throw new FdwireError('ERR_FDWIRE_CLOSED', 'connection is closed')
    if (this.#queue.length > 0) throw new FdwireError('ERR_FDWIRE_STATE', 'cannot detach: messages were already received')
    const fd = handle.detach()
    if (fd === -os.constants.errno.EBUSY) throw new FdwireError('ERR_FDWIRE_STATE', 'cannot detach: bytes were already read or are queued')
    // What a listener of this batch sent is written before the fd changes hands; that write failed.
    if (fd < 0) throw systemError(fd, 'sendmsg', undefined, 'what was sent before detach() could not be written; nothing was detached')
    this.#native = null
    this.#close(undefined)
    return fd
  }

  #readNow(): void {
    if (this.#userPaused || this.#nativePaused) return
    this.#native?.readNow()
  }

  /** Stops reading. Messages already received are still delivered. */
  pause(): void {
    this.#userPaused = true
    this.#updateReading()
  }

  /** Resumes reading after `pause()`. */
  resume(): void {
    this.#userPaused = false
    this.#updateReading()
  }

  /** Keeps the event loop alive while open (default). */
  ref(): this {
    this.#native?.ref()
    return this
  }

  /** Lets the process exit while this connection is open. */
  unref(): this {
    this.#native?.unref()
    return this
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    let current: Message | undefined
    const done = (): IteratorResult<Message> => ({ value: undefined, done: true })
    const iterator: AsyncIterableIterator<Message> = {
      next: () => {
        current?.release()
        current = undefined
        const next = this.#queue.shift()
        if (next !== undefined) {
          current = next
          this.#afterDequeue()
          return Promise.resolve({ value: next, done: false })
        }
        if (this.#closed || this.#peerEnded) {
          return this.#closeReason ? Promise.reject(this.#closeReason) : Promise.resolve(done())
        }
        return new Promise((resolve, reject) => {
          this.#waiters.push({
            resolve: (result) => {
              if (!result.done) current = result.value
              resolve(result)
            },
            reject,
          })
        })
      },
      return: () => {
        current?.release()
        current = undefined
        return Promise.resolve(done())
      },
      [Symbol.asyncIterator]() {
        return iterator
      },
    }
    return iterator
  }

  #onFrames(buffer: Buffer, frames: number, fdTotal: number): void {
    receivedMessages(buffer, frames, this.#queue)
    // Guarded: a debuglog call with this many arguments allocates even when it logs nothing.
    if (debug.enabled) debug('connection fd %d: %d frames, %d fds', this.#fd, frames, fdTotal)
    this.#flush()
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const waiter = this.#waiters.shift()
      if (waiter !== undefined) {
        waiter.resolve({ value: this.#queue.shift()!, done: false })
        continue
      }
      if (this.listenerCount('message') === 0) break
      const message = this.#queue.shift()!
      try {
        this.emit('message', message)
      } catch (error) {
        // A throwing listener is the application's bug: surface it as Node does for 'data'
        // listeners, after this batch is safely handled.
        process.nextTick(() => {
          throw error
        })
      } finally {
        message.release()
      }
    }
    this.#afterDequeue()
  }

  #afterDequeue(): void {
    this.#updateReading()
    if (this.#queue.length === 0 && this.#peerEnded) this.#onPeerEndConsumed()
  }

  #updateReading(): void {
    const handle = this.#native
    if (handle === null) return
    const paused = this.#userPaused || this.#queue.length >= this.#options.maxQueuedMessages
    if (paused === this.#nativePaused) return
    this.#nativePaused = paused
    if (paused) handle.pause()
    else handle.resume()
  }

  #onEvent(kind: number, value: number, detail: string | undefined): void {
    switch (kind) {
      case NativeEvent.drain:
        if (this.#ending && !this.#writeFinished) {
          this.#writeFinished = true
          this.#maybeFinish()
        }
        if (this.#needDrain) {
          this.#needDrain = false
          this.emit('drain')
        }
        return
      case NativeEvent.end:
        this.#peerEnded = true
        if (this.#queue.length === 0) this.#onPeerEndConsumed()
        return
      case NativeEvent.error:
        this.destroy(systemError(value, detail ?? 'recvmsg'))
        return
      case NativeEvent.protocol:
        this.destroy(protocolError(value, detail ?? 'unknown'))
        return
    }
  }

  #endEmitted = false
  #onPeerEndConsumed(): void {
    if (this.#endEmitted) return
    this.#endEmitted = true
    if (this.#waiters.length > 0) for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true })
    this.emit('end')
    if (!this.#options.allowHalfOpen) this.end()
    this.#maybeFinish()
  }

  #maybeFinish(): void {
    if (this.#endEmitted && this.#writeFinished && this.#queue.length === 0) this.#close(undefined)
  }

  #close(reason: Error | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.#closeReason = reason
    this.#native?.close() // null after detach(): the fd lives on elsewhere
    this.#native = null
    this.#fd = -1
    if (this.#waiters.length > 0) {
      for (const waiter of this.#waiters.splice(0)) {
        if (reason) waiter.reject(reason)
        else waiter.resolve({ value: undefined, done: true })
      }
    }
    if (reason) debug('connection closed: %s', reason.message)
    process.nextTick(() => this.emit('close', reason))
  }
}
