/** Options shared by every connection, with their defaults and checks. */
import { native } from '../binding.js'
import { checkObject, optionalBoolean, optionalInteger } from '../validate.js'

export interface ConnectionOptions {
  /** Largest payload accepted from the peer, in bytes; a larger frame closes the connection
   *  with `ERR_FDWIRE_FRAME_TOO_LARGE` before anything is allocated for it. Default 16 MiB. */
  maxFrameSize?: number
  /** Largest payload `send()` accepts: the peer's `maxFrameSize`. A larger payload throws
   *  `ERR_FDWIRE_FRAME_TOO_LARGE` and is not sent (the peer would close the connection on it).
   *  `Client` and `Server` set it from the peer's hello when the peer states its limit.
   *  Default: the larger of `maxFrameSize` and 16 MiB (the default every peer has). */
  peerMaxFrameSize?: number
  /** Most fds the peer may send with one frame, 0..253; 0 refuses fds altogether
   *  (`ERR_FDWIRE_UNEXPECTED_FDS`). Default 253. */
  maxFdsPerFrame?: number
  /** Queued outgoing bytes at or above which `send()` returns false; `'drain'` follows.
   *  Default 1 MiB. */
  highWaterMark?: number
  /** Received messages buffered without a consumer before reading pauses. Default 256. */
  maxQueuedMessages?: number
  /** Size of each receive buffer in bytes (larger frames get a buffer of their own; the first
   *  buffer of a connection is at most 16 KiB). Default 64 KiB. */
  readBufferSize?: number
  /** Keep our side open after the peer ended its side. Default false: end ours too. */
  allowHalfOpen?: boolean
}

export interface ResolvedConnectionOptions {
  maxFrameSize: number
  peerMaxFrameSize: number
  maxFdsPerFrame: number
  highWaterMark: number
  maxQueuedMessages: number
  readBufferSize: number
  allowHalfOpen: boolean
}

export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
/** Largest value `maxFrameSize` may take (Node's Buffer limit keeps us below 2 GiB). */
export const MAX_FRAME_SIZE_LIMIT = 0x7fff0000

export function resolveConnectionOptions(value: unknown, name = 'options'): ResolvedConnectionOptions {
  const o = checkObject(name, value)
  const maxFrameSize = optionalInteger(`${name}.maxFrameSize`, o['maxFrameSize'], 0, MAX_FRAME_SIZE_LIMIT, DEFAULT_MAX_FRAME_SIZE)
  return {
    maxFrameSize,
    peerMaxFrameSize: optionalInteger(`${name}.peerMaxFrameSize`, o['peerMaxFrameSize'], 0, 0xffffffff, Math.max(maxFrameSize, DEFAULT_MAX_FRAME_SIZE)),
    maxFdsPerFrame: optionalInteger(`${name}.maxFdsPerFrame`, o['maxFdsPerFrame'], 0, native.maxFdsPerFrame, native.maxFdsPerFrame),
    highWaterMark: optionalInteger(`${name}.highWaterMark`, o['highWaterMark'], 0, Number.MAX_SAFE_INTEGER, 1024 * 1024),
    maxQueuedMessages: optionalInteger(`${name}.maxQueuedMessages`, o['maxQueuedMessages'], 1, 1 << 24, 256),
    readBufferSize: optionalInteger(`${name}.readBufferSize`, o['readBufferSize'], 4096, 64 * 1024 * 1024, 64 * 1024),
    allowHalfOpen: optionalBoolean(`${name}.allowHalfOpen`, o['allowHalfOpen'], false),
  }
}
