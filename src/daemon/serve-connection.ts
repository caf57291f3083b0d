/**
 * One client connection on a Server: sends the Hello, verifies every envelope before reading it,
 * runs handlers, streams replies with backpressure, and honours Cancel. A malformed message gets
 * one error reply (id 0) and the connection is ended; the server keeps serving everyone else.
 */
import { once } from 'node:events'
import { debuglog } from 'node:util'
import { FdwireError } from '../errors.js'
import {
  encodeHello,
  encodeResponse,
  encodeStreamEnd,
  encodeStreamItem,
  PROTOCOL_VERSION,
  readEnvelope,
  type Envelope,
  type RequestView,
} from '../protocol/index.js'
import type { Connection, PeerCredentials } from '../transport/connection.js'
import type { Message } from '../transport/message.js'
import { native } from '../binding.js'
import { bodyView, IncomingRequest, type HandlerRequest } from './request.js'
import { toBody, toErrorInfo } from './rpc.js'
import { CODE_SHUTTING_DOWN, CODE_UNKNOWN_METHOD, FRAME_TYPE_ENVELOPE } from '../wire.js'

const debug = debuglog('fdwire')

/**
 * After we end a connection (a refusal, or the server closing), how long the peer has to end its
 * side before we destroy ours: a peer that neither reads nor closes would hold the fd for good.
 */
export const PEER_END_GRACE_MS = 1000

/** What a Server handler gets for one request: the fields every handler's request has, and the
 *  client it came from. */
export interface RequestContext extends HandlerRequest {
  readonly id: number
  /** The client's kernel credentials. */
  readonly peer: PeerCredentials
  /** Aborted when the client cancels, disconnects, or the server stops waiting for handlers. */
  readonly signal: AbortSignal
  /** The client's connection. */
  readonly connection: Connection
}

/** A body, or a body with fds to send back (and whether the connection ends with this reply). */
export type HandlerResult =
  | Uint8Array
  | string
  | void
  | undefined
  | {
      body?: Uint8Array | string
      fds?: readonly number[]
      closeFds?: boolean
      /** End the connection with this reply: the client sees its end of stream right behind the
       *  reply, never a moment later (e.g. a remote shell that `exit` ends). Default false. */
      end?: boolean
    }

/** Which request a handler failed on (`'handlerError'`). */
export interface HandlerErrorContext {
  readonly id: number
  readonly method: string
  /** Whether the handler is a stream handler. */
  readonly stream: boolean
  /** The client's kernel credentials. */
  readonly peer: PeerCredentials
}

export type Handler = (request: RequestContext) => HandlerResult | Promise<HandlerResult>
export type StreamHandler = (request: RequestContext) => AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>

/** What a served connection needs from its server. */
export interface ServeHost {
  readonly buildId: string
  handlerFor(method: string): { handler: Handler; stream: false } | { handler: StreamHandler; stream: true } | undefined
  /** Whether new requests are refused (the server is shutting down). */
  readonly draining: boolean
  requestStarted(): void
  requestFinished(): void
  /** A handler threw (or rejected), or its reply could not be sent; the client was told. */
  handlerError?(error: unknown, context: HandlerErrorContext): void
  /** The connection closed (after its handlers still running were aborted). */
  connectionClosed?(served: ServedConnection): void
}

// The Hello of a build id and frame limit, encoded once (every connection gets the same bytes).
let helloCache: { buildId: string; maxFrameSize: number; bytes: Uint8Array } | undefined

function helloFor(buildId: string, maxFrameSize: number): Uint8Array {
  if (helloCache?.buildId !== buildId || helloCache.maxFrameSize !== maxFrameSize) {
    helloCache = { buildId, maxFrameSize, bytes: Buffer.from(encodeHello(PROTOCOL_VERSION, buildId, maxFrameSize)) }
  }
  return helloCache.bytes
}

export class ServedConnection {
  readonly connection: Connection
  readonly #host: ServeHost
  readonly #inFlight = new InFlight()
  #corked = true
  #uncorkLater: NodeJS.Immediate | undefined

  constructor(connection: Connection, host: ServeHost) {
    this.connection = connection
    this.#host = host
    // The Hello is held back until the first reply or the end of this turn of the event loop,
    // whichever comes first: a request that came with the connection is read at once (see
    // Connection), and when its handler answers without waiting on anything, the reply leaves
    // with the Hello in one write: one wake-up of the client instead of two.
    connection.cork()
    this.#uncorkLater = setImmediate(() => this.#uncork())
    connection.send(helloFor(host.buildId, connection.maxFrameSize), { type: FRAME_TYPE_ENVELOPE })
    connection.on('message', (message) => this.#onMessage(message))
    connection.on('close', () => {
      if (this.#inFlight.size > 0) this.abortAll(new FdwireError('ERR_FDWIRE_CLOSED', 'the client disconnected'))
      host.connectionClosed?.(this)
    })
  }

  #uncork(): void {
    if (!this.#corked) return
    this.#corked = false
    // The first reply came first: the immediate has nothing left to do (it would still run).
    clearImmediate(this.#uncorkLater)
    this.#uncorkLater = undefined
    this.connection.uncork()
  }

  /** Requests being handled right now on this connection. */
  get inFlight(): number {
    return this.#inFlight.size
  }

  /** Aborts every handler still running (shutdown timeout). */
  abortAll(reason: Error): void {
    for (const context of this.#inFlight.all()) context.abort(reason)
  }

  #onMessage(message: Message): void {
    if (message.type !== FRAME_TYPE_ENVELOPE) {
      this.#protocolFailure(`frame type ${message.type} is not an fdwire envelope`)
      return
    }
    let envelope: Envelope
    try {
      envelope = readEnvelope(message.payload)
    } catch (error) {
      this.#protocolFailure((error as Error).message)
      return
    }
    switch (envelope.kind) {
      case 'hello':
        if (envelope.protocolVersion !== PROTOCOL_VERSION) {
          this.#refuse('ERR_FDWIRE_PROTOCOL_VERSION', `client speaks protocol version ${envelope.protocolVersion}, this daemon speaks ${PROTOCOL_VERSION}`)
        }
        // Replies over the client's limit then fail alone (ERR_FDWIRE_FRAME_TOO_LARGE) instead of
        // closing the connection.
        if (envelope.maxFrameSize !== 0) this.connection.peerMaxFrameSize = envelope.maxFrameSize
        return
      case 'request':
        this.#onRequest(envelope, message)
        return
      case 'cancel':
        this.#inFlight.get(envelope.id)?.abort(new FdwireError('ERR_FDWIRE_CANCELLED', envelope.reason || 'cancelled by the client'))
        return
      default:
        this.#protocolFailure(`a client may not send ${envelope.kind} messages`)
    }
  }

  #onRequest(request: RequestView, message: Message): void {
    const id = request.id
    const method = request.method
    if (this.#inFlight.has(id)) {
      this.#protocolFailure(`request id ${id} is already in flight`)
      return
    }
    if (this.#host.draining) {
      this.#reply(id, { error: { code: CODE_SHUTTING_DOWN, message: 'the daemon is shutting down' } })
      return
    }
    const route = this.#host.handlerFor(method)
    if (route === undefined) {
      this.#reply(id, { error: { code: CODE_UNKNOWN_METHOD, message: `unknown method ${JSON.stringify(method)}` } })
      return
    }
    const fds = message.takeFds()
    const context = new Context(id, method, bodyView(request.body), fds, this.connection)
    this.#inFlight.add(context)
    this.#host.requestStarted()
    // Each run ends with #finished() itself: a .finally() here would cost a promise, two closures
    // and a turn of the microtask queue per request.
    if (route.stream) void this.#runStream(route.handler, context)
    else void this.#runHandler(route.handler, context)
  }

  /** A request's handler is done and its reply sent (or the client gone). */
  #finished(context: Context): void {
    context.release()
    this.#inFlight.delete(context)
    this.#host.requestFinished()
  }

  async #runHandler(handler: Handler, context: Context): Promise<void> {
    try {
      let result: HandlerResult
      try {
        result = await handler(context)
      } catch (error) {
        this.#handlerFailed(error, context, false)
        this.#reply(context.id, { error: toErrorInfo(error) })
        return
      }
      let failure: unknown
      if (result === undefined || result instanceof Uint8Array || typeof result === 'string') {
        failure = this.#reply(context.id, { body: toBody(result as Uint8Array | string | undefined) })
      } else {
        const fds = result.fds ? [...result.fds] : undefined
        try {
          failure = this.#reply(context.id, { body: toBody(result.body, 'result.body') }, fds, result.closeFds === true)
        } catch (error) {
          failure = error // a result.body of the wrong type
        }
        if (failure === undefined && result.end === true) this.connection.end()
      }
      if (failure === undefined) return
      // The reply could not be sent (a body over the client's maxFrameSize, a closed fd...): that
      // request alone fails, with the reason, and the connection goes on.
      this.#handlerFailed(failure, context, false)
      this.#reply(context.id, { error: toErrorInfo(failure) })
    } finally {
      this.#finished(context)
    }
  }

  /** Logs a handler's failure with its stack and tells the host, unless the client cancelled. */
  #handlerFailed(error: unknown, context: Context, stream: boolean): void {
    if (context.aborted && error === context.abortReason) return
    debug('handler %s (request %d) failed: %s', context.method, context.id, error instanceof Error ? (error.stack ?? error.message) : String(error))
    const host = this.#host
    if (host.handlerError === undefined) return
    try {
      host.handlerError(error, { id: context.id, method: context.method, stream, peer: context.peer })
    } catch (listenerError) {
      // A throwing 'handlerError' listener is the application's bug: surface it as Node does.
      process.nextTick(() => {
        throw listenerError
      })
    }
  }

  async #runStream(handler: StreamHandler, context: Context): Promise<void> {
    try {
      const connection = this.connection
      let seq = 0
      try {
        for await (const item of handler(context)) {
          if (connection.closed || context.signal.aborted) break
          const ok = connection.send(encodeStreamItem(context.id, seq++, toBody(item, 'stream item')), { id: context.id })
          if (!ok) await Promise.race([once(connection, 'drain'), once(connection, 'close')])
        }
        if (context.signal.aborted) throw context.signal.reason
        this.#send(encodeStreamEnd(context.id), context.id)
      } catch (error) {
        this.#handlerFailed(error, context, true)
        this.#send(encodeStreamEnd(context.id, { error: toErrorInfo(error) }), context.id)
      }
    } finally {
      this.#finished(context)
    }
  }

  /** Sends a reply; returns why it could not be sent while the connection is still open. */
  #reply(id: number, reply: { body?: Uint8Array; error?: { code: string; message: string } }, fds?: number[], closeFds = false): unknown {
    if (this.connection.closed) {
      if (fds && closeFds) for (const fd of fds) native.close(fd)
      return undefined
    }
    return this.#send(encodeResponse(id, reply), id, fds, closeFds)
  }

  /** Sends one envelope; returns why it was not sent when the connection is still open. */
  #send(payload: Uint8Array, id: number, fds?: number[], closeFds = false): unknown {
    let failure: unknown
    try {
      this.connection.send(payload, fds ? { id, type: FRAME_TYPE_ENVELOPE, fds, closeFds } : { id, type: FRAME_TYPE_ENVELOPE })
    } catch (error) {
      debug('reply to request %d not sent: %s', id, (error as Error).message)
      // Once the connection ended there is nobody left to tell.
      if (!this.connection.closed && !(error instanceof FdwireError && error.code === 'ERR_FDWIRE_CLOSED')) failure = error
    }
    this.#uncork()
    return failure
  }

  /** Tells the client why, then ends the connection. */
  #refuse(code: string, message: string): void {
    debug('closing connection: %s %s', code, message)
    if (this.connection.closed) return
    this.#send(encodeResponse(0, { error: { code, message } }), 0)
    this.connection.end()
  }

  #protocolFailure(reason: string): void {
    this.#refuse('ERR_FDWIRE_MALFORMED', `malformed message from client: ${reason}`)
  }
}

export interface ServeConnectionOptions {
  /** Sent in the hello. Default `''`. */
  buildId?: string
  /** Request handlers by method. */
  handlers?: Readonly<Record<string, Handler>>
  /** Streaming handlers by method. */
  streamHandlers?: Readonly<Record<string, StreamHandler>>
  /** Called when a handler throws or rejects (as the Server's `'handlerError'` event). */
  onHandlerError?: (error: unknown, context: HandlerErrorContext) => void
}

/**
 * Serves one connection as a Server would (hello, verified envelopes, handlers, streams,
 * cancellation), for connections that arrived by other means — typically a client connection a
 * Server handed to a worker process (`ServerOptions.handoff`). Resolves when the connection closed.
 */
export function serveConnection(connection: Connection, options: ServeConnectionOptions = {}): Promise<void> {
  let inFlight = 0
  const host: ServeHost = {
    buildId: options.buildId ?? '',
    draining: false,
    handlerFor(method) {
      const handler = options.handlers?.[method]
      if (handler !== undefined) return { handler, stream: false }
      const stream = options.streamHandlers?.[method]
      return stream === undefined ? undefined : { handler: stream, stream: true }
    },
    requestStarted: () => void inFlight++,
    requestFinished: () => void inFlight--,
    ...(options.onHandlerError ? { handlerError: options.onHandlerError } : {}),
  }
  new ServedConnection(connection, host)
  return new Promise((resolve) => {
    if (connection.closed) resolve()
    else connection.once('close', () => resolve())
  })
}

/** Sends a refusal (id 0 error response) on a connection that is not served, then ends it. */
export function refuseConnection(connection: Connection, code: string, message: string): void {
  // Discard what the peer sent (its hello): a frame nobody reads keeps the peer's end unseen, and
  // the connection (and its fd) open for good. A peer that never ends its side is cut off.
  connection.on('message', () => {})
  const force = setTimeout(() => connection.destroy(), PEER_END_GRACE_MS)
  force.unref()
  connection.once('close', () => clearTimeout(force))
  connection.send(encodeResponse(0, { error: { code, message } }), { type: FRAME_TYPE_ENVELOPE })
  connection.end()
}

/**
 * The requests in flight on one connection, by id. Nearly always there is one at a time (or none):
 * that one is kept in a field, and a Map is made only when a second arrives. A Map emptied by a
 * delete is shrunk by V8, a runtime call that would be paid on every request.
 */
class InFlight {
  #only: Context | undefined
  #byId: Map<number, Context> | undefined

  get size(): number {
    return this.#byId !== undefined ? this.#byId.size : this.#only === undefined ? 0 : 1
  }

  get(id: number): Context | undefined {
    if (this.#byId !== undefined) return this.#byId.get(id)
    return this.#only?.id === id ? this.#only : undefined
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  add(context: Context): void {
    if (this.#byId !== undefined) {
      this.#byId.set(context.id, context)
    } else if (this.#only === undefined) {
      this.#only = context
    } else {
      this.#byId = new Map([
        [this.#only.id, this.#only],
        [context.id, context],
      ])
      this.#only = undefined
    }
  }

  delete(context: Context): void {
    if (this.#byId !== undefined) this.#byId.delete(context.id)
    else if (this.#only === context) this.#only = undefined
  }

  /** A snapshot: aborting a request may end it, and delete it, while the caller iterates. */
  all(): Context[] {
    if (this.#byId !== undefined) return [...this.#byId.values()]
    return this.#only === undefined ? [] : [this.#only]
  }
}

/** A Server's request: an IncomingRequest that also knows the client's connection (a worker's
 *  requests come from its pool, so WorkerContext has neither `connection` nor `peer`). */
class Context extends IncomingRequest implements RequestContext {
  readonly connection: Connection

  constructor(id: number, method: string, body: Buffer, fds: number[], connection: Connection) {
    super(id, method, body, fds)
    this.connection = connection
  }

  get peer(): PeerCredentials {
    return this.connection.peer
  }
}
