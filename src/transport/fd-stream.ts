/**
 * Turning a received fd into a Node stream that owns it: `takeSocket()` / `takeStream()` on every
 * holder of received fds (Message, Reply, RequestContext, WorkerContext, PoolReply) come here.
 *
 * Why this exists: `new net.Socket({ fd: message.fds[0] })` without `takeFd()` wraps an fd the
 * message still owns. The message closes it once the 'message' listeners return; libuv then asks
 * epoll to watch a closed fd, epoll_ctl(2) fails with EBADF, and libuv calls abort() in
 * uv__io_poll (src/unix/linux.c): the process dies of SIGABRT without a word. Here the fd is
 * checked first, wrapped, and only then taken, so it always has exactly one owner.
 */
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as tty from 'node:tty'
import { checkObject, invalidArgValue, optionalBoolean } from '../validate.js'

/** Options of `takeSocket()`. Defaults follow the fd (see each). */
export interface TakeSocketOptions {
  /** Read from the fd. Default: whether it is open for reading (sockets: always; a pipe's write
   *  end: no). */
  readable?: boolean
  /** Write to the fd. Default: whether it is open for writing (sockets: always; a pipe's read
   *  end: no). */
  writable?: boolean
  /** Keep the writable side open after the peer ended its side. Default false, as `net.Socket`. */
  allowHalfOpen?: boolean
}

/** Options of `takeStream()`. */
export interface TakeStreamOptions extends TakeSocketOptions {
  /**
   * Which way the stream goes: `'r'` reads (fs.ReadStream for a file), `'w'` writes
   * (fs.WriteStream). Default: the fd's access mode. Required for a file or terminal open for both
   * reading and writing. For a socket or pipe it sets the defaults of `readable` and `writable`.
   */
  mode?: 'r' | 'w'
}

/** What `takeStream()` returns: a socket or pipe as a `net.Socket` (a terminal as a
 *  `tty.ReadStream` / `tty.WriteStream`, both `net.Socket`s), a file as an fs stream. */
export type FdStream = net.Socket | fs.ReadStream | fs.WriteStream

/** How an fd is open: for reading, writing or both (O_ACCMODE of its open file description). */
export type AccessMode = 'r' | 'w' | 'rw'

// Linux O_ACCMODE values (asm-generic/fcntl.h); /proc reports f_flags in octal.
const O_ACCMODE = 0o3
const O_WRONLY = 0o1
const O_RDWR = 0o2

/**
 * The access mode of `fd`. On Linux it is read from /proc/self/fdinfo/<fd>, whose `flags:` line is
 * the open file description's f_flags in octal (proc(5)); where /proc is not there (macOS, a
 * sandbox without it) it is probed (`probeAccessMode`).
 */
export function accessMode(fd: number): AccessMode {
  let info: string | undefined
  try {
    info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1')
  } catch {
    // No procfs: probe instead.
  }
  const match = info === undefined ? null : /^flags:\s+([0-7]+)$/m.exec(info)
  if (match === null) return probeAccessMode(fd)
  const mode = parseInt(match[1]!, 8) & O_ACCMODE
  return mode === O_RDWR ? 'rw' : mode === O_WRONLY ? 'w' : 'r'
}

const nothing = Buffer.alloc(0)

/**
 * The access mode of `fd`, by transferring zero bytes each way. read(2) and write(2) fail with
 * EBADF on an fd not open for that direction (POSIX: "not a valid file descriptor open for
 * reading/writing"; Linux checks it first, in vfs_read/vfs_write); moving zero bytes moves no data
 * and no file offset, and a zero-length write to a pipe returns 0 before looking for a reader
 * (Linux pipe_write), so no SIGPIPE either (Node ignores SIGPIPE regardless). Used for pipes,
 * files and devices only: socket fds are always open for both (socket(2) makes them O_RDWR).
 * `readvSync` because `readSync` returns 0 for a zero length without calling read(2).
 */
export function probeAccessMode(fd: number): AccessMode {
  const can = (io: () => unknown): boolean => {
    try {
      io()
      return true
    } catch (error) {
      // Any other failure (EAGAIN, EPIPE, EINVAL...) came after the access check passed.
      return (error as NodeJS.ErrnoException).code !== 'EBADF'
    }
  }
  const writable = can(() => fs.writeSync(fd, nothing))
  const readable = can(() => fs.readvSync(fd, [nothing]))
  if (readable && writable) return 'rw'
  return writable ? 'w' : 'r'
}

/** @internal What an fd is, in words, for errors. */
export function describeFd(stats: fs.Stats, fd: number): string {
  if (stats.isFile()) return 'a regular file'
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a pipe'
  if (stats.isSocket()) return 'a socket'
  if (stats.isCharacterDevice()) return tty.isatty(fd) ? 'a terminal' : 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isSymbolicLink()) return 'a symbolic link'
  return 'of an unknown type'
}

function accessWords(mode: AccessMode): string {
  return mode === 'r' ? 'open for reading only' : mode === 'w' ? 'open for writing only' : 'open for reading and writing'
}

/** ERR_INVALID_ARG_VALUE on `index`, naming the fd and what it is. */
function wrongFd(index: number, fd: number, what: string, hint: string): Error {
  return invalidArgValue('index', index, `refers to fd ${fd}, ${what}: ${hint}`)
}

interface Direction {
  /** undefined: from the fd (or `mode`). */
  readable: boolean | undefined
  writable: boolean | undefined
  allowHalfOpen: boolean
  mode: 'r' | 'w' | undefined
}

function maybeBoolean(name: string, value: unknown): boolean | undefined {
  return value === undefined ? undefined : optionalBoolean(name, value, false)
}

/** Checks the options before anything about the fd is looked at. */
function readOptions(options: unknown, withMode: boolean): Direction {
  const o = checkObject('options', options)
  let mode: 'r' | 'w' | undefined
  if (withMode && o['mode'] !== undefined) {
    if (o['mode'] !== 'r' && o['mode'] !== 'w') throw invalidArgValue('options.mode', o['mode'], "must be 'r' or 'w'")
    mode = o['mode']
  }
  return {
    readable: maybeBoolean('options.readable', o['readable']),
    writable: maybeBoolean('options.writable', o['writable']),
    allowHalfOpen: optionalBoolean('options.allowHalfOpen', o['allowHalfOpen'], false),
    mode,
  }
}

/**
 * @internal Wraps `fd` (a received fd at `index` of its holder, not taken yet) in a `net.Socket`
 * that owns it. Throws, wrapping nothing, when the fd is not a stream socket or pipe.
 */
export function socketFromFd(fd: number, index: number, options: unknown): net.Socket {
  const direction = readOptions(options, false)
  const stats = fs.fstatSync(fd)
  if (!stats.isSocket() && !stats.isFIFO()) {
    throw wrongFd(
      index,
      fd,
      describeFd(stats, fd),
      'takeSocket() wraps stream sockets and pipes only (takeStream() takes files and terminals too, takeFd() any fd)',
    )
  }
  return openSocket(fd, index, stats, direction)
}

function openSocket(fd: number, index: number, stats: fs.Stats, d: Direction): net.Socket {
  // Sockets are always open for both directions; a pipe end for one (a FIFO opened O_RDWR, both).
  const access: AccessMode = stats.isFIFO() ? accessMode(fd) : 'rw'
  const readable = d.readable ?? (d.mode === undefined ? access !== 'w' : d.mode === 'r')
  const writable = d.writable ?? (d.mode === undefined ? access !== 'r' : d.mode === 'w')
  // Only an explicit option (readable/writable, or mode) can ask for a direction the pipe is not
  // open for; libuv would fail it later (uv_read_start: ENOTCONN), refuse it now.
  const refuse = (name: string, value: unknown) => invalidArgValue(name, value, `cannot apply to fd ${fd} (index ${index}), a pipe ${accessWords(access)}`)
  if (readable && access === 'w') throw d.readable !== undefined ? refuse('options.readable', d.readable) : refuse('options.mode', d.mode)
  if (writable && access === 'r') throw d.writable !== undefined ? refuse('options.writable', d.writable) : refuse('options.mode', d.mode)
  try {
    // net.Socket picks its handle the way libuv's uv_guess_handle() classifies the fd: a Unix
    // stream socket or a FIFO is a PIPE, a TCP socket TCP; any other (datagram or seqpacket, or
    // another family) throws ERR_INVALID_FD_TYPE before a handle exists, so nothing is wrapped.
    return new net.Socket({ fd, readable, writable, allowHalfOpen: d.allowHalfOpen })
  } catch (error) {
    const type = (error as { code?: unknown }).code === 'ERR_INVALID_FD_TYPE' ? /: (\w+)$/.exec((error as Error).message)?.[1] : undefined
    if (type === undefined) throw error
    const what = type === 'UDP' ? 'a UDP socket' : 'a socket that is not a TCP or Unix stream socket (datagram, seqpacket or another family)'
    throw wrongFd(index, fd, `${what} (Node classifies it as ${type})`, 'net.Socket wraps stream sockets and pipes only (takeFd() takes any fd)')
  }
}

/**
 * @internal Wraps `fd` in a stream that owns it: a stream socket or pipe in a `net.Socket`, a
 * terminal in a tty stream, a regular file or other device in an fs stream (autoClose, so it
 * closes the fd exactly once). Throws, wrapping nothing, for a directory or a non-stream socket.
 */
export function streamFromFd(fd: number, index: number, options: unknown): FdStream {
  const direction = readOptions(options, true)
  const stats = fs.fstatSync(fd)
  if (stats.isSocket() || stats.isFIFO()) return openSocket(fd, index, stats, direction)
  if (!stats.isFile() && !stats.isCharacterDevice() && !stats.isBlockDevice()) {
    throw wrongFd(index, fd, describeFd(stats, fd), 'takeStream() wraps sockets, pipes, files, terminals and devices (takeFd() takes any fd)')
  }
  const access = accessMode(fd)
  const what = describeFd(stats, fd)
  let mode = direction.mode
  if (mode === undefined) {
    if (access === 'rw') throw invalidArgValue('options.mode', mode, `must be 'r' or 'w' for fd ${fd} (index ${index}), ${what} ${accessWords(access)}`)
    mode = access
  } else if (access !== 'rw' && access !== mode) {
    throw invalidArgValue('options.mode', mode, `cannot apply to fd ${fd} (index ${index}), ${what} ${accessWords(access)}`)
  }
  if (tty.isatty(fd)) {
    // A terminal read through fs would block a threadpool thread until input arrives (and keep
    // the process from exiting); tty streams poll it like a socket.
    const stream = mode === 'r' ? new tty.ReadStream(fd) : new tty.WriteStream(fd)
    // uv_tty_init() reopens a terminal by its name (ttyname_r; not a pty master), dup2()s the new
    // fd over ours and watches the new one (libuv src/unix/tty.c): ours is then a duplicate the
    // stream never closes, so close it now. Without a reopen the stream's fd is ours.
    const own = (stream as unknown as { _handle?: { fd?: number } })._handle?.fd
    if (own !== undefined && own !== fd) fs.closeSync(fd)
    return stream
  }
  // `path` is ignored when `fd` is given (fs.ReadStream/WriteStream); reads and writes start at the
  // fd's current offset.
  return mode === 'r'
    ? fs.createReadStream(null as unknown as string, { fd, autoClose: true })
    : fs.createWriteStream(null as unknown as string, { fd, autoClose: true })
}

/** Whether the process has said it once already (a warning per process, not per fd). */
let warned = false

/**
 * @internal The fds among `fds` that a live Node handle (a net.Socket, tty stream...) wraps: an
 * fd handed out through a holder's `fds` and wrapped without being taken. Closing one would
 * abort the process (see the top of this file). `process._getActiveHandles()` lists the owners of
 * the handles that keep the event loop alive (not unref()ed ones); each has its `_handle.fd`.
 */
export function fdsWrappedByHandles(fds: readonly number[]): Set<number> {
  const found = new Set<number>()
  if (fds.length === 0) return found
  const active = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles
  if (typeof active !== 'function') return found
  const wanted = new Set(fds)
  for (const owner of active.call(process)) {
    const fd = (owner as { _handle?: { fd?: unknown } } | null)?._handle?.fd
    if (typeof fd === 'number' && wanted.has(fd)) found.add(fd)
  }
  return found
}

/** @internal Says once per process that an fd was wrapped without being taken. */
export function warnNotTaken(fd: number, holder: string): void {
  if (warned) return
  warned = true
  process.emitWarning(
    `fd ${fd} of a ${holder} was wrapped (e.g. by new net.Socket({ fd })) without takeFd(): ` +
      `a live stream holds it, so the ${holder} left it open for the stream to close rather than ` +
      'close it under the stream (which aborts the process in libuv). Take a received fd before ' +
      'wrapping it: takeSocket() or takeStream() return a stream that owns it, takeFd() hands you the fd.',
    { code: 'FDWIRE_FD_NOT_TAKEN' },
  )
}
