/**
 * The one typed declaration of the native addon (native/napi/). Everything here is mechanism
 * shaped like syscalls: fds, buffers and integers in; fds, numbers and arrays out. Failures are
 * returned as negative errno values, never thrown; `src/errors.ts` turns them into errors.
 * Only `src/binding.ts` loads the `.node` file.
 */

/** Kinds of event a native connection reports through `onEvent`. */
export const NativeEvent = {
  /** The peer closed its side at a frame boundary. `value` is 0. */
  end: 1,
  /** A socket error; reading has stopped. `value` is the errno, `detail` the syscall. */
  error: 2,
  /** A protocol violation; every fd received on the connection is closed. `value` is the code. */
  protocol: 3,
  /** Everything queued was sent. */
  drain: 4,
} as const

/** Words per frame record in the `meta` array: payload offset, length, id, type, fd count. */
export const FRAME_RECORD_WORDS = 5

/**
 * Called once per batch of completed frames. Frame `i` is described by
 * `Connection.frameMeta[i*5 .. i*5+5)` = [payload offset in `buffer`, length, id, type, fd count];
 * its fds are the next `fd count` entries of `Connection.frameFds`. The fds are the callee's from
 * now on.
 */
export type FramesCallback = (buffer: Buffer, frames: number, fds: number) => void

/** Called for connection events; see {@link NativeEvent}. */
export type EventCallback = (kind: number, value: number, detail: string | undefined) => void

/** A connected stream socket reading and writing frames (native/napi/connection.cc). */
export interface NativeConnection {
  /**
   * Sends one frame: header and payload in one sendmsg, `fds` on its first byte. The payload is
   * copied if it must be queued, so the caller may reuse it at once. `takeFds`: the connection owns
   * `fds` from now on and closes them once the kernel has them (or on failure).
   * @returns bytes still queued (0 = all sent), or -errno (-EINVAL: more than 253 fds).
   */
  send(payload: Uint8Array | null, id: number, type: number, fds: Int32Array | null, takeFds: boolean): number
  /** Half-closes (SHUT_WR) once the queue is empty. Returns 0 or -errno. */
  shutdown(): number
  /** Stops reading; the kernel buffer fills and the peer sees backpressure. */
  pause(): void
  /** Starts reading again. */
  resume(): void
  /** Lets the handle keep the event loop alive (the default). */
  ref(): void
  /** Lets the event loop exit while the handle is open. */
  unref(): void
  /** Bytes queued and not yet accepted by the kernel. */
  queuedBytes(): number
  /** Closes the socket and every fd the connection still owns (frames held back while onFrames
   *  runs are written first). Idempotent; no events after it. */
  close(): void
  /** Stops watching the socket and returns its fd, open and untouched; -EBUSY if bytes were
   *  already read or are queued (they would be lost), -EBADF when closed, or the -errno of the
   *  sendmsg that writes what onFrames held back (then nothing is detached). */
  detach(): number
  /** From now on `send()` queues frames without writing them, until `uncork()`. Frames sent
   *  while onFrames handles two or more frames (and its microtasks) are held back until it returns. */
  cork(): void
  /** Writes the queued frames (several per sendmsg), then behaves as after a writable event
   *  (a requested half-close, a drain event, or an error event). */
  uncork(): void
  /** Reads what the socket holds now, as a readable event would (frames and events delivered
   *  through the callbacks before this returns). */
  readNow(): void
  /** `send()` reported backpressure: the next time the queue empties, a drain event follows
   *  (also when the frames were only held back while onFrames ran). */
  wantDrain(): void
}

export interface NativeConnectionConstructor {
  /** @param callbacks what `callbacks()` returned: the pair this connection calls. */
  new (fd: number, maxPayload: number, maxFdsPerFrame: number, bufferSize: number, callbacks: number): NativeConnection
  /**
   * Registers the pair of callbacks a connection made with the returned number calls, with the
   * connection itself as `this`. A JS layer registers its pair once, when it loads (at most 64
   * pairs per thread).
   */
  callbacks<T extends NativeConnection>(
    onFrames: (this: T, ...args: Parameters<FramesCallback>) => void,
    onEvent: (this: T, ...args: Parameters<EventCallback>) => void,
  ): number
  /** Where every connection of this thread reports its frames to `onFrames`: 256 records of
   *  {@link FRAME_RECORD_WORDS} words. Read-only; filled right before each call. */
  readonly frameMeta: Uint32Array
  /** The fds of those frames, in order (1024 entries). */
  readonly frameFds: Int32Array
}

/** A listening socket that accepts connections (native/napi/listener.cc). */
export interface NativeListener {
  /** Stops accepting (connections wait in the backlog). */
  pause(): void
  resume(): void
  ref(): void
  unref(): void
  /** Closes the listening fd. Does not unlink the socket file. Idempotent. */
  close(): void
}

export interface NativeListenerConstructor {
  /**
   * @param onAccept called per accepted connection: its fd (close-on-exec, non-blocking, now the
   *   callee's) and its peer's credentials (pid is -1 where the platform does not report it).
   * @param onError called with an errno when accepting failed (EMFILE...); accepting is paused.
   */
  new (fd: number, onAccept: (fd: number, pid: number, uid: number, gid: number) => void, onError: (errno: number) => void): NativeListener
}

/**
 * Watches a child process for its exit (native/napi/process_watch.cc): through its exit fd
 * (`exitFd()`), or through SIGCHLD when there is none. Keeps the event loop alive while watching.
 */
export interface NativeProcessWatch {
  /** Stops watching (the process is not reaped). Idempotent. */
  close(): void
  /** Lets the event loop exit while watching. */
  unref(): void
}

export interface NativeProcessWatchConstructor {
  /**
   * @param exitFd an fd from `exitFd()`, owned by the watch from now on; or -1 to reap `pid` on
   *   each SIGCHLD instead (libuv delivers it on this thread's loop, worker threads included). With
   *   -1 the process may already have ended: call `reap(pid)` once after constructing.
   * @param onExit called once with the exit status and the signal number that ended the process
   *   (0 if none); status -1 if someone else reaped it.
   */
  new (pid: number, exitFd: number, onExit: (status: number, signal: number) => void): NativeProcessWatch
}

export interface NativeAddon {
  Connection: NativeConnectionConstructor
  Listener: NativeListenerConstructor
  ProcessWatch: NativeProcessWatchConstructor
  /**
   * vfork (Linux) or fork (macOS) + execve of `path` (not searched in PATH) with exactly `stdio`
   * on fds 0..2 (-1: closed), every other fd closed, `umask` (< 0: inherit), `cwd` (null:
   * inherit), default signal dispositions, and optionally its own process group. Returns the pid
   * or -errno (exec failures included).
   */
  spawn(path: string, argv: string[], env: string[], cwd: string | null, umask: number, stdio: Int32Array, newProcessGroup: boolean): number
  /**
   * An fd, close-on-exec, that turns readable once `pid` (our child) exits: a pidfd on Linux, a
   * kqueue on macOS. Or -errno: -ENOSYS on Linux before 5.3, -EPERM under a seccomp filter that
   * predates pidfd_open.
   */
  exitFd(pid: number): number
  /** Reaps `pid` without blocking: [status, signal] once ended, 0 while it runs, or -errno. */
  reap(pid: number): [number, number] | number
  /**
   * Binds and listens. The socket file is created under umask(~mode & 0o777) so it never exists
   * with a wider mode. Never unlinks anything. Returns the fd or -errno.
   */
  listen(name: Uint8Array, abstract: boolean, backlog: number, mode: number): number
  /** Connects without blocking. Returns the fd or -errno (-EAGAIN: backlog full, retry). */
  connect(name: Uint8Array, abstract: boolean): number
  /** A connected pair, close-on-exec and non-blocking, or -errno. */
  socketPair(): [number, number] | number
  /** A close-on-exec pipe [read, write], or -errno. */
  pipe(): [number, number] | number
  /** close(2). Returns 0 or -errno. */
  close(fd: number): number
  /** dup with close-on-exec. Returns the new fd or -errno. */
  dup(fd: number): number
  /** Prepares a socket fd obtained elsewhere: non-blocking (+ SO_NOSIGPIPE). 0 or -errno. */
  prepareSocket(fd: number): number
  /** flock(2) without blocking: LOCK_EX (`exclusive`) or LOCK_SH, or LOCK_UN (`unlock`).
   *  Returns 0 or -errno (-EAGAIN: another open file description holds it). */
  flock(fd: number, exclusive: boolean, unlock: boolean): number
  /** Takes over an inherited listening socket: close-on-exec and non-blocking. 0 or -errno. */
  adoptListener(fd: number): number
  /** Marks fd close-on-exec. 0 or -errno. */
  setCloexec(fd: number): number
  /**
   * What a socket fd is: [address family, type, listening (SO_ACCEPTCONN), abstract name, name]
   * where name is the AF_UNIX name from getsockname(2) (empty when unnamed or not AF_UNIX), or
   * -errno (-ENOTSOCK: not a socket, -EBADF: not open).
   */
  socketInfo(fd: number): [number, number, boolean, boolean, Buffer] | number
  /**
   * launch_activate_socket(3): the fds launchd made for the job's Sockets entry `name`, or -errno
   * (-ESRCH: not started by launchd, -ENOENT: no such entry, -EALREADY: taken before, -ENOTSUP: no
   * launchd on this platform).
   */
  launchdSockets(name: string): number[] | number
  /** 1 if fd is close-on-exec, 0 if not, or -errno (-EBADF: not open). */
  isCloexec(fd: number): number
  /** [pid, uid, gid] of the peer, or -errno. */
  peerCredentials(fd: number): [number, number, number] | number
  /** One raw sendmsg without framing (tests, hostile-peer tools). Bytes sent or -errno. */
  sendRaw(fd: number, bytes: Uint8Array, fds: Int32Array | null): number
  /** Longest filesystem socket path in bytes (sun_path minus the NUL): 107 on Linux, 103 on macOS. */
  readonly maxSocketPath: number
  /** Frame header size in bytes (16). */
  readonly headerSize: number
  /** Most fds one frame can carry (253, Linux's SCM_MAX_FD). */
  readonly maxFdsPerFrame: number
  /** This platform's values of the socket constants `socketInfo` reports. */
  readonly socketConstants: {
    readonly AF_UNIX: number
    readonly AF_INET: number
    readonly AF_INET6: number
    readonly SOCK_STREAM: number
    readonly SOCK_DGRAM: number
    readonly SOCK_SEQPACKET: number
  }
  /** Whether Linux abstract socket names are available. */
  readonly abstractNamespace: boolean
}
