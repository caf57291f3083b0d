/**
 * Listener: a listening Unix socket that accepts connections together with their peer's
 * credentials, and can refuse a peer before any byte is exchanged.
 *
 * The socket file is created with `mode` (default 0600) and never exists with a wider one (it is
 * bound under a narrowed umask). `listen()` never unlinks an existing path: a path in use is
 * `EADDRINUSE`, and deciding whether it is stale belongs to the caller (see the daemon Server).
 * `close()` unlinks the socket file only if it is still the one this listener created.
 *
 * A listener can also serve a listening socket this process inherited (`listen({ systemd: true })`,
 * see activation.ts): then it never unlinks anything, since whoever made the socket owns its file.
 */
import { TypedEventEmitter } from '../events.js'
import * as fs from 'node:fs'
import { debuglog } from 'node:util'
import { native } from '../binding.js'
import { systemError } from '../errors.js'
import type { NativeListener } from '../native.js'
import { checkObject, invalidArgValue, optionalBoolean, optionalFunction, optionalInteger } from '../validate.js'
import { checkInheritedSocket, takeInheritedSocket, type InheritedSocket } from './activation.js'
import { resolveAddress, type SocketAddress } from './address.js'
import { acceptedConnection, type Connection, type PeerCredentials } from './connection.js'
import { resolveConnectionOptions, type ConnectionOptions, type ResolvedConnectionOptions } from './options.js'

const debug = debuglog('fdwire')

/** Delay before accepting again after the process ran out of fds (EMFILE/ENFILE). */
const ACCEPT_RETRY_MS = 100

export interface ListenOptions extends ConnectionOptions {
  /** Treat `path` as a Linux abstract socket name (no file). Default false. */
  abstract?: boolean
  /** listen(2) backlog. Default 511. */
  backlog?: number
  /** Permission bits of the socket file. Default 0o600 (owner only). */
  mode?: number
  /** Decides per peer, from its kernel credentials, whether to accept it. A refused peer's socket
   *  is closed at once and `'refused'` is emitted. Default: accept everyone who can reach the
   *  socket (its mode and directory decide who can). */
  allowPeer?: (peer: PeerCredentials) => boolean
}

/** Events of a Listener. */
export type ListenerEvents = {
  connection: (connection: Connection) => void
  refused: (peer: PeerCredentials) => void
  acceptError: (error: Error) => void
  close: () => void
}

export class Listener extends TypedEventEmitter<ListenerEvents> {
  /** The socket's name; for an inherited socket, what getsockname(2) reports (`display` says
   *  where it came from when it has no name). */
  readonly address: SocketAddress
  /** Whether the socket was inherited (`listen({ fd | systemd | launchd })`) rather than bound. */
  readonly inherited: boolean
  #native: NativeListener | null
  #options: ResolvedConnectionOptions
  #allowPeer: ((peer: PeerCredentials) => boolean) | undefined
  #inode: number | undefined
  #retry: NodeJS.Timeout | undefined

  /** Use `listen()`. */
  constructor(path: string | Buffer | InheritedSocket, options?: ListenOptions) {
    super()
    const o = checkObject('options', options)
    this.inherited = typeof path === 'object' && path !== null && !Buffer.isBuffer(path)
    if (this.inherited) {
      for (const key of ['abstract', 'backlog', 'mode']) {
        if (o[key] !== undefined)
          throw invalidArgValue(`options.${key}`, o[key], 'has no effect on an inherited socket (whoever made it bound it and called listen(2))')
      }
    }
    const abstract = optionalBoolean('options.abstract', o['abstract'], false)
    const backlog = optionalInteger('options.backlog', o['backlog'], 1, 65535, 511)
    const mode = optionalInteger('options.mode', o['mode'], 0, 0o777, 0o600)
    this.#allowPeer = optionalFunction<(peer: PeerCredentials) => boolean>('options.allowPeer', o['allowPeer'])
    this.#options = resolveConnectionOptions(options)
    let fd: number
    if (this.inherited) {
      const taken = takeInheritedSocket(checkInheritedSocket('socket', path))
      fd = taken.fd
      this.address = taken.address ?? { name: Buffer.alloc(0), abstract: false, display: taken.origin }
    } else {
      this.address = resolveAddress(path, abstract, 'bind')
      fd = native.listen(this.address.name, abstract, backlog, mode)
      if (fd < 0) throw systemError(fd, 'bind', this.address.display)
    }
    if (!abstract && !this.inherited) {
      try {
        this.#inode = fs.statSync(this.address.display).ino
      } catch {
        this.#inode = undefined
      }
    }
    this.#native = new native.Listener(
      fd,
      (connFd, pid, uid, gid) => this.#onAccept(connFd, { pid, uid, gid }),
      (errno) => this.#onAcceptError(errno),
    )
  }

  /** Whether the listener is still accepting (not closed). */
  get listening(): boolean {
    return this.#native !== null
  }

  /** Stops accepting and closes the listening socket, unlinking its file if it is still ours.
   *  Accepted connections stay open. */
  close(): void {
    if (this.#native === null) return
    this.#native.close()
    this.#native = null
    clearTimeout(this.#retry)
    if (this.#inode !== undefined) {
      try {
        // Only remove the file we created: another daemon may have replaced it since.
        if (fs.statSync(this.address.display).ino === this.#inode) fs.unlinkSync(this.address.display)
      } catch {
        // Already gone.
      }
    }
    process.nextTick(() => this.emit('close'))
  }

  /** Keeps the event loop alive while listening (default). */
  ref(): this {
    this.#native?.ref()
    return this
  }

  /** Lets the process exit while listening. */
  unref(): this {
    this.#native?.unref()
    return this
  }

  #onAccept(fd: number, peer: PeerCredentials): void {
    if (this.#allowPeer !== undefined) {
      let allowed = false
      try {
        allowed = this.#allowPeer(peer) === true
      } catch (error) {
        process.nextTick(() => {
          throw error
        })
      }
      if (!allowed) {
        native.close(fd)
        debug('refused peer pid %d uid %d', peer.pid, peer.uid)
        this.emit('refused', peer)
        return
      }
    }
    const connection = acceptedConnection(fd, this.#options, peer)
    this.emit('connection', connection)
  }

  #onAcceptError(errno: number): void {
    const error = systemError(errno, 'accept', this.address.display)
    debug('accept failed: %s; retrying in %d ms', error.message, ACCEPT_RETRY_MS)
    this.emit('acceptError', error)
    this.#retry = setTimeout(() => this.#native?.resume(), ACCEPT_RETRY_MS)
    this.#retry.unref()
  }
}

/**
 * Listens on a Unix socket. Throws `EADDRINUSE` when the path exists (it never unlinks it),
 * `ENAMETOOLONG` when the path does not fit in sun_path.
 *
 * With an `InheritedSocket` (`{ fd }`, `{ systemd }`, `{ launchd }`) it serves that listening
 * socket instead: checked, made close-on-exec and non-blocking, and never unlinked (`abstract`,
 * `backlog` and `mode` are refused: the socket exists already).
 */
export function listen(path: string | Buffer | InheritedSocket, options?: ListenOptions): Listener {
  return new Listener(path, options)
}
