/**
 * Every error fdwire raises is built here, so they all look alike:
 * - system errors look like Node's own (`code` such as `'EAGAIN'`, negative `errno`, `syscall`,
 *   and `path` when one is involved);
 * - protocol errors carry an `ERR_FDWIRE_*` code and a reason;
 * - usage errors are `TypeError` / `RangeError` naming the argument (see `src/validate.ts`).
 */
import * as util from 'node:util'
import { PROTOCOL_ERROR_CODES } from './wire.js'

/** An error from a system call, shaped like the ones Node's `fs` and `net` raise. */
export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
  path?: string
}

// util.getSystemErrorMap() builds a new Map of every errno on each call (about 13 µs here): made
// once, on the first error (a daemon whose clients hang up early meets ECONNRESET often).
let errorMap: Map<number, [string, string]> | undefined
const systemErrorMap = (): Map<number, [string, string]> => (errorMap ??= util.getSystemErrorMap())

/**
 * Builds a Node-style system error from an errno. Accepts `errno` with either sign (the addon
 * returns `-errno`).
 */
export function systemError(errno: number, syscall: string, path?: string, detail?: string): SystemError {
  const negative = -Math.abs(errno)
  let code: string
  try {
    code = util.getSystemErrorName(negative)
  } catch {
    code = `Unknown system error ${negative}`
  }
  const description = systemErrorMap().get(negative)?.[1] ?? 'unknown error'
  const where = path === undefined ? '' : ` ${path}`
  const message = `${syscall} ${code}${where}${detail ? `: ${detail}` : ` (${description})`}`
  const error = new Error(message) as SystemError
  error.code = code
  error.errno = negative
  error.syscall = syscall
  if (path !== undefined) error.path = path
  Error.captureStackTrace(error, systemError)
  return error
}

/** Codes of the protocol and state errors fdwire raises. */
export type FdwireErrorCode =
  | 'ERR_FDWIRE_BAD_MAGIC'
  | 'ERR_FDWIRE_BAD_VERSION'
  | 'ERR_FDWIRE_BAD_FLAGS'
  | 'ERR_FDWIRE_FRAME_TOO_LARGE'
  | 'ERR_FDWIRE_TOO_MANY_FDS'
  | 'ERR_FDWIRE_FD_COUNT_MISMATCH'
  | 'ERR_FDWIRE_UNEXPECTED_FDS'
  | 'ERR_FDWIRE_CONTROL_TRUNCATED'
  | 'ERR_FDWIRE_TRUNCATED'
  | 'ERR_FDWIRE_MALFORMED'
  | 'ERR_FDWIRE_CLOSED'
  | 'ERR_FDWIRE_TIMEOUT'
  | 'ERR_FDWIRE_REFUSED'
  | 'ERR_FDWIRE_UNSUPPORTED'
  | 'ERR_FDWIRE_BUSY'
  | 'ERR_FDWIRE_WORKER_DIED'
  | 'ERR_FDWIRE_WORKER_HANDLER'
  | 'ERR_FDWIRE_CANCELLED'
  | 'ERR_FDWIRE_STARTED'
  | 'ERR_FDWIRE_STATE'
  | 'ERR_FDWIRE_PERMISSION'
  | 'ERR_FDWIRE_INSECURE_DIR'
  | 'ERR_FDWIRE_DAEMON_RUNNING'
  | 'ERR_FDWIRE_DAEMON_EXITED'
  | 'ERR_FDWIRE_SHUTTING_DOWN'
  | 'ERR_FDWIRE_UNKNOWN_METHOD'
  | 'ERR_FDWIRE_PROTOCOL_VERSION'
  | 'ERR_FDWIRE_UNAVAILABLE'
  | 'ERR_FDWIRE_NOT_ACTIVATED'
  | 'ERR_FDWIRE_BAD_SOCKET'
  | (string & {})

/** A protocol or state error: `code` is one of `ERR_FDWIRE_*`. */
export class FdwireError extends Error {
  readonly code: FdwireErrorCode
  constructor(code: FdwireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FdwireError'
    this.code = code
  }
  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`
  }
}

/** Turns a native protocol error number (native/wire.h, `FDWIRE_PROTOCOL_*`) and reason into an `FdwireError`. */
export function protocolError(code: number, reason: string): FdwireError {
  return new FdwireError(PROTOCOL_ERROR_CODES[code] ?? 'ERR_FDWIRE_PROTOCOL', `protocol error: ${reason}; connection closed`)
}

/** A payload that failed verification (FlatBuffers verifier, envelope checks). */
export function malformed(reason: string): FdwireError {
  return new FdwireError('ERR_FDWIRE_MALFORMED', `malformed message: ${reason}`)
}
