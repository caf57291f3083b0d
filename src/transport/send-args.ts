/**
 * The checks a Connection's send() makes before the addon gets the frame, and what a failed
 * sendmsg/dup means for it: a failure of this frame's fds alone (the send throws, the connection
 * goes on) or of the connection.
 */
import * as os from 'node:os'
import { native } from '../binding.js'
import { systemError } from '../errors.js'
import { checkFdArray, checkObject, invalidArgType, optionalBoolean, optionalInteger, outOfRange } from '../validate.js'

export interface SendOptions {
  /** fds to pass with this message (at most 253). They arrive bound to this message. */
  fds?: readonly number[]
  /** Give `fds` to the connection: it closes them once the kernel has them, and also when
   *  sending fails, including when `send()` throws `ERR_FDWIRE_CLOSED`,
   *  `ERR_FDWIRE_FRAME_TOO_LARGE` or `EBADF` (then it closes those of `fds` that are open).
   *  A `TypeError`/`RangeError` about the arguments closes nothing. Default false: the fds stay
   *  yours whatever happens (never closed by `send()`), and you may close them as soon as
   *  `send()` returns or throws. */
  closeFds?: boolean
  /** Message id (u32) carried in the frame header. Default 0. */
  id?: number
  /** Message type (u16) carried in the frame header. Default 0. */
  type?: number
}

/** A send's arguments, checked (a TypeError/RangeError closes nothing). */
export function checkSendArgs(
  payload: Uint8Array | string,
  options: SendOptions | undefined,
): {
  bytes: Uint8Array
  id: number
  type: number
  closeFds: boolean
  fds: Int32Array | null
} {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
  if (!(bytes instanceof Uint8Array)) {
    throw invalidArgType('payload', 'of type string or an instance of Uint8Array', payload)
  }
  const o = options === undefined ? undefined : checkObject('options', options)
  const id = o ? optionalInteger('options.id', o['id'], 0, 0xffffffff, 0) : 0
  const type = o ? optionalInteger('options.type', o['type'], 0, 0xffff, 0) : 0
  const closeFds = o ? optionalBoolean('options.closeFds', o['closeFds'], false) : false
  const fds = o?.['fds'] === undefined ? null : toFdArray(o['fds'])
  if (bytes.byteLength > 0xffffffff) {
    throw outOfRange('payload.byteLength', '<= 4294967295 (a frame carries at most 4 GiB - 1)', bytes.byteLength)
  }
  return { bytes, id, type, closeFds, fds }
}

/**
 * Throws when the failed send (`queued`, a negative errno from the addon) failed for this frame
 * alone. sendmsg with SCM_RIGHTS fails atomically, and dup() fails before anything is queued: on
 * these the frame was neither sent nor queued (and, with closeFds, its fds were closed), so only
 * this send fails. An fd closed since send() checked it (by another thread) ends here. Returns when
 * the failure is the connection's.
 */
export function throwIfFrameOnly(queued: number, fds: Int32Array | null, closeFds: boolean, socketFd: number): void {
  if (fds === null) return
  if (queued === -os.constants.errno.EBADF && native.isCloexec(socketFd) >= 0 /* our socket is open: the bad fd is one of fds */) {
    if (!closeFds) checkFdsOpen(fds, false, 'sendmsg', 'was closed before it could be sent')
    throw systemError(queued, 'sendmsg', undefined, 'one of options.fds was closed before it could be sent; nothing was sent')
  }
  if (frameOnlyErrors.has(-queued)) {
    throw systemError(queued, 'dup', undefined, 'no fd left to hold options.fds until they are sent; nothing was sent')
  }
}

// Failures of one frame's fds that leave the connection intact (see send()).
const frameOnlyErrors = new Set([os.constants.errno.EMFILE, os.constants.errno.ENFILE])

/** Throws EBADF naming the first of `fds` that is not open; with `closeOthers`, first closes the
 *  ones that are (they were given to the connection with closeFds). */
export function checkFdsOpen(fds: Int32Array, closeOthers: boolean, syscall: string, what: string): void {
  for (let i = 0; i < fds.length; i++) {
    const fd = fds[i]!
    const result = native.isCloexec(fd) // fcntl(F_GETFD): -EBADF when fd is not open
    if (result >= 0) continue
    if (closeOthers) for (const other of fds) if (native.isCloexec(other) >= 0) native.close(other)
    throw systemError(result, syscall, undefined, `options.fds[${i}] (fd ${fd}) ${what}; nothing was sent`)
  }
}

function toFdArray(value: unknown): Int32Array {
  return Int32Array.from(checkFdArray('options.fds', value instanceof Int32Array ? Array.from(value) : value, native.maxFdsPerFrame))
}
