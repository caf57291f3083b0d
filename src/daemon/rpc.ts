/**
 * What the Server and Client share: the reply a Client receives (body view + fds), the mapping
 * between thrown errors and the protocol's structured `{code, message}`, and reserved methods.
 */
import { FdwireError } from '../errors.js'
import { invalidArgType } from '../validate.js'
import type { Message } from '../transport/message.js'
import { bodyView, FdHolder, heldFdCount, releaseHeldFds } from './request.js'

/** Methods every fdwire Server answers itself. */
export const BuiltinMethod = {
  /** Returns the daemon's status as JSON (pid, uptime, build id, connections, ...). */
  status: 'fdwire.status',
  /** Asks the daemon to shut down gracefully (used to replace an outdated daemon). */
  stop: 'fdwire.stop',
} as const

/**
 * A reply: its body (a view of the received bytes) and the fds that came with it. Take the fds
 * you want with `takeFd`/`takeFds` before the next turn of the event loop; the rest are closed
 * then (a reply cannot know when you are done with it, so it does not wait longer).
 */
export class Reply extends FdHolder {
  readonly body: Buffer

  /** @internal Takes the message's fds: the reply owns them from now on. */
  constructor(body: Uint8Array | null, message?: Message) {
    super(message === undefined ? [] : message.takeFds(), 'reply')
    this.body = bodyView(body)
    if (heldFdCount(this) > 0) setImmediate(() => releaseHeldFds(this))
  }

  /** The body decoded as UTF-8. */
  text(): string {
    return this.body.toString('utf8')
  }

  /** The body parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.body.toString('utf8')) as T
  }
}

/** The error a caller sees for a Response/StreamEnd with status Error. */
export class RemoteError extends FdwireError {
  /** The code the daemon's handler gave (e.g. `ENOENT`, `ERR_NOT_FOUND`). */
  readonly remoteCode: string
  constructor(code: string, message: string) {
    super(code || 'ERR_FDWIRE_REMOTE', message)
    this.name = 'RemoteError'
    this.remoteCode = code
  }
}

/** Turns anything a handler threw into the protocol's `{code, message}`. */
export function toErrorInfo(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { code: typeof code === 'string' && code.length > 0 ? code : 'ERR_FDWIRE_HANDLER', message: error.message }
  }
  return { code: 'ERR_FDWIRE_HANDLER', message: String(error) }
}

/** Normalises a body argument: strings are UTF-8 encoded. */
export function toBody(body: Uint8Array | string | undefined, name = 'body'): Uint8Array | undefined {
  if (body === undefined || body instanceof Uint8Array) return body
  if (typeof body === 'string') return Buffer.from(body)
  throw invalidArgType(name, 'of type string or an instance of Uint8Array', body)
}
