/**
 * What the Server and the WorkerPool share of a request and its reply:
 * - `FdHolder`: fds a request or a reply holds for the application until it takes them. The
 *   Client's `Reply`, the pool's `PoolReply` and both request contexts are FdHolders.
 * - `IncomingRequest`: one request being handled (id, method, body view, fds, cancellation); the
 *   context a Server handler gets (`RequestContext`) and the one a worker's handler gets
 *   (`WorkerContext`) are both built on it.
 * - `HandlerRequest`: the fields of a request every handler sees.
 * - `bodyView`: a received body as a Buffer view, empty when none came.
 *
 * What stays different, and why:
 * - A Server's request context also has `connection` and `peer`: a worker's requests come from its
 *   pool, never from a client, so there is no client connection or credentials to show.
 * - `Reply` closes the fds not taken on the next turn of the event loop; `PoolReply` keeps them
 *   until `closeFds()`. Both lifetimes are documented behaviour of public classes.
 * - Handler results and errors: a Server handler may answer with a string, end the connection
 *   (`end`), or stream; its errors become `ERR_FDWIRE_HANDLER` unless an Error carries a code. A
 *   worker handler answers with bytes only (`WorkerResult`), and an error is read by duck typing
 *   (any object's `code`/`message`) with `ERR_FDWIRE_WORKER_HANDLER` as the fallback code. Each is
 *   documented for its handler type, so each keeps its own encoding (serve-connection.ts,
 *   serve-worker.ts).
 */
import type * as net from 'node:net'
import type { FdStream, TakeSocketOptions, TakeStreamOptions } from '../transport/fd-stream.js'
import { OwnedFds } from '../transport/owned-fds.js'

const emptyBody = Buffer.alloc(0)

/** A received body as a Buffer view of the same bytes (no copy); empty when none came. */
export function bodyView(bytes: Uint8Array | null): Buffer {
  return bytes === null ? emptyBody : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The fields every handler's request has: a Server handler's `RequestContext` and a worker
 *  handler's `WorkerContext` extend it. */
export interface HandlerRequest {
  /** The request's method name. */
  readonly method: string
  /** The request body: a view of the received bytes (empty when the caller sent none). */
  readonly body: Buffer
  /** The request's fds not yet taken; untaken ones are closed when the handler settles (so take
   *  one before wrapping it: `takeSocket`, `takeStream`, `takeFd`). */
  readonly fds: readonly number[]
  /** Takes the fd at `index` (in the order sent): yours to close. */
  takeFd(index?: number): number
  /** Takes all fds not yet taken: yours to close. */
  takeFds(): number[]
  /** Takes the fd at `index` as a `net.Socket` that owns it (a stream socket or pipe); see
   *  `Message.takeSocket`. Wrap a request's fd this way, never with `new net.Socket({ fd })`. */
  takeSocket(index?: number, options?: TakeSocketOptions): net.Socket
  /** Takes the fd at `index` as a stream that owns it (socket, pipe, terminal, file, device); see
   *  `Message.takeStream`. */
  takeStream(index?: number, options?: TakeStreamOptions): FdStream
  /** Aborted when the request is cancelled. */
  readonly signal: AbortSignal
}

// The module's way into a holder's fds, without a public member for it.
let ownedFdsOf: (holder: FdHolder) => OwnedFds

/** fds held for the application: take the ones you want; the holder closes the others (when
 *  depends on the holder: see its class). */
export class FdHolder {
  readonly #fds: OwnedFds

  static {
    ownedFdsOf = (holder) => holder.#fds
  }

  /** @internal Takes ownership of `fds`; `holder` names it in errors ('reply', 'request'). */
  constructor(fds: number[], holder: string) {
    this.#fds = new OwnedFds(fds, holder)
  }

  /** The fds not taken yet. Take one before wrapping it (`takeSocket`, `takeStream`, `takeFd`):
   *  the ones left are closed by their holder. */
  get fds(): readonly number[] {
    return this.#fds.shown()
  }

  /** Takes the fd at `index` (in the order sent): yours to close from then on. */
  takeFd(index = 0): number {
    return this.#fds.take(index)
  }

  /** Takes every fd not taken yet: yours to close. */
  takeFds(): number[] {
    return this.#fds.takeAll()
  }

  /** Takes the fd at `index` as a `net.Socket` that owns it (a stream socket or pipe); see
   *  `Message.takeSocket`. Wrap a received fd this way, never with `new net.Socket({ fd })`. */
  takeSocket(index = 0, options?: TakeSocketOptions): net.Socket {
    return this.#fds.takeSocket(index, options)
  }

  /** Takes the fd at `index` as a stream that owns it (socket, pipe, terminal, file, device); see
   *  `Message.takeStream`. */
  takeStream(index = 0, options?: TakeStreamOptions): FdStream {
    return this.#fds.takeStream(index, options)
  }
}

/** How many fds `holder` came with, taken or not. */
export function heldFdCount(holder: FdHolder): number {
  return ownedFdsOf(holder).count
}

/** Closes the fds `holder` still holds. Idempotent. */
export function releaseHeldFds(holder: FdHolder): void {
  ownedFdsOf(holder).closeRest()
}

/** One request being handled: what a Server's and a worker's handler both get. */
export class IncomingRequest extends FdHolder implements HandlerRequest {
  readonly id: number
  readonly method: string
  /** The request body: a view of the received bytes. */
  readonly body: Buffer
  // Made on first use of `signal`: most handlers never look at it, and an AbortController is
  // among the costliest objects of a request.
  #controller: AbortController | undefined
  #abortReason: Error | undefined // set once: the request is aborted

  constructor(id: number, method: string, body: Buffer, fds: number[]) {
    super(fds, 'request')
    this.id = id
    this.method = method
    this.body = body
  }

  /** Aborted when the request is cancelled or its connection closes. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  get aborted(): boolean {
    return this.#abortReason !== undefined
  }

  get abortReason(): Error | undefined {
    return this.#abortReason
  }

  /** Aborts `signal` with `reason` (once). */
  abort(reason: Error): void {
    if (this.#abortReason !== undefined) return
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }

  /** Closes the fds the handler did not take (it settled). */
  release(): void {
    releaseHeldFds(this)
  }
}
