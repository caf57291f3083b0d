/** Client-side connection set-up: connect() with a bounded wait, and socketPair(). */
import * as os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { native } from '../binding.js'
import { FdwireError, systemError } from '../errors.js'
import { checkFd, checkObject, optionalBoolean, optionalInteger, optionalSignal } from '../validate.js'
import { resolveAddress } from './address.js'
import { Connection } from './connection.js'
import { resolveConnectionOptions, type ConnectionOptions } from './options.js'

/** How long connect() keeps retrying while the listener's backlog is full (EAGAIN). */
const DEFAULT_BACKLOG_TIMEOUT_MS = 5000

export interface ConnectOptions extends ConnectionOptions {
  /** Treat `path` as a Linux abstract socket name. Default false. */
  abstract?: boolean
  /** How long to keep retrying while the listener's backlog is full, in ms. Default 5000. */
  timeout?: number
  /** Aborts the wait. */
  signal?: AbortSignal
}

/**
 * Connects to a listening Unix socket. Fails at once with `ENOENT` / `ECONNREFUSED` when nobody
 * listens; retries while the backlog is full (`EAGAIN`) until `timeout`, then fails with
 * `ERR_FDWIRE_TIMEOUT`.
 */
export async function connect(path: string | Buffer, options?: ConnectOptions): Promise<Connection> {
  const o = checkObject('options', options)
  const abstract = optionalBoolean('options.abstract', o['abstract'], false)
  const timeout = optionalInteger('options.timeout', o['timeout'], 0, 0x7fffffff, DEFAULT_BACKLOG_TIMEOUT_MS)
  const signal = optionalSignal('options.signal', o['signal'])
  resolveConnectionOptions(options) // usage errors before any fd exists
  const address = resolveAddress(path, abstract, 'connect')
  const deadline = Date.now() + timeout
  let delay = 1
  for (;;) {
    signal?.throwIfAborted()
    const fd = native.connect(address.name, abstract)
    if (fd >= 0) return new Connection(fd, options)
    if (fd !== -os.constants.errno.EAGAIN) throw systemError(fd, 'connect', address.display)
    if (Date.now() >= deadline) {
      throw new FdwireError('ERR_FDWIRE_TIMEOUT', `connect ${address.display}: the listener's backlog stayed full for ${timeout} ms`)
    }
    await sleep(delay, undefined, signal ? { signal } : undefined)
    delay = Math.min(delay * 2, 50)
  }
}

/** A connected pair of Connections in this process (e.g. to hand one end to a child). */
export function socketPair(options?: ConnectionOptions): [Connection, Connection] {
  resolveConnectionOptions(options) // usage errors before any fd exists
  const fds = socketPairFds()
  return [new Connection(fds[0], options), new Connection(fds[1], options)]
}

/** A connected pair of raw socket fds (close-on-exec, non-blocking), yours to close. */
export function socketPairFds(): [number, number] {
  const result = native.socketPair()
  if (typeof result === 'number') throw systemError(result, 'socketpair')
  return result
}

/** A close-on-exec pipe: [read end, write end], yours to close. */
export function pipe(): [number, number] {
  const result = native.pipe()
  if (typeof result === 'number') throw systemError(result, 'pipe')
  return result
}

/**
 * A duplicate of an fd you own, close-on-exec (`fcntl(F_DUPFD_CLOEXEC)`): the lowest free fd, sharing
 * the open file description (offset, status flags) with `fd`. Yours to close. `fd` is checked as
 * `fs.closeSync` checks it; `EBADF`, `EMFILE` and the like are system errors (syscall `dup`).
 */
export function dupFd(fd: number): number {
  checkFd('fd', fd)
  const result = native.dup(fd)
  if (result < 0) throw systemError(result, 'dup')
  return result
}

/**
 * Closes an fd you own (for example one taken from a message). `fd` is checked as `fs.closeSync`
 * checks it (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`) before anything is closed.
 */
export function closeFd(fd: number): void {
  checkFd('fd', fd)
  const err = native.close(fd)
  if (err < 0) throw systemError(err, 'close')
}
