/**
 * The worker side of a WorkerPool: `serveWorker(handler)` runs in each worker process. It wraps the
 * socket the pool handed over as fd 3, says Hello, then answers each Request with one Response.
 * Between requests it puts back the process state a handler may have changed (cwd, environment,
 * umask), so one request cannot leak state into the next.
 */
import { debuglog } from 'node:util'
import { FdwireError } from '../errors.js'
import { encodeHello, encodeResponse, PROTOCOL_VERSION, readEnvelope, type Envelope } from '../protocol/index.js'
import { Connection } from '../transport/connection.js'
import type { ConnectionOptions } from '../transport/options.js'
import { checkFd, checkFunction, checkObject, optionalBoolean } from '../validate.js'
import { bodyView, IncomingRequest, type HandlerRequest } from './request.js'

const debug = debuglog('fdwire')

/** Where WorkerPool puts the worker's end of its socketpair: the first fd after stdio. */
const WORKER_SOCKET_FD = 3

/** What a worker's handler gets for one request: the fields every handler's request has. A
 *  worker's requests come from its pool, not from a client: there is no connection or peer. */
export interface WorkerContext extends HandlerRequest {
  /** Aborted when the caller cancels the request (its AbortSignal fired). */
  readonly signal: AbortSignal
}

/** A handler's reply when it carries more than a body. */
export interface WorkerResult {
  /** Reply body. Default: empty. */
  body?: Uint8Array
  /** fds to hand back to the caller with the reply. Default: none. */
  fds?: readonly number[]
  /** Close our copies of `fds` once sent. Default false (as `Connection.send`). */
  closeFds?: boolean
}

/**
 * Handles one request. Return the reply body, a `WorkerResult`, or nothing (empty reply). A thrown
 * error becomes an error Response: its `code` (when a string, else `'ERR_FDWIRE_WORKER_HANDLER'`)
 * and `message` reach the caller; the worker keeps serving.
 */
export type WorkerHandler = (ctx: WorkerContext) => Promise<Uint8Array | WorkerResult | void> | Uint8Array | WorkerResult | void

export interface ServeWorkerOptions extends ConnectionOptions {
  /** The fd of the socket linking this worker to its pool. Default 3 (where WorkerPool puts it). */
  fd?: number
  /** Restore cwd, environment and umask after every request. Default true. */
  restoreState?: boolean
  /** Exit the process once the pool's connection closes. Default true. */
  exitOnClose?: boolean
}

/**
 * Serves requests from the pool on fd 3 (or `options.fd`) until the pool closes the connection;
 * then, by default, the process exits (code 0, or 1 if the connection failed). Requests are
 * handled one at a time, in order. Returns the connection.
 */
export function serveWorker(handler: WorkerHandler, options?: ServeWorkerOptions): Connection {
  checkFunction('handler', handler)
  const o = checkObject('options', options)
  const fd = o['fd'] === undefined ? WORKER_SOCKET_FD : checkFd('options.fd', o['fd'])
  const restore = optionalBoolean('options.restoreState', o['restoreState'], true)
  const exitOnClose = optionalBoolean('options.exitOnClose', o['exitOnClose'], true)
  const { fd: _fd, restoreState: _r, exitOnClose: _e, ...connectionOptions } = o
  const conn = new Connection(fd, connectionOptions as ConnectionOptions)
  const state = restore ? snapshotState() : undefined
  const requests = new Map<number, IncomingRequest>()
  let chain: Promise<void> = Promise.resolve()

  conn.on('message', (message) => {
    let envelope: Envelope
    try {
      envelope = readEnvelope(message.payload)
      if (envelope.kind === 'cancel') {
        requests.get(envelope.id)?.abort(new FdwireError('ERR_FDWIRE_CANCELLED', envelope.reason || 'request cancelled'))
        return
      }
      if (envelope.kind !== 'request') return
    } catch (error) {
      conn.destroy(error as Error)
      return
    }
    // Take the fds now: the message closes whatever is left once this listener returns.
    const request = new IncomingRequest(envelope.id, envelope.method, bodyView(envelope.body), message.takeFds())
    requests.set(request.id, request)
    chain = chain
      .then(() => handle(conn, handler, request))
      .finally(() => {
        requests.delete(request.id)
        if (state) restoreState(state)
      })
  })
  conn.on('close', (reason) => {
    for (const request of requests.values()) request.abort(new FdwireError('ERR_FDWIRE_CLOSED', 'worker pool connection closed'))
    if (reason) debug('worker %d: pool connection closed: %s', process.pid, reason.message)
    if (exitOnClose) process.exit(reason ? 1 : (process.exitCode ?? 0))
  })
  conn.send(encodeHello(PROTOCOL_VERSION, `pid:${process.pid}`))
  return conn
}

/** Runs the handler on one request and sends its Response. The handler sees the request as a
 *  WorkerContext: an IncomingRequest shown without its id (see request.ts). */
async function handle(conn: Connection, handler: WorkerHandler, request: IncomingRequest): Promise<void> {
  try {
    const result = await handler(request)
    if (conn.closed) return
    if (result === undefined || result instanceof Uint8Array) {
      conn.send(encodeResponse(request.id, result === undefined ? {} : { body: result }))
    } else {
      const r = checkObject('handler result', result)
      const body = r['body'] as Uint8Array | undefined
      conn.send(encodeResponse(request.id, body === undefined ? {} : { body }), {
        fds: (r['fds'] as number[] | undefined) ?? [],
        closeFds: r['closeFds'] === true,
      })
    }
  } catch (error) {
    if (conn.closed) return
    const e = error as { code?: unknown; message?: unknown }
    const code = typeof e?.code === 'string' ? e.code : 'ERR_FDWIRE_WORKER_HANDLER'
    const message = typeof e?.message === 'string' ? e.message : String(error)
    conn.send(encodeResponse(request.id, { error: { code, message } }))
  } finally {
    // fds the handler left untaken are ours to close, like a Message's.
    request.release()
  }
}

interface ProcessState {
  cwd: string
  env: Record<string, string | undefined>
  umask: number
}

function snapshotState(): ProcessState {
  // process.umask() without an argument is deprecated (DEP0139): set and put back instead.
  const umask = process.umask(0o022)
  process.umask(umask)
  return { cwd: process.cwd(), env: { ...process.env }, umask }
}

function restoreState(state: ProcessState): void {
  let cwd: string | undefined
  try {
    cwd = process.cwd()
  } catch {
    // The handler removed the directory it moved to: process.cwd() throws; go back regardless.
  }
  if (cwd !== state.cwd) process.chdir(state.cwd)
  for (const key of Object.keys(process.env)) if (!(key in state.env)) delete process.env[key]
  for (const [key, value] of Object.entries(state.env)) if (process.env[key] !== value) process.env[key] = value
  process.umask(state.umask)
}
