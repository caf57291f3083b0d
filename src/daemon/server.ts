/**
 * Server: a daemon's listening side, safe by default.
 *
 * - Lives in a runtime directory it creates 0700 and checks (ours, private, not a symlink).
 * - Holds `daemon.pid` under an exclusive flock for its whole life: a second daemon fails with the
 *   first one's pid, and a crashed daemon's lock is gone with it, so staleness is never guessed.
 * - Replaces a stale socket (nobody answers) and never touches a live one (its pid is named).
 * - Checks every peer's uid (default: our own), caps concurrent connections, answers the hello
 *   handshake, routes requests to handlers, streams, honours cancellation.
 * - Shuts down gracefully on SIGTERM/SIGINT, reloads on SIGHUP, may stop when idle, and notices
 *   when its socket file was deleted (rebinds) or replaced (exits).
 * - Or serves a listening socket it inherited (`listen`: systemd, launchd, a plain fd). The service
 *   manager owns that socket and its file: the server never removes or replaces it, and does not
 *   watch it. Closing (idle exit included) closes only our copy; the manager's copy keeps queueing
 *   connections in the backlog, and the manager starts the next instance to serve them, so an idle
 *   exit never loses a connection that arrives while the daemon is going away.
 */
import { TypedEventEmitter } from '../events.js'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { debuglog } from 'node:util'
import { FdwireError } from '../errors.js'
import { PROTOCOL_VERSION } from '../protocol/index.js'
import { CODE_SHUTTING_DOWN } from '../wire.js'
import { resolveAddress } from '../transport/address.js'
import type { Connection, PeerCredentials } from '../transport/connection.js'
import { checkInheritedSocket, type InheritedSocket } from '../transport/activation.js'
import { Listener } from '../transport/listener.js'
import { resolveConnectionOptions, type ConnectionOptions } from '../transport/options.js'
import {
  checkFunction,
  checkInteger,
  checkObject,
  checkString,
  invalidArgType,
  invalidArgValue,
  optionalBoolean,
  optionalFunction,
  optionalInteger,
} from '../validate.js'
import { PidFile } from './pid-file.js'
import { alreadyRunning, removeStaleSocket } from './stale-socket.js'
import { BuiltinMethod } from './rpc.js'
import { ensureRuntimeDir } from './runtime-dir.js'
import {
  PEER_END_GRACE_MS,
  refuseConnection,
  ServedConnection,
  type Handler,
  type HandlerErrorContext,
  type ServeHost,
  type StreamHandler,
} from './serve-connection.js'

const debug = debuglog('fdwire')

/** Connections served at once before the next is refused (ERR_FDWIRE_BUSY): a bound on the fds
 *  and memory clients can make the daemon hold. */
const DEFAULT_MAX_CONNECTIONS = 100
/** How long close() lets running handlers finish before aborting them. */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000
/** How often the server checks its socket file is still its own (another daemon replaced it). */
const DEFAULT_SOCKET_CHECK_INTERVAL_MS = 2000

export interface ServerOptions extends ConnectionOptions {
  /** Directory for the socket and pid file; created 0700 if missing, refused if insecure. */
  runtimeDir: string
  /** Socket file name inside `runtimeDir`. Default `'daemon.sock'`. */
  socketName?: string
  /**
   * Serve a listening socket this process inherited instead of binding `<runtimeDir>/<socketName>`:
   * `{ fd }`, `{ systemd: true | name }` or `{ launchd: name }` (see `socketActivation()`). The
   * server then never unlinks or watches the socket file (the service manager owns it).
   * Default: bind.
   */
  listen?: InheritedSocket
  /** Keep a locked `daemon.pid` in `runtimeDir`. Default true. */
  pidFile?: boolean
  /** Identifies this daemon's code; clients compare it to replace an outdated daemon. Default `''`. */
  buildId?: string
  /** uids allowed to connect. Default: only our own uid. */
  allowUids?: readonly number[]
  /** Concurrent connections; the next one is refused with `ERR_FDWIRE_BUSY`. Default 100. */
  maxConnections?: number
  /** How long `close()` waits for running handlers before aborting them, in ms. Default 10000. */
  shutdownTimeout?: number
  /** Close after this many ms without connections. Default 0 (never). */
  idleTimeout?: number
  /** SIGTERM/SIGINT close gracefully then exit the process; SIGHUP calls `onReload`. Default true. */
  handleSignals?: boolean
  /** Called on SIGHUP (and emits `'reload'`). */
  onReload?: () => void | Promise<void>
  /** How often to check that the socket file is still ours, in ms; 0 turns it off (and an
   *  inherited socket is never checked). Default 2000. */
  socketCheckInterval?: number
  /** Extra figures for `fdwire.status` (e.g. a worker pool's). */
  status?: () => Record<string, unknown>
  /**
   * Serve connections elsewhere: after the peer and limit checks, each connection is passed here
   * (typically to `connection.detach()` it and hand the fd to a worker). Return `false` to have
   * this server serve it after all. A handed-off connection counts against `maxConnections` until
   * the returned promise settles.
   */
  handoff?: (connection: Connection) => Promise<unknown> | false | void
}

/** Events of a Server. */
export type ServerEvents = {
  listening: () => void
  close: () => void
  reload: () => void
  connection: (connection: Connection) => void
  refused: (info: { peer: PeerCredentials; code: string; reason: string }) => void
  socketLost: (what: 'deleted' | 'replaced') => void
  /** A handler threw or rejected, or its reply could not be sent (e.g. a body over the client's
   *  maxFrameSize): `error` as thrown, stack included. The client got an error reply already. */
  handlerError: (error: unknown, context: HandlerErrorContext) => void
}

export class Server extends TypedEventEmitter<ServerEvents> implements ServeHost {
  readonly runtimeDir: string
  readonly pidFilePath: string | undefined
  readonly buildId: string
  readonly #options: ServerOptions
  readonly #allowUids: readonly number[]
  readonly #maxConnections: number
  readonly #shutdownTimeout: number
  readonly #idleTimeout: number
  readonly #inherit: InheritedSocket | undefined
  #socketPath: string
  readonly #handlers = new Map<string, { handler: Handler; stream: false } | { handler: StreamHandler; stream: true }>()
  readonly #served = new Set<ServedConnection>()
  #handedOff = 0
  #listener: Listener | undefined
  #socketInode = 0
  #pidFile: PidFile | undefined
  #inFlight = 0
  #startedAt = 0
  #draining = false
  #closing: Promise<void> | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #idleDeadline = 0
  #watchTimer: NodeJS.Timeout | undefined
  #signalHandlers: [NodeJS.Signals, () => void][] = []
  #requestsDone: (() => void) | undefined

  constructor(options: ServerOptions) {
    super()
    if (options === undefined) throw invalidArgType('options', 'of type object', options)
    const o = checkObject('options', options)
    const runtimeDir = checkString('options.runtimeDir', o['runtimeDir'], true)
    const socketName = checkString('options.socketName', o['socketName'] ?? 'daemon.sock', true)
    if (socketName.includes('/')) throw invalidArgValue('options.socketName', socketName, 'must be a file name, without a slash')
    const buildId = checkString('options.buildId', o['buildId'] ?? '')
    const allowUids = o['allowUids'] ?? [process.getuid?.() ?? 0]
    if (!Array.isArray(allowUids)) throw invalidArgType('options.allowUids', 'an instance of Array', allowUids)
    for (const [i, uid] of allowUids.entries()) checkInteger(`options.allowUids[${i}]`, uid, 0, 0xffffffff)
    resolveConnectionOptions(options) // usage errors now, not at listen()
    this.#inherit = o['listen'] === undefined ? undefined : checkInheritedSocket('options.listen', o['listen'])
    this.#options = options
    this.runtimeDir = path.resolve(runtimeDir)
    this.#socketPath = path.join(this.runtimeDir, socketName)
    if (!this.#inherit) resolveAddress(this.#socketPath, false, 'bind') // a path too long for sun_path fails here, clearly
    this.pidFilePath = optionalBoolean('options.pidFile', o['pidFile'], true) ? path.join(this.runtimeDir, 'daemon.pid') : undefined
    this.buildId = buildId
    this.#allowUids = allowUids as number[]
    this.#maxConnections = optionalInteger('options.maxConnections', o['maxConnections'], 1, 1 << 20, DEFAULT_MAX_CONNECTIONS)
    this.#shutdownTimeout = optionalInteger('options.shutdownTimeout', o['shutdownTimeout'], 0, 0x7fffffff, DEFAULT_SHUTDOWN_TIMEOUT_MS)
    this.#idleTimeout = optionalInteger('options.idleTimeout', o['idleTimeout'], 0, 0x7fffffff, 0)
    optionalInteger('options.socketCheckInterval', o['socketCheckInterval'], 0, 0x7fffffff, DEFAULT_SOCKET_CHECK_INTERVAL_MS)
    optionalBoolean('options.handleSignals', o['handleSignals'], true)
    optionalFunction('options.onReload', o['onReload'])
    optionalFunction('options.status', o['status'])
    optionalFunction('options.handoff', o['handoff'])
    this.handle(BuiltinMethod.status, () => JSON.stringify(this.status()))
    this.handle(BuiltinMethod.stop, () => {
      setImmediate(() => void this.close())
      return 'stopping'
    })
  }

  /** Routes `method` to `handler`; its result is the reply. */
  handle(method: string, handler: Handler): this {
    this.#route(method, { handler, stream: false })
    return this
  }

  /** Routes `method` to a streaming handler: each item it yields is one stream item. */
  handleStream(method: string, handler: StreamHandler): this {
    this.#route(method, { handler, stream: true })
    return this
  }

  /** @internal */
  handlerFor(method: string) {
    return this.#handlers.get(method)
  }

  /** @internal */
  get draining(): boolean {
    return this.#draining
  }

  /** @internal */
  requestStarted(): void {
    this.#inFlight++
  }

  /** @internal */
  handlerError(error: unknown, context: HandlerErrorContext): void {
    this.emit('handlerError', error, context)
  }

  /** @internal */
  requestFinished(): void {
    this.#inFlight--
    if (this.#inFlight === 0) this.#requestsDone?.()
  }

  /** `<runtimeDir>/<socketName>`; once an inherited socket is served, that socket's own path. */
  get socketPath(): string {
    return this.#socketPath
  }

  /** Live figures, as served by `fdwire.status`. */
  status(): Record<string, unknown> {
    return {
      pid: process.pid,
      uptimeMs: this.#startedAt ? Date.now() - this.#startedAt : 0,
      buildId: this.buildId,
      protocolVersion: PROTOCOL_VERSION,
      socketPath: this.#socketPath,
      connections: this.#served.size + this.#handedOff,
      inFlight: this.#inFlight,
      idleTimeoutMs: this.#idleTimeout,
      // Time left before an idle close, or null: no idle timeout, or connections are open.
      idleCloseInMs:
        this.#idleTimeout > 0 && this.connections === 0 && this.#idleTimer ? Math.max(0, Math.round(this.#idleDeadline - performance.now())) : null,
      ...(this.#options.status?.() ?? {}),
    }
  }

  /** Number of open client connections (served here or handed off). */
  get connections(): number {
    return this.#served.size + this.#handedOff
  }

  /**
   * Creates/checks the runtime dir, takes the pid-file lock, replaces a stale socket and listens;
   * or, with `listen`, takes the inherited socket instead (nothing is removed or bound).
   * @throws FdwireError `ERR_FDWIRE_DAEMON_RUNNING` (naming its pid) when a daemon already serves
   *   this socket; `ERR_FDWIRE_INSECURE_DIR` for an unsafe runtime dir; `ERR_FDWIRE_NOT_ACTIVATED`
   *   or `ERR_FDWIRE_BAD_SOCKET` when the inherited socket is missing or not a listening Unix
   *   stream socket.
   */
  async listen(): Promise<this> {
    if (this.#listener || this.#closing) throw new FdwireError('ERR_FDWIRE_STATE', 'listen() was already called')
    ensureRuntimeDir(this.runtimeDir)
    if (this.pidFilePath) {
      const acquired = PidFile.acquire(this.pidFilePath)
      if (!(acquired instanceof PidFile)) throw alreadyRunning(this.#socketPath, acquired.pid)
      this.#pidFile = acquired
    }
    try {
      if (this.#inherit) this.#adopt(this.#inherit)
      else {
        removeStaleSocket(this.#socketPath)
        this.#bind()
      }
    } catch (error) {
      this.#pidFile?.release()
      this.#pidFile = undefined
      throw error
    }
    this.#startedAt = Date.now()
    this.#installSignals()
    this.#armIdle()
    const interval = this.#options.socketCheckInterval ?? DEFAULT_SOCKET_CHECK_INTERVAL_MS
    if (interval > 0 && !this.#inherit) {
      this.#watchTimer = setInterval(() => this.#checkSocket(), interval)
      this.#watchTimer.unref()
    }
    debug('server listening on %s (pid %d)', this.#socketPath, process.pid)
    this.emit('listening')
    return this
  }

  /**
   * Graceful shutdown: stops accepting, refuses new requests, waits for running handlers up to
   * `shutdownTimeout` (then aborts them), ends every connection, removes the socket and pid file.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async #shutdown(): Promise<void> {
    this.#draining = true
    this.#stopIdleTimer()
    clearInterval(this.#watchTimer)
    this.#listener?.close()
    this.#listener = undefined
    for (const [signal, handler] of this.#signalHandlers) process.off(signal, handler)
    this.#signalHandlers = []
    if (this.#inFlight > 0) {
      const done = new Promise<void>((resolve) => (this.#requestsDone = resolve))
      const timer = setTimeout(() => {
        const reason = new FdwireError(CODE_SHUTTING_DOWN, 'the daemon is shutting down')
        for (const served of this.#served) served.abortAll(reason)
      }, this.#shutdownTimeout)
      await done
      clearTimeout(timer)
    }
    await Promise.all(
      [...this.#served].map((served) => {
        const connection = served.connection
        if (connection.closed) return undefined
        connection.end()
        return new Promise<void>((resolve) => {
          const force = setTimeout(() => connection.destroy(), PEER_END_GRACE_MS)
          connection.once('close', () => {
            clearTimeout(force)
            resolve()
          })
        })
      }),
    )
    this.#pidFile?.release()
    this.#pidFile = undefined
    debug('server on %s closed', this.#socketPath)
    this.emit('close')
  }

  #route(method: string, route: { handler: Handler; stream: false } | { handler: StreamHandler; stream: true }): void {
    checkString('method', method, true)
    checkFunction('handler', route.handler)
    this.#handlers.set(method, route)
  }

  #bind(): void {
    this.#serve(new Listener(this.#socketPath, { ...this.#options, mode: 0o600 }))
    this.#socketInode = fs.statSync(this.#socketPath).ino
  }

  #adopt(source: InheritedSocket): void {
    const listener = new Listener(source, this.#options)
    const { address } = listener
    if (address.name.length > 0 && !address.abstract) this.#socketPath = address.display
    debug('serving an inherited socket: %s', address.display)
    this.#serve(listener)
  }

  #serve(listener: Listener): void {
    listener.on('connection', (connection) => this.#onConnection(connection))
    listener.on('acceptError', (error) => debug('accept: %s', error.message))
    this.#listener = listener
  }

  #onConnection(connection: Connection): void {
    const peer = connection.peer
    const refuse = (code: string, reason: string) => {
      refuseConnection(connection, code, reason)
      this.emit('refused', { peer, code, reason })
    }
    if (!this.#allowUids.includes(peer.uid)) {
      refuse('ERR_FDWIRE_PERMISSION', `uid ${peer.uid} may not use this daemon (it serves uid ${this.#allowUids.join(', ')})`)
      return
    }
    const active = this.#served.size + this.#handedOff
    if (active >= this.#maxConnections) {
      refuse('ERR_FDWIRE_BUSY', `the daemon is busy: ${active} connections (limit ${this.#maxConnections})`)
      return
    }
    const handoff = this.#options.handoff
    if (handoff !== undefined) {
      let handed: Promise<unknown> | false | void
      try {
        handed = handoff(connection)
      } catch (error) {
        handed = Promise.reject(error)
      }
      if (handed !== false) {
        this.#handedOff++
        this.emit('connection', connection)
        Promise.resolve(handed)
          .catch((error: unknown) => {
            debug('handoff failed: %s', String(error))
            if (!connection.closed) refuseConnection(connection, 'ERR_FDWIRE_UNAVAILABLE', 'the daemon could not serve this connection')
          })
          .finally(() => {
            this.#handedOff--
            this.#armIdle()
          })
        return
      }
    }
    const served = new ServedConnection(connection, this)
    this.#served.add(served)
    this.emit('connection', connection)
  }

  /** @internal A served connection closed (its handlers still running were aborted first). */
  connectionClosed(served: ServedConnection): void {
    this.#served.delete(served)
    this.#armIdle()
  }

  #stopIdleTimer(): void {
    clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
  }

  // Connections come and go far more often than the idle timeout ends. A connection leaves the
  // timer be: started once, it looks when it fires whether the server is idle, and since when (a
  // setTimeout and a clearTimeout per connection would cost more than the connection's own work).
  #armIdle(): void {
    if (this.#idleTimeout === 0 || this.connections > 0 || this.#draining) return
    this.#idleDeadline = performance.now() + this.#idleTimeout
    this.#idleTimer ??= setTimeout(() => this.#idleTimerFired(), this.#idleTimeout)
  }

  #idleTimerFired(): void {
    this.#idleTimer = undefined
    if (this.connections > 0 || this.#draining) return
    const left = this.#idleDeadline - performance.now()
    if (left >= 1) {
      this.#idleTimer = setTimeout(() => this.#idleTimerFired(), Math.ceil(left))
      return
    }
    debug('idle for %d ms: closing', this.#idleTimeout)
    void this.close()
  }

  #installSignals(): void {
    if (this.#options.handleSignals === false) return
    const stop = (signal: NodeJS.Signals) => () => {
      debug('%s: shutting down', signal)
      void this.close().then(() => process.exit(0))
    }
    const reload = () => {
      this.emit('reload')
      void Promise.resolve(this.#options.onReload?.()).catch((error: unknown) => debug('reload failed: %s', String(error)))
    }
    this.#signalHandlers = [
      ['SIGTERM', stop('SIGTERM')],
      ['SIGINT', stop('SIGINT')],
      ['SIGHUP', reload],
    ]
    for (const [signal, handler] of this.#signalHandlers) process.on(signal, handler)
  }

  // tmp cleaners delete sockets; another daemon may take the path over. Deleted: bind again.
  // Replaced by someone else's socket: that daemon owns the path now, so this one leaves.
  #checkSocket(): void {
    if (this.#draining) return
    let inode: number | undefined
    try {
      inode = fs.lstatSync(this.#socketPath).ino
    } catch {
      inode = undefined
    }
    if (inode === this.#socketInode) return
    if (inode === undefined) {
      debug('socket %s was deleted: binding again', this.#socketPath)
      this.emit('socketLost', 'deleted')
      this.#listener?.close()
      try {
        ensureRuntimeDir(this.runtimeDir)
        this.#bind()
      } catch (error) {
        debug('rebind failed (%s): closing', (error as Error).message)
        void this.close()
      }
      return
    }
    debug('socket %s was replaced by another: closing', this.#socketPath)
    this.emit('socketLost', 'replaced')
    this.#socketInode = inode // the listener must not unlink the new owner's socket
    void this.close()
  }
}
